//! The output guard (src/guard.rs): each detector on hand-made translations, true and false
//! positives; the retry on a fixture model that really loops, token-exact with transformers'
//! output for the retry's search; `--guard off` leaves the engine's output as it was.

mod model_common;

use std::sync::Mutex;

use de2en::engine::marian::{EngineSettings, MarianEngine};
use de2en::engine::{DecodeOverride, Engine, EngineError, Translation, TranslationFlag};
use de2en::guard::{
    self, GuardConfig, GuardMode, Guarded, length_ratio_outside, lost_names, lost_numbers,
    repetition,
};
use model_common::{fixture_dir, golden};
use serde_json::Value;

use TranslationFlag::*;

fn translation(text: &str) -> Translation {
    Translation {
        text: text.to_owned(),
        token_ids: (1..=text.split_whitespace().count() as u32 + 1).collect(),
        sum_logprob: -1.0,
        mean_logprob: -0.5,
        ..Translation::default()
    }
}

fn flags(source: &str, target: &str) -> Vec<TranslationFlag> {
    guard::detect(source, &translation(target), &GuardConfig::default())
}

#[test]
fn repetition_is_a_loop_the_source_does_not_have() {
    // Faithful repetitions.
    assert!(!repetition("Nein, nein, nein!", "No, no, no!", 3));
    assert!(!repetition(
        "Tor! Tor! Tor! Tor!",
        "Goal! Goal! Goal! Goal!",
        3
    ));
    assert!(!repetition(
        "Es war sehr, sehr kalt.",
        "It was very, very cold.",
        3
    ));
    assert!(!repetition(
        "Die Stadt, die Stadt und das Land.",
        "The city, the city and the country.",
        3
    ));
    // Loops.
    assert!(repetition(
        "Die Polizei.",
        "The police police police police",
        3
    ));
    assert!(repetition(
        "Er kam in die Stadt.",
        "He came to the city in the city in the city in the city",
        3
    ));
    assert!(repetition("Nein!", "No, no, no!", 3));
    assert!(repetition(
        "WERBUNG",
        "advertising advertising advertising advertising",
        3
    ));
    assert_eq!(flags("Nein, nein, nein!", "No, no, no!"), vec![]);
}

#[test]
fn a_loop_inside_a_word_is_seen_in_the_token_ids() {
    // "policeiceiceice…": one word, but the same token again and again.
    let mut inside = translation("Is the policeiceiceiceiceiceent?");
    inside.token_ids = vec![5, 6, 7, 8, 8, 8, 8, 8, 9, 0];
    let found = guard::detect("Ist der Präsident müde?", &inside, &GuardConfig::default());
    assert_eq!(found, vec![Repetition]);
    inside.token_ids = vec![5, 6, 7, 8, 8, 8, 9, 0];
    assert_eq!(
        guard::detect("Ist der Präsident müde?", &inside, &GuardConfig::default()),
        vec![]
    );
}

#[test]
fn an_output_that_ran_to_the_length_limit_is_flagged() {
    let mut runaway = translation("The meeting of the council of the committee of the");
    runaway.reached_length_limit = true;
    let found = guard::detect("Die Sitzung.", &runaway, &GuardConfig::default());
    assert_eq!(found, vec![Repetition]);
}

#[test]
fn length_ratio_outside_the_band_for_sentences_long_enough() {
    let band = GuardConfig::default().length_ratio;
    let source = "Der Rat stimmt am Montag über den Haushalt ab.";
    assert!(!length_ratio_outside(
        source,
        "The council votes on the budget on Monday.",
        band,
        20
    ));
    // Half the sentence dropped … and an output three times as long.
    assert!(length_ratio_outside(source, "The council.", band, 20));
    assert!(length_ratio_outside(
        source,
        "The council votes on Monday on the budget, and the council votes on Tuesday on the \
         budget, and the council votes again on Wednesday on it.",
        band,
        20
    ));
    // Short fragments may legitimately change length a lot; an empty translation never is fine.
    assert!(!length_ratio_outside("Ja.", "Yes, indeed.", band, 20));
    assert!(length_ratio_outside("Ja.", "", band, 20));
    assert!(!length_ratio_outside("…", "", band, 20));
    assert_eq!(flags(source, "The council."), vec![LengthRatio]);
}

#[test]
fn numbers_survive_with_either_separator_convention() {
    assert!(lost_numbers("1.000 Euro", "1,000 euros").is_empty());
    assert!(lost_numbers("1.000,5 Tonnen", "1,000.5 tonnes").is_empty());
    assert!(lost_numbers("um 3,75 Prozent", "by 3.75 percent").is_empty());
    assert!(lost_numbers("In Köln leben 1.087.353 Menschen.", "1,087,353 people").is_empty());
    assert!(lost_numbers("um 9.30 Uhr", "at 9:30").is_empty());
    assert!(lost_numbers("am 3. Oktober 2015", "on 3rd October 2015").is_empty());
    assert!(lost_numbers("2 Kinder", "two children").is_empty());
    // A code like G20 is the name check's business, not the number check's.
    assert!(lost_numbers("Der G20-Gipfel", "The summit").is_empty());
    // Lost or changed.
    assert_eq!(lost_numbers("1.000 Euro", "euros"), vec!["1.000"]);
    assert_eq!(
        lost_numbers("1.000,5 Tonnen", "1,000 tonnes"),
        vec!["1.000,5"]
    );
    assert_eq!(
        lost_numbers("12.500 Euro und 3 Autos", "12,500 euros"),
        vec!["3"]
    );
    assert_eq!(
        flags("Das Auto kostet 12.500 Euro.", "The car costs euros."),
        vec![NumberLost]
    );
    assert_eq!(
        flags(
            "Das Auto kostet 12.500 Euro.",
            "The car costs 12,500 euros."
        ),
        vec![]
    );
}

#[test]
fn names_that_should_be_copied_must_come_back() {
    assert!(lost_names("Die EU und die NATO", "The EU and NATO").is_empty());
    assert!(lost_names("Die SPD-Chefin", "The SPD leader").is_empty());
    assert!(lost_names("in den USA", "in the US").is_empty());
    assert!(lost_names("Der G20-Gipfel", "The G20 summit").is_empty());
    assert!(lost_names("Die AfD verliert.", "The AfD is losing.").is_empty());
    assert!(lost_names("Siehe www.tagesschau.de.", "See www.tagesschau.de.").is_empty());
    // Ordinary capitalised German nouns are translated, not copied: not checked.
    assert!(
        lost_names(
            "Der Rat stimmt am Montag ab.",
            "The council votes on Monday."
        )
        .is_empty()
    );
    // A label in capitals is translated too.
    assert!(lost_names("MEHR ZUM THEMA", "MORE ON THIS").is_empty());
    // Lost.
    assert_eq!(
        lost_names("Die EU und die NATO", "The Union and NATO"),
        vec!["EU"]
    );
    assert_eq!(lost_names("Der G20-Gipfel", "The summit"), vec!["G20"]);
    assert_eq!(
        lost_names("Er sagte ZX1 heute.", "He said today."),
        vec!["ZX1"]
    );
    assert_eq!(
        lost_names("Mehr auf https://example.org/a", "More on example.org"),
        vec!["https://example.org/a"]
    );
    assert_eq!(flags("Die SPD gewinnt.", "The party wins."), vec![NameLost]);
}

#[test]
fn a_low_mean_log_probability_is_flagged_at_the_configured_threshold() {
    let mut unlikely = translation("The council votes.");
    unlikely.mean_logprob = -3.5;
    let config = GuardConfig::default();
    assert_eq!(
        guard::detect("Der Rat stimmt ab.", &unlikely, &config),
        vec![LowScore]
    );
    let lenient = GuardConfig {
        min_mean_logprob: -4.0,
        ..GuardConfig::default()
    };
    assert_eq!(
        guard::detect("Der Rat stimmt ab.", &unlikely, &lenient),
        vec![]
    );
    // An engine without scores (no tokens) is not judged.
    let mut unscored = Translation {
        text: "Der Rat stimmt ab.".into(),
        ..Translation::default()
    };
    unscored.mean_logprob = -10.0;
    assert_eq!(
        guard::detect("Der Rat stimmt ab.", &unscored, &config),
        vec![]
    );
}

/// An engine that loops on "WERBUNG" unless asked for a stronger search, and records its calls.
#[derive(Default)]
struct LoopingEngine {
    supports_retry: bool,
    calls: Mutex<Vec<(Vec<String>, Option<DecodeOverride>)>>,
}

impl LoopingEngine {
    fn answer(sentence: &str, strong: bool) -> Translation {
        match (sentence, strong) {
            ("WERBUNG", false) => translation("advertising advertising advertising advertising"),
            ("WERBUNG", true) => translation("Advertising"),
            ("Die EU zahlt.", _) => translation("The Union pays."),
            (other, _) => translation(&other.to_uppercase()),
        }
    }
}

impl Engine for LoopingEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        let texts = sentences.iter().map(|s| (*s).to_owned()).collect();
        self.calls.lock().expect("lock").push((texts, None));
        Ok(sentences.iter().map(|s| Self::answer(s, false)).collect())
    }

    fn translate_with(
        &self,
        sentences: &[&str],
        decode: &DecodeOverride,
    ) -> Result<Vec<Translation>, EngineError> {
        if !self.supports_retry {
            return Err(EngineError::Unsupported);
        }
        let texts = sentences.iter().map(|s| (*s).to_owned()).collect();
        self.calls
            .lock()
            .expect("lock")
            .push((texts, Some(*decode)));
        Ok(sentences.iter().map(|s| Self::answer(s, true)).collect())
    }

    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.len() + 1
    }

    fn max_source_tokens(&self) -> usize {
        512
    }
}

fn texts_and_flags(translations: &[Translation]) -> Vec<(&str, Vec<TranslationFlag>)> {
    translations
        .iter()
        .map(|t| (t.text.as_str(), t.flags.clone()))
        .collect()
}

#[test]
fn retry_decodes_the_failed_sentences_together_and_keeps_the_better_one() {
    let engine = LoopingEngine {
        supports_retry: true,
        ..LoopingEngine::default()
    };
    let guarded = Guarded::new(&engine, GuardConfig::default());
    let out = guarded
        .translate(&["Gut.", "WERBUNG", "Schön.", "Die EU zahlt."])
        .expect("translate");
    assert_eq!(
        texts_and_flags(&out),
        vec![
            ("GUT.", vec![]),
            ("Advertising", vec![Retried]),
            ("SCHÖN.", vec![]),
            // The retry lost the name too: kept, still flagged, never replaced by the German.
            ("The Union pays.", vec![NameLost, Retried]),
        ]
    );
    let calls = engine.calls.lock().expect("lock");
    assert_eq!(
        calls.len(),
        2,
        "one first pass and one batched retry: {calls:?}"
    );
    assert_eq!(calls[1].0, vec!["WERBUNG", "Die EU zahlt."]);
    assert_eq!(calls[1].1, Some(GuardConfig::default().retry));
}

#[test]
fn detect_mode_flags_and_changes_nothing_and_off_adds_nothing() {
    let engine = LoopingEngine {
        supports_retry: true,
        ..LoopingEngine::default()
    };
    let plain = engine.translate(&["WERBUNG", "Gut."]).expect("plain");
    for (mode, expected) in [
        (GuardMode::Detect, vec![vec![Repetition], vec![]]),
        (GuardMode::Off, vec![vec![], vec![]]),
    ] {
        let config = GuardConfig {
            mode,
            ..GuardConfig::default()
        };
        let out = Guarded::new(&engine, config)
            .translate(&["WERBUNG", "Gut."])
            .expect("translate");
        let texts: Vec<&str> = out.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, vec![plain[0].text.as_str(), plain[1].text.as_str()]);
        let found: Vec<Vec<TranslationFlag>> = out.iter().map(|t| t.flags.clone()).collect();
        assert_eq!(found, expected, "{mode:?}");
    }
    assert!(
        engine
            .calls
            .lock()
            .expect("lock")
            .iter()
            .all(|(_, decode)| decode.is_none()),
        "no retry outside retry mode"
    );
}

#[test]
fn an_engine_without_a_stronger_search_keeps_its_flags() {
    let engine = LoopingEngine::default();
    let out = Guarded::new(&engine, GuardConfig::default())
        .translate(&["WERBUNG"])
        .expect("translate");
    assert_eq!(
        texts_and_flags(&out),
        vec![(
            "advertising advertising advertising advertising",
            vec![Repetition]
        )]
    );
}

// ---- the looping fixture model, against transformers --------------------------------------

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

fn loop_case(name: &str) -> (Vec<String>, Value) {
    let golden = golden("tiny-loop");
    let sentences = golden["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|s| s["text"].as_str().expect("text").to_owned())
        .collect();
    let case = golden["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("case {name}"))
        .clone();
    (sentences, case)
}

fn loop_engine() -> MarianEngine {
    let settings = EngineSettings {
        max_new_tokens: Some(40),
        ..EngineSettings::default()
    };
    MarianEngine::load(&fixture_dir("tiny-loop"), &settings).expect("tiny-loop")
}

fn rows(case: &Value, key: &str) -> Vec<Value> {
    case[key].as_array().expect("rows").clone()
}

fn assert_golden(got: &[Translation], expected: &[Value], what: &str, sentences: &[String]) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, translation) in got.iter().enumerate() {
        let expected = &expected[i];
        let what = format!("{what}: {}", sentences[i]);
        assert_eq!(translation.token_ids, ids(&expected["ids"]), "{what}");
        assert_eq!(
            translation.text,
            expected["text"].as_str().expect("text"),
            "{what}"
        );
        let mean = expected["mean_logprob"].as_f64().expect("mean") as f32;
        assert!(
            (translation.mean_logprob - mean).abs() < 2e-3,
            "{what}: mean"
        );
    }
}

#[test]
fn the_loop_fixture_loops_in_greedy_search_exactly_as_in_transformers() {
    let (sentences, case) = loop_case("greedy");
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let engine = loop_engine();
    assert_eq!(
        engine.options().num_beams,
        1,
        "the fixture's own setting is greedy"
    );
    let batched = engine.translate(&refs).expect("translate");
    assert_golden(
        &batched,
        &rows(&case, "batch"),
        "greedy batched",
        &sentences,
    );
    for (i, sentence) in refs.iter().enumerate() {
        let alone = engine.translate(&[sentence]).expect("translate");
        assert_golden(
            &alone,
            &rows(&case, "single")[i..=i],
            "greedy alone",
            &sentences[i..],
        );
    }
    // It really loops: a label runs to the length limit repeating its word, a question loops
    // inside a word; the guard's repetition check sees both, and nothing else.
    let looping: Vec<&str> = batched
        .iter()
        .zip(&refs)
        .filter(|(t, _)| t.reached_length_limit)
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(looping, LOOPING);
    for (translation, sentence) in batched.iter().zip(&refs) {
        let found = guard::detect(sentence, translation, &GuardConfig::default());
        assert_eq!(
            found.contains(&Repetition),
            looping.contains(sentence),
            "{sentence} → {}",
            translation.text
        );
    }
}

/// The golden inputs on which tiny-loop's greedy search loops to the length limit.
const LOOPING: [&str; 2] = ["WERBUNG", "Ist der Präsident müde?"];

#[test]
fn the_retry_search_is_token_exact_with_transformers_no_repeat_ngram_size() {
    let (sentences, case) = loop_case("retry");
    assert_eq!(case["generate_kwargs"]["no_repeat_ngram_size"], 3);
    let retry = GuardConfig::default().retry;
    assert_eq!(case["num_beams"].as_u64(), Some(retry.min_beam_size as u64));
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let engine = loop_engine();
    let batched = engine.translate_with(&refs, &retry).expect("retry");
    assert_golden(&batched, &rows(&case, "batch"), "retry batched", &sentences);
    for (i, sentence) in refs.iter().enumerate() {
        let alone = engine.translate_with(&[sentence], &retry).expect("retry");
        assert_golden(
            &alone,
            &rows(&case, "single")[i..=i],
            "retry alone",
            &sentences[i..],
        );
    }
}

#[test]
fn the_guard_turns_the_fixture_loops_into_ended_translations_flagged_retried() {
    let (sentences, greedy) = loop_case("greedy");
    let (_, retry) = loop_case("retry");
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let engine = loop_engine();
    let out = Guarded::new(&engine, GuardConfig::default())
        .translate(&refs)
        .expect("translate");
    let mut retried = 0;
    for (i, translation) in out.iter().enumerate() {
        let sentence = refs[i];
        let first_pass = &engine.translate(&[sentence]).expect("translate")[0];
        assert_eq!(first_pass.text, greedy["single"][i]["text"], "{sentence}");
        if LOOPING.contains(&sentence) {
            // The loop is replaced by the retry's transformers-exact output, which ends.
            assert_eq!(translation.text, retry["single"][i]["text"], "{sentence}");
            assert!(!translation.reached_length_limit, "{sentence}");
            assert!(translation.flags.contains(&Retried), "{sentence}");
            assert!(
                !translation.flags.contains(&Repetition),
                "{sentence}: {translation:?}"
            );
        }
        if guard::detect(sentence, first_pass, &GuardConfig::default()).is_empty() {
            // A sentence that passes is the engine's own output, untouched.
            assert_eq!(translation.text, first_pass.text, "{sentence}");
            assert_eq!(translation.flags, vec![], "{sentence}");
        } else {
            retried += 1;
            assert!(translation.flags.contains(&Retried), "{sentence}");
            // Whatever is kept is one of the two candidates, never the German.
            assert!(
                translation.text == greedy["single"][i]["text"]
                    || translation.text == retry["single"][i]["text"],
                "{sentence}: {}",
                translation.text
            );
        }
    }
    assert!(
        retried < refs.len(),
        "the guard must not fire on everything"
    );
}

// ---- the command line ---------------------------------------------------------------------

#[path = "cli_common/mod.rs"]
mod cli_common;

/// `de2en translate --format json` of `input` on tiny-loop: (JSON, stderr).
fn cli_json(input: &str, extra: &[&str]) -> (Value, String) {
    let home = tempfile::tempdir().expect("tempdir");
    let output = cli_common::de2en(home.path())
        .args([
            "translate",
            "--format",
            "json",
            "--max-length",
            "40",
            "--model",
        ])
        .arg(fixture_dir("tiny-loop"))
        .args(extra)
        .write_stdin(input)
        .output()
        .expect("run de2en");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (
        serde_json::from_slice(&output.stdout).expect("JSON"),
        stderr,
    )
}

fn segment_flags(json: &Value) -> Vec<String> {
    json["segments"][0]["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f.as_str().expect("flag").to_owned())
        .collect()
}

#[test]
fn cli_retries_by_default_reports_flags_in_json_and_counts_in_the_summary() {
    let (_, greedy) = loop_case("greedy");
    let (_, retry) = loop_case("retry");
    let (json, stderr) = cli_json("WERBUNG\n", &[]);
    assert_eq!(json["segments"][0]["target"], retry["single"][0]["text"]);
    assert_eq!(segment_flags(&json), vec!["retried"]);
    assert!(
        stderr.contains("1 sentences retried, 0 still flagged"),
        "{stderr}"
    );

    let (json, stderr) = cli_json("WERBUNG\n", &["--guard", "detect"]);
    assert_eq!(json["segments"][0]["target"], greedy["single"][0]["text"]);
    assert_eq!(segment_flags(&json), vec!["repetition"]);
    assert!(
        stderr.contains("0 sentences retried, 1 still flagged"),
        "{stderr}"
    );

    // Off: the engine's exact (looping) output, no flags, no guard counts.
    let (json, stderr) = cli_json("WERBUNG\n", &["--guard", "off"]);
    assert_eq!(json["segments"][0]["target"], greedy["single"][0]["text"]);
    assert_eq!(segment_flags(&json), Vec::<String>::new());
    assert!(!stderr.contains("retried"), "{stderr}");
}

#[test]
fn cli_refuses_a_positive_score_threshold() {
    let home = tempfile::tempdir().expect("tempdir");
    let output = cli_common::de2en(home.path())
        .args([
            "translate",
            "--engine",
            "identity",
            "--guard-min-score",
            "2",
        ])
        .write_stdin("Hallo.\n")
        .output()
        .expect("run de2en");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--guard-min-score"));
}

#[test]
fn outputs_made_with_another_guard_mode_are_not_up_to_date() {
    let home = tempfile::tempdir().expect("tempdir");
    let input = home.path().join("in");
    let out = home.path().join("out");
    cli_common::write_tree(&input, &[("a.de.txt", b"WERBUNG\n")]);
    let run = |mode: &str| {
        let output = cli_common::de2en(home.path())
            .args([
                "translate",
                "--max-length",
                "40",
                "--guard",
                mode,
                "--model",
            ])
            .arg(fixture_dir("tiny-loop"))
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .output()
            .expect("run de2en");
        assert!(output.status.success());
        (
            String::from_utf8_lossy(&output.stderr).into_owned(),
            std::fs::read_to_string(out.join("a.en.txt")).expect("output"),
        )
    };
    let (_, looped) = run("off");
    let (stderr, retried) = run("retry");
    assert!(stderr.contains("1 translated, 0 skipped"), "{stderr}");
    assert_ne!(looped, retried);
    let (stderr, _) = run("retry");
    assert!(stderr.contains("0 translated, 1 skipped"), "{stderr}");
}

proptest::proptest! {
    /// The detectors run on every translation of every article: no input may make them panic.
    #[test]
    fn detectors_never_panic(
        source in "[a-zA-ZäöüÄÖÜß0-9.,:;/@ \\-–„“'\u{a0}😀]{0,60}",
        target in "[a-zA-Z0-9.,:;/@ \\-–\"'😀]{0,60}",
        tokens in proptest::collection::vec(0u32..6, 0..40),
        limit in proptest::bool::ANY,
    ) {
        let translation = Translation {
            text: target,
            token_ids: tokens,
            mean_logprob: -1.0,
            reached_length_limit: limit,
            ..Translation::default()
        };
        let found = guard::detect(&source, &translation, &GuardConfig::default());
        proptest::prop_assert!(found.len() <= 5);
        proptest::prop_assert!(!found.contains(&Retried));
    }
}

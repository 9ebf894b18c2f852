//! `--glossary FILE`: terms become the glossary's English exactly once per occurrence, with the
//! identity engine (where the placement is exact) and with the fixture models (random weights:
//! whatever they do with a term's placeholder); sentences without terms translate as without
//! the glossary; bad glossaries are refused with the file and the line.

mod browser_common;
mod cli_common;

use std::path::{Path, PathBuf};

use cli_common::{de2en, fixture_model};
use serde_json::Value;

const GLOSSARY: &str = "\u{feff}# Agentur-Glossar\r\n\
Bundeskanzler\tFederal Chancellor\r\n\
Deutsche Bahn\t\r\n\
\r\n\
mietpreisbremse\trent cap\r\n";

/// Every context a term may stand in (Markdown), and how often "Bundeskanzler" occurs.
const ARTICLE: &str = "# Bundeskanzler besucht Berlin\n\n\
Der Bundeskanzler sprach am Montag in Berlin.\n\n\
Die Rede des Bundeskanzlers dauerte eine Stunde.\n\n\
„Der Bundeskanzler kommt morgen“, sagte die Sprecherin.\n\n\
Auch der **Bundeskanzler** war da, und ein Vertreter der Deutschen Bahn.\n\n\
Mietpreisbremse gilt ab Montag in der Stadt.\n";
const CHANCELLORS: usize = 5;

/// An HTML page with the term in a link text.
const PAGE: &str = "<!DOCTYPE html><html lang=\"de\"><head><title>Bericht</title></head><body>\n\
<p>Heute hat der <a href=\"/kanzler\">Bundeskanzler</a> die Stadt besucht.</p>\n\
</body></html>\n";

struct Run {
    _dir: tempfile::TempDir,
    dir: PathBuf,
}

impl Run {
    fn new(files: &[(&str, &str)]) -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_owned();
        for (name, content) in files {
            std::fs::write(path.join(name), content).expect("write");
        }
        Run {
            _dir: dir,
            dir: path,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// `de2en translate ARGS`; stdout, stderr and the exit code.
    fn translate(&self, args: &[&str]) -> (String, String, i32) {
        let output = de2en(&self.dir.join("hf"))
            .current_dir(&self.dir)
            .arg("translate")
            .args(args)
            .output()
            .expect("run de2en");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            output.status.code().unwrap_or(-1),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let (stdout, stderr, code) = self.translate(args);
        assert_eq!(code, 0, "{stderr}");
        serde_json::from_str(&stdout).expect("JSON output")
    }
}

fn model_args(model: &str) -> Vec<String> {
    let path = fixture_model(model);
    vec!["--model".to_owned(), path.to_string_lossy().into_owned()]
}

/// The glossary terms of every segment, checked: each one's English is what the output holds
/// at its target span. Returns (german, english, segment flags) for each.
fn applied_terms(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    let target = doc["target"].as_str().expect("target");
    let mut terms = Vec::new();
    for segment in doc["segments"].as_array().expect("segments") {
        let flags: Vec<String> = segment["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .map(|f| f.as_str().expect("flag").to_owned())
            .collect();
        for term in segment["glossary"].as_array().into_iter().flatten() {
            let span = |key: &str| {
                let pair = term[key].as_array().expect("span");
                (
                    pair[0].as_u64().expect("start") as usize,
                    pair[1].as_u64().expect("end") as usize,
                )
            };
            let (s, e) = span("target_span");
            let english = term["english"].as_str().expect("english");
            assert_eq!(&target[s..e], english, "target_span of {term}");
            terms.push((
                term["german"].as_str().expect("german").to_owned(),
                english.to_owned(),
                flags.clone(),
            ));
        }
    }
    terms
}

fn glossary_capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[test]
fn identity_engine_puts_every_english_where_the_german_was() {
    let run = Run::new(&[("g.tsv", GLOSSARY), ("a.md", ARTICLE), ("p.html", PAGE)]);
    let (out, stderr, code) =
        run.translate(&["--engine", "identity", "--glossary", "g.tsv", "a.md"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        out,
        "# Federal Chancellor besucht Berlin\n\n\
         Der Federal Chancellor sprach am Montag in Berlin.\n\n\
         Die Rede des Federal Chancellor dauerte eine Stunde.\n\n\
         “Der Federal Chancellor kommt morgen,” sagte die Sprecherin.\n\n\
         Auch der **Federal Chancellor** war da, und ein Vertreter der Deutschen Bahn.\n\n\
         Rent cap gilt ab Montag in der Stadt.\n"
    );
    // Mid-sentence, the English exactly as spelled.
    let mid = "Die Mietpreisbremse gilt. Ab heute gilt mietpreisbremse.\n";
    std::fs::write(run.path("b.txt"), mid).expect("write");
    let (out, stderr, code) =
        run.translate(&["--engine", "identity", "--glossary", "g.tsv", "b.txt"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out, "Die rent cap gilt. Ab heute gilt rent cap.\n");
    let (page, stderr, code) =
        run.translate(&["--engine", "identity", "--glossary", "g.tsv", "p.html"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        page.contains("<a href=\"/kanzler\">Federal Chancellor</a>"),
        "{page}"
    );
}

#[test]
fn every_occurrence_gets_its_english_exactly_once_with_the_fixture_models() {
    let run = Run::new(&[("g.tsv", GLOSSARY), ("a.md", ARTICLE), ("p.html", PAGE)]);
    for model in ["tiny-swish", "tiny-gelu"] {
        let mut args: Vec<String> = model_args(model);
        args.extend(["--glossary", "g.tsv", "--format", "json", "a.md"].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let doc = run.json(&args);
        let target = doc["target"].as_str().expect("target");
        assert_eq!(
            target.matches("Federal Chancellor").count(),
            CHANCELLORS,
            "{model}: {target}"
        );
        assert!(!target.contains("Bundeskanzler"), "{model}: {target}");
        // The emphasis stays on the term (whether the model kept its placeholder or not).
        assert!(
            target.contains("**Federal Chancellor**"),
            "{model}: {target}"
        );
        // The keep-as-is entry: the German as it stands, once.
        assert_eq!(
            target.matches("Deutschen Bahn").count(),
            1,
            "{model}: {target}"
        );
        assert_eq!(
            target.to_lowercase().matches("rent cap").count(),
            1,
            "{model}: {target}"
        );
        let terms = applied_terms(&doc);
        assert_eq!(terms.len(), CHANCELLORS + 2, "{model}: {terms:?}");
        // Each term's English, as spelled (the first letter capitalised at a sentence start).
        for (german, english, _) in &terms {
            let expected = match german.as_str() {
                "Bundeskanzler" => "Federal Chancellor",
                "Deutsche Bahn" => "Deutschen Bahn",
                _ => "rent cap",
            };
            assert!(
                english == expected || *english == glossary_capitalised(expected),
                "{model}: {german} → {english}"
            );
        }

        // The link text of an HTML page.
        let mut args: Vec<String> = model_args(model);
        args.extend(["--glossary", "g.tsv", "p.html"].map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (page, stderr, code) = run.translate(&args);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(
            page.matches("Federal Chancellor").count(),
            1,
            "{model}: {page}"
        );
        assert!(!page.contains("Bundeskanzler"), "{model}: {page}");
        assert!(
            page.contains("<a href=\"/kanzler\">Federal Chancellor</a>"),
            "{model}: {page}"
        );
    }
}

#[test]
fn a_segment_of_nothing_but_terms_needs_no_model() {
    let run = Run::new(&[
        ("g.tsv", GLOSSARY),
        (
            "a.md",
            "# Deutsche Bahn

## Bundeskanzler

Der Bundeskanzler fährt mit der Bahn.
",
        ),
    ]);
    let mut args: Vec<String> = model_args("tiny-swish");
    args.extend(["--glossary", "g.tsv", "--format", "json", "a.md"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let doc = run.json(&args);
    let target = doc["target"].as_str().expect("target");
    assert!(
        target.starts_with("# Deutsche Bahn\n\n## Federal Chancellor\n\n"),
        "{target}"
    );
    let segments = doc["segments"].as_array().expect("segments");
    assert_eq!(segments[0]["tokens"], 0);
    assert_eq!(segments[1]["tokens"], 0);
    assert!(segments[2]["tokens"].as_u64().expect("tokens") > 0);
}

#[test]
fn a_dropped_term_is_appended_and_flagged() {
    // The fixture models do not copy placeholders reliably: over the article, any term whose
    // placeholder did not come back must be flagged glossary-missed, and every segment flagged
    // so must hold its terms' English all the same.
    let run = Run::new(&[("g.tsv", GLOSSARY), ("a.md", ARTICLE)]);
    let mut missed = 0;
    for model in ["tiny-swish", "tiny-gelu"] {
        let mut args: Vec<String> = model_args(model);
        args.extend(
            [
                "--glossary",
                "g.tsv",
                "--format",
                "json",
                "--guard",
                "off",
                "a.md",
            ]
            .map(String::from),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let doc = run.json(&args);
        for segment in doc["segments"].as_array().expect("segments") {
            let flagged = segment["flags"]
                .as_array()
                .expect("flags")
                .iter()
                .any(|f| f == "glossary-missed");
            let terms = segment["glossary"].as_array().cloned().unwrap_or_default();
            missed += usize::from(flagged);
            for term in &terms {
                let english = term["english"].as_str().expect("english");
                assert!(
                    segment["target"]
                        .as_str()
                        .expect("target")
                        .contains(english),
                    "{segment}"
                );
            }
            if flagged {
                assert!(!terms.is_empty(), "{segment}");
            }
        }
    }
    // Random weights: at least one of the two models drops a placeholder somewhere.
    assert!(
        missed > 0,
        "no glossary-missed flag on either fixture model"
    );
}

#[test]
fn sentences_without_terms_translate_as_without_the_glossary() {
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/articles");
    let glossary = "Bundeskanzler\tFederal Chancellor\nKerry\t\nSyrien\tSyria\nWasser\twater\n\
                    Regierung\tgovernment\n";
    let unused = "Zwischenablagenverwalter\tclipboard manager\n";
    let run = Run::new(&[("g.tsv", glossary), ("unused.tsv", unused)]);
    let mut compared = 0;
    let mut with_terms = 0;
    for name in ["euronews-kerry-syrien.de.txt", "interview-wasser.de.txt"] {
        let input = articles.join(name);
        let input = input.to_string_lossy().into_owned();
        let json = |extra: &[&str]| {
            let mut args: Vec<String> = model_args("tiny-swish");
            args.extend(["--format", "json"].map(String::from));
            args.extend(extra.iter().map(|s| s.to_string()));
            args.push(input.clone());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run.json(&args)
        };
        let plain = json(&[]);
        // A glossary none of whose terms occur changes nothing at all.
        assert_eq!(json(&["--glossary", "unused.tsv"]), plain, "{name}");
        let glossed = json(&["--glossary", "g.tsv"]);
        let plain_segments = plain["segments"].as_array().expect("segments");
        let glossed_segments = glossed["segments"].as_array().expect("segments");
        assert_eq!(plain_segments.len(), glossed_segments.len(), "{name}");
        for (a, b) in plain_segments.iter().zip(glossed_segments) {
            assert_eq!(a["source_span"], b["source_span"], "{name}");
            if b.get("glossary").is_some() {
                with_terms += 1;
                continue;
            }
            compared += 1;
            for key in ["target", "tokens", "flags"] {
                assert_eq!(a[key], b[key], "{name}: {key} of {a}");
            }
            // Token for token; the score may differ in its last bits where the sentence's
            // batch neighbours (and so the padding) differ.
            let score = |v: &Value| v["sum_logprob"].as_f64().expect("sum_logprob");
            assert!((score(a) - score(b)).abs() < 1e-3, "{name}: {a} {b}");
        }
    }
    assert!(with_terms >= 3 && compared >= 10, "{with_terms} {compared}");
}

#[test]
fn lines_input_applies_the_glossary_line_by_line() {
    let run = Run::new(&[
        ("g.tsv", GLOSSARY),
        (
            "s.txt",
            "Der Bundeskanzler kommt.\n\nKein Begriff hier.\nDie Deutsche Bahn fährt.\n",
        ),
    ]);
    let (out, stderr, code) = run.translate(&[
        "--engine",
        "identity",
        "--input-format",
        "lines",
        "--glossary",
        "g.tsv",
        "s.txt",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        out,
        "Der Federal Chancellor kommt.\n\nKein Begriff hier.\nDie Deutsche Bahn fährt.\n"
    );
    let mut args: Vec<String> = model_args("tiny-gelu");
    args.extend(["--input-format", "lines", "--glossary", "g.tsv", "s.txt"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (out, stderr, code) = run.translate(&args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(out.lines().count(), 4, "{out}");
    assert_eq!(out.matches("Federal Chancellor").count(), 1, "{out}");
    assert_eq!(out.matches("Deutsche Bahn").count(), 1, "{out}");
}

#[test]
fn nothing_is_replaced_inside_urls_or_code() {
    let run = Run::new(&[
        ("g.tsv", GLOSSARY),
        (
            "a.md",
            "Der Bundeskanzler schreibt auf https://example.org/Bundeskanzler und `Bundeskanzler` im Code.\n",
        ),
    ]);
    let (out, stderr, code) =
        run.translate(&["--engine", "identity", "--glossary", "g.tsv", "a.md"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        out,
        "Der Federal Chancellor schreibt auf https://example.org/Bundeskanzler und `Bundeskanzler` im Code.\n"
    );
}

#[test]
fn bad_glossary_lines_are_refused_with_file_and_line() {
    let run = Run::new(&[
        ("a.txt", "Der Bundeskanzler kommt.\n"),
        (
            "no-tab.tsv",
            "# ok\nBundestag\tBundestag\nBundeskanzler Federal Chancellor\n",
        ),
        ("empty.tsv", "Bundestag\t\n\tParliament\n"),
        (
            "twice.tsv",
            "Bundestag\tBundestag\nRat\tcouncil\n\nBundestag\tparliament\n",
        ),
        ("first.tsv", "Rat\tcouncil\n"),
        ("second.tsv", "# other team\nRat\tboard\n"),
    ]);
    let cases: [(&[&str], &str, &str); 4] = [
        (&["no-tab.tsv"], "no-tab.tsv, line 3", "no tab"),
        (&["empty.tsv"], "empty.tsv, line 2", "German term is empty"),
        (&["twice.tsv"], "twice.tsv, line 4", "line 1"),
        (
            &["first.tsv", "second.tsv"],
            "second.tsv, line 2",
            "first.tsv, line 1",
        ),
    ];
    for (files, place, problem) in cases {
        let mut args = vec!["--engine", "identity"];
        for file in files {
            args.extend(["--glossary", file]);
        }
        args.extend(["a.txt", "-o", "out.txt"]);
        let (_, stderr, code) = run.translate(&args);
        assert_eq!(code, 2, "{files:?}: {stderr}");
        assert!(stderr.contains(place), "{files:?}: {stderr}");
        assert!(stderr.contains(problem), "{files:?}: {stderr}");
        assert!(
            !run.path("out.txt").exists(),
            "{files:?}: an output was written"
        );
    }
}

#[test]
fn an_unreadable_glossary_is_named() {
    let run = Run::new(&[("a.txt", "Der Bundeskanzler kommt.\n")]);
    let (stdout, stderr, code) =
        run.translate(&["--engine", "identity", "--glossary", "missing.tsv", "a.txt"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("missing.tsv"), "{stderr}");
    assert!(stdout.is_empty());
}

#[test]
fn summary_counts_terms_and_manifest_follows_the_glossary() {
    let run = Run::new(&[
        ("g.tsv", GLOSSARY),
        ("g2.tsv", "Bundeskanzler\tchancellor\n"),
    ]);
    std::fs::create_dir(run.path("in")).expect("mkdir");
    std::fs::write(run.path("in/a.de.md"), ARTICLE).expect("write");
    let translate = |extra: &[&str]| {
        let mut args = vec!["--engine", "identity", "in", "-o", "out"];
        args.extend(extra);
        let (_, stderr, code) = run.translate(&args);
        assert_eq!(code, 0, "{stderr}");
        stderr
    };
    let first = translate(&[]);
    assert!(!first.contains("glossary"), "{first}");
    // Same settings: up to date. A glossary: translated again, its terms counted.
    assert!(translate(&[]).contains("0 translated, 1 skipped"));
    let glossed = translate(&["--glossary", "g.tsv"]);
    assert!(glossed.contains("1 translated, 0 skipped"), "{glossed}");
    assert!(
        glossed.contains(&format!(", {} glossary terms", CHANCELLORS + 2)),
        "{glossed}"
    );
    assert!(translate(&["--glossary", "g.tsv"]).contains("0 translated, 1 skipped"));
    // Another English for a term: translated again.
    let changed = translate(&["--glossary", "g2.tsv"]);
    assert!(changed.contains("1 translated, 0 skipped"), "{changed}");
    let out = std::fs::read_to_string(run.path("out/a.en.md")).expect("output");
    assert!(out.starts_with("# Chancellor besucht Berlin"), "{out}");
}

#[test]
fn review_page_marks_terms_and_explains_the_flag() {
    let run = Run::new(&[("g.tsv", GLOSSARY), ("a.md", ARTICLE)]);
    let mut args: Vec<String> = model_args("tiny-swish");
    args.extend(
        [
            "--glossary",
            "g.tsv",
            "--format",
            "review",
            "--guard",
            "off",
            "a.md",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (page, stderr, code) = run.translate(&args);
    assert_eq!(code, 0, "{stderr}");
    // Both sides of each row mark the terms: the German and the English.
    let marks = page.matches("<mark class=\"term\"").count();
    assert_eq!(marks, 2 * (CHANCELLORS + 2), "{page}");
    assert!(page.contains("glossary: Bundeskanzler → Federal Chancellor"));
    if page.contains(">glossary-missed</span>") {
        assert!(page.contains("the model dropped or repeated a glossary term"));
    }
}

#[test]
fn review_page_marks_show_in_a_browser() {
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/articles");
    let article = articles.join("euronews-kerry-syrien.de.txt");
    let article = article.to_string_lossy().into_owned();
    let run = Run::new(&[("g.tsv", "Kerry\t\nSyrien\tSyria\nRussland\tRussia\n")]);
    let render = |format: &str, out: &str| {
        let mut args: Vec<String> = model_args("tiny-swish");
        args.extend(["--glossary", "g.tsv", "--format", format, "-o", out].map(String::from));
        args.push(article.clone());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, stderr, code) = run.translate(&args);
        assert_eq!(code, 0, "{stderr}");
    };
    render("json", "k.json");
    render("review", "k.review.html");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(run.path("k.json")).expect("json")).expect("JSON");
    let segments = doc["segments"].as_array().expect("segments");
    let source = std::fs::read_to_string(&article).expect("article");
    // What each row must mark, German side and English side.
    let mut want_source = Vec::new();
    let mut want_target = Vec::new();
    for term in segments
        .iter()
        .flat_map(|s| s["glossary"].as_array().into_iter().flatten())
    {
        let [s, e] = [0, 1].map(|i| term["source_span"][i].as_u64().expect("span") as usize);
        want_source.push(Value::from(&source[s..e]));
        want_target.push(term["english"].clone());
    }
    assert!(want_source.len() >= 5, "{want_source:?}");

    let Some((_browser, mut page)) = browser_common::open_page(
        &run.path("k.review.html"),
        "review_page_marks_show_in_a_browser",
    ) else {
        return;
    };
    let marks = browser_common::eval(
        &mut page,
        "[...document.querySelectorAll('#segments tbody tr')].map(r => [\
         [...r.querySelectorAll('td.src mark.term')].map(m => m.textContent), \
         [...r.querySelectorAll('td.tgt mark.term')].map(m => m.textContent), \
         r.querySelector('td.src').textContent, r.querySelector('td.tgt').textContent])",
    );
    let rows = marks.as_array().expect("rows");
    assert_eq!(rows.len(), segments.len());
    let mut seen_source = Vec::new();
    let mut seen_target = Vec::new();
    for (row, segment) in rows.iter().zip(segments) {
        // The marks change nothing of the text a reader sees.
        assert_eq!(row[2], segment["source"]);
        assert_eq!(row[3], segment["target"]);
        seen_source.extend(row[0].as_array().expect("marks").iter().cloned());
        seen_target.extend(row[1].as_array().expect("marks").iter().cloned());
    }
    assert_eq!(seen_source, want_source);
    assert_eq!(seen_target, want_target);
    // The mark is visible and says what it is.
    let style = browser_common::eval(
        &mut page,
        "(() => { const m = document.querySelector('td.tgt mark.term'); \
         return [getComputedStyle(m).backgroundColor, m.title]; })()",
    );
    assert_ne!(style[0], "rgba(0, 0, 0, 0)", "{style}");
    assert!(
        style[1].as_str().expect("title").starts_with("glossary: "),
        "{style}"
    );
    page.screenshot("glossary-review.png").expect("screenshot");
    assert_eq!(page.console_errors(), Vec::<String>::new());
}

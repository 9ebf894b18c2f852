//! The translation memory through the binary, with the tiny-swish fixture model: a re-run over
//! an unchanged or lightly edited tree sends only new sentences to the model and writes exactly
//! what a run without the memory writes; other settings miss; shards share one file; a kill or a
//! damaged file never fails a run; export and import carry a memory to another machine.

#![cfg(unix)]

mod cli_common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use cli_common::*;

const ARTICLES: &[&str] = &[
    include_str!("data/articles/bericht.de.md"),
    include_str!("data/articles/euronews-kerry-syrien.de.txt"),
    include_str!("data/articles/interview-wasser.de.txt"),
    include_str!("data/articles/listen.de.txt"),
    include_str!("data/articles/pressekonferenz.de.txt"),
    include_str!("data/articles/zitate.de.txt"),
];

/// Article `i` of a corpus: a real article between a headline and a closing line of its own,
/// so every article has sentences no other one has. `month` is the closing line's month: the
/// "edit" changes it, one sentence.
fn corpus_article(i: usize, month: &str) -> (String, String) {
    let ext = if i.is_multiple_of(ARTICLES.len()) {
        "md"
    } else {
        "txt"
    };
    let name = format!("ressort{}/artikel-{i:02}.de.{ext}", i % 4);
    let body = format!(
        "Meldung {i} aus dem Ressort {}\n\n{}\nDer Bericht {i} wurde am {}. {month} aktualisiert.\n",
        i % 4,
        ARTICLES[i % ARTICLES.len()].trim_end(),
        1 + i % 28
    );
    (name, body)
}

fn write_corpus(root: &Path, count: usize, edited: &[usize]) {
    let articles: Vec<(String, String)> = (0..count)
        .map(|i| corpus_article(i, if edited.contains(&i) { "Juni" } else { "Mai" }))
        .collect();
    let files: Vec<(&str, &[u8])> = articles
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_bytes()))
        .collect();
    write_tree(root, &files);
}

/// A `de2en translate` with the fixture model on `input` into `out`, with more flags.
fn translate(home: &Path, input: &Path, out: &Path, extra: &[&str]) -> Output {
    let output = de2en_std(home)
        .args(["translate", "--model"])
        .arg(fixture_model("tiny-swish"))
        .args(extra)
        .arg(input)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .expect("run de2en");
    assert!(output.status.success(), "de2en failed: {output:?}");
    output
}

/// (unique sentences from memory, sentences sent to the model) from the summary line; memory
/// `None` when the clause is not there (`--no-memory`).
fn counts(output: &Output) -> (Option<u64>, u64) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("de2en: ") && l.contains(" sent to the model"))
        .unwrap_or_else(|| panic!("no summary line in: {stderr}"));
    let clause = &line[line.find(" sentences (").expect("sentence clause") + 12..];
    let clause = &clause[..clause.find(" sent to the model").expect("clause end")];
    match clause.split_once(" from memory, ") {
        Some((memory, model)) => (Some(memory.parse().unwrap()), model.parse().unwrap()),
        None => (None, clause.parse().unwrap()),
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn no_warning(output: &Output) {
    let text = stderr(output);
    assert!(!text.contains("warning"), "unexpected warning: {text}");
}

/// Every output of `out` in text and JSON (`--format json` into `out` + ".json" as well), so
/// that byte-identity covers scores, token counts, flags and alignments.
fn run_both_formats(home: &Path, input: &Path, out: &Path, extra: &[&str]) -> Vec<Output> {
    let json_out = PathBuf::from(format!("{}.json", out.display()));
    let mut with_json = extra.to_vec();
    with_json.extend(["--format", "json"]);
    vec![
        translate(home, input, out, extra),
        translate(home, input, &json_out, &with_json),
    ]
}

fn all_outputs(out: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = outputs(out);
    let json_out = PathBuf::from(format!("{}.json", out.display()));
    files.extend(
        outputs(&json_out)
            .into_iter()
            .map(|(k, v)| (format!("json/{k}"), v)),
    );
    files
}

#[test]
fn rerun_and_edits_reach_the_model_only_for_new_sentences_with_identical_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, memory) = (tmp.path().join("in"), tmp.path().join("tm/memory.sqlite3"));
    let memory_flag = ["--memory", memory.to_str().unwrap()];
    write_corpus(&input, 60, &[]);

    let first = run_both_formats(tmp.path(), &input, &tmp.path().join("a"), &memory_flag);
    let (from_memory, to_model) = counts(&first[0]);
    assert_eq!(from_memory, Some(0));
    assert!(to_model > 100, "{}", stderr(&first[0]));
    // The JSON run right after: the same sentences, all from the memory.
    assert_eq!(counts(&first[1]), (Some(to_model), 0));
    no_warning(&first[0]);

    // Unchanged tree, manifest ignored: nothing reaches the model, every byte is the same.
    let second = run_both_formats(
        tmp.path(),
        &input,
        &tmp.path().join("a"),
        &[&memory_flag[..], &["--force"]].concat(),
    );
    assert_eq!(counts(&second[0]), (Some(to_model), 0));
    let after_first = all_outputs(&tmp.path().join("a"));
    let baseline_dir = tmp.path().join("baseline");
    let baseline = run_both_formats(tmp.path(), &input, &baseline_dir, &["--no-memory"]);
    assert_eq!(counts(&baseline[0]), (None, to_model));
    assert_eq!(all_outputs(&baseline_dir), after_first);

    // One sentence edited in 6 of 60 articles: exactly those 6 sentences go to the model, and
    // the outputs equal a run without the memory, in text and JSON.
    write_corpus(&input, 60, &[3, 14, 25, 36, 47, 58]);
    // (The manifest skips the 54 unchanged articles; the 6 edited ones are read again.)
    let edited = run_both_formats(tmp.path(), &input, &tmp.path().join("a"), &memory_flag);
    let (from_memory, to_model_now) = counts(&edited[0]);
    assert_eq!(to_model_now, 6, "{}", stderr(&edited[0]));
    assert!(from_memory.unwrap() > 6 * 5, "{}", stderr(&edited[0]));
    assert_eq!(counts(&edited[1]), (from_memory.map(|m| m + 6), 0));
    let edited_baseline = run_both_formats(
        tmp.path(),
        &input,
        &baseline_dir,
        &["--no-memory", "--force"],
    );
    assert_eq!(counts(&edited_baseline[0]), (None, to_model));
    assert_eq!(
        all_outputs(&baseline_dir),
        all_outputs(&tmp.path().join("a"))
    );
    assert_ne!(all_outputs(&baseline_dir), after_first);
}

#[test]
fn another_beam_size_or_precision_misses_the_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_corpus(&input, 6, &[]);
    let out = tmp.path().join("out");
    let (_, to_model) = counts(&translate(tmp.path(), &input, &out, &[]));
    for extra in [
        &["--beam-size", "2"][..],
        &["--precision", "int8"],
        &["--guard", "off"],
        &["--max-length", "20"],
    ] {
        let run = translate(tmp.path(), &input, &out, &[extra, &["--force"]].concat());
        assert_eq!(counts(&run), (Some(0), to_model), "{extra:?}");
        // The same settings again: now they are in the memory too.
        let again = translate(tmp.path(), &input, &out, &[extra, &["--force"]].concat());
        assert_eq!(counts(&again), (Some(to_model), 0), "{extra:?}");
    }
    // The default settings' entries are still there.
    let back = translate(tmp.path(), &input, &out, &["--force"]);
    assert_eq!(counts(&back), (Some(to_model), 0));
}

#[test]
fn two_shards_at_once_on_one_memory_file_finish_complete_and_correct() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_corpus(&input, 24, &[]);
    let baseline = tmp.path().join("baseline");
    translate(tmp.path(), &input, &baseline, &["--no-memory"]);
    let memory = tmp.path().join("shared.sqlite3");
    let out = tmp.path().join("out");
    for round in 0..2 {
        let children: Vec<_> = (0..2)
            .map(|k| {
                de2en_std(tmp.path())
                    .args(["translate", "--model"])
                    .arg(fixture_model("tiny-swish"))
                    // Small windows: many commits from both processes interleave.
                    .args(["--window", "8", "--force", "--memory"])
                    .arg(&memory)
                    .arg(&input)
                    .arg("-o")
                    .arg(&out)
                    .arg("--shard")
                    .arg(format!("{k}/2"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn de2en")
            })
            .collect();
        let runs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        for run in &runs {
            assert!(run.status.success(), "round {round}: {run:?}");
            no_warning(run);
            if round == 1 {
                assert_eq!(counts(run).1, 0, "round {round}: {}", stderr(run));
            }
        }
        assert_eq!(outputs(&out), outputs(&baseline), "round {round}");
    }
}

#[test]
fn a_run_killed_mid_write_leaves_a_memory_the_next_run_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_corpus(&input, 24, &[]);
    let memory = tmp.path().join("memory.sqlite3");
    let out = tmp.path().join("out");
    let child = de2en_std(tmp.path())
        .args(["translate", "-q", "--model"])
        .arg(fixture_model("tiny-swish"))
        .args([
            "--window",
            "4",
            "--debug-engine-delay-ms",
            "100",
            "--memory",
        ])
        .arg(&memory)
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn de2en");
    // Wait until a few windows are written (each window's commit follows its files).
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(out.exists() && outputs(&out).len() >= 6) {
        assert!(Instant::now() < deadline, "no outputs within two minutes");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let killed = child.wait_with_output().unwrap();
    assert_eq!(killed.status.code(), None, "killed by the signal");
    assert!(outputs(&out).len() < 24, "the run finished before the kill");

    let rerun = translate(
        tmp.path(),
        &input,
        &out,
        &["--force", "--memory", memory.to_str().unwrap()],
    );
    no_warning(&rerun);
    let (from_memory, _) = counts(&rerun);
    assert!(from_memory.unwrap() > 0, "{}", stderr(&rerun));
    let baseline = tmp.path().join("baseline");
    translate(tmp.path(), &input, &baseline, &["--no-memory"]);
    assert_eq!(outputs(&out), outputs(&baseline));
}

#[test]
fn a_damaged_or_unwritable_memory_is_one_warning_and_a_correct_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_corpus(&input, 6, &[]);
    let baseline = tmp.path().join("baseline");
    translate(tmp.path(), &input, &baseline, &["--no-memory"]);

    let damaged = tmp.path().join("damaged.sqlite3");
    let noise: Vec<u8> = (0..50_000u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as u8)
        .collect();
    std::fs::write(&damaged, &noise).unwrap();
    let blocker = tmp.path().join("a-file");
    std::fs::write(&blocker, "not a folder").unwrap();
    for (memory, what) in [
        (damaged.clone(), "not a database"),
        (
            blocker.join("memory.sqlite3"),
            "could not create the folder",
        ),
    ] {
        let out = tmp.path().join("out");
        let run = translate(
            tmp.path(),
            &input,
            &out,
            &["--force", "--memory", memory.to_str().unwrap()],
        );
        let text = stderr(&run);
        let warnings: Vec<&str> = text.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warnings.len(), 1, "{text}");
        assert!(warnings[0].contains(what), "{text}");
        assert!(
            warnings[0].contains("going on without the translation memory"),
            "{text}"
        );
        assert_eq!(counts(&run).0, Some(0));
        assert_eq!(outputs(&out), outputs(&baseline));
    }
    // The damaged file is left as it was; `memory clear` starts afresh.
    assert_eq!(std::fs::read(&damaged).unwrap(), noise);
    let cleared = de2en(tmp.path())
        .args(["memory", "clear", "--memory"])
        .arg(&damaged)
        .output()
        .unwrap();
    assert!(cleared.status.success(), "{cleared:?}");
    assert!(!damaged.exists());
}

#[test]
fn export_import_round_trip_seeds_another_memory_and_tsv_is_for_people() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_corpus(&input, 6, &[]);
    let (node_a, node_b) = (tmp.path().join("a.sqlite3"), tmp.path().join("b.sqlite3"));
    let run = translate(
        tmp.path(),
        &input,
        &tmp.path().join("out"),
        &["--memory", node_a.to_str().unwrap()],
    );
    let (_, to_model) = counts(&run);

    let memory_cmd = |args: &[&str], memory: &Path| {
        let output = de2en(tmp.path())
            .arg("memory")
            .args(args)
            .arg("--memory")
            .arg(memory)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        output
    };
    let exported = memory_cmd(&["export"], &node_a).stdout;
    let export_file = tmp.path().join("seed.jsonl");
    std::fs::write(&export_file, &exported).unwrap();
    assert_eq!(
        exported.iter().filter(|&&b| b == b'\n').count() as u64,
        to_model
    );
    memory_cmd(&["import", export_file.to_str().unwrap()], &node_b);
    assert_eq!(memory_cmd(&["export"], &node_b).stdout, exported);

    // A node seeded with the export translates nothing itself.
    let seeded = translate(
        tmp.path(),
        &input,
        &tmp.path().join("out-b"),
        &["--memory", node_b.to_str().unwrap()],
    );
    assert_eq!(counts(&seeded), (Some(to_model), 0));
    assert_eq!(
        outputs(&tmp.path().join("out-b")),
        outputs(&tmp.path().join("out"))
    );

    let tsv =
        String::from_utf8(memory_cmd(&["export", "--format", "tsv"], &node_a).stdout).unwrap();
    let mut lines = tsv.lines();
    assert_eq!(lines.next(), Some("german\tenglish\tscore"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len() as u64, to_model);
    for row in &rows {
        assert_eq!(row.len(), 3, "{row:?}");
        assert!(
            !row[0].is_empty() && row[2].parse::<f32>().unwrap() <= 0.0,
            "{row:?}"
        );
    }
    assert!(
        rows.iter().any(|r| r[0] == "Meldung 0 aus dem Ressort 0"),
        "{tsv}"
    );

    let stats = String::from_utf8(memory_cmd(&["stats"], &node_a).stdout).unwrap();
    assert!(stats.contains(&format!("entries: {to_model}")), "{stats}");
    assert!(stats.contains("engine=marian; model="), "{stats}");

    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, b"{\"not\": \"an entry\"}\n").unwrap();
    let refused = de2en(tmp.path())
        .args(["memory", "import", bad.to_str().unwrap(), "--memory"])
        .arg(&node_b)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("bad.jsonl, line 1"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn memory_flags_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let bad_size = de2en(tmp.path())
        .args([
            "translate",
            "--engine",
            "identity",
            "--memory-max-size",
            "lots",
        ])
        .write_stdin("Hallo.")
        .output()
        .unwrap();
    assert_eq!(bad_size.status.code(), Some(2));
    assert!(
        stderr(&bad_size).contains("K, M or G"),
        "{}",
        stderr(&bad_size)
    );
    let both = de2en(tmp.path())
        .args([
            "translate",
            "--engine",
            "identity",
            "--no-memory",
            "--memory",
            "x.sqlite3",
        ])
        .write_stdin("Hallo.")
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
    // By default the memory lives in the cache folder.
    let default = de2en(tmp.path())
        .args(["translate", "--engine", "identity"])
        .write_stdin("Hallo Welt.")
        .output()
        .unwrap();
    assert!(default.status.success());
    assert_eq!(default.stdout, b"Hallo Welt.");
    assert!(tmp.path().join("de2en-cache/memory.sqlite3").is_file());
    let help = de2en(tmp.path())
        .args(["translate", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in ["--memory <PATH>", "--no-memory", "--memory-max-size <SIZE>"] {
        assert!(help.contains(flag), "{flag} missing from: {help}");
    }
    let help = de2en(tmp.path())
        .args(["memory", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for command in ["stats", "clear", "export", "import"] {
        assert!(help.contains(command), "{command} missing from: {help}");
    }
}

#[test]
fn memory_max_size_keeps_the_memory_small_and_the_recent_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_corpus(&input, 6, &[]);
    let memory = tmp.path().join("small.sqlite3");
    let flags = [
        "--memory",
        memory.to_str().unwrap(),
        "--memory-max-size",
        "48K",
        "--window",
        "20",
    ];
    let out = tmp.path().join("out");
    let (_, to_model) = counts(&translate(tmp.path(), &input, &out, &flags));
    let stats = de2en(tmp.path())
        .args(["memory", "stats", "--memory"])
        .arg(&memory)
        .output()
        .unwrap();
    let stats = String::from_utf8(stats.stdout).unwrap();
    let entries: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("entries: "))
        .expect("entries line")
        .parse()
        .unwrap();
    assert!(
        entries > 0 && entries < to_model,
        "{to_model} translated; {stats}"
    );
    // The last article's sentences were used last: they are the ones kept.
    let last = input.join("ressort3/artikel-03.de.txt");
    let again = de2en(tmp.path())
        .args(["translate", "--model"])
        .arg(fixture_model("tiny-swish"))
        .args(flags)
        .arg(&last)
        .output()
        .unwrap();
    assert!(again.status.success(), "{again:?}");
    no_warning(&again);
    let (from_memory, sent) = counts(&again);
    assert!(from_memory.unwrap() > 5 * sent, "{}", stderr(&again));
}

/// A glossary changes the model's input only where its terms stand (they reach the model as
/// placeholders), so only those sentences miss the memory; a glossary that only changes a term's
/// English misses nothing, since the English is written in after decoding. Outputs equal a run
/// without the memory in both cases.
#[test]
fn a_glossary_misses_the_memory_only_for_sentences_holding_its_terms() {
    let tmp = tempfile::tempdir().unwrap();
    let (input, memory) = (tmp.path().join("in"), tmp.path().join("tm/memory.sqlite3"));
    let memory_flag = ["--memory", memory.to_str().unwrap()];
    write_corpus(&input, 6, &[]);
    let (plain, _) = counts(&translate(
        tmp.path(),
        &input,
        &tmp.path().join("plain"),
        &memory_flag,
    ));
    assert_eq!(plain, Some(0));
    let unique = counts(&translate(
        tmp.path(),
        &input,
        &tmp.path().join("plain-again"),
        &memory_flag,
    ))
    .0
    .expect("memory clause");

    for (name, english) in [("syria", "Syria"), ("republic", "the Syrian Republic")] {
        let glossary = tmp.path().join(format!("{name}.tsv"));
        std::fs::write(&glossary, format!("Syrien\t{english}\n")).unwrap();
        let glossary_flag = ["--glossary", glossary.to_str().unwrap()];
        let out = tmp.path().join(format!("with-{name}"));
        let run = translate(
            tmp.path(),
            &input,
            &out,
            &[&memory_flag[..], &glossary_flag].concat(),
        );
        let (from_memory, to_model) = counts(&run);
        if name == "syria" {
            assert!(
                to_model > 0 && from_memory.unwrap() + to_model <= unique + to_model,
                "{}",
                stderr(&run)
            );
            assert!(from_memory.unwrap() > 0, "{}", stderr(&run));
        } else {
            // Same terms, another English: every sentence is in the memory already.
            assert_eq!(to_model, 0, "{}", stderr(&run));
        }
        let baseline = tmp.path().join(format!("baseline-{name}"));
        translate(
            tmp.path(),
            &input,
            &baseline,
            &[&["--no-memory"][..], &glossary_flag].concat(),
        );
        assert_eq!(outputs(&out), outputs(&baseline), "{name}");
        assert!(
            outputs(&out)
                .values()
                .any(|text| String::from_utf8_lossy(text).contains(english)),
            "{name}: the English is in the outputs"
        );
    }
}

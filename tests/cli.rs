//! `de2en translate` and `de2en segment` on temporary trees: naming, mirroring, encodings, bad
//! input, resumable re-runs, shards, stdin/stdout, formats, usage errors.
//!
//! Most tests use `--engine identity` (every sentence comes back unchanged) so they check file
//! handling independently of the model; the output must then equal the input byte for byte.
//! Tests against the fixture model are at the end, marked.

mod cli_common;

use std::collections::BTreeSet;

use cli_common::*;
use predicates::prelude::*;

fn identity(hf_home: &std::path::Path) -> assert_cmd::Command {
    let mut command = de2en(hf_home);
    command.args(["translate", "--engine", "identity", "--quotes", "keep"]);
    command
}

#[test]
fn mirrors_a_tree_and_renames_de_to_en() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let a = article(1);
    let b = article(2);
    let c = "# Überschrift\n\nEin Absatz mit *Betonung*.\n".to_owned();
    write_tree(
        &input,
        &[
            ("artikel.de.md", c.as_bytes()),
            ("politik/meldung.txt", a.as_bytes()),
            ("politik/2024/bericht.de.txt", b.as_bytes()),
            (".versteckt.txt", b"Geheim.\n"),
            ("politik/.cache/x.txt", b"Nein.\n"),
        ],
    );
    let out = tmp.path().join("out");
    identity(tmp.path())
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("3 translated, 0 skipped"));
    let files = outputs(&out);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "artikel.en.md",
            "politik/2024/bericht.en.txt",
            "politik/meldung.txt"
        ]
    );
    assert_eq!(files["artikel.en.md"], c.as_bytes());
    assert_eq!(files["politik/meldung.txt"], a.as_bytes());
    assert_eq!(files["politik/2024/bericht.en.txt"], b.as_bytes());
}

#[test]
fn several_inputs_go_under_their_names() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(
        tmp.path(),
        &[
            ("eins.de.txt", article(1).as_bytes()),
            ("ordner/zwei.txt", article(2).as_bytes()),
        ],
    );
    let out = tmp.path().join("out");
    identity(tmp.path())
        .arg(tmp.path().join("eins.de.txt"))
        .arg(tmp.path().join("ordner"))
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let names: Vec<String> = outputs(&out).into_keys().collect();
    assert_eq!(names, ["eins.en.txt", "ordner/zwei.txt"]);
}

#[test]
fn binary_file_is_reported_and_the_rest_translated() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(std::iter::repeat_n(0u8, 64));
    write_tree(
        &input,
        &[
            ("a.txt", article(1).as_bytes()),
            ("bild.txt", &png),
            ("z.txt", article(2).as_bytes()),
        ],
    );
    let out = tmp.path().join("out");
    identity(tmp.path())
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("bild.txt"))
        .stderr(predicate::str::contains("not a text file"))
        .stderr(predicate::str::contains(
            "2 translated, 0 skipped (up to date), 1 failed",
        ));
    let names: Vec<String> = outputs(&out).into_keys().collect();
    assert_eq!(names, ["a.txt", "z.txt"]);
}

#[test]
fn windows_1252_and_utf16_are_decoded_to_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "Die Bürgermeisterin äußerte sich zur Straßenöffnung. Sie kostet 5 € mehr.\n";
    let (cp1252, _, _) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(
        std::str::from_utf8(&cp1252).is_err(),
        "the test input must not be UTF-8"
    );
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    let mut utf8_bom = vec![0xEF, 0xBB, 0xBF];
    utf8_bom.extend_from_slice(text.as_bytes());
    let input = tmp.path().join("in");
    write_tree(
        &input,
        &[
            ("cp1252.txt", &cp1252),
            ("utf16.txt", &utf16),
            ("bom.txt", &utf8_bom),
            ("leer.txt", b""),
        ],
    );
    let out = tmp.path().join("out");
    identity(tmp.path())
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let files = outputs(&out);
    assert_eq!(String::from_utf8_lossy(&files["cp1252.txt"]), text);
    assert_eq!(String::from_utf8_lossy(&files["utf16.txt"]), text);
    assert_eq!(String::from_utf8_lossy(&files["bom.txt"]), text);
    assert_eq!(files["leer.txt"], b"");
}

#[test]
fn rerun_rewrites_nothing_and_a_changed_input_is_redone_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let names: Vec<String> = (0..6)
        .map(|i| format!("teil{}/artikel{i}.de.txt", i % 2))
        .collect();
    let bodies: Vec<String> = (0..6).map(article).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.as_str(), b.as_bytes()))
        .collect();
    write_tree(&input, &files);
    let out = tmp.path().join("out");
    let run = || {
        let mut command = identity(tmp.path());
        command.arg(&input).arg("-o").arg(&out);
        command
    };
    run().assert().success();
    let first = mtimes(&out);
    assert_eq!(first.len(), 6);
    std::thread::sleep(std::time::Duration::from_millis(50));

    run()
        .assert()
        .success()
        .stderr(predicate::str::contains("0 translated, 6 skipped"));
    assert_eq!(
        mtimes(&out),
        first,
        "a re-run must not touch up-to-date outputs"
    );

    // One input changes: only its output is written again.
    let changed = "Ganz neuer Text. Mit zwei Sätzen.\n";
    std::fs::write(input.join(&names[3]), changed).unwrap();
    run()
        .assert()
        .success()
        .stderr(predicate::str::contains("1 translated, 5 skipped"));
    let second = mtimes(&out);
    let redone: Vec<&String> = second
        .iter()
        .filter(|(rel, t)| first.get(*rel) != Some(t))
        .map(|(rel, _)| rel)
        .collect();
    assert_eq!(redone, ["teil1/artikel3.en.txt"]);
    assert_eq!(
        std::fs::read_to_string(out.join("teil1/artikel3.en.txt")).unwrap(),
        changed
    );

    // A deleted output is redone, too.
    std::fs::remove_file(out.join("teil0/artikel0.en.txt")).unwrap();
    run()
        .assert()
        .success()
        .stderr(predicate::str::contains("1 translated, 5 skipped"));

    // --force redoes everything.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let before = mtimes(&out);
    run()
        .arg("--force")
        .assert()
        .success()
        .stderr(predicate::str::contains("6 translated, 0 skipped"));
    let after = mtimes(&out);
    assert!(before.iter().all(|(rel, t)| after[rel] != *t));
}

#[test]
fn changed_settings_redo_the_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_tree(&input, &[("a.txt", article(1).as_bytes())]);
    let out = tmp.path().join("out");
    identity(tmp.path())
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    identity(tmp.path())
        .args(["--input-format", "lines"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("1 translated, 0 skipped"));
}

#[test]
fn shards_cover_every_file_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let bodies: Vec<String> = (0..40).map(article).collect();
    let names: Vec<String> = (0..40).map(|i| format!("d{}/f{i}.de.txt", i % 4)).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.as_str(), b.as_bytes()))
        .collect();
    write_tree(&input, &files);
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for k in 0..3 {
        let out = tmp.path().join(format!("out{k}"));
        identity(tmp.path())
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .arg("--shard")
            .arg(format!("{k}/3"))
            .assert()
            .success();
        let produced = outputs(&out);
        assert!(
            !produced.is_empty(),
            "shard {k} got no file; the split is badly skewed"
        );
        total += produced.len();
        seen.extend(produced.into_keys());
    }
    assert_eq!(total, 40, "some file was translated by two shards");
    assert_eq!(seen.len(), 40);

    // The same split when all shards share one output folder (each keeps its own manifest).
    let shared = tmp.path().join("shared");
    for k in 0..3 {
        identity(tmp.path())
            .arg(&input)
            .arg("-o")
            .arg(&shared)
            .arg("--shard")
            .arg(format!("{k}/3"))
            .assert()
            .success();
    }
    assert_eq!(outputs(&shared).len(), 40);
    // And a later unsharded run finds everything done.
    identity(tmp.path())
        .arg(&input)
        .arg("-o")
        .arg(&shared)
        .assert()
        .success()
        .stderr(predicate::str::contains("0 translated, 40 skipped"));
}

#[test]
fn bad_shards_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["3/3", "1", "a/b", "0/0"] {
        identity(tmp.path()).args(["--shard", bad]).assert().code(2);
    }
}

#[test]
fn output_folder_inside_the_input_is_not_walked() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("artikel");
    write_tree(
        &input,
        &[
            ("a.de.txt", article(1).as_bytes()),
            ("b/c.txt", article(2).as_bytes()),
        ],
    );
    let out = input.join("englisch");
    for _ in 0..2 {
        identity(tmp.path())
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
    }
    let names: Vec<String> = outputs(&out).into_keys().collect();
    assert_eq!(names, ["a.en.txt", "b/c.txt"]);
    // The input folder itself as output is refused.
    identity(tmp.path())
        .arg(&input)
        .arg("-o")
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("input folder itself"));
}

#[test]
fn an_input_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a.txt");
    std::fs::write(&file, "Hallo Welt.\n").unwrap();
    identity(tmp.path())
        .arg(&file)
        .arg("-o")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("never overwrites"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "Hallo Welt.\n");
}

#[test]
fn a_folder_needs_an_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    write_tree(tmp.path(), &[("in/a.txt", b"Hallo.\n")]);
    identity(tmp.path())
        .arg(tmp.path().join("in"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("-o DIR"));
    identity(tmp.path())
        .arg(tmp.path().join("nicht-da.txt"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nicht-da.txt"));
}

#[test]
fn stdin_to_stdout_and_file_to_file() {
    let tmp = tempfile::tempdir().unwrap();
    let text = article(7);
    identity(tmp.path())
        .write_stdin(text.clone())
        .assert()
        .success()
        .stdout(text.clone());
    identity(tmp.path())
        .arg("-")
        .arg("--quiet")
        .write_stdin(text.clone())
        .assert()
        .success()
        .stdout(text.clone())
        .stderr("");
    let file = tmp.path().join("a.de.txt");
    std::fs::write(&file, &text).unwrap();
    let target = tmp.path().join("ziel/a.txt");
    identity(tmp.path())
        .arg(&file)
        .arg("-o")
        .arg(&target)
        .assert()
        .success()
        .stdout("");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), text);
    assert!(temp_leftovers(tmp.path()).is_empty());
    // An empty input gives an empty output.
    identity(tmp.path())
        .write_stdin("")
        .assert()
        .success()
        .stdout("");
}

#[test]
fn lines_format_keeps_lines_aligned() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "Erster Satz.\n\nZweiter Satz. Noch einer.\n   \nDritter\n";
    let output = identity(tmp.path())
        .args(["--input-format", "lines"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(output.status.success());
    let out = String::from_utf8(output.stdout).unwrap();
    assert_eq!(out.lines().count(), text.lines().count());
    for (source, target) in text.lines().zip(out.lines()) {
        assert_eq!(source.trim().is_empty(), target.trim().is_empty());
    }
}

#[test]
fn json_output_lists_segments_with_spans() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "Erster Satz.\nZweiter Satz.\n";
    let output = identity(tmp.path())
        .args(["--format", "json"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let segments = json["segments"].as_array().expect("segments array");
    assert!(!segments.is_empty());
    for segment in segments {
        let start = segment["source_span"][0].as_u64().unwrap() as usize;
        let end = segment["source_span"][1].as_u64().unwrap() as usize;
        assert_eq!(segment["source"].as_str().unwrap(), &text[start..end]);
        assert!(segment["target"].is_string());
        assert!(segment["score"].is_number());
    }
    assert_eq!(json["target"].as_str().unwrap(), text);

    // In folder mode the output name gets .json.
    write_tree(tmp.path(), &[("in/a.de.md", b"# Titel\n")]);
    let out = tmp.path().join("out");
    identity(tmp.path())
        .args(["--format", "json"])
        .arg(tmp.path().join("in"))
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let names: Vec<String> = outputs(&out).into_keys().collect();
    assert_eq!(names, ["a.en.md.json"]);
}

#[test]
fn a_model_that_is_not_there_gives_one_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    de2en(tmp.path())
        .arg("translate")
        .write_stdin("Hallo.\n")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "Helsinki-NLP/opus-mt-de-en is not downloaded",
        ))
        .stderr(predicate::str::contains(
            "de2en models fetch Helsinki-NLP/opus-mt-de-en",
        ))
        .stderr(predicate::str::contains("--model DIR"));
    de2en(tmp.path())
        .args(["translate", "--model", "./keine/modelle/hier"])
        .write_stdin("Hallo.\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
    // DE2EN_MODEL is read as well.
    de2en(tmp.path())
        .arg("translate")
        .env("DE2EN_MODEL", "someone/other-model")
        .write_stdin("Hallo.\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("someone/other-model"));
}

#[test]
fn bad_flags_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    identity(tmp.path())
        .args(["--beam-size", "0"])
        .assert()
        .code(2);
    identity(tmp.path())
        .args(["--min-length", "9", "--max-length", "3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--min-length"));
    identity(tmp.path())
        .args(["--input-format", "pdf"])
        .assert()
        .code(2);
}

#[test]
fn help_lists_every_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let output = de2en(tmp.path())
        .args(["translate", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in [
        "--output",
        "--input-format",
        "--format",
        "--quotes",
        "--model",
        "--engine",
        "--beam-size",
        "--max-length",
        "--min-length",
        "--batch-tokens",
        "--threads",
        "--window",
        "--force",
        "--shard",
        "--quiet",
    ] {
        assert!(help.contains(flag), "{flag} missing from help");
    }
    assert!(!help.contains("debug-engine-delay"));
}

#[test]
fn segment_prints_sentences_and_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "Erster Absatz.\n\nZweiter Absatz.\n";
    de2en(tmp.path())
        .arg("segment")
        .write_stdin(text)
        .assert()
        .success()
        .stdout("Erster Absatz.\n\nZweiter Absatz.\n");
    let output = de2en(tmp.path())
        .args(["segment", "--format", "json", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let blocks = json["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 2);
    let first = &blocks[0]["sentences"][0];
    assert_eq!(first["text"], "Erster Absatz.");
    assert_eq!(first["span"], serde_json::json!([0, 14]));
}

#[test]
fn segment_prints_quotation_marks_and_urls_with_their_sentences() {
    let tmp = tempfile::tempdir().unwrap();
    let text =
        "Er sagte: „Das ist gut. Wir machen weiter.“ Mehr unter www.example.de/aktuell. Danke.\n";
    de2en(tmp.path())
        .arg("segment")
        .write_stdin(text)
        .assert()
        .success()
        .stdout(
            "Er sagte: „Das ist gut.\nWir machen weiter.“\nMehr unter www.example.de/aktuell.\nDanke.\n",
        );
    let output = de2en(tmp.path())
        .args(["segment", "--format", "json", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let sentences = json["blocks"][0]["sentences"].as_array().unwrap();
    for sentence in sentences {
        let span = &sentence["span"];
        let (start, end) = (
            span[0].as_u64().unwrap() as usize,
            span[1].as_u64().unwrap() as usize,
        );
        assert_eq!(sentence["text"].as_str().unwrap(), &text[start..end]);
    }
    assert_eq!(sentences[1]["text"], "Wir machen weiter.“");
}

#[test]
fn closed_stdout_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let big: String = (0..3000).map(article).collect();
    let mut child = de2en_std(tmp.path())
        .args(["translate", "--engine", "identity", "--quotes", "keep"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close our end of stdout before de2en writes: it sees a broken pipe.
    drop(child.stdout.take());
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(big.as_bytes());
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// With the fixture model (tests/fixtures/models/tiny-swish, generated by
// scripts/make_test_model.py): real translation through the Marian engine.
// ---------------------------------------------------------------------------------------------

#[test]
fn fixture_model_translates_a_tree() {
    let model = fixture_model("tiny-swish");
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let bodies: Vec<String> = (0..5).map(article).collect();
    let names: Vec<String> = (0..5).map(|i| format!("artikel{i}.de.txt")).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.as_str(), b.as_bytes()))
        .collect();
    write_tree(&input, &files);
    let out = tmp.path().join("out");
    de2en(tmp.path())
        .arg("translate")
        .arg("--model")
        .arg(&model)
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let produced = outputs(&out);
    assert_eq!(produced.len(), 5);
    for (name, body) in names.iter().zip(&bodies) {
        let english = String::from_utf8(produced[&name.replace(".de.", ".en.")].clone()).unwrap();
        // Structure is kept: the same blank-line layout, and every line got a translation.
        assert_eq!(english.lines().count(), body.lines().count(), "{english}");
        for (source, target) in body.lines().zip(english.lines()) {
            assert_eq!(source.is_empty(), target.is_empty(), "{english}");
        }
    }
}

#[test]
fn fixture_model_lines_match_one_at_a_time() {
    // Batching across sentences must not change any translation.
    let model = fixture_model("tiny-swish");
    let tmp = tempfile::tempdir().unwrap();
    let sentences = [
        "Die Stadt plant neue Radwege.",
        "Der Rat stimmt am Montag ab.",
        "",
        "Die Kosten liegen bei fünf Millionen Euro.",
    ];
    let text = sentences.join("\n") + "\n";
    let together = de2en(tmp.path())
        .args(["translate", "--input-format", "lines", "--model"])
        .arg(&model)
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(
        together.status.success(),
        "{}",
        String::from_utf8_lossy(&together.stderr)
    );
    let together = String::from_utf8(together.stdout).unwrap();
    let lines: Vec<&str> = together.lines().collect();
    assert_eq!(lines.len(), sentences.len());
    for (i, sentence) in sentences.iter().enumerate() {
        let alone = de2en(tmp.path())
            .args(["translate", "--input-format", "lines", "--model"])
            .arg(&model)
            .write_stdin(format!("{sentence}\n"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(alone.stdout).unwrap().trim_end(),
            lines[i]
        );
    }
}

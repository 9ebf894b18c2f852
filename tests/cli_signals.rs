//! Ctrl-C and kill -9 in the middle of a folder run: no partial output, ever, and the next run
//! completes. The identity engine is slowed down by a hidden test flag so that the signal lands
//! while files are still in flight.

#![cfg(unix)]

mod cli_common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cli_common::*;
use predicates::prelude::*;

const FILES: usize = 300;

fn make_corpus(input: &Path) {
    let bodies: Vec<String> = (0..FILES).map(article).collect();
    let names: Vec<String> = (0..FILES)
        .map(|i| format!("jahrgang{}/meldung{i:03}.de.txt", i % 5))
        .collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.as_str(), b.as_bytes()))
        .collect();
    write_tree(input, &files);
}

fn start_slow_run(tmp: &Path, input: &Path, out: &Path) -> Child {
    de2en_std(tmp)
        .args(["translate", "--engine", "identity", "--quotes", "keep"])
        // Small windows and a slow engine: about 40 ms per handful of files.
        .args(["--window", "12", "--debug-engine-delay-ms", "40"])
        .arg(input)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn de2en")
}

/// Waits until some outputs exist (the run is in full swing).
fn wait_for_outputs(out: &Path, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if out.exists() && outputs(out).len() >= at_least {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("de2en wrote no output within a minute");
}

fn send(child: &Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Every output present is complete: byte for byte what the identity engine makes of its input.
fn assert_outputs_complete(input: &Path, out: &Path) -> usize {
    let produced = outputs(out);
    for (rel, bytes) in &produced {
        let source = std::fs::read(input.join(rel.replace(".en.", ".de."))).expect("input");
        assert_eq!(bytes, &source, "{rel} is incomplete");
    }
    produced.len()
}

#[test]
fn ctrl_c_stops_cleanly_with_exit_130_and_the_next_run_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    make_corpus(&input);
    let child = start_slow_run(tmp.path(), &input, &out);
    wait_for_outputs(&out, 5);
    send(&child, "INT");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let done = assert_outputs_complete(&input, &out);
    assert!(
        done < FILES,
        "the run finished before the signal; make it slower"
    );
    assert!(
        temp_leftovers(&out).is_empty(),
        "{:?}",
        temp_leftovers(&out)
    );

    de2en(tmp.path())
        .args(["translate", "--engine", "identity", "--quotes", "keep"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "{} translated, {done} skipped",
            FILES - done
        )));
    assert_eq!(assert_outputs_complete(&input, &out), FILES);
}

#[test]
fn sigterm_stops_cleanly_too() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    make_corpus(&input);
    let child = start_slow_run(tmp.path(), &input, &out);
    wait_for_outputs(&out, 5);
    send(&child, "TERM");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert_outputs_complete(&input, &out);
    assert!(temp_leftovers(&out).is_empty());
}

#[test]
fn kill_9_then_rerun_cleans_leftovers_and_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    make_corpus(&input);
    let mut child = start_slow_run(tmp.path(), &input, &out);
    wait_for_outputs(&out, 5);
    send(&child, "KILL");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    assert_outputs_complete(&input, &out);
    // What a kill in the middle of a write leaves behind (the window is too small to hit
    // reliably, so it is planted): a temp file with half an article.
    std::fs::create_dir_all(out.join("jahrgang1")).unwrap();
    std::fs::write(out.join("jahrgang1/.de2en-tmp-AbC123"), "Die Stadt pl").unwrap();

    de2en(tmp.path())
        .args(["translate", "--engine", "identity", "--quotes", "keep"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .assert()
        .success()
        .stderr(predicate::str::contains("unfinished temporary file"));
    assert!(temp_leftovers(&out).is_empty());
    assert_eq!(assert_outputs_complete(&input, &out), FILES);
}

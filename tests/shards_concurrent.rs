//! Shards on one shared output folder, run at the same time, as a job array or an indexed Job
//! runs them: 4 `de2en translate --shard K/4` processes started together on one tree. Every file
//! must be written exactly once, each shard's manifest must be whole JSON naming exactly its own
//! files, no temp file may remain, and both resume and `--force` must hold with the workers
//! running concurrently. No scheduler needed (scripts/slurm-e2e.sh does the same under SLURM).

mod cli_common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Output, Stdio};

use cli_common::*;

const FILES: usize = 400;
const SHARDS: usize = 4;

/// Starts all shards at once and waits for every one; returns their outputs in shard order.
fn run_shards_at_once(hf_home: &Path, input: &Path, out: &Path, extra: &[&str]) -> Vec<Output> {
    let children: Vec<_> = (0..SHARDS)
        .map(|k| {
            de2en_std(hf_home)
                .args(["translate", "--engine", "identity", "--quotes", "keep"])
                // One file per engine call, each call a little slow: the four workers overlap
                // for their whole run instead of finishing one after another.
                .args(["--window", "0", "--debug-engine-delay-ms", "3"])
                .args(extra)
                .arg(input)
                .arg("-o")
                .arg(out)
                .arg("--shard")
                .arg(format!("{k}/{SHARDS}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn de2en")
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait"))
        .collect()
}

/// (translated, skipped) from a run's summary line.
fn summary(output: &Output) -> (usize, usize) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "a shard failed ({}): {stderr}",
        output.status
    );
    assert!(
        !stderr.contains("ignoring manifest") && !stderr.contains("warning"),
        "a shard saw a damaged manifest or warned: {stderr}"
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("de2en: ") && l.contains(" translated, "))
        .unwrap_or_else(|| panic!("no summary line in: {stderr}"));
    let number_before = |word: &str| -> usize {
        let head = &line[..line.find(word).expect("field in summary")];
        head.trim_end()
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .expect("a count")
    };
    (number_before(" translated"), number_before(" skipped"))
}

/// Each shard's manifest, parsed: shard → the output paths it records.
fn manifests(out: &Path) -> BTreeMap<String, BTreeSet<String>> {
    read_tree(out)
        .into_iter()
        .filter(|(rel, _)| rel.starts_with(".de2en-manifest"))
        .map(|(rel, bytes)| {
            let json: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{rel} is not whole JSON ({e})"));
            let outputs = json["outputs"]
                .as_object()
                .unwrap_or_else(|| panic!("{rel} has no outputs object"))
                .keys()
                .cloned()
                .collect();
            (rel, outputs)
        })
        .collect()
}

#[test]
fn four_shards_at_once_on_one_output_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    // Files spread over shared subfolders, so the workers create the same output folders at once.
    let names: Vec<String> = (0..FILES)
        .map(|i| format!("ressort{}/{}/meldung-{i}.de.txt", i % 6, 2020 + i % 3))
        .collect();
    let bodies: Vec<String> = (0..FILES).map(article).collect();
    let files: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.as_str(), b.as_bytes()))
        .collect();
    write_tree(&input, &files);
    let expected: BTreeMap<String, Vec<u8>> = names
        .iter()
        .zip(&bodies)
        .map(|(n, b)| (n.replace(".de.", ".en."), b.clone().into_bytes()))
        .collect();

    // 1. All at once: every file written exactly once, by exactly one shard.
    let runs = run_shards_at_once(tmp.path(), &input, &out, &[]);
    let per_shard: Vec<usize> = runs.iter().map(|r| summary(r).0).collect();
    assert!(
        per_shard.iter().all(|&n| n > 0),
        "a shard got no file: {per_shard:?}"
    );
    assert_eq!(
        per_shard.iter().sum::<usize>(),
        FILES,
        "files translated by two shards, or by none: {per_shard:?}"
    );
    assert_eq!(outputs(&out), expected);
    assert_eq!(temp_leftovers(&out), Vec::<String>::new());
    let manifests_after = manifests(&out);
    let names_found: Vec<&str> = manifests_after.keys().map(String::as_str).collect();
    assert_eq!(
        names_found,
        (0..SHARDS)
            .map(|k| format!(".de2en-manifest.shard-{k}-of-{SHARDS}.json"))
            .collect::<Vec<_>>()
    );
    // Each manifest records exactly its shard's files: together all of them, none twice.
    for (k, recorded) in manifests_after.values().enumerate() {
        assert_eq!(recorded.len(), per_shard[k], "shard {k}'s manifest");
    }
    let union: BTreeSet<&String> = manifests_after.values().flatten().collect();
    assert_eq!(union.len(), FILES);
    assert!(union.into_iter().eq(expected.keys()));
    let written = mtimes(&out);

    // 2. All at once again: every shard finds its own work done and touches nothing.
    let runs = run_shards_at_once(tmp.path(), &input, &out, &[]);
    for (k, run) in runs.iter().enumerate() {
        assert_eq!(summary(run), (0, per_shard[k]), "shard {k} on the rerun");
    }
    assert_eq!(mtimes(&out), written);

    // 3. All at once with --force: each shard redoes exactly its own files; still one manifest
    //    per shard, whole, and no temp file.
    let runs = run_shards_at_once(tmp.path(), &input, &out, &["--force"]);
    for (k, run) in runs.iter().enumerate() {
        assert_eq!(summary(run), (per_shard[k], 0), "shard {k} with --force");
    }
    assert_eq!(outputs(&out), expected);
    assert_eq!(temp_leftovers(&out), Vec::<String>::new());
    assert_eq!(manifests(&out), manifests_after);

    // 4. A later run without --shard reads all four manifests and finds everything done.
    let run = de2en_std(tmp.path())
        .args(["translate", "--engine", "identity", "--quotes", "keep"])
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(summary(&run), (0, FILES));
    assert_eq!(outputs(&out), expected);
}

//! Helpers shared by the `cli*` integration tests: run the binary, build and read trees.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test, with an environment that cannot reach a real model cache.
pub fn de2en(hf_home: &Path) -> assert_cmd::Command {
    assert_cmd::Command::from_std(de2en_std(hf_home))
}

/// The same as a plain `std::process::Command`, for tests that spawn and signal it.
pub fn de2en_std(hf_home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_de2en"));
    command
        .env("HF_HOME", hf_home)
        // Converted checkpoints go to the test's own folder, never the user's ~/.cache.
        .env("DE2EN_CACHE_DIR", hf_home.join("de2en-cache"))
        .env_remove("HF_HUB_CACHE")
        .env_remove("DE2EN_MODEL")
        .env_remove("HF_ENDPOINT")
        .env_remove("HF_TOKEN")
        .env_remove("RAYON_NUM_THREADS");
    command
}

/// Writes `files` (relative path, content) under `root`.
pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (rel, content) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write");
    }
}

/// Every file under `root` (hidden ones included), relative path → bytes.
pub fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                files.insert(rel, std::fs::read(&path).expect("read"));
            }
        }
    }
    files
}

/// Output files only (no manifest).
pub fn outputs(root: &Path) -> BTreeMap<String, Vec<u8>> {
    read_tree(root)
        .into_iter()
        .filter(|(rel, _)| {
            !rel.rsplit('/')
                .next()
                .unwrap_or("")
                .starts_with(".de2en-manifest")
        })
        .collect()
}

/// Temporary files de2en left anywhere under `root`.
pub fn temp_leftovers(root: &Path) -> Vec<String> {
    read_tree(root)
        .into_keys()
        .filter(|rel| {
            rel.rsplit('/')
                .next()
                .unwrap_or("")
                .starts_with(".de2en-tmp-")
        })
        .collect()
}

pub fn mtimes(root: &Path) -> BTreeMap<String, std::time::SystemTime> {
    read_tree(root)
        .into_keys()
        .filter(|rel| !rel.rsplit('/').next().unwrap_or("").starts_with('.'))
        .map(|rel| {
            let modified = std::fs::metadata(root.join(&rel))
                .and_then(|m| m.modified())
                .expect("mtime");
            (rel, modified)
        })
        .collect()
}

/// A German article of a few lines, different for every `n`, without quotation marks (so the
/// identity engine reproduces it byte for byte whatever the quote style).
pub fn article(n: usize) -> String {
    format!(
        "Meldung Nummer {n}\n\nDie Stadt plant für das Jahr {year} neue Radwege. Der Rat stimmt \
         am Montag ab.\nDie Kosten liegen bei {n} Millionen Euro.\n",
        year = 2000 + n
    )
}

pub fn fixture_model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// Translates a file or folder with the tiny-swish fixture model in `format` (`-o output`);
/// fails the test when de2en does not succeed.
pub fn translate_with_fixture(home: &Path, format: &str, input: &Path, output: &Path) {
    let result = de2en(home)
        .args(["translate", "-q", "--format", format, "--model"])
        .arg(fixture_model("tiny-swish"))
        .arg(input)
        .arg("-o")
        .arg(output)
        .output()
        .expect("run de2en");
    assert!(result.status.success(), "{result:?}");
}

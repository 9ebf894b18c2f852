//! Helpers shared by the engine-level integration tests: fixture folders, golden files, and the
//! whole message of a failed model load.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use de2en::engine::marian::{EngineSettings, MarianEngine};
use serde_json::Value;

pub fn fixture_dir(model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(model)
}

/// `tests/fixtures/golden/<model>.json`.
pub fn golden(model: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/golden")
        .join(format!("{model}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The golden file's source sentences.
pub fn golden_sentences(model: &str) -> Vec<String> {
    golden(model)["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|s| s["text"].as_str().expect("text").to_owned())
        .collect()
}

/// Copies a fixture folder into a temporary directory, to damage or vary it.
pub fn copy_fixture(model: &str) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(fixture_dir(model)).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), temp.path().join(entry.file_name())).expect("copy");
    }
    temp
}

/// An error with all its causes, as the CLI prints them.
pub fn full_message(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    message
}

/// The whole message of loading the broken folder `dir` (panics if it loads).
pub fn load_error(dir: &Path) -> String {
    match MarianEngine::load(dir, &EngineSettings::default()) {
        Ok(_) => panic!("{} loaded although it is broken", dir.display()),
        Err(error) => full_message(&error),
    }
}

//! `de2en translate --input-format lines` on the fixture models matches transformers line for line:
//! every golden case (greedy, beam 4, short and long length limits, the model's own defaults),
//! all sentences in one run so that they share batches, with an empty line kept empty. With
//! `--guard off`, the switch that keeps de2en token-exact.

mod cli_common;

use cli_common::*;
use serde_json::Value;

fn golden(model: &str) -> Value {
    let path = format!("tests/fixtures/golden/{model}.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The command-line flags that reproduce one golden case's `generate` arguments.
fn flags_for(kwargs: &Value) -> Vec<String> {
    let mut flags = Vec::new();
    for (key, flag) in [
        ("num_beams", "--beam-size"),
        ("max_new_tokens", "--max-length"),
        ("min_new_tokens", "--min-length"),
    ] {
        if let Some(n) = kwargs.get(key).and_then(Value::as_u64) {
            flags.push(flag.to_owned());
            flags.push(n.to_string());
        }
    }
    flags
}

fn check_model(model: &str, hf_home: &std::path::Path) {
    let golden = golden(model);
    let sentences: Vec<&str> = golden["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|s| s["text"].as_str().expect("sentence text"))
        .collect();
    // An empty line in the middle must come back as an empty line, the others line-aligned.
    let middle = sentences.len() / 2;
    let mut input_lines: Vec<&str> = sentences.clone();
    input_lines.insert(middle, "");
    let input = input_lines.join("\n") + "\n";

    for case in golden["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("case name");
        let mut command = de2en(hf_home);
        command
            .args(["translate", "--quiet", "--input-format", "lines", "--model"])
            .arg(format!("tests/fixtures/models/{model}"))
            .args(flags_for(&case["generate_kwargs"]))
            // The engine's exact output: the tiny models lose numbers, which the default guard
            // would retry (tests/guard.rs covers that).
            .args(["--guard", "off"])
            .write_stdin(input.clone());
        let output = command.output().expect("run de2en");
        assert!(
            output.status.success(),
            "{model} {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
        let mut lines: Vec<&str> = stdout.split('\n').collect();
        assert_eq!(
            lines.pop(),
            Some(""),
            "{model} {name}: output ends with a newline"
        );
        assert_eq!(lines.len(), input_lines.len(), "{model} {name}: line count");
        assert_eq!(
            lines[middle], "",
            "{model} {name}: the empty line stays empty"
        );
        lines.remove(middle);
        for (i, (line, expected)) in lines
            .iter()
            .zip(case["single"].as_array().expect("single"))
            .enumerate()
        {
            assert_eq!(
                *line,
                expected["text"].as_str().expect("golden text"),
                "{model} {name}: sentence {i} ({:?})",
                sentences[i]
            );
        }
    }
}

#[test]
fn lines_match_transformers_on_the_safetensors_model() {
    check_model("tiny-swish", tempfile::tempdir().expect("tempdir").path());
}

#[test]
fn lines_match_transformers_on_the_pytorch_bin_model() {
    check_model("tiny-gelu", tempfile::tempdir().expect("tempdir").path());
}

#[test]
fn lines_match_transformers_on_the_legacy_checkpoint_first_run_and_cached() {
    // The first of the seven cases parses the legacy pickle and converts it; the others map the
    // converted copy from de2en's cache: both must give transformers' output.
    let hf_home = tempfile::tempdir().expect("tempdir");
    let model = std::path::Path::new("tests/fixtures/models/tiny-legacy");
    let before = std::fs::read_dir(model).expect("model folder").count();
    check_model("tiny-legacy", hf_home.path());
    let cached: Vec<_> = std::fs::read_dir(hf_home.path().join("de2en-cache/checkpoints"))
        .expect("the cache folder was made")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("name")
        })
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].ends_with(".safetensors") && cached[0].len() == 64 + 12,
        "{cached:?}"
    );
    assert_eq!(
        std::fs::read_dir(model).expect("model folder").count(),
        before,
        "nothing is written into the model folder"
    );
}

//! `de2en translate --engine rust-bert`: with the `rust-bert` feature it translates whole articles
//! exactly as the default engine does; without it the flag is a usage error that says how to get
//! the engine.
//!
//! The feature tests need libtorch: `scripts/with-libtorch.sh cargo test --features rust-bert
//! --test cli_rust_bert` (scripts/ci-rust-bert.sh runs them in CI).

mod cli_common;

use cli_common::*;

#[cfg(not(feature = "rust-bert"))]
#[test]
fn rust_bert_engine_needs_the_feature() {
    use predicates::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    de2en(tmp.path())
        .args(["translate", "--engine", "rust-bert", "--model"])
        .arg(fixture_model("tiny-swish"))
        .write_stdin("Die Stadt plant neue Radwege.\n")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("--features rust-bert"))
        .stderr(predicate::str::contains("docs/rust-bert.md"));
    // Said first, before a missing model (the test environment has no model cache).
    de2en(tmp.path())
        .args(["translate", "--engine", "rust-bert"])
        .write_stdin("Die Stadt plant neue Radwege.\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--features rust-bert"));
}

/// Translates `input` with `engine`, returning stdout; fails the test on a non-zero exit.
#[cfg(feature = "rust-bert")]
fn translate(engine: &str, model: &str, args: &[&str], input: &std::path::Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let output = de2en(tmp.path())
        .args(["translate", "--engine", engine, "--threads", "2", "--model"])
        .arg(fixture_model(model))
        .args(args)
        .arg(input)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "--engine {engine} failed on {}:\n{}",
        input.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[cfg(feature = "rust-bert")]
#[test]
fn rust_bert_engine_translates_articles_like_the_default_engine() {
    let articles = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/articles");
    // Quotations inside a sentence, Markdown emphasis and links are placed by word alignment,
    // so identical articles also mean identical alignments.
    let inputs = [
        "euronews-kerry-syrien.de.txt",
        "interview-wasser.de.txt",
        "zitate.de.txt",
        "listen.de.txt",
        "bericht.de.md",
    ];
    for model in ["tiny-swish", "tiny-gelu"] {
        for beams in ["1", "4"] {
            for name in inputs {
                let input = articles.join(name);
                let args = ["--beam-size", beams];
                let candle = translate("marian", model, &args, &input);
                let rust_bert = translate("rust-bert", model, &args, &input);
                assert!(!candle.trim().is_empty(), "{model} {name}: empty output");
                assert_eq!(
                    rust_bert, candle,
                    "{model}, beam {beams}, {name}: the engines disagree"
                );
            }
        }
    }
}

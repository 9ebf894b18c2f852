//! Cross-engine agreement: the rust-bert engine against transformers' goldens and against the
//! default candle engine, on every fixture model, greedy and beam, one sentence at a time and
//! batched. The two engines share tokenizer and search and differ in the network (our candle
//! code against rust-bert's on libtorch): two implementations of the network that agree token
//! for token with the reference and with each other are what let a user trust either one.
//!
//! Needs libtorch: `scripts/with-libtorch.sh cargo test --features rust-bert --test cross_engine`.
#![cfg(feature = "rust-bert")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use de2en::engine::marian::{EngineSettings, MarianEngine};
use de2en::engine::rust_bert::RustBertEngine;
use de2en::engine::{Engine, Translation};
use serde::Deserialize;

const MODELS: &[&str] = &["tiny-swish", "tiny-gelu", "tiny-legacy"];
/// Goldens are rounded to 5 decimals and the engines run in f32.
const LOGPROB_TOLERANCE: f32 = 2e-3;

#[derive(Debug, Deserialize)]
struct Golden {
    sentences: Vec<GoldenSentence>,
    cases: Vec<GoldenCase>,
}

#[derive(Debug, Deserialize)]
struct GoldenSentence {
    text: String,
}

#[derive(Debug, Deserialize)]
struct GoldenCase {
    name: String,
    generate_kwargs: serde_json::Map<String, serde_json::Value>,
    max_new_tokens: usize,
    min_new_tokens: usize,
    single: Vec<GoldenOutput>,
    batch: Vec<GoldenOutput>,
}

#[derive(Debug, Deserialize)]
struct GoldenOutput {
    ids: Vec<u32>,
    text: String,
    sum_logprob: f32,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model_dir(model: &str) -> PathBuf {
    repo().join("tests/fixtures/models").join(model)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("cannot parse {}: {error}", path.display()))
}

fn golden(model: &str) -> Golden {
    read_json(
        &repo()
            .join("tests/fixtures/golden")
            .join(format!("{model}.json")),
    )
}

/// The engine settings that reproduce one golden case: `num_beams` only when the case set it
/// (otherwise the model's generation config decides), as transformers' `generate` was called.
fn settings(case: &GoldenCase, batch_tokens: usize) -> EngineSettings {
    EngineSettings {
        beam_size: case
            .generate_kwargs
            .get("num_beams")
            .and_then(serde_json::Value::as_u64)
            .map(|beams| beams as usize),
        max_new_tokens: Some(case.max_new_tokens),
        min_new_tokens: (case.min_new_tokens > 0).then_some(case.min_new_tokens),
        batch_tokens,
        ..EngineSettings::default()
    }
}

/// Big enough that all fixture sentences form one batch, as in the goldens.
const ONE_BATCH: usize = 1 << 20;
/// Small enough that the 20 sentences are packed into several batches of different sizes.
const SMALL_BATCHES: usize = 96;

fn translate_alone(engine: &dyn Engine, sentences: &[&str]) -> Vec<Translation> {
    sentences
        .iter()
        .map(|sentence| {
            let mut out = engine
                .translate(&[sentence])
                .unwrap_or_else(|error| panic!("translating {sentence:?}: {error}"));
            assert_eq!(out.len(), 1);
            out.remove(0)
        })
        .collect()
}

fn translate_batched(engine: &dyn Engine, sentences: &[&str]) -> Vec<Translation> {
    let out = engine
        .translate(sentences)
        .unwrap_or_else(|error| panic!("translating a batch: {error}"));
    assert_eq!(out.len(), sentences.len());
    out
}

/// Appends one line per disagreement, so a failure shows every case at once.
fn compare_with_golden(
    report: &mut String,
    label: &str,
    sentences: &[&str],
    got: &[Translation],
    want: &[GoldenOutput],
) {
    for (index, ((sentence, got), want)) in sentences.iter().zip(got).zip(want).enumerate() {
        if got.token_ids != want.ids {
            let _ = writeln!(
                report,
                "{label} #{index} {sentence:?}\n    ids  got  {:?}\n         want {:?}",
                got.token_ids, want.ids
            );
        } else if got.text != want.text {
            let _ = writeln!(
                report,
                "{label} #{index} {sentence:?}\n    text got  {:?}\n         want {:?}",
                got.text, want.text
            );
        } else if (got.sum_logprob - want.sum_logprob).abs() > LOGPROB_TOLERANCE {
            let _ = writeln!(
                report,
                "{label} #{index} {sentence:?}: sum_logprob {} vs golden {}",
                got.sum_logprob, want.sum_logprob
            );
        }
    }
}

fn compare_engines(
    report: &mut String,
    label: &str,
    sentences: &[&str],
    rust_bert: &[Translation],
    candle: &[Translation],
) {
    for (index, ((sentence, a), b)) in sentences.iter().zip(rust_bert).zip(candle).enumerate() {
        if a.token_ids != b.token_ids || a.text != b.text {
            let _ = writeln!(
                report,
                "{label} #{index} {sentence:?}\n    rust-bert {:?} {:?}\n    candle    {:?} {:?}",
                a.token_ids, a.text, b.token_ids, b.text
            );
        } else if (a.sum_logprob - b.sum_logprob).abs() > LOGPROB_TOLERANCE {
            let _ = writeln!(
                report,
                "{label} #{index} {sentence:?}: sum_logprob rust-bert {} vs candle {}",
                a.sum_logprob, b.sum_logprob
            );
        } else if a.alignment != b.alignment {
            let _ = writeln!(
                report,
                "{label} #{index} {sentence:?}: word alignment\n    rust-bert {:?}\n    candle    {:?}",
                a.alignment, b.alignment
            );
        }
    }
}

fn assert_clean(report: String, what: &str) {
    assert!(report.is_empty(), "{what} disagree:\n{report}");
}

#[test]
fn rust_bert_matches_transformers_goldens() {
    let mut report = String::new();
    for model in MODELS {
        let golden = golden(model);
        let sentences: Vec<&str> = golden.sentences.iter().map(|s| s.text.as_str()).collect();
        for case in &golden.cases {
            let label = format!("{model} {}", case.name);
            let engine = RustBertEngine::load(&model_dir(model), &settings(case, ONE_BATCH))
                .unwrap_or_else(|error| panic!("{label}: {error}"));
            let alone = translate_alone(&engine, &sentences);
            compare_with_golden(
                &mut report,
                &format!("{label} alone"),
                &sentences,
                &alone,
                &case.single,
            );
            let batched = translate_batched(&engine, &sentences);
            compare_with_golden(
                &mut report,
                &format!("{label} batched"),
                &sentences,
                &batched,
                &case.batch,
            );

            let engine = RustBertEngine::load(&model_dir(model), &settings(case, SMALL_BATCHES))
                .unwrap_or_else(|error| panic!("{label}: {error}"));
            let packed = translate_batched(&engine, &sentences);
            compare_with_golden(
                &mut report,
                &format!("{label} packed"),
                &sentences,
                &packed,
                &case.single,
            );
        }
    }
    assert_clean(report, "rust-bert and transformers");
}

#[test]
fn rust_bert_agrees_with_default_engine() {
    let mut report = String::new();
    for model in MODELS {
        let golden = golden(model);
        let sentences: Vec<&str> = golden.sentences.iter().map(|s| s.text.as_str()).collect();
        for case in &golden.cases {
            let label = format!("{model} {}", case.name);
            // Word alignment on: the engines must pair the same words (quotations, emphasis and
            // links are placed by it).
            let settings = EngineSettings {
                alignment: true,
                ..settings(case, ONE_BATCH)
            };
            let candle = MarianEngine::load(&model_dir(model), &settings)
                .unwrap_or_else(|error| panic!("{label}: candle engine: {error}"));
            let rust_bert = RustBertEngine::load(&model_dir(model), &settings)
                .unwrap_or_else(|error| panic!("{label}: {error}"));
            compare_engines(
                &mut report,
                &format!("{label} alone"),
                &sentences,
                &translate_alone(&rust_bert, &sentences),
                &translate_alone(&candle, &sentences),
            );
            compare_engines(
                &mut report,
                &format!("{label} batched"),
                &sentences,
                &translate_batched(&rust_bert, &sentences),
                &translate_batched(&candle, &sentences),
            );
        }
    }
    assert_clean(report, "rust-bert and the candle engine");
}

#[test]
fn rust_bert_reports_a_missing_model_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["config.json", "vocab.json", "source.spm", "target.spm"] {
        std::fs::copy(model_dir("tiny-swish").join(name), dir.path().join(name)).expect("copy");
    }
    let error = match RustBertEngine::load(dir.path(), &EngineSettings::default()) {
        Ok(_) => panic!("a folder without weights loaded"),
        Err(error) => error.to_string(),
    };
    assert!(
        error.contains("model.safetensors or pytorch_model.bin"),
        "{error}"
    );
}

#[test]
fn rust_bert_reports_weights_that_do_not_fit_the_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in [
        "vocab.json",
        "source.spm",
        "target.spm",
        "model.safetensors",
    ] {
        std::fs::copy(model_dir("tiny-swish").join(name), dir.path().join(name)).expect("copy");
    }
    // tiny-gelu's config describes another shape than tiny-swish's weights.
    std::fs::copy(
        model_dir("tiny-gelu").join("config.json"),
        dir.path().join("config.json"),
    )
    .expect("copy");
    let error = match RustBertEngine::load(dir.path(), &EngineSettings::default()) {
        Ok(_) => panic!("mismatched weights loaded"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("model.safetensors"), "{error}");
}

#[test]
fn rust_bert_reads_a_converted_legacy_checkpoint_from_the_cache() {
    // The first load converts tiny-legacy's pickle into the cache (tied embeddings stored once,
    // their other names in the metadata); the second reads only the converted copy. Both must
    // give transformers' output.
    let cache = tempfile::tempdir().expect("cache");
    let golden = golden("tiny-legacy");
    let sentences: Vec<&str> = golden.sentences.iter().map(|s| s.text.as_str()).collect();
    let case = &golden.cases[0];
    let settings = EngineSettings {
        checkpoint_cache: Some(cache.path().to_owned()),
        ..settings(case, ONE_BATCH)
    };
    let mut report = String::new();
    for round in ["converting", "cached"] {
        let engine = RustBertEngine::load(&model_dir("tiny-legacy"), &settings)
            .unwrap_or_else(|error| panic!("{round}: {error}"));
        let batched = translate_batched(&engine, &sentences);
        compare_with_golden(&mut report, round, &sentences, &batched, &case.batch);
        assert_eq!(
            std::fs::read_dir(cache.path()).expect("cache").count(),
            1,
            "{round}: one converted file"
        );
    }
    assert_clean(
        report,
        "rust-bert on the cached legacy checkpoint and transformers",
    );
}

#[test]
fn rust_bert_refuses_int8() {
    let settings = EngineSettings {
        precision: de2en::engine::marian::linear::Precision::Int8,
        ..EngineSettings::default()
    };
    let error = match RustBertEngine::load(&model_dir("tiny-swish"), &settings) {
        Ok(_) => panic!("rust-bert accepted int8"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("int8"), "{error}");
}

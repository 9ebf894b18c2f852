//! Weight files as the hub serves them: legacy (pre-zip) PyTorch checkpoints of every float type,
//! 2020-era key layouts, de2en's cache of converted checkpoints, and damaged files.
//!
//! The fixtures come from `scripts/make_test_model.py` (`--legacy-only` rewrites just these):
//! `tiny-legacy` is `tiny-gelu` saved the way 2020 transformers did; its goldens are checked in
//! tests/marian_golden.rs with the other models.

mod model_common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use de2en::engine::Engine;
use de2en::engine::marian::weights::WeightFile;
use de2en::engine::marian::{EngineSettings, MarianEngine};
use model_common::{copy_fixture, full_message, golden, golden_sentences, load_error};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A folder holding only `file` as its `pytorch_model.bin`.
fn folder_with_checkpoint(file: &Path) -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("tempdir");
    std::fs::copy(file, temp.path().join("pytorch_model.bin")).expect("copy");
    temp
}

/// Greedy translations of the golden sentences of `model`'s golden file.
fn greedy(engine: &MarianEngine, golden_model: &str) -> Vec<String> {
    let sentences = golden_sentences(golden_model);
    let sentences: Vec<&str> = sentences.iter().map(String::as_str).collect();
    engine
        .translate(&sentences)
        .expect("translate")
        .into_iter()
        .map(|t| t.text)
        .collect()
}

fn golden_greedy(golden_model: &str) -> Vec<String> {
    let golden = golden(golden_model);
    let case = golden["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == "greedy")
        .expect("greedy case");
    case["single"]
        .as_array()
        .expect("single")
        .iter()
        .map(|r| r["text"].as_str().expect("text").to_owned())
        .collect()
}

fn greedy_settings(cache: Option<&Path>) -> EngineSettings {
    EngineSettings {
        beam_size: Some(1),
        max_new_tokens: Some(40),
        checkpoint_cache: cache.map(Path::to_owned),
        ..EngineSettings::default()
    }
}

#[test]
fn legacy_storages_of_every_float_type_are_read_exactly() {
    let dir = folder_with_checkpoint(&fixtures().join("checkpoints/dtypes-legacy.bin"));
    let weights = WeightFile::open(dir.path()).expect("legacy file opens");
    let expected: HashMap<String, Value> = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("checkpoints/dtypes-legacy.json"))
            .expect("expected values"),
    )
    .expect("json");
    for (name, values) in expected {
        let values: Vec<f32> = match &values {
            Value::Array(rows) if rows.iter().all(Value::is_array) => rows
                .iter()
                .flat_map(|r| r.as_array().expect("row").iter())
                .map(|v| v.as_f64().expect("number") as f32)
                .collect(),
            Value::Array(row) => row
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect(),
            other => panic!("unexpected {other}"),
        };
        let shape: Vec<usize> = match name.as_str() {
            "f32_transposed" => vec![5, 3],
            "f32_row" => vec![5],
            _ => vec![3, 5],
        };
        let tensor = weights.get(&name, &shape).expect("tensor");
        let read: Vec<f32> = tensor.flatten_all().unwrap().to_vec1().unwrap();
        // f16 and bf16 widen to f32 exactly: equality, not closeness.
        assert_eq!(read, values, "{name}");
    }
}

#[test]
fn unsupported_storage_type_names_file_and_tensor() {
    let dir = folder_with_checkpoint(&fixtures().join("checkpoints/int64-legacy.bin"));
    let error = match WeightFile::open(dir.path()) {
        Ok(_) => panic!("an int64 checkpoint opened"),
        Err(error) => full_message(&error),
    };
    assert!(
        error.contains("pytorch_model.bin")
            && error.contains("tensor ids")
            && error.contains("LongStorage"),
        "{error}"
    );
}

#[test]
fn truncated_legacy_checkpoint_gives_one_clear_message() {
    let dir = copy_fixture("tiny-legacy");
    let path = dir.path().join("pytorch_model.bin");
    let bytes = std::fs::read(&path).expect("read");
    for keep in [bytes.len() - 100, bytes.len() / 2, 40] {
        std::fs::write(&path, &bytes[..keep]).expect("write");
        let message = load_error(dir.path());
        assert!(
            message.contains("pytorch_model.bin") && message.contains("truncated"),
            "kept {keep} bytes: {message}"
        );
        assert!(message.contains("download it again"), "{message}");
    }
}

#[test]
fn corrupted_legacy_checkpoint_is_named() {
    let dir = copy_fixture("tiny-legacy");
    let path = dir.path().join("pytorch_model.bin");
    let mut bytes = std::fs::read(&path).expect("read");
    // Overwrite part of the state dict's pickle (after the magic number, version and sys info).
    for b in &mut bytes[120..400] {
        *b = 0xff;
    }
    std::fs::write(&path, &bytes).expect("write");
    let message = load_error(dir.path());
    assert!(
        message.contains("pytorch_model.bin") && message.contains("legacy PyTorch checkpoint"),
        "{message}"
    );
}

#[test]
fn legacy_checkpoint_is_converted_once_into_the_cache() {
    let model = fixtures().join("models/tiny-legacy");
    let cache = tempfile::tempdir().expect("cache");
    let listing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("name"))
            .collect();
        names.sort();
        names
    };
    let model_files = listing(&model);

    let first = MarianEngine::load(&model, &greedy_settings(Some(cache.path()))).expect("load");
    let cached = listing(cache.path());
    assert_eq!(cached.len(), 1, "{cached:?}");
    let converted = cache.path().join(&cached[0]);
    let modified = std::fs::metadata(&converted).unwrap().modified().unwrap();

    let second = MarianEngine::load(&model, &greedy_settings(Some(cache.path()))).expect("load");
    assert_eq!(
        std::fs::metadata(&converted).unwrap().modified().unwrap(),
        modified,
        "the second load reads the converted file, it does not write it again"
    );
    let expected = golden_greedy("tiny-legacy");
    assert_eq!(greedy(&first, "tiny-legacy"), expected);
    assert_eq!(greedy(&second, "tiny-legacy"), expected);
    assert_eq!(
        listing(&model),
        model_files,
        "the model folder is never written"
    );

    // Tied embeddings (one storage under three names) are stored once.
    let stored = candle_core::safetensors::load(&converted, &Device::Cpu).expect("safetensors");
    let embeddings = stored
        .keys()
        .filter(|k| k.ends_with("shared.weight") || k.ends_with("embed_tokens.weight"))
        .count();
    assert_eq!(embeddings, 1, "{:?}", stored.keys().collect::<Vec<_>>());
}

#[test]
fn damaged_cache_file_is_made_again() {
    let model = fixtures().join("models/tiny-legacy");
    let cache = tempfile::tempdir().expect("cache");
    MarianEngine::load(&model, &greedy_settings(Some(cache.path()))).expect("load");
    let converted = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bytes = std::fs::read(&converted).unwrap();
    std::fs::write(&converted, &bytes[..bytes.len() / 2]).unwrap();

    let engine = MarianEngine::load(&model, &greedy_settings(Some(cache.path()))).expect("load");
    assert_eq!(greedy(&engine, "tiny-legacy"), golden_greedy("tiny-legacy"));
    assert_eq!(std::fs::read(&converted).unwrap().len(), bytes.len());
}

#[test]
fn unwritable_cache_still_loads() {
    let model = fixtures().join("models/tiny-legacy");
    let blocker = tempfile::NamedTempFile::new().expect("file");
    // A cache "folder" that is a file cannot be created: the legacy file is read into memory.
    let engine = MarianEngine::load(&model, &greedy_settings(Some(blocker.path())))
        .expect("loads without a cache");
    assert_eq!(greedy(&engine, "tiny-legacy"), golden_greedy("tiny-legacy"));
}

/// tiny-swish's tensors, changed by `edit`, saved as the only weights of a copy of the folder.
fn swish_with_tensors(edit: impl FnOnce(&mut HashMap<String, Tensor>)) -> tempfile::TempDir {
    let dir = copy_fixture("tiny-swish");
    let path = dir.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).expect("load");
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, &path).expect("save");
    dir
}

#[test]
fn checkpoint_of_the_bare_model_without_prefix_loads() {
    let dir = swish_with_tensors(|tensors| {
        let renamed: HashMap<String, Tensor> = tensors
            .drain()
            .map(|(name, t)| (name.strip_prefix("model.").unwrap_or(&name).to_owned(), t))
            .collect();
        *tensors = renamed;
    });
    let engine = MarianEngine::load(dir.path(), &greedy_settings(None)).expect("load");
    assert_eq!(greedy(&engine, "tiny-swish"), golden_greedy("tiny-swish"));
}

#[test]
fn stored_position_tables_are_checked_and_final_logits_bias_may_be_absent() {
    // Stored position tables equal to Marian's formula are accepted.
    let d = 48;
    let table = Tensor::from_vec(
        de2en::engine::checkpoint::sinusoidal_positions(128, d),
        (128, d),
        &Device::Cpu,
    )
    .unwrap();
    let dir = swish_with_tensors(|tensors| {
        tensors.insert("model.encoder.embed_positions.weight".into(), table.clone());
        tensors.insert("model.decoder.embed_positions.weight".into(), table.clone());
        tensors.remove("final_logits_bias");
    });
    MarianEngine::load(dir.path(), &greedy_settings(None)).expect("formula tables load");

    // A table of another scheme (here: transposed halves) is refused with the tensor's name.
    let other = Tensor::cat(
        &[
            table.narrow(1, d / 2, d / 2).unwrap(),
            table.narrow(1, 0, d / 2).unwrap(),
        ],
        1,
    )
    .unwrap();
    let dir = swish_with_tensors(|tensors| {
        tensors.insert("model.decoder.embed_positions.weight".into(), other);
    });
    let message = load_error(dir.path());
    assert!(
        message.contains("model.decoder.embed_positions.weight")
            && message.contains("position scheme"),
        "{message}"
    );
}

#[test]
fn truncated_safetensors_file_is_named() {
    let dir = copy_fixture("tiny-swish");
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() - 1000]).expect("write");
    let message = load_error(dir.path());
    assert!(
        message.contains("model.safetensors") && message.contains("truncated"),
        "{message}"
    );
}

//! The Marian engine against transformers' own outputs on the two tiny fixture models.
//!
//! Users trust de2en's translations because the same folder gives the same tokens in Python;
//! these tests hold the engine to that: ids and strings equal, logits within 1e-4, for greedy and
//! beam search, alone and batched, for safetensors and pytorch_model.bin folders. The fixtures and
//! goldens come from `scripts/make_test_model.py` (see `tests/fixtures/README.md`).

mod model_common;

use std::path::Path;

use candle_core::Tensor;
use de2en::engine::decode::StepModel;
use de2en::engine::marian::config::ModelConfigs;
use de2en::engine::marian::model::MarianModel;
use de2en::engine::marian::weights::WeightFile;
use de2en::engine::marian::{EngineSettings, MarianEngine};
use de2en::engine::{Engine, EngineError};
use model_common::{copy_fixture, fixture_dir, golden, load_error};
use serde_json::Value;

const MODELS: [&str; 3] = ["tiny-swish", "tiny-gelu", "tiny-legacy"];

fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("id list")
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

fn sentences(golden: &Value) -> Vec<String> {
    golden["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|s| s["text"].as_str().expect("text").to_owned())
        .collect()
}

fn settings_for(case: &Value) -> EngineSettings {
    let kwargs = &case["generate_kwargs"];
    EngineSettings {
        beam_size: kwargs["num_beams"].as_u64().map(|n| n as usize),
        max_new_tokens: kwargs["max_new_tokens"].as_u64().map(|n| n as usize),
        min_new_tokens: kwargs["min_new_tokens"].as_u64().map(|n| n as usize),
        ..EngineSettings::default()
    }
}

fn load_model(dir: &Path) -> MarianModel {
    let configs = ModelConfigs::load(dir).expect("configs");
    let weights = WeightFile::open(dir).expect("weights");
    MarianModel::load(&configs.model, &weights).expect("model")
}

fn assert_close(actual: &[f32], expected: &Value, tolerance: f32, what: &str) {
    let expected: Vec<f32> = expected
        .as_array()
        .expect("floats")
        .iter()
        .map(|v| v.as_f64().expect("float") as f32)
        .collect();
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let worst = actual
        .iter()
        .zip(&expected)
        .map(|(a, e)| (a - e).abs())
        .fold(0f32, f32::max);
    assert!(
        worst <= tolerance,
        "{what}: max abs difference {worst} > {tolerance}"
    );
}

#[test]
fn source_ids_match_transformers() {
    for model in MODELS {
        let golden = golden(model);
        let engine =
            MarianEngine::load(&fixture_dir(model), &EngineSettings::default()).expect("load");
        for sentence in golden["sentences"].as_array().expect("sentences") {
            let text = sentence["text"].as_str().expect("text");
            assert_eq!(
                engine.source_token_count(text),
                ids(&sentence["input_ids"]).len(),
                "{model}: {text}"
            );
        }
    }
}

#[test]
fn first_step_logits_match_alone_and_batched() {
    for model_name in MODELS {
        let golden = golden(model_name);
        let model = load_model(&fixture_dir(model_name));
        let rows = golden["first_step_logits"].as_array().expect("logits rows");
        let sources: Vec<Vec<u32>> = rows.iter().map(|r| ids(&r["input_ids"])).collect();
        let start: Vec<u32> = rows
            .iter()
            .map(|r| ids(&r["decoder_input_ids"])[0])
            .collect();

        for (row, source) in rows.iter().zip(&sources) {
            let mut state = model.start(
                model.encode(std::slice::from_ref(source)).expect("encode"),
                false,
            );
            let out = model.step(&mut state, &start[..1]).expect("step");
            let logits = out.logits.to_vec2::<f32>().expect("logits");
            assert_close(
                &logits[0],
                &row["logits"],
                1e-4,
                &format!("{model_name} alone"),
            );
        }

        // Padded batch, longest not first: padding must not leak into any row.
        let mut state = model.start(model.encode(&sources).expect("encode"), false);
        let out = model.step(&mut state, &start).expect("step");
        let logits = out.logits.to_vec2::<f32>().expect("logits");
        for (i, row) in rows.iter().enumerate() {
            assert_close(
                &logits[i],
                &row["logits"],
                1e-4,
                &format!("{model_name} batched row {i}"),
            );
        }
    }
}

/// Greedy decoding written out by hand, independent of the search module, so the model can be
/// checked against transformers' greedy ids even if the search changes.
fn manual_greedy(
    model: &MarianModel,
    source: &[u32],
    start: u32,
    eos: u32,
    banned: u32,
    max_new: usize,
) -> Vec<u32> {
    let mut state = model.start(model.encode(&[source.to_vec()]).expect("encode"), false);
    let mut last = start;
    let mut out = Vec::new();
    for step in 0..max_new {
        let logits = model.step(&mut state, &[last]).expect("step").logits;
        let mut row = logits.to_vec2::<f32>().expect("logits").remove(0);
        row[banned as usize] = f32::NEG_INFINITY;
        let next = if step + 1 == max_new {
            eos
        } else {
            let mut best = 0;
            for (i, v) in row.iter().enumerate() {
                if *v > row[best] {
                    best = i;
                }
            }
            best as u32
        };
        out.push(next);
        if next == eos {
            break;
        }
        last = next;
    }
    out
}

#[test]
fn model_steps_reproduce_greedy_ids() {
    for model_name in MODELS {
        let golden = golden(model_name);
        let model = load_model(&fixture_dir(model_name));
        let case = golden["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .find(|c| c["name"] == "greedy")
            .expect("greedy case");
        let max_new = case["max_new_tokens"].as_u64().expect("max") as usize;
        for (sentence, expected) in golden["sentences"]
            .as_array()
            .expect("s")
            .iter()
            .zip(case["single"].as_array().expect("single"))
        {
            let got = manual_greedy(&model, &ids(&sentence["input_ids"]), 856, 0, 856, max_new);
            assert_eq!(
                got,
                ids(&expected["ids"]),
                "{model_name}: {}",
                sentence["text"]
            );
        }
    }
}

#[test]
fn translations_match_golden_alone_and_batched() {
    for model_name in MODELS {
        let golden = golden(model_name);
        let texts = sentences(&golden);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        for case in golden["cases"].as_array().expect("cases") {
            let name = case["name"].as_str().expect("name");
            let engine =
                MarianEngine::load(&fixture_dir(model_name), &settings_for(case)).expect("load");
            let batched = engine.translate(&refs).expect("translate batch");
            for (i, text) in refs.iter().enumerate() {
                let alone = engine
                    .translate(&[text])
                    .expect("translate alone")
                    .remove(0);
                for (mode, got, expected) in [
                    ("alone", &alone, &case["single"][i]),
                    ("batched", &batched[i], &case["batch"][i]),
                ] {
                    let what = format!("{model_name}/{name}/{mode}: {text}");
                    assert_eq!(got.token_ids, ids(&expected["ids"]), "{what}");
                    assert_eq!(got.text, expected["text"].as_str().expect("text"), "{what}");
                    let sum = expected["sum_logprob"].as_f64().expect("sum") as f32;
                    assert!(
                        (got.sum_logprob - sum).abs() < 2e-3,
                        "{what}: sum_logprob {} vs {sum}",
                        got.sum_logprob
                    );
                    let mean = expected["mean_logprob"].as_f64().expect("mean") as f32;
                    assert!(
                        (got.mean_logprob - mean).abs() < 2e-3,
                        "{what}: mean_logprob {} vs {mean}",
                        got.mean_logprob
                    );
                }
            }
        }
    }
}

#[test]
fn a_sentence_translates_the_same_in_any_batch() {
    let golden = golden("tiny-swish");
    let texts = sentences(&golden);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for beam_size in [1, 4] {
        let reference = {
            let settings = EngineSettings {
                beam_size: Some(beam_size),
                max_new_tokens: Some(40),
                ..EngineSettings::default()
            };
            let engine = MarianEngine::load(&fixture_dir("tiny-swish"), &settings).expect("load");
            refs.iter()
                .map(|t| engine.translate(&[t]).expect("alone").remove(0))
                .collect::<Vec<_>>()
        };
        for batch_tokens in [1, 17, 60, 200, 100_000] {
            let settings = EngineSettings {
                beam_size: Some(beam_size),
                max_new_tokens: Some(40),
                batch_tokens,
                ..EngineSettings::default()
            };
            let engine = MarianEngine::load(&fixture_dir("tiny-swish"), &settings).expect("load");
            // Reversed and with an empty sentence in the middle: order and gaps must not matter.
            let mut input: Vec<&str> = refs.iter().rev().copied().collect();
            input.insert(3, "");
            let out = engine.translate(&input).expect("translate");
            assert_eq!(out.len(), input.len());
            assert_eq!(out[3].text, "");
            assert!(out[3].token_ids.is_empty());
            let mut got: Vec<_> = out.into_iter().collect();
            got.remove(3);
            got.reverse();
            for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
                assert_eq!(
                    g.token_ids, r.token_ids,
                    "beam {beam_size}, batch_tokens {batch_tokens}, sentence {i}"
                );
                assert_eq!(g.text, r.text);
            }
        }
    }
}

#[test]
fn empty_input_and_blank_sentences_need_no_model_run() {
    let engine =
        MarianEngine::load(&fixture_dir("tiny-gelu"), &EngineSettings::default()).expect("load");
    assert!(engine.translate(&[]).expect("nothing").is_empty());
    let out = engine.translate(&["", "   "]).expect("blank");
    assert!(
        out.iter()
            .all(|t| t.text.is_empty() && t.token_ids.is_empty() && t.sum_logprob == 0.0)
    );
}

#[test]
fn overlong_sentence_is_truncated_not_fatal() {
    let engine = MarianEngine::load(
        &fixture_dir("tiny-gelu"),
        &EngineSettings {
            max_new_tokens: Some(8),
            ..EngineSettings::default()
        },
    )
    .expect("load");
    let long = "Der Mann kauft das Buch. ".repeat(60);
    assert!(engine.source_token_count(&long) > engine.max_source_tokens());
    let out = engine.translate(&[&long]).expect("translate");
    assert!(!out[0].token_ids.is_empty() && out[0].token_ids.len() <= 8);
}

#[test]
fn alignment_pairs_point_into_both_texts() {
    let settings = EngineSettings {
        alignment: true,
        beam_size: Some(2),
        max_new_tokens: Some(40),
        ..EngineSettings::default()
    };
    let engine = MarianEngine::load(&fixture_dir("tiny-swish"), &settings).expect("load");
    let source = "Der Mann kauft das Buch.";
    let out = engine.translate(&[source]).expect("translate").remove(0);
    let alignment = out.alignment.expect("alignment requested");
    assert!(!alignment.pairs.is_empty());
    for (s, t) in alignment.pairs {
        assert!(s.start < s.end && s.end <= source.len() && source.is_char_boundary(s.start));
        assert!(t.start < t.end && t.end <= out.text.len() && out.text.is_char_boundary(t.start));
    }
}

// ---- config variants -------------------------------------------------------------------------

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let mut value: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    edit(value.as_object_mut().expect("object"));
    std::fs::write(path, serde_json::to_string_pretty(&value).expect("json")).expect("write");
}

#[test]
fn generation_settings_fall_back_to_config_json() {
    // tiny-swish without generation_config.json: its config.json keys decide, as in transformers.
    let dir = copy_fixture("tiny-swish");
    std::fs::remove_file(dir.path().join("generation_config.json")).expect("remove");
    let configs = ModelConfigs::load(dir.path()).expect("configs");
    assert!(configs.generation.source.ends_with("config.json"));
    assert_eq!(configs.generation.decoder_start_token_id, 856);
    assert_eq!(configs.generation.forced_eos_token_id, Some(0));
    MarianEngine::load(dir.path(), &EngineSettings::default())
        .expect("loads without generation_config.json");

    // tiny-gelu has its generation keys in config.json only.
    let configs = ModelConfigs::load(&fixture_dir("tiny-gelu")).expect("configs");
    assert_eq!(configs.generation.num_beams, 3);
    assert_eq!(configs.generation.max_new_tokens, 63);
    assert_eq!(configs.generation.bad_words_ids, vec![vec![856]]);
    assert!(configs.model.share_encoder_decoder_embeddings);
    assert_eq!(configs.model.decoder_vocab_size, 857);
}

#[test]
fn untied_lm_head_is_read_from_the_file() {
    // tiny-gelu's pytorch_model.bin stores lm_head.weight (equal to the embeddings); reading it
    // instead of tying must give the same logits.
    let dir = copy_fixture("tiny-gelu");
    edit_json(&dir.path().join("config.json"), |c| {
        c.insert("tie_word_embeddings".into(), Value::Bool(false));
    });
    let golden = golden("tiny-gelu");
    let model = load_model(dir.path());
    let row = &golden["first_step_logits"][0];
    let mut state = model.start(
        model.encode(&[ids(&row["input_ids"])]).expect("encode"),
        false,
    );
    let logits = model
        .step(&mut state, &[856])
        .expect("step")
        .logits
        .to_vec2::<f32>()
        .expect("logits");
    assert_close(&logits[0], &row["logits"], 1e-4, "untied lm_head");
}

// ---- broken folders --------------------------------------------------------------------------

#[test]
fn missing_config_is_named() {
    let dir = copy_fixture("tiny-swish");
    std::fs::remove_file(dir.path().join("config.json")).expect("remove");
    let message = load_error(dir.path());
    assert!(message.contains("config.json"), "{message}");
}

#[test]
fn missing_weights_are_named() {
    let dir = copy_fixture("tiny-swish");
    std::fs::remove_file(dir.path().join("model.safetensors")).expect("remove");
    let message = load_error(dir.path());
    assert!(
        message.contains("model.safetensors") && message.contains("pytorch_model.bin"),
        "{message}"
    );
}

#[test]
fn corrupt_weight_file_is_named() {
    let dir = copy_fixture("tiny-gelu");
    std::fs::write(dir.path().join("pytorch_model.bin"), b"not a checkpoint").expect("write");
    let message = load_error(dir.path());
    assert!(message.contains("pytorch_model.bin"), "{message}");
}

#[test]
fn wrong_tensor_shape_names_file_and_tensor() {
    let dir = copy_fixture("tiny-swish");
    let path = dir.path().join("model.safetensors");
    let mut tensors =
        candle_core::safetensors::load(&path, &candle_core::Device::Cpu).expect("load");
    let name = "model.decoder.layers.1.fc1.weight";
    let original = tensors.get(name).expect("tensor").clone();
    let rows = original.dim(0).expect("dim");
    tensors.insert(
        name.to_owned(),
        original.narrow(0, 0, rows - 1).expect("narrow"),
    );
    let tensors: std::collections::HashMap<String, Tensor> = tensors;
    candle_core::safetensors::save(&tensors, &path).expect("save");
    let message = load_error(dir.path());
    assert!(
        message.contains("model.safetensors") && message.contains(name),
        "{message}"
    );
}

#[test]
fn missing_tensor_is_named() {
    let dir = copy_fixture("tiny-swish");
    let path = dir.path().join("model.safetensors");
    let mut tensors =
        candle_core::safetensors::load(&path, &candle_core::Device::Cpu).expect("load");
    tensors.remove("model.encoder.layers.0.self_attn.k_proj.bias");
    candle_core::safetensors::save(&tensors, &path).expect("save");
    let message = load_error(dir.path());
    assert!(
        message.contains("model.encoder.layers.0.self_attn.k_proj.bias"),
        "{message}"
    );
}

#[test]
fn vocab_size_mismatch_is_named() {
    // config.json promises more tokens than the embeddings hold.
    let dir = copy_fixture("tiny-swish");
    edit_json(&dir.path().join("config.json"), |c| {
        c.insert("vocab_size".into(), Value::from(900));
        c.insert("decoder_vocab_size".into(), Value::from(900));
    });
    let message = load_error(dir.path());
    assert!(
        message.contains("model.safetensors") && message.contains("model.shared.weight"),
        "{message}"
    );

    // vocab.json has more tokens than config.json's vocabulary.
    let dir = copy_fixture("tiny-swish");
    edit_json(&dir.path().join("config.json"), |c| {
        c.insert("vocab_size".into(), Value::from(800));
        c.insert("decoder_vocab_size".into(), Value::from(800));
        c.insert("pad_token_id".into(), Value::from(0));
        c.insert("decoder_start_token_id".into(), Value::from(0));
    });
    std::fs::write(
        dir.path().join("generation_config.json"),
        r#"{"decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 0}"#,
    )
    .expect("write");
    let message = load_error(dir.path());
    assert!(
        message.contains("vocab.json") && message.contains("800"),
        "{message}"
    );
}

#[test]
fn unsupported_architecture_is_refused() {
    let dir = copy_fixture("tiny-gelu");
    edit_json(&dir.path().join("config.json"), |c| {
        c.insert("normalize_before".into(), Value::Bool(true));
    });
    let message = load_error(dir.path());
    assert!(
        message.contains("config.json") && message.contains("normalize_before"),
        "{message}"
    );
}

#[test]
fn option_beyond_model_positions_is_refused() {
    let settings = EngineSettings {
        max_new_tokens: Some(10_000),
        ..EngineSettings::default()
    };
    match MarianEngine::load(&fixture_dir("tiny-gelu"), &settings) {
        Err(EngineError::InvalidOption(message)) => assert!(message.contains("10000"), "{message}"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("accepted 10000 new tokens"),
    }
}

// ---- speed -----------------------------------------------------------------------------------

/// Not a test: times a full-size model folder, every hypothesis forced to 32 new tokens.
/// `CANDLE_NUM_THREADS=1 DE2EN_BENCH_MODEL=DIR cargo test --release --test marian_golden -- --ignored --nocapture`
/// (`CANDLE_NUM_THREADS=1` is what the de2en binary sets; see `src/main.rs`)
#[test]
#[ignore = "benchmark; needs DE2EN_BENCH_MODEL"]
fn bench_full_size_model() {
    let Ok(dir) = std::env::var("DE2EN_BENCH_MODEL") else {
        eprintln!("DE2EN_BENCH_MODEL not set; nothing to time");
        return;
    };
    let golden = golden("tiny-swish");
    let base = sentences(&golden);
    let count: usize = std::env::var("DE2EN_BENCH_SENTENCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let texts: Vec<String> = (0..count).map(|i| base[i % base.len()].clone()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (beam_size, batch) in [(1, 1), (1, 32), (4, 1), (4, 32)] {
        let probe = MarianEngine::load(Path::new(&dir), &EngineSettings::default()).expect("load");
        let longest = refs
            .iter()
            .map(|t| probe.source_token_count(t))
            .max()
            .unwrap_or(1);
        let settings = EngineSettings {
            beam_size: Some(beam_size),
            max_new_tokens: Some(32),
            min_new_tokens: Some(32),
            batch_tokens: batch * longest,
            ..EngineSettings::default()
        };
        let started = std::time::Instant::now();
        let engine = MarianEngine::load(Path::new(&dir), &settings).expect("load");
        let loaded = started.elapsed();
        let started = std::time::Instant::now();
        let n = if batch == 1 {
            refs.len().min(16)
        } else {
            refs.len()
        };
        let out = engine.translate(&refs[..n]).expect("translate");
        let took = started.elapsed().as_secs_f64();
        let tokens: usize = out.iter().map(|t| t.token_ids.len()).sum();
        println!(
            "beam {beam_size} batch {batch}: load {:.3}s, {n} sentences in {took:.2}s = {:.2} sent/s, {:.1} tok/s",
            loaded.as_secs_f64(),
            n as f64 / took,
            tokens as f64 / took
        );
    }
}

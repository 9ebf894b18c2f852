//! `--precision int8`: how close it stays to the exact f32 engine on the fixture models, and how
//! the command line treats it. (The kernels themselves are tested against plain products in
//! `src/engine/marian/linear.rs`; speed is in scripts/bench.)

mod cli_common;
mod model_common;

use cli_common::*;
use de2en::engine::Engine;
use de2en::engine::marian::linear::{Int8Kernel, Precision, with_int8_kernel};
use de2en::engine::marian::{EngineSettings, MarianEngine};
use model_common::{fixture_dir, golden_sentences};

fn translate(
    model: &str,
    beam: usize,
    precision: Precision,
    kernel: Int8Kernel,
) -> Vec<(String, f32)> {
    let settings = EngineSettings {
        beam_size: Some(beam),
        max_new_tokens: Some(40),
        precision,
        ..EngineSettings::default()
    };
    let engine = with_int8_kernel(kernel, || {
        MarianEngine::load(&fixture_dir(model), &settings)
    })
    .expect("load");
    let sentences = golden_sentences(model);
    let refs: Vec<&str> = sentences.iter().map(String::as_str).collect();
    engine
        .translate(&refs)
        .expect("translate")
        .into_iter()
        .map(|t| (t.text, t.sum_logprob))
        .collect()
}

/// The int8 kernels to check: the one this CPU runs by default, then every other one that computes
/// exact sums here (on AVX-512 VNNI both rten-gemm's and the widened AVX2 kernel, so such a machine
/// checks the AVX2 arithmetic too).
fn kernels_to_check() -> Vec<Int8Kernel> {
    let default = Int8Kernel::for_this_cpu();
    let mut kernels = vec![default];
    kernels.extend(
        [Int8Kernel::Rten, Int8Kernel::Widened]
            .into_iter()
            .filter(|k| *k != default && k.is_available() && k.is_exact()),
    );
    kernels
}

/// The share of golden sentences whose int8 translation equals the f32 one, and the mean |Δ| of
/// the sum log-probability, printed for the README (`cargo test --test int8 -- --nocapture`).
/// The floor is the accuracy target of issue 19 (≥ 85 % equal, mean |Δ| ≤ 0.15) on every fixture
/// and setting, which full 8-bit arithmetic reaches (17–20 of 20) and a broken int8 path (wrong
/// scales or zero points, 7-bit activations) does not.
#[test]
fn int8_translations_stay_close_to_f32() {
    for kernel in kernels_to_check() {
        for model in ["tiny-swish", "tiny-gelu"] {
            for beam in [1, 4] {
                let exact = translate(model, beam, Precision::F32, kernel);
                let quantized = translate(model, beam, Precision::Int8, kernel);
                let same = exact
                    .iter()
                    .zip(&quantized)
                    .filter(|(a, b)| a.0 == b.0)
                    .count();
                let mean_delta = exact
                    .iter()
                    .zip(&quantized)
                    .map(|(a, b)| (a.1 - b.1).abs())
                    .sum::<f32>()
                    / exact.len() as f32;
                println!(
                    "{model} beam {beam} ({kernel:?} kernel): int8 = f32 for {same}/{} sentences, mean |Δ sum log-prob| {mean_delta:.4}",
                    exact.len()
                );
                assert!(
                    same * 100 >= exact.len() * 85,
                    "{model} beam {beam} ({kernel:?}): only {same}/{} int8 translations equal f32",
                    exact.len()
                );
                assert!(
                    mean_delta <= 0.15,
                    "{model} beam {beam} ({kernel:?}): mean |Δ| {mean_delta}"
                );
            }
        }
    }
}

/// Where two exact kernels run here, their translations are identical, scores to the bit.
#[test]
fn int8_kernels_translate_identically() {
    let kernels = kernels_to_check();
    if kernels.len() < 2 {
        println!("SKIPPED: one exact int8 kernel on this CPU ({kernels:?})");
        return;
    }
    for model in ["tiny-swish", "tiny-gelu"] {
        let reference = translate(model, 4, Precision::Int8, kernels[0]);
        for &kernel in &kernels[1..] {
            let got = translate(model, 4, Precision::Int8, kernel);
            assert_eq!(got, reference, "{model}: {kernel:?} vs {:?}", kernels[0]);
        }
    }
}

#[test]
fn int8_is_refused_for_other_engines() {
    let home = tempfile::tempdir().expect("home");
    de2en(home.path())
        .args([
            "translate",
            "--engine",
            "identity",
            "--precision",
            "int8",
            "-",
        ])
        .write_stdin("Der Mann kauft das Buch.\n")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--precision int8"));
}

#[test]
fn outputs_made_in_f32_are_redone_in_int8() {
    // int8 output differs from f32 output, so a folder translated with one is not up to date
    // for the other: the manifest records the precision.
    let home = tempfile::tempdir().expect("home");
    let input = tempfile::tempdir().expect("input");
    let output = tempfile::tempdir().expect("output");
    write_tree(
        input.path(),
        &[("a.de.txt", "Der Mann kauft das Buch.\n".as_bytes())],
    );
    let run = |precision: &str| {
        de2en(home.path())
            .args(["translate", "--quiet", "--model"])
            .arg(fixture_model("tiny-swish"))
            .args(["--precision", precision])
            .arg(input.path())
            .arg("-o")
            .arg(output.path())
            .assert()
            .success();
        mtimes(output.path())
    };
    let first = run("f32");
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        run("f32"),
        first,
        "an f32 rerun skips the up-to-date output"
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_ne!(run("int8"), first, "int8 translates again");
}

//! Greedy and beam search (src/engine/decode.rs) against transformers' own `generate`, on toy
//! models whose logits come from a deterministic table, plus the behaviours a user would notice:
//! forced EOS, minimum length, banned pad, no repeated n-grams (the start token counted, as
//! transformers counts it), batch independence, errors instead of panics.
//!
//! The golden file is written by `scripts/search_golden.py`, which runs transformers 4.57.1 over
//! the same table (`table_row` below is a line-by-line port of its Python twin).

use std::cell::RefCell;

use candle_core::{Device, Tensor};
use de2en::engine::EngineError;
use de2en::engine::decode::{GenerationOptions, Hypothesis, StepModel, StepOutput, generate};
use serde::Deserialize;

// ---------------------------------------------------------------------------------------------
// The table model, identical to scripts/search_golden.py

fn splitmix64(x: u64) -> u64 {
    let x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn prefix_hash(seed: u64, sentence: u64, prefix: &[u32]) -> u64 {
    let mut h = splitmix64(seed ^ sentence);
    for &token in prefix {
        h = splitmix64(h ^ u64::from(token));
    }
    h
}

/// Next-token logits after `prefix` (decoder start token included).
fn table_row(seed: u64, vocab: usize, eos: u32, sentence: u64, prefix: &[u32]) -> Vec<f32> {
    let h = prefix_hash(seed, sentence, prefix);
    let scale = 2.0 + (h >> 61) as f64;
    let generated = (prefix.len() - 1) as f64;
    let slope = 0.4 + 0.2 * (sentence % 4) as f64;
    (0..vocab)
        .map(|token| {
            let r = splitmix64(h.wrapping_add(token as u64 + 1));
            let mut logit = (r >> 40) as f64 * (scale / 16_777_216.0);
            if token as u32 == eos {
                logit = logit + slope * generated - 3.0;
            }
            logit as f32
        })
        .collect()
}

/// Source length of a toy sentence and its cross-attention after `prefix` (Rust-only: transformers
/// has no such output for the table model; it checks that positions follow the beams).
fn table_attention(seed: u64, sentence: u64, prefix: &[u32]) -> Vec<f32> {
    let source_len = 3 + (sentence % 5) as usize;
    let h = prefix_hash(seed ^ 0xA77E, sentence, prefix);
    (0..source_len)
        .map(|position| (splitmix64(h ^ position as u64) >> 40) as f32)
        .collect()
}

#[derive(Clone)]
struct TableRow {
    sentence: u64,
    prefix: Vec<u32>,
}

struct TableModel {
    seed: u64,
    vocab: usize,
    eos: u32,
    with_attention: bool,
    /// Rows computed at each step: shows finished sentences leaving the batch.
    rows_per_step: RefCell<Vec<usize>>,
}

impl TableModel {
    fn new(seed: u64, vocab: usize, eos: u32) -> Self {
        TableModel {
            seed,
            vocab,
            eos,
            with_attention: true,
            rows_per_step: RefCell::new(Vec::new()),
        }
    }

    fn state(sentences: &[u64]) -> Vec<TableRow> {
        sentences
            .iter()
            .map(|&sentence| TableRow {
                sentence,
                prefix: Vec::new(),
            })
            .collect()
    }
}

impl StepModel for TableModel {
    type State = Vec<TableRow>;

    fn step(
        &self,
        state: &mut Vec<TableRow>,
        last_tokens: &[u32],
    ) -> Result<StepOutput, EngineError> {
        assert_eq!(state.len(), last_tokens.len(), "one last token per row");
        self.rows_per_step.borrow_mut().push(state.len());
        let mut logits = Vec::with_capacity(state.len() * self.vocab);
        for (row, &token) in state.iter_mut().zip(last_tokens) {
            row.prefix.push(token);
            logits.extend(table_row(
                self.seed,
                self.vocab,
                self.eos,
                row.sentence,
                &row.prefix,
            ));
        }
        let logits = Tensor::from_vec(logits, (state.len(), self.vocab), &Device::Cpu)?;
        let cross_attention = if self.with_attention && !state.is_empty() {
            // Pad every row to the longest source with zeros, as a padding mask would.
            let rows: Vec<Vec<f32>> = state
                .iter()
                .map(|row| table_attention(self.seed, row.sentence, &row.prefix))
                .collect();
            let width = rows.iter().map(Vec::len).max().unwrap_or(0);
            let flat: Vec<f32> = rows
                .iter()
                .flat_map(|row| {
                    row.iter()
                        .copied()
                        .chain(std::iter::repeat_n(0.0, width - row.len()))
                })
                .collect();
            Some(Tensor::from_vec(flat, (state.len(), width), &Device::Cpu)?)
        } else {
            None
        };
        Ok(StepOutput {
            logits,
            cross_attention,
        })
    }

    fn select_rows(&self, state: &mut Vec<TableRow>, rows: &[usize]) -> Result<(), EngineError> {
        let selected = rows
            .iter()
            .map(|&r| {
                state
                    .get(r)
                    .cloned()
                    .ok_or_else(|| EngineError::Decode(format!("row {r}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        *state = selected;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Golden cases from transformers

#[derive(Deserialize)]
struct Golden {
    cases: Vec<GoldenCase>,
}

#[derive(Deserialize)]
struct GoldenCase {
    name: String,
    vocab_size: usize,
    table_seed: u64,
    options: GoldenOptions,
    results: Vec<GoldenResult>,
}

#[derive(Deserialize)]
struct GoldenOptions {
    num_beams: usize,
    max_new_tokens: usize,
    min_new_tokens: usize,
    length_penalty: f32,
    bad_words_ids: Vec<Vec<u32>>,
    eos_token_id: u32,
    pad_token_id: u32,
    decoder_start_token_id: u32,
    forced_eos_token_id: Option<u32>,
    no_repeat_ngram_size: usize,
}

#[derive(Deserialize)]
struct GoldenResult {
    sentence: u64,
    token_ids: Vec<u32>,
    token_logprobs: Vec<f32>,
    score: Option<f32>,
}

impl From<&GoldenOptions> for GenerationOptions {
    fn from(o: &GoldenOptions) -> Self {
        GenerationOptions {
            num_beams: o.num_beams,
            max_new_tokens: o.max_new_tokens,
            min_new_tokens: o.min_new_tokens,
            length_penalty: o.length_penalty,
            bad_words_ids: o.bad_words_ids.clone(),
            eos_token_id: o.eos_token_id,
            pad_token_id: o.pad_token_id,
            decoder_start_token_id: o.decoder_start_token_id,
            forced_eos_token_id: o.forced_eos_token_id,
            no_repeat_ngram_size: o.no_repeat_ngram_size,
        }
    }
}

fn golden() -> Golden {
    let text = include_str!("fixtures/search/golden.json");
    serde_json::from_str(text).expect("tests/fixtures/search/golden.json is valid")
}

fn run(model: &TableModel, sentences: &[u64], options: &GenerationOptions) -> Vec<Hypothesis> {
    generate(
        model,
        TableModel::state(sentences),
        sentences.len(),
        options,
    )
    .expect("search runs")
}

fn case_model(case: &GoldenCase) -> TableModel {
    TableModel::new(case.table_seed, case.vocab_size, case.options.eos_token_id)
}

#[test]
fn batched_search_matches_transformers_token_for_token() {
    for case in golden().cases {
        let options = GenerationOptions::from(&case.options);
        let model = case_model(&case);
        let sentences: Vec<u64> = case.results.iter().map(|r| r.sentence).collect();
        let hypotheses = run(&model, &sentences, &options);
        assert_eq!(hypotheses.len(), case.results.len(), "{}", case.name);
        for (hypothesis, expected) in hypotheses.iter().zip(&case.results) {
            let label = format!("case {} sentence {}", case.name, expected.sentence);
            assert_eq!(
                hypothesis.token_ids, expected.token_ids,
                "{label}: token ids"
            );
            assert_eq!(
                hypothesis.token_logprobs.len(),
                expected.token_logprobs.len(),
                "{label}"
            );
            for (got, want) in hypothesis
                .token_logprobs
                .iter()
                .zip(&expected.token_logprobs)
            {
                assert!(
                    (got - want).abs() <= 1e-5,
                    "{label}: token logprob {got} vs {want}"
                );
            }
            if let Some(want) = expected.score {
                let got = hypothesis.score;
                assert!(
                    (got - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{label}: sequence score {got} vs transformers' {want}"
                );
            }
        }
    }
}

#[test]
fn each_sentence_translates_the_same_alone_and_in_any_batch() {
    for case in golden().cases {
        let options = GenerationOptions::from(&case.options);
        let model = case_model(&case);
        let sentences: Vec<u64> = case.results.iter().map(|r| r.sentence).collect();
        let batched = run(&model, &sentences, &options);
        for (index, &sentence) in sentences.iter().enumerate() {
            let alone = run(&model, &[sentence], &options);
            assert_eq!(
                alone[0], batched[index],
                "case {} sentence {sentence}",
                case.name
            );
        }
        // Reversed, with a repeat and extra sentences of other lengths around it.
        let mut mixed: Vec<u64> = sentences.iter().rev().copied().collect();
        mixed.insert(3, sentences[0]);
        mixed.extend([40, 41, 42]);
        let mixed_results = run(&model, &mixed, &options);
        for (sentence, hypothesis) in mixed.iter().zip(&mixed_results) {
            if let Some(index) = sentences.iter().position(|s| s == sentence) {
                assert_eq!(
                    hypothesis, &batched[index],
                    "case {} sentence {sentence}",
                    case.name
                );
            }
        }
    }
}

#[test]
fn finished_sentences_leave_the_batch() {
    let golden = golden();
    let case = golden
        .cases
        .iter()
        .find(|c| c.name == "greedy")
        .expect("greedy case");
    let options = GenerationOptions::from(&case.options);
    let model = case_model(case);
    let sentences: Vec<u64> = case.results.iter().map(|r| r.sentence).collect();
    let hypotheses = run(&model, &sentences, &options);
    // Greedy: step s computes exactly the sentences that are still unfinished before it.
    let expected: Vec<usize> = (1..=options.max_new_tokens)
        .map(|step| {
            hypotheses
                .iter()
                .filter(|h| h.token_ids.len() >= step)
                .count()
        })
        .take_while(|&rows| rows > 0)
        .collect();
    assert_eq!(*model.rows_per_step.borrow(), expected);

    let case = golden
        .cases
        .iter()
        .find(|c| c.name == "beam4")
        .expect("beam4 case");
    let options = GenerationOptions::from(&case.options);
    let model = case_model(case);
    run(&model, &sentences, &options);
    let rows = model.rows_per_step.borrow();
    // First step: one row per sentence; then num_beams rows per live sentence, fewer and fewer.
    assert_eq!(rows[0], sentences.len());
    assert!(rows[1..].iter().all(|r| r % 4 == 0), "{rows:?}");
    assert!(rows.windows(2).skip(1).all(|w| w[1] <= w[0]), "{rows:?}");
    assert!(
        rows.last().copied().unwrap_or(0) < 4 * sentences.len(),
        "{rows:?}"
    );
}

#[test]
fn scores_and_source_positions_follow_each_hypothesis() {
    for case in golden().cases {
        let options = GenerationOptions::from(&case.options);
        let model = case_model(&case);
        let sentences: Vec<u64> = case.results.iter().map(|r| r.sentence).collect();
        for (hypothesis, &sentence) in run(&model, &sentences, &options).iter().zip(&sentences) {
            let positions = hypothesis
                .source_positions
                .as_ref()
                .expect("model gives attention");
            assert_eq!(positions.len(), hypothesis.token_ids.len());
            let mut prefix = vec![options.decoder_start_token_id];
            for (i, &token) in hypothesis.token_ids.iter().enumerate() {
                let attention = table_attention(model.seed, sentence, &prefix);
                let peak = attention
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (p, &v)| {
                        if v > best.1 { (p, v) } else { best }
                    })
                    .0;
                assert_eq!(
                    positions[i], peak,
                    "case {} sentence {sentence} token {i}",
                    case.name
                );
                prefix.push(token);
            }
        }
    }
}

#[test]
fn without_cross_attention_there_are_no_source_positions() {
    let golden = golden();
    let case = &golden.cases[0];
    let mut model = case_model(case);
    model.with_attention = false;
    let options = GenerationOptions::from(&case.options);
    for hypothesis in run(&model, &[0, 1, 2], &options) {
        assert_eq!(hypothesis.source_positions, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-written models for single behaviours

/// Logits from a closure over the generated tokens (decoder start token excluded).
struct RuleModel<F: Fn(&[u32]) -> Vec<f32>> {
    logits: F,
    vocab: usize,
}

impl<F: Fn(&[u32]) -> Vec<f32>> StepModel for RuleModel<F> {
    /// Per row, the generated tokens; `None` until the first step (which feeds the start token).
    type State = Vec<Option<Vec<u32>>>;

    fn step(
        &self,
        state: &mut Self::State,
        last_tokens: &[u32],
    ) -> Result<StepOutput, EngineError> {
        let mut logits = Vec::new();
        for (row, &token) in state.iter_mut().zip(last_tokens) {
            let generated = match row {
                Some(generated) => {
                    generated.push(token);
                    generated
                }
                None => row.insert(Vec::new()),
            };
            logits.extend((self.logits)(generated));
        }
        Ok(StepOutput {
            logits: Tensor::from_vec(logits, (state.len(), self.vocab), &Device::Cpu)?,
            cross_attention: None,
        })
    }

    fn select_rows(&self, state: &mut Self::State, rows: &[usize]) -> Result<(), EngineError> {
        *state = rows.iter().map(|&r| state[r].clone()).collect();
        Ok(())
    }
}

const EOS: u32 = 0;
const PAD: u32 = 5;

fn options(num_beams: usize, max_new_tokens: usize) -> GenerationOptions {
    GenerationOptions {
        num_beams,
        max_new_tokens,
        min_new_tokens: 0,
        length_penalty: 1.0,
        bad_words_ids: vec![vec![PAD]],
        eos_token_id: EOS,
        pad_token_id: PAD,
        decoder_start_token_id: PAD,
        forced_eos_token_id: Some(EOS),
        no_repeat_ngram_size: 0,
    }
}

fn rule_run<F: Fn(&[u32]) -> Vec<f32>>(
    logits: F,
    options: &GenerationOptions,
) -> Result<Hypothesis, EngineError> {
    let model = RuleModel { logits, vocab: 6 };
    Ok(generate(&model, vec![None], 1, options)?.remove(0))
}

/// ln p for a small distribution given as probabilities (the rest of the vocabulary gets ~0).
fn from_probs(probs: &[(u32, f32)]) -> Vec<f32> {
    let mut logits = vec![-30.0; 6];
    for &(token, p) in probs {
        logits[token as usize] = p.ln();
    }
    logits
}

#[test]
fn greedy_takes_the_argmax_and_beam_search_looks_further() {
    // Step 1: token 1 (p .6) or token 2 (p .4). After 1 nothing is likely; after 2, EOS is certain.
    let myopic = |generated: &[u32]| match generated {
        [] => from_probs(&[(1, 0.6), (2, 0.4)]),
        [1] => from_probs(&[(3, 0.3), (4, 0.25), (2, 0.25), (EOS, 0.2)]),
        [2] => from_probs(&[(EOS, 0.99)]),
        _ => from_probs(&[(EOS, 0.9), (3, 0.1)]),
    };
    let greedy = rule_run(myopic, &options(1, 5)).expect("greedy");
    assert_eq!(greedy.token_ids, vec![1, 3, EOS]);
    let beam = rule_run(myopic, &options(2, 5)).expect("beam");
    assert_eq!(beam.token_ids, vec![2, EOS]);
    let greedy_sum: f32 = greedy.token_logprobs.iter().sum();
    let beam_sum: f32 = beam.token_logprobs.iter().sum();
    assert!(beam_sum > greedy_sum, "{beam_sum} > {greedy_sum}");
    // Without a length penalty on a forced-free path, the score is the mean log-probability.
    assert!((beam.score - beam_sum / 2.0).abs() < 1e-6);
}

#[test]
fn eos_is_forced_at_the_length_limit() {
    let chatty = |_: &[u32]| from_probs(&[(1, 0.7), (2, 0.29), (EOS, 0.01)]);
    for beams in [1, 3] {
        let forced = rule_run(chatty, &options(beams, 3)).expect("search");
        assert_eq!(forced.token_ids, vec![1, 1, EOS], "beams {beams}");
        // The model's own probability of EOS is kept, not the 0 the processor puts in.
        assert!((forced.token_logprobs[2] - 0.01f32.ln()).abs() < 1e-3);
        let mut free = options(beams, 3);
        free.forced_eos_token_id = None;
        let unforced = rule_run(chatty, &free).expect("search");
        assert_eq!(unforced.token_ids, vec![1, 1, 1], "beams {beams}");
    }
}

#[test]
fn min_new_tokens_suppresses_eos() {
    let terse = |_: &[u32]| from_probs(&[(EOS, 0.9), (3, 0.06), (4, 0.04)]);
    for beams in [1, 2, 4] {
        let mut o = options(beams, 8);
        o.min_new_tokens = 3;
        let hypothesis = rule_run(terse, &o).expect("search");
        assert_eq!(hypothesis.token_ids, vec![3, 3, 3, EOS], "beams {beams}");
    }
}

#[test]
fn pad_is_never_generated() {
    let wants_pad = |_: &[u32]| from_probs(&[(PAD, 0.8), (2, 0.15), (EOS, 0.05)]);
    for beams in [1, 2, 3] {
        let hypothesis = rule_run(wants_pad, &options(beams, 6)).expect("search");
        assert!(
            !hypothesis.token_ids.contains(&PAD),
            "beams {beams}: {:?}",
            hypothesis.token_ids
        );
    }
}

#[test]
fn a_banned_sequence_bans_only_its_last_token_after_its_prefix() {
    let model = |generated: &[u32]| match generated.len() {
        0 => from_probs(&[(2, 0.6), (3, 0.4)]),
        1 => from_probs(&[(4, 0.7), (1, 0.3)]),
        _ => from_probs(&[(EOS, 0.9)]),
    };
    let mut o = options(1, 5);
    o.bad_words_ids = vec![vec![PAD], vec![2, 4]];
    assert_eq!(
        rule_run(model, &o).expect("search").token_ids,
        vec![2, 1, EOS]
    );
    o.bad_words_ids = vec![vec![PAD], vec![3, 4]];
    assert_eq!(
        rule_run(model, &o).expect("search").token_ids,
        vec![2, 4, EOS]
    );
    // transformers never matches a banned sequence against the decoder start token.
    o.bad_words_ids = vec![vec![PAD], vec![PAD, 2]];
    assert_eq!(
        rule_run(model, &o).expect("search").token_ids,
        vec![2, 4, EOS]
    );
}

#[test]
fn broken_logits_are_an_error_not_a_panic() {
    for beams in [1, 4] {
        let nan = |_: &[u32]| vec![f32::NAN; 6];
        let error = rule_run(nan, &options(beams, 4)).expect_err("NaN logits");
        assert!(matches!(error, EngineError::Decode(_)), "{error}");
        assert!(error.to_string().contains("non-finite"), "{error}");

        // Every token impossible: some hypothesis still comes back (torch's argmax would pick 0).
        let all_impossible = |_: &[u32]| vec![f32::NEG_INFINITY; 6];
        let hypothesis = rule_run(all_impossible, &options(beams, 3)).expect("runs");
        assert!((1..=3).contains(&hypothesis.token_ids.len()));
    }
}

#[test]
fn a_model_returning_the_wrong_shape_is_an_error() {
    struct Wrong;
    impl StepModel for Wrong {
        type State = ();
        fn step(&self, _: &mut (), last_tokens: &[u32]) -> Result<StepOutput, EngineError> {
            Ok(StepOutput {
                logits: Tensor::zeros(
                    (last_tokens.len() + 1, 6),
                    candle_core::DType::F32,
                    &Device::Cpu,
                )?,
                cross_attention: None,
            })
        }
        fn select_rows(&self, _: &mut (), _: &[usize]) -> Result<(), EngineError> {
            Ok(())
        }
    }
    let error = generate(&Wrong, (), 2, &options(2, 4)).expect_err("wrong rows");
    assert!(error.to_string().contains("expected 2"), "{error}");
}

#[test]
fn an_empty_batch_needs_no_model_step() {
    let model = TableModel::new(1, 16, 0);
    let hypotheses = generate(&model, Vec::new(), 0, &options(4, 5)).expect("empty batch");
    assert!(hypotheses.is_empty());
    assert!(model.rows_per_step.borrow().is_empty());
}

#[test]
fn options_are_checked_with_plain_messages() {
    let vocab = 6;
    assert!(options(4, 10).validate(vocab).is_ok());
    let cases: Vec<(GenerationOptions, &str)> = vec![
        (
            GenerationOptions {
                num_beams: 0,
                ..options(1, 10)
            },
            "num_beams",
        ),
        (
            GenerationOptions {
                max_new_tokens: 0,
                ..options(1, 10)
            },
            "max_new_tokens",
        ),
        (
            GenerationOptions {
                min_new_tokens: 11,
                ..options(1, 10)
            },
            "min_new_tokens (11) must not exceed",
        ),
        (
            GenerationOptions {
                length_penalty: f32::NAN,
                ..options(1, 10)
            },
            "length_penalty",
        ),
        (
            GenerationOptions {
                eos_token_id: 6,
                ..options(1, 10)
            },
            "eos_token_id is 6",
        ),
        (
            GenerationOptions {
                pad_token_id: 60,
                ..options(1, 10)
            },
            "pad_token_id",
        ),
        (
            GenerationOptions {
                decoder_start_token_id: 7,
                ..options(1, 10)
            },
            "decoder_start_token_id",
        ),
        (
            GenerationOptions {
                forced_eos_token_id: Some(9),
                ..options(1, 10)
            },
            "forced_eos_token_id",
        ),
        (
            GenerationOptions {
                bad_words_ids: vec![vec![1, 99]],
                ..options(1, 10)
            },
            "bad_words_ids contains token 99",
        ),
        (
            GenerationOptions {
                bad_words_ids: vec![vec![]],
                ..options(1, 10)
            },
            "empty token sequence",
        ),
    ];
    for (bad, expected) in cases {
        let error = bad.validate(vocab).expect_err(expected);
        assert!(matches!(error, EngineError::InvalidOption(_)));
        assert!(
            error.to_string().contains(expected),
            "{error} should mention {expected}"
        );
    }
    assert!(
        options(2, 10).validate(1).is_err(),
        "beam search over a one-token vocabulary"
    );
    // generate checks the options itself, before and after seeing the vocabulary.
    let model = TableModel::new(1, 16, 0);
    let error = generate(
        &model,
        TableModel::state(&[1]),
        1,
        &GenerationOptions {
            num_beams: 0,
            ..options(1, 4)
        },
    );
    assert!(error.is_err());
    let error = generate(
        &model,
        TableModel::state(&[1]),
        1,
        &GenerationOptions {
            eos_token_id: 16,
            ..options(1, 4)
        },
    );
    assert!(
        error
            .expect_err("eos outside the vocabulary")
            .to_string()
            .contains("16")
    );
}

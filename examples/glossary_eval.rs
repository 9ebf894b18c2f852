//! Glossary enforcement on the fixture models and the test articles (issue 23): how often the
//! model kept a term's placeholder (first decode, after the output guard's retry) and how often
//! its English had to be appended, against the alternative of translating the German and
//! replacing the words the alignment gives for the term; and the speed cost of the glossary.
//! See the README, "Glossary".
//!
//! Run: `cargo run --release --example glossary_eval`

use std::path::{Path, PathBuf};
use std::time::Instant;

use de2en::document::{self, Format, PrepareOptions, QuoteStyle};
use de2en::engine::Engine;
use de2en::engine::marian::{EngineSettings, MarianEngine};
use de2en::flags::TranslationFlag;
use de2en::glossary::Glossary;
use de2en::guard::{GuardConfig, Guarded};

/// Terms of the test articles: names kept as they are, and nouns given one English.
const GLOSSARY: &str = "Kerry\t\nSyrien\tSyria\nParis\t\nRussland\tRussia\nFrankreich\tFrance\n\
Regierung\tgovernment\nIS-Miliz\tIS militia\nWasser\twater\nIndustrie\tindustry\n\
Hydrologin\thydrologist\nStadt\ttown\nBürgermeister\tmayor\nPolizei\tpolice\n\
Bundesregierung\tFederal Government\nSprecher\tspokesperson\nMinisterin\tminister\n";

fn main() {
    let articles: Vec<PathBuf> = std::fs::read_dir("tests/data/articles")
        .expect("tests/data/articles")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let mut glossary = Glossary::default();
    glossary
        .add_file(GLOSSARY.as_bytes(), Path::new("eval.tsv"))
        .expect("glossary");
    matching_cost(&articles, &glossary);
    for model in ["tiny-swish", "tiny-gelu"] {
        let dir = Path::new("tests/fixtures/models").join(model);
        let engine = MarianEngine::load(
            &dir,
            &EngineSettings {
                alignment: true,
                ..EngineSettings::default()
            },
        )
        .expect("fixture model");
        let guarded = Guarded::new(&engine, GuardConfig::default());
        let (mut terms, mut kept) = (0, [0usize; 2]);
        let (mut aligned, mut alignable_terms) = (0, 0);
        for path in &articles {
            let text = std::fs::read_to_string(path).expect("article");
            let options = PrepareOptions {
                format: Format::for_path(Some(path)),
                quotes: QuoteStyle::English,
            };
            for (k, engine) in [&engine as &dyn Engine, &guarded].into_iter().enumerate() {
                let doc = document::prepare_with_glossary(&text, &options, engine, Some(&glossary));
                let inputs: Vec<String> =
                    doc.model_inputs().iter().map(|s| s.to_string()).collect();
                let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let translations = engine.translate(&refs).expect("translate");
                for segment in &doc.finish(&translations).segments {
                    let n = segment.glossary.len();
                    if k == 0 {
                        terms += n;
                    }
                    // A flagged segment: its terms count as appended (a repeat is rarer still).
                    if !segment.flags.contains(&TranslationFlag::GlossaryMissed) {
                        kept[k] += n;
                    }
                }
            }
            // The alternative: the German goes to the model, the term's English replaces the
            // target words the alignment pairs with the term's words, when they are one run.
            let doc = document::prepare(&text, &options, &engine);
            let inputs = doc
                .model_inputs()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>();
            let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
            let translations = engine.translate(&refs).expect("translate");
            for (input, translation) in inputs.iter().zip(&translations) {
                for m in glossary.find(input, None, None) {
                    alignable_terms += 1;
                    let Some(alignment) = &translation.alignment else {
                        continue;
                    };
                    let mut targets: Vec<_> = alignment
                        .pairs
                        .iter()
                        .filter(|(s, _)| s.start < m.span.end && m.span.start < s.end)
                        .map(|(_, t)| *t)
                        .collect();
                    targets.sort_by_key(|t| t.start);
                    targets.dedup();
                    // One run: no other source word aligned inside it.
                    let one_run = !targets.is_empty() && {
                        let (lo, hi) = (
                            targets[0].start,
                            targets.iter().map(|t| t.end).max().unwrap_or(0),
                        );
                        !alignment.pairs.iter().any(|(s, t)| {
                            !(s.start < m.span.end && m.span.start < s.end)
                                && t.start >= lo
                                && t.end <= hi
                        })
                    };
                    aligned += usize::from(one_run);
                }
            }
        }
        println!(
            "{model}: placeholders: {terms} terms, kept by the model {} ({:.0} %) on the first decode, \
             {} ({:.0} %) with the guard's retry, appended {} ({:.0} %); \
             alignment replacement: {aligned} of {alignable_terms} terms aligned to one run of words ({:.0} %)",
            kept[0],
            pct(kept[0], terms),
            kept[1],
            pct(kept[1], terms),
            terms - kept[1],
            pct(terms - kept[1], terms),
            pct(aligned, alignable_terms),
        );
        // Speed: the whole articles, prepared, translated and rebuilt, without and with the
        // glossary, rounds interleaved (the machine is shared); with the guard off and retrying.
        for (name, engine) in [
            ("guard off", &engine as &dyn Engine),
            ("guard retry", &guarded),
        ] {
            let mut seconds = [0.0f64; 2];
            for _round in 0..ROUNDS {
                for (k, glossary) in [None, Some(&glossary)].into_iter().enumerate() {
                    let started = Instant::now();
                    translate_articles(&articles, engine, glossary);
                    seconds[k] += started.elapsed().as_secs_f64();
                }
            }
            println!(
                "{model}, {name}: {ROUNDS} rounds over the articles: {:.2} s without, {:.2} s with the glossary ({:+.0} %)",
                seconds[0],
                seconds[1],
                (seconds[1] / seconds[0].max(1e-9) - 1.0) * 100.0,
            );
        }
    }
}

/// The cost of finding terms alone: the articles prepared (no model) 500 times without a
/// glossary, with the eval glossary, and with it plus 10,000 more entries.
fn matching_cost(articles: &[PathBuf], glossary: &Glossary) {
    let engine = de2en::engine::identity::IdentityEngine;
    let mut large = glossary.clone();
    let extra: String = (0..10_000)
        .map(|i| format!("Begriff{i} Nummer\tterm {i}\nWort{i}\t\n"))
        .collect();
    large
        .add_file(extra.as_bytes(), Path::new("large.tsv"))
        .expect("large glossary");
    let texts: Vec<(String, PrepareOptions)> = articles
        .iter()
        .map(|path| {
            let options = PrepareOptions {
                format: Format::for_path(Some(path)),
                quotes: QuoteStyle::English,
            };
            (std::fs::read_to_string(path).expect("article"), options)
        })
        .collect();
    let mut line = String::from("preparing the articles 500 times (no model):");
    for (name, glossary) in [
        ("no glossary", None),
        ("eval glossary", Some(glossary)),
        ("eval + 20,000 entries", Some(&large)),
    ] {
        let started = Instant::now();
        for _ in 0..500 {
            for (text, options) in &texts {
                let doc = document::prepare_with_glossary(text, options, &engine, glossary);
                std::hint::black_box(doc);
            }
        }
        line.push_str(&format!(
            " {name} {:.3} s;",
            started.elapsed().as_secs_f64()
        ));
    }
    println!("{line}");
}

const ROUNDS: usize = 5;

/// Every article prepared, translated and rebuilt.
fn translate_articles(articles: &[PathBuf], engine: &dyn Engine, glossary: Option<&Glossary>) {
    for path in articles {
        let text = std::fs::read_to_string(path).expect("article");
        let options = PrepareOptions {
            format: Format::for_path(Some(path)),
            quotes: QuoteStyle::English,
        };
        let doc = document::prepare_with_glossary(&text, &options, engine, glossary);
        let inputs: Vec<String> = doc.model_inputs().iter().map(|s| s.to_string()).collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let translations = engine.translate(&refs).expect("translate");
        std::hint::black_box(doc.finish(&translations));
    }
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

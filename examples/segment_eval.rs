//! Boundary F1 of de2en's German sentence segmenter next to the `sentencex` crate, on the golden set
//! in `tests/data/segmentation/golden.txt`.
//!
//! Run: `cargo run --release --example segment_eval` (add `-- --errors` to list every wrong or missed
//! boundary of both segmenters).

#[path = "../tests/data/segmentation/golden.rs"]
mod golden;

use golden::{GOLDEN, Record, Score};

fn main() {
    let show_errors = std::env::args().any(|arg| arg == "--errors");
    let records = golden::parse(GOLDEN);
    let boundaries: usize = records.iter().map(|r| r.boundaries.len()).sum();
    println!(
        "golden set: {} blocks, {} sentence boundaries",
        records.len(),
        boundaries
    );

    let de2en = evaluate("de2en", &records, show_errors, |text| {
        de2en::segment::sentences(text)
            .into_iter()
            .map(|span| (span.start, span.end))
            .collect()
    });
    // What `de2en segment` prints: the same scanner behind the document model (URLs as
    // placeholders, quotation marks and markup as atoms, sentences mapped back to the source).
    let document = evaluate("de2en document", &records, show_errors, |text| {
        let options = de2en::document::PrepareOptions {
            format: de2en::Format::Text,
            quotes: de2en::document::QuoteStyle::Keep,
        };
        let engine = de2en::engine::identity::IdentityEngine;
        de2en::document::prepare(text, &options, &engine)
            .sentences()
            .iter()
            .flatten()
            .map(|span| (span.start, span.end))
            .collect()
    });
    let sentencex = evaluate("sentencex", &records, show_errors, |text| {
        sentencex::get_sentence_boundaries("de", text)
            .into_iter()
            .map(|boundary| (boundary.start_byte, boundary.end_byte))
            .collect()
    });

    println!();
    println!("segmenter       precision  recall  F1      (tp / fp / fn)");
    for (name, score) in [
        ("de2en", de2en),
        ("de2en document", document),
        ("sentencex", sentencex),
    ] {
        println!(
            "{name:<15} {:.4}     {:.4}  {:.4}  ({} / {} / {})",
            score.precision(),
            score.recall(),
            score.f1(),
            score.true_positives,
            score.false_positives,
            score.false_negatives
        );
    }
}

fn evaluate(
    name: &str,
    records: &[Record],
    show_errors: bool,
    segment: impl Fn(&str) -> Vec<(usize, usize)>,
) -> Score {
    let mut score = Score::default();
    for record in records {
        let predicted = golden::boundaries_of(&record.text, segment(&record.text));
        score.add(&record.boundaries, &predicted);
        if show_errors {
            for &missed in record.boundaries.iter().filter(|b| !predicted.contains(b)) {
                let context = golden::show(&record.text, missed);
                println!("{name}: line {}: missed {context}", record.line);
            }
            for &extra in predicted.iter().filter(|b| !record.boundaries.contains(b)) {
                let context = golden::show(&record.text, extra);
                println!("{name}: line {}: wrong cut {context}", record.line);
            }
        }
    }
    score
}

//! Segmentation speed of de2en next to the `sentencex` crate, in MB/s of German news text.
//!
//! Run: `cargo run --release --example segment_bench` (optionally `-- MEGABYTES`, default 8).
//! The text is every block of the golden set (news paragraphs, the example article among them),
//! repeated to the requested size; both segmenters see the same blocks (one call per block, as the document parser calls it)
//! and, as a second figure, the whole text in one call. Each figure is the best of five runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../tests/data/segmentation/golden.rs"]
mod golden;

fn main() {
    let megabytes: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(8);

    let mut sample = String::new();
    for record in golden::parse(golden::GOLDEN) {
        sample.push_str(&record.text);
        sample.push_str("\n\n");
    }
    let mut text = String::with_capacity(megabytes << 20);
    while text.len() < megabytes << 20 {
        text.push_str(&sample);
    }
    let blocks: Vec<&str> = text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .collect();
    let mb = text.len() as f64 / 1e6;
    println!("{mb:.1} MB of German text, {} blocks", blocks.len());

    let de2en_blocks = best_of(5, || {
        blocks
            .iter()
            .map(|block| de2en::segment::sentences(black_box(block)).len())
            .sum()
    });
    let sentencex_blocks = best_of(5, || {
        blocks
            .iter()
            .map(|block| sentencex::segment("de", black_box(block)).len())
            .sum()
    });
    let de2en_whole = best_of(5, || de2en::segment::sentences(black_box(&text)).len());
    let sentencex_whole = best_of(5, || sentencex::segment("de", black_box(&text)).len());

    println!();
    println!("segmenter    per block           whole text in one call");
    for (name, (per_block, count), (whole, _)) in [
        ("de2en", de2en_blocks, de2en_whole),
        ("sentencex", sentencex_blocks, sentencex_whole),
    ] {
        println!(
            "{name:<12} {:>8.1} MB/s       {:>8.1} MB/s   ({count} sentences)",
            mb / per_block.as_secs_f64(),
            mb / whole.as_secs_f64()
        );
    }
    println!(
        "\nde2en / sentencex: {:.1}x per block, {:.1}x whole text",
        sentencex_blocks.0.as_secs_f64() / de2en_blocks.0.as_secs_f64(),
        sentencex_whole.0.as_secs_f64() / de2en_whole.0.as_secs_f64()
    );
}

/// The fastest of `runs` runs of `work`, and what it returned (a count, so nothing is optimised away).
fn best_of(runs: usize, mut work: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = (Duration::MAX, 0);
    for _ in 0..runs {
        let started = Instant::now();
        let result = black_box(work());
        let elapsed = started.elapsed();
        if elapsed < best.0 {
            best = (elapsed, result);
        }
    }
    best
}

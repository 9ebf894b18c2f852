//! Reader and scorer for the German segmentation golden set (`golden.txt` next to this file).
//!
//! Shared by `tests/segment.rs` (which asserts the F1) and `examples/segment_eval.rs` (which prints
//! it for de2en and for the `sentencex` crate), through `#[path]`, so both score the same way.

#![allow(dead_code)] // each includer uses a different part

/// The golden set, compiled in so the test and the example need no working directory.
pub const GOLDEN: &str = include_str!("golden.txt");

/// The mark that stands where a sentence ends in `golden.txt`.
pub const BOUNDARY: char = '‖';

/// One block of prose and where its sentences end.
pub struct Record {
    /// 1-based line in `golden.txt` where the record starts, for messages.
    pub line: usize,
    /// The text with every boundary mark removed.
    pub text: String,
    /// Byte offsets into `text` of the end of every sentence but the last.
    pub boundaries: Vec<usize>,
}

/// Parses the golden-set format described at the top of `golden.txt`.
pub fn parse(data: &str) -> Vec<Record> {
    let mut records = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    let mut first_line = 0;
    for (index, line) in data.lines().chain(std::iter::once("")).enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !lines.is_empty() {
                records.push(record(first_line, &lines.join("\n")));
                lines.clear();
            }
            continue;
        }
        if lines.is_empty() {
            first_line = index + 1;
        }
        lines.push(line);
    }
    records
}

fn record(line: usize, marked: &str) -> Record {
    let mut text = String::with_capacity(marked.len());
    let mut boundaries = Vec::new();
    for c in marked.chars() {
        if c == BOUNDARY {
            boundaries.push(text.trim_end().len());
        } else {
            text.push(c);
        }
    }
    Record {
        line,
        text,
        boundaries,
    }
}

/// Sentence-end offsets (all but the last) from sentence spans, each end trimmed of whitespace.
pub fn boundaries_of(text: &str, spans: impl IntoIterator<Item = (usize, usize)>) -> Vec<usize> {
    let mut ends: Vec<usize> = spans
        .into_iter()
        .map(|(_, end)| text[..end].trim_end().len())
        .filter(|&end| end > 0)
        .collect();
    ends.dedup();
    // The end of the block is no decision anyone can get wrong.
    let block_end = text.trim_end().len();
    ends.retain(|&end| end < block_end);
    ends
}

/// Boundary counts over the whole set.
#[derive(Debug, Default, Clone, Copy)]
pub struct Score {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl Score {
    pub fn add(&mut self, gold: &[usize], predicted: &[usize]) {
        let hits = predicted.iter().filter(|end| gold.contains(end)).count();
        self.true_positives += hits;
        self.false_positives += predicted.len() - hits;
        self.false_negatives += gold.len() - hits;
    }

    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// The text around `offset` with `‖` inserted, for readable error reports.
pub fn show(text: &str, offset: usize) -> String {
    let mut from = offset.saturating_sub(40);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (offset + 40).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    format!("…{}{BOUNDARY}{}…", &text[from..offset], &text[offset..to]).replace('\n', "⏎")
}

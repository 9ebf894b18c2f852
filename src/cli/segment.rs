//! `de2en segment`: shows the sentences de2en would send to the model, without a model.
//!
//! It runs the same `document::prepare` as `translate` and rebuilds with the identity engine, so
//! what it prints is exactly how a translation run cuts the text. Blocks are told apart by the
//! gaps between sentences: a gap that holds a blank line (or a structural boundary such as a
//! heading line break in Markdown) starts a new block.

use std::io::Write;

use serde::Serialize;

use super::{SegmentArgs, SegmentFormat, Status, document_format};
use crate::document::{self, Format, PrepareOptions, QuoteStyle};
use crate::engine::Engine;
use crate::engine::identity::IdentityEngine;
use crate::input;

#[derive(Debug, Serialize)]
struct Sentence<'a> {
    text: &'a str,
    span: [usize; 2],
}

#[derive(Debug, Serialize)]
struct Segmented<'a> {
    blocks: Vec<Block<'a>>,
}

#[derive(Debug, Serialize)]
struct Block<'a> {
    span: [usize; 2],
    sentences: Vec<Sentence<'a>>,
}

pub fn run(args: SegmentArgs) -> anyhow::Result<Status> {
    let path = args
        .input
        .as_deref()
        .filter(|p| *p != std::path::Path::new("-"));
    let format = document_format(args.input_format, path);
    let decoded = match format {
        // A page's own charset declaration decides, as in `translate`.
        Format::Html => {
            let bytes = input::read_bytes(path)?;
            document::decode_html(&bytes, path.unwrap_or(std::path::Path::new("<stdin>")))?
        }
        _ => input::read_text(path)?,
    };
    let text = decoded.text.as_str();
    let options = PrepareOptions {
        format,
        quotes: QuoteStyle::Keep,
    };
    let engine = IdentityEngine;
    let prepared = document::prepare(text, &options, &engine);
    let translations = engine.translate(&prepared.model_inputs())?;
    let rebuilt = prepared.finish(&translations);

    let mut blocks: Vec<Block> = Vec::new();
    let mut previous_end = 0;
    for segment in &rebuilt.segments {
        let [start, end] = segment.source_span;
        let Some(sentence) = text.get(start..end) else {
            continue;
        };
        let gap = text.get(previous_end..start).unwrap_or("");
        let new_block = blocks.is_empty() || is_block_break(gap);
        if new_block {
            blocks.push(Block {
                span: [start, end],
                sentences: Vec::new(),
            });
        }
        if let Some(block) = blocks.last_mut() {
            block.span[1] = end;
            block.sentences.push(Sentence {
                text: sentence,
                span: [start, end],
            });
        }
        previous_end = end;
    }

    let mut stdout = std::io::stdout().lock();
    match args.format {
        SegmentFormat::Lines => {
            for (i, block) in blocks.iter().enumerate() {
                if i > 0 {
                    writeln!(stdout)?;
                }
                for sentence in &block.sentences {
                    // A sentence never spans lines in this output: line breaks inside one
                    // (a wrapped paragraph) become spaces.
                    let line: String = sentence
                        .text
                        .split(['\n', '\r'])
                        .filter(|part| !part.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    writeln!(stdout, "{line}")?;
                }
            }
        }
        SegmentFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &Segmented { blocks })?;
            writeln!(stdout)?;
        }
    }
    stdout.flush()?;
    Ok(Status::Success)
}

/// A gap with a blank line in it separates blocks (paragraphs, list items apart, headings).
fn is_block_break(gap: &str) -> bool {
    let mut newlines = 0;
    for c in gap.chars() {
        match c {
            '\n' => {
                newlines += 1;
                if newlines >= 2 {
                    return true;
                }
            }
            c if c.is_whitespace() => {}
            _ => newlines = 0,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::is_block_break;

    #[test]
    fn blank_lines_break_blocks() {
        assert!(is_block_break("\n\n"));
        assert!(is_block_break(" \n \t\n"));
        assert!(!is_block_break(" "));
        assert!(!is_block_break("\n- "));
        assert!(!is_block_break("\n#\n"));
    }
}

//! `de2en segment`: shows how de2en cuts a text into sentences, without a model.
//!
//! It reads and prepares a file as `translate` does (`document::open`, without an engine) and prints each block's sentences as a
//! reader sees them (`PreparedDocument::sentences`): quotation marks with the sentence they open
//! or close, URLs and markup in place. Blocks (paragraphs, headings, list items, table cells) are
//! separated by a blank line.

use std::io::Write;

use serde::Serialize;

use super::{SegmentArgs, SegmentFormat, Status, document_format};
use crate::document::{self, QuoteStyle};
use crate::engine::Unlimited;
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
    /// The package part the block is in (`word/document.xml`); absent for a file that is one
    /// text.
    #[serde(skip_serializing_if = "Option::is_none")]
    part: Option<&'a str>,
    span: [usize; 2],
    sentences: Vec<Sentence<'a>>,
}

pub fn run(args: SegmentArgs) -> anyhow::Result<Status> {
    let path = args
        .input
        .as_deref()
        .filter(|p| *p != std::path::Path::new("-"));
    let format = document_format(args.input_format, path);
    // The file is read as `translate` reads it (a page's own charset declaration decides; a
    // package's text parts, each a text of its own).
    let bytes = input::read_bytes(path)?;
    let file = document::open(
        format,
        &bytes,
        path.unwrap_or(std::path::Path::new("<stdin>")),
    )?;
    let prepared = file.prepare(QuoteStyle::Keep, &Unlimited, None);
    let mut blocks: Vec<Block> = Vec::new();
    for (part, doc) in prepared.parts() {
        let text = doc.source();
        blocks.extend(doc.sentences().iter().filter_map(|spans| {
            let sentences: Vec<Sentence> = spans
                .iter()
                .filter_map(|span| {
                    Some(Sentence {
                        text: text.get(span.start..span.end)?,
                        span: [span.start, span.end],
                    })
                })
                .collect();
            let span = [sentences.first()?.span[0], sentences.last()?.span[1]];
            Some(Block {
                part,
                span,
                sentences,
            })
        }));
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

//! One sentence per line (`Format::Lines`): every non-empty line is one segment, never split by
//! the segmenter, so the output has the same lines as the input (parallel-corpus style). It is the
//! raw engine interface: `prepare` sends each line to the model as it is and `finish` writes the
//! model's text as it is — no quotation, markup or passthrough handling.

use super::TextFormat;
use crate::document::model::{Atom, AtomKind, Block, BlockKind, Parsed, VERBATIM};

/// One sentence per line.
pub(crate) struct Lines;

impl TextFormat for Lines {
    fn parse(&self, source: &str) -> Parsed {
        Parsed {
            raw: true,
            ..Parsed::prose(parse(source))
        }
    }
}

/// One block per non-empty line, without its surrounding whitespace.
fn parse(source: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let content = line.trim_end();
        let start = offset + (content.len() - content.trim_start().len());
        let end = offset + content.len();
        if start < end {
            blocks.push(Block {
                atoms: vec![Atom::new(AtomKind::Text, start, end)],
                kind: BlockKind::Line,
                split_sentences: false,
                syntax: &VERBATIM,
            });
        }
        offset += line.len();
    }
    blocks
}

//! Byte spans: the one word every stage shares.
//!
//! The segmenter returns sentence spans, the quote finder mark spans, the engine word-alignment
//! spans, and the document model builds its `gap sentence gap …` picture from them. The type lives
//! in a leaf module that imports nothing from the crate, so that each of those stages can be read,
//! used and tested without the document model above it.

use serde::Serialize;

/// A half-open byte range `[start, end)` into a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct ByteSpan {
    pub start: usize,
    pub end: usize,
}

impl ByteSpan {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

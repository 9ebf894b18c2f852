//! The document model: a text is `gap sentence gap … sentence gap`, byte spans into the original.
//!
//! `prepare` parses an article (plain text, Markdown or one-sentence-per-line) into segments and
//! the clean sentences the engine sees; `PreparedDocument::finish` rebuilds the translated article
//! from the source gaps and the translations. With an engine that returns its input unchanged the
//! output equals the input byte for byte.

use serde::Serialize;

use crate::engine::{Engine, Translation};

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

/// Input formats de2en understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain text: paragraphs split by blank lines, line breaks kept.
    Text,
    /// CommonMark with tables.
    Markdown,
    /// One sentence per line, output line-aligned.
    Lines,
}

/// How quotation marks come out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QuoteStyle {
    /// “…” and ‘…’ (the default).
    #[default]
    English,
    /// The source marks are left as they are.
    Keep,
}

#[derive(Debug, Clone)]
pub struct PrepareOptions {
    pub format: Format,
    pub quotes: QuoteStyle,
}

/// A document split into segments, ready for the engine.
#[derive(Debug, Clone)]
pub struct PreparedDocument {
    source: String,
    /// Sentence spans in `source`, in order; everything between them is gap.
    segments: Vec<ByteSpan>,
}

/// One translated segment, as `--format json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentReport {
    pub source: String,
    pub source_span: [usize; 2],
    pub target: String,
    pub target_span: [usize; 2],
    pub score: f32,
    pub flags: Vec<String>,
}

/// The rebuilt English article and where every segment went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranslatedDocument {
    pub target: String,
    pub segments: Vec<SegmentReport>,
}

/// Splits `source` into segments. The engine is asked for token counts only (long sentences).
pub fn prepare(source: &str, options: &PrepareOptions, _engine: &dyn Engine) -> PreparedDocument {
    // Placeholder until the real parsers land: every non-empty line is one segment.
    let _ = options;
    let mut segments = Vec::new();
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        if !content.trim().is_empty() {
            segments.push(ByteSpan::new(offset, offset + content.len()));
        }
        offset += line.len();
    }
    PreparedDocument {
        source: source.to_owned(),
        segments,
    }
}

impl PreparedDocument {
    /// The sentences to send to the engine, in document order.
    pub fn model_inputs(&self) -> Vec<&str> {
        self.segments
            .iter()
            .map(|s| &self.source[s.start..s.end])
            .collect()
    }

    /// Rebuilds the article from the source gaps and one translation per model input.
    pub fn finish(self, translations: &[Translation]) -> TranslatedDocument {
        let mut target = String::with_capacity(self.source.len());
        let mut reports = Vec::with_capacity(self.segments.len());
        let mut gap_start = 0;
        for (span, translation) in self.segments.iter().zip(translations) {
            target.push_str(&self.source[gap_start..span.start]);
            let start = target.len();
            target.push_str(&translation.text);
            reports.push(SegmentReport {
                source: self.source[span.start..span.end].to_owned(),
                source_span: [span.start, span.end],
                target: translation.text.clone(),
                target_span: [start, target.len()],
                score: translation.mean_logprob,
                flags: Vec::new(),
            });
            gap_start = span.end;
        }
        target.push_str(&self.source[gap_start..]);
        TranslatedDocument {
            target,
            segments: reports,
        }
    }
}

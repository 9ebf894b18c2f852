//! The document model: a text is `gap sentence gap … sentence gap`, byte spans into the original.
//!
//! `prepare` takes the blocks a format parser found in a text (`Parsed`) and makes segments and
//! the clean sentences the engine sees; `PreparedDocument::finish` rebuilds the translated text
//! from the source gaps and the translations. With an engine that returns its input unchanged (and
//! `QuoteStyle::Keep`) the output equals the input byte for byte. The model names no format: what
//! rebuilding needs of one (escaping, where markup may go) it asks the block's `Syntax`.
//!
//! Every format parser turns the text into *blocks* of prose (a paragraph, a heading, a list item's
//! text, a table cell), each a run of *atoms* that cover the block's bytes without a hole:
//!
//! - `Text`: words the model translates;
//! - `Quote`: one quotation mark, paired across the whole block (a quotation may run over sentences);
//! - `Break`: a line break inside the block with whatever follows it (`> `, indentation);
//!   the model sees a space, the break is put back at a space of the translation;
//! - `Open`/`Close`: inline markup around words (`**`, `[`, `](url)`); the model never sees it,
//!   it is re-inserted around the translated words (see `align`);
//! - `Protected`: URLs, e-mail addresses, inline code, images: never translated.
//! - `Term`: a glossary term (`crate::glossary`, `--glossary`): the model sees a placeholder
//!   as for a protected token, and the glossary's English takes its place in the translation.
//!
//! A block is cut into sentences (`crate::segment::sentences`), and each sentence is *carved*:
//! marks whose partner lies in another sentence (a quotation over several sentences, emphasis over
//! several sentences) and pairs that enclose the whole sentence move to the gaps, as do URLs and
//! markup at the sentence's edges. The model so never sees half a quotation, and markup that
//! cannot be misplaced is never moved. What is left is a segment: one `SegmentReport`, one or more
//! model inputs (a sentence too long for the model is split at a clause boundary, see `long`).

mod align;
mod long;
mod passthrough;
mod seams;
mod syntax;

use serde::Serialize;

use crate::engine::{SourceLimit, Translation, TranslationFlag};
use crate::glossary::Glossary;
use crate::quotes::{self, QuoteKind, QuoteRole};
// Re-exported: the document model's callers use these words together with it.
pub use crate::quotes::QuoteStyle;
pub use crate::span::ByteSpan;
pub(crate) use syntax::{Syntax, VERBATIM};

/// What one atom of a block is; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AtomKind {
    Text,
    Quote(QuoteKind, QuoteRole),
    Break,
    Open,
    Close,
    Protected,
    /// A glossary term: the index of its entry in the glossary.
    Term(usize),
}

impl AtomKind {
    fn is_paired(self) -> bool {
        matches!(self, AtomKind::Quote(..) | AtomKind::Open | AtomKind::Close)
    }
}

/// A run of source bytes with one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Atom {
    pub kind: AtomKind,
    pub span: ByteSpan,
    /// For quotes and markup: the index of the other half in the same list; `None` when that half
    /// is elsewhere (another sentence) or missing.
    pub partner: Option<usize>,
    /// A text or quote atom whose source bytes are an escape (an HTML entity such as `&auml;`):
    /// the model sees this character, the source bytes come back when the translation keeps it.
    pub decoded: Option<char>,
}

impl Atom {
    pub(crate) fn new(kind: AtomKind, start: usize, end: usize) -> Self {
        Self {
            kind,
            span: ByteSpan::new(start, end),
            partner: None,
            decoded: None,
        }
    }

    /// What the model (and the segmenter) sees of this atom's source bytes.
    pub(crate) fn model_text<'a>(&self, source: &'a str) -> std::borrow::Cow<'a, str> {
        match self.decoded {
            Some(c) => std::borrow::Cow::Owned(c.to_string()),
            None => std::borrow::Cow::Borrowed(&source[self.span.start..self.span.end]),
        }
    }
}

/// What a block of prose is in the article, as its format parser knew it (the review page marks
/// each block by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlockKind {
    /// A paragraph, or prose a format gives no other role (text directly in an HTML `div`).
    #[default]
    Paragraph,
    /// A heading of level 1–6 (Markdown `#`/setext, HTML `h1`–`h6`; an HTML `title` is 1).
    Heading(u8),
    /// A plain-text line that reads like a headline: one short line of its own (blank lines or
    /// the document's edges around it) without closing punctuation, as news sites set them.
    Headline,
    ListItem,
    /// Text in a block quotation (Markdown `>`, HTML `blockquote`).
    Quote,
    /// A table cell or caption.
    Cell,
    /// One line of `--input-format lines`.
    Line,
    /// An HTML attribute for people (`alt`, `title`, a meta description).
    Attribute,
}

/// A block of prose as a format parser finds it.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub atoms: Vec<Atom>,
    pub kind: BlockKind,
    /// Cut the block into sentences (not for one sentence per line).
    pub split_sentences: bool,
    /// How text is written back into the block (escaping, markup rules).
    pub syntax: &'static dyn Syntax,
}

/// What a format parser found in a text: its blocks of prose, in source order, and how the
/// core is to treat them.
#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub blocks: Vec<Block>,
    /// Rewrites of the gaps that hold once the text is English (HTML `lang="de"` becomes `en`).
    pub language_edits: Vec<(ByteSpan, &'static str)>,
    /// The raw engine interface: each block goes to the model as it is and the model's text
    /// comes back as it is (no quote, markup or passthrough handling), so a file of sentences
    /// translates exactly as the engine translates each sentence.
    pub raw: bool,
    /// Blocks may lie inside other blocks' sentences (an attribute of a tag inside a sentence):
    /// such a segment is hosted by the one around it, which writes its translation in.
    pub nested: bool,
}

impl Parsed {
    /// Blocks of prose a format parser found, with nothing else to say.
    pub(crate) fn prose(blocks: Vec<Block>) -> Self {
        Self {
            blocks,
            language_edits: Vec::new(),
            raw: false,
            nested: false,
        }
    }
}

/// One segment: a sentence (or the part of one left after carving) and what the model sees of it.
#[derive(Debug, Clone)]
pub(crate) struct SegmentPlan {
    pub span: ByteSpan,
    pub atoms: Vec<Atom>,
    /// The source bytes of each atom (rendering needs them without the whole source).
    pub atom_texts: Vec<String>,
    /// The clean sentence (before the long-sentence split).
    pub input: String,
    /// Where each atom went in `input` (zero-width for markup).
    pub ranges: Vec<ByteSpan>,
    /// Placeholder text for each protected atom and glossary term, by atom index.
    pub placeholders: Vec<(usize, String)>,
    /// The glossary terms among the atoms and what each becomes.
    pub terms: Vec<PlannedTerm>,
    /// Parts of `input` sent to the model as separate sentences, with the text joining them.
    pub pieces: Vec<ByteSpan>,
    pub first_input: usize,
    /// A part is still longer than the model allows (no place left to split it).
    pub over_long: bool,
    /// How text is written back into the segment's block.
    pub syntax: &'static dyn Syntax,
    /// The segment opens its block: a translation that would change the block's kind when it
    /// starts it is escaped (`Syntax::escape_block_start`).
    pub block_start: bool,
    /// The index of its block in the document.
    pub block: usize,
    /// HTML: an attribute of a tag that stands inside another segment (a `title` on a link in a
    /// sentence): that segment's index. Its translation is written into the tag.
    pub host: Option<usize>,
}

/// A glossary term in a segment: its atom, the entry's German, and the text that replaces it.
#[derive(Debug, Clone)]
pub(crate) struct PlannedTerm {
    pub atom: usize,
    pub german: String,
    /// The English as the glossary spells it, or the German as it stands (a keep-as-is entry).
    pub english: String,
    /// A keep-as-is entry: the text is the source's, never re-cased.
    pub keep: bool,
}

/// A document split into segments, ready for the engine.
#[derive(Debug, Clone)]
pub struct PreparedDocument {
    source: String,
    quotes: QuoteStyle,
    /// Prepared as the raw engine interface (`Parsed::raw`).
    raw: bool,
    segments: Vec<SegmentPlan>,
    inputs: Vec<String>,
    /// Quotation marks left in the gaps, and what they become in the output.
    gap_edits: Vec<(ByteSpan, &'static str)>,
    /// Each block's sentences as a reader sees them (see `PreparedDocument::sentences`).
    sentences: Vec<Vec<ByteSpan>>,
    /// Rewrites of the gaps that hold once the text is English (HTML `lang="de"` becomes `en`):
    /// made when a translation changed any sentence, so a page the engine returned unchanged
    /// stays byte for byte what it was.
    language_edits: Vec<(ByteSpan, &'static str)>,
    /// The kind of each block, by block index (`SegmentPlan::block`).
    block_kinds: Vec<BlockKind>,
}

/// One translated segment, as `--format json` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentReport {
    pub source: String,
    pub source_span: [usize; 2],
    pub target: String,
    pub target_span: [usize; 2],
    /// Mean log-probability per generated token (end-of-sentence included).
    pub score: f32,
    /// Sum of the log-probabilities of the generated tokens, over every part of the segment.
    pub sum_logprob: f32,
    /// Generated tokens (end-of-sentence included), over every part of the segment.
    pub tokens: usize,
    /// What happened to the segment, by the names `TranslationFlag` gives them.
    pub flags: Vec<TranslationFlag>,
    /// The index of the segment's block (paragraph, heading, list item, table cell) in the
    /// document: segments of one block share it.
    pub block: usize,
    /// Word alignment where the engine gives one: pairs of byte spans, a source word in the
    /// input and the translated word in the output (document offsets, as the spans above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alignment: Option<Vec<[[usize; 2]; 2]>>,
    /// The glossary terms applied in the segment (`--glossary`); absent without any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub glossary: Vec<GlossaryUse>,
    /// The part of a package the segment is in (`word/document.xml`); its spans are into that
    /// part's text. Absent for a file that is one text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

impl SegmentReport {
    /// Moves the segment's source spans by `source` bytes and its target spans by `target`
    /// (its text joined after others).
    pub(crate) fn shift(&mut self, source: usize, target: usize) {
        let by = |span: &mut [usize; 2], n: usize| {
            span[0] += n;
            span[1] += n;
        };
        by(&mut self.source_span, source);
        by(&mut self.target_span, target);
        for [s, t] in self.alignment.iter_mut().flatten() {
            by(s, source);
            by(t, target);
        }
        for term in &mut self.glossary {
            by(&mut term.source_span, source);
            by(&mut term.target_span, target);
        }
    }
}

/// One glossary term applied: where the German was in the input and where its English is in the
/// output (document byte offsets), the entry's German and the text written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GlossaryUse {
    pub source_span: [usize; 2],
    pub target_span: [usize; 2],
    pub german: String,
    pub english: String,
}

/// The rebuilt English article and where every segment went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TranslatedDocument {
    pub target: String,
    pub segments: Vec<SegmentReport>,
    /// The kind of each block, by `SegmentReport::block` (for the review page; not part of
    /// `--format json`).
    #[serde(skip)]
    pub blocks: Vec<BlockKind>,
}

/// Splits a parsed text (`source`, as `parsed` found it) into segments, with the terms of
/// `glossary` turned into placeholders (see `crate::glossary`); a sentence without any term is
/// prepared exactly as without the glossary. `limit` (the engine, or `Unlimited` for
/// segmentation alone) decides which sentences are too long for the model.
pub(crate) fn prepare<L: SourceLimit + ?Sized>(
    source: &str,
    parsed: Parsed,
    quotes: QuoteStyle,
    limit: &L,
    glossary: Option<&Glossary>,
) -> PreparedDocument {
    let Parsed {
        blocks,
        language_edits,
        raw,
        nested,
    } = parsed;
    let mut gap_edits = Vec::new();
    let block_kinds = blocks.iter().map(|block| block.kind).collect();
    let mut segments = Vec::new();
    let mut inputs = Vec::new();
    let mut sentences = Vec::new();
    for (block_index, block) in blocks.into_iter().enumerate() {
        if raw {
            let span = block.atoms.first().map_or(ByteSpan::default(), |a| a.span);
            if let Some(glossary) = glossary
                && let Some(mut plan) = lines_with_terms(span, source, &block, glossary)
            {
                plan.block = block_index;
                sentences.push(vec![span]);
                schedule(plan, limit, &mut inputs, &mut segments);
                continue;
            }
            let plan = SegmentPlan {
                span,
                atoms: Vec::new(),
                atom_texts: Vec::new(),
                input: source[span.start..span.end].to_owned(),
                ranges: Vec::new(),
                placeholders: Vec::new(),
                terms: Vec::new(),
                pieces: Vec::new(),
                first_input: 0,
                over_long: false,
                syntax: block.syntax,
                block_start: false,
                block: block_index,
                host: None,
            };
            if !span.is_empty() {
                sentences.push(vec![span]);
            }
            schedule(plan, limit, &mut inputs, &mut segments);
            continue;
        }
        let atoms = refine(&block.atoms, source, glossary);
        let (plans, used, block_sentences) = carve_block(&atoms, source, &block);
        if !block_sentences.is_empty() {
            sentences.push(block_sentences);
        }
        for (index, atom) in atoms.iter().enumerate() {
            if let AtomKind::Quote(kind, role) = atom.kind
                && !used[index]
                && quotes == QuoteStyle::English
            {
                gap_edits.push((atom.span, quotes::english(kind, role)));
            }
        }
        for mut plan in plans {
            plan.block = block_index;
            if let Some(glossary) = glossary {
                plan.terms = planned_terms(&plan, glossary);
            }
            schedule(plan, limit, &mut inputs, &mut segments);
        }
    }
    gap_edits.sort_by_key(|(span, _)| span.start);
    if nested {
        // Attribute segments come after their run's; in source order, one that lies inside
        // another segment is hosted by it.
        segments.sort_by_key(|plan| plan.span.start);
        let mut top: Option<usize> = None;
        for k in 0..segments.len() {
            match top {
                Some(t) if segments[k].span.end <= segments[t].span.end => {
                    segments[k].host = Some(t)
                }
                _ => top = Some(k),
            }
        }
    }
    PreparedDocument {
        source: source.to_owned(),
        quotes,
        raw,
        segments,
        inputs,
        gap_edits,
        sentences,
        language_edits,
        block_kinds,
    }
}

/// Cuts an over-long segment into parts the model accepts and queues its parts as model inputs.
/// A segment that is nothing but glossary terms (a heading "Deutsche Bahn", an `alt` text
/// "Bundeskanzler") has nothing for the model to translate: it gets no part, and its terms'
/// English is written as the glossary gives it.
fn schedule<L: SourceLimit + ?Sized>(
    mut plan: SegmentPlan,
    limit: &L,
    inputs: &mut Vec<String>,
    segments: &mut Vec<SegmentPlan>,
) {
    plan.first_input = inputs.len();
    if only_terms(&plan) {
        segments.push(plan);
        return;
    }
    (plan.pieces, plan.over_long) = long::split(&plan.input, limit);
    for piece in &plan.pieces {
        inputs.push(plan.input[piece.start..piece.end].to_owned());
    }
    segments.push(plan);
}

/// A segment whose words are all glossary terms (the rest punctuation, markup, quotation marks).
fn only_terms(plan: &SegmentPlan) -> bool {
    !plan.terms.is_empty()
        && plan.atoms.iter().zip(&plan.ranges).all(|(atom, range)| {
            atom.kind != AtomKind::Text
                || !plan.input[range.start..range.end]
                    .chars()
                    .any(char::is_alphanumeric)
        })
}

/// Splits the text atoms of a parsed block into text, quotation marks and protected tokens, and
/// pairs the quotation marks over the whole block.
fn refine(raw: &[Atom], source: &str, glossary: Option<&Glossary>) -> Vec<Atom> {
    // Protected tokens (URLs, e-mail addresses) inside text first, so that quotes are never looked
    // for inside them.
    let mut staged: Vec<Atom> = Vec::with_capacity(raw.len());
    let mut new_index = Vec::with_capacity(raw.len());
    for atom in raw {
        new_index.push(staged.len());
        if atom.kind != AtomKind::Text || atom.decoded.is_some() {
            staged.push(*atom);
            continue;
        }
        let text = &source[atom.span.start..atom.span.end];
        let mut cursor = 0;
        for token in passthrough::find(text) {
            if token.start > cursor {
                push_text(
                    &mut staged,
                    source,
                    atom.span.start + cursor,
                    atom.span.start + token.start,
                    glossary,
                );
            }
            staged.push(Atom::new(
                AtomKind::Protected,
                atom.span.start + token.start,
                atom.span.start + token.end,
            ));
            cursor = token.end;
        }
        if cursor < text.len() || text.is_empty() {
            push_text(
                &mut staged,
                source,
                atom.span.start + cursor,
                atom.span.end,
                glossary,
            );
        }
    }
    // The parser's partners point into `raw`; make them point into `staged`.
    for (old, atom) in raw.iter().enumerate() {
        if let Some(p) = atom.partner
            && let (Some(&a), Some(&b)) = (new_index.get(old), new_index.get(p))
        {
            staged[a].partner = Some(b);
        }
    }

    let (clean, ranges) = clean_text(&staged, source, |i| match staged[i].kind {
        AtomKind::Term(_) => source[staged[i].span.start..staged[i].span.end].to_owned(),
        _ => "X".to_owned(),
    });
    let marks = quotes::find_quotes(&clean);
    let mut atoms: Vec<Atom> = Vec::with_capacity(staged.len() + marks.len());
    let mut staged_index = Vec::with_capacity(staged.len());
    let mut mark_index = vec![usize::MAX; marks.len()];
    let mut next_mark = 0;
    for (i, atom) in staged.iter().enumerate() {
        staged_index.push(atoms.len());
        let range = ranges[i];
        if atom.kind == AtomKind::Text && atom.decoded.is_some() {
            // An escaped character is one atom: it may be a quotation mark as a whole.
            while next_mark < marks.len() && marks[next_mark].span.start < range.start {
                next_mark += 1;
            }
            let mut atom = *atom;
            if let Some(mark) = marks.get(next_mark)
                && mark.span == range
            {
                atom.kind = AtomKind::Quote(mark.kind, mark.role);
                mark_index[next_mark] = atoms.len();
                next_mark += 1;
            }
            atoms.push(atom);
            continue;
        }
        if atom.kind != AtomKind::Text {
            atoms.push(*atom);
            continue;
        }
        let mut cursor = atom.span.start;
        while next_mark < marks.len() && marks[next_mark].span.start < range.end {
            let mark = marks[next_mark];
            if mark.span.start >= range.start && mark.span.end <= range.end {
                let start = atom.span.start + (mark.span.start - range.start);
                let end = start + mark.span.len();
                if start > cursor {
                    atoms.push(Atom::new(AtomKind::Text, cursor, start));
                }
                mark_index[next_mark] = atoms.len();
                atoms.push(Atom::new(AtomKind::Quote(mark.kind, mark.role), start, end));
                cursor = end;
            }
            next_mark += 1;
        }
        if cursor < atom.span.end {
            atoms.push(Atom::new(AtomKind::Text, cursor, atom.span.end));
        }
    }
    for (i, atom) in staged.iter().enumerate() {
        if matches!(atom.kind, AtomKind::Open | AtomKind::Close)
            && let Some(p) = atom.partner
            && let Some(&b) = staged_index.get(p)
        {
            atoms[staged_index[i]].partner = Some(b);
        }
    }
    for (m, mark) in marks.iter().enumerate() {
        if let Some(p) = mark.partner
            && mark_index[m] != usize::MAX
            && let Some(&b) = mark_index.get(p)
            && b != usize::MAX
        {
            atoms[mark_index[m]].partner = Some(b);
        }
    }
    atoms
}

/// Pushes the text `start..end` of `source` as a text atom, or, with a glossary, as text and
/// term atoms. The characters around it in the source decide whether a term there is a whole
/// word (a letter there continues the word).
fn push_text(
    staged: &mut Vec<Atom>,
    source: &str,
    start: usize,
    end: usize,
    glossary: Option<&Glossary>,
) {
    let mut cursor = start;
    if let Some(glossary) = glossary {
        let before = source[..start].chars().next_back();
        let after = source[end..].chars().next();
        for term in glossary.find(&source[start..end], before, after) {
            let (a, b) = (start + term.span.start, start + term.span.end);
            if a > cursor {
                staged.push(Atom::new(AtomKind::Text, cursor, a));
            }
            staged.push(Atom::new(AtomKind::Term(term.entry), a, b));
            cursor = b;
        }
    }
    if cursor < end || start == end {
        staged.push(Atom::new(AtomKind::Text, cursor, end));
    }
}

/// The glossary terms of a segment, with the text each becomes.
fn planned_terms(plan: &SegmentPlan, glossary: &Glossary) -> Vec<PlannedTerm> {
    plan.atoms
        .iter()
        .enumerate()
        .filter_map(|(i, atom)| match atom.kind {
            AtomKind::Term(e) => {
                let entry = glossary.entries().get(e)?;
                let matched = plan.atom_texts.get(i)?;
                Some(PlannedTerm {
                    atom: i,
                    german: entry.german.clone(),
                    english: entry.english.clone().unwrap_or_else(|| matched.clone()),
                    keep: entry.english.is_none(),
                })
            }
            _ => None,
        })
        .collect()
}

/// `--input-format lines` with a glossary: a line holding terms goes to the model with
/// placeholders for them (and nothing else changed); `None` for a line without terms, which
/// goes as it is.
fn lines_with_terms(
    span: ByteSpan,
    source: &str,
    block: &Block,
    glossary: &Glossary,
) -> Option<SegmentPlan> {
    if span.is_empty() {
        return None;
    }
    let mut atoms = Vec::new();
    push_text(&mut atoms, source, span.start, span.end, Some(glossary));
    if !atoms.iter().any(|a| matches!(a.kind, AtomKind::Term(_))) {
        return None;
    }
    let mut plan = plan(atoms, source, block);
    plan.block_start = false;
    plan.terms = planned_terms(&plan, glossary);
    Some(plan)
}

/// The text the model (or the segmenter) sees for `atoms`, and where each atom went in it.
/// `protected` gives the text standing for a protected token or a glossary term.
fn clean_text(
    atoms: &[Atom],
    source: &str,
    mut protected: impl FnMut(usize) -> String,
) -> (String, Vec<ByteSpan>) {
    let mut clean = String::new();
    let mut ranges = Vec::with_capacity(atoms.len());
    for (i, atom) in atoms.iter().enumerate() {
        let start = clean.len();
        match atom.kind {
            AtomKind::Text | AtomKind::Quote(..) => clean.push_str(&atom.model_text(source)),
            AtomKind::Break => clean.push(' '),
            AtomKind::Open | AtomKind::Close => {}
            AtomKind::Protected | AtomKind::Term(_) => clean.push_str(&protected(i)),
        }
        ranges.push(ByteSpan::new(start, clean.len()));
    }
    (clean, ranges)
}

/// Sentence spans of a block's clean text, checked: in order, not overlapping, on char boundaries.
fn sentence_spans(clean: &str, split: bool) -> Vec<ByteSpan> {
    let spans = if split {
        crate::segment::sentences(clean)
    } else {
        let start = clean.len() - clean.trim_start().len();
        let end = clean.trim_end().len();
        if start < end {
            vec![ByteSpan::new(start, end)]
        } else {
            Vec::new()
        }
    };
    let mut checked: Vec<ByteSpan> = Vec::with_capacity(spans.len());
    for span in spans {
        let after_previous = checked.last().is_none_or(|p| p.end <= span.start);
        if span.start < span.end
            && span.end <= clean.len()
            && after_previous
            && clean.is_char_boundary(span.start)
            && clean.is_char_boundary(span.end)
        {
            checked.push(span);
        }
    }
    checked
}

/// An atom of a block cut at sentence bounds: the piece, the index of the atom it came from,
/// and its range in the block's clean text.
type SplitAtom = (Atom, usize, ByteSpan);

/// Cuts a refined block into segment plans. Returns also which atoms ended up in a segment.
///
/// Steps: the segmenter cuts the block's clean text into sentences; text atoms are split at the
/// sentence bounds; each piece is assigned to a sentence; each sentence's pieces are carved
/// into segment plans.
fn carve_block(
    atoms: &[Atom],
    source: &str,
    block: &Block,
) -> (Vec<SegmentPlan>, Vec<bool>, Vec<ByteSpan>) {
    let mut used = vec![false; atoms.len()];
    // The segmenter sees a protected token as an ordinary word: a one-letter placeholder would
    // read as an initial ("X. Anfragen") and glue the sentence after a URL to it.
    // A glossary term reads as the German it stands for: a sentence is cut exactly as without
    // the glossary.
    let (clean, ranges) = clean_text(atoms, source, |i| match atoms[i].kind {
        AtomKind::Term(_) => source[atoms[i].span.start..atoms[i].span.end].to_owned(),
        _ => "Xurl".to_owned(),
    });
    let sentences = sentence_spans(&clean, block.split_sentences);
    let reader_sentences = sentences
        .iter()
        .filter_map(|s| source_span_of(atoms, &ranges, *s))
        .collect();

    let mut bounds: Vec<usize> = sentences.iter().flat_map(|s| [s.start, s.end]).collect();
    bounds.dedup();
    let demoted = demote_cut_terms(atoms, &ranges, &bounds);
    let atoms = demoted.as_deref().unwrap_or(atoms);
    let split = split_at_bounds(atoms, &ranges, &bounds);
    let mut position_of_original = vec![usize::MAX; atoms.len()];
    for (position, (_, original, _)) in split.iter().enumerate() {
        if atoms[*original].kind != AtomKind::Text {
            position_of_original[*original] = position;
        }
    }

    let mut plans = Vec::new();
    for members in sentence_members(&split, &sentences) {
        if members.is_empty() {
            continue;
        }
        let mut local: Vec<Atom> = Vec::with_capacity(members.len());
        for &p in &members {
            let (mut atom, original, _) = split[p];
            atom.partner = atoms[original]
                .partner
                .and_then(|q| position_of_original.get(q).copied())
                .and_then(|q| members.iter().position(|&m| m == q));
            local.push(atom);
        }
        let origins: Vec<usize> = members.iter().map(|&p| split[p].1).collect();
        for piece in carve(&local, source) {
            let mut plan_atoms: Vec<Atom> = Vec::with_capacity(piece.len());
            for (li, atom) in &piece {
                let mut atom = *atom;
                atom.partner = local[*li]
                    .partner
                    .and_then(|q| piece.iter().position(|(lj, _)| *lj == q));
                plan_atoms.push(atom);
                used[origins[*li]] = true;
            }
            plans.push(plan(plan_atoms, source, block));
        }
    }
    (plans, used, reader_sentences)
}

/// A glossary term the segmenter cuts through ("gewinnt. Dann") is no term: it is text again
/// (its clean text is the same), so both sentences keep their words. `None` when no term is cut.
fn demote_cut_terms(atoms: &[Atom], ranges: &[ByteSpan], bounds: &[usize]) -> Option<Vec<Atom>> {
    let cut_through = |i: usize| {
        let r = ranges[i];
        matches!(atoms[i].kind, AtomKind::Term(_))
            && bounds.iter().any(|&b| r.start < b && b < r.end)
    };
    if !(0..atoms.len()).any(cut_through) {
        return None;
    }
    let demoted = (0..atoms.len())
        .map(|i| {
            let kind = if cut_through(i) {
                AtomKind::Text
            } else {
                atoms[i].kind
            };
            Atom { kind, ..atoms[i] }
        })
        .collect();
    Some(demoted)
}

/// Splits text atoms where a sentence starts or ends inside them.
fn split_at_bounds(atoms: &[Atom], ranges: &[ByteSpan], bounds: &[usize]) -> Vec<SplitAtom> {
    let mut split: Vec<SplitAtom> = Vec::with_capacity(atoms.len() + bounds.len());
    for (i, atom) in atoms.iter().enumerate() {
        let range = ranges[i];
        if atom.kind != AtomKind::Text || atom.decoded.is_some() {
            split.push((*atom, i, range));
            continue;
        }
        let mut cut_at = range.start;
        let first = bounds.partition_point(|&b| b <= range.start);
        let last = bounds.partition_point(|&b| b < range.end);
        for &b in bounds.get(first..last).unwrap_or(&[]) {
            let offset = atom.span.start + (cut_at - range.start);
            let until = atom.span.start + (b - range.start);
            split.push((
                Atom::new(AtomKind::Text, offset, until),
                i,
                ByteSpan::new(cut_at, b),
            ));
            cut_at = b;
        }
        let offset = atom.span.start + (cut_at - range.start);
        split.push((
            Atom::new(AtomKind::Text, offset, atom.span.end),
            i,
            ByteSpan::new(cut_at, range.end),
        ));
    }
    split
}

/// The positions in `split` of each sentence's members, in order.
fn sentence_members(split: &[SplitAtom], sentences: &[ByteSpan]) -> Vec<Vec<usize>> {
    // Which sentence each atom belongs to: markup opens attach forwards, closes backwards.
    // Sentences are sorted and apart, so a binary search finds the only candidate.
    let mut sentence_of: Vec<Option<usize>> = split
        .iter()
        .map(|(atom, _, range)| {
            let (k, inside): (usize, fn(&ByteSpan, &ByteSpan) -> bool) = if !range.is_empty() {
                (sentences.partition_point(|s| s.end < range.end), |s, r| {
                    s.start <= r.start && r.end <= s.end
                })
            } else if atom.kind == AtomKind::Close {
                (
                    sentences.partition_point(|s| s.end < range.start),
                    |s, r| s.start < r.start && r.start <= s.end,
                )
            } else {
                (
                    sentences.partition_point(|s| s.end <= range.start),
                    |s, r| s.start <= r.start && r.start < s.end,
                )
            };
            sentences.get(k).filter(|s| inside(s, range)).map(|_| k)
        })
        .collect();
    // An atom between two members of one sentence belongs to it: a stray mark at the sentence's
    // edge (an HTML `</b>` without its `<b>`) would otherwise be inside the segment's span but
    // in none of its atoms, and be lost.
    let mut previous: Option<(usize, usize)> = None;
    for position in 0..sentence_of.len() {
        if let Some(k) = sentence_of[position] {
            if let Some((before, j)) = previous
                && j == k
            {
                sentence_of[before + 1..position].fill(Some(k));
            }
            previous = Some((position, k));
        }
    }
    let mut members_of: Vec<Vec<usize>> = vec![Vec::new(); sentences.len()];
    for (position, sentence) in sentence_of.iter().enumerate() {
        if let Some(k) = sentence {
            members_of[*k].push(position);
        }
    }
    members_of
}

/// Where a sentence of a block's clean text lies in the source: quotation marks and URLs as they
/// are, markup at its edges included when it opens and closes inside the sentence (`**Satz.**`).
fn source_span_of(atoms: &[Atom], ranges: &[ByteSpan], sentence: ByteSpan) -> Option<ByteSpan> {
    let to_source = |i: usize, at: usize, is_end: bool| -> usize {
        let atom = &atoms[i];
        match atom.kind {
            AtomKind::Text | AtomKind::Quote(..) | AtomKind::Term(_) => {
                atom.span.start + (at - ranges[i].start)
            }
            // A placeholder or a line break stands for other bytes: take them whole or not at all.
            _ if is_end => atom.span.end,
            _ => atom.span.start,
        }
    };
    let first = (0..atoms.len()).find(|&i| {
        ranges[i].end > sentence.start && !ranges[i].is_empty() && atoms[i].kind != AtomKind::Break
    })?;
    let last = (0..atoms.len()).rev().find(|&i| {
        ranges[i].start < sentence.end && !ranges[i].is_empty() && atoms[i].kind != AtomKind::Break
    })?;
    if last < first {
        return None;
    }
    let (mut lo, mut hi) = (first, last);
    let is_markup = |i: usize| matches!(atoms[i].kind, AtomKind::Open | AtomKind::Close);
    loop {
        let grow_lo = lo > 0
            && is_markup(lo - 1)
            && atoms[lo - 1]
                .partner
                .is_some_and(|p| p > lo - 1 && p <= hi + 1);
        let grow_hi = hi + 1 < atoms.len()
            && is_markup(hi + 1)
            && atoms[hi + 1]
                .partner
                .is_some_and(|p| p >= lo.saturating_sub(1) && p < hi + 1);
        if grow_lo {
            lo -= 1;
        }
        if grow_hi {
            hi += 1;
        }
        if !grow_lo && !grow_hi {
            break;
        }
    }
    let start = if lo < first {
        atoms[lo].span.start
    } else {
        to_source(first, sentence.start.max(ranges[first].start), false)
    };
    let end = if hi > last {
        atoms[hi].span.end
    } else {
        to_source(last, sentence.end.min(ranges[last].end), true)
    };
    (start < end).then(|| ByteSpan::new(start, end))
}

fn has_letters(text: &str) -> bool {
    text.chars().any(char::is_alphabetic)
}

/// Carves one sentence (atoms with sentence-local partners) into the segments the model
/// translates. Returns each segment's atoms with their index in `local` (text atoms may be
/// trimmed).
fn carve(local: &[Atom], source: &str) -> Vec<Vec<(usize, Atom)>> {
    let n = local.len();
    let text_of = |a: &Atom| a.model_text(source);
    let mut cut: Vec<bool> = local
        .iter()
        .map(|a| a.kind.is_paired() && a.partner.is_none())
        .collect();
    // Maximal runs of atoms that are not cut, without what may not stand at a segment's edges.
    let pieces = |cut: &[bool]| -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < n {
            if cut[i] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < n && !cut[j] {
                j += 1;
            }
            let (mut s, mut e) = (i, j);
            while s < e {
                let a = &local[s];
                let trim = match a.kind {
                    AtomKind::Break | AtomKind::Protected => true,
                    AtomKind::Text => !text_of(a).chars().any(char::is_alphanumeric),
                    _ => false,
                };
                if !trim {
                    break;
                }
                s += 1;
            }
            while s < e {
                let a = &local[e - 1];
                let trim = match a.kind {
                    AtomKind::Break | AtomKind::Protected => true,
                    AtomKind::Text if text_of(a).trim().is_empty() => true,
                    // Punctuation after a URL at the end goes with the URL.
                    AtomKind::Text
                        if e - 1 > s
                            && local[e - 2].kind == AtomKind::Protected
                            && !text_of(a).chars().any(char::is_alphanumeric) =>
                    {
                        true
                    }
                    _ => false,
                };
                if !trim {
                    break;
                }
                e -= 1;
            }
            if s < e {
                out.push((s, e));
            }
            i = j;
        }
        out
    };
    let mut found;
    loop {
        found = pieces(&cut);
        let mut piece_of = vec![usize::MAX; n];
        for (p, &(s, e)) in found.iter().enumerate() {
            piece_of[s..e].fill(p);
        }
        let mut changed = false;
        for i in 0..n {
            if !local[i].kind.is_paired() || cut[i] {
                continue;
            }
            match local[i].partner {
                Some(p) if piece_of[i] == piece_of[p] && piece_of[i] != usize::MAX => {}
                Some(p) => {
                    cut[i] = true;
                    cut[p] = true;
                    changed = true;
                }
                None => {
                    cut[i] = true;
                    changed = true;
                }
            }
        }
        // A pair around the whole segment goes to the gaps: it cannot be misplaced there.
        for &(s, e) in &found {
            if e - s >= 2 && local[s].kind.is_paired() && local[s].partner == Some(e - 1) {
                cut[s] = true;
                cut[e - 1] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    let mut segments = Vec::new();
    for (s, e) in found {
        let mut atoms: Vec<(usize, Atom)> = (s..e).map(|i| (i, local[i])).collect();
        // Leading separators (", sagte er" after a closing mark) and edge whitespace go to the gaps.
        // (An escaped character goes whole or not at all.)
        if let Some((_, first)) = atoms.first_mut()
            && first.kind == AtomKind::Text
        {
            let text = text_of(first);
            let kept = text.trim_start_matches(|c: char| {
                c.is_whitespace() || matches!(c, ',' | ';' | ':' | '–' | '—')
            });
            if first.decoded.is_none() {
                first.span.start += text.len() - kept.len();
            } else if kept.is_empty() {
                first.span.start = first.span.end;
            }
        }
        if let Some((_, last)) = atoms.last_mut()
            && last.kind == AtomKind::Text
        {
            let text = text_of(last);
            let trimmed = text.len() - text.trim_end().len();
            if last.decoded.is_none() {
                last.span.end -= trimmed;
            } else if trimmed == text.len() {
                last.span.end = last.span.start;
            }
        }
        atoms.retain(|(_, a)| !(a.kind == AtomKind::Text && a.span.is_empty()));
        // A glossary term is prose: a heading that is only a term is translated (the term's
        // English put in), not left in the gap in German.
        let prose = atoms.iter().any(|(_, a)| {
            (a.kind == AtomKind::Text && has_letters(&text_of(a)))
                || matches!(a.kind, AtomKind::Term(_))
        });
        if prose {
            segments.push(atoms);
        }
    }
    segments
}

/// Placeholder prefixes for protected tokens, tried in order until one does not occur in the
/// sentence. Capitalised nonce words: NMT models copy unknown names through.
const PLACEHOLDER_PREFIXES: [&str; 4] = ["ZX", "QZ", "XQ", "ZQV"];

fn plan(atoms: Vec<Atom>, source: &str, block: &Block) -> SegmentPlan {
    let span = ByteSpan::new(
        atoms.first().map_or(0, |a| a.span.start),
        atoms.last().map_or(0, |a| a.span.end),
    );
    let sentence = &source[span.start..span.end];
    let prefix = PLACEHOLDER_PREFIXES
        .iter()
        .find(|p| !sentence.contains(*p))
        .copied()
        .unwrap_or("ZXZXZ");
    let mut placeholders = Vec::new();
    let mut count = 0;
    let (input, ranges) = clean_text(&atoms, source, |i| {
        count += 1;
        let text = format!("{prefix}{count}");
        placeholders.push((i, text.clone()));
        text
    });
    let atom_texts = atoms
        .iter()
        .map(|a| source[a.span.start..a.span.end].to_owned())
        .collect();
    SegmentPlan {
        span,
        atoms,
        atom_texts,
        input,
        ranges,
        placeholders,
        terms: Vec::new(),
        pieces: Vec::new(),
        first_input: 0,
        over_long: false,
        syntax: block.syntax,
        block_start: block
            .atoms
            .iter()
            .find(|a| !source[a.span.start..a.span.end].trim().is_empty())
            .is_some_and(|a| a.span.start == span.start),
        block: 0,
        host: None,
    }
}

impl SegmentPlan {
    /// Writes a hosted segment's translation (`text`, for the source bytes `span`) into the atom
    /// that holds it. Returns the atom and where in its new text the translation starts.
    fn host(&mut self, span: &ByteSpan, text: &str) -> Option<(usize, usize)> {
        let i = self
            .atoms
            .iter()
            .position(|a| a.span.start <= span.start && span.end <= a.span.end)?;
        // Guests come in source order: earlier ones in the same atom changed its length.
        let atom_text = self.atom_texts.get_mut(i)?;
        let source_len = self.atoms[i].span.len();
        let shift = atom_text.len() as isize - source_len as isize;
        let offset = (span.start - self.atoms[i].span.start) as isize + shift;
        let offset = usize::try_from(offset).ok()?;
        atom_text.replace_range(offset..offset + span.len(), text);
        Some((i, offset))
    }
}

impl PreparedDocument {
    /// The sentences to send to the engine, in document order.
    pub fn model_inputs(&self) -> Vec<&str> {
        self.inputs.iter().map(String::as_str).collect()
    }

    /// Each block's sentences as a reader sees them, as spans of the source: an opening
    /// quotation mark with the sentence it opens, a closing one with the sentence it closes, a
    /// URL that ends a sentence inside it. (The segments the model gets can be smaller: a
    /// reporting clause after a quotation is translated on its own, marks stay out of the model.)
    pub fn sentences(&self) -> &[Vec<ByteSpan>] {
        &self.sentences
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Rebuilds the article from the source gaps and one translation per model input.
    ///
    /// Missing translations (fewer than model inputs) leave their segments in German, flagged
    /// `untranslated`.
    pub fn finish(self, translations: &[Translation]) -> TranslatedDocument {
        let mut target = String::with_capacity(self.source.len() + self.source.len() / 4);
        let mut reports = Vec::with_capacity(self.segments.len());
        let mut gap_start = 0;
        let mut gap_edits = self.gap_edits.clone();
        let changed = translations
            .iter()
            .zip(&self.inputs)
            .any(|(t, input)| t.text != *input);
        if changed && !self.language_edits.is_empty() {
            gap_edits.extend(self.language_edits.iter().copied());
            gap_edits.sort_by_key(|(span, _)| span.start);
        }
        let mut edits = gap_edits.iter().peekable();
        // Every quotation mark of the output, for the English seams (see `seams`).
        let mut marks: Vec<seams::SeamMark> = Vec::new();
        let mut push_gap = |target: &mut String, marks: &mut Vec<_>, from: usize, to: usize| {
            let mut cursor = from;
            while let Some((span, mark)) = edits.peek() {
                if span.start >= to {
                    break;
                }
                if span.start >= cursor {
                    target.push_str(&self.source[cursor..span.start]);
                    let at = target.len();
                    target.push_str(mark);
                    if let Some(role) = english_role(mark) {
                        marks.push(seams::SeamMark {
                            span: ByteSpan::new(at, target.len()),
                            role,
                            source: Some(*span),
                        });
                    }
                    cursor = span.end;
                }
                edits.next();
            }
            target.push_str(&self.source[cursor..to]);
        };
        // Lines are the raw engine interface: the model's text comes back as it is.
        let english = self.quotes == QuoteStyle::English && !self.raw;
        for (k, plan) in self.segments.iter().enumerate() {
            if plan.host.is_some() {
                continue;
            }
            push_gap(&mut target, &mut marks, gap_start, plan.span.start);
            let start = target.len();
            let guests: Vec<usize> = (k + 1..self.segments.len())
                .take_while(|&g| self.segments[g].host == Some(k))
                .collect();
            let mut guest_texts = Vec::with_capacity(guests.len());
            let mut hosted = None;
            if !guests.is_empty() {
                let mut with_guests = plan.clone();
                for &g in &guests {
                    let (text, flags, _, terms) =
                        self.render_segment(&self.segments[g], translations);
                    let place = with_guests.host(&self.segments[g].span, &text);
                    guest_texts.push((g, text, flags, place, terms));
                }
                hosted = Some(with_guests);
            }
            let (text, flags, alignment, terms) =
                self.render_segment(hosted.as_ref().unwrap_or(plan), translations);
            if english {
                marks.extend(segment_marks(plan, &text, start));
            }
            let end = start + text.len();
            // Where each guest went: inside its tag, wherever the host's rendering put the tag.
            let guest_spans: Vec<[usize; 2]> = guest_texts
                .iter()
                .map(|(_, guest, _, place, _)| {
                    place
                        .and_then(|(i, offset)| {
                            let tag = hosted.as_ref()?.atom_texts.get(i)?;
                            let at = text.find(tag.as_str())? + offset;
                            Some([start + at, start + at + guest.len()])
                        })
                        .unwrap_or([start, end])
                })
                .collect();
            target.push_str(&text);
            let rendered = Rendered {
                text,
                flags,
                alignment,
                terms,
            };
            reports.push(self.report(plan, rendered, [start, end], translations));
            for ((g, text, flags, _, terms), span) in guest_texts.into_iter().zip(guest_spans) {
                let rendered = Rendered {
                    text,
                    flags,
                    alignment: None,
                    terms,
                };
                reports.push(self.report(&self.segments[g], rendered, span, translations));
            }
            gap_start = plan.span.end;
        }
        push_gap(&mut target, &mut marks, gap_start, self.source.len());
        if english {
            seams::apply(&self.source, &mut target, &mut reports, &marks);
        }
        TranslatedDocument {
            target,
            segments: reports,
            blocks: self.block_kinds,
        }
    }

    fn report(
        &self,
        plan: &SegmentPlan,
        rendered: Rendered,
        target_span: [usize; 2],
        translations: &[Translation],
    ) -> SegmentReport {
        let Rendered {
            text: target,
            flags,
            alignment,
            terms,
        } = rendered;
        let glossary = terms
            .iter()
            .filter_map(|&(t, span)| {
                let term = plan.terms.get(t)?;
                let atom = plan.atoms.get(term.atom)?;
                let written = target.get(span.start..span.end)?;
                Some(GlossaryUse {
                    source_span: [atom.span.start, atom.span.end],
                    target_span: [target_span[0] + span.start, target_span[0] + span.end],
                    german: term.german.clone(),
                    // The English as a reader sees it (`AT&T`, written `AT&amp;T` in HTML).
                    english: plan.syntax.visible(written),
                })
            })
            .collect();
        let (score, sum_logprob, tokens) = translations
            .get(plan.first_input..plan.first_input + plan.pieces.len())
            .map_or((0.0, 0.0, 0), |parts| {
                (
                    score(parts),
                    parts.iter().map(|t| t.sum_logprob).sum(),
                    parts.iter().map(|t| t.token_ids.len()).sum(),
                )
            });
        SegmentReport {
            source: self.source[plan.span.start..plan.span.end].to_owned(),
            source_span: [plan.span.start, plan.span.end],
            target,
            target_span,
            score,
            sum_logprob,
            tokens,
            flags,
            block: plan.block,
            // Segment-relative pairs to document offsets.
            alignment: alignment.map(|pairs| {
                let (source, target) = (plan.span.start, target_span[0]);
                pairs
                    .iter()
                    .map(|(s, t)| {
                        [
                            [s.start + source, s.end + source],
                            [t.start + target, t.end + target],
                        ]
                    })
                    .collect()
            }),
            glossary,
            part: None,
        }
    }

    /// The segment's text, its flags, and the word alignment relative to the segment (source
    /// and translation) where the engine gave one.
    fn render_segment(
        &self,
        plan: &SegmentPlan,
        translations: &[Translation],
    ) -> (
        String,
        Vec<TranslationFlag>,
        Option<SegmentAlignment>,
        align::TermSpans,
    ) {
        let parts = translations.get(plan.first_input..plan.first_input + plan.pieces.len());
        let source = &self.source[plan.span.start..plan.span.end];
        let Some(parts) = parts else {
            return (
                source.to_owned(),
                vec![TranslationFlag::Untranslated],
                None,
                Vec::new(),
            );
        };
        let mut flags = Vec::new();
        let (joined, alignment) = if plan.pieces.is_empty() {
            // Only glossary terms (see `schedule`): rendered as if the model had copied them.
            (plan.input.clone(), None)
        } else {
            long::join(plan, parts)
        };
        if plan.pieces.len() > 1 {
            flags.push(TranslationFlag::Split);
        }
        if plan.over_long {
            flags.push(TranslationFlag::OverLong);
        }
        // The output guard's findings on any part (crate::guard), each named once.
        for &flag in parts.iter().flat_map(|part| &part.flags) {
            if !flags.contains(&flag) {
                flags.push(flag);
            }
        }
        if self.raw && !plan.terms.is_empty() {
            // The line's terms went as placeholders: their English comes back in their place.
            // (Lines are translated without word alignment.)
            let (text, term_flags, terms) = align::render_terms(plan, &joined);
            flags.extend(term_flags);
            return (text, flags, None, terms);
        }
        if self.raw {
            // The line went to the model as it is and its text comes back as it is.
            let pairs = alignment.map(|a| {
                a.pairs
                    .into_iter()
                    .filter(|(s, t)| {
                        source.get(s.start..s.end).is_some() && joined.get(t.start..t.end).is_some()
                    })
                    .collect()
            });
            return (joined, flags, pairs, Vec::new());
        }
        let (text, render_flags, placement, terms) =
            align::render(plan, &joined, alignment.as_ref(), self.quotes);
        flags.extend(render_flags);
        let pairs =
            alignment.map(|a| align::segment_alignment(plan, &a, &placement, source, &text));
        (text, flags, pairs, terms)
    }
}

/// A rendered segment: its text, flags, word alignment and where its glossary terms went.
struct Rendered {
    text: String,
    flags: Vec<TranslationFlag>,
    alignment: Option<SegmentAlignment>,
    terms: align::TermSpans,
}

/// The role of an English quotation mark as `quotes::english` writes them.
fn english_role(mark: &str) -> Option<QuoteRole> {
    match mark {
        "“" | "‘" => Some(QuoteRole::Open),
        "”" | "’" => Some(QuoteRole::Close),
        _ => None,
    }
}

/// The quotation marks of a rendered segment (at `offset` in the output), each with its source
/// mark when the translation kept the source's number of marks (then they correspond in order).
fn segment_marks(plan: &SegmentPlan, text: &str, offset: usize) -> Vec<seams::SeamMark> {
    let sources: Vec<(ByteSpan, QuoteRole)> = plan
        .atoms
        .iter()
        .filter_map(|a| match a.kind {
            AtomKind::Quote(_, role) => Some((a.span, role)),
            _ => None,
        })
        .collect();
    // The quotes of markup (attribute values inside tags) are not quotation marks. Masking
    // keeps every byte offset.
    let masked = plan.syntax.mask_markup(text);
    let text = masked.as_deref().unwrap_or(text);
    let found = quotes::find_quotes(text);
    let corresponds = found.len() == sources.len()
        && found
            .iter()
            .zip(&sources)
            .all(|(m, (_, role))| m.role == *role);
    found
        .iter()
        .enumerate()
        .map(|(i, m)| seams::SeamMark {
            span: ByteSpan::new(offset + m.span.start, offset + m.span.end),
            role: m.role,
            source: corresponds.then(|| sources[i].0),
        })
        .collect()
}

/// Word-alignment pairs (source span, target span), relative to one segment's text on each side.
type SegmentAlignment = Vec<(ByteSpan, ByteSpan)>;

/// Mean log-probability per generated token over all parts of a segment.
fn score(parts: &[Translation]) -> f32 {
    let tokens: usize = parts.iter().map(|t| t.token_ids.len()).sum();
    if tokens > 0 && parts.iter().all(|t| !t.token_ids.is_empty()) {
        parts.iter().map(|t| t.sum_logprob).sum::<f32>() / tokens as f32
    } else if parts.is_empty() {
        0.0
    } else {
        parts.iter().map(|t| t.mean_logprob).sum::<f32>() / parts.len() as f32
    }
}

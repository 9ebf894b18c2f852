//! Putting a translated sentence back together with what the model never saw.
//!
//! The model translates clean sentences; the document keeps, per segment, the atoms it took out:
//! inline markup (`**`, `[`…`](url)`), line breaks inside the sentence, protected tokens (as
//! placeholders in the model input), and quotation marks inside the sentence. This module decides
//! where each goes in the translation:
//!
//! - when the translation equals the model input (the identity engine), everything goes back
//!   exactly where it was, so the output equals the input byte for byte;
//! - markup goes around the translated words aligned to the marked source words, when the engine
//!   gives a word alignment and it keeps the markup properly nested; otherwise around the whole
//!   translation (one markup, or nested markups of different kinds), or, when wrapping everything
//!   would nest a link in a link or emphasis in emphasis, at the proportional word position.
//!   Markup is never dropped; every guess is flagged `markup-unaligned`;
//! - placeholders are replaced by their token; a placeholder the model mangled or dropped is
//!   removed and its token appended before the final punctuation (flag `passthrough-appended`);
//! - a glossary term's placeholder is replaced by the term's English (its first letter
//!   capitalised where it starts a sentence); one the model dropped is appended the same way, one
//!   it repeated is kept once, and either is flagged `glossary-missed`;
//! - line breaks replace the space nearest their proportional position (in Markdown, never one
//!   that would start a new block);
//! - quotation marks are paired and typeset (see `crate::quotes`), missing ones added
//!   (flag `quote-repaired`), a changed number of quotations flagged `quote-mismatch`.

use super::{AtomKind, PlannedTerm, SegmentPlan};
use crate::engine::{TranslationFlag, WordAlignment};
use crate::quotes::{self, QuoteRole, QuoteStyle};
use crate::span::ByteSpan;

/// One change to a translation: replace `span` (insert when empty) by `text`.
#[derive(Debug, Clone)]
struct Edit {
    span: ByteSpan,
    /// Among edits at the same place: the source order.
    order: usize,
    text: String,
}

/// Runs of letters and digits: the words markup is placed around.
pub(crate) fn words(text: &str) -> Vec<ByteSpan> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(ByteSpan::new(s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(ByteSpan::new(s, text.len()));
    }
    out
}

/// Where each glossary term of a rendered segment went: its index in `SegmentPlan::terms` and
/// its English's span in the rendered text.
pub(crate) type TermSpans = Vec<(usize, ByteSpan)>;

/// Rebuilds one segment from its translation. Returns the text, the flags, where the
/// translation's bytes went in the text, and where the glossary terms went.
///
/// The phases each add edits to one shared list, in the order below; `apply` then writes the
/// text. The order matters beyond the flags' order: edits at the same place are sorted stably,
/// and glossary terms find their English by an edit's index.
pub(crate) fn render(
    plan: &SegmentPlan,
    target: &str,
    alignment: Option<&WordAlignment>,
    style: QuoteStyle,
) -> (String, Vec<TranslationFlag>, Placement, TermSpans) {
    let mut rebuild = Rebuild::new(plan, target);
    let (term_edits, wrapped) = rebuild.place_terms();
    let lost_tags = rebuild.place_protected();
    rebuild.place_markup(&wrapped, alignment);
    rebuild.place_unpaired_markup();
    // Where the markup went, as it stands now: the tag slots the next two phases keep to.
    let slots = TagSlots::new(plan, &rebuild.edits);
    rebuild.restore_tag_order(&slots, lost_tags);
    rebuild.place_breaks(&slots);
    rebuild.place_quotes(alignment, style);
    rebuild.restore_escapes(style);
    rebuild.escape_model_text();
    rebuild.finish(&term_edits)
}

/// What `render`'s phases share: the segment, the model's text, and the growing list of edits,
/// flags and spans no later phase may write into.
struct Rebuild<'a> {
    plan: &'a SegmentPlan,
    target: &'a str,
    /// The translation equals the model input (the identity engine): every atom goes back
    /// exactly where it was.
    exact: bool,
    flags: Vec<TranslationFlag>,
    edits: Vec<Edit>,
    /// Where placeholders stood in the translation: no line break, quotation mark or escape
    /// goes inside.
    protected_spans: Vec<ByteSpan>,
}

/// Where the markup edits put each markup atom: the slots a tag-holding atom (`<br>`, an
/// image, a comment) must keep to so that the tags come out in source order.
struct TagSlots {
    /// (atom index, position in the translation) of every markup edit.
    markup_at: Vec<(usize, usize)>,
}

impl TagSlots {
    fn new(plan: &SegmentPlan, edits: &[Edit]) -> TagSlots {
        let markup_at = edits
            .iter()
            .filter(|e| e.span.is_empty() && e.order >= 1)
            .filter(|e| {
                plan.atoms
                    .get(e.order - 1)
                    .is_some_and(|a| matches!(a.kind, AtomKind::Open | AtomKind::Close))
            })
            .map(|e| (e.order - 1, e.span.start))
            .collect();
        TagSlots { markup_at }
    }

    /// Does atom `i` at `start..end` stay after the markup before it and before the markup after it?
    fn fits(&self, i: usize, start: usize, end: usize) -> bool {
        self.markup_at
            .iter()
            .all(|&(j, at)| if j < i { at <= start } else { at >= end })
    }

    /// Where atom `i` goes when it does not fit: right after the markup that precedes it.
    fn slot(&self, i: usize) -> usize {
        self.markup_at
            .iter()
            .filter(|&&(j, _)| j < i)
            .map(|&(_, at)| at)
            .max()
            .unwrap_or(0)
    }
}

impl<'a> Rebuild<'a> {
    fn new(plan: &'a SegmentPlan, target: &'a str) -> Rebuild<'a> {
        Rebuild {
            plan,
            target,
            exact: target == plan.input,
            flags: Vec::new(),
            edits: Vec::new(),
            protected_spans: Vec::new(),
        }
    }

    fn source_text(&self, i: usize) -> &'a str {
        atom_text(self.plan, i)
    }

    /// Glossary terms: their English in place of their placeholders (see `place_terms`).
    fn place_terms(&mut self) -> (Vec<TermEdit>, Vec<usize>) {
        place_terms(
            self.plan,
            self.target,
            self.exact,
            &mut self.edits,
            &mut self.protected_spans,
            &mut self.flags,
        )
    }

    /// Protected tokens: each placeholder the model kept becomes its token again; one it
    /// mangled, dropped or repeated is removed and the token appended before the final
    /// punctuation. Returns the HTML tokens holding tags the model lost: they are put back
    /// among the inline tags by `restore_tag_order`.
    fn place_protected(&mut self) -> Vec<usize> {
        let plan = self.plan;
        let target = self.target;
        let mut appended: Vec<String> = Vec::new();
        let mut lost_tags: Vec<usize> = Vec::new();
        for (atom, placeholder) in &plan.placeholders {
            if plan.terms.iter().any(|t| t.atom == *atom) {
                continue;
            }
            let found = if self.exact {
                vec![plan.ranges[*atom]]
            } else {
                find_placeholder(target, placeholder, plan.placeholders.len())
            };
            if found.len() == 1 {
                self.protected_spans.push(found[0]);
                self.edits.push(Edit {
                    span: found[0],
                    order: *atom,
                    text: self.source_text(*atom).to_owned(),
                });
            } else {
                for span in found {
                    self.protected_spans.push(span);
                    self.edits.push(Edit {
                        span,
                        order: *atom,
                        text: String::new(),
                    });
                }
                if holds_tags(plan, *atom) {
                    lost_tags.push(*atom);
                } else {
                    appended.push(self.source_text(*atom).to_owned());
                }
            }
        }
        if !appended.is_empty() || !lost_tags.is_empty() {
            self.flags.push(TranslationFlag::PassthroughAppended);
        }
        if !appended.is_empty() {
            let body = target.trim_end();
            let end = body.trim_end_matches(['.', '!', '?', '…', '"', '“', '”', '’', '»', '«']);
            self.edits.push(Edit {
                span: ByteSpan::new(end.len(), end.len()),
                order: usize::MAX - 1,
                text: format!(" {}", appended.join(" ")),
            });
        }
        lost_tags
    }

    /// Inline markup (not what went with an appended glossary term, `wrapped`): around the
    /// aligned words, else a guess flagged `markup-unaligned`.
    fn place_markup(&mut self, wrapped: &[usize], alignment: Option<&WordAlignment>) {
        let plan = self.plan;
        let target = self.target;
        let pairs: Vec<(usize, usize)> = plan
            .atoms
            .iter()
            .enumerate()
            .filter(|(i, a)| a.kind == AtomKind::Open && !wrapped.contains(i))
            .filter_map(|(i, a)| a.partner.map(|c| (i, c)))
            .collect();
        if pairs.is_empty() {
            return;
        }
        let sources: Vec<(usize, usize)> = pairs
            .iter()
            .map(|&(o, c)| (plan.ranges[o].start, plan.ranges[c].start))
            .collect();
        let placed = if self.exact {
            Some(sources.clone())
        } else {
            alignment.and_then(|a| aligned_ranges(&plan.input, &sources, a, target))
        };
        // Where tags keep their order (HTML), siblings may not swap.
        let placed = placed.filter(|p| !plan.syntax.tags_keep_order() || in_order(&pairs, p));
        let placed = match placed {
            Some(placed) => placed,
            None => {
                self.flags.push(TranslationFlag::MarkupUnaligned);
                self.guess_markup(&pairs, &sources)
            }
        };
        for (&(o, c), (start, end)) in pairs.iter().zip(placed) {
            self.edits.push(Edit {
                span: ByteSpan::new(start, start),
                order: o + 1,
                text: self.source_text(o).to_owned(),
            });
            self.edits.push(Edit {
                span: ByteSpan::new(end, end),
                order: c + 1,
                text: self.source_text(c).to_owned(),
            });
        }
    }

    /// Markup the alignment could not place: around the whole translation where that nests
    /// properly, else at the proportional word positions (in source order where tags keep their
    /// order).
    fn guess_markup(
        &self,
        pairs: &[(usize, usize)],
        sources: &[(usize, usize)],
    ) -> Vec<(usize, usize)> {
        let plan = self.plan;
        let target = self.target;
        let kinds: Vec<String> = pairs
            .iter()
            .map(|&(o, _)| plan.syntax.markup_kind(atom_text(plan, o)))
            .collect();
        // A link around the whole sentence would swallow a protected token (an
        // autolink, an image): links do not nest.
        let allow_whole =
            plan.placeholders.is_empty() || !kinds.iter().any(|k| plan.syntax.is_link(k));
        let guessed = guessed_ranges(&plan.input, sources, &kinds, target, allow_whole);
        if plan.syntax.tags_keep_order() && !in_order(pairs, &guessed) {
            monotone_ranges(plan, pairs, target)
        } else {
            guessed
        }
    }

    /// Markup without its other half (the carving never leaves any; kept to never drop bytes).
    fn place_unpaired_markup(&mut self) {
        for (i, atom) in self.plan.atoms.iter().enumerate() {
            if matches!(atom.kind, AtomKind::Open | AtomKind::Close) && atom.partner.is_none() {
                let at = if atom.kind == AtomKind::Open {
                    0
                } else {
                    self.target.len()
                };
                self.edits.push(Edit {
                    span: ByteSpan::new(at, at),
                    order: i + 1,
                    text: self.source_text(i).to_owned(),
                });
            }
        }
    }

    /// Where tags keep their order: a tag (an HTML `<br>`, an image, a comment) the translation
    /// moved across an inline tag (or lost) goes back where the order of the tags says.
    fn restore_tag_order(&mut self, slots: &TagSlots, lost_tags: Vec<usize>) {
        let plan = self.plan;
        let mut moved: Vec<Edit> = Vec::new();
        let guessed = plan.syntax.tags_keep_order() && !self.exact;
        for edit in self.edits.iter_mut().filter(|_| guessed) {
            let i = edit.order;
            let placeholder = plan.placeholders.iter().any(|(a, _)| *a == i);
            if placeholder
                && !edit.span.is_empty()
                && !edit.text.is_empty()
                && holds_tags(plan, i)
                && !slots.fits(i, edit.span.start, edit.span.end)
            {
                let at = slots.slot(i);
                moved.push(Edit {
                    span: ByteSpan::new(at, at),
                    order: i + 1,
                    text: std::mem::take(&mut edit.text),
                });
            }
        }
        for i in lost_tags {
            let at = slots.slot(i);
            moved.push(Edit {
                span: ByteSpan::new(at, at),
                order: i + 1,
                text: self.source_text(i).to_owned(),
            });
        }
        self.edits.extend(moved);
    }

    /// Line breaks inside the sentence: each replaces the space nearest its proportional
    /// position that may take it.
    fn place_breaks(&mut self, slots: &TagSlots) {
        let plan = self.plan;
        let mut last_break = 0;
        for (i, atom) in plan.atoms.iter().enumerate() {
            if atom.kind != AtomKind::Break {
                continue;
            }
            let tag_break = holds_tags(plan, i);
            let chosen = if self.exact {
                Some(plan.ranges[i].start)
            } else {
                self.break_space(i, last_break, tag_break, slots)
            };
            if let Some(p) = chosen {
                last_break = p + 1;
                self.edits.push(Edit {
                    span: ByteSpan::new(p, p + 1),
                    order: i + 1,
                    text: self.source_text(i).to_owned(),
                });
            } else if tag_break {
                // No space between the right tags: the `<br>` is inserted there.
                let at = slots.slot(i);
                self.edits.push(Edit {
                    span: ByteSpan::new(at, at),
                    order: i + 1,
                    text: self.source_text(i).to_owned(),
                });
            }
        }
    }

    /// The space of the translation that break atom `i` replaces, if any may: after the
    /// previous break, outside placeholders, between the right tags, not starting a block.
    fn break_space(
        &self,
        i: usize,
        last_break: usize,
        tag_break: bool,
        slots: &TagSlots,
    ) -> Option<usize> {
        let plan = self.plan;
        let target = self.target;
        let ideal = plan.ranges[i].start * target.len() / plan.input.len().max(1);
        target
            .char_indices()
            .filter(|&(p, c)| c == ' ' && p >= last_break)
            .map(|(p, _)| p)
            .filter(|&p| {
                !self
                    .protected_spans
                    .iter()
                    .any(|s| s.start <= p && p < s.end)
            })
            // Never where the syntax forbids it (in Markdown before what would open a block) —
            // unless the source line started with the same word, where it evidently did not.
            // (Not when markup stood between the break and that word: the line started with
            // the markup.)
            .filter(|&p| {
                let after = &target[p + 1..];
                let break_end = plan.ranges[i].end;
                let source_after = plan.input.get(break_end..).unwrap_or("");
                let markup_first = plan.atoms.iter().zip(&plan.ranges).any(|(a, r)| {
                    matches!(a.kind, AtomKind::Open | AtomKind::Close) && r.start == break_end
                });
                let first_word = |t: &str| t.split_whitespace().next().map(str::to_lowercase);
                let same_start = !markup_first && first_word(after) == first_word(source_after);
                plan.syntax.may_break_before(after) || same_start
            })
            .filter(|&p| !tag_break || slots.fits(i, p, p + 1))
            // Never an empty line: in Markdown it would end the paragraph.
            .filter(|&p| {
                !target[last_break..p].trim().is_empty() && !target[p + 1..].trim().is_empty()
            })
            .min_by_key(|&p| p.abs_diff(ideal))
    }

    /// Quotation marks inside the sentence: paired and typeset, missing ones added
    /// (`quote-repaired`), a changed number of quotations flagged `quote-mismatch`.
    fn place_quotes(&mut self, alignment: Option<&WordAlignment>, style: QuoteStyle) {
        let plan = self.plan;
        let source_pairs: Vec<(String, String)> = plan
            .atoms
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a.kind, AtomKind::Quote(_, QuoteRole::Open)))
            .filter_map(|(i, a)| {
                a.partner.map(|c| {
                    (
                        self.source_text(i).to_owned(),
                        self.source_text(c).to_owned(),
                    )
                })
            })
            .collect();
        let fix = if self.exact {
            // The marks are where they were: typeset them as the whole block's pairing says.
            let mut fix = quotes::QuoteFix::default();
            for (i, atom) in plan.atoms.iter().enumerate() {
                if let AtomKind::Quote(kind, role) = atom.kind
                    && style == QuoteStyle::English
                {
                    fix.edits
                        .push((plan.ranges[i], quotes::english(kind, role).to_owned()));
                }
            }
            fix
        } else {
            quotes::fix_translation(self.target, &source_pairs, style, &self.protected_spans)
        };
        let mut fix = fix;
        if fix.mismatch && fix.edits.is_empty() && quotes::find_quotes(self.target).is_empty() {
            self.restore_dropped_quotes(&mut fix, &source_pairs, alignment, style);
        }
        if fix.repaired {
            self.flags.push(TranslationFlag::QuoteRepaired);
        }
        if fix.mismatch {
            self.flags.push(TranslationFlag::QuoteMismatch);
        }
        for (span, text) in fix.edits {
            // An added opening mark goes outside markup that starts at the same place, an added
            // closing mark outside markup that ends there.
            let opening = text.starts_with(['“', '‘', '„', '‚', '»', '«', '›', '‹']);
            let order = if !span.is_empty() || opening {
                0
            } else {
                usize::MAX
            };
            self.edits.push(Edit { span, order, text });
        }
    }

    /// The model dropped every quotation mark: put the source's quotations back around the
    /// translated words, as markup is.
    fn restore_dropped_quotes(
        &self,
        fix: &mut quotes::QuoteFix,
        source_pairs: &[(String, String)],
        alignment: Option<&WordAlignment>,
        style: QuoteStyle,
    ) {
        let plan = self.plan;
        let target = self.target;
        let inner: Vec<(usize, usize, usize)> = plan
            .atoms
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a.kind, AtomKind::Quote(_, QuoteRole::Open)))
            .filter_map(|(i, a)| a.partner.map(|c| (i, c)))
            .map(|(o, c)| (o, plan.ranges[o].end, plan.ranges[c].start))
            .collect();
        let sources: Vec<(usize, usize)> = inner.iter().map(|&(_, a, b)| (a, b)).collect();
        let kinds = vec!["quote".to_owned(); sources.len()];
        let placed = alignment
            .and_then(|a| aligned_ranges(&plan.input, &sources, a, target))
            .unwrap_or_else(|| guessed_ranges(&plan.input, &sources, &kinds, target, false));
        for ((o, _, _), (start, end)) in inner.iter().zip(placed) {
            let (open, close) = match (plan.atoms[*o].kind, style) {
                (AtomKind::Quote(kind, _), QuoteStyle::English) => (
                    quotes::english(kind, QuoteRole::Open).to_owned(),
                    quotes::english(kind, QuoteRole::Close).to_owned(),
                ),
                _ => source_pairs
                    .iter()
                    .find(|(open, _)| open == atom_text(plan, *o))
                    .cloned()
                    .unwrap_or_else(|| ("“".to_owned(), "”".to_owned())),
            };
            fix.edits.push((ByteSpan::new(start, start), open));
            fix.edits.push((ByteSpan::new(end, end), close));
        }
        fix.repaired = !inner.is_empty();
        fix.mismatch = false;
    }

    /// Escaped characters (character references) the translation kept come back as written.
    fn restore_escapes(&mut self, style: QuoteStyle) {
        let plan = self.plan;
        for (i, atom) in plan.atoms.iter().enumerate().filter(|_| self.exact) {
            let typeset = matches!(atom.kind, AtomKind::Quote(..)) && style == QuoteStyle::English;
            if atom.decoded.is_some() && !typeset {
                self.edits.push(Edit {
                    span: plan.ranges[i],
                    order: 0,
                    text: self.source_text(i).to_owned(),
                });
            }
        }
    }

    /// Characters a translation may not bring into the output.
    fn escape_model_text(&mut self) {
        let target = self.target;
        for (p, c) in target.char_indices().filter(|_| !self.exact) {
            let inside = self
                .protected_spans
                .iter()
                .any(|s| s.start <= p && p < s.end);
            let Some(replacement) = self.escaped(p, c) else {
                continue;
            };
            if !inside
                && self
                    .edits
                    .iter()
                    .all(|e| e.span.is_empty() || e.span.start != p)
            {
                self.edits.push(Edit {
                    span: ByteSpan::new(p, p + c.len_utf8()),
                    order: 0,
                    text: replacement.to_owned(),
                });
            }
        }
    }

    /// What the model's character `c` at `p` must be written as, if not as itself: never a
    /// line break (the source's come back as they were), else as the block's syntax says.
    fn escaped(&self, p: usize, c: char) -> Option<&'static str> {
        match c {
            '\n' | '\r' => Some(" "),
            _ => self
                .plan
                .syntax
                .escape(self.target, p, c, &self.protected_spans),
        }
    }

    /// Tag order (where tags keep it), then the edits applied; a translation that would change
    /// its block's kind is escaped, and the glossary terms' spans follow the text.
    fn finish(
        mut self,
        term_edits: &[TermEdit],
    ) -> (String, Vec<TranslationFlag>, Placement, TermSpans) {
        let plan = self.plan;
        if plan.syntax.tags_keep_order() && !self.exact {
            repair_tag_order(plan, &mut self.edits);
        }
        let (mut text, mut placement, landed) = apply(self.target, self.edits);
        let mut terms = term_spans(term_edits, &landed);
        if plan.block_start
            && !self.exact
            && let Some(at) = plan.syntax.escape_block_start(&mut text)
        {
            placement.inserted(at, 1);
            for (_, span) in &mut terms {
                if span.start >= at {
                    span.start += 1;
                }
                if span.end > at {
                    span.end += 1;
                }
            }
        }
        (text, self.flags, placement, terms)
    }
}

/// `--input-format lines` with glossary terms: the model's text as it is, the terms' English in
/// place of their placeholders (nothing else of `render` applies to a raw line).
pub(crate) fn render_terms(
    plan: &SegmentPlan,
    target: &str,
) -> (String, Vec<TranslationFlag>, TermSpans) {
    let mut edits = Vec::new();
    let mut flags = Vec::new();
    let exact = target == plan.input;
    let (term_edits, _) = place_terms(plan, target, exact, &mut edits, &mut Vec::new(), &mut flags);
    let (text, _, landed) = apply(target, edits);
    (text, flags, term_spans(&term_edits, &landed))
}

/// A term edit: the term's index in `SegmentPlan::terms`, the edit's index, and how many bytes
/// of the edit's text come before and after the English (the space before an appended term,
/// the markup around it).
type TermEdit = (usize, usize, usize, usize);

/// The edits that put each glossary term's English in place of its placeholder. A placeholder
/// the model dropped is appended before the final punctuation, one it repeated is kept once
/// (the first); both flag the segment `glossary-missed`, so the English is there exactly once
/// per occurrence of the German whatever the model did. An appended term takes the markup
/// that held only it (`**Bundeskanzler**`, a link text) along; those markup atoms (their
/// opening ones) are returned, they are not placed again.
fn place_terms(
    plan: &SegmentPlan,
    target: &str,
    exact: bool,
    edits: &mut Vec<Edit>,
    protected_spans: &mut Vec<ByteSpan>,
    flags: &mut Vec<TranslationFlag>,
) -> (Vec<TermEdit>, Vec<usize>) {
    let mut placed = Vec::with_capacity(plan.terms.len());
    let mut missed = Vec::new();
    for (t, term) in plan.terms.iter().enumerate() {
        let Some((_, placeholder)) = plan.placeholders.iter().find(|(a, _)| *a == term.atom) else {
            continue;
        };
        let found = if exact {
            vec![plan.ranges[term.atom]]
        } else {
            find_placeholder(target, placeholder, plan.placeholders.len())
        };
        let Some((first, repeats)) = found.split_first() else {
            missed.push(t);
            continue;
        };
        protected_spans.extend(found.iter().copied());
        placed.push((t, edits.len(), 0, 0));
        edits.push(Edit {
            span: *first,
            order: term.atom,
            text: term_text(plan, term, &target[..first.start]),
        });
        for span in repeats {
            edits.push(Edit {
                span: *span,
                order: term.atom,
                text: String::new(),
            });
        }
        if !repeats.is_empty() {
            missed.push(usize::MAX);
        }
    }
    if !missed.is_empty() {
        flags.push(TranslationFlag::GlossaryMissed);
    }
    let body = target.trim_end();
    let end = body
        .trim_end_matches(['.', '!', '?', '…', '"', '“', '”', '’', '»', '«'])
        .len();
    let mut wrapped = Vec::new();
    for t in missed.into_iter().filter(|&t| t != usize::MAX) {
        let term = &plan.terms[t];
        let alone = target[..end].trim().is_empty();
        let space = if alone { "" } else { " " };
        let (open, close) = match wrapping_markup(plan, term.atom) {
            Some((o, c)) => {
                wrapped.extend((o..c).filter(|&i| plan.atoms[i].kind == AtomKind::Open));
                let text = |range: std::ops::Range<usize>| -> String {
                    range.map(|i| atom_text(plan, i)).collect()
                };
                (text(o..term.atom), text(term.atom + 1..c + 1))
            }
            None => (String::new(), String::new()),
        };
        placed.push((t, edits.len(), space.len() + open.len(), close.len()));
        edits.push(Edit {
            span: ByteSpan::new(end, end),
            order: usize::MAX - 1,
            text: format!(
                "{space}{open}{}{close}",
                term_text(plan, term, &target[..end])
            ),
        });
    }
    (placed, wrapped)
}

/// The outermost markup pair around term atom `k` that holds nothing but the term and markup
/// paired inside it: `(open, close)` atom indices.
fn wrapping_markup(plan: &SegmentPlan, k: usize) -> Option<(usize, usize)> {
    let atoms = &plan.atoms;
    (0..k)
        .filter(|&o| atoms[o].kind == AtomKind::Open)
        .filter_map(|o| atoms[o].partner.map(|c| (o, c)))
        .find(|&(o, c)| {
            c > k
                && (o..=c).all(|i| {
                    i == k
                        || matches!(atoms[i].kind, AtomKind::Open | AtomKind::Close)
                            && atoms[i].partner.is_some_and(|p| o <= p && p <= c)
                })
        })
}

/// A term's English as written after `before`: its first letter capitalised where it starts a
/// sentence (a keep-as-is term stays as the source has it), escaped as the syntax needs.
fn term_text(plan: &SegmentPlan, term: &PlannedTerm, before: &str) -> String {
    let opening = before.trim_end_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '“' | '‘' | '„' | '‚' | '»' | '«' | '(' | '[' | '*' | '_'
            )
    });
    let starts_sentence = opening.is_empty() || opening.ends_with(['.', '!', '?', '…']);
    let text = if starts_sentence && !term.keep {
        crate::glossary::capitalise_first(&term.english)
    } else {
        term.english.clone()
    };
    if term.keep {
        // The source's own bytes (already escaped where the format needs it).
        return text;
    }
    text.chars()
        .map(|c| match plan.syntax.escape_char(c) {
            Some(escaped) => escaped.to_owned(),
            None => c.to_string(),
        })
        .collect()
}

/// Where the term edits' texts landed, without the space and markup around an appended term.
fn term_spans(term_edits: &[TermEdit], landed: &[Option<ByteSpan>]) -> TermSpans {
    term_edits
        .iter()
        .filter_map(|&(t, edit, lead, trail)| {
            let span = landed.get(edit).copied().flatten()?;
            let end = span.end.saturating_sub(trail);
            Some((t, ByteSpan::new((span.start + lead).min(end), end)))
        })
        .collect()
}

/// An atom that holds a tag (an HTML `<br>`, `<img>`, a comment): it keeps its place among the
/// inline tags.
fn holds_tags(plan: &SegmentPlan, i: usize) -> bool {
    plan.syntax.holds_tag(atom_text(plan, i))
}

/// Makes every atom that holds a tag (inline markup, an HTML `<br>`, images, comments) come out
/// in source order. Markup is already in order; a `<br>` or token that is not is put back right
/// after the tags that precede it in the source (its placeholder removed, its space restored).
fn repair_tag_order(plan: &SegmentPlan, edits: &mut Vec<Edit>) {
    // The atom whose tags an edit writes, if any.
    let tag_atom = |e: &Edit| -> Option<usize> {
        if e.text.is_empty() {
            return None;
        }
        let protected = plan
            .atoms
            .get(e.order)
            .is_some_and(|a| a.kind == AtomKind::Protected);
        if protected
            && !e.span.is_empty()
            && holds_tags(plan, e.order)
            && e.text == atom_text(plan, e.order)
        {
            return Some(e.order);
        }
        let i = e.order.checked_sub(1)?;
        let atom = plan.atoms.get(i)?;
        let markup = matches!(atom.kind, AtomKind::Open | AtomKind::Close) && e.span.is_empty();
        let written = e.text == atom_text(plan, i);
        (markup || written && holds_tags(plan, i)).then_some(i)
    };
    let mut sequence: Vec<(usize, bool, usize, usize)> = edits
        .iter()
        .filter_map(|e| tag_atom(e).map(|i| (e.span.start, !e.span.is_empty(), e.order, i)))
        .collect();
    sequence.sort();
    if sequence.windows(2).all(|w| w[0].3 < w[1].3) {
        return;
    }
    let is_markup = |i: usize| matches!(plan.atoms[i].kind, AtomKind::Open | AtomKind::Close);
    let mut placed: Vec<(usize, usize)> = edits
        .iter()
        .filter_map(|e| {
            tag_atom(e)
                .filter(|&i| is_markup(i))
                .map(|i| (i, e.span.start))
        })
        .collect();
    let mut others: Vec<usize> = Vec::new();
    for edit in edits.iter_mut() {
        let Some(i) = tag_atom(edit).filter(|&i| !is_markup(i)) else {
            continue;
        };
        others.push(i);
        // A `<br>` replaced a space: the space comes back; a token's placeholder goes.
        edit.text = if plan.atoms[i].kind == AtomKind::Break && !edit.span.is_empty() {
            " ".to_owned()
        } else {
            String::new()
        };
    }
    others.sort();
    others.dedup();
    for i in others {
        let at = placed
            .iter()
            .filter(|&&(j, _)| j < i)
            .map(|&(_, at)| at)
            .max()
            .unwrap_or(0);
        placed.push((i, at));
        edits.push(Edit {
            span: ByteSpan::new(at, at),
            order: i + 1,
            text: atom_text(plan, i).to_owned(),
        });
    }
}

/// Do the placed markup pairs come out in the source's order (as `apply` sorts them)?
fn in_order(pairs: &[(usize, usize)], placed: &[(usize, usize)]) -> bool {
    let mut marks: Vec<(usize, usize)> = pairs
        .iter()
        .zip(placed)
        .flat_map(|(&(o, c), &(start, end))| [(start, o), (end, c)])
        .collect();
    marks.sort();
    marks.windows(2).all(|w| w[0].1 < w[1].1)
}

/// Markup at the word boundaries nearest its proportional position, never before the markup
/// that precedes it in the source: the order always holds (an element may end up empty).
fn monotone_ranges(
    plan: &SegmentPlan,
    pairs: &[(usize, usize)],
    target: &str,
) -> Vec<(usize, usize)> {
    let mut bounds: Vec<usize> = words(target)
        .iter()
        .flat_map(|w| [w.start, w.end])
        .chain([0, target.len()])
        .collect();
    bounds.sort();
    let mut marks: Vec<usize> = pairs.iter().flat_map(|&(o, c)| [o, c]).collect();
    marks.sort();
    let mut position = vec![0; plan.atoms.len()];
    let mut previous = 0;
    for atom in marks {
        let ideal = plan.ranges[atom].start * target.len() / plan.input.len().max(1);
        let nearest = bounds
            .iter()
            .copied()
            .min_by_key(|b| b.abs_diff(ideal))
            .unwrap_or(0);
        previous = nearest.max(previous);
        position[atom] = previous;
    }
    pairs
        .iter()
        .map(|&(o, c)| (position[o], position[c]))
        .collect()
}

/// The source bytes of atom `i`; atoms always have them, the empty fallback keeps rendering total.
fn atom_text(plan: &SegmentPlan, i: usize) -> &str {
    plan.atom_texts.get(i).map_or("", String::as_str)
}

/// Applies edits; inserts come before a replacement at the same place, in source order. Returns
/// the text, where the translation's bytes went in it, and where each edit's text went (by the
/// edit's index in `edits`; `None` for one that was dropped).
fn apply(target: &str, edits: Vec<Edit>) -> (String, Placement, Vec<Option<ByteSpan>>) {
    let mut landed = vec![None; edits.len()];
    let mut edits: Vec<(usize, Edit)> = edits.into_iter().enumerate().collect();
    edits.sort_by_key(|(_, e)| (e.span.start, !e.span.is_empty(), e.order));
    let mut out = String::with_capacity(target.len() + 32);
    let mut placement = Placement::default();
    let mut cursor = 0;
    for (index, edit) in edits {
        let on_boundaries =
            target.is_char_boundary(edit.span.start) && target.is_char_boundary(edit.span.end);
        if edit.span.start < cursor || edit.span.end > target.len() || !on_boundaries {
            // Overlaps an earlier replacement: its position is taken; keep the text anyway.
            if !edit.text.trim().is_empty() && edit.span.is_empty() {
                landed[index] = Some(ByteSpan::new(out.len(), out.len() + edit.text.len()));
                out.push_str(&edit.text);
            }
            continue;
        }
        placement.copied(ByteSpan::new(cursor, edit.span.start), out.len());
        out.push_str(&target[cursor..edit.span.start]);
        let trailing_backslashes = out.len() - out.trim_end_matches('\\').len();
        if edit.span.is_empty() && trailing_backslashes % 2 == 1 {
            // The translation escapes the next character: inserted markup must not be escaped
            // instead, so it goes before the backslash.
            out.pop();
            placement.moved_last_byte(out.len() + edit.text.len());
            landed[index] = Some(ByteSpan::new(out.len(), out.len() + edit.text.len()));
            out.push_str(&edit.text);
            out.push('\\');
        } else {
            let start = out.len();
            out.push_str(&edit.text);
            landed[index] = Some(ByteSpan::new(start, out.len()));
            if !edit.span.is_empty() {
                placement.replaced(edit.span, ByteSpan::new(start, out.len()));
            }
        }
        cursor = edit.span.end;
    }
    placement.copied(ByteSpan::new(cursor, target.len()), out.len());
    out.push_str(&target[cursor..]);
    (out, placement, landed)
}

/// Where the engine's translation went in a rendered segment: which runs of it were copied
/// unchanged and which were replaced (placeholders, escaped characters), and where each landed.
/// Word alignment is carried through it to the text the user sees.
#[derive(Debug, Clone, Default)]
pub(crate) struct Placement {
    /// (span in the translation, span in the rendered text, copied byte for byte), in order.
    runs: Vec<(ByteSpan, ByteSpan, bool)>,
}

impl Placement {
    fn copied(&mut self, from: ByteSpan, at: usize) {
        if !from.is_empty() {
            self.runs
                .push((from, ByteSpan::new(at, at + from.len()), true));
        }
    }

    fn replaced(&mut self, from: ByteSpan, to: ByteSpan) {
        self.runs.push((from, to, false));
    }

    /// The last byte copied (a backslash) was moved to `at` (behind inserted markup).
    fn moved_last_byte(&mut self, at: usize) {
        if let Some((from, to, true)) = self.runs.last_mut() {
            from.end -= 1;
            to.end -= 1;
            let byte = ByteSpan::new(from.end, from.end + 1);
            if from.is_empty() {
                self.runs.pop();
            }
            self.runs.push((byte, ByteSpan::new(at, at + 1), true));
        }
    }

    /// `len` bytes were inserted into the rendered text at `at`.
    fn inserted(&mut self, at: usize, len: usize) {
        let mut runs = Vec::with_capacity(self.runs.len() + 1);
        for &(from, to, copied) in &self.runs {
            if to.start >= at {
                let to = ByteSpan::new(to.start + len, to.end + len);
                runs.push((from, to, copied));
            } else if to.end > at && copied {
                let head = at - to.start;
                runs.push((
                    ByteSpan::new(from.start, from.start + head),
                    ByteSpan::new(to.start, at),
                    true,
                ));
                runs.push((
                    ByteSpan::new(from.start + head, from.end),
                    ByteSpan::new(at + len, to.end + len),
                    true,
                ));
            } else if to.end > at {
                runs.push((from, ByteSpan::new(to.start, to.end + len), false));
            } else {
                runs.push((from, to, copied));
            }
        }
        self.runs = runs;
    }

    /// Where a span of the translation is in the rendered text; `None` where it was dropped.
    fn map(&self, span: ByteSpan) -> Option<ByteSpan> {
        let start = self
            .runs
            .iter()
            .find(|(from, _, _)| from.start <= span.start && span.start < from.end)
            .map(|&(from, to, copied)| {
                if copied {
                    to.start + (span.start - from.start)
                } else {
                    to.start
                }
            })?;
        let end = self
            .runs
            .iter()
            .find(|(from, _, _)| from.start < span.end && span.end <= from.end)
            .map(|&(from, to, copied)| {
                if copied {
                    to.start + (span.end - from.start)
                } else {
                    to.end
                }
            })?;
        (start < end).then_some(ByteSpan::new(start, end))
    }
}

/// The engine's word alignment carried to what the user sees: each pair as a span of the
/// segment's source text and one of its rendered translation, both relative to the segment's
/// start. `alignment` is in the coordinates of the model input (`plan.input`) and of the joined
/// translation that `placement` maps; `source` is the segment's source text. Pairs whose words
/// were dropped are left out.
pub(crate) fn segment_alignment(
    plan: &SegmentPlan,
    alignment: &WordAlignment,
    placement: &Placement,
    source: &str,
    rendered: &str,
) -> Vec<(ByteSpan, ByteSpan)> {
    let source_position = |position: usize, end: bool| -> Option<usize> {
        plan.atoms
            .iter()
            .zip(&plan.ranges)
            .find_map(|(atom, range)| {
                let inside = if end {
                    range.start < position && position <= range.end
                } else {
                    range.start <= position && position < range.end
                };
                if !inside {
                    return None;
                }
                let at = match atom.kind {
                    // The model saw these bytes as they are in the source (not so an HTML
                    // character reference, decoded for the model: it is taken whole below).
                    AtomKind::Text | AtomKind::Quote(..) if atom.decoded.is_none() => {
                        atom.span.start + (position - range.start)
                    }
                    // A placeholder, the space standing for a line break, a decoded reference:
                    // the whole atom.
                    _ if end => atom.span.end,
                    _ => atom.span.start,
                };
                at.checked_sub(plan.span.start)
            })
    };
    let mut pairs = Vec::with_capacity(alignment.pairs.len());
    for (s, t) in &alignment.pairs {
        let (Some(start), Some(end)) = (
            source_position(s.start, false),
            source_position(s.end, true),
        ) else {
            continue;
        };
        let Some(target) = placement.map(*t) else {
            continue;
        };
        let on_boundaries = start < end
            && end <= source.len()
            && source.is_char_boundary(start)
            && source.is_char_boundary(end)
            && target.end <= rendered.len()
            && rendered.is_char_boundary(target.start)
            && rendered.is_char_boundary(target.end);
        if on_boundaries {
            pairs.push((ByteSpan::new(start, end), target));
        }
    }
    pairs
}

/// Where the model put a placeholder: exact, or with spaces inside ("ZX 1").
/// `count` placeholders exist (numbered from 1): "ZX11" is ZX1 before a digit when there are
/// fewer than 11 (a protected token glued to a number in the source, `code`1.).
fn find_placeholder(target: &str, placeholder: &str, count: usize) -> Vec<ByteSpan> {
    let split = placeholder
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(placeholder.len());
    let (letters, digits) = placeholder.split_at(split);
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = target[from..].find(letters) {
        let start = from + at;
        let mut end = start + letters.len();
        let after_letters = &target[end..];
        let spaces = after_letters.len() - after_letters.trim_start_matches(' ').len();
        let rest = &after_letters[spaces..];
        // The prefix never occurs in the source sentence, so any occurrence is a placeholder,
        // even glued to another one ("ZX1ZX2").
        if rest.starts_with(digits) {
            end += spaces + digits.len();
            let more_digits = target[end..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(target.len() - end);
            let longer: Option<usize> = (more_digits > 0)
                .then(|| {
                    format!("{digits}{}", &target[end..end + more_digits])
                        .parse()
                        .ok()
                })
                .flatten();
            if longer.is_none_or(|n| n > count) {
                found.push(ByteSpan::new(start, end));
            }
        }
        from = start + letters.len();
    }
    found
}

/// Markup placed by the engine's word alignment; `None` where it gives no consistent answer.
fn aligned_ranges(
    input: &str,
    sources: &[(usize, usize)],
    alignment: &WordAlignment,
    target: &str,
) -> Option<Vec<(usize, usize)>> {
    let mut targets = Vec::with_capacity(sources.len());
    for &(a, b) in sources {
        let mut range: Option<(usize, usize)> = None;
        for (s, t) in &alignment.pairs {
            if s.start < b && s.end > a && t.end <= target.len() && t.start < t.end {
                range = Some(match range {
                    Some((x, y)) => (x.min(t.start), y.max(t.end)),
                    None => (t.start, t.end),
                });
            }
        }
        let (x, y) = range?;
        let inner = target.get(x..y)?;
        // Aligned words may carry punctuation ("Bundestags."); markup around plain words stays
        // around plain words.
        let content = input.get(a..b).unwrap_or("");
        let lead = if content.starts_with(char::is_alphanumeric) {
            inner.find(char::is_alphanumeric).unwrap_or(0)
        } else {
            inner.len() - inner.trim_start().len()
        };
        let trail = if content.ends_with(char::is_alphanumeric) {
            inner
                .char_indices()
                .rev()
                .find(|(_, c)| c.is_alphanumeric())
                .map_or(inner.len(), |(i, c)| i + c.len_utf8())
        } else {
            inner.trim_end().len()
        };
        if lead >= trail {
            return None;
        }
        let (x, y) = (x + lead, x + trail);
        targets.push((x, y));
    }
    // Nesting in the source must be nesting in the translation, and apart must stay apart.
    for i in 0..sources.len() {
        for j in i + 1..sources.len() {
            let (si, sj, ti, tj) = (sources[i], sources[j], targets[i], targets[j]);
            let contains = |p: (usize, usize), q: (usize, usize)| p.0 <= q.0 && q.1 <= p.1;
            let ok = if contains(si, sj) {
                contains(ti, tj)
            } else if contains(sj, si) {
                contains(tj, ti)
            } else {
                ti.1 <= tj.0 || tj.1 <= ti.0
            };
            if !ok {
                return None;
            }
        }
    }
    Some(targets)
}

/// Markup placed without an alignment: around the whole translation when that nests (and
/// `allow_whole`), else at the proportional word positions (monotone, so nesting and order
/// survive).
fn guessed_ranges(
    input: &str,
    sources: &[(usize, usize)],
    kinds: &[String],
    target: &str,
    allow_whole: bool,
) -> Vec<(usize, usize)> {
    let target_words = words(target);
    let whole = (
        target_words.first().map_or(0, |w| w.start),
        target_words.last().map_or(target.len(), |w| w.end),
    );
    // Whole-sentence wrapping nests when each markup encloses the next and no two are alike.
    let mut sorted = sources.to_vec();
    sorted.sort_by_key(|&(a, b)| (a, std::cmp::Reverse(b)));
    let chain = sorted
        .windows(2)
        .all(|w| w[0].0 <= w[1].0 && w[1].1 <= w[0].1);
    let mut distinct = kinds.to_vec();
    distinct.sort();
    distinct.dedup();
    if allow_whole && chain && distinct.len() == kinds.len() {
        return vec![whole; sources.len()];
    }
    let source_words = words(input);
    let (n, m) = (source_words.len().max(1), target_words.len());
    if m == 0 {
        return vec![(0, target.len()); sources.len()];
    }
    let scale = |i: usize| ((i * m + n / 2) / n).min(m);
    sources
        .iter()
        .map(|&(a, b)| {
            let first = source_words.iter().filter(|w| w.start < a).count();
            let last = source_words.iter().filter(|w| w.end <= b).count();
            let i = scale(first).min(m - 1);
            let j = scale(last).max(i + 1).min(m);
            (target_words[i].start, target_words[j - 1].end)
        })
        .collect()
}

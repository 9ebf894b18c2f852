//! Sentences longer than the model accepts: split at the best clause boundary, joined back after.
//!
//! A Marian model has a fixed number of source positions, and the engine may have a token budget
//! below that (`Engine::max_source_tokens` reports the smaller). A longer sentence would be cut off
//! by the model, so it is split, recursively, where a clause ends — `;`, a dash, `:`, a comma before
//! a conjunction or relative pronoun, a comma, at worst a space near the middle — and the parts'
//! translations are joined with the source text between them. Nothing is ever truncated: a part
//! that cannot be split further is sent whole and the segment flagged `over-long`.

use super::{ByteSpan, SegmentPlan};
use crate::engine::{SourceLimit, Translation, WordAlignment};

/// Words after a comma that start a new clause.
const CLAUSE_STARTERS: &[&str] = &[
    "und", "oder", "aber", "denn", "sondern", "doch", "jedoch", "weil", "dass", "daß", "da",
    "wenn", "als", "ob", "während", "nachdem", "obwohl", "damit", "sodass", "bevor", "seit",
    "seitdem", "indem", "wobei", "wie", "wo", "der", "die", "das", "dem", "den", "deren", "dessen",
    "welche", "welcher", "welches", "so", "um", "ohne", "statt",
];

/// Parts of `input` to translate separately, and whether one is still too long.
pub(crate) fn split<L: SourceLimit + ?Sized>(input: &str, limit: &L) -> (Vec<ByteSpan>, bool) {
    let max = limit.max_source_tokens().max(2);
    let mut parts = Vec::new();
    let mut over_long = false;
    split_into(
        input,
        ByteSpan::new(0, input.len()),
        limit,
        max,
        &mut parts,
        &mut over_long,
        0,
    );
    (parts, over_long)
}

fn split_into<L: SourceLimit + ?Sized>(
    input: &str,
    span: ByteSpan,
    limit: &L,
    max: usize,
    parts: &mut Vec<ByteSpan>,
    over_long: &mut bool,
    depth: usize,
) {
    let text = &input[span.start..span.end];
    if limit.source_token_count(text) <= max {
        parts.push(span);
        return;
    }
    match best_boundary(text) {
        Some((left_end, right_start)) if depth < 64 => {
            let left = ByteSpan::new(span.start, span.start + left_end);
            let right = ByteSpan::new(span.start + right_start, span.end);
            split_into(input, left, limit, max, parts, over_long, depth + 1);
            split_into(input, right, limit, max, parts, over_long, depth + 1);
        }
        _ => {
            parts.push(span);
            *over_long = true;
        }
    }
}

/// The best place to split `text`: (end of the left part, start of the right part).
fn best_boundary(text: &str) -> Option<(usize, usize)> {
    // (tier, left end, right start); lower tiers are better clause boundaries.
    let mut candidates: Vec<(u8, usize, usize)> = Vec::new();
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        if !c.is_whitespace() {
            continue;
        }
        let before = text[..i].trim_end();
        let after_start = i + text[i..].len() - text[i..].trim_start().len();
        let after = &text[after_start..];
        if before.is_empty() || after.is_empty() || before.len() < i {
            // Only the first whitespace character of a run is a candidate.
            continue;
        }
        if after.starts_with(['–', '—']) || (after.starts_with("- ") && !before.ends_with('-'))
        {
            let dash = after.chars().next().map_or(1, char::len_utf8);
            let right = after_start + dash;
            let right = right + text[right..].len() - text[right..].trim_start().len();
            if right < text.len() {
                candidates.push((1, before.len(), right));
            }
            continue;
        }
        let tier = match bytes.get(i.wrapping_sub(1)) {
            Some(b';') => 0,
            Some(b':') => 2,
            Some(b',') => {
                let word: String = after
                    .chars()
                    .take_while(|c| c.is_alphabetic())
                    .collect::<String>()
                    .to_lowercase();
                if CLAUSE_STARTERS.contains(&word.as_str()) {
                    3
                } else {
                    4
                }
            }
            _ => 5,
        };
        candidates.push((tier, before.len(), after_start));
    }
    // A split inside a quotation would show the model half of it: only as a last resort.
    let quotes = crate::quotes::find_quotes(text);
    let inside_quotation = |at: usize| {
        quotes.iter().any(|m| {
            m.role == crate::quotes::QuoteRole::Open
                && m.span.end <= at
                && m.partner
                    .is_some_and(|p| quotes.get(p).is_some_and(|c| at < c.span.start))
        })
    };
    for candidate in &mut candidates {
        if inside_quotation(candidate.1) {
            candidate.0 += 6;
        }
    }
    let len = text.len();
    let balanced = |&&(_, left, right): &&(u8, usize, usize)| left.min(len - right) >= len / 6;
    let middle_distance = |&(_, left, _): &(u8, usize, usize)| left.abs_diff(len / 2);
    for tier in 0..=11 {
        let best = candidates
            .iter()
            .filter(|c| c.0 == tier)
            .filter(balanced)
            .min_by_key(|c| middle_distance(c));
        if let Some(&(_, left, right)) = best {
            return Some((left, right));
        }
    }
    candidates
        .iter()
        .min_by_key(|c| middle_distance(c))
        .map(|&(_, left, right)| (left, right))
}

/// Joins the parts' translations with the source text between the parts, and their alignments.
pub(crate) fn join(plan: &SegmentPlan, parts: &[Translation]) -> (String, Option<WordAlignment>) {
    if parts.len() == 1 && plan.pieces.len() == 1 {
        let part = &parts[0];
        let alignment = part.alignment.as_ref().map(|a| WordAlignment {
            pairs: a
                .pairs
                .iter()
                .map(|(s, t)| {
                    (
                        ByteSpan::new(s.start + plan.pieces[0].start, s.end + plan.pieces[0].start),
                        *t,
                    )
                })
                .collect(),
        });
        return (part.text.clone(), alignment);
    }
    let mut text = String::new();
    let mut pairs = Vec::new();
    let mut aligned = true;
    for (i, (piece, part)) in plan.pieces.iter().zip(parts).enumerate() {
        if i > 0 {
            let separator = &plan.input[plan.pieces[i - 1].end..piece.start];
            text.push_str(separator);
        }
        let source = &plan.input[piece.start..piece.end];
        let mut translated = part.text.trim().to_owned();
        // A part that starts in the middle of a sentence should not start like a sentence.
        if i > 0 && source.starts_with(char::is_lowercase) {
            translated = lowercase_first(&translated);
        }
        // Nor end like one: keep the source's clause punctuation.
        if i + 1 < plan.pieces.len()
            && let Some(mark) = source
                .chars()
                .last()
                .filter(|c| matches!(c, ',' | ';' | ':'))
            && translated.ends_with('.')
            && !translated.ends_with("..")
        {
            translated.pop();
            translated.push(mark);
        }
        let offset = text.len();
        match &part.alignment {
            Some(alignment) if translated == part.text => {
                pairs.extend(alignment.pairs.iter().map(|(s, t)| {
                    (
                        ByteSpan::new(s.start + piece.start, s.end + piece.start),
                        ByteSpan::new(t.start + offset, t.end + offset),
                    )
                }));
            }
            _ => aligned = false,
        }
        text.push_str(&translated);
    }
    let alignment = aligned.then_some(WordAlignment { pairs });
    (text, alignment)
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        // "EU" stays "EU"; "And" becomes "and".
        (Some(first), Some(second)) if first.is_uppercase() && second.is_lowercase() => first
            .to_lowercase()
            .chain(text[first.len_utf8()..].chars())
            .collect(),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineError};

    struct Tiny(usize);
    impl Engine for Tiny {
        fn translate(&self, _: &[&str]) -> Result<Vec<Translation>, EngineError> {
            Ok(Vec::new())
        }
        fn source_token_count(&self, sentence: &str) -> usize {
            sentence.split_whitespace().count() + 1
        }
        fn max_source_tokens(&self) -> usize {
            self.0
        }
    }

    #[test]
    fn splits_at_semicolon_first() {
        let text =
            "Die Regierung will mehr Geld ausgeben; die Opposition ist dagegen, weil es teuer ist.";
        let (parts, over) = split(text, &Tiny(10));
        assert!(!over);
        assert_eq!(
            &text[parts[0].start..parts[0].end],
            "Die Regierung will mehr Geld ausgeben;"
        );
    }

    #[test]
    fn prefers_a_boundary_outside_a_quotation() {
        let text = "Der Minister sagte am Dienstag in Berlin, „wir werden das ändern; es ist nötig“, und ging.";
        let (parts, _) = split(text, &Tiny(12));
        let first = &text[parts[0].start..parts[0].end];
        assert_eq!(first, "Der Minister sagte am Dienstag in Berlin,");
    }

    #[test]
    fn never_truncates() {
        let text = "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf";
        let (parts, over) = split(text, &Tiny(3));
        assert!(!over);
        let words: usize = parts
            .iter()
            .map(|p| text[p.start..p.end].split_whitespace().count())
            .sum();
        assert_eq!(words, 12);
        // One word of many tokens cannot be split: it is sent whole and flagged.
        struct Chars;
        impl Engine for Chars {
            fn translate(&self, _: &[&str]) -> Result<Vec<Translation>, EngineError> {
                Ok(Vec::new())
            }
            fn source_token_count(&self, sentence: &str) -> usize {
                sentence.len() / 3 + 1
            }
            fn max_source_tokens(&self) -> usize {
                4
            }
        }
        let word = "Donaudampfschifffahrtsgesellschaft";
        let (parts, over) = split(word, &Chars);
        assert!(over);
        assert_eq!(parts, vec![ByteSpan::new(0, word.len())]);
    }
}

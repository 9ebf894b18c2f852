//! Quotation marks: finding them, pairing them, typesetting them the English way.
//!
//! German news uses „…“, ‚…‘, »…«, «…» and, in scraped text, English or straight marks. The
//! document model needs to know which mark opens and which closes a quotation (a quotation may run
//! over several sentences, and its boundary marks are kept away from the model), and the rebuilt
//! English text must have balanced “…” and ‘…’. Apostrophes (’ and ' between letters) are not
//! quotation marks; an unpaired single mark is taken for an apostrophe and left alone, while an
//! unpaired double mark is still a quotation mark (a quotation cut off by a teaser, say).

use crate::span::ByteSpan;

/// How quotation marks come out. It lives with the quote rules it selects, so the rules need
/// nothing from the document model that applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum QuoteStyle {
    /// German „…“, »…« and friends come out as English “…” and ‘…’.
    #[default]
    English,
    /// The source's quotation marks are left as they are.
    Keep,
}

/// Double (“…”) or single (‘…’) quotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteKind {
    Double,
    Single,
}

/// Whether a mark opens or closes a quotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteRole {
    Open,
    Close,
}

/// One quotation mark found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteMark {
    pub span: ByteSpan,
    pub kind: QuoteKind,
    pub role: QuoteRole,
    /// Index (into the returned list) of the mark that closes or opens the same quotation.
    pub partner: Option<usize>,
}

/// Characters that may be quotation marks.
pub fn is_quote_char(c: char) -> bool {
    matches!(
        c,
        '„' | '“' | '”' | '‚' | '‘' | '’' | '»' | '«' | '›' | '‹' | '"' | '\''
    )
}

/// The English mark for a quotation of `kind` in `role`.
pub fn english(kind: QuoteKind, role: QuoteRole) -> &'static str {
    match (kind, role) {
        (QuoteKind::Double, QuoteRole::Open) => "“",
        (QuoteKind::Double, QuoteRole::Close) => "”",
        (QuoteKind::Single, QuoteRole::Open) => "‘",
        (QuoteKind::Single, QuoteRole::Close) => "’",
    }
}

fn kind_of(c: char) -> QuoteKind {
    match c {
        '‚' | '‘' | '’' | '›' | '‹' | '\'' => QuoteKind::Single,
        _ => QuoteKind::Double,
    }
}

/// Characters that may close a quotation opened by `open`.
fn closers(open: char) -> &'static [char] {
    match open {
        '„' => &['“', '”', '"'],
        '‚' => &['‘', '’', '\''],
        '»' => &['«'],
        '«' => &['»'],
        '›' => &['‹'],
        '‹' => &['›'],
        '“' => &['”', '“', '"'],
        '‘' => &['’', '\''],
        '"' => &['"', '”', '“'],
        '\'' => &['\'', '’'],
        '”' => &['”'],
        _ => &[],
    }
}

fn is_opening_context(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | '[' | '{' | '—' | '–' | '-' | '/' | ':')
}

fn is_closing_context(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '}' | '…' | '—' | '–' | '-' | '/'
        )
}

struct Open {
    index: usize,
    mark: char,
}

/// Finds and pairs the quotation marks of `text`.
///
/// Marks are paired with a stack, as a reader does: a closing mark closes the innermost open
/// quotation that it can close. Marks that could open or close (", ', “, ‘) are decided by the
/// characters around them.
pub fn find_quotes(text: &str) -> Vec<QuoteMark> {
    let mut marks: Vec<QuoteMark> = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(pos, c)) in chars.iter().enumerate() {
        if !is_quote_char(c) {
            continue;
        }
        let prev = if i > 0 { Some(chars[i - 1].1) } else { None };
        let next = chars.get(i + 1).map(|&(_, c)| c);
        let left_open = prev.is_none_or(is_opening_context) || prev.is_some_and(is_quote_char);
        let right_close = next.is_none_or(is_closing_context) || next.is_some_and(is_quote_char);
        let between_letters =
            prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric);
        let span = ByteSpan::new(pos, pos + c.len_utf8());
        let kind = kind_of(c);

        // Can this mark close something on the stack? Look from the innermost outwards, but only
        // past single quotations (an unclosed single is an apostrophe, not a quotation).
        let closes = |stack: &[Open]| -> Option<usize> {
            for (depth, open) in stack.iter().enumerate().rev() {
                if closers(open.mark).contains(&c) {
                    return Some(depth);
                }
                if kind_of(open.mark) == QuoteKind::Double {
                    return None;
                }
            }
            None
        };
        // Space before and a word after: the mark looks like it opens a quotation.
        let looks_opening = left_open && !right_close;
        let may_close = match c {
            '„' | '‚' => false,
            '’' | '\'' | '‘' => !between_letters && !looks_opening,
            '"' | '“' | '”' => !looks_opening || c == '“' || c == '”',
            _ => true,
        };
        if may_close && let Some(depth) = closes(&stack) {
            // Unclosed marks above the one we close: doubles stay as dangling quotation marks,
            // singles were apostrophes.
            for open in stack.drain(depth + 1..) {
                if kind_of(open.mark) == QuoteKind::Single {
                    marks[open.index].partner = Some(usize::MAX);
                }
            }
            if let Some(open) = stack.pop() {
                let index = marks.len();
                marks[open.index].partner = Some(index);
                marks.push(QuoteMark {
                    span,
                    kind: kind_of(open.mark),
                    role: QuoteRole::Close,
                    partner: Some(open.index),
                });
            }
            continue;
        }
        let may_open = match c {
            '„' | '‚' | '»' | '«' | '›' | '‹' => true,
            '’' | '\'' | '‘' => left_open && !right_close && !between_letters,
            '"' | '“' => !right_close || left_open,
            _ => false,
        };
        if may_open {
            stack.push(Open {
                index: marks.len(),
                mark: c,
            });
            marks.push(QuoteMark {
                span,
                kind,
                role: QuoteRole::Open,
                partner: None,
            });
        } else if kind == QuoteKind::Double {
            marks.push(QuoteMark {
                span,
                kind,
                role: QuoteRole::Close,
                partner: None,
            });
        }
    }
    for open in stack {
        if kind_of(open.mark) == QuoteKind::Single {
            marks[open.index].partner = Some(usize::MAX);
        }
    }
    // Drop the single marks that turned out to be apostrophes and renumber partners.
    let keep: Vec<bool> = marks
        .iter()
        .map(|m| m.partner != Some(usize::MAX))
        .collect();
    let mut new_index = vec![usize::MAX; marks.len()];
    let mut next = 0;
    for (i, &k) in keep.iter().enumerate() {
        if k {
            new_index[i] = next;
            next += 1;
        }
    }
    marks
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(mut m, _)| {
            m.partner = m.partner.map(|p| new_index[p]);
            m
        })
        .collect()
}

/// How a translated sentence's quotation marks are set right.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuoteFix {
    /// Replacements (an empty span inserts) in the translated text, sorted by position.
    pub edits: Vec<(ByteSpan, String)>,
    /// A mark was missing and has been added.
    pub repaired: bool,
    /// The translation has another number of quotations than the source sentence.
    pub mismatch: bool,
}

/// Normalises the marks in a translation whose source sentence had `source_pairs` quotations
/// inside it (as (opening, closing) marks, in order). `skip` are spans (placeholders) that are
/// not to be looked into.
pub fn fix_translation(
    text: &str,
    source_pairs: &[(String, String)],
    style: QuoteStyle,
    skip: &[ByteSpan],
) -> QuoteFix {
    let marks: Vec<QuoteMark> = find_quotes(text)
        .into_iter()
        .filter(|m| {
            !skip
                .iter()
                .any(|s| m.span.start < s.end && s.start < m.span.end)
        })
        .collect();
    let mut fix = QuoteFix::default();
    let mut pair_number = 0;
    let mark_for = |pair: usize, kind: QuoteKind, role: QuoteRole| -> String {
        match style {
            QuoteStyle::English => english(kind, role).to_owned(),
            QuoteStyle::Keep => match source_pairs.get(pair) {
                Some((open, close)) => match role {
                    QuoteRole::Open => open.clone(),
                    QuoteRole::Close => close.clone(),
                },
                None => english(kind, role).to_owned(),
            },
        }
    };
    let mut pair_of_open = vec![usize::MAX; marks.len()];
    let trimmed_start = text.len() - text.trim_start().len();
    let trimmed_end = text.trim_end().len();
    for (i, m) in marks.iter().enumerate() {
        let (role, pair) = match (m.role, m.partner) {
            (QuoteRole::Open, _) => {
                pair_of_open[i] = pair_number;
                pair_number += 1;
                (QuoteRole::Open, pair_of_open[i])
            }
            (QuoteRole::Close, Some(p)) if p < i => (QuoteRole::Close, pair_of_open[p]),
            (QuoteRole::Close, _) => {
                // The model dropped the opening mark: open the quotation at the sentence start.
                let pair = pair_number;
                pair_number += 1;
                fix.edits.push((
                    ByteSpan::new(trimmed_start, trimmed_start),
                    mark_for(pair, m.kind, QuoteRole::Open),
                ));
                fix.repaired = true;
                (QuoteRole::Close, pair)
            }
        };
        let wanted = mark_for(pair, m.kind, role);
        if text.get(m.span.start..m.span.end) != Some(wanted.as_str()) {
            fix.edits.push((m.span, wanted));
        }
        if role == QuoteRole::Open && m.partner.is_none() {
            // The model dropped the closing mark: close the quotation at the sentence end.
            fix.edits.push((
                ByteSpan::new(trimmed_end, trimmed_end),
                mark_for(pair, m.kind, QuoteRole::Close),
            ));
            fix.repaired = true;
        }
    }
    fix.mismatch = pair_number != source_pairs.len();
    fix.edits.sort_by_key(|(span, _)| (span.start, span.end));
    fix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(text: &str) -> Vec<(String, QuoteRole, Option<usize>)> {
        find_quotes(text)
            .into_iter()
            .map(|m| (text[m.span.start..m.span.end].to_owned(), m.role, m.partner))
            .collect()
    }

    #[test]
    fn german_marks_pair() {
        let r = roles("Er sagte: „Das ist ‚gut‘.“ Dann ging er.");
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].2, Some(3));
        assert_eq!(r[1].2, Some(2));
    }

    #[test]
    fn english_marks_in_german_text_pair() {
        let r = roles("zu: “Nach den Anschlägen ist klar. Wir müssen”, sagte Kerry.");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].1, QuoteRole::Open);
        assert_eq!(r[1].1, QuoteRole::Close);
        assert_eq!(r[0].2, Some(1));
    }

    #[test]
    fn apostrophes_are_not_quotes() {
        assert!(roles("Wie geht’s? Kerry's Rede, rock'n'roll").is_empty());
    }

    #[test]
    fn guillemets_both_ways() {
        assert_eq!(roles("»Ja«, sagte sie.").len(), 2);
        assert_eq!(roles("«Ja», sagte sie.")[0].2, Some(1));
    }

    #[test]
    fn straight_quotes() {
        let r = roles("\"Warum?\", fragte sie. \"Darum.\"");
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].2, Some(1));
        assert_eq!(r[2].2, Some(3));
    }

    #[test]
    fn dangling_double_is_kept() {
        let r = roles("„Der Anfang fehlt nicht");
        assert_eq!(r, vec![("„".to_owned(), QuoteRole::Open, None)]);
    }

    #[test]
    fn fix_repairs_missing_close() {
        let fix = fix_translation(
            "\"Why? she asked.",
            &[("„".into(), "“".into())],
            QuoteStyle::English,
            &[],
        );
        assert!(fix.repaired);
        assert_eq!(fix.edits.len(), 2);
    }
}

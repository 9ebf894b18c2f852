//! English punctuation and case where a quotation closes or resumes (`QuoteStyle::English`).
//!
//! German news quotes end in a reporting clause: „Das war nie geplant“, betonte die Ministerin.
//! English (US) typography wants “That was never planned,” the minister stressed. The marks
//! themselves are typeset elsewhere (`crate::quotes`, `align`); this pass fixes what sits around
//! each mark of the rebuilt article, once every segment and gap is in place:
//!
//! 1. a `?` or `!` that ends the source quotation but that the model dropped is put back;
//! 2. a comma or period after a closing mark moves inside it; after `?`, `!` or `…` it is dropped,
//!    and a period the model wrote inside becomes the comma (never `.”,`, `?”,`, `?”.`);
//! 3. a period the model appended inside a quotation that the German sentence goes on after
//!    (`„Wahnsinn“ nannte er es`, `„…“; dann`) is removed;
//! 4. a segment ends as its source does: a dropped final `?`/`!` comes back, a period the model
//!    added after one or to a segment without final punctuation (a heading) goes;
//! 5. the word after a closing mark (the reporting clause), and the first word after an opening
//!    mark that resumes an interrupted quotation (`, „und zwar bald.“`), starts lower-case where
//!    the German word does, unless it is a name (see `keeps_capital`).
//!
//! A mark whose source mark is unknown (the model changed the number of quotations) gets rule 2
//! only: it needs nothing from the source.

use super::SegmentReport;
use crate::quotes::QuoteRole;
use crate::span::ByteSpan;

/// A quotation mark of the rebuilt translation and the source mark it stands for.
#[derive(Debug, Clone, Copy)]
pub(super) struct SeamMark {
    /// The English mark in the translation.
    pub span: ByteSpan,
    pub role: QuoteRole,
    /// The source mark, where it is known.
    pub source: Option<ByteSpan>,
}

#[derive(Debug, Clone)]
struct Edit {
    span: ByteSpan,
    text: String,
}

impl Edit {
    fn new(start: usize, end: usize, text: impl Into<String>) -> Self {
        Self {
            span: ByteSpan::new(start, end),
            text: text.into(),
        }
    }
}

/// Applies the rules to `target` (the rebuilt article of `source`) and moves the segments'
/// target spans and texts along.
pub(super) fn apply(
    source: &str,
    target: &mut String,
    reports: &mut [SegmentReport],
    marks: &[SeamMark],
) {
    // The marks' rules first: where two rules edit the same character, the first one pushed wins
    // (a period before `”,` becomes the comma rather than vanish).
    let mut edits = Vec::new();
    for mark in marks {
        match mark.role {
            QuoteRole::Close => closing(source, target, mark, &mut edits),
            QuoteRole::Open => {
                if let Some(src) = mark.source {
                    match_case(source, src.end, target, mark.span.end, &mut edits);
                }
            }
        }
    }
    for report in reports.iter() {
        sentence_end(source, target, report, &mut edits);
    }
    if edits.is_empty() {
        return;
    }
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    let mut kept: Vec<Edit> = Vec::with_capacity(edits.len());
    for edit in edits {
        let clashes = kept.last().is_some_and(|last| {
            edit.span.start < last.span.end
                || (edit.span.is_empty()
                    && last.span.is_empty()
                    && edit.span.start == last.span.start)
        });
        if !clashes {
            kept.push(edit);
        }
    }
    let mut rebuilt = String::with_capacity(target.len() + kept.len());
    let mut cursor = 0;
    for edit in &kept {
        rebuilt.push_str(&target[cursor..edit.span.start]);
        rebuilt.push_str(&edit.text);
        cursor = edit.span.end;
    }
    rebuilt.push_str(&target[cursor..]);
    for report in reports.iter_mut() {
        let [start, end] = report.target_span;
        let (start, end) = (moved(&kept, start, false), moved(&kept, end, true));
        let end = end.max(start);
        report.target_span = [start, end];
        report.target = rebuilt[start..end].to_owned();
        if let Some(pairs) = &mut report.alignment {
            for [_, word] in pairs.iter_mut() {
                *word = [moved(&kept, word[0], false), moved(&kept, word[1], true)];
            }
            pairs.retain(|[_, [s, e]]| s < e && rebuilt.get(*s..*e).is_some());
        }
        for term in &mut report.glossary {
            let [s, e] = term.target_span;
            let (s, e) = (moved(&kept, s, false), moved(&kept, e, true));
            term.target_span = [s, e.max(s)];
            // A seam may re-case the first letter of a term after `,”` (never more of it); the
            // report follows.
            let now = rebuilt.get(s..).and_then(|t| t.chars().next());
            let mut chars = term.english.chars();
            if let (Some(now), Some(was)) = (now, chars.next())
                && now != was
                && now.to_lowercase().eq(was.to_lowercase())
            {
                term.english = std::iter::once(now).chain(chars).collect();
            }
        }
    }
    *target = rebuilt;
}

/// Where position `at` of the old text is in the edited one. Text inserted exactly at `at` lies
/// before it for the end of a span (the comma moved inside a quotation belongs to the sentence
/// before the mark) and after it for a start.
fn moved(edits: &[Edit], at: usize, is_end: bool) -> usize {
    let mut shift: isize = 0;
    for edit in edits {
        let (start, end) = (edit.span.start, edit.span.end);
        if end < at || (end == at && (start < end || is_end)) {
            shift += edit.text.len() as isize - (end - start) as isize;
        } else if start < at && at < end {
            // Inside a replaced stretch: clamp to the replacement.
            let into = (at - start).min(edit.text.len());
            return (start as isize + shift) as usize + into;
        } else {
            break;
        }
    }
    (at as isize + shift) as usize
}

fn closing(source: &str, target: &str, mark: &SeamMark, edits: &mut Vec<Edit>) {
    let m_end = mark.span.end;
    // Punctuation goes inside every mark that closes here (`‘no,’”`).
    let m_start = mark.span.start
        - (target[..mark.span.start].len()
            - target[..mark.span.start].trim_end_matches(['”', '’']).len());
    let before = target[..m_start].chars().next_back();
    let before_at = before.map(|c| m_start - c.len_utf8());
    let after = target[m_end..].chars().next();
    let src_before = mark
        .source
        .and_then(|s| source[..s.start].chars().next_back());
    let src_continues = mark
        .source
        .and_then(|s| next_letter_is_lower(&source[s.end..]));

    // 1. A question or exclamation the model turned into a statement.
    let mut inside = before;
    if let Some(wanted @ ('?' | '!')) = src_before
        && !matches!(before, Some('?' | '!'))
    {
        let before_before = before_at.and_then(|at| target[..at].chars().next_back());
        match (before, before_at) {
            // `?.”`: the model's period goes, the question mark is there.
            (Some('.'), Some(at)) if matches!(before_before, Some('?' | '!')) => {
                edits.push(Edit::new(at, m_start, ""));
            }
            (Some('.' | ',' | ';' | ':'), Some(at)) => edits.push(Edit::new(at, m_start, wanted)),
            _ => edits.push(Edit::new(m_start, m_start, wanted)),
        }
        inside = Some(wanted);
    }
    let model_period = inside == Some('.') && src_before != Some('.');

    // 2. Comma or period after the mark.
    let after_span = (m_end, m_end + 1);
    match after {
        Some(',') => {
            match (inside, before_at) {
                (Some('?' | '!' | '…' | ','), _) => {}
                // The source's own period (an abbreviation) stays; the comma goes.
                (Some('.'), _) if !model_period => {}
                (Some('.'), Some(at)) => edits.push(Edit::new(at, m_start, ",")),
                _ => edits.push(Edit::new(m_start, m_start, ",")),
            }
            edits.push(Edit::new(after_span.0, after_span.1, ""));
        }
        Some('.') if !target[m_end..].starts_with("..") => {
            match (inside, before_at) {
                (Some('?' | '!' | '…' | '.'), _) => {}
                (Some(',' | ';' | ':'), Some(at)) => edits.push(Edit::new(at, m_start, ".")),
                _ => edits.push(Edit::new(m_start, m_start, ".")),
            }
            edits.push(Edit::new(after_span.0, after_span.1, ""));
        }
        // 3. The sentence goes on after the quotation: no period inside it.
        _ if model_period
            && mark.source.is_some()
            && (src_continues == Some(true) || matches!(after, Some(';' | ':' | ')'))) =>
        {
            if let Some(at) = before_at {
                edits.push(Edit::new(at, m_start, ""));
            }
        }
        _ => {}
    }

    // 4. The reporting clause continues the sentence.
    if let Some(src) = mark.source {
        match_case(source, src.end, target, m_end, edits);
    }
}

/// The end of a translated segment: a `?` or `!` of the source the model dropped is put back,
/// a period it added after one (`?.`) or to a sentence without final punctuation (a heading, the
/// last sentence of a quotation before `“, sagte er`) is removed. Segments that end in a
/// quotation mark or markup are left to the mark's own rules.
fn sentence_end(source: &str, target: &str, report: &SegmentReport, edits: &mut Vec<Edit>) {
    let [s_start, s_end] = report.source_span;
    let [t_start, t_end] = report.target_span;
    let src = source[s_start..s_end].trim_end();
    let text = &target[t_start..t_end];
    let trimmed = text.trim_end();
    let (Some(wanted), Some(last)) = (src.chars().next_back(), trimmed.chars().next_back()) else {
        return;
    };
    let last_at = t_start + trimmed.len() - last.len_utf8();
    let before_last = trimmed[..trimmed.len() - last.len_utf8()]
        .chars()
        .next_back();
    if last == '.' && matches!(before_last, Some('?' | '!' | ':' | ';' | ',')) {
        // Never two marks in a row (`?.`, `:.`).
        edits.push(Edit::new(last_at, last_at + 1, ""));
        return;
    }
    match wanted {
        '?' | '!' => match last {
            '?' | '!' => {}
            '.' | ',' | ';' | ':' => edits.push(Edit::new(last_at, last_at + 1, wanted)),
            c if c.is_alphanumeric() => {
                edits.push(Edit::new(
                    last_at + c.len_utf8(),
                    last_at + c.len_utf8(),
                    wanted,
                ));
            }
            _ => {}
        },
        c if c.is_alphanumeric()
            && last == '.'
            && before_last.is_some_and(char::is_alphanumeric) =>
        {
            edits.push(Edit::new(last_at, last_at + 1, ""));
        }
        _ => {}
    }
}

/// Lower-cases the first word of `target` after `target_at` when the German word after
/// `source_at` is lower-case and the English one is not a name.
fn match_case(
    source: &str,
    source_at: usize,
    target: &str,
    target_at: usize,
    edits: &mut Vec<Edit>,
) {
    if next_letter_is_lower(&source[source_at..]) != Some(true) {
        return;
    }
    let rest = &target[target_at..];
    let skipped = rest.len() - rest.trim_start_matches(is_clause_separator).len();
    let word_start = target_at + skipped;
    let word: String = target[word_start..]
        .chars()
        .take_while(|c| c.is_alphabetic())
        .collect();
    let Some(first) = word.chars().next() else {
        return;
    };
    if !first.is_uppercase()
        || keeps_capital(&word, &target[word_start + word.len()..], source, source_at)
    {
        return;
    }
    let lower: String = first.to_lowercase().collect();
    edits.push(Edit::new(word_start, word_start + first.len_utf8(), lower));
}

/// Separators between a quotation and the clause that goes on after it.
fn is_clause_separator(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | ',' | ';' | ':' | '–' | '—')
}

/// Whether the first letter after a quotation mark (past separators, on the same line) is
/// lower-case; `None` when no letter follows there.
fn next_letter_is_lower(after: &str) -> Option<bool> {
    after
        .trim_start_matches(is_clause_separator)
        .chars()
        .next()
        .filter(|c| c.is_alphabetic())
        .map(char::is_lowercase)
}

/// English words that are capitalised only because they start a sentence: after a closing mark
/// they are always lower-case (the pronouns, articles and reporting verbs of the genre).
const FUNCTION_WORDS: &[&str] = &[
    "the",
    "a",
    "an",
    "he",
    "she",
    "it",
    "they",
    "we",
    "you",
    "this",
    "that",
    "these",
    "those",
    "his",
    "her",
    "its",
    "their",
    "our",
    "my",
    "your",
    "so",
    "and",
    "but",
    "or",
    "according",
    "said",
    "says",
    "say",
    "told",
    "added",
    "asked",
    "stressed",
    "explained",
    "wrote",
    "stated",
    "announced",
    "continued",
    "replied",
    "emphasised",
    "emphasized",
    "as",
    "in",
    "on",
    "at",
    "for",
    "with",
    "from",
    "by",
    "of",
    "to",
    "there",
    "here",
    "then",
    "now",
    "also",
    "which",
    "who",
];

/// A capitalised English word after a quotation mark keeps its capital when it is a name: `I`,
/// an acronym, a word the German text after the mark writes with a capital too (`sagte Kerry`),
/// or the first of a run of capitalised words that holds one (`Prime Minister David Cameron
/// said`). Articles, pronouns and reporting verbs never do.
fn keeps_capital(word: &str, target_after: &str, source: &str, source_at: usize) -> bool {
    if word == "I" || (word.chars().count() > 1 && word.chars().all(char::is_uppercase)) {
        return true;
    }
    if FUNCTION_WORDS.contains(&word.to_lowercase().as_str()) {
        return false;
    }
    let mut end = (source_at + 400).min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let context = &source[source_at..end];
    let context = context.split("\n\n").next().unwrap_or(context);
    let in_source = |w: &str| {
        context
            .split(|c: char| !c.is_alphanumeric())
            .any(|c| c == w)
    };
    // The word, or a run of capitalised words it starts that holds a name of the German text
    // (`Prime Minister David Cameron said` after `so Premierminister David Cameron`).
    std::iter::once(word)
        .chain(
            target_after
                .split([' ', '\u{a0}'])
                .filter(|w| !w.is_empty())
                .map(|w| w.trim_end_matches(|c: char| !c.is_alphanumeric()))
                .take_while(|w| w.starts_with(char::is_uppercase))
                .take(4),
        )
        .any(in_source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(target: &str, span: [usize; 2]) -> SegmentReport {
        SegmentReport {
            source: String::new(),
            source_span: [0, 0],
            target: target[span[0]..span[1]].to_owned(),
            target_span: span,
            score: 0.0,
            sum_logprob: 0.0,
            tokens: 0,
            flags: Vec::new(),
            block: 0,
            alignment: None,
            glossary: Vec::new(),
            part: None,
        }
    }

    #[test]
    fn spans_follow_the_edits() {
        let source = "„Wir bleiben“, sagte sie.";
        let mut target = "“We stay.”, She said.".to_owned();
        let close = target.find('”').unwrap_or_default();
        let src_close = source.find('“').unwrap_or_default();
        let mut reports = vec![
            report(&target, [3, 11]),
            report(&target, [close + 5, target.len()]),
        ];
        let marks = [SeamMark {
            span: ByteSpan::new(close, close + 3),
            role: QuoteRole::Close,
            source: Some(ByteSpan::new(src_close, src_close + 3)),
        }];
        apply(source, &mut target, &mut reports, &marks);
        assert_eq!(target, "“We stay,” she said.");
        assert_eq!(reports[0].target, "We stay,");
        assert_eq!(reports[1].target, "she said.");
    }
}

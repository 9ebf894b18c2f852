//! German sentence segmentation inside one block of prose.
//!
//! The translation model works sentence by sentence, so a block (a paragraph, a list item's text)
//! has to be cut into sentences without cutting inside one: German news text is full of periods that
//! do not end anything ("z. B.", "am 3. Oktober", "Friedrich II.", "14.30 Uhr", "5 Mio. Euro",
//! "www.example.de"), and every noun is capitalised, so "a period and a capital letter" — the rule
//! most segmenters start from — is wrong far too often.
//!
//! [`sentences`] makes one pass over the bytes and stops only at `.`, `!`, `?`, `…` and line breaks.
//! At each candidate it looks back at the word before the mark and ahead at the word after it:
//!
//! - A mark must be followed by whitespace (after any closing quotes or brackets), otherwise it is
//!   inside a token: "1.234", "01.02.2024", "z.B.", "www.example.de", „Warum?“, fragte sie.
//! - A lower-case word after the mark continues the sentence („Hilfe!“ rief er; "… und dann").
//! - An abbreviation from `data/abbreviations.txt` decides by its section: `[never]` ("Dr.", "z. B."),
//!   `[maybe]` ("Mio.", "Inc.") ends a sentence only before a typical sentence opener from
//!   `data/sentence_starters.txt` ("Die", "Er", "Am" …), `[end]` ("usw.", "etc.") like a plain word.
//!   Multi-part abbreviations are matched with or without inner spaces ("z. B." = "z.B.").
//! - Ordinals, day-and-month dates, Roman numerals and initials ("am 3.", "am 24.12.",
//!   "Friedrich II.", "John F.") are treated like `[maybe]` abbreviations: "der 2. Weltkrieg" stays
//!   whole, "… auf Platz 3. Die Saison …" is cut. Years and amounts ("1945.", "1.234.") end sentences
//!   like words.
//! - An ellipsis inside brackets ("[…]", "(...)") marks an omission, never an end.
//! - Closing quotation marks and brackets after the mark belong to the sentence that ends, so a
//!   quotation over several sentences („Satz eins. Satz zwei.“) gives two sentences, the closing mark
//!   with the second. Colons, semicolons and dashes never end a sentence.
//!
//! Line breaks inside a block: a blank line always ends a sentence. A single line break after final
//! punctuation is ordinary whitespace (the rules above decide). A line *without* final punctuation —
//! a headline, a byline, `WERBUNG`, a button label such as "Diesen Artikel teilenKommentare" — ends
//! its own segment, unless the text was evidently hard-wrapped in the middle of a sentence: the next
//! line starts in lower case, or the line ends with a comma, a hyphen or dash, an opening bracket or
//! quotation mark, or a word from `data/line_continuations.txt` ("der", "für", "und" …). A block
//! that as a whole looks hard-wrapped — at least three lines, all but the last of a similar width
//! between 40 and 100 characters, and at least a third of its line breaks evidently inside a sentence
//! by the tests above — treats every single line break as a space, so a line ending in a noun before
//! a capitalised line is not cut either. In a short block (one or two line breaks) that case is
//! still cut; we accept that, because scraped articles put headlines, bylines and labels on their
//! own lines far more often than they hard-wrap prose.
//!
//! The scanner never slices a string except at ASCII bytes or at the ends of decoded characters, so
//! every span lies on char boundaries for any input.
//!
//! Why not build on a crate: `sentencex` (Wikimedia's multilingual segmenter, measured as a
//! dev-dependency by `examples/segment_eval.rs` and `examples/segment_bench.rs`) has one flat German
//! abbreviation list and treats "abbreviation or number before a period" alike for every word, so it
//! cuts "der 2. Weltkrieg" and misses "usw. Die …", and it does not end a segment at a headline
//! line. On our golden set it reaches boundary F1 0.92 against 0.996 here, and runs 3–5 times slower;
//! its word list needs the `[never]/[maybe]/[end]` distinction anyway, so the rules live in our own
//! data files and the scanner stays one linear pass without regular expressions.

mod lexicon;

use crate::quotes::{QuoteMark, QuoteRole, find_quotes};
use crate::span::ByteSpan;
use lexicon::{AbbreviationKind, MAX_ABBREVIATION_BYTES, lexicon, push_abbreviation_key};

/// Sentence spans in `text`, in order, each trimmed of surrounding whitespace.
///
/// `text` is one block of prose and may contain single line breaks; see the module docs for the
/// rules. Spans never overlap and never cover only whitespace; what lies between them is gap.
pub fn sentences(text: &str) -> Vec<ByteSpan> {
    Scanner::new(text).run()
}

/// Hard-wrapped lines have about the same width; headlines, bylines and labels vary a lot.
const WRAP_MIN_CHARS: usize = 40;
const WRAP_MAX_CHARS: usize = 100;
const WRAP_MAX_SPREAD: usize = 25;
/// Fewest line breaks (inside paragraphs) before the width of the lines is trusted as evidence.
const WRAP_MIN_BREAKS: usize = 2;

/// How far back a word before a period is read; a longer "word" is a URL or garbage, never an
/// abbreviation or an ordinal, and the cap keeps the scan linear on hostile input.
const MAX_TOKEN_BYTES: usize = 64;

/// How many space-separated parts a multi-part abbreviation may have ("u. v. m." has three).
const MAX_ABBREVIATION_PARTS: usize = 4;

const ELLIPSIS: &str = "…";

struct Scanner<'a> {
    text: &'a str,
    spans: Vec<ByteSpan>,
    /// Where the sentence being read began (untrimmed: right after the previous sentence's end).
    segment_start: usize,
    /// Reused buffer for abbreviation keys, so the hot path does not allocate.
    key: String,
    /// The block is hard-wrapped prose: a single line break is just a space.
    hard_wrapped: bool,
    /// The block's quotation marks, paired; found on the first glued quotation only.
    quotes: Option<Vec<QuoteMark>>,
}

/// The final punctuation of a candidate sentence end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Period,
    Ellipsis,
    /// `!` or `?`, alone or mixed with other marks.
    Strong,
}

/// What the word right before a single period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenBefore {
    /// An ordinary word, or nothing at all: the period ends a sentence unless lower case follows.
    Word,
    Abbreviation(AbbreviationKind),
    /// An ordinal, a date, a Roman numeral or an initial: ends a sentence only before an opener.
    Weak,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            spans: Vec::new(),
            segment_start: 0,
            // Grows on the first period; most short blocks (headlines, labels) never need it.
            key: String::new(),
            hard_wrapped: looks_hard_wrapped(text),
            quotes: None,
        }
    }

    fn run(mut self) -> Vec<ByteSpan> {
        let bytes = self.text.as_bytes();
        let mut pos = 0;
        while pos < bytes.len() {
            // Only ASCII bytes and the lead byte of `…` are matched, so every position handed on is a
            // char boundary; UTF-8 continuation bytes (0x80..0xC0) never match.
            pos = match bytes[pos] {
                b'.' | b'!' | b'?' => self.terminator(pos),
                0xE2 if bytes[pos..].starts_with(ELLIPSIS.as_bytes()) => self.terminator(pos),
                b'\n' => self.line_break(pos),
                _ => pos + 1,
            };
        }
        self.close(self.text.len());
        self.spans
    }

    /// Ends the current sentence at `end` (trimmed) and starts the next one there.
    fn close(&mut self, end: usize) {
        let piece = &self.text[self.segment_start..end];
        let start = self.segment_start + (piece.len() - piece.trim_start().len());
        let stop = self.segment_start + piece.trim_end().len();
        if start < stop {
            self.spans.push(ByteSpan::new(start, stop));
        }
        self.segment_start = end;
    }

    /// Whether the current sentence has any text before `pos` (a lone "?" is not a sentence).
    fn has_content_before(&self, pos: usize) -> bool {
        !self.text[self.segment_start..pos].trim_end().is_empty()
    }

    /// Handles a run of final punctuation starting at `run_start`; returns where to scan on.
    fn terminator(&mut self, run_start: usize) -> usize {
        let mut pos = run_start;
        let mut periods = 0usize;
        let mut strong = false;
        let mut ellipsis = false;
        let mut marks_end = run_start;
        // Marks and closing quotes/brackets may interleave: `?“`, `.)`, `…«`, `!“)`.
        for c in self.text[run_start..].chars() {
            match c {
                '.' => periods += 1,
                '!' | '?' => strong = true,
                '…' => ellipsis = true,
                c if is_closer(c) => {
                    pos += c.len_utf8();
                    continue;
                }
                _ => break,
            }
            pos += c.len_utf8();
            marks_end = pos;
        }
        let end = pos;
        let mark = if strong {
            Mark::Strong
        } else if ellipsis || periods > 1 {
            Mark::Ellipsis
        } else {
            Mark::Period
        };

        let Some(after) = self.text[end..].chars().next() else {
            return end;
        };
        if !after.is_whitespace() {
            let sentence_end = match mark {
                Mark::Period => matches!(
                    self.token_before(run_start),
                    TokenBefore::Word | TokenBefore::Abbreviation(AbbreviationKind::End)
                ),
                Mark::Strong | Mark::Ellipsis => true,
            };
            if sentence_end && self.has_content_before(run_start) {
                self.glued_quotation(run_start, end);
            }
            return end;
        }
        let (next_start, newlines) = skip_whitespace(self.text, end);
        if next_start >= self.text.len() || !self.has_content_before(run_start) {
            return next_start;
        }
        if newlines >= 2 {
            self.close(end);
            return next_start;
        }

        let next = NextWord::at(self.text, next_start);
        let breaks = match mark {
            Mark::Strong => next.may_open_sentence(),
            Mark::Ellipsis => {
                !self.is_bracketed_omission(run_start, marks_end) && next.may_open_sentence()
            }
            Mark::Period => match self.token_before(run_start) {
                TokenBefore::Word | TokenBefore::Abbreviation(AbbreviationKind::End) => {
                    next.may_open_sentence()
                }
                TokenBefore::Abbreviation(AbbreviationKind::Never) => false,
                TokenBefore::Abbreviation(AbbreviationKind::Maybe) | TokenBefore::Weak => {
                    next.is_sentence_starter()
                }
            },
        };
        if breaks {
            self.close(end);
        }
        next_start
    }

    /// Scraped text loses the space around quotation marks: `„Wir kommen.“Dann ging er.` or
    /// `Er ging."Gut."`. A sentence ends there when the quotation mark after the final punctuation
    /// closes (by the block's pairing) and a capital follows it, or when it opens and a capital
    /// follows — then the mark starts the next sentence.
    fn glued_quotation(&mut self, run_start: usize, end: usize) {
        let text = self.text;
        let quotes = self.quotes.get_or_insert_with(|| find_quotes(text));
        let first = quotes.partition_point(|m| m.span.start < run_start);
        let mut cut = None;
        for mark in &quotes[first..] {
            if mark.span.start > end {
                break;
            }
            match mark.role {
                QuoteRole::Close if mark.span.end <= end => cut = Some(end),
                QuoteRole::Open => {
                    cut = Some(mark.span.start);
                    break;
                }
                QuoteRole::Close => break,
            }
        }
        let Some(cut) = cut else {
            return;
        };
        let next = text[cut..]
            .trim_start_matches(|c: char| is_opener(c) || is_closer(c))
            .chars()
            .next();
        if next.is_some_and(char::is_uppercase) {
            self.close(cut);
        }
    }

    /// "[…]" and "(...)" mark an omission inside a quotation, not the end of a sentence.
    fn is_bracketed_omission(&self, run_start: usize, marks_end: usize) -> bool {
        let before = self.text[..run_start].chars().next_back();
        let after = self.text[marks_end..].chars().next();
        matches!(before, Some('[' | '(')) && matches!(after, Some(']' | ')'))
    }

    /// Classifies the word that ends right before the period at `period`.
    fn token_before(&mut self, period: usize) -> TokenBefore {
        let Some(token_start) = token_start_before(self.text, period) else {
            return TokenBefore::Word;
        };
        let token = self.text[token_start..period].trim_start_matches(is_opener);
        match token.chars().next_back() {
            // "… gut“." or " ." — a quotation or nothing before the period: a plain sentence end.
            None => return TokenBefore::Word,
            Some(c) if is_closer(c) => return TokenBefore::Word,
            Some(_) => {}
        }
        if let Some(kind) = self.abbreviation_before(token_start, period) {
            return TokenBefore::Abbreviation(kind);
        }
        if is_weak_token(token) {
            TokenBefore::Weak
        } else {
            TokenBefore::Word
        }
    }

    /// Looks up the longest listed abbreviation that ends with the period at `period`, reading back
    /// over up to [`MAX_ABBREVIATION_PARTS`] space-separated parts that each end in a period.
    fn abbreviation_before(
        &mut self,
        token_start: usize,
        period: usize,
    ) -> Option<AbbreviationKind> {
        let mut part_starts = [token_start; MAX_ABBREVIATION_PARTS];
        let mut parts = 1;
        while parts < MAX_ABBREVIATION_PARTS {
            let part_end = self.text[..part_starts[parts - 1]].trim_end().len();
            if part_end == part_starts[parts - 1] || !self.text[..part_end].ends_with('.') {
                break;
            }
            match token_start_before(self.text, part_end) {
                Some(start) if part_end - start <= MAX_ABBREVIATION_BYTES => {
                    part_starts[parts] = start;
                    parts += 1;
                }
                _ => break,
            }
        }
        let lexicon = lexicon();
        for &start in part_starts[..parts].iter().rev() {
            let candidate = self.text[start..=period].trim_start_matches(is_opener);
            self.key.clear();
            push_abbreviation_key(&mut self.key, candidate);
            if self.key.len() > MAX_ABBREVIATION_BYTES {
                continue;
            }
            if let Some(kind) = lexicon.abbreviation(&self.key) {
                return Some(kind);
            }
        }
        // The loop ended with the single word before the period, still in `key`.
        if self.key.len() > MAX_TOKEN_BYTES {
            return None;
        }
        lexicon.abbreviation_suffix(&self.key)
    }

    /// Handles a line break that does not follow final punctuation; returns where to scan on.
    fn line_break(&mut self, newline: usize) -> usize {
        let (next_start, newlines) = skip_whitespace(self.text, newline);
        if next_start >= self.text.len() || !self.has_content_before(newline) {
            return next_start;
        }
        if newlines >= 2 {
            self.close(newline);
            return next_start;
        }
        if !self.hard_wrapped
            && !continues_on_next_line(&self.text[..newline], &self.text[next_start..])
        {
            self.close(newline);
        }
        next_start
    }
}

/// Whether the sentence on the line ending `before` evidently goes on in `after` (the next line).
fn continues_on_next_line(before: &str, after: &str) -> bool {
    let line = before.trim_end();
    NextWord::at(after, 0).first.is_some_and(char::is_lowercase)
        || line.chars().next_back().is_some_and(is_open_line_end)
        || lexicon().is_line_continuation(last_word(line))
}

/// Whether `text` is hard-wrapped prose; see the module docs for the test.
fn looks_hard_wrapped(text: &str) -> bool {
    if !text.contains('\n') {
        return false;
    }
    let mut lines = text.split('\n').map(str::trim_end).peekable();
    let (mut narrowest, mut widest) = (usize::MAX, 0);
    let mut breaks = 0usize;
    let mut evident = 0usize;
    // A thousand line breaks are plenty to judge; the cap keeps huge single blocks cheap.
    while let (Some(line), Some(&next)) = (lines.next(), lines.peek()) {
        if line.trim().is_empty() || next.trim().is_empty() {
            continue;
        }
        let width = line.chars().count();
        if !(WRAP_MIN_CHARS..=WRAP_MAX_CHARS).contains(&width) {
            return false;
        }
        narrowest = narrowest.min(width);
        widest = widest.max(width);
        breaks += 1;
        let after_final_punctuation =
            line.ends_with(['.', '!', '?', '…', '“', '”', '"', '«', '»', ')']);
        if !after_final_punctuation && continues_on_next_line(line, next) {
            evident += 1;
        }
        if breaks >= 1000 {
            break;
        }
    }
    breaks >= WRAP_MIN_BREAKS && widest - narrowest <= WRAP_MAX_SPREAD && evident * 3 >= breaks
}

/// The first word after a candidate sentence end, past any opening quotes, brackets or dashes.
struct NextWord<'a> {
    first: Option<char>,
    word: &'a str,
}

impl<'a> NextWord<'a> {
    fn at(text: &'a str, pos: usize) -> Self {
        let rest = text[pos..].trim_start_matches(|c: char| is_opener(c) || c.is_whitespace());
        let word_len = rest
            .char_indices()
            .find(|&(_, c)| !c.is_alphabetic())
            .map_or(rest.len(), |(i, _)| i);
        Self {
            first: rest.chars().next(),
            word: &rest[..word_len],
        }
    }

    /// Anything but lower case (or punctuation that can only continue) may open a sentence.
    fn may_open_sentence(&self) -> bool {
        match self.first {
            None => false,
            Some(c) => !c.is_lowercase() && !matches!(c, ',' | ';' | ':' | ')' | ']' | '}'),
        }
    }

    fn is_sentence_starter(&self) -> bool {
        lexicon().is_sentence_starter(self.word)
    }
}

/// Skips whitespace from `pos`; returns the first non-whitespace position and the line breaks seen.
fn skip_whitespace(text: &str, pos: usize) -> (usize, usize) {
    let mut newlines = 0;
    for (offset, c) in text[pos..].char_indices() {
        if c == '\n' {
            newlines += 1;
        } else if !c.is_whitespace() {
            return (pos + offset, newlines);
        }
    }
    (text.len(), newlines)
}

/// Start of the whitespace-free token that ends at `end`, or `None` when it is longer than
/// [`MAX_TOKEN_BYTES`] (a URL or garbage, never something the rules look at).
fn token_start_before(text: &str, end: usize) -> Option<usize> {
    for (i, c) in text[..end].char_indices().rev() {
        if c.is_whitespace() {
            return Some(i + c.len_utf8());
        }
        if end - i > MAX_TOKEN_BYTES {
            return None;
        }
    }
    Some(0)
}

/// An ordinal or a day and month ("3", "24.12"), a Roman numeral ("II", "XVI"), an initial ("F") or
/// an unlisted dotted abbreviation with short parts ("U.S", "i.d.R").
///
/// Numbers with four digits or a thousands group ("2015", "1.234", "01.02.2024") are years and
/// amounts, not ordinals, so a period after them is an ordinary sentence end ("… geboren 1945. Millionen
/// …").
fn is_weak_token(token: &str) -> bool {
    let mut chars = token.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if first.is_ascii_digit() {
        return token.split('.').all(|group| {
            (1..=3).contains(&group.len()) && group.bytes().all(|b| b.is_ascii_digit())
        }) && token.split('.').skip(1).all(|group| group.len() <= 2);
    }
    if chars.next().is_none() {
        return first.is_alphabetic();
    }
    if token.len() <= 7 && token.bytes().all(|b| b"IVXLCDM".contains(&b)) {
        return true;
    }
    token.contains('.')
        && token.split('.').all(|part| {
            (1..=2).contains(&part.chars().count()) && part.chars().all(char::is_alphabetic)
        })
}

/// The trailing run of letters of `line` ("… erneut für" → "für").
fn last_word(line: &str) -> &str {
    let start = line
        .char_indices()
        .rev()
        .find(|&(_, c)| !c.is_alphabetic())
        .map_or(0, |(i, c)| i + c.len_utf8());
    &line[start..]
}

/// A line ending like this is evidently cut in the middle of a sentence.
fn is_open_line_end(c: char) -> bool {
    matches!(
        c,
        ',' | ';' | '-' | '‐' | '–' | '—' | '(' | '[' | '„' | '‚' | '/' | '&' | '+'
    )
}

fn is_opener(c: char) -> bool {
    matches!(
        c,
        '"' | '\''
            | '('
            | '['
            | '{'
            | '„'
            | '“'
            | '‚'
            | '‘'
            | '»'
            | '«'
            | '›'
            | '‹'
            | '-'
            | '–'
            | '—'
            | '¿'
            | '¡'
    )
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '“' | '”' | '‘' | '’' | '»' | '«' | '›' | '‹'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<&str> {
        sentences(text)
            .into_iter()
            .map(|span| &text[span.start..span.end])
            .collect()
    }

    #[test]
    fn plain_sentences_split_and_trim() {
        assert_eq!(
            split("  Das ist gut. Er kam!  Wer? "),
            ["Das ist gut.", "Er kam!", "Wer?"]
        );
    }

    #[test]
    fn empty_and_blank_text_has_no_sentences() {
        assert!(sentences("").is_empty());
        assert!(sentences(" \n\t ").is_empty());
    }

    #[test]
    fn weak_tokens() {
        assert!(is_weak_token("3"));
        assert!(is_weak_token("24.12"));
        assert!(is_weak_token("100"));
        assert!(!is_weak_token("01.02.2024"));
        assert!(!is_weak_token("2015"));
        assert!(!is_weak_token("1.234"));
        assert!(is_weak_token("XVI"));
        assert!(is_weak_token("F"));
        assert!(is_weak_token("U.S"));
        assert!(!is_weak_token("Haus"));
        assert!(!is_weak_token("example.de"));
    }

    #[test]
    fn last_word_of_a_line() {
        assert_eq!(last_word("erneut für"), "für");
        assert_eq!(last_word("Anti-IS-Allianz"), "Allianz");
        assert_eq!(last_word(""), "");
    }
}

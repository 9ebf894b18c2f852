//! Plain text articles: paragraphs split by blank lines, line breaks kept.
//!
//! Scraped news text has one paragraph per line, but also headlines, bylines, `WERBUNG` and button
//! labels on lines of their own, list items, and now and then hard-wrapped paragraphs. A line
//! ending without final punctuation is its own block (a headline must not be glued to the byline
//! under it), unless the text evidently runs on: the next line starts in lower case, or the line
//! is long and its last word is not capitalised (German capitalises nouns, so a headline ends in a
//! capital word far more often than a wrapped line does). List markers and indentation stay in
//! the gaps.

use super::TextFormat;
use crate::document::model::{Atom, AtomKind, Block, BlockKind, Parsed, VERBATIM};

/// Plain text.
pub(crate) struct PlainText;

impl TextFormat for PlainText {
    fn parse(&self, source: &str) -> Parsed {
        Parsed::prose(parse(source))
    }
}

/// A line of a paragraph: where its content (after indentation and list marker) starts and ends.
#[derive(Debug, Clone, Copy)]
struct Line {
    content_start: usize,
    content_end: usize,
    list_item: bool,
}

const MONTHS: &[&str] = &[
    "Januar",
    "Jänner",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
    "Jan",
    "Feb",
    "Mär",
    "Apr",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Sept",
    "Okt",
    "Nov",
    "Dez",
];

/// The length of a list marker with its following space(s) at the start of `text`, if any.
fn list_marker(text: &str) -> Option<usize> {
    let spaces_after = |at: usize| -> Option<usize> {
        let rest = text.get(at..)?;
        let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        (spaces > 0 && spaces < rest.len()).then_some(at + spaces)
    };
    let first = text.chars().next()?;
    if matches!(first, '-' | '*' | '•' | '–' | '·' | '▪' | '►') {
        return spaces_after(first.len_utf8());
    }
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if (1..=3).contains(&digits) {
        let rest = &text[digits..];
        if rest.starts_with(['.', ')']) {
            let end = spaces_after(digits + 1)?;
            // "3. Oktober" is a date, not a list item.
            let word: String = text[end..]
                .chars()
                .take_while(|c| c.is_alphabetic())
                .collect();
            if rest.starts_with('.') && MONTHS.contains(&word.as_str()) {
                return None;
            }
            return Some(end);
        }
        return None;
    }
    let mut chars = text.chars();
    if let (Some(letter), Some(')')) = (chars.next(), chars.next())
        && letter.is_ascii_lowercase()
    {
        return spaces_after(2);
    }
    None
}

fn ends_sentence(text: &str) -> bool {
    let text = text.trim_end_matches(['"', '“', '”', '‘', '’', '«', '»', '‹', '›', ')', ']', '\'']);
    text.ends_with(['.', '!', '?', '…', ':'])
}

/// Does the next line continue the sentence on this one (a hard-wrapped paragraph)?
fn runs_on(current: &str, next: &str) -> bool {
    if next.starts_with(|c: char| c.is_lowercase()) {
        return true;
    }
    if current.ends_with([',', ';']) {
        return true;
    }
    let last_word = current.rsplit(char::is_whitespace).next().unwrap_or("");
    current.chars().count() >= 40 && last_word.starts_with(|c: char| c.is_lowercase())
}

/// The prose blocks of a plain-text article.
pub(crate) fn parse(source: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<Line> = Vec::new();
    let mut offset = 0;
    for raw in source.split_inclusive('\n') {
        let line_start = offset;
        offset += raw.len();
        let content = raw.trim_end();
        if content.trim().is_empty() {
            push_paragraph(source, &paragraph, &mut blocks);
            paragraph.clear();
            continue;
        }
        let indent = content.len() - content.trim_start().len();
        let after_indent = &content[indent..];
        let marker = list_marker(after_indent);
        paragraph.push(Line {
            content_start: line_start + indent + marker.unwrap_or(0),
            content_end: line_start + content.len(),
            list_item: marker.is_some(),
        });
    }
    push_paragraph(source, &paragraph, &mut blocks);
    blocks
}

fn push_paragraph(source: &str, lines: &[Line], blocks: &mut Vec<Block>) {
    let mut i = 0;
    while i < lines.len() {
        let first = i;
        let mut atoms = vec![Atom::new(
            AtomKind::Text,
            lines[i].content_start,
            lines[i].content_end,
        )];
        while i + 1 < lines.len() {
            let current = &source[lines[i].content_start..lines[i].content_end];
            let next = lines[i + 1];
            let next_text = &source[next.content_start..next.content_end];
            if ends_sentence(current) || next.list_item || !runs_on(current, next_text) {
                break;
            }
            atoms.push(Atom::new(
                AtomKind::Break,
                lines[i].content_end,
                next.content_start,
            ));
            atoms.push(Atom::new(
                AtomKind::Text,
                next.content_start,
                next.content_end,
            ));
            i += 1;
        }
        blocks.push(Block {
            atoms,
            kind: kind_of(source, lines, first, i),
            split_sentences: true,
            syntax: &VERBATIM,
        });
        i += 1;
    }
}

/// What the block of `lines[first..=last]` is: a list item by its marker, a quotation by `>`, a
/// heading when the
/// next line underlines it with `=` or `-` (as Markdown's setext headings), a headline when it is
/// its paragraph's only line, short and without closing punctuation; else a paragraph.
fn kind_of(source: &str, lines: &[Line], first: usize, last: usize) -> BlockKind {
    if lines[first].list_item {
        return BlockKind::ListItem;
    }
    let text = &source[lines[first].content_start..lines[last].content_end];
    // E-mail style quoting.
    if text.starts_with('>') {
        return BlockKind::Quote;
    }
    if first == last
        && let Some(next) = lines.get(last + 1)
    {
        let underline = source[next.content_start..next.content_end].trim();
        if !underline.is_empty() && underline.bytes().all(|b| b == b'=') {
            return BlockKind::Heading(1);
        }
        if !underline.is_empty() && underline.bytes().all(|b| b == b'-') {
            return BlockKind::Heading(2);
        }
    }
    let closing = text.trim_end().ends_with([
        '.', ',', ';', ':', '!', '?', '…', '"', '“', '”', '»', '«', '\'', '’', ')',
    ]);
    if lines.len() == 1 && !closing && text.chars().count() <= 120 {
        return BlockKind::Headline;
    }
    BlockKind::Paragraph
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(list_marker("- Punkt"), Some(2));
        assert_eq!(list_marker("•  Punkt"), Some("•  ".len()));
        assert_eq!(list_marker("12. Punkt"), Some(4));
        assert_eq!(list_marker("a) Punkt"), Some(3));
        assert_eq!(list_marker("3. Oktober ist Feiertag."), None);
        assert_eq!(list_marker("-5 Grad"), None);
        assert_eq!(list_marker("2024 war ein Jahr."), None);
    }

    #[test]
    fn headline_and_byline_are_separate_but_wrapped_text_is_joined() {
        let source = "Kerry: Politische Lösung in Syrien ist Voraussetzung für breite Anti-IS-Allianz\nVon Euronews\n\nDas ist ein sehr langer Satz, der hier mitten im\nSatz umbrochen wurde.\n";
        let blocks = parse(source);
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[2].atoms.len(), 3);
    }
}

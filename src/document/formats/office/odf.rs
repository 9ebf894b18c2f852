//! OpenDocument text (.odt): the prose in the XML parts of the package.
//!
//! One reader serves the three parts that hold an article's text (and a flat `.fodt`, which holds
//! all of them): `content.xml` (everything under `office:body`), `styles.xml` (only the headers and
//! footers of the master pages: `style:header`, `style:footer`, `style:header-left`, …) and
//! `meta.xml` (only `dc:title`, a level-1 heading). As for HTML, the part is never rebuilt from a
//! tree: every byte that is not translated text stays where it was.
//!
//! Each `text:p` and `text:h` is a block. In ODF the text stands directly in the paragraph and in
//! its inline elements, so the pieces of a paragraph are:
//!
//! - `text:span`, `text:a`, `text:meta`: inline markup, `Open`/`Close` atoms put back around the
//!   translated words. Two neighbouring spans with the same start tag whose seam touches a space
//!   (`<span T1>eins. </span><span T1>Zwei`, as generators write runs) are one span to the model:
//!   the seam is a `Break` atom that holds its two tags (it goes back at a space inside the span),
//!   so a sentence is never cut at a seam that nobody sees.
//! - Marks that stand in pairs, `text:bookmark-start`/`-end`, `text:reference-mark-start`/`-end`,
//!   `text:change-start`/`-end` (a tracked insertion), an `office:annotation` (a comment, with its
//!   text, never translated) and its `office:annotation-end`: when both halves lie in the same
//!   sentence (no sentence punctuation between) and nest with the spans, markup around the
//!   translated words; otherwise single tags, as below.
//! - Tags that hold no sentence text (`text:bookmark`, `text:change`, `text:soft-page-break`, a
//!   lone mark, a `draw:frame`): next to a space they and the space are one `Break` atom (the
//!   model sees one space, not a placeholder; the tags go back at a space of the translation, in
//!   their order among the inline tags), glued between two words one protected token.
//!   `text:s`, `text:tab` and `text:line-break` are `Break` atoms too, except a `text:s` that is
//!   the only space between two words: a space, as a reference is its character.
//! - A footnote or endnote (`text:note`): after a sentence's end like the tags above (it stays
//!   with the sentence's end); inside a sentence ("Regierung¹ hat") a protected token, whose
//!   placeholder the model carries along with its word.
//! - Fields (`text:page-number`, `text:date`, `text:sequence`, …): protected tokens, placeholders
//!   the model translates around ("Seite ZX1 von ZX2").
//!
//! Footnotes, endnotes and text boxes stand *inside* a paragraph: their paragraphs are blocks of
//! their own, hosted by the sentence around them (`Parsed::nested`): the note's translation is
//! written into the note element wherever the sentence's translation puts it. Hosting goes one
//! level deep: prose three paragraphs deep (a footnote in a text box in a sentence) stays as it is.
//!
//! Never looked into: `text:tracked-changes` (deleted text), comments, image descriptions
//! (`svg:desc`, `svg:title`) and index templates. XML references are atoms with their character
//! (`&amp;` reaches the model as `&`). Language tags (`fo:language="de"`, `style:rfc-language-tag`,
//! `dc:language`) become English when a translation changed the part.

use std::collections::HashMap;

use super::super::TextFormat;
use super::xml;
use crate::document::model::{Atom, AtomKind, Block, BlockKind, Parsed, Syntax};
use crate::span::ByteSpan;

/// The XML parts of an OpenDocument text.
pub(crate) struct OdfXml;

impl TextFormat for OdfXml {
    fn parse(&self, source: &str) -> Parsed {
        let scan = Scan::new(source);
        let mut blocks = Vec::new();
        for para in Walker::new(&scan).paragraphs() {
            emit(para, 0, &mut blocks);
        }
        Parsed {
            blocks,
            language_edits: language_edits(&scan),
            raw: false,
            nested: true,
        }
    }
}

/// How text is written back into ODF element content.
#[derive(Debug)]
pub(crate) struct OdfSyntax;

static ODF_TEXT: OdfSyntax = OdfSyntax;

impl Syntax for OdfSyntax {
    fn escape_char(&self, c: char) -> Option<&'static str> {
        xml::escape_char(c)
    }

    fn visible(&self, text: &str) -> String {
        visible_text(text)
    }

    /// Every tag keeps its place in the sequence of tags: the part stays well-formed and every
    /// bookmark, note and comment stays in its order.
    fn tags_keep_order(&self) -> bool {
        true
    }

    fn holds_tag(&self, atom_text: &str) -> bool {
        atom_text.contains('<')
    }

    /// A span is its style: spans of two styles nest, links never do.
    fn markup_kind(&self, open: &str) -> String {
        let scan = Scan::new(open);
        let Some(i) = scan.tokens.iter().position(|t| t.is_tag()) else {
            return open.to_owned();
        };
        let name = scan.tokens[i].name;
        match scan.value(i, "text:style-name") {
            Some(style) if name == "text:span" => format!("{name} {style}"),
            _ => name.to_owned(),
        }
    }

    fn is_link(&self, kind: &str) -> bool {
        kind == "text:a"
    }

    /// Tags, and whatever stands inside an element that is not inline text (a note, a comment,
    /// a frame), are not prose: their quotation marks are not the sentence's.
    fn mask_markup(&self, text: &str) -> Option<String> {
        let scan = Scan::new(text);
        let mut masked = String::with_capacity(text.len());
        let mut i = 0;
        while i < scan.tokens.len() {
            let token = scan.tokens[i];
            let mut span = token.span;
            if token.kind == Tk::Start
                && !INLINE.contains(&token.name)
                && let Some(k) = scan.close[i]
            {
                span.end = scan.tokens[k].span.end;
                i = k;
            }
            let piece = &text[span.start..span.end];
            if token.kind == Tk::Text && span == token.span {
                masked.push_str(piece);
            } else {
                masked.extend(std::iter::repeat_n('x', piece.len()));
            }
            i += 1;
        }
        Some(masked)
    }
}

/// What a reader sees of an ODF fragment: its text with the references decoded, `text:s`,
/// `text:tab` and `text:line-break` as the characters they stand for, and nothing of notes,
/// comments, frames and fields.
pub(crate) fn visible_text(fragment: &str) -> String {
    let scan = Scan::new(fragment);
    let mut out = String::new();
    let mut i = 0;
    while i < scan.tokens.len() {
        let token = scan.tokens[i];
        match token.kind {
            Tk::Text => decode_into(&fragment[token.span.start..token.span.end], &mut out),
            Tk::Empty | Tk::Start => match token.name {
                "text:s" => {
                    let count = scan.value(i, "text:c").and_then(|c| c.parse().ok());
                    out.extend(std::iter::repeat_n(' ', count.unwrap_or(1usize).min(1000)));
                }
                "text:tab" => out.push('\t'),
                "text:line-break" => out.push('\n'),
                name if token.kind == Tk::Start && !INLINE.contains(&name) => {
                    if let Some(k) = scan.close[i] {
                        i = k;
                    }
                }
                _ => {}
            },
            _ => {}
        }
        i += 1;
    }
    out
}

/// Applies the language rewrites to a whole part (`styles.xml`'s default style, say):
/// `fo:language="de"` (with its `fo:country`), `style:rfc-language-tag` and `dc:language` become
/// English. `None` when the part has no German language tag.
pub(crate) fn english_language(xml: &str) -> Option<String> {
    let edits = language_edits(&Scan::new(xml));
    (!edits.is_empty()).then(|| xml::with_edits(xml, &edits))
}

/// The rebuilt part (`translated`) with spaces written the ODF way: a reader collapses a run of
/// spaces to one and drops the spaces that open a paragraph, unless they are `text:s`. Only
/// paragraphs a translation changed are touched, and only where the source paragraph itself
/// wrote its spaces that way (a generator that leaves raw runs of spaces meant them collapsed).
pub(crate) fn finish_part(source: &str, translated: &str) -> String {
    if source == translated {
        return translated.to_owned();
    }
    let (src, out) = (Scan::new(source), Scan::new(translated));
    let (src_paras, out_paras) = (src.paragraph_starts(), out.paragraph_starts());
    let corresponding = src_paras.len() == out_paras.len();
    let mut edits: Vec<(ByteSpan, String)> = Vec::new();
    for (n, &p) in out_paras.iter().enumerate() {
        if corresponding {
            let q = src_paras[n];
            if out.element_text(p) == src.element_text(q) || !space_edits(&src, q).is_empty() {
                continue;
            }
        }
        edits.extend(space_edits(&out, p));
    }
    if edits.is_empty() {
        return translated.to_owned();
    }
    edits.sort_by_key(|(span, _)| span.start);
    let mut text = String::with_capacity(translated.len() + 16 * edits.len());
    let mut cursor = 0;
    for (span, replacement) in edits {
        if span.start < cursor {
            continue;
        }
        text.push_str(&translated[cursor..span.start]);
        text.push_str(&replacement);
        cursor = span.end;
    }
    text.push_str(&translated[cursor..]);
    text
}

/// The `text:s` a paragraph's own text needs where its spaces would collapse: runs of spaces
/// after the first, and spaces that open the paragraph. Tabs and line feeds in the text are the
/// source's layout and stay.
fn space_edits(scan: &Scan, paragraph: usize) -> Vec<(ByteSpan, String)> {
    let Some(close) = scan.close[paragraph] else {
        return Vec::new();
    };
    let mut edits = Vec::new();
    // Nothing visible yet (leading spaces vanish), and whether the text so far ends in a space.
    let (mut at_start, mut after_space) = (true, false);
    let mut i = paragraph + 1;
    while i < close {
        let token = scan.tokens[i];
        match token.kind {
            Tk::Text => {
                let text = &scan.source[token.span.start..token.span.end];
                for (start, end) in whitespace_runs(text) {
                    let run = &text[start..end];
                    let starts_text = start == 0;
                    if run.bytes().all(|b| b == b' ') {
                        let swallowed = if starts_text && (at_start || after_space) {
                            run.len()
                        } else {
                            run.len() - 1
                        };
                        if swallowed > 0 {
                            let at = token.span.start + end - swallowed;
                            edits.push((
                                ByteSpan::new(at, token.span.start + end),
                                text_s(swallowed),
                            ));
                        }
                    }
                    if start > 0 {
                        at_start = false;
                    }
                }
                if !text.trim_matches(XML_SPACE).is_empty() {
                    at_start = false;
                }
                if !text.is_empty() {
                    after_space = text.ends_with(XML_SPACE);
                }
            }
            Tk::Start | Tk::Empty if INLINE.contains(&token.name) => {}
            Tk::Start | Tk::Empty if zero_text(token.name) => {
                if token.kind == Tk::Start
                    && let Some(k) = scan.close[i]
                {
                    i = k;
                }
            }
            Tk::Start | Tk::Empty => {
                // Explicit spaces, tabs, notes, frames, fields: visible, and not collapsible.
                (at_start, after_space) = (false, false);
                if token.kind == Tk::Start
                    && let Some(k) = scan.close[i]
                {
                    i = k;
                }
            }
            Tk::End | Tk::Other => {}
        }
        i += 1;
    }
    edits
}

const XML_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// The maximal runs of XML white space in `text`, as byte ranges.
fn whitespace_runs(text: &str) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, b) in text.bytes().enumerate() {
        let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r');
        match (space, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        runs.push((s, text.len()));
    }
    runs
}

/// `n` spaces that do not collapse.
fn text_s(n: usize) -> String {
    if n == 1 {
        "<text:s/>".to_owned()
    } else {
        format!("<text:s text:c=\"{n}\"/>")
    }
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tk {
    /// A start tag with content to follow.
    Start,
    /// A self-closing tag (`<text:s/>`).
    Empty,
    End,
    Text,
    /// A comment, processing instruction, CDATA section or declaration.
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Tk,
    span: ByteSpan,
    /// The qualified element name of a tag (`text:span`), else empty.
    name: &'a str,
}

impl Token<'_> {
    fn is_tag(&self) -> bool {
        matches!(self.kind, Tk::Start | Tk::Empty)
    }
}

/// A part cut into tokens that cover every byte, with each start tag's end tag.
struct Scan<'a> {
    source: &'a str,
    tokens: Vec<Token<'a>>,
    /// For a start tag: the index of its end tag (`None` when the part never closes it).
    close: Vec<Option<usize>>,
}

impl<'a> Scan<'a> {
    fn new(source: &'a str) -> Self {
        let tokens = tokenize(source);
        let mut close = vec![None; tokens.len()];
        let mut open: Vec<usize> = Vec::new();
        for (i, token) in tokens.iter().enumerate() {
            match token.kind {
                Tk::Start => open.push(i),
                Tk::End => {
                    if let Some(k) = open.iter().rposition(|&s| tokens[s].name == token.name) {
                        close[open[k]] = Some(i);
                        open.truncate(k);
                    }
                }
                _ => {}
            }
        }
        Self {
            source,
            tokens,
            close,
        }
    }

    /// The bytes of an element: its start tag through its end tag (or the tag alone).
    fn element_span(&self, i: usize) -> ByteSpan {
        let start = self.tokens[i].span.start;
        let end = self.close[i].map_or(self.tokens[i].span.end, |k| self.tokens[k].span.end);
        ByteSpan::new(start, end)
    }

    fn element_text(&self, i: usize) -> &'a str {
        let span = self.element_span(i);
        &self.source[span.start..span.end]
    }

    /// Where the value of attribute `name` of tag `i` is written (without its quotes).
    fn attribute(&self, i: usize, name: &str) -> Option<ByteSpan> {
        let token = self.tokens[i];
        let tag = &self.source[token.span.start..token.span.end];
        let mut rest = tag.get(1 + token.name.len()..)?;
        let mut offset = token.span.start + 1 + token.name.len();
        loop {
            let trimmed = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
            offset += rest.len() - trimmed.len();
            let key_len = trimmed.find(|c: char| c == '=' || c.is_ascii_whitespace())?;
            let key = &trimmed[..key_len];
            let after_key = &trimmed[key_len..];
            let after_eq = after_key
                .trim_start_matches(|c: char| c.is_ascii_whitespace())
                .strip_prefix('=')?
                .trim_start_matches(|c: char| c.is_ascii_whitespace());
            let quote = after_eq
                .chars()
                .next()
                .filter(|c| matches!(c, '"' | '\''))?;
            let value_start = offset + (trimmed.len() - after_eq.len()) + 1;
            let value_len = after_eq[1..].find(quote)?;
            if key == name {
                return Some(ByteSpan::new(value_start, value_start + value_len));
            }
            let consumed = value_start + value_len + 1 - offset;
            rest = trimmed.get(consumed..)?;
            offset += consumed;
        }
    }

    fn value(&self, i: usize, name: &str) -> Option<&'a str> {
        self.attribute(i, name)
            .map(|span| &self.source[span.start..span.end])
    }

    /// Every `text:p` and `text:h` start tag, in document order.
    fn paragraph_starts(&self) -> Vec<usize> {
        (0..self.tokens.len())
            .filter(|&i| self.tokens[i].kind == Tk::Start && is_paragraph(self.tokens[i].name))
            .collect()
    }
}

/// Cuts XML into tokens covering every byte (malformed XML gives tokens too, never a panic).
fn tokenize(source: &str) -> Vec<Token<'_>> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    let find = |from: usize, pattern: &str| source[from..].find(pattern).map(|k| from + k);
    while i < bytes.len() {
        if bytes[i] != b'<' {
            let end = find(i, "<").unwrap_or(source.len());
            tokens.push(Token {
                kind: Tk::Text,
                span: ByteSpan::new(i, end),
                name: "",
            });
            i = end;
            continue;
        }
        let rest = &source[i..];
        let other =
            |end: Option<usize>, len: usize| (Tk::Other, end.map_or(source.len(), |e| e + len));
        let (kind, end) = if rest.starts_with("<!--") {
            other(find(i + 4, "-->"), 3)
        } else if rest.starts_with("<![CDATA[") {
            other(find(i + 9, "]]>"), 3)
        } else if rest.starts_with("<?") {
            other(find(i + 2, "?>"), 2)
        } else {
            match tag_end(rest) {
                Some(k) if rest.starts_with("<!") => (Tk::Other, i + k + 1),
                Some(k) if rest.starts_with("</") => (Tk::End, i + k + 1),
                Some(k) if k > 0 && bytes[i + k - 1] == b'/' => (Tk::Empty, i + k + 1),
                Some(k) => (Tk::Start, i + k + 1),
                // A `<` that starts no tag (broken XML): one byte, the text goes on after it.
                None => (Tk::Other, i + 1),
            }
        };
        let name = match kind {
            Tk::Start | Tk::Empty | Tk::End => source[i..end]
                .trim_start_matches(['<', '/'])
                .split(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
                .next()
                .unwrap_or(""),
            _ => "",
        };
        tokens.push(Token {
            kind,
            span: ByteSpan::new(i, end),
            name,
        });
        i = end;
    }
    tokens
}

/// The index of the `>` that ends the tag at the start of `rest`, outside quoted values (a
/// declaration's internal subset in brackets included).
fn tag_end(rest: &str) -> Option<usize> {
    let mut quote: Option<u8> = None;
    let mut brackets = 0usize;
    for (k, b) in rest.bytes().enumerate().skip(1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => brackets += 1,
            (None, b']') => brackets = brackets.saturating_sub(1),
            (None, b'>') if brackets == 0 => return Some(k),
            (None, b'<') if !rest.starts_with("<!") => return None,
            _ => {}
        }
    }
    None
}

/// The character an XML reference at the start of `text` stands for, and its length: `None`
/// when `text` does not start with a well-formed reference. `Some((len, None))` for a named
/// entity XML does not define (the part declares it, or it is broken: kept as it is).
fn reference(text: &str) -> Option<(usize, Option<char>)> {
    let end = text.bytes().take(40).position(|b| b == b';')?;
    let name = &text[1..end];
    let c = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            if let Some(number) = name.strip_prefix('#') {
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => number.parse().ok(),
                };
                Some(char::from_u32(code?)?)
            } else if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
            {
                None
            } else {
                return None;
            }
        }
    };
    Some((end + 1, c))
}

/// Appends `raw` element content with its references decoded.
fn decode_into(raw: &str, out: &mut String) {
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        if rest.starts_with('&')
            && let Some((len, c)) = reference(rest)
        {
            match c {
                Some(c) => out.push(c),
                None => out.push_str(&rest[..len]),
            }
            i += len;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
}

// ---------------------------------------------------------------------------------------------
// Which element is what

/// How many elements deep the walk looks for paragraphs inside paragraphs.
const MAX_NESTING: usize = 200;

/// Inline elements whose content is the paragraph's text.
const INLINE: &[&str] = &["text:span", "text:a", "text:meta"];

/// Where prose lies: the body, and the headers and footers of master pages.
const PROSE_REGIONS: &[&str] = &[
    "office:body",
    "style:header",
    "style:footer",
    "style:header-left",
    "style:footer-left",
    "style:header-first",
    "style:footer-first",
];

/// Never looked into: deleted text, comments, image descriptions, the templates of indexes,
/// forms and scripts.
fn skipped(name: &str) -> bool {
    matches!(
        name,
        "text:tracked-changes"
            | "office:annotation"
            | "svg:desc"
            | "svg:title"
            | "office:forms"
            | "office:scripts"
            | "office:event-listeners"
            | "office:binary-data"
    ) || name.starts_with("text:") && name.ends_with("-source")
}

fn is_paragraph(name: &str) -> bool {
    name == "text:p" || name == "text:h"
}

/// Marks without text of their own (a bookmark, a tracked change, a page break).
fn zero_text(name: &str) -> bool {
    mark_key(name).is_some()
        || matches!(
            name,
            "text:bookmark"
                | "text:reference-mark"
                | "text:change"
                | "text:soft-page-break"
                | "text:toc-mark"
                | "text:alphabetical-index-mark"
                | "text:user-index-mark"
                | "office:annotation"
        )
}

/// For the halves of a mark that may stand around words: its family, the attribute naming its
/// pair, and whether it opens.
fn mark_key(name: &str) -> Option<(&'static str, &'static str, bool)> {
    Some(match name {
        "text:bookmark-start" => ("bookmark", "text:name", true),
        "text:bookmark-end" => ("bookmark", "text:name", false),
        "text:reference-mark-start" => ("reference", "text:name", true),
        "text:reference-mark-end" => ("reference", "text:name", false),
        "text:change-start" => ("change", "text:change-id", true),
        "text:change-end" => ("change", "text:change-id", false),
        "office:annotation" => ("annotation", "office:name", true),
        "office:annotation-end" => ("annotation", "office:name", false),
        "text:toc-mark-start" => ("toc", "text:id", true),
        "text:toc-mark-end" => ("toc", "text:id", false),
        "text:alphabetical-index-mark-start" => ("index", "text:id", true),
        "text:alphabetical-index-mark-end" => ("index", "text:id", false),
        "text:user-index-mark-start" => ("user-index", "text:id", true),
        "text:user-index-mark-end" => ("user-index", "text:id", false),
        _ => return None,
    })
}

/// Elements that stand beside the sentence rather than in it: notes and drawings (frames, text
/// boxes, shapes, images).
fn aside(name: &str) -> bool {
    name.starts_with("draw:") || name.starts_with("dr3d:")
}

// ---------------------------------------------------------------------------------------------
// Paragraphs

/// One piece of a paragraph's content, before the atoms are made.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece<'a> {
    /// Text without white space.
    Lit(ByteSpan),
    /// A run of white space.
    Ws(ByteSpan),
    /// A reference with its character (`None`: an entity XML does not define).
    Reference(ByteSpan, Option<char>),
    /// Inline markup with the index of its other half.
    Open(ByteSpan, Option<usize>),
    Close(ByteSpan, Option<usize>),
    /// A mark that may pair: (family, name of the pair, opens).
    Mark(ByteSpan, (&'static str, &'a str, bool)),
    Stop(ByteSpan, Stop),
}

/// What the model does not see as words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `text:s`, `text:tab` (`line: true`), `text:line-break` (`line: true`).
    Space { line: bool },
    /// A tag without sentence text, a note, a frame.
    Aside,
    /// The seam between two spans with the same start tag.
    Seam,
    /// A footnote or endnote: after a sentence's end it stands beside the words (`Aside`),
    /// inside a sentence it is a placeholder the model carries with its word (`Word`).
    Note,
    /// A field: its value reads as a word of the sentence.
    Word,
}

impl Piece<'_> {
    fn span(&self) -> ByteSpan {
        match *self {
            Piece::Lit(s)
            | Piece::Ws(s)
            | Piece::Reference(s, _)
            | Piece::Open(s, _)
            | Piece::Close(s, _)
            | Piece::Mark(s, _)
            | Piece::Stop(s, _) => s,
        }
    }

    /// A tag that stands beside the words (with the white space around it, one break atom).
    fn in_stop_run(&self) -> bool {
        matches!(
            self,
            Piece::Stop(_, Stop::Space { .. } | Stop::Aside | Stop::Seam)
        )
    }
}

/// A paragraph with its atoms, and the paragraphs inside it (notes, text boxes).
struct Para {
    atoms: Vec<Atom>,
    kind: BlockKind,
    prose: bool,
    children: Vec<Para>,
}

/// Emits a paragraph and those inside it as blocks. A paragraph inside two emitted ones would
/// be a guest of a guest, which hosting does not do: it stays as it is.
fn emit(para: Para, emitted_around: usize, blocks: &mut Vec<Block>) {
    let emitted = para.prose && emitted_around < 2;
    if emitted {
        blocks.push(Block {
            atoms: para.atoms,
            kind: para.kind,
            split_sentences: true,
            syntax: &ODF_TEXT,
        });
    }
    for child in para.children {
        emit(child, emitted_around + usize::from(emitted), blocks);
    }
}

struct Walker<'s, 'a> {
    scan: &'s Scan<'a>,
    /// Each paragraph style and the style it is based on (automatic styles `P1` on `Title`).
    parents: HashMap<&'a str, &'a str>,
}

impl<'s, 'a> Walker<'s, 'a> {
    fn new(scan: &'s Scan<'a>) -> Self {
        let mut parents = HashMap::new();
        for (i, token) in scan.tokens.iter().enumerate() {
            if token.is_tag()
                && token.name == "style:style"
                && let (Some(name), Some(parent)) = (
                    scan.value(i, "style:name"),
                    scan.value(i, "style:parent-style-name"),
                )
            {
                parents.insert(name, parent);
            }
        }
        Self { scan, parents }
    }

    /// The paragraphs of the part's prose regions (and the title of its metadata), with the
    /// paragraphs inside them.
    fn paragraphs(&self) -> Vec<Para> {
        let mut out = Vec::new();
        let mut context = Vec::new();
        self.walk(0, self.scan.tokens.len(), &mut context, false, &mut out);
        out
    }

    /// The paragraphs among tokens `from..to`; `context` holds the open elements around them.
    fn walk(
        &self,
        from: usize,
        to: usize,
        context: &mut Vec<&'a str>,
        active: bool,
        out: &mut Vec<Para>,
    ) {
        let base = context.len();
        let mut i = from;
        while i < to {
            let token = self.scan.tokens[i];
            match token.kind {
                Tk::Start => {
                    let close = self.scan.close[i];
                    let in_prose = active || context.iter().any(|n| PROSE_REGIONS.contains(n));
                    if skipped(token.name) {
                        i = close.map_or(i + 1, |k| k + 1);
                        continue;
                    }
                    if let Some(k) = close {
                        let title =
                            token.name == "dc:title" && context.last() == Some(&"office:meta");
                        if in_prose && is_paragraph(token.name) || title {
                            out.push(self.paragraph(i, k, context));
                            i = k + 1;
                            continue;
                        }
                    }
                    context.push(token.name);
                }
                Tk::End => {
                    if let Some(k) = context[base..].iter().rposition(|n| *n == token.name) {
                        context.truncate(base + k);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        context.truncate(base);
    }

    /// The paragraph (or title) whose start tag is token `start` and end tag token `end`.
    fn paragraph(&self, start: usize, end: usize, context: &mut Vec<&'a str>) -> Para {
        let kind = self.kind(start, context);
        context.push(self.scan.tokens[start].name);
        let mut pieces: Vec<Piece> = Vec::new();
        let mut children = Vec::new();
        let mut open: Vec<(usize, usize)> = Vec::new();
        let mut i = start + 1;
        while i < end {
            let token = self.scan.tokens[i];
            match token.kind {
                Tk::Text => text_pieces(self.scan.source, token.span, &mut pieces),
                Tk::Other => pieces.push(Piece::Stop(token.span, Stop::Aside)),
                Tk::Empty => pieces.push(self.tag_piece(i, token.span)),
                Tk::End => match open.last() {
                    Some(&(k, p)) if k == i => {
                        open.pop();
                        pieces[p] = Piece::Open(pieces[p].span(), Some(pieces.len()));
                        pieces.push(Piece::Close(token.span, Some(p)));
                    }
                    _ => pieces.push(Piece::Stop(token.span, Stop::Aside)),
                },
                Tk::Start => match self.scan.close[i] {
                    Some(k) if INLINE.contains(&token.name) => {
                        open.push((k, pieces.len()));
                        pieces.push(Piece::Open(token.span, None));
                    }
                    Some(k) => {
                        let span = ByteSpan::new(token.span.start, self.scan.tokens[k].span.end);
                        // (Prose nested deeper than any document nests it is left as it is:
                        // the walk recurses once per level.)
                        if !skipped(token.name) && context.len() < MAX_NESTING {
                            context.push(token.name);
                            self.walk(i + 1, k, context, true, &mut children);
                            context.pop();
                        }
                        pieces.push(self.tag_piece(i, span));
                        i = k;
                    }
                    None => pieces.push(Piece::Stop(token.span, Stop::Aside)),
                },
            }
            i += 1;
        }
        context.pop();
        // An inline element the paragraph never closes (broken XML) is kept as a tag.
        for (_, p) in open {
            pieces[p] = Piece::Stop(pieces[p].span(), Stop::Aside);
        }
        let source = self.scan.source;
        let prose = pieces.iter().any(|piece| match *piece {
            Piece::Lit(s) => source[s.start..s.end].chars().any(char::is_alphabetic),
            Piece::Reference(_, Some(c)) => c.is_alphabetic(),
            _ => false,
        });
        Para {
            atoms: atoms(source, pieces),
            kind,
            prose,
            children,
        }
    }

    /// The piece for a tag (or a whole element, `span`) that is not inline markup.
    fn tag_piece(&self, i: usize, span: ByteSpan) -> Piece<'a> {
        let name = self.scan.tokens[i].name;
        match name {
            "text:s" => return Piece::Stop(span, Stop::Space { line: false }),
            "text:tab" | "text:line-break" => return Piece::Stop(span, Stop::Space { line: true }),
            _ => {}
        }
        if let Some((family, attribute, opens)) = mark_key(name) {
            // odfpy names a comment with `draw:name`; LibreOffice writes `office:name`.
            let id = self.scan.value(i, attribute).or_else(|| {
                (family == "annotation")
                    .then(|| self.scan.value(i, "draw:name"))
                    .flatten()
            });
            if let Some(id) = id {
                return Piece::Mark(span, (family, id, opens));
            }
        }
        if name == "text:note" {
            Piece::Stop(span, Stop::Note)
        } else if zero_text(name) || aside(name) {
            Piece::Stop(span, Stop::Aside)
        } else {
            Piece::Stop(span, Stop::Word)
        }
    }

    /// The kind of the paragraph at token `i` among the open elements `context`.
    fn kind(&self, i: usize, context: &[&str]) -> BlockKind {
        let token = self.scan.tokens[i];
        if token.name == "dc:title" {
            return BlockKind::Heading(1);
        }
        if token.name == "text:h" {
            let level = self
                .scan
                .value(i, "text:outline-level")
                .and_then(|l| l.trim().parse::<u8>().ok())
                .unwrap_or(1);
            return BlockKind::Heading(level.clamp(1, 6));
        }
        let by_style = self
            .scan
            .value(i, "text:style-name")
            .and_then(|s| self.style_kind(s));
        if let Some(heading @ BlockKind::Heading(_)) = by_style {
            return heading;
        }
        for name in context.iter().rev() {
            match *name {
                "text:list-item" | "text:list-header" | "text:numbered-paragraph" => {
                    return BlockKind::ListItem;
                }
                "table:table-cell" | "table:covered-table-cell" => return BlockKind::Cell,
                "text:p" | "text:h" | "text:note-body" | "draw:text-box" => break,
                _ => {}
            }
        }
        by_style.unwrap_or_default()
    }

    /// The kind a paragraph style gives (`Title`, `Heading 2`, a quotation style), following
    /// the styles it is based on.
    fn style_kind(&self, style: &str) -> Option<BlockKind> {
        let mut name = style;
        for _ in 0..8 {
            let display = name.replace("_20_", " ");
            if display == "Title" {
                return Some(BlockKind::Heading(1));
            }
            if display == "Subtitle" {
                return Some(BlockKind::Heading(2));
            }
            if let Some(level) = display
                .strip_prefix("Heading ")
                .and_then(|l| l.parse::<u8>().ok())
            {
                return Some(BlockKind::Heading(level.clamp(1, 6)));
            }
            if display.to_ascii_lowercase().contains("quot") {
                return Some(BlockKind::Quote);
            }
            name = self.parents.get(name).copied()?;
        }
        None
    }
}

/// The pieces of a text token: runs of white space, references, and the text between.
fn text_pieces(source: &str, span: ByteSpan, pieces: &mut Vec<Piece>) {
    let raw = &source[span.start..span.end];
    let mut run_start = 0;
    let mut run_space: Option<bool> = None;
    let flush = |pieces: &mut Vec<Piece>, from: usize, to: usize, space: Option<bool>| {
        let s = ByteSpan::new(span.start + from, span.start + to);
        match space {
            _ if from == to => {}
            Some(true) => pieces.push(Piece::Ws(s)),
            _ => pieces.push(Piece::Lit(s)),
        }
    };
    let mut i = 0;
    while i < raw.len() {
        let rest = &raw[i..];
        if rest.starts_with('&')
            && let Some((len, c)) = reference(rest)
        {
            flush(pieces, run_start, i, run_space);
            let s = ByteSpan::new(span.start + i, span.start + i + len);
            pieces.push(Piece::Reference(s, c));
            i += len;
            (run_start, run_space) = (i, None);
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        let space = XML_SPACE.contains(&c);
        if run_space.is_some_and(|s| s != space) {
            flush(pieces, run_start, i, run_space);
            run_start = i;
        }
        run_space = Some(space);
        i += c.len_utf8();
    }
    flush(pieces, run_start, raw.len(), run_space);
}

/// Pairs the marks that may stand around words; the others become single tags.
fn pair_marks(source: &str, pieces: &mut [Piece]) {
    for s in 0..pieces.len() {
        let Piece::Mark(start_span, (family, id, true)) = pieces[s] else {
            continue;
        };
        let end = (s + 1..pieces.len()).find(
            |&e| matches!(pieces[e], Piece::Mark(_, (f, i, false)) if f == family && i == id),
        );
        if let Some(e) = end
            && one_sentence(source, &pieces[s + 1..e])
        {
            pieces[s] = Piece::Open(start_span, Some(e));
            pieces[e] = Piece::Close(pieces[e].span(), Some(s));
        }
    }
    for piece in pieces.iter_mut() {
        if let Piece::Mark(span, _) = *piece {
            *piece = Piece::Stop(span, Stop::Aside);
        }
    }
}

/// Do these pieces hold words of one sentence and nest with the markup? (Some text, no
/// sentence punctuation, tab or line break among them; every markup among them opens and closes
/// there.)
fn one_sentence(source: &str, pieces: &[Piece]) -> bool {
    if !pieces.iter().any(|p| matches!(p, Piece::Lit(_))) {
        return false;
    }
    let mut depth = 0usize;
    for piece in pieces {
        match *piece {
            Piece::Open(..) => depth += 1,
            Piece::Close(..) => {
                let Some(d) = depth.checked_sub(1) else {
                    return false;
                };
                depth = d;
            }
            Piece::Lit(s) if source[s.start..s.end].contains(['.', '!', '?', ';', ':', '…']) => {
                return false;
            }
            Piece::Reference(_, Some('.' | '!' | '?' | ';' | ':' | '…'))
            | Piece::Stop(_, Stop::Space { line: true }) => return false,
            _ => {}
        }
    }
    depth == 0
}

/// Two neighbouring spans with the same start tag, whose seam touches white space, are one span
/// to the model: the seam (`</text:span>` and the next start tag) becomes a stop.
fn join_seams(source: &str, pieces: &mut [Piece]) {
    for c in 0..pieces.len() {
        let Piece::Close(_, Some(first_open)) = pieces[c] else {
            continue;
        };
        let Some(next) = (c + 1..pieces.len()).find(|&k| !matches!(pieces[k], Piece::Ws(_))) else {
            continue;
        };
        let Piece::Open(next_span, Some(next_close)) = pieces[next] else {
            continue;
        };
        let tag = |p: &Piece| {
            let s = p.span();
            &source[s.start..s.end]
        };
        let same = tag(&pieces[first_open]) == &source[next_span.start..next_span.end]
            && tag(&pieces[first_open]).starts_with("<text:span");
        let touches_space = next > c + 1
            || c > 0 && matches!(pieces[c - 1], Piece::Ws(_))
            || matches!(pieces.get(next + 1), Some(Piece::Ws(_)));
        if same && touches_space {
            pieces[first_open] = Piece::Open(pieces[first_open].span(), Some(next_close));
            pieces[next_close] = Piece::Close(pieces[next_close].span(), Some(first_open));
            pieces[c] = Piece::Stop(pieces[c].span(), Stop::Seam);
            pieces[next] = Piece::Stop(next_span, Stop::Seam);
        }
    }
}

/// The runs of stops with the white space between and around them: (first piece, last piece).
fn stop_runs(pieces: &[Piece]) -> Vec<(usize, usize)> {
    let is_ws = |k: usize| matches!(pieces.get(k), Some(Piece::Ws(_)));
    let mut runs = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        if !pieces[i].in_stop_run() {
            i += 1;
            continue;
        }
        let mut last = i;
        let mut j = i + 1;
        while j < pieces.len() {
            if pieces[j].in_stop_run() {
                last = j;
            } else if !(is_ws(j) && pieces.get(j + 1).is_some_and(Piece::in_stop_run)) {
                break;
            }
            j += 1;
        }
        let first = if i > 0 && is_ws(i - 1) { i - 1 } else { i };
        let end = if is_ws(last + 1) { last + 1 } else { last };
        runs.push((first, end));
        i = end + 1;
    }
    runs
}

/// A note after a sentence's end (or a space) stands beside the words; one inside a sentence
/// ("Regierung¹ hat") is a placeholder the model carries with its word.
fn place_notes(source: &str, pieces: &mut [Piece]) {
    const ENDS: [char; 4] = ['.', '!', '?', '…'];
    const CLOSING: [char; 8] = ['"', '\'', '“', '”', '’', '«', '»', ')'];
    for k in 0..pieces.len() {
        let Piece::Stop(span, Stop::Note) = pieces[k] else {
            continue;
        };
        let before = pieces[..k]
            .iter()
            .rev()
            .find(|p| matches!(p, Piece::Lit(_) | Piece::Ws(_) | Piece::Reference(..)));
        let after_end = match before {
            None | Some(Piece::Ws(_)) => true,
            Some(Piece::Lit(s)) => source[s.start..s.end]
                .trim_end_matches(CLOSING)
                .ends_with(ENDS),
            Some(Piece::Reference(_, Some(c))) => ENDS.contains(c) || CLOSING.contains(c),
            Some(_) => false,
        };
        let stop = if after_end { Stop::Aside } else { Stop::Word };
        pieces[k] = Piece::Stop(span, stop);
    }
}

/// A `text:s` for one space with no white space beside it is the space between two words
/// (LibreOffice writes one after a field: `<text:page-number/><text:s/>von`): the model sees a
/// space, and a translation writes its own spaces. (As a break it would have to keep its order
/// with the field's placeholder, which breaks are not placed by.)
fn single_spaces(source: &str, pieces: &mut [Piece]) {
    for k in 0..pieces.len() {
        let Piece::Stop(span, Stop::Space { line: false }) = pieces[k] else {
            continue;
        };
        let beside = |p: Option<&Piece>| {
            matches!(p, Some(Piece::Ws(_))) || p.is_some_and(Piece::in_stop_run)
        };
        let one = !source[span.start..span.end].contains("text:c=")
            || source[span.start..span.end].contains("text:c=\"1\"");
        if one
            && !beside(k.checked_sub(1).and_then(|b| pieces.get(b)))
            && !beside(pieces.get(k + 1))
        {
            pieces[k] = Piece::Reference(span, Some(' '));
        }
    }
}

/// The atoms of a paragraph's pieces (see the module documentation).
fn atoms(source: &str, mut pieces: Vec<Piece>) -> Vec<Atom> {
    place_notes(source, &mut pieces);
    pair_marks(source, &mut pieces);
    join_seams(source, &mut pieces);
    single_spaces(source, &mut pieces);
    let runs = stop_runs(&pieces);
    let mut atoms: Vec<Atom> = Vec::with_capacity(pieces.len());
    let mut atom_of = vec![usize::MAX; pieces.len()];
    let mut plain_text = false;
    let mut runs = runs.into_iter().peekable();
    let mut k = 0;
    while k < pieces.len() {
        if let Some(&(first, last)) = runs.peek()
            && first == k
        {
            runs.next();
            let spaced = pieces[first..=last].iter().any(|p| {
                matches!(
                    p,
                    Piece::Ws(_) | Piece::Stop(_, Stop::Space { .. } | Stop::Seam)
                )
            });
            let kind = if spaced {
                AtomKind::Break
            } else {
                AtomKind::Protected
            };
            atoms.push(Atom::new(
                kind,
                pieces[first].span().start,
                pieces[last].span().end,
            ));
            plain_text = false;
            k = last + 1;
            continue;
        }
        let piece = pieces[k];
        let span = piece.span();
        // Text and single spaces between words are one text atom; other white space (a run of
        // spaces, a line feed) reads as one space, a break.
        let text = match piece {
            Piece::Lit(_) => true,
            Piece::Ws(s) => &source[s.start..s.end] == " ",
            _ => false,
        };
        if text {
            match atoms.last_mut() {
                Some(last) if plain_text => last.span.end = span.end,
                _ => atoms.push(Atom::new(AtomKind::Text, span.start, span.end)),
            }
            plain_text = true;
            k += 1;
            continue;
        }
        match piece {
            Piece::Lit(_) | Piece::Ws(_) => {
                atoms.push(Atom::new(AtomKind::Break, span.start, span.end))
            }
            Piece::Reference(_, Some(c)) => {
                let mut atom = Atom::new(AtomKind::Text, span.start, span.end);
                atom.decoded = Some(c);
                atoms.push(atom);
            }
            Piece::Open(..) => {
                atom_of[k] = atoms.len();
                atoms.push(Atom::new(AtomKind::Open, span.start, span.end));
            }
            Piece::Close(..) => {
                atom_of[k] = atoms.len();
                atoms.push(Atom::new(AtomKind::Close, span.start, span.end));
            }
            Piece::Reference(_, None) | Piece::Mark(..) | Piece::Stop(..) => {
                atoms.push(Atom::new(AtomKind::Protected, span.start, span.end))
            }
        }
        plain_text = false;
        k += 1;
    }
    for (k, piece) in pieces.iter().enumerate() {
        if let Piece::Open(_, Some(p)) | Piece::Close(_, Some(p)) = *piece
            && atom_of[k] != usize::MAX
            && atom_of.get(p).is_some_and(|&a| a != usize::MAX)
        {
            atoms[atom_of[k]].partner = Some(atom_of[p]);
        }
    }
    atoms
}

// ---------------------------------------------------------------------------------------------
// Language tags

/// The rewrites that make the part's language tags English: `fo:language="de"` → `en` (and its
/// `fo:country` → `US`), `style:rfc-language-tag` and `dc:language` `de-DE` → `en-US`.
fn language_edits(scan: &Scan) -> Vec<(ByteSpan, &'static str)> {
    let mut edits = Vec::new();
    for (i, token) in scan.tokens.iter().enumerate() {
        if !token.is_tag() {
            continue;
        }
        if let Some(language) = scan.attribute(i, "fo:language")
            && scan.source[language.start..language.end].eq_ignore_ascii_case("de")
        {
            edits.push((language, "en"));
            if let Some(country) = scan.attribute(i, "fo:country")
                && !country.is_empty()
                && &scan.source[country.start..country.end] != "none"
            {
                edits.push((country, "US"));
            }
        }
        if let Some(tag) = scan.attribute(i, "style:rfc-language-tag")
            && let Some(english) = english_tag(&scan.source[tag.start..tag.end])
        {
            edits.push((tag, english));
        }
        if token.name == "dc:language"
            && token.kind == Tk::Start
            && let Some(text) = scan.tokens.get(i + 1).filter(|t| t.kind == Tk::Text)
        {
            let raw = &scan.source[text.span.start..text.span.end];
            let lead = raw.len() - raw.trim_start().len();
            let tag = ByteSpan::new(
                text.span.start + lead,
                text.span.start + lead + raw.trim().len(),
            );
            if let Some(english) = english_tag(raw.trim()) {
                edits.push((tag, english));
            }
        }
    }
    edits.sort_by_key(|(span, _)| span.start);
    edits
}

/// The English for a German language tag: `de` → `en`, `de-DE` (any region) → `en-US`.
fn english_tag(tag: &str) -> Option<&'static str> {
    let lower = tag.to_ascii_lowercase();
    if lower == "de" {
        Some("en")
    } else if lower.starts_with("de-") {
        Some("en-US")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;
    use quick_xml::events::Event;
    use quick_xml::reader::Reader;

    use super::*;
    use crate::document::model::{self, QuoteStyle, TranslatedDocument};
    use crate::engine::identity::IdentityEngine;
    use crate::engine::{Engine, EngineError, Translation, WordAlignment};

    const PARTS: [&str; 3] = ["content.xml", "styles.xml", "meta.xml"];

    fn fixture_part(name: &str) -> String {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/office/bericht.odt");
        let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut archive = zip::ZipArchive::new(file).unwrap_or_else(|e| panic!("{e}"));
        let mut entry = archive
            .by_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        text
    }

    fn fixture_sentences() -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/office/sentences.txt");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The model inputs of `source` and the part rebuilt from `engine`'s translations (with the
    /// part's post-pass).
    fn translate(source: &str, engine: &dyn Engine) -> (Vec<String>, String, TranslatedDocument) {
        let prepared = model::prepare(source, OdfXml.parse(source), QuoteStyle::Keep, engine, None);
        let inputs: Vec<String> = prepared
            .model_inputs()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let translations = engine.translate(&refs).unwrap_or_else(|e| panic!("{e}"));
        let doc = prepared.finish(&translations);
        let part = finish_part(source, &doc.target);
        (inputs, part, doc)
    }

    fn inputs_of(source: &str) -> Vec<String> {
        translate(source, &IdentityEngine).0
    }

    fn word_spans(text: &str) -> Vec<ByteSpan> {
        let mut spans = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    spans.push(ByteSpan::new(s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            spans.push(ByteSpan::new(s, text.len()));
        }
        spans
    }

    /// A stand-in model: every word upper-cased, one word added in front, aligned word for word
    /// (`reverse`: and the words in reverse order, as a model reorders).
    struct Rewriter {
        reverse: bool,
    }

    impl Engine for Rewriter {
        fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
            Ok(sentences
                .iter()
                .map(|s| {
                    let mut words = word_spans(s);
                    if self.reverse {
                        words.reverse();
                    }
                    let mut text = String::from("Reportedly");
                    let mut pairs = Vec::new();
                    for w in words {
                        text.push(' ');
                        let start = text.len();
                        text.push_str(&s[w.start..w.end].to_uppercase());
                        pairs.push((w, ByteSpan::new(start, text.len())));
                    }
                    Translation {
                        text,
                        token_ids: vec![1],
                        alignment: Some(WordAlignment { pairs }),
                        ..Translation::default()
                    }
                })
                .collect())
        }
        fn source_token_count(&self, sentence: &str) -> usize {
            sentence.split_whitespace().count() + 1
        }
        fn max_source_tokens(&self) -> usize {
            512
        }
    }

    /// Panics unless `xml` is well-formed (a full quick-xml parse: names, attributes,
    /// references, every element closed).
    fn assert_well_formed(xml: &str) {
        let mut reader = Reader::from_str(xml);
        let mut depth = 0usize;
        loop {
            match reader.read_event() {
                Ok(Event::Eof) => break,
                Ok(Event::Start(e)) => {
                    depth += 1;
                    for a in e.attributes() {
                        a.unwrap_or_else(|err| panic!("bad attribute: {err}"));
                    }
                }
                Ok(Event::Empty(e)) => {
                    for a in e.attributes() {
                        a.unwrap_or_else(|err| panic!("bad attribute: {err}"));
                    }
                }
                Ok(Event::End(_)) => depth -= 1,
                Ok(Event::GeneralRef(r)) => {
                    let known = matches!(&*r, "amp" | "lt" | "gt" | "quot" | "apos");
                    let char_ref = r.is_char_ref() && r.resolve_char_ref().ok().flatten().is_some();
                    assert!(known || char_ref, "unknown reference &{};", &*r);
                }
                Ok(_) => {}
                Err(e) => panic!("not well-formed at byte {}: {e}", reader.error_position()),
            }
        }
        assert_eq!(depth, 0, "elements left open");
    }

    /// Every tag of `xml` in order, as written (`text:s`, which the post-pass may add, left out).
    fn skeleton(xml: &str) -> Vec<String> {
        let mut reader = Reader::from_str(xml);
        let mut tags = Vec::new();
        loop {
            match reader.read_event() {
                Ok(Event::Start(e)) if e.name().as_ref() != "text:s" => tags.push((*e).to_owned()),
                Ok(Event::Empty(e)) if e.name().as_ref() != "text:s" => {
                    tags.push(format!("{}/", &*e))
                }
                Ok(Event::End(e)) if e.name().as_ref() != "text:s" => {
                    tags.push(format!("/{}", e.name().as_ref()))
                }
                Ok(Event::Eof) | Err(_) => break,
                _ => {}
            }
        }
        tags
    }

    /// The text a reader sees in each paragraph (and title), white space collapsed; notes'
    /// citations, comments, deleted text and image descriptions left out.
    fn paragraph_texts(xml: &str) -> Vec<String> {
        let mut reader = Reader::from_str(xml);
        let mut stack: Vec<String> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let hidden = |stack: &[String]| {
            stack.iter().any(|n| {
                matches!(
                    n.as_str(),
                    "text:tracked-changes"
                        | "office:annotation"
                        | "svg:desc"
                        | "text:note-citation"
                )
            })
        };
        loop {
            let event = reader.read_event();
            let visible = !hidden(&stack);
            let push = |texts: &mut Vec<String>, open: &[usize], s: &str| {
                if let Some(&p) = open.last()
                    && visible
                {
                    texts[p].push_str(s);
                }
            };
            match event {
                Ok(Event::Start(e)) => {
                    let name = e.name().as_ref().to_owned();
                    if matches!(name.as_str(), "text:p" | "text:h" | "dc:title") {
                        open.push(texts.len());
                        texts.push(String::new());
                    }
                    stack.push(name);
                }
                Ok(Event::Empty(e)) => {
                    if matches!(e.name().as_ref(), "text:s" | "text:tab" | "text:line-break") {
                        push(&mut texts, &open, " ");
                    }
                }
                Ok(Event::End(e)) => {
                    stack.pop();
                    if matches!(e.name().as_ref(), "text:p" | "text:h" | "dc:title") {
                        open.pop();
                    }
                }
                Ok(Event::Text(t)) => push(&mut texts, &open, &t.xml10_content()),
                Ok(Event::GeneralRef(r)) => {
                    let c = match &*r {
                        "amp" => Some('&'),
                        "lt" => Some('<'),
                        "gt" => Some('>'),
                        "quot" => Some('"'),
                        "apos" => Some('\''),
                        _ => r.resolve_char_ref().ok().flatten(),
                    };
                    push(&mut texts, &open, &c.map(String::from).unwrap_or_default());
                }
                Ok(Event::Eof) | Err(_) => break,
                _ => {}
            }
        }
        texts
            .iter()
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// Every `<name …>…</name>` element of `xml`, as written.
    fn elements(xml: &str, name: &str) -> Vec<String> {
        let scan = Scan::new(xml);
        (0..scan.tokens.len())
            .filter(|&i| scan.tokens[i].is_tag() && scan.tokens[i].name == name)
            .map(|i| {
                let span = scan.element_span(i);
                xml[span.start..span.end].to_owned()
            })
            .collect()
    }

    #[test]
    fn identity_engine_gives_every_part_back_byte_for_byte() {
        for part in PARTS {
            let source = fixture_part(part);
            let (inputs, output, doc) = translate(&source, &IdentityEngine);
            assert!(!inputs.is_empty(), "{part}: no text found");
            assert_eq!(doc.target, source, "{part}");
            assert_eq!(output, source, "{part}: the post-pass changed it");
        }
    }

    #[test]
    fn every_sentence_of_the_fixture_reaches_the_model_and_nothing_else() {
        let inputs: Vec<String> = PARTS
            .iter()
            .flat_map(|part| inputs_of(&fixture_part(part)))
            .collect();
        let joined = inputs.join("\n");
        for sentence in fixture_sentences() {
            // A quotation over several sentences reaches the model without its marks, and the
            // reporting clause after it on its own.
            for part in sentence
                .split(['„', '“'])
                .map(|p| p.trim_matches([',', ' ']))
            {
                assert!(
                    part.is_empty() || inputs.iter().any(|i| i.contains(part)),
                    "not translated: {part}\nmodel inputs:\n{joined}"
                );
            }
        }
        // Comments, deleted text and the image description stay out.
        for kept in [
            "Bitte die Namen",
            "Herbst",
            "Verlängerung",
            "Symbolbild",
            "<",
            "&",
        ] {
            assert!(
                !joined.contains(kept),
                "{kept:?} reached the model:\n{joined}"
            );
        }
        // The marks and notes of the body are never placeholders: each stands beside a space
        // or around words. (The footer's page fields are: "Seite ZX1 von".)
        let body_inputs = inputs_of(&fixture_part("content.xml")).join("\n");
        assert!(!body_inputs.contains("ZX"), "{body_inputs}");
        for whole in [
            "Die Länder müssen dafür eigene Flächenpläne vorlegen, die im Frühjahr geprüft werden.",
            "Der vollständige Gesetzestext ist auf der Website des Bundestages veröffentlicht worden.",
            "Kritik kam vor allem von Umweltverbänden, die einen besseren Schutz von Vögeln fordern.",
            "Die Bundesregierung hat am Montag ein neues Gesetz zum Ausbau der Windenergie beschlossen.",
        ] {
            assert!(inputs.iter().any(|i| i == whole), "{whole}\n{joined}");
        }
    }

    #[test]
    fn blocks_have_the_kinds_of_their_paragraphs() {
        let kinds = |source: &str| -> Vec<(BlockKind, String)> {
            OdfXml
                .parse(source)
                .blocks
                .iter()
                .map(|b| {
                    let (start, end) = (b.atoms[0].span.start, b.atoms[b.atoms.len() - 1].span.end);
                    (b.kind, visible_text(&source[start..end]))
                })
                .collect()
        };
        let content = kinds(&fixture_part("content.xml"));
        let kind_of = |prefix: &str| {
            content
                .iter()
                .find(|(_, text)| text.starts_with(prefix))
                .map(|(k, _)| *k)
                .unwrap_or_else(|| panic!("no block {prefix}: {content:?}"))
        };
        assert_eq!(kind_of("Bundestag beschließt"), BlockKind::Heading(1));
        assert_eq!(kind_of("Was das Gesetz"), BlockKind::Heading(1));
        assert_eq!(kind_of("Genehmigungen sollen"), BlockKind::ListItem);
        assert_eq!(kind_of("Der Mindestabstand"), BlockKind::ListItem);
        assert_eq!(kind_of("„Dieses Gesetz"), BlockKind::Quote);
        assert_eq!(kind_of("Befürworter"), BlockKind::Cell);
        assert_eq!(kind_of("Naturschützer"), BlockKind::Cell);
        assert_eq!(kind_of("Das Gesetz muss noch"), BlockKind::Paragraph);
        assert_eq!(kind_of("Hintergrund"), BlockKind::Paragraph);
        assert_eq!(kind_of("Ein Windpark"), BlockKind::Paragraph);
        // The footnote follows the paragraph that holds it.
        let at = |prefix: &str| content.iter().position(|(_, t)| t.starts_with(prefix));
        assert_eq!(
            at("Das Gesetz muss noch"),
            at("Die Bundesregierung").map(|p| p + 1)
        );
        assert_eq!(content.len(), 25, "{content:#?}");

        let styles = kinds(&fixture_part("styles.xml"));
        assert_eq!(
            styles,
            vec![
                (
                    BlockKind::Paragraph,
                    "Nachrichten aus der Hauptstadt".to_owned()
                ),
                (
                    BlockKind::Paragraph,
                    "Alle Rechte vorbehalten.\tSeite  von ".to_owned()
                ),
            ]
        );
        let meta = kinds(&fixture_part("meta.xml"));
        assert_eq!(
            meta,
            vec![(
                BlockKind::Heading(1),
                "Bundestag beschließt schnelleren Ausbau der Windenergie".to_owned()
            )]
        );
    }

    #[test]
    fn a_changed_translation_keeps_every_tag_and_leaves_no_german() {
        let sentences = fixture_sentences();
        for part in PARTS {
            let source = fixture_part(part);
            let english_source = english_language(&source).unwrap_or_else(|| source.clone());
            for reverse in [false, true] {
                let what = format!("{part} (reverse: {reverse})");
                let (inputs, output, _) = translate(&source, &Rewriter { reverse });
                assert_well_formed(&output);
                // Same paragraphs, cells, notes, spans, links, bookmarks, marks and comments, in
                // the same order with the same attributes (language tags now English).
                assert_eq!(skeleton(&output), skeleton(&english_source), "{what}");
                let (before, after) = (paragraph_texts(&source), paragraph_texts(&output));
                assert_eq!(before.len(), after.len(), "{what}");
                for input in &inputs {
                    assert!(
                        after.iter().all(|t| !t.contains(input.as_str())),
                        "{what}: German left: {input}"
                    );
                }
                for sentence in &sentences {
                    if before.iter().any(|t| t.contains(sentence.as_str())) {
                        assert!(
                            after.iter().all(|t| !t.contains(sentence.as_str())),
                            "{what}: German left: {sentence}"
                        );
                    }
                }
                for name in ["text:tracked-changes", "office:annotation", "svg:desc"] {
                    for element in elements(&source, name) {
                        assert!(output.contains(&element), "{what}: {element} changed");
                    }
                }
                if !reverse {
                    // Aligned words: each formatted run holds its translated words.
                    for span in elements(&output, "text:span") {
                        assert!(
                            visible_text(&span).chars().any(char::is_uppercase),
                            "{what}: empty or untranslated run {span}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_fixture_model_keeps_every_part_well_formed_with_every_tag() {
        use crate::engine::marian::{EngineSettings, MarianEngine};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/models/tiny-swish");
        let settings = EngineSettings {
            alignment: true,
            ..EngineSettings::default()
        };
        let engine = MarianEngine::load(&dir, &settings).unwrap_or_else(|e| panic!("{e}"));
        for part in PARTS {
            let source = fixture_part(part);
            let (inputs, output, doc) = translate(&source, &engine);
            assert_well_formed(&output);
            let english_source = english_language(&source).unwrap_or_else(|| source.clone());
            assert_eq!(skeleton(&output), skeleton(&english_source), "{part}");
            assert!(!inputs.is_empty(), "{part}");
            assert!(
                doc.segments.iter().any(|s| s.target != s.source),
                "{part}: nothing changed"
            );
        }
    }

    #[test]
    fn language_tags_become_english_only_when_the_text_changed() {
        let styles = fixture_part("styles.xml");
        let meta = fixture_part("meta.xml");
        let (_, styles_out, _) = translate(&styles, &Rewriter { reverse: false });
        assert!(styles_out.contains(r#"fo:language="en" fo:country="US""#));
        assert!(!styles_out.contains(r#"fo:language="de""#));
        let (_, meta_out, _) = translate(&meta, &Rewriter { reverse: false });
        assert!(meta_out.contains("<dc:language>en-US</dc:language>"));
        assert!(
            translate(&meta, &IdentityEngine)
                .1
                .contains("<dc:language>de-DE</dc:language>")
        );
        let whole = english_language(&styles).unwrap_or_default();
        assert_eq!(whole.len(), styles.len());
        assert!(whole.contains(r#"fo:language="en" fo:country="US""#));
        assert_eq!(english_language(&fixture_part("content.xml")), None);
        assert_eq!(
            english_language(r#"<s style:rfc-language-tag="de-AT" fo:language="DE"/>"#).as_deref(),
            Some(r#"<s style:rfc-language-tag="en-US" fo:language="en"/>"#)
        );
    }

    /// A content part holding `paragraphs` (raw XML of `text:p` elements) in its body.
    fn body(paragraphs: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:o" xmlns:text="urn:t" xmlns:draw="urn:d" xmlns:xlink="urn:x"><office:body><office:text>{paragraphs}</office:text></office:body></office:document-content>"#
        )
    }

    #[test]
    fn a_note_inside_a_sentence_is_translated_into_its_place() {
        let note = r#"<text:note text:id="ftn1" text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p text:style-name="Footnote">Eine Fußnote mit „Zitat“.</text:p></text:note-body></text:note>"#;
        let source = body(&format!(
            r#"<text:p text:style-name="P1">Die Regierung{note} hat heute ein Gesetz beschlossen.</text:p>"#
        ));
        let (inputs, output, doc) = translate(&source, &Rewriter { reverse: false });
        assert_eq!(
            inputs,
            vec![
                "Die RegierungZX1 hat heute ein Gesetz beschlossen.",
                "Eine Fußnote mit „Zitat“."
            ]
        );
        assert_well_formed(&output);
        assert_eq!(skeleton(&output), skeleton(&source));
        assert_eq!(
            paragraph_texts(&output),
            vec![
                "Reportedly DIE REGIERUNG HAT HEUTE EIN GESETZ BESCHLOSSEN.",
                "Reportedly EINE FUSSNOTE MIT „ZITAT“."
            ]
        );
        // The report of the note's segment points at its text inside the note.
        let note_report = &doc.segments[1];
        let [start, end] = note_report.target_span;
        assert_eq!(
            &doc.target[start..end],
            "Reportedly EINE FUSSNOTE MIT „ZITAT“."
        );
        assert_eq!(translate(&source, &IdentityEngine).1, source);
    }

    #[test]
    fn prose_three_paragraphs_deep_stays_as_it_is() {
        let inner = r#"<text:note text:id="n1" text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>Tief verschachtelter Text bleibt.</text:p></text:note-body></text:note>"#;
        let source = body(&format!(
            r#"<text:p>Außen steht ein Satz <draw:frame draw:name="f"><draw:text-box><text:p>Im Kasten steht{inner} ein Satz.</text:p></draw:text-box></draw:frame> mit einem Kasten.</text:p>"#
        ));
        let (inputs, output, _) = translate(&source, &Rewriter { reverse: false });
        assert_eq!(
            inputs,
            vec![
                "Außen steht ein Satz mit einem Kasten.",
                "Im Kasten stehtZX1 ein Satz."
            ]
        );
        assert_well_formed(&output);
        assert_eq!(skeleton(&output), skeleton(&source));
        assert!(output.contains("<text:p>Tief verschachtelter Text bleibt.</text:p>"));
        assert_eq!(
            paragraph_texts(&output),
            vec![
                "Reportedly AUSSEN STEHT EIN SATZ MIT EINEM KASTEN.",
                "Reportedly IM KASTEN STEHT EIN SATZ.",
                "Tief verschachtelter Text bleibt."
            ]
        );
    }

    #[test]
    fn fields_are_placeholders_and_marks_are_spaces() {
        let source = body(
            r#"<text:p>Seite <text:page-number>1</text:page-number> von <text:page-count>3</text:page-count> Seiten.</text:p><text:p>Ein <text:bookmark text:name="b"/>Lesezeichen und <text:span text:style-name="T1">fette</text:span> Wörter<text:bookmark text:name="c"/>, sagte er.</text:p>"#,
        );
        assert_eq!(
            inputs_of(&source),
            vec![
                "Seite ZX1 von ZX2 Seiten.",
                "Ein Lesezeichen und fette WörterZX1, sagte er."
            ]
        );
    }

    #[test]
    fn a_field_keeps_its_place_before_the_space_libreoffice_writes_after_it() {
        // LibreOffice's footer: the space after a field is a `text:s`.
        let source = body(
            r#"<text:p>Alle Rechte vorbehalten.<text:tab/>Seite <text:page-number text:select-page="current">1</text:page-number><text:s/>von <text:page-count>1</text:page-count></text:p>"#,
        );
        assert_eq!(
            inputs_of(&source),
            vec!["Alle Rechte vorbehalten.", "Seite ZX1 von"]
        );
        let (_, output, _) = translate(&source, &Rewriter { reverse: false });
        assert_well_formed(&output);
        assert!(
            output.contains(r#"<text:tab/>Reportedly SEITE <text:page-number text:select-page="current">1</text:page-number> VON <text:page-count>1</text:page-count>"#),
            "{output}"
        );
    }

    #[test]
    fn neighbouring_runs_of_one_style_are_one_run_to_the_model() {
        let split = body(
            r#"<text:p><text:span text:style-name="T1">Erster Satz. </text:span><text:span text:style-name="T1">Zweiter Satz</text:span><text:span text:style-name="T1"> hier.</text:span></text:p>"#,
        );
        let whole = body(r#"<text:p>Erster Satz. Zweiter Satz hier.</text:p>"#);
        assert_eq!(
            inputs_of(&whole),
            vec!["Erster Satz.", "Zweiter Satz hier."]
        );
        assert_eq!(
            inputs_of(&split),
            inputs_of(&body(
                r#"<text:p><text:span text:style-name="T1">Erster Satz. Zweiter Satz hier.</text:span></text:p>"#
            ))
        );
        let (_, output, _) = translate(&split, &Rewriter { reverse: true });
        assert_well_formed(&output);
        assert_eq!(elements(&output, "text:span").len(), 3);
    }

    #[test]
    fn references_reach_the_model_as_characters() {
        let source = body(
            r#"<text:p>Gewinne &amp; Verluste &#8222;steigen&#x201C; &lt;stark&gt;.</text:p>"#,
        );
        assert_eq!(
            inputs_of(&source),
            vec!["Gewinne & Verluste „steigen“ <stark>."]
        );
        let (_, output, _) = translate(&source, &Rewriter { reverse: false });
        assert_well_formed(&output);
        assert!(output.contains("GEWINNE &amp; VERLUSTE"), "{output}");
        assert!(output.contains("&lt;STARK&gt;."), "{output}");
    }

    #[test]
    fn spaces_are_written_the_odf_way_where_the_translation_added_them() {
        let p = |text: &str| body(&format!("<text:p>{text}</text:p>"));
        assert_eq!(
            finish_part(&p("Ein Satz."), &p("A  sentence.")),
            p("A <text:s/>sentence.")
        );
        assert_eq!(
            finish_part(&p("Ein Satz."), &p("  A sentence.   x")),
            p(r#"<text:s text:c="2"/>A sentence. <text:s text:c="2"/>x"#)
        );
        assert_eq!(
            finish_part(
                &p("Ein <text:span>Satz</text:span>."),
                &p("A <text:span> sentence</text:span>.")
            ),
            p("A <text:span><text:s/>sentence</text:span>.")
        );
        // Unchanged paragraphs, and paragraphs whose source collapses its own spaces, stay.
        let two = format!(
            "{}{}",
            "<text:p>Ein Satz.</text:p>", "<text:p>Zwei  Sätze.</text:p>"
        );
        let changed = format!(
            "{}{}",
            "<text:p>A  sentence.</text:p>", "<text:p>Two  sentences.</text:p>"
        );
        assert_eq!(
            finish_part(&body(&two), &body(&changed)),
            body(&format!(
                "{}{}",
                "<text:p>A <text:s/>sentence.</text:p>", "<text:p>Two  sentences.</text:p>"
            ))
        );
        let fixture = fixture_part("content.xml");
        assert_eq!(finish_part(&fixture, &fixture), fixture);
        let pretty = "<text:p>\n    Ein Satz\n  </text:p>";
        assert_eq!(
            finish_part(&body(pretty), &body(&pretty.replace("Ein", "One"))),
            body(&pretty.replace("Ein", "One"))
        );
    }

    #[test]
    fn deeply_nested_frames_are_no_stack_overflow() {
        let depth = 5000;
        let open = r#"<text:p>Satz <draw:frame><draw:text-box>"#.repeat(depth);
        let close = "</draw:text-box></draw:frame> Ende.</text:p>".repeat(depth);
        let source = body(&format!("{open}<text:p>Innen.</text:p>{close}"));
        let (inputs, output, _) = translate(&source, &IdentityEngine);
        assert_eq!(output, source);
        assert!(inputs.len() >= 2);
    }

    #[test]
    fn broken_xml_is_never_a_panic_and_comes_back_as_it_was() {
        let source = fixture_part("content.xml");
        for cut in (0..source.len())
            .step_by(997)
            .filter(|&c| source.is_char_boundary(c))
        {
            let broken = &source[..cut];
            let (_, output, _) = translate(broken, &IdentityEngine);
            assert_eq!(output, broken);
            let _ = translate(broken, &Rewriter { reverse: true });
        }
        for odd in [
            "<text:p>a < b</text:p>",
            "<office:body><text:p>&bogus; Text",
            "<<>>&;&#xZZ;",
        ] {
            let (_, output, _) = translate(odd, &IdentityEngine);
            assert_eq!(output, odd);
        }
    }

    const RUN_SENTENCES: [&str; 4] = [
        "Die Bundesregierung hat am Montag ein neues Gesetz beschlossen.",
        "Künftig sollen Verfahren „deutlich schneller“ abgeschlossen werden.",
        "Kritik kam vor allem von Umweltverbänden, sagte sie.",
        "Das ist der niedrigste Wert seit zwei Jahrzehnten.",
    ];

    /// One paragraph whose text is `runs`, each a span of the same style.
    fn in_runs(runs: &[&str]) -> String {
        let spans: String = runs
            .iter()
            .map(|r| format!(r#"<text:span text:style-name="T1">{r}</text:span>"#))
            .collect();
        body(&format!(r#"<text:p text:style-name="P1">{spans}</text:p>"#))
    }

    fn cut_at<'t>(text: &'t str, points: &[usize]) -> Vec<&'t str> {
        let mut bounds = vec![0];
        bounds.extend(points.iter().copied().filter(|&p| p > 0 && p < text.len()));
        bounds.push(text.len());
        bounds.sort_unstable();
        bounds.dedup();
        bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect()
    }

    proptest! {
        #[test]
        fn runs_split_at_spaces_give_the_same_model_inputs(
            count in 1usize..=4,
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        ) {
            let text = RUN_SENTENCES[..count].join(" ");
            let candidates: Vec<usize> = text
                .char_indices()
                .filter(|&(_, c)| c == ' ')
                .flat_map(|(i, _)| [i, i + 1])
                .collect();
            let points: Vec<usize> = cuts.iter().map(|ix| candidates[ix.index(candidates.len())]).collect();
            let runs = cut_at(&text, &points);
            let expected = inputs_of(&body(&format!("<text:p>{text}</text:p>")));
            prop_assert_eq!(inputs_of(&in_runs(&runs)), expected);
        }

        #[test]
        fn runs_split_anywhere_in_a_sentence_give_the_same_model_inputs(
            which in 0usize..4,
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        ) {
            let text = RUN_SENTENCES[which];
            let candidates: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
            let points: Vec<usize> = cuts.iter().map(|ix| candidates[ix.index(candidates.len())]).collect();
            let runs = cut_at(text, &points);
            let source = in_runs(&runs);
            prop_assert_eq!(inputs_of(&source), vec![text.to_owned()]);
            let (_, output, _) = translate(&source, &Rewriter { reverse: true });
            assert_well_formed(&output);
            prop_assert_eq!(skeleton(&output), skeleton(&source));
        }
    }
}

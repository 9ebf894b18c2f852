//! HTML pages, tokenized with html5gum and its byte spans.
//!
//! The page is never rebuilt from a tree: every byte that is not translated text stays where it
//! was (doctype, comments, tags with their attribute order and quoting, entities, whitespace,
//! scripts and styles). What is translated:
//!
//! - *Runs of inline content*: text with inline markup (`a`, `em`, `strong`, `span`, …) between
//!   two tags that are not inline. That is every block element (`p`, `h1`–`h6`, `li`, `td`,
//!   `figcaption`, `title`, `button`, …) and the text a `div` or `section` holds directly. Inline
//!   tags become `Open`/`Close` markup atoms (the model never sees them), `<br>` and whitespace
//!   with a line break become `Break` atoms, images, comments and inline elements that are never
//!   translated (`code`, `svg`, …) protected tokens.
//! - *Attributes*: `alt`, `title`, `aria-label`, `placeholder`, and the `content` of
//!   `<meta name="description">` and the Open Graph / Twitter titles and descriptions, each a
//!   block of its own. Where the tag sits inside a run of prose, the attribute's segment is
//!   *hosted* by the sentence that holds the tag: its translation is written into the tag's
//!   atom (see `PreparedDocument::finish`).
//! - Fixed rewrites: `lang="de"` (`de-DE`, `de-AT`, `de-CH`) on `<html>` and a German
//!   `<meta http-equiv="content-language">` become `en`.
//!
//! Never looked into: `script`, `style`, `code`, `pre`, `kbd`, `samp`, `var`, `textarea`,
//! `template`, `svg`, `math` (and the raw-text elements `iframe`, `noscript`, `noembed`, `xmp`),
//! and any element with `translate="no"` or the class `notranslate`.
//!
//! Entities are decoded for the model: each one is a text atom of its own whose `decoded`
//! character the model sees (`Gr&uuml;&szlig;e` reaches it as `Grüße`); when the translation keeps
//! the sentence, the entity comes back as written. Text the model writes is escaped where HTML
//! needs it (see `align`).
//!
//! The charset is decided before parsing (`decode_html`): a byte-order mark, else the page's
//! `<meta charset>` / `http-equiv="Content-Type"`, else the same detection as for text. The
//! output is UTF-8, and the declaration is rewritten to say so.

use std::path::Path;

use encoding_rs::Encoding;
use html5gum::emitters::default::{DefaultEmitter, Token};
use html5gum::{Span, Tokenizer};

use super::TextFormat;
use crate::document::model::{Atom, AtomKind, Block, BlockKind, Parsed, Syntax};
use crate::input::{self, Decoded, InputError};
use crate::span::ByteSpan;

/// An HTML page.
pub(crate) struct Html;

impl TextFormat for Html {
    /// A page's own charset declaration decides.
    fn decode(&self, bytes: &[u8], name: &Path) -> Result<Decoded, InputError> {
        decode_html(bytes, name)
    }

    fn parse(&self, source: &str) -> Parsed {
        let (blocks, language_edits) = parse(source);
        Parsed {
            blocks,
            language_edits,
            raw: false,
            nested: true,
        }
    }
}

/// Where the text of an HTML block is written back, and so how it is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HtmlContext {
    /// Element content: `&`, `<` and `>` are escaped.
    Text,
    /// An attribute value with its quote character (`None`: unquoted, where whitespace and
    /// quotes are escaped too).
    Attribute(Option<char>),
}

/// How text is written back into HTML: escaped for its place, inline tags in their order, a
/// reader's text with the entities decoded.
#[derive(Debug)]
pub(crate) struct HtmlSyntax(HtmlContext);

static ELEMENT_TEXT: HtmlSyntax = HtmlSyntax(HtmlContext::Text);
static DOUBLE_QUOTED: HtmlSyntax = HtmlSyntax(HtmlContext::Attribute(Some('"')));
static SINGLE_QUOTED: HtmlSyntax = HtmlSyntax(HtmlContext::Attribute(Some('\'')));
static UNQUOTED: HtmlSyntax = HtmlSyntax(HtmlContext::Attribute(None));

impl HtmlSyntax {
    /// The syntax of text written into an attribute value with this quote character.
    fn attribute(quote: Option<char>) -> &'static HtmlSyntax {
        match quote {
            Some('"') => &DOUBLE_QUOTED,
            Some('\'') => &SINGLE_QUOTED,
            Some(_) | None => &UNQUOTED,
        }
    }
}

impl Syntax for HtmlSyntax {
    fn escape_char(&self, c: char) -> Option<&'static str> {
        html_escape(self.0, c)
    }

    fn visible(&self, text: &str) -> String {
        visible_text(text)
    }

    /// Every tag keeps its place in the sequence of tags: siblings may not swap.
    fn tags_keep_order(&self) -> bool {
        true
    }

    fn holds_tag(&self, atom_text: &str) -> bool {
        atom_text.contains('<')
    }

    /// An element is its name: two `a` cannot nest, whatever their attributes.
    fn markup_kind(&self, open: &str) -> String {
        html_tag_name(open)
    }

    fn is_link(&self, kind: &str) -> bool {
        kind == "a"
    }

    /// The quotes of attribute values inside tags are not quotation marks.
    fn mask_markup(&self, text: &str) -> Option<String> {
        Some(super::mask_tags(text))
    }
}

/// How a character the model wrote is escaped in HTML, if it must be.
fn html_escape(context: HtmlContext, c: char) -> Option<&'static str> {
    match (c, context) {
        ('&', _) => Some("&amp;"),
        ('<', _) => Some("&lt;"),
        ('>', _) => Some("&gt;"),
        ('"', HtmlContext::Attribute(Some('"') | None)) => Some("&quot;"),
        ('\'', HtmlContext::Attribute(Some('\'') | None)) => Some("&#39;"),
        // An unquoted value ends at whitespace and may not hold `=` or a backtick.
        (' ', HtmlContext::Attribute(None)) => Some("&#32;"),
        ('\t', HtmlContext::Attribute(None)) => Some("&#9;"),
        ('=', HtmlContext::Attribute(None)) => Some("&#61;"),
        ('`', HtmlContext::Attribute(None)) => Some("&#96;"),
        _ => None,
    }
}

/// The lower-case element name of an HTML start tag (`<a href="…">` is `a`).
fn html_tag_name(tag: &str) -> String {
    tag.trim_start_matches('<')
        .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Inline elements whose content is prose: put back around the translated words.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "cite", "data", "del", "dfn", "em", "font", "i", "ins", "mark", "q",
    "s", "small", "span", "strong", "sub", "sup", "time", "u",
];

/// Elements whose content is never translated.
const NEVER_TRANSLATED: &[&str] = &[
    "script",
    "style",
    "code",
    "pre",
    "kbd",
    "samp",
    "var",
    "textarea",
    "template",
    "svg",
    "math",
    "iframe",
    "noscript",
    "noembed",
    "xmp",
    "plaintext",
];

/// Never-translated elements that stand inside a sentence: a protected token there.
const INLINE_NEVER_TRANSLATED: &[&str] = &["code", "kbd", "samp", "var", "svg", "math"];

/// Elements without content (no end tag follows).
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Void elements that may stand inside a sentence: a protected token there.
const INLINE_VOID: &[&str] = &["img", "wbr"];

/// Attributes whose value is text for people.
const TRANSLATED_ATTRIBUTES: &[&str] = &["alt", "title", "aria-label", "placeholder"];

/// `<meta name|property=…>` whose `content` is text for people.
const TRANSLATED_META: &[&str] = &[
    "description",
    "og:title",
    "og:description",
    "twitter:title",
    "twitter:description",
];

/// Elements whose start closes an open `p` (the HTML parsing rules' list, as browsers apply it).
const CLOSES_P: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "center",
    "details",
    "dialog",
    "dir",
    "div",
    "dl",
    "dd",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "li",
    "main",
    "menu",
    "nav",
    "ol",
    "p",
    "pre",
    "search",
    "section",
    "summary",
    "table",
    "ul",
];

/// Language tags rewritten to `en`.
const GERMAN: &[&str] = &["de", "de-de", "de-at", "de-ch"];

/// One piece of an inline run, with its source bytes.
#[derive(Debug, Clone)]
enum Item {
    /// Text as written, and as html5gum decoded it.
    Text(ByteSpan, String),
    Open(ByteSpan),
    Close(ByteSpan),
    Break(ByteSpan),
    Protected(ByteSpan),
}

/// An attribute of a start tag: its name, value as decoded, and where the value is written.
struct Attribute {
    name: String,
    value: String,
    /// The value's bytes without the quotes; `None` for an attribute without a value.
    span: Option<ByteSpan>,
    quote: Option<char>,
}

/// A never-translated element being skipped.
struct Skip {
    name: String,
    depth: usize,
    start: usize,
    /// Inside a sentence: one protected token from its start tag to its end tag.
    inline: bool,
}

struct Parser<'a> {
    source: &'a str,
    blocks: Vec<Block>,
    rewrites: Vec<(ByteSpan, &'static str)>,
    run: Vec<Item>,
    /// Attribute blocks of the tags in `run`: they follow the run's block.
    run_attributes: Vec<Block>,
    skip: Option<Skip>,
    /// The elements open around `run` that are not inline (innermost last): the run's block
    /// kind is the innermost one's that gives one (`li`, `h2`, `td`, …).
    open: Vec<String>,
}

fn span_of(span: Span<usize>) -> ByteSpan {
    ByteSpan::new(span.start, span.end)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a reader sees of an HTML fragment (a segment of a page): its text, with tags and comments
/// left out and character references decoded.
pub fn visible_text(fragment: &str) -> String {
    tokens(fragment)
        .filter_map(|t| match t {
            Token::String(s) => Some(lossy(&s.value)),
            _ => None,
        })
        .collect()
}

/// The tokens of `source` with their spans; html5gum switches to raw text after `<script>` etc.
fn tokens(source: &str) -> impl Iterator<Item = Token<usize>> + '_ {
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    emitter.naively_switch_states(true);
    Tokenizer::new_with_emitter(source, emitter).filter_map(Result::ok)
}

/// The attributes of a start tag in source order, with the spans of their values.
fn attributes(source: &str, tag: &html5gum::emitters::default::StartTag<usize>) -> Vec<Attribute> {
    let mut out: Vec<Attribute> = tag
        .attributes
        .iter()
        .map(|(name, value)| {
            let (span, quote) = value_span(source, span_of(value.span), tag.span.end);
            Attribute {
                name: lossy(name).to_ascii_lowercase(),
                value: lossy(&value.value),
                span,
                quote,
            }
        })
        .collect();
    out.sort_by_key(|a| a.span.map_or(0, |s| s.start));
    out
}

/// Where an attribute's value is, given the span html5gum reports (`name="value"`, for an
/// unquoted value sometimes with the tag's `>`), and its quote character.
fn value_span(
    source: &str,
    attribute: ByteSpan,
    tag_end: usize,
) -> (Option<ByteSpan>, Option<char>) {
    let end = attribute.end.min(tag_end).min(source.len());
    let Some(text) = source.get(attribute.start..end) else {
        return (None, None);
    };
    let Some(equals) = text.find('=') else {
        return (None, None);
    };
    let after = &text[equals + 1..];
    let value_start = attribute.start + equals + 1 + (after.len() - after.trim_start().len());
    let rest = &source[value_start..tag_end.min(source.len())];
    match rest.chars().next() {
        Some(quote @ ('"' | '\'')) => {
            let close = rest[1..].find(quote).map_or(rest.len(), |i| i + 1);
            (
                Some(ByteSpan::new(value_start + 1, value_start + close)),
                Some(quote),
            )
        }
        Some(_) => {
            let len = rest
                .find(|c: char| c.is_ascii_whitespace() || c == '>')
                .unwrap_or(rest.len());
            (Some(ByteSpan::new(value_start, value_start + len)), None)
        }
        None => (None, None),
    }
}

fn has_class(attributes: &[Attribute], class: &str) -> bool {
    attributes
        .iter()
        .any(|a| a.name == "class" && a.value.split_ascii_whitespace().any(|c| c == class))
}

fn attribute<'a>(attributes: &'a [Attribute], name: &str) -> Option<&'a Attribute> {
    attributes.iter().find(|a| a.name == name)
}

fn is_german(tag: &str) -> bool {
    GERMAN.contains(&tag.trim().to_ascii_lowercase().as_str())
}

/// The prose blocks of an HTML page, and the fixed rewrites of its gaps.
pub(crate) fn parse(source: &str) -> (Vec<Block>, Vec<(ByteSpan, &'static str)>) {
    let mut parser = Parser {
        source,
        blocks: Vec::new(),
        rewrites: Vec::new(),
        run: Vec::new(),
        run_attributes: Vec::new(),
        skip: None,
        open: Vec::new(),
    };
    for token in tokens(source) {
        parser.token(token);
    }
    if let Some(skip) = parser.skip.take()
        && skip.inline
    {
        parser
            .run
            .push(Item::Protected(ByteSpan::new(skip.start, source.len())));
    }
    parser.flush();
    (parser.blocks, parser.rewrites)
}

impl Parser<'_> {
    fn token(&mut self, token: Token<usize>) {
        if let Some(skip) = &mut self.skip {
            match token {
                Token::StartTag(tag) if !tag.self_closing && lossy(&tag.name) == skip.name => {
                    skip.depth += 1
                }
                Token::EndTag(tag) if lossy(&tag.name) == skip.name => {
                    skip.depth -= 1;
                    if skip.depth == 0 {
                        let (start, inline) = (skip.start, skip.inline);
                        self.skip = None;
                        if inline {
                            self.run
                                .push(Item::Protected(ByteSpan::new(start, tag.span.end)));
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        match token {
            Token::String(text) => self
                .run
                .push(Item::Text(span_of(text.span), lossy(&text.value))),
            Token::Comment(comment) => self.run.push(Item::Protected(span_of(comment.span))),
            Token::Doctype(_) => self.flush(),
            Token::StartTag(tag) => self.start_tag(&tag),
            Token::EndTag(tag) => {
                let name = lossy(&tag.name);
                let span = span_of(tag.span);
                if name == "br" {
                    self.run.push(Item::Break(span));
                } else if INLINE.contains(&name.as_str()) {
                    self.run.push(Item::Close(span));
                } else {
                    self.flush();
                    self.close_element(&name);
                }
            }
            Token::Error(_) => {}
        }
    }

    fn start_tag(&mut self, tag: &html5gum::emitters::default::StartTag<usize>) {
        let name = lossy(&tag.name);
        let span = span_of(tag.span);
        let attributes = attributes(self.source, tag);
        let no_translate = attribute(&attributes, "translate")
            .is_some_and(|a| a.value.trim().eq_ignore_ascii_case("no"))
            || has_class(&attributes, "notranslate");
        self.fixed_rewrites(&name, &attributes);
        let attribute_blocks = if no_translate {
            Vec::new()
        } else {
            self.attribute_blocks(&name, &attributes)
        };
        let void = VOID.contains(&name.as_str());
        let inline = INLINE.contains(&name.as_str()) || INLINE_VOID.contains(&name.as_str());

        if !void && (no_translate || NEVER_TRANSLATED.contains(&name.as_str())) {
            let inline_skip =
                INLINE.contains(&name.as_str()) || INLINE_NEVER_TRANSLATED.contains(&name.as_str());
            // `<svg/>` is empty (foreign content); `<span translate="no"/>` opens an element.
            if tag.self_closing && (name == "svg" || name == "math") {
                self.run.push(Item::Protected(span));
                return;
            }
            if inline_skip {
                self.run_attributes.extend(attribute_blocks);
            } else {
                self.flush();
                self.blocks.extend(attribute_blocks);
            }
            self.skip = Some(Skip {
                name,
                depth: 1,
                start: span.start,
                inline: inline_skip,
            });
            return;
        }
        if name == "br" {
            self.run.push(Item::Break(span));
        } else if inline {
            self.run_attributes.extend(attribute_blocks);
            if void {
                self.run.push(Item::Protected(span));
            } else {
                self.run.push(Item::Open(span));
            }
        } else {
            self.flush();
            self.blocks.extend(attribute_blocks);
            if !void && !tag.self_closing {
                self.open_element(name);
            }
        }
    }

    /// A block element starts: first the elements its start ends without an end tag of their
    /// own (an open `p`, the previous `li` of a list, the previous cell of a row), as browsers
    /// end them, so that an unclosed list item does not give its kind to all that follows.
    fn open_element(&mut self, name: String) {
        // The innermost of `names` that is open, unless one of `bounds` is open inside it.
        let innermost = |open: &[String], names: &[&str], bounds: &[&str]| {
            open.iter()
                .rposition(|e| names.contains(&e.as_str()) || bounds.contains(&e.as_str()))
                .filter(|&i| names.contains(&open[i].as_str()))
        };
        if CLOSES_P.contains(&name.as_str())
            && let Some(p) = innermost(
                &self.open,
                &["p"],
                &["button", "table", "td", "th", "caption"],
            )
        {
            self.open.truncate(p);
        }
        let implied = match name.as_str() {
            "li" => innermost(&self.open, &["li"], &["ul", "ol", "menu"]),
            "dt" | "dd" => innermost(&self.open, &["dt", "dd"], &["dl"]),
            "td" | "th" => innermost(&self.open, &["td", "th"], &["tr", "table"]),
            "tr" => innermost(&self.open, &["tr"], &["table"]),
            _ => None,
        };
        if let Some(i) = implied {
            self.open.truncate(i);
        }
        self.open.push(name);
    }

    /// A block element ends, and any left open inside it (an end tag without a start is
    /// ignored, as browsers do).
    fn close_element(&mut self, name: &str) {
        if let Some(i) = self.open.iter().rposition(|e| e == name) {
            self.open.truncate(i);
        }
    }

    /// The kind of the run of prose inside the open elements: the innermost element's that gives
    /// one. A `p` inside a table cell is a paragraph: pages laid out with tables hold whole
    /// articles in cells, data tables seldom put paragraphs there.
    fn kind(&self) -> BlockKind {
        let mut in_paragraph = false;
        self.open
            .iter()
            .rev()
            .find_map(|name| match name.as_str() {
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                    Some(BlockKind::Heading(name.as_bytes()[1] - b'0'))
                }
                "title" => Some(BlockKind::Heading(1)),
                "li" | "dt" | "dd" => Some(BlockKind::ListItem),
                "blockquote" => Some(BlockKind::Quote),
                "td" | "th" | "caption" if in_paragraph => Some(BlockKind::Paragraph),
                "td" | "th" | "caption" => Some(BlockKind::Cell),
                "p" => {
                    in_paragraph = true;
                    None
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    /// `lang="de"` on `<html>` and a German content language become English.
    fn fixed_rewrites(&mut self, name: &str, attributes: &[Attribute]) {
        if name == "html" {
            for a in attributes {
                if (a.name == "lang" || a.name == "xml:lang")
                    && is_german(&a.value)
                    && let Some(span) = a.span
                {
                    self.rewrites.push((span, "en"));
                }
            }
        }
        if name == "meta"
            && attribute(attributes, "http-equiv")
                .is_some_and(|a| a.value.trim().eq_ignore_ascii_case("content-language"))
            && let Some(content) = attribute(attributes, "content")
            && is_german(&content.value)
            && let Some(span) = content.span
        {
            self.rewrites.push((span, "en"));
        }
    }

    /// The attributes of a tag that are translated, each a block.
    fn attribute_blocks(&self, name: &str, attributes: &[Attribute]) -> Vec<Block> {
        let meta_text = name == "meta"
            && ["name", "property"].iter().any(|key| {
                attribute(attributes, key).is_some_and(|a| {
                    TRANSLATED_META.contains(&a.value.trim().to_ascii_lowercase().as_str())
                })
            });
        attributes
            .iter()
            .filter(|a| {
                TRANSLATED_ATTRIBUTES.contains(&a.name.as_str()) || meta_text && a.name == "content"
            })
            .filter_map(|a| {
                let span = a.span?;
                let atoms = text_atoms(self.source, span, &a.value);
                Some(Block {
                    atoms: with_breaks(self.source, atoms),
                    kind: BlockKind::Attribute,
                    split_sentences: true,
                    syntax: HtmlSyntax::attribute(a.quote),
                })
            })
            .collect()
    }

    /// Ends the current inline run: a block when it holds prose, and the attributes of its tags.
    fn flush(&mut self) {
        let items = std::mem::take(&mut self.run);
        let attribute_blocks = std::mem::take(&mut self.run_attributes);
        let prose = items.iter().any(|item| match item {
            Item::Text(_, decoded) => decoded.chars().any(char::is_alphabetic),
            _ => false,
        });
        if !prose {
            self.blocks.extend(attribute_blocks);
            return;
        }
        // The attributes of tags inside the prose are segments hosted by the sentence that holds
        // the tag (see `prepare`); they follow the run's block.
        let hosted = attribute_blocks;
        let mut atoms: Vec<Atom> = Vec::with_capacity(items.len());
        let mut cursor = match &items[0] {
            Item::Text(s, _) => s.start,
            Item::Open(s) | Item::Close(s) | Item::Break(s) | Item::Protected(s) => s.start,
        };
        for item in items {
            let span = match &item {
                Item::Text(s, _) => *s,
                Item::Open(s) | Item::Close(s) | Item::Break(s) | Item::Protected(s) => *s,
            };
            if span.start > cursor {
                // Bytes no token covered (never seen; kept rather than lost).
                atoms.push(Atom::new(AtomKind::Protected, cursor, span.start));
            }
            if span.start < cursor {
                continue;
            }
            match item {
                Item::Text(span, decoded) => {
                    atoms.extend(text_atoms(self.source, span, &decoded));
                }
                Item::Open(span) => atoms.push(Atom::new(AtomKind::Open, span.start, span.end)),
                Item::Close(span) => atoms.push(Atom::new(AtomKind::Close, span.start, span.end)),
                Item::Break(span) => atoms.push(Atom::new(AtomKind::Break, span.start, span.end)),
                Item::Protected(span) => {
                    atoms.push(Atom::new(AtomKind::Protected, span.start, span.end))
                }
            }
            cursor = span.end;
        }
        let kind = self.kind();
        self.blocks.push(Block {
            atoms: with_breaks(self.source, atoms),
            kind,
            split_sentences: true,
            syntax: &ELEMENT_TEXT,
        });
        self.blocks.extend(hosted);
    }
}

/// Text atoms for the source bytes `span`, which html5gum decoded to `decoded`: literal text as
/// it is, each character reference an atom of its own with its character.
fn text_atoms(source: &str, span: ByteSpan, decoded: &str) -> Vec<Atom> {
    let raw = &source[span.start..span.end];
    let base = span.start;
    let mut atoms = Vec::new();
    let (mut i, mut j, mut literal) = (0, 0, 0);
    while i < raw.len() {
        if raw[i..].starts_with('&')
            && let Some((raw_len, chars)) = reference_at(raw, i, decoded, j)
        {
            if literal < i {
                atoms.push(Atom::new(AtomKind::Text, base + literal, base + i));
            }
            let text: Vec<char> = decoded[j..].chars().take(chars).collect();
            let mut atom = Atom::new(AtomKind::Text, base + i, base + i + raw_len);
            if let [c] = text[..] {
                atom.decoded = Some(c);
            } else {
                // The few references that stand for two characters are kept as they are.
                atom.kind = AtomKind::Protected;
            }
            atoms.push(atom);
            i += raw_len;
            j += text.iter().map(|c| c.len_utf8()).sum::<usize>();
            literal = i;
            continue;
        }
        // The tokenizer turns CR LF and CR into LF.
        let c = raw[i..].chars().next().unwrap_or(' ');
        let raw_len = if raw[i..].starts_with("\r\n") && decoded[j..].starts_with('\n') {
            2
        } else {
            c.len_utf8()
        };
        i += raw_len;
        j += decoded[j..].chars().next().map_or(0, char::len_utf8);
    }
    if literal < raw.len() {
        atoms.push(Atom::new(AtomKind::Text, base + literal, base + raw.len()));
    }
    atoms
}

/// Does the rest of the raw text (up to the next reference) read as the rest of the decoded?
fn agrees(raw: &str, decoded: &str) -> bool {
    let mut decoded = decoded.chars();
    for (n, c) in raw.chars().enumerate() {
        if matches!(c, '&' | '\r' | '\0') || n >= 32 {
            return true;
        }
        if decoded.next() != Some(c) {
            return false;
        }
    }
    decoded.next().is_none()
}

/// The character reference at `raw[i..]` (an `&`): its length in the source and the number of
/// characters it decoded to; `None` when the `&` is a plain ampersand.
fn reference_at(raw: &str, i: usize, decoded: &str, j: usize) -> Option<(usize, usize)> {
    let rest = &decoded[j..];
    if rest.starts_with('&') && agrees(&raw[i + 1..], &rest[1..]) {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut end = i + 1;
    if bytes.get(end) == Some(&b'#') {
        end += 1;
        if matches!(bytes.get(end), Some(b'x' | b'X')) {
            end += 1;
        }
    }
    while bytes.get(end).is_some_and(u8::is_ascii_alphanumeric) {
        end += 1;
    }
    if bytes.get(end) == Some(&b';') {
        end += 1;
    }
    // Legacy references may stop early (`&notit;` is `¬it;`): the longest reading that agrees,
    // one character before two (the few references that stand for two).
    let mut offset = 0;
    for (k, c) in rest.chars().take(2).enumerate() {
        offset += c.len_utf8();
        for e in (i + 2..=end).rev() {
            if agrees(&raw[e..], &rest[offset..]) {
                return Some((e - i, k + 1));
            }
        }
    }
    None
}

/// Whitespace with a line break, and `<br>` with the whitespace around it, become one `Break`
/// atom: the model sees one space.
fn with_breaks(source: &str, atoms: Vec<Atom>) -> Vec<Atom> {
    let mut split: Vec<Atom> = Vec::with_capacity(atoms.len());
    for atom in atoms {
        if atom.kind != AtomKind::Text || atom.decoded.is_some() {
            split.push(atom);
            continue;
        }
        let text = &source[atom.span.start..atom.span.end];
        let mut cursor = 0;
        let mut chars = text.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            if !c.is_ascii_whitespace() {
                continue;
            }
            let mut end = start + c.len_utf8();
            let mut newline = matches!(c, '\n' | '\r');
            while let Some(&(p, d)) = chars.peek() {
                if !d.is_ascii_whitespace() {
                    break;
                }
                newline |= matches!(d, '\n' | '\r');
                end = p + d.len_utf8();
                chars.next();
            }
            // Whitespace next to a `<br>` goes with it, too.
            let at_edge = start == 0 || end == text.len();
            if newline || at_edge {
                if cursor < start {
                    split.push(Atom::new(
                        AtomKind::Text,
                        atom.span.start + cursor,
                        atom.span.start + start,
                    ));
                }
                let mut space = Atom::new(
                    AtomKind::Text,
                    atom.span.start + start,
                    atom.span.start + end,
                );
                if newline {
                    space.kind = AtomKind::Break;
                }
                split.push(space);
                cursor = end;
            }
        }
        if cursor < text.len() {
            split.push(Atom::new(
                AtomKind::Text,
                atom.span.start + cursor,
                atom.span.end,
            ));
        }
    }
    // Merge each break with the breaks and the plain whitespace next to it.
    let is_space = |a: &Atom| {
        a.kind == AtomKind::Text
            && a.decoded.is_none()
            && source[a.span.start..a.span.end]
                .chars()
                .all(|c| c.is_ascii_whitespace())
    };
    let mut out: Vec<Atom> = Vec::with_capacity(split.len());
    for atom in split {
        if let Some(last) = out.last_mut() {
            let joins = (last.kind == AtomKind::Break
                && (atom.kind == AtomKind::Break || is_space(&atom)))
                || (atom.kind == AtomKind::Break && is_space(last));
            if joins {
                last.kind = AtomKind::Break;
                last.span.end = atom.span.end;
                continue;
            }
        }
        out.push(atom);
    }
    pair_markup(source, &mut out);
    out
}

/// Pairs each closing tag with the nearest open element of its name (a close without one, or
/// elements it leaves open, stay unpaired: the carving moves them to the gaps).
fn pair_markup(source: &str, atoms: &mut [Atom]) {
    let name = |a: &Atom| {
        source[a.span.start..a.span.end]
            .trim_start_matches(['<', '/'])
            .split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let mut open: Vec<(String, usize)> = Vec::new();
    for i in 0..atoms.len() {
        match atoms[i].kind {
            AtomKind::Open => open.push((name(&atoms[i]), i)),
            AtomKind::Close => {
                let closing = name(&atoms[i]);
                if let Some(k) = open.iter().rposition(|(n, _)| *n == closing) {
                    let opener = open[k].1;
                    open.truncate(k);
                    atoms[opener].partner = Some(i);
                    atoms[i].partner = Some(opener);
                }
            }
            _ => {}
        }
    }
}

/// Decodes an HTML page: a byte-order mark wins, then the charset the page declares, then what
/// text files get (valid UTF-8, else the detected encoding). The text is UTF-8 from here on, so
/// the page's charset declaration is rewritten to say `UTF-8` (or one is added after `<head>`
/// when the page had none and was not UTF-8).
pub fn decode_html(bytes: &[u8], path: &Path) -> Result<Decoded, InputError> {
    // The checks every input gets: a BOM, binary files refused.
    let checked = input::decode(bytes, path)?;
    let declared = if Encoding::for_bom(bytes).is_some() {
        None
    } else {
        declared_encoding(bytes)
    };
    let decoded = match declared {
        // A page that says UTF-8 but is not: the detector's guess is kinder than U+FFFD.
        Some(encoding) if encoding != encoding_rs::UTF_8 && encoding != checked.encoding => {
            let (text, _) = encoding.decode_without_bom_handling(bytes);
            Decoded {
                text: text.into_owned(),
                encoding,
            }
        }
        _ => checked,
    };
    Ok(relabel(decoded))
}

/// The encoding a page declares in its head, if any (the bytes read as Windows-1252, which
/// keeps ASCII where it is; labels are ASCII).
fn declared_encoding(bytes: &[u8]) -> Option<&'static Encoding> {
    const HEAD: usize = 64 * 1024;
    let (head, _) =
        encoding_rs::WINDOWS_1252.decode_without_bom_handling(&bytes[..bytes.len().min(HEAD)]);
    charset_declarations(&head)
        .into_iter()
        .find_map(|span| Encoding::for_label(head[span.start..span.end].trim().as_bytes()))
        .map(Encoding::output_encoding)
}

/// The spans of the charset labels declared in a page's head (`<meta charset>`,
/// `<meta http-equiv="Content-Type" content="…; charset=…">`).
fn charset_declarations(text: &str) -> Vec<ByteSpan> {
    let mut spans = Vec::new();
    // XHTML: `<?xml version="1.0" encoding="…"?>` before anything else.
    if text.starts_with("<?xml")
        && let Some(end) = text.find("?>")
        && let Some(at) = text[..end].find("encoding")
    {
        let after = &text[at + "encoding".len()..end];
        if let Some(value) = after.trim_start().strip_prefix('=').map(str::trim_start) {
            let value = value.trim_start_matches(['"', '\'']);
            let start = end - value.len();
            let len = value.find(['"', '\'']).unwrap_or(value.len());
            spans.push(ByteSpan::new(start, start + len));
        }
    }
    for token in tokens(text) {
        let Token::StartTag(tag) = token else {
            continue;
        };
        let name = lossy(&tag.name);
        if name == "body" {
            break;
        }
        if name != "meta" {
            continue;
        }
        let attributes = attributes(text, &tag);
        if let Some(span) = attribute(&attributes, "charset").and_then(|a| a.span) {
            spans.push(span);
        } else if attribute(&attributes, "http-equiv")
            .is_some_and(|a| a.value.trim().eq_ignore_ascii_case("content-type"))
            && let Some(span) = attribute(&attributes, "content").and_then(|a| a.span)
        {
            let content = &text[span.start..span.end];
            if let Some(at) = content.to_ascii_lowercase().find("charset") {
                let after = &content[at + "charset".len()..];
                let after_eq = after.trim_start().strip_prefix('=').map(str::trim_start);
                if let Some(value) = after_eq {
                    let value = value.trim_start_matches(['"', '\'']);
                    let start = span.end - value.len();
                    let len = value
                        .find(|c: char| matches!(c, ';' | '"' | '\'') || c.is_whitespace())
                        .unwrap_or(value.len());
                    spans.push(ByteSpan::new(start, start + len));
                }
            }
        }
    }
    spans
}

/// Makes the page's charset declaration say UTF-8.
fn relabel(mut decoded: Decoded) -> Decoded {
    let spans = charset_declarations(&decoded.text);
    let text = &mut decoded.text;
    if spans.is_empty() {
        if decoded.encoding != encoding_rs::UTF_8
            && let Some(head_end) = head_tag_end(text)
        {
            text.insert_str(head_end, "<meta charset=\"UTF-8\">");
        }
        return decoded;
    }
    for span in spans.iter().rev() {
        let label = text[span.start..span.end].trim();
        if Encoding::for_label(label.as_bytes()) != Some(encoding_rs::UTF_8) {
            text.replace_range(span.start..span.end, "UTF-8");
        }
    }
    decoded
}

/// The end of the `<head>` start tag, if the page has one.
fn head_tag_end(text: &str) -> Option<usize> {
    for token in tokens(text) {
        if let Token::StartTag(tag) = token {
            match lossy(&tag.name).as_str() {
                "head" => return Some(tag.span.end),
                "body" => return None,
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (source bytes, model character) of each atom of a text run.
    fn pieces(raw: &str) -> Vec<(String, Option<char>)> {
        let decoded: String = tokens(raw)
            .filter_map(|t| match t {
                Token::String(s) => Some(lossy(&s.value)),
                _ => None,
            })
            .collect();
        text_atoms(raw, ByteSpan::new(0, raw.len()), &decoded)
            .iter()
            .map(|a| (raw[a.span.start..a.span.end].to_owned(), a.decoded))
            .collect()
    }

    #[test]
    fn visible_text_drops_tags_and_decodes_references() {
        assert_eq!(
            visible_text(
                "Die <a href=\"/x\">Gr&uuml;&szlig;e</a> &bdquo;A&ldquo;<!-- c --> &lt;b&gt;"
            ),
            "Die Grüße „A“ <b>"
        );
    }

    #[test]
    fn each_reference_is_one_atom_with_its_character() {
        let p = |s: &str, c: Option<char>| (s.to_owned(), c);
        assert_eq!(
            pieces("Gr&uuml;&szlig;e &#8222;x&#x201C; 5&nbsp;%"),
            vec![
                p("Gr", None),
                p("&uuml;", Some('ü')),
                p("&szlig;", Some('ß')),
                p("e ", None),
                p("&#8222;", Some('„')),
                p("x", None),
                p("&#x201C;", Some('“')),
                p(" 5", None),
                p("&nbsp;", Some('\u{a0}')),
                p("%", None),
            ]
        );
        // Legacy references without `;`, a plain `&`, an unknown name.
        assert_eq!(
            pieces("&notit; & &foo; &AMP"),
            vec![
                p("&not", Some('¬')),
                p("it; & &foo; ", None),
                p("&AMP", Some('&')),
            ]
        );
        // A reference for two characters stays whole (a protected token).
        assert_eq!(
            pieces("a&NotEqualTilde;b"),
            vec![p("a", None), p("&NotEqualTilde;", None), p("b", None)]
        );
    }

    #[test]
    fn attribute_values_are_found_in_every_quoting() {
        let source = r#"<img alt="Ein &quot;Bild&quot;" title='Titel' data-x=1 lang=de>"#;
        let Some(Token::StartTag(tag)) = tokens(source).next() else {
            panic!("a start tag")
        };
        let found: Vec<(String, String, Option<char>)> = attributes(source, &tag)
            .into_iter()
            .map(|a| {
                let span = a.span.expect("a value");
                (a.name, source[span.start..span.end].to_owned(), a.quote)
            })
            .collect();
        assert_eq!(
            found,
            vec![
                ("alt".into(), "Ein &quot;Bild&quot;".into(), Some('"')),
                ("title".into(), "Titel".into(), Some('\'')),
                ("data-x".into(), "1".into(), None),
                ("lang".into(), "de".into(), None),
            ]
        );
    }

    #[test]
    fn charset_labels_are_found_in_both_declarations() {
        let page = "<head><meta charset='windows-1252'><meta http-equiv=Content-Type content=\"text/html; charset=ISO-8859-1\"></head>";
        let labels: Vec<&str> = charset_declarations(page)
            .iter()
            .map(|s| &page[s.start..s.end])
            .collect();
        assert_eq!(labels, vec!["windows-1252", "ISO-8859-1"]);
        let page = "<?xml version=\"1.0\" encoding='ISO-8859-15'?>\n<html><head></head></html>";
        let labels: Vec<&str> = charset_declarations(page)
            .iter()
            .map(|s| &page[s.start..s.end])
            .collect();
        assert_eq!(labels, vec!["ISO-8859-15"]);
    }
}

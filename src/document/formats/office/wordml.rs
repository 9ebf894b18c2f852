//! WordprocessingML parts of a .docx package: `word/document.xml`, `header*.xml`,
//! `footer*.xml`, `footnotes.xml`, `endnotes.xml` (`WordXml`), and the title in
//! `docProps/core.xml` (`CoreProperties`). `word/comments.xml` is not read: comments are the
//! editors' notes and stay as they are.
//!
//! Each `w:p` is a block; its `w:pStyle` gives the kind (Title, Heading n, List…, Quote), a
//! paragraph in a table cell is a cell. A paragraph inside a paragraph (a text box's
//! `w:txbxContent`) is a block of its own, and cuts the paragraph around it in two. A text box
//! stored twice (`mc:Choice` and `mc:Fallback`) so gives the same sentences twice, translated alike.
//!
//! Text is the content of `w:t` only: deleted text (`w:del`, `w:delText`), field codes
//! (`w:instrText`) and the results of fields other than `HYPERLINK` (page numbers) are never
//! translated. WordprocessingML may hold text only inside `w:t`, so runs are not modelled as
//! pairs of tags each (a word put between two pairs would stand outside any `w:t`): a block runs
//! from the first text byte of its first `w:t` to the last text byte of its last, and all the
//! XML between two stretches of text (`</w:t></w:r>` … bookmarks, deleted runs, comment anchors,
//! hyperlink tags … `<w:r><w:rPr>…</w:rPr><w:t>`) is ONE atom, a *boundary*. Wherever the core
//! puts boundaries, as long as it keeps their order (`tags_keep_order`), every word stays inside
//! a `w:t` and the XML stays well-formed. The boundaries are:
//!
//! - `Open`/`Close` markup, paired so that each formatted run (bold, italic, a hyperlink, a
//!   tracked insertion: any run whose properties differ from the paragraph's main run's) is
//!   enclosed by its two boundaries and placed around its translated words by the alignment.
//!   Where a pair's end is the paragraph's edge or a boundary the neighbour run takes, the end is
//!   a zero-width atom. A boundary between two runs that look alike (a bookmark, a comment
//!   anchor, a footnote reference, a spell-check mark) is paired with the next such boundary
//!   around the words between (a comment's range), else with a zero-width atom around the word
//!   next to it, so that it stays next to that word's translation and never cuts the sentence.
//! - `Break` where the boundary holds a `w:tab`, `w:br` or `w:cr` (the model sees a space).
//! - `Protected` where it holds something a reader sees that is not text: a field's result
//!   (a page number), a drawing, a symbol. The model sees a placeholder.
//!
//! XML character references in text are text atoms with their character (`&amp;` reaches the
//! model as `&`). `w:lang` values that are German become `en-US` once a sentence is translated;
//! `finish_part` adds `xml:space="preserve"` where a translated `w:t` now begins or ends with a
//! space that separates words.

use std::collections::HashMap;

use super::super::TextFormat;
use super::xml;
use crate::document::model::{Atom, AtomKind, Block, BlockKind, Parsed, Syntax};
use crate::span::ByteSpan;

/// A WordprocessingML part with paragraphs: the document body, a header or footer, the
/// footnotes or endnotes.
pub(crate) struct WordXml;

/// `docProps/core.xml`: the document's title (`dc:title`) is translated, a German
/// `dc:language` becomes `en-US`.
pub(crate) struct CoreProperties;

impl TextFormat for WordXml {
    fn parse(&self, source: &str) -> Parsed {
        let mut parser = Parser::new(source);
        for token in tokens(source) {
            parser.token(token);
        }
        // Paragraphs left open (a truncated part): their text is still translated.
        while let Some(para) = parser.paras.pop() {
            let kind = para.kind();
            parser.flush(para.stretches, kind);
        }
        parser
            .blocks
            .sort_by_key(|b| b.atoms.first().map(|a| a.span.start));
        Parsed {
            blocks: parser.blocks,
            language_edits: language_edits(source, &["w:lang"]),
            raw: false,
            nested: false,
        }
    }
}

impl TextFormat for CoreProperties {
    fn parse(&self, source: &str) -> Parsed {
        let mut blocks = Vec::new();
        let mut language_edits = Vec::new();
        let mut open: Option<(&str, usize)> = None;
        for token in tokens(source) {
            match token.kind {
                Kind::Start if token.name == "dc:title" || token.name == "dc:language" => {
                    open = Some((token.name, token.span.end))
                }
                Kind::End => {
                    if let Some((name, start)) = open.take()
                        && name == token.name
                    {
                        let span = ByteSpan::new(start, token.span.start);
                        let text = &source[span.start..span.end];
                        if name == "dc:title" && text.chars().any(char::is_alphabetic) {
                            blocks.push(Block {
                                atoms: text_atoms(source, span.start, span.end),
                                kind: BlockKind::Heading(1),
                                split_sentences: true,
                                syntax: &WORD_TEXT,
                            });
                        } else if name == "dc:language" && xml::is_german(text) {
                            language_edits.push((span, "en-US"));
                        }
                    }
                }
                _ => {}
            }
        }
        Parsed {
            blocks,
            language_edits,
            raw: false,
            nested: false,
        }
    }
}

/// How text is written back into a `w:t`: XML-escaped, the boundaries in their order.
#[derive(Debug)]
pub(crate) struct WordSyntax;

static WORD_TEXT: WordSyntax = WordSyntax;

impl Syntax for WordSyntax {
    fn escape_char(&self, c: char) -> Option<&'static str> {
        xml::escape_char(c)
    }

    fn visible(&self, text: &str) -> String {
        visible_text(text)
    }

    /// Boundaries are sequences of XML tags: none may move past another.
    fn tags_keep_order(&self) -> bool {
        true
    }

    fn holds_tag(&self, atom_text: &str) -> bool {
        atom_text.contains('<')
    }

    /// Runs do not nest in WordprocessingML; a hyperlink is a link.
    fn markup_kind(&self, open: &str) -> String {
        if open.contains("<w:hyperlink") {
            "hyperlink".to_owned()
        } else {
            "run".to_owned()
        }
    }

    fn is_link(&self, kind: &str) -> bool {
        kind == "hyperlink"
    }

    /// Only the text of `w:t` is prose: tags and deleted or field text are masked.
    fn mask_markup(&self, text: &str) -> Option<String> {
        let mut out = String::with_capacity(text.len());
        walk_visible(text, |span, visible| {
            if visible {
                out.push_str(&text[span.start..span.end]);
            } else {
                out.extend(std::iter::repeat_n('x', span.len()));
            }
        });
        Some(out)
    }
}

/// What a reader sees of a piece of a part that starts inside a `w:t` (a segment): the text of
/// the `w:t` elements, references decoded, a tab or line break as a space.
pub(crate) fn visible_text(fragment: &str) -> String {
    let mut visible = String::new();
    walk_visible(fragment, |span, is_text| {
        let piece = &fragment[span.start..span.end];
        if is_text {
            visible.extend(units(piece).into_iter().map(|(_, c)| c));
        } else if ["<w:tab", "<w:br", "<w:cr"]
            .iter()
            .any(|t| piece.starts_with(t) && piece.ends_with("/>"))
        {
            visible.push(' ');
        }
    });
    visible
}

/// Calls `f` for each piece of `fragment` (which starts inside a `w:t`) in order: text inside a
/// `w:t` (`true`), or anything else — tags, text of other elements (`false`). Tags come one each.
fn walk_visible(fragment: &str, mut f: impl FnMut(ByteSpan, bool)) {
    let mut in_t = true;
    for token in tokens(fragment) {
        match token.kind {
            Kind::Text => f(token.span, in_t),
            Kind::Start if token.name == "w:t" => {
                in_t = true;
                f(token.span, false);
            }
            Kind::Start => {
                in_t = false;
                f(token.span, false);
            }
            Kind::End if token.name == "w:t" => {
                in_t = false;
                f(token.span, false);
            }
            _ => f(token.span, false),
        }
    }
}

/// A part's text with its German language tags (`w:lang w:val`, `w:themeFontLang w:val`: the
/// editing language of runs, styles and settings) made `en-US`; `None` when it has none.
pub(crate) fn english_language(xml: &str) -> Option<String> {
    let edits = language_edits(xml, &["w:lang", "w:themeFontLang"]);
    (!edits.is_empty()).then(|| xml::with_edits(xml, &edits))
}

/// The post-pass a rebuilt part needs (`translated`, rebuilt from `source`):
///
/// - a `w:t` without `xml:space="preserve"` whose text now begins or ends with whitespace that
///   separates it from the text of the next or previous `w:t` of its paragraph gets the
///   attribute: Word drops such spaces otherwise ("This is" + bold "very" reads "This isvery");
/// - German `w:lang` values inside translated sentences become `en-US` (the core rewrites those
///   in the gaps; a run's properties inside a sentence travel with its boundary).
///
/// A part the translation left as it was comes back unchanged.
pub(crate) fn finish_part(source: &str, translated: &str) -> String {
    if source == translated {
        return translated.to_owned();
    }
    let english = english_language(translated);
    let text = english.as_deref().unwrap_or(translated);
    let runs = text_elements(text);
    let mut inserts: Vec<usize> = Vec::new();
    for (k, run) in runs.iter().enumerate() {
        if run.preserve {
            continue;
        }
        let content = &text[run.content.start..run.content.end];
        let joins = |other: Option<&TextElement>, leading: bool| {
            let Some(other) = other else { return false };
            let (from, to) = if leading {
                (other.content.end, run.tag.start)
            } else {
                (run.content.end, other.tag.start)
            };
            let between = &text[from..to];
            let other_text = &text[other.content.start..other.content.end];
            let word_there = if leading {
                other_text.ends_with(|c: char| !c.is_whitespace())
            } else {
                other_text.starts_with(|c: char| !c.is_whitespace())
            };
            word_there
                && !["<w:tab", "<w:br", "<w:cr", "<w:p>", "<w:p ", "</w:p>"]
                    .iter()
                    .any(|t| between.contains(t))
        };
        let leading = content.starts_with(char::is_whitespace)
            && joins(k.checked_sub(1).and_then(|p| runs.get(p)), true);
        let trailing = content.ends_with(char::is_whitespace) && joins(runs.get(k + 1), false);
        if leading || trailing {
            inserts.push(run.name_end);
        }
    }
    let mut out = String::with_capacity(text.len() + inserts.len() * 20);
    let mut cursor = 0;
    for at in inserts {
        out.push_str(&text[cursor..at]);
        out.push_str(" xml:space=\"preserve\"");
        cursor = at;
    }
    out.push_str(&text[cursor..]);
    out
}

/// A `w:t` element with text: its start tag, where its name ends in it, its content.
struct TextElement {
    tag: ByteSpan,
    name_end: usize,
    content: ByteSpan,
    preserve: bool,
}

fn text_elements(xml: &str) -> Vec<TextElement> {
    let mut out = Vec::new();
    let mut open: Option<(ByteSpan, bool)> = None;
    for token in tokens(xml) {
        match token.kind {
            Kind::Start if token.name == "w:t" => {
                let tag = &xml[token.span.start..token.span.end];
                let preserve = attribute(tag, "xml:space").is_some_and(|(v, _)| v == "preserve");
                open = Some((token.span, preserve));
            }
            Kind::End if token.name == "w:t" => {
                if let Some((tag, preserve)) = open.take() {
                    out.push(TextElement {
                        tag,
                        name_end: tag.start + "<w:t".len(),
                        content: ByteSpan::new(tag.end, token.span.start),
                        preserve,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The `w:val` values of the elements `names` that are German, each to become `en-US`.
fn language_edits(source: &str, names: &[&str]) -> Vec<(ByteSpan, &'static str)> {
    let mut edits = Vec::new();
    for token in tokens(source) {
        if matches!(token.kind, Kind::Start | Kind::Empty) && names.contains(&token.name) {
            let tag = &source[token.span.start..token.span.end];
            if let Some((value, at)) = attribute(tag, "w:val")
                && xml::is_german(value)
            {
                let start = token.span.start + at;
                edits.push((ByteSpan::new(start, start + value.len()), "en-US"));
            }
        }
    }
    edits
}

// ---------------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `<name …>`
    Start,
    /// `<name …/>`
    Empty,
    /// `</name>`
    End,
    /// Character data between tags.
    Text,
    /// Comments, processing instructions, CDATA, the doctype.
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    kind: Kind,
    name: &'a str,
    span: ByteSpan,
}

/// The tokens of an XML text, in order, covering every byte. The XML of office packages is
/// machine-written; anything unexpected (a `<` that opens no tag) is one `Other` token.
fn tokens(source: &str) -> impl Iterator<Item = Token<'_>> + '_ {
    let bytes = source.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= bytes.len() {
            return None;
        }
        let start = i;
        if bytes[i] != b'<' {
            let end = source[i..].find('<').map_or(source.len(), |p| i + p);
            i = end;
            return Some(Token {
                kind: Kind::Text,
                name: "",
                span: ByteSpan::new(start, end),
            });
        }
        let rest = &source[i..];
        let until = |close: &str| {
            rest.find(close)
                .map_or(source.len(), |p| i + p + close.len())
        };
        let other = if rest.starts_with("<!--") {
            Some(until("-->"))
        } else if rest.starts_with("<![CDATA[") {
            Some(until("]]>"))
        } else if rest.starts_with("<?") {
            Some(until("?>"))
        } else if rest.starts_with("<!") {
            Some(until(">"))
        } else {
            None
        };
        if let Some(end) = other {
            i = end;
            return Some(Token {
                kind: Kind::Other,
                name: "",
                span: ByteSpan::new(start, end),
            });
        }
        // A tag: up to the `>` outside quoted attribute values.
        let mut quote: Option<u8> = None;
        let mut j = i + 1;
        while j < bytes.len() {
            match (bytes[j], quote) {
                (b'"' | b'\'', None) => quote = Some(bytes[j]),
                (q, Some(open)) if q == open => quote = None,
                (b'>', None) => break,
                _ => {}
            }
            j += 1;
        }
        let end = (j + 1).min(bytes.len());
        i = end;
        let tag = &source[start..end];
        let (kind, name_from) = if tag.starts_with("</") {
            (Kind::End, 2)
        } else if tag.ends_with("/>") {
            (Kind::Empty, 1)
        } else {
            (Kind::Start, 1)
        };
        let name = tag[name_from..]
            .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .next()
            .unwrap_or("");
        let kind = if name.is_empty() || !tag.ends_with('>') {
            Kind::Other
        } else {
            kind
        };
        Some(Token {
            kind,
            name,
            span: ByteSpan::new(start, end),
        })
    })
}

/// The value of attribute `name` in a start tag, and where the value starts in the tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<(&'a str, usize)> {
    let mut from = 0;
    while let Some(p) = tag[from..].find(name) {
        let at = from + p;
        from = at + name.len();
        if !tag[..at].ends_with(char::is_whitespace) {
            continue;
        }
        let rest = tag[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(quote) = rest.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
            continue;
        };
        let value_start = tag.len() - rest.len() + 1;
        let len = tag[value_start..].find(quote)?;
        return Some((&tag[value_start..value_start + len], value_start));
    }
    None
}

/// The characters of XML text, each with its source bytes: a literal character, or a
/// character reference (`&amp;`, `&#228;`) with the character it stands for.
fn units(raw: &str) -> Vec<(ByteSpan, char)> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with('&')
            && let Some((c, len)) = xml::reference_at(&raw[i..])
        {
            out.push((ByteSpan::new(i, i + len), c));
            i += len;
            continue;
        }
        let c = raw[i..].chars().next().unwrap_or(' ');
        out.push((ByteSpan::new(i, i + c.len_utf8()), c));
        i += c.len_utf8();
    }
    out
}

/// Text atoms for the XML text `start..end` of `source`: literal text as it is, each character
/// reference an atom of its own with its character.
fn text_atoms(source: &str, start: usize, end: usize) -> Vec<Atom> {
    let mut atoms = Vec::new();
    let mut literal = start;
    for (span, c) in units(&source[start..end]) {
        if span.len() == c.len_utf8() && source.as_bytes()[start + span.start] != b'&' {
            continue;
        }
        let (a, b) = (start + span.start, start + span.end);
        if literal < a {
            atoms.push(Atom::new(AtomKind::Text, literal, a));
        }
        let mut atom = Atom::new(AtomKind::Text, a, b);
        atom.decoded = Some(c);
        atoms.push(atom);
        literal = b;
    }
    if literal < end || atoms.is_empty() {
        atoms.push(Atom::new(AtomKind::Text, literal, end));
    }
    atoms
}

/// The words (runs of letters and digits, a reference counting as its character) of the XML
/// text `start..end` of `source`, as source spans.
fn words(source: &str, start: usize, end: usize) -> Vec<ByteSpan> {
    let mut out = Vec::new();
    let mut current: Option<ByteSpan> = None;
    for (span, c) in units(&source[start..end]) {
        let span = ByteSpan::new(start + span.start, start + span.end);
        match (c.is_alphanumeric(), &mut current) {
            (true, Some(word)) => word.end = span.end,
            (true, None) => current = Some(span),
            (false, _) => out.extend(current.take()),
        }
    }
    out.extend(current);
    out
}

// ---------------------------------------------------------------------------------------------
// Paragraphs

/// What the XML between two stretches of text holds.
#[derive(Debug, Clone, Copy, Default)]
struct Holds {
    /// A tab or line break.
    space: bool,
    /// Something a reader sees that is not text: a field result, a drawing, a symbol.
    object: bool,
}

/// The text of one `w:t` of a paragraph.
#[derive(Debug, Clone)]
struct Stretch {
    span: ByteSpan,
    /// The run's look: its properties (language aside) and the elements around it (hyperlink,
    /// tracked insertion). Stretches alike in this belong to one formatted run.
    look: String,
    /// What the XML from the previous stretch to this one holds.
    before: Holds,
}

struct Para {
    /// The element depth inside the `w:p`.
    depth: usize,
    style: Option<String>,
    numbered: bool,
    in_cell: bool,
    stretches: Vec<Stretch>,
    /// The current run's properties, language aside.
    run_properties: String,
    properties_start: Option<usize>,
    since_text: Holds,
}

impl Para {
    fn kind(&self) -> BlockKind {
        let style = self
            .style
            .as_deref()
            .unwrap_or("")
            .to_lowercase()
            .replace([' ', '-', '_'], "");
        let level = ["heading", "überschrift", "berschrift"]
            .iter()
            .find_map(|p| style.strip_prefix(p))
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| (1..=9).contains(n));
        if let Some(n) = level {
            BlockKind::Heading(n)
        } else if style == "title" || style == "titel" {
            BlockKind::Heading(1)
        } else if self.numbered
            || ["list", "liste", "aufz"]
                .iter()
                .any(|p| style.starts_with(p))
        {
            BlockKind::ListItem
        } else if ["quote", "intensequote", "zitat", "intensiveszitat"].contains(&style.as_str()) {
            BlockKind::Quote
        } else if self.in_cell {
            BlockKind::Cell
        } else {
            BlockKind::Paragraph
        }
    }
}

/// A field (`w:fldChar` begin … separate … end, or `w:fldSimple`) open around the text.
struct Field {
    instruction: String,
    /// Past the field code: what follows is the field's result.
    result: bool,
}

impl Field {
    /// The result of a hyperlink field is the link's text, prose; other results (page numbers,
    /// dates, references) are Word's to compute.
    fn prose(&self) -> bool {
        self.result && self.instruction.trim_start().starts_with("HYPERLINK")
    }
}

/// Elements around runs that make a run's look: stretches in different ones are different runs.
const LOOK_ELEMENTS: &[&str] = &[
    "w:hyperlink",
    "w:ins",
    "w:moveTo",
    "w:smartTag",
    "w:customXml",
    "w:sdt",
];

/// Elements inside a run (or beside runs) a reader sees that are not text.
const OBJECTS: &[&str] = &[
    "w:sym",
    "w:noBreakHyphen",
    "w:drawing",
    "w:pict",
    "w:object",
    "w:ptab",
    "m:oMath",
    "m:oMathPara",
];

struct Parser<'a> {
    source: &'a str,
    /// Open elements: name and start tag.
    stack: Vec<(&'a str, ByteSpan)>,
    paras: Vec<Para>,
    fields: Vec<Field>,
    /// Inside a `w:t`: whether its text is prose.
    in_text: Option<bool>,
    in_instruction: bool,
    blocks: Vec<Block>,
}

impl<'a> Parser<'a> {
    fn new(source: &'a str) -> Self {
        Parser {
            source,
            stack: Vec::new(),
            paras: Vec::new(),
            fields: Vec::new(),
            in_text: None,
            in_instruction: false,
            blocks: Vec::new(),
        }
    }

    fn parent(&self) -> &str {
        self.stack.last().map_or("", |(n, _)| n)
    }

    fn deleted(&self) -> bool {
        self.stack
            .iter()
            .any(|(n, _)| matches!(*n, "w:del" | "w:moveFrom"))
    }

    fn token(&mut self, token: Token<'a>) {
        match token.kind {
            Kind::Start => {
                self.element(token, false);
                self.stack.push((token.name, token.span));
            }
            Kind::Empty => self.element(token, true),
            Kind::End => self.end(token),
            Kind::Text => self.text(token.span),
            Kind::Other => {}
        }
    }

    /// A start tag (`empty`: one without content).
    fn element(&mut self, token: Token<'a>, empty: bool) {
        let tag = &self.source[token.span.start..token.span.end];
        let name = token.name;
        let parent = self.parent().to_owned();
        let deleted = self.deleted();
        let depth = self.stack.len();
        match name {
            "w:p" if !empty => {
                // A paragraph inside a paragraph (a text box): the outer one's text so far is a
                // block of its own, so that blocks never overlap.
                let outer = self.paras.last_mut().map(|outer| {
                    outer.since_text = Holds::default();
                    (std::mem::take(&mut outer.stretches), outer.kind())
                });
                if let Some((stretches, kind)) = outer {
                    self.flush(stretches, kind);
                }
                let in_cell = self.stack.iter().any(|(n, _)| *n == "w:tc");
                self.paras.push(Para {
                    depth: depth + 1,
                    style: None,
                    numbered: false,
                    in_cell,
                    stretches: Vec::new(),
                    run_properties: String::new(),
                    properties_start: None,
                    since_text: Holds::default(),
                });
                return;
            }
            "w:fldSimple" if !empty => {
                let instruction = attribute(tag, "w:instr").map_or("", |(v, _)| v).to_owned();
                self.fields.push(Field {
                    instruction,
                    result: true,
                });
            }
            "w:fldChar" => match attribute(tag, "w:fldCharType").map(|(v, _)| v) {
                Some("begin") => self.fields.push(Field {
                    instruction: String::new(),
                    result: false,
                }),
                Some("separate") => {
                    if let Some(field) = self.fields.last_mut() {
                        field.result = true;
                    }
                }
                Some("end") => {
                    self.fields.pop();
                }
                _ => {}
            },
            "w:instrText" if !empty => self.in_instruction = true,
            "w:t" if !empty => {
                let prose = parent == "w:r"
                    && !deleted
                    && !self.paras.is_empty()
                    && self.fields.iter().all(Field::prose);
                self.in_text = Some(prose);
            }
            _ => {}
        }
        let Some(para) = self.paras.last_mut() else {
            return;
        };
        match name {
            "w:pStyle" if parent == "w:pPr" && depth == para.depth + 1 => {
                para.style = attribute(tag, "w:val").map(|(v, _)| v.to_owned());
            }
            "w:numPr" if parent == "w:pPr" && depth == para.depth + 1 => para.numbered = true,
            "w:r" if !empty => para.run_properties.clear(),
            "w:rPr" if parent == "w:r" => {
                para.run_properties.clear();
                if !empty {
                    para.properties_start = Some(token.span.end);
                }
            }
            "w:tab" | "w:br" | "w:cr" if parent == "w:r" && !deleted => {
                para.since_text.space = true;
            }
            _ if OBJECTS.contains(&name) && !deleted => para.since_text.object = true,
            _ => {}
        }
    }

    fn end(&mut self, token: Token<'a>) {
        let name = token.name;
        if let Some(i) = self.stack.iter().rposition(|(n, _)| *n == name) {
            self.stack.truncate(i);
        }
        match name {
            "w:p"
                if self
                    .paras
                    .last()
                    .is_some_and(|p| p.depth == self.stack.len() + 1) =>
            {
                if let Some(para) = self.paras.pop() {
                    let kind = para.kind();
                    self.flush(para.stretches, kind);
                }
            }
            "w:t" => self.in_text = None,
            "w:instrText" => self.in_instruction = false,
            "w:fldSimple" => {
                self.fields.pop();
            }
            "w:rPr" => {
                if let Some(para) = self.paras.last_mut()
                    && let Some(start) = para.properties_start.take()
                {
                    para.run_properties = without_language(&self.source[start..token.span.start]);
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, span: ByteSpan) {
        let text = &self.source[span.start..span.end];
        if self.in_instruction {
            if let Some(field) = self.fields.last_mut() {
                field
                    .instruction
                    .extend(units(text).into_iter().map(|(_, c)| c));
            }
            return;
        }
        let look = self.look();
        let deleted = self.deleted();
        let Some(para) = self.paras.last_mut() else {
            return;
        };
        match self.in_text {
            Some(true) if !span.is_empty() => {
                let before = std::mem::take(&mut para.since_text);
                para.stretches.push(Stretch { span, look, before });
            }
            // A field's result (a page number) is seen, not translated.
            Some(false) if !deleted && !text.trim().is_empty() => para.since_text.object = true,
            _ => {}
        }
    }

    /// The look of the run being read (see `Stretch::look`).
    fn look(&self) -> String {
        let Some(para) = self.paras.last() else {
            return String::new();
        };
        let mut look = String::new();
        for (name, tag) in self.stack.iter().skip(para.depth) {
            if LOOK_ELEMENTS.contains(name) {
                look.push_str(&self.source[tag.start..tag.end]);
            }
        }
        for field in &self.fields {
            look.push_str(&field.instruction);
        }
        look.push('|');
        look.push_str(&para.run_properties);
        look
    }

    /// A paragraph's stretches of text become a block, when they hold prose.
    fn flush(&mut self, stretches: Vec<Stretch>, kind: BlockKind) {
        if !stretches.iter().any(|s| {
            self.source[s.span.start..s.span.end]
                .chars()
                .any(char::is_alphabetic)
        }) {
            return;
        }
        self.blocks.push(Block {
            atoms: paragraph_atoms(self.source, &stretches),
            kind,
            split_sentences: true,
            syntax: &WORD_TEXT,
        });
    }
}

/// Run properties without the language (`w:lang`): a run that differs only in its language
/// tag looks the same.
fn without_language(properties: &str) -> String {
    let mut out = String::with_capacity(properties.len());
    for token in tokens(properties) {
        if token.name != "w:lang" {
            out.push_str(&properties[token.span.start..token.span.end]);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Boundaries

/// One end of a markup pair: a boundary (by the index of the stretch it precedes) or a
/// zero-width marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Boundary(usize),
    Marker(usize),
}

/// A zero-width markup atom inside the text of a stretch.
#[derive(Debug, Clone, Copy)]
struct Marker {
    stretch: usize,
    at: usize,
    open: bool,
    /// Among markers at one place: a close of an inner pair, a close of a run, an open of a
    /// run, an open of an inner pair (inner pairs nest in runs).
    rank: u8,
}

const INNER_CLOSE: u8 = 0;
const RUN_CLOSE: u8 = 1;
const RUN_OPEN: u8 = 2;
const INNER_OPEN: u8 = 3;

/// Does a sentence end inside this text (a full stop, question or exclamation mark before a
/// space)?
fn ends_sentence_inside(text: &str) -> bool {
    let mut previous = ' ';
    for c in text.chars() {
        if c.is_whitespace() && matches!(previous, '.' | '!' | '?' | '…' | ':') {
            return true;
        }
        previous = c;
    }
    false
}

/// A boundary at a sentence's edge opens the sentence when the text after it starts with it
/// (no space between), else it closes the one before.
fn edge_opens(next: &str) -> bool {
    !next.starts_with(char::is_whitespace)
}

/// Adds a zero-width marker; returns the pair end it is.
fn marker(markers: &mut Vec<Marker>, stretch: usize, at: usize, open: bool, rank: u8) -> End {
    markers.push(Marker {
        stretch,
        at,
        open,
        rank,
    });
    End::Marker(markers.len() - 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Unassigned,
    Open,
    Close,
    Break,
    Protected,
    /// At a sentence's start or end: no partner, the carving leaves it in the gap, where it was.
    Edge,
}

/// Which boundary is what, the zero-width markers, and the markup pairs.
struct Boundaries {
    /// The boundary before stretch j (j ≥ 1).
    role: Vec<Role>,
    markers: Vec<Marker>,
    pairs: Vec<(End, End)>,
}

/// The atoms of a paragraph from its stretches of text: text, and between each two stretches
/// one boundary atom (see the module documentation).
fn paragraph_atoms(source: &str, stretches: &[Stretch]) -> Vec<Atom> {
    let mut plan = Boundaries {
        role: stretches
            .iter()
            .map(|s| {
                if s.before.object {
                    Role::Protected
                } else if s.before.space {
                    Role::Break
                } else {
                    Role::Unassigned
                }
            })
            .collect(),
        markers: Vec::new(),
        pairs: Vec::new(),
    };
    pair_runs(source, stretches, &mut plan);
    pair_the_rest(source, stretches, &mut plan);
    build_atoms(source, stretches, &plan)
}

fn stretch_text<'a>(source: &'a str, stretch: &Stretch) -> &'a str {
    &source[stretch.span.start..stretch.span.end]
}

/// Each formatted run (stretches alike that look unlike the paragraph's main run) between its
/// two boundaries, or a zero-width marker where a boundary is not free for it.
fn pair_runs(source: &str, stretches: &[Stretch], plan: &mut Boundaries) {
    let n = stretches.len();
    let has_words = |j: usize| {
        stretch_text(source, &stretches[j])
            .chars()
            .any(char::is_alphanumeric)
    };
    // The main look: the one with the most letters and digits (the first of equals).
    let mut weight: HashMap<&str, usize> = HashMap::new();
    for s in stretches {
        *weight.entry(s.look.as_str()).or_default() += stretch_text(source, s)
            .chars()
            .filter(|c| c.is_alphanumeric())
            .count();
    }
    let mut main = stretches[0].look.as_str();
    for s in stretches {
        if weight[s.look.as_str()] > weight[main] {
            main = s.look.as_str();
        }
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for j in 0..n {
        match runs.last_mut() {
            Some((_, last)) if stretches[*last].look == stretches[j].look => *last = j,
            _ => runs.push((j, j)),
        }
    }
    let formatted = |(first, last): (usize, usize)| {
        stretches[first].look != main && (first..=last).any(has_words)
    };
    let hard = |r: Role| matches!(r, Role::Break | Role::Protected);
    for (r, &(first, last)) in runs.iter().enumerate() {
        if !formatted((first, last)) {
            continue;
        }
        let opener = if first == 0 || hard(plan.role[first]) {
            let at = stretches[first].span.start;
            marker(&mut plan.markers, first, at, true, RUN_OPEN)
        } else {
            plan.role[first] = Role::Open;
            End::Boundary(first)
        };
        let next_formatted = runs.get(r + 1).is_some_and(|&run| formatted(run));
        let closer = if last + 1 == n || hard(plan.role[last + 1]) || next_formatted {
            let at = stretches[last].span.end;
            marker(&mut plan.markers, last, at, false, RUN_CLOSE)
        } else {
            plan.role[last + 1] = Role::Close;
            End::Boundary(last + 1)
        };
        plan.pairs.push((opener, closer));
    }
}

/// The other boundaries (bookmarks, comment anchors, note references, spell-check marks, runs
/// that differ only in what no reader sees): two in a row around the words between (a comment's
/// range), else with the word that touches one, else a protected token.
fn pair_the_rest(source: &str, stretches: &[Stretch], plan: &mut Boundaries) {
    let n = stretches.len();
    let edges = sentence_edges(source, stretches, &plan.role);
    let mut j = 1;
    while j < n {
        if plan.role[j] != Role::Unassigned {
            j += 1;
            continue;
        }
        // A note reference after a full stop stays after it.
        if edges[j] {
            plan.role[j] = Role::Edge;
            j += 1;
            continue;
        }
        // (Not when a sentence ends in or right before the words between: the pair would
        // cross it and be cut.)
        let between = stretch_text(source, &stretches[j]);
        let left = stretch_text(source, &stretches[j - 1]).chars().next_back();
        if j + 1 < n
            && plan.role[j + 1] == Role::Unassigned
            && between.chars().any(char::is_alphanumeric)
            && !ends_sentence_inside(&format!("{}{between}", left.unwrap_or(' ')))
        {
            plan.role[j] = Role::Open;
            plan.role[j + 1] = Role::Close;
            plan.pairs.push((End::Boundary(j), End::Boundary(j + 1)));
            j += 2;
            continue;
        }
        // Only a word that touches the boundary: with a space between, the boundary may fall
        // between two sentences, and the pair would cut the sentence it went with.
        let (previous, next) = (&stretches[j - 1].span, &stretches[j].span);
        let before = words(source, previous.start, previous.end)
            .pop()
            .filter(|w| !source[w.end..previous.end].contains(char::is_whitespace));
        let after = words(source, next.start, next.end)
            .first()
            .copied()
            .filter(|w| !source[next.start..w.start].contains(char::is_whitespace));
        if let Some(word) = before {
            plan.role[j] = Role::Close;
            let z = marker(&mut plan.markers, j - 1, word.start, true, INNER_OPEN);
            plan.pairs.push((z, End::Boundary(j)));
        } else if let Some(word) = after {
            plan.role[j] = Role::Open;
            let z = marker(&mut plan.markers, j, word.end, false, INNER_CLOSE);
            plan.pairs.push((End::Boundary(j), z));
        } else {
            // Between spaces: at a sentence's edge it goes to the gap, inside one the model sees
            // a placeholder.
            plan.role[j] = Role::Protected;
        }
        j += 1;
    }
}

/// Which boundaries stand where a sentence starts or ends, as the segmenter cuts the paragraph's
/// text (a boundary the model does not see between two sentences). A boundary the model sees
/// (a break, a placeholder) is never one.
fn sentence_edges(source: &str, stretches: &[Stretch], role: &[Role]) -> Vec<bool> {
    let mut clean = String::new();
    let mut at = vec![usize::MAX; stretches.len()];
    for (j, stretch) in stretches.iter().enumerate() {
        match role[j] {
            Role::Break => clean.push(' '),
            Role::Protected => clean.push_str(" Xurl "),
            _ if j > 0 => at[j] = clean.len(),
            _ => {}
        }
        clean.extend(
            units(stretch_text(source, stretch))
                .into_iter()
                .map(|(_, c)| c),
        );
    }
    let sentences = crate::segment::sentences(&clean);
    at.iter()
        .map(|&p| sentences.iter().any(|s| s.start == p || s.end == p))
        .collect()
}

/// The atoms in source order, with the pairs' partners.
fn build_atoms(source: &str, stretches: &[Stretch], plan: &Boundaries) -> Vec<Atom> {
    let markers = &plan.markers;
    let mut atoms: Vec<Atom> = Vec::new();
    let mut boundary_atom = vec![usize::MAX; stretches.len()];
    let mut marker_atom = vec![usize::MAX; markers.len()];
    for (j, stretch) in stretches.iter().enumerate() {
        if j > 0 {
            let kind = match plan.role[j] {
                Role::Open => AtomKind::Open,
                Role::Close => AtomKind::Close,
                Role::Break => AtomKind::Break,
                Role::Protected | Role::Unassigned => AtomKind::Protected,
                Role::Edge if edge_opens(stretch_text(source, stretch)) => AtomKind::Open,
                Role::Edge => AtomKind::Close,
            };
            boundary_atom[j] = atoms.len();
            atoms.push(Atom::new(
                kind,
                stretches[j - 1].span.end,
                stretch.span.start,
            ));
        }
        let mut here: Vec<usize> = (0..markers.len())
            .filter(|&m| markers[m].stretch == j)
            .collect();
        here.sort_by_key(|&m| (markers[m].at, markers[m].rank));
        let mut cursor = stretch.span.start;
        for m in here {
            let at = markers[m].at;
            if cursor < at {
                atoms.extend(text_atoms(source, cursor, at));
                cursor = at;
            }
            marker_atom[m] = atoms.len();
            let kind = if markers[m].open {
                AtomKind::Open
            } else {
                AtomKind::Close
            };
            atoms.push(Atom::new(kind, at, at));
        }
        if cursor < stretch.span.end {
            atoms.extend(text_atoms(source, cursor, stretch.span.end));
        }
    }
    let index = |end: End| match end {
        End::Boundary(j) => boundary_atom[j],
        End::Marker(m) => marker_atom[m],
    };
    for &(a, b) in &plan.pairs {
        let (a, b) = (index(a), index(b));
        atoms[a].partner = Some(b);
        atoms[b].partner = Some(a);
    }
    atoms
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;
    use quick_xml::events::Event;

    use super::*;
    use crate::document::model::{self, QuoteStyle};
    use crate::engine::identity::IdentityEngine;
    use crate::engine::{Engine, EngineError, Translation, WordAlignment};

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/office/bericht.docx"
    );

    /// The WordprocessingML parts of the fixture with text, and the title part.
    const WORD_PARTS: &[&str] = &[
        "word/document.xml",
        "word/header1.xml",
        "word/footer1.xml",
        "word/footnotes.xml",
        "word/endnotes.xml",
    ];

    fn part(name: &str) -> String {
        let file = std::fs::File::open(FIXTURE).expect("the fixture");
        let mut archive = zip::ZipArchive::new(file).expect("a zip");
        let mut entry = archive.by_name(name).expect("the part");
        let mut text = String::new();
        entry.read_to_string(&mut text).expect("UTF-8");
        text
    }

    /// A model that upper-cases the words — so that any German left shows —, adds one, and
    /// gives its word alignment; `reverse` reverses their order (a model that reorders all).
    struct Shout {
        reverse: bool,
    }

    const KEEP_ORDER: Shout = Shout { reverse: false };
    const REVERSE: Shout = Shout { reverse: true };

    impl Engine for Shout {
        fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
            Ok(sentences
                .iter()
                .map(|s| {
                    let mut text = String::from("THE");
                    let mut pairs = Vec::new();
                    let mut words = alnum_words(s);
                    if self.reverse {
                        words.reverse();
                    }
                    for w in &words {
                        if !text.is_empty() {
                            text.push(' ');
                        }
                        let start = text.len();
                        text.push_str(&s[w.start..w.end].to_uppercase());
                        pairs.push((*w, ByteSpan::new(start, text.len())));
                    }
                    if s.trim_end().ends_with('.') {
                        text.push('.');
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

    fn alnum_words(s: &str) -> Vec<ByteSpan> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in s.char_indices() {
            match (c.is_alphanumeric(), start) {
                (true, None) => start = Some(i),
                (false, Some(b)) => {
                    out.push(ByteSpan::new(b, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(b) = start {
            out.push(ByteSpan::new(b, s.len()));
        }
        out
    }

    /// The model inputs, the rebuilt part (after `finish_part`) and the segments' flags.
    fn translate(
        format: &dyn TextFormat,
        source: &str,
        engine: &dyn Engine,
    ) -> (Vec<String>, String, Vec<String>) {
        let parsed = format.parse(source);
        let prepared = model::prepare(source, parsed, QuoteStyle::Keep, engine, None);
        let inputs: Vec<String> = prepared
            .model_inputs()
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let translations = engine.translate(&refs).expect("translations");
        let done = prepared.finish(&translations);
        let flags = done
            .segments
            .iter()
            .flat_map(|s| s.flags.iter().map(|f| format!("{f:?}")))
            .collect();
        (inputs, finish_part(source, &done.target), flags)
    }

    /// A part as a checker sees it: per paragraph its style and every element in order (text
    /// aside; a `w:t`'s attributes and a `w:lang`'s value aside, which may change), the text of
    /// each `w:t` with whether its run is formatted, and the deleted text and field codes.
    #[derive(Debug, Default)]
    struct Shape {
        paragraphs: Vec<(String, Vec<String>)>,
        texts: Vec<(usize, bool, String)>,
        kept: Vec<String>,
    }

    fn shape(xml: &str) -> Shape {
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut shape = Shape::default();
        let mut stack: Vec<String> = Vec::new();
        let mut open_paragraphs: Vec<usize> = Vec::new();
        let mut formatted = false;
        let mut text: Option<String> = None;
        loop {
            let event = reader.read_event().expect("well-formed XML");
            match &event {
                Event::Start(e) | Event::Empty(e) => {
                    let name = e.name().as_ref().to_owned();
                    let shown = match name.as_str() {
                        "w:t" | "w:lang" => name.clone(),
                        _ => (**e).to_owned(),
                    };
                    if let Some(&p) = open_paragraphs.last() {
                        shape.paragraphs[p].1.push(shown);
                    }
                    match name.as_str() {
                        "w:p" if matches!(event, Event::Start(_)) => {
                            open_paragraphs.push(shape.paragraphs.len());
                            shape.paragraphs.push((String::new(), Vec::new()));
                        }
                        "w:pStyle" => {
                            if let Some(&p) = open_paragraphs.last() {
                                let style = e.try_get_attribute("w:val").ok().flatten();
                                shape.paragraphs[p].0 =
                                    style.map(|a| a.value.into_owned()).unwrap_or_default();
                            }
                        }
                        "w:r" => {
                            formatted = stack.iter().any(|n| n == "w:hyperlink" || n == "w:ins")
                        }
                        "w:b" | "w:i" | "w:u" => formatted = true,
                        _ => {}
                    }
                    if matches!(event, Event::Start(_)) {
                        if matches!(name.as_str(), "w:t" | "w:delText" | "w:instrText") {
                            text = Some(String::new());
                        }
                        stack.push(name);
                    }
                }
                Event::Text(t) => {
                    if let Some(text) = &mut text {
                        text.push_str(t);
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(text) = &mut text {
                        text.push_str(&format!("&{};", &**r));
                    }
                }
                Event::End(e) => {
                    let name = e.name().as_ref().to_owned();
                    assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "tags balance");
                    if let Some(&p) = open_paragraphs.last() {
                        shape.paragraphs[p].1.push(format!("/{name}"));
                    }
                    match name.as_str() {
                        "w:p" => {
                            open_paragraphs.pop();
                        }
                        "w:t" => {
                            let p = open_paragraphs.last().copied().unwrap_or(usize::MAX);
                            shape
                                .texts
                                .push((p, formatted, text.take().unwrap_or_default()));
                        }
                        "w:delText" | "w:instrText" => shape.kept.extend(text.take()),
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(stack.is_empty(), "every element closed");
        shape
    }

    #[test]
    fn identity_gives_every_part_back_byte_for_byte() {
        for name in WORD_PARTS {
            let source = part(name);
            let (inputs, target, _) = translate(&WordXml, &source, &IdentityEngine);
            assert!(!inputs.is_empty(), "{name} has text");
            assert_eq!(target, source, "{name}");
        }
        let source = part("docProps/core.xml");
        let (inputs, target, _) = translate(&CoreProperties, &source, &IdentityEngine);
        assert_eq!(
            inputs,
            vec!["Bundestag beschließt schnelleren Ausbau der Windenergie"]
        );
        assert_eq!(target, source);
    }

    #[test]
    fn paragraphs_are_blocks_of_their_style() {
        let source = part("word/document.xml");
        let kinds: Vec<BlockKind> = WordXml
            .parse(&source)
            .blocks
            .iter()
            .map(|b| b.kind)
            .collect();
        use BlockKind::*;
        assert_eq!(
            kinds,
            vec![
                Heading(1),
                Paragraph,
                Paragraph,
                Heading(1),
                Paragraph,
                Paragraph,
                Paragraph,
                Paragraph,
                ListItem,
                ListItem,
                ListItem,
                Heading(1),
                Quote,
                Cell,
                Cell,
                Cell,
                Cell,
                Cell,
                Cell,
                // The text box, stored twice.
                Paragraph,
                Paragraph,
                Heading(1),
                Paragraph,
                // The caption.
                Paragraph,
            ]
        );
    }

    #[test]
    fn the_model_sees_whole_sentences_and_only_visible_text() {
        let mut inputs = Vec::new();
        for name in WORD_PARTS {
            let source = part(name);
            inputs.extend(translate(&WordXml, &source, &IdentityEngine).0);
        }
        let has = |s: &str| inputs.iter().filter(|i| i.as_str() == s).count();
        // A bold run inside a sentence, a footnote reference after it.
        assert_eq!(
            has(
                "Die Bundesregierung hat am Montag ein neues Gesetz zum Ausbau der Windenergie beschlossen."
            ),
            1
        );
        // A bookmark over a bold run and a hyperlink.
        assert_eq!(
            has(
                "Der vollständige Gesetzestext ist auf der Website des Bundestages veröffentlicht worden."
            ),
            1
        );
        // A comment's range; a tracked change (the deleted word never reaches the model).
        assert_eq!(
            has(
                "Kritik kam vor allem von Umweltverbänden, die einen besseren Schutz von Vögeln fordern."
            ),
            1
        );
        assert_eq!(
            has(
                "Die Länder müssen dafür eigene Flächenpläne vorlegen, die im Frühjahr geprüft werden."
            ),
            1
        );
        assert!(
            !inputs
                .iter()
                .any(|i| i.contains("Herbst") || i.contains("Verlängerung"))
        );
        // The text box in mc:Choice and in mc:Fallback.
        assert_eq!(has("Das ist der niedrigste Wert seit zwei Jahrzehnten."), 2);
        // The footer: the page number fields are placeholders, never translated.
        assert!(inputs.iter().any(|i| i == "Alle Rechte vorbehalten."));
        assert!(
            !inputs
                .iter()
                .any(|i| i.contains("PAGE") || i.contains("Seite 1")),
            "{inputs:#?}"
        );
        // Every word of the article reaches the model.
        let seen: std::collections::HashSet<String> = inputs
            .iter()
            .flat_map(|i| {
                alnum_words(i)
                    .into_iter()
                    .map(move |w| i[w.start..w.end].to_owned())
            })
            .collect();
        let sentences = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/office/sentences.txt"
        ))
        .expect("sentences");
        for line in sentences.lines() {
            for w in alnum_words(line) {
                assert!(
                    seen.contains(&line[w.start..w.end]),
                    "{line}: {:?}",
                    &line[w.start..w.end]
                );
            }
        }
    }

    #[test]
    fn a_translation_keeps_every_paragraph_run_link_and_deleted_word() {
        for (engine, in_order) in [(&KEEP_ORDER, true), (&REVERSE, false)] {
            for name in WORD_PARTS {
                let source = part(name);
                let (inputs, target, _) = translate(&WordXml, &source, engine);
                let (before, after) = (shape(&source), shape(&target));
                assert_eq!(
                    before.paragraphs, after.paragraphs,
                    "{name}: the same elements"
                );
                assert_eq!(
                    before.kept, after.kept,
                    "{name}: deleted text and field codes"
                );
                assert_eq!(before.texts.len(), after.texts.len());
                for ((_, formatted, old), (_, _, new)) in before.texts.iter().zip(&after.texts) {
                    // The model's text is upper case: a lower-case letter is German left over.
                    assert!(
                        !new.chars().any(char::is_lowercase),
                        "{name}: German left in {new:?} (was {old:?})"
                    );
                    // A model that keeps the order gets its formatted words back formatted.
                    if in_order && *formatted && old.chars().any(char::is_alphabetic) {
                        assert!(
                            new.contains(&old.to_uppercase()),
                            "{name}: the formatted run {old:?} became {new:?}"
                        );
                    }
                }
                for input in &inputs {
                    assert!(!target.contains(input.as_str()), "{name}: {input}");
                }
                assert!(!target.contains("w:val=\"de-DE\""), "{name}: language tags");
            }
        }
    }

    #[test]
    fn the_title_is_translated_and_the_language_made_english() {
        let source = part("docProps/core.xml");
        let (_, target, _) = translate(&CoreProperties, &source, &REVERSE);
        assert!(target.contains(
            "<dc:title>THE WINDENERGIE DER AUSBAU SCHNELLEREN BESCHLIESST BUNDESTAG</dc:title>"
        ));
        assert!(target.contains("<dc:language>en-US</dc:language>"));
        shape(&target);
    }

    #[test]
    fn references_are_characters_and_model_text_is_escaped() {
        let source = "<w:body><w:p><w:r><w:t>Forschung &amp; Entwicklung &#228;ndern</w:t></w:r></w:p></w:body>";
        let (inputs, target, _) = translate(&WordXml, source, &IdentityEngine);
        assert_eq!(inputs, vec!["Forschung & Entwicklung ändern"]);
        assert_eq!(target, source);
        struct Tags;
        impl Engine for Tags {
            fn translate(&self, s: &[&str]) -> Result<Vec<Translation>, EngineError> {
                Ok(s.iter()
                    .map(|_| Translation {
                        text: "R&D <b> changes".to_owned(),
                        ..Translation::default()
                    })
                    .collect())
            }
            fn source_token_count(&self, s: &str) -> usize {
                s.len()
            }
            fn max_source_tokens(&self) -> usize {
                512
            }
        }
        let (_, target, _) = translate(&WordXml, source, &Tags);
        assert!(
            target.contains("<w:t>R&amp;D &lt;b&gt; changes</w:t>"),
            "{target}"
        );
    }

    #[test]
    fn spaces_at_the_edge_of_a_translated_text_are_kept() {
        let source = r#"<w:p><w:r><w:t xml:space="preserve">Das ist </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>sehr</w:t></w:r><w:r><w:t xml:space="preserve"> gut</w:t></w:r><w:r><w:br/></w:r><w:r><w:t>x</w:t></w:r></w:p>"#;
        let translated = r#"<w:p><w:r><w:t xml:space="preserve">This is</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t> very </w:t></w:r><w:r><w:t xml:space="preserve">good</w:t></w:r><w:r><w:br/></w:r><w:r><w:t> x</w:t></w:r></w:p>"#;
        let expected = r#"<w:p><w:r><w:t xml:space="preserve">This is</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve"> very </w:t></w:r><w:r><w:t xml:space="preserve">good</w:t></w:r><w:r><w:br/></w:r><w:r><w:t> x</w:t></w:r></w:p>"#;
        assert_eq!(finish_part(source, translated), expected);
        assert_eq!(finish_part(source, source), source);
    }

    #[test]
    fn german_language_tags_become_english() {
        let styles = r#"<w:rPr><w:lang w:val="de-DE" w:eastAsia="en-US" w:bidi="ar-SA"/></w:rPr><w:themeFontLang w:val="de-AT" w:eastAsia="ja-JP"/><w:lang w:val="fr-FR"/>"#;
        assert_eq!(
            english_language(styles).as_deref(),
            Some(
                r#"<w:rPr><w:lang w:val="en-US" w:eastAsia="en-US" w:bidi="ar-SA"/></w:rPr><w:themeFontLang w:val="en-US" w:eastAsia="ja-JP"/><w:lang w:val="fr-FR"/>"#
            )
        );
        assert_eq!(english_language(r#"<w:lang w:val="en-GB"/>"#), None);
    }

    const SPLIT_TEXT: &str = "Die Bundesregierung hat am Montag ein Gesetz über Windräder beschlossen. Künftig sollen Verfahren schneller gehen.";

    /// The text as one paragraph of runs alike, cut at `cuts` (char positions).
    fn runs_at(cuts: &[usize]) -> String {
        let chars: Vec<(usize, char)> = SPLIT_TEXT.char_indices().collect();
        let mut bytes: Vec<usize> = cuts
            .iter()
            .map(|&c| chars[c % chars.len()].0)
            .filter(|&b| b > 0)
            .collect();
        bytes.sort();
        bytes.dedup();
        bytes.push(SPLIT_TEXT.len());
        let mut xml = String::from("<w:body><w:p><w:pPr><w:pStyle w:val=\"Normal\"/></w:pPr>");
        let mut from = 0;
        for (k, to) in bytes.into_iter().enumerate() {
            if k % 2 == 1 {
                xml.push_str(
                    "<w:proofErr w:type=\"spellStart\"/><w:bookmarkStart w:id=\"1\" w:name=\"x\"/>",
                );
            }
            xml.push_str("<w:r w:rsidR=\"00AB\"><w:rPr><w:lang w:val=\"de-DE\"/></w:rPr><w:t xml:space=\"preserve\">");
            xml.push_str(&SPLIT_TEXT[from..to]);
            xml.push_str("</w:t></w:r>");
            from = to;
        }
        xml.push_str("</w:p></w:body>");
        xml
    }

    proptest! {
        #[test]
        fn runs_split_anywhere_give_the_same_model_inputs(
            cuts in prop::collection::vec(0usize..200, 0..5)
        ) {
            let whole = runs_at(&[]);
            let split = runs_at(&cuts);
            let (inputs, _, _) = translate(&WordXml, &whole, &REVERSE);
            let (split_inputs, target, _) = translate(&WordXml, &split, &REVERSE);
            prop_assert_eq!(&inputs, &split_inputs);
            let (_, identity, _) = translate(&WordXml, &split, &IdentityEngine);
            prop_assert_eq!(&identity, &split);
            let visible = |xml: &str| -> String {
                shape(xml).texts.into_iter().map(|(_, _, t)| t).collect()
            };
            prop_assert_eq!(visible(&target), visible(&translate(&WordXml, &whole, &REVERSE).1));
        }
    }

    #[test]
    fn note_references_and_formatted_runs_keep_their_place() {
        let source = part("word/document.xml");
        let (_, target, flags) = translate(&WordXml, &source, &KEEP_ORDER);
        assert!(flags.is_empty(), "{flags:?}");
        for expected in [
            // The bold run inside the sentence, the footnote reference after the full stop.
            r#"<w:t xml:space="preserve">THE DIE BUNDESREGIERUNG HAT </w:t></w:r><w:r><w:rPr><w:b/><w:bCs/><w:lang w:val="en-US"/></w:rPr><w:t>AM MONTAG</w:t></w:r><w:r><w:rPr><w:lang w:val="en-US"/></w:rPr><w:t xml:space="preserve"> EIN NEUES GESETZ ZUM AUSBAU DER WINDENERGIE BESCHLOSSEN.</w:t></w:r><w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteReference w:id="1"/></w:r><w:r><w:t xml:space="preserve"> THE KÜNFTIG"#,
            r#"BEFASSEN.</w:t></w:r><w:r><w:rPr><w:rStyle w:val="EndnoteReference"/></w:rPr><w:endnoteReference w:id="1"/></w:r><w:r><w:t xml:space="preserve"> THE SOLLTE"#,
            // The bookmark around the bold run and the link, the link around its words.
            r#"<w:t xml:space="preserve">THE DER </w:t></w:r><w:bookmarkStart w:id="301" w:name="Gesetzestext"/><w:r><w:rPr><w:b/><w:bCs/></w:rPr><w:t>VOLLSTÄNDIGE</w:t></w:r><w:r><w:t xml:space="preserve"> GESETZESTEXT IST AUF DER </w:t></w:r><w:hyperlink r:id="rId11" w:history="1"><w:r><w:rPr><w:rStyle w:val="Hyperlink"/></w:rPr><w:t>WEBSITE DES BUNDESTAGES</w:t></w:r></w:hyperlink><w:bookmarkEnd w:id="301"/><w:r><w:t xml:space="preserve"> VERÖFFENTLICHT WORDEN.</w:t>"#,
            // The comment's range around its word.
            r#"<w:commentRangeStart w:id="0"/><w:r><w:t>UMWELTVERBÄNDEN</w:t></w:r><w:commentRangeEnd w:id="0"/>"#,
            // The tracked change: the deletion kept, the insertion translated.
            r#"<w:delText>Herbst</w:delText></w:r></w:del><w:ins w:id="202" w:author="Redaktion" w:date="2026-12-01T09:00:00Z"><w:r><w:t>FRÜHJAHR</w:t></w:r></w:ins>"#,
            // Tab and line break between the right words.
            r#"<w:t>THE BERLIN</w:t></w:r><w:r><w:tab/></w:r><w:r><w:t>5 DEZEMBER 2026</w:t></w:r><w:r><w:br/></w:r><w:r><w:rPr><w:i/><w:iCs/></w:rPr><w:t>VON UNSERER"#,
        ] {
            assert!(target.contains(expected), "{expected}");
        }
    }

    #[test]
    fn the_fixture_model_gives_well_formed_parts_with_every_run() {
        use crate::engine::marian::{EngineSettings, MarianEngine};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/models/tiny-swish");
        let settings = EngineSettings {
            beam_size: Some(1),
            max_new_tokens: Some(40),
            ..EngineSettings::default()
        };
        let engine = MarianEngine::load(&dir, &settings).expect("the fixture model");
        for name in WORD_PARTS {
            let source = part(name);
            let (_, target, _) = translate(&WordXml, &source, &engine);
            assert_ne!(target, source, "{name} translated");
            let (before, after) = (shape(&source), shape(&target));
            assert_eq!(before.paragraphs, after.paragraphs, "{name}");
            assert_eq!(before.kept, after.kept, "{name}");
        }
    }

    #[test]
    fn segment_reports_point_into_the_part_and_read_as_text() {
        let source = part("word/document.xml");
        let parsed = WordXml.parse(&source);
        let prepared = model::prepare(&source, parsed, QuoteStyle::Keep, &KEEP_ORDER, None);
        let inputs: Vec<&str> = prepared.model_inputs();
        let translations = KEEP_ORDER.translate(&inputs).expect("translations");
        let done = prepared.finish(&translations);
        assert!(!done.segments.is_empty());
        for segment in &done.segments {
            let [a, b] = segment.source_span;
            assert_eq!(source[a..b], segment.source);
            let [a, b] = segment.target_span;
            assert_eq!(done.target[a..b], segment.target);
            // What a reader sees: the words, no tags, no deleted text.
            let seen = WORD_TEXT.visible(&segment.target);
            assert!(!seen.contains('<') && !seen.contains("Herbst"), "{seen}");
            assert!(seen.starts_with("THE"), "{seen}");
        }
        // The sentence with the tracked change reads as the reader sees it.
        let sentence =
            "Die Länder müssen dafür eigene Flächenpläne vorlegen, die im Frühjahr geprüft werden.";
        assert!(
            done.segments
                .iter()
                .any(|s| WORD_TEXT.visible(&s.source) == sentence)
        );
    }

    #[test]
    fn a_hyperlink_field_is_text_and_other_field_results_are_placeholders() {
        let source = concat!(
            r#"<w:body><w:p><w:r><w:t xml:space="preserve">Mehr auf der </w:t></w:r>"#,
            r#"<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> HYPERLINK "https://example.org" </w:instrText></w:r>"#,
            r#"<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:rPr><w:rStyle w:val="Hyperlink"/></w:rPr><w:t>Seite des Vereins</w:t></w:r>"#,
            r#"<w:r><w:fldChar w:fldCharType="end"/></w:r><w:r><w:t xml:space="preserve"> und im Heft auf Seite </w:t></w:r>"#,
            r#"<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGEREF x </w:instrText></w:r>"#,
            r#"<w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>7</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>"#,
            r#"<w:r><w:t>.</w:t></w:r></w:p></w:body>"#
        );
        let (inputs, identity, _) = translate(&WordXml, source, &IdentityEngine);
        // (The page number ends the sentence: it stays in the gap with the full stop.)
        assert_eq!(
            inputs,
            vec!["Mehr auf der Seite des Vereins und im Heft auf Seite"]
        );
        assert_eq!(identity, source);
        let (_, target, flags) = translate(&WordXml, source, &KEEP_ORDER);
        assert!(flags.is_empty(), "{flags:?}");
        assert!(
            target.contains(r#"<w:rStyle w:val="Hyperlink"/></w:rPr><w:t>SEITE DES VEREINS</w:t>"#),
            "{target}"
        );
        assert!(target.contains("<w:t>7</w:t>"), "{target}");
        assert_eq!(shape(&target).paragraphs, shape(source).paragraphs);
    }

    #[test]
    fn a_text_box_inside_a_paragraph_cuts_it_into_blocks_in_order() {
        let source = concat!(
            "<w:body><w:p><w:r><w:t>Vorher steht ein Satz.</w:t></w:r><w:r><w:drawing>",
            "<w:txbxContent><w:p><w:r><w:t>Im Kasten steht mehr.</w:t></w:r></w:p>",
            "</w:txbxContent></w:drawing></w:r><w:r><w:t>Danach geht es weiter.</w:t></w:r>",
            "</w:p></w:body>"
        );
        let (inputs, identity, _) = translate(&WordXml, source, &IdentityEngine);
        assert_eq!(
            inputs,
            vec![
                "Vorher steht ein Satz.",
                "Im Kasten steht mehr.",
                "Danach geht es weiter."
            ]
        );
        assert_eq!(identity, source);
        let (_, target, _) = translate(&WordXml, source, &REVERSE);
        assert_eq!(shape(&target).paragraphs, shape(source).paragraphs);
        assert!(
            target.contains("<w:t>THE MEHR STEHT KASTEN IM.</w:t>"),
            "{target}"
        );
    }
}

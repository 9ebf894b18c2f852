//! Markdown articles, parsed with pulldown-cmark and its source offsets.
//!
//! Every run of inline content (a paragraph, a heading, a tight list item, a table cell) is a
//! block of prose; everything else — markers, block quote prefixes, code blocks, HTML blocks,
//! link reference definitions, table pipes — is never looked at and stays in the gaps byte for
//! byte. Inside a block, emphasis, strong, strikethrough and links become `Open`/`Close` markup
//! atoms (the model sees only their text); code spans, inline HTML, images, autolinks, footnote
//! references and task markers are protected tokens. Escapes and entities are kept as written.

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

use super::TextFormat;
use crate::document::model::{Atom, AtomKind, Block, BlockKind, Parsed, Syntax};
use crate::span::ByteSpan;

/// CommonMark with tables.
pub(crate) struct Markdown;

impl TextFormat for Markdown {
    fn parse(&self, source: &str) -> Parsed {
        Parsed::prose(parse(source))
    }
}

/// How text is written back into Markdown: what the model writes stays text (never opens raw
/// HTML, a code span or a new block), and a table cell's text never ends the cell.
#[derive(Debug)]
struct MarkdownSyntax {
    table_cell: bool,
}

static PROSE: MarkdownSyntax = MarkdownSyntax { table_cell: false };
static TABLE_CELL: MarkdownSyntax = MarkdownSyntax { table_cell: true };

impl Syntax for MarkdownSyntax {
    fn escape(
        &self,
        target: &str,
        p: usize,
        c: char,
        protected: &[ByteSpan],
    ) -> Option<&'static str> {
        let escaped_before = target[..p].ends_with('\\');
        match c {
            '|' if self.table_cell && !escaped_before => Some("\\|"),
            // A `<` before a letter, `/`, `!` or `?` opens raw HTML or an autolink: text the
            // model writes (or a source's escaped `\<` that reached it as `<`) must stay text, or
            // the output would gain markup the source did not have.
            '<' if !escaped_before
                && target[p + 1..]
                    .chars()
                    .next()
                    .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                Some("\\<")
            }
            // A backtick right next to a protected token (inline code) would merge with the
            // code's own backticks into a longer run (`x``) once markup between them moved:
            // escaped, it stays a literal backtick.
            '`' if !escaped_before && protected.iter().any(|s| s.end == p || s.start == p + 1) => {
                Some("\\`")
            }
            _ => None,
        }
    }

    /// Two links can no more nest than two emphases.
    fn markup_kind(&self, open: &str) -> String {
        if open.starts_with('[') {
            "[".to_owned()
        } else {
            open.to_owned()
        }
    }

    fn is_link(&self, kind: &str) -> bool {
        kind == "["
    }

    /// Never before what would open a block.
    fn may_break_before(&self, after: &str) -> bool {
        !starts_block(after)
    }

    fn escape_block_start(&self, text: &mut String) -> Option<usize> {
        escape_block_start(text)
    }
}

/// One inline event with the bytes it is known to cover.
#[derive(Debug, Clone, Copy)]
enum Item {
    Text(usize, usize),
    Break(usize, usize),
    Protected(usize, usize),
    /// Start of the element; its delimiter runs to the next item.
    Open(usize),
    /// End of the element; its delimiter starts where the previous item ended.
    Close(usize),
}

fn parser_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
}

/// Inline elements whose content is prose.
fn is_markup(tag: &Tag) -> bool {
    match tag {
        Tag::Emphasis | Tag::Strong | Tag::Strikethrough => true,
        Tag::Link { link_type, .. } => !matches!(link_type, LinkType::Autolink | LinkType::Email),
        _ => false,
    }
}

/// Inline elements kept whole.
fn is_protected_container(tag: &Tag) -> bool {
    match tag {
        Tag::Image { .. } => true,
        Tag::Link { link_type, .. } => matches!(link_type, LinkType::Autolink | LinkType::Email),
        Tag::Superscript | Tag::Subscript => true,
        _ => false,
    }
}

fn is_markup_end(tag: &TagEnd) -> bool {
    matches!(
        tag,
        TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link
    )
}

/// The prose blocks of a Markdown article.
pub(crate) fn parse(source: &str) -> Vec<Block> {
    let events: Vec<(Event, std::ops::Range<usize>)> = Parser::new_ext(source, parser_options())
        .into_offset_iter()
        .collect();
    let mut blocks = Vec::new();
    let mut run: Vec<Item> = Vec::new();
    let mut table_cell = false;
    // The block containers open at this event, each with the kind it gives its text.
    let mut containers: Vec<Option<BlockKind>> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let (event, range) = &events[i];
        let (start, end) = (range.start.min(source.len()), range.end.min(source.len()));
        match event {
            Event::Start(tag) if is_markup(tag) || is_protected_container(tag) => {
                let empty = matches!(events.get(i + 1), Some((Event::End(_), _)));
                if is_protected_container(tag) || empty {
                    run.push(Item::Protected(start, end));
                    i = matching_end(&events, i);
                } else {
                    run.push(Item::Open(start));
                }
            }
            Event::End(tag) if is_markup_end(tag) => run.push(Item::Close(end)),
            Event::Text(_) => run.push(Item::Text(start, end)),
            Event::SoftBreak | Event::HardBreak => run.push(Item::Break(start, end)),
            Event::Code(_)
            | Event::InlineHtml(_)
            | Event::InlineMath(_)
            | Event::DisplayMath(_)
            | Event::FootnoteReference(_)
            | Event::TaskListMarker(_) => run.push(Item::Protected(start, end)),
            Event::Start(Tag::CodeBlock(_) | Tag::HtmlBlock | Tag::MetadataBlock(_)) => {
                flush(source, &mut run, kind(table_cell, &containers), &mut blocks);
                i = matching_end(&events, i);
            }
            Event::Start(Tag::TableCell) => {
                flush(source, &mut run, kind(table_cell, &containers), &mut blocks);
                table_cell = true;
            }
            Event::End(TagEnd::TableCell) => {
                flush(source, &mut run, kind(table_cell, &containers), &mut blocks);
                table_cell = false;
            }
            _ => {
                // The run ends inside the containers open before this event.
                flush(source, &mut run, kind(table_cell, &containers), &mut blocks);
                match event {
                    Event::Start(tag) => containers.push(container_kind(tag)),
                    Event::End(_) => {
                        containers.pop();
                    }
                    _ => {}
                }
            }
        }
        i += 1;
    }
    flush(source, &mut run, kind(table_cell, &containers), &mut blocks);
    blocks
}

/// The kind a block container gives the text inside it; `None` for containers that give none
/// (a list, a paragraph, a table row: the text takes the kind of what holds them).
fn container_kind(tag: &Tag) -> Option<BlockKind> {
    match tag {
        Tag::Heading { level, .. } => Some(BlockKind::Heading(*level as u8)),
        Tag::Item | Tag::DefinitionListTitle | Tag::DefinitionListDefinition => {
            Some(BlockKind::ListItem)
        }
        Tag::BlockQuote(_) => Some(BlockKind::Quote),
        _ => None,
    }
}

/// The kind of a run of inline content: a table cell's, else the innermost container's.
fn kind(table_cell: bool, containers: &[Option<BlockKind>]) -> BlockKind {
    if table_cell {
        return BlockKind::Cell;
    }
    containers
        .iter()
        .rev()
        .find_map(|kind| *kind)
        .unwrap_or_default()
}

/// Index of the `End` that closes the `Start` at `start` (or the last event).
fn matching_end(events: &[(Event, std::ops::Range<usize>)], start: usize) -> usize {
    let mut depth = 0usize;
    for (i, (event, _)) in events.iter().enumerate().skip(start) {
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    events.len().saturating_sub(1)
}

/// Turns a run of inline items into a block whose atoms cover its bytes without a hole.
fn flush(source: &str, run: &mut Vec<Item>, kind: BlockKind, blocks: &mut Vec<Block>) {
    if run.is_empty() {
        return;
    }
    let items = std::mem::take(run);
    let known_start = |item: &Item| match *item {
        Item::Text(s, _) | Item::Break(s, _) | Item::Protected(s, _) | Item::Open(s) => Some(s),
        Item::Close(_) => None,
    };
    let mut atoms: Vec<Atom> = Vec::with_capacity(items.len());
    let mut stack: Vec<usize> = Vec::new();
    let mut cursor = known_start(&items[0]).unwrap_or(0);
    // pulldown-cmark leaves the backslash of an escape at the very start outside the text event;
    // it belongs to the block (markup inserted after it would be escaped instead).
    let before = source.get(..cursor).unwrap_or("");
    if (before.len() - before.trim_end_matches('\\').len()) % 2 == 1 {
        cursor -= 1;
    }
    for (k, item) in items.iter().enumerate() {
        let (kind, mut start, end) = match *item {
            Item::Text(s, e) => (AtomKind::Text, s, e),
            Item::Break(s, e) => (AtomKind::Break, s, e),
            Item::Protected(s, e) => (AtomKind::Protected, s, e),
            Item::Open(s) => {
                let next = items[k + 1..].iter().find_map(known_start).unwrap_or(s);
                (AtomKind::Open, s, next.max(s))
            }
            Item::Close(e) => (AtomKind::Close, cursor, e.max(cursor)),
        };
        if start > cursor {
            // Bytes no event covers: the `\` of an escape, the `> ` after a line break.
            let uncovered = source.get(cursor..start).unwrap_or("");
            let backslashes = uncovered.len() - uncovered.trim_end_matches('\\').len();
            match atoms.last_mut() {
                Some(previous) if previous.kind == AtomKind::Break && backslashes % 2 == 1 => {
                    // The break takes the prefix; the escape stays with the text it escapes.
                    previous.span.end = start - 1;
                    if kind == AtomKind::Text {
                        start -= 1;
                    } else {
                        atoms.push(Atom::new(AtomKind::Text, start - 1, start));
                    }
                }
                Some(previous) if previous.kind == AtomKind::Break => previous.span.end = start,
                _ if kind == AtomKind::Text => start = cursor,
                Some(previous) if previous.kind == AtomKind::Text => previous.span.end = start,
                _ => atoms.push(Atom::new(AtomKind::Text, cursor, start)),
            }
        }
        let start = start.max(cursor);
        let end = end.max(start);
        let index = atoms.len();
        let mut atom = Atom::new(kind, start, end);
        match kind {
            AtomKind::Open => stack.push(index),
            AtomKind::Close => {
                if let Some(open) = stack.pop() {
                    atom.partner = Some(open);
                    atoms[open].partner = Some(index);
                }
            }
            _ => {}
        }
        atoms.push(atom);
        cursor = end;
    }
    blocks.push(Block {
        atoms,
        kind,
        split_sentences: true,
        syntax: if kind == BlockKind::Cell {
            &TABLE_CELL
        } else {
            &PROSE
        },
    });
}

/// A translation that opens a Markdown block ("2035. bis …" would become an ordered list) is
/// escaped so that the output keeps the source's block structure. Returns where the backslash went.
fn escape_block_start(text: &mut String) -> Option<usize> {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let at = if digits > 0 {
        let rest = &text[digits..];
        (rest.starts_with(['.', ')']) && (rest.len() == 1 || rest[1..].starts_with([' ', '\t'])))
            .then_some(digits)
    } else {
        opens_block(text).then_some(0)
    };
    if let Some(at) = at {
        text.insert(at, '\\');
    }
    at
}

/// Does a line starting with `text` open a heading, block quote, list item or code fence?
fn opens_block(text: &str) -> bool {
    let hashes = text.len() - text.trim_start_matches('#').len();
    let after_marker = |rest: &str| rest.is_empty() || rest.starts_with([' ', '\t']);
    (1..=6).contains(&hashes) && after_marker(&text[hashes..])
        || text.starts_with('>')
        || text.starts_with("```")
        || text.starts_with("~~~")
        || text.starts_with(['-', '+', '*']) && after_marker(&text[1..])
}

/// Would a line starting with `text` open a Markdown block (list, heading, quote, code, table)?
fn starts_block(text: &str) -> bool {
    // A tab indents like spaces ("\t- " opens a nested list item).
    let text = text.trim_start_matches([' ', '\t']);
    let mut chars = text.chars();
    match chars.next() {
        Some('#' | '>' | '-' | '*' | '+' | '=' | '|' | '`' | '~' | '<' | '_') => true,
        Some(c) if c.is_ascii_digit() => {
            let rest = text.trim_start_matches(|c: char| c.is_ascii_digit());
            rest.starts_with(". ") || rest.starts_with(") ") || rest == "." || rest == ")"
        }
        None => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoms_cover_blocks_without_holes() {
        let source = "> Das ist **sehr** wichtig, der\n> Satz geht \\*weiter\\* [hier](http://x.de \"t\").\n\n| A | B \\| c |\n|---|---|\n| x *y* | z |\n";
        for block in parse(source) {
            for pair in block.atoms.windows(2) {
                assert_eq!(pair[0].span.end, pair[1].span.start, "{block:?}");
            }
        }
    }
}

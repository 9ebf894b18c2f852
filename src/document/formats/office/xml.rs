//! What the XML parts of every package share: checking a part, its text as atoms (character
//! references decoded for the model), how text is written back into XML, and a reader for parts
//! whose text is in a few named elements (a title, a table of contents).

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::document::formats::{TextFormat, mask_tags};
use crate::document::model::{Atom, AtomKind, Block, BlockKind, Parsed, Syntax};
use crate::span::ByteSpan;

/// `Ok` when `text` is well-formed XML (every element closed, by its own name).
pub(crate) fn check_well_formed(text: &str) -> Result<(), String> {
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Eof) if depth == 0 => return Ok(()),
            Ok(Event::Eof) => return Err("an element is not closed".to_owned()),
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "{e} at byte {}",
                    reader.error_position().max(reader.buffer_position())
                ));
            }
        }
    }
}

/// The character a reference (`&amp;`, `&#228;`, `&#xE4;`) at the start of `text` stands for,
/// with its length in bytes.
pub(crate) fn reference_at(text: &str) -> Option<(char, usize)> {
    // The longest reference XML has is `&#x10FFFF;`: look no further than that.
    let end = text.bytes().take(12).position(|b| b == b';')?;
    let name = &text[1..end];
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

/// The text of `source[start..end]` (element content) as atoms: literal runs, and each character
/// reference an atom of its own whose `decoded` character the model sees.
pub(crate) fn text_atoms(source: &str, start: usize, end: usize) -> Vec<Atom> {
    let mut atoms = Vec::new();
    let mut literal = start;
    let mut i = start;
    while i < end {
        if source[i..end].starts_with('&')
            && let Some((c, len)) = reference_at(&source[i..end])
        {
            if literal < i {
                atoms.push(Atom::new(AtomKind::Text, literal, i));
            }
            let mut atom = Atom::new(AtomKind::Text, i, i + len);
            atom.decoded = Some(c);
            atoms.push(atom);
            i += len;
            literal = i;
            continue;
        }
        i += source[i..].chars().next().map_or(1, char::len_utf8);
    }
    if literal < end {
        atoms.push(Atom::new(AtomKind::Text, literal, end));
    }
    atoms
}

/// `text` with its character references decoded (what a reader sees of element content).
pub(crate) fn decode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match reference_at(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text written back into XML element content: `&`, `<` and `>` escaped, inline tags in their
/// order, what a reader sees with references decoded.
#[derive(Debug)]
pub(crate) struct XmlText;

pub(crate) static XML_TEXT: XmlText = XmlText;

/// How `c` is written in XML element content, if not as itself: `&`, `<`, `>` escaped, and the
/// characters XML 1.0 does not allow at all (controls but tab and line ends) never written.
pub(crate) fn escape_char(c: char) -> Option<&'static str> {
    match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\t' | '\n' | '\r' => None,
        c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => Some(""),
        _ => None,
    }
}

/// `xml` with each span of `edits` (in order, not overlapping) replaced by its text.
pub(crate) fn with_edits(xml: &str, edits: &[(ByteSpan, &str)]) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut cursor = 0;
    for (span, text) in edits {
        out.push_str(&xml[cursor..span.start]);
        out.push_str(text);
        cursor = span.end;
    }
    out.push_str(&xml[cursor..]);
    out
}

impl Syntax for XmlText {
    fn escape_char(&self, c: char) -> Option<&'static str> {
        escape_char(c)
    }

    fn visible(&self, text: &str) -> String {
        decode(&strip_tags(text))
    }

    fn tags_keep_order(&self) -> bool {
        true
    }

    fn holds_tag(&self, atom_text: &str) -> bool {
        atom_text.contains('<')
    }

    fn markup_kind(&self, open: &str) -> String {
        element_name(open).to_owned()
    }

    fn mask_markup(&self, text: &str) -> Option<String> {
        Some(mask_tags(text))
    }
}

/// `text` without its tags.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        match c {
            '<' => inside = true,
            '>' if inside => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// The qualified name of a start tag (`<w:r w:rsidR="…">` is `w:r`).
pub(crate) fn element_name(tag: &str) -> &str {
    tag.trim_start_matches('<')
        .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .next()
        .unwrap_or("")
}

/// A part whose prose is the text content of a few named elements (`dc:title` in a package's
/// metadata, `text` in an EPUB 2 table of contents): each such element with text and no child
/// elements is one block of `kind`. Everything else stays in the gaps.
#[derive(Debug)]
pub(crate) struct ElementText {
    pub names: &'static [&'static str],
    pub kind: BlockKind,
}

impl TextFormat for ElementText {
    fn parse(&self, source: &str) -> Parsed {
        let mut blocks = Vec::new();
        let mut reader = Reader::from_str(source);
        // The element whose text is wanted, where its content starts.
        let mut open: Option<usize> = None;
        loop {
            let before = reader.buffer_position() as usize;
            let Ok(event) = reader.read_event() else {
                break;
            };
            let after = reader.buffer_position() as usize;
            match event {
                Event::Start(start) => {
                    let name = start.name().as_ref().to_owned();
                    open = self.names.contains(&name.as_str()).then_some(after);
                }
                Event::End(_) => {
                    if let Some(from) = open.take() {
                        let content = &source[from..before];
                        let lead = content.len() - content.trim_start().len();
                        let (start, end) = (from + lead, from + content.trim_end().len());
                        if start < end && !content.contains('<') {
                            blocks.push(Block {
                                atoms: text_atoms(source, start, end),
                                kind: self.kind,
                                split_sentences: true,
                                syntax: &XML_TEXT,
                            });
                        }
                    }
                }
                Event::Eof => break,
                _ => {
                    if !matches!(event, Event::Text(_) | Event::GeneralRef(_)) {
                        open = None;
                    }
                }
            }
        }
        Parsed::prose(blocks)
    }
}

/// `xml` with every value of the attributes `names` that says German (`de`, `de-DE`, `de-AT`,
/// `de-CH`) replaced by `english`; `None` when there is none.
pub(crate) fn rewrite_language_attributes(
    xml: &str,
    names: &[&str],
    english: &str,
) -> Option<String> {
    let mut out = String::with_capacity(xml.len());
    let mut cursor = 0;
    let mut changed = false;
    let bytes = xml.as_bytes();
    let mut i = 0;
    while i < xml.len() {
        let hit = names.iter().find_map(|name| {
            let rest = &xml[i..];
            let after = rest.strip_prefix(name)?.strip_prefix('=')?;
            let quote = after.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            let value_start = i + name.len() + 2;
            let value_end = value_start + xml[value_start..].find(quote)?;
            // Only a whole attribute name (not the end of a longer one).
            let boundary = i == 0 || bytes[i - 1].is_ascii_whitespace();
            (boundary && is_german(&xml[value_start..value_end]))
                .then_some((value_start, value_end))
        });
        match hit {
            Some((start, end)) => {
                out.push_str(&xml[cursor..start]);
                out.push_str(english);
                cursor = end;
                i = end;
                changed = true;
            }
            None => i += xml[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    out.push_str(&xml[cursor..]);
    changed.then_some(out)
}

/// `xml` with the text of every element `name` that says German replaced by `english`.
pub(crate) fn rewrite_language_elements(xml: &str, name: &str, english: &str) -> Option<String> {
    let open = format!("<{name}");
    let close = format!("</{name}>");
    let mut out = String::with_capacity(xml.len());
    let mut cursor = 0;
    let mut changed = false;
    let mut from = 0;
    while let Some(at) = xml[from..].find(&open) {
        let tag_start = from + at;
        let Some(tag_end) = xml[tag_start..].find('>').map(|e| tag_start + e + 1) else {
            break;
        };
        let Some(end) = xml[tag_end..].find(&close).map(|e| tag_end + e) else {
            break;
        };
        let value = &xml[tag_end..end];
        if is_german(value) {
            out.push_str(&xml[cursor..tag_end]);
            out.push_str(english);
            cursor = end;
            changed = true;
        }
        from = end;
    }
    out.push_str(&xml[cursor..]);
    changed.then_some(out)
}

/// A language tag that says German.
pub(crate) fn is_german(tag: &str) -> bool {
    let tag = tag.trim().to_ascii_lowercase();
    tag == "de" || tag.starts_with("de-") || tag.starts_with("de_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formedness() {
        assert!(check_well_formed("<a><b/>x &amp; y</a>").is_ok());
        assert!(check_well_formed("<a><b></a>").is_err());
        assert!(check_well_formed("<a><b>").is_err());
    }

    #[test]
    fn references_are_atoms_of_their_own() {
        let source = "<t>Gr&#xFC;&#223;e &amp; mehr</t>";
        let atoms = text_atoms(source, 3, source.len() - 4);
        let decoded: String = atoms
            .iter()
            .map(|a| a.model_text(source).into_owned())
            .collect();
        assert_eq!(decoded, "Grüße & mehr");
        assert_eq!(decode("a &lt;b&gt; &#x41;"), "a <b> A");
    }

    #[test]
    fn element_text_finds_titles_only() {
        let source = "<m><dc:title>Ein Titel</dc:title><dc:creator>Wer</dc:creator></m>";
        let parsed = ElementText {
            names: &["dc:title"],
            kind: BlockKind::Heading(1),
        }
        .parse(source);
        assert_eq!(parsed.blocks.len(), 1);
        let span = parsed.blocks[0].atoms[0].span;
        assert_eq!(&source[span.start..span.end], "Ein Titel");
    }

    #[test]
    fn language_tags_become_english() {
        let xml = r#"<w:lang w:val="de-DE" w:eastAsia="de-DE"/><x lang="fr"/>"#;
        assert_eq!(
            rewrite_language_attributes(xml, &["w:val"], "en-US").as_deref(),
            Some(r#"<w:lang w:val="en-US" w:eastAsia="de-DE"/><x lang="fr"/>"#)
        );
        assert_eq!(
            rewrite_language_attributes("<x a=\"de\"/>", &["b"], "en"),
            None
        );
        assert_eq!(
            rewrite_language_elements("<dc:language>de</dc:language>", "dc:language", "en")
                .as_deref(),
            Some("<dc:language>en</dc:language>")
        );
    }
}

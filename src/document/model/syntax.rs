//! What rebuilding needs to know of the syntax a block's text is written back into.
//!
//! A format parser hands each block to the core with a `&'static dyn Syntax`. The core asks it how
//! the model's characters are written, where a line break put back may stand, how inline markup
//! nests and whether it keeps its order, and what a reader sees of the text — without knowing which
//! format it is. Every method has the answer of text that needs nothing (`Verbatim`), so a format
//! overrides only what its syntax changes.

use crate::span::ByteSpan;

pub(crate) trait Syntax: std::fmt::Debug + Sync {
    /// How the model's character `c` at byte `at` of the translation `target` must be written,
    /// if not as itself. `protected` holds the spans of the protected tokens (code, URLs) written
    /// into `target`.
    fn escape(
        &self,
        target: &str,
        at: usize,
        c: char,
        protected: &[ByteSpan],
    ) -> Option<&'static str> {
        let _ = (target, at, protected);
        self.escape_char(c)
    }

    /// How `c` is written wherever it stands in this block's text (a glossary term's English),
    /// if not as itself.
    fn escape_char(&self, c: char) -> Option<&'static str> {
        let _ = c;
        None
    }

    /// The text as a reader sees it (character references decoded).
    fn visible(&self, text: &str) -> String {
        text.to_owned()
    }

    /// Inline markup is a sequence of tags that keeps its order: siblings may not swap, and an
    /// atom that holds a tag (`holds_tag`) keeps its place among them.
    fn tags_keep_order(&self) -> bool {
        false
    }

    /// Does an atom with these source bytes hold a tag that keeps its place among the inline tags?
    fn holds_tag(&self, atom_text: &str) -> bool {
        let _ = atom_text;
        false
    }

    /// The kind of an opening markup: two of one kind cannot nest.
    fn markup_kind(&self, open: &str) -> String {
        open.to_owned()
    }

    /// Is markup of this kind (`markup_kind`) a link? Links do not nest, so a link is never put
    /// around a whole sentence that holds a protected token (an autolink, an image).
    fn is_link(&self, kind: &str) -> bool {
        let _ = kind;
        false
    }

    /// May a line break put back into a translation stand right before `after`?
    fn may_break_before(&self, after: &str) -> bool {
        let _ = after;
        true
    }

    /// Escapes a translation that starts its block in a way that would change the block's kind
    /// ("2035. bis …" opening a list). Returns where the one inserted byte went.
    fn escape_block_start(&self, text: &mut String) -> Option<usize> {
        let _ = text;
        None
    }

    /// `text` with the bytes that are markup, not prose, replaced (byte for byte) so that the
    /// quotation marks in them are not taken for the prose's; `None` when there is no markup.
    fn mask_markup(&self, text: &str) -> Option<String> {
        let _ = text;
        None
    }
}

/// Text written back as the model wrote it: plain text and one sentence per line.
#[derive(Debug)]
pub(crate) struct Verbatim;

impl Syntax for Verbatim {}

pub(crate) static VERBATIM: Verbatim = Verbatim;

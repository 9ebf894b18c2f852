//! The German word lists behind the segmenter, parsed once from the data files in `data/`.
//!
//! The rules live in data so that a linguist (or a bug report) can add an abbreviation without
//! touching the scanner; each file explains its own format in its header comment.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// What may follow an abbreviation's period; see the header of `data/abbreviations.txt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AbbreviationKind {
    /// Never ends a sentence ("Dr.", "z. B.", "Nr.").
    Never,
    /// Ends a sentence only before a typical sentence opener ("Mio.", "Inc.", "u. a.").
    Maybe,
    /// Ends a sentence before any word that is not lower case ("usw.", "etc.").
    End,
}

/// Longest abbreviation key we look up, in bytes ("dr.rer.nat." is 11); longer tokens are words.
pub(crate) const MAX_ABBREVIATION_BYTES: usize = 24;

pub(crate) struct Lexicon {
    /// Key: the abbreviation lower-cased with all whitespace removed ("z. B." → "z.b.").
    abbreviations: HashMap<String, AbbreviationKind>,
    /// Compound endings such as "str." ("Goethestr."), stored like the keys without the leading '-'.
    suffixes: Vec<(String, AbbreviationKind)>,
    sentence_starters: HashSet<&'static str>,
    line_continuations: HashSet<&'static str>,
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
    let (abbreviations, suffixes) = parse_abbreviations(include_str!("data/abbreviations.txt"));
    Lexicon {
        abbreviations,
        suffixes,
        sentence_starters: parse_words(include_str!("data/sentence_starters.txt")),
        line_continuations: parse_words(include_str!("data/line_continuations.txt")),
    }
});

pub(crate) fn lexicon() -> &'static Lexicon {
    &LEXICON
}

impl Lexicon {
    /// `key` must already be normalised with [`abbreviation_key`].
    pub(crate) fn abbreviation(&self, key: &str) -> Option<AbbreviationKind> {
        self.abbreviations.get(key).copied()
    }

    /// A compound that ends in a listed suffix ("goethestr." ends in "str."); `key` is normalised.
    pub(crate) fn abbreviation_suffix(&self, key: &str) -> Option<AbbreviationKind> {
        self.suffixes
            .iter()
            .find(|(suffix, _)| key.len() > suffix.len() && key.ends_with(suffix.as_str()))
            .map(|&(_, kind)| kind)
    }

    pub(crate) fn is_sentence_starter(&self, word: &str) -> bool {
        self.sentence_starters.contains(word)
    }

    pub(crate) fn is_line_continuation(&self, word: &str) -> bool {
        self.line_continuations.contains(word)
    }
}

/// Appends `text` to `key` lower-cased and without whitespace, the form abbreviations are stored in.
pub(crate) fn push_abbreviation_key(key: &mut String, text: &str) {
    for c in text.chars() {
        // ASCII first: this runs at every period, and `to_lowercase` is a table search.
        if c.is_ascii() {
            if !c.is_ascii_whitespace() {
                key.push(c.to_ascii_lowercase());
            }
        } else if !c.is_whitespace() {
            key.extend(c.to_lowercase());
        }
    }
}

fn abbreviation_key(text: &str) -> String {
    let mut key = String::with_capacity(text.len());
    push_abbreviation_key(&mut key, text);
    key
}

fn content_lines(data: &'static str) -> impl Iterator<Item = &'static str> {
    data.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

fn parse_words(data: &'static str) -> HashSet<&'static str> {
    content_lines(data).collect()
}

type Abbreviations = (
    HashMap<String, AbbreviationKind>,
    Vec<(String, AbbreviationKind)>,
);

fn parse_abbreviations(data: &'static str) -> Abbreviations {
    let mut kind = AbbreviationKind::Maybe;
    let mut abbreviations = HashMap::new();
    let mut suffixes = Vec::new();
    for line in content_lines(data) {
        match line {
            "[never]" => kind = AbbreviationKind::Never,
            "[maybe]" => kind = AbbreviationKind::Maybe,
            "[end]" => kind = AbbreviationKind::End,
            _ => match line.strip_prefix('-') {
                Some(suffix) => suffixes.push((abbreviation_key(suffix), kind)),
                None => {
                    // A word listed twice ("Jun." for Juni and Junior) keeps its first, stricter kind.
                    abbreviations.entry(abbreviation_key(line)).or_insert(kind);
                }
            },
        }
    }
    (abbreviations, suffixes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files_parse_into_the_expected_kinds() {
        let lexicon = lexicon();
        assert_eq!(lexicon.abbreviation("z.b."), Some(AbbreviationKind::Never));
        assert_eq!(lexicon.abbreviation("dr."), Some(AbbreviationKind::Never));
        assert_eq!(lexicon.abbreviation("mio."), Some(AbbreviationKind::Maybe));
        assert_eq!(lexicon.abbreviation("usw."), Some(AbbreviationKind::End));
        assert_eq!(lexicon.abbreviation("haus."), None);
        assert!(lexicon.is_sentence_starter("Die"));
        assert!(!lexicon.is_sentence_starter("die"));
        assert!(lexicon.is_line_continuation("für"));
        assert_eq!(
            lexicon.abbreviation_suffix("goethestr."),
            Some(AbbreviationKind::Maybe)
        );
        assert_eq!(lexicon.abbreviation_suffix("str."), None);
    }

    #[test]
    fn every_abbreviation_fits_the_lookup_window() {
        for key in lexicon().abbreviations.keys() {
            assert!(key.len() <= MAX_ABBREVIATION_BYTES, "{key} is too long");
            assert!(key.ends_with('.'), "{key} must end with its period");
        }
    }
}

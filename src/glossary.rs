//! A user's glossary: German terms with the English they must become, or stay as they are.
//!
//! Newsrooms want one English for a term in every article ("Bundeskanzler" is always "Federal
//! Chancellor") and names that are never translated ("Deutsche Bahn"). This module reads the
//! glossary files (`--glossary FILE`, UTF-8 TSV) and finds the terms in German text; the document
//! model (`crate::document`) turns each occurrence into a placeholder the model copies and writes
//! the English in its place after decoding. It knows nothing of documents: text in, spans out.
//!
//! Matching: whole words, longest match first, German case endings (`-s -es -n -en -e -er`) on
//! each word of a term, the first letter of a term in either case (a sentence may start with it).
//! A hyphen ends a word ("Bahn-Chef" holds "Bahn"). A term whose German ends in `*` may go on
//! into a longer word ("Bahn*" also matches "Bahnchef"); only the term's own letters are replaced.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::span::ByteSpan;

/// Case endings a German word of a term may carry in the text ("des Bundestages", "der
/// Deutschen Bahn").
const ENDINGS: [&str; 7] = ["", "s", "es", "n", "en", "e", "er"];

/// Why a glossary cannot be used; each names the file, and a bad line its number.
#[derive(Debug, thiserror::Error)]
pub enum GlossaryError {
    #[error("could not read the glossary {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("glossary {path}, line {line}: {problem}")]
    Line {
        path: PathBuf,
        line: usize,
        problem: String,
    },
}

/// One glossary entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The German term as written in the glossary (inner whitespace as single spaces, without
    /// a trailing `*`).
    pub german: String,
    /// The English, exactly as spelled; `None` keeps the German as it stands in the text.
    pub english: Option<String>,
    /// The term may be the start of a longer word (a trailing `*` in the file).
    pub compound: bool,
    words: Vec<String>,
    /// The first word with its first letter in the other case (sentence starts, headings).
    first_variant: String,
    /// Where the entry was read: for the duplicate check's message.
    origin: (PathBuf, usize),
}

/// One occurrence of an entry in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermMatch {
    pub span: ByteSpan,
    /// Index into `Glossary::entries`.
    pub entry: usize,
}

/// Every entry of the glossary files, and an index to find them quickly.
#[derive(Debug, Clone, Default)]
pub struct Glossary {
    entries: Vec<Entry>,
    /// Entries by the lower-cased letters of their first word up to its first non-letter.
    by_key: HashMap<String, Vec<usize>>,
    /// Single-word entries that may start a longer word: tried against every word.
    compounds: Vec<usize>,
}

impl Glossary {
    /// Reads and merges glossary files, in order.
    pub fn load(paths: &[PathBuf]) -> Result<Glossary, GlossaryError> {
        let mut glossary = Glossary::default();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|source| GlossaryError::Read {
                path: path.clone(),
                source,
            })?;
            glossary.add_file(&bytes, path)?;
        }
        Ok(glossary)
    }

    /// Parses one file's bytes (named `path` in errors) into this glossary.
    pub fn add_file(&mut self, bytes: &[u8], path: &Path) -> Result<(), GlossaryError> {
        let line_error = |line: usize, problem: String| GlossaryError::Line {
            path: path.to_owned(),
            line,
            problem,
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let line = 1 + bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                return Err(line_error(
                    line,
                    "not UTF-8; save the glossary as UTF-8".to_owned(),
                ));
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        for (n, line) in text.split('\n').enumerate() {
            let number = n + 1;
            let line = line.strip_suffix('\r').unwrap_or(line);
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let Some((german, english)) = line.split_once('\t') else {
                return Err(line_error(
                    number,
                    "no tab: write `German<TAB>English` (or `German<TAB>` to keep the German)"
                        .to_owned(),
                ));
            };
            if english.contains('\t') {
                return Err(line_error(
                    number,
                    "more than one tab: write `German<TAB>English`".to_owned(),
                ));
            }
            let german = german.split_whitespace().collect::<Vec<_>>().join(" ");
            let (german, compound) = match german.strip_suffix('*') {
                Some(stem) => (stem.trim_end().to_owned(), true),
                None => (german, false),
            };
            if german.is_empty() {
                return Err(line_error(number, "the German term is empty".to_owned()));
            }
            if german.contains('*') {
                return Err(line_error(
                    number,
                    "`*` may only end the German term (`Bahn*` also matches `Bahnchef`)".to_owned(),
                ));
            }
            if !german.chars().any(char::is_alphanumeric) {
                return Err(line_error(
                    number,
                    format!("the German term `{german}` has no letters"),
                ));
            }
            let english = english.trim();
            let english = (!english.is_empty()).then(|| english.to_owned());
            self.insert(german, english, compound, (path.to_owned(), number))?;
        }
        Ok(())
    }

    fn insert(
        &mut self,
        german: String,
        english: Option<String>,
        compound: bool,
        origin: (PathBuf, usize),
    ) -> Result<(), GlossaryError> {
        if let Some(earlier) = self
            .entries
            .iter()
            .find(|e| e.german == german && e.compound == compound)
        {
            if earlier.english == english {
                return Ok(());
            }
            let shown = |english: &Option<String>| match english {
                Some(english) => format!("`{english}`"),
                None => "kept as it is".to_owned(),
            };
            return Err(GlossaryError::Line {
                path: origin.0,
                line: origin.1,
                problem: format!(
                    "`{german}` is already in the glossary as {} ({}, line {}), here as {}; keep one",
                    shown(&earlier.english),
                    earlier.origin.0.display(),
                    earlier.origin.1,
                    shown(&english),
                ),
            });
        }
        let words: Vec<String> = german.split(' ').map(str::to_owned).collect();
        let first = &words[0];
        let mut chars = first.chars();
        let first_variant = match chars.next() {
            Some(c) if c.is_uppercase() => c.to_lowercase().chain(chars).collect(),
            Some(c) => c.to_uppercase().chain(chars).collect(),
            None => String::new(),
        };
        let index = self.entries.len();
        if compound && words.len() == 1 {
            self.compounds.push(index);
        } else {
            self.by_key.entry(key(first)).or_default().push(index);
        }
        self.entries.push(Entry {
            german,
            english,
            compound,
            words,
            first_variant,
            origin,
        });
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The glossary's content, order-independent, as a hex SHA-256: changing an entry changes
    /// it (the resume manifest then translates the files again), reordering lines does not.
    pub fn fingerprint(&self) -> String {
        let mut lines: Vec<String> = self
            .entries
            .iter()
            .map(|e| {
                format!(
                    "{}{}\t{}\n",
                    e.german,
                    if e.compound { "*" } else { "" },
                    e.english.as_deref().unwrap_or("")
                )
            })
            .collect();
        lines.sort();
        let digest = Sha256::digest(lines.concat().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The terms in `text`, left to right, never overlapping; at each place the longest match
    /// wins. `before` and `after` are the characters the text continues with on either side
    /// (`None`: none, a word boundary), so a term is not found inside a longer word that
    /// continues across them.
    pub fn find(&self, text: &str, before: Option<char>, after: Option<char>) -> Vec<TermMatch> {
        let mut found = Vec::new();
        if self.entries.is_empty() {
            return found;
        }
        let mut taken_until = 0;
        let mut previous = before;
        let mut candidates: Vec<usize> = Vec::new();
        for (p, c) in text.char_indices() {
            let starts_word = c.is_alphanumeric() && !previous.is_some_and(char::is_alphanumeric);
            previous = Some(c);
            if !starts_word || p < taken_until {
                continue;
            }
            let word_end = text[p..]
                .find(|c: char| !c.is_alphanumeric())
                .map_or(text.len(), |i| p + i);
            let word = text[p..word_end].to_lowercase();
            candidates.clear();
            for ending in ENDINGS {
                if let Some(stem) = word.strip_suffix(ending)
                    && let Some(entries) = self.by_key.get(stem)
                {
                    candidates.extend(entries);
                }
            }
            candidates.extend(
                self.compounds
                    .iter()
                    .filter(|&&e| word.starts_with(&key(&self.entries[e].words[0]))),
            );
            let best = candidates
                .iter()
                .filter_map(|&e| self.match_at(e, text, p, after).map(|end| (end, e)))
                // Longest first; among equals, the entry read first.
                .max_by_key(|&(end, e)| (end, std::cmp::Reverse(e)));
            if let Some((end, entry)) = best {
                found.push(TermMatch {
                    span: ByteSpan::new(p, end),
                    entry,
                });
                taken_until = end;
            }
        }
        found
    }

    /// Where entry `e` matched at `p` ends, if it does.
    fn match_at(&self, e: usize, text: &str, p: usize, after: Option<char>) -> Option<usize> {
        let entry = &self.entries[e];
        let mut at = p;
        for (k, word) in entry.words.iter().enumerate() {
            let rest = &text[at..];
            let len = if rest.starts_with(word.as_str()) {
                word.len()
            } else if k == 0 && rest.starts_with(entry.first_variant.as_str()) {
                entry.first_variant.len()
            } else {
                return None;
            };
            at += len;
            let last = k + 1 == entry.words.len();
            if last && entry.compound {
                return Some(at);
            }
            let word_end = text[at..]
                .find(|c: char| !c.is_alphanumeric())
                .map_or(text.len(), |i| at + i);
            // A term word ending in a non-letter ("Dr.") takes no ending.
            let ending = &text[at..word_end];
            let letter_last = word.chars().last().is_some_and(char::is_alphanumeric);
            if !ENDINGS.contains(&ending) || (!letter_last && !ending.is_empty()) {
                return None;
            }
            at = word_end;
            if last {
                let continues = at == text.len() && after.is_some_and(char::is_alphanumeric);
                return (!continues).then_some(at);
            }
            let spaces = text[at..].len() - text[at..].trim_start().len();
            if spaces == 0 {
                return None;
            }
            at += spaces;
        }
        None
    }

    /// What an occurrence becomes: the entry's English, or for a keep-as-is entry the German
    /// as it stands in the text (`matched`).
    pub fn replacement<'a>(&'a self, m: &TermMatch, matched: &'a str) -> &'a str {
        self.entries[m.entry].english.as_deref().unwrap_or(matched)
    }
}

/// The lower-cased letters of a word up to its first non-letter: how entries are looked up.
fn key(word: &str) -> String {
    let end = word
        .find(|c: char| !c.is_alphanumeric())
        .unwrap_or(word.len());
    word[..end].to_lowercase()
}

/// `english` with its first letter capitalised (where it starts a sentence).
pub fn capitalise_first(english: &str) -> String {
    let mut chars = english.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary(text: &str) -> Glossary {
        let mut g = Glossary::default();
        g.add_file(text.as_bytes(), Path::new("g.tsv")).unwrap();
        g
    }

    fn found(g: &Glossary, text: &str) -> Vec<(String, String)> {
        g.find(text, None, None)
            .iter()
            .map(|m| {
                let matched = &text[m.span.start..m.span.end];
                (matched.to_owned(), g.entries()[m.entry].german.clone())
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn whole_words_with_case_endings() {
        let g = glossary("Bundeskanzler\tFederal Chancellor\nBundestag\t\n");
        assert_eq!(
            found(&g, "Der Bundeskanzler sprach im Bundestag."),
            pairs(&[
                ("Bundeskanzler", "Bundeskanzler"),
                ("Bundestag", "Bundestag")
            ])
        );
        assert_eq!(
            found(
                &g,
                "Rede des Bundeskanzlers vor den Abgeordneten des Bundestages."
            ),
            pairs(&[
                ("Bundeskanzlers", "Bundeskanzler"),
                ("Bundestages", "Bundestag")
            ])
        );
        // Not inside a longer word, and not with an ending that is not a case ending.
        assert!(found(&g, "Die Bundestagswahl und der Vizebundeskanzler.").is_empty());
        assert!(found(&g, "Bundestagabc").is_empty());
        // A hyphen ends a word.
        assert_eq!(
            found(&g, "Ex-Bundeskanzler"),
            pairs(&[("Bundeskanzler", "Bundeskanzler")])
        );
    }

    #[test]
    fn multi_word_terms_longest_first_and_inflected_on_each_word() {
        let g = glossary("Bahn\trailway\nDeutsche Bahn\t\nDeutsche\tGerman\n");
        assert_eq!(
            found(&g, "Die Deutsche Bahn fährt."),
            pairs(&[("Deutsche Bahn", "Deutsche Bahn")])
        );
        assert_eq!(
            found(&g, "Der Chef der Deutschen  Bahn und die Bahn."),
            pairs(&[("Deutschen  Bahn", "Deutsche Bahn"), ("Bahn", "Bahn")])
        );
        assert_eq!(
            found(&g, "Deutsche Autos"),
            pairs(&[("Deutsche", "Deutsche")])
        );
    }

    #[test]
    fn first_letter_in_either_case_other_letters_exact() {
        let g = glossary("mietpreisbremse\trent cap\nAfD\t\n");
        assert_eq!(
            found(&g, "Mietpreisbremse gilt."),
            pairs(&[("Mietpreisbremse", "mietpreisbremse")])
        );
        assert_eq!(
            found(&g, "Die AFD, die afd und die AfD."),
            pairs(&[("AfD", "AfD")])
        );
        assert_eq!(found(&g, "MIETPREISBREMSE"), Vec::new());
    }

    #[test]
    fn compound_entries_may_start_a_longer_word() {
        let g = glossary("Bahn*\tBahn\n");
        assert_eq!(
            found(&g, "Der Bahnchef und die Bahn."),
            pairs(&[("Bahn", "Bahn"), ("Bahn", "Bahn")])
        );
        assert!(found(&g, "Die Autobahn.").is_empty());
    }

    #[test]
    fn neighbours_across_the_text_edge_count() {
        let g = glossary("Bundestag\tBundestag\n");
        assert!(g.find("Bundestag", Some('x'), None).is_empty());
        assert!(g.find("Bundestag", None, Some('s')).is_empty());
        assert_eq!(g.find("Bundestag", Some(' '), Some('.')).len(), 1);
    }

    #[test]
    fn parsing_accepts_bom_crlf_comments_and_blank_lines() {
        let g = glossary(
            "\u{feff}# Agentur\r\n\r\nBundeskanzler\tFederal Chancellor\r\nBundestag\t\r\n",
        );
        assert_eq!(g.entries().len(), 2);
        assert_eq!(
            g.entries()[0].english.as_deref(),
            Some("Federal Chancellor")
        );
        assert_eq!(g.entries()[1].english, None);
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        let problem = |text: &str| {
            let mut g = Glossary::default();
            match g.add_file(text.as_bytes(), Path::new("g.tsv")) {
                Err(GlossaryError::Line { line, problem, .. }) => (line, problem),
                other => panic!("expected a line error, got {other:?}"),
            }
        };
        assert_eq!(problem("# c\nBundestag Bundestag\n").0, 2);
        assert!(problem("# c\nBundestag Bundestag\n").1.contains("no tab"));
        assert_eq!(problem("A\tb\n\t\tx\n").0, 2);
        assert_eq!(problem("A\tb\n \tx\n").0, 2);
        let (line, text) = problem("A\tb\nC\td\nA\tc\n");
        assert_eq!(line, 3);
        assert!(text.contains("line 1"), "{text}");
        // The same German with the same English twice is harmless.
        glossary("A\tb\nA\tb\n");
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let mut g = Glossary::default();
        let error = g
            .add_file(b"A\tb\nC\t\xff\n", Path::new("g.tsv"))
            .unwrap_err();
        assert!(matches!(error, GlossaryError::Line { line: 2, .. }));
    }

    #[test]
    fn fingerprint_follows_content_not_order() {
        let a = glossary("A\tb\nC\td\n");
        let b = glossary("C\td\nA\tb\n");
        let c = glossary("A\tb\nC\te\n");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
    }
}

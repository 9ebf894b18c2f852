//! The flags a segment's translation can carry, each named and explained exactly once.
//!
//! Two layers set them — the output guard (`crate::guard`) on each model output, the document
//! model (`crate::document`) where it rebuilds the article — and three places show them: the
//! `flags` of `--format json`, the translation memory, and the review page's tooltips. A flag
//! that lived as a string in one of them and as a variant in another could be misspelled without
//! any test noticing; here the name `--format json` writes and the sentence the review page shows
//! stand next to the variant, in one table. A leaf: the guard and the engine sit below the
//! document model, and all of them use this.

use std::fmt;

/// Declares `TranslationFlag` from one table: variant, JSON name, review-page explanation.
/// The order of the table is the variants' order (`Ord`).
macro_rules! flags {
    ($( $(#[doc = $doc:literal])* $variant:ident = $name:literal, $meaning:literal; )*) => {
        /// Something that happened to a segment's translation, or a problem found in it;
        /// `--format json` lists them under each segment's `flags` by their names.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum TranslationFlag {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl TranslationFlag {
            /// Every flag, in declaration order.
            pub const ALL: &[TranslationFlag] = &[$(TranslationFlag::$variant),*];

            /// Every flag's name, in declaration order (for the error on an unknown one).
            const NAMES: &[&str] = &[$($name),*];

            /// The name `--format json` writes (and the translation memory stores).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(TranslationFlag::$variant => $name,)*
                }
            }

            /// What the flag means, for a reader of the review page.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(TranslationFlag::$variant => $meaning,)*
                }
            }
        }
    };
}

flags! {
    // Set by the output guard (`crate::guard`), on each model output.
    /// A word or phrase repeated more often than in the source, or an output that ran to the
    /// length limit.
    Repetition = "repetition",
        "a word or phrase repeats more often than in the source, or the output ran to the length \
         limit";
    /// Target length far outside the usual ratio to the source length.
    LengthRatio = "length-ratio",
        "the translation is far longer or shorter than usual for a source of this length";
    /// A number of the source is missing from the translation.
    NumberLost = "number-lost",
        "a number of the source is missing from the translation";
    /// A name-like token (acronym, code, URL, placeholder) of the source is missing.
    NameLost = "name-lost",
        "a name, acronym, code or address of the source is missing from the translation";
    /// The model's mean log-probability per token is below the threshold.
    LowScore = "low-score",
        "the model was unsure: its mean log-probability per token is below --guard-min-score";
    /// The sentence was decoded a second time with a stronger search.
    Retried = "retried",
        "translated a second time with a stronger search, after a check above failed";
    // Set by the document model, where it rebuilds the article.
    /// A glossary term's placeholder was dropped (its English appended) or repeated (kept once)
    /// by the model. Set by the document layer, where the terms are known; never by the guard,
    /// whose `name-lost` check already retries a sentence that lost a placeholder.
    GlossaryMissed = "glossary-missed",
        "the model dropped or repeated a glossary term: its English was put in once by de2en \
         (appended before the final punctuation where the model dropped it)";
    /// The sentence was too long for the model and went to it in parts.
    Split = "split",
        "too long for the model: translated in parts, joined at clause boundaries";
    /// A part is still longer than the model accepts (no place left to split it).
    OverLong = "over-long",
        "a part is still longer than the model accepts; it was sent whole";
    /// Quotation marks the model dropped or unbalanced were put back.
    QuoteRepaired = "quote-repaired",
        "quotation marks the model dropped or unbalanced were put back";
    /// The translation has another number of quotations than the source.
    QuoteMismatch = "quote-mismatch",
        "the translation has another number of quotations than the source";
    /// A URL or address the model lost was appended before the final punctuation.
    PassthroughAppended = "passthrough-appended",
        "a URL or address the model lost was appended before the final punctuation";
    /// Inline markup was placed by position, not by word alignment.
    MarkupUnaligned = "markup-unaligned",
        "inline markup was placed by position, not by word alignment";
    /// No translation came back: the source text was kept.
    Untranslated = "untranslated",
        "no translation came back: the German text was kept";
}

impl TranslationFlag {
    /// The flag `--format json` names `name`; `None` for a name this version does not know (a
    /// review page written by another version may carry one).
    pub fn from_name(name: &str) -> Option<TranslationFlag> {
        TranslationFlag::ALL
            .iter()
            .copied()
            .find(|flag| flag.as_str() == name)
    }
}

impl fmt::Display for TranslationFlag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for TranslationFlag {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TranslationFlag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        TranslationFlag::from_name(&name)
            .ok_or_else(|| serde::de::Error::unknown_variant(&name, TranslationFlag::NAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_round_trips_through_its_json_name_and_is_explained() {
        let mut names = std::collections::BTreeSet::new();
        for &flag in TranslationFlag::ALL {
            let json = serde_json::to_string(&flag).expect("serialise");
            assert_eq!(json, format!("\"{}\"", flag.as_str()));
            let back: TranslationFlag = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, flag);
            assert_eq!(TranslationFlag::from_name(flag.as_str()), Some(flag));
            assert!(names.insert(flag.as_str()), "{flag} named twice");
            // Kebab-case names, as `--format json` has always written them.
            assert!(
                !flag.as_str().is_empty()
                    && flag
                        .as_str()
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{flag}"
            );
            let meaning = flag.meaning();
            assert!(
                meaning.len() > 20 && meaning != flag.as_str(),
                "{flag} has no explanation"
            );
        }
        assert_eq!(names.len(), 14);
    }

    #[test]
    fn an_unknown_name_is_an_error_not_a_panic() {
        let error = serde_json::from_str::<TranslationFlag>("\"splitt\"")
            .expect_err("not a flag")
            .to_string();
        assert!(
            error.contains("`splitt`") && error.contains("`split`"),
            "{error}"
        );
        assert_eq!(TranslationFlag::from_name("Split"), None);
    }
}

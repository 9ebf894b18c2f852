//! The segment flags as users see them: the names `--format json` has always written (and
//! translation memories store) stay the names, and the README documents every one.

use de2en::flags::TranslationFlag;

/// What `--format json` wrote before the flags were one type. A renamed flag breaks every
/// script that filters on it and every stored translation that carries it: it must fail here.
const WRITTEN_BY_EARLIER_RELEASES: &[&str] = &[
    "repetition",
    "length-ratio",
    "number-lost",
    "name-lost",
    "low-score",
    "retried",
    "glossary-missed",
    "split",
    "over-long",
    "quote-repaired",
    "quote-mismatch",
    "passthrough-appended",
    "markup-unaligned",
    "untranslated",
];

#[test]
fn json_names_are_the_ones_earlier_releases_wrote() {
    let names: Vec<&str> = TranslationFlag::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(names, WRITTEN_BY_EARLIER_RELEASES);
    let json = serde_json::to_string(TranslationFlag::ALL).expect("serialise");
    let back: Vec<TranslationFlag> = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, TranslationFlag::ALL);
}

#[test]
fn the_readme_documents_every_flag() {
    let readme = include_str!("../README.md");
    for flag in TranslationFlag::ALL {
        assert!(
            readme.contains(&format!("`{}`", flag.as_str())),
            "README.md does not mention the flag `{flag}`"
        );
    }
}

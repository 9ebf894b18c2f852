//! The review page (`--format review`) and the word alignment it shows, without a browser:
//! alignment carried to document offsets, one row per segment, the folder index on fresh and
//! resumed runs. `tests/review_browser.rs` checks the same pages in Chromium.

mod cli_common;
#[path = "document_common/mod.rs"]
mod document_common;
use document_common::whitespace_words as words;

use std::path::Path;

use cli_common::*;
use de2en::document::{Format, PrepareOptions, QuoteStyle, prepare};
use de2en::engine::{Engine, EngineError, Translation, WordAlignment};
use de2en::flags::TranslationFlag;
use de2en::span::ByteSpan;

/// Translates by upper-casing every word, aligned word for word, and ends every sentence with
/// punctuation; accepts at most 8 tokens.
struct Shouting;

impl Engine for Shouting {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        Ok(sentences
            .iter()
            .map(|sentence| {
                let source_words = words(sentence);
                let mut text = String::new();
                let mut pairs = Vec::new();
                for word in &source_words {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    let start = text.len();
                    text.push_str(&sentence[word.start..word.end].to_uppercase());
                    pairs.push((*word, ByteSpan::new(start, text.len())));
                }
                // Like a real model, a period after a heading (the seams remove it again, which
                // moves everything after it).
                if !sentence
                    .trim_end()
                    .ends_with(|c: char| c.is_ascii_punctuation() || "“”…".contains(c))
                {
                    text.push('.');
                }
                Translation {
                    text,
                    token_ids: vec![1; source_words.len() + 1],
                    sum_logprob: -1.0,
                    mean_logprob: -1.0 / (source_words.len() + 1) as f32,
                    alignment: Some(WordAlignment { pairs }),
                    ..Translation::default()
                }
            })
            .collect())
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        words(sentence).len() + 1
    }
    fn max_source_tokens(&self) -> usize {
        8
    }
}

#[test]
fn alignment_points_at_the_same_words_in_the_article_and_the_translation() {
    // Emphasis and a link (put back around the words), a URL placeholder, a quotation, a line
    // break inside a sentence, a sentence long enough to be split, and a quotation whose seams
    // are edited after the rebuild.
    let source = "# Der **Rat** stimmt ab\n\nDie [Stadt](https://example.org/s) plant „neue“ \
                  Radwege\nim Norden. Mehr auf https://example.org/x heute.\n\nDer Bürgermeister \
                  sagte am Montag in Berlin, dass die Kosten bei zwölf Millionen Euro liegen \
                  werden und dass der Rat zustimmt.\n\n„Das bleibt so“, sagte der Rat. „Wirklich?“\n";
    let engine = Shouting;
    let options = PrepareOptions {
        format: Format::Markdown,
        quotes: QuoteStyle::English,
    };
    let prepared = prepare(source, &options, &engine);
    let translations = engine.translate(&prepared.model_inputs()).unwrap();
    let translated = prepared.finish(&translations);
    assert!(
        translated.target.contains("**RAT**"),
        "{}",
        translated.target
    );
    assert!(
        translated
            .segments
            .iter()
            .any(|s| s.flags.contains(&TranslationFlag::Split)),
        "the long sentence is split"
    );
    let mut checked = 0;
    for segment in &translated.segments {
        let pairs = segment
            .alignment
            .as_ref()
            .expect("the engine aligns every word");
        let model_words = segment.source.split_whitespace().count();
        assert!(
            pairs.len() + 1 >= model_words,
            "{pairs:?} for {:?}",
            segment.source
        );
        for [s, t] in pairs {
            // Inside the segment on both sides.
            assert!(segment.source_span[0] <= s[0] && s[1] <= segment.source_span[1]);
            assert!(segment.target_span[0] <= t[0] && t[1] <= segment.target_span[1]);
            let german = &source[s[0]..s[1]];
            let english = &translated.target[t[0]..t[1]];
            if german.contains("://") {
                assert_eq!(english, german, "a protected token comes back as it was");
            } else {
                // The same word; the seams may move a comma into a quotation or lower-case the
                // reporting clause.
                let letters = |w: &str| -> String {
                    w.chars()
                        .filter(|c| c.is_alphanumeric())
                        .flat_map(char::to_lowercase)
                        .collect()
                };
                assert_eq!(letters(english), letters(german), "pair {s:?} {t:?}");
                assert!(!letters(english).is_empty());
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked} pairs checked");
}

#[test]
fn json_keeps_its_shape_and_adds_blocks_and_alignment() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "Erster Satz. Zweiter Satz.\n\nDritter Satz.\n";
    let output = de2en(tmp.path())
        .args(["translate", "--engine", "identity", "--format", "json", "-"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let blocks: Vec<u64> = json["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            // Without an alignment from the engine, no alignment key at all.
            assert!(s.get("alignment").is_none());
            s["block"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(blocks, [0, 0, 1]);

    let article = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/articles/euronews-kerry-syrien.de.txt");
    let output = de2en(tmp.path())
        .args(["translate", "-q", "--format", "json", "--model"])
        .arg(fixture_model("tiny-swish"))
        .arg(&article)
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let source = std::fs::read_to_string(&article).unwrap();
    let target = json["target"].as_str().unwrap();
    let mut pairs = 0;
    for segment in json["segments"].as_array().unwrap() {
        for pair in segment["alignment"].as_array().into_iter().flatten() {
            let span = |side: usize, i: usize| pair[side][i].as_u64().unwrap() as usize;
            assert!(
                source
                    .get(span(0, 0)..span(0, 1))
                    .is_some_and(|w| !w.trim().is_empty())
            );
            assert!(
                target
                    .get(span(1, 0)..span(1, 1))
                    .is_some_and(|w| !w.trim().is_empty())
            );
            pairs += 1;
        }
    }
    assert!(pairs > 100, "{pairs} aligned pairs");
}

fn segment_count(page: &str) -> usize {
    page.matches("<tr id=\"s").count()
}

#[test]
fn review_page_to_stdout_has_a_row_per_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let article = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/articles/euronews-kerry-syrien.de.txt");
    let run = |format: &str| {
        let output = de2en(tmp.path())
            .args(["translate", "-q", "--format", format, "--model"])
            .arg(fixture_model("tiny-swish"))
            .arg(&article)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let page = run("review");
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    let segments = json["segments"].as_array().unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(segment_count(&page), segments.len());
    let flagged = segments
        .iter()
        .filter(|s| !s["flags"].as_array().unwrap().is_empty())
        .count();
    assert!(page.contains(&format!("<b id=\"count-flagged\">{flagged}</b> flagged")));
    assert!(
        page.matches("class=\"w\"").count() > 100,
        "aligned words are marked"
    );
    // Self-contained: nothing is loaded from anywhere.
    for reference in ["src=", "href=\"http", "@import", "url("] {
        assert!(!page.contains(reference), "the page refers to {reference}");
    }
}

#[test]
fn folder_run_writes_pages_and_an_index_that_survives_resuming() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    write_tree(
        &input,
        &[
            ("a.de.txt", article(1).as_bytes()),
            ("sub/b.de.md", b"# Titel\n\nDer Rat <tagt> & stimmt ab.\n"),
        ],
    );
    let out = tmp.path().join("out");
    let run = || {
        let output = de2en(tmp.path())
            .args(["translate", "--engine", "identity", "--format", "review"])
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    run();
    let names: Vec<String> = outputs(&out).into_keys().collect();
    assert_eq!(
        names,
        [
            "a.en.txt.review.html",
            "index.html",
            "sub/b.en.md.review.html"
        ]
    );
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("<a href=\"a.en.txt.review.html\">a.de.txt</a>"));
    assert!(index.contains("<a href=\"sub/b.en.md.review.html\">sub/b.de.md</a>"));
    assert!(index.contains("<b id=\"count-articles\">2</b>"));
    let page = std::fs::read_to_string(out.join("sub/b.en.md.review.html")).unwrap();
    assert!(page.contains("Der Rat &lt;tagt&gt; &amp; stimmt ab."));
    assert_eq!(segment_count(&page), 2);

    // A resumed run skips both articles and translates a new one: all three are listed.
    write_tree(&input, &[("c.de.txt", article(3).as_bytes())]);
    let stderr = run();
    assert!(stderr.contains("1 translated, 2 skipped"), "{stderr}");
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains("<b id=\"count-articles\">3</b>"), "{index}");
    for page in ["a.en.txt", "sub/b.en.md", "c.en.txt"] {
        assert!(index.contains(&format!("href=\"{page}.review.html\"")));
    }
}

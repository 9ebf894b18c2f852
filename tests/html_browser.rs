//! Translated HTML articles in a real browser: headless Chromium driven over the DevTools
//! protocol (`tests/browser_common`). The realistic pages of `tests/data/html` are translated by
//! the binary with the fixture model; the German page and its English output are then loaded
//! side by side and compared through the DOM the browser built from them — the element tree,
//! links, images, language, charset, never-translated elements and console errors — as a reader
//! (or a crawler) would see them. The review page of an HTML article is checked too: one row per
//! segment, and the article's markup shown as text, never let into the page as elements.
//! Screenshots go to `target/browser-artifacts/`. Without Chromium the tests say SKIPPED on the
//! terminal (a failure with DE2EN_REQUIRE_BROWSER=1, which `scripts/test.sh` sets once it has
//! installed Chromium).

mod browser_common;
mod cli_common;

use std::path::{Path, PathBuf};

use browser_common::{Browser, Page, eval, file_url, open_page};
use cli_common::*;
use serde_json::{Value, json};

fn pages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/html")
}

/// A new tab of `browser` with `path` loaded.
fn open_tab(browser: &Browser, path: &Path) -> Page {
    let mut page = browser.new_page().expect("a new tab");
    page.goto(&file_url(path))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    page
}

/// Attributes whose values are text for people (translated; `content` of `<meta>` too).
const TRANSLATED_ATTRIBUTES: &[&str] = &["alt", "title", "aria-label", "placeholder"];

/// Elements the issue says are never translated.
const NEVER_TRANSLATED: &str = "script, style, code, pre, kbd, samp, var, textarea, template, \
                                svg, math, [translate=no], .notranslate";

/// What the browser made of a page: its elements (names in document order; and each with its
/// depth and attributes, the values of those translated for people left out), links, images, language, charset, the
/// never-translated elements (their content; with their own attributes where `translate="no"`
/// says so — a `textarea`'s placeholder is translated, its text is not), and the text a reader
/// sees.
fn facts(page: &mut Page) -> Value {
    eval(
        page,
        &format!(
            "(() => ({{ \
             tags: [...document.querySelectorAll('*')].map(e => e.tagName), \
             tree: [...document.querySelectorAll('*')].map(e => {{ \
               let depth = 0; for (let p = e.parentElement; p; p = p.parentElement) depth++; \
               const attributes = [...e.attributes].map(a => \
                 {translated}.includes(a.name) || (e.localName === 'meta' && a.name === 'content') \
                 || (e.localName === 'html' && a.name.endsWith('lang')) \
                 ? a.name : a.name + '=' + a.value); \
               return depth + ' ' + e.tagName + ' ' + attributes.join(' '); }}), \
             hrefs: [...document.querySelectorAll('a[href]')].map(e => e.getAttribute('href')), \
             images: [...document.querySelectorAll('img')].map(e => e.getAttribute('src')), \
             alts: [...document.querySelectorAll('img[alt]')].map(e => e.alt), \
             lang: document.documentElement.lang, \
             charset: document.characterSet, \
             never: [...document.querySelectorAll({never})].map(e => \
               e.matches('[translate=no], .notranslate') ? e.outerHTML : e.innerHTML), \
             title: document.title, \
             blocks: [...document.querySelectorAll('h1, h2, h3, p, li, td, figcaption')] \
               .filter(e => !e.closest({never})).map(e => e.innerText.trim()), \
             text: document.body.innerText }}))()",
            never = serde_json::to_string(NEVER_TRANSLATED).unwrap(),
            translated = serde_json::to_string(TRANSLATED_ATTRIBUTES).unwrap(),
        ),
    )
}

/// A page's console errors, with what differs between two loads of equal pages taken out
/// (timestamps, ids, the page's own address and folder), sorted.
fn console_errors(page: &mut Page, path: &Path) -> Vec<String> {
    let page_url = file_url(path);
    let folder_url = file_url(path.parent().unwrap());
    let mut errors: Vec<String> = page
        .console_errors()
        .iter()
        .map(|error| {
            let error: Value = serde_json::from_str(error).unwrap_or(json!(error));
            // A log entry, an exception's details, or console.error's arguments.
            let what = if error["text"].is_string() && error["level"].is_string() {
                json!([error["source"], error["text"], error["url"]])
            } else if error.get("exception").is_some() {
                json!([
                    error["text"],
                    error["exception"]["description"],
                    error["url"]
                ])
            } else {
                error
            };
            what.to_string()
                .replace(&page_url, "PAGE")
                .replace(&folder_url, "FOLDER")
        })
        .collect();
    errors.sort();
    errors
}

#[test]
fn translated_html_articles_keep_their_page_in_the_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("de");
    let out = tmp.path().join("en");
    std::fs::create_dir_all(&input).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(pages_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        std::fs::copy(pages_dir().join(name), input.join(name)).unwrap();
    }
    for required in ["bundestag-haushalt.de.html", "altstadt-rathaus.de.html"] {
        assert!(names.iter().any(|n| n == required), "{required} is missing");
    }
    translate_with_fixture(tmp.path(), "text", &input, &out);

    let first = input.join(&names[0]);
    let Some((browser, _first)) = open_page(
        &first,
        "translated_html_articles_keep_their_page_in_the_browser",
    ) else {
        return;
    };
    let words = regex::Regex::new("[a-zäöüß]{4,}").unwrap();
    let mut never_translated = 0;
    for name in &names {
        let source_path = input.join(name);
        let output_path = out.join(name.replace(".de.", ".en."));
        assert!(output_path.is_file(), "{} missing", output_path.display());
        let mut source_page = open_tab(&browser, &source_path);
        let mut output_page = open_tab(&browser, &output_path);
        let german = facts(&mut source_page);
        let english = facts(&mut output_page);

        // The same elements in the same order, the same links and images.
        assert!(german["tags"].as_array().unwrap().len() > 20, "{name}");
        assert_eq!(english["tags"], german["tags"], "{name}: element sequence");
        assert_eq!(
            english["tree"], german["tree"],
            "{name}: nesting and attributes"
        );
        assert!(!german["hrefs"].as_array().unwrap().is_empty(), "{name}");
        assert_eq!(english["hrefs"], german["hrefs"], "{name}: links");
        assert_eq!(english["images"], german["images"], "{name}: images");
        let alts = |facts: &Value| -> Vec<bool> {
            facts["alts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|alt| alt.as_str().unwrap().is_empty())
                .collect()
        };
        assert_eq!(alts(&english), alts(&german), "{name}: empty and set alts");

        // Language and charset.
        assert!(
            german["lang"].as_str().unwrap().starts_with("de"),
            "{name}: {}",
            german["lang"]
        );
        assert_eq!(english["lang"], "en", "{name}");
        assert_eq!(english["charset"], "UTF-8", "{name}");
        if name == "altstadt-rathaus.de.html" {
            assert_eq!(german["charset"], "windows-1252", "{name}");
        }
        assert!(
            !english["text"].as_str().unwrap().contains('\u{FFFD}'),
            "{name}: the English page decodes without replacement characters"
        );

        // Never-translated elements are exactly as they were; the rest was translated.
        never_translated += german["never"].as_array().unwrap().len();
        assert_eq!(
            english["never"], german["never"],
            "{name}: never translated"
        );
        assert_ne!(
            english["text"], german["text"],
            "{name}: nothing translated"
        );
        assert_ne!(english["title"], german["title"], "{name}: title");
        let (german_blocks, english_blocks) = (
            german["blocks"].as_array().unwrap(),
            english["blocks"].as_array().unwrap(),
        );
        assert_eq!(english_blocks.len(), german_blocks.len(), "{name}");
        // Blocks with words (not only figures and abbreviations), most of them changed.
        let worded: Vec<(&Value, &Value)> = german_blocks
            .iter()
            .zip(english_blocks)
            .filter(|(de, _)| words.is_match(de.as_str().unwrap()))
            .collect();
        let changed = worded.iter().filter(|(de, en)| de != en).count();
        assert!(
            worded.len() >= 3 && changed * 2 > worded.len(),
            "{name}: only {changed} of {} blocks with words translated",
            worded.len()
        );

        // The English page reports no error the German one does not (missing images and
        // stylesheets of a saved page fail alike on both).
        let german_errors = console_errors(&mut source_page, &source_path);
        let english_errors = console_errors(&mut output_page, &output_path);
        assert_eq!(english_errors, german_errors, "{name}: console errors");

        if name == "bundestag-haushalt.de.html" {
            output_page.set_viewport(1100, 800).unwrap();
            output_page
                .screenshot("html-article-bundestag.png")
                .unwrap();
        }
    }
    assert!(
        never_translated >= 10,
        "the pages hold never-translated elements ({never_translated})"
    );
}

#[test]
fn review_page_of_an_html_article() {
    let tmp = tempfile::tempdir().unwrap();
    let article = pages_dir().join("bundestag-haushalt.de.html");
    let page_path = tmp.path().join("bundestag.review.html");
    let json_path = tmp.path().join("bundestag.json");
    translate_with_fixture(tmp.path(), "review", &article, &page_path);
    translate_with_fixture(tmp.path(), "json", &article, &json_path);
    let json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let segments = json["segments"].as_array().unwrap().clone();
    assert!(
        segments
            .iter()
            .any(|s| s["source"].as_str().unwrap().contains("<strong>")),
        "the article has inline markup inside its segments"
    );

    let Some((_browser, mut page)) = open_page(&page_path, "review_page_of_an_html_article") else {
        return;
    };
    page.set_viewport(1280, 900).unwrap();

    // One row per segment, in document order, each with its German and English text as a
    // reader of the page sees it: the segment's HTML without its tags, references decoded.
    let texts = eval(
        &mut page,
        "[...document.querySelectorAll('#segments tbody tr')].map(r => \
         [r.querySelector('td.src').textContent, r.querySelector('td.tgt').textContent])",
    );
    let visible = |v: &Value| de2en::document::visible_text(v.as_str().unwrap());
    let expected: Vec<Value> = segments
        .iter()
        .map(|s| json!([visible(&s["source"]), visible(&s["target"])]))
        .collect();
    let rows = texts.as_array().unwrap();
    assert_eq!(rows.len(), expected.len(), "rows ≠ segments");
    for (i, (row, want)) in rows.iter().zip(&expected).enumerate() {
        assert_eq!(row, want, "row {}", i + 1);
    }
    let shown = texts.to_string();
    assert!(
        !shown.contains("<strong>") && !shown.contains("&bdquo;"),
        "the page's markup shows in the rows: {shown}"
    );

    // The article's markup is text on the page: inside the rows there are only the page's own
    // elements (cells, word spans, block labels, flags), and none of the article's.
    let strangers = eval(
        &mut page,
        "[...document.querySelectorAll('#segments tbody *')].filter(e => !(\
         e.tagName === 'TR' || e.tagName === 'TD' || (e.tagName === 'SPAN' && \
         ['w', 'kind', 'flag'].includes(e.className)))).map(e => e.outerHTML)",
    );
    assert_eq!(strangers, json!([]));
    let article_elements = eval(
        &mut page,
        "document.querySelectorAll('strong, em, a, time, small, cite, figure, img, svg, nav, \
         article, footer, button, form, input:not([type=checkbox]), ul, li, blockquote, h2').length",
    );
    assert_eq!(article_elements, 0);
    let header = eval(&mut page, "document.querySelector('header').innerText");
    assert!(
        header
            .as_str()
            .unwrap()
            .contains(&format!("{} segments", segments.len())),
        "{header}"
    );
    page.screenshot("review-html-bundestag.png").unwrap();
    assert_eq!(page.console_errors(), Vec::<String>::new());
}

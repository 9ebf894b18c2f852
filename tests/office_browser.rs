//! A translated EPUB's chapters in a real browser: the XHTML documents of the fixture book
//! (tests/data/office/bericht.epub), translated by the binary with the fixture model, are loaded
//! in headless Chromium as XHTML — where a markup error shows as a parser error instead of a
//! page — next to the German ones, and compared through the DOM the browser built: the same
//! elements at the same depths with the same attributes (the translated `alt` aside), the same
//! links and images, English as the language, and different text. Screenshots go to
//! `target/browser-artifacts/`. Without Chromium the test says SKIPPED (a failure with
//! DE2EN_REQUIRE_BROWSER=1).

mod browser_common;
mod cli_common;

use std::io::{Cursor, Read};
use std::path::Path;

use browser_common::{Browser, eval, file_url};
use cli_common::de2en;
use serde_json::Value;

/// Unpacks `package` into `dir`.
fn unpack(package: &Path, dir: &Path) {
    let bytes = std::fs::read(package).expect("package");
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).expect("entry");
        let name = file.name().expect("UTF-8 name").into_owned();
        let path = dir.join(&name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let mut content = Vec::new();
        file.read_to_end(&mut content).expect("unpacks");
        std::fs::write(path, content).expect("write");
    }
}

/// The DOM as Chromium built it from an XHTML file.
fn dom(browser: &Browser, path: &Path) -> Value {
    let mut page = browser.new_page().expect("a tab");
    page.goto(&file_url(path)).expect("loads");
    eval(
        &mut page,
        "(() => ({ \
           parsererror: document.getElementsByTagName('parsererror').length, \
           tree: [...document.querySelectorAll('*')].map(e => { \
             let depth = 0; for (let p = e.parentElement; p; p = p.parentElement) depth++; \
             return depth + ' ' + e.localName + ' ' + [...e.attributes] \
               .filter(a => !['alt', 'title'].includes(a.name) && !a.name.endsWith('lang')) \
               .map(a => a.name + '=' + a.value).join(' '); }), \
           hrefs: [...document.querySelectorAll('a[href]')].map(e => e.getAttribute('href')), \
           images: [...document.querySelectorAll('img')].map(e => e.getAttribute('src')), \
           lang: document.documentElement.getAttribute('xml:lang') || document.documentElement.lang, \
           text: document.body ? document.body.textContent.replace(/\\s+/g, ' ').trim() : '' }))()",
    )
}

#[test]
fn translated_epub_chapters_render_as_the_german_ones() {
    let tmp = tempfile::tempdir().expect("temp");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/office/bericht.epub");
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/tiny-swish");
    let output = tmp.path().join("bericht.en.epub");
    de2en(tmp.path())
        .arg("translate")
        .arg("--model")
        .arg(&model)
        .arg(&source)
        .arg("-o")
        .arg(&output)
        .arg("--no-memory")
        .assert()
        .success();
    let (de, en) = (tmp.path().join("de"), tmp.path().join("en"));
    unpack(&source, &de);
    unpack(&output, &en);
    let browser = match Browser::launch() {
        Ok(browser) => browser,
        Err(reason) => {
            browser_common::skip(
                "translated_epub_chapters_render_as_the_german_ones",
                &reason,
            );
            return;
        }
    };
    for chapter in [
        "OEBPS/kapitel1.xhtml",
        "OEBPS/kapitel2.xhtml",
        "OEBPS/nav.xhtml",
    ] {
        let german = dom(&browser, &de.join(chapter));
        let english = dom(&browser, &en.join(chapter));
        assert_eq!(
            german["parsererror"], 0,
            "{chapter}: the German file does not parse"
        );
        assert_eq!(
            english["parsererror"], 0,
            "{chapter}: the translation does not parse"
        );
        for key in ["tree", "hrefs", "images"] {
            assert_eq!(english[key], german[key], "{chapter}: {key} differ");
        }
        assert_eq!(english["lang"], "en", "{chapter}");
        assert_ne!(english["text"], german["text"], "{chapter}: not translated");
        let mut page = browser.new_page().expect("a tab");
        page.goto(&file_url(&en.join(chapter))).expect("loads");
        let name = format!("epub-{}.png", chapter.replace(['/', '.'], "-"));
        page.screenshot(&name).expect("a screenshot");
    }
}

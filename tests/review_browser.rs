//! The review page in a real browser: headless Chromium driven over the DevTools protocol
//! (`tests/browser_common`). The pages are made by the binary with the fixture model, which gives
//! word alignments, flags and scores; the tests use the page as a reader would — real mouse
//! clicks and key presses — and check the DOM. Screenshots go to `target/browser-artifacts/`.
//! Without Chromium the tests say SKIPPED on the terminal (a failure with
//! DE2EN_REQUIRE_BROWSER=1, which `scripts/test.sh` sets once it has installed Chromium).

mod browser_common;
mod cli_common;

use std::path::Path;

use browser_common::{Page, eval, file_url, open_page};
use cli_common::*;
use serde_json::{Value, json};

fn example_article() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/articles/euronews-kerry-syrien.de.txt")
}

/// Data-index of the rows in the order shown, visible ones only.
fn visible_rows(page: &mut Page) -> Vec<u64> {
    let rows = eval(
        page,
        "[...document.querySelectorAll('#segments tbody tr')]\
         .filter(r => getComputedStyle(r).display !== 'none')\
         .map(r => Number(r.dataset.index))",
    );
    rows.as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_u64().expect("a number"))
        .collect()
}

#[test]
fn review_page_of_the_example_article() {
    let tmp = tempfile::tempdir().unwrap();
    let page_path = tmp.path().join("kerry.review.html");
    let json_path = tmp.path().join("kerry.json");
    translate_with_fixture(tmp.path(), "review", &example_article(), &page_path);
    translate_with_fixture(tmp.path(), "json", &example_article(), &json_path);
    let json: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let segments = json["segments"].as_array().unwrap().clone();
    let flagged: Vec<u64> = (0..segments.len() as u64)
        .filter(|&i| !segments[i as usize]["flags"].as_array().unwrap().is_empty())
        .collect();
    assert!(
        !flagged.is_empty(),
        "the fixture model flags some of the article"
    );

    let Some((_browser, mut page)) = open_page(&page_path, "review_page_of_the_example_article")
    else {
        return;
    };
    page.set_viewport(1280, 900).unwrap();

    // One row per segment, in document order, each with its German and English text.
    let texts = eval(
        &mut page,
        "[...document.querySelectorAll('#segments tbody tr')].map(r => \
         [r.querySelector('td.src').textContent, r.querySelector('td.tgt').textContent])",
    );
    let expected: Vec<Value> = segments
        .iter()
        .map(|s| json!([s["source"], s["target"]]))
        .collect();
    assert_eq!(texts, Value::Array(expected));
    assert_eq!(
        visible_rows(&mut page),
        (0..segments.len() as u64).collect::<Vec<_>>()
    );
    let header = eval(&mut page, "document.querySelector('header').innerText");
    let header = header.as_str().unwrap();
    assert!(
        header.contains(&format!("{} segments", segments.len())),
        "{header}"
    );
    assert!(
        header.contains(&format!("{} flagged", flagged.len())),
        "{header}"
    );

    // Blocks are visible: a rule opens each block, headlines are bold.
    let looks = eval(
        &mut page,
        "(() => { const style = s => getComputedStyle(document.querySelector(s)); return { \
         rule: style('tr.block-start:not(:first-child) td.src').borderTopWidth, \
         inside: style('tr.seg:not(.block-start) td.src').borderTopWidth, \
         heading: Number(style('tr.h td.tgt').fontWeight), \
         body: Number(style('tr.p td.tgt').fontWeight) }; })()",
    );
    assert_eq!(looks["rule"], "1px", "{looks}");
    assert_eq!(looks["inside"], "0px", "{looks}");
    assert!(
        looks["heading"].as_f64() > looks["body"].as_f64(),
        "{looks}"
    );

    // Hovering a sentence highlights its partner.
    let background = "getComputedStyle(document.querySelector('#s3 td.tgt')).backgroundColor";
    let before = eval(&mut page, background);
    page.hover("#s3 td.n").unwrap();
    let during = eval(&mut page, background);
    assert_ne!(
        before, during,
        "the English cell of a hovered row changes colour"
    );

    // A click on a German word selects its row and lights exactly the English words aligned
    // with it.
    let row = eval(
        &mut page,
        "document.querySelector('#segments td.src .w:not([data-to=\"\"])').closest('tr').id",
    );
    let row = row.as_str().unwrap().to_owned();
    let word = format!("#{row} td.src .w:not([data-to=\"\"])");
    page.click(&word).unwrap();
    let state = eval(
        &mut page,
        &format!(
            "(() => {{ const w = document.querySelector('{word}'); const row = w.closest('tr'); \
             const lit = [...row.querySelectorAll('td.tgt .w.hl')].map(e => e.dataset.w).sort(); \
             const want = w.dataset.to.split(' ').sort(); \
             const colour = getComputedStyle(row.querySelector('td.tgt .w.hl')).backgroundColor; \
             return {{current: row.classList.contains('current'), origin: w.classList.contains('origin'), \
             lit, want, colour, others: document.querySelectorAll('.w.hl').length - lit.length}}; }})()"
        ),
    );
    assert_eq!(state["current"], true, "{state}");
    assert_eq!(state["origin"], true, "{state}");
    assert_eq!(state["lit"], state["want"], "{state}");
    assert_eq!(state["others"], 0, "{state}");
    assert_ne!(
        state["colour"], "rgba(0, 0, 0, 0)",
        "the highlight is visible"
    );
    page.screenshot("review-click.png").unwrap();

    // Hovering an English word in another row lights its German words there.
    let other = eval(
        &mut page,
        &format!(
            "[...document.querySelectorAll('#segments tr')].find(r => r.id && r.id !== '{row}' \
             && r.querySelector('td.tgt .w:not([data-to=\"\"])')).id"
        ),
    );
    let other = other.as_str().unwrap().to_owned();
    page.hover(&format!("#{other} td.tgt .w:not([data-to=\"\"])"))
        .unwrap();
    let lit = eval(
        &mut page,
        &format!("document.querySelectorAll('#{other} td.src .w.hl').length"),
    );
    assert!(lit.as_u64().unwrap() > 0, "hovering lit nothing");

    // Only flagged: exactly the flagged rows remain, and the header says so.
    page.click("#only-flagged").unwrap();
    assert_eq!(visible_rows(&mut page), flagged);
    let shown = eval(&mut page, "document.getElementById('shown').textContent");
    assert_eq!(
        shown,
        json!(format!("showing {} of {}", flagged.len(), segments.len()))
    );
    page.screenshot("review-only-flagged.png").unwrap();
    page.click("#only-flagged").unwrap();
    assert_eq!(visible_rows(&mut page).len(), segments.len());

    // Lowest score first, and back to document order.
    page.click("#sort-score").unwrap();
    let order = visible_rows(&mut page);
    let score = |i: u64| segments[i as usize]["score"].as_f64().unwrap();
    assert!(
        order.windows(2).all(|w| score(w[0]) <= score(w[1])),
        "{order:?}"
    );
    let lowest = segments
        .iter()
        .map(|s| s["score"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert_eq!(score(order[0]), lowest);
    assert_ne!(order, (0..segments.len() as u64).collect::<Vec<_>>());
    page.screenshot("review-sorted.png").unwrap();
    page.click("#sort-score").unwrap();
    assert_eq!(
        visible_rows(&mut page),
        (0..segments.len() as u64).collect::<Vec<_>>()
    );

    // A click on a row selects it; j/k move from there.
    let current = || "document.querySelector('tr.current').dataset.index";
    page.click("#s5 td.score").unwrap();
    assert_eq!(eval(&mut page, current()), json!("4"));
    for _ in 0..3 {
        page.key('j').unwrap();
    }
    assert_eq!(eval(&mut page, current()), json!("7"));
    page.key('k').unwrap();
    assert_eq!(eval(&mut page, current()), json!("6"));
    assert_eq!(
        eval(&mut page, "document.querySelectorAll('tr.current').length"),
        1
    );

    // Back to the top for the picture in the README (docs/review-page.png is a copy).
    page.set_viewport(1100, 640).unwrap();
    eval(&mut page, "window.scrollTo(0, 0)");
    page.click("#s1 td.src .w:not([data-to=\"\"])").unwrap();
    page.screenshot("review-kerry.png").unwrap();
    assert_eq!(page.console_errors(), Vec::<String>::new());
}

#[test]
fn folder_index_lists_and_links_every_page() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let articles = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/articles");
    std::fs::create_dir_all(input.join("politik")).unwrap();
    std::fs::copy(
        example_article(),
        input.join("politik/euronews-kerry-syrien.de.txt"),
    )
    .unwrap();
    std::fs::copy(articles.join("bericht.de.md"), input.join("bericht.de.md")).unwrap();
    let out = tmp.path().join("out");
    translate_with_fixture(tmp.path(), "review", &input, &out);

    let Some((_browser, mut page)) = open_page(
        &out.join("index.html"),
        "folder_index_lists_and_links_every_page",
    ) else {
        return;
    };
    page.set_viewport(1280, 500).unwrap();
    let links = eval(
        &mut page,
        "[...document.querySelectorAll('#articles tbody tr')].map(r => \
         [r.querySelector('a').textContent, r.querySelector('a').href, \
          Number(r.querySelector('td.num').textContent)])",
    );
    let links = links.as_array().unwrap();
    assert_eq!(links.len(), 2, "{links:?}");
    assert_eq!(links[0][0], "bericht.de.md");
    assert_eq!(links[1][0], "politik/euronews-kerry-syrien.de.txt");
    assert_eq!(
        links[1][1],
        json!(file_url(
            &out.join("politik/euronews-kerry-syrien.en.txt.review.html")
        ))
    );
    page.screenshot("review-index.png").unwrap();
    assert_eq!(page.console_errors(), Vec::<String>::new());

    // Following a link opens the article's page with as many rows as the index said.
    page.click("#articles tbody tr:nth-child(2) a").unwrap();
    page.wait_for_load().unwrap();
    let rows = eval(
        &mut page,
        "document.querySelectorAll('#segments tbody tr').length",
    );
    assert_eq!(rows, links[1][2]);
    assert!(rows.as_u64().unwrap() > 20);
    assert_eq!(page.console_errors(), Vec::<String>::new());
}

use super::*;
use crate::document::{PrepareOptions, QuoteStyle, prepare};
use crate::engine::Engine;
use crate::engine::identity::IdentityEngine;

fn translate(source: &str, format: Format) -> TranslatedDocument {
    let engine = IdentityEngine;
    let options = PrepareOptions {
        format,
        quotes: QuoteStyle::Keep,
    };
    let prepared = prepare(source, &options, &engine);
    let translations = engine
        .translate(&prepared.model_inputs())
        .expect("identity engine");
    prepared.finish(&translations)
}

fn rows(page: &str) -> Vec<&str> {
    page.split("<tr id=\"s").skip(1).collect()
}

#[test]
fn one_row_per_segment_in_document_order() {
    let source = include_str!("../../tests/data/articles/euronews-kerry-syrien.de.txt");
    let translated = translate(source, Format::Text);
    let html = page("kerry.de.txt", source, Format::Text, &translated);
    let rows = rows(&html);
    assert_eq!(rows.len(), translated.segments.len());
    assert!(rows.len() > 20);
    for (i, (row, segment)) in rows.iter().zip(&translated.segments).enumerate() {
        assert!(
            row.starts_with(&format!("{}\"", i + 1)),
            "row {i} out of order"
        );
        assert!(
            row.contains(&escape(&segment.source)),
            "row {i} lacks its source"
        );
    }
}

#[test]
fn article_text_cannot_break_out_of_the_page() {
    let source = "Er schrieb <script>alert(1)</script> & „Zitat“ mit \"Anführung\" und 'x'.\n\n\
                  Dann </script><b>fett</b> {{rows}} ]]> <!-- Kommentar.\n";
    let translated = translate(source, Format::Text);
    let html = page("<b>name</b>\".txt", source, Format::Text, &translated);
    // Only the page's own script element and none of the article's markup.
    assert_eq!(html.matches("<script>").count(), 1);
    assert_eq!(html.matches("</script>").count(), 1);
    assert!(!html.contains("<b>fett") && !html.contains("<b>name"));
    assert!(!html.contains("<!-- Kommentar"));
    assert!(
        html.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt; &amp; „Zitat“ mit &quot;Anführung&quot;"
        )
    );
    assert!(
        html.contains("{{rows}}"),
        "a placeholder in the text stays text"
    );
    assert!(html.contains("<title>&lt;b&gt;name&lt;/b&gt;&quot;.txt — de2en review</title>"));
    assert_eq!(rows(&html).len(), translated.segments.len());
    // The counts survive the attribute they live in, name and all.
    let summary = read_summary(&html).expect("summary");
    assert_eq!(summary, PageSummary::of("<b>name</b>\".txt", &translated));
}

#[test]
fn aligned_words_name_their_partners() {
    let source = "Der Rat stimmt ab.";
    let translated = TranslatedDocument {
        target: "The council votes.".to_owned(),
        segments: vec![SegmentReport {
            source: source.to_owned(),
            source_span: [0, 18],
            target: "The council votes.".to_owned(),
            target_span: [0, 18],
            score: -0.5,
            sum_logprob: -2.0,
            tokens: 4,
            flags: vec![TranslationFlag::Split],
            block: 0,
            // Der→The, Rat→council, stimmt→votes, ab→votes
            alignment: Some(vec![
                [[0, 3], [0, 3]],
                [[4, 7], [4, 11]],
                [[8, 14], [12, 17]],
                [[15, 17], [12, 17]],
            ]),
            glossary: Vec::new(),
            part: None,
        }],
        blocks: vec![BlockKind::Paragraph],
    };
    let html = page("a.txt", source, Format::Text, &translated);
    assert!(html.contains(
        "<span class=\"w\" data-w=\"1\" data-to=\"1\">Rat</span> \
         <span class=\"w\" data-w=\"2\" data-to=\"2\">stimmt</span> \
         <span class=\"w\" data-w=\"3\" data-to=\"2\">ab</span>."
    ));
    assert!(html.contains("<span class=\"w\" data-w=\"2\" data-to=\"2 3\">votes</span>."));
    assert!(html.contains("class=\"seg p block-start flagged\""));
    assert!(html.contains("data-score=\"-0.5\" data-flags=\"split\""));
    let summary = read_summary(&html).expect("summary");
    assert_eq!((summary.flagged, summary.aligned), (1, 1));
    assert_eq!(summary.flags.get(TranslationFlag::Split.as_str()), Some(&1));
}

#[test]
fn alignment_outside_the_segment_is_ignored() {
    let source = "Der Rat.";
    let translated = TranslatedDocument {
        target: "The council.".to_owned(),
        segments: vec![SegmentReport {
            source: source.to_owned(),
            source_span: [0, 8],
            target: "The council.".to_owned(),
            target_span: [0, 12],
            score: -0.5,
            sum_logprob: -1.0,
            tokens: 2,
            flags: Vec::new(),
            block: 0,
            alignment: Some(vec![
                [[0, 99], [0, 3]],
                [[1, 2], [4, 11]],
                [[4, 7], [4, 11]],
            ]),
            glossary: Vec::new(),
            part: None,
        }],
        blocks: vec![BlockKind::Paragraph],
    };
    let html = page("a.txt", source, Format::Text, &translated);
    // "e" inside "Der" is a byte span on char boundaries: it is kept; the span past the end not.
    assert!(html.contains(">Rat</span>"));
    assert!(!html.contains("data-to=\"\">Der"));
}

#[test]
fn blocks_show_headings_lists_and_paragraphs() {
    let source = "# Titel der Meldung\n\nDer Rat stimmt ab. Er tagt.\n\n- Erster Punkt hier.\n- Zweiter Punkt.\n\n## Mehr dazu\n";
    let translated = translate(source, Format::Markdown);
    let html = page("a.md", source, Format::Markdown, &translated);
    let classes: Vec<&str> = rows(&html)
        .iter()
        .map(|row| {
            row.split("class=\"")
                .nth(1)
                .and_then(|c| c.split('"').next())
                .unwrap_or("")
        })
        .collect();
    assert_eq!(
        classes,
        [
            "seg h h1 block-start",
            "seg p block-start",
            "seg p",
            "seg li block-start",
            "seg li block-start",
            "seg h h2 block-start",
        ]
    );
    let lines = translate("Eins.\nZwei\n", Format::Lines);
    let html = page("a.txt", "Eins.\nZwei\n", Format::Lines, &lines);
    assert_eq!(html.matches("class=\"seg line block-start\"").count(), 2);
}

/// Each block's first row: its class and its label, with the start of its German text.
fn block_marks(source: &str, format: Format) -> Vec<(String, String, String)> {
    let translated = translate(source, format);
    let html = page("a", source, format, &translated);
    rows(&html)
        .iter()
        .zip(&translated.segments)
        .filter(|(row, _)| row.contains(" block-start"))
        .map(|(row, segment)| {
            let class = row.split("class=\"seg ").nth(1).unwrap_or("");
            let class = class.split(" block-start").next().unwrap_or("");
            let label = row.split("<span class=\"kind\">").nth(1).unwrap_or("");
            let label = label.split("</span>").next().unwrap_or("");
            let words: String = segment.source.chars().take(12).collect();
            (class.to_owned(), label.to_owned(), words)
        })
        .collect()
}

fn marks(list: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(c, l, w)| (c.to_string(), l.to_string(), w.to_string()))
        .collect()
}

#[test]
fn html_blocks_take_the_kind_of_their_element() {
    let source = "<html><head><title>Der Titel</title></head><body>\n\
        <h2 class=\"x\"><a href=\"#\">Die Lage heute</a></h2>\n\
        <ul><li>Erster Punkt hier.<li>Zweiter Punkt hier.</ul>\n\
        <blockquote><p>Wir schaffen das.</p></blockquote>\n\
        <table><tr><td>Spalte eins<td>Spalte zwei</tr></table>\n\
        <table><tr><td><p>Ein Absatz im Layout.</p></td></tr></table>\n\
        <div>Text im div. <img src=\"a.png\" alt=\"Ein Bild\"></div>\n\
        </body></html>\n";
    assert_eq!(
        block_marks(source, Format::Html),
        marks(&[
            ("h h1", "H1", "Der Titel"),
            ("h h2", "H2", "Die Lage heu"),
            // An unclosed `li` ends where the next starts, as in a browser.
            ("li", "•", "Erster Punkt"),
            ("li", "•", "Zweiter Punk"),
            // Before issue 21 the page guessed by the last tag opened: a quotation's paragraph was
            // a paragraph, only the first cell of a row a cell.
            ("quote", "❝", "Wir schaffen"),
            ("cell", "▦", "Spalte eins"),
            ("cell", "▦", "Spalte zwei"),
            ("p", "¶", "Ein Absatz i"),
            ("p", "¶", "Text im div."),
            // An attribute is shown as a paragraph.
            ("p", "¶", "Ein Bild"),
        ])
    );
}

#[test]
fn markdown_blocks_take_the_kind_the_parser_gives() {
    let source = "Titel\n=====\n\n> Ein Zitat hier.\n\n- Punkt eins.\n\n  Mehr zu eins.\n\n\
                  Kurze Zeile ohne Punkt\n\n| Spalte | Wert |\n|---|---|\n| Eins | Zwei |\n";
    assert_eq!(
        block_marks(source, Format::Markdown),
        marks(&[
            ("h h1", "H1", "Titel"),
            ("quote", "❝", "Ein Zitat hi"),
            ("li", "•", "Punkt eins."),
            // A loose list item's second paragraph is still the item's.
            ("li", "•", "Mehr zu eins"),
            // Markdown says what a heading is: a short line without a period is a paragraph.
            ("p", "¶", "Kurze Zeile "),
            // Every cell, not only a row's first (the guess before issue 21 saw only those).
            ("cell", "▦", "Spalte"),
            ("cell", "▦", "Wert"),
            ("cell", "▦", "Eins"),
            ("cell", "▦", "Zwei"),
        ])
    );
}

#[test]
fn plain_text_blocks_take_the_kind_the_parser_gives() {
    let source = "Streit um die Reform\n\nDer Rat tagt. Er stimmt ab.\n\n\
                  Unterzeile\n-----\n\n• Erster Punkt.\na) Zweiter Punkt.\n\n> Ein Zitat.\n\n\
                  Am Ende ohne Punkt\n";
    assert_eq!(
        block_marks(source, Format::Text),
        marks(&[
            ("h h1", "H", "Streit um di"),
            ("p", "¶", "Der Rat tagt"),
            ("h h2", "H2", "Unterzeile"),
            // The plain-text parser's markers, `•` and `a)` among them.
            ("li", "•", "Erster Punkt"),
            ("li", "•", "Zweiter Punk"),
            ("quote", "❝", "> Ein Zitat."),
            // The document's last line, alone: a headline by the rule.
            ("h h1", "H", "Am Ende ohne"),
        ])
    );
}

#[test]
fn the_index_lists_pages_with_counts_and_safe_links() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    let source = "Der Rat stimmt ab.\n";
    let translated = translate(source, Format::Text);
    for name in [
        "b.en.txt.review.html",
        "sub dir/a#1 ü.en.txt.review.html",
        ".hidden/c.review.html",
    ] {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, page(name, source, Format::Text, &translated)).expect("write");
    }
    std::fs::write(root.join("notes.review.html"), "<p>not ours</p>").expect("write");
    std::fs::write(root.join("b.en.txt"), "text output").expect("write");
    let listed = write_index(root, ".de2en-tmp-test-").expect("index");
    assert_eq!(listed, 3);
    let index = std::fs::read_to_string(root.join(INDEX_NAME)).expect("index.html");
    let links: Vec<&str> = index
        .split("<a href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap_or(""))
        .collect();
    assert_eq!(
        links,
        [
            "b.en.txt.review.html",
            "notes.review.html",
            "sub%20dir/a%231%20%C3%BC.en.txt.review.html"
        ]
    );
    assert!(index.contains("<b id=\"count-articles\">3</b>"));
    assert!(index.contains("<b id=\"count-segments\">2</b>"));
    assert!(index.contains("not a page of this de2en"));
    assert!(!std::fs::read_dir(root).expect("list").any(|e| {
        e.expect("entry")
            .file_name()
            .to_string_lossy()
            .starts_with(".de2en-tmp-")
    }));
}

#[test]
fn template_placeholders_are_filled_once() {
    let filled = fill(
        "a {{x}} b {{y}} {{unknown}} {{",
        &[("x", "{{y}}".to_owned()), ("y", "2".to_owned())],
    );
    assert_eq!(filled, "a {{y}} b 2 {{unknown}} {{");
}

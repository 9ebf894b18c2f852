//! The document model end to end: articles in, articles out, with test engines standing in for the
//! model. What a reader would notice is checked line by line: structure, list markers, URLs, link
//! targets, code, quotation pairs — and the identity round trip on every input.

#[path = "document_common/mod.rs"]
mod document_common;
use de2en::document::{Format, QuoteStyle, TranslatedDocument};
use de2en::engine::identity::IdentityEngine;
use de2en::engine::{Engine, EngineError, Translation, WordAlignment};
use de2en::flags::TranslationFlag;
use de2en::{ByteSpan, quotes};
use document_common::{UpperEngine, translate_with, whitespace_words as word_spans};
use proptest::prelude::*;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

const ARTICLES: &[(&str, &str)] = &[
    (
        "euronews-kerry-syrien.de.txt",
        include_str!("data/articles/euronews-kerry-syrien.de.txt"),
    ),
    (
        "interview-wasser.de.txt",
        include_str!("data/articles/interview-wasser.de.txt"),
    ),
    ("zitate.de.txt", include_str!("data/articles/zitate.de.txt")),
    ("listen.de.txt", include_str!("data/articles/listen.de.txt")),
    ("bericht.de.md", include_str!("data/articles/bericht.de.md")),
];

fn format_of(name: &str) -> Format {
    if name.ends_with(".md") {
        Format::Markdown
    } else {
        Format::Text
    }
}

/// A fake translation that reverses the word order (as a real model reorders), with alignment.
struct ReverseEngine;

impl Engine for ReverseEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        Ok(sentences
            .iter()
            .map(|s| {
                let source_words = word_spans(s);
                let mut text = String::new();
                let mut pairs = Vec::new();
                for w in source_words.iter().rev() {
                    if !text.is_empty() {
                        text.push(' ');
                    }
                    let start = text.len();
                    text.push_str(&s[w.start..w.end]);
                    pairs.push((*w, ByteSpan::new(start, text.len())));
                }
                Translation {
                    text,
                    token_ids: vec![1],
                    sum_logprob: -0.25,
                    mean_logprob: -0.25,
                    alignment: Some(WordAlignment { pairs }),
                    ..Translation::default()
                }
            })
            .collect())
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        512
    }
}

/// A model that loses every quotation mark.
struct DropQuotesEngine;

impl Engine for DropQuotesEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        IdentityEngine.translate(
            &sentences
                .iter()
                .map(|s| s.replace(['„', '“', '”', '"', '»', '«'], ""))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        512
    }
}

/// An identity engine with a tiny source limit, to force long-sentence splits.
struct TinyEngine(usize);

impl Engine for TinyEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        IdentityEngine.translate(sentences)
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        self.0
    }
}

fn is_quote(c: char) -> bool {
    quotes::is_quote_char(c) || c == '‘' || c == '’'
}

/// The text without quotation marks and the punctuation English typography moves around them
/// (`„geplant“, betonte` → `“geplant,” betonte`), lower-cased (a reporting clause may lose its
/// capital): what English quotes may change.
fn without_quotes(text: &str) -> String {
    text.chars()
        .filter(|&c| !is_quote(c) && !matches!(c, '.' | ',' | '?' | '!' | ';' | ':'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every segment report points at its text in the source and in the output.
fn check_reports(source: &str, doc: &TranslatedDocument) {
    for segment in &doc.segments {
        let [s, e] = segment.source_span;
        assert_eq!(&source[s..e], segment.source);
        let [s, e] = segment.target_span;
        assert_eq!(&doc.target[s..e], segment.target);
    }
}

#[test]
fn identity_round_trip_on_every_article() {
    for (name, source) in ARTICLES {
        for format in [
            format_of(name),
            Format::Text,
            Format::Lines,
            Format::Markdown,
        ] {
            let (_, doc) = translate_with(source, format, QuoteStyle::Keep, &IdentityEngine);
            assert_eq!(doc.target, *source, "{name} as {format:?}");
            check_reports(source, &doc);
        }
    }
}

#[test]
fn english_quotes_change_only_marks_and_their_punctuation_and_stay_balanced() {
    for (name, source) in ARTICLES {
        let (_, doc) = translate_with(
            source,
            format_of(name),
            QuoteStyle::English,
            &IdentityEngine,
        );
        assert_eq!(
            without_quotes(&doc.target),
            without_quotes(source),
            "{name}"
        );
        // Markdown keeps straight quotes in code, HTML and link titles.
        assert!(
            name.ends_with(".md") || !doc.target.contains(['„', '»', '«', '‚', '"']),
            "{name}: {}",
            doc.target
        );
        let opens = doc.target.matches('“').count();
        let closes = doc.target.matches('”').count();
        assert_eq!(opens, closes, "{name}: {}", doc.target);
    }
}

#[test]
fn kerry_quotation_over_two_sentences() {
    let source = ARTICLES[0].1;
    let (inputs, doc) = translate_with(source, Format::Text, QuoteStyle::English, &IdentityEngine);
    // The model never sees half a quotation.
    for input in &inputs {
        let marks: Vec<char> = input.chars().filter(|&c| is_quote(c)).collect();
        assert!(
            marks.len().is_multiple_of(2),
            "unbalanced model input {input:?}"
        );
    }
    assert!(
        inputs
            .iter()
            .any(|i| i.starts_with("Nach den Terrorattacken"))
    );
    assert!(inputs.iter().any(|i| i == "sagte Kerry."));
    assert!(doc.target.contains("zu: “Nach den Terrorattacken"));
    assert!(doc.target.contains("einschränken müssen,” sagte Kerry."));
    assert!(doc.target.contains("“Wir brauchen eine breite"));
    assert!(doc.target.contains("die Wurzel dieses Übels ist.”"));
}

#[test]
fn kerry_structure_survives_a_translation() {
    let source = ARTICLES[0].1;
    let (inputs, doc) = translate_with(
        source,
        Format::Text,
        QuoteStyle::English,
        &UpperEngine::UNALIGNED,
    );
    let source_lines: Vec<&str> = source.lines().collect();
    let target_lines: Vec<&str> = doc.target.lines().collect();
    assert_eq!(source_lines.len(), target_lines.len());
    for (s, t) in source_lines.iter().zip(&target_lines) {
        assert_eq!(s.is_empty(), t.is_empty());
        if !s.is_empty() {
            assert_eq!(without_quotes(&s.to_uppercase()), without_quotes(t));
        }
    }
    // Headline, byline, button labels and WERBUNG are segments of their own.
    assert!(inputs.iter().any(|i| i == "Von\u{a0}Euronews"));
    assert!(inputs.iter().any(|i| i == "WERBUNG"));
    assert!(
        inputs
            .iter()
            .any(|i| i == "Diesen Artikel teilenKommentare")
    );
    assert!(doc.segments.iter().all(|s| s.score == -0.5));
    insta::assert_snapshot!("kerry_upper", doc.target);
}

#[test]
fn interview_lines_markers_and_urls() {
    let source = ARTICLES[1].1;
    let (inputs, doc) = translate_with(
        source,
        Format::Text,
        QuoteStyle::English,
        &UpperEngine::UNALIGNED,
    );
    for input in &inputs {
        assert!(
            !input.contains("example.org"),
            "URL sent to the model: {input}"
        );
        assert!(
            !input.starts_with("- "),
            "list marker sent to the model: {input}"
        );
    }
    let lines: Vec<&str> = doc.target.lines().collect();
    assert_eq!(lines.len(), source.lines().count());
    assert!(lines.contains(&"- WASSER SPAREN, VOR ALLEM IN DER INDUSTRIE."));
    assert!(lines.contains(&"https://www.example.org/duerre-2026"));
    assert!(
        doc.target
            .contains("UNTER https://www.example.org/wasser-sparen UND")
    );
    assert!(doc.target.contains("info@example.org."));
    assert!(doc.target.starts_with("“WASSER WIRD KNAPP” – INTERVIEW"));
    assert!(
        doc.target
            .contains("“WIR ERLEBEN EINE SCHLEICHENDE KRISE. DIE MEISTEN")
    );
    assert!(doc.target.contains("“JEDER LITER ZÄHLT.”"));
    check_reports(source, &doc);
}

#[test]
fn lists_keep_markers_and_indentation() {
    let source = ARTICLES[3].1;
    let (inputs, doc) = translate_with(
        source,
        Format::Text,
        QuoteStyle::English,
        &UpperEngine::UNALIGNED,
    );
    for (s, t) in source.lines().zip(doc.target.lines()) {
        let s_prefix: String = s.chars().take_while(|c| !c.is_alphabetic()).collect();
        let t_prefix: String = t.chars().take_while(|c| !c.is_alphabetic()).collect();
        assert_eq!(s_prefix, t_prefix, "{s:?} → {t:?}");
    }
    assert!(
        doc.target
            .contains("\n  - EINE VERLÄNGERUNG IST MÖGLICH.\n")
    );
    assert!(doc.target.contains("\na) WER KONTROLLIERT"));
    assert!(inputs.iter().all(|i| !i.starts_with("a) ")));
}

#[test]
fn quotations_pair_over_sentences_and_inside_sentences() {
    let source = ARTICLES[2].1;
    let (inputs, doc) = translate_with(source, Format::Text, QuoteStyle::English, &IdentityEngine);
    let target = &doc.target;
    assert!(!target.contains("„"));
    assert!(target.contains(
        "sagte am Dienstag: “Wir werden das Gesetz nicht ändern. Es ist gut so, wie es ist.” Die"
    ));
    assert!(target.contains("“Das ist ein Fehler,” sagte die Fraktionschefin. “Die Regierung ignoriert die Warnungen der Experten. Sie wird es bereuen.”"));
    assert!(target.contains("“Warum?” fragte ein Reporter."));
    assert!(target.contains("den Begriff ‘Sondervermögen’ bewusst"));
    assert!(target.contains("“vernünftig” und “längst überfällig.”"));
    assert!(target.contains("“Der Chef sagte nur ‘Auf keinen Fall,’ dann ging er.”"));
    for input in &inputs {
        let marks = input.chars().filter(|&c| is_quote(c)).count();
        assert!(
            marks.is_multiple_of(2),
            "half a quotation sent to the model: {input}"
        );
        assert!(!(input.starts_with('„') && input.ends_with('“')), "{input}");
    }
}

#[test]
fn dropped_quotation_marks_are_repaired_and_flagged() {
    let source = "»Warum?«, fragte ein Reporter.";
    let (_, doc) = translate_with(source, Format::Text, QuoteStyle::English, &DropQuotesEngine);
    assert_eq!(
        doc.target.matches('“').count(),
        doc.target.matches('”').count()
    );
    assert!(
        doc.segments[0]
            .flags
            .iter()
            .any(|f| f.as_str().starts_with("quote-"))
    );
}

#[test]
fn long_sentences_are_split_and_flagged_never_truncated() {
    let source = "Die Regierung will mehr Geld für Schulen ausgeben; die Opposition ist dagegen, weil es zu teuer ist, und die Länder warten ab.";
    let (inputs, doc) = translate_with(source, Format::Text, QuoteStyle::Keep, &TinyEngine(8));
    assert!(inputs.len() > 1);
    assert_eq!(doc.target, source);
    assert_eq!(doc.segments.len(), 1);
    assert!(doc.segments[0].flags.contains(&TranslationFlag::Split));
}

/// Block-level skeleton of a Markdown text: the events a renderer needs to lay it out, with code
/// and link targets.
fn skeleton(markdown: &str) -> Vec<String> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    Parser::new_ext(markdown, options)
        .filter_map(|event| match event {
            Event::Start(tag) => match tag {
                Tag::Emphasis | Tag::Strong | Tag::Strikethrough => None,
                // Links are inline; a translation may reorder them (see `inline_markup`).
                Tag::Link { .. } => None,
                Tag::Image { dest_url, .. } => Some(format!("image {dest_url}")),
                other => Some(format!("{other:?}")),
            },
            Event::End(tag) => match tag {
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => None,
                other => Some(format!("{other:?}")),
            },
            Event::Code(code) => Some(format!("code {code}")),
            Event::Html(html) | Event::InlineHtml(html) => Some(format!("html {html}")),
            Event::Rule => Some("rule".to_owned()),
            _ => None,
        })
        .collect()
}

/// Inline markup and link targets, sorted: a translation may reorder words.
fn inline_markup(markdown: &str) -> Vec<String> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut found: Vec<String> = Parser::new_ext(markdown, options)
        .filter_map(|event| match event {
            Event::Start(Tag::Emphasis) => Some("em".to_owned()),
            Event::Start(Tag::Strong) => Some("strong".to_owned()),
            Event::Start(Tag::Link { dest_url, .. }) => Some(format!("link {dest_url}")),
            _ => None,
        })
        .collect();
    found.sort();
    found
}

#[test]
fn markdown_keeps_blocks_code_links_and_markup() {
    let source = ARTICLES[4].1;
    let engines: Vec<(&str, Box<dyn Engine>)> = vec![
        ("upper", Box::new(UpperEngine::UNALIGNED)),
        ("upper-aligned", Box::new(UpperEngine::ALIGNED)),
        ("reverse", Box::new(ReverseEngine)),
    ];
    for (name, engine) in &engines {
        let (inputs, doc) = translate_with(
            source,
            Format::Markdown,
            QuoteStyle::English,
            engine.as_ref(),
        );
        assert_eq!(
            skeleton(&doc.target),
            skeleton(source),
            "{name}:\n{}",
            doc.target
        );
        assert_eq!(
            inline_markup(&doc.target),
            inline_markup(source),
            "{name}:\n{}",
            doc.target
        );
        for input in &inputs {
            assert!(
                !input.contains("http"),
                "{name}: URL sent to the model: {input}"
            );
            assert!(
                !input.contains("**") && !input.contains("]("),
                "{name}: {input}"
            );
            assert!(
                !input.contains("curl") && !input.contains("KlimaV"),
                "{name}: {input}"
            );
        }
        assert!(
            doc.target
                .contains("```bash\ncurl https://example.org/klima.json | jq '.ziele'\n```")
        );
        assert!(
            doc.target
                .contains("<div class=\"hinweis\">Dieser Hinweis bleibt unverändert.</div>")
        );
        check_reports(source, &doc);
    }
    let (_, aligned) = translate_with(
        source,
        Format::Markdown,
        QuoteStyle::English,
        &UpperEngine::ALIGNED,
    );
    assert!(
        aligned
            .target
            .contains("DAS **NEUE KLIMAGESETZ** BESCHLOSSEN.")
    );
    assert!(aligned.target.contains(
        "AUF DER [SEITE DES BUNDESTAGS](https://www.bundestag.de/klima \"Klimagesetz\")."
    ));
    assert!(
        aligned
            .target
            .contains("> DIE OPPOSITION SPRACH DAGEGEN VON EINEM\n> SCHWARZEN TAG")
    );
    let (_, reversed) = translate_with(
        source,
        Format::Markdown,
        QuoteStyle::English,
        &ReverseEngine,
    );
    assert!(
        reversed.target.contains("**KLIMAGESETZ neue**")
            || reversed.target.contains("**Klimagesetz neue**"),
        "{}",
        reversed.target
    );
    insta::assert_snapshot!("bericht_reverse", reversed.target);
}

// Random text: quotes, Markdown-ish punctuation, line breaks, URLs, unicode.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Das".to_owned()),
        Just("ist".to_owned()),
        Just("gut".to_owned()),
        Just("Straße".to_owned()),
        Just("z. B.".to_owned()),
        Just(" ".to_owned()),
        Just("  ".to_owned()),
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just(". ".to_owned()),
        Just("? ".to_owned()),
        Just(", ".to_owned()),
        Just(": ".to_owned()),
        Just("„".to_owned()),
        Just("“".to_owned()),
        Just("”".to_owned()),
        Just("‚".to_owned()),
        Just("‘".to_owned()),
        Just("’".to_owned()),
        Just("»".to_owned()),
        Just("«".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("- ".to_owned()),
        Just("* ".to_owned()),
        Just("1. ".to_owned()),
        Just("# ".to_owned()),
        Just("> ".to_owned()),
        Just("*".to_owned()),
        Just("**".to_owned()),
        Just("_".to_owned()),
        Just("`".to_owned()),
        Just("```\n".to_owned()),
        Just("[".to_owned()),
        Just("](https://x.de/a)".to_owned()),
        Just("![b](c.png)".to_owned()),
        Just("<b>".to_owned()),
        Just("| a | b |\n|---|---|\n".to_owned()),
        Just("https://example.org/x?y=1".to_owned()),
        Just("a@b.de".to_owned()),
        Just("\\".to_owned()),
        Just("&amp;".to_owned()),
        Just("\t".to_owned()),
        Just("\r\n".to_owned()),
        Just("😀".to_owned()),
        Just("…".to_owned()),
        Just("–".to_owned()),
        "[a-zäöüß]{1,8}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ]
}

fn random_text() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..60).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn identity_holds_on_random_text(text in random_text()) {
        for format in [Format::Text, Format::Markdown, Format::Lines] {
            let (_, doc) = translate_with(&text, format, QuoteStyle::Keep, &IdentityEngine);
            prop_assert_eq!(&doc.target, &text);
            check_reports(&text, &doc);
        }
    }

    #[test]
    fn english_quotes_change_only_marks_and_their_punctuation_on_random_text(text in random_text()) {
        for format in [Format::Text, Format::Markdown, Format::Lines] {
            let (_, doc) = translate_with(&text, format, QuoteStyle::English, &IdentityEngine);
            prop_assert_eq!(without_quotes(&doc.target), without_quotes(&text));
        }
    }

    #[test]
    fn balanced_in_balanced_out(words in prop::collection::vec("[A-Za-zäö]{1,6}", 1..12), split in 0usize..12, open in 0usize..4) {
        let marks = [("„", "“"), ("»", "«"), ("\"", "\""), ("“", "”")][open];
        let split = split.min(words.len());
        let quoted = format!("{}{}. {}{}", marks.0, words[..split].join(" "), words[split..].join(" "), marks.1);
        let text = format!("Er sagte: {quoted} Dann ging er.");
        for engine in [&IdentityEngine as &dyn Engine, &DropQuotesEngine, &UpperEngine::UNALIGNED] {
            let (_, doc) = translate_with(&text, Format::Text, QuoteStyle::English, engine);
            prop_assert_eq!(doc.target.matches('“').count(), doc.target.matches('”').count(), "{}", doc.target);
        }
    }

    // Known gap: table delimiter rows and code fences glued into a paragraph (only possible
    // in such random text) can start a table or fence once a line break moves; excluded here.
    #[test]
    fn markdown_structure_survives_upper_case(
        text in random_text().prop_filter("no table rows or fences", |t| !t.contains("|---|") && !t.contains("```"))
    ) {
        let (_, doc) = translate_with(&text, Format::Markdown, QuoteStyle::Keep, &UpperEngine::ALIGNED);
        prop_assert_eq!(skeleton(&doc.target).len(), skeleton(&text).len(), "{}", doc.target);
    }
}

#[test]
fn an_escaped_angle_bracket_stays_text_after_translation() {
    // Found by markdown_structure_survives_upper_case: the model sees `\<b>` as the text `<b>`,
    // and written back unescaped it became an HTML tag.
    let text = "\\Das[\\<b>\"* ](https://x.de/a)“";
    let (_, doc) = translate_with(
        text,
        Format::Markdown,
        QuoteStyle::Keep,
        &UpperEngine::ALIGNED,
    );
    assert_eq!(
        skeleton(&doc.target).len(),
        skeleton(text).len(),
        "{}",
        doc.target
    );
    assert!(doc.target.contains("\\<B>"), "{}", doc.target);
}

/// A model that mangles placeholders (drops them).
struct DropPlaceholdersEngine;

impl Engine for DropPlaceholdersEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        let cleaned: Vec<String> = sentences
            .iter()
            .map(|s| {
                s.split(' ')
                    .filter(|w| !w.starts_with("ZX"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        IdentityEngine.translate(&cleaned.iter().map(String::as_str).collect::<Vec<_>>())
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        512
    }
}

#[test]
fn a_dropped_placeholder_comes_back_appended_and_flagged() {
    let source = "Auf www.example.org steht mehr.";
    let (inputs, doc) = translate_with(
        source,
        Format::Text,
        QuoteStyle::English,
        &DropPlaceholdersEngine,
    );
    assert_eq!(inputs, vec!["Auf ZX1 steht mehr."]);
    assert_eq!(doc.target, "Auf steht mehr www.example.org.");
    assert_eq!(
        doc.segments[0].flags,
        vec![TranslationFlag::PassthroughAppended]
    );
}

#[test]
fn lines_that_are_not_prose_stay_out_of_the_model() {
    let source = "Stand: 29.11.2026\n\n29.11.2026\n\n12.345\n\nhttps://example.org/a\n\ninfo@example.org\n\n– 3 –\n";
    let (inputs, doc) = translate_with(
        source,
        Format::Text,
        QuoteStyle::English,
        &UpperEngine::UNALIGNED,
    );
    assert_eq!(inputs, vec!["Stand: 29.11.2026"]);
    assert_eq!(doc.target, source.replacen("Stand:", "STAND:", 1));
}

#[test]
fn json_report_has_spans_scores_and_flags() {
    let source = "Er sagte: „Wir kommen.“\n";
    let (_, doc) = translate_with(
        source,
        Format::Text,
        QuoteStyle::English,
        &UpperEngine::UNALIGNED,
    );
    let json = serde_json::to_value(&doc).expect("serialisable");
    let segment = &json["segments"][0];
    // The quotation lies inside the sentence: the model sees it whole, the marks are typeset after.
    assert_eq!(segment["source"], "Er sagte: „Wir kommen.“");
    let end = "Er sagte: „Wir kommen.“".len();
    assert_eq!(segment["source_span"], serde_json::json!([0, end]));
    assert_eq!(segment["target"], "ER SAGTE: “WIR KOMMEN.”");
    let target_end = "ER SAGTE: “WIR KOMMEN.”".len();
    assert_eq!(segment["target_span"], serde_json::json!([0, target_end]));
    assert_eq!(segment["score"], -0.5);
    assert_eq!(segment["sum_logprob"], -1.0);
    assert_eq!(segment["tokens"], 2);
    assert!(segment["flags"].as_array().is_some());
    assert_eq!(doc.target, "ER SAGTE: “WIR KOMMEN.”\n");
}

/// Inputs `markdown_structure_survives_upper_case` once failed on (CI and long local runs),
/// each with what went wrong; kept as named cases, since proptest's own file of seeds is not
/// portable across strategy changes.
const MARKDOWN_REGRESSIONS: &[(&str, &str)] = &[
    (
        "Das[‚\r\n](https://x.de/a)- . ",
        "the source line began with the link's closing markup, not \"- \"; with the markup \
         written before the break, \"- .\" opened a list",
    ),
    (
        "- \\Das# \t- \r\n*äDas**ä",
        "\"\\t- \" after a moved break opened a nested list item (a tab indents like spaces)",
    ),
    (
        "Das\n* \r\n*DasDas",
        "the break before \"*DasDas\" was dropped (\"*DASDAS\" read as another word), joining \
         the empty line \"* \" to it: a list item",
    ),
    (
        "\"„`![b](c.png)`1. ü\"Das“`",
        "the placeholder ZX1 before \"1.\" read as ZX11, was taken for lost and the inline \
         code appended at the end",
    ),
    (
        "Das`https://example.org/x?y=1`*`* ",
        "the emphasis around a lone backtick moved, and that backtick merged with the inline \
         code's closing one into a run of two: the code span no longer closed",
    ),
];

#[test]
fn markdown_structure_survives_upper_case_on_past_failures() {
    for (text, what_went_wrong) in MARKDOWN_REGRESSIONS {
        let (_, doc) = translate_with(
            text,
            Format::Markdown,
            QuoteStyle::Keep,
            &UpperEngine::ALIGNED,
        );
        assert_eq!(
            skeleton(&doc.target),
            skeleton(text),
            "{text:?} → {:?}: {what_went_wrong}",
            doc.target
        );
    }
}

//! HTML pages: identity is byte for byte, structure survives a translation, entities reach the
//! model decoded, text written back is escaped, never-translated elements stay as they were,
//! charsets are read from the page and the output is UTF-8.

mod cli_common;
#[path = "document_common/mod.rs"]
mod document_common;
mod model_common;
use document_common::{UpperEngine, alphanumeric_words as word_spans};

use std::path::{Path, PathBuf};

use cli_common::{de2en, read_tree};
use de2en::ByteSpan;
use de2en::document::{Format, QuoteStyle, TranslatedDocument, decode_html};
use de2en::engine::identity::IdentityEngine;
use de2en::engine::marian::{EngineSettings, MarianEngine};
use de2en::engine::{Engine, EngineError, Translation};
use html5gum::Tokenizer;
use html5gum::emitters::default::{DefaultEmitter, Token};
use proptest::prelude::*;
use regex::Regex;

fn pages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/html")
}

/// The realistic pages: (file name, bytes).
fn pages() -> Vec<(String, Vec<u8>)> {
    let mut pages: Vec<(String, Vec<u8>)> = std::fs::read_dir(pages_dir())
        .expect("tests/data/html")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("read"))
        })
        .collect();
    pages.sort();
    assert!(pages.len() >= 5, "at least five realistic pages");
    pages
}

/// The text a page decodes to (with its charset declaration saying UTF-8).
fn decoded(name: &str, bytes: &[u8]) -> String {
    decode_html(bytes, Path::new(name)).expect("decodes").text
}

fn translate_with(
    source: &str,
    quotes: QuoteStyle,
    engine: &dyn Engine,
) -> (Vec<String>, TranslatedDocument) {
    document_common::translate_with(source, Format::Html, quotes, engine)
}

/// A fake translation: upper case, the same words, aligned word by word.
const UPPER: UpperEngine = UpperEngine {
    alignment: Some(word_spans),
};

/// A fake translation that writes what HTML must escape, and no alignment.
struct FixedEngine(&'static str);

impl Engine for FixedEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        IdentityEngine.translate(&vec![self.0; sentences.len()])
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        512
    }
}

/// What a page is made of besides its text: doctype, tags and comments in order, with the
/// values of translated attributes (and `lang`, `content`) blanked.
fn tag_sequence(html: &str) -> Vec<String> {
    let translated = Regex::new(
        r#"(?i)(\s)(alt|title|aria-label|placeholder|content|lang|xml:lang)(\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+)"#,
    )
    .unwrap();
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    emitter.naively_switch_states(true);
    Tokenizer::new_with_emitter(html, emitter)
        .filter_map(Result::ok)
        .filter_map(|token| {
            let span = match &token {
                Token::StartTag(tag) => tag.span,
                Token::EndTag(tag) => tag.span,
                Token::Comment(comment) => comment.span,
                Token::Doctype(doctype) => doctype.span,
                _ => return None,
            };
            let raw = &html[span.start..span.end];
            Some(translated.replace_all(raw, "$1$2$3…").into_owned())
        })
        .collect()
}

/// The source of every element that is never translated, in order.
fn never_translated(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    emitter.naively_switch_states(true);
    let mut open: Option<(String, usize, usize)> = None;
    for token in Tokenizer::new_with_emitter(html, emitter).filter_map(Result::ok) {
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).into_owned();
                let raw = &html[tag.span.start..tag.span.end];
                let marked = raw.contains("translate=\"no\"") || raw.contains("notranslate");
                match &mut open {
                    Some((n, _, depth)) if *n == name => *depth += 1,
                    Some(_) => {}
                    None if marked
                        || [
                            "script", "style", "code", "pre", "kbd", "samp", "var", "textarea",
                            "template", "svg", "math",
                        ]
                        .contains(&name.as_str()) =>
                    {
                        open = Some((name, tag.span.end, 1))
                    }
                    None => {}
                }
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).into_owned();
                if let Some((n, start, depth)) = &mut open
                    && *n == name
                {
                    *depth -= 1;
                    if *depth == 0 {
                        out.push(html[*start..tag.span.start].to_owned());
                        open = None;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn lang_of_html(html: &str) -> Option<String> {
    Regex::new(r#"(?is)<html[^>]*?\slang\s*=\s*["']?([A-Za-z-]+)"#)
        .unwrap()
        .captures(html)
        .map(|c| c[1].to_owned())
}

fn hrefs(html: &str) -> Vec<String> {
    Regex::new(r#"(?i)\shref\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)"#)
        .unwrap()
        .captures_iter(html)
        .map(|c| c[1].to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

#[test]
fn identity_is_byte_exact_on_the_realistic_pages() {
    for (name, bytes) in pages() {
        let text = decoded(&name, &bytes);
        let (inputs, doc) = translate_with(&text, QuoteStyle::Keep, &IdentityEngine);
        assert!(inputs.len() > 10, "{name}: only {} sentences", inputs.len());
        assert!(doc.target == text, "{name}: identity changed the page");
        if name != "altstadt-rathaus.de.html" {
            assert!(doc.target.as_bytes() == bytes, "{name}: not byte for byte");
        }
    }
}

#[test]
fn windows_1252_page_is_read_by_its_meta_and_written_as_utf8() {
    let bytes = std::fs::read(pages_dir().join("altstadt-rathaus.de.html")).unwrap();
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "the fixture is Windows-1252"
    );
    let text = decoded("altstadt-rathaus.de.html", &bytes);
    let (expected, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
    let expected = expected.replace("charset=windows-1252", "charset=UTF-8");
    assert_eq!(text, expected);
    assert!(text.contains("Bürgermeister Klaus Schäfer") && text.contains("2,3&nbsp;Mio.&nbsp;€"));
}

#[test]
fn the_declared_charset_wins_and_a_missing_one_is_added() {
    // Latin-1 bytes that chardetng alone could take for something else; the page says which.
    let page = "<html><head><meta charset=\"iso-8859-15\"><title>Preis: 5 €</title></head><body><p>Grüße</p></body></html>";
    let (bytes, _, _) = encoding_rs::ISO_8859_15.encode(page);
    let text = decode_html(&bytes, Path::new("a.html")).unwrap().text;
    assert_eq!(text, page.replace("iso-8859-15", "UTF-8"));

    let page = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\"></head><body><p>Öl</p></body></html>";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(page);
    let text = decode_html(&bytes, Path::new("b.html")).unwrap().text;
    assert_eq!(text, page.replace("ISO-8859-1", "UTF-8"));

    let page =
        "<html><head><title>Straße</title></head><body><p>Schöne Grüße aus Köln</p></body></html>";
    let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(page);
    let text = decode_html(&bytes, Path::new("c.html")).unwrap().text;
    assert_eq!(
        text,
        page.replace("<head>", "<head><meta charset=\"UTF-8\">")
    );

    // UTF-8 that says so, or says nothing, is left alone.
    let page = "<html><head><meta charset=utf-8></head><body><p>Grüße</p></body></html>";
    assert_eq!(
        decode_html(page.as_bytes(), Path::new("d.html"))
            .unwrap()
            .text,
        page
    );
}

#[test]
fn a_binary_file_named_html_is_refused_with_its_name() {
    let error = decode_html(
        &[0x89, b'P', b'N', b'G', 0, 0, 1, 2],
        Path::new("bild.html"),
    )
    .unwrap_err();
    assert!(error.to_string().contains("bild.html"), "{error}");
}

/// Generated pages: every construct the parser treats specially, in random order and nesting.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Die Stadt plant neue Radwege. ".to_owned()),
        Just("Der Rat stimmt am Montag ab".to_owned()),
        Just("Gr&uuml;&szlig;e aus K&ouml;ln".to_owned()),
        Just("&#8222;Wir kommen&#8220;, sagte sie.".to_owned()),
        Just(
            "&bdquo;Zitat&ldquo; &amp; mehr &AMP &notit; &copy2026 &foo; & &#x201E;x&#x201C;"
                .to_owned()
        ),
        Just("20&nbsp;Prozent &#160;".to_owned()),
        Just("\n   ".to_owned()),
        Just("\r\n".to_owned()),
        Just(" ".to_owned()),
        Just("<br>".to_owned()),
        Just("<br/>\n".to_owned()),
        Just("<p>".to_owned()),
        Just("</p>".to_owned()),
        Just("<P CLASS=x>".to_owned()),
        Just("<li>".to_owned()),
        Just("<div>".to_owned()),
        Just("</div>".to_owned()),
        Just("<h2 id='a'>".to_owned()),
        Just("</h2>".to_owned()),
        Just("<td>".to_owned()),
        Just("<strong>".to_owned()),
        Just("</strong>".to_owned()),
        Just("<em>".to_owned()),
        Just("</em>".to_owned()),
        Just("<a href=\"/x?a=1&amp;b=2\" title=\"Mehr &quot;lesen&quot;\">".to_owned()),
        Just("</a>".to_owned()),
        Just("<span class=notranslate>Nicht übersetzen</span>".to_owned()),
        Just("<span translate=\"no\">".to_owned()),
        Just("</span>".to_owned()),
        Just("<img src=a.jpg alt='Ein Bild vom Rathaus'>".to_owned()),
        Just("<img alt=Rathaus>".to_owned()),
        Just("<input placeholder=\"Suchbegriff eingeben\">".to_owned()),
        Just("<!-- Kommentar mit <p>Text</p> -->".to_owned()),
        Just("<script>if (a<b && c>d) { x = \"</p>\"; }</script>".to_owned()),
        Just("<style>p::after { content: \"Grüße\" }</style>".to_owned()),
        Just("<code>x &lt; y</code>".to_owned()),
        Just("<pre>\n  Text im Block\n</pre>".to_owned()),
        Just("<svg viewBox=\"0 0 1 1\"><title>Symbol</title><path d=\"M0 0\"/></svg>".to_owned()),
        Just("<textarea placeholder=\"Ihr Kommentar\">Hallo &amp; tschüss</textarea>".to_owned()),
        Just("<meta name=\"description\" content=\"Eine Beschreibung. Zwei Sätze!\">".to_owned()),
        Just("<title>Titel der Seite</title>".to_owned()),
        Just("</b>".to_owned()),
        Just("<A HREF=x TITLE='Großes Bild'>".to_owned()),
        Just("</A>".to_owned()),
        Just("<b><i>".to_owned()),
        Just("</i></b>".to_owned()),
        Just("<span>Text <div>im Block</div> danach</span>".to_owned()),
        Just("<![CDATA[ Daten ]]>".to_owned()),
        Just("&#; &#x; &".to_owned()),
        Just("<p lang=de title=\"Ein &amp; zwei\" data-x='&quot;'>".to_owned()),
        Just("<".to_owned()),
        Just(">".to_owned()),
        "[a-zäöüß ]{0,12}",
    ]
}

fn random_page() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..40).prop_map(|parts| {
        let mut page = String::from("<!DOCTYPE html>\n<html lang=\"de\">\n<body>\n");
        page.push_str(&parts.concat());
        page.push_str("\n</body>\n</html>\n");
        page
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn identity_is_byte_exact_on_generated_pages(page in random_page()) {
        let (_, doc) = translate_with(&page, QuoteStyle::Keep, &IdentityEngine);
        prop_assert_eq!(doc.target, page);
    }

    #[test]
    fn a_translation_keeps_every_tag_in_order_on_generated_pages(page in random_page()) {
        let (_, doc) = translate_with(&page, QuoteStyle::English, &UPPER);
        prop_assert_eq!(tag_sequence(&doc.target), tag_sequence(&page), "{}", doc.target);
        prop_assert_eq!(never_translated(&doc.target), never_translated(&page));
    }
}

// ---------------------------------------------------------------------------------------------
// What the model sees, and what comes back
// ---------------------------------------------------------------------------------------------

#[test]
fn entities_reach_the_model_decoded_and_markup_never_does() {
    let page = "<p>Gr&uuml;&szlig;e aus <strong>K&ouml;ln</strong>: &#8222;Heute&#x201C; kostet es 20&nbsp;&euro;.</p>";
    let (inputs, doc) = translate_with(page, QuoteStyle::Keep, &IdentityEngine);
    assert_eq!(inputs, vec!["Grüße aus Köln: „Heute“ kostet es 20\u{a0}€."]);
    assert_eq!(doc.target, page);
}

#[test]
fn stray_closing_tags_are_kept() {
    // Found by the property tests: a `</a>` without its `<a>` at a sentence's start was inside
    // the segment's span but in none of its atoms, and was lost.
    for page in [
        "<em></a>Der Rat stimmt am Montag ab</em>Die Stadt plant neue Radwege.",
        "<strong></b>Der Rat stimmt am Montag ab</strong>Die Stadt plant neue Radwege.",
    ] {
        let (_, doc) = translate_with(page, QuoteStyle::Keep, &IdentityEngine);
        assert_eq!(doc.target, page);
        let (_, upper) = translate_with(page, QuoteStyle::Keep, &UPPER);
        assert_eq!(tag_sequence(&upper.target), tag_sequence(page));
    }
}

#[test]
fn line_breaks_and_br_are_one_space_for_the_model() {
    let page = "<p>Die Stadt plant\n      neue Radwege.<br>\nDer Rat stimmt <br> am Montag ab.</p>";
    let (inputs, doc) = translate_with(page, QuoteStyle::Keep, &IdentityEngine);
    assert_eq!(
        inputs,
        vec![
            "Die Stadt plant neue Radwege.",
            "Der Rat stimmt am Montag ab."
        ]
    );
    assert_eq!(doc.target, page);
    let (_, upper) = translate_with(page, QuoteStyle::Keep, &UPPER);
    assert_eq!(
        upper.target,
        "<p>DIE STADT PLANT\n      NEUE RADWEGE.<br>\nDER RAT STIMMT <br> AM MONTAG AB.</p>"
    );
}

#[test]
fn text_the_model_writes_is_escaped_for_html() {
    let page = "<p title=\"Ein Titel\">Ein Satz.</p><img alt='Ein Bild' src=a.jpg><img alt=Bild>";
    let (_, doc) = translate_with(page, QuoteStyle::Keep, &FixedEngine("A & B <c> isn't wide"));
    assert_eq!(
        doc.target,
        "<p title=\"A &amp; B &lt;c&gt; isn't wide\">A &amp; B &lt;c&gt; isn't wide</p>\
         <img alt='A &amp; B &lt;c&gt; isn&#39;t wide' src=a.jpg>\
         <img alt=A&#32;&amp;&#32;B&#32;&lt;c&gt;&#32;isn&#39;t&#32;wide>"
    );
}

#[test]
fn attributes_for_people_are_translated_and_others_kept() {
    let page = concat!(
        "<html lang=\"de-DE\"><head>",
        "<meta name=\"description\" content=\"Eine Beschreibung\">",
        "<meta property=\"og:title\" content=\"Ein Titel\">",
        "<meta property=\"og:image\" content=\"https://x.de/bild.jpg\">",
        "<meta http-equiv=\"content-language\" content=\"de\">",
        "</head><body>",
        "<nav aria-label=\"Hauptnavigation\"><a href=\"/politik\" class=\"nav-link\">Politik</a></nav>",
        "<img src=\"rathaus.jpg\" alt=\"Das Rathaus\" title=\"Foto vom Rathaus\" data-caption=\"Rathaus\">",
        "<input placeholder=\"Suche\" value=\"Suche\">",
        "</body></html>"
    );
    let (_, doc) = translate_with(page, QuoteStyle::Keep, &UPPER);
    let expected = page
        .replace("lang=\"de-DE\"", "lang=\"en\"")
        .replace("\"Eine Beschreibung\"", "\"EINE BESCHREIBUNG\"")
        .replace("\"Ein Titel\"", "\"EIN TITEL\"")
        .replace("content=\"de\"", "content=\"en\"")
        .replace("\"Hauptnavigation\"", "\"HAUPTNAVIGATION\"")
        .replace(">Politik<", ">POLITIK<")
        .replace("\"Das Rathaus\"", "\"DAS RATHAUS\"")
        .replace("\"Foto vom Rathaus\"", "\"FOTO VOM RATHAUS\"")
        .replace("placeholder=\"Suche\"", "placeholder=\"SUCHE\"");
    assert_eq!(doc.target, expected);
    // Identity leaves even `lang` alone: the page is still German.
    let (_, same) = translate_with(page, QuoteStyle::Keep, &IdentityEngine);
    assert_eq!(same.target, page);
}

#[test]
fn attributes_of_tags_inside_a_sentence_are_translated_into_the_tag() {
    let page = concat!(
        "<p>Der <a href=\"/rat\" title=\"Mehr &uuml;ber den Rat\">Rat</a> der ",
        "<abbr title='Europäische Union'>EU</abbr> tagt <img src=x alt=\"Ein Foto\" title=Bild> heute.</p>"
    );
    let (inputs, doc) = translate_with(page, QuoteStyle::Keep, &UPPER);
    assert_eq!(
        inputs,
        vec![
            "Der Rat der EU tagt ZX1 heute.",
            "Mehr über den Rat",
            "Europäische Union",
            "Ein Foto",
            "Bild"
        ]
    );
    assert_eq!(
        doc.target,
        concat!(
            "<p>DER <a href=\"/rat\" title=\"MEHR ÜBER DEN RAT\">RAT</a> DER ",
            "<abbr title='EUROPÄISCHE UNION'>EU</abbr> TAGT <img src=x alt=\"EIN FOTO\" title=BILD> HEUTE.</p>"
        )
    );
    // Each attribute's report points at its translation inside the tag.
    for segment in &doc.segments[1..] {
        let [start, end] = segment.target_span;
        assert_eq!(&doc.target[start..end], segment.target);
    }
    let (_, same) = translate_with(page, QuoteStyle::Keep, &IdentityEngine);
    assert_eq!(same.target, page);
}

#[test]
fn never_translated_elements_stay_out_of_the_model() {
    let page = concat!(
        "<p>Vorher <code>Code bleibt</code> und <kbd>Strg</kbd> danach.</p>",
        "<pre>Vorformatiert bleibt</pre><script>var s = \"Skript bleibt\";</script>",
        "<style>p{}</style><textarea>Eingabe bleibt</textarea><template><p>Vorlage bleibt</p></template>",
        "<svg><text>Grafik bleibt</text></svg><math><mi>Formel</mi></math>",
        "<div translate=\"no\"><p>Markiert bleibt</p></div><p class=\"x notranslate\">Klasse bleibt</p>",
        "<p>Am Ende <span translate=no>Name bleibt</span> steht ein Satz.</p>"
    );
    let (inputs, doc) = translate_with(page, QuoteStyle::Keep, &UPPER);
    for input in &inputs {
        assert!(
            !input.contains("bleibt") && !input.contains("Strg"),
            "{input:?}"
        );
    }
    assert_eq!(never_translated(&doc.target), never_translated(page));
    assert!(doc.target.contains("VORHER") && doc.target.contains("STEHT EIN SATZ"));
}

#[test]
fn english_quotes_apply_to_html_text_and_entities() {
    let page = "<p>Sie sagte: &#8222;Wir kommen.&#8220; Er: „Wir auch.“</p>";
    let (_, doc) = translate_with(page, QuoteStyle::English, &IdentityEngine);
    assert_eq!(
        doc.target,
        "<p>Sie sagte: “Wir kommen.” Er: “Wir auch.”</p>"
    );
}

// ---------------------------------------------------------------------------------------------
// With the fixture model (tiny-swish): a real translation with a real word alignment
// ---------------------------------------------------------------------------------------------

fn fixture_engine() -> MarianEngine {
    let settings = EngineSettings {
        alignment: true,
        ..EngineSettings::default()
    };
    MarianEngine::load(&model_common::fixture_dir("tiny-swish"), &settings)
        .expect("fixture model loads")
}

#[test]
fn fixture_model_keeps_the_structure_of_every_page() {
    let engine = fixture_engine();
    // `lang` and the content language are the only gap bytes a translation changes.
    let german = Regex::new(r#"(?i)(lang|content)=(["']?)de(-[a-z]{2})?\b"#).unwrap();
    for (name, bytes) in pages() {
        let source = decoded(&name, &bytes);
        let (_, doc) = translate_with(&source, QuoteStyle::Keep, &engine);
        let target = &doc.target;
        assert_eq!(
            tag_sequence(target),
            tag_sequence(&source),
            "{name}: tags changed"
        );
        assert_eq!(
            hrefs(target),
            hrefs(&source),
            "{name}: link targets changed"
        );
        assert_eq!(
            never_translated(target),
            never_translated(&source),
            "{name}"
        );
        assert_eq!(lang_of_html(target).as_deref(), Some("en"), "{name}");
        let changed = doc.segments.iter().filter(|s| s.source != s.target).count();
        assert!(
            changed * 2 > doc.segments.len(),
            "{name}: too little translated"
        );
        // Everything between the segments is the source's.
        let mut gaps_source = String::new();
        let mut gaps_target = String::new();
        let (mut s_end, mut t_end) = (0, 0);
        for segment in &doc.segments {
            if segment.source_span[1] <= s_end {
                // An attribute inside a tag of the previous segment (hosted by it).
                continue;
            }
            gaps_source.push_str(&source[s_end..segment.source_span[0]]);
            gaps_target.push_str(&target[t_end..segment.target_span[0]]);
            s_end = segment.source_span[1];
            t_end = segment.target_span[1];
        }
        gaps_source.push_str(&source[s_end..]);
        gaps_target.push_str(&target[t_end..]);
        let unlang = |s: &str| german.replace_all(s, "$1=${2}en").into_owned();
        let (gaps_target, gaps_source) = (unlang(&gaps_target), unlang(&gaps_source));
        let first_difference = gaps_target
            .char_indices()
            .zip(gaps_source.chars())
            .find(|((_, a), b)| a != b)
            .map(|((i, _), _)| i);
        assert_eq!(
            gaps_target,
            gaps_source,
            "{name}: the gaps differ at {:?}",
            first_difference
                .map(|i| &gaps_target[gaps_target.floor_char_boundary(i.saturating_sub(80))..])
        );
    }
}

#[test]
fn fixture_model_puts_inline_markup_around_the_aligned_words() {
    let engine = fixture_engine();
    let cases = [
        (
            "Die <strong>Stadt</strong> plant neue Radwege.",
            "Stadt",
            "strong",
        ),
        (
            "Der <a href=\"/rat\">Rat</a> stimmt am Montag ab.",
            "Rat",
            "a",
        ),
        (
            "Die Kosten liegen bei <em>fünf Millionen</em> Euro.",
            "fünf Millionen",
            "em",
        ),
    ];
    for (sentence, marked, tag) in cases {
        let page = format!("<p>{sentence}</p>");
        let (inputs, doc) = translate_with(&page, QuoteStyle::Keep, &engine);
        assert_eq!(inputs.len(), 1);
        let input = &inputs[0];
        let translation = &engine.translate(&[input.as_str()]).unwrap()[0];
        let alignment = translation
            .alignment
            .as_ref()
            .expect("the engine aligns words");
        let a = input.find(marked).unwrap();
        let b = a + marked.len();
        let aligned: Vec<ByteSpan> = alignment
            .pairs
            .iter()
            .filter(|(s, _)| s.start < b && s.end > a)
            .map(|(_, t)| *t)
            .collect();
        let start = aligned.iter().map(|t| t.start).min().unwrap();
        let end = aligned.iter().map(|t| t.end).max().unwrap();
        let words = word_spans(&translation.text[start..end]);
        let inner = &translation.text[start + words[0].start..start + words.last().unwrap().end];
        let found = Regex::new(&format!("<{tag}[^>]*>([^<]*)</{tag}>")).unwrap();
        let wrapped = &found.captures(&doc.target).expect("markup kept")[1];
        assert_eq!(wrapped, inner, "{}", doc.target);
        assert!(
            doc.segments[0].flags.is_empty(),
            "{:?}",
            doc.segments[0].flags
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------------

#[test]
fn cli_identity_on_a_folder_of_pages_keeps_names_and_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    de2en(tmp.path())
        .args(["translate", "--engine", "identity", "--quotes", "keep"])
        .arg(pages_dir())
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let produced = read_tree(&out);
    for (name, bytes) in pages() {
        let english = name.replace(".de.", ".en.");
        let written = produced
            .get(&english)
            .unwrap_or_else(|| panic!("{english} missing: {:?}", produced.keys()));
        assert_eq!(written, decoded(&name, &bytes).as_bytes(), "{name}");
    }
}

#[test]
fn cli_html_input_format_is_forced_and_reported_by_name_when_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let page = tmp.path().join("seite.txt");
    std::fs::write(&page, "<p>Die Stadt plant neue Radwege.</p>\n").unwrap();
    let output = de2en(tmp.path())
        .args([
            "translate",
            "--engine",
            "identity",
            "--format",
            "json",
            "--input-format",
            "html",
        ])
        .arg(&page)
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["segments"][0]["source"],
        "Die Stadt plant neue Radwege."
    );

    let binary = tmp.path().join("bild.html");
    std::fs::write(&binary, [0x89, b'P', b'N', b'G', 0, 0, 1, 2]).unwrap();
    let output = de2en(tmp.path())
        .args(["translate", "--engine", "identity"])
        .arg(&binary)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("bild.html"));
}

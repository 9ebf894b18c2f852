//! German sentence segmentation: the golden set's boundary F1, one named case per rule, and a
//! property test that no input can make `sentences` panic or return spans off char boundaries.
//!
//! Run: `cargo test --test segment`. The F1 of de2en next to `sentencex` on the same set:
//! `cargo run --release --example segment_eval`.

#[path = "data/segmentation/golden.rs"]
mod golden;

use de2en::document::{self, Format, PrepareOptions, QuoteStyle};
use de2en::engine::identity::IdentityEngine;
use de2en::segment::sentences;
use proptest::prelude::*;

/// The sentences of `text` as strings, for readable assertions.
fn split(text: &str) -> Vec<&str> {
    sentences(text)
        .into_iter()
        .map(|span| &text[span.start..span.end])
        .collect()
}

fn assert_one_sentence(text: &str) {
    assert_eq!(split(text), [text], "must not be cut");
}

// ---------------------------------------------------------------------------------------------
// The golden set

/// Scores a segmentation of every golden record; fails below F1 0.99 with every error listed.
fn assert_golden_f1(segment: impl Fn(&str) -> Vec<(usize, usize)>) {
    let records = golden::parse(golden::GOLDEN);
    let gold_count: usize = records.iter().map(|r| r.boundaries.len()).sum();
    assert!(
        gold_count >= 290,
        "the golden set shrank to {gold_count} boundaries"
    );

    let mut score = golden::Score::default();
    let mut errors = Vec::new();
    for record in &records {
        let predicted = golden::boundaries_of(&record.text, segment(&record.text));
        score.add(&record.boundaries, &predicted);
        for &missed in record.boundaries.iter().filter(|b| !predicted.contains(b)) {
            errors.push(format!(
                "line {}: missed {}",
                record.line,
                golden::show(&record.text, missed)
            ));
        }
        for &extra in predicted.iter().filter(|b| !record.boundaries.contains(b)) {
            errors.push(format!(
                "line {}: wrong cut {}",
                record.line,
                golden::show(&record.text, extra)
            ));
        }
    }
    assert!(
        score.f1() >= 0.99,
        "boundary F1 {:.4} (P {:.4}, R {:.4}) below 0.99:\n{}",
        score.f1(),
        score.precision(),
        score.recall(),
        errors.join("\n")
    );
}

#[test]
fn golden_set_boundary_f1_is_at_least_0_99() {
    assert_golden_f1(|text| {
        sentences(text)
            .into_iter()
            .map(|span| (span.start, span.end))
            .collect()
    });
}

#[test]
fn golden_set_boundary_f1_through_the_document_model() {
    // What `de2en segment` and a translation see: URLs are placeholders there, quotation marks
    // and markup atoms of their own, and the sentences are mapped back to the source.
    assert_golden_f1(|text| {
        let options = PrepareOptions {
            format: Format::Text,
            quotes: QuoteStyle::Keep,
        };
        let prepared = document::prepare(text, &options, &IdentityEngine);
        prepared
            .sentences()
            .iter()
            .flatten()
            .map(|span| (span.start, span.end))
            .collect()
    });
}

#[test]
fn golden_set_marks_are_only_at_gaps() {
    // A mark inside a word would make the set's own numbers meaningless.
    for record in golden::parse(golden::GOLDEN) {
        for &end in &record.boundaries {
            let after = record.text[end..].chars().next();
            // Scraped text glues a sentence to a quotation mark: „Wir kommen.“Dann ging er.
            let glued = record.text[..end].ends_with(['.', '!', '?', '“', '"', '«', '»'])
                && after.is_some_and(|c| c.is_uppercase() || de2en::quotes::is_quote_char(c));
            assert!(
                after.is_some_and(char::is_whitespace) || glued,
                "line {}: ‖ not followed by whitespace: {}",
                record.line,
                golden::show(&record.text, end)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spans

#[test]
fn spans_are_trimmed_and_gaps_keep_the_whitespace() {
    let text = "  Er kam.\u{a0} Sie ging.\n";
    let spans = sentences(text);
    assert_eq!(split(text), ["Er kam.", "Sie ging."]);
    assert_eq!(spans[0].start, 2);
    assert_eq!(&text[spans[0].end..spans[1].start], "\u{a0} ");
}

#[test]
fn blank_text_has_no_sentences() {
    assert!(sentences("").is_empty());
    assert!(sentences("  \n \t").is_empty());
}

// ---------------------------------------------------------------------------------------------
// Abbreviations

#[test]
fn abbreviation_with_inner_space_does_not_end_a_sentence() {
    assert_one_sentence("Es gibt z. B. Äpfel, d. h. Obst, u. a. aus Italien.");
}

#[test]
fn abbreviation_without_inner_space_does_not_end_a_sentence() {
    assert_one_sentence("Es gibt z.B. Äpfel und d.h. Obst.");
}

#[test]
fn title_before_a_name_does_not_end_a_sentence() {
    assert_one_sentence("Das sagte Prof. Dr. Anna Berger im Interview.");
}

#[test]
fn never_abbreviation_holds_even_before_a_sentence_opener() {
    // "z. B. Die Grünen": the party name starts with an opener word.
    assert_one_sentence("Mehrere Parteien, z. B. Die Grünen, stimmten zu.");
}

#[test]
fn number_and_paragraph_abbreviations_do_not_end_a_sentence() {
    assert_one_sentence("Nach § 5 Abs. 2 Nr. 3 ist das verboten, vgl. Art. 12 GG.");
}

#[test]
fn company_forms_do_not_end_a_sentence() {
    assert_one_sentence("Die Müller GmbH & Co. KG und Apple Inc. melden Gewinne.");
}

#[test]
fn street_and_saint_do_not_end_a_sentence() {
    assert_one_sentence("Sie wohnt in der Goethestr. 12 in St. Gallen.");
}

#[test]
fn amount_abbreviation_before_a_unit_does_not_end_a_sentence() {
    assert_one_sentence("Der Umsatz stieg auf 4,2 Mrd. Euro, der Gewinn auf 310 Mio. Euro.");
}

#[test]
fn amount_abbreviation_before_a_sentence_opener_ends_the_sentence() {
    assert_eq!(
        split("Die Kosten liegen bei 12 Mio. Die Stadt zahlt die Hälfte."),
        [
            "Die Kosten liegen bei 12 Mio.",
            "Die Stadt zahlt die Hälfte."
        ]
    );
}

#[test]
fn enumeration_abbreviation_ends_the_sentence_before_a_capital() {
    assert_eq!(
        split(
            "In Bayern, Hessen usw. gelten andere Regeln. Es gibt Äpfel, Birnen usw. Die Länder streiten."
        ),
        [
            "In Bayern, Hessen usw. gelten andere Regeln.",
            "Es gibt Äpfel, Birnen usw.",
            "Die Länder streiten."
        ]
    );
    assert_eq!(
        split("Geplant sind Schulen, Kitas etc. Das Geld fehlt."),
        ["Geplant sind Schulen, Kitas etc.", "Das Geld fehlt."]
    );
}

#[test]
fn multi_part_enumeration_abbreviation_ends_the_sentence() {
    assert_eq!(
        split("Es kamen Politiker, Sportler u. v. m. Die Gala dauerte lange."),
        [
            "Es kamen Politiker, Sportler u. v. m.",
            "Die Gala dauerte lange."
        ]
    );
}

#[test]
fn unter_anderem_continues_before_a_noun_and_ends_before_an_opener() {
    assert_one_sentence("Es kamen u. a. Vertreter aus Polen.");
    assert_eq!(
        split("Es zeigt Werke von Rembrandt, Rubens u. a. Sie läuft bis Mai."),
        [
            "Es zeigt Werke von Rembrandt, Rubens u. a.",
            "Sie läuft bis Mai."
        ]
    );
}

#[test]
fn abbreviation_at_the_end_of_the_block_is_kept_with_its_period() {
    assert_eq!(
        split("Gesucht: Schrauben, Dübel usw."),
        ["Gesucht: Schrauben, Dübel usw."]
    );
}

// ---------------------------------------------------------------------------------------------
// Ordinals, dates, times, numbers

#[test]
fn ordinal_day_before_a_month_does_not_end_a_sentence() {
    assert_one_sentence("Die Wahl ist am 3. Oktober und nicht am 1. Mai.");
}

#[test]
fn ordinal_before_a_noun_does_not_end_a_sentence() {
    assert_one_sentence("Der 2. Weltkrieg prägte das 20. Jahrhundert.");
}

#[test]
fn regnal_number_does_not_end_a_sentence() {
    assert_one_sentence("Friedrich II. und Ludwig XIV. bauten Schlösser.");
}

#[test]
fn ordinal_before_a_sentence_opener_ends_the_sentence() {
    assert_eq!(
        split("Der Verein liegt auf Platz 3. Die Saison ist lang."),
        ["Der Verein liegt auf Platz 3.", "Die Saison ist lang."]
    );
}

#[test]
fn year_at_the_end_of_a_sentence_ends_it_even_before_a_noun() {
    assert_eq!(
        split("Der Krieg endete 1945. Millionen Menschen waren tot."),
        ["Der Krieg endete 1945.", "Millionen Menschen waren tot."]
    );
}

#[test]
fn numeric_dates_times_and_numbers_are_not_cut() {
    assert_one_sentence("Am 01.02.2024 um 14.30 Uhr kamen 1.234 Menschen, 3,5 % mehr.");
    assert_one_sentence("Am 24.12. schließen die Läden um 14 Uhr.");
}

#[test]
fn initials_do_not_end_a_sentence() {
    assert_one_sentence("George W. Bush traf John F. Kennedy nie.");
}

// ---------------------------------------------------------------------------------------------
// URLs and e-mail addresses

#[test]
fn urls_and_email_addresses_are_not_cut() {
    assert_one_sentence(
        "Mehr unter https://www.example.org/a.html?x=1&y=2 oder an info@example.de.",
    );
}

#[test]
fn url_at_the_end_of_a_sentence_ends_it() {
    assert_eq!(
        split("Infos gibt es auf www.bundesregierung.de. Dort steht mehr."),
        [
            "Infos gibt es auf www.bundesregierung.de.",
            "Dort steht mehr."
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Ellipses

#[test]
fn ellipsis_before_a_capital_ends_the_sentence() {
    assert_eq!(
        split("Sie wartete... Dann kam er."),
        ["Sie wartete...", "Dann kam er."]
    );
    assert_eq!(
        split("Sie wartete … Dann kam er."),
        ["Sie wartete …", "Dann kam er."]
    );
}

#[test]
fn ellipsis_before_lower_case_continues() {
    assert_one_sentence("Und dann … nichts.");
}

#[test]
fn bracketed_omission_does_not_end_a_sentence() {
    assert_one_sentence("„Wir haben […] keine Wahl“, heißt es.");
    assert_one_sentence("„Er sagte (...) Die Zukunft gehört uns.“");
}

// ---------------------------------------------------------------------------------------------
// Quotations

#[test]
fn question_in_quotation_before_the_reporting_clause_does_not_end_a_sentence() {
    assert_one_sentence("„Warum?“, fragte sie.");
    assert_one_sentence("„Hilfe!“ rief er.");
    assert_one_sentence("\"Wann?\", wollte er wissen.");
}

#[test]
fn quotation_over_several_sentences_splits_and_the_closing_mark_goes_with_the_last() {
    assert_eq!(
        split("„Satz eins. Satz zwei.“ Danach ging er."),
        ["„Satz eins.", "Satz zwei.“", "Danach ging er."]
    );
}

#[test]
fn every_kind_of_quotation_mark_closes_the_sentence() {
    for text in [
        "»Das war falsch.« Sie ging.",
        "«Das war falsch.» Sie ging.",
        "“Das war falsch.” Sie ging.",
        "‚Das war falsch.‘ Sie ging.",
        "\"Das war falsch.\" Sie ging.",
    ] {
        assert_eq!(split(text).len(), 2, "{text}");
        assert!(split(text)[1] == "Sie ging.", "{text}");
    }
}

#[test]
fn quotation_after_a_colon_stays_in_its_sentence() {
    assert_eq!(
        split("Er sagte: „Die Lage ist ernst.“ Dann ging er."),
        ["Er sagte: „Die Lage ist ernst.“", "Dann ging er."]
    );
}

#[test]
fn quoted_word_before_the_period_ends_the_sentence() {
    assert_eq!(
        split("Er nannte es „solide“. Die Opposition widersprach."),
        ["Er nannte es „solide“.", "Die Opposition widersprach."]
    );
}

#[test]
fn question_and_answer_with_dash_are_two_sentences() {
    assert_eq!(
        split("„Sind Sie zufrieden?“ – „Ja, sehr.“"),
        ["„Sind Sie zufrieden?“", "– „Ja, sehr.“"]
    );
}

// ---------------------------------------------------------------------------------------------
// Parentheses, colons, dashes

#[test]
fn sentence_in_parentheses_keeps_its_closing_bracket() {
    assert_eq!(
        split("Die Regel gilt. (Sie war befristet.) Kritiker klagen."),
        [
            "Die Regel gilt.",
            "(Sie war befristet.)",
            "Kritiker klagen."
        ]
    );
}

#[test]
fn exclamation_in_parentheses_inside_a_sentence_does_not_end_it() {
    assert_one_sentence("Er kam zu spät (wie immer!) und ging zu früh.");
}

#[test]
fn colon_semicolon_and_dash_do_not_end_a_sentence() {
    assert_one_sentence("Das Ergebnis: Die Mehrheit lehnt ab; der Plan – so heißt es – ist tot.");
}

// ---------------------------------------------------------------------------------------------
// Line breaks inside a block

#[test]
fn line_without_final_punctuation_is_its_own_segment() {
    assert_eq!(
        split(
            "Kerry: Lösung in Syrien\nVon Euronews\nDiesen Artikel teilenKommentare\nWERBUNG\nEr kam."
        ),
        [
            "Kerry: Lösung in Syrien",
            "Von Euronews",
            "Diesen Artikel teilenKommentare",
            "WERBUNG",
            "Er kam."
        ]
    );
}

#[test]
fn hard_wrapped_sentence_continues_across_the_line_break() {
    assert_one_sentence(
        "Der Minister will die Mittel für die\nBundeswehr erhöhen, und die\nOpposition ist dagegen.",
    );
    assert_one_sentence("Der Minister will die Mittel\nerhöhen.");
}

#[test]
fn hard_wrapped_block_continues_even_before_a_capitalised_line() {
    // Lines of similar width, most of them cut mid-sentence: a text file wrapped at ~70 columns.
    let text = "Die Bundesregierung hat am Mittwoch ein umfangreiches Paket zur\n\
                Entlastung der Bürger beschlossen. Es umfasst einen Zuschuss zu den\n\
                Heizkosten, eine Einmalzahlung für Rentner und eine Senkung der\n\
                Mehrwertsteuer auf Gas. Insgesamt soll das Paket rund 65 Mrd. Euro\n\
                Kosten verursachen.";
    assert_eq!(split(text).len(), 3, "{:?}", split(text));
    assert!(split(text)[2].starts_with("Insgesamt") && split(text)[2].ends_with("verursachen."));
}

#[test]
fn lines_of_different_widths_are_not_taken_for_wrapped_prose() {
    let text = "Kerry: Politische Lösung in Syrien ist Voraussetzung für breite Anti-IS-Allianz\n\
                Von Euronews\n\
                Diesen Artikel teilenKommentare\n\
                Diesen Artikel teilenClose Button";
    assert_eq!(split(text).len(), 4);
}

#[test]
fn line_break_after_final_punctuation_is_ordinary_whitespace() {
    assert_eq!(split("Er kam.\nSie ging."), ["Er kam.", "Sie ging."]);
    assert_one_sentence("Es gibt z. B.\nÄpfel.");
}

#[test]
fn blank_line_always_ends_a_sentence() {
    assert_eq!(
        split("Nur so lasse sich eine weitgehende\n\nWERBUNG"),
        ["Nur so lasse sich eine weitgehende", "WERBUNG"]
    );
}

#[test]
fn teaser_cut_mid_sentence_is_its_own_segment() {
    let text = "US-Außenminister John Kerry hat in Paris erneut für einer politische Lösung des \
                Syrienkonfliktes geworben. Nur so lasse sich eine weitgehende";
    assert_eq!(
        split(text).last(),
        Some(&"Nur so lasse sich eine weitgehende")
    );
}

#[test]
fn windows_line_breaks_behave_like_unix_ones() {
    assert_eq!(
        split("Titel\r\nEr kam.\r\nSie ging."),
        ["Titel", "Er kam.", "Sie ging."]
    );
}

// ---------------------------------------------------------------------------------------------
// Any input

fn tricky_text() -> impl Strategy<Value = String> {
    // Pieces chosen to hit every branch: marks, closers, openers, multi-byte whitespace, line breaks.
    let piece = prop::sample::select(vec![
        "Die", "die", "z.", "B.", "usw.", "Mio.", "3.", "II.", "1945.", "www.a.de", ".", "...",
        "…", "?", "!", "„", "“", "»", "«", "(", ")", "[", "]", "\"", "'", " ", "  ", "\n", "\n\n",
        "\r\n", "\u{a0}", "\u{202f}", "–", ":", ",", "ä", "Ä", "😀", "\u{301}", "a",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

fn assert_valid_spans(text: &str) {
    let spans = sentences(text);
    let mut previous_end = 0;
    for span in &spans {
        assert!(
            span.start >= previous_end,
            "overlap or disorder in {text:?}: {spans:?}"
        );
        assert!(span.start < span.end, "empty span in {text:?}: {spans:?}");
        assert!(span.end <= text.len());
        assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
        let sentence = &text[span.start..span.end];
        assert_eq!(sentence, sentence.trim(), "untrimmed span in {text:?}");
        // Everything between sentences is whitespace: no text is lost to a gap.
        assert!(
            text[previous_end..span.start].trim().is_empty(),
            "text lost in {text:?}"
        );
        previous_end = span.end;
    }
    assert!(
        text[previous_end..].trim().is_empty(),
        "text lost at the end of {text:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_text_gives_valid_spans(text in any::<String>()) {
        assert_valid_spans(&text);
    }

    #[test]
    fn random_german_like_text_gives_valid_spans(text in tricky_text()) {
        assert_valid_spans(&text);
    }
}

#[test]
fn golden_records_give_valid_spans() {
    for record in golden::parse(golden::GOLDEN) {
        assert_valid_spans(&record.text);
    }
}

// ---------------------------------------------------------------------------------------------
// Sentences as a reader sees them (`de2en segment`, `PreparedDocument::sentences`)

fn reader_sentences(text: &str, format: Format) -> Vec<&str> {
    let options = PrepareOptions {
        format,
        quotes: QuoteStyle::English,
    };
    let prepared = document::prepare(text, &options, &IdentityEngine);
    prepared
        .sentences()
        .iter()
        .flatten()
        .map(|span| &text[span.start..span.end])
        .collect()
}

#[test]
fn an_opening_mark_stays_with_the_sentence_it_opens() {
    assert_eq!(
        reader_sentences(
            "Er ging. „Das ist gut. Wir machen weiter.“ Dann ging er.",
            Format::Text
        ),
        [
            "Er ging.",
            "„Das ist gut.",
            "Wir machen weiter.“",
            "Dann ging er."
        ]
    );
    assert_eq!(
        reader_sentences("»Wir kommen.« »Wir bleiben.«", Format::Text),
        ["»Wir kommen.«", "»Wir bleiben.«"]
    );
}

#[test]
fn a_closing_mark_stays_with_the_sentence_it_closes() {
    assert_eq!(
        reader_sentences(
            "„Das ist gut. Wir machen weiter“, sagte Kerry. Dann ging er.",
            Format::Text
        ),
        [
            "„Das ist gut.",
            "Wir machen weiter“, sagte Kerry.",
            "Dann ging er."
        ]
    );
}

#[test]
fn a_straight_quote_after_a_space_and_before_a_letter_opens() {
    assert_eq!(
        reader_sentences(
            "Er ging. \"Gut\", sagte sie. Der Sprecher sagte \"Wir prüfen das. Mehr später.\"",
            Format::Text
        ),
        [
            "Er ging.",
            "\"Gut\", sagte sie.",
            "Der Sprecher sagte \"Wir prüfen das.",
            "Mehr später.\""
        ]
    );
}

#[test]
fn a_url_or_address_that_ends_a_sentence_ends_it() {
    assert_eq!(
        reader_sentences(
            "Mehr unter www.example.de/aktuell. Anfragen bitte an presse@example.de. Danke.",
            Format::Text
        ),
        [
            "Mehr unter www.example.de/aktuell.",
            "Anfragen bitte an presse@example.de.",
            "Danke."
        ]
    );
}

#[test]
fn a_quotation_glued_to_the_next_sentence_is_cut_after_its_mark() {
    assert_eq!(
        reader_sentences(
            "Sie sagte:„Wir kommen.“Dann ging sie. Er war zufrieden.\"Gut.\"Mehr nicht.",
            Format::Text
        ),
        [
            "Sie sagte:„Wir kommen.“",
            "Dann ging sie.",
            "Er war zufrieden.",
            "\"Gut.\"",
            "Mehr nicht."
        ]
    );
    // Not after an abbreviation.
    assert_eq!(
        split("Er nannte z.B.„Das Boot“ als Vorbild."),
        ["Er nannte z.B.„Das Boot“ als Vorbild."]
    );
}

#[test]
fn markdown_sentences_keep_their_markup() {
    assert_eq!(
        reader_sentences(
            "- **Erster Punkt.** Zweiter [Satz](https://x.de).",
            Format::Markdown
        ),
        ["**Erster Punkt.**", "Zweiter [Satz](https://x.de)."]
    );
}

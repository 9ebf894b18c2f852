//! The resume manifest's record of the settings an output was made with.
//!
//! An output is up to date only when the manifest says it was made from the same input bytes with
//! the same settings, so this value decides whether a re-run translates a file again. It used to
//! be a string built from the settings' `Debug` output, so renaming an enum variant would have
//! silently made every manifest users have out of date. Now it is a struct serialised with
//! names written out here, under a version number: only a deliberate change here (and a new
//! version) changes it, and a test pins its exact text. Manifests written by releases before
//! version 2 stay valid: [`Fingerprints::legacy`] rebuilds their form, spelled out the same way.

use serde::Serialize;

use super::{InputFormat, OutputFormat, Settings};
use crate::guard::{GuardConfig, GuardMode};
use crate::quotes::QuoteStyle;

/// The manifest forms of one run's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprints {
    /// What this release writes.
    pub current: String,
    /// What releases before the explicit fingerprint wrote for the same settings, accepted when
    /// reading; `None` where they could not have written it (a glossary did not exist then).
    pub legacy: Option<String>,
}

/// Every setting that decides an output's bytes, version 2.
#[derive(Serialize)]
struct OutputSettings<'a> {
    version: u32,
    /// The engine and its model: `identity`, or `marian:FOLDER` / `marian-int8:FOLDER` / ….
    engine: &'a str,
    input_format: &'static str,
    output_format: &'static str,
    quotes: &'static str,
    beam_size: Option<usize>,
    max_new_tokens: Option<usize>,
    min_new_tokens: Option<usize>,
    /// Absent with the guard off: its thresholds then change nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    guard: Option<GuardSettings>,
    /// The glossary's content hash; absent without a glossary.
    #[serde(skip_serializing_if = "Option::is_none")]
    glossary: Option<&'a str>,
}

#[derive(Serialize)]
struct GuardSettings {
    mode: &'static str,
    min_mean_logprob: f32,
    length_ratio: [f32; 2],
    min_ratio_chars: usize,
    min_repeats: usize,
    retry_min_beam_size: usize,
    retry_no_repeat_ngram_size: usize,
}

impl Fingerprints {
    /// The fingerprints of `settings` with the engine's own fingerprint (model and precision) and
    /// the glossary's content hash, if a glossary is given.
    pub fn new(settings: &Settings, engine: &str, glossary: Option<&str>) -> Self {
        let record = OutputSettings {
            version: 2,
            engine,
            input_format: input_name(settings.input_format),
            output_format: output_name(settings.output_format),
            quotes: quotes_name(settings.quotes),
            beam_size: settings.engine_settings.beam_size,
            max_new_tokens: settings.engine_settings.max_new_tokens,
            min_new_tokens: settings.engine_settings.min_new_tokens,
            guard: guard_settings(&settings.guard),
            glossary,
        };
        Fingerprints {
            // A struct of strings, numbers and options: serialising it cannot fail.
            current: serde_json::to_string(&record).unwrap_or_default(),
            legacy: glossary.is_none().then(|| legacy(settings, engine)),
        }
    }
}

impl From<Fingerprints> for crate::pipeline::Fingerprint {
    fn from(fingerprints: Fingerprints) -> Self {
        crate::pipeline::Fingerprint {
            current: fingerprints.current,
            earlier: fingerprints.legacy.into_iter().collect(),
        }
    }
}

fn input_name(format: InputFormat) -> &'static str {
    match format {
        InputFormat::Auto => "auto",
        InputFormat::Text => "text",
        InputFormat::Markdown => "markdown",
        InputFormat::Lines => "lines",
        InputFormat::Html => "html",
        InputFormat::Docx => "docx",
        InputFormat::Odt => "odt",
        InputFormat::Epub => "epub",
    }
}

fn output_name(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Text => "text",
        OutputFormat::Json => "json",
        OutputFormat::Review => "review",
    }
}

fn quotes_name(quotes: QuoteStyle) -> &'static str {
    match quotes {
        QuoteStyle::English => "english",
        QuoteStyle::Keep => "keep",
    }
}

fn guard_name(mode: GuardMode) -> &'static str {
    match mode {
        GuardMode::Off => "off",
        GuardMode::Detect => "detect",
        GuardMode::Retry => "retry",
    }
}

fn guard_settings(guard: &GuardConfig) -> Option<GuardSettings> {
    (guard.mode != GuardMode::Off).then(|| GuardSettings {
        mode: guard_name(guard.mode),
        min_mean_logprob: guard.min_mean_logprob,
        length_ratio: [guard.length_ratio.0, guard.length_ratio.1],
        min_ratio_chars: guard.min_ratio_chars,
        min_repeats: guard.min_repeats,
        retry_min_beam_size: guard.retry.min_beam_size,
        retry_no_repeat_ngram_size: guard.retry.no_repeat_ngram_size,
    })
}

/// The form releases before version 2 wrote: the settings' `Debug` spellings of that time,
/// written out here so that a renamed variant cannot change them either.
fn legacy(settings: &Settings, engine: &str) -> String {
    let input = match settings.input_format {
        InputFormat::Auto => "Auto",
        InputFormat::Text => "Text",
        InputFormat::Markdown => "Markdown",
        InputFormat::Lines => "Lines",
        InputFormat::Html => "Html",
        // No release before version 2 read it: no old manifest can name it.
        InputFormat::Docx => "Docx",
        InputFormat::Odt => "Odt",
        InputFormat::Epub => "Epub",
    };
    let output = match settings.output_format {
        OutputFormat::Text => "Text",
        OutputFormat::Json => "Json",
        OutputFormat::Review => "Review",
    };
    let quotes = match settings.quotes {
        QuoteStyle::English => "English",
        QuoteStyle::Keep => "Keep",
    };
    let option = |value: Option<usize>| value.map_or("None".to_owned(), |v| format!("Some({v})"));
    let engine_settings = &settings.engine_settings;
    let mut text = format!(
        "engine={engine}; input={input}; output={output}; quotes={quotes}; beam={}; max={}; min={}",
        option(engine_settings.beam_size),
        option(engine_settings.max_new_tokens),
        option(engine_settings.min_new_tokens),
    );
    let guard = &settings.guard;
    if guard.mode != GuardMode::Off {
        let mode = match guard.mode {
            GuardMode::Detect => "Detect",
            _ => "Retry",
        };
        // f32 `Display` for the score, `Debug` for the pair: `-3` and `(0.5, 2.0)`.
        text += &format!(
            "; guard={mode}; min_score={}; ratio=({:?}, {:?}); retry=DecodeOverride {{ min_beam_size: {}, no_repeat_ngram_size: {} }}",
            guard.min_mean_logprob,
            guard.length_ratio.0,
            guard.length_ratio.1,
            guard.retry.min_beam_size,
            guard.retry.no_repeat_ngram_size,
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn settings(args: &[&str]) -> Settings {
        let cli = Cli::try_parse_from(
            ["de2en", "translate"]
                .iter()
                .chain(args)
                .chain(&["in", "-o", "out"]),
        )
        .expect("arguments");
        match cli.command {
            Command::Translate(args) => args.into_settings().expect("settings"),
            _ => unreachable!("a translate command"),
        }
    }

    /// The exact text: changing it makes every manifest out of date, so it changes only on
    /// purpose (with a new version), never because an enum was renamed.
    #[test]
    fn the_fingerprint_is_pinned() {
        let defaults = Fingerprints::new(&settings(&[]), "identity", None);
        assert_eq!(
            defaults.current,
            r#"{"version":2,"engine":"identity","input_format":"auto","output_format":"text","quotes":"english","beam_size":null,"max_new_tokens":null,"min_new_tokens":null,"guard":{"mode":"retry","min_mean_logprob":-3.0,"length_ratio":[0.5,2.0],"min_ratio_chars":20,"min_repeats":3,"retry_min_beam_size":5,"retry_no_repeat_ngram_size":3}}"#
        );
        let other = Fingerprints::new(
            &settings(&[
                "--guard",
                "off",
                "--quotes",
                "keep",
                "--beam-size",
                "4",
                "--input-format",
                "markdown",
                "--format",
                "json",
            ]),
            "marian-int8:/models/x",
            Some("abc"),
        );
        assert_eq!(
            other.current,
            r#"{"version":2,"engine":"marian-int8:/models/x","input_format":"markdown","output_format":"json","quotes":"keep","beam_size":4,"max_new_tokens":null,"min_new_tokens":null,"glossary":"abc"}"#
        );
        assert_eq!(
            other.legacy, None,
            "no release before version 2 had a glossary"
        );
    }

    /// What the release before version 2 wrote, copied from manifests it made (the identity
    /// engine over a folder, default flags, then `--guard off --quotes keep --beam-size 4`).
    #[test]
    fn manifests_of_the_previous_release_are_recognised() {
        assert_eq!(
            Fingerprints::new(&settings(&[]), "identity", None)
                .legacy
                .as_deref(),
            Some(
                "engine=identity; input=Auto; output=Text; quotes=English; beam=None; max=None; min=None; guard=Retry; min_score=-3; ratio=(0.5, 2.0); retry=DecodeOverride { min_beam_size: 5, no_repeat_ngram_size: 3 }"
            )
        );
        let other = settings(&["--guard", "off", "--quotes", "keep", "--beam-size", "4"]);
        assert_eq!(
            Fingerprints::new(&other, "identity", None)
                .legacy
                .as_deref(),
            Some(
                "engine=identity; input=Auto; output=Text; quotes=Keep; beam=Some(4); max=None; min=None"
            )
        );
    }

    #[test]
    fn every_setting_that_changes_the_output_changes_the_fingerprint() {
        let base = Fingerprints::new(&settings(&[]), "identity", None).current;
        for args in [
            &["--beam-size", "2"][..],
            &["--max-length", "9"],
            &["--min-length", "2"],
            &["--quotes", "keep"],
            &["--format", "review"],
            &["--input-format", "html"],
            &["--guard", "detect"],
        ] {
            let changed = Fingerprints::new(&settings(args), "identity", None).current;
            assert_ne!(changed, base, "{args:?}");
        }
        assert_ne!(
            Fingerprints::new(&settings(&[]), "marian:/m", None).current,
            base
        );
        assert_ne!(
            Fingerprints::new(&settings(&[]), "identity", Some("g")).current,
            base
        );
    }
}

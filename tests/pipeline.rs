//! The run over many files, driven as a library: no binary, no clap, an engine of our own.
//!
//! These are the promises a user of `de2en translate DIR -o OUT` relies on, checked where they are
//! kept: pooling files into windows changes nothing in the outputs, boilerplate repeated across the
//! tree reaches the engine once, and a stop leaves only complete files behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use de2en::engine::{Engine, EngineError, Translation};
use de2en::pipeline::{self, Options, Progress, Summary};
use de2en::walk::{self, PlanOptions};

const BOILERPLATE: &str = "Folgen Sie uns auf Twitter und Facebook.";

/// "Translates" by upper-casing, and remembers every sentence it was sent, call by call.
#[derive(Default)]
struct CountingEngine {
    calls: Mutex<Vec<Vec<String>>>,
    /// Set after the first call: the Ctrl-C of these tests.
    stop_after_first_call: Option<&'static AtomicBool>,
}

impl CountingEngine {
    fn sent(&self) -> Vec<String> {
        self.calls.lock().unwrap().concat()
    }
}

impl Engine for CountingEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        self.calls
            .lock()
            .unwrap()
            .push(sentences.iter().map(|s| (*s).to_owned()).collect());
        if let Some(stop) = self.stop_after_first_call {
            stop.store(true, Ordering::SeqCst);
        }
        Ok(sentences.iter().map(|s| translation(s)).collect())
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        512
    }
}

fn translation(sentence: &str) -> Translation {
    Translation {
        text: sentence.to_uppercase(),
        token_ids: Vec::new(),
        sum_logprob: -1.0,
        mean_logprob: -0.5,
        alignment: None,
        ..Translation::default()
    }
}

/// Fails every call that carries a sentence with "kaputt" in it, like a model that cannot
/// handle one input; translates the rest by upper-casing.
struct FailingEngine;

impl Engine for FailingEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        if sentences.iter().any(|s| s.contains("kaputt")) {
            return Err(EngineError::Decode("the logits are NaN".into()));
        }
        Ok(sentences.iter().map(|s| translation(s)).collect())
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        sentence.split_whitespace().count() + 1
    }
    fn max_source_tokens(&self) -> usize {
        512
    }
}

/// What the pipeline told its progress sink.
#[derive(Default)]
struct Log {
    messages: Vec<String>,
    files_done: u64,
    sentences: u64,
}

impl Progress for Log {
    fn message(&mut self, text: &str) {
        self.messages.push(text.to_owned());
    }
    fn file_done(&mut self) {
        self.files_done += 1;
    }
    fn sentences_translated(&mut self, count: u64) {
        self.sentences += count;
    }
}

/// Twelve short articles (plain text and Markdown), each ending in the same boilerplate line.
fn corpus(root: &Path) {
    for i in 0..12 {
        let (name, body) = if i % 3 == 0 {
            (
                format!("ressort{}/meldung{i:02}.de.md", i % 2),
                format!(
                    "# Meldung {i}\n\nDer Rat hat am Montag über **Vorlage {i}** beraten. \
                     Eine Entscheidung fällt „frühestens im Mai“.\n\n{BOILERPLATE}\n"
                ),
            )
        } else {
            (
                format!("ressort{}/meldung{i:02}.de.txt", i % 2),
                format!(
                    "Meldung {i}\n\nIn Stadt {i} regnet es seit {i} Tagen. Die Feuerwehr ist im Einsatz.\n\n{BOILERPLATE}\n"
                ),
            )
        };
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
}

fn options(window: usize) -> Options {
    Options {
        window,
        force: false,
        input_format: None,
        output_format: pipeline::OutputFormat::Text,
        quotes: de2en::quotes::QuoteStyle::English,
        batch_tokens: 4096,
        fingerprint: "test engine".into(),
        shard: None,
        glossary: None,
    }
}

fn run(
    input: &Path,
    output: &Path,
    engine: &dyn Engine,
    options: &Options,
    stop: &AtomicBool,
) -> (Summary, Log) {
    let plan = walk::plan(&PlanOptions {
        inputs: vec![input.to_owned()],
        output: Some(output.to_owned()),
        ..PlanOptions::default()
    })
    .unwrap();
    let mut log = Log::default();
    let summary = pipeline::run(plan, engine, options, &mut log, stop).unwrap();
    (summary, log)
}

/// Every file under `root` but de2en's own (manifest, temp files), by relative path.
fn outputs(root: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if !path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".de2en")
            {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

fn leftovers(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".de2en-tmp")
            {
                out.push(path.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    out
}

#[test]
fn pooled_windows_give_the_same_outputs_as_one_file_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("archiv");
    corpus(&input);
    let stop = AtomicBool::new(false);

    let mut results = Vec::new();
    for window in [0, 7, 4096] {
        let out = tmp.path().join(format!("en-{window}"));
        let engine = CountingEngine::default();
        let (summary, log) = run(&input, &out, &engine, &options(window), &stop);
        assert_eq!(
            summary.translated, 12,
            "window {window}: {:?}",
            log.messages
        );
        assert_eq!(summary.failed, 0);
        assert_eq!(log.files_done, 12);
        assert_eq!(log.sentences, summary.engine_sentences);
        results.push((window, outputs(&out), engine.calls.lock().unwrap().len()));
    }
    let (_, one_at_a_time, calls_one_at_a_time) = &results[0];
    assert_eq!(one_at_a_time.len(), 12);
    assert!(one_at_a_time.contains_key("ressort0/meldung00.en.md"));
    assert!(
        one_at_a_time["ressort1/meldung01.en.txt"].contains("IN STADT 1 REGNET ES SEIT 1 TAGEN.")
    );
    for (window, files, calls) in &results[1..] {
        assert_eq!(files, one_at_a_time, "window {window} changed an output");
        // Pooling is the point: fewer, fuller engine calls.
        assert!(
            calls < calls_one_at_a_time,
            "window {window}: {calls} calls"
        );
    }
}

#[test]
fn a_sentence_repeated_across_windows_is_translated_once() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("archiv");
    corpus(&input);
    let out = tmp.path().join("en");
    let engine = CountingEngine::default();
    // Small windows (a few files each), so the boilerplate appears in many windows.
    let (summary, _) = run(&input, &out, &engine, &options(10), &AtomicBool::new(false));

    assert!(
        engine.calls.lock().unwrap().len() >= 4,
        "want several windows"
    );
    let sent = engine.sent();
    let boilerplate = sent.iter().filter(|s| s.as_str() == BOILERPLATE).count();
    assert_eq!(boilerplate, 1, "sent to the engine: {sent:#?}");
    assert_eq!(summary.engine_sentences, sent.len() as u64);
    assert!(summary.sentences > summary.engine_sentences);
    let files = outputs(&out);
    assert_eq!(files.len(), 12);
    for (name, text) in &files {
        assert!(
            text.contains(&BOILERPLATE.to_uppercase()),
            "{name} lacks the boilerplate's translation:\n{text}"
        );
    }
}

#[test]
fn the_stop_flag_mid_window_writes_complete_files_only() {
    static STOP: AtomicBool = AtomicBool::new(false);
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("archiv");
    corpus(&input);
    // One more file with the window's longest sentence as its only sentence: longest first, it is
    // the whole of the first chunk, so exactly this file is complete when the stop comes.
    let long = "Der Bundestag hat nach einer langen und kontroversen Debatte mit knapper Mehrheit \
                ein Gesetz beschlossen, das die Förderung erneuerbarer Energien neu regelt.";
    std::fs::write(input.join("langer-satz.de.txt"), format!("{long}\n")).unwrap();

    let full = tmp.path().join("full");
    let expected = {
        let engine = CountingEngine::default();
        run(
            &input,
            &full,
            &engine,
            &options(4096),
            &AtomicBool::new(false),
        );
        outputs(&full)
    };

    let out = tmp.path().join("en");
    let engine = CountingEngine {
        stop_after_first_call: Some(&STOP),
        ..CountingEngine::default()
    };
    // One window for everything, one sentence per engine call.
    let mut opts = options(4096);
    opts.batch_tokens = 1;
    let (summary, log) = run(&input, &out, &engine, &opts, &STOP);

    assert!(summary.interrupted);
    assert_eq!(engine.calls.lock().unwrap().len(), 1);
    assert_eq!(summary.translated, 1, "{:?}", log.messages);
    assert_eq!(summary.failed, 0);
    let written = outputs(&out);
    assert_eq!(written.keys().collect::<Vec<_>>(), ["langer-satz.en.txt"]);
    for (name, text) in &written {
        assert_eq!(text, &expected[name], "{name} is not complete");
    }
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));

    // The manifest was saved: a second run does only what is missing.
    let engine = CountingEngine::default();
    let (again, _) = run(
        &input,
        &out,
        &engine,
        &options(4096),
        &AtomicBool::new(false),
    );
    assert_eq!((again.translated, again.skipped), (12, 1));
    assert_eq!(outputs(&out), expected);
}

#[test]
fn an_engine_error_fails_only_the_files_of_its_window_with_their_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("archiv");
    std::fs::create_dir_all(&input).unwrap();
    // Two files per window (each has two sentences; the window takes files until it holds
    // three): a.1 a.2 | b.1 b.2 | c.1 c.2, and one sentence of b.1 breaks the engine.
    for (name, body) in [
        (
            "a.1.de.txt",
            "Der Rat tagt am Montag. Die Sitzung ist öffentlich.",
        ),
        (
            "a.2.de.txt",
            "Es regnet in Bonn. Die Feuerwehr ist im Einsatz.",
        ),
        (
            "b.1.de.txt",
            "Das Modell ist kaputt. Dieser Satz bleibt liegen.",
        ),
        ("b.2.de.txt", "Die Bahn streikt. Viele Züge fallen aus."),
        ("c.1.de.txt", "Der Markt erholt sich. Der Dax steigt."),
        ("c.2.de.txt", "Die Schule beginnt. Die Ferien sind vorbei."),
    ] {
        std::fs::write(input.join(name), format!("{body}\n")).unwrap();
    }
    let out = tmp.path().join("en");
    let (summary, log) = run(
        &input,
        &out,
        &FailingEngine,
        &options(3),
        &AtomicBool::new(false),
    );

    assert!(!summary.interrupted);
    assert_eq!(
        (summary.translated, summary.failed),
        (4, 2),
        "{:?}",
        log.messages
    );
    assert_eq!(log.files_done, 6);
    let written = outputs(&out);
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        ["a.1.en.txt", "a.2.en.txt", "c.1.en.txt", "c.2.en.txt"]
    );
    assert_eq!(
        written["c.2.en.txt"],
        "DIE SCHULE BEGINNT. DIE FERIEN SIND VORBEI.\n"
    );
    assert_eq!(log.messages.len(), 2, "{:?}", log.messages);
    for (message, name) in log.messages.iter().zip(["b.1.de.txt", "b.2.de.txt"]) {
        assert!(
            message.contains(&input.join(name).display().to_string()),
            "{message} does not name {name}"
        );
        assert!(message.contains("the engine failed"), "{message}");
        assert!(message.contains("the logits are NaN"), "{message}");
        assert!(message.contains("not written"), "{message}");
    }
    assert!(leftovers(&out).is_empty());
}

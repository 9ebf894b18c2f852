//! The run over many files: one engine pass over every job of a plan.
//!
//! This is the heart of "translate a directory", kept apart from the command line so that a test,
//! a service or a scheduler plugin can drive it with any `Engine` and see what happened. Files are
//! read into a bounded window (`Options::window` sentences): their sentences are pooled, identical
//! sentences are sent to the engine once (news sites repeat boilerplate in every article), the pool
//! is sorted longest first and handed to the engine in chunks of about two batches, and each file
//! is rebuilt and written the moment its last sentence is back. Memory stays bounded however large
//! the tree, the engine sees full, length-homogeneous batches, and the stop flag (Ctrl-C, SIGTERM
//! in the binary) is checked between chunks so a run stops within one chunk's time, leaving only
//! complete files behind.
//!
//! In folder mode the output folder's manifest makes the run resumable: an output that is up to
//! date is skipped, every written one is recorded, and the manifest is saved every two seconds and
//! at the end. One file's problem (unreadable, binary, not writable) is reported through the
//! progress sink, counted, and the run goes on; so is an engine error, which fails the files of
//! the window it happened in.
//!
//! With a translation memory (`crate::memory`, `run_with_memory`), each new unique sentence is
//! looked up when its file is admitted, so a hit never reaches the engine; the window's fresh
//! translations are stored in one transaction when the window is done. A memory that fails is
//! reported once as a warning and the run goes on without it.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::document::{self, Format, PreparedFile, TranslatedFile};
use crate::durable::DirSync;
use crate::engine::{Engine, Translation, TranslationFlag};
use crate::input;
use crate::memory::TranslationMemory;
use crate::output::{self, Manifest, ManifestEntry};
use crate::quotes::QuoteStyle;
use crate::review;
use crate::walk::{Destination, Job, Plan, Shard, Source};

/// Files in one window at most, whatever their sentence count (many tiny files).
const MAX_WINDOW_FILES: usize = 1024;
/// Translations of repeated sentences kept across windows (boilerplate), at most.
const MAX_CACHED: usize = 50_000;
/// How often the manifest is saved during a run.
const MANIFEST_SAVE_EVERY: Duration = Duration::from_secs(2);
/// The translation memory's per-segment key part for the glossary entries that apply to a
/// segment: empty, because the model's input (the key's other part) already holds them — a term
/// reaches the model as a placeholder (`crate::glossary`) and its English is written in after
/// decoding, so a sentence whose terms changed has another input, and a changed English needs no
/// new translation.
const NO_GLOSSARY: &str = "";

/// What each output file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    /// The translated article, in the input's format.
    #[default]
    Text,
    /// JSON: the translated text and every segment with source/target text, byte spans, score
    /// and flags. In folder mode the output name gets `.json` appended.
    Json,
    /// A bilingual review page (self-contained HTML): German and English side by side, one row
    /// per sentence, aligned words, scores and flags. In folder mode the output name gets
    /// `.review.html` appended, and `index.html` in the output folder lists every page.
    Review,
}

/// The settings an output was made with, as the resume manifest records them: the form this run
/// writes, and earlier forms of the same settings that also count as up to date (manifests of
/// earlier releases).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub current: String,
    pub earlier: Vec<String>,
}

impl Fingerprint {
    fn accepts(&self, recorded: &str) -> bool {
        self.current == recorded || self.earlier.iter().any(|e| e == recorded)
    }
}

impl From<&str> for Fingerprint {
    fn from(current: &str) -> Self {
        Fingerprint {
            current: current.to_owned(),
            earlier: Vec::new(),
        }
    }
}

/// How a run translates and writes; everything about the engine itself lives in the engine.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sentences pooled across files before they go to the engine; 0 = one file at a time.
    pub window: usize,
    /// Translate even outputs the manifest says are up to date.
    pub force: bool,
    /// How to read every input; `None`: by extension (see `Format::for_path`).
    pub input_format: Option<Format>,
    pub output_format: OutputFormat,
    pub quotes: QuoteStyle,
    /// The engine's padded-token budget per batch: one chunk handed to the engine is about two
    /// batches, so the stop flag is looked at between chunks.
    pub batch_tokens: usize,
    /// Everything that changes an output (engine, model, formats, options): the manifest records
    /// it, and an output made with another fingerprint is translated again.
    pub fingerprint: Fingerprint,
    /// This worker's shard: its manifest and temporary files are its own in a shared folder.
    pub shard: Option<Shard>,
    /// Terms every file's German is checked for (`--glossary`); see `crate::glossary`.
    pub glossary: Option<std::sync::Arc<crate::glossary::Glossary>>,
}

/// What the run reports while it goes: for a progress bar, a log, or a test.
pub trait Progress {
    /// One line for the user: a file that failed and why, or a warning. The run goes on.
    fn message(&mut self, text: &str);
    /// One job is finished: written, skipped as up to date, or failed.
    fn file_done(&mut self);
    /// The engine has translated `count` more sentences (each unique sentence once).
    fn sentences_translated(&mut self, count: u64);
    /// Work worth `source_bytes` bytes of the planned inputs (`Job::source_bytes`) is done: a
    /// file's share grows with the text of its sentences translated so far, so a progress bar
    /// moves (and can estimate the time left) inside a window of a few long articles.
    fn work_done(&mut self, _source_bytes: u64) {}
    /// Planned input bytes that need no translation in this run after all (up to date, failed).
    fn work_dropped(&mut self, _source_bytes: u64) {}
}

/// A progress sink that ignores everything.
impl Progress for () {
    fn message(&mut self, _text: &str) {}
    fn file_done(&mut self) {}
    fn sentences_translated(&mut self, _count: u64) {}
}

/// How a run went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Outputs written.
    pub translated: u64,
    /// Outputs already up to date.
    pub skipped: u64,
    /// Jobs that failed, and entries the walk could not read; each was reported.
    pub failed: u64,
    /// Entries of the walked trees that are not regular files (FIFOs, sockets, dangling links,
    /// symlink loops, links to folders): skipped, not failures.
    pub not_regular: u64,
    /// Sentences in the outputs written.
    pub sentences: u64,
    /// Sentences the engine translated (after de-duplication and the cross-window cache).
    pub engine_sentences: u64,
    /// Unique sentences the translation memory answered (they never reached the engine).
    pub memory_sentences: u64,
    /// Sentences the output guard decoded a second time (each unique sentence once).
    pub retried: u64,
    /// Sentences whose translation the output guard still flags (each unique sentence once).
    pub flagged: u64,
    /// Files of the plan's tree that belong to other shards.
    pub other_shards: usize,
    /// Glossary terms applied in the outputs written.
    pub glossary_terms: u64,
    /// The stop flag ended the run early; every file written is complete.
    pub interrupted: bool,
}

/// What ends a run before its jobs are done, short of the stop flag. (A file that cannot be read
/// or written, or whose window the engine fails, is reported and counted, not an error of the run.)
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Standard output is gone or full (a closed pipe is for the caller to forgive).
    #[error("could not write to standard output")]
    Stdout(#[source] std::io::Error),
}

/// A run that ended with an error: the error, and what was done before it (the manifest is
/// saved either way).
#[derive(Debug, thiserror::Error)]
#[error("the run stopped before all files were done")]
pub struct Aborted {
    #[source]
    pub error: PipelineError,
    pub summary: Summary,
}

/// Translates every job of `plan` with `engine` and writes the outputs.
///
/// Entries the walk could not read are reported and counted as failed. `stop` is polled between
/// files and between engine chunks; once it is set, no new work is taken, files whose sentences
/// are all back are written, the rest are dropped, and the summary says `interrupted`.
pub fn run(
    plan: Plan,
    engine: &dyn Engine,
    options: &Options,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Result<Summary, Aborted> {
    run_with_memory(plan, engine, options, None, progress, stop)
}

/// `run`, with a translation memory asked before the engine and told every fresh translation.
/// The memory must have been opened with a context that covers the engine and every setting
/// that changes its output.
pub fn run_with_memory(
    plan: Plan,
    engine: &dyn Engine,
    options: &Options,
    memory: Option<&mut TranslationMemory>,
    progress: &mut dyn Progress,
    stop: &AtomicBool,
) -> Result<Summary, Aborted> {
    let temp_prefix = output::temp_prefix(options.shard);
    let mut manifest = None;
    if let Some(root) = &plan.output_root {
        match output::remove_leftovers(root, &temp_prefix) {
            Ok(0) => {}
            Ok(n) => progress.message(&format!(
                "removed {n} unfinished temporary file(s) from an earlier run in {}",
                root.display()
            )),
            Err(e) => progress.message(&format!("warning: {}", error_chain(&e))),
        }
        let (loaded, warnings) = Manifest::load(root, options.shard);
        for warning in warnings {
            progress.message(&format!("warning: {warning}"));
        }
        manifest = Some(loaded);
    }

    let mut summary = Summary {
        other_shards: plan.other_shards,
        not_regular: plan.not_regular.len() as u64,
        ..Summary::default()
    };
    for error in &plan.entry_errors {
        progress.message(&error_chain(error));
        summary.failed += 1;
    }
    let mut pipeline = Pipeline {
        options,
        engine,
        stop,
        manifest,
        temp_prefix,
        progress,
        summary,
        cache: HashMap::new(),
        memory,
        last_save: Instant::now(),
    };
    let outcome = pipeline.execute(plan.jobs);
    // Whatever was translated before a stop or an error is worth keeping.
    pipeline.commit_memory();
    pipeline.save_manifest();
    if let (OutputFormat::Review, Some(root)) = (options.output_format, &plan.output_root) {
        pipeline.write_review_index(root);
    }
    let mut summary = pipeline.summary;
    match outcome {
        Ok(interrupted) => {
            summary.interrupted = interrupted;
            Ok(summary)
        }
        Err(error) => Err(Aborted { error, summary }),
    }
}

/// "message: cause: cause" for one-line reports of per-file errors.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A file waiting for its sentences.
struct Pending {
    job: Job,
    format: Format,
    doc: Option<PreparedFile>,
    /// The unique-sentence id of each model input, in document order.
    ids: Vec<usize>,
    remaining: usize,
    source_sha256: String,
    /// For `Progress::work_done`: the text bytes of the sentences it waits for, how many of
    /// them are back, and how much of `job.source_bytes` was reported done so far.
    text_bytes: u64,
    text_done: u64,
    credited: u64,
}

impl Pending {
    /// A sentence of `text` bytes is back: the share of the file's planned bytes newly done.
    fn credit(&mut self, text: usize) -> u64 {
        self.text_done += text as u64;
        let due = u128::from(self.job.source_bytes) * u128::from(self.text_done)
            / u128::from(self.text_bytes.max(1));
        let due = (due as u64).min(self.job.source_bytes);
        let delta = due.saturating_sub(self.credited);
        self.credited = self.credited.max(due);
        delta
    }

    /// What is left of the file's planned bytes (reported when it is written or fails).
    fn uncredited(&mut self) -> u64 {
        let rest = self.job.source_bytes.saturating_sub(self.credited);
        self.credited = self.job.source_bytes;
        rest
    }
}

/// Files and their pooled, de-duplicated sentences.
#[derive(Default)]
struct Window {
    pending: Vec<Pending>,
    uniques: Vec<String>,
    index: HashMap<String, usize>,
    results: Vec<Option<Translation>>,
    /// For each unique sentence, the pending files (one entry per occurrence) waiting for it.
    waiting: Vec<Vec<usize>>,
    occurrences: Vec<u32>,
    sentences: usize,
}

struct Pipeline<'a> {
    options: &'a Options,
    engine: &'a dyn Engine,
    stop: &'a AtomicBool,
    manifest: Option<Manifest>,
    temp_prefix: String,
    progress: &'a mut dyn Progress,
    summary: Summary,
    /// Sentences seen in more than one file, across windows.
    cache: HashMap<String, Translation>,
    /// `None` without a memory, or once it failed (reported once).
    memory: Option<&'a mut TranslationMemory>,
    last_save: Instant,
}

impl Pipeline<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Runs every job; `Ok(true)` when the run was interrupted.
    fn execute(&mut self, jobs: Vec<Job>) -> Result<bool, PipelineError> {
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let mut window = Window::default();
            while window.pending.is_empty()
                || (window.sentences < self.options.window
                    && window.pending.len() < MAX_WINDOW_FILES)
            {
                if self.stopped() {
                    return Ok(true);
                }
                let Some(job) = jobs.next() else { break };
                self.admit(job, &mut window)?;
            }
            if self.translate_window(&mut window)? {
                return Ok(true);
            }
            self.commit_memory();
            self.remember_repeats(&window);
        }
        Ok(self.stopped())
    }

    /// Reads one job into the window, or finishes it at once (skipped, failed, nothing to
    /// translate, everything cached).
    fn admit(&mut self, job: Job, window: &mut Window) -> Result<(), PipelineError> {
        let path = match &job.source {
            Source::File(path) => Some(path.as_path()),
            Source::Stdin => None,
        };
        let bytes = match input::read_bytes(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.fail(&error_chain(&error), job.source_bytes);
                return Ok(());
            }
        };
        let source_sha256 = output::sha256_hex(&bytes);
        if let (Some(manifest), Some(input), Destination::File(out)) =
            (&self.manifest, path, &job.destination)
            && !self.options.force
            && manifest.is_fresh(out, input, &source_sha256, |recorded| {
                self.options.fingerprint.accepts(recorded)
            })
        {
            self.summary.skipped += 1;
            self.progress.work_dropped(job.source_bytes);
            self.progress.file_done();
            return Ok(());
        }
        let format = self
            .options
            .input_format
            .unwrap_or_else(|| Format::for_path(path));
        let name = path.unwrap_or(Path::new("<stdin>"));
        let file = match document::open(format, &bytes, name) {
            Ok(file) => file,
            Err(error) => {
                self.fail(&error_chain(&error), job.source_bytes);
                return Ok(());
            }
        };
        drop(bytes);
        let glossary = self.options.glossary.as_deref();
        let doc = file.prepare(self.options.quotes, self.engine, glossary);
        let slot = window.pending.len();
        let mut remaining = 0;
        let ids: Vec<usize> = {
            let inputs = doc.model_inputs();
            window.sentences += inputs.len();
            inputs
                .into_iter()
                .map(|sentence| {
                    let id = match window.index.get(sentence) {
                        Some(&id) => id,
                        None => {
                            let id = window.uniques.len();
                            window.uniques.push(sentence.to_owned());
                            window.index.insert(sentence.to_owned(), id);
                            let known = match self.cache.get(sentence) {
                                Some(translation) => Some(translation.clone()),
                                None => self.recall(sentence),
                            };
                            window.results.push(known);
                            window.waiting.push(Vec::new());
                            window.occurrences.push(0);
                            id
                        }
                    };
                    window.occurrences[id] += 1;
                    if window.results[id].is_none() {
                        window.waiting[id].push(slot);
                        remaining += 1;
                    }
                    id
                })
                .collect()
        };
        let text_bytes: u64 = ids
            .iter()
            .filter(|&&id| window.results[id].is_none())
            .map(|&id| window.uniques[id].len() as u64)
            .sum();
        let mut pending = Pending {
            job,
            format,
            doc: Some(doc),
            ids,
            remaining,
            source_sha256,
            text_bytes,
            text_done: 0,
            credited: 0,
        };
        if remaining == 0 {
            self.finish_file(&mut pending, &window.results)?;
        } else {
            window.pending.push(pending);
        }
        Ok(())
    }

    /// Sends the window's untranslated sentences to the engine; `Ok(true)` when stopped.
    fn translate_window(&mut self, window: &mut Window) -> Result<bool, PipelineError> {
        let mut todo: Vec<usize> = (0..window.uniques.len())
            .filter(|&id| window.results[id].is_none())
            .collect();
        // Longest first, as CTranslate2's rebatching does: each chunk is then of one length
        // class, so the engine's batches carry little padding.
        todo.sort_by_key(|&id| Reverse(window.uniques[id].len()));
        let budget = self.options.batch_tokens.saturating_mul(2).max(1);
        let mut start = 0;
        while start < todo.len() {
            if self.stopped() {
                return Ok(true);
            }
            // Rough token estimate (about four bytes per subword in German news text); the
            // engine packs its real batches itself, this only sizes the chunk.
            let longest = window.uniques[todo[start]].len() / 4 + 2;
            let count = (budget / longest).clamp(1, todo.len() - start);
            let chunk = &todo[start..start + count];
            start += count;
            let texts: Vec<&str> = chunk
                .iter()
                .map(|&id| window.uniques[id].as_str())
                .collect();
            let translations = match self.engine.translate(&texts) {
                Ok(translations) if translations.len() == texts.len() => translations,
                Ok(translations) => {
                    self.fail_window(
                        window,
                        &format!(
                            "the engine returned {} translations for {} sentences",
                            translations.len(),
                            texts.len()
                        ),
                    );
                    return Ok(false);
                }
                Err(error) => {
                    self.fail_window(
                        window,
                        &format!("the engine failed: {}", error_chain(&error)),
                    );
                    return Ok(false);
                }
            };
            let mut ready = Vec::new();
            let mut done = 0;
            for (&id, translation) in chunk.iter().zip(translations) {
                self.count_guard_flags(&translation);
                if let Some(memory) = &mut self.memory {
                    memory.remember(NO_GLOSSARY, &window.uniques[id], &translation);
                }
                window.results[id] = Some(translation);
                for &slot in &window.waiting[id] {
                    let pending = &mut window.pending[slot];
                    done += pending.credit(window.uniques[id].len());
                    pending.remaining -= 1;
                    if pending.remaining == 0 {
                        ready.push(slot);
                    }
                }
            }
            self.summary.engine_sentences += chunk.len() as u64;
            self.progress.sentences_translated(chunk.len() as u64);
            self.progress.work_done(done);
            for slot in ready {
                self.finish_file(&mut window.pending[slot], &window.results)?;
            }
            if self.last_save.elapsed() >= MANIFEST_SAVE_EVERY {
                self.save_manifest();
            }
        }
        Ok(false)
    }

    /// Fails every file of the window still waiting for a translation, each with its path; files
    /// already written stay, and the run goes on with the next window. An engine error is most
    /// often about its input (a sentence it cannot handle, memory for one batch), so the other
    /// windows deserve their chance, as another unreadable file would not stop the run either.
    fn fail_window(&mut self, window: &mut Window, why: &str) {
        for pending in &mut window.pending {
            if pending.doc.take().is_some() {
                let rest = pending.uncredited();
                self.fail(
                    &format!("{}: {why}; file not written", pending.job.display_source()),
                    rest,
                );
            }
        }
    }

    /// The memory's translation of `sentence`, if it has one; counted as answered by it. The
    /// guard's flags count as for a fresh translation, so the summary describes the outputs
    /// whatever answered.
    fn recall(&mut self, sentence: &str) -> Option<Translation> {
        let memory = self.memory.as_mut()?;
        match memory.lookup(NO_GLOSSARY, sentence) {
            Ok(Some(translation)) => {
                self.summary.memory_sentences += 1;
                self.count_guard_flags(&translation);
                Some(translation)
            }
            Ok(None) => None,
            Err(error) => {
                self.drop_memory(&error);
                None
            }
        }
    }

    /// Stores the translations of the window (and the uses) in the memory.
    fn commit_memory(&mut self) {
        if let Some(memory) = &mut self.memory
            && let Err(error) = memory.commit()
        {
            self.drop_memory(&error);
        }
    }

    /// One warning, and the run goes on without the memory: it only saves time.
    fn drop_memory(&mut self, error: &crate::memory::MemoryError) {
        self.memory = None;
        self.progress.message(&format!(
            "warning: {}; going on without the translation memory",
            crate::memory::describe(error)
        ));
    }

    /// Counts what the output guard (`crate::guard`, around the engine) did with a translation.
    fn count_guard_flags(&mut self, translation: &Translation) {
        let retried = translation.flags.contains(&TranslationFlag::Retried);
        self.summary.retried += u64::from(retried);
        self.summary.flagged += u64::from(translation.flags.len() > usize::from(retried));
    }

    /// Keeps translations of sentences that occurred more than once for the next windows.
    fn remember_repeats(&mut self, window: &Window) {
        if self.cache.len() > MAX_CACHED {
            self.cache.clear();
        }
        for (id, &count) in window.occurrences.iter().enumerate() {
            if count > 1
                && let Some(translation) = &window.results[id]
            {
                self.cache
                    .entry(window.uniques[id].clone())
                    .or_insert_with(|| translation.clone());
            }
        }
    }

    /// Rebuilds a file whose sentences are all back, and writes it.
    fn finish_file(
        &mut self,
        pending: &mut Pending,
        results: &[Option<Translation>],
    ) -> Result<(), PipelineError> {
        let Some(doc) = pending.doc.take() else {
            return Ok(());
        };
        let rest = pending.uncredited();
        let translations: Vec<Translation> = pending
            .ids
            .iter()
            .filter_map(|&id| results.get(id).cloned().flatten())
            .collect();
        if translations.len() != pending.ids.len() {
            self.fail(
                &format!(
                    "{}: internal error: a translation went missing; file not written",
                    pending.job.display_source()
                ),
                rest,
            );
            return Ok(());
        }
        let sentences = translations.len() as u64;
        let translated = match doc.finish(&translations) {
            Ok(translated) => translated,
            Err(error) => {
                let message = format!("{}: {}", pending.job.display_source(), error_chain(&error));
                self.fail(&message, rest);
                return Ok(());
            }
        };
        let glossary_terms = translated.glossary_terms();
        let review = (self.options.output_format == OutputFormat::Review)
            .then_some((pending.job.key.as_str(), pending.format));
        let bytes = match render(&translated, self.options.output_format, review) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.fail(&format!("{}: {e}", pending.job.display_source()), rest);
                return Ok(());
            }
        };
        match &pending.job.destination {
            Destination::Stdout => {
                // A closed pipe ends the run (and is reported as success by the binary).
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&bytes).map_err(PipelineError::Stdout)?;
                stdout.flush().map_err(PipelineError::Stdout)?;
            }
            Destination::File(path) => {
                // In folder mode the manifest fsyncs the folder before it lists the file.
                let dir_sync = match self.manifest {
                    Some(_) => DirSync::Later,
                    None => DirSync::Now,
                };
                if let Err(error) = output::write_synced(path, &bytes, &self.temp_prefix, dir_sync)
                {
                    self.fail(&error_chain(&error), rest);
                    return Ok(());
                }
                if let Some(manifest) = &mut self.manifest {
                    manifest.record(
                        path,
                        ManifestEntry {
                            source: pending.job.key.clone(),
                            source_sha256: pending.source_sha256.clone(),
                            settings: self.options.fingerprint.current.clone(),
                            output_bytes: bytes.len() as u64,
                        },
                    );
                }
            }
        }
        self.summary.translated += 1;
        self.summary.sentences += sentences;
        self.progress.work_done(rest);
        self.summary.glossary_terms += glossary_terms as u64;
        self.progress.file_done();
        Ok(())
    }

    /// Counts and reports a failed job; `source_bytes`: its planned bytes not yet reported done.
    fn fail(&mut self, message: &str, source_bytes: u64) {
        self.summary.failed += 1;
        self.progress.message(message);
        self.progress.work_dropped(source_bytes);
        self.progress.file_done();
    }

    /// The folder's review index, made from the pages on disk (so pages skipped as up to date,
    /// or written by other shards, are listed too).
    fn write_review_index(&mut self, root: &Path) {
        if let Err(error) = review::write_index(root, &self.temp_prefix) {
            self.summary.failed += 1;
            self.progress.message(&error_chain(&error));
        }
    }

    fn save_manifest(&mut self) {
        if let Some(manifest) = &mut self.manifest
            && let Err(error) = manifest.save(&self.temp_prefix)
        {
            // Only resumability suffers: those files are translated again next time.
            self.progress
                .message(&format!("warning: {}", error_chain(&error)));
        }
        self.last_save = Instant::now();
    }
}

/// The bytes of one output; a review page also needs the source's name and format.
fn render(
    translated: &TranslatedFile,
    format: OutputFormat,
    review: Option<(&str, Format)>,
) -> Result<Vec<u8>, serde_json::Error> {
    Ok(match format {
        OutputFormat::Text => translated.bytes().to_vec(),
        OutputFormat::Json => translated.json()?,
        OutputFormat::Review => {
            let (name, input_format) = review.unwrap_or(("", Format::Text));
            let (source, joined) = translated.joined();
            review::page(name, &source, input_format, &joined).into_bytes()
        }
    })
}

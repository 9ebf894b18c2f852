//! `de2en translate`: one engine pass over every file of the run.
//!
//! Files are read into a bounded window (`--window` sentences): their sentences are pooled,
//! identical sentences are sent to the engine once (news sites repeat boilerplate in every
//! article), the pool is sorted longest first and handed to the engine in chunks of about two
//! batches, and each file is rebuilt and written the moment its last sentence is back. Memory
//! stays bounded however large the tree, the engine sees full, length-homogeneous batches, and the
//! stop flag (Ctrl-C, SIGTERM) is checked between chunks so a run stops within one chunk's time.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::progress::Reporter;
use super::{EngineKind, OutputFormat, Settings, Status, UsageError, document_format};
use crate::document::{self, PrepareOptions, PreparedDocument, TranslatedDocument};
use crate::engine::identity::IdentityEngine;
use crate::engine::marian::MarianEngine;
use crate::engine::{Engine, EngineError, Translation};
use crate::input;
use crate::models;
use crate::output::{self, Manifest, ManifestEntry};
use crate::walk::{self, Destination, Job, Source};

/// Files in one window at most, whatever their sentence count (many tiny files).
const MAX_WINDOW_FILES: usize = 1024;
/// Translations of repeated sentences kept across windows (boilerplate), at most.
const MAX_CACHED: usize = 50_000;
/// How often the manifest is saved during a run.
const MANIFEST_SAVE_EVERY: Duration = Duration::from_secs(2);

pub fn run(settings: Settings) -> anyhow::Result<Status> {
    configure_threads(settings.threads)?;
    let stop = Arc::new(AtomicBool::new(false));
    install_stop_handler(Arc::clone(&stop));

    let plan = walk::plan(&settings.plan).map_err(|e| {
        if e.is_usage() {
            anyhow::Error::from(UsageError(e.into()))
        } else {
            e.into()
        }
    })?;
    let (engine, model_fingerprint) = build_engine(&settings)?;
    let fingerprint = format!(
        "engine={model_fingerprint}; input={:?}; output={:?}; quotes={:?}; beam={:?}; max={:?}; min={:?}",
        settings.input_format,
        settings.output_format,
        settings.quotes,
        settings.engine_settings.beam_size,
        settings.engine_settings.max_new_tokens,
        settings.engine_settings.min_new_tokens,
    );

    let reporter = Reporter::new(plan.jobs.len() as u64, settings.quiet);
    let temp_prefix = output::temp_prefix(settings.shard);
    let mut manifest = None;
    if let Some(root) = &plan.output_root {
        match output::remove_leftovers(root, &temp_prefix) {
            Ok(0) => {}
            Ok(n) => reporter.message(&format!(
                "de2en: removed {n} unfinished temporary file(s) from an earlier run in {}",
                root.display()
            )),
            Err(e) => reporter.message(&format!("de2en: warning: {}", error_chain(&e))),
        }
        let (loaded, warnings) = Manifest::load(root, settings.shard);
        for warning in warnings {
            reporter.message(&format!("de2en: warning: {warning}"));
        }
        manifest = Some(loaded);
    }

    let mut failed = 0;
    for error in &plan.entry_errors {
        reporter.message(&format!("de2en: {}", error_chain(error)));
        failed += 1;
    }
    let mut pipeline = Pipeline {
        settings: &settings,
        engine: engine.as_ref(),
        stop: &stop,
        manifest,
        temp_prefix,
        fingerprint,
        reporter,
        translated: 0,
        skipped: 0,
        failed,
        cache: HashMap::new(),
        last_save: Instant::now(),
    };
    let outcome = pipeline.execute(plan.jobs);
    pipeline.save_manifest();
    pipeline.reporter.finish();
    let interrupted = matches!(outcome, Ok(true));
    if !settings.quiet {
        pipeline.summary(interrupted, plan.other_shards);
    }
    match outcome {
        Err(error) => Err(error),
        Ok(true) => Ok(Status::Interrupted),
        Ok(false) if pipeline.failed > 0 => Ok(Status::SomeFailed),
        Ok(false) => Ok(Status::Success),
    }
}

/// Sizes rayon's global pool and tells candle (which reads `RAYON_NUM_THREADS`) the same.
fn configure_threads(threads: Option<usize>) -> anyhow::Result<()> {
    let Some(threads) = threads else {
        return Ok(());
    };
    // SAFETY: this runs before de2en starts any thread (the Ctrl-C handler, rayon, candle), so
    // nothing can read the environment while it changes.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("could not set up the worker threads")?;
    Ok(())
}

/// First Ctrl-C (or SIGTERM): finish what is in flight, write complete files, stop. Second: quit.
fn install_stop_handler(stop: Arc<AtomicBool>) {
    let result = ctrlc::set_handler(move || {
        if stop.swap(true, Ordering::SeqCst) {
            // Outputs are renamed into place whole, so quitting now loses nothing but time;
            // the next run removes the temporary file.
            std::process::exit(130);
        }
        eprintln!("de2en: stopping after the current batch (Ctrl-C again to quit at once)");
    });
    if let Err(e) = result {
        eprintln!("de2en: warning: Ctrl-C will not stop cleanly: {e}");
    }
}

/// The engine, and a fingerprint of the model for the manifest.
fn build_engine(settings: &Settings) -> anyhow::Result<(Box<dyn Engine>, String)> {
    let (engine, fingerprint): (Box<dyn Engine>, String) = match settings.engine {
        EngineKind::Identity => (Box::new(IdentityEngine), "identity".into()),
        EngineKind::Marian => {
            let resolved = models::resolve(&settings.model).map_err(|e| UsageError(e.into()))?;
            let engine = MarianEngine::load(&resolved.dir, &settings.engine_settings)
                .with_context(|| {
                    format!("could not load the model in {}", resolved.dir.display())
                })?;
            let dir = resolved.dir.canonicalize().unwrap_or(resolved.dir);
            (Box::new(engine), format!("marian:{}", dir.display()))
        }
        EngineKind::RustBert => load_rust_bert(settings)?,
    };
    Ok(match settings.debug_engine_delay_ms {
        Some(ms) => (
            Box::new(SlowEngine {
                inner: engine,
                delay: Duration::from_millis(ms),
            }),
            fingerprint,
        ),
        None => (engine, fingerprint),
    })
}

/// rust-bert's network on libtorch, on the first GPU libtorch sees, else the CPU; and its
/// fingerprint for the manifest.
#[cfg(feature = "rust-bert")]
fn load_rust_bert(settings: &Settings) -> anyhow::Result<(Box<dyn Engine>, String)> {
    use crate::engine::rust_bert::{self, RustBertEngine};
    let resolved = models::resolve(&settings.model).map_err(|e| UsageError(e.into()))?;
    if let Some(threads) = settings.threads {
        rust_bert::set_threads(threads);
    }
    let engine = RustBertEngine::load_on_device(
        &resolved.dir,
        &settings.engine_settings,
        rust_bert::default_device(),
    )
    .with_context(|| format!("could not load the model in {}", resolved.dir.display()))?;
    let dir = resolved.dir.canonicalize().unwrap_or(resolved.dir);
    Ok((Box::new(engine), format!("rust-bert:{}", dir.display())))
}

/// Without the feature, said before anything else (a missing model would only be the next
/// problem).
#[cfg(not(feature = "rust-bert"))]
fn load_rust_bert(_settings: &Settings) -> anyhow::Result<(Box<dyn Engine>, String)> {
    Err(UsageError::new(
        "this de2en was built without the rust-bert engine; build it with \
         `scripts/with-libtorch.sh cargo build --release --features rust-bert` \
         (see docs/rust-bert.md), or use the default engine (--engine marian)",
    )
    .into())
}

/// Test hook (`--debug-engine-delay-ms`): makes every engine call slow enough to interrupt.
struct SlowEngine {
    inner: Box<dyn Engine>,
    delay: Duration,
}

impl Engine for SlowEngine {
    fn translate(&self, sentences: &[&str]) -> Result<Vec<Translation>, EngineError> {
        std::thread::sleep(self.delay);
        self.inner.translate(sentences)
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        self.inner.source_token_count(sentence)
    }
    fn max_source_tokens(&self) -> usize {
        self.inner.max_source_tokens()
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
    doc: Option<PreparedDocument>,
    /// The unique-sentence id of each model input, in document order.
    ids: Vec<usize>,
    remaining: usize,
    source_sha256: String,
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
    settings: &'a Settings,
    engine: &'a dyn Engine,
    stop: &'a AtomicBool,
    manifest: Option<Manifest>,
    temp_prefix: String,
    fingerprint: String,
    reporter: Reporter,
    translated: u64,
    skipped: u64,
    failed: u64,
    /// Sentences seen in more than one file, across windows.
    cache: HashMap<String, Translation>,
    last_save: Instant,
}

impl Pipeline<'_> {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Runs every job; `Ok(true)` when the run was interrupted.
    fn execute(&mut self, jobs: Vec<Job>) -> anyhow::Result<bool> {
        let mut jobs = jobs.into_iter().peekable();
        while jobs.peek().is_some() {
            let mut window = Window::default();
            while window.pending.is_empty()
                || (window.sentences < self.settings.window
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
            self.remember_repeats(&window);
        }
        Ok(self.stopped())
    }

    /// Reads one job into the window, or finishes it at once (skipped, failed, nothing to
    /// translate, everything cached).
    fn admit(&mut self, job: Job, window: &mut Window) -> anyhow::Result<()> {
        let path = match &job.source {
            Source::File(path) => Some(path.as_path()),
            Source::Stdin => None,
        };
        let bytes = match input::read_bytes(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.fail(&error_chain(&error));
                return Ok(());
            }
        };
        let source_sha256 = output::sha256_hex(&bytes);
        if let (Some(manifest), Some(input), Destination::File(out)) =
            (&self.manifest, path, &job.destination)
            && !self.settings.force
            && manifest.is_fresh(out, input, &source_sha256, &self.fingerprint)
        {
            self.skipped += 1;
            self.reporter.file_done();
            return Ok(());
        }
        let decoded = match input::decode(&bytes, path.unwrap_or(Path::new("<stdin>"))) {
            Ok(decoded) => decoded,
            Err(error) => {
                self.fail(&error_chain(&error));
                return Ok(());
            }
        };
        drop(bytes);
        let options = PrepareOptions {
            format: document_format(self.settings.input_format, path),
            quotes: self.settings.quotes,
        };
        let doc = document::prepare(&decoded.text, &options, self.engine);
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
                            window.results.push(self.cache.get(sentence).cloned());
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
        let mut pending = Pending {
            job,
            doc: Some(doc),
            ids,
            remaining,
            source_sha256,
        };
        if remaining == 0 {
            self.finish_file(&mut pending, &window.results)?;
        } else {
            window.pending.push(pending);
        }
        Ok(())
    }

    /// Sends the window's untranslated sentences to the engine; `Ok(true)` when stopped.
    fn translate_window(&mut self, window: &mut Window) -> anyhow::Result<bool> {
        let mut todo: Vec<usize> = (0..window.uniques.len())
            .filter(|&id| window.results[id].is_none())
            .collect();
        // Longest first, as CTranslate2's rebatching does: each chunk is then of one length
        // class, so the engine's batches carry little padding.
        todo.sort_by_key(|&id| Reverse(window.uniques[id].len()));
        let budget = self
            .settings
            .engine_settings
            .batch_tokens
            .saturating_mul(2)
            .max(1);
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
            let translations = self
                .engine
                .translate(&texts)
                .context("the engine failed; files still waiting for it were not written")?;
            if translations.len() != texts.len() {
                anyhow::bail!(
                    "the engine returned {} translations for {} sentences",
                    translations.len(),
                    texts.len()
                );
            }
            let mut ready = Vec::new();
            for (&id, translation) in chunk.iter().zip(translations) {
                window.results[id] = Some(translation);
                for &slot in &window.waiting[id] {
                    let pending = &mut window.pending[slot];
                    pending.remaining -= 1;
                    if pending.remaining == 0 {
                        ready.push(slot);
                    }
                }
            }
            self.reporter.engine_sentences += chunk.len() as u64;
            self.reporter.update();
            for slot in ready {
                self.finish_file(&mut window.pending[slot], &window.results)?;
            }
            if self.last_save.elapsed() >= MANIFEST_SAVE_EVERY {
                self.save_manifest();
            }
        }
        Ok(false)
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
    ) -> anyhow::Result<()> {
        let Some(doc) = pending.doc.take() else {
            return Ok(());
        };
        let translations: Vec<Translation> = pending
            .ids
            .iter()
            .filter_map(|&id| results.get(id).cloned().flatten())
            .collect();
        if translations.len() != pending.ids.len() {
            self.fail(&format!(
                "{}: internal error: a translation went missing; file not written",
                pending.job.display_source()
            ));
            return Ok(());
        }
        let sentences = translations.len() as u64;
        let translated = doc.finish(&translations);
        let bytes = match render(&translated, self.settings.output_format) {
            Ok(bytes) => bytes,
            Err(e) => {
                self.fail(&format!("{}: {e}", pending.job.display_source()));
                return Ok(());
            }
        };
        match &pending.job.destination {
            Destination::Stdout => {
                // A closed pipe ends the run (and is reported as success by main).
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&bytes)?;
                stdout.flush()?;
            }
            Destination::File(path) => {
                if let Err(error) = output::write_atomic(path, &bytes, &self.temp_prefix) {
                    self.fail(&error_chain(&error));
                    return Ok(());
                }
                if let Some(manifest) = &mut self.manifest {
                    manifest.record(
                        path,
                        ManifestEntry {
                            source: pending.job.key.clone(),
                            source_sha256: pending.source_sha256.clone(),
                            settings: self.fingerprint.clone(),
                            output_bytes: bytes.len() as u64,
                        },
                    );
                }
            }
        }
        self.translated += 1;
        self.reporter.sentences += sentences;
        self.reporter.file_done();
        Ok(())
    }

    fn fail(&mut self, message: &str) {
        self.failed += 1;
        self.reporter.message(&format!("de2en: {message}"));
        self.reporter.file_done();
    }

    fn save_manifest(&mut self) {
        if let Some(manifest) = &mut self.manifest
            && let Err(error) = manifest.save(&self.temp_prefix)
        {
            // Only resumability suffers: those files are translated again next time.
            self.reporter
                .message(&format!("de2en: warning: {}", error_chain(&error)));
        }
        self.last_save = Instant::now();
    }

    fn summary(&self, interrupted: bool, other_shards: usize) {
        let seconds = self.reporter.elapsed().as_secs_f64();
        let mut line = format!(
            "de2en: {} translated, {} skipped (up to date), {} failed; {} sentences ({} sent to the model) in {:.1} s, {:.0} sentences/s",
            self.translated,
            self.skipped,
            self.failed,
            self.reporter.sentences,
            self.reporter.engine_sentences,
            seconds,
            self.reporter.sentences as f64 / seconds.max(1e-3),
        );
        if other_shards > 0 {
            line.push_str(&format!("; {other_shards} files belong to other shards"));
        }
        self.reporter.message(&line);
        if interrupted {
            self.reporter.message(
                "de2en: interrupted; every file written is complete. Run the same command again to continue.",
            );
        }
    }
}

/// The bytes of one output.
fn render(
    translated: &TranslatedDocument,
    format: OutputFormat,
) -> Result<Vec<u8>, serde_json::Error> {
    Ok(match format {
        OutputFormat::Text => translated.target.clone().into_bytes(),
        OutputFormat::Json => {
            let mut bytes = serde_json::to_vec_pretty(translated)?;
            bytes.push(b'\n');
            bytes
        }
    })
}

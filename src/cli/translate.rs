//! `de2en translate`: settings → engine → the pipeline → exit status.
//!
//! The run over the files is the library's (`crate::pipeline`); what is left here is what only a
//! command line has: the process-wide thread pool, the Ctrl-C/SIGTERM handler that sets the stop
//! flag, choosing and loading the engine from the flags, the settings fingerprint for the
//! manifest (`super::fingerprint`), the progress bar behind the pipeline's progress sink, the
//! translation memory's context (everything that decides a sentence's translation), and the
//! summary line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::fingerprint::Fingerprints;
use super::progress::Reporter;
use super::{
    EngineKind, OutputFormat, Settings, Status, UsageError, document_format, forced_format,
};
use crate::engine::identity::IdentityEngine;
use crate::engine::marian::MarianEngine;
use crate::engine::settings::Precision;
use crate::engine::{DecodeOverride, Engine, EngineError, Translation};
use crate::glossary::Glossary;
use crate::guard::{GuardConfig, GuardMode, Guarded};
use crate::memory::{self, TranslationMemory};
use crate::models;
use crate::pipeline::{self, Progress, Summary};
use crate::walk;

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
    if settings.verbose {
        for skipped in &plan.not_regular {
            eprintln!(
                "de2en: skipped {}: {} (not a regular file)",
                skipped.path.display(),
                skipped.kind
            );
        }
    }
    refuse_package_on_stdout(&plan, &settings)?;
    // A bad glossary is a usage error, found before the model is loaded.
    let glossary = if settings.glossary.is_empty() {
        None
    } else {
        let glossary = Glossary::load(&settings.glossary).map_err(|e| UsageError(e.into()))?;
        Some(Arc::new(glossary))
    };
    let (engine, model_fingerprint) = build_engine(&settings)?;
    let options = pipeline::Options {
        window: settings.window,
        force: settings.force,
        input_format: forced_format(settings.input_format),
        output_format: settings.output_format,
        quotes: settings.quotes,
        batch_tokens: settings.engine_settings.batch_tokens,
        fingerprint: Fingerprints::new(
            &settings,
            &model_fingerprint,
            glossary.as_ref().map(|g| g.fingerprint()).as_deref(),
        )
        .into(),
        shard: settings.shard,
        glossary: glossary.clone(),
    };

    let guarded;
    let engine: &dyn Engine = if settings.guard.mode == GuardMode::Off {
        engine.as_ref()
    } else {
        guarded = Guarded::new(engine.as_ref(), settings.guard.clone());
        &guarded
    };

    let planned_bytes = plan.jobs.iter().map(|job| job.source_bytes).sum();
    let mut reporter = Reporter::new(plan.jobs.len() as u64, planned_bytes, settings.quiet);
    let mut memory = open_memory(&settings, &mut reporter);
    let outcome = pipeline::run_with_memory(
        plan,
        engine,
        &options,
        memory.as_mut(),
        &mut reporter,
        &stop,
    );
    reporter.finish();
    let summary = match &outcome {
        Ok(summary) => summary,
        Err(aborted) => &aborted.summary,
    };
    if !settings.quiet {
        print_summary(
            &reporter,
            summary,
            settings.guard.mode,
            glossary.is_some(),
            settings.memory.is_some(),
        );
    }
    match outcome {
        Err(aborted) => Err(aborted.error.into()),
        Ok(summary) if summary.interrupted => Ok(Status::Interrupted),
        Ok(summary) if summary.failed > 0 => Ok(Status::SomeFailed),
        Ok(_) => Ok(Status::Success),
    }
}

/// The guard's part of the memory's context: its mode and thresholds change translations.
fn guard_context(guard: &GuardConfig) -> String {
    match guard.mode {
        GuardMode::Off => String::new(),
        mode => format!(
            "; guard={mode:?}; min_score={}; ratio={:?}; retry={:?}",
            guard.min_mean_logprob, guard.length_ratio, guard.retry
        ),
    }
}

/// The translation memory for this run, or `None` (with one warning when it was asked for but
/// cannot be used: the run goes on without it).
fn open_memory(settings: &Settings, reporter: &mut Reporter) -> Option<TranslationMemory> {
    let memory_settings = settings.memory.as_ref()?;
    let Some(path) = &memory_settings.path else {
        reporter.message(
            "warning: no cache folder (neither XDG_CACHE_HOME nor HOME is set); going on \
             without the translation memory (give --memory PATH or --cache-dir DIR)",
        );
        return None;
    };
    let opened =
        memory_context(settings, memory_settings.cache_dir.as_deref()).and_then(|context| {
            TranslationMemory::open(path, &context, memory_settings.max_bytes)
                .map_err(anyhow::Error::from)
        });
    match opened {
        Ok(memory) => Some(memory),
        Err(error) => {
            let error: &(dyn std::error::Error + 'static) = error.as_ref();
            reporter.message(&format!(
                "warning: {}; going on without the translation memory",
                memory::describe(error)
            ));
            None
        }
    }
}

/// The part of the memory's key that every sentence of this run shares: de2en's version (a
/// new version may decode differently), the engine, the model's content hash, and every
/// setting that changes a translation the engine returns. Not in it: the quote style and the
/// input format, which change what the model sees (that text is the key's other part) but not
/// what it does with it — except that a file of lines has no word alignment.
fn memory_context(
    settings: &Settings,
    cache_dir: Option<&std::path::Path>,
) -> anyhow::Result<String> {
    let engine = match (settings.engine, settings.engine_settings.precision) {
        (EngineKind::Identity, _) => "identity",
        (EngineKind::Marian, Precision::F32) => "marian",
        (EngineKind::Marian, Precision::Int8) => "marian-int8",
        (EngineKind::RustBert, _) => "rust-bert",
    };
    let model = match settings.engine {
        EngineKind::Identity => "none".to_owned(),
        EngineKind::Marian | EngineKind::RustBert => {
            let resolved = models::resolve(&settings.model)?;
            memory::model_content_hash(&resolved.dir, cache_dir)?
        }
    };
    let engine_settings = &settings.engine_settings;
    Ok(format!(
        "de2en {}; engine={engine}; model={model}; beam={:?}; max={:?}; min={:?}; alignment={}",
        env!("CARGO_PKG_VERSION"),
        engine_settings.beam_size,
        engine_settings.max_new_tokens,
        engine_settings.min_new_tokens,
        engine_settings.alignment,
    ) + &guard_context(&settings.guard))
}

/// The one-line summary that ends every run (and the hint after an interruption). Scripts read
/// it: the entries not regular files are a clause of their own after "N failed", only when there
/// are any, so that the line of every run without them stays as it was. With the translation
/// memory the sentence clause also says how many unique sentences it answered.
fn print_summary(
    reporter: &Reporter,
    summary: &Summary,
    guard: GuardMode,
    glossary: bool,
    memory: bool,
) {
    let seconds = reporter.elapsed().as_secs_f64();
    let not_regular = match summary.not_regular {
        0 => String::new(),
        1 => ", 1 not regular file (skipped)".to_owned(),
        n => format!(", {n} not regular files (skipped)"),
    };
    let from_memory = if memory {
        format!("{} from memory, ", summary.memory_sentences)
    } else {
        String::new()
    };
    let mut line = format!(
        "de2en: {} translated, {} skipped (up to date), {} failed{not_regular}; {} sentences ({from_memory}{} sent to the model) in {:.1} s, {:.0} sentences/s",
        summary.translated,
        summary.skipped,
        summary.failed,
        summary.sentences,
        summary.engine_sentences,
        seconds,
        summary.sentences as f64 / seconds.max(1e-3),
    );
    if glossary {
        line.push_str(&format!(", {} glossary terms", summary.glossary_terms));
    }
    if guard != GuardMode::Off {
        line.push_str(&format!(
            "; {} sentences retried, {} still flagged",
            summary.retried, summary.flagged
        ));
    }
    if summary.other_shards > 0 {
        line.push_str(&format!(
            "; {} files belong to other shards",
            summary.other_shards
        ));
    }
    reporter.line(&line);
    if summary.interrupted {
        reporter.line(
            "de2en: interrupted; every file written is complete. Run the same command again to continue.",
        );
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
            // int8 output differs from f32: outputs made with one are not up to date for the other.
            let kind = match settings.engine_settings.precision {
                Precision::F32 => "marian",
                Precision::Int8 => "marian-int8",
            };
            (Box::new(engine), format!("{kind}:{}", dir.display()))
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
    fn translate_with(
        &self,
        sentences: &[&str],
        decode: &DecodeOverride,
    ) -> Result<Vec<Translation>, EngineError> {
        std::thread::sleep(self.delay);
        self.inner.translate_with(sentences, decode)
    }
    fn source_token_count(&self, sentence: &str) -> usize {
        self.inner.source_token_count(sentence)
    }
    fn max_source_tokens(&self) -> usize {
        self.inner.max_source_tokens()
    }
}

/// A package (an EPUB, an office document) is a zip file: written to a terminal or a pipe it is
/// of no use, so a single such input needs `-o FILE` (JSON and review pages are text and may go
/// to standard output).
fn refuse_package_on_stdout(plan: &walk::Plan, settings: &Settings) -> anyhow::Result<()> {
    if settings.output_format != OutputFormat::Text {
        return Ok(());
    }
    for job in &plan.jobs {
        let walk::Source::File(path) = &job.source else {
            continue;
        };
        let format = document_format(settings.input_format, Some(path));
        if let (walk::Destination::Stdout, Some(kind)) = (&job.destination, format.package_kind()) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let english = walk::english_name(&name);
            let suggestion = match name.rsplit_once('.') {
                _ if english != name => english,
                Some((stem, extension)) => format!("{stem}.en.{extension}"),
                None => format!("{name}.en"),
            };
            return Err(UsageError(anyhow::anyhow!(
                "{}: {kind} files are zip packages and cannot be written to standard output; \
                 name the output file with -o, e.g. -o {suggestion}",
                path.display(),
            ))
            .into());
        }
    }
    Ok(())
}

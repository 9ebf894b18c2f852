//! The command line: clap definitions (their doc comments are the help text), validation into
//! `Settings`, and the exit-code policy.
//!
//! Exit codes: 0 when everything asked for was done (files skipped as up to date count as done),
//! 1 when some file failed (the others were still translated) or the model could not be loaded,
//! 2 for usage errors (bad flags, impossible input/output combinations, a model that is not there),
//! 130 when Ctrl-C or SIGTERM stopped the run. A closed stdout (`de2en … | head`) is not an error.

mod fingerprint;
mod memory;
mod models;
mod progress;
mod segment;
mod translate;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::document::{Format, QuoteStyle};
use crate::engine::settings::{EngineSettings, Precision};
use crate::guard::{GuardConfig, GuardMode};
use crate::models::DEFAULT_MODEL;
pub use crate::pipeline::OutputFormat;
use crate::walk::{PlanOptions, Shard};

const AFTER_HELP: &str = "\
Exit codes: 0 done; 1 some files failed (the rest was translated) or the model could not be \
loaded; 2 usage error or model not found; 130 interrupted (Ctrl-C, SIGTERM).

Examples:
  de2en translate artikel.de.md                  # translated article to stdout
  echo 'Guten Morgen.' | de2en translate         # stdin to stdout
  de2en translate archiv/ -o archiv-en/          # a whole tree, mirrored
  de2en translate --format review archiv/ -o review/   # side-by-side review pages + index.html
  de2en translate --glossary agentur.tsv archiv/ -o archiv-en/   # terms always one way
  de2en models fetch                             # download the default model once
  de2en memory stats                             # the translation memory: file, size, entries";

/// Translate German news articles into English on your own machine.
#[derive(Debug, Parser)]
#[command(name = "de2en", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Translate files, folders or standard input into English.
    ///
    /// One input goes to standard output or `-o FILE`; folders and several inputs need `-o DIR`,
    /// where the tree is mirrored (`artikel.de.md` becomes `artikel.en.md`). Sentences of all files
    /// share the model's batches. Outputs are written atomically; a re-run skips outputs that are
    /// up to date, so an interrupted run simply continues.
    Translate(TranslateArgs),
    /// Show how de2en splits a text into sentences (no model needed).
    ///
    /// Prints one sentence per line with a blank line between blocks, or JSON with blocks,
    /// sentences and their byte spans in the input.
    Segment(SegmentArgs),
    /// Download and list models in the Hugging Face cache.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Look into, empty, export or import the translation memory.
    ///
    /// `translate` keeps every sentence's translation in an SQLite file (by default
    /// memory.sqlite3 in the cache folder) and answers sentences it has seen before from it.
    #[command(subcommand)]
    Memory(MemoryCommand),
}

/// How to read the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// By extension: .md and .markdown are Markdown, .html, .htm and .xhtml HTML, .docx Word, .odt OpenDocument, .epub EPUB,
    /// everything else (and stdin) plain text.
    Auto,
    /// Plain text: paragraphs split by blank lines, line breaks kept.
    Text,
    /// CommonMark with tables; code and link targets never reach the model.
    Markdown,
    /// One sentence per line, output line-aligned (an empty line gives an empty line).
    Lines,
    /// An HTML page: text and some attributes translated, tags, scripts and styles kept byte for
    /// byte; the output is UTF-8.
    Html,
    /// A Word document (.docx): body, tables, headers, footers, notes and title translated,
    /// formatting kept; needs -o FILE for a single document.
    Docx,
    /// An OpenDocument text (.odt): body, tables, notes, headers, footers and title translated,
    /// formatting kept; needs -o FILE for a single document.
    Odt,
    /// An EPUB book (.epub): XHTML documents, title and tables of contents translated; needs
    /// -o FILE for a single book.
    Epub,
}

/// Which engine translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineKind {
    /// The Marian (opus-mt) transformer from --model.
    Marian,
    /// The same Marian model on rust-bert and libtorch (a GPU when libtorch sees one). Needs a
    /// de2en built with `--features rust-bert`; see docs/rust-bert.md.
    RustBert,
    /// No model: every sentence comes back unchanged. For checking segmentation, structure and
    /// file handling; the output equals the input (quotes aside).
    Identity,
}

fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Files, folders (walked recursively; hidden files skipped) or `-` for standard input
    /// (the default).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Output file (one input), or output folder (folders, several inputs). Default: standard
    /// output. Inputs are never overwritten; earlier outputs are replaced.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,

    /// How to read the input.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto, value_name = "FORMAT")]
    pub input_format: InputFormat,

    /// What to write.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, value_name = "FORMAT")]
    pub format: OutputFormat,

    /// Quotation marks in the output.
    #[arg(long, value_enum, default_value_t = QuoteStyle::English, value_name = "STYLE")]
    pub quotes: QuoteStyle,

    /// Model folder, or Hugging Face repo id looked up in the local Hugging Face cache
    /// (fetch it with `de2en models fetch`).
    #[arg(long, env = "DE2EN_MODEL", default_value = DEFAULT_MODEL, value_name = "DIR|REPO_ID")]
    pub model: String,

    /// Translation engine.
    #[arg(long, value_enum, default_value_t = EngineKind::Marian, value_name = "ENGINE")]
    pub engine: EngineKind,

    /// Arithmetic of the dense layers (--engine marian): f32 is exact, int8 is faster.
    #[arg(long, value_enum, default_value_t = Precision::F32, value_name = "PRECISION")]
    pub precision: Precision,

    /// Where de2en keeps legacy (pre-2020 zip-less) PyTorch checkpoints converted to
    /// safetensors, so that only the first run parses them, the translation memory and the
    /// model files' hashes. Default: $XDG_CACHE_HOME/de2en or ~/.cache/de2en.
    #[arg(long, env = "DE2EN_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,

    /// The translation memory: an SQLite file of sentence translations, asked before the model
    /// and told every new translation. Default: memory.sqlite3 in the cache folder. On a
    /// cluster, point it at node-local disk (SQLite over NFS is not safe).
    #[arg(long, value_name = "PATH", conflicts_with = "no_memory")]
    pub memory: Option<PathBuf>,

    /// Neither look up nor store translations in the translation memory.
    #[arg(long)]
    pub no_memory: bool,

    /// Largest size of the translation memory, in bytes or with K, M or G (powers of 1024); the
    /// least recently used translations are dropped beyond it.
    #[arg(long, value_parser = crate::memory::parse_size, default_value = "2G", value_name = "SIZE")]
    pub memory_max_size: u64,

    /// Beam size (1 = greedy). Default: the model's generation config.
    #[arg(long, value_parser = positive, value_name = "N")]
    pub beam_size: Option<usize>,

    /// At most N new tokens per sentence, end-of-sentence included. Default: the model's
    /// generation config.
    #[arg(long, value_parser = positive, value_name = "N")]
    pub max_length: Option<usize>,

    /// No end-of-sentence before N new tokens (for benchmarks).
    #[arg(long, value_name = "N")]
    pub min_length: Option<usize>,

    /// Output guard: catch loops, runaway or truncated output, lost numbers and names, very
    /// unlikely translations; `retry` decodes those again with a stronger search.
    #[arg(long, value_enum, default_value_t = GuardMode::Retry, value_name = "MODE")]
    pub guard: GuardMode,

    /// The output guard's `low-score` threshold: mean log-probability per generated token.
    #[arg(long, default_value_t = GuardConfig::default().min_mean_logprob, value_name = "LOGPROB", allow_negative_numbers = true)]
    pub guard_min_score: f32,

    /// Padded source tokens per batch: larger is faster up to a point and uses more memory.
    #[arg(long, value_parser = positive, default_value_t = EngineSettings::default().batch_tokens, value_name = "N")]
    pub batch_tokens: usize,

    /// Worker threads for the model. Default: all cores (or RAYON_NUM_THREADS).
    #[arg(long, value_parser = positive, value_name = "N")]
    pub threads: Option<usize>,

    /// Sentences collected from several files before they go to the model together (identical
    /// sentences are translated once). Bounds memory on large trees; 0 = one file at a time.
    #[arg(long, default_value_t = 4096, value_name = "N")]
    pub window: usize,

    /// Glossary: a UTF-8 TSV file of `German<TAB>English` lines (`German<TAB>` keeps the German
    /// as it is; `#` comments). Every occurrence of a term, inflected too, becomes the English
    /// exactly as spelled. Repeat the flag for several files. See README "Glossary".
    #[arg(long, value_name = "FILE")]
    pub glossary: Vec<PathBuf>,

    /// Translate again even when an output is up to date.
    #[arg(long)]
    pub force: bool,

    /// Take only shard K of N (0-based) of the input files, chosen by a stable hash of each
    /// file's relative path: N workers split a corpus without coordination.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,

    /// No progress bar and no summary; errors are still reported.
    #[arg(short, long)]
    pub quiet: bool,

    /// Name on stderr each entry of an input folder that is skipped because it is not a regular
    /// file: FIFO, socket, device, dangling link, symlink loop, link to a folder (the summary
    /// counts them either way).
    #[arg(short, long)]
    pub verbose: bool,

    /// Test hook: sleep this long in every engine call, so tests can interrupt a run.
    #[arg(long, hide = true, value_name = "MS")]
    pub debug_engine_delay_ms: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SegmentArgs {
    /// The text to split, or `-` for standard input (the default).
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Output: one sentence per line, or JSON with byte spans.
    #[arg(long, value_enum, default_value_t = SegmentFormat::Lines, value_name = "FORMAT")]
    pub format: SegmentFormat,

    /// How to read the input.
    #[arg(long, value_enum, default_value_t = InputFormat::Auto, value_name = "FORMAT")]
    pub input_format: InputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SegmentFormat {
    /// One sentence per line, a blank line between blocks.
    Lines,
    /// `{"blocks": [{"span": [s, e], "sentences": [{"text": …, "span": [s, e]}]}]}`.
    Json,
}

/// Where the translation memory is, for `de2en memory …`.
#[derive(Debug, Args)]
pub struct MemoryLocation {
    /// The memory file. Default: memory.sqlite3 in the cache folder.
    #[arg(long, value_name = "PATH")]
    pub memory: Option<PathBuf>,

    /// de2en's cache folder. Default: $XDG_CACHE_HOME/de2en or ~/.cache/de2en.
    #[arg(long, env = "DE2EN_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// Where the memory is, its size, entries, and what they were made with.
    Stats {
        #[command(flatten)]
        location: MemoryLocation,
    },
    /// Remove every entry (a file too damaged to open is deleted).
    Clear {
        #[command(flatten)]
        location: MemoryLocation,
    },
    /// Write every entry to standard output or FILE: JSON lines that `import` reads back
    /// (everything an entry holds), or TSV (German, English, score) for people.
    Export {
        #[command(flatten)]
        location: MemoryLocation,
        /// jsonl: lossless, for `import`; tsv: German, English and score, tab-separated, with
        /// backslash escapes for tabs, line breaks and backslashes.
        #[arg(long, value_enum, default_value_t = MemoryExportFormat::Jsonl, value_name = "FORMAT")]
        format: MemoryExportFormat,
        /// Write here instead of standard output (written atomically).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Add the entries of a JSON-lines export (`-` for standard input); entries already in the
    /// memory are replaced. A bad line imports nothing.
    Import {
        #[command(flatten)]
        location: MemoryLocation,
        /// The export to read.
        #[arg(value_name = "FILE")]
        input: PathBuf,
        /// Largest size of the memory after the import (K, M, G suffixes).
        #[arg(long, value_parser = crate::memory::parse_size, default_value = "2G", value_name = "SIZE")]
        memory_max_size: u64,
    },
}

/// `de2en memory export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MemoryExportFormat {
    /// JSON lines, one entry each, with everything it holds (for `de2en memory import`).
    Jsonl,
    /// `german<TAB>english<TAB>score` with a header line, for people and spreadsheets.
    Tsv,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download a model's files into the Hugging Face cache (from $HF_ENDPOINT, default
    /// https://huggingface.co; $HF_TOKEN for gated models). Verified, and placed atomically.
    Fetch {
        /// Hub repo id.
        #[arg(default_value = DEFAULT_MODEL, value_name = "REPO_ID")]
        repo: String,
        /// Branch, tag or commit.
        #[arg(long, default_value = "main")]
        revision: String,
        /// Download again even if the model is cached.
        #[arg(long)]
        force: bool,
        /// Also copy the model's files into DIR, a plain folder for `--model DIR` (e.g. on shared
        /// storage for cluster nodes without internet). Printed instead of the snapshot folder.
        #[arg(long, value_name = "DIR")]
        to: Option<std::path::PathBuf>,
        /// No progress bars.
        #[arg(short, long)]
        quiet: bool,
    },
    /// List the models in the Hugging Face cache and whether de2en can use them.
    List,
}

/// An error in how de2en was called: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsageError(#[from] pub anyhow::Error);

impl UsageError {
    pub fn new(message: impl std::fmt::Display) -> Self {
        UsageError(anyhow::anyhow!("{message}"))
    }
}

/// How a run ended, short of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    /// Some files failed; the others were done.
    SomeFailed,
    Interrupted,
}

impl From<Status> for std::process::ExitCode {
    fn from(status: Status) -> Self {
        match status {
            Status::Success => std::process::ExitCode::SUCCESS,
            Status::SomeFailed => std::process::ExitCode::from(1),
            Status::Interrupted => std::process::ExitCode::from(130),
        }
    }
}

/// Validated settings of `de2en translate`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub plan: PlanOptions,
    pub input_format: InputFormat,
    pub output_format: OutputFormat,
    pub quotes: QuoteStyle,
    pub engine: EngineKind,
    pub model: String,
    pub engine_settings: EngineSettings,
    pub guard: GuardConfig,
    pub threads: Option<usize>,
    pub window: usize,
    pub force: bool,
    pub shard: Option<Shard>,
    pub quiet: bool,
    pub verbose: bool,
    pub debug_engine_delay_ms: Option<u64>,
    /// Glossary files, read when the run starts.
    pub glossary: Vec<PathBuf>,
    /// The translation memory; `None` with `--no-memory`.
    pub memory: Option<MemorySettings>,
}

/// Where the translation memory is and how large it may grow.
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// `None` when no cache folder is known (no HOME) and `--memory` was not given.
    pub path: Option<PathBuf>,
    pub max_bytes: u64,
    /// de2en's cache folder, where the model files' hashes are remembered.
    pub cache_dir: Option<PathBuf>,
}

impl TranslateArgs {
    /// Checks what clap cannot check alone.
    pub fn into_settings(self) -> Result<Settings, UsageError> {
        if let (Some(min), Some(max)) = (self.min_length, self.max_length)
            && min > max
        {
            return Err(UsageError::new(format!(
                "--min-length {min} is larger than --max-length {max}"
            )));
        }
        if !self.guard_min_score.is_finite() || self.guard_min_score > 0.0 {
            return Err(UsageError::new(format!(
                "--guard-min-score {} is not a log-probability (a number ≤ 0, e.g. -3)",
                self.guard_min_score
            )));
        }
        if self.precision == Precision::Int8 && self.engine != EngineKind::Marian {
            return Err(UsageError::new(
                "--precision int8 is a setting of the marian engine; use --engine marian"
                    .to_owned(),
            ));
        }
        let cache_dir = self.cache_dir.or_else(crate::models::de2en_cache_dir);
        let memory = (!self.no_memory).then(|| MemorySettings {
            path: self.memory.or_else(|| {
                cache_dir
                    .as_ref()
                    .map(|dir| dir.join(crate::memory::DEFAULT_FILE_NAME))
            }),
            max_bytes: self.memory_max_size,
            cache_dir: cache_dir.clone(),
        });
        Ok(Settings {
            plan: PlanOptions {
                inputs: self.inputs,
                output: self.output,
                output_suffix: match self.format {
                    OutputFormat::Text => None,
                    OutputFormat::Json => Some(".json"),
                    OutputFormat::Review => Some(crate::review::PAGE_SUFFIX),
                },
                shard: self.shard,
            },
            input_format: self.input_format,
            output_format: self.format,
            quotes: self.quotes,
            engine: self.engine,
            model: self.model,
            engine_settings: EngineSettings {
                beam_size: self.beam_size,
                max_new_tokens: self.max_length,
                min_new_tokens: self.min_length,
                batch_tokens: self.batch_tokens,
                // Word alignment places Markdown emphasis and links on the translated words; a
                // file of bare sentences has no markup to place.
                alignment: self.input_format != InputFormat::Lines,
                precision: self.precision,
                checkpoint_cache: cache_dir.as_ref().map(|dir| dir.join("checkpoints")),
            },
            guard: GuardConfig {
                mode: self.guard,
                min_mean_logprob: self.guard_min_score,
                ..GuardConfig::default()
            },
            threads: self.threads,
            window: self.window,
            force: self.force,
            shard: self.shard,
            quiet: self.quiet,
            verbose: self.verbose,
            debug_engine_delay_ms: self.debug_engine_delay_ms,
            glossary: self.glossary,
            memory,
        })
    }
}

/// The document format for a file, by `--input-format` or its extension.
pub fn document_format(choice: InputFormat, path: Option<&std::path::Path>) -> Format {
    forced_format(choice).unwrap_or_else(|| Format::for_path(path))
}

/// The format `--input-format` imposes on every file; `None` for `auto` (by extension).
pub fn forced_format(choice: InputFormat) -> Option<Format> {
    match choice {
        InputFormat::Auto => None,
        InputFormat::Text => Some(Format::Text),
        InputFormat::Markdown => Some(Format::Markdown),
        InputFormat::Lines => Some(Format::Lines),
        InputFormat::Html => Some(Format::Html),
        InputFormat::Docx => Some(Format::Docx),
        InputFormat::Odt => Some(Format::Odt),
        InputFormat::Epub => Some(Format::Epub),
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    // Before any thread exists: where the umask cannot be read from /proc it is read by setting
    // it and setting it back, which must not race with a thread creating a file.
    #[cfg(unix)]
    crate::durable::umask();
    match cli.command {
        Command::Translate(args) => {
            let settings = args.into_settings()?;
            translate::run(settings)
        }
        Command::Segment(args) => segment::run(args),
        Command::Models(command) => models::run(command),
        Command::Memory(command) => memory::run(command),
    }
}

/// Prints `error` on stderr and picks the exit code; a closed stdout counts as success.
pub fn report_error(error: &anyhow::Error) -> std::process::ExitCode {
    let broken_pipe = error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return std::process::ExitCode::SUCCESS;
    }
    eprintln!("de2en: error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    let usage = error.chain().any(|cause| cause.is::<UsageError>());
    std::process::ExitCode::from(if usage { 2 } else { 1 })
}

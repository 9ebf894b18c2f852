//! `de2en memory stats|clear|export|import`: the translation memory from the shell.
//!
//! Moving a memory between machines (seeding the nodes of a cluster, whose memories live on
//! node-local disk) is an export and an import; `clear` starts afresh, also from a file too
//! damaged to open.

use std::io::{BufReader, Write};
use std::path::PathBuf;

use anyhow::Context;

use super::{MemoryCommand, MemoryExportFormat, MemoryLocation, Status, UsageError};
use crate::memory::{self, ExportFormat, MemoryError, TranslationMemory};

/// The context the subcommands open the memory with: they add no translations of their own.
const NO_CONTEXT: &str = "";

pub fn run(command: MemoryCommand) -> anyhow::Result<Status> {
    match command {
        MemoryCommand::Stats { location } => stats(&path(&location)?),
        MemoryCommand::Clear { location } => clear(&path(&location)?),
        MemoryCommand::Export {
            location,
            format,
            output,
        } => export(&path(&location)?, format, output),
        MemoryCommand::Import {
            location,
            input,
            memory_max_size,
        } => import(&path(&location)?, &input, memory_max_size),
    }
}

/// `--memory`, else memory.sqlite3 in the cache folder.
fn path(location: &MemoryLocation) -> anyhow::Result<PathBuf> {
    if let Some(path) = &location.memory {
        return Ok(path.clone());
    }
    location
        .cache_dir
        .clone()
        .or_else(crate::models::de2en_cache_dir)
        .map(|dir| dir.join(memory::DEFAULT_FILE_NAME))
        .ok_or_else(|| {
            UsageError::new(
                "no cache folder (neither XDG_CACHE_HOME nor HOME is set): give --memory PATH \
                 or --cache-dir DIR",
            )
            .into()
        })
}

/// Opens an existing memory; a missing file is an error here (the subcommands only read it,
/// or would create an empty one for nothing).
fn open_existing(path: &std::path::Path, max_bytes: u64) -> anyhow::Result<TranslationMemory> {
    if !path.exists() {
        return Err(UsageError::new(format!(
            "there is no translation memory at {} (`de2en translate` creates it; give \
             --memory PATH for another file)",
            path.display()
        ))
        .into());
    }
    Ok(TranslationMemory::open(path, NO_CONTEXT, max_bytes)?)
}

fn stats(path: &std::path::Path) -> anyhow::Result<Status> {
    let stats = open_existing(path, memory::DEFAULT_MAX_BYTES)?.stats()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "memory: {}", path.display())?;
    writeln!(
        out,
        "file: {} (write-ahead log {}), in use {}",
        megabytes(stats.file_bytes),
        megabytes(stats.wal_bytes),
        megabytes(stats.used_bytes)
    )?;
    writeln!(out, "entries: {}", stats.entries)?;
    if let (Some(oldest), Some(newest)) = (stats.oldest_use, stats.newest_use) {
        writeln!(
            out,
            "last used: oldest {}, newest {} (seconds since 1970)",
            oldest / 1000,
            newest / 1000
        )?;
    }
    writeln!(out, "contexts (entries, then what they were made with):")?;
    for (description, entries) in &stats.contexts {
        writeln!(out, "  {entries:>10}  {description}")?;
    }
    Ok(Status::Success)
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

fn clear(path: &std::path::Path) -> anyhow::Result<Status> {
    if !path.exists() {
        eprintln!(
            "de2en: no translation memory at {}; nothing to clear",
            path.display()
        );
        return Ok(Status::Success);
    }
    match TranslationMemory::open(path, NO_CONTEXT, memory::DEFAULT_MAX_BYTES) {
        Ok(mut memory) => {
            let removed = memory.clear()?;
            eprintln!("de2en: removed {removed} entries from {}", path.display());
        }
        // Damaged beyond opening (random bytes, a truncated header): start afresh. Another
        // program's database or a newer de2en's memory is never deleted.
        Err(MemoryError::Database { .. }) => {
            memory::remove_files(path)
                .with_context(|| format!("could not delete {}", path.display()))?;
            eprintln!(
                "de2en: {} could not be opened as a translation memory; deleted it",
                path.display()
            );
        }
        Err(error) => return Err(error.into()),
    }
    Ok(Status::Success)
}

fn export(
    path: &std::path::Path,
    format: MemoryExportFormat,
    output: Option<PathBuf>,
) -> anyhow::Result<Status> {
    let format = match format {
        MemoryExportFormat::Jsonl => ExportFormat::Jsonl,
        MemoryExportFormat::Tsv => ExportFormat::Tsv,
    };
    let mut memory = open_existing(path, memory::DEFAULT_MAX_BYTES)?;
    let count = match &output {
        None => memory.export(&mut std::io::stdout().lock(), format)?,
        Some(file) => {
            // A temporary file renamed into place: an export that fails leaves no half file.
            let dir = match file.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
                _ => PathBuf::from("."),
            };
            let mut temp = tempfile::NamedTempFile::new_in(&dir)
                .with_context(|| format!("could not write in {}", dir.display()))?;
            let count = {
                let mut writer = std::io::BufWriter::new(temp.as_file_mut());
                memory.export(&mut writer, format)?
            };
            temp.persist(file)
                .with_context(|| format!("could not write {}", file.display()))?;
            count
        }
    };
    eprintln!("de2en: exported {count} entries from {}", path.display());
    Ok(Status::Success)
}

fn import(
    path: &std::path::Path,
    input: &std::path::Path,
    max_bytes: u64,
) -> anyhow::Result<Status> {
    let mut memory = TranslationMemory::open(path, NO_CONTEXT, max_bytes)?;
    let count = if input == std::path::Path::new("-") {
        memory.import(&mut std::io::stdin().lock(), "<stdin>")?
    } else {
        let file = std::fs::File::open(input).map_err(|source| MemoryError::Read {
            path: input.display().to_string(),
            source,
        })?;
        memory.import(&mut BufReader::new(file), &input.display().to_string())?
    };
    eprintln!("de2en: imported {count} entries into {}", path.display());
    Ok(Status::Success)
}

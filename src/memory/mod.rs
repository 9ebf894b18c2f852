//! The translation memory: sentence translations kept across runs in an SQLite file.
//!
//! Archives are translated more than once (corrected articles, a folder that grows every day,
//! boilerplate every page repeats), and the resume manifest only skips files that did not change
//! at all. The memory remembers each sentence's translation as the pipeline received it (the
//! output guard's final answer, with token ids, scores, alignment and flags), so a sentence seen
//! before never reaches the model again and its output is byte-identical to one computed now.
//!
//! A translation is found by its key: the SHA-256 of the *context* (de2en's version, the engine,
//! the model's content hash and every setting that decides the output, as one string a run
//! builds — see `cli::translate`), an *extra* part per segment (the glossary entries that apply
//! to it; empty today) and the exact source segment as the model sees it. The file holds the
//! context strings in a table of their own, so `de2en memory stats` can say what is in it and an
//! export is lossless.
//!
//! Several processes (the shards of one job) share one file: WAL mode lets readers go on while
//! one writer commits, writers wait for each other (busy timeout, then a few retries), and all of
//! a window's inserts go in one transaction. SQLite's journal makes a crash mid-write harmless.
//! The file is bounded: when the used pages exceed the limit, the least recently used entries go.
//!
//! Nothing here may fail a run: the pipeline turns any error into one warning and goes on
//! without the memory, and a stored value that cannot be read back is a miss, never a wrong
//! translation.

mod model_hash;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

use crate::engine::{Translation, TranslationFlag, WordAlignment};
use crate::span::ByteSpan;

pub use model_hash::{ModelHashError, model_content_hash};

/// The memory's file name in de2en's cache folder.
pub const DEFAULT_FILE_NAME: &str = "memory.sqlite3";
/// `--memory-max-size` when not given: 2 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;

/// Marks the SQLite file as de2en's ("de2e"), so another program's database is never touched.
const APPLICATION_ID: i32 = 0x6465_3265;
/// The layout below; a file with a larger one was made by a newer de2en.
const SCHEMA_VERSION: i32 = 1;
/// How long one statement waits for another process's write lock before SQLite gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(20);
/// Retries after SQLite gave up waiting (a shard's long commit, a checkpoint), with a growing
/// pause: shards of one job must not warn in the normal case.
const BUSY_RETRIES: u32 = 6;
/// When over the limit, entries are dropped down to this share of it, so the next windows'
/// inserts do not trigger another round at once.
const LIMIT_TARGET_PERCENT: u64 = 90;

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS contexts (
        id INTEGER PRIMARY KEY,
        description TEXT NOT NULL UNIQUE
    );
    CREATE TABLE IF NOT EXISTS entries (
        key BLOB NOT NULL UNIQUE,
        context INTEGER NOT NULL REFERENCES contexts(id),
        extra TEXT NOT NULL,
        source TEXT NOT NULL,
        translation TEXT NOT NULL,
        last_used INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS entries_last_used ON entries(last_used);
";

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("could not create the folder {path} for the translation memory")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("translation memory {path}")]
    Database {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "{path} is another program's SQLite database, not a de2en translation memory; \
         point --memory at another file"
    )]
    Foreign { path: PathBuf },
    #[error(
        "translation memory {path} was made by a newer de2en (layout {found}); use that \
         version, or start afresh with `de2en memory clear`"
    )]
    Newer { path: PathBuf, found: i32 },
    #[error("could not read {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write the export")]
    Write(#[source] std::io::Error),
    #[error(
        "{path}, line {line}: {problem} (expected a line of `de2en memory export`); nothing \
         was imported"
    )]
    Import {
        path: String,
        line: usize,
        problem: String,
    },
}

/// What `de2en memory export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// JSON lines with everything an entry holds; `import` reads them back.
    Jsonl,
    /// German, English and score, tab-separated, for people (not importable).
    Tsv,
}

/// A translation as the memory stores it (JSON in the `translation` column and in exports):
/// everything `Translation` holds, with the word alignment as flat number quadruples — in the
/// struct's own JSON the alignment is two thirds of an entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct StoredTranslation {
    text: String,
    token_ids: Vec<u32>,
    sum_logprob: f32,
    mean_logprob: f32,
    /// `[source start, source end, target start, target end]` per aligned word pair; absent
    /// when the engine gave no alignment (an empty list is an alignment without pairs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alignment: Option<Vec<[usize; 4]>>,
    #[serde(default)]
    reached_length_limit: bool,
    #[serde(default)]
    flags: Vec<TranslationFlag>,
}

impl From<&Translation> for StoredTranslation {
    fn from(t: &Translation) -> Self {
        StoredTranslation {
            text: t.text.clone(),
            token_ids: t.token_ids.clone(),
            sum_logprob: t.sum_logprob,
            mean_logprob: t.mean_logprob,
            alignment: t.alignment.as_ref().map(|a| {
                a.pairs
                    .iter()
                    .map(|(s, t)| [s.start, s.end, t.start, t.end])
                    .collect()
            }),
            reached_length_limit: t.reached_length_limit,
            flags: t.flags.clone(),
        }
    }
}

impl From<StoredTranslation> for Translation {
    fn from(t: StoredTranslation) -> Self {
        Translation {
            text: t.text,
            token_ids: t.token_ids,
            sum_logprob: t.sum_logprob,
            mean_logprob: t.mean_logprob,
            alignment: t.alignment.map(|pairs| WordAlignment {
                pairs: pairs
                    .into_iter()
                    .map(|[a, b, c, d]| (ByteSpan::new(a, b), ByteSpan::new(c, d)))
                    .collect(),
            }),
            reached_length_limit: t.reached_length_limit,
            flags: t.flags,
        }
    }
}

/// One line of the lossless export.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ExportedEntry {
    context: String,
    extra: String,
    source: String,
    /// Milliseconds since 1970 of the entry's last use, so the LRU order survives a move.
    last_used: i64,
    translation: StoredTranslation,
}

/// What `de2en memory stats` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The database file, and the write-ahead log beside it.
    pub file_bytes: u64,
    pub wal_bytes: u64,
    /// Pages in use (what `--memory-max-size` bounds).
    pub used_bytes: u64,
    pub entries: u64,
    /// Each context's description and its number of entries, most entries first.
    pub contexts: Vec<(String, u64)>,
    /// Milliseconds since 1970: the least and the most recent use.
    pub oldest_use: Option<i64>,
    pub newest_use: Option<i64>,
}

/// An entry waiting for the end of its window.
struct PendingEntry {
    key: [u8; 32],
    extra: String,
    source: String,
    value: String,
}

/// An open translation memory; a run's lookups and inserts use one context.
pub struct TranslationMemory {
    conn: Connection,
    path: PathBuf,
    max_bytes: u64,
    context: String,
    pending: Vec<PendingEntry>,
    /// Keys answered since the last commit: their `last_used` is refreshed then.
    used: Vec<[u8; 32]>,
}

impl TranslationMemory {
    /// Opens (or creates) the memory at `path`, for lookups and inserts under `context`.
    pub fn open(path: &Path, context: &str, max_bytes: u64) -> Result<Self, MemoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| MemoryError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| MemoryError::Database {
            path: path.to_owned(),
            source,
        })?;
        let mut memory = TranslationMemory {
            conn,
            path: path.to_owned(),
            max_bytes,
            context: context.to_owned(),
            pending: Vec::new(),
            used: Vec::new(),
        };
        memory.prepare()?;
        Ok(memory)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn database_error(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::Database {
            path: self.path.clone(),
            source,
        }
    }

    /// Checks that the file is ours (or empty), switches it to WAL and creates the tables.
    fn prepare(&mut self) -> Result<(), MemoryError> {
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.database_error(e))?;
        // Reading the header first: random bytes fail here ("file is not a database") before
        // anything is written, and another program's database is recognised and left alone.
        let (application_id, version, foreign_tables) = self.retrying(|conn| {
            let application_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
            let version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let foreign_tables: i64 = conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' \
                 AND name NOT IN ('contexts', 'entries') AND name NOT LIKE 'sqlite_%'",
                [],
                |r| r.get(0),
            )?;
            Ok((application_id, version, foreign_tables))
        })?;
        if application_id != APPLICATION_ID && (application_id != 0 || foreign_tables > 0) {
            return Err(MemoryError::Foreign {
                path: self.path.clone(),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(MemoryError::Newer {
                path: self.path.clone(),
                found: version,
            });
        }
        self.retrying(|conn| {
            // WAL: lookups never wait for another shard's commit; NORMAL sync is still
            // crash-safe in WAL mode (a power cut may lose the last commits, never corrupt).
            let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(())
        })?;
        if application_id != APPLICATION_ID || version < SCHEMA_VERSION {
            self.retrying(|conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute_batch(SCHEMA)?;
                tx.pragma_update(None, "application_id", APPLICATION_ID)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                tx.commit()
            })?;
        }
        Ok(())
    }

    /// Runs `work`, again after a pause when another process held the lock too long.
    fn retrying<T>(
        &mut self,
        mut work: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, MemoryError> {
        let mut attempt = 0;
        loop {
            match work(&mut self.conn) {
                Err(error) if is_busy(&error) && attempt < BUSY_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(50 << attempt));
                }
                result => return result.map_err(|e| self.database_error(e)),
            }
        }
    }

    /// The stored translation of `source` (as the model sees it) under this run's context and
    /// `extra` (the glossary entries that apply to it; empty without a glossary).
    pub fn lookup(
        &mut self,
        extra: &str,
        source: &str,
    ) -> Result<Option<Translation>, MemoryError> {
        let key = entry_key(&self.context, extra, source);
        let row: Option<(String, String, String)> = self.retrying(|conn| {
            conn.prepare_cached("SELECT extra, source, translation FROM entries WHERE key = ?1")?
                .query_row([&key[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })?;
        let Some((stored_extra, stored_source, value)) = row else {
            return Ok(None);
        };
        // The key is a hash: the text must match too. A value this de2en cannot read is a miss
        // (the fresh translation replaces it at the end of the window).
        if stored_extra != extra || stored_source != source {
            return Ok(None);
        }
        match serde_json::from_str::<StoredTranslation>(&value) {
            Ok(stored) => {
                self.used.push(key);
                Ok(Some(stored.into()))
            }
            Err(_) => Ok(None),
        }
    }

    /// Queues a translation for the next `commit`.
    pub fn remember(&mut self, extra: &str, source: &str, translation: &Translation) {
        // JSON has no NaN or infinity: such a score could not be read back exactly.
        if !translation.sum_logprob.is_finite() || !translation.mean_logprob.is_finite() {
            return;
        }
        let Ok(value) = serde_json::to_string(&StoredTranslation::from(translation)) else {
            return;
        };
        self.pending.push(PendingEntry {
            key: entry_key(&self.context, extra, source),
            extra: extra.to_owned(),
            source: source.to_owned(),
            value,
        });
    }

    /// Writes the queued translations and the uses since the last commit in one transaction,
    /// then drops the least recently used entries if the file is over its limit.
    pub fn commit(&mut self) -> Result<(), MemoryError> {
        if self.pending.is_empty() && self.used.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let used = std::mem::take(&mut self.used);
        let context = self.context.clone();
        let max_bytes = self.max_bytes;
        let now = now_millis();
        self.retrying(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !pending.is_empty() {
                let context_id = context_id(&tx, &context)?;
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO entries (key, context, extra, source, translation, \
                     last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for entry in &pending {
                    insert.execute(params![
                        &entry.key[..],
                        context_id,
                        entry.extra,
                        entry.source,
                        entry.value,
                        now
                    ])?;
                }
            }
            {
                let mut touch =
                    tx.prepare_cached("UPDATE entries SET last_used = ?2 WHERE key = ?1")?;
                for key in &used {
                    touch.execute(params![&key[..], now])?;
                }
            }
            enforce_limit(&tx, max_bytes)?;
            tx.commit()
        })
    }

    /// What the file holds.
    pub fn stats(&mut self) -> Result<Stats, MemoryError> {
        let file_bytes = file_len(&self.path);
        let wal_bytes = file_len(&sidecar(&self.path, "-wal"));
        self.retrying(|conn| {
            let used_bytes = used_bytes(conn)?;
            let (entries, oldest_use, newest_use) = conn.query_row(
                "SELECT count(*), min(last_used), max(last_used) FROM entries",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let mut statement = conn.prepare(
                "SELECT c.description, count(e.key) AS n FROM contexts c \
                 JOIN entries e ON e.context = c.id GROUP BY c.id ORDER BY n DESC, c.description",
            )?;
            let contexts = statement
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Stats {
                file_bytes,
                wal_bytes,
                used_bytes,
                entries: entries as u64,
                contexts,
                oldest_use,
                newest_use,
            })
        })
    }

    /// Removes every entry and gives the space back to the file system.
    pub fn clear(&mut self) -> Result<u64, MemoryError> {
        let removed = self.retrying(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let removed = tx.execute("DELETE FROM entries", [])?;
            tx.execute("DELETE FROM contexts", [])?;
            tx.commit()?;
            Ok(removed as u64)
        })?;
        self.retrying(|conn| conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);"))?;
        Ok(removed)
    }

    /// Writes every entry to `out`, ordered by context, source and extra (so two exports of the
    /// same content are equal); returns the number of entries.
    pub fn export(
        &mut self,
        out: &mut dyn Write,
        format: ExportFormat,
    ) -> Result<u64, MemoryError> {
        let path = self.path.clone();
        let mut statement = self
            .conn
            .prepare(
                "SELECT c.description, e.extra, e.source, e.translation, e.last_used \
                 FROM entries e JOIN contexts c ON c.id = e.context \
                 ORDER BY c.description, e.source, e.extra",
            )
            .map_err(|source| MemoryError::Database {
                path: path.clone(),
                source,
            })?;
        let mut rows = statement
            .query([])
            .map_err(|source| MemoryError::Database {
                path: path.clone(),
                source,
            })?;
        if format == ExportFormat::Tsv {
            out.write_all(b"german\tenglish\tscore\n")
                .map_err(MemoryError::Write)?;
        }
        let mut count = 0;
        loop {
            let row = match rows.next() {
                Ok(Some(row)) => row,
                Ok(None) => break,
                Err(source) => {
                    return Err(MemoryError::Database {
                        path: path.clone(),
                        source,
                    });
                }
            };
            let fields = (|| -> rusqlite::Result<(String, String, String, String, i64)> {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })();
            let (context, extra, source, value, last_used) =
                fields.map_err(|source| MemoryError::Database {
                    path: path.clone(),
                    source,
                })?;
            // An entry this de2en cannot read would not be used by a run either.
            let Ok(translation) = serde_json::from_str::<StoredTranslation>(&value) else {
                continue;
            };
            let line = match format {
                ExportFormat::Jsonl => {
                    let entry = ExportedEntry {
                        context,
                        extra,
                        source,
                        last_used,
                        translation,
                    };
                    serde_json::to_string(&entry).unwrap_or_default()
                }
                ExportFormat::Tsv => format!(
                    "{}\t{}\t{}",
                    tsv_field(&source),
                    tsv_field(&translation.text),
                    translation.mean_logprob
                ),
            };
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(MemoryError::Write)?;
            count += 1;
        }
        out.flush().map_err(MemoryError::Write)?;
        Ok(count)
    }

    /// Reads a JSON-lines export (`name` is what errors call it) into the memory, all in one
    /// transaction: a bad line imports nothing. An entry already there is replaced.
    pub fn import(&mut self, input: &mut dyn BufRead, name: &str) -> Result<u64, MemoryError> {
        let mut entries = Vec::new();
        for (index, line) in input.lines().enumerate() {
            let line = line.map_err(|source| MemoryError::Read {
                path: name.to_owned(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let entry: ExportedEntry =
                serde_json::from_str(&line).map_err(|e| MemoryError::Import {
                    path: name.to_owned(),
                    line: index + 1,
                    problem: e.to_string(),
                })?;
            let value =
                serde_json::to_string(&entry.translation).map_err(|e| MemoryError::Import {
                    path: name.to_owned(),
                    line: index + 1,
                    problem: e.to_string(),
                })?;
            entries.push((entry, value));
        }
        let max_bytes = self.max_bytes;
        self.retrying(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO entries (key, context, extra, source, translation, \
                     last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for (entry, value) in &entries {
                    let context = context_id(&tx, &entry.context)?;
                    let key = entry_key(&entry.context, &entry.extra, &entry.source);
                    insert.execute(params![
                        &key[..],
                        context,
                        entry.extra,
                        entry.source,
                        value,
                        entry.last_used
                    ])?;
                }
            }
            enforce_limit(&tx, max_bytes)?;
            tx.commit()
        })?;
        Ok(entries.len() as u64)
    }
}

/// An error and its causes on one line, each message once (rusqlite gives SQLite's message as
/// its own cause too): for the warning a run prints when it goes on without the memory.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut last = text.clone();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if message != last {
            text.push_str(": ");
            text.push_str(&message);
            last = message;
        }
        source = cause.source();
    }
    text
}

/// Deletes the memory's files (database, WAL, shared-memory index): `de2en memory clear` on a
/// file too damaged to open. Returns whether there was anything to delete.
pub fn remove_files(path: &Path) -> std::io::Result<bool> {
    let mut removed = false;
    for file in [
        path.to_owned(),
        sidecar(path, "-wal"),
        sidecar(path, "-shm"),
    ] {
        match std::fs::remove_file(&file) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// `memory.sqlite3` → `memory.sqlite3-wal`.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// SHA-256 over the three parts, each but the last preceded by its length, so no two different
/// triples can be spelled alike.
fn entry_key(context: &str, extra: &str, source: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [context, extra] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update(source.as_bytes());
    hasher.finalize().into()
}

/// The id of `description` in the contexts table, added when it is new.
fn context_id(conn: &Connection, description: &str) -> rusqlite::Result<i64> {
    conn.prepare_cached("INSERT OR IGNORE INTO contexts (description) VALUES (?1)")?
        .execute([description])?;
    conn.prepare_cached("SELECT id FROM contexts WHERE description = ?1")?
        .query_row([description], |r| r.get(0))
}

/// Bytes of the pages that hold data (free pages are reused before the file grows).
fn used_bytes(conn: &Connection) -> rusqlite::Result<u64> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let free: i64 = conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
    Ok(((pages - free).max(0) * page_size) as u64)
}

/// Drops the least recently used entries while the used pages exceed `max_bytes`, down to
/// `LIMIT_TARGET_PERCENT` of it. Freed pages stay in the file and are reused, so the file
/// itself stays about `max_bytes` large.
fn enforce_limit(conn: &Connection, max_bytes: u64) -> rusqlite::Result<()> {
    // A few rounds: the share of entries to drop is estimated from the average entry size.
    for _ in 0..8 {
        let used = used_bytes(conn)?;
        if used <= max_bytes {
            return Ok(());
        }
        let entries: i64 = conn.query_row("SELECT count(*) FROM entries", [], |r| r.get(0))?;
        if entries == 0 {
            return Ok(());
        }
        let target = max_bytes / 100 * LIMIT_TARGET_PERCENT;
        let drop = (entries as u128 * u128::from(used - target) / u128::from(used)) as i64;
        conn.execute(
            "DELETE FROM entries WHERE rowid IN \
             (SELECT rowid FROM entries ORDER BY last_used, rowid LIMIT ?1)",
            [drop.max(1)],
        )?;
    }
    Ok(())
}

/// A TSV field: backslash, tab and line breaks escaped as `\\`, `\t`, `\n`, `\r`.
fn tsv_field(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Parses `--memory-max-size`: bytes, or a number with K, M or G (powers of 1024; a trailing
/// `B` or `iB` is accepted).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let without_b = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match without_b.chars().last() {
        Some('k') => (&without_b[..without_b.len() - 1], 10),
        Some('m') => (&without_b[..without_b.len() - 1], 20),
        Some('g') => (&without_b[..without_b.len() - 1], 30),
        _ => (without_b, 0),
    };
    let number: u64 = digits.trim().parse().map_err(|_| {
        format!("`{text}` is not a size: give bytes, or a number with K, M or G (e.g. 500M, 2G)")
    })?;
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests;

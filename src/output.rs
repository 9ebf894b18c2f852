//! Writing translations so that no reader ever sees half a file, and knowing what is already done.
//!
//! Every output is written to a temporary file beside it (same folder, so the final `rename` is
//! atomic on every filesystem) and renamed into place: a crash, Ctrl-C or kill -9 leaves either the
//! old file or the new one, plus at worst a `.de2en-tmp-*` file that the next run removes. The
//! file is fsynced before the rename and its folder after it (`crate::durable`), and it gets the
//! mode a new file gets from `cp` (`0666 & ~umask`), or keeps the mode of the file it replaces.
//!
//! In folder mode a manifest (`.de2en-manifest.json` in the output root; one per shard when
//! sharded, so that workers sharing a folder never write the same file) records for each output
//! the SHA-256 of the input it came from and the settings it was made with. An output that is
//! newer than its input and whose entry matches is skipped on the next run, which makes a large
//! run resumable. The manifest is saved every few seconds and at the end; a kill -9 loses at most
//! the last few entries, and those files are simply translated again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::durable::{self, DirSync};
use crate::walk::Shard;

/// Every temporary file de2en creates starts with this.
pub const TEMP_PREFIX: &str = ".de2en-tmp-";
/// The manifest of an unsharded run; sharded runs add `.shard-K-of-N` before `.json`.
pub const MANIFEST_NAME: &str = ".de2en-manifest.json";

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("could not create folder {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not clean up temporary files in {path}")]
    Cleanup {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not encode the manifest {path}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The temp-file prefix of a run. Shards get their own so that a worker cleaning up after a
/// crash never removes a file another worker is still writing into the same folder.
pub fn temp_prefix(shard: Option<Shard>) -> String {
    match shard {
        None => TEMP_PREFIX.to_owned(),
        Some(shard) => format!("{TEMP_PREFIX}{}-of-{}-", shard.index, shard.count),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename; both the
/// file and the folder are fsynced before this returns.
pub fn write_atomic(path: &Path, bytes: &[u8], prefix: &str) -> Result<(), OutputError> {
    write_synced(path, bytes, prefix, DirSync::Now).map(drop)
}

/// [`write_atomic`], with the folder's fsync up to the caller when `dir_sync` says `Later`;
/// returns the folder.
pub fn write_synced(
    path: &Path,
    bytes: &[u8],
    prefix: &str,
    dir_sync: DirSync,
) -> Result<PathBuf, OutputError> {
    let dir = durable::parent_dir(path);
    durable::create_dir_all(&dir).map_err(|source| OutputError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    durable::replace(path, prefix, dir_sync, |file| file.write_all(bytes)).map_err(|source| {
        OutputError::Write {
            path: path.to_owned(),
            source,
        }
    })
}

/// Removes temporary files with `prefix` left under `root` by a run that was killed.
/// Returns how many were removed.
pub fn remove_leftovers(root: &Path, prefix: &str) -> Result<usize, OutputError> {
    let mut removed = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(OutputError::Cleanup { path: dir, source }),
        };
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            if file_type.is_dir() {
                stack.push(entry.path());
            } else if name.to_string_lossy().starts_with(prefix) {
                std::fs::remove_file(entry.path()).map_err(|source| OutputError::Cleanup {
                    path: entry.path(),
                    source,
                })?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// What the manifest records about one output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The input's key (its path relative to the input root).
    pub source: String,
    pub source_sha256: String,
    /// A fingerprint of everything that changes the output (model, engine, options, format).
    pub settings: String,
    pub output_bytes: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ManifestFile {
    version: u32,
    /// Keyed by the output's path relative to the output root, `/`-separated.
    outputs: BTreeMap<String, ManifestEntry>,
}

/// The manifests of an output folder: this run's own (written) and the other shards' (read only).
#[derive(Debug)]
pub struct Manifest {
    root: PathBuf,
    path: PathBuf,
    own: BTreeMap<String, ManifestEntry>,
    others: Vec<BTreeMap<String, ManifestEntry>>,
    dirty: bool,
    /// Folders of recorded outputs not fsynced since (`write_synced` with `DirSync::Later`): the
    /// manifest syncs them before it is saved, so it never lists a file whose name could still
    /// be lost in a power cut — one fsync per folder per save rather than one per file.
    unsynced: BTreeSet<PathBuf>,
}

impl Manifest {
    /// Loads every manifest in `root`. An unreadable or corrupt manifest is only a lost
    /// optimisation (those files are translated again), so it is returned as a warning.
    pub fn load(root: &Path, shard: Option<Shard>) -> (Manifest, Vec<String>) {
        let own_name = match shard {
            None => MANIFEST_NAME.to_owned(),
            Some(s) => format!(".de2en-manifest.shard-{}-of-{}.json", s.index, s.count),
        };
        let mut warnings = Vec::new();
        let mut manifest = Manifest {
            root: root.to_owned(),
            path: root.join(&own_name),
            own: BTreeMap::new(),
            others: Vec::new(),
            dirty: false,
            unsynced: BTreeSet::new(),
        };
        let Ok(entries) = std::fs::read_dir(root) else {
            return (manifest, warnings);
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !(name.starts_with(".de2en-manifest") && name.ends_with(".json")) {
                continue;
            }
            let parsed = std::fs::read(entry.path())
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<ManifestFile>(&bytes).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(file) if name == own_name => manifest.own = file.outputs,
                Ok(file) => manifest.others.push(file.outputs),
                Err(why) => warnings.push(format!(
                    "ignoring manifest {} ({why}); its files will be translated again",
                    entry.path().display()
                )),
            }
        }
        (manifest, warnings)
    }

    /// The manifest key of an output path.
    pub fn key_of(&self, output: &Path) -> String {
        let rel = output.strip_prefix(&self.root).unwrap_or(output);
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Whether `output` is up to date: it exists, is at least as new as `input`, and a manifest
    /// says it was made from exactly these input bytes with these settings.
    pub fn is_fresh(
        &self,
        output: &Path,
        input: &Path,
        source_sha256: &str,
        settings_match: impl Fn(&str) -> bool,
    ) -> bool {
        let key = self.key_of(output);
        let Ok(out_meta) = std::fs::metadata(output) else {
            return false;
        };
        let matches = |entries: &BTreeMap<String, ManifestEntry>| {
            entries.get(&key).is_some_and(|e| {
                e.source_sha256 == source_sha256
                    && settings_match(&e.settings)
                    && e.output_bytes == out_meta.len()
            })
        };
        if !(matches(&self.own) || self.others.iter().any(matches)) {
            return false;
        }
        let modified = |m: &std::fs::Metadata| m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        match std::fs::metadata(input) {
            Ok(in_meta) => modified(&out_meta) >= modified(&in_meta),
            Err(_) => false,
        }
    }

    /// Records a freshly written output (whose folder the next `save` fsyncs first).
    pub fn record(&mut self, output: &Path, entry: ManifestEntry) {
        self.unsynced.insert(durable::parent_dir(output));
        let key = self.key_of(output);
        self.own.insert(key, entry);
        self.dirty = true;
    }

    /// Writes this run's manifest (atomically, durably) if anything changed, after fsyncing the
    /// folders of the outputs it lists.
    pub fn save(&mut self, prefix: &str) -> Result<(), OutputError> {
        if !self.dirty {
            return Ok(());
        }
        while let Some(dir) = self.unsynced.pop_first() {
            if let Err(source) = durable::sync_dir(&dir) {
                self.unsynced.insert(dir.clone());
                return Err(OutputError::Write { path: dir, source });
            }
        }
        let file = ManifestFile {
            version: 1,
            outputs: self.own.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|source| OutputError::Encode {
            path: self.path.clone(),
            source,
        })?;
        write_atomic(&self.path, &bytes, prefix)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/a.txt");
        write_atomic(&target, b"hello", TEMP_PREFIX).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello");
        std::fs::write(dir.path().join("sub/.de2en-tmp-abc"), b"half").unwrap();
        std::fs::write(dir.path().join(".de2en-tmp-0-of-2-x"), b"half").unwrap();
        assert_eq!(
            remove_leftovers(dir.path(), &temp_prefix(Some(Shard { index: 1, count: 2 }))).unwrap(),
            0
        );
        assert_eq!(remove_leftovers(dir.path(), TEMP_PREFIX).unwrap(), 2);
        assert!(target.exists());
    }

    #[test]
    fn manifest_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.txt");
        std::fs::write(&input, b"Hallo").unwrap();
        let output = dir.path().join("out/in.txt");
        write_atomic(&output, b"Hello", TEMP_PREFIX).unwrap();
        let root = dir.path().join("out");
        let (mut manifest, warnings) = Manifest::load(&root, None);
        assert!(warnings.is_empty());
        let hash = sha256_hex(b"Hallo");
        assert!(!manifest.is_fresh(&output, &input, &hash, |s| s == "s"));
        manifest.record(
            &output,
            ManifestEntry {
                source: "in.txt".into(),
                source_sha256: hash.clone(),
                settings: "s".into(),
                output_bytes: 5,
            },
        );
        manifest.save(TEMP_PREFIX).unwrap();
        let (manifest, _) = Manifest::load(&root, None);
        assert!(manifest.is_fresh(&output, &input, &hash, |s| s == "s"));
        assert!(!manifest.is_fresh(&output, &input, &hash, |s| s == "other settings"));
        assert!(!manifest.is_fresh(&output, &input, &sha256_hex(b"x"), |s| s == "s"));
    }
}

//! The model's content hash, a part of the translation memory's key.
//!
//! The resume manifest records the model's folder; the memory must not: a model updated in place
//! (a new snapshot of the same repo, a re-exported folder) translates differently, and the same
//! model copied to another path translates the same. So the key holds the SHA-256 of the files
//! the engines read. Hashing 300 MB of weights costs about a second, so each file's hash is
//! remembered in de2en's cache folder by its path, size and modification time, and only a file
//! that changed is read again.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use crate::output::hex;

/// Every file an engine may read from a model folder (`models::missing_files` names the ones the
/// Marian engine requires; `rust_model.ot` is rust-bert's converted weights). A file that is not
/// there is left out of the hash.
const HASHED_FILES: &[&str] = &[
    "config.json",
    "generation_config.json",
    "source.spm",
    "target.spm",
    "vocab.json",
    "tokenizer_config.json",
    "model.safetensors",
    "pytorch_model.bin",
    "rust_model.ot",
];

/// The file in the cache folder where file hashes are remembered.
const HASH_CACHE_NAME: &str = "model-hashes.json";

#[derive(Debug, thiserror::Error)]
pub enum ModelHashError {
    #[error("could not read model file {path} to hash it")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A file's hash as remembered, valid while its size and modification time stay.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct RememberedHash {
    size: u64,
    modified_ns: u128,
    sha256: String,
}

/// The SHA-256 (hex) over the names and contents of the model files in `dir`; file hashes are
/// remembered in `cache_dir` (when given) so that an unchanged model is not read again.
pub fn model_content_hash(dir: &Path, cache_dir: Option<&Path>) -> Result<String, ModelHashError> {
    let cache_file = cache_dir.map(|dir| dir.join(HASH_CACHE_NAME));
    let mut remembered: BTreeMap<String, RememberedHash> = cache_file
        .as_deref()
        .and_then(|path| std::fs::read(path).ok())
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let mut changed = false;
    let mut combined = Sha256::new();
    for name in HASHED_FILES {
        let path = dir.join(name);
        // Follows the Hugging Face cache's links to the blobs: the blob is what is read.
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        let real = path.canonicalize().unwrap_or_else(|_| path.clone());
        let cache_key = real.to_string_lossy().into_owned();
        let size = metadata.len();
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let sha256 = match remembered.get(&cache_key) {
            Some(known) if known.size == size && known.modified_ns == modified_ns => {
                known.sha256.clone()
            }
            _ => {
                let sha256 = hash_file(&path)?;
                remembered.insert(
                    cache_key,
                    RememberedHash {
                        size,
                        modified_ns,
                        sha256: sha256.clone(),
                    },
                );
                changed = true;
                sha256
            }
        };
        combined.update(name.as_bytes());
        combined.update([0]);
        combined.update(sha256.as_bytes());
        combined.update([b'\n']);
    }
    if changed && let Some(path) = &cache_file {
        // Only time is lost when this fails: the next run hashes again.
        let _ = save(path, &remembered);
    }
    Ok(hex(&combined.finalize()))
}

fn hash_file(path: &Path) -> Result<String, ModelHashError> {
    let read_error = |source| ModelHashError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(read_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Writes the remembered hashes through a temporary file and a rename: shards that save at the
/// same time leave one whole file (the last one's), never a torn one.
fn save(path: &Path, remembered: &BTreeMap<String, RememberedHash>) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer_pretty(&mut temp, remembered)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_engine_requires_is_hashed() {
        let empty = tempfile::tempdir().unwrap();
        for missing in crate::models::missing_files(empty.path()) {
            for name in missing.split(" or ") {
                assert!(HASHED_FILES.contains(&name), "{name} is not hashed");
            }
        }
    }

    #[test]
    fn the_hash_follows_the_content_not_the_path_and_is_remembered() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b, cache) = (
            tmp.path().join("a"),
            tmp.path().join("b"),
            tmp.path().join("cache"),
        );
        for dir in [&a, &b] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("config.json"), "{}").unwrap();
            std::fs::write(dir.join("model.safetensors"), "weights").unwrap();
            std::fs::write(dir.join("README.md"), dir.to_string_lossy().as_bytes()).unwrap();
        }
        let hash_a = model_content_hash(&a, Some(&cache)).unwrap();
        // A copy elsewhere is the same model; a file nobody reads does not count.
        assert_eq!(model_content_hash(&b, Some(&cache)).unwrap(), hash_a);
        assert!(cache.join(HASH_CACHE_NAME).is_file());
        // Other weights (another size, so the remembered hash is stale): another model.
        std::fs::write(b.join("model.safetensors"), "other weights").unwrap();
        assert_ne!(model_content_hash(&b, Some(&cache)).unwrap(), hash_a);
        assert_ne!(model_content_hash(&b, None).unwrap(), hash_a);
    }
}

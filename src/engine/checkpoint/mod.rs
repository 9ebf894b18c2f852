//! Finding and opening the weight file of a Hugging Face model folder, in any of the formats the
//! hub serves: `model.safetensors`, a zip-format `pytorch_model.bin` (torch ≥ 1.6), or a legacy
//! `pytorch_model.bin` (torch < 1.6, as 2020-era opus-mt conversions may be).
//!
//! A legacy file is a 300 MB pickle that cannot be memory-mapped, so after its first load it is
//! converted once into a `.safetensors` file in de2en's own cache, named by the checkpoint's
//! SHA-256: later runs hash the file and read the converted copy tensor by tensor. The Hugging Face snapshot is
//! never written (transformers owns it). Tensors that share one storage in the checkpoint (tied
//! embeddings) are stored once in the cache and their other names recorded in its metadata.
//!
//! Both engines read weights through here, so they accept the same files.

mod legacy;
mod safetensors_file;

pub use safetensors_file::SafetensorsFile;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use sha2::{Digest, Sha256};

use super::EngineError;
use crate::durable::{self, DirSync};

/// Metadata key in a converted file: JSON object `{alias: stored name}` for tied tensors.
const ALIASES_KEY: &str = "de2en.aliases";
/// Metadata key in a converted file: the SHA-256 of the checkpoint it was made from.
const SOURCE_KEY: &str = "de2en.source_sha256";

/// A model folder's weight file, resolved to something that can be read.
pub enum Checkpoint {
    /// A safetensors file: the folder's own, or a converted legacy file from the cache
    /// (`aliases` then names tensors stored under another name).
    Safetensors {
        path: PathBuf,
        aliases: HashMap<String, String>,
    },
    /// A zip-format PyTorch file, read with candle's pickle reader.
    ZipPickle(PathBuf),
    /// A legacy PyTorch file read into memory (no cache folder given, or it could not be
    /// written): every tensor by name.
    Loaded(HashMap<String, Tensor>),
}

/// The weight file of `dir` and how to read it. `cache` is where converted legacy checkpoints go;
/// `None` reads a legacy file into memory every time.
///
/// Returns the file the weights come from (for messages: always the folder's own file, never the
/// cache) and its readable form.
pub fn open(dir: &Path, cache: Option<&Path>) -> Result<(PathBuf, Checkpoint), EngineError> {
    let safetensors = dir.join("model.safetensors");
    let pth = dir.join("pytorch_model.bin");
    if safetensors.is_file() {
        let checkpoint = Checkpoint::Safetensors {
            path: safetensors.clone(),
            aliases: HashMap::new(),
        };
        return Ok((safetensors, checkpoint));
    }
    if pth.is_file() {
        let checkpoint = if starts_legacy(&pth)? {
            open_legacy(&pth, cache)?
        } else {
            Checkpoint::ZipPickle(pth.clone())
        };
        return Ok((pth, checkpoint));
    }
    let problem = if dir.join("model.safetensors.index.json").is_file()
        || dir.join("pytorch_model.bin.index.json").is_file()
    {
        "sharded checkpoints are not supported; save the model as one model.safetensors"
    } else {
        "no model.safetensors or pytorch_model.bin — the weights are missing"
    };
    Err(EngineError::Model {
        dir: dir.to_owned(),
        problem: problem.into(),
    })
}

/// transformers' name for each tensor of a file → the name it is stored under. `stored` are the
/// file's names, `aliases` further names of stored tensors (tied copies in a converted file). A
/// checkpoint of the bare `MarianModel` (no `model.` prefix, as some conversions saved) gets the
/// prefix that `MarianMTModel` uses.
pub fn canonical_names(
    stored: impl IntoIterator<Item = String>,
    aliases: &HashMap<String, String>,
) -> HashMap<String, String> {
    let names: Vec<String> = stored.into_iter().chain(aliases.keys().cloned()).collect();
    let prefixed = names.iter().any(|n| n.starts_with("model."));
    names
        .into_iter()
        .map(|name| {
            let bare_model_key = ["shared.", "encoder.", "decoder."]
                .iter()
                .any(|p| name.starts_with(p));
            let lookup = if !prefixed && bare_model_key {
                format!("model.{name}")
            } else {
                name.clone()
            };
            let stored = aliases.get(&name).cloned().unwrap_or(name);
            (lookup, stored)
        })
        .collect()
}

/// Marian's sinusoidal positions (`MarianSinusoidalPositionalEmbedding`): sines in the first half
/// of each vector, cosines in the second, computed in f64 as numpy does, then rounded to f32.
/// `[positions × dim]`, row-major.
pub fn sinusoidal_positions(positions: usize, dim: usize) -> Vec<f32> {
    let sentinel = dim.div_ceil(2);
    let mut table = vec![0f32; positions * dim];
    for pos in 0..positions {
        let row = &mut table[pos * dim..(pos + 1) * dim];
        for j in 0..dim {
            let angle = pos as f64 / 10000f64.powf((2 * (j / 2)) as f64 / dim as f64);
            if j % 2 == 0 {
                row[j / 2] = angle.sin() as f32;
            } else {
                row[sentinel + j / 2] = angle.cos() as f32;
            }
        }
    }
    table
}

/// Checks a position table stored in a checkpoint against [`sinusoidal_positions`]. Rounding
/// differs by ~1e-7; another scheme (interleaved sin/cos, learned positions) by far more.
pub fn check_stored_positions(stored: &[f32], computed: &[f32]) -> Result<(), String> {
    let worst = stored
        .iter()
        .zip(computed)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    // `f32::max` skips NaN, so non-finite entries are looked for on their own.
    let mismatched =
        stored.len() != computed.len() || stored.iter().any(|v| !v.is_finite()) || worst >= 1e-4;
    if mismatched {
        return Err(format!(
            "is not Marian's sinusoidal position table (differs by up to {worst}); this model \
             uses another position scheme, which de2en does not implement"
        ));
    }
    Ok(())
}

fn file_problem(path: &Path, problem: String) -> EngineError {
    EngineError::ModelFile {
        path: path.to_owned(),
        problem,
    }
}

fn io_error(path: &Path, source: std::io::Error) -> EngineError {
    EngineError::Io {
        path: path.to_owned(),
        source,
    }
}

fn starts_legacy(path: &Path) -> Result<bool, EngineError> {
    let mut head = [0u8; 16];
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(io_error(path, e)),
        }
    }
    Ok(legacy::is_legacy(&head[..filled]))
}

fn open_legacy(pth: &Path, cache: Option<&Path>) -> Result<Checkpoint, EngineError> {
    let sha256 = sha256_of(pth)?;
    if let Some(cache) = cache {
        let cached = cache.join(format!("{sha256}.safetensors"));
        if let Some(aliases) = read_converted(&cached, &sha256) {
            return Ok(Checkpoint::Safetensors {
                path: cached,
                aliases,
            });
        }
    }
    let bytes = std::fs::read(pth).map_err(|e| io_error(pth, e))?;
    let tensors = legacy::read(&bytes).map_err(|problem| {
        file_problem(
            pth,
            format!(
                "legacy PyTorch checkpoint {problem}; download it again (de2en models fetch --force)"
            ),
        )
    })?;
    drop(bytes);
    if let Some(cache) = cache {
        // A cache that cannot be written (read-only home, full disk) only costs speed: the
        // tensors are in memory already.
        if let Ok(aliases) = write_converted(cache, &sha256, &tensors) {
            return Ok(Checkpoint::Safetensors {
                path: cache.join(format!("{sha256}.safetensors")),
                aliases,
            });
        }
    }
    let loaded = tensors
        .iter()
        .map(|t| Ok((t.name.clone(), t.to_tensor()?)))
        .collect::<Result<_, candle_core::Error>>()?;
    Ok(Checkpoint::Loaded(loaded))
}

/// The aliases of a converted file when it is complete and was made from `sha256`; `None` for a
/// missing or damaged file (it is then made again).
fn read_converted(path: &Path, sha256: &str) -> Option<HashMap<String, String>> {
    // Opening checks every tensor against the file's length: a truncated copy is not used.
    let file = SafetensorsFile::open(path).ok()?;
    if file.metadata(SOURCE_KEY)? != sha256 {
        return None;
    }
    serde_json::from_str(file.metadata(ALIASES_KEY)?).ok()
}

/// Writes the tensors as `<cache>/<sha256>.safetensors` (through a temporary file, so a reader
/// never maps half a file); tensors that are one view of one storage are written once.
fn write_converted(
    cache: &Path,
    sha256: &str,
    tensors: &[legacy::LegacyTensor],
) -> Result<HashMap<String, String>, Box<dyn std::error::Error>> {
    durable::create_dir_all(cache)?;
    let mut first_name_of_view: HashMap<&str, &str> = HashMap::new();
    let mut aliases = HashMap::new();
    let mut views = Vec::with_capacity(tensors.len());
    for t in tensors {
        if let Some(stored) = first_name_of_view.get(t.view_id.as_str()) {
            aliases.insert(t.name.clone(), (*stored).to_owned());
            continue;
        }
        first_name_of_view.insert(&t.view_id, &t.name);
        let dtype = match t.dtype {
            DType::F32 => safetensors::Dtype::F32,
            DType::F16 => safetensors::Dtype::F16,
            DType::BF16 => safetensors::Dtype::BF16,
            DType::F64 => safetensors::Dtype::F64,
            other => return Err(format!("unexpected dtype {other:?}").into()),
        };
        let view = safetensors::tensor::TensorView::new(dtype, t.shape.clone(), &t.bytes)?;
        views.push((t.name.as_str(), view));
    }
    let metadata = HashMap::from([
        (ALIASES_KEY.to_owned(), serde_json::to_string(&aliases)?),
        (SOURCE_KEY.to_owned(), sha256.to_owned()),
        ("format".to_owned(), "pt".to_owned()),
    ]);
    let target = cache.join(format!("{sha256}.safetensors"));
    // `serialize_to_file` writes a temporary file of its own (0600) and renames it onto the path
    // it is given, so it gets a temporary name here, removed on error; `adopt` then gives the
    // file `0666 & ~umask` (a cache shared by the users of a cluster node wants the umask's
    // mode), fsyncs it and renames it into place.
    let temp = tempfile::Builder::new()
        .prefix(".de2en-tmp-")
        .tempfile_in(cache)?
        .into_temp_path();
    safetensors::tensor::serialize_to_file(views, Some(metadata), &temp)?;
    durable::adopt(&temp, &target, DirSync::Now)?;
    // Renamed away: nothing left for the guard to remove.
    let _ = temp.keep();
    Ok(aliases)
}

/// Hashed in pieces: a cached load should not hold the whole checkpoint in memory.
fn sha256_of(path: &Path) -> Result<String, EngineError> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) => return Err(io_error(path, e)),
        }
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_put_sin_first_and_cos_second() {
        let table = sinusoidal_positions(3, 4);
        // Position 0: sin(0) = 0 in the first half, cos(0) = 1 in the second.
        assert_eq!(&table[0..4], &[0.0, 0.0, 1.0, 1.0]);
        // Position 1, dim 4: angles 1 and 1/100 for the even indices 0 and 2.
        assert!((table[4] - 1f64.sin() as f32).abs() < 1e-7);
        assert!((table[5] - 0.01f64.sin() as f32).abs() < 1e-7);
        assert!((table[6] - 1f64.cos() as f32).abs() < 1e-7);
        assert!((table[7] - 0.01f64.cos() as f32).abs() < 1e-7);
    }

    #[test]
    fn interleaved_positions_are_another_scheme() {
        let table = sinusoidal_positions(8, 4);
        assert!(check_stored_positions(&table, &table).is_ok());
        let mut interleaved = table.clone();
        for row in interleaved.chunks_mut(4) {
            row.swap(1, 2);
        }
        let error = check_stored_positions(&interleaved, &table).unwrap_err();
        assert!(error.contains("position scheme"), "{error}");
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn bare_model_keys_gain_the_prefix() {
        let aliases =
            HashMap::from([("encoder.embed_tokens.weight".into(), "shared.weight".into())]);
        let names = canonical_names(strings(&["shared.weight", "final_logits_bias"]), &aliases);
        assert_eq!(names["model.shared.weight"], "shared.weight");
        assert_eq!(names["model.encoder.embed_tokens.weight"], "shared.weight");
        assert_eq!(names["final_logits_bias"], "final_logits_bias");
    }

    #[test]
    fn prefixed_files_keep_their_names() {
        let names = canonical_names(
            strings(&["model.shared.weight", "lm_head.weight"]),
            &HashMap::new(),
        );
        assert_eq!(names["model.shared.weight"], "model.shared.weight");
        assert_eq!(names["lm_head.weight"], "lm_head.weight");
        assert_eq!(names.len(), 2);
    }
}

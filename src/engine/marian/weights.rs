//! Reading the weights of a Hugging Face Marian folder by their transformers names.
//!
//! Which file and format is [`crate::engine::checkpoint`]'s business: `model.safetensors` (or a
//! legacy checkpoint converted into de2en's cache) is read tensor by tensor, a zip-format
//! `pytorch_model.bin` goes through candle's pickle reader. Every tensor is fetched with the
//! shape the config promises, so a folder whose files disagree fails on load with the file, the
//! tensor and both shapes in the message — never later, inside a matmul.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::pickle::PthTensors;
use candle_core::{DType, Tensor};

use crate::engine::EngineError;
use crate::engine::checkpoint::{self, Checkpoint, SafetensorsFile};

enum Source {
    Safetensors(SafetensorsFile),
    Pth(PthTensors),
    Loaded(HashMap<String, Tensor>),
}

/// One opened weight file and the names of the tensors it holds.
pub struct WeightFile {
    /// The folder's own file (also when a converted copy from the cache is read).
    path: PathBuf,
    source: Source,
    /// transformers' name of each tensor → the name it is stored under.
    names: HashMap<String, String>,
}

impl WeightFile {
    /// Opens `model.safetensors`, or `pytorch_model.bin` when that is all the folder has; a legacy
    /// `pytorch_model.bin` is read into memory.
    pub fn open(dir: &Path) -> Result<Self, EngineError> {
        Self::open_with_cache(dir, None)
    }

    /// As [`WeightFile::open`], with converted legacy checkpoints kept in `cache`.
    pub fn open_with_cache(dir: &Path, cache: Option<&Path>) -> Result<Self, EngineError> {
        let (path, checkpoint) = checkpoint::open(dir, cache)?;
        let (source, stored, aliases) = match checkpoint {
            Checkpoint::Safetensors {
                path: readable,
                aliases,
            } => {
                let st =
                    SafetensorsFile::open(&readable).map_err(|problem| EngineError::ModelFile {
                        path: readable.clone(),
                        problem: format!("not a readable safetensors file: it {problem}"),
                    })?;
                let names: Vec<String> = st.names().cloned().collect();
                (Source::Safetensors(st), names, aliases)
            }
            Checkpoint::ZipPickle(pth) => {
                let tensors = PthTensors::new(&pth, None).map_err(|e| EngineError::ModelFile {
                    path: pth.clone(),
                    problem: format!("not a readable PyTorch checkpoint: {e}"),
                })?;
                let names = tensors.tensor_infos().keys().cloned().collect();
                (Source::Pth(tensors), names, HashMap::new())
            }
            Checkpoint::Loaded(tensors) => {
                let names = tensors.keys().cloned().collect();
                (Source::Loaded(tensors), names, HashMap::new())
            }
        };
        Ok(Self {
            path,
            source,
            names: checkpoint::canonical_names(stored, &aliases),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    pub fn problem(&self, problem: String) -> EngineError {
        EngineError::ModelFile {
            path: self.path.clone(),
            problem,
        }
    }

    /// The tensor `name` as f32 on the CPU, checked against `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, EngineError> {
        let Some(stored) = self.names.get(name) else {
            return Err(self.problem(format!("has no tensor {name}")));
        };
        let vanished = || format!("tensor {name} vanished");
        let loaded = match &self.source {
            Source::Safetensors(st) => st.read(stored).and_then(|t| t.ok_or_else(vanished)),
            Source::Pth(pth) => pth
                .get(stored)
                .map_err(|e| e.to_string())
                .and_then(|t| t.ok_or_else(vanished)),
            Source::Loaded(tensors) => tensors.get(stored).cloned().ok_or_else(vanished),
        }
        .map_err(|e| self.problem(format!("cannot read tensor {name}: {e}")))?;
        if loaded.dims() != shape {
            return Err(self.problem(format!(
                "tensor {name} has shape {:?}, but config.json implies {:?}",
                loaded.dims(),
                shape
            )));
        }
        let loaded = if loaded.dtype() == DType::F32 {
            loaded
        } else {
            loaded
                .to_dtype(DType::F32)
                .map_err(|e| self.problem(format!("cannot convert tensor {name} to f32: {e}")))?
        };
        // Checkpoints may store transposed views; the kernels want plain row-major memory.
        loaded
            .contiguous()
            .map_err(|e| self.problem(format!("cannot lay out tensor {name}: {e}")))
    }

    /// The first of `names` the file holds (tied weights are saved under varying names).
    pub fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<Tensor, EngineError> {
        match names.iter().find(|n| self.contains(n)) {
            Some(name) => self.get(name, shape),
            None => Err(self.problem(format!("has none of the tensors {}", names.join(", ")))),
        }
    }

    /// `name` when present, else `None` (for buffers transformers fills with defaults).
    pub fn get_optional(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor>, EngineError> {
        if self.contains(name) {
            self.get(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }
}

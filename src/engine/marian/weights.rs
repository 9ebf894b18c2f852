//! Reading the weights of a Hugging Face Marian folder by their transformers names.
//!
//! `model.safetensors` is memory-mapped; `pytorch_model.bin` (all that the hub has for
//! opus-mt-de-en today) goes through candle's pickle reader. Every tensor is fetched with the
//! shape the config promises, so a folder whose files disagree fails on load with the file, the
//! tensor and both shapes in the message — never later, inside a matmul.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use candle_core::pickle::PthTensors;
use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use crate::engine::EngineError;

enum Source {
    Safetensors(MmapedSafetensors),
    Pth(PthTensors),
}

/// One opened weight file and the names of the tensors it holds.
pub struct WeightFile {
    path: PathBuf,
    source: Source,
    names: HashSet<String>,
}

impl WeightFile {
    /// Opens `model.safetensors`, or `pytorch_model.bin` when that is all the folder has.
    pub fn open(dir: &Path) -> Result<Self, EngineError> {
        let safetensors = dir.join("model.safetensors");
        let pth = dir.join("pytorch_model.bin");
        if safetensors.is_file() {
            // SAFETY: the mapping is only read, and a model folder is not rewritten while we run;
            // this is how candle and transformers load models too.
            let st = unsafe { MmapedSafetensors::new(&safetensors) }.map_err(|e| {
                EngineError::ModelFile {
                    path: safetensors.clone(),
                    problem: format!("not a readable safetensors file: {e}"),
                }
            })?;
            let names = st.tensors().into_iter().map(|(name, _)| name).collect();
            Ok(Self {
                path: safetensors,
                source: Source::Safetensors(st),
                names,
            })
        } else if pth.is_file() {
            let tensors = PthTensors::new(&pth, None).map_err(|e| EngineError::ModelFile {
                path: pth.clone(),
                problem: format!("not a readable PyTorch checkpoint: {e}"),
            })?;
            let names = tensors.tensor_infos().keys().cloned().collect();
            Ok(Self {
                path: pth,
                source: Source::Pth(tensors),
                names,
            })
        } else if dir.join("model.safetensors.index.json").is_file()
            || dir.join("pytorch_model.bin.index.json").is_file()
        {
            Err(EngineError::Model {
                dir: dir.to_owned(),
                problem:
                    "sharded checkpoints are not supported; save the model as one model.safetensors"
                        .into(),
            })
        } else {
            Err(EngineError::Model {
                dir: dir.to_owned(),
                problem: "no model.safetensors or pytorch_model.bin — the weights are missing"
                    .into(),
            })
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    fn problem(&self, problem: String) -> EngineError {
        EngineError::ModelFile {
            path: self.path.clone(),
            problem,
        }
    }

    /// The tensor `name` as f32 on the CPU, checked against `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, EngineError> {
        if !self.contains(name) {
            return Err(self.problem(format!("has no tensor {name}")));
        }
        let loaded = match &self.source {
            Source::Safetensors(st) => st.load(name, &Device::Cpu),
            Source::Pth(pth) => pth.get(name).and_then(|t| {
                t.ok_or_else(|| candle_core::Error::Msg(format!("tensor {name} vanished")))
            }),
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

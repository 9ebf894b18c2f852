//! A `.safetensors` file read tensor by tensor with positioned reads, not memory-mapped.
//!
//! Every weight is copied once anyway (the engine packs it for its kernels), so a mapping saves
//! nothing; it did cost memory: the mapped pages count in the process's resident set while the
//! packed copies are made, which put ~300 MB on top of the engine's peak for opus-mt-de-en.
//! Read this way, only one tensor's bytes are in flight at a time.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

/// Where one tensor's bytes lie in the file.
struct Entry {
    dtype: DType,
    shape: Vec<usize>,
    /// Absolute byte range in the file.
    start: u64,
    end: u64,
}

pub struct SafetensorsFile {
    file: File,
    entries: HashMap<String, Entry>,
    metadata: HashMap<String, String>,
}

impl SafetensorsFile {
    /// Opens `path` and reads its header; a header that does not fit the file is an error (a
    /// truncated download or copy).
    pub fn open(path: &Path) -> Result<Self, String> {
        let mut file = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
        let file_len = file
            .metadata()
            .map_err(|e| format!("cannot read its size: {e}"))?
            .len();
        let mut len = [0u8; 8];
        file.read_exact(&mut len)
            .map_err(|_| "is too short to be a safetensors file".to_owned())?;
        let header_len = u64::from_le_bytes(len);
        if header_len > 100_000_000 || 8 + header_len > file_len {
            return Err("has a header length that does not fit the file".into());
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header)
            .map_err(|e| format!("cannot read its header: {e}"))?;
        let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
            .map_err(|e| format!("has a header that is not JSON: {e}"))?;
        let data_start = 8 + header_len;
        let mut entries = HashMap::new();
        let mut metadata = HashMap::new();
        for (name, value) in header {
            if name == "__metadata__" {
                if let Some(map) = value.as_object() {
                    for (k, v) in map {
                        if let Some(v) = v.as_str() {
                            metadata.insert(k.clone(), v.to_owned());
                        }
                    }
                }
                continue;
            }
            let entry = parse_entry(&value, data_start, file_len)
                .map_err(|problem| format!("tensor {name}: {problem}"))?;
            entries.insert(name, entry);
        }
        Ok(Self {
            file,
            entries,
            metadata,
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// A value of the header's `__metadata__`.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// Reads tensor `name` (`Ok(None)` when the file has no such tensor).
    pub fn read(&self, name: &str) -> Result<Option<Tensor>, String> {
        let Some(entry) = self.entries.get(name) else {
            return Ok(None);
        };
        let mut bytes = vec![0u8; (entry.end - entry.start) as usize];
        read_exact_at(&self.file, &mut bytes, entry.start)
            .map_err(|e| format!("cannot read tensor {name}: {e}"))?;
        Tensor::from_raw_buffer(&bytes, entry.dtype, &entry.shape, &Device::Cpu)
            .map(Some)
            .map_err(|e| format!("tensor {name}: {e}"))
    }
}

fn parse_entry(value: &serde_json::Value, data_start: u64, file_len: u64) -> Result<Entry, String> {
    let dtype = match value["dtype"].as_str() {
        Some("F32") => DType::F32,
        Some("F16") => DType::F16,
        Some("BF16") => DType::BF16,
        Some("F64") => DType::F64,
        Some(other) => {
            return Err(format!(
                "has dtype {other}; de2en reads float32, float16 and bfloat16 weights"
            ));
        }
        None => return Err("has no dtype".into()),
    };
    let shape: Vec<usize> = value["shape"]
        .as_array()
        .ok_or("has no shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or("has a shape that is not a list of sizes")?;
    let offsets = value["data_offsets"]
        .as_array()
        .filter(|o| o.len() == 2)
        .ok_or("has no data offsets")?;
    let (Some(begin), Some(end)) = (offsets[0].as_u64(), offsets[1].as_u64()) else {
        return Err("has data offsets that are not numbers".into());
    };
    let elements: usize = shape.iter().product();
    if end < begin || (end - begin) as usize != elements * dtype.size_in_bytes() {
        return Err("has data offsets that do not match its shape".into());
    }
    if data_start + end > file_len {
        return Err("lies past the end of the file (truncated?)".into());
    }
    Ok(Entry {
        dtype,
        shape,
        start: data_start + begin,
        end: data_start + end,
    })
}

#[cfg(unix)]
fn read_exact_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut buffer: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buffer.is_empty() {
        match file.seek_read(buffer, offset) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buffer = &mut buffer[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

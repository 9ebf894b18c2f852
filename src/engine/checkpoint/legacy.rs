//! The legacy (pre-1.6, non-zip) PyTorch checkpoint format, which 2020-era hub files still use.
//!
//! `torch.save(…, _use_new_zipfile_serialization=False)` writes five things back to back: a pickled
//! magic number, a pickled protocol version (1001), a pickled dict of system facts (byte order),
//! the pickled state dict — whose tensors name their storage by a *persistent id*
//! `('storage', FloatStorage, key, location, numel, view_metadata)` — and a pickled list of storage
//! keys, followed by each of those storages in that order as a little-endian `u64` element count
//! and the raw bytes. candle's pickle machine ([`candle_core::pickle::Stack`]) reads each pickle;
//! it only knows the zip container, so the container is read here. Tensors are views into a
//! storage (offset, size, stride): tied embeddings share one storage, and any strides are gathered
//! into plain row-major tensors.

use std::collections::HashMap;
use std::io::{BufRead, Cursor};

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

/// Pickle protocol 2 of `0x1950a86a20f9469cfc6c` (a `LONG1` of 10 bytes), then STOP: how every
/// legacy checkpoint begins. Read as bytes because a 10-byte integer does not fit candle's `i64`.
const MAGIC_AFTER_PROTO: [u8; 13] = [
    0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
];
const PROTOCOL_VERSION: i64 = 1001;

/// Whether `head` (the first bytes of a file) starts a legacy checkpoint.
pub fn is_legacy(head: &[u8]) -> bool {
    head.len() >= 2 + MAGIC_AFTER_PROTO.len()
        && head[0] == 0x80
        && head[2..2 + MAGIC_AFTER_PROTO.len()] == MAGIC_AFTER_PROTO
}

/// One tensor of a state dict: where its elements lie in which storage.
struct TensorView {
    storage_key: String,
    dtype: DType,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// A tensor read from a legacy checkpoint, and the storage view it came from, so that tensors
/// sharing one (tied embeddings) can be recognised.
pub struct LegacyTensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// The elements in row-major order, little-endian.
    pub bytes: Vec<u8>,
    /// `(storage key, offset, shape, stride)`: equal for two names means one tensor.
    pub view_id: String,
}

impl LegacyTensor {
    pub fn to_tensor(&self) -> candle_core::Result<Tensor> {
        Tensor::from_raw_buffer(&self.bytes, self.dtype, &self.shape, &Device::Cpu)
    }
}

/// Reads every tensor of the legacy checkpoint in `bytes`. Errors are plain sentences (the caller
/// names the file): what is wrong and, where it concerns one tensor, its key.
pub fn read(bytes: &[u8]) -> Result<Vec<LegacyTensor>, String> {
    if !is_legacy(bytes) {
        return Err("not a legacy PyTorch checkpoint (no magic number)".into());
    }
    let mut cursor = Cursor::new(bytes);
    cursor.set_position((2 + MAGIC_AFTER_PROTO.len()) as u64);

    let version = read_pickle(&mut cursor, "protocol version")?;
    match version.int_or_long() {
        Ok(PROTOCOL_VERSION) => {}
        Ok(other) => return Err(format!("unsupported legacy protocol version {other}")),
        Err(_) => return Err("protocol version is not a number".into()),
    }
    let sys_info = read_pickle(&mut cursor, "system information")?;
    check_little_endian(sys_info)?;

    let state = read_pickle(&mut cursor, "state dict")?;
    let views = state_dict_views(state)?;

    let keys = read_pickle(&mut cursor, "storage key list")?;
    let keys = match keys {
        Object::List(keys) | Object::Tuple(keys) => keys
            .into_iter()
            .map(|k| {
                k.unicode()
                    .map_err(|_| "a storage key is not a string".to_owned())
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("the storage key list is not a list".into()),
    };

    // The storages follow the key list, in its order: element count, then the bytes.
    let element_sizes: HashMap<&str, usize> = views
        .iter()
        .map(|(_, v)| (v.storage_key.as_str(), v.dtype.size_in_bytes()))
        .collect();
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    let mut position = cursor.position() as usize;
    for key in keys {
        let count_bytes = bytes
            .get(position..position + 8)
            .ok_or_else(|| format!("is truncated: storage {key} has no element count"))?;
        let count = u64::from_le_bytes(count_bytes.try_into().expect("8 bytes")) as usize;
        position += 8;
        // A storage no tensor uses still takes its bytes; its element size is then unknown,
        // which only a hand-made file could produce.
        let element_size = *element_sizes.get(key.as_str()).ok_or_else(|| {
            format!("storage {key} is stored but no tensor uses it; cannot tell its size")
        })?;
        let len = count
            .checked_mul(element_size)
            .ok_or_else(|| format!("storage {key} claims an impossible size"))?;
        let data = bytes.get(position..position + len).ok_or_else(|| {
            format!(
                "is truncated: storage {key} needs {len} bytes, {} are left",
                bytes.len().saturating_sub(position)
            )
        })?;
        storages.insert(key, data);
        position += len;
    }

    views
        .into_iter()
        .map(|(name, view)| {
            let data = storages.get(&view.storage_key).ok_or_else(|| {
                format!(
                    "tensor {name} refers to storage {}, which the file does not hold",
                    view.storage_key
                )
            })?;
            let bytes = gather(&name, &view, data)?;
            let view_id = format!(
                "{}:{}:{:?}:{:?}",
                view.storage_key, view.offset, view.shape, view.stride
            );
            Ok(LegacyTensor {
                name,
                dtype: view.dtype,
                shape: view.shape,
                bytes,
                view_id,
            })
        })
        .collect()
}

fn read_pickle(cursor: &mut Cursor<&[u8]>, what: &str) -> Result<Object, String> {
    if cursor.fill_buf().map(|b| b.is_empty()).unwrap_or(true) {
        return Err(format!("is truncated before the {what}"));
    }
    let mut stack = Stack::empty();
    stack
        .read_loop(cursor)
        .and_then(|()| stack.finalize())
        .map_err(|e| {
            // A pickle cut off by the end of the file is a truncated download, not a format error.
            if cursor.position() >= cursor.get_ref().len() as u64 {
                format!("is truncated inside the {what}")
            } else {
                format!("cannot read the {what}: {e}")
            }
        })
}

fn check_little_endian(sys_info: Object) -> Result<(), String> {
    let entries = sys_info
        .dict()
        .map_err(|_| "the system information is not a dict".to_owned())?;
    for (key, value) in entries {
        if key == Object::Unicode("little_endian".into()) && value == Object::Bool(false) {
            return Err(
                "was written on a big-endian machine; re-save it on a little-endian one \
                 (e.g. load and save it again with transformers)"
                    .into(),
            );
        }
    }
    Ok(())
}

/// The tensors of the state dict, by name, in file order. Entries that are not tensors (the
/// `_metadata` of an `OrderedDict`) are skipped.
fn state_dict_views(state: Object) -> Result<Vec<(String, TensorView)>, String> {
    let entries = state
        .dict()
        .map_err(|_| "the pickled object is not a state dict".to_owned())?;
    let mut views = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        let Ok(name) = name.unicode() else { continue };
        if name == "_metadata" {
            continue;
        }
        let view = tensor_view(value).map_err(|problem| format!("tensor {name}: {problem}"))?;
        views.push((name, view));
    }
    Ok(views)
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, …)`, possibly wrapped in
/// `_rebuild_parameter`.
fn tensor_view(value: Object) -> Result<TensorView, String> {
    let not_a_tensor = || "is not a tensor de2en can read".to_owned();
    let (callable, args) = value.reduce().map_err(|_| not_a_tensor())?;
    let (callable, args) = match callable {
        Object::Class {
            module_name,
            class_name,
        } if module_name == "torch._utils" && class_name == "_rebuild_parameter" => {
            let mut args = args.tuple().map_err(|_| not_a_tensor())?;
            if args.is_empty() {
                return Err(not_a_tensor());
            }
            args.remove(0).reduce().map_err(|_| not_a_tensor())?
        }
        other => (other, args),
    };
    match callable {
        Object::Class {
            module_name,
            class_name,
        } if module_name == "torch._utils" && class_name == "_rebuild_tensor_v2" => {}
        Object::Class { class_name, .. } => {
            return Err(format!(
                "is rebuilt by {class_name}, which de2en does not know"
            ));
        }
        _ => return Err(not_a_tensor()),
    }
    let args = args.tuple().map_err(|_| not_a_tensor())?;
    let mut args = args.into_iter();
    let (Some(storage), Some(offset), Some(size), Some(stride)) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        return Err("has too few rebuild arguments".into());
    };
    let persistent = storage
        .persistent_load()
        .and_then(|id| id.tuple())
        .map_err(|_| "its storage is not a persistent reference".to_owned())?;
    // ('storage', storage_type, key, location, numel[, view_metadata])
    if persistent.len() < 5 {
        return Err("its storage reference is too short".into());
    }
    let mut fields = persistent.into_iter();
    let _tag = fields.next();
    let storage_type = fields.next().and_then(|c| c.class().ok());
    let key = fields.next().and_then(|k| k.unicode().ok());
    let _location = fields.next();
    let _numel = fields.next();
    if let Some(view_metadata) = fields.next()
        && view_metadata != Object::None
    {
        return Err("lies in a storage view (pre-1.0 format), which de2en cannot read".into());
    }
    let Some((_, storage_type)) = storage_type else {
        return Err("its storage type is missing".into());
    };
    let Some(storage_key) = key else {
        return Err("its storage key is missing".into());
    };
    let dtype = match storage_type.as_str() {
        "FloatStorage" => DType::F32,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "DoubleStorage" => DType::F64,
        other => {
            return Err(format!(
                "has storage type {other}; de2en reads float32, float16 and bfloat16 weights"
            ));
        }
    };
    let offset = offset
        .int_or_long()
        .ok()
        .and_then(|o| usize::try_from(o).ok())
        .ok_or("its storage offset is not a number")?;
    let shape = usize_tuple(size).ok_or("its size is not a tuple of numbers")?;
    let stride = usize_tuple(stride).ok_or("its stride is not a tuple of numbers")?;
    if shape.len() != stride.len() {
        return Err("its size and stride differ in rank".into());
    }
    Ok(TensorView {
        storage_key,
        dtype,
        offset,
        shape,
        stride,
    })
}

fn usize_tuple(object: Object) -> Option<Vec<usize>> {
    object
        .tuple()
        .ok()?
        .into_iter()
        .map(|o| o.int_or_long().ok().and_then(|v| usize::try_from(v).ok()))
        .collect()
}

/// Copies the elements of `view` out of its storage, in row-major order.
fn gather(name: &str, view: &TensorView, storage: &[u8]) -> Result<Vec<u8>, String> {
    let element_size = view.dtype.size_in_bytes();
    let storage_len = storage.len() / element_size;
    let count: usize = view.shape.iter().product();
    let out_of_range = || {
        format!(
            "tensor {name} reaches past the end of its storage {} ({storage_len} elements); \
             the file is damaged",
            view.storage_key
        )
    };
    let mut bytes = Vec::with_capacity(count * element_size);
    if count > 0 {
        let last = view.offset
            + view
                .shape
                .iter()
                .zip(&view.stride)
                .map(|(n, s)| (n - 1) * s)
                .sum::<usize>();
        if last >= storage_len {
            return Err(out_of_range());
        }
        let row_major = row_major_strides(&view.shape);
        if view.stride == row_major || count == 1 {
            let start = view.offset * element_size;
            bytes.extend_from_slice(&storage[start..start + count * element_size]);
        } else {
            // Any strides (transposed or sliced views): walk the index space in row-major order.
            let mut index = vec![0usize; view.shape.len()];
            for _ in 0..count {
                let element = view.offset
                    + index
                        .iter()
                        .zip(&view.stride)
                        .map(|(i, s)| i * s)
                        .sum::<usize>();
                let start = element * element_size;
                bytes.extend_from_slice(&storage[start..start + element_size]);
                for axis in (0..index.len()).rev() {
                    index[axis] += 1;
                    if index[axis] < view.shape[axis] {
                        break;
                    }
                    index[axis] = 0;
                }
            }
        }
    }
    Ok(bytes)
}

fn row_major_strides(shape: &[usize]) -> Vec<usize> {
    let mut strides = vec![1; shape.len()];
    for axis in (0..shape.len().saturating_sub(1)).rev() {
        strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_major_strides_of_a_matrix() {
        assert_eq!(row_major_strides(&[3, 4]), vec![4, 1]);
        assert_eq!(row_major_strides(&[5]), vec![1]);
        assert!(row_major_strides(&[]).is_empty());
    }

    #[test]
    fn a_transposed_view_is_gathered_row_major() {
        // Storage 0..6 as a 2×3 matrix; the view is its 3×2 transpose (stride 1, 3).
        let storage: Vec<u8> = (0..6u32).flat_map(|v| (v as f32).to_le_bytes()).collect();
        let view = TensorView {
            storage_key: "0".into(),
            dtype: DType::F32,
            offset: 0,
            shape: vec![3, 2],
            stride: vec![1, 3],
        };
        let bytes = gather("w", &view, &storage).unwrap();
        let values: Vec<f32> = bytes
            .chunks(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(values, vec![0., 3., 1., 4., 2., 5.]);
    }

    #[test]
    fn a_view_past_its_storage_is_refused() {
        let storage = vec![0u8; 4 * 4];
        let view = TensorView {
            storage_key: "7".into(),
            dtype: DType::F32,
            offset: 2,
            shape: vec![3],
            stride: vec![1],
        };
        let error = gather("w", &view, &storage).unwrap_err();
        assert!(
            error.contains("tensor w") && error.contains("storage 7"),
            "{error}"
        );
    }

    #[test]
    fn other_files_are_not_taken_for_legacy() {
        assert!(!is_legacy(b"PK\x03\x04 a zip archive"));
        assert!(!is_legacy(b""));
    }
}

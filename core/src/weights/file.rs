//! [`parse`]: bytes → a fully validated [`WeightFile`] whose tensors borrow the input.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::config::parse_config;
use super::header::{parse_header, Header, RawTensorInfo};
use super::layout::for_each_tensor;
use super::reader::Reader;
use super::values::decode_all;
use super::{
    Dtype, Kind, ModelConfig, WeightError, FORMAT_VERSION, KEY_CONFIG, KEY_FORMAT, KEY_KIND,
    MAX_HEADER_SIZE,
};

/// A parsed and fully validated weight file. Tensor data borrows the parsed bytes (no copy until
/// [`TensorView::to_f32_vec`]); config and metadata are owned.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightFile<'a> {
    config: ModelConfig,
    metadata: BTreeMap<String, String>,
    tensors: BTreeMap<String, TensorView<'a>>,
}

/// One tensor of a [`WeightFile`]: its dtype, its shape (the one the config requires) and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorView<'a> {
    dtype: Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// Stored element type.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// Shape, outermost dimension first (`[out, in, 3, 3]` for a convolution weight).
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The raw little-endian bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Whether the tensor has no elements (never true for a tensor of a valid file).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values widened to f32, in row-major order, without allocating.
    pub fn values(&self) -> impl ExactSizeIterator<Item = f32> + 'a {
        decode_all(self.dtype, self.data)
    }

    /// The values widened to f32, in row-major order.
    pub fn to_f32_vec(&self) -> Result<Vec<f32>, WeightError> {
        let mut out = Vec::new();
        out.try_reserve_exact(self.len())
            .map_err(|_| WeightError::OutOfMemory)?;
        out.extend(self.values());
        Ok(out)
    }
}

impl<'a> WeightFile<'a> {
    /// Same as [`parse`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WeightError> {
        parse(bytes)
    }

    /// The format version (always 1: other versions are refused).
    pub fn format_version(&self) -> u32 {
        1
    }

    /// The model kind.
    pub fn kind(&self) -> Kind {
        self.config.kind()
    }

    /// The validated configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// All of `__metadata__`, the `nsbg.*` keys included.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Trainable parameters (see [`ModelConfig::parameter_count`]).
    pub fn parameter_count(&self) -> u64 {
        self.config.parameter_count()
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorView<'a>> {
        self.tensors.get(name)
    }

    /// The shape of tensor `name`.
    pub fn tensor_shape(&self, name: &str) -> Option<&[usize]> {
        self.tensor(name).map(TensorView::shape)
    }

    /// All tensors, sorted by name.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = (&str, &TensorView<'a>)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The values of tensor `name` widened to f32 (shape: [`tensor`](Self::tensor)`(name)?.shape()`).
    pub fn tensor_f32(&self, name: &str) -> Result<Vec<f32>, WeightError> {
        self.tensor(name)
            .ok_or_else(|| WeightError::NoSuchTensor(name.into()))?
            .to_f32_vec()
    }
}

/// Parses and validates a version-1 weight file. Any input gives `Ok` or a typed error; see the module
/// docs for the order of the checks.
pub fn parse(bytes: &[u8]) -> Result<WeightFile<'_>, WeightError> {
    let mut reader = Reader::new(bytes);
    let len = reader
        .take_array::<8>()
        .ok_or(WeightError::HeaderTooSmall)?;
    let len = usize::try_from(u64::from_le_bytes(len))
        .ok()
        .filter(|&n| n <= MAX_HEADER_SIZE)
        .ok_or(WeightError::HeaderTooLarge)?;
    let text = reader.take(len).ok_or(WeightError::InvalidHeaderLength)?;
    let text = core::str::from_utf8(text).map_err(|_| WeightError::InvalidHeaderUtf8)?;
    let Header { metadata, tensors } = parse_header(text)?;
    let config = read_config(&metadata)?;
    let located = locate(tensors, reader)?;
    let tensors = match_required(&config, located)?;
    check_values(&tensors)?;
    Ok(WeightFile {
        config,
        metadata,
        tensors,
    })
}

/// Format version, kind and config from the metadata, in that order: the version decides how to read
/// everything else, and the kind how to read the config.
fn read_config(metadata: &BTreeMap<String, String>) -> Result<ModelConfig, WeightError> {
    let get = |key: &'static str| {
        metadata
            .get(key)
            .ok_or(WeightError::MissingMetadataKey(key))
    };
    let format = get(KEY_FORMAT)?;
    if format != FORMAT_VERSION {
        return Err(WeightError::UnsupportedFormatVersion(format.clone()));
    }
    let kind_name = get(KEY_KIND)?;
    let kind = match Kind::from_name(kind_name) {
        Some(kind @ (Kind::WaveletDecoder | Kind::PixelDecoder)) => kind,
        _ => return Err(WeightError::UnsupportedKind(kind_name.clone())),
    };
    parse_config(kind, get(KEY_CONFIG)?)
}

/// A tensor whose byte range has been checked, before its name and shape are.
struct Located<'a> {
    dtype: Dtype,
    shape: Vec<u64>,
    data: &'a [u8],
}

/// The safetensors layout checks: supported dtypes, then offsets sorted-contiguous from 0, byte lengths
/// equal to shape × dtype size (u64, checked), and the data area covered exactly.
fn locate<'a>(
    tensors: Vec<(String, RawTensorInfo)>,
    mut data: Reader<'a>,
) -> Result<BTreeMap<String, Located<'a>>, WeightError> {
    let mut entries = Vec::with_capacity(tensors.len());
    for (name, info) in tensors {
        let Some(dtype) = Dtype::from_name(&info.dtype) else {
            return Err(WeightError::UnsupportedDtype {
                tensor: name,
                dtype: info.dtype,
            });
        };
        entries.push((name, dtype, info.shape.0, info.data_offsets));
    }
    entries.sort_unstable_by(|a, b| a.3.cmp(&b.3).then_with(|| a.0.cmp(&b.0)));

    let mut out = BTreeMap::new();
    let mut cursor = 0u64;
    for (name, dtype, shape, [start, end]) in entries {
        if start != cursor || end < start {
            return Err(WeightError::InvalidOffset(name));
        }
        let Some(bytes) = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .and_then(|n| n.checked_mul(dtype.size() as u64))
        else {
            return Err(WeightError::ValidationOverflow(name));
        };
        if end - start != bytes {
            return Err(WeightError::TensorInvalidInfo(name));
        }
        let Some(slice) = usize::try_from(bytes).ok().and_then(|n| data.take(n)) else {
            return Err(WeightError::MetadataIncompleteBuffer);
        };
        cursor = end;
        out.insert(
            name,
            Located {
                dtype,
                shape,
                data: slice,
            },
        );
    }
    if !data.finish() {
        return Err(WeightError::MetadataIncompleteBuffer);
    }
    Ok(out)
}

/// Every tensor the config needs, with exactly its shape, and nothing else.
fn match_required<'a>(
    config: &ModelConfig,
    mut located: BTreeMap<String, Located<'a>>,
) -> Result<BTreeMap<String, TensorView<'a>>, WeightError> {
    let mut views = BTreeMap::new();
    for_each_tensor(config, &mut |name, shape| {
        let Some((name, found)) = located.remove_entry(name) else {
            return Err(WeightError::MissingTensor(name.into()));
        };
        let same = found.shape.len() == shape.len()
            && found.shape.iter().zip(shape).all(|(&f, &s)| f == s as u64);
        if !same {
            return Err(WeightError::WrongShape {
                tensor: name,
                expected: shape.to_vec(),
                found: found.shape,
            });
        }
        views.insert(
            name,
            TensorView {
                dtype: found.dtype,
                shape: shape.to_vec(),
                data: found.data,
            },
        );
        Ok(())
    })?;
    if let Some(name) = located.into_keys().next() {
        return Err(WeightError::UnexpectedTensor(name));
    }
    Ok(views)
}

/// No NaN or Inf anywhere; BatchNorm variances non-negative.
fn check_values(tensors: &BTreeMap<String, TensorView<'_>>) -> Result<(), WeightError> {
    for (name, view) in tensors {
        let variance = name.ends_with(".running_var");
        for v in view.values() {
            if !v.is_finite() {
                return Err(WeightError::NonFinite(name.clone()));
            }
            if variance && v < 0.0 {
                return Err(WeightError::NegativeVariance(name.clone()));
            }
        }
    }
    Ok(())
}

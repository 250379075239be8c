//! [`write()`]: a config, metadata and named f32 tensors → the bytes of a version-1 weight file.
//!
//! The writer applies the parser's rules to its input and reports the same errors, writes tensors sorted
//! by name with contiguous offsets and a space-padded header (data 8-byte aligned, as the safetensors
//! Python writer does), and finally parses its own output, so it never returns a file nsbg would refuse.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::header::METADATA_KEY;
use super::layout::for_each_tensor;
use super::{
    parse, Dtype, ModelConfig, WeightError, FORMAT_VERSION, KEY_CONFIG, KEY_FORMAT, KEY_KIND,
};

/// One tensor handed to [`write()`]: row-major f32 values of the given shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NamedTensor<'a> {
    /// Tensor name, e.g. `level1.inc.conv1.weight`.
    pub name: &'a str,
    /// Shape; must be the one [`ModelConfig::required_tensors`] lists.
    pub shape: &'a [usize],
    /// Values, `shape` product of them.
    pub data: &'a [f32],
}

/// Writes a weight file for `config`, storing every value as `dtype`.
///
/// `metadata` is extra `__metadata__` (provenance and the like); the writer sets `nsbg.format`,
/// `nsbg.kind` and `nsbg.config` itself and refuses callers' values for them. `tensors` must be exactly
/// the config's [`required_tensors`](ModelConfig::required_tensors), in any order. Values that are not
/// finite once rounded to `dtype` (e.g. 1e5 in F16) are refused.
pub fn write(
    config: &ModelConfig,
    metadata: &BTreeMap<String, String>,
    tensors: &[NamedTensor<'_>],
    dtype: Dtype,
) -> Result<Vec<u8>, WeightError> {
    config.validate()?;
    if let Some(key) = metadata
        .keys()
        .find(|k| [KEY_FORMAT, KEY_KIND, KEY_CONFIG].contains(&k.as_str()))
    {
        return Err(WeightError::ReservedMetadataKey(key.clone()));
    }

    let mut sorted: Vec<&NamedTensor<'_>> = tensors.iter().collect();
    sorted.sort_unstable_by(|a, b| a.name.cmp(b.name));
    for pair in sorted.windows(2) {
        if let [a, b] = pair {
            if a.name == b.name {
                return Err(WeightError::DuplicateKey(a.name.into()));
            }
        }
    }
    for t in &sorted {
        let Some(expected) = t
            .shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        else {
            return Err(WeightError::ValidationOverflow(t.name.into()));
        };
        if expected != t.data.len() as u64 {
            return Err(WeightError::DataLengthMismatch {
                tensor: t.name.into(),
                expected,
                found: t.data.len(),
            });
        }
    }
    check_required(config, &sorted)?;

    // Once the whole data area fits a usize, every offset below does too.
    let data_len = sorted
        .iter()
        .try_fold(0usize, |n, t| {
            t.data
                .len()
                .checked_mul(dtype.size())
                .and_then(|b| n.checked_add(b))
        })
        .ok_or(WeightError::OutOfMemory)?;
    let header = header_json(config, metadata, &sorted, dtype)?;
    let total = data_len
        .checked_add(header.len())
        .and_then(|n| n.checked_add(8))
        .ok_or(WeightError::OutOfMemory)?;
    let mut out = Vec::new();
    out.try_reserve_exact(total)
        .map_err(|_| WeightError::OutOfMemory)?;
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for t in &sorted {
        let variance = t.name.ends_with(".running_var");
        for &v in t.data {
            let stored = dtype.round_trip(v);
            if !stored.is_finite() {
                return Err(WeightError::NonFinite(t.name.into()));
            }
            if variance && stored < 0.0 {
                return Err(WeightError::NegativeVariance(t.name.into()));
            }
            dtype.encode(stored, &mut out);
        }
    }

    parse(&out)?;
    Ok(out)
}

/// Exactly the config's tensors with exactly its shapes; `sorted` is sorted by name, names unique.
fn check_required(config: &ModelConfig, sorted: &[&NamedTensor<'_>]) -> Result<(), WeightError> {
    let mut seen = vec![false; sorted.len()];
    for_each_tensor(config, &mut |name, shape| {
        let found = sorted.binary_search_by(|t| t.name.cmp(name)).ok();
        let (Some(t), Some(mark)) = (
            found.and_then(|i| sorted.get(i)),
            found.and_then(|i| seen.get_mut(i)),
        ) else {
            return Err(WeightError::MissingTensor(name.into()));
        };
        if t.shape != shape {
            return Err(WeightError::WrongShape {
                tensor: name.into(),
                expected: shape.to_vec(),
                found: t.shape.iter().map(|&d| d as u64).collect(),
            });
        }
        *mark = true;
        Ok(())
    })?;
    match sorted.iter().zip(&seen).find(|(_, &seen)| !seen) {
        Some((t, _)) => Err(WeightError::UnexpectedTensor(t.name.into())),
        None => Ok(()),
    }
}

/// The JSON header, padded with spaces to a multiple of 8 bytes so the data starts 8-byte aligned.
fn header_json(
    config: &ModelConfig,
    metadata: &BTreeMap<String, String>,
    sorted: &[&NamedTensor<'_>],
    dtype: Dtype,
) -> Result<String, WeightError> {
    let config_json = config.to_json();
    let mut meta: BTreeMap<&str, &str> = metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    meta.insert(KEY_FORMAT, FORMAT_VERSION);
    meta.insert(KEY_KIND, config.kind().name());
    meta.insert(KEY_CONFIG, &config_json);
    let json = |e: serde_json::Error| WeightError::InvalidHeaderJson(e.to_string());

    let mut header = String::new();
    // Writing into a String cannot fail; serde_json errors are mapped.
    let _ = write!(
        header,
        "{{\"{METADATA_KEY}\":{}",
        serde_json::to_string(&meta).map_err(json)?
    );
    let mut offset = 0u64;
    for t in sorted {
        let end = offset.saturating_add(t.data.len().saturating_mul(dtype.size()) as u64);
        let _ = write!(
            header,
            ",{}:{{\"dtype\":\"{}\",\"shape\":{},\"data_offsets\":[{offset},{end}]}}",
            serde_json::to_string(t.name).map_err(json)?,
            dtype.name(),
            serde_json::to_string(t.shape).map_err(json)?,
        );
        offset = end;
    }
    header.push('}');
    while !header.len().is_multiple_of(8) {
        header.push(' ');
    }
    Ok(header)
}

//! The JSON header: `{"__metadata__": {string: string}, "<tensor>": {dtype, shape, data_offsets}, …}`.
//!
//! serde only checks syntax and types here; every semantic rule (duplicates, string values) is checked
//! afterwards in plain code so that each failure gets its own [`WeightError`] variant.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use super::json::{nesting_exceeds, BoundedVec, ObjectOnly};
use super::{WeightError, MAX_JSON_DEPTH, MAX_RANK};

/// The header key of the metadata map.
pub(crate) const METADATA_KEY: &str = "__metadata__";

/// One tensor entry as written; nothing about it is checked yet.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTensorInfo {
    pub(crate) dtype: String,
    pub(crate) shape: BoundedVec<u64, MAX_RANK>,
    pub(crate) data_offsets: [u64; 2],
}

/// The header after the syntactic and duplicate checks.
pub(crate) struct Header {
    /// `__metadata__`, every value a string.
    pub(crate) metadata: BTreeMap<String, String>,
    /// Tensor entries, sorted by name, names unique.
    pub(crate) tensors: Vec<(String, RawTensorInfo)>,
}

/// Reads and checks the header text.
pub(crate) fn parse_header(text: &str) -> Result<Header, WeightError> {
    if nesting_exceeds(text, MAX_JSON_DEPTH) {
        return Err(WeightError::HeaderTooDeep);
    }
    let raw: RawHeader =
        serde_json::from_str(text).map_err(|e| WeightError::InvalidHeaderJson(e.to_string()))?;

    let mut occurrences = raw.metadata.into_iter();
    let entries = occurrences.next().ok_or(WeightError::MissingMetadata)?;
    if occurrences.next().is_some() {
        return Err(WeightError::DuplicateKey(METADATA_KEY.into()));
    }
    let mut metadata = BTreeMap::new();
    for (key, value) in entries {
        let serde_json::Value::String(value) = value else {
            return Err(WeightError::InvalidMetadataValue(key));
        };
        if metadata.contains_key(&key) {
            return Err(WeightError::DuplicateKey(key));
        }
        metadata.insert(key, value);
    }

    let mut tensors = raw.tensors;
    tensors.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for pair in tensors.windows(2) {
        if let [(a, _), (b, _)] = pair {
            if a == b {
                return Err(WeightError::DuplicateKey(a.clone()));
            }
        }
    }
    Ok(Header { metadata, tensors })
}

/// The header as the JSON reader sees it: entries kept in file order, duplicates kept for the checks.
struct RawHeader {
    /// Every `__metadata__` occurrence (more than one is an error).
    metadata: Vec<Vec<(String, serde_json::Value)>>,
    tensors: Vec<(String, RawTensorInfo)>,
}

impl<'de> Deserialize<'de> for RawHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;

        impl<'de> Visitor<'de> for V {
            type Value = RawHeader;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a safetensors header object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawHeader, A::Error> {
                let mut header = RawHeader {
                    metadata: Vec::new(),
                    tensors: Vec::new(),
                };
                while let Some(key) = map.next_key::<String>()? {
                    if key == METADATA_KEY {
                        let Pairs(pairs) = map.next_value()?;
                        header.metadata.push(pairs);
                    } else {
                        let ObjectOnly(info) = map.next_value::<ObjectOnly<RawTensorInfo>>()?;
                        header.tensors.push((key, info));
                    }
                }
                Ok(header)
            }
        }

        deserializer.deserialize_map(V)
    }
}

/// A JSON object read as its key/value pairs in order, duplicates included.
struct Pairs(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;

        impl<'de> Visitor<'de> for V {
            type Value = Pairs;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a metadata object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    pairs.push(entry);
                }
                Ok(Pairs(pairs))
            }
        }

        deserializer.deserialize_map(V)
    }
}

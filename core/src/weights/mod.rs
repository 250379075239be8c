//! The nsbg weight file, format version 1 (`shared/spec/design.md` §"Weight file format").
//!
//! A weight file is a safetensors file: an 8-byte little-endian header length, a JSON header, then the raw
//! tensor data. nsbg adds three `__metadata__` keys (`nsbg.format`, `nsbg.kind`, `nsbg.config`) and a fixed
//! tensor list per model configuration, so any tool that writes safetensors can produce a file nsbg loads.
//!
//! The file is untrusted input. [`parse`] validates everything before it hands out a single value, in the
//! order of the safetensors reader (length prefix → header bounds → UTF-8 → JSON → metadata → offsets →
//! sizes → buffer coverage), then nsbg's own rules (config, required tensors and shapes, finite values).
//! Every violation is a typed [`WeightError`]; nothing panics, nothing reads out of bounds, and the only
//! allocations are proportional to bytes actually present in the file.
//!
//! [`write()`] produces files by the same rules and proves each one by parsing it before returning it.
//!
//! JSON: `serde_json` (`default-features = false, features = ["alloc"]`) with `serde` derive. It is the
//! reference JSON reader of the Rust ecosystem (the one safetensors itself uses), it runs without std, it is
//! fuzzed upstream, and derive with `deny_unknown_fields` gives strict field checking for free. The
//! alternative `serde-json-core` needs fixed capacities for every string and list, which a header with
//! hundreds of tensor names and a metadata map of arbitrary keys does not have. Its recursion is bounded
//! here by a pre-scan ([`MAX_JSON_DEPTH`]) so that small-stack targets are safe too.

mod config;
mod error;
mod file;
mod header;
mod json;
mod layout;
mod reader;
mod values;
mod writer;

pub use config::{
    ModelConfig, PixelDecoderConfig, PixelLevelConfig, WaveletDecoderConfig, WaveletLevelConfig,
    CHANNELS, MAX_LEVELS, MAX_PIXEL_CHANNELS, MAX_PIXEL_DEPTH, MAX_SIDE, MAX_WAVELET_DEPTH,
    MAX_WIDTH, MIN_WAVELET_SIDE,
};
pub use error::{ConfigError, ErrorCategory, WeightError};
pub use file::{parse, TensorView, WeightFile};
pub use layout::TensorSpec;
pub use writer::{write, NamedTensor};

/// The only format version this crate reads and writes (`nsbg.format`).
pub const FORMAT_VERSION: &str = "1";
/// Metadata key holding the format version.
pub const KEY_FORMAT: &str = "nsbg.format";
/// Metadata key holding the model kind ([`Kind::name`]).
pub const KEY_KIND: &str = "nsbg.kind";
/// Metadata key holding the model configuration, a JSON object serialised into a string.
pub const KEY_CONFIG: &str = "nsbg.config";
/// Largest accepted JSON header, as in safetensors: bounds the parser's memory before it reads anything.
pub const MAX_HEADER_SIZE: usize = 100_000_000;
/// Largest accepted `nsbg.config` string; a real one is a few hundred bytes.
pub const MAX_CONFIG_LEN: usize = 64 * 1024;
/// Deepest accepted `{`/`[` nesting in the header and in the config. Valid files need 3; the limit keeps
/// the recursive JSON reader's stack use small on embedded targets whatever the input.
pub const MAX_JSON_DEPTH: usize = 8;
/// Longest accepted tensor shape in the header; nsbg's tensors have rank 1 or 4.
pub const MAX_RANK: usize = 8;

/// Element type of a stored tensor. Values are always handed out as `f32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// IEEE binary32, safetensors `F32`.
    F32,
    /// IEEE binary16, safetensors `F16`; widened exactly to f32.
    F16,
    /// bfloat16, safetensors `BF16`; widened exactly to f32.
    BF16,
}

impl Dtype {
    /// All supported dtypes.
    pub const ALL: [Dtype; 3] = [Dtype::F32, Dtype::F16, Dtype::BF16];

    /// The safetensors name (`F32`, `F16`, `BF16`).
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
        }
    }

    /// Parses a safetensors dtype name; `None` for every dtype nsbg does not support.
    pub fn from_name(name: &str) -> Option<Self> {
        Dtype::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }
}

/// What a weight file contains (`nsbg.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// The NSBG wavelet-space decoder (UNet + tails per level).
    WaveletDecoder,
    /// The NSBG-PIXEL baseline decoder (bilinear ×2 + residual UNet per level).
    PixelDecoder,
    /// The sampler; its config is not defined yet, so [`parse`] reports it as unsupported.
    Generator,
}

impl Kind {
    /// All kinds named by format version 1.
    pub const ALL: [Kind; 3] = [Kind::WaveletDecoder, Kind::PixelDecoder, Kind::Generator];

    /// The spec's name (`wavelet-decoder`, `pixel-decoder`, `generator`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::WaveletDecoder => "wavelet-decoder",
            Kind::PixelDecoder => "pixel-decoder",
            Kind::Generator => "generator",
        }
    }

    /// Parses the spec's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

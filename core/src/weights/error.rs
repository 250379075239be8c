//! Why a weight file (or a writer call) was refused. One variant per check, named after the check, so a
//! test can name the rule it exercises and the C ABI can map the whole enum to two status codes.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// What the caller should conclude from a [`WeightError`] (the C ABI's status code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The bytes are not a valid version-1 weight file (`NSBG_ERR_FORMAT`).
    Format,
    /// Well-formed, but a version, dtype or kind this build does not support (`NSBG_ERR_UNSUPPORTED`).
    Unsupported,
    /// A bad argument to an accessor or to the writer, not a property of a file (`NSBG_ERR_INVALID_ARGUMENT`).
    InvalidArgument,
    /// An allocation the request justified failed (`NSBG_ERR_OUT_OF_MEMORY`).
    OutOfMemory,
}

/// A failed weight-file check. The writer reports the error the parser would report for the file it was
/// asked to produce.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WeightError {
    /// Fewer than 8 bytes: no room for the header length.
    HeaderTooSmall,
    /// The header length exceeds [`MAX_HEADER_SIZE`](super::MAX_HEADER_SIZE) (or `usize`).
    HeaderTooLarge,
    /// The header length points past the end of the file.
    InvalidHeaderLength,
    /// The header is not UTF-8.
    InvalidHeaderUtf8,
    /// The header nests `{`/`[` deeper than [`MAX_JSON_DEPTH`](super::MAX_JSON_DEPTH).
    HeaderTooDeep,
    /// The header is not the expected JSON (syntax, types, unknown tensor fields); the reader's message.
    InvalidHeaderJson(String),
    /// A header or metadata key appears twice (readers disagree on which one wins).
    DuplicateKey(String),
    /// No `__metadata__` object.
    MissingMetadata,
    /// A `__metadata__` value that is not a string.
    InvalidMetadataValue(String),
    /// A required `nsbg.*` metadata key is absent.
    MissingMetadataKey(&'static str),
    /// `nsbg.format` is not `"1"`.
    UnsupportedFormatVersion(String),
    /// `nsbg.kind` names a model this build cannot load (`generator`, or an unknown kind).
    UnsupportedKind(String),
    /// `nsbg.config` is invalid.
    InvalidConfig(ConfigError),
    /// A tensor dtype other than F32, F16, BF16.
    UnsupportedDtype {
        /// tensor name
        tensor: String,
        /// the dtype as written
        dtype: String,
    },
    /// Offsets are not sorted-contiguous from 0 (gap, overlap, or end before start) at this tensor.
    InvalidOffset(String),
    /// shape × dtype size overflows u64.
    ValidationOverflow(String),
    /// The tensor's byte range does not match shape × dtype size.
    TensorInvalidInfo(String),
    /// The data area is not exactly covered by the tensors (truncated file or trailing bytes).
    MetadataIncompleteBuffer,
    /// The config needs a tensor the file lacks.
    MissingTensor(String),
    /// The file has a tensor the config does not need (a different architecture).
    UnexpectedTensor(String),
    /// A required tensor has the wrong shape.
    WrongShape {
        /// tensor name
        tensor: String,
        /// shape the config needs
        expected: Vec<usize>,
        /// shape found
        found: Vec<u64>,
    },
    /// A NaN or ±Inf value (after conversion to the stored dtype, for the writer).
    NonFinite(String),
    /// A BatchNorm `running_var` with a negative entry.
    NegativeVariance(String),
    /// Writer: a caller metadata key that would override an `nsbg.*` key the writer sets.
    ReservedMetadataKey(String),
    /// Writer: a tensor's data length is not the product of its shape.
    DataLengthMismatch {
        /// tensor name
        tensor: String,
        /// elements the shape needs
        expected: u64,
        /// elements given
        found: usize,
    },
    /// Accessor: no tensor of that name.
    NoSuchTensor(String),
    /// An allocation failed.
    OutOfMemory,
}

impl WeightError {
    /// How the error is classified for callers and the C ABI.
    pub fn category(&self) -> ErrorCategory {
        match self {
            WeightError::UnsupportedFormatVersion(_)
            | WeightError::UnsupportedKind(_)
            | WeightError::UnsupportedDtype { .. } => ErrorCategory::Unsupported,
            WeightError::ReservedMetadataKey(_)
            | WeightError::DataLengthMismatch { .. }
            | WeightError::NoSuchTensor(_) => ErrorCategory::InvalidArgument,
            WeightError::OutOfMemory => ErrorCategory::OutOfMemory,
            _ => ErrorCategory::Format,
        }
    }

    /// Malformed file (`NSBG_ERR_FORMAT`).
    pub fn is_format(&self) -> bool {
        self.category() == ErrorCategory::Format
    }

    /// Well-formed but unsupported version, dtype or kind (`NSBG_ERR_UNSUPPORTED`).
    pub fn is_unsupported(&self) -> bool {
        self.category() == ErrorCategory::Unsupported
    }
}

impl From<ConfigError> for WeightError {
    fn from(e: ConfigError) -> Self {
        WeightError::InvalidConfig(e)
    }
}

impl fmt::Display for WeightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WeightError::HeaderTooSmall => write!(f, "file shorter than the 8-byte header length"),
            WeightError::HeaderTooLarge => {
                write!(f, "header length exceeds {} bytes", super::MAX_HEADER_SIZE)
            }
            WeightError::InvalidHeaderLength => {
                write!(f, "header length points past the end of the file")
            }
            WeightError::InvalidHeaderUtf8 => write!(f, "header is not UTF-8"),
            WeightError::HeaderTooDeep => {
                write!(f, "JSON nests deeper than {} levels", super::MAX_JSON_DEPTH)
            }
            WeightError::InvalidHeaderJson(msg) => write!(f, "invalid header JSON: {msg}"),
            WeightError::DuplicateKey(key) => write!(f, "key {key:?} appears more than once"),
            WeightError::MissingMetadata => write!(f, "header has no __metadata__"),
            WeightError::InvalidMetadataValue(key) => {
                write!(f, "metadata value of {key:?} is not a string")
            }
            WeightError::MissingMetadataKey(key) => write!(f, "metadata key {key:?} is missing"),
            WeightError::UnsupportedFormatVersion(v) => {
                write!(f, "format version {v:?} is not supported (only \"1\")")
            }
            WeightError::UnsupportedKind(k) => write!(f, "model kind {k:?} is not supported"),
            WeightError::InvalidConfig(e) => write!(f, "invalid nsbg.config: {e}"),
            WeightError::UnsupportedDtype { tensor, dtype } => write!(
                f,
                "tensor {tensor:?} has dtype {dtype:?}; only F32, F16, BF16 are supported"
            ),
            WeightError::InvalidOffset(t) => write!(
                f,
                "tensor {t:?}: data offsets are not contiguous from 0 (gap, overlap or end < start)"
            ),
            WeightError::ValidationOverflow(t) => {
                write!(f, "tensor {t:?}: shape × dtype size overflows")
            }
            WeightError::TensorInvalidInfo(t) => {
                write!(
                    f,
                    "tensor {t:?}: byte length does not match shape × dtype size"
                )
            }
            WeightError::MetadataIncompleteBuffer => write!(
                f,
                "data area is not exactly covered by the tensors (truncated or trailing bytes)"
            ),
            WeightError::MissingTensor(t) => write!(f, "required tensor {t:?} is missing"),
            WeightError::UnexpectedTensor(t) => {
                write!(f, "tensor {t:?} is not part of this configuration")
            }
            WeightError::WrongShape {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor {tensor:?} has shape {found:?}, the configuration needs {expected:?}"
            ),
            WeightError::NonFinite(t) => write!(f, "tensor {t:?} contains NaN or Inf"),
            WeightError::NegativeVariance(t) => write!(f, "tensor {t:?} has a negative variance"),
            WeightError::ReservedMetadataKey(k) => {
                write!(f, "metadata key {k:?} is set by the writer itself")
            }
            WeightError::DataLengthMismatch {
                tensor,
                expected,
                found,
            } => write!(
                f,
                "tensor {tensor:?} has {found} values, its shape needs {expected}"
            ),
            WeightError::NoSuchTensor(t) => write!(f, "no tensor named {t:?}"),
            WeightError::OutOfMemory => write!(f, "out of memory"),
        }
    }
}

impl core::error::Error for WeightError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            WeightError::InvalidConfig(e) => Some(e),
            _ => None,
        }
    }
}

/// A failed `nsbg.config` check. `level` fields are 1-based.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config string is longer than [`MAX_CONFIG_LEN`](super::MAX_CONFIG_LEN).
    TooLarge,
    /// The config nests deeper than [`MAX_JSON_DEPTH`](super::MAX_JSON_DEPTH).
    TooDeep,
    /// Not a JSON object of the kind's fields (syntax, types, unknown or missing fields).
    Json(String),
    /// `channels` is not 3.
    Channels(usize),
    /// `in_size` is not a power of two in the allowed range.
    InSize(usize),
    /// No levels, or more than [`MAX_LEVELS`](super::MAX_LEVELS).
    LevelCount(usize),
    /// `out_size` is not `in_size·2^levels`, or exceeds [`MAX_SIDE`](super::MAX_SIDE).
    OutSize(usize),
    /// `extension` is not symmetric, periodization or zero.
    Extension(String),
    /// `bn_eps` is not a finite number in [f32::MIN_POSITIVE, 1].
    BnEps,
    /// `n_in` is not 3·(s/32)² for the level's input side s.
    NIn {
        /// 1-based level
        level: usize,
        /// required value
        expected: usize,
        /// value found
        found: usize,
    },
    /// `n_tails` is not 3·(s/32)² for the level's input side s.
    NTails {
        /// 1-based level
        level: usize,
        /// required value
        expected: usize,
        /// value found
        found: usize,
    },
    /// `width` outside 1..=[`MAX_WIDTH`](super::MAX_WIDTH).
    Width {
        /// 1-based level
        level: usize,
        /// value found
        found: usize,
    },
    /// `tail_width` outside 1..=[`MAX_WIDTH`](super::MAX_WIDTH).
    TailWidth {
        /// 1-based level
        level: usize,
        /// value found
        found: usize,
    },
    /// `depth` outside the range the level's side and channel limits allow.
    Depth {
        /// 1-based level
        level: usize,
        /// value found
        found: usize,
    },
    /// Pixel decoder `base` outside 1..=[`MAX_WIDTH`](super::MAX_WIDTH).
    Base {
        /// 1-based level
        level: usize,
        /// value found
        found: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TooLarge => {
                write!(f, "config is longer than {} bytes", super::MAX_CONFIG_LEN)
            }
            ConfigError::TooDeep => {
                write!(
                    f,
                    "config nests deeper than {} levels",
                    super::MAX_JSON_DEPTH
                )
            }
            ConfigError::Json(msg) => write!(f, "{msg}"),
            ConfigError::Channels(c) => write!(f, "channels is {c}, must be 3"),
            ConfigError::InSize(s) => {
                write!(f, "in_size {s} is not a power of two in the allowed range")
            }
            ConfigError::LevelCount(n) => {
                write!(f, "{n} levels; must be 1..={}", super::MAX_LEVELS)
            }
            ConfigError::OutSize(s) => write!(
                f,
                "out_size {s} must equal in_size·2^levels and be at most {}",
                super::MAX_SIDE
            ),
            ConfigError::Extension(e) => {
                write!(f, "extension {e:?} is not symmetric, periodization or zero")
            }
            ConfigError::BnEps => write!(f, "bn_eps must be finite, >= f32::MIN_POSITIVE and <= 1"),
            ConfigError::NIn {
                level,
                expected,
                found,
            } => {
                write!(f, "level {level}: n_in is {found}, must be {expected}")
            }
            ConfigError::NTails {
                level,
                expected,
                found,
            } => {
                write!(f, "level {level}: n_tails is {found}, must be {expected}")
            }
            ConfigError::Width { level, found } => write!(
                f,
                "level {level}: width {found} outside 1..={}",
                super::MAX_WIDTH
            ),
            ConfigError::TailWidth { level, found } => write!(
                f,
                "level {level}: tail_width {found} outside 1..={}",
                super::MAX_WIDTH
            ),
            ConfigError::Depth { level, found } => {
                write!(
                    f,
                    "level {level}: depth {found} is out of range for this level"
                )
            }
            ConfigError::Base { level, found } => write!(
                f,
                "level {level}: base {found} outside 1..={}",
                super::MAX_WIDTH
            ),
        }
    }
}

impl core::error::Error for ConfigError {}

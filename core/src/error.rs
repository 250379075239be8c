//! Typed errors of the core. Every public function validates its whole input before it writes anything,
//! so an `Err` always means "nothing was modified".

use core::fmt;

/// Why a core call refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// `levels` was 0; a transform needs at least one level.
    ZeroLevels,
    /// The plane is narrower or shorter than 2 samples.
    TooSmall {
        /// plane width
        width: usize,
        /// plane height
        height: usize,
    },
    /// Level `level` would work on a block with a side below 2.
    TooManyLevels {
        /// 1-based level whose block is too small
        level: u32,
        /// that block's width
        width: usize,
        /// that block's height
        height: usize,
    },
    /// The mode needs even sizes at every level, and level `level`'s block is odd.
    OddSize {
        /// 1-based level whose block is odd
        level: u32,
        /// that block's width
        width: usize,
        /// that block's height
        height: usize,
    },
    /// `stride < width`.
    StrideTooSmall {
        /// given stride
        stride: usize,
        /// plane width
        width: usize,
    },
    /// A size computation (`height * stride`, a buffer length) overflows `usize`.
    SizeOverflow,
    /// The data buffer is shorter than the geometry needs.
    DataTooShort {
        /// elements needed
        needed: usize,
        /// elements given
        got: usize,
    },
    /// The caller's scratch buffer is too short (see `wavelet::scratch_len`).
    ScratchTooShort {
        /// elements needed
        needed: usize,
        /// elements given
        got: usize,
    },
    /// An output buffer has the wrong length.
    OutputLength {
        /// elements needed
        needed: usize,
        /// elements given
        got: usize,
    },
    /// Unknown extension-mode code.
    UnknownExtension(i32),
    /// `reversible53`: `max|x| * 4^levels > 2^29`, so i32 arithmetic could overflow (wavelet.md §3.4).
    RangeExceeded {
        /// largest absolute input value
        max_abs: u64,
        /// requested levels
        levels: u32,
    },
    /// A tiling side that is not 32·2^k.
    BadTileSide(usize),
    /// A tiling call with zero channels.
    ZeroChannels,
}

impl Error {
    /// True when the error is about a buffer length rather than a geometry/mode argument
    /// (the C ABI maps these to `NSBG_ERR_BUFFER_SIZE`).
    pub fn is_buffer_size(&self) -> bool {
        matches!(
            self,
            Error::DataTooShort { .. } | Error::ScratchTooShort { .. } | Error::OutputLength { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::ZeroLevels => write!(f, "levels must be at least 1"),
            Error::TooSmall { width, height } => {
                write!(f, "plane {width}x{height} is too small: both sides must be >= 2")
            }
            Error::TooManyLevels { level, width, height } => write!(
                f,
                "level {level} would transform a {width}x{height} block: both sides must be >= 2"
            ),
            Error::OddSize { level, width, height } => write!(
                f,
                "level {level} block is {width}x{height}: this extension mode needs even sides at every level"
            ),
            Error::StrideTooSmall { stride, width } => {
                write!(f, "stride {stride} is smaller than width {width}")
            }
            Error::SizeOverflow => write!(f, "size computation overflows"),
            Error::DataTooShort { needed, got } => {
                write!(f, "data holds {got} elements, the geometry needs {needed}")
            }
            Error::ScratchTooShort { needed, got } => {
                write!(f, "scratch holds {got} elements, the transform needs {needed}")
            }
            Error::OutputLength { needed, got } => {
                write!(f, "output buffer holds {got} elements, the call needs exactly {needed}")
            }
            Error::UnknownExtension(code) => write!(f, "unknown extension mode {code}"),
            Error::RangeExceeded { max_abs, levels } => write!(
                f,
                "reversible 5/3: max|x| = {max_abs} with {levels} levels exceeds max|x|*4^levels <= 2^29"
            ),
            Error::BadTileSide(side) => {
                write!(f, "tiling side {side} is not 32 times a power of two")
            }
            Error::ZeroChannels => write!(f, "channels must be at least 1"),
        }
    }
}

impl core::error::Error for Error {}

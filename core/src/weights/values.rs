//! Element encoding: little-endian F32, F16 and BF16, widened to (or narrowed from) f32.
//!
//! Widening is exact for both half formats, so checking finiteness on the widened value is the same as
//! checking the stored bits.

use alloc::vec::Vec;
use half::{bf16, f16};

use super::Dtype;

impl Dtype {
    /// The value of one stored element. `bytes` has `self.size()` bytes; anything shorter (impossible for
    /// the chunks we pass) reads as NaN, which every caller treats as invalid.
    fn decode(self, bytes: &[u8]) -> f32 {
        match self {
            Dtype::F32 => bytes
                .first_chunk::<4>()
                .map_or(f32::NAN, |b| f32::from_le_bytes(*b)),
            Dtype::F16 => bytes
                .first_chunk::<2>()
                .map_or(f32::NAN, |b| f16::from_le_bytes(*b).to_f32()),
            Dtype::BF16 => bytes
                .first_chunk::<2>()
                .map_or(f32::NAN, |b| bf16::from_le_bytes(*b).to_f32()),
        }
    }

    /// `v` rounded to this dtype (round to nearest even) and widened back: the value a reader will see.
    pub(crate) fn round_trip(self, v: f32) -> f32 {
        match self {
            Dtype::F32 => v,
            Dtype::F16 => f16::from_f32(v).to_f32(),
            Dtype::BF16 => bf16::from_f32(v).to_f32(),
        }
    }

    /// Appends `v` in this dtype; `v` must already be representable (see [`round_trip`](Self::round_trip)).
    pub(crate) fn encode(self, v: f32, out: &mut Vec<u8>) {
        match self {
            Dtype::F32 => out.extend_from_slice(&v.to_le_bytes()),
            Dtype::F16 => out.extend_from_slice(&f16::from_f32(v).to_le_bytes()),
            Dtype::BF16 => out.extend_from_slice(&bf16::from_f32(v).to_le_bytes()),
        }
    }
}

/// The values of `bytes` (a whole number of elements) widened to f32.
pub(crate) fn decode_all(dtype: Dtype, bytes: &[u8]) -> impl ExactSizeIterator<Item = f32> + '_ {
    bytes
        .chunks_exact(dtype.size())
        .map(move |c| dtype.decode(c))
}

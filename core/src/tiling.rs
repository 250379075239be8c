//! Subband tiling (design.md §Data flow, c-abi.md §Subband tiling): a square planar block of side
//! `32·2^d` is split into `4^d` patches of 32×32 by a depth-`d` wavelet-packet decomposition (every
//! quadrant, details included, is transformed again until it is 32×32). Patch order is quadrant-major
//! (TL, TR, BL, BR at each depth, the first split most significant); layout `[patch][channel][32][32]`.
//!
//! The decoders see a low band of side 64 as 4 patches × 3 channels = 12 channels and one of side
//! 128 as 16 × 3 = 48, which is exactly the paper's level-1 / level-2 input.

use crate::wavelet::{self, Extension};
use crate::Error;
use num_traits::{Float, FloatConst};

/// Side of one patch.
pub const PATCH: usize = 32;

/// Wavelet-packet depth for a block side: `side = 32 · 2^depth`.
pub fn depth(side: usize) -> Result<u32, Error> {
    if side < PATCH || !side.is_multiple_of(PATCH) || !(side / PATCH).is_power_of_two() {
        return Err(Error::BadTileSide(side));
    }
    Ok((side / PATCH).trailing_zeros())
}

/// Number of patches a block of `side` becomes (`4^depth`).
pub fn patch_count(side: usize) -> Result<usize, Error> {
    let d = depth(side)?;
    1usize.checked_shl(2 * d).ok_or(Error::SizeOverflow)
}

/// Elements of a `[channels][side][side]` block (= elements of its `[patch][channel][32][32]` tiling).
pub fn block_len(side: usize, channels: usize) -> Result<usize, Error> {
    depth(side)?;
    if channels == 0 {
        return Err(Error::ZeroChannels);
    }
    side.checked_mul(side)
        .and_then(|v| v.checked_mul(channels))
        .ok_or(Error::SizeOverflow)
}

/// Scratch elements [`tile`] / [`untile`] need for one `side`.
pub fn scratch_len(side: usize) -> Option<usize> {
    side.checked_mul(side)?
        .checked_add(wavelet::scratch_len(side, side)?)
}

/// Top-left corner of node `index` at packet depth `d` (base-4 digits of `index`, most significant first).
fn node_origin(index: usize, d: u32, side: usize) -> (usize, usize) {
    let (mut x, mut y) = (0, 0);
    for l in 0..d {
        let q = (index >> (2 * (d - 1 - l))) & 3;
        let half = side >> (l + 1);
        x += (q & 1) * half;
        y += (q >> 1) * half;
    }
    (x, y)
}

fn check(
    side: usize,
    channels: usize,
    input_len: usize,
    output_len: usize,
    scratch: usize,
) -> Result<u32, Error> {
    let d = depth(side)?;
    let n = block_len(side, channels)?;
    if input_len != n {
        return Err(Error::DataTooShort {
            needed: n,
            got: input_len,
        });
    }
    if output_len != n {
        return Err(Error::OutputLength {
            needed: n,
            got: output_len,
        });
    }
    let needed = scratch_len(side).ok_or(Error::SizeOverflow)?;
    if scratch < needed {
        return Err(Error::ScratchTooShort {
            needed,
            got: scratch,
        });
    }
    Ok(d)
}

/// Splits `block` (`[channels][side][side]`) into `patches` (`[patch][channel][32][32]`).
pub fn tile<T: Float + FloatConst>(
    block: &[T],
    side: usize,
    channels: usize,
    ext: Extension,
    patches: &mut [T],
    scratch: &mut [T],
) -> Result<(), Error> {
    let d = check(side, channels, block.len(), patches.len(), scratch.len())?;
    let (plane, ws) = scratch.split_at_mut(side * side);
    let area = side * side;
    for c in 0..channels {
        plane.copy_from_slice(&block[c * area..(c + 1) * area]);
        for level in 0..d {
            let size = side >> level;
            for node in 0..1usize << (2 * level) {
                let (x, y) = node_origin(node, level, side);
                wavelet::dwt2(&mut plane[y * side + x..], size, size, side, 1, ext, ws)?;
            }
        }
        for p in 0..1usize << (2 * d) {
            let (x, y) = node_origin(p, d, side);
            let dst = &mut patches[(p * channels + c) * PATCH * PATCH..][..PATCH * PATCH];
            for (i, row) in dst.chunks_exact_mut(PATCH).enumerate() {
                row.copy_from_slice(&plane[(y + i) * side + x..][..PATCH]);
            }
        }
    }
    Ok(())
}

/// Exact inverse of [`tile`]: reassembles `block` from `patches`.
pub fn untile<T: Float + FloatConst>(
    patches: &[T],
    side: usize,
    channels: usize,
    ext: Extension,
    block: &mut [T],
    scratch: &mut [T],
) -> Result<(), Error> {
    let d = check(side, channels, patches.len(), block.len(), scratch.len())?;
    let (plane, ws) = scratch.split_at_mut(side * side);
    let area = side * side;
    for c in 0..channels {
        for p in 0..1usize << (2 * d) {
            let (x, y) = node_origin(p, d, side);
            let src = &patches[(p * channels + c) * PATCH * PATCH..][..PATCH * PATCH];
            for (i, row) in src.chunks_exact(PATCH).enumerate() {
                plane[(y + i) * side + x..][..PATCH].copy_from_slice(row);
            }
        }
        for level in (0..d).rev() {
            let size = side >> level;
            for node in 0..1usize << (2 * level) {
                let (x, y) = node_origin(node, level, side);
                wavelet::idwt2(&mut plane[y * side + x..], size, size, side, 1, ext, ws)?;
            }
        }
        block[c * area..(c + 1) * area].copy_from_slice(plane);
    }
    Ok(())
}

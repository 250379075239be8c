//! `nsbg_tile_f32` / `nsbg_untile_f32` (c-abi.md §Subband tiling).

use crate::buffers;
use crate::panic::{ffi_boundary, require_non_null, try_status};
use crate::status::nsbg_status;
use nsbg_core::tiling;
use nsbg_core::wavelet::Extension;

/// # Safety
/// `src` valid for reads, `dst` for writes, of `channels*side*side` floats each.
// Mirrors the two C signatures' arguments one to one (plus the direction), hence the count.
#[allow(clippy::too_many_arguments)]
unsafe fn call(
    src: *const f32,
    src_len: Option<usize>,
    dst: *mut f32,
    dst_len: Option<usize>,
    side: usize,
    channels: usize,
    ext: i32,
    inverse: bool,
) -> nsbg_status {
    require_non_null!(src, dst);
    let ext = try_status!(Extension::from_code(ext));
    let n = try_status!(tiling::block_len(side, channels));
    let (src_len, dst_len) = (src_len.unwrap_or(n), dst_len.unwrap_or(n));
    if src_len != n || dst_len != n {
        return nsbg_status::NSBG_ERR_BUFFER_SIZE;
    }
    try_status!(buffers::disjoint(src, n, dst.cast_const(), n));
    // SAFETY: the header's contract for both buffers; they do not overlap (checked).
    let src = try_status!(unsafe { buffers::slice(src, n) });
    let dst = try_status!(unsafe { buffers::slice_mut(dst, n) });
    let mut scratch = try_status!(buffers::scratch::<f32>(tiling::scratch_len(side)));
    let r = if inverse {
        tiling::untile(src, side, channels, ext, dst, &mut scratch)
    } else {
        tiling::tile(src, side, channels, ext, dst, &mut scratch)
    };
    try_status!(r);
    nsbg_status::NSBG_OK
}

/// Splits a square planar block (`channels` planes of `side`×`side`, side = 32·2^k) into 32×32
/// patches by a depth-log2(side/32) wavelet-packet decomposition, patch order quadrant-major
/// (TL, TR, BL, BR at each depth), output layout `[patch][channel][32][32]`;
/// `patches_len` must equal `channels*side*side`.
///
/// # Safety
/// `block` must be readable for `channels*side*side` floats, `patches` writable for `patches_len`.
#[no_mangle]
pub unsafe extern "C" fn nsbg_tile_f32(
    block: *const f32,
    side: usize,
    channels: usize,
    ext: i32,
    patches: *mut f32,
    patches_len: usize,
) -> nsbg_status {
    ffi_boundary!({
        unsafe {
            call(
                block,
                None,
                patches,
                Some(patches_len),
                side,
                channels,
                ext,
                false,
            )
        }
    })
}

/// Exact inverse of `nsbg_tile_f32`: `block` receives `channels*side*side` floats.
///
/// # Safety
/// `patches` must be readable for `patches_len` floats, `block` writable for `channels*side*side`.
#[no_mangle]
pub unsafe extern "C" fn nsbg_untile_f32(
    patches: *const f32,
    patches_len: usize,
    side: usize,
    channels: usize,
    ext: i32,
    block: *mut f32,
) -> nsbg_status {
    ffi_boundary!({
        unsafe {
            call(
                patches,
                Some(patches_len),
                block,
                None,
                side,
                channels,
                ext,
                true,
            )
        }
    })
}

//! `nsbg_dwt2_*` / `nsbg_idwt2_*` (c-abi.md §Wavelet transform): validate everything, build the
//! slice, allocate scratch, call the core. The plane is touched only after every check passed.

use crate::buffers;
use crate::panic::{ffi_boundary, require_non_null, try_status};
use crate::status::nsbg_status;
use nsbg_core::wavelet::{self, Extension};
use num_traits::{Float, FloatConst};

/// Border extension of the float transforms (the `ext` argument).
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nsbg_extension {
    /// Whole-sample symmetric; perfect reconstruction for every size >= 2 (default).
    NSBG_EXT_SYMMETRIC = 0,
    /// Equals PyWavelets mode='periodization'; even sizes at every level.
    NSBG_EXT_PERIODIZATION = 1,
    /// The seed paper's zero-padded convolution; lossy at borders; even sizes.
    NSBG_EXT_ZERO = 2,
}

#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Inverse,
}

/// # Safety
/// `data` valid for `(height-1)*stride + width` elements when the geometry is valid.
unsafe fn float_call<T: Float + FloatConst + Default>(
    data: *mut T,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    ext: i32,
    dir: Direction,
) -> nsbg_status {
    require_non_null!(data);
    let ext = try_status!(Extension::from_code(ext));
    let span = try_status!(wavelet::check_geometry(
        width,
        height,
        stride,
        levels,
        Some(ext)
    ));
    // SAFETY: the header's contract: `data` spans `height` rows of `stride` elements.
    let plane = try_status!(unsafe { buffers::slice_mut(data, span) });
    let mut scratch = try_status!(buffers::scratch::<T>(wavelet::scratch_len(width, height)));
    let r = match dir {
        Direction::Forward => {
            wavelet::dwt2(plane, width, height, stride, levels, ext, &mut scratch)
        }
        Direction::Inverse => {
            wavelet::idwt2(plane, width, height, stride, levels, ext, &mut scratch)
        }
    };
    try_status!(r);
    nsbg_status::NSBG_OK
}

/// # Safety
/// As `float_call`.
unsafe fn int_call(
    data: *mut i32,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    dir: Direction,
) -> nsbg_status {
    require_non_null!(data);
    let span = try_status!(wavelet::check_geometry(width, height, stride, levels, None));
    // SAFETY: the header's contract, as for the float calls.
    let plane = try_status!(unsafe { buffers::slice_mut(data, span) });
    let mut scratch = try_status!(buffers::scratch::<i32>(wavelet::scratch_len(width, height)));
    let r = match dir {
        Direction::Forward => wavelet::dwt2_i32(plane, width, height, stride, levels, &mut scratch),
        Direction::Inverse => {
            wavelet::idwt2_i32(plane, width, height, stride, levels, &mut scratch)
        }
    };
    try_status!(r);
    nsbg_status::NSBG_OK
}

/// In-place multi-level 2-D forward transform of one f32 plane, packed Mallat layout (wavelet.md).
/// `data`: `height` rows of `stride` elements (`stride >= width`); only the first `width` of each row
/// are touched. `levels >= 1`; every level needs its LL width and height >= 2 (even where `ext` says so).
///
/// # Safety
/// `data` must point to `height` rows of `stride` floats (the last row may end after `width`).
#[no_mangle]
pub unsafe extern "C" fn nsbg_dwt2_f32(
    data: *mut f32,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    ext: i32,
) -> nsbg_status {
    ffi_boundary!({
        unsafe { float_call(data, width, height, stride, levels, ext, Direction::Forward) }
    })
}

/// Inverse of `nsbg_dwt2_f32`.
///
/// # Safety
/// As `nsbg_dwt2_f32`.
#[no_mangle]
pub unsafe extern "C" fn nsbg_idwt2_f32(
    data: *mut f32,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    ext: i32,
) -> nsbg_status {
    ffi_boundary!({
        unsafe { float_call(data, width, height, stride, levels, ext, Direction::Inverse) }
    })
}

/// `nsbg_dwt2_f32` for double planes.
///
/// # Safety
/// As `nsbg_dwt2_f32`, with doubles.
#[no_mangle]
pub unsafe extern "C" fn nsbg_dwt2_f64(
    data: *mut f64,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    ext: i32,
) -> nsbg_status {
    ffi_boundary!({
        unsafe { float_call(data, width, height, stride, levels, ext, Direction::Forward) }
    })
}

/// Inverse of `nsbg_dwt2_f64`.
///
/// # Safety
/// As `nsbg_dwt2_f64`.
#[no_mangle]
pub unsafe extern "C" fn nsbg_idwt2_f64(
    data: *mut f64,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    ext: i32,
) -> nsbg_status {
    ffi_boundary!({
        unsafe { float_call(data, width, height, stride, levels, ext, Direction::Inverse) }
    })
}

/// Reversible integer 5/3 (JPEG 2000 lossless), symmetric extension; `idwt(dwt(x)) == x` bit for bit.
/// Inputs must satisfy `max|x| * 4^levels <= 2^29`, else `NSBG_ERR_INVALID_ARGUMENT`, data untouched.
///
/// # Safety
/// `data` must point to `height` rows of `stride` int32 values.
#[no_mangle]
pub unsafe extern "C" fn nsbg_dwt2_i32(
    data: *mut i32,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
) -> nsbg_status {
    ffi_boundary!({ unsafe { int_call(data, width, height, stride, levels, Direction::Forward) } })
}

/// Inverse of `nsbg_dwt2_i32`.
///
/// # Safety
/// As `nsbg_dwt2_i32`.
#[no_mangle]
pub unsafe extern "C" fn nsbg_idwt2_i32(
    data: *mut i32,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
) -> nsbg_status {
    ffi_boundary!({ unsafe { int_call(data, width, height, stride, levels, Direction::Inverse) } })
}

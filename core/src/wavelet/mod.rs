//! The exact biorthogonal 2.2 (CDF 5/3) 2-D wavelet transform of `shared/spec/wavelet.md`.
//!
//! In place, packed Mallat layout, any `width × height ≥ 2×2`, any level count the sizes allow,
//! row stride `≥ width` (elements past `width` in a row are never touched). Computed by lifting:
//! * float modes ([`Extension`]) for `f32` and `f64`: [`dwt2`] / [`idwt2`];
//! * the reversible JPEG 2000 5/3 on `i32`: [`dwt2_i32`] / [`idwt2_i32`].
//!
//! Nothing here allocates: the caller passes `scratch` of at least [`scratch_len`] elements. Every
//! argument is validated before the first write, so an error leaves the plane untouched.

mod kernel;
mod lines;
mod plane;
mod rowwise;

use crate::Error;
use kernel::{FloatLift, Lift, Rev53};
use lines::Boundary;
use num_traits::{Float, FloatConst};

/// Border extension of the float transform (wavelet.md §1). The numbers are the C ABI codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Extension {
    /// Whole-sample symmetric (JPEG 2000): perfect reconstruction for every size ≥ 2.
    #[default]
    Symmetric = 0,
    /// Periodic; equals PyWavelets `mode='periodization'`. Even sizes at every level.
    Periodization = 1,
    /// The seed paper's zero-padded convolution; lossy at the borders by design. Even sizes.
    Zero = 2,
}

impl Extension {
    /// All modes, in code order.
    pub const ALL: [Extension; 3] = [
        Extension::Symmetric,
        Extension::Periodization,
        Extension::Zero,
    ];

    /// The mode with C ABI code `code`.
    pub fn from_code(code: i32) -> Result<Self, Error> {
        match code {
            0 => Ok(Extension::Symmetric),
            1 => Ok(Extension::Periodization),
            2 => Ok(Extension::Zero),
            other => Err(Error::UnknownExtension(other)),
        }
    }

    /// The spec's name (`symmetric`, `periodization`, `zero`).
    pub fn name(self) -> &'static str {
        match self {
            Extension::Symmetric => "symmetric",
            Extension::Periodization => "periodization",
            Extension::Zero => "zero",
        }
    }

    /// Parses the spec's name.
    pub fn from_name(name: &str) -> Option<Self> {
        Extension::ALL.into_iter().find(|e| e.name() == name)
    }

    /// Whether the mode needs even block sides at every level.
    pub fn needs_even(self) -> bool {
        !matches!(self, Extension::Symmetric)
    }

    fn boundary(self) -> Boundary {
        match self {
            Extension::Symmetric => Boundary::Symmetric,
            Extension::Periodization => Boundary::Periodic,
            Extension::Zero => Boundary::Zero,
        }
    }
}

/// Side of the low band after one level: `ceil(n / 2)`.
pub const fn low_len(n: usize) -> usize {
    n.div_ceil(2)
}

/// Scratch elements every transform of a `width × height` plane needs (any level count, any mode).
/// `None` if the size overflows `usize`.
pub fn scratch_len(width: usize, height: usize) -> Option<usize> {
    plane::scratch_len(width, height)
}

/// Checks a plane geometry for a transform of `levels` levels, without any buffer: sides, stride,
/// level count, even sides where the mode needs them, and that `(height − 1)·stride + width` fits in
/// `usize`. `mode = None` means the reversible integer transform (symmetric, any parity).
/// Returns the number of elements the plane spans, `(height − 1)·stride + width`.
///
/// Callers that build a buffer from raw parts (the C ABI) use this before touching any memory.
pub fn check_geometry(
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    mode: Option<Extension>,
) -> Result<usize, Error> {
    if levels == 0 {
        return Err(Error::ZeroLevels);
    }
    if width < 2 || height < 2 {
        return Err(Error::TooSmall { width, height });
    }
    if stride < width {
        return Err(Error::StrideTooSmall { stride, width });
    }
    let span = (height - 1)
        .checked_mul(stride)
        .and_then(|v| v.checked_add(width))
        .ok_or(Error::SizeOverflow)?;
    let needs_even = mode.is_some_and(Extension::needs_even);
    let (mut w, mut h) = (width, height);
    // Sides at least halve every level, so this loop ends after at most ~64 iterations whatever `levels` is.
    for level in 1..=levels {
        if w < 2 || h < 2 {
            return Err(Error::TooManyLevels {
                level,
                width: w,
                height: h,
            });
        }
        if needs_even && (w % 2 == 1 || h % 2 == 1) {
            return Err(Error::OddSize {
                level,
                width: w,
                height: h,
            });
        }
        w = low_len(w);
        h = low_len(h);
    }
    Ok(span)
}

/// Checks everything about a transform call; returns nothing but errors.
fn validate(
    data_len: usize,
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    mode: Option<Extension>,
    scratch: usize,
) -> Result<(), Error> {
    let needed = check_geometry(width, height, stride, levels, mode)?;
    if data_len < needed {
        return Err(Error::DataTooShort {
            needed,
            got: data_len,
        });
    }
    let needed = scratch_len(width, height).ok_or(Error::SizeOverflow)?;
    if scratch < needed {
        return Err(Error::ScratchTooShort {
            needed,
            got: scratch,
        });
    }
    Ok(())
}

fn run_forward<K: Lift>(
    data: &mut [K::T],
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    bnd: Boundary,
    scratch: &mut [K::T],
) {
    let (mut w, mut h) = (width, height);
    for _ in 0..levels {
        plane::forward_level::<K>(data, w, h, stride, bnd, scratch);
        w = low_len(w);
        h = low_len(h);
    }
}

fn run_inverse<K: Lift>(
    data: &mut [K::T],
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    bnd: Boundary,
    scratch: &mut [K::T],
) {
    // Block sides of each level, smallest (deepest) level first. levels <= 64 after validation.
    let mut sizes = [(0usize, 0usize); 64];
    let (mut w, mut h) = (width, height);
    let n = levels as usize;
    for s in sizes.iter_mut().take(n) {
        *s = (w, h);
        w = low_len(w);
        h = low_len(h);
    }
    for &(w, h) in sizes[..n].iter().rev() {
        plane::inverse_level::<K>(data, w, h, stride, bnd, scratch);
    }
}

/// Forward transform, `levels` levels, in place (wavelet.md §4).
///
/// `data` holds `height` rows of `stride` elements (the last row may stop at `width`); `scratch` at
/// least [`scratch_len`]`(width, height)` elements, contents ignored.
pub fn dwt2<T: Float + FloatConst>(
    data: &mut [T],
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    ext: Extension,
    scratch: &mut [T],
) -> Result<(), Error> {
    validate(
        data.len(),
        width,
        height,
        stride,
        levels,
        Some(ext),
        scratch.len(),
    )?;
    run_forward::<FloatLift<T>>(data, width, height, stride, levels, ext.boundary(), scratch);
    Ok(())
}

/// Inverse of [`dwt2`] (for `Extension::Zero`, the paper's lossy synthesis, wavelet.md §3.3).
pub fn idwt2<T: Float + FloatConst>(
    data: &mut [T],
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    ext: Extension,
    scratch: &mut [T],
) -> Result<(), Error> {
    validate(
        data.len(),
        width,
        height,
        stride,
        levels,
        Some(ext),
        scratch.len(),
    )?;
    run_inverse::<FloatLift<T>>(data, width, height, stride, levels, ext.boundary(), scratch);
    Ok(())
}

/// Largest `|x|` over the plane, as u64 (so `i32::MIN` is representable).
fn max_abs(data: &[i32], width: usize, height: usize, stride: usize) -> u64 {
    let mut m = 0u64;
    for y in 0..height {
        for &v in &data[y * stride..y * stride + width] {
            m = m.max(u64::from(v.unsigned_abs()));
        }
    }
    m
}

/// Reversible integer 5/3 forward transform (JPEG 2000 lossless, symmetric extension), in place.
///
/// Requires `max|x| · 4^levels ≤ 2^29` (wavelet.md §3.4), so that no intermediate can overflow;
/// otherwise [`Error::RangeExceeded`] and the plane is untouched.
pub fn dwt2_i32(
    data: &mut [i32],
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    scratch: &mut [i32],
) -> Result<(), Error> {
    validate(
        data.len(),
        width,
        height,
        stride,
        levels,
        None,
        scratch.len(),
    )?;
    let m = max_abs(data, width, height, stride);
    // max·4^L ≤ 2^29  ⇔  max ≤ 2^(29−2L)  (exact, 4^L is a power of two).
    let fits = m == 0 || (2 * u64::from(levels) <= 29 && m <= (1u64 << 29) >> (2 * levels));
    if !fits {
        return Err(Error::RangeExceeded { max_abs: m, levels });
    }
    run_forward::<Rev53>(
        data,
        width,
        height,
        stride,
        levels,
        Boundary::Symmetric,
        scratch,
    );
    Ok(())
}

/// Inverse of [`dwt2_i32`]; bit-exact: `idwt2_i32(dwt2_i32(x)) == x`. Wrapping arithmetic, so any
/// input (even one no forward call produced) is processed without panicking.
pub fn idwt2_i32(
    data: &mut [i32],
    width: usize,
    height: usize,
    stride: usize,
    levels: u32,
    scratch: &mut [i32],
) -> Result<(), Error> {
    validate(
        data.len(),
        width,
        height,
        stride,
        levels,
        None,
        scratch.len(),
    )?;
    run_inverse::<Rev53>(
        data,
        width,
        height,
        stride,
        levels,
        Boundary::Symmetric,
        scratch,
    );
    Ok(())
}

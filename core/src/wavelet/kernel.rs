//! The lifting formulas of wavelet.md §3.2 (float CDF 5/3 = bior2.2) and §3.4 (JPEG 2000 reversible 5/3),
//! one scalar function per step. This is the only place the formulas are written: both traversals
//! (rows of lanes in `lines.rs` for the vertical pass, de-interleaved rows in `rowwise.rs` for the
//! horizontal one) are generic over this trait, so the float modes and the integer transform share
//! them, and the boundary rules (`lines::Boundary`) are expressed through these same steps.

use core::marker::PhantomData;
use num_traits::{Float, FloatConst};

/// One sample type's lifting steps. `predict`/`update` go forward, `unpredict`/`unupdate` undo them.
/// `update` includes the low-band scaling and `unupdate` removes it, because the low value is never
/// needed unscaled; the high band is scaled separately because its unscaled `d` feeds `update`.
pub(crate) trait Lift {
    type T: Copy + PartialEq;
    /// Additive identity: the `zero` extension's virtual samples.
    fn zero() -> Self::T;
    /// `d = x_odd - (a + b) / 2`
    fn predict(x_odd: Self::T, a: Self::T, b: Self::T) -> Self::T;
    /// `x_odd = d + (a + b) / 2`
    fn unpredict(d: Self::T, a: Self::T, b: Self::T) -> Self::T;
    /// `lo = scale_lo(x_even + (dl + dr) / 4)`
    fn update(x_even: Self::T, dl: Self::T, dr: Self::T) -> Self::T;
    /// `x_even = unscale_lo(lo) - (dl + dr) / 4`
    fn unupdate(lo: Self::T, dl: Self::T, dr: Self::T) -> Self::T;
    /// `hi = scale_hi(d)`
    fn scale_hi(d: Self::T) -> Self::T;
    /// `d = unscale_hi(hi)`
    fn unscale_hi(hi: Self::T) -> Self::T;
}

/// Float bior2.2 lifting: `lo = √2·s`, `hi = −d/√2` (pywt's sign and scale).
pub(crate) struct FloatLift<T>(PhantomData<T>);

impl<T: Float + FloatConst> Lift for FloatLift<T> {
    type T = T;
    #[inline(always)]
    fn zero() -> T {
        T::zero()
    }
    #[inline(always)]
    fn predict(x_odd: T, a: T, b: T) -> T {
        x_odd - half::<T>() * (a + b)
    }
    #[inline(always)]
    fn unpredict(d: T, a: T, b: T) -> T {
        d + half::<T>() * (a + b)
    }
    #[inline(always)]
    fn update(x_even: T, dl: T, dr: T) -> T {
        T::SQRT_2() * (x_even + quarter::<T>() * (dl + dr))
    }
    #[inline(always)]
    fn unupdate(lo: T, dl: T, dr: T) -> T {
        lo * T::FRAC_1_SQRT_2() - quarter::<T>() * (dl + dr)
    }
    #[inline(always)]
    fn scale_hi(d: T) -> T {
        -(d * T::FRAC_1_SQRT_2())
    }
    #[inline(always)]
    fn unscale_hi(hi: T) -> T {
        -(hi * T::SQRT_2())
    }
}

#[inline(always)]
fn half<T: Float>() -> T {
    // Exact in every binary float format, and no fallible conversion.
    T::one() / (T::one() + T::one())
}

#[inline(always)]
fn quarter<T: Float>() -> T {
    half::<T>() * half::<T>()
}

/// JPEG 2000 reversible 5/3 on i32: floors are arithmetic shifts (Rust `/` truncates toward zero,
/// which is wrong for negative values). Wrapping arithmetic keeps the inverse panic-free on any input;
/// the forward transform's range check guarantees it never actually wraps for accepted inputs.
pub(crate) struct Rev53;

impl Lift for Rev53 {
    type T = i32;
    #[inline(always)]
    fn zero() -> i32 {
        0
    }
    #[inline(always)]
    fn predict(x_odd: i32, a: i32, b: i32) -> i32 {
        x_odd.wrapping_sub(a.wrapping_add(b) >> 1)
    }
    #[inline(always)]
    fn unpredict(d: i32, a: i32, b: i32) -> i32 {
        d.wrapping_add(a.wrapping_add(b) >> 1)
    }
    #[inline(always)]
    fn update(x_even: i32, dl: i32, dr: i32) -> i32 {
        x_even.wrapping_add(dl.wrapping_add(dr).wrapping_add(2) >> 2)
    }
    #[inline(always)]
    fn unupdate(lo: i32, dl: i32, dr: i32) -> i32 {
        lo.wrapping_sub(dl.wrapping_add(dr).wrapping_add(2) >> 2)
    }
    #[inline(always)]
    fn scale_hi(d: i32) -> i32 {
        d
    }
    #[inline(always)]
    fn unscale_hi(hi: i32) -> i32 {
        hi
    }
}

//! The horizontal pass: lifting along one contiguous row (wavelet.md §3.2, §3.4).
//!
//! Why not the row-of-lanes traversal of `lines.rs`: it vectorises *across* the lanes of whole
//! rows, which along a row would mean a transpose (the previous design, which spent most of its
//! time transposing). Here the row is de-interleaved instead: its even samples `e[k] = x[2k]` and
//! odd samples `o[k] = x[2k+1]` go to scratch, and then every lifting step is a map over `k` of
//! shifted contiguous slices (`d[k]` from `o[k]`, `e[k]`, `e[k+1]`; `lo[k]` from `e[k]`, `d[k-1]`,
//! `d[k]`), which the compiler vectorises along the row. Forward, predict, update and scaling run in
//! one pass (the `d[k-1]` of step `k` is the `d` of step `k-1`, kept in a register) that writes the
//! low and high halves straight back into the row; inverse, one pass unscales and unupdates into
//! scratch and a second one unpredicts and interleaves back into the row.
//!
//! The formulas are the same [`Lift`] steps as the vertical pass, and every value beyond a band's
//! edge (`x[N]`, `d[-1]`, `d[nH]`) comes from the same [`Boundary`] methods, so both traversals
//! compute bit-identical values (the horizontal pass used to run the `lines.rs` code on transposed
//! rows; its results are unchanged to the bit).

use super::kernel::Lift;
use super::lines::Boundary;

/// Scratch values [`forward`] / [`inverse`] need for a row of `n` samples: the `ceil(n/2)` even
/// samples plus `x[N]`, and the `n/2` odd samples (forward) or unscaled `d` (inverse).
pub(crate) fn scratch_len(n: usize) -> Option<usize> {
    n.checked_add(1)
}

/// Forward lifting of one row of `n = row.len() >= 2` samples (even `n` for `Periodic`/`Zero`),
/// in place: lows in `row[..ceil(n/2)]`, highs after them. `scratch` holds [`scratch_len`]`(n)`
/// values, contents ignored.
#[inline]
pub(crate) fn forward<K: Lift>(row: &mut [K::T], bnd: Boundary, scratch: &mut [K::T]) {
    let n = row.len();
    let (nl, nh) = (n.div_ceil(2), n / 2);
    // e[k] = x[2k] for k < nl, then x[N] (n even); o[k] = x[2k+1].
    let (e, rest) = scratch.split_at_mut(nl + 1);
    let o = &mut rest[..nh];
    let (pairs, tail) = row.split_at(2 * nh);
    for ((p, ek), ok) in pairs.chunks_exact(2).zip(&mut e[..nh]).zip(o.iter_mut()) {
        *ek = p[0];
        *ok = p[1];
    }
    if n % 2 == 1 {
        e[nh] = tail[0];
    } else {
        let x_end = bnd.fwd_x_end::<K>(nh, |k| e[k]);
        e[nh] = x_end;
    }
    let (e, o): (&[K::T], &[K::T]) = (e, o);
    // d[j], for the boundary values that copy one.
    let d = |j: usize| K::predict(o[j], e[j], e[j + 1]);
    // One pass: predict d[k], update with d[k-1] (carried over from the previous step) and d[k].
    let mut dl = bnd.fwd_d_start::<K>(nh, |k| e[k], d);
    let (lo, hi) = row.split_at_mut(nl);
    for ((((l, h), &x), &xn), &xo) in lo.iter_mut().zip(hi.iter_mut()).zip(e).zip(&e[1..]).zip(o) {
        let dr = K::predict(xo, x, xn);
        *l = K::update(x, dl, dr);
        *h = K::scale_hi(dr);
        dl = dr;
    }
    if n % 2 == 1 {
        lo[nh] = K::update(e[nh], dl, d(bnd.d_end(nh)));
    }
}

/// Exact inverse of [`forward`] (same arguments, packed row).
#[inline]
pub(crate) fn inverse<K: Lift>(row: &mut [K::T], bnd: Boundary, scratch: &mut [K::T]) {
    let n = row.len();
    let (nl, nh) = (n.div_ceil(2), n / 2);
    // e[k] = x[2k] for k < nl, then x[N] (n even); d[k] unscaled.
    let (e, rest) = scratch.split_at_mut(nl + 1);
    let d = &mut rest[..nh];
    let (lo, hi) = row.split_at(nl);
    // One pass: unscale d[k], unupdate with d[k-1] (carried over from the previous step) and d[k].
    let mut dl = bnd.inv_d_start::<K>(nh, |j| K::unscale_hi(hi[j]));
    for (((x, &l), &h), dk) in e[..nh].iter_mut().zip(lo).zip(hi).zip(d.iter_mut()) {
        let dr = K::unscale_hi(h);
        *x = K::unupdate(l, dl, dr);
        *dk = dr;
        dl = dr;
    }
    if n % 2 == 1 {
        e[nh] = K::unupdate(lo[nh], dl, d[bnd.d_end(nh)]);
    } else {
        let x_end = bnd.inv_x_end::<K>(nh, |k| e[k], |j| d[j]);
        e[nh] = x_end;
    }
    // Unpredict and interleave in one pass.
    let (pairs, tail) = row.split_at_mut(2 * nh);
    for (((p, &x), &xn), &dk) in pairs
        .chunks_exact_mut(2)
        .zip(&e[..nh])
        .zip(&e[1..])
        .zip(&*d)
    {
        p[0] = x;
        p[1] = K::unpredict(dk, x, xn);
    }
    if n % 2 == 1 {
        tail[0] = e[nh];
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernel::{FloatLift, Lift, Rev53};
    use super::super::lines::{self, Boundary, RowHook};

    struct NoHook;

    impl<T> RowHook<T> for NoHook {
        fn rows(&mut self, _: &mut [T], _: usize, _: usize) {}
    }

    const N: usize = 64;

    /// The row-wise routine against the row-of-lanes traversal run on one lane: the same formulas
    /// and the same boundary rules, so both directions must agree to the bit for every length.
    fn agree<K: Lift>(bnd: Boundary, sample: impl Fn(usize) -> K::T) {
        for n in 2..=N {
            if bnd != Boundary::Symmetric && n % 2 == 1 {
                continue;
            }
            let mut x = [K::zero(); N];
            for (i, v) in x[..n].iter_mut().enumerate() {
                *v = sample(i * 31 + n);
            }
            let mut lanes_scratch = [K::zero(); N / 2 + 2];
            let mut row_scratch = [K::zero(); N + 1];
            assert_eq!(lines::scratch_len(n, 1), Some(n / 2 + 2));
            assert!(super::scratch_len(n).is_some_and(|l| l <= N + 1));
            // Forward on `x`, inverse on `x` taken as coefficients (any values are valid input).
            let (mut a, mut b) = (x, x);
            lines::forward::<K>(&mut a[..n], n, 1, 1, bnd, &mut lanes_scratch, &mut NoHook);
            super::forward::<K>(&mut b[..n], bnd, &mut row_scratch);
            assert!(a[..n] == b[..n], "forward {bnd:?} n={n}");
            let (mut a, mut b) = (x, x);
            lines::inverse::<K>(&mut a[..n], n, 1, 1, bnd, &mut lanes_scratch, &mut NoHook);
            super::inverse::<K>(&mut b[..n], bnd, &mut row_scratch);
            assert!(a[..n] == b[..n], "inverse {bnd:?} n={n}");
        }
    }

    fn noise(i: usize) -> i32 {
        (i.wrapping_mul(2_654_435_761) % 2001) as i32 - 1000
    }

    #[test]
    fn row_wise_equals_lanes_traversal() {
        for bnd in [Boundary::Symmetric, Boundary::Periodic, Boundary::Zero] {
            agree::<FloatLift<f64>>(bnd, |i| f64::from(noise(i)) / 37.0);
            agree::<FloatLift<f32>>(bnd, |i| noise(i) as f32 / 37.0);
        }
        agree::<Rev53>(Boundary::Symmetric, noise);
    }
}

//! Two-dimensional levels (wavelet.md §4): vertical pass then horizontal pass forward, the reverse
//! inverse. The vertical pass lifts whole rows at once; the horizontal pass transposes strips of
//! `STRIP` rows into scratch so that the same row-wise lifting code applies (columns become rows of
//! `STRIP` lanes, which keeps the inner loops contiguous and vectorisable).

use super::kernel::Lift;
use super::lines::{self, Boundary};

/// Rows per transposed strip in the horizontal pass.
pub(crate) const STRIP: usize = 16;

/// Scratch values one level of a `w × h` block needs (the first level is the largest).
pub(crate) fn scratch_len(w: usize, h: usize) -> Option<usize> {
    let vertical = lines::scratch_len(h, w)?;
    let rows = STRIP.min(h);
    let horizontal = rows
        .checked_mul(w)?
        .checked_add(lines::scratch_len(w, rows)?)?;
    Some(vertical.max(horizontal))
}

type Pass<K> = fn(&mut [<K as Lift>::T], usize, usize, usize, Boundary, &mut [<K as Lift>::T]);

/// Forward level on the top-left `w × h` block of `data` (row stride `stride`).
pub(crate) fn forward_level<K: Lift>(
    data: &mut [K::T],
    w: usize,
    h: usize,
    stride: usize,
    bnd: Boundary,
    scratch: &mut [K::T],
) {
    lines::forward::<K>(
        &mut data[..(h - 1) * stride + w],
        h,
        w,
        stride,
        bnd,
        scratch,
    );
    horizontal::<K>(data, w, h, stride, bnd, scratch, lines::forward::<K>);
}

/// Inverse level on the top-left `w × h` block.
pub(crate) fn inverse_level<K: Lift>(
    data: &mut [K::T],
    w: usize,
    h: usize,
    stride: usize,
    bnd: Boundary,
    scratch: &mut [K::T],
) {
    horizontal::<K>(data, w, h, stride, bnd, scratch, lines::inverse::<K>);
    lines::inverse::<K>(
        &mut data[..(h - 1) * stride + w],
        h,
        w,
        stride,
        bnd,
        scratch,
    );
}

fn horizontal<K: Lift>(
    data: &mut [K::T],
    w: usize,
    h: usize,
    stride: usize,
    bnd: Boundary,
    scratch: &mut [K::T],
    pass: Pass<K>,
) {
    let mut y0 = 0;
    while y0 < h {
        let r = STRIP.min(h - y0);
        let (strip, rest) = scratch.split_at_mut(w * r);
        let block = &mut data[y0 * stride..];
        gather(block, stride, w, r, strip);
        pass(strip, w, r, r, bnd, rest);
        scatter(strip, w, r, block, stride);
        y0 += r;
    }
}

/// Columns `0..w` of `r` rows (row stride `stride`) into `strip`, column-major (`strip[j*r + i]`).
/// Full 16×16 tiles go through a fixed-size local array, which the compiler unrolls without bounds
/// checks; the ragged edges take the plain loop.
fn gather<T: Copy>(block: &[T], stride: usize, w: usize, r: usize, strip: &mut [T]) {
    let full = if r == STRIP { w - w % STRIP } else { 0 };
    for j0 in (0..full).step_by(STRIP) {
        let tile: [[T; STRIP]; STRIP] = core::array::from_fn(|i| {
            let src: &[T; STRIP] = block[i * stride + j0..][..STRIP]
                .try_into()
                .unwrap_or_else(|_| unreachable!());
            *src
        });
        for (jj, out) in strip[j0 * STRIP..(j0 + STRIP) * STRIP]
            .chunks_exact_mut(STRIP)
            .enumerate()
        {
            for (i, o) in out.iter_mut().enumerate() {
                *o = tile[i][jj];
            }
        }
    }
    for i in 0..r {
        for j in full..w {
            strip[j * r + i] = block[i * stride + j];
        }
    }
}

/// Inverse of [`gather`].
fn scatter<T: Copy>(strip: &[T], w: usize, r: usize, block: &mut [T], stride: usize) {
    let full = if r == STRIP { w - w % STRIP } else { 0 };
    for j0 in (0..full).step_by(STRIP) {
        let tile: [[T; STRIP]; STRIP] = core::array::from_fn(|jj| {
            let src: &[T; STRIP] = strip[(j0 + jj) * STRIP..][..STRIP]
                .try_into()
                .unwrap_or_else(|_| unreachable!());
            *src
        });
        for i in 0..STRIP {
            let dst = &mut block[i * stride + j0..][..STRIP];
            for (jj, o) in dst.iter_mut().enumerate() {
                *o = tile[jj][i];
            }
        }
    }
    for i in 0..r {
        for j in full..w {
            block[i * stride + j] = strip[j * r + i];
        }
    }
}

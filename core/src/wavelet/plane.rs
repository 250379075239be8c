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
        for i in 0..r {
            let src = &block[i * stride..i * stride + w];
            for (j, &v) in src.iter().enumerate() {
                strip[j * r + i] = v;
            }
        }
        pass(strip, w, r, r, bnd, rest);
        for i in 0..r {
            let dst = &mut block[i * stride..i * stride + w];
            for (j, v) in dst.iter_mut().enumerate() {
                *v = strip[j * r + i];
            }
        }
        y0 += r;
    }
}

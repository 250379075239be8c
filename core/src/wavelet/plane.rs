//! Two-dimensional levels (wavelet.md §4): vertical pass then horizontal pass forward, the reverse
//! inverse. The vertical pass lifts whole rows at once; the horizontal pass transposes strips of
//! `STRIP` rows into scratch so that the same row-wise lifting code applies (columns become rows of
//! `STRIP` lanes, which keeps the inner loops contiguous and vectorisable).

use super::kernel::Lift;
use super::lines::{self, Boundary, NoHook, RowHook};

/// Rows per transposed strip in the horizontal pass.
pub(crate) const STRIP: usize = lines::HOOK_ROWS;

/// Scratch values one level of a `w × h` block needs (the first level is the largest): the
/// vertical pass's rows plus, beside them, the horizontal pass's transposed strip and its rows.
pub(crate) fn scratch_len(w: usize, h: usize) -> Option<usize> {
    lines::scratch_len(h, w)?.checked_add(horizontal_len(w, STRIP.min(h))?)
}

fn horizontal_len(w: usize, rows: usize) -> Option<usize> {
    rows.checked_mul(w)?
        .checked_add(lines::scratch_len(w, rows)?)
}

#[derive(Clone, Copy)]
enum Direction {
    Forward,
    Inverse,
}

/// The horizontal pass as a row hook of the vertical pass: it transforms each group of rows right
/// after the vertical pass finished them (forward) or right before it reads them (inverse), while
/// they are in cache. Each level thus sweeps memory once instead of twice.
struct Horizontal<'s, K: Lift> {
    w: usize,
    stride: usize,
    bnd: Boundary,
    dir: Direction,
    scratch: &'s mut [K::T],
}

impl<K: Lift> RowHook<K::T> for Horizontal<'_, K> {
    fn rows(&mut self, data: &mut [K::T], first: usize, count: usize) {
        let (w, stride) = (self.w, self.stride);
        let block = &mut data[first * stride..];
        let (strip, rest) = self.scratch.split_at_mut(w * count);
        gather(block, stride, w, count, strip);
        match self.dir {
            Direction::Forward => {
                lines::forward::<K>(strip, w, count, count, self.bnd, rest, &mut NoHook)
            }
            Direction::Inverse => {
                lines::inverse::<K>(strip, w, count, count, self.bnd, rest, &mut NoHook)
            }
        }
        scatter(strip, w, count, block, stride);
    }
}

/// Forward level on the top-left `w × h` block of `data` (row stride `stride`).
pub(crate) fn forward_level<K: Lift>(
    data: &mut [K::T],
    w: usize,
    h: usize,
    stride: usize,
    bnd: Boundary,
    scratch: &mut [K::T],
) {
    level::<K>(data, w, h, stride, bnd, scratch, Direction::Forward);
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
    level::<K>(data, w, h, stride, bnd, scratch, Direction::Inverse);
}

fn level<K: Lift>(
    data: &mut [K::T],
    w: usize,
    h: usize,
    stride: usize,
    bnd: Boundary,
    scratch: &mut [K::T],
    dir: Direction,
) {
    let vlen = (h / 2 + 2) * w;
    let (vscratch, hscratch) = scratch.split_at_mut(vlen);
    let mut hook = Horizontal::<K> {
        w,
        stride,
        bnd,
        dir,
        scratch: hscratch,
    };
    let plane = &mut data[..(h - 1) * stride + w];
    match dir {
        Direction::Forward => lines::forward::<K>(plane, h, w, stride, bnd, vscratch, &mut hook),
        Direction::Inverse => lines::inverse::<K>(plane, h, w, stride, bnd, vscratch, &mut hook),
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

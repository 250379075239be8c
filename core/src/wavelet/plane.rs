//! Two-dimensional levels (wavelet.md §4): vertical pass then horizontal pass forward, the reverse
//! inverse.
//!
//! Each pass uses the traversal that keeps its inner loops contiguous: the vertical pass lifts whole
//! rows at once (`lines.rs`, vectorised across the row's columns), the horizontal pass lifts each row
//! along itself on its de-interleaved even/odd halves (`rowwise.rs`, vectorised along the row). The
//! horizontal pass runs as a row hook of the vertical one, on rows that are still in cache.

use super::kernel::Lift;
use super::lines::{self, Boundary, RowHook};
use super::rowwise;

/// Scratch values one level of a `w × h` block needs (the first level is the largest, and both
/// terms grow with `w` and `h`): the vertical pass's rows plus, beside them, one row's even/odd
/// halves for the horizontal pass.
pub(crate) fn scratch_len(w: usize, h: usize) -> Option<usize> {
    lines::scratch_len(h, w)?.checked_add(rowwise::scratch_len(w)?)
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
        for r in first..first + count {
            let row = &mut data[r * stride..r * stride + w];
            match self.dir {
                Direction::Forward => rowwise::forward::<K>(row, self.bnd, self.scratch),
                Direction::Inverse => rowwise::inverse::<K>(row, self.bnd, self.scratch),
            }
        }
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
    // Cannot overflow: `scratch_len` of the first level (the largest) was checked by the caller.
    let (vscratch, hscratch) = scratch.split_at_mut(lines::scratch_rows(h) * w);
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

//! The boundary rules of the lifting steps, and the lifting traversal of the vertical pass.
//!
//! The 2-D transform lifts along two axes, and each gets the traversal whose inner loops are
//! contiguous in memory (and so vectorise):
//! * vertical (this file, [`forward`] / [`inverse`]): the samples are whole image rows ("rows of
//!   `lanes` values"), and every lifting step is a map *across* the lanes of three rows (a column
//!   is strided in memory, but the same column of neighbouring rows is a contiguous run of lanes);
//! * horizontal (`rowwise.rs`): the samples are the values of one row; the row is split into its
//!   even and odd halves, and every lifting step is a map *along* the row over shifted slices.
//!
//! Both traversals evaluate the same lifting formulas (the [`Lift`] trait) and take every value
//! beyond a band's edge from the one set of rules below ([`Boundary`]); they differ only in how
//! samples are laid out and in which order they are produced. (Before the row-wise pass, the
//! horizontal pass transposed blocks of rows to reuse this traversal; the transposes cost more than
//! the lifting itself.)
//!
//! Here sample `i` occupies `data[i*ss .. i*ss + lanes]`. Both directions work in place with
//! `(n/2 + 2) * lanes` scratch values: the unscaled high band `d` (n/2 rows) and two boundary rows.
//! The forward pass writes low row `k` into data row `k` as soon as input rows `2k..2k+2` are consumed
//! (row `k` is never read again); the inverse runs `k` downward so that writing output rows
//! `2k, 2k+1` never clobbers a low row that is still to be read.

use super::kernel::Lift;

/// Extension rule at the borders (wavelet.md §3.2, §3.3): the only values a lifting pass ever needs
/// from beyond a band are `x[N]` (last predict, `N` even), `d[-1]` (first update) and `d[nH]` (last
/// update, `N` odd). [`Boundary::x_end`], [`Boundary::d_start`] and [`Boundary::d_end`] say where
/// each comes from, and the `fwd_*` / `inv_*` methods evaluate them; both traversals use only these.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Boundary {
    Symmetric,
    Periodic,
    Zero,
}

/// Where a value beyond a band's edge comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Edge {
    /// A copy of the value with this index in the same band (see each method for the band).
    At(usize),
    /// The `zero` mode's filter form written as a lifting boundary value: the samples the direction
    /// reads (input samples forward, coefficients inverse) are 0 outside the signal, and the
    /// boundary value is what the lifting step makes of them.
    Zero,
}

impl Boundary {
    /// `x[N]` for even `N = 2·nh`, the right operand of the last predict (forward) and unpredict
    /// (inverse), as an index `k` of the even samples `x[2k]`. Symmetric: `x[N-2]` (whole-sample
    /// symmetric extension); periodic: `x[0]`; zero: see [`Boundary::fwd_x_end`] /
    /// [`Boundary::inv_x_end`]. (For odd `N` the predicts never reach past `x[N-1]`.)
    #[inline(always)]
    pub(crate) fn x_end(self, nh: usize) -> Edge {
        match self {
            Boundary::Symmetric => Edge::At(nh - 1),
            Boundary::Periodic => Edge::At(0),
            Boundary::Zero => Edge::Zero,
        }
    }

    /// `d[-1]`, the left operand of the first update / unupdate, as an index of `d`. Symmetric: `d[0]`
    /// (`d[-1] = X(-1) - (X(-2) + X(0))/2 = d[0]`); periodic: `d[nH-1]`; zero: see
    /// [`Boundary::fwd_d_start`] / [`Boundary::inv_d_start`].
    #[inline(always)]
    pub(crate) fn d_start(self, nh: usize) -> Edge {
        match self {
            Boundary::Symmetric => Edge::At(0),
            Boundary::Periodic => Edge::At(nh - 1),
            Boundary::Zero => Edge::Zero,
        }
    }

    /// `d[nH]`, the right operand of the last update / unupdate when `N` is odd, as an index of `d`:
    /// `d[nH-1]`. Only the symmetric extension allows odd `N`.
    #[inline(always)]
    pub(crate) fn d_end(self, nh: usize) -> usize {
        debug_assert_eq!(self, Boundary::Symmetric);
        nh - 1
    }

    /// Forward `x[N]` (`N` even); `even(k)` reads the input sample `x[2k]`. Zero: `X(N) = 0`.
    #[inline(always)]
    pub(crate) fn fwd_x_end<K: Lift>(self, nh: usize, even: impl Fn(usize) -> K::T) -> K::T {
        match self.x_end(nh) {
            Edge::At(k) => even(k),
            Edge::Zero => K::zero(),
        }
    }

    /// Forward `d[-1]`; `even(k)` reads the input sample `x[2k]`, `d(j)` the (unscaled) `d[j]`.
    /// Zero: `d[-1] = X(-1) - (X(-2) + X(0))/2` with `X(-1) = X(-2) = 0`, i.e. `-x[0]/2`.
    #[inline(always)]
    pub(crate) fn fwd_d_start<K: Lift>(
        self,
        nh: usize,
        even: impl Fn(usize) -> K::T,
        d: impl Fn(usize) -> K::T,
    ) -> K::T {
        match self.d_start(nh) {
            Edge::At(j) => d(j),
            Edge::Zero => K::predict(K::zero(), even(0), K::zero()),
        }
    }

    /// Inverse `d[-1]`; `d(j)` reads the unscaled `d[j]`. Zero: the high coefficient `hi[-1]` is 0.
    #[inline(always)]
    pub(crate) fn inv_d_start<K: Lift>(self, nh: usize, d: impl Fn(usize) -> K::T) -> K::T {
        match self.d_start(nh) {
            Edge::At(j) => d(j),
            Edge::Zero => K::zero(),
        }
    }

    /// Inverse `x[N]` (`N` even); `even(k)` reads the reconstructed `x[2k]`, `d(j)` the unscaled
    /// `d[j]`. Zero: `x[N] = s[nH] - (d[nH-1] + d[nH])/4` with `lo[nH] = hi[nH] = 0`, i.e.
    /// `-d[nH-1]/4` (the paper's synthesis, wavelet.md §3.3).
    #[inline(always)]
    pub(crate) fn inv_x_end<K: Lift>(
        self,
        nh: usize,
        even: impl Fn(usize) -> K::T,
        d: impl Fn(usize) -> K::T,
    ) -> K::T {
        match self.x_end(nh) {
            Edge::At(k) => even(k),
            Edge::Zero => K::unupdate(K::zero(), d(nh - 1), K::zero()),
        }
    }
}

/// Scratch rows (of `lanes` values) `forward`/`inverse` need for `n` samples.
pub(crate) const fn scratch_rows(n: usize) -> usize {
    n / 2 + 2
}

/// Scratch values `forward`/`inverse` need for `n` samples of `lanes`.
pub(crate) fn scratch_len(n: usize, lanes: usize) -> Option<usize> {
    scratch_rows(n).checked_mul(lanes)
}

#[inline(always)]
fn row<T>(data: &[T], i: usize, ss: usize, lanes: usize) -> &[T] {
    &data[i * ss..i * ss + lanes]
}

#[inline(always)]
fn row_mut<T>(data: &mut [T], i: usize, ss: usize, lanes: usize) -> &mut [T] {
    &mut data[i * ss..i * ss + lanes]
}

/// Read access to every row except row `w`, which [`split`] hands out mutably.
struct Others<'a, T> {
    before: &'a [T],
    after: &'a [T],
    w: usize,
    ss: usize,
    lanes: usize,
}

/// Row `w` mutably, plus read access to all the other rows.
fn split<T>(data: &mut [T], w: usize, ss: usize, lanes: usize) -> (&mut [T], Others<'_, T>) {
    let (before, rest) = data.split_at_mut(w * ss);
    let (dst, after) = rest.split_at_mut(lanes);
    (
        dst,
        Others {
            before,
            after,
            w,
            ss,
            lanes,
        },
    )
}

impl<'a, T> Others<'a, T> {
    /// Row `r != w`.
    fn get(&self, r: usize) -> &'a [T] {
        if r < self.w {
            row(self.before, r, self.ss, self.lanes)
        } else {
            let off = r * self.ss - self.w * self.ss - self.lanes;
            &self.after[off..off + self.lanes]
        }
    }
}

#[inline(always)]
fn map3<T: Copy>(dst: &mut [T], a: &[T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> T) {
    for (((o, &x), &y), &z) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *o = f(x, y, z);
    }
}

#[inline(always)]
fn map3_in_place<T: Copy>(dst: &mut [T], b: &[T], c: &[T], f: impl Fn(T, T, T) -> T) {
    for ((o, &y), &z) in dst.iter_mut().zip(b).zip(c) {
        *o = f(*o, y, z);
    }
}

#[inline(always)]
fn map1<T: Copy>(dst: &mut [T], a: &[T], f: impl Fn(T) -> T) {
    for (o, &x) in dst.iter_mut().zip(a) {
        *o = f(x);
    }
}

/// Rows are handed to a [`RowHook`] in groups of at most this many.
pub(crate) const HOOK_ROWS: usize = 16;

/// Called by [`forward`] on groups of output rows as soon as they are final, and by [`inverse`] on
/// groups of input rows just before they are first read. The 2-D transform uses it to run the
/// horizontal pass on rows while they are still in cache, instead of in a second sweep over memory.
pub(crate) trait RowHook<T> {
    /// Rows `first .. first + count` of `data`.
    fn rows(&mut self, data: &mut [T], first: usize, count: usize);
}

/// Rows `a..b` through the hook, in groups of at most [`HOOK_ROWS`].
fn hook_span<T>(hook: &mut impl RowHook<T>, data: &mut [T], a: usize, b: usize) {
    for first in (a..b).step_by(HOOK_ROWS) {
        hook.rows(data, first, HOOK_ROWS.min(b - first));
    }
}

/// `d[k] = predict(x[2k+1], x[2k], x[2k+2])`, with `x[N]` taken from `x_end`.
#[inline(always)]
fn predict_row<K: Lift>(
    x: &[K::T],
    dk: &mut [K::T],
    k: usize,
    n: usize,
    ss: usize,
    x_end: &[K::T],
) {
    let lanes = dk.len();
    let b = if 2 * k + 2 < n {
        row(x, 2 * k + 2, ss, lanes)
    } else {
        x_end
    };
    map3(
        dk,
        row(x, 2 * k + 1, ss, lanes),
        row(x, 2 * k, ss, lanes),
        b,
        K::predict,
    );
}

/// Forward lifting of `n >= 2` samples (even `n` for `Periodic`/`Zero`), result packed: low rows
/// `0..ceil(n/2)`, high rows after them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward<K: Lift>(
    data: &mut [K::T],
    n: usize,
    lanes: usize,
    ss: usize,
    bnd: Boundary,
    scratch: &mut [K::T],
    hook: &mut impl RowHook<K::T>,
) {
    let nl = n.div_ceil(2);
    let nh = n / 2;
    let (d, extra) = scratch.split_at_mut(nh * lanes);
    let (left, extra) = extra.split_at_mut(lanes);
    let right = &mut extra[..lanes];
    // x[N] is copied out before the loop overwrites the rows it may copy (periodic: x[0]).
    if n.is_multiple_of(2) {
        let x: &[K::T] = data;
        for (i, r) in right.iter_mut().enumerate() {
            *r = bnd.fwd_x_end::<K>(nh, |k| x[2 * k * ss + i]);
        }
    }
    // d[-1] is needed by step 0. If it copies d[j], compute d[j] now (periodic: j = nH-1) and let
    // step j skip it: before step j the loop writes only low rows k < j, none of d[j]'s inputs.
    let early = match bnd.d_start(nh) {
        Edge::At(j) => {
            predict_row::<K>(data, &mut d[j * lanes..(j + 1) * lanes], j, n, ss, right);
            Some(j)
        }
        Edge::Zero => None,
    };
    let mut flushed = 0;
    for k in 0..nh {
        if early != Some(k) {
            predict_row::<K>(data, &mut d[k * lanes..(k + 1) * lanes], k, n, ss, right);
        }
        let dr = &d[k * lanes..(k + 1) * lanes];
        if k == 0 {
            {
                let (x, dd): (&[K::T], &[K::T]) = (data, d);
                for (i, l) in left.iter_mut().enumerate() {
                    *l = bnd.fwd_d_start::<K>(nh, |m| x[2 * m * ss + i], |j| dd[j * lanes + i]);
                }
            }
            map3_in_place(row_mut(data, 0, ss, lanes), left, dr, K::update);
        } else {
            let dl = &d[(k - 1) * lanes..k * lanes];
            let (dst, o) = split(data, k, ss, lanes);
            map3(dst, o.get(2 * k), dl, dr, K::update);
        }
        // Low rows 0..=k are final and never read again by this pass (inputs still needed are >= 2k+2).
        if k + 1 - flushed == HOOK_ROWS {
            hook.rows(data, flushed, HOOK_ROWS);
            flushed = k + 1;
        }
    }
    if n % 2 == 1 {
        let dl = &d[(nh - 1) * lanes..nh * lanes];
        let j = bnd.d_end(nh);
        let (dst, o) = split(data, nh, ss, lanes);
        map3(
            dst,
            o.get(n - 1),
            dl,
            &d[j * lanes..(j + 1) * lanes],
            K::update,
        );
    }
    if flushed < nl {
        hook.rows(data, flushed, nl - flushed);
    }
    for k0 in (0..nh).step_by(HOOK_ROWS) {
        let count = HOOK_ROWS.min(nh - k0);
        for k in k0..k0 + count {
            map1(
                row_mut(data, nl + k, ss, lanes),
                &d[k * lanes..(k + 1) * lanes],
                K::scale_hi,
            );
        }
        hook.rows(data, nl + k0, count);
    }
}

/// Exact inverse of [`forward`] (same arguments, packed input). The hook sees every row before it
/// is read.
#[allow(clippy::too_many_arguments)]
pub(crate) fn inverse<K: Lift>(
    data: &mut [K::T],
    n: usize,
    lanes: usize,
    ss: usize,
    bnd: Boundary,
    scratch: &mut [K::T],
    hook: &mut impl RowHook<K::T>,
) {
    let nl = n.div_ceil(2);
    let nh = n / 2;
    let (d, extra) = scratch.split_at_mut(nh * lanes);
    let (left, extra) = extra.split_at_mut(lanes);
    let right = &mut extra[..lanes];
    for k0 in (0..nh).step_by(HOOK_ROWS) {
        let count = HOOK_ROWS.min(nh - k0);
        hook.rows(data, nl + k0, count);
        for k in k0..k0 + count {
            map1(
                &mut d[k * lanes..(k + 1) * lanes],
                row(data, nl + k, ss, lanes),
                K::unscale_hi,
            );
        }
    }
    let d: &[K::T] = d;
    for (i, l) in left.iter_mut().enumerate() {
        *l = bnd.inv_d_start::<K>(nh, |j| d[j * lanes + i]);
    }
    let left: &[K::T] = left;
    // Unupdate operands of x[2k]: d[k-1] (d[-1] = `left`) and d[k] (odd n: d[nH] copies a d).
    let d_left = |k: usize| {
        if k > 0 {
            &d[(k - 1) * lanes..k * lanes]
        } else {
            left
        }
    };
    let d_right = |k: usize| {
        let j = if k < nh { k } else { bnd.d_end(nh) };
        &d[j * lanes..(j + 1) * lanes]
    };
    // Low rows [0, ready_lo) and [ready_hi, nl) have been through the hook.
    let (mut ready_lo, mut ready_hi) = (0, nl);
    if n.is_multiple_of(2) {
        // The loop needs x[N] at its first step (k descends). If it copies x[2j], x[2j] is evaluated
        // now from low row j by the same expression the loop uses, so the copy is exact.
        // Low row j must have been through the hook first: mark it ready together with the rows
        // between it and the nearer end of the low band (j is 0 or nH-1), as the loop would.
        if let Edge::At(j) = bnd.x_end(nh) {
            if 2 * j < nl {
                ready_lo = (j + 1).max(HOOK_ROWS.min(nl));
                hook_span(hook, data, 0, ready_lo);
            } else {
                ready_hi = j.min(nl.saturating_sub(HOOK_ROWS));
                hook_span(hook, data, ready_hi, nl);
            }
        }
        let x: &[K::T] = data;
        for (i, r) in right.iter_mut().enumerate() {
            *r = bnd.inv_x_end::<K>(
                nh,
                |j| K::unupdate(x[j * ss + i], d_left(j)[i], d_right(j)[i]),
                |j| d[j * lanes + i],
            );
        }
    }
    let right: &[K::T] = right;
    for k in (0..nl).rev() {
        if k < ready_hi && k >= ready_lo {
            // Rows start..=k are untouched low rows: this loop only writes rows >= 2k.
            let start = ready_lo.max((k + 1).saturating_sub(HOOK_ROWS));
            hook.rows(data, start, k + 1 - start);
            ready_hi = start;
        }
        if k == 0 {
            map3_in_place(
                row_mut(data, 0, ss, lanes),
                d_left(0),
                d_right(0),
                K::unupdate,
            );
        } else {
            let (dst, o) = split(data, 2 * k, ss, lanes);
            map3(dst, o.get(k), d_left(k), d_right(k), K::unupdate);
        }
        if k < nh {
            let (dst, o) = split(data, 2 * k + 1, ss, lanes);
            let b = if 2 * k + 2 < n {
                o.get(2 * k + 2)
            } else {
                right
            };
            map3(
                dst,
                &d[k * lanes..(k + 1) * lanes],
                o.get(2 * k),
                b,
                K::unpredict,
            );
        }
    }
}

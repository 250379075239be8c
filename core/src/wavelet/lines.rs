//! One-dimensional lifting over `n` samples, where a "sample" is a row of `lanes` values.
//!
//! Sample `i` occupies `data[i*ss .. i*ss + lanes]`. The vertical pass of the 2-D transform calls this
//! with the image rows as samples (every lifting step is then a streaming, vectorisable loop over a row);
//! the horizontal pass transposes strips of rows into scratch first and calls the same code, so one
//! implementation of the lifting structure and its boundary rules serves both directions.
//!
//! Both directions work in place with `(n/2 + 2) * lanes` scratch values: the unscaled high band `d`
//! (n/2 rows) and two boundary rows. The forward pass writes low row `k` into data row `k` as soon as
//! input rows `2k..2k+2` are consumed (row `k` is never read again); the inverse runs `k` downward so
//! that writing output rows `2k, 2k+1` never clobbers a low row that is still to be read.

use super::kernel::Lift;

/// Extension rule at the borders (wavelet.md §3.2, §3.3 — the `zero` mode's filter form written as
/// lifting boundary values: `d[-1] = -x[0]/2`, `x[N] = 0` forward; `d[-1] = 0`, `x[N] = -d[nH-1]/4` inverse).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Boundary {
    Symmetric,
    Periodic,
    Zero,
}

/// Scratch values `forward`/`inverse` need for `n` samples of `lanes`.
pub(crate) fn scratch_len(n: usize, lanes: usize) -> Option<usize> {
    (n / 2 + 2).checked_mul(lanes)
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

/// The hook that does nothing (1-D use).
pub(crate) struct NoHook;

impl<T> RowHook<T> for NoHook {
    #[inline(always)]
    fn rows(&mut self, _: &mut [T], _: usize, _: usize) {}
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
    match bnd {
        Boundary::Symmetric => {}
        // d[-1] := d[nH-1], computed ahead so that low row 0 is final at step 0 like every other
        // row; the loop's last step reuses it, because x[N] = x[0] is overwritten by then.
        Boundary::Periodic => map3(
            left,
            row(data, n - 1, ss, lanes),
            row(data, n - 2, ss, lanes),
            row(data, 0, ss, lanes),
            K::predict,
        ),
        // x[N] := 0 and d[-1] := predict(0, x[0], 0) = -x[0]/2.
        Boundary::Zero => {
            right.fill(K::zero());
            map3(left, right, row(data, 0, ss, lanes), right, K::predict);
        }
    }
    let mut flushed = 0;
    for k in 0..nh {
        {
            let x: &[K::T] = data;
            let dk = &mut d[k * lanes..(k + 1) * lanes];
            let b = if 2 * k + 2 < n {
                Some(row(x, 2 * k + 2, ss, lanes))
            } else {
                match bnd {
                    Boundary::Symmetric => Some(row(x, n - 2, ss, lanes)),
                    Boundary::Periodic => None,
                    Boundary::Zero => Some(&*right),
                }
            };
            match b {
                Some(b) => map3(
                    dk,
                    row(x, 2 * k + 1, ss, lanes),
                    row(x, 2 * k, ss, lanes),
                    b,
                    K::predict,
                ),
                None => dk.copy_from_slice(left),
            }
        }
        let dr = &d[k * lanes..(k + 1) * lanes];
        if k == 0 {
            let dl = match bnd {
                Boundary::Symmetric => dr,
                Boundary::Periodic | Boundary::Zero => &*left,
            };
            map3_in_place(row_mut(data, 0, ss, lanes), dl, dr, K::update);
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
    let last = &d[(nh - 1) * lanes..nh * lanes];
    if n % 2 == 1 {
        // Symmetric, odd n: d[nH] := d[nH-1].
        let (dst, o) = split(data, nh, ss, lanes);
        map3(dst, o.get(n - 1), last, last, K::update);
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
    // Low rows [0, ready_lo) and [ready_hi, nl) have been through the hook.
    let (mut ready_lo, mut ready_hi) = (0, nl);
    let last = &d[(nh - 1) * lanes..nh * lanes];
    match bnd {
        Boundary::Symmetric => {}
        // x[N] := x[0], computed before row 0 is overwritten.
        Boundary::Periodic => {
            ready_lo = HOOK_ROWS.min(nl);
            hook.rows(data, 0, ready_lo);
            map3(
                right,
                row(data, 0, ss, lanes),
                last,
                &d[..lanes],
                K::unupdate,
            );
        }
        // d[-1] := 0 and x[N] := unupdate(0, d[nH-1], 0) = -d[nH-1]/4.
        Boundary::Zero => {
            left.fill(K::zero());
            map3(right, left, last, left, K::unupdate);
        }
    }
    for k in (0..nl).rev() {
        if k < ready_hi && k >= ready_lo {
            // Rows start..=k are untouched low rows: this loop only writes rows >= 2k.
            let start = ready_lo.max((k + 1).saturating_sub(HOOK_ROWS));
            hook.rows(data, start, k + 1 - start);
            ready_hi = start;
        }
        let dl = if k > 0 {
            &d[(k - 1) * lanes..k * lanes]
        } else {
            match bnd {
                Boundary::Symmetric => &d[..lanes],
                Boundary::Periodic => last,
                Boundary::Zero => &*left,
            }
        };
        // Odd n, last even sample: d[nH] := d[nH-1].
        let dr = if k < nh {
            &d[k * lanes..(k + 1) * lanes]
        } else {
            last
        };
        if k == 0 {
            map3_in_place(row_mut(data, 0, ss, lanes), dl, dr, K::unupdate);
        } else {
            let (dst, o) = split(data, 2 * k, ss, lanes);
            map3(dst, o.get(k), dl, dr, K::unupdate);
        }
        if k < nh {
            let (dst, o) = split(data, 2 * k + 1, ss, lanes);
            let b = if 2 * k + 2 < n {
                o.get(2 * k + 2)
            } else {
                match bnd {
                    Boundary::Symmetric => o.get(n - 2),
                    Boundary::Periodic | Boundary::Zero => &*right,
                }
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

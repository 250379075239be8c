//! 3×3, padding-1, stride-1 convolution with bias (BatchNorm already folded in) and optional ReLU —
//! the hot path of every decoder.
//!
//! Two algorithms share one GEMM micro-kernel ([`Kernel::gemm`]):
//! * **Winograd F(2,3)** (`wino`): per block of tile rows, input transform → 16 GEMMs
//!   (`M_ξ[k][t] = Σ_c U_ξ[k][c]·V_ξ[c][t]`, lanes = tiles, columns = output channels) → output transform
//!   with bias and ReLU. Used for the large-resolution layers.
//! * **Direct (im2col GEMM)**: `out[k][p] = Σ_{c,tap} W[k][c·9+tap]·x[c][p+tap]`, lanes = pixels, the
//!   input panel packed on the fly. Used for small resolutions, few channels and the 3-channel output
//!   convolutions.
//!
//! Weights are packed once at load time into panels of [`NRP`] output channels (zero padded), so the
//! layout does not depend on the instruction set; activations are planar `[C][H][W]`.

use alloc::vec::Vec;

use super::par;
use super::simd::{AlignedBuf, Init, Kernel, MR_MAX, NRP};
use super::wino;
use super::Algo;

/// Most tiles in one Winograd block (bounds the transformed-input buffer).
const TB_TILES: usize = 256;
/// Input channels per GEMM call in the Winograd path (the packed tile panel stays in L1).
const KC_W: usize = 128;
/// Output-channel panels per Winograd GEMM sub-chunk (bounds the transform-domain output buffer).
const KSUB: usize = 11;

/// Reduction length (input channel × tap) per GEMM call in the direct path.
const KC_D: usize = 9 * 32;

/// The input of a convolution: channels `0..ca` from `a`, the rest from `b` (a channel concatenation
/// without a copy). Planes have `hw` elements.
#[derive(Clone, Copy)]
pub(crate) struct Src<'a> {
    a: &'a [f32],
    ca: usize,
    b: &'a [f32],
    hw: usize,
}

impl<'a> Src<'a> {
    /// All channels from `x`.
    pub(crate) fn one(x: &'a [f32], hw: usize) -> Self {
        Src {
            a: x,
            ca: usize::MAX,
            b: &[],
            hw,
        }
    }

    /// `concat([a, b], dim = channels)`, `a` having `ca` channels.
    pub(crate) fn two(a: &'a [f32], ca: usize, b: &'a [f32], hw: usize) -> Self {
        Src { a, ca, b, hw }
    }

    #[inline]
    fn chan(&self, c: usize) -> &'a [f32] {
        if c < self.ca {
            &self.a[c * self.hw..][..self.hw]
        } else {
            &self.b[(c - self.ca) * self.hw..][..self.hw]
        }
    }
}

/// Scratch a convolution needs at one resolution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Need {
    /// Shared transformed-input buffer (Winograd).
    pub v: usize,
    /// Per-thread scratch.
    pub thread: usize,
}

impl Need {
    pub(crate) fn max(self, o: Need) -> Need {
        Need {
            v: self.v.max(o.v),
            thread: self.thread.max(o.thread),
        }
    }
}

/// Scratch handed to a convolution.
pub(crate) struct Scratch<'a> {
    pub v: &'a mut [f32],
    /// `threads` consecutive pieces of `thread_len`.
    pub thr: &'a mut [f32],
    pub thread_len: usize,
    pub threads: usize,
}

/// A folded 3×3 convolution, packed for the GEMM.
#[derive(Debug)]
pub(crate) struct Conv3x3 {
    pub cin: usize,
    pub cout: usize,
    relu: bool,
    algo: Algo,
    nkp: usize,
    /// `cout` biases, zero padded to `nkp·NRP`.
    bias: Vec<f32>,
    /// Direct: `[kp][c·9+tap][NRP]`; Winograd: `[ξ][kp][c][NRP]`.
    w: AlignedBuf,
}

fn tile_rows_per_block(w: usize) -> usize {
    (TB_TILES / wino::tiles(w)).max(1)
}

fn line(n: usize) -> usize {
    n.div_ceil(16) * 16
}

fn round_up(x: usize, m: usize) -> usize {
    x.div_ceil(m) * m
}

impl Conv3x3 {
    /// Packs `weight` `[cout][cin][3][3]` and `bias` `[cout]` (f32, already folded) for `algo`
    /// (`Direct` or `Winograd`).
    pub(crate) fn new(
        weight: &[f32],
        bias: &[f32],
        cin: usize,
        cout: usize,
        relu: bool,
        algo: Algo,
    ) -> Self {
        debug_assert_eq!(weight.len(), cout * cin * 9);
        debug_assert_eq!(bias.len(), cout);
        let nkp = cout.div_ceil(NRP);
        let mut b = alloc::vec![0.0f32; nkp * NRP];
        b[..cout].copy_from_slice(bias);
        let w = match algo {
            Algo::Winograd => {
                let mut u = AlignedBuf::zeros(16 * nkp * cin * NRP);
                let us = u.as_mut_slice();
                for k in 0..cout {
                    let (kp, j) = (k / NRP, k % NRP);
                    for c in 0..cin {
                        let g: &[f32; 9] =
                            weight[(k * cin + c) * 9..][..9].try_into().expect("9 taps");
                        for (xi, &val) in wino::filter(g).iter().enumerate() {
                            us[((xi * nkp + kp) * cin + c) * NRP + j] = val as f32;
                        }
                    }
                }
                u
            }
            _ => {
                let kk = 9 * cin;
                let mut d = AlignedBuf::zeros(nkp * kk * NRP);
                let ds = d.as_mut_slice();
                for k in 0..cout {
                    let (kp, j) = (k / NRP, k % NRP);
                    for (i, &val) in weight[k * kk..][..kk].iter().enumerate() {
                        ds[(kp * kk + i) * NRP + j] = val;
                    }
                }
                d
            }
        };
        Conv3x3 {
            cin,
            cout,
            relu,
            algo: if algo == Algo::Winograd {
                Algo::Winograd
            } else {
                Algo::Direct
            },
            nkp,
            bias: b,
            w,
        }
    }

    /// Bytes of packed weights and biases.
    pub(crate) fn bytes(&self) -> usize {
        self.w.bytes() + self.bias.len() * 4
    }

    pub(crate) fn algo(&self) -> Algo {
        self.algo
    }

    /// Scratch for an `h × w` input.
    pub(crate) fn need(&self, h: usize, w: usize) -> Need {
        match self.algo {
            Algo::Winograd => {
                let tw = wino::tiles(w);
                let rows = tile_rows_per_block(w).min(wino::tiles(h));
                let nt = rows * tw;
                let tbpad = round_up(nt, MR_MAX);
                let input = wino::eo_len(w, rows);
                Need {
                    v: 16 * self.cin * tbpad,
                    thread: input.max(self.gemm_out_len(w, tbpad)),
                }
            }
            _ => Need {
                v: 0,
                thread: KC_D * MR_MAX,
            },
        }
    }

    fn gemm_out_len(&self, w: usize, tbpad: usize) -> usize {
        16 * KSUB.min(self.nkp) * NRP * tbpad + wino::out_tmp_len(w)
    }

    /// Per-thread scratch of [`Self::forward_range`] with a precomputed `v` (Winograd) — see `tails`.
    pub(crate) fn range_need(&self, h: usize, w: usize, own_v: bool) -> usize {
        match self.algo {
            Algo::Winograd => {
                let nt = wino::tiles(h) * wino::tiles(w);
                let tbpad = round_up(nt, MR_MAX);
                let gemm = self.gemm_out_len(w, tbpad);
                if own_v {
                    line(16 * self.cin * tbpad) + gemm.max(wino::eo_len(w, wino::tiles(h)))
                } else {
                    gemm
                }
            }
            _ => KC_D * MR_MAX,
        }
    }

    /// Whether the whole `h × w` plane is one Winograd block (so one input transform serves every
    /// output-channel range, see [`Self::forward_range`]).
    pub(crate) fn single_block(&self, h: usize, w: usize) -> bool {
        wino::tiles(h) <= tile_rows_per_block(w)
    }

    /// `out[cout][h][w] = act(conv(x) + bias)`, parallel over `s.threads`.
    pub(crate) fn forward<K: Kernel>(
        &self,
        k: K,
        x: Src<'_>,
        h: usize,
        w: usize,
        out: &mut [f32],
        s: &mut Scratch<'_>,
    ) {
        let out = &mut out[..self.cout * h * w];
        // Below ~1M multiply-adds a layer is not worth the threads' start-up.
        let small = self.cin * self.cout * h * w * 9 < 1 << 20;
        let (tl, threads) = (s.thread_len, if small { 1 } else { s.threads });
        match self.algo {
            Algo::Winograd => {
                let (tw, th) = (wino::tiles(w), wino::tiles(h));
                let rows = tile_rows_per_block(w);
                let mut ty0 = 0;
                while ty0 < th {
                    let ty1 = (ty0 + rows).min(th);
                    let ntp = ((ty1 - ty0) * tw).div_ceil(K::MR);
                    let unit = 16 * self.cin * K::MR;
                    let vb = &mut s.v[..ntp * unit];
                    par::split(threads, ntp, unit, vb, s.thr, tl, |a, b, vc, sc| {
                        self.wino_input(k, x, h, w, ty0, ty1, a, b, vc, sc);
                    });
                    let vb = &s.v[..ntp * unit];
                    par::split(
                        threads,
                        self.nkp,
                        NRP * h * w,
                        out,
                        s.thr,
                        tl,
                        |a, b, oc, sc| {
                            self.wino_gemm_out(k, vb, h, w, ty0, ty1, a, b, oc, sc);
                        },
                    );
                    ty0 = ty1;
                }
            }
            _ => {
                par::split(
                    threads,
                    self.nkp,
                    NRP * h * w,
                    out,
                    s.thr,
                    tl,
                    |a, b, oc, sc| {
                        self.direct_range(k, x, h, w, a, b, oc, sc);
                    },
                );
            }
        }
    }

    /// Transforms the input of a single-block Winograd convolution into `v` (all threads).
    pub(crate) fn transform_input<K: Kernel>(
        &self,
        k: K,
        x: Src<'_>,
        h: usize,
        w: usize,
        s: &mut Scratch<'_>,
    ) {
        debug_assert!(self.algo == Algo::Winograd && self.single_block(h, w));
        let th = wino::tiles(h);
        let ntp = (th * wino::tiles(w)).div_ceil(K::MR);
        let unit = 16 * self.cin * K::MR;
        par::split(
            s.threads,
            ntp,
            unit,
            &mut s.v[..ntp * unit],
            s.thr,
            s.thread_len,
            |a, b, vc, sc| {
                self.wino_input(k, x, h, w, 0, th, a, b, vc, sc);
            },
        );
    }

    /// Output channels `k0..k1` (`k0` a multiple of `NRP`) into `out` (`(k1−k0)·h·w`), on this thread.
    /// Winograd: single block only; `v` from [`Self::transform_input`], or `None` to transform `x` here
    /// (scratch from [`Self::range_need`] with `own_v`). Direct ignores `v`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward_range<K: Kernel>(
        &self,
        k: K,
        x: Src<'_>,
        v: Option<&[f32]>,
        h: usize,
        w: usize,
        k0: usize,
        k1: usize,
        out: &mut [f32],
        scratch: &mut [f32],
    ) {
        debug_assert!(k0.is_multiple_of(NRP) && k1 <= self.cout);
        let (kpa, kpb) = (k0 / NRP, k1.div_ceil(NRP));
        let out = &mut out[..(k1 - k0) * h * w];
        let th = wino::tiles(h);
        match (self.algo, v) {
            (Algo::Winograd, Some(v)) => {
                self.wino_gemm_out(k, v, h, w, 0, th, kpa, kpb, out, scratch)
            }
            (Algo::Winograd, None) => {
                assert!(
                    self.single_block(h, w),
                    "forward_range: Winograd needs a single block"
                );
                let ntp = (th * wino::tiles(w)).div_ceil(K::MR);
                let len = ntp * 16 * self.cin * K::MR;
                let (own, rest) = scratch.split_at_mut(line(len));
                let own = &mut own[..len];
                self.wino_input(k, x, h, w, 0, th, 0, ntp, own, rest);
                self.wino_gemm_out(k, own, h, w, 0, th, kpa, kpb, out, rest);
            }
            _ => self.direct_range(k, x, h, w, kpa, kpb, out, scratch),
        }
    }

    /// Input transform of tile panels `tpa..tpb` of the block of tile rows `ty0..ty1` into `vc`
    /// (`[tp][ξ][c][MR]`, lanes past the last tile zero).
    #[allow(clippy::too_many_arguments)]
    fn wino_input<K: Kernel>(
        &self,
        k: K,
        x: Src<'_>,
        h: usize,
        w: usize,
        ty0: usize,
        ty1: usize,
        tpa: usize,
        tpb: usize,
        vc: &mut [f32],
        s: &mut [f32],
    ) {
        let (mr, cin) = (K::MR, self.cin);
        let nt = (ty1 - ty0) * wino::tiles(w);
        let (ta, tb) = (tpa * mr, (tpb * mr).min(nt));
        let eo = &mut s[..wino::eo_len(w, ty1 - ty0)];
        let (pstride, xstride) = (16 * cin * mr, cin * mr);
        let lay = wino::VLayout {
            mr,
            pstride,
            xstride,
            t_lo: ta,
            t_hi: tb,
        };
        for c in 0..cin {
            k.wino_in(x.chan(c), h, w, ty0, eo, &mut vc[c * mr..], lay);
        }
        // Lanes past the last tile are zero.
        for tp in tpa..tpb {
            let valid = nt.saturating_sub(tp * mr).min(mr);
            if valid < mr {
                for xc in 0..16 * cin {
                    vc[(tp - tpa) * pstride + xc * mr..][valid..mr].fill(0.0);
                }
            }
        }
    }

    /// GEMMs and output transform for output-channel panels `kpa..kpb` of one Winograd block; `oc` holds
    /// channels `kpa·NRP ..` (planes of `h·w`).
    #[allow(clippy::too_many_arguments)]
    fn wino_gemm_out<K: Kernel>(
        &self,
        k: K,
        v: &[f32],
        h: usize,
        w: usize,
        ty0: usize,
        ty1: usize,
        kpa: usize,
        kpb: usize,
        oc: &mut [f32],
        s: &mut [f32],
    ) {
        let (mr, cin, hw) = (K::MR, self.cin, h * w);
        let ntp = ((ty1 - ty0) * wino::tiles(w)).div_ceil(mr);
        let tbpad = ntp * mr;
        let wts = self.w.as_slice();
        let (mbuf, rest) = s.split_at_mut(16 * KSUB.min(self.nkp) * NRP * tbpad);
        let otmp = &mut rest[..wino::out_tmp_len(w)];
        let mut ks = kpa;
        while ks < kpb {
            let ke = (ks + KSUB).min(kpb);
            let nk = (ke - ks) * NRP;
            let m = &mut mbuf[..16 * nk * tbpad];
            for xi in 0..16 {
                let mut c0 = 0;
                while c0 < cin {
                    let kc = KC_W.min(cin - c0);
                    let init = if c0 == 0 { Init::Zero } else { Init::Load };
                    for tp in 0..ntp {
                        let a = &v[(tp * 16 + xi) * cin * mr + c0 * mr..][..kc * mr];
                        for kp in ks..ke {
                            let b = &wts[((xi * self.nkp + kp) * cin + c0) * NRP..][..kc * NRP];
                            let c = &mut m[(xi * nk + (kp - ks) * NRP) * tbpad + tp * mr..];
                            // Prefetch the next weight panel, or at the last one the next tile panel.
                            let pf: &[f32] = if kp + 1 < ke {
                                &wts[((xi * self.nkp + kp + 1) * cin + c0) * NRP..][..kc * NRP]
                            } else if tp + 1 < ntp {
                                &v[((tp + 1) * 16 + xi) * cin * mr + c0 * mr..][..kc * mr]
                            } else {
                                &[]
                            };
                            k.gemm(kc, a, b, c, tbpad, mr, NRP, init, false, pf);
                        }
                    }
                    c0 += kc;
                }
            }
            for kl in 0..nk {
                let kg = ks * NRP + kl;
                if kg >= self.cout {
                    break;
                }
                let plane = &mut oc[(kg - kpa * NRP) * hw..][..hw];
                k.wino_out(
                    &m[kl * tbpad..],
                    nk * tbpad,
                    h,
                    w,
                    ty0,
                    ty1,
                    self.bias[kg],
                    self.relu,
                    otmp,
                    plane,
                );
            }
            ks = ke;
        }
    }

    /// Direct convolution of output-channel panels `kpa..kpb` into `oc`.
    #[allow(clippy::too_many_arguments)]
    fn direct_range<K: Kernel>(
        &self,
        k: K,
        x: Src<'_>,
        h: usize,
        w: usize,
        kpa: usize,
        kpb: usize,
        oc: &mut [f32],
        s: &mut [f32],
    ) {
        let (mrk, hw) = (K::MR, h * w);
        let kk_total = 9 * self.cin;
        let wts = self.w.as_slice();
        let apack = &mut s[..KC_D * mrk];
        let mut p0 = 0;
        while p0 < hw {
            let mr = mrk.min(hw - p0);
            let mut kk0 = 0;
            while kk0 < kk_total {
                let kk1 = (kk0 + KC_D).min(kk_total);
                let kc = kk1 - kk0;
                k.pack_im2col(x, h, w, p0, mr, kk0, kk1, apack);
                let init_bias = kk0 == 0;
                let relu = self.relu && kk1 == kk_total;
                for kp in kpa..kpb {
                    let nr = NRP.min(self.cout - kp * NRP);
                    let b = &wts[(kp * kk_total + kk0) * NRP..][..kc * NRP];
                    let c = &mut oc[(kp - kpa) * NRP * hw + p0..];
                    let init = if init_bias {
                        Init::Bias(&self.bias[kp * NRP..])
                    } else {
                        Init::Load
                    };
                    let pf: &[f32] = if kp + 1 < kpb {
                        &wts[((kp + 1) * kk_total + kk0) * NRP..][..kc * NRP]
                    } else {
                        &[]
                    };
                    k.gemm(kc, &apack[..kc * mrk], b, c, hw, mr, nr, init, relu, pf);
                }
                kk0 = kk1;
            }
            p0 += mr;
        }
    }
}

/// Packs `dst[(kk−kk0)·mrk + i] = x[c][y+dy−1][x+dx−1]` (zero outside) for `kk = c·9 + 3·dy + dx` in
/// `kk0..kk1` and pixel `p0 + i = y·w + x`, `i < mr`; lanes `mr..mrk` are zero.
///
/// `seg(row, off, lo, hi, out)` fills one run of lanes within an image row: `out[t] = row[off + t]` for
/// `lo ≤ t < hi`, zero elsewhere (`off + t` may be negative or past the row only outside `lo..hi`); the
/// kernels pass a vectorised one (see [`fill_segment`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn pack_im2col<S>(
    x: Src<'_>,
    h: usize,
    w: usize,
    p0: usize,
    mr: usize,
    mrk: usize,
    kk0: usize,
    kk1: usize,
    dst: &mut [f32],
    seg: S,
) where
    S: Fn(&[f32], isize, usize, usize, &mut [f32]),
{
    // The runs of lanes that lie in one image row are the same for every (channel, tap).
    let mut runs = [(0usize, 0usize, 0usize, 0usize); MR_MAX];
    let mut nruns = 0;
    let mut i = 0;
    while i < mr && nruns < MR_MAX {
        let p = p0 + i;
        let (y, x0) = (p / w, p % w);
        let run = (w - x0).min(mr - i);
        runs[nruns] = (i, y, x0, run);
        nruns += 1;
        i += run;
    }
    let (mut c, mut tap) = (kk0 / 9, kk0 % 9);
    for d in dst[..(kk1 - kk0) * mrk].chunks_exact_mut(mrk) {
        let (dy, dx) = (tap / 3, tap % 3);
        let plane = x.chan(c);
        for &(i, y, x0, run) in &runs[..nruns] {
            let out = &mut d[i..i + run];
            let sy = y + dy; // +1 padding
            if sy == 0 || sy > h {
                out.fill(0.0);
            } else {
                let row = &plane[(sy - 1) * w..][..w];
                // source column of out[t] is x0 + t + dx − 1
                let lo = (1usize.saturating_sub(x0 + dx)).min(run); // leading zeros
                let hi = (w + 1).saturating_sub(x0 + dx).min(run).max(lo); // first t past the row
                seg(row, x0 as isize + dx as isize - 1, lo, hi, out);
            }
        }
        d[mr..].fill(0.0);
        tap += 1;
        if tap == 9 {
            tap = 0;
            c += 1;
        }
    }
}

/// Portable segment fill of [`pack_im2col`].
#[inline(always)]
pub(crate) fn fill_segment(row: &[f32], off: isize, lo: usize, hi: usize, out: &mut [f32]) {
    out[..lo].fill(0.0);
    if hi > lo {
        let s0 = (off + lo as isize) as usize;
        out[lo..hi].copy_from_slice(&row[s0..s0 + hi - lo]);
    }
    out[hi..].fill(0.0);
}

#[cfg(test)]
mod tests {
    use super::super::simd::Scalar;
    use super::*;
    use alloc::vec;

    fn vals(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Plain f64 3×3 convolution, padding 1.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[f32],
        cin: usize,
        h: usize,
        w: usize,
        wt: &[f32],
        bias: &[f32],
        cout: usize,
        relu: bool,
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; cout * h * w];
        for k in 0..cout {
            for y in 0..h {
                for xx in 0..w {
                    let mut acc = f64::from(bias[k]);
                    for c in 0..cin {
                        for dy in 0..3 {
                            for dx in 0..3 {
                                let (sy, sx) = (y + dy, xx + dx);
                                if sy == 0 || sx == 0 || sy > h || sx > w {
                                    continue;
                                }
                                acc += f64::from(wt[((k * cin + c) * 3 + dy) * 3 + dx])
                                    * f64::from(x[(c * h + sy - 1) * w + sx - 1]);
                            }
                        }
                    }
                    out[(k * h + y) * w + xx] = if relu {
                        acc.max(0.0) as f32
                    } else {
                        acc as f32
                    };
                }
            }
        }
        out
    }

    fn max_err(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Both algorithms, split input (concat) and whole, 1–3 threads, odd and even sizes.
    fn check_conv<K: Kernel>(k: K) {
        let shapes = [
            (1, 1, 1, 1),
            (3, 5, 2, 3),
            (13, 12, 7, 5),
            (5, 25, 16, 9),
            (24, 13, 8, 8),
            (7, 3, 33, 4),
            (2, 14, 34, 34),
        ];
        for (case, &(cin, cout, h, w)) in shapes.iter().enumerate() {
            let x = vals(cin * h * w, 10 + case as u64);
            let wt = vals(cout * cin * 9, 20 + case as u64);
            let bias = vals(cout, 30 + case as u64);
            for relu in [false, true] {
                let want = reference(&x, cin, h, w, &wt, &bias, cout, relu);
                for algo in [Algo::Direct, Algo::Winograd] {
                    let conv = Conv3x3::new(&wt, &bias, cin, cout, relu, algo);
                    let need = conv.need(h, w);
                    for threads in 1..=3 {
                        let tl = line(need.thread.max(conv.range_need(h, w, true)));
                        let mut v = vec![0.0; need.v];
                        let mut thr = vec![f32::NAN; tl * threads];
                        let mut out = vec![f32::NAN; cout * h * w];
                        let ca = cin / 2;
                        let (xa, xb) = x.split_at(ca * h * w);
                        let src = if threads == 2 {
                            Src::two(xa, ca, xb, h * w)
                        } else {
                            Src::one(&x, h * w)
                        };
                        let mut s = Scratch {
                            v: &mut v,
                            thr: &mut thr,
                            thread_len: tl,
                            threads,
                        };
                        conv.forward(k, src, h, w, &mut out, &mut s);
                        let e = max_err(&out, &want);
                        assert!(
                            e < 1e-5,
                            "{cin}->{cout} {h}x{w} {algo:?} {threads} threads: error {e}"
                        );
                    }
                    // Single-thread ranges (the tails' path), with and without a shared transformed input.
                    if algo == Algo::Direct || conv.single_block(h, w) {
                        let mut thr = vec![f32::NAN; conv.range_need(h, w, true).max(need.thread)];
                        let mut v = vec![0.0; need.v];
                        let mut out = vec![f32::NAN; cout * h * w];
                        let shared = algo == Algo::Winograd && cout > NRP;
                        if shared {
                            let mut s = Scratch {
                                v: &mut v,
                                thr: &mut thr,
                                thread_len: need.thread,
                                threads: 1,
                            };
                            conv.transform_input(k, Src::one(&x, h * w), h, w, &mut s);
                        }
                        let mut k0 = 0;
                        while k0 < cout {
                            let k1 = (k0 + NRP).min(cout);
                            let vv = if shared { Some(&v[..]) } else { None };
                            conv.forward_range(
                                k,
                                Src::one(&x, h * w),
                                vv,
                                h,
                                w,
                                k0,
                                k1,
                                &mut out[k0 * h * w..],
                                &mut thr,
                            );
                            k0 = k1;
                        }
                        let e = max_err(&out, &want);
                        assert!(e < 1e-5, "range {cin}->{cout} {h}x{w} {algo:?}: error {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn conv_scalar() {
        check_conv(Scalar);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn conv_avx2() {
        if let Some(k) = super::super::simd::Avx2Fma::new() {
            check_conv(k);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn conv_avx512() {
        if let Some(k) = super::super::simd::Avx512::new() {
            check_conv(k);
        }
    }

    #[test]
    fn winograd_blocks() {
        // 64 wide: 32 tiles per row, so several blocks of TB_TILES tiles.
        let (cin, cout, h, w) = (3, 5, 40, 64);
        let x = vals(cin * h * w, 1);
        let wt = vals(cout * cin * 9, 2);
        let bias = vals(cout, 3);
        let want = reference(&x, cin, h, w, &wt, &bias, cout, true);
        let conv = Conv3x3::new(&wt, &bias, cin, cout, true, Algo::Winograd);
        assert!(!conv.single_block(h, w));
        let need = conv.need(h, w);
        let mut v = vec![0.0; need.v];
        let mut thr = vec![0.0; 2 * line(need.thread)];
        let mut out = vec![0.0; cout * h * w];
        let mut s = Scratch {
            v: &mut v,
            thr: &mut thr,
            thread_len: line(need.thread),
            threads: 2,
        };
        conv.forward(Scalar, Src::one(&x, h * w), h, w, &mut out, &mut s);
        assert!(max_err(&out, &want) < 1e-5);
    }
}

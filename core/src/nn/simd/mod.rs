//! Compute kernels: the GEMM micro-kernel and the Winograd transforms, once per instruction set.
//!
//! Organisation follows matrixmultiply (style anchor A5): a [`Kernel`] trait with one zero-sized token type
//! per instruction set ([`Scalar`], `Avx2Fma`, `Avx512`), each a thin `#[target_feature]` wrapper around one
//! generic body. A token can only be obtained from `new()`, which checks the CPU (run time under `std`,
//! `cfg!(target_feature)` under `no_std`), so holding a token is the proof that its instructions exist.
//!
//! This is the only module of the crate that contains `unsafe` code; each block states why it is sound.
#![allow(unsafe_code)]

use alloc::vec::Vec;

use super::conv::{self, Src};
use super::wino;
use super::Isa;

#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2Fma, Avx512};

/// Width of a packed weight panel: output channels per panel, the "broadcast" side of the GEMM.
pub(crate) const NRP: usize = 12;
/// Largest `MR` of any kernel; workspace sizes are rounded to it so they do not depend on the kernel.
pub(crate) const MR_MAX: usize = 32;

/// How the micro-kernel initialises its accumulators.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Init<'a> {
    /// Start from zero; `c` is not read.
    Zero,
    /// Start from the current contents of `c`.
    Load,
    /// Start from `bias[j]` in column `j`; `c` is not read.
    Bias(&'a [f32]),
}

/// One instruction set's compute kernels.
///
/// GEMM contract: for `i < mr`, `j < nr`,
/// `c[i + j·ldc] = act(init(i, j) + Σ_{p<kc} a[p·MR + i] · b[p·NRP + j])`, `act` = ReLU when `relu`.
/// `a` is a packed panel of `MR` rows (lanes), `b` a packed panel of `NRP` columns. Elements of `c` outside
/// the `mr × nr` tile are neither read nor written. `pf` is a region the kernel may prefetch (a hint
/// for the next call's operands; any slice, possibly empty).
pub(crate) trait Kernel: Copy + Send + Sync {
    /// Lanes of a packed `a` panel (pixels or Winograd tiles).
    const MR: usize;
    /// The micro-kernel (see the trait docs). Panics if a slice is too short for the tile.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        self,
        kc: usize,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        ldc: usize,
        mr: usize,
        nr: usize,
        init: Init<'_>,
        relu: bool,
        pf: &[f32],
    );
    /// Winograd F(2,3) input transform of one channel plane into packed panels (see [`wino::input_rows`]).
    #[allow(clippy::too_many_arguments)]
    fn wino_in(
        self,
        plane: &[f32],
        h: usize,
        w: usize,
        ty0: usize,
        eo: &mut [f32],
        v: &mut [f32],
        lay: wino::VLayout,
    );
    /// Packs an im2col panel for the direct convolution (see [`conv::pack_im2col`]; `mrk` = `MR`).
    #[allow(clippy::too_many_arguments)]
    fn pack_im2col(
        self,
        x: Src<'_>,
        h: usize,
        w: usize,
        p0: usize,
        mr: usize,
        kk0: usize,
        kk1: usize,
        dst: &mut [f32],
    );
    /// Winograd F(2,3) output transform of tile rows `ty0..ty1` of one channel (see [`wino::output_rows`]).
    #[allow(clippy::too_many_arguments)]
    fn wino_out(
        self,
        m: &[f32],
        mstride: usize,
        h: usize,
        w: usize,
        ty0: usize,
        ty1: usize,
        bias: f32,
        relu: bool,
        tmp: &mut [f32],
        plane: &mut [f32],
    );
}

/// Checks the slice lengths of a GEMM call (shared by every kernel, so the unsafe bodies can rely on them).
#[inline]
#[allow(clippy::too_many_arguments)]
fn check_gemm(
    kc: usize,
    mrk: usize,
    a: &[f32],
    b: &[f32],
    c: &[f32],
    ldc: usize,
    mr: usize,
    nr: usize,
    init: &Init<'_>,
) {
    assert!(
        (1..=mrk).contains(&mr) && (1..=NRP).contains(&nr),
        "gemm tile {mr}x{nr} out of range"
    );
    // Checked arithmetic: a wrapped product must not let a short slice pass.
    let fits = |len: usize, need: Option<usize>| need.is_some_and(|n| len >= n);
    assert!(
        fits(a.len(), kc.checked_mul(mrk)),
        "gemm: packed a too short"
    );
    assert!(
        fits(b.len(), kc.checked_mul(NRP)),
        "gemm: packed b too short"
    );
    assert!(nr == 1 || ldc >= mr, "gemm: ldc < mr");
    let c_need = (nr - 1).checked_mul(ldc).and_then(|x| x.checked_add(mr));
    assert!(fits(c.len(), c_need), "gemm: c too short");
    if let Init::Bias(bias) = init {
        assert!(bias.len() >= nr, "gemm: bias too short");
    }
}

// ------------------------------------------------------------------------------------------------
// Portable kernel.

/// Portable kernel (plain Rust; the compiler may still vectorise it for the baseline target).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Scalar;

const SMR: usize = 8;
const SNR: usize = 4;

impl Kernel for Scalar {
    const MR: usize = SMR;

    fn gemm(
        self,
        kc: usize,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
        ldc: usize,
        mr: usize,
        nr: usize,
        init: Init<'_>,
        relu: bool,
        _pf: &[f32],
    ) {
        check_gemm(kc, SMR, a, b, c, ldc, mr, nr, &init);
        let mut j0 = 0;
        while j0 < nr {
            let nrr = (nr - j0).min(SNR);
            let mut acc = [[0.0f32; SMR]; SNR];
            for (j, accj) in acc.iter_mut().enumerate().take(nrr) {
                match init {
                    Init::Zero => {}
                    Init::Load => accj[..mr].copy_from_slice(&c[(j0 + j) * ldc..][..mr]),
                    Init::Bias(bias) => *accj = [bias[j0 + j]; SMR],
                }
            }
            for (ap, bp) in a.chunks_exact(SMR).zip(b.chunks_exact(NRP)).take(kc) {
                for (accj, &bj) in acc.iter_mut().zip(&bp[j0..j0 + nrr]) {
                    for (x, &ai) in accj.iter_mut().zip(ap) {
                        *x += ai * bj;
                    }
                }
            }
            for (j, accj) in acc.iter().enumerate().take(nrr) {
                let dst = &mut c[(j0 + j) * ldc..][..mr];
                for (d, &x) in dst.iter_mut().zip(accj) {
                    *d = if relu { x.max(0.0) } else { x };
                }
            }
            j0 += nrr;
        }
    }

    fn pack_im2col(
        self,
        x: Src<'_>,
        h: usize,
        w: usize,
        p0: usize,
        mr: usize,
        kk0: usize,
        kk1: usize,
        dst: &mut [f32],
    ) {
        conv::pack_im2col(x, h, w, p0, mr, SMR, kk0, kk1, dst, conv::fill_segment);
    }

    fn wino_in(
        self,
        plane: &[f32],
        h: usize,
        w: usize,
        ty0: usize,
        eo: &mut [f32],
        v: &mut [f32],
        lay: wino::VLayout,
    ) {
        wino::input_rows(plane, h, w, ty0, eo, v, lay, wino::deinterleave);
    }

    fn wino_out(
        self,
        m: &[f32],
        mstride: usize,
        h: usize,
        w: usize,
        ty0: usize,
        ty1: usize,
        bias: f32,
        relu: bool,
        tmp: &mut [f32],
        plane: &mut [f32],
    ) {
        wino::output_rows(
            m,
            mstride,
            h,
            w,
            ty0,
            ty1,
            bias,
            relu,
            tmp,
            plane,
            wino::interleave,
        );
    }
}

// ------------------------------------------------------------------------------------------------
// CPU feature detection.

/// Whether the CPU running this code has `isa` (run-time detection under `std`, compile-time otherwise).
pub(crate) fn isa_available(isa: Isa) -> bool {
    match isa {
        Isa::Scalar => true,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma => x86::avx2_fma_detected(),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::avx512_detected(),
        #[cfg(not(target_arch = "x86_64"))]
        _ => false,
    }
}

// ------------------------------------------------------------------------------------------------
// 64-byte aligned f32 storage (weights and workspace), so that vector loads never split cache lines.

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// A heap buffer of `f32` whose start is 64-byte aligned. Zero-initialised.
#[derive(Clone, Default)]
pub(crate) struct AlignedBuf {
    lines: Vec<Line>,
    len: usize,
}

impl core::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AlignedBuf({} f32)", self.len)
    }
}

impl AlignedBuf {
    /// `len` zeros.
    pub(crate) fn zeros(len: usize) -> Self {
        AlignedBuf {
            lines: alloc::vec![Line([0.0; 16]); len.div_ceil(16)],
            len,
        }
    }

    /// Bytes held on the heap.
    pub(crate) fn bytes(&self) -> usize {
        self.lines.len() * core::mem::size_of::<Line>()
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` with size 64 = 16·4 and alignment 64, so it has
        // no padding and a `Vec<Line>` of n lines is 16·n contiguous, initialised `f32`s; `len ≤ 16·n` by
        // construction. The pointer comes from a live `Vec` and the borrow of `self` keeps it alive and
        // unaliased by writers for the returned lifetime.
        unsafe { core::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.len) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        // SAFETY: as in `as_slice`; the `&mut self` borrow makes the returned slice the only access.
        unsafe { core::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<f32>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Deterministic values in [−1, 1).
    fn vals(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    /// Every tile shape, init mode and activation against an f64 reference; cells outside the tile untouched.
    fn check_kernel<K: Kernel>(k: K) {
        let mrk = K::MR;
        for kc in [0usize, 1, 5, 64, 131] {
            let a = vals(kc * mrk, 1 + kc as u32);
            let b = vals(kc * NRP, 7 + kc as u32);
            let bias = vals(NRP, 99);
            for mr in [1, mrk / 2 + 1, mrk] {
                for nr in 1..=NRP {
                    for mode in 0..3 {
                        for relu in [false, true] {
                            let ldc = mrk + 3;
                            let c0 = vals(NRP * ldc, 1234);
                            let mut c = c0.clone();
                            let init = match mode {
                                0 => Init::Zero,
                                1 => Init::Load,
                                _ => Init::Bias(&bias),
                            };
                            k.gemm(kc, &a, &b, &mut c, ldc, mr, nr, init, relu, &b);
                            for j in 0..NRP {
                                for i in 0..ldc {
                                    let got = c[j * ldc + i];
                                    if i >= mr || j >= nr {
                                        assert_eq!(
                                            got.to_bits(),
                                            c0[j * ldc + i].to_bits(),
                                            "outside tile written"
                                        );
                                        continue;
                                    }
                                    let mut r: f64 = match mode {
                                        0 => 0.0,
                                        1 => c0[j * ldc + i].into(),
                                        _ => bias[j].into(),
                                    };
                                    for p in 0..kc {
                                        r += f64::from(a[p * mrk + i]) * f64::from(b[p * NRP + j]);
                                    }
                                    if relu {
                                        r = r.max(0.0);
                                    }
                                    assert!(
                                        (f64::from(got) - r).abs() <= 1e-5 * (1.0 + kc as f64),
                                        "kc {kc} mr {mr} nr {nr} mode {mode}: {got} vs {r}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_scalar() {
        check_kernel(Scalar);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn gemm_avx2() {
        match Avx2Fma::new() {
            Some(k) => check_kernel(k),
            None => assert!(!isa_available(Isa::Avx2Fma)),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn gemm_avx512() {
        match Avx512::new() {
            Some(k) => check_kernel(k),
            None => assert!(!isa_available(Isa::Avx512)),
        }
    }

    #[test]
    fn aligned_buf() {
        let mut b = AlignedBuf::zeros(37);
        assert_eq!(b.as_slice().len(), 37);
        assert_eq!(b.as_slice().as_ptr() as usize % 64, 0);
        b.as_mut_slice()[36] = 1.0;
        assert_eq!(b.clone().as_slice()[36], 1.0);
        assert_eq!(b.bytes(), 3 * 64);
        assert_eq!(AlignedBuf::zeros(0).as_slice().len(), 0);
        let _ = vec![0u8; 0];
    }
}

//! x86-64 kernels: AVX-512F (MR = 32: two zmm per column, 12 columns = 24 accumulators) and AVX2 + FMA
//! (MR = 16: two ymm per column, 6 columns = 12 accumulators, run twice per 12-column panel).

use core::arch::x86_64::*;

use super::{check_gemm, conv, wino, Init, Kernel, Src, NRP};

/// Run-time detection under `std`, compile-time `cfg!(target_feature)` under `no_std` (style anchor A5).
macro_rules! detected {
    ($($f:tt),+) => {{
        #[cfg(feature = "std")]
        { true $(&& std::is_x86_feature_detected!($f))+ }
        #[cfg(not(feature = "std"))]
        { true $(&& cfg!(target_feature = $f))+ }
    }};
}

pub(super) fn avx2_fma_detected() -> bool {
    detected!("avx2", "fma")
}

pub(super) fn avx512_detected() -> bool {
    detected!("avx512f")
}

/// Dispatches a const-generic column count `1..=12` (the number of output channels in the tile).
macro_rules! by_nr {
    ($nr:expr, $f:ident, $($arg:expr),*) => {
        match $nr {
            1 => $f::<1>($($arg),*),
            2 => $f::<2>($($arg),*),
            3 => $f::<3>($($arg),*),
            4 => $f::<4>($($arg),*),
            5 => $f::<5>($($arg),*),
            6 => $f::<6>($($arg),*),
            7 => $f::<7>($($arg),*),
            8 => $f::<8>($($arg),*),
            9 => $f::<9>($($arg),*),
            10 => $f::<10>($($arg),*),
            11 => $f::<11>($($arg),*),
            _ => $f::<12>($($arg),*),
        }
    };
}

/// Accumulator initialisation passed to the raw kernels.
#[derive(Clone, Copy)]
enum RawInit {
    Zero,
    Load,
    Bias(*const f32),
}

/// A region to software-prefetch (into L1) during a kernel call, `per_step` 64-byte lines per
/// reduction step for the first `steps` steps. Prefetching never faults, so any address is sound.
#[derive(Clone, Copy)]
struct Pf {
    ptr: *const f32,
    per_step: usize,
    steps: usize,
}

fn pf_of(region: &[f32], kc: usize) -> Pf {
    let lines = region.len().div_ceil(16);
    if lines == 0 || kc == 0 {
        return Pf {
            ptr: region.as_ptr(),
            per_step: 0,
            steps: 0,
        };
    }
    let per_step = lines.div_ceil(kc).min(4);
    Pf {
        ptr: region.as_ptr(),
        per_step,
        steps: lines.div_ceil(per_step),
    }
}

/// Issues this step's prefetches (see [`Pf`]).
///
/// # Safety
/// The CPU has SSE (every x86-64 CPU); prefetches of any address are harmless.
#[inline(always)]
unsafe fn prefetch_step(pf: &mut Pf, step: usize) {
    if step < pf.steps {
        for q in 0..pf.per_step {
            // SAFETY: a prefetch is a hint: it never faults and has no architectural effect.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(pf.ptr.wrapping_add(16 * q).cast::<i8>()) };
        }
        pf.ptr = pf.ptr.wrapping_add(16 * pf.per_step);
    }
}

fn raw(init: Init<'_>) -> RawInit {
    match init {
        Init::Zero => RawInit::Zero,
        Init::Load => RawInit::Load,
        Init::Bias(b) => RawInit::Bias(b.as_ptr()),
    }
}

/// Runs `full` on `c` directly when the tile has all `mr_k` rows, else on a stack copy of the tile
/// (rows beyond `mr` are computed on zero padding and dropped).
macro_rules! with_tile {
    ($mr_k:expr, $c:expr, $ldc:expr, $mr:expr, $nr:expr, $init:expr, |$cp:ident, $ld:ident| $body:expr) => {{
        if $mr == $mr_k {
            let $cp = $c.as_mut_ptr();
            let $ld = $ldc;
            $body
        } else {
            let mut tmp = [0.0f32; $mr_k * NRP];
            if let Init::Load = $init {
                for j in 0..$nr {
                    tmp[j * $mr_k..][..$mr].copy_from_slice(&$c[j * $ldc..][..$mr]);
                }
            }
            {
                let $cp = tmp.as_mut_ptr();
                let $ld = $mr_k;
                $body
            }
            for j in 0..$nr {
                $c[j * $ldc..][..$mr].copy_from_slice(&tmp[j * $mr_k..][..$mr]);
            }
        }
    }};
}

// ------------------------------------------------------------------------------------------------
// AVX-512F

/// AVX-512F kernel token; exists only when the CPU has AVX-512F.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx512 {
    _private: (),
}

impl Avx512 {
    /// The token, when the CPU supports AVX-512F.
    pub(crate) fn new() -> Option<Self> {
        avx512_detected().then_some(Avx512 { _private: () })
    }
}

const MR16: usize = 16;
const MR32: usize = 32;

/// `NR` columns × 32 rows.
///
/// # Safety
/// The CPU has AVX-512F; `a` is valid for `kc·32` reads, `b` for `kc·NRP`; `c` for reads and writes of
/// `c[i + j·ldc]`, `i < 32`, `j < NR`; a `Bias` pointer is valid for `NR` reads.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
unsafe fn gemm_avx512<const NR: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    init: RawInit,
    relu: bool,
    mut pf: Pf,
) {
    let mut lo = [_mm512_setzero_ps(); NR];
    let mut hi = [_mm512_setzero_ps(); NR];
    // SAFETY (whole body): every pointer offset stays inside the ranges the caller guarantees above.
    unsafe {
        match init {
            RawInit::Zero => {}
            RawInit::Load => {
                for j in 0..NR {
                    lo[j] = _mm512_loadu_ps(c.add(j * ldc));
                    hi[j] = _mm512_loadu_ps(c.add(j * ldc + 16));
                }
            }
            RawInit::Bias(bias) => {
                for j in 0..NR {
                    lo[j] = _mm512_set1_ps(*bias.add(j));
                    hi[j] = lo[j];
                }
            }
        }
        let (mut ap, mut bp) = (a, b);
        for step in 0..kc {
            prefetch_step(&mut pf, step);
            let a0 = _mm512_loadu_ps(ap);
            let a1 = _mm512_loadu_ps(ap.add(16));
            for j in 0..NR {
                let bj = _mm512_set1_ps(*bp.add(j));
                lo[j] = _mm512_fmadd_ps(a0, bj, lo[j]);
                hi[j] = _mm512_fmadd_ps(a1, bj, hi[j]);
            }
            ap = ap.add(MR32);
            bp = bp.add(NRP);
        }
        if relu {
            let z = _mm512_setzero_ps();
            for j in 0..NR {
                lo[j] = _mm512_max_ps(lo[j], z);
                hi[j] = _mm512_max_ps(hi[j], z);
            }
        }
        for j in 0..NR {
            _mm512_storeu_ps(c.add(j * ldc), lo[j]);
            _mm512_storeu_ps(c.add(j * ldc + 16), hi[j]);
        }
    }
}

/// `even[j] = src[2j]`, `odd[j] = src[2j+1]` for `j < min(even.len(), odd.len(), src.len()/2)`.
///
/// # Safety
/// The CPU has AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn deint_avx512(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let n = even.len().min(odd.len()).min(src.len() / 2);
    let ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    let mut j = 0;
    while j + 16 <= n {
        // SAFETY: j + 16 ≤ n, so src[2j..2j+32], even[j..j+16] and odd[j..j+16] are in bounds.
        unsafe {
            let a = _mm512_loadu_ps(src.as_ptr().add(2 * j));
            let b = _mm512_loadu_ps(src.as_ptr().add(2 * j + 16));
            _mm512_storeu_ps(even.as_mut_ptr().add(j), _mm512_permutex2var_ps(a, ie, b));
            _mm512_storeu_ps(odd.as_mut_ptr().add(j), _mm512_permutex2var_ps(a, io, b));
        }
        j += 16;
    }
    wino::deinterleave(&src[2 * j..2 * n], &mut even[j..n], &mut odd[j..n]);
}

/// `dst[2j] = a[j]`, `dst[2j+1] = b[j]` for `j < min(a.len(), b.len(), dst.len()/2)`.
///
/// # Safety
/// The CPU has AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn ileave_avx512(a: &[f32], b: &[f32], dst: &mut [f32]) {
    let n = a.len().min(b.len()).min(dst.len() / 2);
    let il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    let mut j = 0;
    while j + 16 <= n {
        // SAFETY: j + 16 ≤ n, so a[j..j+16], b[j..j+16] and dst[2j..2j+32] are in bounds.
        unsafe {
            let x = _mm512_loadu_ps(a.as_ptr().add(j));
            let y = _mm512_loadu_ps(b.as_ptr().add(j));
            _mm512_storeu_ps(
                dst.as_mut_ptr().add(2 * j),
                _mm512_permutex2var_ps(x, il, y),
            );
            _mm512_storeu_ps(
                dst.as_mut_ptr().add(2 * j + 16),
                _mm512_permutex2var_ps(x, ih, y),
            );
        }
        j += 16;
    }
    wino::interleave(&a[j..n], &b[j..n], &mut dst[2 * j..2 * n]);
}

/// Segment fill of the im2col packing (see `conv::fill_segment`) with masked loads: lanes outside
/// `lo..hi` are neither read nor needed.
///
/// # Safety
/// The CPU has AVX-512F.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn seg_avx512(row: &[f32], off: isize, lo: usize, hi: usize, out: &mut [f32]) {
    let n = out.len();
    let in_row = lo >= hi || (off + lo as isize >= 0 && off + hi as isize <= row.len() as isize);
    if n > 32 || hi > n || !in_row {
        return conv::fill_segment(row, off, lo, hi, out);
    }
    let keep = (((1u64 << hi) - 1) & !((1u64 << lo) - 1)) as u32;
    let store = ((1u64 << n) - 1) as u32;
    let base = row.as_ptr().wrapping_offset(off);
    // SAFETY: a lane t is loaded only when its `keep` bit is set, i.e. lo ≤ t < hi, and then
    // 0 ≤ off + t < row.len() (checked above); lane t is stored only when t < n = out.len(). Masked-off
    // lanes are not accessed (AVX-512 masked moves suppress them), so the wrapping pointers are never
    // dereferenced out of bounds.
    unsafe {
        let v0 = _mm512_maskz_loadu_ps(keep as u16, base);
        let v1 = _mm512_maskz_loadu_ps((keep >> 16) as u16, base.wrapping_add(16));
        _mm512_mask_storeu_ps(out.as_mut_ptr(), store as u16, v0);
        _mm512_mask_storeu_ps(out.as_mut_ptr().wrapping_add(16), (store >> 16) as u16, v1);
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
fn pack_avx512(
    x: Src<'_>,
    h: usize,
    w: usize,
    p0: usize,
    mr: usize,
    kk0: usize,
    kk1: usize,
    dst: &mut [f32],
) {
    // SAFETY: this function runs only with AVX-512F (its own target feature).
    conv::pack_im2col(
        x,
        h,
        w,
        p0,
        mr,
        MR32,
        kk0,
        kk1,
        dst,
        |r, o, l, hh, d| unsafe { seg_avx512(r, o, l, hh, d) },
    );
}

#[target_feature(enable = "avx512f")]
fn wino_in_avx512(
    plane: &[f32],
    h: usize,
    w: usize,
    ty0: usize,
    eo: &mut [f32],
    v: &mut [f32],
    lay: wino::VLayout,
) {
    // SAFETY: this function runs only with AVX-512F (its own target feature).
    wino::input_rows(plane, h, w, ty0, eo, v, lay, |s, e, o| unsafe {
        deint_avx512(s, e, o)
    });
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f")]
fn wino_out_avx512(
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
    // SAFETY: this function runs only with AVX-512F (its own target feature).
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
        |a, b, d| unsafe { ileave_avx512(a, b, d) },
    );
}

impl Kernel for Avx512 {
    const MR: usize = MR32;

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
    ) {
        check_gemm(kc, MR32, a, b, c, ldc, mr, nr, &init);
        let ri = raw(init);
        let pf = pf_of(pf, kc);
        with_tile!(MR32, c, ldc, mr, nr, init, |cp, ld| {
            // SAFETY: `self` proves AVX-512F; `check_gemm` verified a (kc·32), b (kc·NRP), bias (≥ nr) and
            // that `c` holds the mr × nr tile at stride ldc; `with_tile!` passes either `c` itself with
            // mr = 32 or a 32 × NRP stack tile with ld = 32, so the kernel's 32 × nr accesses are in bounds.
            unsafe {
                by_nr!(
                    nr,
                    gemm_avx512,
                    kc,
                    a.as_ptr(),
                    b.as_ptr(),
                    cp,
                    ld,
                    ri,
                    relu,
                    pf
                )
            }
        });
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
        // SAFETY: `self` proves AVX-512F is available; the callee is otherwise safe code.
        unsafe { pack_avx512(x, h, w, p0, mr, kk0, kk1, dst) }
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
        // SAFETY: `self` proves AVX-512F is available; the callee is otherwise safe code.
        unsafe { wino_in_avx512(plane, h, w, ty0, eo, v, lay) }
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
        // SAFETY: `self` proves AVX-512F is available; the callee is otherwise safe code.
        unsafe { wino_out_avx512(m, mstride, h, w, ty0, ty1, bias, relu, tmp, plane) }
    }
}

// ------------------------------------------------------------------------------------------------
// AVX2 + FMA

/// AVX2 + FMA kernel token; exists only when the CPU has both.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Avx2Fma {
    _private: (),
}

impl Avx2Fma {
    /// The token, when the CPU supports AVX2 and FMA.
    pub(crate) fn new() -> Option<Self> {
        avx2_fma_detected().then_some(Avx2Fma { _private: () })
    }
}

/// `NR ≤ 6` columns × 16 rows; `b` advances by `NRP` per step.
///
/// # Safety
/// The CPU has AVX2 and FMA; `a` is valid for `kc·16` reads, `b` for `(kc−1)·NRP + NR`; `c` for reads and
/// writes of `c[i + j·ldc]`, `i < 16`, `j < NR`; a `Bias` pointer is valid for `NR` reads.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_avx2<const NR: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    init: RawInit,
    relu: bool,
    mut pf: Pf,
) {
    let mut lo = [_mm256_setzero_ps(); NR];
    let mut hi = [_mm256_setzero_ps(); NR];
    // SAFETY (whole body): every pointer offset stays inside the ranges the caller guarantees above.
    unsafe {
        match init {
            RawInit::Zero => {}
            RawInit::Load => {
                for j in 0..NR {
                    lo[j] = _mm256_loadu_ps(c.add(j * ldc));
                    hi[j] = _mm256_loadu_ps(c.add(j * ldc + 8));
                }
            }
            RawInit::Bias(bias) => {
                for j in 0..NR {
                    lo[j] = _mm256_set1_ps(*bias.add(j));
                    hi[j] = lo[j];
                }
            }
        }
        let (mut ap, mut bp) = (a, b);
        for step in 0..kc {
            prefetch_step(&mut pf, step);
            let a0 = _mm256_loadu_ps(ap);
            let a1 = _mm256_loadu_ps(ap.add(8));
            for j in 0..NR {
                let bj = _mm256_set1_ps(*bp.add(j));
                lo[j] = _mm256_fmadd_ps(a0, bj, lo[j]);
                hi[j] = _mm256_fmadd_ps(a1, bj, hi[j]);
            }
            ap = ap.add(MR16);
            bp = bp.add(NRP);
        }
        if relu {
            let z = _mm256_setzero_ps();
            for j in 0..NR {
                lo[j] = _mm256_max_ps(lo[j], z);
                hi[j] = _mm256_max_ps(hi[j], z);
            }
        }
        for j in 0..NR {
            _mm256_storeu_ps(c.add(j * ldc), lo[j]);
            _mm256_storeu_ps(c.add(j * ldc + 8), hi[j]);
        }
    }
}

/// Columns `0..nr` of a 12-wide panel as (up to) two 6-column kernels.
///
/// # Safety
/// As `gemm_avx2`, for `nr ≤ 12` columns, `b` valid for `kc·NRP` reads.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_avx2_panel(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    ldc: usize,
    nr: usize,
    init: RawInit,
    relu: bool,
    pf: Pf,
) {
    let first = nr.min(6);
    // SAFETY: the first call covers columns 0..first ≤ 6 of the caller's range.
    unsafe { by_nr!(first, gemm_avx2, kc, a, b, c, ldc, init, relu, pf) };
    if nr > 6 {
        let init2 = match init {
            // SAFETY: the bias pointer is valid for nr > 6 reads, so +6 is in bounds.
            RawInit::Bias(p) => RawInit::Bias(unsafe { p.add(6) }),
            other => other,
        };
        // SAFETY: columns 6..nr: `b + 6` is valid for (kc−1)·NRP + (nr−6) reads, `c + 6·ldc` for the tile.
        unsafe {
            by_nr!(
                nr - 6,
                gemm_avx2,
                kc,
                a,
                b.add(6),
                c.add(6 * ldc),
                ldc,
                init2,
                relu,
                Pf { steps: 0, ..pf }
            )
        };
    }
}

/// As [`deint_avx512`], 8 pairs at a time.
///
/// # Safety
/// The CPU has AVX2.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn deint_avx2(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    let n = even.len().min(odd.len()).min(src.len() / 2);
    let mut j = 0;
    while j + 8 <= n {
        // SAFETY: j + 8 ≤ n, so src[2j..2j+16], even[j..j+8] and odd[j..j+8] are in bounds.
        unsafe {
            let a = _mm256_loadu_ps(src.as_ptr().add(2 * j));
            let b = _mm256_loadu_ps(src.as_ptr().add(2 * j + 8));
            // shuffle gives a0 a2 b0 b2 | a4 a6 b4 b6; the 64-bit permute (0, 2, 1, 3) restores the order.
            let ev = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                _mm256_shuffle_ps::<0b10_00_10_00>(a, b),
            )));
            let od = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                _mm256_shuffle_ps::<0b11_01_11_01>(a, b),
            )));
            _mm256_storeu_ps(even.as_mut_ptr().add(j), ev);
            _mm256_storeu_ps(odd.as_mut_ptr().add(j), od);
        }
        j += 8;
    }
    wino::deinterleave(&src[2 * j..2 * n], &mut even[j..n], &mut odd[j..n]);
}

/// As [`ileave_avx512`], 8 pairs at a time.
///
/// # Safety
/// The CPU has AVX2.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn ileave_avx2(a: &[f32], b: &[f32], dst: &mut [f32]) {
    let n = a.len().min(b.len()).min(dst.len() / 2);
    let mut j = 0;
    while j + 8 <= n {
        // SAFETY: j + 8 ≤ n, so a[j..j+8], b[j..j+8] and dst[2j..2j+16] are in bounds.
        unsafe {
            let x = _mm256_loadu_ps(a.as_ptr().add(j));
            let y = _mm256_loadu_ps(b.as_ptr().add(j));
            // unpack gives a0 b0 a1 b1 | a4 b4 a5 b5 and a2 b2 a3 b3 | a6 b6 a7 b7; 128-bit halves reorder.
            let lo = _mm256_unpacklo_ps(x, y);
            let hi = _mm256_unpackhi_ps(x, y);
            _mm256_storeu_ps(
                dst.as_mut_ptr().add(2 * j),
                _mm256_permute2f128_ps::<0x20>(lo, hi),
            );
            _mm256_storeu_ps(
                dst.as_mut_ptr().add(2 * j + 8),
                _mm256_permute2f128_ps::<0x31>(lo, hi),
            );
        }
        j += 8;
    }
    wino::interleave(&a[j..n], &b[j..n], &mut dst[2 * j..2 * n]);
}

/// As [`seg_avx512`] with AVX2 masked loads, 8 lanes at a time (up to 16 lanes).
///
/// # Safety
/// The CPU has AVX2.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn seg_avx2(row: &[f32], off: isize, lo: usize, hi: usize, out: &mut [f32]) {
    let n = out.len();
    let in_row = lo >= hi || (off + lo as isize >= 0 && off + hi as isize <= row.len() as isize);
    if n > 16 || hi > n || !in_row {
        return conv::fill_segment(row, off, lo, hi, out);
    }
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let base = row.as_ptr().wrapping_offset(off);
    for half in 0..2 {
        let h0 = 8 * half as i32;
        let t = _mm256_add_epi32(lanes, _mm256_set1_epi32(h0));
        // lane mask: lo ≤ t < hi, and t < n for the store
        let ge_lo = _mm256_cmpgt_epi32(t, _mm256_set1_epi32(lo as i32 - 1));
        let lt_hi = _mm256_cmpgt_epi32(_mm256_set1_epi32(hi as i32), t);
        let load = _mm256_and_si256(ge_lo, lt_hi);
        let store = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), t);
        // SAFETY: only lanes with lo ≤ t < hi are loaded (0 ≤ off + t < row.len(), checked above) and
        // only lanes t < n = out.len() are stored; masked-off lanes are not accessed by vmaskmov.
        unsafe {
            let v = _mm256_maskload_ps(base.wrapping_add(8 * half), load);
            _mm256_maskstore_ps(out.as_mut_ptr().wrapping_add(8 * half), store, v);
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
fn pack_avx2(
    x: Src<'_>,
    h: usize,
    w: usize,
    p0: usize,
    mr: usize,
    kk0: usize,
    kk1: usize,
    dst: &mut [f32],
) {
    // SAFETY: this function runs only with AVX2 + FMA (its own target features).
    conv::pack_im2col(
        x,
        h,
        w,
        p0,
        mr,
        MR16,
        kk0,
        kk1,
        dst,
        |r, o, l, hh, d| unsafe { seg_avx2(r, o, l, hh, d) },
    );
}

#[target_feature(enable = "avx2,fma")]
fn wino_in_avx2(
    plane: &[f32],
    h: usize,
    w: usize,
    ty0: usize,
    eo: &mut [f32],
    v: &mut [f32],
    lay: wino::VLayout,
) {
    // SAFETY: this function runs only with AVX2 + FMA (its own target features).
    wino::input_rows(plane, h, w, ty0, eo, v, lay, |s, e, o| unsafe {
        deint_avx2(s, e, o)
    });
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
fn wino_out_avx2(
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
    // SAFETY: this function runs only with AVX2 + FMA (its own target features).
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
        |a, b, d| unsafe { ileave_avx2(a, b, d) },
    );
}

impl Kernel for Avx2Fma {
    const MR: usize = MR16;

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
    ) {
        check_gemm(kc, MR16, a, b, c, ldc, mr, nr, &init);
        let ri = raw(init);
        let pf = pf_of(pf, kc);
        with_tile!(MR16, c, ldc, mr, nr, init, |cp, ld| {
            // SAFETY: `self` proves AVX2 + FMA; lengths checked by `check_gemm`; `with_tile!` gives a tile
            // of 16 rows × nr columns at stride `ld` (either `c` with mr = 16, or a stack tile).
            unsafe { gemm_avx2_panel(kc, a.as_ptr(), b.as_ptr(), cp, ld, nr, ri, relu, pf) }
        });
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
        // SAFETY: `self` proves AVX2 + FMA is available; the callee is otherwise safe code.
        unsafe { pack_avx2(x, h, w, p0, mr, kk0, kk1, dst) }
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
        // SAFETY: `self` proves AVX2 + FMA are available; the callee is otherwise safe code.
        unsafe { wino_in_avx2(plane, h, w, ty0, eo, v, lay) }
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
        // SAFETY: `self` proves AVX2 + FMA are available; the callee is otherwise safe code.
        unsafe { wino_out_avx2(m, mstride, h, w, ty0, ty1, bias, relu, tmp, plane) }
    }
}

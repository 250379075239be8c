//! Winograd F(2×2, 3×3) for the 3×3, padding-1 convolutions (Lavin & Gray 2016).
//!
//! A 2×2 output tile at rows `2ty, 2ty+1`, columns `2tx, 2tx+1` needs the 4×4 input patch `d` at rows
//! `2ty−1 ..= 2ty+2`, columns `2tx−1 ..= 2tx+2` (zero outside the plane). With
//! `Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]]`, `G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]]` and
//! `Aᵀ = [[1,1,1,0],[0,1,−1,−1]]`: `V = Bᵀ d B`, `U = G g Gᵀ`, `M = Σ_c U ⊙ V` (16 GEMMs, one per
//! element ξ = 4·i + j of the 4×4 transform domain), `Y = Aᵀ M A`. This does 16 multiplies per 4 outputs
//! instead of 36 (2.25× fewer), and the transforms are additions only, so it stays within a few ulps
//! of direct convolution for the weights and activations of these networks.
//!
//! The bodies below are `#[inline(always)]`: each instruction set's kernel (see `simd`) instantiates them
//! inside a `#[target_feature]` function so that the compiler vectorises them for that instruction set.

/// Transforms the 3×3 filter `g` (row-major) to the 16 values `U = G g Gᵀ` (row-major 4×4), in f64.
pub(crate) fn filter(g: &[f32; 9]) -> [f64; 16] {
    const G: [[f64; 3]; 4] = [
        [1.0, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    // t = G g  (4×3)
    let mut t = [[0.0f64; 3]; 4];
    for (i, ti) in t.iter_mut().enumerate() {
        for (j, tij) in ti.iter_mut().enumerate() {
            *tij = (0..3).map(|k| G[i][k] * f64::from(g[3 * k + j])).sum();
        }
    }
    // U = t Gᵀ  (4×4)
    let mut u = [0.0f64; 16];
    for i in 0..4 {
        for j in 0..4 {
            u[4 * i + j] = (0..3).map(|k| t[i][k] * G[j][k]).sum();
        }
    }
    u
}

/// Tiles per row for a plane of width `w`.
pub(crate) fn tiles(side: usize) -> usize {
    side.div_ceil(2)
}

/// Length of the `eo` scratch of [`input_rows`] for width `w` and at most `tile_rows` tile rows.
pub(crate) fn eo_len(w: usize, tile_rows: usize) -> usize {
    (4 * tile_rows + 12) * (tiles(w) + 1)
}

/// Portable de-interleave: `even[j] = src[2j]`, `odd[j] = src[2j+1]`.
#[inline(always)]
pub(crate) fn deinterleave(src: &[f32], even: &mut [f32], odd: &mut [f32]) {
    for ((pair, e), o) in src.chunks_exact(2).zip(even.iter_mut()).zip(odd.iter_mut()) {
        *e = pair[0];
        *o = pair[1];
    }
}

/// Where [`input_rows`] writes: transform element ξ of block-local tile `t ∈ [t_lo, t_hi)` goes to
/// `v[(t/mr − t_lo/mr)·pstride + ξ·xstride + t mod mr]` (`t_lo` a multiple of `mr`): the packed
/// `[panel][ξ][channel][mr]` layout the GEMM reads, offset to one channel by the caller.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VLayout {
    pub mr: usize,
    pub pstride: usize,
    pub xstride: usize,
    pub t_lo: usize,
    pub t_hi: usize,
}

/// Input transform of the tiles `lay.t_lo..lay.t_hi` of the block of tile rows starting at `ty0` (local
/// tile index `t = (ty−ty0)·tw + tx`) of one `h × w` channel `plane`, written straight into `v`.
/// `eo` is scratch of at least [`eo_len`]`(w, rows)` elements for the tile rows touched; `deint` splits a
/// row into its even and odd columns (see [`deinterleave`]; kernels pass a vectorised one).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn input_rows<D>(
    plane: &[f32],
    h: usize,
    w: usize,
    ty0: usize,
    eo: &mut [f32],
    v: &mut [f32],
    lay: VLayout,
    deint: D,
) where
    D: Fn(&[f32], &mut [f32], &mut [f32]),
{
    if lay.t_hi <= lay.t_lo {
        return;
    }
    let tw = tiles(w);
    let n = tw + 1;
    let (lr0, lr1) = (lay.t_lo / tw, lay.t_hi.div_ceil(tw));
    // De-interleave the zero-padded rows 2·(ty0+lr0) .. 2·(ty0+lr1)+2 once:
    // E[r][j] = x[y−1][2j−1], O[r][j] = x[y−1][2j] for padded row y (zero outside the plane).
    let prow0 = 2 * (ty0 + lr0);
    let nrows = 2 * (lr1 - lr0) + 2;
    let (ep, rest) = eo.split_at_mut(nrows * n);
    let (op, rest) = rest.split_at_mut(nrows * n);
    let (e, o) = rest[..8 * n].split_at_mut(4 * n);
    let half = w / 2;
    for r in 0..nrows {
        let y = prow0 + r;
        let er = &mut ep[r * n..][..n];
        let or = &mut op[r * n..][..n];
        if y >= 1 && y - 1 < h {
            let row = &plane[(y - 1) * w..][..w];
            er[0] = 0.0;
            deint(&row[..2 * half], &mut or[..half], &mut er[1..=half]);
            er[half + 1..].fill(0.0);
            if w % 2 == 1 {
                or[half] = row[w - 1];
                or[half + 1..].fill(0.0);
            } else {
                or[half..].fill(0.0);
            }
        } else {
            er.fill(0.0);
            or.fill(0.0);
        }
    }
    let p0 = lay.t_lo / lay.mr;
    for lr in lr0..lr1 {
        // Vertical Bᵀ on padded rows r0..r0+4: r0 − r2, r1 + r2, r2 − r1, r1 − r3.
        let r0 = 2 * (lr - lr0);
        for (src, dst) in [(&*ep, &mut *e), (&*op, &mut *o)] {
            let rows = &src[r0 * n..][..4 * n];
            let (x0, rest) = rows.split_at(n);
            let (x1, rest) = rest.split_at(n);
            let (x2, x3) = rest.split_at(n);
            let (d0, rest) = dst.split_at_mut(n);
            let (d1, rest) = rest.split_at_mut(n);
            let (d2, d3) = rest.split_at_mut(n);
            for j in 0..n {
                d0[j] = x0[j] - x2[j];
                d1[j] = x1[j] + x2[j];
                d2[j] = x2[j] - x1[j];
                d3[j] = x1[j] - x3[j];
            }
        }
        // Horizontal B on columns (2tx−1, 2tx, 2tx+1, 2tx+2) = (e[tx], o[tx], e[tx+1], o[tx+1]), for the
        // tiles of this row inside [t_lo, t_hi), one run per packed panel.
        let base = lr * tw;
        let tx_end = (lay.t_hi - base).min(tw);
        let mut tx0 = lay.t_lo.saturating_sub(base);
        while tx0 < tx_end {
            let t = base + tx0;
            let lane = t % lay.mr;
            let len = (tx_end - tx0).min(lay.mr - lane);
            let off = (t / lay.mr - p0) * lay.pstride + lane;
            for i in 0..4 {
                let ei = &e[i * n + tx0..][..len + 1];
                let oi = &o[i * n + tx0..][..len + 1];
                let (e0, e1, o0, o1) = (&ei[..len], &ei[1..], &oi[..len], &oi[1..]);
                let blk = &mut v[off + 4 * i * lay.xstride..];
                let (d0, rest) = blk.split_at_mut(lay.xstride);
                let (d1, rest) = rest.split_at_mut(lay.xstride);
                let (d2, d3) = rest.split_at_mut(lay.xstride);
                let (d0, d1, d2, d3) = (
                    &mut d0[..len],
                    &mut d1[..len],
                    &mut d2[..len],
                    &mut d3[..len],
                );
                for q in 0..len {
                    d0[q] = e0[q] - e1[q];
                    d1[q] = o0[q] + e1[q];
                    d2[q] = e1[q] - o0[q];
                    d3[q] = o0[q] - o1[q];
                }
            }
            tx0 += len;
        }
    }
}

/// Length of the `tmp` scratch of [`output_rows`] for width `w`.
pub(crate) fn out_tmp_len(w: usize) -> usize {
    12 * tiles(w)
}

/// Portable interleave: `dst[2j] = a[j]`, `dst[2j+1] = b[j]`.
#[inline(always)]
pub(crate) fn interleave(a: &[f32], b: &[f32], dst: &mut [f32]) {
    for ((pair, &x), &y) in dst.chunks_exact_mut(2).zip(a).zip(b) {
        pair[0] = x;
        pair[1] = y;
    }
}

/// Output transform of tile rows `ty0..ty1` of one output channel: reads `m[ξ·mstride + t]` (local tile
/// index `t` as in [`input_rows`]), adds `bias`, applies ReLU when `relu`, and writes rows
/// `2·ty0 .. min(2·ty1, h)` of the `h × w` `plane`. `tmp` holds at least [`out_tmp_len`]`(w)` elements;
/// `ileave` merges the even and odd output columns of a row (see [`interleave`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn output_rows<I>(
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
    ileave: I,
) where
    I: Fn(&[f32], &[f32], &mut [f32]),
{
    let tw = tiles(w);
    let (s, y) = tmp[..12 * tw].split_at_mut(8 * tw);
    for ty in ty0..ty1 {
        let base = (ty - ty0) * tw;
        let mrow = |x: usize| &m[x * mstride + base..][..tw];
        // Rows of Aᵀ M: s0_j = m_j + m_{4+j} + m_{8+j}, s1_j = m_{4+j} − m_{8+j} − m_{12+j}.
        for j in 0..4 {
            let (a, b, c, d) = (mrow(j), mrow(4 + j), mrow(8 + j), mrow(12 + j));
            let (s0, rest) = s[2 * j * tw..][..2 * tw].split_at_mut(tw);
            let s1 = &mut rest[..tw];
            for x in 0..tw {
                s0[x] = a[x] + b[x] + c[x];
                s1[x] = b[x] - c[x] - d[x];
            }
        }
        // Columns: y_r0 = s_r0 + s_r1 + s_r2, y_r1 = s_r1 − s_r2 − s_r3 (+ bias, ReLU).
        for r in 0..2 {
            let sr = |j: usize| &s[(2 * j + r) * tw..][..tw];
            let (q0, q1, q2, q3) = (sr(0), sr(1), sr(2), sr(3));
            let (ya, yb) = y[2 * r * tw..][..2 * tw].split_at_mut(tw);
            for x in 0..tw {
                let (u, v) = (q0[x] + q1[x] + q2[x] + bias, q1[x] - q2[x] - q3[x] + bias);
                ya[x] = if relu { u.max(0.0) } else { u };
                yb[x] = if relu { v.max(0.0) } else { v };
            }
        }
        for dy in 0..2 {
            let row_y = 2 * ty + dy;
            if row_y >= h {
                break;
            }
            let (ya, yb) = y[2 * dy * tw..][..2 * tw].split_at(tw);
            let row = &mut plane[row_y * w..][..w];
            ileave(ya, yb, &mut row[..2 * (w / 2)]);
            if w % 2 == 1 {
                row[w - 1] = ya[tw - 1];
            }
        }
    }
}

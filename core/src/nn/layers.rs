//! The cheap layers around the convolutions: BatchNorm folding (load time), 2×2 max-pool, bilinear ×2
//! upsampling (both `align_corners` conventions). ReLU is fused into the convolution's store and the
//! channel concatenation of the UNet's up-steps is a two-part convolution input (`conv::Src::two`), so
//! neither needs a pass of its own. All activations are planar `[C][H][W]` f32.

use alloc::vec::Vec;

/// Folds eval-mode BatchNorm `y = (x − mean)/sqrt(var + eps)·gamma + beta` into the preceding conv:
/// `W'[k] = W[k]·s[k]`, `b'[k] = (b[k] − mean[k])·s[k] + beta[k]`, `s = gamma/sqrt(var + eps)`, in f64.
///
/// `weight` is `[cout][fan_in]`. Returns `Err(k)` for the first channel whose `var + eps` is not a
/// positive finite number (the fold would produce Inf/NaN).
#[allow(clippy::too_many_arguments)]
pub(crate) fn fold_batchnorm(
    weight: &mut [f32],
    bias: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> Result<(), usize> {
    let cout = bias.len();
    let fan = weight.len() / cout.max(1);
    for k in 0..cout {
        let d = f64::from(var[k]) + f64::from(eps);
        if !(d > 0.0 && d.is_finite()) {
            return Err(k);
        }
        let s = f64::from(gamma[k]) / libm::sqrt(d);
        for wv in &mut weight[k * fan..][..fan] {
            *wv = (f64::from(*wv) * s) as f32;
        }
        bias[k] = ((f64::from(bias[k]) - f64::from(mean[k])) * s + f64::from(beta[k])) as f32;
    }
    Ok(())
}

/// 2×2 max-pool, stride 2 (floor): `x` `[c][h][w]` → `out` `[c][h/2][w/2]`.
pub(crate) fn maxpool2(x: &[f32], c: usize, h: usize, w: usize, out: &mut [f32]) {
    let (ho, wo) = (h / 2, w / 2);
    for ch in 0..c {
        let src = &x[ch * h * w..][..h * w];
        let dst = &mut out[ch * ho * wo..][..ho * wo];
        for (y, drow) in dst.chunks_exact_mut(wo.max(1)).enumerate().take(ho) {
            let r0 = &src[2 * y * w..][..w];
            let r1 = &src[(2 * y + 1) * w..][..w];
            for (x, d) in drow.iter_mut().enumerate() {
                *d = r0[2 * x]
                    .max(r0[2 * x + 1])
                    .max(r1[2 * x].max(r1[2 * x + 1]));
            }
        }
    }
}

/// One axis of a bilinear resampling: output index → (i0, i1, λ0, λ1), as PyTorch computes it
/// (`area_pixel_compute_source_index`, f32 arithmetic).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tap {
    i0: usize,
    i1: usize,
    l0: f32,
    l1: f32,
}

/// Fills `tab[..n_out]` for an axis `n_in → n_out`.
pub(crate) fn bilinear_taps(n_in: usize, n_out: usize, align_corners: bool, tab: &mut [Tap]) {
    let scale = if align_corners {
        if n_out > 1 {
            (n_in as f32 - 1.0) / (n_out as f32 - 1.0)
        } else {
            0.0
        }
    } else {
        n_in as f32 / n_out as f32
    };
    for (i, t) in tab[..n_out].iter_mut().enumerate() {
        let src = if align_corners {
            scale * i as f32
        } else {
            (scale * (i as f32 + 0.5) - 0.5).max(0.0)
        };
        let i0 = (src as usize).min(n_in - 1);
        let i1 = if i0 < n_in - 1 { i0 + 1 } else { i0 };
        let l1 = (src - i0 as f32).clamp(0.0, 1.0);
        *t = Tap {
            i0,
            i1,
            l0: 1.0 - l1,
            l1,
        };
    }
}

/// Bilinear ×2 upsampling of `x` `[c][h][w]` to `out` `[c][2h][2w]` (`F.interpolate(scale_factor=2,
/// mode="bilinear", align_corners=…)`, no antialias). `tab` holds at least `2·max(h, w)` taps.
pub(crate) fn upsample2(
    x: &[f32],
    c: usize,
    h: usize,
    w: usize,
    align_corners: bool,
    tab: &mut [Tap],
    out: &mut [f32],
) {
    let (ho, wo) = (2 * h, 2 * w);
    let (ty, tx) = tab.split_at_mut(ho);
    bilinear_taps(h, ho, align_corners, ty);
    bilinear_taps(w, wo, align_corners, tx);
    let tx = &tx[..wo];
    for ch in 0..c {
        let src = &x[ch * h * w..][..h * w];
        let dst = &mut out[ch * ho * wo..][..ho * wo];
        for (oy, drow) in dst.chunks_exact_mut(wo).enumerate() {
            let t = ty[oy];
            let r0 = &src[t.i0 * w..][..w];
            let r1 = &src[t.i1 * w..][..w];
            for (d, s) in drow.iter_mut().zip(tx) {
                *d = t.l0 * (s.l0 * r0[s.i0] + s.l1 * r0[s.i1])
                    + t.l1 * (s.l0 * r1[s.i0] + s.l1 * r1[s.i1]);
            }
        }
    }
}

/// A tap table of `n` entries.
pub(crate) fn tap_table(n: usize) -> Vec<Tap> {
    alloc::vec![Tap::default(); n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsample_both_conventions() {
        // 1×2 → 2×4: align_corners = true interpolates between the end points,
        // false uses the half-pixel centres (PyTorch's values).
        let x = [1.0f32, 4.0];
        let mut tab = tap_table(8);
        let mut out = [0.0f32; 8];
        upsample2(&x, 1, 1, 2, true, &mut tab, &mut out);
        assert_eq!(out, [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
        upsample2(&x, 1, 1, 2, false, &mut tab, &mut out);
        assert_eq!(out, [1.0, 1.75, 3.25, 4.0, 1.0, 1.75, 3.25, 4.0]);
        // 1×1 → 2×2 copies.
        let mut o4 = [0.0f32; 4];
        upsample2(&[5.0], 1, 1, 1, true, &mut tab, &mut o4);
        assert_eq!(o4, [5.0; 4]);
    }

    #[test]
    fn maxpool() {
        let x: Vec<f32> = (0..32).map(|i| ((i * 7) % 11) as f32).collect();
        let mut out = [0.0f32; 8];
        maxpool2(&x, 2, 4, 4, &mut out);
        for c in 0..2 {
            for y in 0..2 {
                for xx in 0..2 {
                    let m = [(0, 0), (0, 1), (1, 0), (1, 1)]
                        .iter()
                        .map(|&(a, b)| x[c * 16 + (2 * y + a) * 4 + 2 * xx + b])
                        .fold(f32::MIN, f32::max);
                    assert_eq!(out[c * 4 + y * 2 + xx], m);
                }
            }
        }
    }

    #[test]
    fn batchnorm_fold() {
        let mut w = [1.0f32, 2.0, 3.0, 4.0];
        let mut b = [0.5f32, -1.0];
        fold_batchnorm(
            &mut w,
            &mut b,
            &[2.0, 1.0],
            &[0.1, 0.2],
            &[0.5, -1.0],
            &[3.0, 0.0],
            1.0,
        )
        .unwrap();
        // channel 0: s = 2/2 = 1; channel 1: s = 1/1 = 1.
        assert_eq!(w, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(b, [0.1, 0.2]);
        assert_eq!(
            fold_batchnorm(
                &mut w,
                &mut b,
                &[1.0; 2],
                &[0.0; 2],
                &[0.0; 2],
                &[1.0, -2.0],
                1e-5
            ),
            Err(1)
        );
    }
}

//! The wavelet side of the data, computed with nsbg-core's exact transform and tiling (design.md §Data
//! flow): the packed 2-level transform of an image, the low band each decoder level takes, the three
//! detail bands it predicts, and their 32×32 patch tilings (the networks' channel layouts).

use anyhow::{ensure, Context, Result};
use nsbg_core::tiling;
use nsbg_core::wavelet::{self, Extension};

/// Colour channels.
pub const C: usize = 3;
/// Decoder levels between the low band and the image (64 → 128 → 256).
pub const LEVELS: u32 = 2;

/// The packed (Mallat) `LEVELS`-level transform of a `[3][n][n]` image.
#[derive(Debug, Clone)]
pub struct Packed {
    pub n: usize,
    pub ext: Extension,
    /// `[3][n][n]`, per channel: LL2 in the top-left `n/4` block, details around it.
    pub data: Vec<f32>,
}

/// Side of the low band decoder level `level` (1-based) takes, for images of side `n`.
pub fn level_side(n: usize, level: u32) -> usize {
    (n >> LEVELS) << (level - 1)
}

impl Packed {
    /// Forward transform of a planar `[3][n][n]` image.
    pub fn analyze(image: &[f32], n: usize, ext: Extension) -> Result<Packed> {
        ensure!(image.len() == C * n * n, "image is not [3][{n}][{n}]");
        let mut data = image.to_vec();
        let mut scratch = vec![0f32; wavelet::scratch_len(n, n).context("image too large")?];
        for plane in data.chunks_exact_mut(n * n) {
            wavelet::dwt2(plane, n, n, n, LEVELS, ext, &mut scratch)
                .context("wavelet transform of the image failed")?;
        }
        Ok(Packed { n, ext, data })
    }

    /// The square block of side `s` at `(x0, y0)` of every channel, `[3][s][s]`.
    fn block(&self, x0: usize, y0: usize, s: usize) -> Vec<f32> {
        let n = self.n;
        let mut out = Vec::with_capacity(C * s * s);
        for c in 0..C {
            for y in 0..s {
                let row = (c * n + y0 + y) * n + x0;
                out.extend_from_slice(&self.data[row..row + s]);
            }
        }
        out
    }

    /// The low band decoder level `level` takes: LL2 for level 1, LL1 (one inverse level of the
    /// top-left quarter) for level 2. `[3][s][s]`, wavelet units.
    pub fn low(&self, level: u32) -> Result<Vec<f32>> {
        let s = level_side(self.n, level);
        let mut low = self.block(0, 0, s);
        if level > 1 {
            let mut scratch = vec![0f32; wavelet::scratch_len(s, s).context("size")?];
            for plane in low.chunks_exact_mut(s * s) {
                wavelet::idwt2(plane, s, s, s, level - 1, self.ext, &mut scratch)
                    .context("inverse transform of the low band failed")?;
            }
        }
        Ok(low)
    }

    /// The three detail bands (TR, BL, BR) decoder level `level` predicts, each `[3][s][s]`.
    pub fn details(&self, level: u32) -> [Vec<f32>; 3] {
        let s = level_side(self.n, level);
        [
            self.block(s, 0, s),
            self.block(0, s, s),
            self.block(s, s, s),
        ]
    }

    /// The same transform with every detail band set to zero ("low band only").
    pub fn low_only(&self) -> Packed {
        let s = self.n >> LEVELS;
        let mut data = vec![0f32; self.data.len()];
        for c in 0..C {
            for y in 0..s {
                let row = (c * self.n + y) * self.n;
                data[row..row + s].copy_from_slice(&self.data[row..row + s]);
            }
        }
        Packed {
            n: self.n,
            ext: self.ext,
            data,
        }
    }

    /// Inverse transform back to a `[3][n][n]` image.
    pub fn synthesize(&self) -> Result<Vec<f32>> {
        let n = self.n;
        let mut out = self.data.clone();
        let mut scratch = vec![0f32; wavelet::scratch_len(n, n).context("image too large")?];
        for plane in out.chunks_exact_mut(n * n) {
            wavelet::idwt2(plane, n, n, n, LEVELS, self.ext, &mut scratch)
                .context("inverse wavelet transform failed")?;
        }
        Ok(out)
    }
}

/// Tiles a `[3][s][s]` block into `[patch][3][32][32]` (the network channel layout `3·patch + c`).
pub fn tile(block: &[f32], s: usize, ext: Extension) -> Result<Vec<f32>> {
    let mut out = vec![0f32; block.len()];
    let mut scratch = vec![0f32; tiling::scratch_len(s).context("size")?];
    tiling::tile(block, s, C, ext, &mut out, &mut scratch)
        .with_context(|| format!("tiling a {s}x{s} block failed"))?;
    Ok(out)
}

/// Inverse of [`tile`].
pub fn untile(patches: &[f32], s: usize, ext: Extension) -> Result<Vec<f32>> {
    let mut out = vec![0f32; patches.len()];
    let mut scratch = vec![0f32; tiling::scratch_len(s).context("size")?];
    tiling::untile(patches, s, C, ext, &mut out, &mut scratch)
        .with_context(|| format!("untiling a {s}x{s} block failed"))?;
    Ok(out)
}

/// The network target of three bands: `[band][patch][3][32][32]`, i.e. output channel
/// `3·(tiles_per_band·b + patch) + c`.
pub fn tile_bands(bands: &[Vec<f32>; 3], s: usize, ext: Extension) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(3 * C * s * s);
    for b in bands {
        out.extend(tile(b, s, ext)?);
    }
    Ok(out)
}

/// Inverse of [`tile_bands`]: a network output (one sample) back to three `[3][s][s]` bands.
pub fn untile_bands(out: &[f32], s: usize, ext: Extension) -> Result<[Vec<f32>; 3]> {
    let n = C * s * s;
    ensure!(
        out.len() == 3 * n,
        "network output has {} values, expected {}",
        out.len(),
        3 * n
    );
    Ok([
        untile(&out[..n], s, ext)?,
        untile(&out[n..2 * n], s, ext)?,
        untile(&out[2 * n..], s, ext)?,
    ])
}

/// One inverse level: low band `[3][s][s]` + three bands → low band (or image) `[3][2s][2s]`.
pub fn synthesize_level(
    low: &[f32],
    bands: &[Vec<f32>; 3],
    s: usize,
    ext: Extension,
) -> Result<Vec<f32>> {
    let big = 2 * s;
    let mut out = vec![0f32; C * big * big];
    let mut scratch = vec![0f32; wavelet::scratch_len(big, big).context("size")?];
    for c in 0..C {
        let plane = &mut out[c * big * big..(c + 1) * big * big];
        for y in 0..s {
            let src = c * s * s + y * s;
            plane[y * big..y * big + s].copy_from_slice(&low[src..src + s]);
            plane[y * big + s..(y + 1) * big].copy_from_slice(&bands[0][src..src + s]);
            plane[(y + s) * big..(y + s) * big + s].copy_from_slice(&bands[1][src..src + s]);
            plane[(y + s) * big + s..(y + s + 1) * big].copy_from_slice(&bands[2][src..src + s]);
        }
        wavelet::idwt2(plane, big, big, big, 1, ext, &mut scratch)
            .context("inverse wavelet level failed")?;
    }
    Ok(out)
}

/// One forward level of a `[3][2s][2s]` block: its low band and three detail bands (each `[3][s][s]`).
pub fn analyze_level(block: &[f32], s: usize, ext: Extension) -> Result<(Vec<f32>, [Vec<f32>; 3])> {
    let big = 2 * s;
    let mut data = block.to_vec();
    let mut scratch = vec![0f32; wavelet::scratch_len(big, big).context("size")?];
    for plane in data.chunks_exact_mut(big * big) {
        wavelet::dwt2(plane, big, big, big, 1, ext, &mut scratch)
            .context("wavelet level failed")?;
    }
    let p = Packed { n: big, ext, data };
    Ok((
        p.block(0, 0, s),
        [p.block(s, 0, s), p.block(0, s, s), p.block(s, s, s)],
    ))
}

/// 2×2 box average of a `[3][n][n]` image (= bilinear ×½ with align_corners=false, no antialias).
pub fn halve(image: &[f32], n: usize) -> Vec<f32> {
    let h = n / 2;
    let mut out = vec![0f32; C * h * h];
    for c in 0..C {
        for y in 0..h {
            for x in 0..h {
                let p = |yy: usize, xx: usize| image[(c * n + yy) * n + xx];
                out[(c * h + y) * h + x] = 0.25
                    * (p(2 * y, 2 * x)
                        + p(2 * y, 2 * x + 1)
                        + p(2 * y + 1, 2 * x)
                        + p(2 * y + 1, 2 * x + 1));
            }
        }
    }
    out
}

/// The `[3][n/2^k][n/2^k]` image NSBG-PIXEL level `k` takes as input (`levels_down` box halvings).
pub fn downsample(image: &[f32], n: usize, levels_down: u32) -> Vec<f32> {
    let mut cur = image.to_vec();
    let mut side = n;
    for _ in 0..levels_down {
        cur = halve(&cur, side);
        side /= 2;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_image(n: usize) -> Vec<f32> {
        (0..C * n * n)
            .map(|i| ((i * 7919) % 251) as f32 / 250.0)
            .collect()
    }

    #[test]
    fn levels_reassemble_the_image() {
        let n = 128;
        let img = test_image(n);
        let p = Packed::analyze(&img, n, Extension::Symmetric).unwrap();
        let mut low = p.low(1).unwrap();
        for level in 1..=LEVELS {
            let s = level_side(n, level);
            let bands = p.details(level);
            // Tiling round trip of the network target.
            let t = tile_bands(&bands, s, p.ext).unwrap();
            let back = untile_bands(&t, s, p.ext).unwrap();
            for (a, b) in back.iter().zip(&bands) {
                let err = a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(err < 1e-5, "untile error {err}");
            }
            low = synthesize_level(&low, &bands, s, p.ext).unwrap();
            if level < LEVELS {
                let want = p.low(level + 1).unwrap();
                let err = low
                    .iter()
                    .zip(&want)
                    .map(|(x, y)| (x - y).abs())
                    .fold(0f32, f32::max);
                assert!(err < 1e-5, "LL error {err}");
            }
        }
        let err = low
            .iter()
            .zip(&img)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(err < 1e-5, "image error {err}");
        let (l, d) = analyze_level(&img, n / 2, p.ext).unwrap();
        let want = p.details(LEVELS);
        assert_eq!(d[2], want[2]);
        assert_eq!(l.len(), C * n * n / 4);
    }

    #[test]
    fn halve_is_box_average() {
        let img: Vec<f32> = (0..3 * 16).map(|i| i as f32).collect();
        let h = halve(&img, 4);
        assert_eq!(h[0], (0.0 + 1.0 + 4.0 + 5.0) / 4.0);
        assert_eq!(downsample(&img, 4, 2), vec![7.5, 23.5, 39.5]);
    }
}

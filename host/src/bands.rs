//! `bands`: the packed wavelet transform of a photo, shown as a picture.
//!
//! Every RGB plane is transformed (f32, `levels` levels, the chosen mode) in the packed Mallat layout;
//! then each band is mapped to `[0, 1]` for display:
//! * the final low band: `(v − min) / (max − min)` with min/max over the band (all three channels
//!   together, so colours stay comparable);
//! * each detail band (TR, BL, BR of every level): `0.5 + v / (2·p99)`, clamped, where `p99` is the
//!   99th percentile of `|v|` over the band (all channels) — zero is mid-grey, edges are bright/dark.

use std::path::Path;

use anyhow::{Context, Result};
use nsbg_core::wavelet::{self, Extension};

use crate::cli::BandsArgs;
use crate::image_io::{self, Planar};

/// A rectangle of the packed layout: columns `x0..x1`, rows `y0..y1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
}

/// Which kind of band a [`Rect`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandKind {
    /// The final low band (LL of the last level).
    Low,
    /// A detail band of the given 1-based level.
    Detail(u32),
}

/// The bands of an `levels`-level packed layout of a `width × height` plane: the low band first,
/// then TR, BL, BR of level 1, level 2, … (assumes the geometry was validated by the transform).
pub fn band_layout(width: usize, height: usize, levels: u32) -> Vec<(BandKind, Rect)> {
    let mut out = Vec::new();
    let (mut w, mut h) = (width, height);
    for level in 1..=levels {
        let (lw, lh) = (wavelet::low_len(w), wavelet::low_len(h));
        let d = BandKind::Detail(level);
        out.push((
            d,
            Rect {
                x0: lw,
                y0: 0,
                x1: w,
                y1: lh,
            },
        ));
        out.push((
            d,
            Rect {
                x0: 0,
                y0: lh,
                x1: lw,
                y1: h,
            },
        ));
        out.push((
            d,
            Rect {
                x0: lw,
                y0: lh,
                x1: w,
                y1: h,
            },
        ));
        w = lw;
        h = lh;
    }
    out.insert(
        0,
        (
            BandKind::Low,
            Rect {
                x0: 0,
                y0: 0,
                x1: w,
                y1: h,
            },
        ),
    );
    out
}

/// Transforms the three planes of `img` in place (f32), returning the packed coefficients.
pub fn transform(img: &Planar, levels: u32, ext: Extension) -> Result<Vec<f32>> {
    let (w, h) = (img.width, img.height);
    let mut data = img.data.clone();
    let n = scratch_len(w, h)?;
    let mut scratch = vec![0f32; n];
    for plane in data.chunks_exact_mut(w * h) {
        wavelet::dwt2(plane, w, h, w, levels, ext, &mut scratch).with_context(|| {
            format!(
                "cannot apply a {levels}-level {} transform to a {w}x{h} image (it allows at most {} levels in this mode)",
                ext.name(),
                max_levels(w, h, ext)
            )
        })?;
    }
    Ok(data)
}

/// The most levels a `w × h` plane takes in mode `ext` (0 if none): every block side must be ≥ 2, and
/// even in the modes that need it.
pub fn max_levels(w: usize, h: usize, ext: Extension) -> u32 {
    let (mut w, mut h, mut n) = (w, h, 0);
    while w >= 2 && h >= 2 && !(ext.needs_even() && (w % 2 == 1 || h % 2 == 1)) {
        n += 1;
        w = wavelet::low_len(w);
        h = wavelet::low_len(h);
    }
    n
}

/// [`wavelet::scratch_len`] as a `Result`.
pub fn scratch_len(w: usize, h: usize) -> Result<usize> {
    wavelet::scratch_len(w, h).with_context(|| format!("image {w}x{h} is too large"))
}

/// Display picture (values in `[0, 1]`) of packed coefficients (see the module docs).
pub fn band_picture(coeffs: &[f32], width: usize, height: usize, levels: u32) -> Planar {
    let n = width * height;
    let mut out = vec![0.5f32; 3 * n];
    for (kind, r) in band_layout(width, height, levels) {
        if r.x0 >= r.x1 || r.y0 >= r.y1 {
            continue;
        }
        let idx = |c: usize, y: usize, x: usize| c * n + y * width + x;
        let cells = || {
            (0..3).flat_map(move |c| {
                (r.y0..r.y1).flat_map(move |y| (r.x0..r.x1).map(move |x| (c, y, x)))
            })
        };
        let map: Box<dyn Fn(f32) -> f32> = match kind {
            BandKind::Low => {
                let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
                for (c, y, x) in cells() {
                    let v = coeffs[idx(c, y, x)];
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
                let span = hi - lo;
                if span > 0.0 {
                    Box::new(move |v| (v - lo) / span)
                } else {
                    Box::new(|_| 0.5)
                }
            }
            BandKind::Detail(_) => {
                let mut mags: Vec<f32> = cells()
                    .map(|(c, y, x)| coeffs[idx(c, y, x)].abs())
                    .collect();
                let p = percentile(&mut mags, 0.99);
                if p > 0.0 {
                    Box::new(move |v| (0.5 + v / (2.0 * p)).clamp(0.0, 1.0))
                } else {
                    Box::new(|v| {
                        if v == 0.0 {
                            0.5
                        } else if v > 0.0 {
                            1.0
                        } else {
                            0.0
                        }
                    })
                }
            }
        };
        for (c, y, x) in cells() {
            let i = idx(c, y, x);
            out[i] = map(coeffs[i]);
        }
    }
    Planar {
        width,
        height,
        data: out,
    }
}

/// The `q`-quantile (nearest rank) of `v`; reorders `v`. 0 for an empty slice.
fn percentile(v: &mut [f32], q: f64) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    let k = ((v.len() - 1) as f64 * q).round() as usize;
    let (_, x, _) = v.select_nth_unstable_by(k, f32::total_cmp);
    *x
}

/// Transforms `img` and writes its band picture to `out`; returns a one-line summary.
pub fn write_bands(
    img: &Planar,
    source: &str,
    levels: u32,
    ext: Extension,
    out: &Path,
) -> Result<String> {
    let coeffs =
        transform(img, levels, ext).with_context(|| format!("cannot transform {source}"))?;
    let pic = band_picture(&coeffs, img.width, img.height, levels);
    image_io::save_png(out, &pic)?;
    Ok(format!(
        "wrote {} ({}x{} PNG: {levels}-level bior2.2 transform, mode {}, of {source})",
        out.display(),
        img.width,
        img.height,
        ext.name()
    ))
}

/// `nsbg-host bands`.
pub fn run(args: &BandsArgs) -> Result<()> {
    let img = image_io::load(&args.image)?;
    tracing::info!(
        width = img.width,
        height = img.height,
        "loaded {}",
        args.image.display()
    );
    let line = write_bands(
        &img,
        &args.image.display().to_string(),
        args.levels,
        args.mode.into(),
        &args.out,
    )?;
    println!("{line}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_covers_plane_once() {
        for (w, h, l) in [(256, 256, 2), (37, 20, 3), (5, 9, 2)] {
            let mut hits = vec![0u8; w * h];
            for (_, r) in band_layout(w, h, l) {
                for y in r.y0..r.y1 {
                    for x in r.x0..r.x1 {
                        hits[y * w + x] += 1;
                    }
                }
            }
            assert!(hits.iter().all(|&c| c == 1), "{w}x{h} L{l}");
        }
    }

    #[test]
    fn max_levels_per_mode() {
        assert_eq!(max_levels(256, 256, Extension::Symmetric), 8);
        assert_eq!(max_levels(256, 256, Extension::Periodization), 8);
        assert_eq!(max_levels(255, 256, Extension::Periodization), 0);
        assert_eq!(max_levels(12, 40, Extension::Zero), 2);
        assert_eq!(max_levels(3, 3, Extension::Symmetric), 2);
        assert_eq!(max_levels(1, 300, Extension::Symmetric), 0);
    }

    #[test]
    fn percentile_nearest_rank() {
        let mut v: Vec<f32> = (0..101).map(|i| i as f32).collect();
        assert_eq!(percentile(&mut v, 0.99), 99.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }
}

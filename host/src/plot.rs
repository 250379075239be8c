//! Loss curves as PNG: plotters' bitmap backend for the chart and lines, [`crate::font`] for the labels
//! (no font files or font libraries involved, so it renders the same everywhere).

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use plotters::prelude::*;

use crate::font;

const W: u32 = 800;
const H: u32 = 480;
const LEFT: u32 = 76;
const RIGHT: u32 = 20;
const TOP: u32 = 34;
const BOTTOM: u32 = 40;

/// One curve: name, colour, points `(step, value)`.
pub struct Curve<'a> {
    pub name: &'a str,
    pub rgb: [u8; 3],
    pub points: &'a [(f64, f64)],
}

/// "Nice" tick values covering `lo..=hi` (about `n` of them).
fn linear_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + 1e-9 * span && out.len() < 50 {
        out.push(t);
        t += step;
    }
    out
}

/// Log-axis ticks: 1, 2, 5 × powers of ten inside `lo..=hi` (only powers of ten when that is plenty).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mults: &[f64] = if b - a > 3 { &[1.0] } else { &[1.0, 2.0, 5.0] };
    let mut out = Vec::new();
    for e in a..=b {
        for m in mults {
            let v = m * 10f64.powi(e);
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    out
}

fn label(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 1e5 || v.abs() < 1e-2 {
        let s = format!("{v:.0e}");
        s.replace("e-0", "e-").replace("e0", "e")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        // Tick sums like 0.1 + 0.7 are not exact: print 6 decimals, trimmed.
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Draws curves with a log-scaled y axis and writes the PNG (parent folders are created).
pub fn loss_curves(path: &Path, title: &str, curves: &[Curve<'_>]) -> Result<()> {
    lines(path, title, "step", true, curves)
}

/// Draws curves (x linear; y logarithmic when `log_y`, which drops non-positive values) and writes the
/// PNG (parent folders are created).
pub fn lines(
    path: &Path,
    title: &str,
    x_label: &str,
    log_y: bool,
    curves: &[Curve<'_>],
) -> Result<()> {
    let usable = |y: f64| y.is_finite() && (!log_y || y > 0.0);
    let pts = || {
        curves
            .iter()
            .flat_map(|c| c.points.iter())
            .filter(|p| usable(p.1) && p.0.is_finite())
    };
    let (mut x0, mut x1) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in pts() {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.1, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let (y0, y1) = if log_y {
        if y1 <= y0 * 1.0001 {
            (y0, y1) = (y0 / 1.5, y1 * 1.5);
        }
        (y0 / 1.1, y1 * 1.1)
    } else {
        let pad = if y1 > y0 {
            0.05 * (y1 - y0)
        } else {
            0.5 * y0.abs().max(1.0)
        };
        (y0 - pad, y1 + pad)
    };
    // The chart itself is linear; a log axis is drawn as log10 of the values.
    let ty = |y: f64| if log_y { y.log10() } else { y };

    let mut buf = vec![255u8; (W * H * 3) as usize];
    let mut tick_px: Vec<(i32, i32, String, bool)> = Vec::new();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        let plot = root.margin(TOP, BOTTOM, LEFT, RIGHT);
        let mut chart = ChartBuilder::on(&plot)
            .build_cartesian_2d(x0..x1, ty(y0)..ty(y1))
            .map_err(|e| anyhow!("plot setup failed: {e}"))?;
        let grid = RGBColor(225, 225, 225);
        let xt = linear_ticks(x0, x1, 6);
        let yt = if log_y {
            log_ticks(y0, y1)
        } else {
            linear_ticks(y0, y1, 6)
        };
        for &x in &xt {
            chart
                .draw_series(LineSeries::new([(x, ty(y0)), (x, ty(y1))], grid))
                .map_err(|e| anyhow!("plot failed: {e}"))?;
            let (px, py) = chart.backend_coord(&(x, ty(y0)));
            tick_px.push((px, py, label(x), true));
        }
        for &y in &yt {
            chart
                .draw_series(LineSeries::new([(x0, ty(y)), (x1, ty(y))], grid))
                .map_err(|e| anyhow!("plot failed: {e}"))?;
            let (px, py) = chart.backend_coord(&(x0, ty(y)));
            tick_px.push((px, py, label(y), false));
        }
        let (b, t) = (ty(y0), ty(y1));
        let frame = [(x0, b), (x1, b), (x1, t), (x0, t), (x0, b)];
        chart
            .draw_series(LineSeries::new(frame, BLACK))
            .map_err(|e| anyhow!("plot failed: {e}"))?;
        for c in curves {
            let colour = RGBColor(c.rgb[0], c.rgb[1], c.rgb[2]);
            let points: Vec<(f64, f64)> = c
                .points
                .iter()
                .copied()
                .filter(|p| usable(p.1) && p.0.is_finite())
                .map(|(x, y)| (x, ty(y)))
                .collect();
            if points.len() == 1 {
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(|e| anyhow!("plot failed: {e}"))?;
            } else {
                chart
                    .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                    .map_err(|e| anyhow!("plot failed: {e}"))?;
            }
        }
        root.present().map_err(|e| anyhow!("plot failed: {e}"))?;
    }
    let black = [0, 0, 0];
    for (px, py, text, is_x) in &tick_px {
        let w = font::text_width(text, 1) as i64;
        if *is_x {
            font::draw_text(
                &mut buf,
                W as usize,
                i64::from(*px) - w / 2,
                i64::from(*py) + 6,
                text,
                1,
                black,
            );
        } else {
            font::draw_text(
                &mut buf,
                W as usize,
                i64::from(*px) - w - 6,
                i64::from(*py) - 3,
                text,
                1,
                black,
            );
        }
    }
    font::draw_text(&mut buf, W as usize, i64::from(LEFT), 10, title, 2, black);
    font::draw_text(
        &mut buf,
        W as usize,
        i64::from(W / 2) - font::text_width(x_label, 1) as i64 / 2,
        i64::from(H) - 16,
        x_label,
        1,
        black,
    );
    let mut lx = i64::from(W - RIGHT) - 10;
    for c in curves.iter().rev() {
        let w = font::text_width(c.name, 2) as i64;
        lx -= w + 10;
        font::draw_text(&mut buf, W as usize, lx, 10, c.name, 2, c.rgb);
    }
    let img = image::RgbImage::from_raw(W, H, buf).context("plot buffer size")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("cannot write plot {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write plot {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png_with_curves() {
        let dir = std::env::temp_dir().join(format!("nsbg-plot-unit-{}", std::process::id()));
        let path = dir.join("loss.png");
        let train: Vec<(f64, f64)> = (1..200)
            .map(|i| (f64::from(i), 1.0 / f64::from(i)))
            .collect();
        let val = [(50.0, 0.05), (100.0, 0.02), (150.0, 0.015)];
        loss_curves(
            &path,
            "loss level 1",
            &[
                Curve {
                    name: "train",
                    rgb: [31, 119, 180],
                    points: &train,
                },
                Curve {
                    name: "val",
                    rgb: [214, 39, 40],
                    points: &val,
                },
            ],
        )
        .unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (W, H));
        let blue = img.pixels().filter(|p| p.0 == [31, 119, 180]).count();
        let red = img.pixels().filter(|p| p.0 == [214, 39, 40]).count();
        assert!(blue > 200 && red > 50, "curves not drawn: {blue} {red}");
        // Also a degenerate input (one point, no points) renders.
        loss_curves(
            &path,
            "x",
            &[Curve {
                name: "a",
                rgb: [0, 0, 0],
                points: &[(1.0, 1.0)],
            }],
        )
        .unwrap();
        loss_curves(&path, "x", &[]).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn ticks() {
        assert_eq!(
            linear_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(log_ticks(0.15, 1.1), vec![0.2, 0.5, 1.0]);
        assert_eq!(label(0.001), "1e-3");
        assert_eq!(label(200.0), "200");
        assert_eq!(label(0.7999999999999999), "0.8");
        assert_eq!(label(-2.5), "-2.5");
    }
}

//! Sample grids: one row per example, columns = (input, prediction, truth), every tile shown at the
//! output side (the input is enlarged with nearest-neighbour ×2), 2-pixel white gaps.

use std::path::Path;

use anyhow::{ensure, Result};

use crate::image_io::{self, Planar};

/// One row: input `[3][s][s]`, prediction and truth `[3][2s][2s]`, already scaled to [0, 1].
pub struct Row {
    pub input: Vec<f32>,
    pub prediction: Vec<f32>,
    pub truth: Vec<f32>,
}

const GAP: usize = 2;

/// Writes the grid PNG.
pub fn write(path: &Path, s: usize, rows: &[Row]) -> Result<()> {
    ensure!(!rows.is_empty(), "no rows for the sample grid");
    let t = 2 * s;
    let width = 3 * t + 2 * GAP;
    let height = rows.len() * t + (rows.len() - 1) * GAP;
    let mut data = vec![1f32; 3 * width * height];
    let mut put = |img: &[f32], side: usize, scale: usize, x0: usize, y0: usize| {
        for c in 0..3 {
            for y in 0..t {
                for x in 0..t {
                    let v = img[(c * side + y / scale) * side + x / scale];
                    data[(c * height + y0 + y) * width + x0 + x] = v;
                }
            }
        }
    };
    for (r, row) in rows.iter().enumerate() {
        let y0 = r * (t + GAP);
        put(&row.input, s, 2, 0, y0);
        put(&row.prediction, t, 1, t + GAP, y0);
        put(&row.truth, t, 1, 2 * (t + GAP), y0);
    }
    image_io::save_png(
        path,
        &Planar {
            width,
            height,
            data,
        },
    )
}

/// Writes `images` (each planar `[3][side][side]` in [0, 1]) as a grid of `cols` columns with 2-pixel
/// white gaps (sample sheets of generated images).
pub fn write_tiles(path: &Path, side: usize, images: &[Vec<f32>], cols: usize) -> Result<()> {
    ensure!(!images.is_empty(), "no images for the grid");
    ensure!(
        images.iter().all(|i| i.len() == 3 * side * side),
        "grid images must be [3][{side}][{side}]"
    );
    let cols = cols.clamp(1, images.len());
    let rows = images.len().div_ceil(cols);
    let width = cols * side + (cols - 1) * GAP;
    let height = rows * side + (rows - 1) * GAP;
    let mut data = vec![1f32; 3 * width * height];
    for (k, img) in images.iter().enumerate() {
        let (x0, y0) = ((k % cols) * (side + GAP), (k / cols) * (side + GAP));
        for c in 0..3 {
            for y in 0..side {
                let src = &img[(c * side + y) * side..(c * side + y + 1) * side];
                let dst = (c * height + y0 + y) * width + x0;
                data[dst..dst + side].copy_from_slice(src);
            }
        }
    }
    image_io::save_png(
        path,
        &Planar {
            width,
            height,
            data,
        },
    )
}

/// Columns of a near-square grid of `n` images.
pub fn columns(n: usize) -> usize {
    ((n as f64).sqrt().ceil() as usize).max(1)
}

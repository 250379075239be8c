//! Decoding and preprocessing one image file to `size × size` 8-bit planar RGB.
//!
//! * `center-crop` (the paper's decoders, paper-notes §2.1): the central `size × size` window at the
//!   native resolution; sides shorter than `size` are padded with black (torchvision 0.5 + PIL `crop`).
//! * `crop-resize` (the paper's sampler): the central square of side `min(w, h)`, resized to `size`
//!   (triangle filter, i.e. antialiased bilinear).
//!
//! Offsets round like torchvision's `center_crop`: `round((w − size) / 2)`, ties to even.

use std::io::Cursor;
use std::path::Path;

use anyhow::{bail, Context, Result};
use image::imageops::{self, FilterType};
use image::{ImageFormat, ImageReader, RgbImage};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Preprocess {
    /// Native-resolution centre crop (paper decoders).
    CenterCrop,
    /// Long-edge centre crop, then resize (paper sampler).
    CropResize,
}

impl Preprocess {
    pub fn name(self) -> &'static str {
        match self {
            Preprocess::CenterCrop => "center-crop",
            Preprocess::CropResize => "crop-resize",
        }
    }

    pub fn from_name(s: &str) -> Result<Self> {
        match s {
            "center-crop" => Ok(Preprocess::CenterCrop),
            "crop-resize" => Ok(Preprocess::CropResize),
            other => bail!("unknown preprocessing {other:?} (center-crop or crop-resize)"),
        }
    }
}

/// Decodes PNG or JPEG bytes to 8-bit RGB (grey and alpha converted, 16 bits rounded).
pub fn decode_rgb8(bytes: &[u8]) -> Result<RgbImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .context("cannot sniff the image format")?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg) => {}
        Some(other) => bail!("unsupported image format {other:?} (PNG and JPEG are supported)"),
        None => bail!("unrecognised file contents (PNG and JPEG are supported)"),
    }
    Ok(reader
        .decode()
        .context("cannot decode the image")?
        .to_rgb8())
}

/// Python's `round` (ties to even) of `x / 2` for an integer `x`, as torchvision computes crop offsets.
fn half_round_even(x: i64) -> i64 {
    let q = x.div_euclid(2);
    // Exact halves are n + 0.5 with n = q: round to the even one of q and q + 1.
    if x.rem_euclid(2) == 1 && q % 2 != 0 {
        q + 1
    } else {
        q
    }
}

/// The `size × size` window of `img` whose top-left corner is `(left, top)` (may lie outside: black).
fn window(img: &RgbImage, left: i64, top: i64, size: usize) -> RgbImage {
    let mut out = RgbImage::new(size as u32, size as u32);
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    for (x, y, px) in out.enumerate_pixels_mut() {
        let (sx, sy) = (left + i64::from(x), top + i64::from(y));
        if (0..w).contains(&sx) && (0..h).contains(&sy) {
            *px = *img.get_pixel(sx as u32, sy as u32);
        }
    }
    out
}

/// Applies a preprocessing mode.
pub fn apply(img: &RgbImage, mode: Preprocess, size: usize) -> RgbImage {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    match mode {
        Preprocess::CenterCrop => {
            let s = size as i64;
            if w == s && h == s {
                return img.clone();
            }
            window(img, half_round_even(w - s), half_round_even(h - s), size)
        }
        Preprocess::CropResize => {
            let side = w.min(h);
            let sq = window(
                img,
                half_round_even(w - side),
                half_round_even(h - side),
                side as usize,
            );
            if side as usize == size {
                sq
            } else {
                imageops::resize(&sq, size as u32, size as u32, FilterType::Triangle)
            }
        }
    }
}

/// Interleaved RGB → planar `[3][h][w]`.
pub fn planar(img: &RgbImage) -> Vec<u8> {
    let n = (img.width() * img.height()) as usize;
    let mut out = vec![0u8; 3 * n];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            out[c * n + i] = px.0[c];
        }
    }
    out
}

/// Reads, decodes and preprocesses one file to planar `[3][size][size]` u8.
pub fn load_rgb8(path: &Path, mode: Preprocess, size: usize) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read image file {}", path.display()))?;
    let img = decode_rgb8(&bytes)
        .with_context(|| format!("{} is not a readable PNG or JPEG image", path.display()))?;
    if img.width() == 0 || img.height() == 0 {
        bail!("{} has no pixels", path.display());
    }
    Ok(planar(&apply(&img, mode, size)))
}

/// Reads one file to planar `[3][size][size]` f32 in `[0, 1]`.
pub fn load_f32(path: &Path, mode: Preprocess, size: usize) -> Result<Vec<f32>> {
    Ok(load_rgb8(path, mode, size)?
        .into_iter()
        .map(|v| f32::from(v) / 255.0)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_like_torchvision() {
        assert_eq!(half_round_even(0), 0);
        assert_eq!(half_round_even(1), 0); // round(0.5) = 0
        assert_eq!(half_round_even(3), 2); // round(1.5) = 2
        assert_eq!(half_round_even(5), 2); // round(2.5) = 2
        assert_eq!(half_round_even(-1), 0); // round(-0.5) = -0
        assert_eq!(half_round_even(-3), -2); // round(-1.5) = -2
        assert_eq!(half_round_even(100), 50);
    }

    #[test]
    fn center_crop_pads_small_images_black() {
        let img = RgbImage::from_pixel(2, 4, image::Rgb([200, 100, 50]));
        let out = apply(&img, Preprocess::CenterCrop, 4);
        // w: round((2 - 4) / 2) = -1 → columns 1, 2 hold the image, 0 and 3 are black.
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(1, 0).0, [200, 100, 50]);
        assert_eq!(out.get_pixel(2, 3).0, [200, 100, 50]);
        assert_eq!(out.get_pixel(3, 3).0, [0, 0, 0]);
    }

    #[test]
    fn crop_resize_takes_the_central_square() {
        let mut img = RgbImage::new(6, 2);
        for (x, _, px) in img.enumerate_pixels_mut() {
            px.0 = [x as u8 * 10, 0, 0];
        }
        let out = apply(&img, Preprocess::CropResize, 2);
        assert_eq!(out.get_pixel(0, 0).0[0], 20);
        assert_eq!(out.get_pixel(1, 1).0[0], 30);
        let big = apply(&img, Preprocess::CropResize, 4);
        assert_eq!(big.dimensions(), (4, 4));
    }
}

//! Image files <-> planar RGB: `[3][H][W]` f32 in `[0, 1]` (channel-major, row-major planes).

use std::fs;
use std::io::Cursor;
use std::path::Path;

use anyhow::{bail, Context, Result};
use image::{ImageFormat, ImageReader, RgbImage};

/// Three colour planes of `width × height` samples each, values in `[0, 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planar {
    pub width: usize,
    pub height: usize,
    /// `data[(c * height + y) * width + x]`, c = R, G, B.
    pub data: Vec<f32>,
}

impl Planar {
    /// Samples per plane.
    pub fn plane_len(&self) -> usize {
        self.width * self.height
    }

    /// Plane `c` (0 = R, 1 = G, 2 = B).
    pub fn plane(&self, c: usize) -> &[f32] {
        let n = self.plane_len();
        &self.data[c * n..(c + 1) * n]
    }
}

/// Loads a PNG or JPEG file (format sniffed from the bytes, not the name). Grey, alpha and 16-bit
/// images are converted to 8-bit-equivalent RGB in `[0, 1]`; alpha is dropped.
pub fn load(path: &Path) -> Result<Planar> {
    let bytes =
        fs::read(path).with_context(|| format!("cannot read image file {}", path.display()))?;
    decode(&bytes)
        .with_context(|| format!("{} is not a readable PNG or JPEG image", path.display()))
}

/// Decodes PNG or JPEG bytes.
pub fn decode(bytes: &[u8]) -> Result<Planar> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .context("cannot sniff the image format")?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg) => {}
        Some(other) => bail!("unsupported image format {other:?} (PNG and JPEG are supported)"),
        None => bail!("unrecognised file contents (PNG and JPEG are supported)"),
    }
    let img = reader.decode().context("cannot decode the image")?;
    let rgb = img.to_rgb32f();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let n = w * h;
    let mut data = vec![0f32; 3 * n];
    for (i, px) in rgb.pixels().enumerate() {
        for c in 0..3 {
            data[c * n + i] = px.0[c].clamp(0.0, 1.0);
        }
    }
    Ok(Planar {
        width: w,
        height: h,
        data,
    })
}

/// Quantises to 8 bits (round to nearest, clamped) and writes a PNG, whatever the file name says.
/// Missing parent folders are created.
pub fn save_png(path: &Path, img: &Planar) -> Result<()> {
    let w = u32::try_from(img.width).context("image too wide to save")?;
    let h = u32::try_from(img.height).context("image too tall to save")?;
    let n = img.plane_len();
    let mut out = RgbImage::new(w, h);
    for (i, px) in out.pixels_mut().enumerate() {
        for c in 0..3 {
            px.0[c] = to_u8(img.data[c * n + i]);
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    if path
        .extension()
        .is_none_or(|e| !e.eq_ignore_ascii_case("png"))
    {
        tracing::warn!(
            "{} does not end in .png; writing PNG data anyway",
            path.display()
        );
    }
    out.save_with_format(path, ImageFormat::Png)
        .with_context(|| format!("cannot write PNG {}", path.display()))
}

/// `[0, 1]` -> `0..=255`, round to nearest; NaN maps to 0.
pub fn to_u8(v: f32) -> u8 {
    if v.is_nan() {
        return 0;
    }
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

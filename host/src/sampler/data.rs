//! The sampler's training data (paper-notes §1.1, §1.13): every image is cropped to its central square
//! and resized (`crop-resize`), then
//! * wavelet domain: the 64×64 level-2 low band LL2 of the 256×256 image, by nsbg-core's exact DWT with
//!   the run's extension (symmetric, the decoders' default), normalised to `x_n = (x + shift)/scale·2 − 1`;
//! * pixel domain (NOT-SO-BIG-GAN-PIXEL): the crop resized straight to 64×64 with the triangle filter
//!   scaled to the reduction (= PIL's antialiased bilinear `Resize(64)`), in [0, 1] → [−1, 1], which is
//!   the same normalisation with shift 0 and scale 1.
//!
//! The dataset, loader and cache are the decoders' (`crate::data`); a sample's "target" is its class label.

use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use nsbg_core::wavelet::Extension;
use serde::{Deserialize, Serialize};

use crate::data::loader::MakeSample;
use crate::data::{DataOptions, Dataset, Preprocess};
use crate::subbands::Packed;

/// Side of the sampled band / image.
pub const SIDE: usize = 64;
/// Side of the full image whose low band is sampled.
pub const IMAGE: usize = 256;

/// What the GAN generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Domain {
    /// The 64×64 level-2 wavelet low band of a 256×256 image (NOT-SO-BIG-GAN).
    Wavelet,
    /// 64×64 pixels (NOT-SO-BIG-GAN-PIXEL), decoded by the pixel decoders.
    Pixel,
}

impl Domain {
    pub fn name(self) -> &'static str {
        match self {
            Domain::Wavelet => "wavelet",
            Domain::Pixel => "pixel",
        }
    }
}

/// The affine map between data values and the generator's [−1, 1]: `x_n = (x + shift)/scale·2 − 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Norm {
    pub shift: f64,
    pub scale: f64,
}

impl Norm {
    /// Pixels in [0, 1] ↔ [−1, 1] (`Normalize(0.5, 0.5)`).
    pub const PIXEL: Norm = Norm {
        shift: 0.0,
        scale: 1.0,
    };

    pub fn validate(&self) -> Result<()> {
        ensure!(
            self.shift.is_finite() && self.scale.is_finite() && self.scale > 0.0,
            "normalisation needs a finite shift and a positive scale (got shift {}, scale {})",
            self.shift,
            self.scale
        );
        Ok(())
    }

    pub fn normalize(&self, x: f32) -> f32 {
        ((f64::from(x) + self.shift) / self.scale * 2.0 - 1.0) as f32
    }

    pub fn denormalize(&self, x_n: f32) -> f32 {
        ((f64::from(x_n) + 1.0) / 2.0 * self.scale - self.shift) as f32
    }
}

/// Dataset options of a domain: 256×256 crops for the wavelet domain, 64×64 for pixels.
pub fn options(
    domain: Domain,
    ext: Extension,
    workers: usize,
    cache: Option<std::path::PathBuf>,
    limit: Option<usize>,
) -> DataOptions {
    DataOptions {
        preprocess: Preprocess::CropResize,
        size: match domain {
            Domain::Wavelet => IMAGE,
            Domain::Pixel => SIDE,
        },
        workers,
        cache,
        extension: ext,
        limit,
    }
}

/// The unnormalised training example of item `i`: the low band (wavelet units) or the 64×64 image in
/// [0, 1], planar `[3][64][64]`.
pub fn example(ds: &Dataset, i: usize, domain: Domain, ext: Extension) -> Result<Vec<f32>> {
    let image = ds.image(i)?;
    match domain {
        Domain::Wavelet => {
            ensure!(
                ds.size == IMAGE,
                "wavelet-domain data must be {IMAGE}×{IMAGE}"
            );
            Packed::analyze(&image, IMAGE, ext)?
                .low(1)
                .context("low band of a training image")
        }
        Domain::Pixel => {
            ensure!(ds.size == SIDE, "pixel-domain data must be {SIDE}×{SIDE}");
            Ok(image)
        }
    }
}

/// The loader's sample maker: `(normalised [3][64][64], [class])`.
pub fn make_sample(domain: Domain, ext: Extension, norm: Norm) -> Arc<MakeSample> {
    Arc::new(move |ds: &Dataset, i: usize| {
        let x = example(ds, i, domain, ext)?
            .into_iter()
            .map(|v| norm.normalize(v))
            .collect();
        Ok((x, vec![ds.items[i].class as f32]))
    })
}

/// Values of a generated (or real) normalised batch shown as pictures in [0, 1]: pixels as they are, low
/// bands divided by 4 (the 2-D low-pass gain of two bior2.2 levels, so a constant image c shows as c).
pub fn display(domain: Domain, norm: Norm, x_n: &[f32]) -> Vec<f32> {
    let f = match domain {
        Domain::Wavelet => 0.25,
        Domain::Pixel => 1.0,
    };
    x_n.iter()
        .map(|&v| (norm.denormalize(v) * f).clamp(0.0, 1.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loader's samples are the normalised LL2 of the crop-resized image (wavelet) or the 64×64
    /// crop-resize (pixel), and denormalising them gives those values back.
    #[test]
    fn samples_are_normalised_low_bands_and_pixels() {
        let dir = std::env::temp_dir().join(format!("nsbg-sampler-data-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("a")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        for (k, class) in ["a", "b"].iter().enumerate() {
            let img = image::RgbImage::from_fn(320, 260, |x, y| {
                image::Rgb([(x % 251) as u8, (y % 241) as u8, 90 * k as u8])
            });
            img.save(dir.join(class).join("x.png")).unwrap();
        }
        let ext = Extension::Symmetric;
        let norm = Norm {
            shift: 3.0,
            scale: 10.0,
        };
        let ds = Dataset::open(&dir, &options(Domain::Wavelet, ext, 1, None, None)).unwrap();
        assert_eq!(ds.size, IMAGE);
        let make = make_sample(Domain::Wavelet, ext, norm);
        for i in 0..2 {
            let (x, y) = make(&ds, i).unwrap();
            assert_eq!(y, vec![i as f32]);
            assert_eq!(x.len(), 3 * SIDE * SIDE);
            let want = Packed::analyze(&ds.image(i).unwrap(), IMAGE, ext)
                .unwrap()
                .low(1)
                .unwrap();
            for (a, b) in x.iter().zip(&want) {
                assert!((norm.denormalize(*a) - b).abs() < 1e-5);
            }
            // LL2 of an image in [0, 1] lies in ≈ [0, 4]: normalised it stays inside G's [−1, 1].
            assert!(x.iter().all(|v| (-1.0..=1.0).contains(v)));
        }
        let px = Dataset::open(&dir, &options(Domain::Pixel, ext, 1, None, None)).unwrap();
        assert_eq!(px.size, SIDE);
        let (x, _) = make_sample(Domain::Pixel, ext, Norm::PIXEL)(&px, 1).unwrap();
        for (a, b) in x.iter().zip(&px.image(1).unwrap()) {
            assert!((Norm::PIXEL.denormalize(*a) - b).abs() < 1e-6);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn normalisation_matches_the_paper_and_round_trips() {
        // The authors' `WT64_norm_values.npz`.
        let n = Norm {
            shift: 3.0,
            scale: 10.0,
        };
        // x_n = (x + 3)/5 − 1; x = 5 x_n + 2.
        for x in [-2.1212196f32, 0.0, 1.0, 4.0, 6.1320944] {
            let xn = n.normalize(x);
            assert!((xn - ((x + 3.0) / 5.0 - 1.0)).abs() < 1e-6);
            assert!((n.denormalize(xn) - x).abs() < 1e-5);
            assert!((n.denormalize(xn) - (5.0 * xn + 2.0)).abs() < 1e-5);
        }
        assert_eq!(Norm::PIXEL.normalize(0.0), -1.0);
        assert_eq!(Norm::PIXEL.normalize(1.0), 1.0);
        assert_eq!(Norm::PIXEL.denormalize(0.0), 0.5);
        assert!(Norm {
            shift: 0.0,
            scale: 0.0
        }
        .validate()
        .is_err());
    }
}

//! Image sets for evaluation: folders of PNG/JPEG files brought to one square size, 8-bit quantisation,
//! tensors, seeded Gaussian numbers and the TensorFlow-1 bilinear resize used before Inception.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use crate::data::{DataOptions, Dataset, Preprocess};
use crate::rng::SplitMix64;

/// Square RGB images, planar `[3][size][size]`, 8 bits per sample (everything measured is quantised
/// like a PNG, so this loses nothing and needs a quarter of the memory of f32: 0.2 MB per 256² image).
#[derive(Debug, Clone)]
pub struct ImageSet {
    pub size: usize,
    pub images: Vec<Vec<u8>>,
    /// Where the images came from (for reports).
    pub origin: String,
}

impl ImageSet {
    /// Loads the first `limit` images (sorted by path) of an ImageFolder directory with the decoders'
    /// preprocessing (`center-crop`: native-resolution central window, black padding; or
    /// `crop-resize`), so every set is compared at the same `size`.
    pub fn load(
        dir: &Path,
        preprocess: Preprocess,
        size: usize,
        limit: Option<usize>,
        workers: usize,
    ) -> Result<ImageSet> {
        let ds = Dataset::open(
            dir,
            &DataOptions {
                preprocess,
                size,
                workers,
                cache: None,
                extension: nsbg_core::wavelet::Extension::Symmetric,
                limit,
            },
        )
        .with_context(|| format!("cannot read the image folder {}", dir.display()))?;
        if !ds.skipped.is_empty() {
            eprintln!(
                "warning: {} unreadable file(s) skipped in {} (first: {}: {})",
                ds.skipped.len(),
                dir.display(),
                ds.skipped[0].path,
                ds.skipped[0].reason
            );
        }
        let images = (0..ds.len())
            .map(|i| ds.image_u8(i))
            .collect::<Result<_>>()?;
        Ok(ImageSet {
            size,
            images,
            origin: format!("{} ({})", dir.display(), preprocess.name()),
        })
    }

    /// Images made in memory, quantised to 8 bits like a PNG (tests build their sets with it).
    #[cfg(test)]
    pub fn from_images(size: usize, images: Vec<Vec<f32>>, origin: String) -> Result<ImageSet> {
        let mut set = ImageSet::empty(size, origin);
        set.push(&images)?;
        ensure!(!set.images.is_empty(), "no images from {}", set.origin);
        Ok(set)
    }

    /// A set to [`push`](Self::push) images into.
    pub fn empty(size: usize, origin: String) -> ImageSet {
        ImageSet {
            size,
            images: Vec::new(),
            origin,
        }
    }

    /// Appends images in `[0, 1]` (quantised to 8 bits; NaN → 0).
    pub fn push(&mut self, images: &[Vec<f32>]) -> Result<()> {
        let size = self.size;
        for img in images {
            ensure!(
                img.len() == 3 * size * size,
                "image {} from {} has {} values, expected 3 x {size} x {size}",
                self.images.len(),
                self.origin,
                img.len()
            );
            self.images
                .push(img.iter().map(|&v| crate::image_io::to_u8(v)).collect());
        }
        Ok(())
    }

    /// Image `i` in `[0, 1]`.
    pub fn image(&self, i: usize) -> Vec<f32> {
        self.images[i]
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect()
    }

    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Images `range` as an `N × 3 × size × size` f32 tensor of the 8-bit values (0..=255).
    pub fn tensor(&self, range: std::ops::Range<usize>, device: Device) -> Tensor {
        let n = range.len() as i64;
        let s = self.size as i64;
        let flat: Vec<u8> = self.images[range].iter().flatten().copied().collect();
        Tensor::from_slice(&flat)
            .reshape([n, 3, s, s])
            .to_device(device)
            .to_kind(Kind::Float)
    }
}

/// `n` standard normal numbers (Box–Muller on SplitMix64): portable and independent of libtorch's RNG,
/// so seeded metrics give the same numbers on every machine and libtorch version.
pub fn standard_normals(rng: &mut SplitMix64, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // Uniform in (0, 1]: never 0, so the log is finite.
        let u1 = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push(r * t.cos());
        out.push(r * t.sin());
    }
    out.truncate(n);
    out
}

/// Source index and weight of each output sample of TF1's `resize_bilinear` (align_corners = false,
/// half_pixel_centers = false): output `i` reads input `i · in/out`, i.e. the corners are *not*
/// pixel-centre aligned. (PyTorch's `interpolate(…, align_corners=False)`, used by pytorch-fid, reads
/// `(i + ½) · in/out − ½` instead: a sub-pixel shift of the whole image.)
fn tf_taps(input: usize, output: usize) -> (Vec<i64>, Vec<i64>, Vec<f32>) {
    let scale = input as f64 / output as f64;
    let (mut lo, mut hi, mut w) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..output {
        let src = i as f64 * scale;
        let i0 = (src.floor() as usize).min(input - 1);
        lo.push(i0 as i64);
        hi.push((i0 + 1).min(input - 1) as i64);
        w.push((src - i0 as f64) as f32);
    }
    (lo, hi, w)
}

/// Resizes `N × C × H × W` images to `out × out` exactly like TensorFlow 1's `tf.image.resize_bilinear`
/// (no antialiasing; the FID Inception graph's resize).
pub fn resize_bilinear_tf(x: &Tensor, out: usize) -> Tensor {
    let size = x.size();
    let (h, w) = (size[2] as usize, size[3] as usize);
    let device = x.device();
    let axis = |t: &Tensor, dim: i64, input: usize| -> Tensor {
        let (lo, hi, wt) = tf_taps(input, out);
        let lo = Tensor::from_slice(&lo).to_device(device);
        let hi = Tensor::from_slice(&hi).to_device(device);
        let mut shape = vec![1i64; 4];
        shape[dim as usize] = out as i64;
        let wt = Tensor::from_slice(&wt).reshape(&shape).to_device(device);
        let a = t.index_select(dim, &lo);
        let b = t.index_select(dim, &hi);
        &a + (b - &a) * wt
    };
    let rows = axis(&x.to_kind(Kind::Float), 2, h);
    axis(&rows, 3, w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_resize_known_values() {
        // 2 → 4: outputs read inputs 0, 0.5, 1, 1.5 (clamped) → a, (a+b)/2, b, b.
        let x = Tensor::from_slice(&[10f32, 20.0]).reshape([1, 1, 1, 2]);
        let y = resize_bilinear_tf(&x.repeat([1, 1, 2, 1]), 4);
        let v = Vec::<f32>::try_from(y.select(2, 0).flatten(0, -1)).unwrap();
        assert_eq!(v, vec![10.0, 15.0, 20.0, 20.0]);
        // Downscaling 4 → 3 reads 0, 4/3, 8/3 (no antialias).
        let x = Tensor::from_slice(&[0f32, 3.0, 6.0, 9.0])
            .reshape([1, 1, 1, 4])
            .repeat([1, 1, 3, 1]);
        let y = resize_bilinear_tf(&x, 3);
        let v = Vec::<f32>::try_from(y.select(2, 1).flatten(0, -1)).unwrap();
        for (a, b) in v.iter().zip([0.0, 4.0, 8.0]) {
            assert!((a - b).abs() < 1e-5, "{v:?}");
        }
        // A constant image stays constant; the shape is as asked.
        let c = Tensor::full([2, 3, 7, 5], 0.25, (Kind::Float, Device::Cpu));
        let r = resize_bilinear_tf(&c, 11);
        assert_eq!(r.size(), [2, 3, 11, 11]);
        assert!((r - 0.25).abs().max().double_value(&[]) < 1e-7);
    }

    #[test]
    fn normals_are_standard_and_seeded() {
        let a = standard_normals(&mut SplitMix64::new(5), 20_001);
        assert_eq!(a.len(), 20_001);
        assert_eq!(a, standard_normals(&mut SplitMix64::new(5), 20_001));
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }

    #[test]
    fn sets_quantise_to_8_bits() {
        let set = ImageSet::from_images(1, vec![vec![1.2, 0.5, f32::NAN]], "t".into()).unwrap();
        assert_eq!(set.images[0], vec![255, 128, 0]);
        assert_eq!(set.image(0), vec![1.0, 128.0 / 255.0, 0.0]);
        let t = set.tensor(0..1, Device::Cpu);
        assert_eq!(
            Vec::<f32>::try_from(t.flatten(0, -1)).unwrap(),
            vec![255.0, 128.0, 0.0]
        );
        assert!(ImageSet::from_images(2, vec![vec![0.0; 3]], "t".into()).is_err());
        assert!(ImageSet::from_images(2, vec![], "t".into()).is_err());
    }
}

//! Sliced Wasserstein distance on multi-scale Laplacian-pyramid patches (Karras et al. 2018,
//! progressive GAN, `metrics/sliced_wasserstein.py`):
//!
//! 1. Laplacian pyramid of every image: 5×5 binomial filter `[1 4 6 4 1]ᵀ[1 4 6 4 1]/256`, mirror
//!    borders (scipy `mode='mirror'` = PyTorch `reflect`), down by 2 per level until the side would drop
//!    below `min_resolution` (256 → 256, 128, 64, 32, 16: five levels). The last level is the Gaussian
//!    residual.
//! 2. `patches_per_image` random 7×7 neighbourhoods per image and level → 147-d descriptors.
//!    Positions come from SplitMix64 seeded by `(seed, level, image index)`, so two sets are sampled at
//!    the same places (a set compared with itself gives exactly 0) and results are reproducible.
//! 3. Per set and level, every colour channel of the descriptors is normalised to zero mean and unit
//!    standard deviation over all its patches (as progressive GAN: the metric compares local structure,
//!    not global colour statistics).
//! 4. `directions` random unit directions (seeded, shared by both sets), 1-D Wasserstein-1 distance of the
//!    sorted projections, averaged over directions. Reported ×10³, like progressive GAN.
//!
//! Sets of different sizes are compared through their quantile functions, evaluated at
//! `max(Ma, Mb)` mid-point quantiles (identical to the sorted-difference formula for equal sizes).

use anyhow::{ensure, Result};
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use super::images::{standard_normals, ImageSet};
use crate::rng::SplitMix64;

/// Settings of the SWD descriptors and projections.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SwdConfig {
    /// Side of the square neighbourhoods (7 in progressive GAN).
    pub patch: usize,
    /// Neighbourhoods drawn per image and level (128 in progressive GAN).
    pub patches_per_image: usize,
    /// Random projection directions (4 × 128 in progressive GAN).
    pub directions: usize,
    /// Smallest pyramid level side (16 in progressive GAN).
    pub min_resolution: usize,
    pub seed: u64,
}

impl Default for SwdConfig {
    fn default() -> Self {
        SwdConfig {
            patch: 7,
            patches_per_image: 128,
            directions: 512,
            min_resolution: 16,
            seed: 0,
        }
    }
}

/// Normalised patch descriptors of one image set: one `M × 3·p·p` f32 tensor per pyramid level.
#[derive(Debug)]
pub struct Descriptors {
    pub levels: Vec<Tensor>,
    /// Side of each level.
    pub resolutions: Vec<usize>,
}

/// Sides of the pyramid levels of a `size` image.
pub fn level_sides(size: usize, min_resolution: usize) -> Vec<usize> {
    let mut sides = vec![size];
    while sides
        .last()
        .is_some_and(|&s| s.div_ceil(2) >= min_resolution.max(1))
    {
        let next = sides[sides.len() - 1].div_ceil(2);
        sides.push(next);
    }
    sides
}

fn binomial(device: Device, gain: f64) -> Tensor {
    let k = Tensor::from_slice(&[1f32, 4.0, 6.0, 4.0, 1.0]);
    let k2 = k.outer(&k) * (gain / 256.0);
    k2.reshape([1, 1, 5, 5])
        .repeat([3, 1, 1, 1])
        .to_device(device)
}

fn filter(x: &Tensor, k: &Tensor, stride: i64) -> Tensor {
    x.pad([2, 2, 2, 2], "reflect", None).conv2d(
        k,
        None::<Tensor>,
        [stride, stride],
        [0, 0],
        [1, 1],
        3,
    )
}

/// Laplacian pyramid of `N × 3 × H × W` images (finest level first).
pub fn laplacian_pyramid(x: &Tensor, levels: usize) -> Vec<Tensor> {
    let down = binomial(x.device(), 1.0);
    let up = binomial(x.device(), 4.0);
    let mut pyramid = vec![x.shallow_clone()];
    for _ in 1..levels {
        let last = pyramid.last().expect("non-empty").shallow_clone();
        let small = filter(&last, &down, 2);
        let size = last.size();
        let s = small.size();
        let zeros = Tensor::zeros([s[0], s[1], 2 * s[2], 2 * s[3]], (Kind::Float, x.device()));
        zeros
            .slice(2, 0, 2 * s[2], 2)
            .slice(3, 0, 2 * s[3], 2)
            .copy_(&small);
        let expanded = filter(&zeros, &up, 1)
            .narrow(2, 0, size[2])
            .narrow(3, 0, size[3]);
        let n = pyramid.len();
        pyramid[n - 1] = last - expanded;
        pyramid.push(small);
    }
    pyramid
}

/// The SplitMix64 stream of image `image` at pyramid level `level`.
fn patch_rng(seed: u64, level: usize, image: usize) -> SplitMix64 {
    let mut rng = SplitMix64::new(
        seed ^ ((level as u64) << 56) ^ (image as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    rng.next_u64();
    rng
}

/// Patch descriptors of a set (normalised per level and channel).
pub fn descriptors(set: &ImageSet, cfg: &SwdConfig, device: Device) -> Result<Descriptors> {
    ensure!(set.len() > 0, "no images in {}", set.origin);
    ensure!(
        set.size >= cfg.min_resolution && cfg.min_resolution >= cfg.patch && cfg.patch > 0,
        "SWD needs images of at least {} px and patches of at most min-resolution ({} px)",
        cfg.min_resolution,
        cfg.min_resolution
    );
    ensure!(
        cfg.patches_per_image > 0 && cfg.directions > 0,
        "SWD needs patches and directions"
    );
    let sides = level_sides(set.size, cfg.min_resolution);
    let p = cfg.patch;
    let dim = 3 * p * p;
    let mut raw: Vec<Vec<f32>> = vec![Vec::new(); sides.len()];
    const BATCH: usize = 16;
    let mut start = 0;
    while start < set.len() {
        let end = (start + BATCH).min(set.len());
        let x = set.tensor(start..end, device);
        let pyramid = tch::no_grad(|| laplacian_pyramid(&x, sides.len()));
        for (l, level) in pyramid.iter().enumerate() {
            let side = sides[l];
            let host: Vec<f32> =
                Vec::<f32>::try_from(level.to_device(Device::Cpu).contiguous().flatten(0, -1))?;
            let plane = side * side;
            for (k, img) in host.chunks_exact(3 * plane).enumerate() {
                let mut rng = patch_rng(cfg.seed, l, start + k);
                for _ in 0..cfg.patches_per_image {
                    let y0 = rng.below(side - p + 1);
                    let x0 = rng.below(side - p + 1);
                    for c in 0..3 {
                        for y in 0..p {
                            let row = c * plane + (y0 + y) * side + x0;
                            raw[l].extend_from_slice(&img[row..row + p]);
                        }
                    }
                }
            }
        }
        start = end;
    }
    let levels = raw
        .into_iter()
        .map(|v| {
            let m = (v.len() / dim) as i64;
            let d = Tensor::from_slice(&v).reshape([m, 3, (p * p) as i64]);
            let mean = d.mean_dim([0i64, 2].as_slice(), true, Kind::Float);
            let std = d.std_dim([0i64, 2].as_slice(), false, true);
            // A flat channel (constant images) has zero spread: leave it centred only.
            let std = std.where_self(&std.gt(1e-12), &std.ones_like());
            ((d - mean) / std).reshape([m, dim as i64])
        })
        .collect();
    Ok(Descriptors {
        levels,
        resolutions: sides,
    })
}

/// Unit projection directions (`dim × count`), seeded.
fn directions(dim: usize, count: usize, seed: u64) -> Tensor {
    let mut rng = SplitMix64::new(seed ^ 0x5D1D_5EED_0000_0001);
    let v: Vec<f32> = standard_normals(&mut rng, dim * count)
        .into_iter()
        .map(|x| x as f32)
        .collect();
    let d = Tensor::from_slice(&v).reshape([dim as i64, count as i64]);
    let norm = d.square().sum_dim_intlist(0, true, Kind::Float).sqrt();
    d / norm
}

/// Sorted projections (`directions × M`) evaluated at `k` mid-point quantiles.
fn quantiles(sorted: &Tensor, k: usize) -> Tensor {
    let m = sorted.size()[1] as usize;
    if m == k {
        return sorted.shallow_clone();
    }
    let idx: Vec<i64> = (0..k).map(|i| ((2 * i + 1) * m / (2 * k)) as i64).collect();
    sorted.index_select(1, &Tensor::from_slice(&idx))
}

/// Projections of the rows of `x` on `dirs`, one contiguous row per direction, sorted.
fn sorted_projections(x: &Tensor, dirs: &Tensor) -> Tensor {
    // Sorting contiguous rows is much faster in libtorch than sorting along a strided dimension.
    let (sorted, _) = dirs.tr().matmul(&x.tr()).contiguous().sort(1, false);
    sorted
}

/// Sliced Wasserstein distance (×10³) between two projected descriptor sets of one level.
pub fn sliced_wasserstein(a: &Tensor, b: &Tensor, cfg: &SwdConfig) -> Result<f64> {
    ensure!(
        a.size()[1] == b.size()[1],
        "descriptor sizes differ ({} vs {})",
        a.size()[1],
        b.size()[1]
    );
    let dirs = directions(a.size()[1] as usize, cfg.directions, cfg.seed);
    let pa = sorted_projections(a, &dirs);
    let pb = sorted_projections(b, &dirs);
    let k = pa.size()[1].max(pb.size()[1]) as usize;
    let diff = (quantiles(&pa, k) - quantiles(&pb, k)).abs();
    let v = diff.mean(Kind::Double).double_value(&[]) * 1e3;
    ensure!(v.is_finite(), "SWD is not finite");
    Ok(v)
}

/// SWD per pyramid level (finest first), ×10³.
pub fn swd(a: &Descriptors, b: &Descriptors, cfg: &SwdConfig) -> Result<Vec<f64>> {
    ensure!(
        a.resolutions == b.resolutions,
        "the image sets have different sizes (pyramids {:?} vs {:?})",
        a.resolutions,
        b.resolutions
    );
    a.levels
        .iter()
        .zip(&b.levels)
        .map(|(x, y)| sliced_wasserstein(x, y, cfg))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Smooth random "photos": a few random sinusoids per channel plus fine texture.
    pub(crate) fn synthetic_set(n: usize, size: usize, seed: u64) -> ImageSet {
        let mut rng = SplitMix64::new(seed);
        let images = (0..n)
            .map(|_| {
                let g = standard_normals(&mut rng, 12 + 3 * size * size);
                let mut img = vec![0f32; 3 * size * size];
                for c in 0..3 {
                    for y in 0..size {
                        for x in 0..size {
                            let (fx, fy) = (x as f64 / size as f64, y as f64 / size as f64);
                            let v = 0.5
                                + 0.2 * (6.0 * fx * (1.0 + g[c].abs()) + g[3 + c]).sin()
                                + 0.2 * (5.0 * fy * (1.0 + g[6 + c].abs()) + g[9 + c]).cos()
                                + 0.03 * g[12 + c * size * size + y * size + x];
                            img[(c * size + y) * size + x] = v.clamp(0.0, 1.0) as f32;
                        }
                    }
                }
                img
            })
            .collect();
        ImageSet::from_images(size, images, format!("synthetic seed {seed}")).unwrap()
    }

    pub(crate) fn with_noise(set: &ImageSet, sigma: f64, seed: u64) -> ImageSet {
        let mut rng = SplitMix64::new(seed);
        let images: Vec<Vec<f32>> = (0..set.len())
            .map(|i| {
                let img = set.image(i);
                let g = standard_normals(&mut rng, img.len());
                img.iter()
                    .zip(g)
                    .map(|(&v, e)| (f64::from(v) + sigma * e).clamp(0.0, 1.0) as f32)
                    .collect()
            })
            .collect();
        ImageSet::from_images(set.size, images, format!("{} + noise {sigma}", set.origin)).unwrap()
    }

    #[test]
    fn pyramid_levels_and_bands() {
        assert_eq!(level_sides(256, 16), vec![256, 128, 64, 32, 16]);
        assert_eq!(level_sides(48, 16), vec![48, 24]);
        let set = synthetic_set(2, 32, 1);
        let x = set.tensor(0..2, Device::Cpu);
        let pyr = laplacian_pyramid(&x, 2);
        assert_eq!(pyr[1].size(), [2, 3, 16, 16]);
        // The finest band is the image minus the expanded coarse level: small for smooth images, not zero.
        // (8-bit values: 0..255.)
        let e = pyr[0].abs().mean(Kind::Float).double_value(&[]);
        assert!(e > 0.03 && e < 25.0, "{e}");
    }

    #[test]
    fn swd_of_a_set_with_itself_is_zero_and_grows_with_noise() {
        let cfg = SwdConfig {
            patches_per_image: 64,
            directions: 128,
            ..SwdConfig::default()
        };
        let base = synthetic_set(8, 32, 11);
        let reference = descriptors(&base, &cfg, Device::Cpu).unwrap();
        let same = swd(
            &reference,
            &descriptors(&base, &cfg, Device::Cpu).unwrap(),
            &cfg,
        )
        .unwrap();
        assert!(same.iter().all(|&v| v == 0.0), "{same:?}");
        // Decreasing noise → decreasing SWD (averaged over levels), down to 0 without noise.
        let mut last = f64::INFINITY;
        for sigma in [0.2, 0.1, 0.05, 0.02, 0.0] {
            let noisy = with_noise(&base, sigma, 99);
            let d = swd(
                &reference,
                &descriptors(&noisy, &cfg, Device::Cpu).unwrap(),
                &cfg,
            )
            .unwrap();
            let mean = d.iter().sum::<f64>() / d.len() as f64;
            eprintln!("sigma {sigma}: SWD {mean:.3} {d:?}");
            assert!(mean < last, "sigma {sigma}: SWD {mean} not below {last}");
            last = mean;
        }
        assert_eq!(last, 0.0);
    }

    #[test]
    fn different_sizes_and_seeds() {
        let cfg = SwdConfig {
            patches_per_image: 16,
            directions: 64,
            ..SwdConfig::default()
        };
        let a = descriptors(&synthetic_set(3, 32, 1), &cfg, Device::Cpu).unwrap();
        let b = descriptors(&synthetic_set(5, 32, 2), &cfg, Device::Cpu).unwrap();
        assert_eq!(a.levels[0].size(), [48, 147]);
        assert_eq!(b.levels[1].size(), [80, 147]);
        let d1 = swd(&a, &b, &cfg).unwrap();
        assert!(d1.iter().all(|&v| v > 0.0));
        assert_eq!(d1, swd(&a, &b, &cfg).unwrap(), "not deterministic");
        let c = descriptors(&synthetic_set(2, 64, 1), &cfg, Device::Cpu).unwrap();
        assert!(swd(&a, &c, &cfg).is_err(), "sizes differ: must be an error");
    }
}

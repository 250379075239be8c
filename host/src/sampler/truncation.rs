//! Latent noise: seeded standard normal draws and the two meanings of "truncation" (paper-notes §1.11).
//!
//! z is drawn on the host from [`SplitMix64`] (Box–Muller), not from libtorch's global generator, so that
//! (a) a sample is a pure function of (seed, index) — the same on CPU and GPU and independent of how many
//! images are drawn together — and (b) training noise is a pure function of (seed, step), which makes the
//! run's RNG state part of its step counter and resume exact without serialising libtorch internals.

use anyhow::{bail, Result};

use crate::rng::SplitMix64;

/// How z is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Truncation {
    /// z ~ N(0, 1).
    None,
    /// z ~ N(0, s²): the authors' `--z_var s` (their "truncation").
    Scale(f64),
    /// Each |z_i| > t is redrawn until it is ≤ t: BigGAN's truncation trick.
    Resample(f64),
}

/// `--trunc-mode`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum TruncMode {
    /// Multiply z by T (std T; the authors' code).
    Scale,
    /// Redraw every coordinate with |z| > T (the BigGAN paper).
    Resample,
}

impl Truncation {
    /// From the command line: no value = none; the value must be positive and finite.
    pub fn from_args(value: Option<f64>, mode: TruncMode) -> Result<Truncation> {
        let Some(t) = value else {
            return Ok(Truncation::None);
        };
        if !(t.is_finite() && t > 0.0) {
            bail!("--truncation must be a positive number, got {t}");
        }
        if mode == TruncMode::Resample && t < 0.01 {
            // P(|z| ≤ 0.01) ≈ 0.008: each coordinate would need ~125 draws on average.
            bail!(
                "--truncation {t} is too small for resampling (use ≥ 0.01, or --trunc-mode scale)"
            );
        }
        Ok(match mode {
            TruncMode::Scale => Truncation::Scale(t),
            TruncMode::Resample => Truncation::Resample(t),
        })
    }
}

/// Seed of stream `stream` of a run seeded with `seed` (e.g. one stream per training step and phase, or
/// one per sampled image); neighbouring inputs give unrelated streams.
pub fn stream_seed(seed: u64, stream: u64, sub: u64) -> u64 {
    let mut r = SplitMix64::new(seed ^ 0x5EED_5A3B_1E2F_0001);
    let a = r.next_u64() ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut r = SplitMix64::new(a);
    let b = r.next_u64() ^ sub.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    SplitMix64::new(b).next_u64()
}

/// One standard normal value (Box–Muller; u1 in (0, 1] so the log is finite).
pub fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
    let u2 = (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `n` values of z under `trunc`, from `rng`.
pub fn draw(rng: &mut SplitMix64, n: usize, trunc: Truncation) -> Vec<f32> {
    (0..n)
        .map(|_| match trunc {
            Truncation::None => normal(rng) as f32,
            Truncation::Scale(s) => (normal(rng) * s) as f32,
            Truncation::Resample(t) => loop {
                let v = normal(rng);
                if v.abs() <= t {
                    break v as f32;
                }
            },
        })
        .collect()
}

/// A uniform class label in `0..n_classes` (0 when unconditional).
pub fn label(rng: &mut SplitMix64, n_classes: usize) -> i64 {
    if n_classes <= 1 {
        0
    } else {
        rng.below(n_classes) as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(v: &[f32]) -> (f64, f64) {
        let n = v.len() as f64;
        let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = v
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        (mean, var.sqrt())
    }

    #[test]
    fn normal_draws_have_unit_std_and_scale_multiplies_it() {
        let v = draw(&mut SplitMix64::new(1), 200_000, Truncation::None);
        let (m, s) = stats(&v);
        assert!(m.abs() < 0.01 && (s - 1.0).abs() < 0.01, "mean {m} std {s}");
        let v = draw(&mut SplitMix64::new(1), 200_000, Truncation::Scale(0.4));
        let (m, s) = stats(&v);
        assert!(
            m.abs() < 0.01 && (s - 0.4).abs() < 0.005,
            "mean {m} std {s}"
        );
    }

    #[test]
    fn resampling_bounds_every_value() {
        for t in [0.05, 0.5, 1.0, 2.0] {
            let v = draw(&mut SplitMix64::new(7), 50_000, Truncation::Resample(t));
            let max = v.iter().fold(0f32, |a, &b| a.max(b.abs()));
            assert!(f64::from(max) <= t, "t {t}: max |z| {max}");
            // A truncated normal at t = 2 has std 0.880 (at t = 0.5, ≈ t/√3 · 0.99 = 0.2855).
            if t == 2.0 {
                let (_, s) = stats(&v);
                assert!((s - 0.8796).abs() < 0.01, "std {s}");
            }
        }
    }

    #[test]
    fn bad_truncation_values_are_errors() {
        assert!(Truncation::from_args(Some(0.0), TruncMode::Scale).is_err());
        assert!(Truncation::from_args(Some(-1.0), TruncMode::Resample).is_err());
        assert!(Truncation::from_args(Some(f64::NAN), TruncMode::Scale).is_err());
        assert!(Truncation::from_args(Some(0.001), TruncMode::Resample).is_err());
        assert_eq!(
            Truncation::from_args(None, TruncMode::Resample).unwrap(),
            Truncation::None
        );
    }

    #[test]
    fn streams_are_distinct_and_reproducible() {
        assert_eq!(stream_seed(0, 5, 1), stream_seed(0, 5, 1));
        assert_ne!(stream_seed(0, 5, 1), stream_seed(0, 5, 2));
        assert_ne!(stream_seed(0, 5, 1), stream_seed(0, 6, 1));
        assert_ne!(stream_seed(0, 5, 1), stream_seed(1, 5, 1));
    }
}

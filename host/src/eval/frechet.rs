//! Gaussian statistics of feature sets and the Fréchet distance between them, in f64.
//!
//! `d² = |μa − μb|² + tr Σa + tr Σb − 2 tr (Σa^½ Σb Σa^½)^½`.
//! The cross term uses `tr (Σa Σb)^½ = tr (Σa^½ Σb Σa^½)^½`: both square roots are of symmetric PSD
//! matrices, so they come from symmetric eigendecompositions (LAPACK `syevd` through libtorch) with tiny
//! negative eigenvalues (rounding, rank-deficient covariances when there are fewer images than feature
//! dimensions) clamped to zero. Unlike `scipy.linalg.sqrtm` of the non-symmetric product `Σa Σb` this
//! never returns complex parts or needs an `eps·I` retry. Newton–Schulz on `Σa Σb` is kept as an
//! independent cross-check (tests).

use anyhow::{bail, ensure, Result};
use tch::{Device, Kind, Tensor};

/// Mean and covariance of a feature set (`N × D`, f64 on the CPU).
#[derive(Debug)]
pub struct Gaussian {
    pub mean: Tensor,
    pub cov: Tensor,
}

impl Gaussian {
    /// Statistics of the rows of `features` (`N × D`, any float kind/device), with the unbiased
    /// covariance (divides by `N − 1`, like `numpy.cov`). Needs `N ≥ 2` and finite values.
    pub fn of(features: &Tensor) -> Result<Gaussian> {
        let f = features.to_device(Device::Cpu).to_kind(Kind::Double);
        ensure!(f.dim() == 2, "features must be N x D, got {:?}", f.size());
        let n = f.size()[0];
        ensure!(
            n >= 2,
            "a covariance needs at least 2 feature vectors, got {n}"
        );
        ensure!(
            bool::try_from(f.isfinite().all()).unwrap_or(false),
            "the features contain NaN or infinite values"
        );
        let mean = f.mean_dim(0, false, Kind::Double);
        let centred = &f - &mean;
        let cov = centred.tr().matmul(&centred) / (n - 1) as f64;
        Ok(Gaussian { mean, cov })
    }

    pub fn dim(&self) -> i64 {
        self.mean.size()[0]
    }
}

/// `tr √M` of a symmetric PSD matrix `M` (symmetrised first; negative eigenvalues count as zero).
fn trace_sqrt_psd(m: &Tensor) -> f64 {
    let sym = (m + m.tr()) * 0.5;
    sym.linalg_eigvalsh("L")
        .clamp_min(0.0)
        .sqrt()
        .sum(Kind::Double)
        .double_value(&[])
}

/// `√S` of a symmetric PSD matrix by eigendecomposition.
pub fn sqrt_psd(s: &Tensor) -> Tensor {
    let sym = (s + s.tr()) * 0.5;
    let (values, vectors) = sym.linalg_eigh("L");
    let root = values.clamp_min(0.0).sqrt();
    (&vectors * root.unsqueeze(0)).matmul(&vectors.tr())
}

/// The Fréchet distance between two Gaussians (the FID when they are Inception pool statistics).
pub fn distance(a: &Gaussian, b: &Gaussian) -> Result<f64> {
    if a.dim() != b.dim() {
        bail!(
            "feature dimensions differ ({} vs {}): were both sets made with the same network?",
            a.dim(),
            b.dim()
        );
    }
    let diff = &a.mean - &b.mean;
    let mean_term = diff.dot(&diff).double_value(&[]);
    let ra = sqrt_psd(&a.cov);
    let cross = trace_sqrt_psd(&ra.matmul(&b.cov).matmul(&ra));
    let tr = |t: &Tensor| t.trace().double_value(&[]);
    let d = mean_term + tr(&a.cov) + tr(&b.cov) - 2.0 * cross;
    ensure!(d.is_finite(), "the Fréchet distance is not finite ({d})");
    // Rounding can leave a tiny negative value for (nearly) equal statistics.
    Ok(d.max(0.0))
}

#[cfg(test)]
/// `tr (Σa Σb)^½` by coupled Newton–Schulz iterations (as in BigGAN-PyTorch's `sqrt_newton_schulz`),
/// for cross-checking [`distance`]. Converges because `Σa Σb` is similar to a PSD matrix.
pub fn trace_sqrt_product_newton_schulz(
    sa: &Tensor,
    sb: &Tensor,
    iterations: usize,
) -> Result<f64> {
    let a = sa.matmul(sb);
    let d = a.size()[0];
    let norm = a.norm().double_value(&[]);
    if norm == 0.0 {
        return Ok(0.0);
    }
    let eye = Tensor::eye(d, (Kind::Double, Device::Cpu));
    let mut y = &a / norm;
    let mut z = eye.copy();
    for _ in 0..iterations {
        let t = (&eye * 3.0 - z.matmul(&y)) * 0.5;
        y = y.matmul(&t);
        z = t.matmul(&z);
    }
    let v = (y * norm.sqrt()).trace().double_value(&[]);
    ensure!(v.is_finite(), "Newton–Schulz diverged");
    Ok(v)
}

#[cfg(test)]
/// Rows of `data` (row-major `n × d`) as an f64 tensor.
pub fn matrix(data: &[f64], n: usize, d: usize) -> Result<Tensor> {
    ensure!(data.len() == n * d, "matrix data has the wrong length");
    Ok(Tensor::from_slice(data)
        .reshape([n as i64, d as i64])
        .to_kind(Kind::Double))
}

/// A covariance from its eigen-decomposition `Q diag(λ) Qᵀ` (tests and documentation examples).
#[cfg(test)]
fn from_eigen(q: &Tensor, lambda: &[f64]) -> Tensor {
    let l = Tensor::from_slice(lambda);
    (q * l.unsqueeze(0)).matmul(&q.tr())
}

#[cfg(test)]
/// Gaussian statistics given directly.
pub fn gaussian(mean: &[f64], cov: Tensor) -> Result<Gaussian> {
    let d = mean.len() as i64;
    ensure!(
        cov.size() == [d, d],
        "covariance must be {d} x {d}, got {:?}",
        cov.size()
    );
    Ok(Gaussian {
        mean: Tensor::from_slice(mean),
        cov: cov.to_kind(Kind::Double),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn normals(rng: &mut SplitMix64, n: usize) -> Vec<f64> {
        crate::eval::images::standard_normals(rng, n)
    }

    /// A random orthogonal matrix (QR of a Gaussian matrix).
    fn orthogonal(rng: &mut SplitMix64, d: usize) -> Tensor {
        let g = matrix(&normals(rng, d * d), d, d).unwrap();
        let (q, _) = Tensor::linalg_qr(&g, "reduced");
        q
    }

    #[test]
    fn diagonal_covariances_match_the_closed_form() {
        // d² = |μa − μb|² + Σ (√va − √vb)² for diagonal covariances.
        let va = [1.0, 4.0, 0.25, 9.0];
        let vb = [2.0, 1.0, 0.25, 16.0];
        let ma = [0.0, 1.0, -2.0, 0.5];
        let mb = [1.0, 1.0, 0.0, 0.0];
        let a = gaussian(&ma, Tensor::from_slice(&va).diag(0)).unwrap();
        let b = gaussian(&mb, Tensor::from_slice(&vb).diag(0)).unwrap();
        let want: f64 = ma
            .iter()
            .zip(&mb)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            + va.iter()
                .zip(&vb)
                .map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2))
                .sum::<f64>();
        let got = distance(&a, &b).unwrap();
        assert!((got - want).abs() < 1e-10, "{got} vs {want}");
    }

    #[test]
    fn commuting_covariances_match_the_closed_form() {
        let mut rng = SplitMix64::new(1);
        let d = 6;
        let q = orthogonal(&mut rng, d);
        let la = [3.0, 1.0, 0.5, 2.0, 0.1, 7.0];
        let lb = [1.0, 1.0, 2.0, 0.5, 0.0, 3.0];
        let a = gaussian(&[0.0; 6], from_eigen(&q, &la)).unwrap();
        let b = gaussian(&[0.5; 6], from_eigen(&q, &lb)).unwrap();
        let want = 6.0 * 0.25
            + la.iter()
                .zip(&lb)
                .map(|(x, y): (&f64, &f64)| (x.sqrt() - y.sqrt()).powi(2))
                .sum::<f64>();
        let got = distance(&a, &b).unwrap();
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }

    #[test]
    fn non_commuting_2d_case_matches_the_closed_form() {
        // For 2 × 2 matrices tr √(AB) = √(tr AB + 2 √det AB) (AB has non-negative real eigenvalues).
        let a = Tensor::from_slice(&[2.0f64, 0.7, 0.7, 1.0]).reshape([2, 2]);
        let b = Tensor::from_slice(&[0.5f64, -0.3, -0.3, 3.0]).reshape([2, 2]);
        let ab = a.matmul(&b);
        let (tr, det) = (ab.trace().double_value(&[]), ab.det().double_value(&[]));
        let cross = (tr + 2.0 * det.sqrt()).sqrt();
        let want = a.trace().double_value(&[]) + b.trace().double_value(&[]) - 2.0 * cross;
        let got = distance(
            &gaussian(&[0.0, 0.0], a.copy()).unwrap(),
            &gaussian(&[0.0, 0.0], b.copy()).unwrap(),
        )
        .unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let ns = trace_sqrt_product_newton_schulz(&a, &b, 50).unwrap();
        assert!((ns - cross).abs() < 1e-9, "{ns} vs {cross}");
    }

    #[test]
    fn random_non_commuting_case_agrees_with_newton_schulz() {
        let mut rng = SplitMix64::new(7);
        let d = 24;
        // Two unrelated full-rank covariances from random data.
        let fa = matrix(&normals(&mut rng, 200 * d), 200, d).unwrap();
        let mix = matrix(&normals(&mut rng, d * d), d, d).unwrap();
        let fb = matrix(&normals(&mut rng, 200 * d), 200, d)
            .unwrap()
            .matmul(&mix)
            + 0.3;
        let a = Gaussian::of(&fa).unwrap();
        let b = Gaussian::of(&fb).unwrap();
        let eig = distance(&a, &b).unwrap();
        let cross = trace_sqrt_product_newton_schulz(&a.cov, &b.cov, 100).unwrap();
        let diff = &a.mean - &b.mean;
        let ns = diff.dot(&diff).double_value(&[])
            + a.cov.trace().double_value(&[])
            + b.cov.trace().double_value(&[])
            - 2.0 * cross;
        assert!(
            eig > 1.0,
            "the sets differ, the distance must be large: {eig}"
        );
        assert!(
            (eig - ns).abs() < 1e-8 * eig.max(1.0),
            "eigh {eig} vs Newton–Schulz {ns}"
        );
        // Symmetric in its arguments.
        let back = distance(&b, &a).unwrap();
        assert!((eig - back).abs() < 1e-8 * eig, "{eig} vs {back}");
    }

    #[test]
    fn distance_of_a_set_to_itself_is_zero_even_rank_deficient() {
        let mut rng = SplitMix64::new(3);
        // 20 vectors in 64 dimensions: the covariance has rank 19.
        let f = matrix(&normals(&mut rng, 20 * 64), 20, 64).unwrap() * 3.0;
        let g = Gaussian::of(&f).unwrap();
        let d = distance(&g, &Gaussian::of(&f).unwrap()).unwrap();
        assert!(d <= 1e-6, "FID of a set with itself: {d}");
    }

    #[test]
    fn bad_inputs_are_errors() {
        let one = Tensor::zeros([1, 3], (Kind::Double, Device::Cpu));
        assert!(Gaussian::of(&one).is_err());
        let nan = Tensor::from_slice(&[0.0f64, f64::NAN, 1.0, 2.0]).reshape([2, 2]);
        assert!(Gaussian::of(&nan).is_err());
        let a = gaussian(&[0.0], Tensor::ones([1, 1], (Kind::Double, Device::Cpu))).unwrap();
        let b = gaussian(&[0.0, 0.0], Tensor::eye(2, (Kind::Double, Device::Cpu))).unwrap();
        assert!(distance(&a, &b).is_err());
    }
}

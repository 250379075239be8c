//! Kernel Inception Distance (Bińkowski et al. 2018): the unbiased estimate of the squared MMD with
//! the cubic polynomial kernel `k(x, y) = (xᵀy / d + 1)³`, averaged over random subsets of both sets;
//! its standard deviation over the subsets is reported with it. Used on Inception pool features when an
//! Inception file is given, and always on the SWD patch descriptors.

use anyhow::{ensure, Result};
use serde::Serialize;
use tch::{Kind, Tensor};

use crate::rng::SplitMix64;

/// KID of two feature sets.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Kid {
    pub mean: f64,
    /// Standard deviation over the subsets.
    pub std: f64,
    pub subsets: usize,
    pub subset_size: usize,
}

fn kernel(x: &Tensor, y: &Tensor) -> Tensor {
    let d = x.size()[1] as f64;
    (x.matmul(&y.tr()) / d + 1.0).pow_tensor_scalar(3)
}

/// Unbiased MMD² (the diagonals of the within-set kernel matrices are left out).
pub fn mmd2_unbiased(x: &Tensor, y: &Tensor) -> f64 {
    let (m, n) = (x.size()[0] as f64, y.size()[0] as f64);
    let kxx = kernel(x, x);
    let kyy = kernel(y, y);
    let kxy = kernel(x, y);
    let off = |k: &Tensor| {
        k.sum(Kind::Double).double_value(&[])
            - k.diagonal(0, 0, 1).sum(Kind::Double).double_value(&[])
    };
    off(&kxx) / (m * (m - 1.0)) + off(&kyy) / (n * (n - 1.0))
        - 2.0 * kxy.sum(Kind::Double).double_value(&[]) / (m * n)
}

#[cfg(test)]
/// The biased (V-statistic) MMD², for comparison: always ≥ 0, positive even for equal distributions.
pub fn mmd2_biased(x: &Tensor, y: &Tensor) -> f64 {
    let (m, n) = (x.size()[0] as f64, y.size()[0] as f64);
    let s = |k: Tensor| k.sum(Kind::Double).double_value(&[]);
    s(kernel(x, x)) / (m * m) + s(kernel(y, y)) / (n * n) - 2.0 * s(kernel(x, y)) / (m * n)
}

/// `k` distinct indices of `0..n` (partial Fisher–Yates).
pub fn choose(rng: &mut SplitMix64, n: usize, k: usize) -> Vec<i64> {
    let mut all: Vec<i64> = (0..n as i64).collect();
    for i in 0..k.min(n) {
        let j = i + rng.below(n - i);
        all.swap(i, j);
    }
    all.truncate(k);
    all
}

/// KID over `subsets` random subsets of `subset_size` rows of each set (capped at the smaller set).
/// `mmd` is evaluated once per subset and may average several feature groups (pyramid levels): it
/// receives the subset number and must draw its own indices with the given RNG.
pub fn kid_with<F>(subsets: usize, subset_size: usize, seed: u64, mut mmd: F) -> Result<Kid>
where
    F: FnMut(&mut SplitMix64) -> Result<f64>,
{
    ensure!(subsets > 0, "KID needs at least one subset");
    let mut rng = SplitMix64::new(seed ^ 0x4B1D_0000_0000_0001);
    let values: Vec<f64> = (0..subsets).map(|_| mmd(&mut rng)).collect::<Result<_>>()?;
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    ensure!(mean.is_finite(), "KID is not finite");
    Ok(Kid {
        mean,
        std: var.sqrt(),
        subsets,
        subset_size,
    })
}

/// KID of the rows of `a` and `b` (f64 arithmetic).
pub fn kid(a: &Tensor, b: &Tensor, subsets: usize, subset_size: usize, seed: u64) -> Result<Kid> {
    let groups = [(a.shallow_clone(), b.shallow_clone())];
    kid_groups(&groups, subsets, subset_size, seed)
}

/// KID averaged over groups of paired feature sets (e.g. the levels of the SWD pyramid): per subset, the
/// mean over groups of each group's unbiased MMD².
pub fn kid_groups(
    groups: &[(Tensor, Tensor)],
    subsets: usize,
    subset_size: usize,
    seed: u64,
) -> Result<Kid> {
    ensure!(!groups.is_empty(), "KID needs features");
    let mut size = subset_size;
    for (a, b) in groups {
        ensure!(
            a.size()[1] == b.size()[1],
            "feature sizes differ ({} vs {})",
            a.size()[1],
            b.size()[1]
        );
        size = size.min(a.size()[0] as usize).min(b.size()[0] as usize);
    }
    ensure!(size >= 2, "KID needs at least 2 feature vectors per set");
    let groups: Vec<(Tensor, Tensor)> = groups
        .iter()
        .map(|(a, b)| (a.to_kind(Kind::Double), b.to_kind(Kind::Double)))
        .collect();
    kid_with(subsets, size, seed, |rng| {
        let mut sum = 0.0;
        for (a, b) in &groups {
            let ia = Tensor::from_slice(&choose(rng, a.size()[0] as usize, size));
            let ib = Tensor::from_slice(&choose(rng, b.size()[0] as usize, size));
            sum += mmd2_unbiased(&a.index_select(0, &ia), &b.index_select(0, &ib));
        }
        Ok(sum / groups.len() as f64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::frechet::matrix;
    use crate::eval::images::standard_normals;

    fn gauss(rng: &mut SplitMix64, n: usize, d: usize, shift: f64) -> Tensor {
        matrix(&standard_normals(rng, n * d), n, d).unwrap() + shift
    }

    #[test]
    fn unbiased_estimate_averages_to_zero_for_equal_distributions() {
        let mut rng = SplitMix64::new(21);
        let (draws, n, d) = (300, 20, 4);
        let (mut unbiased, mut biased) = (Vec::new(), Vec::new());
        for _ in 0..draws {
            let x = gauss(&mut rng, n, d, 0.0);
            let y = gauss(&mut rng, n, d, 0.0);
            unbiased.push(mmd2_unbiased(&x, &y));
            biased.push(mmd2_biased(&x, &y));
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let sd = |v: &[f64]| {
            let m = mean(v);
            (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
        };
        let (mu, mb) = (mean(&unbiased), mean(&biased));
        let se = sd(&unbiased) / (draws as f64).sqrt();
        // Zero within 3 standard errors; the biased estimate is clearly above that.
        assert!(
            mu.abs() < 3.0 * se,
            "unbiased mean {mu} (standard error {se})"
        );
        assert!(mb > 10.0 * se && mb > 0.0, "biased mean {mb} (se {se})");
        assert!(
            biased.iter().all(|&b| b >= 0.0),
            "the V-statistic is an MMD², never negative"
        );
        // Different distributions: clearly positive.
        let x = gauss(&mut rng, 200, d, 0.0);
        let y = gauss(&mut rng, 200, d, 0.5);
        let k = kid(&x, &y, 20, 100, 1).unwrap();
        assert!(k.mean > 5.0 * k.std.max(1e-12) && k.mean > 0.05, "{k:?}");
        assert_eq!(k.subset_size, 100);
        // Same distribution through the subset machinery: near zero, far below the shifted case.
        let z = gauss(&mut rng, 200, d, 0.0);
        let same = kid(&x, &z, 20, 100, 1).unwrap();
        assert!(same.mean.abs() < 0.1 * k.mean, "{same:?} vs {k:?}");
    }

    #[test]
    fn subsets_are_capped_and_seeded() {
        let mut rng = SplitMix64::new(2);
        let x = gauss(&mut rng, 30, 3, 0.0);
        let y = gauss(&mut rng, 12, 3, 1.0);
        let a = kid(&x, &y, 5, 1000, 9).unwrap();
        assert_eq!(a.subset_size, 12);
        let b = kid(&x, &y, 5, 1000, 9).unwrap();
        assert_eq!(a.mean, b.mean);
        let one = gauss(&mut rng, 1, 3, 0.0);
        assert!(kid(&x, &one, 5, 10, 0).is_err());
        let idx = choose(&mut SplitMix64::new(1), 10, 10);
        let mut s = idx.clone();
        s.sort_unstable();
        assert_eq!(s, (0..10).collect::<Vec<i64>>());
    }
}

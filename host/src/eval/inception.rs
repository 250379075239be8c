//! A user-supplied TorchScript Inception-v3 (nothing is downloaded at run time) and the Inception Score.
//!
//! Module interface (what `scripts/export_fid_inception.py` produces from pytorch-fid's port of the
//! TensorFlow FID graph `inception-2015-12-05`):
//!
//! * input: `float32 [N, 3, 299, 299]`, RGB, values `(v − 128) / 128` for 8-bit values `v` ∈ [0, 255]
//!   (what the TF graph does after its resize: `Sub 128`, `Mul 1/128`);
//! * output: a tuple `(pool [N, D], logits [N, K])` (D = 2048 `pool_3` features; K = 1008 logits
//!   `pool_3 · W` *without* the softmax bias, as improved-gan's Inception Score reads them), or a single
//!   `pool` tensor (then no IS).
//!
//! Before the module, images are quantised to 8 bits and resized to 299 × 299 here with TF1's
//! `resize_bilinear` (no antialiasing, align_corners = false, no half-pixel offset) — the TF FID/IS code's
//! resize. pytorch-fid instead resizes with `F.interpolate(bilinear, align_corners=False)` (half-pixel
//! centres) and normalises with `2x − 1` = `(v − 127.5)/127.5`; both differ slightly from TF, so numbers
//! from pytorch-fid and from here differ a little for images that are not 299 × 299.

use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use tch::{CModule, Device, IValue, Kind, Tensor};

use super::images::{resize_bilinear_tf, ImageSet};

/// Input side of the network.
pub const SIDE: usize = 299;

pub struct Inception {
    module: CModule,
    device: Device,
    pub origin: String,
    pub batch: usize,
}

/// Features of one image set.
#[derive(Debug)]
pub struct Features {
    /// `N × D` pool features (f64, CPU).
    pub pool: Tensor,
    /// `N × K` logits (f64, CPU), if the module returns them.
    pub logits: Option<Tensor>,
}

/// Inception Score: `exp(E_x KL(p(y|x) ‖ p(y)))` per split, mean and standard deviation over splits.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct InceptionScore {
    pub mean: f64,
    pub std: f64,
    pub splits: usize,
}

impl Inception {
    pub fn load(path: &Path, device: Device, batch: usize) -> Result<Inception> {
        ensure!(
            path.is_file(),
            "Inception file {} does not exist (make one with scripts/export_fid_inception.py)",
            path.display()
        );
        let mut module = CModule::load_on_device(path, device).with_context(|| {
            format!(
                "{} is not a TorchScript module (make one with scripts/export_fid_inception.py)",
                path.display()
            )
        })?;
        module.set_eval();
        Ok(Inception {
            module,
            device,
            origin: path.display().to_string(),
            batch: batch.max(1),
        })
    }

    /// Runs the module on a prepared batch and checks what comes back.
    fn forward(&self, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let n = x.size()[0];
        let out = tch::no_grad(|| self.module.forward_is(&[IValue::Tensor(x.shallow_clone())]))
            .with_context(|| {
                format!(
                    "the Inception module {} failed on a [{n}, 3, 299, 299] input",
                    self.origin
                )
            })?;
        let (pool, logits) = match out {
            IValue::Tensor(p) => (p, None),
            IValue::Tuple(mut v) | IValue::GenericList(mut v) if !v.is_empty() && v.len() <= 2 => {
                let second = if v.len() == 2 { v.pop() } else { None };
                let first = v.pop().expect("non-empty");
                let t = |iv: IValue, what: &str| -> Result<Tensor> {
                    match iv {
                        IValue::Tensor(t) => Ok(t),
                        other => {
                            bail!("the Inception module's {what} output is not a tensor: {other:?}")
                        }
                    }
                };
                (
                    t(first, "pool")?,
                    second.map(|s| t(s, "logits")).transpose()?,
                )
            }
            other => bail!(
                "the Inception module must return (pool, logits) or pool, got {}",
                match other {
                    IValue::Tuple(v) | IValue::GenericList(v) => format!("{} values", v.len()),
                    _ => "something else".into(),
                }
            ),
        };
        let check = |t: &Tensor, what: &str| -> Result<Tensor> {
            let t = if t.dim() == 4 && t.size()[2] == 1 && t.size()[3] == 1 {
                t.flatten(1, -1)
            } else {
                t.shallow_clone()
            };
            ensure!(
                t.dim() == 2 && t.size()[0] == n,
                "the Inception module's {what} output has shape {:?}, expected [{n}, D]",
                t.size()
            );
            let t = t.to_device(Device::Cpu).to_kind(Kind::Double);
            ensure!(
                bool::try_from(t.isfinite().all()).unwrap_or(false),
                "the Inception module's {what} output has NaN or infinite values"
            );
            Ok(t)
        };
        let pool = check(&pool, "pool")?;
        let logits = logits.map(|l| check(&l, "logits")).transpose()?;
        Ok((pool, logits))
    }

    /// Features of every image of a set (with a progress bar for large sets).
    pub fn features(&self, set: &ImageSet) -> Result<Features> {
        let bar = indicatif::ProgressBar::new(set.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("inception {bar:30} {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        if set.len() < 64 {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        let (mut pools, mut logits) = (Vec::new(), Vec::new());
        let mut start = 0;
        while start < set.len() {
            let end = (start + self.batch).min(set.len());
            // Values are already 8-bit levels in [0, 1]; the TF graph resizes the 0..255 values.
            let x = set.tensor(start..end, self.device);
            let x = (resize_bilinear_tf(&x, SIDE) - 128.0) / 128.0;
            let (p, l) = self.forward(&x)?;
            pools.push(p);
            if let Some(l) = l {
                logits.push(l);
            }
            bar.inc((end - start) as u64);
            start = end;
        }
        bar.finish_and_clear();
        let pool = Tensor::cat(&pools, 0);
        let logits = (logits.len() == pools.len()).then(|| Tensor::cat(&logits, 0));
        Ok(Features { pool, logits })
    }
}

/// Inception Score from logits (`N × K`) with `splits` contiguous splits (improved-gan's procedure:
/// split `i` is rows `i·N/splits .. (i+1)·N/splits`; standard deviation with divisor `splits`).
pub fn inception_score(logits: &Tensor, splits: usize) -> Result<InceptionScore> {
    let n = logits.size()[0] as usize;
    ensure!(splits >= 1, "the Inception Score needs at least one split");
    ensure!(
        n >= splits,
        "the Inception Score with {splits} splits needs at least {splits} images, got {n}"
    );
    let p = logits.to_kind(Kind::Double).softmax(1, Kind::Double);
    let mut scores = Vec::with_capacity(splits);
    for i in 0..splits {
        let (a, b) = (i * n / splits, (i + 1) * n / splits);
        let part = p.narrow(0, a as i64, (b - a) as i64);
        let py = part.mean_dim(0, true, Kind::Double);
        // 0 · log 0 = 0: clamp inside the logs only.
        let kl = (&part * (part.clamp_min(1e-300).log() - py.clamp_min(1e-300).log()))
            .sum_dim_intlist(1, false, Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        scores.push(kl.exp());
    }
    let mean = scores.iter().sum::<f64>() / splits as f64;
    let std = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / splits as f64).sqrt();
    Ok(InceptionScore { mean, std, splits })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_score_one() {
        let l = Tensor::zeros([40, 7], (Kind::Double, Device::Cpu));
        let s = inception_score(&l, 10).unwrap();
        assert!((s.mean - 1.0).abs() < 1e-12 && s.std < 1e-12, "{s:?}");
    }

    #[test]
    fn confident_distinct_classes_score_the_class_count() {
        // Every split holds each of the 5 classes once, predicted with certainty.
        let (k, splits) = (5usize, 4usize);
        let mut v = vec![0f64; splits * k * k];
        for r in 0..splits * k {
            v[r * k + r % k] = 200.0;
        }
        let l = Tensor::from_slice(&v).reshape([(splits * k) as i64, k as i64]);
        let s = inception_score(&l, splits).unwrap();
        assert!((s.mean - k as f64).abs() < 1e-9 && s.std < 1e-9, "{s:?}");
        // All images the same class: 1.
        let mut same = vec![0f64; 20 * k];
        for r in 0..20 {
            same[r * k] = 200.0;
        }
        let l = Tensor::from_slice(&same).reshape([20, k as i64]);
        assert!((inception_score(&l, 4).unwrap().mean - 1.0).abs() < 1e-9);
        assert!(inception_score(&l, 21).is_err());
    }
}

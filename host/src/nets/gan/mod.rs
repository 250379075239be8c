//! The sampler's GAN networks in tch (paper-notes §1.3–§1.9, §1.12): BigGAN and BigGAN-deep generators
//! and projection discriminators with spectral normalisation, class-conditional BatchNorm on a shared
//! embedding, hierarchical z, self-attention and orthogonal init; EMA over all variables; the generator
//! weight file (format v1, `nsbg.kind = "generator"`).
//!
//! Every buffer (BN `stored_mean`/`stored_var`, SN `u0`/`sv0`) is a non-trainable variable of the
//! network's `VarStore`, so `VarStore::save/load/copy`, checkpoints and [`ema_update`] cover it, while
//! `trainable_variables` (and the host's Adam) see only the parameters.

// nsbg-host is a binary: parts of this API are used only by the sampler training and sampling
// commands (built on it in parallel) and by the tests; keep the whole API compiled warning-free.
#![allow(dead_code, unused_imports)]

pub mod attention;
pub mod biggan;
pub mod biggan_deep;
pub mod ccbn;
pub mod config;
pub mod discriminator;
pub mod ema;
pub mod generator;
pub mod init;
pub mod io;
pub mod sn;

use anyhow::{bail, Result};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

pub use config::{Arch, GanConfig};
pub use discriminator::Discriminator;
pub use ema::ema_update;
pub use generator::Generator;
pub use init::WeightInit;

/// σ estimated from the stored `u0` (one power step, nothing written) for every SN layer of `vs`,
/// named by the layer's prefix (e.g. `blocks.0.0.conv1`), sorted. For logging: after training-mode
/// forwards the σ of `W/σ` is ≈ 1, and this is the σ of `W` itself.
pub fn spectral_norms(vs: &VarStore) -> Vec<(String, f64)> {
    let vars = vs.variables();
    let mut out: Vec<(String, f64)> = vars
        .iter()
        .filter_map(|(name, u)| {
            let prefix = name.strip_suffix(".u0")?;
            let w = vars.get(&format!("{prefix}.weight"))?;
            let rows = w.size()[0];
            let s = tch::no_grad(|| {
                let w_mat = w.view([rows, -1]).to_kind(Kind::Float);
                sn::sigma(&w_mat, &u.to_kind(Kind::Float), 1e-12).0
            });
            Some((prefix.to_string(), s.double_value(&[])))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Number of trainable parameters of a store (the paper-notes §1.12 counts: weights and biases, no
/// buffers).
pub fn parameter_count(vs: &VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}

/// `y` must be [n] i64 with values in `0..n_classes`.
pub(crate) fn check_labels(y: &Tensor, n: i64, n_classes: i64) -> Result<()> {
    if y.size() != [n] {
        bail!("y must be [{n}], got {:?}", y.size());
    }
    if y.kind() != Kind::Int64 {
        bail!("y must be int64 class indices, got {:?}", y.kind());
    }
    if n > 0 {
        let lo = y.min().int64_value(&[]);
        let hi = y.max().int64_value(&[]);
        if lo < 0 || hi >= n_classes {
            bail!("labels must be in 0..{n_classes}, got values in {lo}..={hi}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

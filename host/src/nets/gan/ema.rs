//! Exponential moving average of the generator (paper-notes §1.10): applied to the whole state, buffers
//! included (BN running statistics, SN `u0`/`sv0`), as the authors' `ema.update` walks the state_dict.
//! Sampling in eval mode uses G_ema's running statistics and stored u, so skipping buffers would change
//! the samples.

use anyhow::{bail, Context, Result};
use tch::nn::VarStore;

/// `θ_ema ← decay·θ_ema + (1 − decay)·θ` for every variable of `ema` (trainable or not), matched by
/// name in `src`. `decay = 0` copies. Both stores must hold exactly the same names and shapes.
pub fn ema_update(ema: &VarStore, src: &VarStore, decay: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&decay) {
        bail!("EMA decay must be in [0, 1], got {decay}");
    }
    let dst = ema.variables();
    let src_vars = src.variables();
    if dst.len() != src_vars.len() {
        bail!(
            "EMA stores differ: {} variables in the EMA copy, {} in the source",
            dst.len(),
            src_vars.len()
        );
    }
    tch::no_grad(|| -> Result<()> {
        for (name, t) in &dst {
            let s = src_vars
                .get(name)
                .with_context(|| format!("EMA source lacks variable {name}"))?;
            if s.size() != t.size() {
                bail!(
                    "EMA variable {name}: shape {:?} in the copy, {:?} in the source",
                    t.size(),
                    s.size()
                );
            }
            let s = s.to_device(t.device()).to_kind(t.kind());
            if decay == 0.0 {
                t.shallow_clone().copy_(&s);
            } else {
                let _ = t.shallow_clone().lerp_(&s, 1.0 - decay);
            }
        }
        Ok(())
    })
}

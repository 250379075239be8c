//! Adam, written out so that its state can be checkpointed by name and restored exactly. The update is
//! PyTorch's single-tensor `torch.optim.Adam` (no weight decay, no amsgrad):
//! `m ← lerp(m, g, 1−β1)`, `v ← β2·v + (1−β2)·g²`, `p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)`.

use anyhow::{bail, Context, Result};
use tch::{nn::VarStore, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

struct Slot {
    name: String,
    param: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
}

pub struct Adam {
    pub config: AdamConfig,
    /// Updates applied so far (PyTorch's `state['step']`).
    pub step: u64,
    slots: Vec<Slot>,
}

impl Adam {
    /// Optimises every trainable variable of `vs`: buffers (BatchNorm running statistics, spectral-norm
    /// `u0`/`sv0`) are not. Membership comes from the store's trainable list, not from
    /// `requires_grad`, so a store that is frozen at the moment (GAN training toggles the gradients of
    /// G and D) still gets all its parameters.
    pub fn new(vs: &VarStore, config: AdamConfig) -> Adam {
        let trainable: std::collections::HashSet<usize> = vs
            .trainable_variables()
            .iter()
            .map(|t| t.data_ptr() as usize)
            .collect();
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| trainable.contains(&(t.data_ptr() as usize)))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = vars
            .into_iter()
            .map(|(name, param)| Slot {
                name,
                exp_avg: param.zeros_like(),
                exp_avg_sq: param.zeros_like(),
                param,
            })
            .collect();
        Adam {
            config,
            step: 0,
            slots,
        }
    }

    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            s.param.zero_grad();
        }
    }

    /// One update from the gradients currently stored in the parameters.
    pub fn step(&mut self) {
        self.step += 1;
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - beta1.powi(t);
        let bias2_sqrt = (1.0 - beta2.powi(t)).sqrt();
        let step_size = lr / bias1;
        tch::no_grad(|| {
            for s in &mut self.slots {
                let g = s.param.grad();
                if !g.defined() {
                    continue;
                }
                let _ = s.exp_avg.lerp_(&g, 1.0 - beta1);
                let _ = s.exp_avg_sq.g_mul_scalar_(beta2);
                let _ = s.exp_avg_sq.g_add_(&(&g * &g * (1.0 - beta2)));
                let denom = s.exp_avg_sq.sqrt() / bias2_sqrt + eps;
                let update = &s.exp_avg / denom * step_size;
                let _ = s.param.g_sub_(&update);
            }
        });
    }

    /// Moments by name: `exp_avg.<param>` and `exp_avg_sq.<param>`.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            out.push((format!("exp_avg.{}", s.name), s.exp_avg.shallow_clone()));
            out.push((
                format!("exp_avg_sq.{}", s.name),
                s.exp_avg_sq.shallow_clone(),
            ));
        }
        out
    }

    /// Restores moments saved by [`Self::state_tensors`] (every one must be present) and the step.
    pub fn load_state(&mut self, named: &[(String, Tensor)], step: u64) -> Result<()> {
        if named.len() != 2 * self.slots.len() {
            bail!(
                "optimizer state has {} tensors, expected {}",
                named.len(),
                2 * self.slots.len()
            );
        }
        let find = |key: &str| -> Result<&Tensor> {
            named
                .iter()
                .find(|(n, _)| n == key)
                .map(|(_, t)| t)
                .with_context(|| format!("optimizer state lacks {key}"))
        };
        tch::no_grad(|| -> Result<()> {
            for s in &mut self.slots {
                for (key, dst) in [
                    (format!("exp_avg.{}", s.name), &mut s.exp_avg),
                    (format!("exp_avg_sq.{}", s.name), &mut s.exp_avg_sq),
                ] {
                    let src = find(&key)?;
                    if src.size() != dst.size() {
                        bail!(
                            "optimizer state {key} has shape {:?}, expected {:?}",
                            src.size(),
                            dst.size()
                        );
                    }
                    dst.copy_(&src.to_device(dst.device()));
                }
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Two steps on f(p) = Σ p² against values from torch.optim.Adam(lr=0.1) (PyTorch 2.x).
    #[test]
    fn matches_pytorch_adam() {
        let vs = VarStore::new(Device::Cpu);
        let p = vs
            .root()
            .var_copy("p", &Tensor::from_slice(&[1.0f32, -2.0]));
        let mut opt = Adam::new(
            &vs,
            AdamConfig {
                lr: 0.1,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
        );
        for _ in 0..2 {
            opt.zero_grad();
            (&p * &p).sum(Kind::Float).backward();
            opt.step();
        }
        let v: Vec<f32> = Vec::try_from(&p.detach()).unwrap();
        // torch.optim.Adam([p], lr=0.1), two steps of (p*p).sum(): [0.8004122376, -1.8001664877].
        assert!((v[0] - 0.800_412_24).abs() < 1e-6, "{v:?}");
        assert!((v[1] + 1.800_166_5).abs() < 1e-6, "{v:?}");
        assert_eq!(opt.state_tensors().len(), 2);
    }

    /// Buffers are never optimised, and a frozen store still yields all its parameters.
    #[test]
    fn steps_only_trainable_variables() {
        let mut vs = VarStore::new(Device::Cpu);
        let p = vs.root().ones("p", &[2]);
        let buf = vs.root().ones_no_train("buf", &[2]);
        vs.freeze();
        let mut opt = Adam::new(
            &vs,
            AdamConfig {
                lr: 0.1,
                beta1: 0.0,
                beta2: 0.999,
                eps: 1e-8,
            },
        );
        vs.unfreeze();
        let names: Vec<String> = opt.state_tensors().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["exp_avg.p", "exp_avg_sq.p"]);
        opt.zero_grad();
        (&p * &buf).sum(Kind::Float).backward();
        opt.step();
        assert!(p.double_value(&[0]) < 1.0);
        assert_eq!(buf.double_value(&[0]), 1.0);
    }
}

//! Mixed precision for the decoder trainers (`--precision f32|bf16|f16`).
//!
//! Policy ("explicit autocast"): parameters, optimizer state and gradients stay f32 (master weights);
//! in bf16/f16 runs each convolution casts its input's dtype onto its weights (a differentiable cast,
//! so gradients arrive in f32), BatchNorm, the bilinear skip of the pixel decoder and the loss are
//! computed in f32. This is the op policy of PyTorch's CUDA autocast for these networks (convolutions
//! low, normalisation and losses f32), written out because tch 0.26's `tch::autocast` only toggles
//! CUDA autocast with its default dtype (f16): it cannot select bf16, nor autocast on the CPU. The
//! explicit casts behave the same on CPU and CUDA, so bf16 *and* f16 training are testable on the CPU
//! (libtorch has CPU kernels for both; f16 there is slow and only useful for tests).
//!
//! f16 has a narrow exponent range, so its runs use dynamic loss scaling (PyTorch `GradScaler`'s
//! defaults): the loss is multiplied by the scale before backward, gradients are divided by it, a step
//! whose gradients are not all finite is skipped and halves the scale, and every
//! [`GROWTH_INTERVAL`] consecutive good steps double it. bf16 has f32's exponent range: no scaling.

use serde::{Deserialize, Serialize};
use tch::Kind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// Everything in f32 (the default).
    #[default]
    F32,
    /// Convolutions in bfloat16, no loss scaling.
    Bf16,
    /// Convolutions in float16, dynamic loss scaling.
    F16,
}

impl Precision {
    /// The dtype convolutions compute in.
    pub fn compute_kind(self) -> Kind {
        match self {
            Precision::F32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
            Precision::F16 => Kind::Half,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }
}

/// PyTorch `GradScaler` defaults.
pub const INITIAL_SCALE: f64 = 65536.0;
pub const GROWTH_INTERVAL: u64 = 2000;

/// Dynamic loss scale; its state is part of the checkpoint so that a resumed f16 run continues exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossScale {
    pub scale: f64,
    /// Consecutive steps with finite gradients since the last change of scale.
    pub good_steps: u64,
    /// Steps skipped so far because of non-finite gradients.
    #[serde(default)]
    pub skipped: u64,
}

impl LossScale {
    /// The scaler a precision needs (`None`: no scaling).
    pub fn for_precision(p: Precision) -> Option<LossScale> {
        (p == Precision::F16).then_some(LossScale {
            scale: INITIAL_SCALE,
            good_steps: 0,
            skipped: 0,
        })
    }

    /// Records a step's outcome; returns whether the optimizer step must be applied.
    pub fn update(&mut self, grads_finite: bool) -> bool {
        if grads_finite {
            self.good_steps += 1;
            if self.good_steps >= GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.good_steps = 0;
            }
        } else {
            // Never below 2^-24 (f16's smallest subnormal): a scale that small means the gradients
            // are non-finite for reasons scaling cannot fix, and the run will report that.
            self.scale = (self.scale * 0.5).max(f64::from(2f32.powi(-24)));
            self.good_steps = 0;
            self.skipped += 1;
        }
        grads_finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_halves_on_overflow_and_grows_after_the_interval() {
        assert!(LossScale::for_precision(Precision::Bf16).is_none());
        let mut s = LossScale::for_precision(Precision::F16).unwrap();
        assert!(!s.update(false));
        assert_eq!((s.scale, s.good_steps, s.skipped), (32768.0, 0, 1));
        for _ in 0..GROWTH_INTERVAL - 1 {
            assert!(s.update(true));
        }
        assert_eq!(s.scale, 32768.0);
        assert!(s.update(true));
        assert_eq!((s.scale, s.good_steps), (65536.0, 0));
    }
}

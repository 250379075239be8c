//! BatchNorm of the generator (paper-notes §1.4): class-conditional BN whose per-sample gain and bias
//! are SN-linear projections of the conditioning vector (shared class embedding, plus z), and the plain
//! BN of the output layer. Running statistics (`stored_mean`, `stored_var`, BigGAN-PyTorch's names) are
//! non-trainable VarStore variables: updated with momentum in training mode, used in eval mode.

use tch::nn::Path;
use tch::Tensor;

use super::config::GanConfig;
use super::init::WeightInit;
use super::sn::SnLinear;

/// Normalisation without affine parameters, shared by both BN kinds.
#[derive(Debug)]
struct Stats {
    mean: Tensor,
    var: Tensor,
    eps: f64,
    momentum: f64,
}

impl Stats {
    fn new(p: &Path, c: i64, cfg: &GanConfig) -> Self {
        Stats {
            mean: p.zeros_no_train("stored_mean", &[c]),
            var: p.ones_no_train("stored_var", &[c]),
            eps: cfg.bn_eps,
            momentum: cfg.bn_momentum,
        }
    }

    fn normalize(
        &self,
        x: &Tensor,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        train: bool,
    ) -> Tensor {
        x.batch_norm(
            weight,
            bias,
            Some(&self.mean),
            Some(&self.var),
            train,
            self.momentum,
            self.eps,
            true,
        )
    }
}

/// `ccbn(C)`: `bn(x)·(1 + gain(c)) + bias(c)`, gain and bias SN linears without bias.
#[derive(Debug)]
pub struct CondBn {
    gain: SnLinear,
    bias: SnLinear,
    stats: Stats,
}

impl CondBn {
    pub fn new(p: &Path, c: i64, cfg: &GanConfig, wi: WeightInit) -> Self {
        let cond = cfg.cond_dim();
        CondBn {
            gain: SnLinear::new(&(p / "gain"), cond, c, false, cfg.sn_eps, wi),
            bias: SnLinear::new(&(p / "bias"), cond, c, false, cfg.sn_eps, wi),
            stats: Stats::new(p, c, cfg),
        }
    }

    /// `x` [N, C, H, W], `cond` [N, cond_dim].
    pub fn forward(&self, x: &Tensor, cond: &Tensor, train: bool) -> Tensor {
        let n = cond.size()[0];
        let gain = (self.gain.forward(cond, train) + 1.0).view([n, -1, 1, 1]);
        let bias = self.bias.forward(cond, train).view([n, -1, 1, 1]);
        self.stats.normalize(x, None, None, train) * gain + bias
    }
}

/// Plain BN with learnable `gain` (ones) and `bias` (zeros), the generator's output layer.
#[derive(Debug)]
pub struct Bn {
    gain: Tensor,
    bias: Tensor,
    stats: Stats,
}

impl Bn {
    pub fn new(p: &Path, c: i64, cfg: &GanConfig) -> Self {
        Bn {
            gain: p.ones("gain", &[c]),
            bias: p.zeros("bias", &[c]),
            stats: Stats::new(p, c, cfg),
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.stats
            .normalize(x, Some(&self.gain), Some(&self.bias), train)
    }
}

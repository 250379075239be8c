//! Building blocks (paper-notes §2.2): 3×3 convolution with bias, BatchNorm (PyTorch defaults,
//! momentum 0.1), `DoubleConv` (conv → BN → ReLU, twice). Initialisation is PyTorch's default:
//! weight and bias uniform in ±1/√fan_in (kaiming-uniform with a = √5), BN weight 1, bias 0.

use tch::nn::Path;
use tch::Tensor;

#[derive(Debug)]
pub struct Conv3 {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Conv3 {
    pub fn new(p: &Path, cin: usize, cout: usize) -> Self {
        let bound = 1.0 / ((cin * 9) as f64).sqrt();
        Conv3 {
            weight: p.uniform("weight", &[cout as i64, cin as i64, 3, 3], -bound, bound),
            bias: p.uniform("bias", &[cout as i64], -bound, bound),
        }
    }

    /// All-zero weights and bias (an output layer that starts as "predict nothing").
    pub fn zeros(p: &Path, cin: usize, cout: usize) -> Self {
        Conv3 {
            weight: p.zeros("weight", &[cout as i64, cin as i64, 3, 3]),
            bias: p.zeros("bias", &[cout as i64]),
        }
    }

    /// PyTorch's default initialisation, or zeros.
    pub fn new_or_zeros(p: &Path, cin: usize, cout: usize, zero: bool) -> Self {
        if zero {
            Conv3::zeros(p, cin, cout)
        } else {
            Conv3::new(p, cin, cout)
        }
    }

    /// Computes in `x`'s dtype: in mixed-precision training (`train::precision`) the f32 weights are
    /// cast to the input's bf16/f16 by a differentiable cast, so their gradients stay f32.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let k = x.kind();
        if k == self.weight.kind() {
            x.conv2d(&self.weight, Some(&self.bias), [1, 1], [1, 1], [1, 1], 1)
        } else {
            let (w, b) = (self.weight.to_kind(k), self.bias.to_kind(k));
            x.conv2d(&w, Some(&b), [1, 1], [1, 1], [1, 1], 1)
        }
    }
}

/// BatchNorm running-statistics momentum (PyTorch's default): `r ← (1 − m)·r + m·batch`.
pub const BN_MOMENTUM: f64 = 0.1;

#[derive(Debug)]
pub struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub eps: f64,
}

impl BatchNorm {
    pub fn new(p: &Path, c: usize, eps: f64) -> Self {
        let c = c as i64;
        BatchNorm {
            weight: p.ones("weight", &[c]),
            bias: p.zeros("bias", &[c]),
            running_mean: p.zeros_no_train("running_mean", &[c]),
            running_var: p.ones_no_train("running_var", &[c]),
            eps,
        }
    }

    /// Training mode normalises with batch statistics and updates the running ones (momentum 0.1).
    /// A bf16/f16 input is normalised in f32 (statistics of low-precision sums are poor) and the
    /// result returned in the input's dtype.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let k = x.kind();
        if k != self.weight.kind() {
            return self
                .forward(&x.to_kind(self.weight.kind()), train)
                .to_kind(k);
        }
        x.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            BN_MOMENTUM,
            self.eps,
            true,
        )
    }
}

/// `conv1 (in → mid) → bn1 → ReLU → conv2 (mid → out) → bn2 → ReLU`.
#[derive(Debug)]
pub struct DoubleConv {
    conv1: Conv3,
    bn1: BatchNorm,
    conv2: Conv3,
    bn2: BatchNorm,
}

impl DoubleConv {
    pub fn new(p: &Path, cin: usize, mid: usize, cout: usize, eps: f64) -> Self {
        DoubleConv {
            conv1: Conv3::new(&(p / "conv1"), cin, mid),
            bn1: BatchNorm::new(&(p / "bn1"), mid, eps),
            conv2: Conv3::new(&(p / "conv2"), mid, cout),
            bn2: BatchNorm::new(&(p / "bn2"), cout, eps),
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.bn1.forward(&self.conv1.forward(x), train).relu();
        self.bn2.forward(&self.conv2.forward(&h), train).relu()
    }
}

/// 2×2 max-pool, stride 2.
pub fn max_pool2(x: &Tensor) -> Tensor {
    x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
}

/// Bilinear ×2.
pub fn upsample2(x: &Tensor, align_corners: bool) -> Tensor {
    let s = x.size();
    x.upsample_bilinear2d([s[2] * 2, s[3] * 2], align_corners, None, None)
}

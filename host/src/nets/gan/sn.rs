//! Spectral normalisation (paper-notes §1.3; Miyato et al. 2018 as in BigGAN-PyTorch): the forward pass
//! uses `W/σ`, σ the largest singular value of `W` reshaped to `[out, −1]`, estimated by one power
//! iteration from a persistent vector `u0` (`[1, out]`, initialised N(0,1), not normalised).
//!
//! The iteration runs without autograd and writes `u0` (and the logged estimate `sv0`) only in training
//! mode; σ itself is recomputed *with* autograd from the (new or stored) `u`, so the gradient flows
//! through σ as in the reference code. `u0`/`sv0` are non-trainable variables of the VarStore, so
//! saving, loading, copying and EMA treat them like the weights.

use tch::nn::Path;
use tch::{Kind, Tensor};

use super::init::{self, WeightInit};

/// `x / max(‖x‖₂, eps)` along dim 1 (PyTorch's `F.normalize`).
fn normalize(x: &Tensor, eps: f64) -> Tensor {
    let n = x
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(eps);
    x / n
}

/// The σ of `w_mat` ([out, in]) from `u` ([1, out]): one power step. Returns (σ with autograd through
/// `w_mat`, the new u).
pub fn sigma(w_mat: &Tensor, u: &Tensor, eps: f64) -> (Tensor, Tensor) {
    let (v, u_new) = tch::no_grad(|| {
        let w = w_mat.detach();
        let v = normalize(&u.mm(&w), eps);
        let u_new = normalize(&v.mm(&w.tr()), eps);
        (v, u_new)
    });
    let s = v.mm(&w_mat.tr()).mm(&u_new.tr()).reshape([] as [i64; 0]);
    (s, u_new)
}

/// A spectrally normalised weight with its power-iteration state.
#[derive(Debug)]
pub struct SnWeight {
    pub weight: Tensor,
    /// `[1, out]`, the power-iteration vector (buffer).
    pub u: Tensor,
    /// `[1]`, σ of the last training-mode forward (buffer, for logging).
    pub sv: Tensor,
    pub eps: f64,
}

impl SnWeight {
    /// Registers `weight` (shape `dims`, `dims[0]` = out), `u0` and `sv0` under `p`.
    pub fn new(p: &Path, dims: &[i64], eps: f64, wi: WeightInit) -> Self {
        let weight = init::weight(p, "weight", dims, wi);
        let u = p.add(
            "u0",
            Tensor::randn([1, dims[0]], (Kind::Float, p.device())),
            false,
        );
        let sv = p.ones_no_train("sv0", &[1]);
        SnWeight { weight, u, sv, eps }
    }

    /// `W/σ`; in training mode `u0` and `sv0` are updated first (σ then comes from the new u).
    pub fn normalized(&self, train: bool) -> Tensor {
        let out = self.weight.size()[0];
        let w_mat = self.weight.view([out, -1]);
        let (s, u_new) = sigma(&w_mat, &self.u, self.eps);
        if train {
            tch::no_grad(|| {
                self.u.shallow_clone().copy_(&u_new);
                self.sv.shallow_clone().copy_(&s.detach().reshape([1]));
            });
        }
        &self.weight / s
    }
}

/// SN linear layer `[out, in]` (+ bias).
#[derive(Debug)]
pub struct SnLinear {
    pub w: SnWeight,
    pub bias: Option<Tensor>,
}

impl SnLinear {
    pub fn new(p: &Path, cin: i64, cout: i64, bias: bool, eps: f64, wi: WeightInit) -> Self {
        SnLinear {
            w: SnWeight::new(p, &[cout, cin], eps, wi),
            bias: bias.then(|| init::bias(p, "bias", cout, cin, wi)),
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        x.linear(&self.w.normalized(train), self.bias.as_ref())
    }
}

/// SN 2-D convolution, square kernel `k`, padding `k/2`, stride 1 (+ bias).
#[derive(Debug)]
pub struct SnConv {
    pub w: SnWeight,
    pub bias: Option<Tensor>,
    pub k: i64,
}

impl SnConv {
    pub fn new(
        p: &Path,
        cin: i64,
        cout: i64,
        k: i64,
        bias: bool,
        eps: f64,
        wi: WeightInit,
    ) -> Self {
        SnConv {
            w: SnWeight::new(p, &[cout, cin, k, k], eps, wi),
            bias: bias.then(|| init::bias(p, "bias", cout, cin * k * k, wi)),
            k,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let pad = self.k / 2;
        x.conv2d(
            &self.w.normalized(train),
            self.bias.as_ref(),
            [1, 1],
            [pad, pad],
            [1, 1],
            1,
        )
    }
}

/// SN embedding `[n, dim]` (D's projection); σ of the `[n, dim]` table, u of size n.
#[derive(Debug)]
pub struct SnEmbedding {
    pub w: SnWeight,
}

impl SnEmbedding {
    pub fn new(p: &Path, n: i64, dim: i64, eps: f64, wi: WeightInit) -> Self {
        SnEmbedding {
            w: SnWeight::new(p, &[n, dim], eps, wi),
        }
    }

    /// `y` [N] i64 → [N, dim].
    pub fn forward(&self, y: &Tensor, train: bool) -> Tensor {
        self.w.normalized(train).index_select(0, y)
    }
}

//! Initialisation (paper-notes §1.9): every conv/linear/embedding weight orthogonal, biases PyTorch's
//! default uniform ±1/√fan_in. `Zeros` builds the same variables without the (expensive) random init,
//! for stores whose values are loaded or copied right away (the authors' `skip_init` for G_ema) and for
//! counting the parameters of paper-size models quickly.

use tch::nn::{Init, Path};
use tch::Tensor;

/// How fresh weights are filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WeightInit {
    /// The authors' init: orthogonal weights (QR of a Gaussian with the sign of diag(R) fixed,
    /// `tch::nn::Init::Orthogonal`), default-uniform biases.
    #[default]
    Orthogonal,
    /// Every weight and bias zero (to be overwritten by a load or copy).
    Zeros,
}

/// A trainable weight of `dims` (the trailing dims flattened for the orthogonal matrix).
pub fn weight(p: &Path, name: &str, dims: &[i64], init: WeightInit) -> Tensor {
    match init {
        WeightInit::Orthogonal => {
            // tch's Orthogonal init returns the flattened [rows, cols] matrix (not `dims`) for
            // tensors of more than 2 dims, so reshape before registering.
            let rows = dims[0];
            let cols: i64 = dims[1..].iter().product();
            let q = tch::nn::init(Init::Orthogonal { gain: 1.0 }, &[rows, cols], p.device());
            p.var_copy(name, &q.reshape(dims))
        }
        WeightInit::Zeros => p.zeros(name, dims),
    }
}

/// A trainable bias of `n` entries, uniform in ±1/√fan_in as PyTorch's Conv2d/Linear default.
pub fn bias(p: &Path, name: &str, n: i64, fan_in: i64, init: WeightInit) -> Tensor {
    match init {
        WeightInit::Orthogonal => {
            let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
            p.uniform(name, &[n], -bound, bound)
        }
        WeightInit::Zeros => p.zeros(name, &[n]),
    }
}

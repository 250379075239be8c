//! SAGAN self-attention (paper-notes §1.8): θ (C→C/8), φ and g (C→C/8, C→C/2, then 2×2 max-pool),
//! softmax(θᵀφ) over the pooled positions, o (C/2→C), `x + γ·o`. All four 1×1 convs are SN without
//! bias; γ is a scalar initialised to 0, so a fresh block is the identity.

use tch::nn::Path;
use tch::Tensor;

use super::init::WeightInit;
use super::sn::SnConv;

#[derive(Debug)]
pub struct Attention {
    theta: SnConv,
    phi: SnConv,
    g: SnConv,
    o: SnConv,
    pub gamma: Tensor,
    ch: i64,
}

impl Attention {
    pub fn new(p: &Path, ch: i64, sn_eps: f64, wi: WeightInit) -> Self {
        Attention {
            theta: SnConv::new(&(p / "theta"), ch, ch / 8, 1, false, sn_eps, wi),
            phi: SnConv::new(&(p / "phi"), ch, ch / 8, 1, false, sn_eps, wi),
            g: SnConv::new(&(p / "g"), ch, ch / 2, 1, false, sn_eps, wi),
            o: SnConv::new(&(p / "o"), ch / 2, ch, 1, false, sn_eps, wi),
            gamma: p.zeros("gamma", &[]),
            ch,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let s = x.size();
        let (n, h, w) = (s[0], s[2], s[3]);
        let pool = |t: Tensor| t.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
        let theta = self.theta.forward(x, train).view([n, self.ch / 8, h * w]);
        let phi = pool(self.phi.forward(x, train)).view([n, self.ch / 8, h * w / 4]);
        let g = pool(self.g.forward(x, train)).view([n, self.ch / 2, h * w / 4]);
        // β[n, i, j]: attention of output position i over pooled position j.
        let beta = theta.transpose(1, 2).bmm(&phi).softmax(-1, x.kind());
        let o = g.bmm(&beta.transpose(1, 2)).view([n, self.ch / 2, h, w]);
        x + self.o.forward(&o, train) * &self.gamma
    }
}

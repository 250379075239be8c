//! One NSBG-PIXEL level (paper-notes §2.8, design.md): `u = bilinear×2(x)` (align_corners = false, no
//! antialias), output `u + UNet(u)`. UNet(3 → 3, base b, depth d): `inc` DoubleConv(3 → b), `down{i}`
//! DoubleConv(b·2^(i−1) → b·2^i) (the last keeps b·2^(d−1)), `up{i}` DoubleConv(in → out, mid = in/2) with
//! in = 2·b·2^(d−i), out = b·2^(d−i−1) (b for the last), `outc` Conv3×3(b → 3) without BN.

use nsbg_core::weights::PixelLevelConfig;
use tch::nn::Path;
use tch::Tensor;

use super::layers::{max_pool2, upsample2, Conv3, DoubleConv};

#[derive(Debug)]
pub struct PixelUNet {
    inc: DoubleConv,
    downs: Vec<DoubleConv>,
    ups: Vec<DoubleConv>,
    outc: Conv3,
}

impl PixelUNet {
    /// `zero_output`: `outc` starts at zero, so the untrained level is plain bilinear upsampling.
    pub fn new(p: &Path, cfg: &PixelLevelConfig, eps: f64, zero_output: bool) -> Self {
        let (b, d) = (cfg.base, cfg.depth);
        PixelUNet {
            inc: DoubleConv::new(&(p / "inc"), 3, b, b, eps),
            downs: (1..=d)
                .map(|i| {
                    let cin = b << (i - 1);
                    let cout = if i < d { b << i } else { cin };
                    DoubleConv::new(&(p / format!("down{i}")), cin, cout, cout, eps)
                })
                .collect(),
            ups: (1..=d)
                .map(|i| {
                    let cin = 2 * (b << (d - i));
                    let cout = if i < d { b << (d - i - 1) } else { b };
                    DoubleConv::new(&(p / format!("up{i}")), cin, cin / 2, cout, eps)
                })
                .collect(),
            outc: Conv3::new_or_zeros(&(p / "outc"), b, 3, zero_output),
        }
    }

    /// The residual UNet alone on an already upsampled image.
    pub fn residual(&self, u: &Tensor, train: bool) -> Tensor {
        let mut skips = vec![self.inc.forward(u, train)];
        for d in &self.downs {
            let h = d.forward(&max_pool2(skips.last().expect("inc output")), train);
            skips.push(h);
        }
        let mut h = skips.pop().expect("bottom");
        for up in &self.ups {
            let skip = skips.pop().expect("one skip per up");
            h = up.forward(&Tensor::cat(&[skip, upsample2(&h, true)], 1), train);
        }
        self.outc.forward(&h)
    }

    /// `x` `[B][3][s][s]` → `[B][3][2s][2s]`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let u = upsample2(x, false);
        let r = self.residual(&u, train);
        u + r
    }

    /// [`Self::forward`] with the residual UNet computed in `kind` (mixed precision); the upsampling
    /// and the residual sum stay in `x`'s dtype (f32), so the output keeps the image's precision.
    pub fn forward_in(&self, x: &Tensor, train: bool, kind: tch::Kind) -> Tensor {
        if kind == x.kind() {
            return self.forward(x, train);
        }
        let u = upsample2(x, false);
        let r = self.residual(&u.to_kind(kind), train).to_kind(x.kind());
        u + r
    }
}

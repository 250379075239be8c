//! `UNet_NTail(n_in, n_tails, width, depth)` (paper-notes §2.3, design.md): DoubleConv in, `depth` ×
//! (max-pool + DoubleConv), `depth` × (bilinear ×2 align_corners = true, concat(skip, upsampled), DoubleConv
//! 2w → w), and one tail per output patch: conv1 (w → t) → bn1 → ReLU → conv2 (t → 3).

use nsbg_core::weights::WaveletLevelConfig;
use tch::nn::Path;
use tch::Tensor;

use super::layers::{max_pool2, upsample2, BatchNorm, Conv3, DoubleConv};

#[derive(Debug)]
struct Tail {
    conv1: Conv3,
    bn1: BatchNorm,
    conv2: Conv3,
}

#[derive(Debug)]
pub struct UNetNTail {
    inc: DoubleConv,
    downs: Vec<DoubleConv>,
    ups: Vec<DoubleConv>,
    tails: Vec<Tail>,
}

impl UNetNTail {
    /// `zero_output`: every tail's last convolution starts at zero, so the untrained network predicts
    /// no details (the "low band only" reconstruction) and training moves away from that baseline.
    pub fn new(p: &Path, cfg: &WaveletLevelConfig, eps: f64, zero_output: bool) -> Self {
        let w = cfg.width;
        UNetNTail {
            inc: DoubleConv::new(&(p / "inc"), cfg.n_in, w, w, eps),
            downs: (1..=cfg.depth)
                .map(|i| DoubleConv::new(&(p / format!("down{i}")), w, w, w, eps))
                .collect(),
            ups: (1..=cfg.depth)
                .map(|i| DoubleConv::new(&(p / format!("up{i}")), 2 * w, w, w, eps))
                .collect(),
            tails: (0..cfg.n_tails)
                .map(|j| {
                    let t = p / format!("tail{j}");
                    Tail {
                        conv1: Conv3::new(&(&t / "conv1"), w, cfg.tail_width),
                        bn1: BatchNorm::new(&(&t / "bn1"), cfg.tail_width, eps),
                        conv2: Conv3::new_or_zeros(&(&t / "conv2"), cfg.tail_width, 3, zero_output),
                    }
                })
                .collect(),
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut skips = vec![self.inc.forward(x, train)];
        for d in &self.downs {
            let h = d.forward(&max_pool2(skips.last().expect("inc output")), train);
            skips.push(h);
        }
        let mut u = skips.pop().expect("bottom");
        for up in &self.ups {
            let skip = skips.pop().expect("one skip per up");
            u = up.forward(&Tensor::cat(&[skip, upsample2(&u, true)], 1), train);
        }
        let outs: Vec<Tensor> = self
            .tails
            .iter()
            .map(|t| {
                let h = t.bn1.forward(&t.conv1.forward(&u), train).relu();
                t.conv2.forward(&h)
            })
            .collect();
        Tensor::cat(&outs, 1)
    }
}

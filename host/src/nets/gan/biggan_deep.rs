//! BigGAN-deep's bottleneck blocks (paper-notes §1.6–§1.7; BigGAN-PyTorch `BigGANdeep.py`): 1×1 convs
//! into and out of a hidden width of 1/4, two 3×3 convs in between, parameter-free shortcuts in G
//! (drop channels, upsample) and a concatenating 1×1 shortcut in D.

use tch::nn::Path;
use tch::Tensor;

use super::biggan::{down2, up2};
use super::ccbn::CondBn;
use super::config::{GanConfig, CHANNEL_RATIO};
use super::init::WeightInit;
use super::sn::SnConv;

/// Deep GBlock(in, out), hidden = in/4:
/// `h = conv1(relu(bn1(x))); h = relu(bn2(h)); [up]; h = conv2(h); h = conv3(relu(bn3(h)));
/// h = conv4(relu(bn4(h))); h + [up](x[:, :out])`.
#[derive(Debug)]
pub struct DeepGBlock {
    bn1: CondBn,
    conv1: SnConv,
    bn2: CondBn,
    conv2: SnConv,
    bn3: CondBn,
    conv3: SnConv,
    bn4: CondBn,
    conv4: SnConv,
    out_ch: i64,
    in_ch: i64,
    up: bool,
}

impl DeepGBlock {
    pub fn new(p: &Path, cin: i64, cout: i64, up: bool, cfg: &GanConfig, wi: WeightInit) -> Self {
        let e = cfg.sn_eps;
        let hid = cin / CHANNEL_RATIO;
        DeepGBlock {
            bn1: CondBn::new(&(p / "bn1"), cin, cfg, wi),
            conv1: SnConv::new(&(p / "conv1"), cin, hid, 1, true, e, wi),
            bn2: CondBn::new(&(p / "bn2"), hid, cfg, wi),
            conv2: SnConv::new(&(p / "conv2"), hid, hid, 3, true, e, wi),
            bn3: CondBn::new(&(p / "bn3"), hid, cfg, wi),
            conv3: SnConv::new(&(p / "conv3"), hid, hid, 3, true, e, wi),
            bn4: CondBn::new(&(p / "bn4"), hid, cfg, wi),
            conv4: SnConv::new(&(p / "conv4"), hid, cout, 1, true, e, wi),
            out_ch: cout,
            in_ch: cin,
            up,
        }
    }

    pub fn forward(&self, x: &Tensor, cond: &Tensor, train: bool) -> Tensor {
        let h = self
            .conv1
            .forward(&self.bn1.forward(x, cond, train).relu(), train);
        let mut h = self.bn2.forward(&h, cond, train).relu();
        let mut x = if self.in_ch != self.out_ch {
            x.narrow(1, 0, self.out_ch)
        } else {
            x.shallow_clone()
        };
        if self.up {
            h = up2(&h);
            x = up2(&x);
        }
        let h = self.conv2.forward(&h, train);
        let h = self
            .conv3
            .forward(&self.bn3.forward(&h, cond, train).relu(), train);
        let h = self
            .conv4
            .forward(&self.bn4.forward(&h, cond, train).relu(), train);
        h + x
    }
}

/// Deep DBlock(in, out), hidden = out/4:
/// `h = conv1(relu(x)); h = conv2(relu(h)); h = conv3(relu(h)); h = relu(h); [pool]; h = conv4(h)`;
/// shortcut `[pool](x)`, then `cat([x, conv_sc(x)])` (out−in new channels) when the width grows.
#[derive(Debug)]
pub struct DeepDBlock {
    conv1: SnConv,
    conv2: SnConv,
    conv3: SnConv,
    conv4: SnConv,
    conv_sc: Option<SnConv>,
    down: bool,
}

impl DeepDBlock {
    pub fn new(p: &Path, cin: i64, cout: i64, down: bool, cfg: &GanConfig, wi: WeightInit) -> Self {
        let e = cfg.sn_eps;
        let hid = cout / CHANNEL_RATIO;
        DeepDBlock {
            conv1: SnConv::new(&(p / "conv1"), cin, hid, 1, true, e, wi),
            conv2: SnConv::new(&(p / "conv2"), hid, hid, 3, true, e, wi),
            conv3: SnConv::new(&(p / "conv3"), hid, hid, 3, true, e, wi),
            conv4: SnConv::new(&(p / "conv4"), hid, cout, 1, true, e, wi),
            conv_sc: (cin != cout)
                .then(|| SnConv::new(&(p / "conv_sc"), cin, cout - cin, 1, true, e, wi)),
            down,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.conv1.forward(&x.relu(), train);
        let h = self.conv2.forward(&h.relu(), train);
        let h = self.conv3.forward(&h.relu(), train);
        let mut h = h.relu();
        if self.down {
            h = down2(&h);
        }
        let h = self.conv4.forward(&h, train);
        let mut sc = if self.down {
            down2(x)
        } else {
            x.shallow_clone()
        };
        if let Some(c) = &self.conv_sc {
            sc = Tensor::cat(&[&sc, &c.forward(&sc, train)], 1);
        }
        h + sc
    }
}

//! BigGAN's residual blocks (paper-notes §1.6–§1.7; BigGAN-PyTorch `layers.GBlock`/`layers.DBlock`).

use tch::nn::Path;
use tch::Tensor;

use super::ccbn::CondBn;
use super::config::GanConfig;
use super::init::WeightInit;
use super::sn::SnConv;

/// Nearest-neighbour ×2 upsampling (`F.interpolate(scale_factor=2)`).
pub fn up2(x: &Tensor) -> Tensor {
    let s = x.size();
    x.upsample_nearest2d([s[2] * 2, s[3] * 2], None, None)
}

/// 2×2 average pooling (`nn.AvgPool2d(2)`).
pub fn down2(x: &Tensor) -> Tensor {
    x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>)
}

/// `h = conv1(up(relu(bn1(x)))); h = conv2(relu(bn2(h))); h + conv_sc(up(x))`. Every BigGAN stage
/// upsamples, so the 1×1 shortcut conv always exists.
#[derive(Debug)]
pub struct GBlock {
    bn1: CondBn,
    conv1: SnConv,
    bn2: CondBn,
    conv2: SnConv,
    conv_sc: SnConv,
}

impl GBlock {
    pub fn new(p: &Path, cin: i64, cout: i64, cfg: &GanConfig, wi: WeightInit) -> Self {
        let e = cfg.sn_eps;
        GBlock {
            bn1: CondBn::new(&(p / "bn1"), cin, cfg, wi),
            conv1: SnConv::new(&(p / "conv1"), cin, cout, 3, true, e, wi),
            bn2: CondBn::new(&(p / "bn2"), cout, cfg, wi),
            conv2: SnConv::new(&(p / "conv2"), cout, cout, 3, true, e, wi),
            conv_sc: SnConv::new(&(p / "conv_sc"), cin, cout, 1, true, e, wi),
        }
    }

    pub fn forward(&self, x: &Tensor, cond: &Tensor, train: bool) -> Tensor {
        let h = up2(&self.bn1.forward(x, cond, train).relu());
        let h = self.conv1.forward(&h, train);
        let h = self
            .conv2
            .forward(&self.bn2.forward(&h, cond, train).relu(), train);
        h + self.conv_sc.forward(&up2(x), train)
    }
}

/// `h = conv2(relu(conv1(preact ? relu(x) : x)))`, pooled if downsampling, plus the shortcut (1×1 conv
/// when the channels change or the block downsamples: conv then pool with pre-activation, pool then conv
/// without). Wide D: hidden channels = out.
#[derive(Debug)]
pub struct DBlock {
    conv1: SnConv,
    conv2: SnConv,
    conv_sc: Option<SnConv>,
    preact: bool,
    down: bool,
}

impl DBlock {
    pub fn new(
        p: &Path,
        cin: i64,
        cout: i64,
        preact: bool,
        down: bool,
        cfg: &GanConfig,
        wi: WeightInit,
    ) -> Self {
        let e = cfg.sn_eps;
        DBlock {
            conv1: SnConv::new(&(p / "conv1"), cin, cout, 3, true, e, wi),
            conv2: SnConv::new(&(p / "conv2"), cout, cout, 3, true, e, wi),
            conv_sc: (cin != cout || down)
                .then(|| SnConv::new(&(p / "conv_sc"), cin, cout, 1, true, e, wi)),
            preact,
            down,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = if self.preact {
            x.relu()
        } else {
            x.shallow_clone()
        };
        let h = self.conv1.forward(&h, train);
        let mut h = self.conv2.forward(&h.relu(), train);
        if self.down {
            h = down2(&h);
        }
        let sc = match (&self.conv_sc, self.preact, self.down) {
            (None, _, true) => down2(x),
            (None, _, false) => x.shallow_clone(),
            (Some(c), true, true) => down2(&c.forward(x, train)),
            (Some(c), false, true) => c.forward(&down2(x), train),
            (Some(c), _, false) => c.forward(x, train),
        };
        h + sc
    }
}

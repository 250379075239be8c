//! The generator: shared class embedding → (BigGAN: z split into chunks, first chunk to the linear
//! layer, one chunk per stage appended to the embedding; BigGAN-deep: `cat[emb, z]` everywhere) →
//! linear to `16ch×4×4` → stages of blocks (+ self-attention) → BN, ReLU, SN conv 3×3, tanh.
//!
//! Variable names follow BigGAN-PyTorch's state_dict (`shared.weight`, `linear.*`,
//! `blocks.{stage}.{k}.*` with the attention block as the last `k` of its stage,
//! `output_layer.0.*` for the BN and `output_layer.2.*` for the conv), so checkpoints map 1:1.

use anyhow::{Context, Result};
use tch::nn::Path;
use tch::Tensor;

use super::attention::Attention;
use super::biggan::GBlock;
use super::biggan_deep::DeepGBlock;
use super::ccbn::Bn;
use super::config::{Arch, GanConfig, BOTTOM_WIDTH};
use super::init::{self, WeightInit};
use super::sn::{SnConv, SnLinear};

#[derive(Debug)]
enum Block {
    Big(GBlock),
    Deep(Box<DeepGBlock>),
    Attn(Attention),
}

#[derive(Debug)]
pub struct Generator {
    cfg: GanConfig,
    shared: Tensor,
    linear: SnLinear,
    stages: Vec<Vec<Block>>,
    out_bn: Bn,
    out_conv: SnConv,
}

impl Generator {
    /// A freshly initialised generator (orthogonal weights, paper-notes §1.9) under `p`.
    pub fn new(p: &Path, cfg: &GanConfig) -> Result<Generator> {
        Self::new_with_init(p, cfg, WeightInit::Orthogonal)
    }

    /// The same network with the given weight initialisation (`Zeros` for stores that are loaded or
    /// copied next, e.g. G_ema or an exported file).
    pub fn new_with_init(p: &Path, cfg: &GanConfig, wi: WeightInit) -> Result<Generator> {
        cfg.validate().context("invalid GAN configuration")?;
        let e = cfg.sn_eps;
        let stages_cfg = cfg.g_stages();
        let shared = init::weight(
            &(p / "shared"),
            "weight",
            &[cfg.n_classes, cfg.shared_dim],
            wi,
        );
        let lin_in = match cfg.arch {
            Arch::BigGan => cfg.effective_dim_z() / cfg.z_slots(),
            Arch::BigGanDeep => cfg.dim_z + cfg.shared_dim,
        };
        let first = stages_cfg[0].in_ch;
        let linear = SnLinear::new(
            &(p / "linear"),
            lin_in,
            first * BOTTOM_WIDTH * BOTTOM_WIDTH,
            true,
            e,
            wi,
        );
        let blocks = p / "blocks";
        let mut stages = Vec::with_capacity(stages_cfg.len());
        for (i, s) in stages_cfg.iter().enumerate() {
            let sp = &blocks / i;
            let mut v = Vec::new();
            match cfg.arch {
                Arch::BigGan => v.push(Block::Big(GBlock::new(
                    &(&sp / 0),
                    s.in_ch,
                    s.out_ch,
                    cfg,
                    wi,
                ))),
                Arch::BigGanDeep => {
                    for k in 0..cfg.g_depth {
                        let last = k == cfg.g_depth - 1;
                        let cout = if last { s.out_ch } else { s.in_ch };
                        v.push(Block::Deep(Box::new(DeepGBlock::new(
                            &(&sp / k),
                            s.in_ch,
                            cout,
                            last,
                            cfg,
                            wi,
                        ))));
                    }
                }
            }
            if s.attention {
                let k = v.len();
                v.push(Block::Attn(Attention::new(&(&sp / k), s.out_ch, e, wi)));
            }
            stages.push(v);
        }
        let last = stages_cfg[stages_cfg.len() - 1].out_ch;
        let out = p / "output_layer";
        Ok(Generator {
            cfg: cfg.clone(),
            shared,
            linear,
            stages,
            out_bn: Bn::new(&(&out / 0), last, cfg),
            out_conv: SnConv::new(&(&out / 2), last, cfg.channels, 3, true, e, wi),
        })
    }

    /// Latent size the forward pass takes (BigGAN: `dim_z` rounded down to a multiple of the slots).
    pub fn dim_z(&self) -> i64 {
        self.cfg.effective_dim_z()
    }

    pub fn config(&self) -> &GanConfig {
        &self.cfg
    }

    /// `z` [N, dim_z()] f32, `y` [N] i64 class indices in `0..n_classes` → [N, channels, R, R] in
    /// [−1, 1]. `train`: BN batch statistics and running-stat update, SN u update; eval: running
    /// statistics, stored u (σ still recomputed). Shapes that do not match panic inside libtorch;
    /// use [`Self::check_inputs`] first on untrusted input.
    pub fn forward(&self, z: &Tensor, y: &Tensor, train: bool) -> Tensor {
        let emb = Tensor::embedding(&self.shared, y, -1, false, false);
        let (h0, conds): (Tensor, Vec<Tensor>) = match self.cfg.arch {
            Arch::BigGan => {
                let chunk = self.dim_z() / self.cfg.z_slots();
                let zs = z.split(chunk, 1);
                let conds = zs[1..]
                    .iter()
                    .map(|zc| Tensor::cat(&[&emb, zc], 1))
                    .collect();
                (self.linear.forward(&zs[0], train), conds)
            }
            Arch::BigGanDeep => {
                let c = Tensor::cat(&[&emb, z], 1);
                let h = self.linear.forward(&c, train);
                (
                    h,
                    (0..self.stages.len()).map(|_| c.shallow_clone()).collect(),
                )
            }
        };
        let n = z.size()[0];
        let mut h = h0.view([n, -1, BOTTOM_WIDTH, BOTTOM_WIDTH]);
        for (stage, cond) in self.stages.iter().zip(&conds) {
            for b in stage {
                h = match b {
                    Block::Big(b) => b.forward(&h, cond, train),
                    Block::Deep(b) => b.forward(&h, cond, train),
                    Block::Attn(a) => a.forward(&h, train),
                };
            }
        }
        let h = self.out_bn.forward(&h, train).relu();
        self.out_conv.forward(&h, train).tanh()
    }

    /// Checks `z`/`y` shapes, dtypes and label range against the configuration.
    pub fn check_inputs(&self, z: &Tensor, y: &Tensor) -> Result<()> {
        let zs = z.size();
        if zs.len() != 2 || zs[1] != self.dim_z() {
            anyhow::bail!("z must be [N, {}], got {zs:?}", self.dim_z());
        }
        super::check_labels(y, zs[0], self.cfg.n_classes)
    }
}

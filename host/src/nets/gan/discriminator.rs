//! The projection discriminator (paper-notes §1.7): (BigGAN-deep: SN conv 3×3 input layer) → stages of
//! residual blocks (+ self-attention) → ReLU → global **sum** pooling → `linear(h) + ⟨embed(y), h⟩`.
//! Names as BigGAN-PyTorch: `input_conv.*`, `blocks.{stage}.{k}.*`, `linear.*`, `embed.*`.

use anyhow::{Context, Result};
use tch::nn::Path;
use tch::{Kind, Tensor};

use super::attention::Attention;
use super::biggan::DBlock;
use super::biggan_deep::DeepDBlock;
use super::config::{Arch, GanConfig};
use super::init::WeightInit;
use super::sn::{SnConv, SnEmbedding, SnLinear};

#[derive(Debug)]
enum Block {
    Big(DBlock),
    Deep(Box<DeepDBlock>),
    Attn(Attention),
}

#[derive(Debug)]
pub struct Discriminator {
    cfg: GanConfig,
    input_conv: Option<SnConv>,
    stages: Vec<Vec<Block>>,
    linear: SnLinear,
    embed: SnEmbedding,
}

impl Discriminator {
    /// A freshly initialised discriminator (orthogonal weights) under `p`.
    pub fn new(p: &Path, cfg: &GanConfig) -> Result<Discriminator> {
        Self::new_with_init(p, cfg, WeightInit::Orthogonal)
    }

    pub fn new_with_init(p: &Path, cfg: &GanConfig, wi: WeightInit) -> Result<Discriminator> {
        cfg.validate().context("invalid GAN configuration")?;
        let e = cfg.sn_eps;
        let input_conv = (cfg.arch == Arch::BigGanDeep).then(|| {
            SnConv::new(
                &(p / "input_conv"),
                cfg.channels,
                cfg.d_input_ch(),
                3,
                true,
                e,
                wi,
            )
        });
        let blocks = p / "blocks";
        let mut stages = Vec::new();
        for (i, s) in cfg.d_stages().iter().enumerate() {
            let sp = &blocks / i;
            let mut v = Vec::new();
            match cfg.arch {
                Arch::BigGan => v.push(Block::Big(DBlock::new(
                    &(&sp / 0),
                    s.in_ch,
                    s.out_ch,
                    i > 0,
                    s.downsample,
                    cfg,
                    wi,
                ))),
                Arch::BigGanDeep => {
                    for k in 0..cfg.d_depth {
                        let (cin, down) = if k == 0 {
                            (s.in_ch, s.downsample)
                        } else {
                            (s.out_ch, false)
                        };
                        v.push(Block::Deep(Box::new(DeepDBlock::new(
                            &(&sp / k),
                            cin,
                            s.out_ch,
                            down,
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
        let c = cfg.d_out_ch();
        Ok(Discriminator {
            cfg: cfg.clone(),
            input_conv,
            stages,
            linear: SnLinear::new(&(p / "linear"), c, 1, true, e, wi),
            embed: SnEmbedding::new(&(p / "embed"), cfg.n_classes, c, e, wi),
        })
    }

    pub fn config(&self) -> &GanConfig {
        &self.cfg
    }

    /// `x` [N, channels, R, R], `y` [N] i64 → scores [N] (unbounded; hinge loss outside).
    pub fn forward(&self, x: &Tensor, y: &Tensor, train: bool) -> Tensor {
        let mut h = match &self.input_conv {
            Some(c) => c.forward(x, train),
            None => x.shallow_clone(),
        };
        for stage in &self.stages {
            for b in stage {
                h = match b {
                    Block::Big(b) => b.forward(&h, train),
                    Block::Deep(b) => b.forward(&h, train),
                    Block::Attn(a) => a.forward(&h, train),
                };
            }
        }
        let h = h
            .relu()
            .sum_dim_intlist([2i64, 3].as_slice(), false, None::<Kind>);
        let proj = (self.embed.forward(y, train) * &h).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            None::<Kind>,
        );
        self.linear.forward(&h, train).view([-1]) + proj
    }

    /// Checks `x`/`y` shapes, dtypes and label range against the configuration.
    pub fn check_inputs(&self, x: &Tensor, y: &Tensor) -> Result<()> {
        let s = x.size();
        let r = self.cfg.resolution;
        if s.len() != 4 || s[1] != self.cfg.channels || s[2] != r || s[3] != r {
            anyhow::bail!("x must be [N, {}, {r}, {r}], got {s:?}", self.cfg.channels);
        }
        super::check_labels(y, s[0], self.cfg.n_classes)
    }
}

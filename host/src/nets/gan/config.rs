//! The GAN configuration and the architecture tables (paper-notes §1.6–§1.7), in the pattern of the
//! authors' BigGAN-PyTorch `G_arch`/`D_arch` dictionaries: channel multipliers of `ch` per stage, the
//! resolution each stage ends at, and whether it up-/downsamples.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Which of the two GAN families (paper Table 2 has a column for each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Arch {
    /// BigGAN (Brock et al. 2019): one residual block per stage, hierarchical (chunked) z.
    #[serde(rename = "biggan")]
    BigGan,
    /// BigGAN-deep: `depth` bottleneck blocks per stage, z concatenated with the class embedding.
    #[serde(rename = "biggan-deep")]
    BigGanDeep,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::BigGan => "biggan",
            Arch::BigGanDeep => "biggan-deep",
        }
    }
}

/// Everything that fixes the shapes and the forward pass of a generator/discriminator pair. It is
/// stored in checkpoints and in exported generator files (`nsbg.config`), so unknown fields are errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GanConfig {
    /// Network family.
    pub arch: Arch,
    /// Side of the generated square image: 32, 64 or 128 (the architecture table has a row for each).
    pub resolution: i64,
    /// Image channels (3 for RGB low bands and pixels).
    pub channels: i64,
    /// Generator width `ch`; stage widths are multiples of it (16ch at the bottom).
    pub g_ch: i64,
    /// Discriminator width `ch`.
    pub d_ch: i64,
    /// Latent size as configured. BigGAN rounds it down to a multiple of the number of z slots
    /// (blocks + 1), see [`GanConfig::effective_dim_z`].
    pub dim_z: i64,
    /// Size of the generator's shared class embedding.
    pub shared_dim: i64,
    /// Number of classes, ≥ 1; 1 = unconditional (a dataset without classes labels everything 0).
    pub n_classes: i64,
    /// Resolution after which the generator has its self-attention block; `None` = no attention.
    pub g_attn: Option<i64>,
    /// Resolution after which the discriminator has its self-attention block; `None` = none.
    pub d_attn: Option<i64>,
    /// Blocks per generator stage (BigGAN-deep only; BigGAN always has 1).
    pub g_depth: i64,
    /// Blocks per discriminator stage (BigGAN-deep only; BigGAN always has 1).
    pub d_depth: i64,
    /// ε of the spectral-norm power iteration (`F.normalize`); the authors' scripts use 1e-6.
    pub sn_eps: f64,
    /// ε of every BatchNorm (1e-5 as in the scripts).
    pub bn_eps: f64,
    /// Momentum of the BatchNorm running statistics (PyTorch convention: 0.1 = 10% new value).
    pub bn_momentum: f64,
}

/// One generator stage: `in_mult·ch → out_mult·ch`, ending at `resolution` (every stage upsamples ×2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GStage {
    pub in_ch: i64,
    pub out_ch: i64,
    pub resolution: i64,
    pub attention: bool,
}

/// One discriminator stage: `in_ch → out_ch`, downsampling ×2 or not, ending at `resolution`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DStage {
    pub in_ch: i64,
    pub out_ch: i64,
    pub downsample: bool,
    pub resolution: i64,
    pub attention: bool,
}

/// Spatial side of the generator's first feature map (BigGAN's `bottom_width`).
pub const BOTTOM_WIDTH: i64 = 4;
/// BigGAN-deep's bottleneck ratio: hidden channels = in/4 (G) or out/4 (D).
pub const CHANNEL_RATIO: i64 = 4;

impl GanConfig {
    /// The paper's sampler at 64×64 on ImageNet (Table 2 and the launch scripts, paper-notes §1.12):
    /// BigGAN-deep ch128 dim_z 128, BigGAN ch96 dim_z 120; shared_dim 128, 1000 classes, attention at
    /// 32 in G and D, SN ε 1e-6, BN ε 1e-5, momentum 0.1.
    pub fn paper(arch: Arch) -> Self {
        let (ch, dim_z, depth) = match arch {
            Arch::BigGan => (96, 120, 1),
            Arch::BigGanDeep => (128, 128, 2),
        };
        GanConfig {
            arch,
            resolution: 64,
            channels: 3,
            g_ch: ch,
            d_ch: ch,
            dim_z,
            shared_dim: 128,
            n_classes: 1000,
            g_attn: Some(32),
            d_attn: Some(32),
            g_depth: depth,
            d_depth: depth,
            sn_eps: 1e-6,
            bn_eps: 1e-5,
            bn_momentum: 0.1,
        }
    }

    /// Refuses configurations the architecture table cannot build, with the reason.
    pub fn validate(&self) -> Result<()> {
        if ![32, 64, 128].contains(&self.resolution) {
            bail!(
                "GAN resolution {} is not supported (32, 64 or 128)",
                self.resolution
            );
        }
        if self.channels < 1 {
            bail!("GAN channels must be >= 1, got {}", self.channels);
        }
        for (name, ch) in [("g_ch", self.g_ch), ("d_ch", self.d_ch)] {
            if ch < 1 {
                bail!("{name} must be >= 1, got {ch}");
            }
        }
        if self.n_classes < 1 {
            bail!(
                "n_classes must be >= 1 (1 = unconditional), got {}",
                self.n_classes
            );
        }
        if self.shared_dim < 1 {
            bail!("shared_dim must be >= 1, got {}", self.shared_dim);
        }
        if self.dim_z < 1 {
            bail!("dim_z must be >= 1, got {}", self.dim_z);
        }
        let slots = self.g_stages().len() as i64 + 1;
        if self.arch == Arch::BigGan && self.dim_z < slots {
            bail!(
                "BigGAN splits z into {slots} chunks at resolution {}; dim_z {} is too small",
                self.resolution,
                self.dim_z
            );
        }
        match self.arch {
            Arch::BigGan => {
                if self.g_depth != 1 || self.d_depth != 1 {
                    bail!(
                        "BigGAN has one block per stage: g_depth and d_depth must be 1 (got {}, {})",
                        self.g_depth,
                        self.d_depth
                    );
                }
            }
            Arch::BigGanDeep => {
                if self.g_depth < 1 || self.d_depth < 1 {
                    bail!(
                        "g_depth and d_depth must be >= 1 (got {}, {})",
                        self.g_depth,
                        self.d_depth
                    );
                }
            }
        }
        for (name, attn, stages) in [
            (
                "g_attn",
                self.g_attn,
                self.g_stages()
                    .iter()
                    .map(|s| (s.resolution, s.out_ch))
                    .collect::<Vec<_>>(),
            ),
            (
                "d_attn",
                self.d_attn,
                self.d_stages()
                    .iter()
                    .map(|s| (s.resolution, s.out_ch))
                    .collect::<Vec<_>>(),
            ),
        ] {
            if let Some(r) = attn {
                let Some(&(_, c)) = stages.iter().find(|(res, _)| *res == r) else {
                    let valid: Vec<i64> = stages.iter().map(|s| s.0).collect();
                    bail!(
                        "{name} = {r}: no stage ends at that resolution (valid: {valid:?} or none)"
                    );
                };
                if c < 8 {
                    bail!("{name} = {r}: the attention block needs >= 8 channels there, the stage has {c}");
                }
            }
        }
        if self.arch == Arch::BigGanDeep {
            let narrow_g = self.g_stages().iter().map(|s| s.in_ch).min().unwrap_or(0);
            let narrow_d = self.d_stages().iter().map(|s| s.out_ch).min().unwrap_or(0);
            if narrow_g < CHANNEL_RATIO || narrow_d < CHANNEL_RATIO {
                bail!("BigGAN-deep's bottleneck blocks need >= {CHANNEL_RATIO} channels per stage; g_ch/d_ch too small");
            }
        }
        if !(self.sn_eps > 0.0 && self.sn_eps.is_finite()) {
            bail!("sn_eps must be positive, got {}", self.sn_eps);
        }
        if !(self.bn_eps > 0.0 && self.bn_eps.is_finite()) {
            bail!("bn_eps must be positive, got {}", self.bn_eps);
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            bail!("bn_momentum must be in [0, 1], got {}", self.bn_momentum);
        }
        Ok(())
    }

    /// Number of z chunks of BigGAN's hierarchical latent: one for the linear layer, one per stage.
    pub fn z_slots(&self) -> i64 {
        self.g_stages().len() as i64 + 1
    }

    /// The latent size the generator consumes: BigGAN rounds `dim_z` down to a multiple of
    /// [`Self::z_slots`] (120 stays 120 at 64×64, 5 chunks of 24); BigGAN-deep uses `dim_z` as is.
    pub fn effective_dim_z(&self) -> i64 {
        match self.arch {
            Arch::BigGan => (self.dim_z / self.z_slots()) * self.z_slots(),
            Arch::BigGanDeep => self.dim_z,
        }
    }

    /// Size of the conditioning vector of every class-conditional BatchNorm.
    pub fn cond_dim(&self) -> i64 {
        match self.arch {
            Arch::BigGan => self.shared_dim + self.dim_z / self.z_slots(),
            Arch::BigGanDeep => self.shared_dim + self.dim_z,
        }
    }

    /// Generator stages (BigGAN-PyTorch `G_arch`, identical for both families):
    /// 128: 16,16,8,4,2 → 16,8,4,2,1; 64: 16,16,8,4 → 16,8,4,2; 32: 4,4,4 → 4,4,4 (× g_ch).
    pub fn g_stages(&self) -> Vec<GStage> {
        let (ins, outs): (&[i64], &[i64]) = match self.resolution {
            128 => (&[16, 16, 8, 4, 2], &[16, 8, 4, 2, 1]),
            64 => (&[16, 16, 8, 4], &[16, 8, 4, 2]),
            _ => (&[4, 4, 4], &[4, 4, 4]),
        };
        let mut res = BOTTOM_WIDTH;
        ins.iter()
            .zip(outs)
            .map(|(&i, &o)| {
                res *= 2;
                GStage {
                    in_ch: i * self.g_ch,
                    out_ch: o * self.g_ch,
                    resolution: res,
                    attention: self.g_attn == Some(res),
                }
            })
            .collect()
    }

    /// Discriminator stages (BigGAN-PyTorch `D_arch`). BigGAN, first input = image channels:
    /// 128: 3,1,2,4,8,16 → 1,2,4,8,16,16, no downsampling in the last; 64: 3,1,2,4,8 → 1,2,4,8,16, last
    /// not downsampling; 32: 3,4,4,4 → 4,4,4,4, the last two not downsampling. BigGAN-deep (after a 3×3 input conv
    /// to `in[0]`): 128: 1,2,4,8,16 → 2,4,8,16,16 (last not down); 64: 1,2,4,8 → 2,4,8,16 (all down);
    /// 32: 4,4,4 → 4,4,4 (last not down).
    ///
    /// `resolution` is the actual side after the stage (upstream's 32-row labels say 16 throughout); an
    /// attention resolution attaches the block after the first stage that ends at it.
    pub fn d_stages(&self) -> Vec<DStage> {
        let ch = self.d_ch;
        let img = self.channels;
        // Multipliers; `0` stands for the image channels.
        let (ins, outs, down): (&[i64], &[i64], &[bool]) = match (self.arch, self.resolution) {
            (Arch::BigGan, 128) => (
                &[0, 1, 2, 4, 8, 16],
                &[1, 2, 4, 8, 16, 16],
                &[true, true, true, true, true, false],
            ),
            (Arch::BigGan, 64) => (
                &[0, 1, 2, 4, 8],
                &[1, 2, 4, 8, 16],
                &[true, true, true, true, false],
            ),
            (Arch::BigGan, _) => (&[0, 4, 4, 4], &[4, 4, 4, 4], &[true, true, false, false]),
            (Arch::BigGanDeep, 128) => (
                &[1, 2, 4, 8, 16],
                &[2, 4, 8, 16, 16],
                &[true, true, true, true, false],
            ),
            (Arch::BigGanDeep, 64) => (&[1, 2, 4, 8], &[2, 4, 8, 16], &[true, true, true, true]),
            (Arch::BigGanDeep, _) => (&[4, 4, 4], &[4, 4, 4], &[true, true, false]),
        };
        let mut res = self.resolution;
        let mut stages = ins
            .iter()
            .zip(outs)
            .zip(down)
            .map(|((&i, &o), &d)| {
                if d {
                    res /= 2;
                }
                DStage {
                    in_ch: if i == 0 { img } else { i * ch },
                    out_ch: o * ch,
                    downsample: d,
                    resolution: res,
                    attention: false,
                }
            })
            .collect::<Vec<_>>();
        if let Some(s) = stages
            .iter_mut()
            .find(|s| Some(s.resolution) == self.d_attn)
        {
            s.attention = true;
        }
        stages
    }

    /// Channels of D's first feature map (BigGAN-deep's input conv output).
    pub fn d_input_ch(&self) -> i64 {
        self.d_stages()[0].in_ch
    }

    /// Channels of D's last feature map (the projection/linear head's width).
    pub fn d_out_ch(&self) -> i64 {
        self.d_stages().last().map(|s| s.out_ch).unwrap_or(0)
    }
}

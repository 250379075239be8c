//! The resolved configuration of one training run (preset + flags), stored in every checkpoint.

use std::path::PathBuf;

use anyhow::{bail, ensure, Result};
use nsbg_core::wavelet::Extension;
use nsbg_core::weights::{
    PixelDecoderConfig, PixelLevelConfig, WaveletDecoderConfig, WaveletLevelConfig,
};
use serde::{Deserialize, Serialize};

use super::adam::AdamConfig;
use crate::data::Preprocess;
use crate::subbands::{self, LEVELS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// NSBG: UNet_NTail in wavelet space.
    Wavelet,
    /// NSBG-PIXEL: bilinear ×2 + residual UNet.
    Pixel,
}

/// What the level-2 wavelet decoder is trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Level2Input {
    /// The true LL1 (teacher forcing, the paper's `train_unet256_real`).
    Gt,
    /// The level-1 decoder's output (needs --level1-weights).
    Chained,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PixelLoss {
    /// Summed squared error over the batch (the paper).
    Sum,
    /// Mean squared error.
    Mean,
}

impl PixelLoss {
    pub fn from_name(s: &str) -> Result<Self> {
        match s {
            "sum" => Ok(PixelLoss::Sum),
            "mean" => Ok(PixelLoss::Mean),
            other => bail!("unknown pixel loss {other:?} (sum or mean)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub network: Network,
    pub level: u32,
    pub level2_input: Level2Input,
    /// Exported level-1 weights (chained level-2 training).
    pub level1_weights: Option<PathBuf>,
    pub preset: String,
    pub image_size: usize,
    pub preprocess: Preprocess,
    pub extension: String,
    pub bn_eps: f64,
    /// Wavelet UNet width, tail width and depth.
    pub width: usize,
    pub tail_width: usize,
    /// UNet depth (both networks).
    pub depth: usize,
    /// Pixel UNet base width.
    pub base: usize,
    /// Output convolutions start at zero (the untrained net reproduces the trivial baseline).
    #[serde(default)]
    pub zero_init_output: bool,
    pub adam: AdamConfig,
    pub batch: usize,
    pub steps: u64,
    pub pixel_loss: PixelLoss,
    pub log_every: u64,
    pub val_every: u64,
    pub checkpoint_every: u64,
    pub sample_every: u64,
    pub sample_count: usize,
    pub seed: u64,
    pub data: PathBuf,
    pub val_data: Option<PathBuf>,
    /// Source pictures of `data` held out for validation and checkpoint selection (0: use `val_data`).
    #[serde(default)]
    pub holdout: usize,
    pub limit: Option<usize>,
    pub val_limit: Option<usize>,
    pub cache: Option<PathBuf>,
}

impl RunConfig {
    /// The held-out split of `data` this run validates on (meaningful when `holdout > 0`); the seed
    /// is the run's, so a resumed run holds out the same pictures.
    pub fn holdout_split(&self) -> crate::data::Holdout {
        crate::data::Holdout {
            sources: self.holdout,
            seed: self.seed,
        }
    }

    pub fn ext(&self) -> Result<Extension> {
        Extension::from_name(&self.extension).ok_or_else(|| {
            anyhow::anyhow!(
                "unknown extension {:?} (symmetric, periodization or zero)",
                self.extension
            )
        })
    }

    /// Side of this level's input (low band or image).
    pub fn input_side(&self) -> usize {
        subbands::level_side(self.image_size, self.level)
    }

    /// Input channels, tails: 3·(s/32)².
    pub fn patch_channels(&self) -> usize {
        let t = self.input_side() / 32;
        3 * t * t
    }

    pub fn wavelet_level(&self) -> WaveletLevelConfig {
        let n = self.patch_channels();
        WaveletLevelConfig {
            n_in: n,
            n_tails: n,
            width: self.width,
            depth: self.depth,
            tail_width: self.tail_width,
        }
    }

    pub fn pixel_level(&self) -> PixelLevelConfig {
        PixelLevelConfig {
            base: self.base,
            depth: self.depth,
        }
    }

    /// Checks that the numbers make a network the weight format accepts.
    pub fn validate(&self) -> Result<()> {
        ensure!((1..=LEVELS).contains(&self.level), "--level must be 1 or 2");
        ensure!(
            self.image_size >= 128 && self.image_size.is_power_of_two(),
            "image size {} must be a power of two >= 128 (low band >= 32)",
            self.image_size
        );
        self.ext()?;
        ensure!(self.batch >= 1, "batch must be at least 1");
        ensure!(self.adam.lr > 0.0, "learning rate must be positive");
        ensure!(
            self.log_every >= 1
                && self.val_every >= 1
                && self.checkpoint_every >= 1
                && self.sample_every >= 1,
            "log/val/checkpoint/sample intervals must be at least 1"
        );
        let s = self.input_side();
        match self.network {
            Network::Wavelet => {
                let c = WaveletDecoderConfig {
                    in_size: s,
                    out_size: 2 * s,
                    channels: 3,
                    extension: self.ext()?,
                    bn_eps: self.bn_eps,
                    levels: vec![self.wavelet_level()],
                };
                c.validate()
                    .map_err(|e| anyhow::anyhow!("invalid wavelet network: {e}"))?;
                if self.level2_input == Level2Input::Chained {
                    ensure!(self.level == 2, "--level2-input chained needs --level 2");
                    ensure!(
                        self.level1_weights.is_some(),
                        "--level2-input chained needs --level1-weights (an exported level-1 decoder)"
                    );
                }
            }
            Network::Pixel => {
                let c = PixelDecoderConfig {
                    in_size: s,
                    out_size: 2 * s,
                    channels: 3,
                    bn_eps: self.bn_eps,
                    levels: vec![self.pixel_level()],
                };
                c.validate()
                    .map_err(|e| anyhow::anyhow!("invalid pixel network: {e}"))?;
            }
        }
        Ok(())
    }

    /// Short description for logs.
    pub fn describe(&self) -> String {
        match self.network {
            Network::Wavelet => format!(
                "NSBG level {} ({} preset: width {}, tail {}, depth {}, {} in/{} tails, input {:?}), batch {}, lr {}",
                self.level,
                self.preset,
                self.width,
                self.tail_width,
                self.depth,
                self.patch_channels(),
                self.patch_channels(),
                self.level2_input,
                self.batch,
                self.adam.lr
            ),
            Network::Pixel => format!(
                "NSBG-PIXEL level {} ({} preset: base {}, depth {}), batch {}, lr {}, {:?} loss",
                self.level, self.preset, self.base, self.depth, self.batch, self.adam.lr, self.pixel_loss
            ),
        }
    }
}

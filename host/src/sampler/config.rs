//! The sampler's preset table (`[sampler]` in `host/presets/*.toml`) and a run's resolved configuration
//! (stored in `config.json` and in every checkpoint sidecar).

use std::path::PathBuf;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};

use super::data::{Domain, Norm};
use crate::nets::gan::{Arch, GanConfig};
use crate::train::adam::AdamConfig;

/// `[sampler]` of a preset file. The two model tables are `GanConfig`s (their `n_classes` is replaced by
/// the dataset's class count at run time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerPreset {
    /// Wavelet border extension of the low bands (`symmetric`, `periodization` or `zero`).
    pub extension: String,
    /// Low-band normalisation `x_n = (x + shift)/scale·2 − 1` (the authors': 3 and 10).
    pub norm_shift: f64,
    pub norm_scale: f64,
    /// Images per micro-batch (one forward/backward; the authors' `batch_size`).
    pub batch: usize,
    /// D steps per G step.
    pub d_steps: u32,
    /// Micro-batches accumulated into one D step / one G step.
    pub d_accumulations: u32,
    pub g_accumulations: u32,
    pub g_lr: f64,
    pub d_lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub adam_eps: f64,
    /// EMA of G: decay, and the step from which it averages (before it, G_ema is a copy of G).
    pub ema_decay: f64,
    pub ema_start: u64,
    /// G steps.
    pub steps: u64,
    /// After a non-finite loss or gradient: both learning rates are multiplied by this.
    pub nan_lr_factor: f64,
    pub log_every: u64,
    pub checkpoint_every: u64,
    pub sample_every: u64,
    pub biggan: GanConfig,
    #[serde(rename = "biggan-deep")]
    pub biggan_deep: GanConfig,
}

impl SamplerPreset {
    pub fn model(&self, arch: Arch) -> &GanConfig {
        match arch {
            Arch::BigGan => &self.biggan,
            Arch::BigGanDeep => &self.biggan_deep,
        }
    }
}

/// A sampler run's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    pub preset: String,
    pub domain: Domain,
    pub gan: GanConfig,
    /// Normalisation between data values and G's [−1, 1] (pixel domain: shift 0, scale 1).
    pub norm: Norm,
    /// Wavelet extension of the low bands (pixel domain: unused, kept for the file).
    pub extension: String,
    /// Class names of the training data (ImageFolder sub-folders; `[""]` when unconditional).
    pub classes: Vec<String>,
    pub batch: usize,
    pub d_steps: u32,
    pub d_accumulations: u32,
    pub g_accumulations: u32,
    pub g_adam: AdamConfig,
    pub d_adam: AdamConfig,
    pub ema_decay: f64,
    pub ema_start: u64,
    pub steps: u64,
    pub nan_lr_factor: f64,
    pub log_every: u64,
    pub checkpoint_every: u64,
    pub sample_every: u64,
    pub sample_count: usize,
    pub seed: u64,
    pub data: PathBuf,
    pub limit: Option<usize>,
    pub cache: Option<PathBuf>,
    /// Decoder weights for decoded sample sheets.
    pub decoder: Option<PathBuf>,
}

impl SamplerConfig {
    pub fn ext(&self) -> Result<nsbg_core::wavelet::Extension> {
        nsbg_core::wavelet::Extension::from_name(&self.extension)
            .with_context(|| format!("unknown wavelet extension {:?}", self.extension))
    }

    /// Real images per G step: every D step consumes `d_accumulations` micro-batches.
    pub fn real_per_step(&self) -> usize {
        self.batch * self.d_steps as usize * self.d_accumulations as usize
    }

    pub fn validate(&self) -> Result<()> {
        self.gan.validate().context("invalid GAN configuration")?;
        ensure!(
            self.gan.resolution == super::data::SIDE as i64 && self.gan.channels == 3,
            "the sampler generates 3×{side}×{side} (got resolution {}, {} channels)",
            self.gan.resolution,
            self.gan.channels,
            side = super::data::SIDE
        );
        self.norm.validate()?;
        self.ext()?;
        ensure!(self.batch >= 1, "--batch must be at least 1");
        ensure!(
            self.d_steps >= 1 && self.d_accumulations >= 1 && self.g_accumulations >= 1,
            "D steps and accumulations must be at least 1"
        );
        for (name, a) in [("G", &self.g_adam), ("D", &self.d_adam)] {
            ensure!(
                a.lr > 0.0 && a.lr.is_finite(),
                "{name} learning rate must be positive"
            );
            ensure!(
                (0.0..1.0).contains(&a.beta1) && (0.0..1.0).contains(&a.beta2) && a.eps > 0.0,
                "{name} Adam betas must be in [0, 1) and eps positive"
            );
        }
        ensure!(
            (0.0..=1.0).contains(&self.ema_decay),
            "--ema-decay must be in [0, 1]"
        );
        ensure!(
            self.nan_lr_factor > 0.0 && self.nan_lr_factor < 1.0,
            "--nan-lr-factor must be in (0, 1)"
        );
        for (name, v) in [
            ("--log-every", self.log_every),
            ("--checkpoint-every", self.checkpoint_every),
            ("--sample-every", self.sample_every),
        ] {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        Ok(())
    }

    pub fn describe(&self) -> String {
        format!(
            "{} sampler ({} domain, preset {}, g_ch {}, d_ch {}, dim_z {}, {} class(es)), batch {}×{} (D) / {}×{} (G), lr G {:.1e} D {:.1e}",
            self.gan.arch.name(),
            self.domain.name(),
            self.preset,
            self.gan.g_ch,
            self.gan.d_ch,
            self.gan.dim_z,
            self.gan.n_classes,
            self.batch,
            self.d_accumulations,
            self.batch,
            self.g_accumulations,
            self.g_adam.lr,
            self.d_adam.lr,
        )
    }
}

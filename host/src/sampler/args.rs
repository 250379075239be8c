//! Command-line arguments of `train-sampler`, `sample` and `demo` (kept here, not in `cli.rs`, so the
//! shared CLI file only gains the subcommand variants).

use std::path::PathBuf;

use clap::ValueEnum;

use super::data::Domain;
use super::truncation::TruncMode;
use crate::cli::{Backend, Mode};
use crate::nets::gan::Arch;

/// `--arch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    /// BigGAN: one residual block per stage, hierarchical z (paper column "BigGAN").
    Biggan,
    /// BigGAN-deep: bottleneck blocks, `depth` per stage (the paper's main sampler).
    BigganDeep,
}

impl From<ArchArg> for Arch {
    fn from(a: ArchArg) -> Arch {
        match a {
            ArchArg::Biggan => Arch::BigGan,
            ArchArg::BigganDeep => Arch::BigGanDeep,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct TrainSamplerArgs {
    /// GAN family (a new run; default biggan-deep).
    #[arg(long, value_enum)]
    pub arch: Option<ArchArg>,
    /// Preset: paper, small, tiny, or the path of a TOML file with a [sampler] table.
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Training images: an ImageFolder directory (sub-folders = classes; default shared/data/photos/train).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder (checkpoints, metrics.jsonl, loss.png, samples/).
    #[arg(long)]
    pub out: PathBuf,
    /// What the GAN generates: the wavelet low band (NOT-SO-BIG-GAN) or 64×64 pixels (-PIXEL baseline).
    #[arg(long, value_enum)]
    pub domain: Option<Domain>,
    /// Decoder weights: sample sheets are also decoded to 256×256 (wavelet or pixel decoder matching
    /// the domain).
    #[arg(long)]
    pub decoder: Option<PathBuf>,
    /// Session flags (`--resume` also lets `--decoder` change).
    #[command(flatten)]
    pub session: crate::cli::SessionArgs,
    /// Ignore the dataset's classes (train an unconditional GAN).
    #[arg(long)]
    pub unconditional: bool,
    /// Images in each sample sheet (fixed z).
    #[arg(long, default_value_t = 16)]
    pub sample_count: usize,
    // ---- preset overrides: training ----
    /// G steps.
    #[arg(long)]
    pub steps: Option<u64>,
    /// Images per micro-batch.
    #[arg(long)]
    pub batch: Option<usize>,
    #[arg(long)]
    pub d_steps: Option<u32>,
    #[arg(long)]
    pub d_accumulations: Option<u32>,
    #[arg(long)]
    pub g_accumulations: Option<u32>,
    #[arg(long)]
    pub g_lr: Option<f64>,
    #[arg(long)]
    pub d_lr: Option<f64>,
    #[arg(long)]
    pub beta1: Option<f64>,
    #[arg(long)]
    pub beta2: Option<f64>,
    #[arg(long)]
    pub adam_eps: Option<f64>,
    #[arg(long)]
    pub ema_decay: Option<f64>,
    /// Step from which G_ema averages (before: a copy of G).
    #[arg(long)]
    pub ema_start: Option<u64>,
    /// Learning-rate factor applied after a non-finite loss/gradient rollback.
    #[arg(long)]
    pub nan_lr_factor: Option<f64>,
    #[arg(long)]
    pub log_every: Option<u64>,
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    #[arg(long)]
    pub sample_every: Option<u64>,
    /// Low-band normalisation x_n = (x + shift)/scale·2 − 1 (wavelet domain).
    #[arg(long)]
    pub norm_shift: Option<f64>,
    #[arg(long)]
    pub norm_scale: Option<f64>,
    #[arg(long, value_enum)]
    pub extension: Option<Mode>,
    // ---- preset overrides: model ----
    #[arg(long)]
    pub g_ch: Option<i64>,
    #[arg(long)]
    pub d_ch: Option<i64>,
    #[arg(long)]
    pub dim_z: Option<i64>,
    #[arg(long)]
    pub shared_dim: Option<i64>,
    /// Resolution of G's self-attention block (0 = none).
    #[arg(long)]
    pub g_attn: Option<i64>,
    /// Resolution of D's self-attention block (0 = none).
    #[arg(long)]
    pub d_attn: Option<i64>,
    #[arg(long)]
    pub g_depth: Option<i64>,
    #[arg(long)]
    pub d_depth: Option<i64>,
    #[arg(long)]
    pub sn_eps: Option<f64>,
    #[arg(long)]
    pub bn_eps: Option<f64>,
    #[arg(long)]
    pub bn_momentum: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct SampleArgs {
    /// Generator weight file (`export --generator`); default: the shipped
    /// weights/nsbg-generator-small.safetensors.
    #[arg(long)]
    pub generator: Option<PathBuf>,
    /// Decoder weight file; default: the shipped small decoder of the generator's domain.
    #[arg(long)]
    pub decoder: Option<PathBuf>,
    /// Truncation value T (none by default).
    #[arg(long)]
    pub truncation: Option<f64>,
    /// scale: z ~ N(0, T²) (the authors' code); resample: redraw |z_i| > T (BigGAN paper).
    #[arg(long, value_enum, default_value_t = TruncMode::Scale)]
    pub trunc_mode: TruncMode,
    /// Classes to sample, by index or name, comma separated (cycled over the images; default: uniform
    /// random classes).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// Seed: image i's noise depends only on (seed, i).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Number of images.
    #[arg(short = 'n', long = "count", default_value_t = 16)]
    pub n: usize,
    /// Output folder (created if missing).
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Decoder backend.
    #[arg(long, value_enum, default_value_t = Backend::Core)]
    pub backend: Backend,
    /// Device of the generator (and of the tch decoder).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Write only the grid (no per-image PNGs).
    #[arg(long)]
    pub grid_only: bool,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Output folder (runs, weights, samples).
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Wall-clock budget for all training together, in minutes.
    #[arg(long, default_value_t = 8.0)]
    pub minutes: f64,
    /// Training images (default: shared/data/photos/train).
    #[arg(long)]
    pub data: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// libtorch threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also train and sample the pixel baseline (NOT-SO-BIG-GAN-PIXEL).
    #[arg(long)]
    pub pixel: bool,
}

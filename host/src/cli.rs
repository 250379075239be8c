//! Command-line interface (clap derive). Only parsing lives here; each subcommand's work is in its module.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use nsbg_core::wavelet::Extension;

/// nsbg host tool: wavelet band pictures, transform checks and benchmarks, and the decoders: training
/// (tch), export to weight format v1, decoding and reconstruction evaluation. (The GAN sampler comes later.)
#[derive(Debug, Parser)]
#[command(name = "nsbg-host", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The float extension modes of the bior2.2 transform (wavelet.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Whole-sample symmetric (JPEG 2000); any size, perfect reconstruction.
    Symmetric,
    /// Periodic, equal to PyWavelets mode='periodization'; even sizes at every level.
    Periodization,
    /// The seed paper's zero padding; even sizes, lossy at the borders.
    Zero,
}

impl From<Mode> for Extension {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Symmetric => Extension::Symmetric,
            Mode::Periodization => Extension::Periodization,
            Mode::Zero => Extension::Zero,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Writes the packed wavelet transform of a photo as a picture (low band + contrast-stretched details).
    Bands(BandsArgs),
    /// Checks inverse(forward(x)) against x for every mode and dtype and prints the errors.
    Roundtrip(RoundtripArgs),
    /// Generates images: z → generator (default: the shipped small one) → decoders → PNGs, grid, bands.
    Sample(crate::sampler::args::SampleArgs),
    /// Times dwt2/idwt2 (periodization, f32 and f64, one thread) and this machine's memcpy bandwidth.
    BenchDwt(BenchArgs),
    /// Trains one level of the NSBG wavelet decoder (UNet_NTail on 32x32 subband patches).
    TrainDecoder(TrainDecoderArgs),
    /// Trains one level of the NSBG-PIXEL baseline (bilinear x2 + residual UNet).
    TrainPixel(TrainPixelArgs),
    /// Writes trained run folders as one weight file (format v1; levels in order).
    Export(ExportArgs),
    /// Reconstructs images from their low band with a decoder (default: the shipped small NSBG decoder).
    Decode(DecodeArgs),
    /// Reconstruction quality from the true low band: NSBG, NSBG-PIXEL and baselines (paper Table 1).
    EvalRecon(EvalReconArgs),
    /// Sample quality: SWD and KID always; FID, IS, FID* with a TorchScript Inception (--inception).
    EvalSamples(crate::eval::EvalSamplesArgs),
    /// Sample-quality metrics of a generator over a list of truncation values (table and plots).
    SweepTruncation(crate::eval::sweep::SweepArgs),
    /// Compute table (hours, kWh, images, images/s) and plots of training runs from their compute.json.
    Report(crate::report::ReportArgs),
    /// Prints the libtorch build and device information.
    TorchInfo,
    /// Trains the GAN sampler (BigGAN / BigGAN-deep) on 64x64 wavelet low bands or pixels.
    TrainSampler(Box<crate::sampler::args::TrainSamplerArgs>),
    /// Trains tiny versions of every network from scratch, exports them and samples (minutes).
    Demo(crate::sampler::args::DemoArgs),
}

/// How a training session runs (every training command: decoders and sampler). Apart from `--force`
/// and `--cache`, these may change when a run is resumed.
#[derive(Debug, Clone, clap::Args)]
pub struct SessionArgs {
    /// Continue the run in --out from its last checkpoint (its configuration is used; --steps,
    /// --time-budget, --device, --threads, --workers and, for train-sampler, --decoder may change).
    #[arg(long)]
    pub resume: bool,
    /// Allow starting a new run in a folder that already holds a checkpoint (it is overwritten).
    #[arg(long)]
    pub force: bool,
    /// Stop after this many minutes of wall-clock time (this session), with a final checkpoint.
    #[arg(long)]
    pub time_budget: Option<f64>,
    /// Seed for initialisation, noise and data order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// auto (CUDA if available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Data-loading threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Device power in watts for the energy estimate in compute.json (default: 10 W per CPU thread,
    /// 300 W per GPU, NVML's reading when a GPU reports it; see host/README.md "Compute report").
    #[arg(long)]
    pub power_watts: Option<f64>,
    /// Cache folder for the preprocessed images and their low bands (created if missing).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Use only the first N training images (after sorting).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// Settings shared by both training commands. Every preset field has a flag that overrides it.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Level to train: 1 (64 -> 128) or 2 (128 -> 256).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=2))]
    pub level: Option<u32>,
    /// Preset: paper, small, tiny, or the path of a TOML file with the same fields.
    #[arg(long, default_value = "small")]
    pub preset: String,
    /// Training images: an ImageFolder directory of PNG/JPEG (default: shared/data/photos/train).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Validation images (default: the `val` folder beside a `train` folder, if there is one).
    #[arg(long)]
    pub val_data: Option<PathBuf>,
    /// Run without validation.
    #[arg(long)]
    pub no_val: bool,
    /// Hold out this many source pictures of the training folder (crops named `<source>__<crop>`) and
    /// validate / select the best checkpoint on them instead of on --val-data, which then stays
    /// untouched for the final evaluation.
    #[arg(long)]
    pub holdout: Option<usize>,
    /// Run folder (checkpoints, metrics.jsonl, loss.png, samples/).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub session: SessionArgs,
    /// Use only the first N validation images.
    #[arg(long)]
    pub val_limit: Option<usize>,
    /// Examples in each sample grid.
    #[arg(long, default_value_t = 4)]
    pub sample_count: usize,
    // ---- preset overrides ----
    /// Image side (the low band is a quarter of it).
    #[arg(long)]
    pub image_size: Option<usize>,
    #[arg(long, value_enum)]
    pub preprocess: Option<crate::data::Preprocess>,
    #[arg(long, value_enum)]
    pub extension: Option<Mode>,
    /// UNet depth (downs = ups).
    #[arg(long)]
    pub depth: Option<usize>,
    /// Start the output convolutions at zero (true/false).
    #[arg(long)]
    pub zero_init_output: Option<bool>,
    /// Train on the 8 dihedral views (flips, 90° rotations) of every training image (true/false).
    #[arg(long)]
    pub augment: Option<bool>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub batch: Option<usize>,
    /// Total optimiser steps.
    #[arg(long)]
    pub steps: Option<u64>,
    #[arg(long)]
    pub beta1: Option<f64>,
    #[arg(long)]
    pub beta2: Option<f64>,
    #[arg(long)]
    pub adam_eps: Option<f64>,
    #[arg(long)]
    pub bn_eps: Option<f64>,
    #[arg(long)]
    pub log_every: Option<u64>,
    #[arg(long)]
    pub val_every: Option<u64>,
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    #[arg(long)]
    pub sample_every: Option<u64>,
    // ---- GPU, mixed precision, data parallel (host/README.md "GPU and multi-GPU") ----
    /// Convolution precision: f32, bf16, or f16 (with dynamic loss scaling). Master weights stay f32.
    #[arg(long, value_enum)]
    pub precision: Option<crate::train::precision::Precision>,
    /// Micro-batches of --batch per optimizer step and rank (gradient accumulation).
    #[arg(long)]
    pub accumulate: Option<usize>,
    /// Data parallel over N GPUs (cuda:0..N-1): NCCL with the `nccl` feature, else host-memory
    /// all-reduce. Effective batch = N x accumulate x batch.
    #[arg(long, conflicts_with = "world")]
    pub gpus: Option<usize>,
    /// Data parallel over N ranks (threads) all on --device: simulates --gpus N, e.g. on the CPU.
    #[arg(long)]
    pub world: Option<usize>,
    /// Where wavelet levels compute their batches' transform and tiling: auto (the device if CUDA),
    /// core (nsbg-core in the loader threads) or device (tensor ops on --device).
    #[arg(long, value_enum, default_value_t = crate::train::task::DataTransform::Auto)]
    pub data_transform: crate::train::task::DataTransform,
}

#[derive(Debug, clap::Args)]
pub struct TrainDecoderArgs {
    #[command(flatten)]
    pub common: TrainArgs,
    /// Level-2 input: the true LL1 (gt, the paper's default) or the level-1 decoder's output (chained).
    #[arg(long, value_enum, default_value_t = crate::train::config::Level2Input::Gt)]
    pub level2_input: crate::train::config::Level2Input,
    /// Exported level-1 decoder for --level2-input chained.
    #[arg(long)]
    pub level1_weights: Option<PathBuf>,
    /// UNet width.
    #[arg(long)]
    pub width: Option<usize>,
    /// Hidden width of each tail.
    #[arg(long)]
    pub tail_width: Option<usize>,
}

#[derive(Debug, clap::Args)]
pub struct TrainPixelArgs {
    #[command(flatten)]
    pub common: TrainArgs,
    /// UNet base width.
    #[arg(long)]
    pub base: Option<usize>,
    /// Loss: summed squared error (the paper) or mean.
    #[arg(long, value_enum)]
    pub pixel_loss: Option<crate::train::config::PixelLoss>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportDtype {
    F32,
    F16,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Run folders, one per level (any order; their levels must be consecutive).
    #[arg(required_unless_present = "generator")]
    pub runs: Vec<PathBuf>,
    /// Output weight file.
    #[arg(long)]
    pub out: PathBuf,
    /// Stored element type.
    #[arg(long, value_enum, default_value_t = ExportDtype::F32)]
    pub dtype: ExportDtype,
    /// Export each run's model of lowest validation loss (best/) instead of its last checkpoint.
    #[arg(long)]
    pub best: bool,
    /// Export a GAN generator instead of decoder runs: a sampler run folder (or its checkpoint.json),
    /// or a generator weight file to re-write (e.g. as f16).
    #[arg(long, value_name = "RUN_DIR_OR_CKPT")]
    pub generator: Option<PathBuf>,
    /// With --generator: export the trained G instead of its EMA copy G_ema (the default).
    #[arg(long, requires = "generator")]
    pub no_ema: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// nsbg-core's pure-Rust inference (BatchNorm folded).
    Core,
    /// The tch networks used for training (libtorch).
    Tch,
}

#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Weight file (default: weights/nsbg-small.safetensors, built into the binary).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Images: the low band of each is decoded (after the preprocessing below).
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Output folder: <name>.png per input.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Core)]
    pub backend: Backend,
    #[arg(long, value_enum, default_value_t = crate::data::Preprocess::CenterCrop)]
    pub preprocess: crate::data::Preprocess,
    /// Device for the tch backend.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// Threads (core backend: per decode; tch: libtorch threads; 0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Also write <name>.f32: the unquantised output, little-endian f32, planar [3][n][n].
    #[arg(long)]
    pub raw: bool,
}

#[derive(Debug, clap::Args)]
pub struct EvalReconArgs {
    /// NSBG weight file (default: the shipped small decoder).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// NSBG-PIXEL weight file (default: the shipped small pixel decoder if there is one).
    #[arg(long)]
    pub pixel_weights: Option<PathBuf>,
    /// Do not evaluate a pixel decoder.
    #[arg(long)]
    pub no_pixel: bool,
    /// Images (default: shared/data/photos/val).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Use only the first N images.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, value_enum, default_value_t = crate::data::Preprocess::CenterCrop)]
    pub preprocess: crate::data::Preprocess,
    /// Report folder (eval-recon.json, eval-recon.md).
    #[arg(long, default_value = "out/eval-recon")]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = Backend::Tch)]
    pub backend: Backend,
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Images per network batch (tch backend).
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

#[derive(Debug, clap::Args)]
pub struct BandsArgs {
    /// Input image (PNG or JPEG).
    pub image: PathBuf,
    /// Number of decomposition levels (>= 1).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub levels: u32,
    /// Border extension mode.
    #[arg(long, value_enum, default_value_t = Mode::Symmetric)]
    pub mode: Mode,
    /// Output PNG file (parent folders are created).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RoundtripArgs {
    /// Input image (PNG or JPEG).
    pub image: PathBuf,
    /// Number of decomposition levels (>= 1).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub levels: u32,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Square plane sides to time, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1024,4096")]
    pub sizes: Vec<usize>,
    /// Decomposition levels.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub levels: u32,
    /// Timed calls per size, dtype and direction (the median is reported).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub repeat: u32,
    /// Size of the memcpy bandwidth buffer in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub memcpy_mib: u64,
    /// Also time the tensor-op transform (`gpu::dwt`) on this device (cpu, cuda, cuda:N or auto),
    /// plus the training data path (transform + tiling of a batch of 256x256 RGB images) against
    /// nsbg-core in the same run.
    #[arg(long)]
    pub device: Option<String>,
    /// Images per batch in the --device data-path benchmark.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub batch: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

//! Command-line interface (clap derive). Only parsing lives here; each subcommand's work is in its module.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use nsbg_core::wavelet::Extension;

/// nsbg host tool: wavelet band pictures, transform round-trip checks and benchmarks.
/// (The GAN sampler and the wavelet decoders come later.)
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
    /// Demo. Until the GAN sampler exists: writes the band picture of a bundled photo to DIR/bands.png.
    Sample(SampleArgs),
    /// Times dwt2/idwt2 (periodization, f32 and f64, one thread) and this machine's memcpy bandwidth.
    BenchDwt(BenchArgs),
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
pub struct SampleArgs {
    /// Output folder (created if missing).
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
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
    /// Also write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

//! `nsbg-host`: the command-line host of nsbg (see `nsbg-host --help`).
//!
//! Subcommands: `bands` (wavelet band picture of a photo), `roundtrip` (transform exactness per mode),
//! `sample` (demo; the GAN sampler is not implemented yet) and `bench-dwt` (transform speed vs memcpy).
//! Errors are reported as one `error: …` line with their context chain and exit status 1; argument
//! errors come from clap (exit status 2). Logging: `RUST_LOG=info` (or `debug`) on stderr.

mod bands;
mod bench;
mod cli;
mod image_io;
mod roundtrip;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use nsbg_core::wavelet::Extension;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, SampleArgs};

/// The bundled demo photo (see `host/assets/README.md` for source and licence).
const SAMPLE_PHOTO: &[u8] = include_bytes!("../assets/skimage_coffee_256.png");
const SAMPLE_PHOTO_NAME: &str = "bundled photo skimage coffee (CC0)";

fn sample(args: &SampleArgs) -> Result<()> {
    let img = image_io::decode(SAMPLE_PHOTO).context("the bundled photo does not decode")?;
    let out = args.out.join("bands.png");
    let line = bands::write_bands(&img, SAMPLE_PHOTO_NAME, 2, Extension::Symmetric, &out)?;
    println!("The GAN sampler is not implemented yet; writing the wavelet bands of the bundled photo instead.");
    println!("{line}");
    Ok(())
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Bands(a) => bands::run(a),
        Command::Roundtrip(a) => roundtrip::run(a),
        Command::Sample(a) => sample(a),
        Command::BenchDwt(a) => bench::run(a),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

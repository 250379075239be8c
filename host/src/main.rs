//! `nsbg-host`: the command-line host of nsbg (see `nsbg-host --help`).
//!
//! Subcommands: `bands` (wavelet band picture of a photo), `roundtrip` (transform exactness per mode),
//! `sample` (generated images: generator → decoders), `train-sampler` (the GAN), `demo` (everything tiny), `bench-dwt` (transform speed vs memcpy),
//! `train-decoder` / `train-pixel` (one decoder level per run, tch), `export` (run folders → weight file
//! v1), `decode` (images → low band → decoder, core or tch backend), `eval-recon` (reconstruction
//! table) and `torch-info`.
//! Errors are reported as one `error: …` line with their context chain and exit status 1; argument
//! errors come from clap (exit status 2). Logging: `RUST_LOG=info` (or `debug`) on stderr.

mod bands;
mod bench;
mod checkpoint;
mod cli;
mod compute;
mod data;
mod decode;
mod default_weights;
mod device;
mod dist;
mod eval;
mod eval_recon;
mod export;
mod export_generator;
mod font;
mod gpu;
mod grid;
mod image_io;
mod nets;
mod plot;
mod preset;
mod report;
mod rng;
mod roundtrip;
mod sampler;
mod subbands;
mod tch_decoder;
mod train;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn torch_info() {
    println!("libtorch: {}", device::libtorch_dir());
    println!("{}", device::cuda_summary());
    println!("cudnn: {}", tch::Cuda::cudnn_is_available());
    println!("threads: {}", tch::get_num_threads());
    for line in gpu::report() {
        println!("{line}");
    }
}

fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Bands(a) => bands::run(a),
        Command::Roundtrip(a) => roundtrip::run(a),
        Command::Sample(a) => sampler::sample::run(a),
        Command::BenchDwt(a) => bench::run(a),
        Command::TrainDecoder(a) => train::train_decoder(a),
        Command::TrainPixel(a) => train::train_pixel(a),
        Command::Export(a) => export::run(a),
        Command::Decode(a) => decode::run(a),
        Command::EvalRecon(a) => eval_recon::run(a).map(drop),
        Command::EvalSamples(a) => eval::run_eval_samples(a).map(drop),
        Command::SweepTruncation(a) => eval::sweep::run(a).map(drop),
        Command::Report(a) => report::run(a).map(drop),
        Command::TrainSampler(a) => sampler::train::run(a),
        Command::Demo(a) => sampler::demo::run(a),
        Command::TorchInfo => {
            torch_info();
            Ok(())
        }
    }
}

/// libtorch's CPU kernels run on OpenMP (libgomp), whose threads spin while they wait at barriers.
/// On a machine shared with other work a descheduled thread then stalls the others: measured here,
/// a small UNet ran 10× slower than with passive waiting. libgomp reads `OMP_WAIT_POLICY` only when it
/// is loaded, before `main`, so unless the user chose a policy we set `PASSIVE` and re-execute
/// ourselves once (same PID, same arguments). Set `OMP_WAIT_POLICY=ACTIVE` to keep spinning.
fn ensure_passive_openmp() {
    use std::os::unix::process::CommandExt;
    const KEY: &str = "OMP_WAIT_POLICY";
    if std::env::var_os(KEY).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let err = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env(KEY, "PASSIVE")
        .exec();
    // Only reached if exec failed: carry on with the default policy.
    tracing::debug!("cannot re-execute with {KEY}=PASSIVE: {err}");
}

fn main() -> ExitCode {
    ensure_passive_openmp();
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

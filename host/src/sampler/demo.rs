//! `demo`: the whole pipeline from scratch in minutes: tiny NSBG decoders (level 1, level 2), a tiny
//! sampler trained on the same photos, export of all of them, and samples decoded to 256×256. Each stage
//! runs the very commands a user would (`train-decoder`, `export`, `train-sampler`, `sample`, …), parsed
//! from argument lists, so the demo exercises the real code paths; the budget is split between stages.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

use super::args::DemoArgs;
use crate::cli::{Cli, Command};

/// Runs one `nsbg-host` command line in this process.
pub fn run_command(args: &[String]) -> Result<()> {
    eprintln!("+ nsbg-host {}", args.join(" "));
    let cli =
        Cli::try_parse_from(std::iter::once("nsbg-host".to_string()).chain(args.iter().cloned()))
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("bad demo command line")?;
    match &cli.command {
        Command::TrainDecoder(a) => crate::train::train_decoder(a),
        Command::TrainPixel(a) => crate::train::train_pixel(a),
        Command::Export(a) => crate::export::run(a),
        Command::TrainSampler(a) => super::train::run(a),
        Command::Sample(a) => super::sample::run(a),
        other => bail!("the demo does not run {other:?}"),
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

pub fn run(a: &DemoArgs) -> Result<()> {
    if !(a.minutes.is_finite() && a.minutes > 0.0) {
        bail!("--minutes must be positive");
    }
    let t0 = Instant::now();
    let out = &a.out;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot create demo folder {}", out.display()))?;
    let data = a
        .data
        .clone()
        .unwrap_or_else(|| crate::data::default_split("train"));
    let cache = out.join("cache");
    // Budget shares: decoders 20 % each, sampler 50 % (pixel variants share the rest when asked).
    let (dec, gan) = if a.pixel { (0.12, 0.3) } else { (0.2, 0.5) };
    let m = |f: f64| format!("{:.3}", a.minutes * f);
    let common = |budget: String| -> Vec<String> {
        vec![
            "--preset".into(),
            "tiny".into(),
            "--steps".into(),
            "1000000".into(),
            "--time-budget".into(),
            budget,
            "--data".into(),
            s(&data),
            "--no-val".into(),
            "--cache".into(),
            s(&cache),
            "--seed".into(),
            a.seed.to_string(),
            "--threads".into(),
            a.threads.to_string(),
            "--force".into(),
            "--sample-every".into(),
            "100000".into(),
        ]
    };
    let arg = |v: &[&str]| -> Vec<String> { v.iter().map(|x| (*x).to_string()).collect() };
    let runs = out.join("runs");
    let wavelet = out.join("nsbg-tiny.safetensors");
    let pixel = out.join("nsbg-pixel-tiny.safetensors");
    for level in ["1", "2"] {
        let mut c = arg(&["train-decoder", "--level", level, "--out"]);
        c.push(s(&runs.join(format!("nsbg-l{level}"))));
        c.extend(common(m(dec)));
        run_command(&c)?;
    }
    let mut c = arg(&["export"]);
    c.extend([s(&runs.join("nsbg-l1")), s(&runs.join("nsbg-l2"))]);
    c.extend(arg(&["--out"]));
    c.push(s(&wavelet));
    run_command(&c)?;
    if a.pixel {
        for level in ["1", "2"] {
            let mut c = arg(&["train-pixel", "--level", level, "--out"]);
            c.push(s(&runs.join(format!("pixel-l{level}"))));
            c.extend(common(m(dec)));
            run_command(&c)?;
        }
        let mut c = arg(&["export"]);
        c.extend([s(&runs.join("pixel-l1")), s(&runs.join("pixel-l2"))]);
        c.extend(arg(&["--out"]));
        c.push(s(&pixel));
        run_command(&c)?;
    }
    let mut domains = vec![("wavelet", wavelet.clone())];
    if a.pixel {
        domains.push(("pixel", pixel.clone()));
    }
    let share = if a.pixel { gan / 2.0 } else { gan };
    for (domain, decoder) in &domains {
        let run = runs.join(format!("sampler-{domain}"));
        let generator = out.join(format!("generator-{domain}-tiny.safetensors"));
        let mut c = arg(&[
            "train-sampler",
            "--arch",
            "biggan-deep",
            "--preset",
            "tiny",
            "--domain",
            domain,
        ]);
        c.extend(arg(&[
            "--steps",
            "1000000",
            "--checkpoint-every",
            "50",
            "--sample-every",
            "50",
        ]));
        c.extend(arg(&["--time-budget"]));
        c.push(m(share));
        c.extend(arg(&["--data"]));
        c.push(s(&data));
        c.extend(arg(&["--cache"]));
        c.push(s(&cache));
        c.extend(arg(&["--decoder"]));
        c.push(s(decoder));
        c.extend(arg(&["--out"]));
        c.push(s(&run));
        c.extend(arg(&["--seed"]));
        c.push(a.seed.to_string());
        c.extend(arg(&["--threads"]));
        c.push(a.threads.to_string());
        c.push("--force".into());
        run_command(&c)?;
        let mut c = arg(&["export", "--generator"]);
        c.push(s(&run));
        c.extend(arg(&["--out"]));
        c.push(s(&generator));
        run_command(&c)?;
        let mut c = arg(&["sample", "--generator"]);
        c.push(s(&generator));
        c.extend(arg(&["--decoder"]));
        c.push(s(decoder));
        c.extend(arg(&["-n", "16", "--out"]));
        c.push(s(&out.join(format!("samples-{domain}"))));
        c.extend(arg(&["--threads"]));
        c.push(a.threads.to_string());
        run_command(&c)?;
    }
    println!(
        "demo finished in {:.1} min: decoders {}, samples {}",
        t0.elapsed().as_secs_f64() / 60.0,
        s(&wavelet),
        domains
            .iter()
            .map(|(d, _)| s(&out.join(format!("samples-{d}/grid.png"))))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

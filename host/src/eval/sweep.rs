//! `sweep-truncation`: the metrics of one generator over a list of truncation values, as a table
//! (`sweep.md`, `sweep.json`) and plots (`swd.png`, `kid.png`, and with Inception `fid.png`, `is.png`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use serde::Serialize;

use super::{open_generator, Evaluator, Generator, MetricArgs, Report};
use crate::checkpoint;
use crate::plot::{self, Curve};
use crate::sampler::truncation::TruncMode;

#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Generator checkpoint or run folder (needs the GAN sampler).
    #[arg(long)]
    pub generator: PathBuf,
    /// Truncation values, comma separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub truncations: Vec<f64>,
    /// Truncation mode: scale (z ~ N(0, T²), the authors' code) or resample (BigGAN's trick).
    #[arg(long, value_enum, default_value_t = TruncMode::Scale)]
    pub trunc_mode: TruncMode,
    /// Samples per truncation value.
    #[arg(short = 'n', long = "count", default_value_t = 1000)]
    pub n: usize,
    #[command(flatten)]
    pub metrics: MetricArgs,
    /// Output folder (sweep.json, sweep.md, *.png).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    pub truncation: f64,
    pub report: Report,
}

/// Evaluates `n` samples of `gen` at every truncation value (same seed for each value, so the rows
/// differ only by the truncation).
pub fn sweep(
    ev: &Evaluator,
    gen: &mut dyn Generator,
    truncations: &[f64],
    n: usize,
    seed: u64,
    decoder: Option<&str>,
) -> Result<Vec<SweepRow>> {
    ensure!(!truncations.is_empty(), "no truncation values");
    ensure!(n >= 2, "a sweep needs at least 2 samples per value");
    let bar = indicatif::ProgressBar::new(truncations.len() as u64);
    let mut rows = Vec::with_capacity(truncations.len());
    for &t in truncations {
        ensure!(
            t.is_finite() && t > 0.0,
            "truncation {t} must be a positive number"
        );
        bar.set_message(format!("truncation {t}"));
        let mut set = gen
            .generate(n, Some(t), seed)
            .with_context(|| format!("sampling at truncation {t} failed"))?;
        ensure!(
            set.size == ev.size(),
            "the generator makes {0}x{0} images, the evaluation size is {1}",
            set.size,
            ev.size()
        );
        set.origin = format!("{} (truncation {t})", gen.describe());
        let report = ev.evaluate(&set, decoder.map(str::to_string))?;
        rows.push(SweepRow {
            truncation: t,
            report,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(rows)
}

pub fn markdown(rows: &[SweepRow]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| truncation | samples | SWD ×10³ | KID patches ×10³ | FID | FID* | IS | KID Inception ×10³ | SWD* ×10³ |"
    );
    let _ = writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let f = |v: Option<f64>, d: usize| v.map_or("—".to_string(), |x| format!("{x:.d$}"));
    for r in rows {
        let p = &r.report;
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.3} ± {:.3} | {} | {} | {} | {} | {} |",
            r.truncation,
            p.sample_images,
            p.real.swd,
            p.real.kid_patches.mean * 1e3,
            p.real.kid_patches.std * 1e3,
            f(p.real.fid, 2),
            f(p.fid_star(), 2),
            p.inception_score
                .map_or("—".into(), |s| format!("{:.3} ± {:.3}", s.mean, s.std)),
            p.real.kid_inception.map_or("—".into(), |k| format!(
                "{:.3} ± {:.3}",
                k.mean * 1e3,
                k.std * 1e3
            )),
            f(p.reconstructions.as_ref().map(|s| s.swd), 2),
        );
    }
    md
}

/// One PNG per metric against truncation.
pub fn plots(out: &Path, rows: &[SweepRow]) -> Result<Vec<PathBuf>> {
    type Pick = fn(&Report) -> Option<f64>;
    let metrics: [(&str, &str, Pick, Pick); 4] = [
        (
            "swd",
            "SWD x1e3",
            |r| Some(r.real.swd),
            |r| r.reconstructions.as_ref().map(|s| s.swd),
        ),
        (
            "kid",
            "KID patches x1e3",
            |r| Some(r.real.kid_patches.mean * 1e3),
            |r| r.reconstructions.as_ref().map(|s| s.kid_patches.mean * 1e3),
        ),
        ("fid", "FID", |r| r.real.fid, Report::fid_star),
        (
            "is",
            "Inception Score",
            |r| r.inception_score.map(|s| s.mean),
            |_| None,
        ),
    ];
    let mut written = Vec::new();
    for (file, title, real, star) in metrics {
        let a: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| real(&r.report).map(|v| (r.truncation, v)))
            .collect();
        if a.is_empty() {
            continue;
        }
        let b: Vec<(f64, f64)> = rows
            .iter()
            .filter_map(|r| star(&r.report).map(|v| (r.truncation, v)))
            .collect();
        let mut curves = vec![Curve {
            name: "vs real",
            rgb: [31, 119, 180],
            points: &a,
        }];
        if !b.is_empty() {
            curves.push(Curve {
                name: "vs reconstructions",
                rgb: [214, 39, 40],
                points: &b,
            });
        }
        let path = out.join(format!("{file}.png"));
        plot::lines(&path, title, "truncation", false, &curves)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `sweep.json`, `sweep.md` and the plots.
pub fn write(out: &Path, rows: &[SweepRow]) -> Result<String> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let md = markdown(rows);
    checkpoint::write_json(&out.join("sweep.json"), rows)?;
    checkpoint::write_atomic(&out.join("sweep.md"), md.as_bytes())?;
    plots(out, rows)?;
    Ok(md)
}

pub fn run(a: &SweepArgs) -> Result<Vec<SweepRow>> {
    // Open the generator first: it is the most likely thing to be wrong.
    let mut gen = open_generator(
        &a.generator,
        a.metrics.decoder.as_deref(),
        a.trunc_mode,
        &a.metrics,
    )?;
    let (ev, decoder) = Evaluator::new(&a.metrics, gen.decoder())?;
    let rows = sweep(
        &ev,
        gen.as_mut(),
        &a.truncations,
        a.n,
        a.metrics.seed,
        decoder.as_deref(),
    )?;
    let md = write(&a.out, &rows)?;
    print!("{md}");
    eprintln!("wrote {}/sweep.{{json,md}} and plots", a.out.display());
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::images::ImageSet;
    use crate::eval::swd::tests::{synthetic_set, with_noise};
    use clap::Parser;
    use tch::Device;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        m: MetricArgs,
    }

    /// A stand-in generator: the reference-like images with noise growing with the truncation.
    struct Noisy(ImageSet);

    impl Generator for Noisy {
        fn describe(&self) -> String {
            "noisy synthetic".into()
        }
        fn generate(&mut self, n: usize, t: Option<f64>, seed: u64) -> Result<ImageSet> {
            let mut set = with_noise(&self.0, 0.1 * t.unwrap_or(1.0), seed);
            set.images.truncate(n);
            Ok(set)
        }
    }

    #[test]
    fn sweep_tables_and_plots() {
        let args = Wrap::parse_from([
            "t",
            "--reference",
            "unused",
            "--size",
            "32",
            "--patches-per-image",
            "32",
            "--directions",
            "64",
            "--kid-subsets",
            "5",
            "--device",
            "cpu",
        ])
        .m;
        let reference = synthetic_set(6, 32, 4);
        let ev = Evaluator::from_sets(&args, Device::Cpu, None, &reference, None).unwrap();
        let mut gen = Noisy(synthetic_set(6, 32, 4));
        let ts = [0.25, 0.5, 1.0, 2.0];
        let rows = sweep(&ev, &mut gen, &ts, 6, 0, None).unwrap();
        assert_eq!(rows.len(), 4);
        let swd: Vec<f64> = rows.iter().map(|r| r.report.real.swd).collect();
        assert!(
            swd.windows(2).all(|w| w[0] < w[1]),
            "SWD must grow with the noise: {swd:?}"
        );
        assert!(rows
            .iter()
            .all(|r| r.report.real.fid.is_none() && r.report.inception_score.is_none()));
        let dir = std::env::temp_dir().join(format!("nsbg-sweep-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let md = write(&dir, &rows).unwrap();
        assert_eq!(md.lines().count(), 2 + ts.len());
        assert!(md.contains("| 0.25 | 6 |"), "{md}");
        let back: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap())
                .unwrap();
        assert_eq!(back.as_array().unwrap().len(), 4);
        assert_eq!(back[3]["truncation"], 2.0);
        assert!(dir.join("swd.png").is_file() && dir.join("kid.png").is_file());
        assert!(!dir.join("fid.png").exists(), "no FID without Inception");
        // Bad values are errors, not panics.
        assert!(sweep(&ev, &mut gen, &[0.0], 6, 0, None).is_err());
        assert!(sweep(&ev, &mut gen, &[], 6, 0, None).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

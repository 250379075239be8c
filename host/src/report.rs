//! `report RUN_DIR...`: the paper-style compute table of training runs (hours, kWh, images, images/s)
//! from their `compute.json` ([`crate::compute`]), as Markdown and JSON, and plots of cumulative
//! images and energy against hours.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::compute::{self, Record};
use crate::plot::{self, Curve};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Training run folders (each with a compute.json).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Folder for report.md, report.json, images.png and energy.png (default: print only).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub run: String,
    pub command: String,
    pub devices: String,
    pub sessions: usize,
    pub hours: f64,
    pub kwh: f64,
    pub images: u64,
    pub images_per_s: f64,
    pub power: String,
    /// Whether the last session ended normally.
    pub finished: bool,
}

fn row(run: &str, r: &Record) -> Row {
    let mut devices: Vec<String> = r.sessions.iter().map(|s| s.device.clone()).collect();
    devices.dedup();
    let mut power: Vec<String> = r
        .sessions
        .iter()
        .map(|s| {
            if s.measured {
                "measured".to_string()
            } else {
                s.power_source.clone()
            }
        })
        .collect();
    power.dedup();
    Row {
        run: run.into(),
        command: r.command.clone(),
        devices: devices.join(", "),
        sessions: r.sessions.len(),
        hours: r.hours(),
        kwh: r.kwh(),
        images: r.images,
        images_per_s: r.images_per_s(),
        power: power.join("; "),
        finished: r.sessions.last().is_some_and(|s| s.finished),
    }
}

pub fn markdown(rows: &[Row]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "| run | command | device | sessions | hours | kWh | images | images/s | power | finished |");
    let _ = writeln!(md, "|---|---|---|---:|---:|---:|---:|---:|---|---|");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.3} | {:.4} | {} | {:.2} | {} | {} |",
            r.run,
            r.command,
            r.devices,
            r.sessions,
            r.hours,
            r.kwh,
            r.images,
            r.images_per_s,
            r.power,
            if r.finished { "yes" } else { "no" }
        );
    }
    let (h, e, n): (f64, f64, u64) = rows.iter().fold((0.0, 0.0, 0), |a, r| {
        (a.0 + r.hours, a.1 + r.kwh, a.2 + r.images)
    });
    let _ = writeln!(md, "| **total** | | | | {h:.3} | {e:.4} | {n} | | | |");
    md
}

const COLOURS: [[u8; 3]; 6] = [
    [31, 119, 180],
    [214, 39, 40],
    [44, 160, 44],
    [255, 127, 14],
    [148, 103, 189],
    [140, 86, 75],
];

pub fn run(a: &ReportArgs) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut records = Vec::new();
    for dir in &a.runs {
        let rec = compute::load(dir)?;
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        rows.push(row(&name, &rec));
        records.push((name, rec));
    }
    let md = markdown(&rows);
    print!("{md}");
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        crate::checkpoint::write_atomic(&out.join("report.md"), md.as_bytes())?;
        crate::checkpoint::write_json(&out.join("report.json"), &rows)?;
        let images: Vec<Vec<(f64, f64)>> = records
            .iter()
            .map(|(_, r)| r.cumulative().iter().map(|p| (p.0, p.1 as f64)).collect())
            .collect();
        let energy: Vec<Vec<(f64, f64)>> = records
            .iter()
            .map(|(_, r)| r.cumulative().iter().map(|p| (p.0, p.2)).collect())
            .collect();
        for (file, title, pts) in [
            ("images.png", "images processed", &images),
            ("energy.png", "energy kWh", &energy),
        ] {
            let curves: Vec<Curve<'_>> = records
                .iter()
                .zip(pts)
                .enumerate()
                .map(|(i, ((name, _), p))| Curve {
                    name,
                    rgb: COLOURS[i % COLOURS.len()],
                    points: p,
                })
                .collect();
            plot::lines(&out.join(file), title, "hours", false, &curves)?;
        }
        eprintln!(
            "wrote {}/report.{{md,json}}, images.png, energy.png",
            out.display()
        );
    }
    Ok(rows)
}

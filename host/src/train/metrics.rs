//! `metrics.jsonl` (one JSON object per line: `{"kind": "train"|"val", "step": …, …}`) and the loss
//! curve `loss.png` drawn from it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::plot::{self, Curve};

pub struct Metrics {
    path: PathBuf,
    file: File,
    train: Vec<(f64, f64)>,
    val: Vec<(f64, f64)>,
}

impl Metrics {
    /// Opens `run/metrics.jsonl`. With `keep_until = Some(step)` (a resume) lines of later steps, written
    /// by the interrupted session after its last checkpoint, are dropped; otherwise the file starts empty.
    pub fn open(run: &Path, keep_until: Option<u64>) -> Result<Metrics> {
        let path = run.join("metrics.jsonl");
        let mut kept = Vec::new();
        if let Some(limit) = keep_until {
            if let Ok(text) = fs::read_to_string(&path) {
                for line in text.lines() {
                    let Ok(v) = serde_json::from_str::<Value>(line) else {
                        continue; // a line cut by the kill
                    };
                    if v["step"].as_u64().is_some_and(|s| s <= limit) {
                        kept.push(v);
                    }
                }
            }
        }
        let mut body = String::new();
        for v in &kept {
            body.push_str(&v.to_string());
            body.push('\n');
        }
        crate::checkpoint::write_atomic(&path, body.as_bytes())?;
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let mut m = Metrics {
            path,
            file,
            train: Vec::new(),
            val: Vec::new(),
        };
        for v in &kept {
            m.remember(v);
        }
        Ok(m)
    }

    fn remember(&mut self, v: &Value) {
        let step = v["step"].as_f64().unwrap_or(0.0);
        match v["kind"].as_str() {
            Some("train") => {
                if let Some(l) = v["loss_norm"].as_f64() {
                    self.train.push((step, l));
                }
            }
            Some("val") => {
                if let Some(l) = v["val_loss"].as_f64() {
                    self.val.push((step, l));
                }
            }
            _ => {}
        }
    }

    /// Appends one line (flushed immediately).
    pub fn write(&mut self, v: Value) -> Result<()> {
        self.remember(&v);
        writeln!(self.file, "{v}")
            .and_then(|()| self.file.flush())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Draws `loss.png` from chosen fields of the `"kind": "train"` lines (e.g. a GAN's several losses),
    /// one curve per `(field, rgb)`; values ≤ 0 are left out (log scale).
    pub fn plot_fields(&self, title: &str, fields: &[(&str, [u8; 3])]) -> Result<()> {
        let text = fs::read_to_string(&self.path)
            .with_context(|| format!("cannot read {}", self.path.display()))?;
        let mut series: Vec<Vec<(f64, f64)>> = vec![Vec::new(); fields.len()];
        for v in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        {
            if v["kind"].as_str() != Some("train") {
                continue;
            }
            let step = v["step"].as_f64().unwrap_or(0.0);
            for (k, (field, _)) in fields.iter().enumerate() {
                if let Some(y) = v[*field].as_f64() {
                    series[k].push((step, y));
                }
            }
        }
        let curves: Vec<Curve<'_>> = fields
            .iter()
            .zip(&series)
            .map(|((name, rgb), points)| Curve {
                name,
                rgb: *rgb,
                points,
            })
            .collect();
        let dir = self.path.parent().unwrap_or(Path::new("."));
        plot::loss_curves(&dir.join("loss.png"), title, &curves)
    }

    /// Draws `loss.png` next to the metrics file.
    pub fn plot(&self, title: &str) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        plot::loss_curves(
            &dir.join("loss.png"),
            title,
            &[
                Curve {
                    name: "train",
                    rgb: [31, 119, 180],
                    points: &self.train,
                },
                Curve {
                    name: "val",
                    rgb: [214, 39, 40],
                    points: &self.val,
                },
            ],
        )
    }
}

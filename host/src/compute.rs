//! Compute and energy record of a training run: `RUN_DIR/compute.json`.
//!
//! One call per training command: `Recorder::start(run_dir, device, power)` when the run starts (it
//! continues the record of a resumed run), `.images(n)` after every step (rewrites the file atomically
//! at most every [`WRITE_EVERY_S`] seconds, so a killed run keeps all but the last few seconds of its
//! record), `.finish()` at the end. Each session (a start or `--resume`) is one entry of `sessions`;
//! the totals are summed over them. Images are those the run actually processed: steps repeated after a
//! resume from an older checkpoint count again, because their compute was spent again.
//!
//! Energy = ∫ power dt over wall time. The power is either a fixed figure (`--power-watts`, or the
//! default per-device estimate of [`default_watts`]) or a measured reading from [`PowerReader`] (the
//! hook for NVML on a GPU), integrated with the trapezoid rule between updates; when the reader returns
//! `None` the fixed figure is used for that interval.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::checkpoint;

pub const FILE: &str = "compute.json";
/// Seconds between periodic rewrites of `compute.json`.
pub const WRITE_EVERY_S: f64 = 30.0;
/// Default CPU power per libtorch thread in watts: a share of the package TDP of a typical server or
/// desktop CPU (e.g. 150 W / 16 cores ≈ 10 W per busy core, including its share of uncore and memory).
pub const CPU_WATTS_PER_THREAD: f64 = 10.0;
/// Default GPU board power in watts (A100-PCIe/L40S class TDP, 300 W) when nothing is measured.
pub const GPU_WATTS: f64 = 300.0;
/// Points kept in the timeline of one session (older points are thinned by halving).
const MAX_TIMELINE: usize = 512;

/// A measured power reading in watts (e.g. NVML's board power), or `None` when unavailable.
pub type PowerReader = Box<dyn FnMut() -> Option<f64> + Send>;

/// The default power figure of a device and how it was obtained.
pub fn default_watts(device: Device, threads: usize) -> (f64, String) {
    match device {
        Device::Cuda(_) => (GPU_WATTS, format!("default GPU estimate {GPU_WATTS} W")),
        _ => {
            let t = threads.max(1);
            (
                CPU_WATTS_PER_THREAD * t as f64,
                format!("default CPU estimate {CPU_WATTS_PER_THREAD} W x {t} threads"),
            )
        }
    }
}

/// One point of a session's progress.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// Seconds since the session started.
    pub t_s: f64,
    pub images: u64,
    pub energy_j: f64,
}

/// One session of a run (a start or a resume).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Unix time of the start, seconds.
    pub started_unix_s: f64,
    pub device: String,
    pub threads: usize,
    /// The fixed power figure and where it came from.
    pub power_watts: f64,
    pub power_source: String,
    /// Whether any interval used a measured reading.
    #[serde(default)]
    pub measured: bool,
    pub wall_s: f64,
    pub images: u64,
    pub energy_j: f64,
    /// Whether the session ended normally (false: killed or still running).
    pub finished: bool,
    #[serde(default)]
    pub timeline: Vec<Point>,
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Record {
    pub format: u32,
    pub command: String,
    pub sessions: Vec<Session>,
    pub wall_s: f64,
    pub images: u64,
    pub energy_j: f64,
}

impl Record {
    pub fn hours(&self) -> f64 {
        self.wall_s / 3600.0
    }

    pub fn kwh(&self) -> f64 {
        self.energy_j / 3.6e6
    }

    pub fn images_per_s(&self) -> f64 {
        if self.wall_s > 0.0 {
            self.images as f64 / self.wall_s
        } else {
            0.0
        }
    }

    fn total(&mut self) {
        self.wall_s = self.sessions.iter().map(|s| s.wall_s).sum();
        self.images = self.sessions.iter().map(|s| s.images).sum();
        self.energy_j = self.sessions.iter().map(|s| s.energy_j).sum();
    }

    /// Cumulative `(hours, images, kWh)` over all sessions, for plots.
    pub fn cumulative(&self) -> Vec<(f64, u64, f64)> {
        let (mut t, mut n, mut e) = (0.0, 0u64, 0.0);
        let mut out = vec![(0.0, 0, 0.0)];
        for s in &self.sessions {
            for p in &s.timeline {
                out.push(((t + p.t_s) / 3600.0, n + p.images, (e + p.energy_j) / 3.6e6));
            }
            t += s.wall_s;
            n += s.images;
            e += s.energy_j;
            out.push((t / 3600.0, n, e / 3.6e6));
        }
        out
    }
}

/// Reads `RUN_DIR/compute.json`.
pub fn load(run: &Path) -> Result<Record> {
    let path = run.join(FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (was {} made by a training command of this version?)",
            path.display(),
            run.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid compute record", path.display()))
}

/// Records one session of a run.
pub struct Recorder {
    path: PathBuf,
    record: Record,
    start: Instant,
    last_write: Instant,
    last_t: f64,
    last_watts: f64,
    reader: Option<PowerReader>,
}

impl Recorder {
    /// Starts a session: continues `RUN_DIR/compute.json` when `resume` (a missing or unreadable record
    /// starts a new one), otherwise starts a new record. `power_watts` overrides the device default.
    pub fn start(
        run_dir: &Path,
        command: &str,
        device: Device,
        threads: usize,
        power_watts: Option<f64>,
        resume: bool,
    ) -> Result<Recorder> {
        if let Some(w) = power_watts {
            anyhow::ensure!(
                w.is_finite() && w >= 0.0,
                "--power-watts must be a non-negative number, got {w}"
            );
        }
        let mut record = if resume {
            load(run_dir).unwrap_or_else(|e| {
                tracing::warn!("starting a new compute record: {e:#}");
                Record::default()
            })
        } else {
            Record::default()
        };
        record.format = 1;
        record.command = command.to_string();
        let (watts, source) = match power_watts {
            Some(w) => (w, format!("--power-watts {w}")),
            None => default_watts(device, threads),
        };
        let started_unix_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        record.sessions.push(Session {
            started_unix_s,
            device: crate::device::name(device),
            threads,
            power_watts: watts,
            power_source: source,
            measured: false,
            wall_s: 0.0,
            images: 0,
            energy_j: 0.0,
            finished: false,
            timeline: Vec::new(),
        });
        let now = Instant::now();
        let mut r = Recorder {
            path: run_dir.join(FILE),
            record,
            start: now,
            last_write: now,
            last_t: 0.0,
            last_watts: watts,
            reader: None,
        };
        // On a GPU whose driver answers NVML, measure the board power instead of assuming it
        // (unless the user fixed a figure).
        if power_watts.is_none() && crate::gpu::power_watts(device).is_some() {
            r = r.with_power_reader(Box::new(move || crate::gpu::power_watts(device)));
        }
        r.write()?;
        Ok(r)
    }

    /// Installs a measured power source (NVML on a GPU: [`Recorder::start`] does it by itself).
    pub fn with_power_reader(mut self, mut reader: PowerReader) -> Self {
        if let Some(w) = reader() {
            self.last_watts = w;
        }
        self.reader = Some(reader);
        self
    }

    fn session(&mut self) -> &mut Session {
        self.record.sessions.last_mut().expect("a session exists")
    }

    /// Advances the clock and the energy integral to now.
    fn update(&mut self) {
        let t = self.start.elapsed().as_secs_f64();
        let dt = (t - self.last_t).max(0.0);
        let fixed = self.session().power_watts;
        let measured = self.reader.as_mut().and_then(|r| r());
        let watts = measured.unwrap_or(fixed);
        let energy = if measured.is_some() {
            0.5 * (self.last_watts + watts) * dt
        } else {
            fixed * dt
        };
        self.last_watts = watts;
        self.last_t = t;
        let s = self.session();
        s.measured |= measured.is_some();
        s.wall_s = t;
        s.energy_j += energy;
    }

    fn write(&mut self) -> Result<()> {
        self.record.total();
        checkpoint::write_json(&self.path, &self.record)?;
        self.last_write = Instant::now();
        Ok(())
    }

    /// Counts processed images; rewrites the file when [`WRITE_EVERY_S`] have passed.
    pub fn images(&mut self, n: u64) -> Result<()> {
        self.session().images += n;
        if self.last_write.elapsed().as_secs_f64() >= WRITE_EVERY_S {
            self.flush()?;
        }
        Ok(())
    }

    /// Updates time and energy, adds a timeline point and rewrites the file now.
    pub fn flush(&mut self) -> Result<()> {
        self.update();
        let s = self.session();
        let p = Point {
            t_s: s.wall_s,
            images: s.images,
            energy_j: s.energy_j,
        };
        s.timeline.push(p);
        if s.timeline.len() > MAX_TIMELINE {
            let kept: Vec<Point> = s.timeline.iter().copied().step_by(2).collect();
            s.timeline = kept;
        }
        self.write()
    }

    /// Ends the session normally and returns the whole record.
    pub fn finish(mut self) -> Result<Record> {
        self.session().finished = true;
        self.flush()?;
        Ok(self.record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nsbg-compute-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn records_accumulate_across_resume_and_survive_a_kill() {
        let dir = temp("resume");
        let mut r =
            Recorder::start(&dir, "train-test", Device::Cpu, 2, Some(100.0), false).unwrap();
        r.images(10).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        r.flush().unwrap();
        // "Killed": dropped without finish. The file has the flushed state.
        drop(r);
        let killed = load(&dir).unwrap();
        assert_eq!(killed.images, 10);
        assert!(!killed.sessions[0].finished);
        let w = killed.wall_s;
        assert!(w >= 0.05, "{w}");
        assert!(
            (killed.energy_j - 100.0 * w).abs() < 1e-9,
            "fixed power: E = P t"
        );
        // Resume: a second session, totals summed.
        let mut r = Recorder::start(&dir, "train-test", Device::Cpu, 2, None, true).unwrap();
        r.images(5).unwrap();
        let rec = r.finish().unwrap();
        assert_eq!(rec.sessions.len(), 2);
        assert_eq!(rec.images, 15);
        assert!(rec.sessions[1].finished);
        assert_eq!(rec.sessions[1].power_watts, 2.0 * CPU_WATTS_PER_THREAD);
        assert!((rec.wall_s - (w + rec.sessions[1].wall_s)).abs() < 1e-12);
        let back = load(&dir).unwrap();
        assert_eq!(back.images, 15);
        let cum = back.cumulative();
        assert_eq!(cum.last().unwrap().1, 15);
        assert!(cum
            .windows(2)
            .all(|p| p[1].0 >= p[0].0 && p[1].1 >= p[0].1 && p[1].2 >= p[0].2));
        // A new (not resumed) run starts over.
        let r = Recorder::start(&dir, "train-test", Device::Cpu, 1, None, false).unwrap();
        assert_eq!(r.finish().unwrap().sessions.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn measured_power_is_integrated() {
        let dir = temp("measured");
        let reader: PowerReader = Box::new(|| Some(50.0));
        let mut r = Recorder::start(&dir, "t", Device::Cpu, 1, Some(1000.0), false)
            .unwrap()
            .with_power_reader(reader);
        std::thread::sleep(std::time::Duration::from_millis(30));
        r.flush().unwrap();
        let rec = r.finish().unwrap();
        assert!(rec.sessions[0].measured);
        // 50 W measured, not the 1000 W figure.
        assert!(
            (rec.energy_j - 50.0 * rec.wall_s).abs() < 1e-9,
            "{} vs {}",
            rec.energy_j,
            rec.wall_s
        );
        assert!(Recorder::start(&dir, "t", Device::Cpu, 1, Some(-1.0), false).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

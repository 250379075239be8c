//! `bench-dwt`: wall-clock timing of `dwt2`/`idwt2` (mode periodization, f32 and f64, one thread) and
//! of this machine's single-core memory bandwidth, in the same run.
//!
//! **Achieved bandwidth (GB/s, 10⁹ bytes/s).** A level on a `w × h` block reads and writes every sample
//! of the block once at minimum, so a `L`-level call moves at least
//! `bytes = 2 · sizeof(T) · Σ_{l=0}^{L−1} w_l · h_l` (with `w_0 = W`, `w_{l+1} = ceil(w_l / 2)`, same for h),
//! and `GB/s = bytes / median time per call`. The memcpy reference copies a `--memcpy-mib` MiB buffer
//! (`copy_from_slice`) and counts read + written bytes the same way: `2 · len / time`. "% of memcpy" is
//! the ratio of the two, i.e. how close the transform gets to streaming its data through memory once.
//!
//! Planes are filled with deterministic pseudo-random values in `[0, 1)`. Each timed forward call is
//! followed by a timed inverse call on the same plane, so the values stay bounded however many
//! repetitions run; one untimed forward+inverse pair warms caches and page mappings first.

use core::hint::black_box;
use std::fs;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use nsbg_core::wavelet::{self, Extension};
use serde_json::{json, Value};

use crate::bands::scratch_len;
use crate::cli::BenchArgs;
use crate::roundtrip::Sample;

/// One timed configuration.
#[derive(Debug, Clone)]
pub struct Timing {
    pub size: usize,
    pub dtype: &'static str,
    pub direction: &'static str,
    pub median_s: f64,
    pub min_s: f64,
    pub bytes: f64,
}

impl Timing {
    pub fn gbps(&self) -> f64 {
        self.bytes / self.median_s / 1e9
    }
}

/// `2 · elem · Σ_l w_l·h_l` over the `levels` blocks a transform touches.
pub fn moved_bytes(w: usize, h: usize, levels: u32, elem: usize) -> f64 {
    let (mut w, mut h, mut sum) = (w, h, 0f64);
    for _ in 0..levels {
        sum += (w * h) as f64;
        w = wavelet::low_len(w);
        h = wavelet::low_len(h);
    }
    2.0 * elem as f64 * sum
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// xorshift64*: enough for benchmark fill, no dependency.
fn fill_random<T: Sample>(v: &mut [T], mut seed: u64) {
    for x in v {
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        let r = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        *x = T::from_f32((r >> 40) as f32 / (1u64 << 24) as f32);
    }
}

fn bench_type<T: Sample>(
    size: usize,
    levels: u32,
    repeat: u32,
    pb: &ProgressBar,
) -> Result<[Timing; 2]> {
    let n = size.checked_mul(size).context("plane size overflows")?;
    let mut data = vec![T::default(); n];
    fill_random(&mut data, 0x9E37_79B9_7F4A_7C15 ^ size as u64);
    let mut scratch = vec![T::default(); scratch_len(size, size)?];
    let ext = Extension::Periodization;
    let what = || format!("{size}x{size} {} with {levels} levels", T::NAME);
    // Warm-up pair; also validates the geometry, so the timed calls below cannot fail.
    T::dwt2(&mut data, size, size, size, levels, ext, &mut scratch).with_context(what)?;
    T::idwt2(&mut data, size, size, size, levels, ext, &mut scratch).with_context(what)?;
    let (mut fwd, mut inv) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        let t = Instant::now();
        T::dwt2(
            black_box(&mut data),
            size,
            size,
            size,
            levels,
            ext,
            &mut scratch,
        )?;
        fwd.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        T::idwt2(
            black_box(&mut data),
            size,
            size,
            size,
            levels,
            ext,
            &mut scratch,
        )?;
        inv.push(t.elapsed().as_secs_f64());
        pb.inc(1);
    }
    let bytes = moved_bytes(size, size, levels, core::mem::size_of::<T>());
    let mk = |direction, v: &mut Vec<f64>| Timing {
        size,
        dtype: T::NAME,
        direction,
        median_s: median(v),
        min_s: v.iter().copied().fold(f64::INFINITY, f64::min),
        bytes,
    };
    Ok([mk("forward", &mut fwd), mk("inverse", &mut inv)])
}

/// Median single-thread `copy_from_slice` bandwidth over `repeat` copies of `mib` MiB, in GB/s
/// (read + written bytes).
pub fn memcpy_gbps(mib: u64, repeat: u32, pb: &ProgressBar) -> Result<(f64, f64)> {
    let len = usize::try_from(mib * 1024 * 1024).context("memcpy buffer too large")?;
    // Non-zero source and pre-touched destination, so no copy-on-write zero pages are measured.
    let src = vec![0x5Au8; len];
    let mut dst = vec![0xA5u8; len];
    dst.copy_from_slice(&src); // warm-up
    let mut times = Vec::new();
    for _ in 0..repeat {
        let t = Instant::now();
        black_box(&mut dst).copy_from_slice(black_box(&src));
        times.push(t.elapsed().as_secs_f64());
        pb.inc(1);
    }
    ensure!(dst[len / 2] == 0x5A, "memcpy check failed");
    let bytes = 2.0 * len as f64;
    Ok((bytes / median(&mut times) / 1e9, bytes))
}

/// `nsbg-host bench-dwt`.
pub fn run(args: &BenchArgs) -> Result<()> {
    ensure!(!args.sizes.is_empty(), "--sizes needs at least one size");
    for &s in &args.sizes {
        ensure!(
            even_at_every_level(s, args.levels),
            "size {s} cannot take {} periodization levels: the block side must be even (and >= 2) at every level",
            args.levels
        );
    }
    let total = u64::from(args.repeat) * (2 * args.sizes.len() as u64 + 1);
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{msg:24} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("static template")
            .progress_chars("=> "),
    );
    pb.set_message("memcpy");
    let (mem_gbps, mem_bytes) = memcpy_gbps(args.memcpy_mib, args.repeat, &pb)?;
    let mut rows = Vec::new();
    for &size in &args.sizes {
        pb.set_message(format!("{size}x{size} f32"));
        rows.extend(bench_type::<f32>(size, args.levels, args.repeat, &pb)?);
        pb.set_message(format!("{size}x{size} f64"));
        rows.extend(bench_type::<f64>(size, args.levels, args.repeat, &pb)?);
    }
    pb.finish_and_clear();

    println!(
        "nsbg dwt2/idwt2, bior2.2 periodization, {} levels, 1 thread, median of {} calls",
        args.levels, args.repeat
    );
    println!(
        "memcpy ({} MiB, read+write): {mem_gbps:.2} GB/s",
        args.memcpy_mib
    );
    println!(
        "{:>6} {:<5} {:<8} {:>10} {:>10} {:>8} {:>10}",
        "size", "dtype", "dir", "median ms", "min ms", "GB/s", "% memcpy"
    );
    for r in &rows {
        println!(
            "{:>6} {:<5} {:<8} {:>10.3} {:>10.3} {:>8.2} {:>9.1}%",
            r.size,
            r.dtype,
            r.direction,
            r.median_s * 1e3,
            r.min_s * 1e3,
            r.gbps(),
            100.0 * r.gbps() / mem_gbps
        );
    }
    let device_json = match &args.device {
        Some(spec) => Some(crate::gpu::bench::run(
            crate::device::parse(spec)?,
            &args.sizes,
            args.levels,
            args.repeat,
            usize::try_from(args.batch).context("batch")?,
        )?),
        None => None,
    };
    if let Some(path) = &args.json {
        let mut v = to_json(args, &rows, mem_gbps, mem_bytes);
        if let Some(d) = device_json {
            v["device_bench"] = d;
        }
        let text = serde_json::to_string_pretty(&v)?;
        fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn even_at_every_level(size: usize, levels: u32) -> bool {
    let mut s = size;
    for _ in 0..levels {
        if s < 2 || s % 2 == 1 {
            return false;
        }
        s /= 2;
    }
    true
}

fn to_json(args: &BenchArgs, rows: &[Timing], mem_gbps: f64, mem_bytes: f64) -> Value {
    let results: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "size": r.size, "dtype": r.dtype, "direction": r.direction,
                "median_ms": r.median_s * 1e3, "min_ms": r.min_s * 1e3,
                "bytes": r.bytes, "gbps": r.gbps(), "pct_memcpy": 100.0 * r.gbps() / mem_gbps,
            })
        })
        .collect();
    json!({
        "transform": "bior2.2", "mode": "periodization", "levels": args.levels, "threads": 1,
        "repeat": args.repeat,
        "gbps_definition": "2*sizeof(T)*sum over levels of w_l*h_l bytes / median seconds / 1e9",
        "memcpy": { "mib": args.memcpy_mib, "bytes_counted": mem_bytes, "gbps": mem_gbps },
        "results": results,
    })
}

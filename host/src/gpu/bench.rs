//! `bench-dwt --device D`: the tensor-op transform ([`super::dwt`]) on a libtorch device against
//! nsbg-core on one CPU thread, in the same run, on the same sizes and mode (periodization, f32).
//!
//! Two measurements: (1) `dwt2`/`idwt2` of one square plane per size (device time per call, including
//! the kernel launches, after a warm-up; CUDA is synchronised around each timed call); (2) the training
//! data path for wavelet level 1: transform (2 levels) and tiling of the low band and the three detail
//! bands of a batch of 256×256 RGB images, in images/s, against nsbg-core doing the same per image
//! (`subbands::Packed::analyze` + `tile` + `tile_bands`, one thread — the loader runs one such job per
//! worker thread). Host↔device copies are excluded from (1) and included in (2) (the images start on
//! the host, as they do in training).

use std::time::Instant;

use anyhow::{Context, Result};
use nsbg_core::wavelet::{self, Extension};
use serde_json::{json, Value};
use tch::{Device, Kind, Tensor};

use super::dwt;
use crate::subbands;

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(device: Device, repeat: u32, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up (allocator, kernel caches)
    sync(device);
    let mut t = Vec::new();
    for _ in 0..repeat.max(1) {
        let s = Instant::now();
        f()?;
        sync(device);
        t.push(s.elapsed().as_secs_f64());
    }
    Ok(median(t))
}

/// Runs the device benchmark; prints a table and returns its JSON.
pub fn run(
    device: Device,
    sizes: &[usize],
    levels: u32,
    repeat: u32,
    batch: usize,
) -> Result<Value> {
    let ext = Extension::Periodization;
    let mut rows = Vec::new();
    println!(
        "tensor-op dwt2/idwt2 on {} vs nsbg-core (1 CPU thread), periodization f32, {levels} levels, median of {repeat}",
        crate::device::name(device)
    );
    println!(
        "{:>6} {:<8} {:>12} {:>12} {:>9}",
        "size", "dir", "device ms", "core ms", "speed-up"
    );
    for &size in sizes {
        let plane = Tensor::rand([size as i64, size as i64], (Kind::Float, Device::Cpu));
        let host: Vec<f32> = Vec::try_from(&plane.reshape([-1])).context("plane to host")?;
        let on_dev = plane.to_device(device);
        let coeffs = dwt::dwt2(&on_dev, levels, ext)?;
        let fwd = time(device, repeat, || dwt::dwt2(&on_dev, levels, ext).map(drop))?;
        let inv = time(device, repeat, || {
            dwt::idwt2(&coeffs, levels, ext).map(drop)
        })?;
        let mut buf = host.clone();
        let mut scratch = vec![0f32; wavelet::scratch_len(size, size).context("size")?];
        let core_fwd = time(Device::Cpu, repeat, || {
            buf.copy_from_slice(&host);
            wavelet::dwt2(&mut buf, size, size, size, levels, ext, &mut scratch)
                .map_err(|e| anyhow::anyhow!("{e}"))
        })?;
        let core_inv = time(Device::Cpu, repeat, || {
            wavelet::idwt2(&mut buf, size, size, size, levels, ext, &mut scratch)
                .map_err(|e| anyhow::anyhow!("{e}"))
        })?;
        for (dir, d, c) in [("forward", fwd, core_fwd), ("inverse", inv, core_inv)] {
            println!(
                "{size:>6} {dir:<8} {:>12.3} {:>12.3} {:>8.1}x",
                d * 1e3,
                c * 1e3,
                c / d
            );
            rows.push(
                json!({"size": size, "direction": dir, "device_ms": d * 1e3, "core_ms": c * 1e3}),
            );
        }
    }
    // Training data path, level 1 of 256x256 images.
    let n = 256usize;
    let images = Tensor::rand(
        [batch as i64, 3, n as i64, n as i64],
        (Kind::Float, Device::Cpu),
    );
    let host: Vec<f32> = Vec::try_from(&images.reshape([-1])).context("images to host")?;
    let s = subbands::level_side(n, 1) as i64;
    let device_path = time(device, repeat, || {
        let img = images.to_device(device);
        let packed = dwt::dwt2(&img, subbands::LEVELS, ext)?;
        let block = |y0: i64, x0: i64| packed.narrow(-2, y0, s).narrow(-1, x0, s);
        let _x = dwt::tile(&block(0, 0), ext)?;
        for (y0, x0) in [(0, s), (s, 0), (s, s)] {
            let _y = dwt::tile(&block(y0, x0), ext)?;
        }
        Ok(())
    })?;
    let per_image = 3 * n * n;
    let core_images = batch.min(16);
    let core_path = time(Device::Cpu, 1, || {
        for img in host.chunks_exact(per_image).take(core_images) {
            let p = subbands::Packed::analyze(img, n, ext)?;
            let low = p.low(1)?;
            subbands::tile(&low, s as usize, ext)?;
            subbands::tile_bands(&p.details(1), s as usize, ext)?;
        }
        Ok(())
    })?;
    let dev_ips = batch as f64 / device_path;
    let core_ips = core_images as f64 / core_path;
    println!(
        "data path (level-1 inputs+targets of 256x256 RGB): device {dev_ips:.0} images/s (batch {batch}, copy included), nsbg-core {core_ips:.0} images/s per CPU thread"
    );
    Ok(json!({
        "device": crate::device::name(device), "mode": "periodization", "dtype": "f32",
        "levels": levels, "repeat": repeat, "planes": rows,
        "data_path": {"image_size": n, "batch": batch, "device_images_per_s": dev_ips,
                      "core_images_per_s_one_thread": core_ips},
    }))
}

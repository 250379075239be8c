//! GPU paths that are testable without a GPU (the tensor-op data transform on the CPU, device
//! queries answering "unavailable"), and GPU-gated checks that run only where libtorch sees CUDA
//! (scripts/gpu-check.sh runs this file there).

use std::path::PathBuf;

mod common;

use common::{json, losses, ok_log as ok};

fn photos_train() -> PathBuf {
    common::photos().join("train")
}

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("gpu", name)
}

fn short_run<'a>(out: &'a str, data: &'a str, level: &'a str, device: &'a str) -> Vec<&'a str> {
    vec![
        "train-decoder",
        "--out",
        out,
        "--preset",
        "tiny",
        "--level",
        level,
        "--data",
        data,
        "--limit",
        "4",
        "--no-val",
        "--device",
        device,
        "--threads",
        "1",
        "--seed",
        "2",
        "--batch",
        "2",
        "--steps",
        "3",
        "--log-every",
        "1",
        "--sample-every",
        "100",
    ]
}

/// The training batches computed with tensor ops (the CUDA data path, here on the CPU) give the
/// same losses as nsbg-core's per-image path, for both levels (level 2 includes an inverse level).
#[test]
fn device_data_transform_matches_core() {
    let dir = temp_dir("transform");
    let data = photos_train();
    let data = data.to_str().unwrap();
    for level in ["1", "2"] {
        let (core, dev) = (
            dir.join(format!("core{level}")),
            dir.join(format!("dev{level}")),
        );
        let mut a = short_run(core.to_str().unwrap(), data, level, "cpu");
        a.extend(["--data-transform", "core"]);
        ok(&a);
        let mut b = short_run(dev.to_str().unwrap(), data, level, "cpu");
        b.extend(["--data-transform", "device"]);
        let log = ok(&b);
        assert!(log.contains("wavelet data on the device"), "{log}");
        assert_eq!(json(&dev.join("summary.json"))["data_transform"], "device");
        assert_eq!(json(&core.join("summary.json"))["data_transform"], "core");
        let (lc, ld) = (losses(&core), losses(&dev));
        assert_eq!(lc.len(), 3);
        for (c, d) in lc.iter().zip(&ld) {
            assert!(
                (c - d).abs() <= 1e-5 * c.abs(),
                "level {level}: {lc:?} vs {ld:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn torch_info_reports_the_gpu_state() {
    let out = ok(&["torch-info"]);
    assert!(
        out.contains("cuda driver:") || out.contains("gpu 0:"),
        "{out}"
    );
    if !cfg!(feature = "cuda") {
        assert!(out.contains("built without the `cuda` feature"), "{out}");
    }
}

/// GPU-gated: a short CUDA run of each decoder, with the device data path, mixed precision, and
/// (with the `cuda` feature) the peak device memory in the summary.
#[test]
fn cuda_training_when_available() {
    if !tch::Cuda::is_available() {
        eprintln!("skipped: libtorch sees no CUDA device");
        return;
    }
    let dir = temp_dir("cuda");
    let data = photos_train();
    let data = data.to_str().unwrap();
    for precision in ["f32", "bf16", "f16"] {
        let out = dir.join(precision);
        let mut a = short_run(out.to_str().unwrap(), data, "1", "auto");
        a.extend(["--precision", precision]);
        ok(&a);
        let s = json(&out.join("summary.json"));
        assert_eq!(s["device"], "cuda:0");
        assert_eq!(s["data_transform"], "device");
        if cfg!(feature = "cuda") {
            assert!(s["peak_gpu_mem_used_mib"].as_f64().unwrap() > 0.0, "{s}");
        }
        assert!(losses(&out).iter().all(|l| l.is_finite()));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// GPU-gated (2+ GPUs): `--gpus 2` equals `--accumulate 2` on one GPU within f32 rounding (NCCL's
/// summation order differs from sequential accumulation).
#[test]
fn two_gpus_equal_accumulation_when_available() {
    if tch::Cuda::device_count() < 2 {
        eprintln!("skipped: fewer than 2 CUDA devices");
        return;
    }
    let dir = temp_dir("gpus");
    let data = photos_train();
    let data = data.to_str().unwrap();
    let (acc, two) = (dir.join("acc"), dir.join("two"));
    let mut a = short_run(acc.to_str().unwrap(), data, "1", "cuda");
    a.extend(["--accumulate", "2"]);
    ok(&a);
    let mut b = short_run(two.to_str().unwrap(), data, "1", "cuda");
    b.extend(["--gpus", "2"]);
    ok(&b);
    for (x, y) in losses(&acc).iter().zip(&losses(&two)) {
        assert!((x - y).abs() <= 1e-4 * x.abs(), "{x} vs {y}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! End-to-end tests of the sampler: `train-sampler` (tiny preset, a few steps on a few images) with its
//! metrics, checkpoints and sheets, exact resume after SIGKILL, the non-finite rollback, `sample` from a
//! run and from the shipped defaults (seeds, truncation, outputs), and the pixel domain.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

mod common;

use common::{fails, json, ok, ok_env, repo, strings, text};

fn photos() -> PathBuf {
    common::photos().join("train")
}

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("sampler", name)
}

fn train_lines(run: &Path) -> Vec<Value> {
    common::metrics_of(run, "train")
}

/// A tiny run on 8 photos: `train-sampler --preset tiny … --out RUN` plus `extra`.
fn tiny(run: &Path, steps: &str, extra: &[&str]) -> Vec<String> {
    let mut v = strings(&[
        "train-sampler",
        "--preset",
        "tiny",
        "--limit",
        "8",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--steps",
        steps,
        "--data",
    ]);
    v.push(photos().display().to_string());
    v.push("--out".into());
    v.push(run.display().to_string());
    v.extend(strings(extra));
    v
}

/// A safetensors file's tensors: name → (dtype, shape, raw bytes).
fn safetensors(path: &Path) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out = Vec::new();
    for (name, v) in header.as_object().unwrap() {
        if name == "__metadata__" {
            continue;
        }
        let offs: Vec<usize> = v["data_offsets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        out.push((
            name.clone(),
            v["dtype"].as_str().unwrap().to_string(),
            v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .collect(),
            data[offs[0]..offs[1]].to_vec(),
        ));
    }
    out
}

fn f32s(raw: &[u8]) -> Vec<f32> {
    raw.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn find<'a>(
    t: &'a [(String, String, Vec<usize>, Vec<u8>)],
    name: &str,
) -> &'a (String, String, Vec<usize>, Vec<u8>) {
    t.iter()
        .find(|x| x.0 == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

fn pngs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("sample-")
        })
        .collect();
    v.sort();
    v
}

#[test]
fn tiny_run_writes_metrics_checkpoints_sheets_and_samples() {
    let dir = temp_dir("tiny");
    let run = dir.join("run");
    let decoder = repo().join("weights/nsbg-small.safetensors");
    let out = ok(&tiny(
        &run,
        "4",
        &[
            "--decoder",
            decoder.to_str().unwrap(),
            "--sample-every",
            "2",
        ],
    ));
    assert!(out.contains("step 4/4"), "{out}");
    let lines = train_lines(&run);
    assert_eq!(lines.len(), 4);
    for v in &lines {
        for k in [
            "loss_d",
            "loss_g",
            "d_real",
            "d_fake",
            "grad_norm_d",
            "grad_norm_g",
            "it_per_s",
        ] {
            assert!(v[k].as_f64().unwrap().is_finite(), "{k} in {v}");
        }
        // Hinge: the D loss is the sum of its two non-negative halves.
        let (d, r, f) = (
            v["loss_d"].as_f64().unwrap(),
            v["loss_d_real"].as_f64().unwrap(),
            v["loss_d_fake"].as_f64().unwrap(),
        );
        assert!(r >= 0.0 && f >= 0.0 && (d - r - f).abs() < 1e-4 * (1.0 + d));
        // σ(W) of every SN layer is logged; after 4 small steps it is still near its orthogonal init (1).
        let sn = v["sn_d"].as_object().unwrap();
        assert!(!sn.is_empty());
        for (name, s) in sn {
            let s = s.as_f64().unwrap();
            assert!(s > 0.5 && s < 2.0, "σ of {name} = {s}");
        }
    }
    let st = json(&run.join("checkpoint.json"));
    assert_eq!(st["kind"], "sampler");
    assert_eq!(st["step"], 4);
    // 2 micro-batches of 4 real images per step.
    assert_eq!(st["images"], 32);
    for k in ["g", "d", "g_ema", "adam_g", "adam_d"] {
        assert!(run.join(st["files"][k].as_str().unwrap()).is_file(), "{k}");
    }
    assert_eq!(
        std::fs::read_dir(run.join("checkpoints")).unwrap().count(),
        5,
        "older checkpoints are deleted"
    );
    for f in [
        "samples/step-00000002.png",
        "samples/step-00000004.png",
        "samples/step-00000004-decoded.png",
        "loss.png",
        "summary.json",
        "config.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let sheet = image::open(run.join("samples/step-00000004-decoded.png"))
        .unwrap()
        .to_rgb8();
    // 16 images of 256 in a 4×4 grid with 2-pixel gaps.
    assert_eq!(sheet.dimensions(), (4 * 256 + 6, 4 * 256 + 6));
    let summary = json(&run.join("summary.json"));
    assert!(summary["it_per_s"].as_f64().unwrap() > 0.0);

    // Sampling straight from the run folder (its G_ema): seed 5 as 3 images on 2 threads and as 5 images
    // on 1 thread (libtorch's CPU kernels sum in another order for either, which `sample` must hide:
    // the 3 are the first 3 of the 5, bit for bit), and seed 6.
    let sample = |seed: &str, n: &str, threads: &str, out: &Path| {
        let mut a = strings(&["sample", "--generator"]);
        a.push(run.display().to_string());
        a.extend(strings(&[
            "-n",
            n,
            "--seed",
            seed,
            "--threads",
            threads,
            "--device",
            "cpu",
            "--out",
        ]));
        a.push(out.display().to_string());
        ok(&a);
    };
    let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
    sample("5", "3", "2", &a);
    sample("5", "5", "1", &b);
    sample("6", "3", "2", &c);
    let (pa, pb, pc) = (pngs(&a), pngs(&b), pngs(&c));
    assert_eq!((pa.len(), pb.len()), (3, 5));
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(
            std::fs::read(x).unwrap(),
            std::fs::read(y).unwrap(),
            "{} vs {}",
            x.display(),
            y.display()
        );
    }
    assert_ne!(
        std::fs::read(&pa[0]).unwrap(),
        std::fs::read(&pc[0]).unwrap()
    );
    let ta = safetensors(&a.join("samples.safetensors"));
    let tc = safetensors(&c.join("samples.safetensors"));
    let low = find(&ta, "low_bands");
    assert_eq!((low.1.as_str(), low.2.clone()), ("F32", vec![3, 3, 64, 64]));
    assert_ne!(low.3, find(&tc, "low_bands").3, "another seed, same bands");
    let labels = find(&ta, "labels");
    assert_eq!((labels.1.as_str(), labels.2.clone()), ("I64", vec![3]));
    let tb = safetensors(&b.join("samples.safetensors"));
    let low_b = find(&tb, "low_bands");
    assert_eq!(low_b.2, vec![5, 3, 64, 64]);
    assert_eq!(
        low_b.3[..low.3.len()],
        low.3[..],
        "seed 5: -n 3 is not the start of -n 5"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills a run with SIGKILL after a checkpoint, resumes it, and checks that every logged loss equals the
/// uninterrupted run's bit for bit (1 libtorch thread).
#[test]
fn resume_after_sigkill_reproduces_the_uninterrupted_run() {
    let dir = temp_dir("resume");
    let (full, cut) = (dir.join("full"), dir.join("cut"));
    let extra = [
        "--checkpoint-every",
        "3",
        "--sample-every",
        "1000",
        "--seed",
        "3",
    ];
    ok(&tiny(&full, "12", &extra));
    let expected = train_lines(&full);
    assert_eq!(expected.len(), 12);

    let at = common::kill_after_checkpoint(&tiny(&cut, "12", &extra), &cut, 3, 12);
    let mut resume = tiny(&cut, "12", &extra);
    resume.push("--resume".into());
    ok(&resume);
    let got = train_lines(&cut);
    assert_eq!(got.len(), 12);
    for (e, g) in expected.iter().zip(&got) {
        assert_eq!(e["step"], g["step"]);
        for k in ["loss_d", "loss_g", "d_real", "d_fake", "grad_norm_g"] {
            assert_eq!(
                e[k].as_f64().unwrap().to_bits(),
                g[k].as_f64().unwrap().to_bits(),
                "step {}: {k} {} vs {} (resumed at {at})",
                e["step"],
                e[k],
                g[k]
            );
        }
    }
    // The final G_ema tensors are identical too.
    let ema = |run: &Path| {
        let st = json(&run.join("checkpoint.json"));
        std::fs::read(run.join(st["files"]["g_ema"].as_str().unwrap())).unwrap()
    };
    assert_eq!(ema(&full), ema(&cut));
    // A new run does not overwrite a finished one without --force.
    fails(&tiny(&full, "12", &extra), &["already holds", "--resume"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A NaN injected into the D loss at step 3 (test hook) rolls the run back to its checkpoint of step 2,
/// halves both learning rates and finishes.
#[test]
fn non_finite_loss_rolls_back_and_lowers_the_learning_rates() {
    let dir = temp_dir("nan");
    let run = dir.join("run");
    let out = ok_env(
        &tiny(
            &run,
            "5",
            &["--checkpoint-every", "2", "--sample-every", "1000"],
        ),
        &[("NSBG_TEST_NAN_AT_STEP", "3")],
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("rolled back to the checkpoint of step 2"),
        "{err}"
    );
    let all: Vec<Value> = std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rb: Vec<&Value> = all.iter().filter(|v| v["kind"] == "rollback").collect();
    assert_eq!(rb.len(), 1);
    assert_eq!(rb[0]["step"], 2);
    let lines = train_lines(&run);
    let steps: Vec<u64> = lines.iter().map(|v| v["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5]);
    for v in &lines {
        let s = v["step"].as_u64().unwrap();
        let (g, d) = (v["g_lr"].as_f64().unwrap(), v["d_lr"].as_f64().unwrap());
        let f = if s <= 2 { 1.0 } else { 0.5 };
        assert!(
            (g - 1e-4 * f).abs() < 1e-12 && (d - 4e-4 * f).abs() < 1e-12,
            "{v}"
        );
        assert!(v["loss_d"].as_f64().unwrap().is_finite());
    }
    let st = json(&run.join("checkpoint.json"));
    assert_eq!(
        (st["step"].as_u64(), st["rollbacks"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(st["lr_scale"].as_f64(), Some(0.5));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sample` with no generator or decoder arguments uses the shipped weights; seeds reproduce images,
/// truncation bounds or scales z.
#[test]
fn sample_uses_the_shipped_defaults() {
    let dir = temp_dir("defaults");
    let run = |out: &Path, extra: &[&str]| {
        let n = if extra.contains(&"-n") {
            &[][..]
        } else {
            &["-n", "4"][..]
        };
        let mut a = strings(&["sample", "--device", "cpu"]);
        a.extend(strings(n));
        a.push("--out".into());
        a.push(out.display().to_string());
        a.extend(strings(extra));
        ok(&a)
    };
    let (a, b) = (dir.join("a"), dir.join("b"));
    let t0 = Instant::now();
    run(&a, &[]);
    eprintln!("sample -n 4 took {:.1} s", t0.elapsed().as_secs_f64());
    run(&b, &[]);
    let (pa, pb) = (pngs(&a), pngs(&b));
    assert_eq!(pa.len(), 4);
    for (x, y) in pa.iter().zip(&pb) {
        let img = image::open(x).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (256, 256));
        assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
    }
    let grid = image::open(a.join("grid.png")).unwrap().to_rgb8();
    assert_eq!(grid.dimensions(), (2 * 256 + 2, 2 * 256 + 2));
    let t = safetensors(&a.join("samples.safetensors"));
    let low = find(&t, "low_bands");
    assert_eq!(low.2, vec![4, 3, 64, 64]);
    // Generated low bands are in wavelet units: G's tanh range maps to [−3, 7].
    let v = f32s(&low.3);
    assert!(v.iter().all(|x| (-3.0..=7.0).contains(x)));
    assert_eq!(find(&t, "labels").2, vec![4]);

    // Resampling: every |z| ≤ T. Scaling: std ≈ T.
    let c = dir.join("c");
    run(&c, &["--truncation", "0.5", "--trunc-mode", "resample"]);
    let z = f32s(&find(&safetensors(&c.join("samples.safetensors")), "z").3);
    assert!(z.len() >= 4 * 16 && z.iter().all(|x| x.abs() <= 0.5));
    let d = dir.join("d");
    run(
        &d,
        &["--truncation", "0.3", "--trunc-mode", "scale", "-n", "16"],
    );
    let z = f32s(&find(&safetensors(&d.join("samples.safetensors")), "z").3);
    let std = (z.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>() / z.len() as f64).sqrt();
    assert!((std - 0.3).abs() < 0.03, "std {std}");
    // Bad arguments are clean errors.
    let e = dir.join("e");
    let mut bad = strings(&["sample", "--out", e.to_str().unwrap(), "--truncation", "0"]);
    fails(&bad, &["--truncation"]);
    bad = strings(&["sample", "--out", e.to_str().unwrap(), "--classes", "7"]);
    fails(&bad, &["class 7 does not exist"]);
    bad = strings(&[
        "sample",
        "--out",
        e.to_str().unwrap(),
        "--generator",
        "/nonexistent",
    ]);
    fails(&bad, &["cannot read"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// NOT-SO-BIG-GAN-PIXEL: the same GAN on 64×64 pixels, decoded by the pixel decoder; a wavelet decoder
/// is refused for it.
#[test]
fn pixel_domain_end_to_end() {
    let dir = temp_dir("pixel");
    let run = dir.join("run");
    let pixel = repo().join("weights/nsbg-pixel-small.safetensors");
    ok(&tiny(
        &run,
        "2",
        &[
            "--domain",
            "pixel",
            "--arch",
            "biggan",
            "--decoder",
            pixel.to_str().unwrap(),
        ],
    ));
    let st = json(&run.join("checkpoint.json"));
    assert_eq!(st["config"]["domain"], "pixel");
    assert_eq!(st["config"]["norm"]["shift"], 0.0);
    assert!(run.join("samples/step-00000002-decoded.png").is_file());
    let out = dir.join("out");
    let mut a = strings(&["sample", "--generator"]);
    a.push(run.display().to_string());
    a.extend(strings(&["-n", "2", "--device", "cpu", "--out"]));
    a.push(out.display().to_string());
    ok(&a);
    assert_eq!(pngs(&out).len(), 2);
    let t = safetensors(&out.join("samples.safetensors"));
    let px = f32s(&find(&t, "images_64").3);
    assert!(px.iter().all(|x| (0.0..=1.0).contains(x)));
    a.extend(strings(&["--decoder"]));
    a.push(
        repo()
            .join("weights/nsbg-small.safetensors")
            .display()
            .to_string(),
    );
    fails(&a, &["pixel-decoder"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_train_sampler_arguments_are_clean_errors() {
    let dir = temp_dir("errors");
    let run = dir.join("run");
    fails(&tiny(&run, "1", &["--resume"]), &["checkpoint.json"]);
    let mut bad_preset = tiny(&run, "1", &[]);
    assert_eq!(bad_preset[2], "tiny");
    bad_preset[2] = "nope".into();
    fails(&bad_preset, &["unknown preset"]);
    fails(&tiny(&run, "1", &["--g-lr", "0"]), &["learning rate"]);
    fails(&tiny(&run, "1", &["--g-ch", "0"]), &["g_ch"]);
    fails(
        &tiny(&run, "1", &["--domain", "pixel", "--norm-scale", "4"]),
        &["wavelet domain only"],
    );
    fails(
        &tiny(&run, "1", &["--batch", "100"]),
        &["fewer than one batch"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `demo` runs the whole pipeline from scratch (decoders, export, both samplers, export, sampling) —
/// here on 8 photos and a tiny budget, so only the plumbing and the outputs are checked.
#[test]
fn demo_trains_every_network_and_samples() {
    let dir = temp_dir("demo");
    let data = dir.join("photos");
    std::fs::create_dir_all(&data).unwrap();
    let mut names: Vec<PathBuf> = std::fs::read_dir(photos())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names.iter().take(8) {
        std::fs::copy(p, data.join(p.file_name().unwrap())).unwrap();
    }
    let out = dir.join("demo");
    let stdout = ok(&strings(&[
        "demo",
        "--minutes",
        "0.3",
        "--pixel",
        "--threads",
        "1",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(stdout.contains("demo finished"));
    for (weights, kind) in [
        (
            "nsbg-tiny.safetensors",
            nsbg_core::weights::Kind::WaveletDecoder,
        ),
        (
            "nsbg-pixel-tiny.safetensors",
            nsbg_core::weights::Kind::PixelDecoder,
        ),
    ] {
        let bytes = std::fs::read(out.join(weights)).unwrap();
        let file = nsbg_core::weights::parse(&bytes).unwrap();
        assert_eq!(file.kind(), kind);
        assert_eq!(
            (file.config().in_size(), file.config().out_size()),
            (64, 256)
        );
    }
    for domain in ["wavelet", "pixel"] {
        assert!(out
            .join(format!("generator-{domain}-tiny.safetensors"))
            .is_file());
        let samples = out.join(format!("samples-{domain}"));
        let grid = image::open(samples.join("grid.png")).unwrap();
        assert!(grid.width() >= 256 && grid.height() >= 256);
        let pngs = std::fs::read_dir(&samples)
            .unwrap()
            .filter(|e| {
                let n = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                n.ends_with(".png") && n != "grid.png"
            })
            .count();
        assert_eq!(pngs, 16, "{domain}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

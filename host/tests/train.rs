//! End-to-end tests of the decoder pipeline: libtorch linking, training (tiny preset, a few steps on a
//! few images), checkpoints and exact resume after SIGKILL, export, core-vs-tch decoding parity,
//! reconstruction evaluation, presets and flags, and robustness to unreadable files.
//!
//! The photos are found in `$NSBG_SHARED/data/photos` or `<repo>/../shared/data/photos`.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::{bin, fails, json, metrics, ok, photos, run, text};

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("train", name)
}

/// Sorted file names in a folder.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Losses of every train line, by step.
fn train_losses(run: &Path) -> Vec<(u64, f64)> {
    common::metrics_of(run, "train")
        .iter()
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

/// Common flags of a fast tiny run.
fn tiny<'a>(out: &'a str, level: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        "--preset",
        "tiny",
        "--level",
        level,
        "--out",
        out,
        "--steps",
        steps,
        "--limit",
        "8",
        "--val-limit",
        "4",
        "--device",
        "cpu",
    ]
}

#[test]
fn binary_runs_without_environment_and_links_libtorch() {
    for args in [&["--help"][..], &["torch-info"][..]] {
        let out = Command::new(bin()).args(args).env_clear().output().unwrap();
        assert!(
            out.status.success(),
            "env -i nsbg-host {args:?}: {}",
            text(&out.stderr)
        );
        if args[0] == "torch-info" {
            let s = text(&out.stdout);
            assert!(s.contains("libtorch: /"), "{s}");
            assert!(s.contains("CUDA"), "{s}");
        }
    }
}

#[test]
fn tiny_pipeline_train_export_decode_parity_eval() {
    let dir = temp_dir("pipeline");
    let (r1, r2) = (dir.join("l1"), dir.join("l2"));
    let (r1s, r2s) = (r1.to_str().unwrap(), r2.to_str().unwrap());
    let mut a = vec!["train-decoder"];
    a.extend(tiny(r1s, "1", "6"));
    a.extend([
        "--val-every",
        "3",
        "--sample-every",
        "3",
        "--checkpoint-every",
        "3",
    ]);
    let stdout = ok(&a);
    assert!(stdout.contains("step 6/6"), "{stdout}");
    let mut a = vec!["train-decoder"];
    a.extend(tiny(r2s, "2", "4"));
    ok(&a);

    // Run folder contents.
    for f in [
        "checkpoint.json",
        "config.json",
        "metrics.jsonl",
        "loss.png",
        "summary.json",
    ] {
        assert!(r1.join(f).is_file(), "missing {f}");
    }
    let state = json(&r1.join("checkpoint.json"));
    assert_eq!(state["step"], 6);
    assert!(r1.join(state["model_file"].as_str().unwrap()).is_file());
    assert!(r1.join(state["optimizer_file"].as_str().unwrap()).is_file());
    let best = &state["best"];
    assert!(
        [0, 3, 6].contains(&best["step"].as_u64().unwrap()),
        "{state}"
    );
    // Exactly the best step's model (older best models are removed) and its record.
    let best_step = best["step"].as_u64().unwrap();
    assert_eq!(
        file_names(&r1.join("best")),
        vec![
            "best.json".to_string(),
            format!("model-{best_step:08}.safetensors")
        ]
    );
    let files: Vec<_> = std::fs::read_dir(r1.join("checkpoints"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(files.len(), 2, "old checkpoints not cleaned up");
    let m = metrics(&r1);
    assert_eq!(m.iter().filter(|v| v["kind"] == "train").count(), 6);
    let vals: Vec<_> = m.iter().filter(|v| v["kind"] == "val").collect();
    assert_eq!(vals.len(), 3); // steps 0, 3, 6
    assert_eq!(vals[0]["step"], 0);
    assert!(vals[0]["val_loss"].as_f64().unwrap() > 0.0);
    assert!(vals[0]["val_zero_loss"].as_f64().unwrap() > 0.0);
    let plot = image::open(r1.join("loss.png")).unwrap();
    assert_eq!((plot.width(), plot.height()), (800, 480));
    let grid = image::open(r1.join("samples/step-00000006.png")).unwrap();
    // 4 rows of (64→128 input ×2, prediction, truth) at 128 px with 2 px gaps.
    assert_eq!((grid.width(), grid.height()), (3 * 128 + 4, 4 * 128 + 6));
    assert!(r1.join("samples/step-00000003.png").is_file());
    let summary = json(&r1.join("summary.json"));
    assert!(summary["images_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["train_images"], 8);

    // Export both levels (f32 and f16); the file is a valid v1 wavelet decoder.
    let w = dir.join("tiny.safetensors");
    let ws = w.to_str().unwrap();
    ok(&["export", r2s, r1s, "--out", ws]);
    let bytes = std::fs::read(&w).unwrap();
    let file = nsbg_core::weights::parse(&bytes).unwrap();
    assert_eq!(file.kind().name(), "wavelet-decoder");
    assert_eq!(file.config().level_count(), 2);
    assert_eq!(
        (file.config().in_size(), file.config().out_size()),
        (64, 256)
    );
    assert!(file.metadata().contains_key("nsbg.trained_with"));
    let w16 = dir.join("tiny16.safetensors");
    ok(&[
        "export",
        r1s,
        r2s,
        "--out",
        w16.to_str().unwrap(),
        "--dtype",
        "f16",
    ]);
    assert!(std::fs::metadata(&w16).unwrap().len() < bytes.len() as u64 * 6 / 10);
    fails(&["export", r1s, r1s, "--out", ws], &["consecutive"]);
    let wb = dir.join("best.safetensors");
    ok(&["export", r1s, r2s, "--out", wb.to_str().unwrap(), "--best"]);
    let best_bytes = std::fs::read(&wb).unwrap();
    let meta =
        nsbg_core::weights::parse(&best_bytes).unwrap().metadata()["nsbg.trained_with"].clone();
    assert!(meta.contains("\"checkpoint\":\"best\""), "{meta}");

    // Decode two 256×256 photos with both backends: outputs agree to 1e-4.
    let val = photos().join("val");
    let inputs = [
        "skimage__chelsea__full.png",
        "matplotlib__grace_hopper__full.png",
    ];
    let mut outs = Vec::new();
    for backend in ["core", "tch"] {
        let out = dir.join(format!("decoded-{backend}"));
        let mut a = vec![
            "decode",
            "--weights",
            ws,
            "--backend",
            backend,
            "--raw",
            "--device",
            "cpu",
        ];
        a.push("--out");
        a.push(out.to_str().unwrap());
        a.push("--input");
        let paths: Vec<String> = inputs
            .iter()
            .map(|i| val.join(i).display().to_string())
            .collect();
        a.extend(paths.iter().map(|s| s.as_str()));
        let stdout = ok(&a);
        assert!(stdout.contains("PSNR"), "{stdout}");
        let raws: Vec<Vec<f32>> = inputs
            .iter()
            .map(|i| {
                let name = Path::new(i).with_extension("f32");
                let b = std::fs::read(out.join(name)).unwrap();
                b.chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            })
            .collect();
        assert!(out.join("skimage__chelsea__full.png").is_file());
        outs.push(raws);
    }
    for (c, t) in outs[0].iter().zip(&outs[1]) {
        assert_eq!(c.len(), 3 * 256 * 256);
        let err = c
            .iter()
            .zip(t)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(err <= 1e-4, "core and tch backends differ by {err}");
    }

    // Pixel decoder, then the reconstruction table with both decoders.
    let (p1, p2) = (dir.join("p1"), dir.join("p2"));
    let mut a = vec!["train-pixel"];
    a.extend(tiny(p1.to_str().unwrap(), "1", "2"));
    ok(&a);
    let mut a = vec!["train-pixel"];
    a.extend(tiny(p2.to_str().unwrap(), "2", "2"));
    ok(&a);
    let pw = dir.join("pixel.safetensors");
    ok(&[
        "export",
        p1.to_str().unwrap(),
        p2.to_str().unwrap(),
        "--out",
        pw.to_str().unwrap(),
    ]);
    let report_dir = dir.join("eval");
    let stdout = ok(&[
        "eval-recon",
        "--weights",
        ws,
        "--pixel-weights",
        pw.to_str().unwrap(),
        "--limit",
        "3",
        "--out",
        report_dir.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(stdout.contains("| low band only"), "{stdout}");
    let report = json(&report_dir.join("eval-recon.json"));
    let rows = report["rows"].as_array().unwrap();
    let get = |name: &str| {
        rows.iter()
            .find(|r| r["method"].as_str().unwrap().starts_with(name))
            .unwrap()["mse"]
            .as_f64()
            .unwrap()
    };
    assert!(get("perfect details") <= 1e-10);
    let low = get("low band only");
    assert!(low > 1e-4 && low < 1e-2, "{low}");
    assert!(get("bicubic") > 1e-4);
    assert!(get("NSBG-PIXEL") > 0.0 && get("NSBG (wavelet") > 0.0);
    assert!(report["levels"]["nsbg"]["level1"]["loss"].as_f64().unwrap() > 0.0);
    assert!(report_dir.join("eval-recon.md").is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills a run with SIGKILL after its first checkpoint, resumes it, and checks that every loss equals the
/// uninterrupted run's (1 libtorch thread, deterministic CPU ops).
#[test]
fn resume_after_sigkill_reproduces_the_uninterrupted_run() {
    let dir = temp_dir("resume");
    let (full, cut) = (dir.join("full"), dir.join("cut"));
    let steps = "40";
    let base = |out: &Path| -> Vec<String> {
        [
            "train-decoder",
            "--preset",
            "tiny",
            "--level",
            "1",
            "--steps",
            steps,
            "--limit",
            "8",
            "--no-val",
            "--threads",
            "1",
            "--workers",
            "2",
            "--device",
            "cpu",
            "--seed",
            "7",
            "--checkpoint-every",
            "5",
            "--log-every",
            "1",
            "--sample-every",
            "1000",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let full_args = base(&full);
    ok(&full_args.iter().map(String::as_str).collect::<Vec<_>>());
    let expected = train_losses(&full);
    assert_eq!(expected.len(), 40);

    let at = common::kill_after_checkpoint(&base(&cut), &cut, 5, 40);

    let mut resume: Vec<String> = base(&cut);
    resume.push("--resume".into());
    ok(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    let got = train_losses(&cut);
    assert_eq!(got.len(), 40, "{got:?}");
    for ((s1, l1), (s2, l2)) in expected.iter().zip(&got) {
        assert_eq!(s1, s2);
        assert_eq!(
            l1.to_bits(),
            l2.to_bits(),
            "step {s1}: {l1} vs {l2} (resumed at {at})"
        );
    }
    let summary = json(&cut.join("summary.json"));
    assert_eq!(summary["step"], 40);
    // A finished run resumes to a no-op; a new run does not overwrite it without --force.
    ok(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    fails(
        &full_args.iter().map(String::as_str).collect::<Vec<_>>(),
        &["already holds", "--resume"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_files_are_skipped_and_counted() {
    let dir = temp_dir("skip");
    let data = dir.join("data/class_a");
    std::fs::create_dir_all(&data).unwrap();
    let val = photos().join("val");
    let names: Vec<PathBuf> = file_names(&val).iter().map(|n| val.join(n)).collect();
    for p in names.iter().take(5) {
        std::fs::copy(p, data.join(p.file_name().unwrap())).unwrap();
    }
    // A non-image with an image name, and a truncated PNG.
    std::fs::write(data.join("zz_text.png"), b"not an image").unwrap();
    let bytes = std::fs::read(&names[0]).unwrap();
    std::fs::write(data.join("zz_cut.png"), &bytes[..bytes.len() / 3]).unwrap();
    // A JPEG copy and a small image (centre crop pads it).
    let img = image::open(&names[1]).unwrap();
    img.to_rgb8().save(data.join("b.jpg")).unwrap();
    img.crop_imm(0, 0, 200, 180)
        .to_rgb8()
        .save(data.join("c_small.png"))
        .unwrap();
    let run_dir = dir.join("run");
    let out = run(&[
        "train-decoder",
        "--preset",
        "tiny",
        "--level",
        "1",
        "--steps",
        "2",
        "--data",
        dir.join("data").to_str().unwrap(),
        "--no-val",
        "--out",
        run_dir.to_str().unwrap(),
        "--device",
        "cpu",
        "--cache",
        dir.join("cache").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("2 unreadable file(s) skipped"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stdout).contains("skipped files: 2 train"),
        "{}",
        text(&out.stdout)
    );
    let summary = json(&run_dir.join("summary.json"));
    assert_eq!(summary["train_images"], 7);
    assert_eq!(summary["train_skipped"], 2);
    // Second run reads the cache and still reports the skipped files.
    let out = run(&[
        "train-pixel",
        "--preset",
        "tiny",
        "--level",
        "1",
        "--steps",
        "1",
        "--data",
        dir.join("data").to_str().unwrap(),
        "--no-val",
        "--out",
        dir.join("run2").to_str().unwrap(),
        "--device",
        "cpu",
        "--cache",
        dir.join("cache").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("skipped files: 2 train"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn presets_flags_and_errors() {
    let dir = temp_dir("flags");
    let r = dir.join("r");
    let rs = r.to_str().unwrap();
    ok(&[
        "train-decoder",
        "--preset",
        "tiny",
        "--level",
        "1",
        "--steps",
        "1",
        "--limit",
        "4",
        "--no-val",
        "--out",
        rs,
        "--lr",
        "0.0005",
        "--batch",
        "2",
        "--width",
        "8",
        "--tail-width",
        "4",
        "--depth",
        "2",
        "--extension",
        "periodization",
        "--device",
        "cpu",
    ]);
    let cfg = json(&r.join("config.json"));
    assert_eq!(cfg["preset"], "tiny");
    assert_eq!(cfg["adam"]["lr"], 0.0005);
    assert_eq!(cfg["batch"], 2);
    assert_eq!(
        (
            cfg["width"].as_u64(),
            cfg["tail_width"].as_u64(),
            cfg["depth"].as_u64()
        ),
        (Some(8), Some(4), Some(2))
    );
    assert_eq!(cfg["extension"], "periodization");
    // A preset file with the same fields works.
    let preset = dir.join("mine.toml");
    let text_preset =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/tiny.toml"))
            .unwrap()
            .replace("name = \"tiny\"", "name = \"mine\"");
    std::fs::write(&preset, text_preset).unwrap();
    let r2 = dir.join("r2");
    ok(&[
        "train-pixel",
        "--preset",
        preset.to_str().unwrap(),
        "--level",
        "2",
        "--steps",
        "1",
        "--limit",
        "4",
        "--no-val",
        "--out",
        r2.to_str().unwrap(),
        "--pixel-loss",
        "mean",
        "--base",
        "2",
        "--device",
        "cpu",
    ]);
    let cfg = json(&r2.join("config.json"));
    assert_eq!(
        (
            cfg["preset"].as_str(),
            cfg["pixel_loss"].as_str(),
            cfg["base"].as_u64()
        ),
        (Some("mine"), Some("mean"), Some(2))
    );

    let e = dir.join("e");
    let es = e.to_str().unwrap();
    fails(
        &[
            "train-decoder",
            "--preset",
            "huge",
            "--level",
            "1",
            "--out",
            es,
        ],
        &["unknown preset", "huge"],
    );
    fails(
        &["train-decoder", "--preset", "tiny", "--out", es],
        &["--level"],
    );
    fails(
        &[
            "train-decoder",
            "--preset",
            "tiny",
            "--level",
            "1",
            "--out",
            es,
            "--resume",
        ],
        &["checkpoint.json"],
    );
    fails(
        &[
            "train-decoder",
            "--preset",
            "tiny",
            "--level",
            "2",
            "--level2-input",
            "chained",
            "--out",
            es,
        ],
        &["--level1-weights"],
    );
    fails(
        &[
            "train-decoder",
            "--preset",
            "tiny",
            "--level",
            "1",
            "--out",
            es,
            "--data",
            dir.join("nowhere").to_str().unwrap(),
        ],
        &["nowhere"],
    );
    fails(
        &[
            "train-decoder",
            "--preset",
            "tiny",
            "--level",
            "1",
            "--out",
            es,
            "--width",
            "0",
        ],
        &["width"],
    );
    fails(
        &[
            "train-decoder",
            "--preset",
            "tiny",
            "--level",
            "1",
            "--out",
            es,
            "--device",
            "tpu",
        ],
        &["unknown device"],
    );
    fails(
        &[
            "train-pixel",
            "--preset",
            "tiny",
            "--level",
            "1",
            "--out",
            rs,
            "--resume",
        ],
        &["wavelet"],
    );
    fails(
        &[
            "decode",
            "--weights",
            dir.join("none.safetensors").to_str().unwrap(),
            "--input",
            "x.png",
            "--out",
            es,
        ],
        &["none.safetensors"],
    );
    let bogus = dir.join("bogus.safetensors");
    std::fs::write(&bogus, b"12345678").unwrap();
    fails(
        &[
            "decode",
            "--weights",
            bogus.to_str().unwrap(),
            "--input",
            "x.png",
            "--out",
            es,
        ],
        &["bogus.safetensors"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn chained_level2_training_uses_an_exported_level1() {
    let dir = temp_dir("chained");
    let (r1, r2) = (dir.join("l1"), dir.join("l2"));
    let mut a = vec!["train-decoder"];
    a.extend(tiny(r1.to_str().unwrap(), "1", "2"));
    ok(&a);
    let w1 = dir.join("l1.safetensors");
    ok(&[
        "export",
        r1.to_str().unwrap(),
        "--out",
        w1.to_str().unwrap(),
    ]);
    let file = std::fs::read(&w1).unwrap();
    let parsed = nsbg_core::weights::parse(&file).unwrap();
    assert_eq!(
        (parsed.config().in_size(), parsed.config().out_size()),
        (64, 128)
    );
    let mut a = vec!["train-decoder"];
    a.extend(tiny(r2.to_str().unwrap(), "2", "2"));
    a.extend([
        "--level2-input",
        "chained",
        "--level1-weights",
        w1.to_str().unwrap(),
    ]);
    ok(&a);
    assert_eq!(json(&r2.join("config.json"))["level2_input"], "chained");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `decode` without `--weights` uses the shipped small decoder when this build has it (weights/ present
/// at build time), and otherwise says so cleanly.
#[test]
fn decode_uses_the_shipped_weights_by_default() {
    let dir = temp_dir("default");
    let photo = photos().join("val/skimage__chelsea__full.png");
    let out = run(&[
        "decode",
        "--input",
        photo.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../weights/nsbg-small.safetensors");
    if shipped.is_file() {
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("built-in weights/nsbg-small.safetensors"));
        let img = image::open(dir.join("skimage__chelsea__full.png")).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256));
        // A decoder trained from the low-band-only baseline stays close to it: PSNR well above 20 dB.
        let s = text(&out.stdout);
        let psnr: f64 = s
            .split("PSNR ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(psnr > 25.0, "{s}");
    } else {
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("no --weights given"),
            "{}",
            text(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--holdout K` validates (and keeps `best/`) on K source pictures held out of the training folder,
/// never on crops of a picture it trains on, and leaves `--val-data` out of training entirely; with
/// `--augment true` the training part is seen in its 8 dihedral views.
#[test]
fn holdout_validates_on_unseen_training_pictures() {
    let dir = temp_dir("holdout");
    let data = dir.join("train");
    std::fs::create_dir_all(&data).unwrap();
    // Three source pictures, two crops each.
    let src = photos().join("train");
    let mut picked = Vec::new();
    for n in &file_names(&src) {
        let source = &n[..n.rfind("__").unwrap()];
        let have = picked
            .iter()
            .filter(|p: &&String| p.starts_with(source))
            .count();
        let sources: std::collections::BTreeSet<&str> = picked
            .iter()
            .map(|p: &String| &p[..p.rfind("__").unwrap()])
            .collect();
        if have < 2 && (sources.contains(source) || sources.len() < 3) {
            picked.push(n.clone());
        }
    }
    assert_eq!(picked.len(), 6);
    for n in &picked {
        std::fs::copy(src.join(n), data.join(n)).unwrap();
    }
    let run_dir = dir.join("run");
    let (d, r) = (data.to_str().unwrap(), run_dir.to_str().unwrap());
    let out = run(&[
        "train-decoder",
        "--preset",
        "tiny",
        "--level",
        "1",
        "--steps",
        "2",
        "--device",
        "cpu",
        "--data",
        d,
        "--out",
        r,
        "--holdout",
        "1",
        "--augment",
        "true",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("held-out source picture"))
        .unwrap_or_else(|| panic!("no holdout line in {err}"));
    let held = line.rsplit(": ").next().unwrap().trim();
    assert!(
        picked.iter().filter(|p| p.starts_with(held)).count() == 2,
        "{line}"
    );
    let summary = json(&run_dir.join("summary.json"));
    assert_eq!(summary["val_source"], "holdout");
    assert_eq!(summary["val_images"], 2);
    assert_eq!(summary["train_images"], 4);
    // --augment: the 8 dihedral views of each training image, validation images as they are.
    assert_eq!(summary["train_views"], 32);
    assert_eq!(json(&run_dir.join("config.json"))["augment"], true);
    assert_eq!(json(&run_dir.join("config.json"))["holdout"], 1);
    assert!(metrics(&run_dir).iter().any(|m| m["kind"] == "val"));
    let new_run = |extra: &[&'static str]| {
        let mut a = vec![
            "train-decoder",
            "--preset",
            "tiny",
            "--level",
            "1",
            "--data",
            d,
            "--out",
            r,
            "--force",
        ];
        a.extend_from_slice(extra);
        a
    };
    fails(
        &new_run(&["--holdout", "1", "--val-data", "x"]),
        &["--holdout", "--val-data"],
    );
    fails(
        &new_run(&["--holdout", "3"]),
        &["cannot hold out 3", "only 3"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

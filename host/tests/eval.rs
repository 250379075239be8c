//! End-to-end tests of sample-quality evaluation (`eval-samples`, `sweep-truncation`) and of the compute
//! record of training runs (`compute.json`, `report`), on the shared photos.
//!
//! The Inception test uses a tiny random-weight TorchScript module made by
//! `scripts/make_tiny_inception.py` with the `python` on PATH (the PyTorch venv of
//! `~/.cache/nsbg/env.sh`); it is skipped with a message when that python has no torch.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

mod common;

use common::{fails, json, ok, photos, text};

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("eval", name)
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `eval-samples` of `samples` (first `n`) against the first `n` training photos; returns the JSON.
fn eval(dir: &Path, name: &str, samples: &Path, n: &str, extra: &[&str]) -> Value {
    let out = dir.join(format!("{name}.json"));
    let md = dir.join(format!("{name}.md"));
    let train = photos().join("train");
    let mut args = vec![
        "eval-samples",
        "--samples",
        samples.to_str().unwrap(),
        "-n",
        n,
        "--reference",
        train.to_str().unwrap(),
        "--reference-limit",
        n,
        "--kid-subsets",
        "5",
        "--device",
        "cpu",
        "--json",
        out.to_str().unwrap(),
        "--markdown",
        md.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let stdout = ok(&args);
    assert!(
        stdout.contains("| reference |"),
        "no table printed: {stdout}"
    );
    assert_eq!(std::fs::read_to_string(&md).unwrap(), stdout);
    json(&out)
}

#[test]
fn swd_and_kid_without_inception() {
    let dir = temp_dir("swd");
    let p = photos();
    let other = eval(&dir, "val", &p.join("val"), "6", &[]);
    let real = &other["real"];
    assert_eq!(other["sample_images"], 6);
    assert_eq!(real["reference_images"], 6);
    assert_eq!(
        other["swd_resolutions"],
        serde_json::json!([256, 128, 64, 32, 16])
    );
    let levels = real["swd_levels"].as_array().unwrap();
    assert_eq!(levels.len(), 5);
    assert!(levels.iter().all(|v| f(v) > 1.0), "{levels:?}");
    assert!(f(&real["kid_patches"]["mean"]).is_finite());
    assert_eq!(real["kid_patches"]["subsets"], 5);
    assert!(real["fid"].is_null() && other["inception_score"].is_null());
    assert!(other["reconstructions"].is_null());
    // The same photos as the reference: SWD exactly 0 (same patch positions), KID far below.
    let same = eval(&dir, "same", &p.join("train"), "6", &[]);
    assert!(same["real"]["swd_levels"]
        .as_array()
        .unwrap()
        .iter()
        .all(|v| f(v) == 0.0));
    assert!(f(&same["real"]["kid_patches"]["mean"]) < f(&real["kid_patches"]["mean"]));
    // Seeded: the same seed repeats every number, another seed does not.
    let again = eval(&dir, "again", &p.join("val"), "6", &[]);
    assert_eq!(again["real"]["swd_levels"], real["swd_levels"]);
    assert_eq!(again["real"]["kid_patches"], real["kid_patches"]);
    let seeded = eval(&dir, "seed", &p.join("val"), "6", &["--seed", "3"]);
    assert_ne!(seeded["real"]["swd_levels"], real["swd_levels"]);
    // --star adds SWD*/KID* against the shipped decoder's reconstructions of the reference.
    let star = eval(&dir, "star", &p.join("val"), "4", &["--star"]);
    let rec = &star["reconstructions"];
    assert!(
        rec["reference"].as_str().unwrap().contains("decoded by"),
        "{rec}"
    );
    assert!(f(&rec["swd"]) > 0.0 && rec["fid"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Makes the tiny Inception fixture, or explains why not.
fn tiny_inception(dir: &Path) -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make_tiny_inception.py");
    let out = dir.join("tiny_inception.pt");
    match Command::new("python").arg(&script).arg(&out).output() {
        Ok(o) if o.status.success() && out.is_file() => Some(out),
        Ok(o) => {
            eprintln!(
                "SKIPPED: python could not make the TorchScript fixture (torch missing? source \
                 ~/.cache/nsbg/env.sh): {}",
                text(&o.stderr)
            );
            None
        }
        Err(e) => {
            eprintln!("SKIPPED: no python on PATH ({e}); source ~/.cache/nsbg/env.sh");
            None
        }
    }
}

#[test]
fn fid_is_and_fid_star_with_a_torchscript_inception() {
    let dir = temp_dir("inception");
    let Some(net) = tiny_inception(&dir) else {
        return;
    };
    let net = net.to_str().unwrap();
    let p = photos();
    let r = eval(&dir, "val", &p.join("val"), "10", &["--inception", net]);
    let fid = f(&r["real"]["fid"]);
    let fid_star = f(&r["reconstructions"]["fid"]);
    assert!(fid > 0.0 && fid_star > 0.0, "{fid} {fid_star}");
    let is = &r["inception_score"];
    assert_eq!(is["splits"], 10);
    assert!(
        f(&is["mean"]) >= 1.0 - 1e-9 && f(&is["mean"]) <= 10.0,
        "{is}"
    );
    assert!(f(&r["real"]["kid_inception"]["mean"]).is_finite());
    assert!(r["decoder"].as_str().unwrap().contains("nsbg-small"));
    // FID of a set with itself is 0; against the reconstructions it is not.
    let same = eval(&dir, "same", &p.join("train"), "10", &["--inception", net]);
    assert!(f(&same["real"]["fid"]) <= 1e-6, "{}", same["real"]["fid"]);
    assert!(f(&same["reconstructions"]["fid"]) > 1e-6);
    // A file that is not TorchScript is a clean error.
    let bad = dir.join("bad.pt");
    std::fs::write(&bad, b"not a module").unwrap();
    let train = p.join("train");
    fails(
        &[
            "eval-samples",
            "--samples",
            train.to_str().unwrap(),
            "--reference",
            train.to_str().unwrap(),
            "--inception",
            bad.to_str().unwrap(),
            "--device",
            "cpu",
        ],
        &["not a TorchScript module", "export_fid_inception.py"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_fail_cleanly() {
    let dir = temp_dir("bad");
    let train = photos().join("train");
    let t = train.to_str().unwrap();
    let missing = dir.join("missing");
    let m = missing.to_str().unwrap();
    fails(
        &["eval-samples", "--samples", t, "--reference", m],
        &["missing"],
    );
    fails(
        &[
            "eval-samples",
            "--samples",
            m,
            "--reference",
            t,
            "--device",
            "cpu",
        ],
        &["missing"],
    );
    fails(
        &[
            "eval-samples",
            "--samples",
            t,
            "--reference",
            t,
            "--inception",
            m,
            "--device",
            "cpu",
        ],
        &["does not exist"],
    );
    fails(
        &[
            "eval-samples",
            "--samples",
            t,
            "--reference",
            t,
            "--size",
            "8",
            "--device",
            "cpu",
        ],
        &["SWD needs images of at least 16"],
    );
    fails(&["eval-samples", "--reference", t], &["--samples"]);
    fails(
        &[
            "eval-samples",
            "--generator",
            m,
            "--reference",
            t,
            "--device",
            "cpu",
        ],
        &["missing"],
    );
    fails(
        &[
            "sweep-truncation",
            "--generator",
            m,
            "--reference",
            t,
            "--truncations",
            "0.5,1",
            "--out",
            m,
        ],
        &["missing"],
    );
    fails(&["report", t], &["compute.json"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn training_records_compute_and_report_tabulates_it() {
    let dir = temp_dir("compute");
    let run_dir = dir.join("l1");
    let r = run_dir.to_str().unwrap();
    let train = photos().join("train");
    let common = [
        "train-decoder",
        "--preset",
        "tiny",
        "--level",
        "1",
        "--out",
        r,
        "--limit",
        "4",
        "--no-val",
        "--device",
        "cpu",
        "--power-watts",
        "50",
        "--data",
        train.to_str().unwrap(),
    ];
    let mut args = common.to_vec();
    args.extend(["--steps", "3"]);
    ok(&args);
    let c1 = json(&run_dir.join("compute.json"));
    let summary = json(&run_dir.join("summary.json"));
    assert_eq!(c1["command"], "train-decoder");
    assert_eq!(c1["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(c1["images"], summary["images"]);
    assert!(c1["images"].as_u64().unwrap() >= 3);
    let s = &c1["sessions"][0];
    assert_eq!(s["finished"], true);
    assert_eq!(s["device"], "cpu");
    assert_eq!(s["power_watts"], 50.0);
    assert!((f(&c1["energy_j"]) - 50.0 * f(&c1["wall_s"])).abs() < 1e-6);
    // Resume: a second session; the totals accumulate.
    let mut args = common.to_vec();
    args.extend(["--steps", "5", "--resume"]);
    ok(&args);
    let c2 = json(&run_dir.join("compute.json"));
    let summary = json(&run_dir.join("summary.json"));
    assert_eq!(c2["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(c2["images"], summary["images"]);
    assert!(f(&c2["wall_s"]) > f(&c1["wall_s"]));
    // report: table, JSON and plots.
    let out = dir.join("report");
    let stdout = ok(&["report", r, "--out", out.to_str().unwrap()]);
    assert!(
        stdout.contains("| l1 | train-decoder | cpu | 2 |"),
        "{stdout}"
    );
    assert!(stdout.contains("**total**"));
    let rows = json(&out.join("report.json"));
    assert_eq!(rows[0]["images"], c2["images"]);
    assert!((f(&rows[0]["kwh"]) - f(&c2["energy_j"]) / 3.6e6).abs() < 1e-12);
    for png in ["images.png", "energy.png"] {
        let img = image::open(out.join(png)).unwrap().to_rgb8();
        assert!(
            img.pixels().any(|p| p.0 == [31, 119, 180]),
            "{png}: no curve"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generator_evaluation_and_truncation_sweep() {
    let dir = temp_dir("generator");
    let run_dir = dir.join("gan");
    let r = run_dir.to_str().unwrap();
    let p = photos();
    let train = p.join("train");
    let val = p.join("val");
    // A tiny sampler (2 steps): what matters here is the plumbing, not the quality.
    ok(&[
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
        "2",
        "--data",
        train.to_str().unwrap(),
        "--out",
        r,
        "--power-watts",
        "20",
    ]);
    let c = json(&run_dir.join("compute.json"));
    assert_eq!(c["command"], "train-sampler");
    assert_eq!(c["images"], json(&run_dir.join("summary.json"))["images"]);
    assert!((f(&c["energy_j"]) - 20.0 * f(&c["wall_s"])).abs() < 1e-6);
    let common = [
        "--reference",
        val.to_str().unwrap(),
        "--reference-limit",
        "4",
        "--kid-subsets",
        "3",
        "--device",
        "cpu",
        // One libtorch thread: the seeded repeat below is compared bit for bit.
        "--threads",
        "1",
        "-n",
        "4",
    ];
    let eval_gen = |name: &str, t: &str| -> Value {
        let out = dir.join(format!("{name}.json"));
        let mut args = vec![
            "eval-samples",
            "--generator",
            r,
            "--truncation",
            t,
            "--star",
        ];
        args.extend(common);
        args.extend(["--json", out.to_str().unwrap()]);
        ok(&args);
        json(&out)
    };
    let a = eval_gen("a", "0.5");
    assert_eq!(a["sample_images"], 4);
    assert!(a["samples"].as_str().unwrap().contains("decoded by"));
    // FID*/SWD* use the generator's own decoder.
    assert!(
        a["decoder"].as_str().unwrap().contains("nsbg-small"),
        "{}",
        a["decoder"]
    );
    assert!(f(&a["real"]["swd"]) > 0.0 && f(&a["reconstructions"]["swd"]) > 0.0);
    // Seeded sampling: the same truncation repeats every number, another one changes them.
    assert_eq!(
        eval_gen("b", "0.5")["real"]["swd_levels"],
        a["real"]["swd_levels"]
    );
    assert_ne!(
        eval_gen("c", "1.0")["real"]["swd_levels"],
        a["real"]["swd_levels"]
    );
    // The sweep: one row per value, table and plots.
    let out = dir.join("sweep");
    let mut args = vec![
        "sweep-truncation",
        "--generator",
        r,
        "--truncations",
        "0.5,1.0",
    ];
    args.extend(common);
    args.extend(["--out", out.to_str().unwrap()]);
    let stdout = ok(&args);
    assert!(
        stdout.contains("| 0.5 | 4 |") && stdout.contains("| 1 | 4 |"),
        "{stdout}"
    );
    let rows = json(&out.join("sweep.json"));
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(
        rows[0]["report"]["real"]["swd_levels"],
        a["real"]["swd_levels"]
    );
    assert!(out.join("swd.png").is_file() && out.join("kid.png").is_file());
    fails(
        &[
            "sweep-truncation",
            "--generator",
            r,
            "--truncations",
            "0",
            "--reference",
            val.to_str().unwrap(),
            "--reference-limit",
            "2",
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ],
        &["positive"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

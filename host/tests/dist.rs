//! Data parallel, gradient accumulation and mixed precision, on the CPU (the distributed logic runs
//! through the in-process thread group, the same code path `--gpus N` uses without NCCL).
//!
//! Key property: N simulated ranks × micro-batch B equal one process with `--accumulate N` over
//! micro-batches of B at the same global batch — same losses (≤ 1e-5 relative) and same final weights,
//! BatchNorm running statistics included.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tch::Tensor;

mod common;

use common::{fails, losses, ok_log as ok};

fn photos_train() -> PathBuf {
    common::photos().join("train")
}

fn temp_dir(name: &str) -> PathBuf {
    common::temp_dir("dist", name)
}

fn train_lines(run: &Path) -> Vec<Value> {
    common::metrics_of(run, "train")
}

fn checkpoint_tensors(run: &Path, key: &str) -> Vec<(String, Tensor)> {
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("checkpoint.json")).unwrap())
            .unwrap();
    let mut t = Tensor::read_safetensors(run.join(state[key].as_str().unwrap())).unwrap();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

/// Largest |a − b| / max|a| over every tensor of two checkpoints (names must match).
fn max_rel_diff(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut worst = 0f64;
    for ((na, ta), (nb, tb)) in a.iter().zip(b) {
        assert_eq!(na, nb);
        let scale = ta.abs().max().double_value(&[]).max(1e-12);
        let d = (ta - tb).abs().max().double_value(&[]) / scale;
        worst = worst.max(d);
    }
    worst
}

fn assert_losses_close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    assert!(!a.is_empty());
    for (x, y) in a.iter().zip(b) {
        assert!(x.is_finite() && y.is_finite());
        assert!((x - y).abs() <= tol * x.abs().max(1e-12), "{a:?} vs {b:?}");
    }
}

/// Flags of a short deterministic CPU run.
fn common<'a>(cmd: &'a str, out: &'a str, data: &'a str, steps: &'a str) -> Vec<&'a str> {
    vec![
        cmd,
        "--out",
        out,
        "--preset",
        "tiny",
        "--level",
        "1",
        "--data",
        data,
        "--limit",
        "8",
        "--no-val",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--seed",
        "5",
        "--batch",
        "2",
        "--steps",
        steps,
        "--log-every",
        "1",
        "--checkpoint-every",
        "100",
        "--sample-every",
        "100",
    ]
}

fn ranks_equal_accumulation(cmd: &str) {
    let dir = temp_dir(cmd);
    let data = photos_train();
    let data = data.to_str().unwrap();
    let (acc, two) = (dir.join("acc"), dir.join("two"));
    let (acc_s, two_s) = (acc.to_str().unwrap(), two.to_str().unwrap());
    let mut a = common(cmd, acc_s, data, "4");
    a.extend(["--accumulate", "2"]);
    let log = ok(&a);
    assert!(log.contains("effective batch 4"), "{log}");
    let mut b = common(cmd, two_s, data, "4");
    b.extend(["--world", "2"]);
    let log = ok(&b);
    assert!(log.contains("2 rank(s) (threads"), "{log}");
    let (la, lb) = (losses(&acc), losses(&two));
    assert_eq!(la.len(), 4);
    assert_losses_close(&la, &lb, 1e-5);
    // Not a degenerate comparison: the loss moves.
    assert!(la[0] != la[3], "{la:?}");
    let d = max_rel_diff(
        &checkpoint_tensors(&acc, "model_file"),
        &checkpoint_tensors(&two, "model_file"),
    );
    assert!(d <= 1e-5, "final model differs by {d:e} (relative)");
    let d = max_rel_diff(
        &checkpoint_tensors(&acc, "optimizer_file"),
        &checkpoint_tensors(&two, "optimizer_file"),
    );
    assert!(d <= 1e-5, "final Adam state differs by {d:e} (relative)");
    // Both saw the same images: 4 steps x effective batch 4.
    for run in [&acc, &two] {
        let last = train_lines(run).pop().unwrap();
        assert_eq!(last["images"], 16);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_ranks_equal_accumulate_two_wavelet() {
    ranks_equal_accumulation("train-decoder");
}

/// The pixel decoder's summed loss: gradients are summed (not averaged) over micro-batches and ranks.
#[test]
fn two_ranks_equal_accumulate_two_pixel() {
    ranks_equal_accumulation("train-pixel");
}

/// Accumulation over K micro-batches of B differs from one batch of K·B only through BatchNorm's
/// per-micro-batch statistics: same images, close but not identical losses.
#[test]
fn accumulation_is_not_one_big_batch() {
    let dir = temp_dir("bigbatch");
    let data = photos_train();
    let data = data.to_str().unwrap();
    let (acc, big) = (dir.join("acc"), dir.join("big"));
    let mut a = common("train-decoder", acc.to_str().unwrap(), data, "1");
    a.extend(["--accumulate", "2"]);
    ok(&a);
    let mut b = common("train-decoder", big.to_str().unwrap(), data, "1");
    let i = b.iter().position(|s| *s == "--batch").unwrap();
    b[i + 1] = "4";
    ok(&b);
    let (la, lb) = (losses(&acc), losses(&big));
    assert_ne!(la, lb);
    assert!((la[0] - lb[0]).abs() < 0.5 * la[0], "{la:?} {lb:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// bf16 convolutions on the CPU: the run trains (finite, falling loss) and is numerically distinct
/// from, but close to, the f32 run.
#[test]
fn bf16_trains_on_cpu() {
    let dir = temp_dir("bf16");
    let data = photos_train();
    let data = data.to_str().unwrap();
    let (f32r, bf) = (dir.join("f32"), dir.join("bf16"));
    ok(&common("train-decoder", f32r.to_str().unwrap(), data, "6"));
    let mut a = common("train-decoder", bf.to_str().unwrap(), data, "6");
    a.extend(["--precision", "bf16"]);
    let log = ok(&a);
    assert!(log.contains("bf16 convolutions"), "{log}");
    let (lf, lb) = (losses(&f32r), losses(&bf));
    assert!(lb.iter().all(|v| v.is_finite()));
    assert!(lb[5] < lb[0], "bf16 loss did not fall: {lb:?}");
    assert_ne!(lf, lb, "bf16 run identical to f32: precision not applied");
    assert!((lf[0] - lb[0]).abs() < 0.05 * lf[0], "{lf:?} vs {lb:?}");
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(bf.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["precision"], "bf16");
    assert!(summary["loss_scale"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

/// f16 with dynamic loss scaling. The pixel decoder's summed loss overflows f16 gradients at the
/// initial scale 65536: each such step is skipped (Adam never moves) and halves the scale.
#[test]
fn f16_overflowing_steps_are_skipped_and_halve_the_scale() {
    let dir = temp_dir("f16skip");
    let data = photos_train();
    let data = data.to_str().unwrap();
    let run = dir.join("pixel");
    let mut a = common("train-pixel", run.to_str().unwrap(), data, "3");
    a.extend(["--precision", "f16"]);
    ok(&a);
    let lines = train_lines(&run);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["skipped_steps"], i as u64 + 1, "{l}");
        assert_eq!(l["loss_scale"], 65536.0 / f64::from(2u32 << i), "{l}");
        assert!(l["loss"].as_f64().unwrap().is_finite());
    }
    for (name, t) in checkpoint_tensors(&run, "optimizer_file") {
        assert_eq!(
            t.abs().max().double_value(&[]),
            0.0,
            "{name}: Adam moved on a skipped step"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// f16 on the wavelet decoder trains (no overflow at this scale) and the loss scale is checkpointed:
/// a run interrupted at step 2 and resumed continues exactly.
#[test]
fn f16_trains_and_resumes_exactly() {
    let dir = temp_dir("f16resume");
    let data = photos_train();
    let data = data.to_str().unwrap();
    let (whole, part) = (dir.join("whole"), dir.join("part"));
    let mut a = common("train-decoder", whole.to_str().unwrap(), data, "4");
    a.extend(["--precision", "f16"]);
    ok(&a);
    let lw = losses(&whole);
    assert!(lw[3] < lw[0], "{lw:?}");
    let mut b = common("train-decoder", part.to_str().unwrap(), data, "2");
    b.extend(["--precision", "f16"]);
    ok(&b);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(part.join("checkpoint.json")).unwrap())
            .unwrap();
    assert_eq!(state["loss_scale"]["scale"], 65536.0, "{state}");
    ok(&[
        "train-decoder",
        "--out",
        part.to_str().unwrap(),
        "--resume",
        "--steps",
        "4",
        "--device",
        "cpu",
        "--threads",
        "1",
    ]);
    assert_losses_close(&lw, &losses(&part), 1e-6);
    let d = max_rel_diff(
        &checkpoint_tensors(&whole, "model_file"),
        &checkpoint_tensors(&part, "model_file"),
    );
    assert!(d <= 1e-6, "resumed f16 model differs by {d:e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_parallel_flags_are_clear_errors() {
    let dir = temp_dir("flags");
    let out = dir.join("r");
    let out = out.to_str().unwrap();
    let data = photos_train();
    let data = data.to_str().unwrap();
    if !tch::Cuda::is_available() {
        let mut a = common("train-decoder", out, data, "1");
        a.extend(["--gpus", "2"]);
        fails(&a, &["--gpus 2 needs CUDA"]);
    }
    let mut a = common("train-decoder", out, data, "1");
    a.extend(["--gpus", "2", "--world", "2"]);
    fails(&a, &["cannot be used with"]);
    let mut a = common("train-decoder", out, data, "1");
    a.extend(["--accumulate", "0"]);
    fails(&a, &["--accumulate must be at least 1"]);
    // 8 images cannot fill one global batch of 3 ranks x 2 micro-batches x 2.
    let mut a = common("train-decoder", out, data, "1");
    a.extend(["--world", "3", "--accumulate", "2"]);
    fails(&a, &["fewer than one batch"]);
    // A finished world-2 run cannot be resumed with another world size.
    let mut a = common("train-decoder", out, data, "1");
    a.extend(["--world", "2"]);
    ok(&a);
    fails(
        &[
            "train-decoder",
            "--out",
            out,
            "--resume",
            "--world",
            "1",
            "--steps",
            "2",
        ],
        &["a resumed run keeps it"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

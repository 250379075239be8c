//! Helpers shared by the end-to-end test suites: the binary under test, the shared photo set, scratch
//! folders, running the binary and checking clean failures. (Each suite uses a subset.)
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test; `NSBG_HOST_BIN` overrides it when a suite runs from a carried bundle on
/// another machine (scripts/gpu-check.sh --bundle).
pub fn bin() -> PathBuf {
    std::env::var_os("NSBG_HOST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_nsbg-host")))
}

/// `$NSBG_SHARED/data/photos` or `<repo>/../shared/data/photos`, with its `train` and `val` splits.
pub fn photos() -> PathBuf {
    let dir = std::env::var_os("NSBG_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("data/photos");
    assert!(
        dir.join("train").is_dir() && dir.join("val").is_dir(),
        "shared photo set not found at {} (set NSBG_SHARED)",
        dir.display()
    );
    dir
}

/// The repository root (for the shipped weights).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh, empty scratch folder named after the suite, this process and `name`.
pub fn temp_dir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nsbg-{suite}-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn shown<S: AsRef<OsStr>>(args: &[S]) -> String {
    let v: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    v.join(" ")
}

/// Runs the binary with extra environment variables (and without `RUST_LOG`, so stderr holds only
/// what it always prints).
pub fn run_env<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("cannot start nsbg-host")
}

pub fn run<S: AsRef<OsStr>>(args: &[S]) -> Output {
    run_env(args, &[])
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary, asserts success and returns its whole output.
pub fn ok_env<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
    let out = run_env(args, env);
    assert!(
        out.status.success(),
        "nsbg-host {} failed:\n{}\n{}",
        shown(args),
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Runs the binary, asserts success and returns its stdout.
pub fn ok<S: AsRef<OsStr>>(args: &[S]) -> String {
    text(&ok_env(args, &[]).stdout)
}

/// Runs the binary, asserts success and returns everything it printed (stdout, then stderr: the
/// training set-up lines go to stderr).
pub fn ok_log<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = ok_env(args, &[]);
    text(&out.stdout) + &text(&out.stderr)
}

/// Asserts a clean failure: non-zero exit, no panic text, and every needle in stderr
/// (case-insensitive).
pub fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected a failure; stderr: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "panic: {err}"
    );
    let lower = err.to_lowercase();
    for n in needles {
        assert!(
            lower.contains(&n.to_lowercase()),
            "stderr lacks {n:?}: {err}"
        );
    }
}

/// Runs the binary and asserts a clean failure (see [`assert_clean_failure`]).
pub fn fails<S: AsRef<OsStr>>(args: &[S], needles: &[&str]) {
    let out = run(args);
    if out.status.success() {
        panic!("expected nsbg-host {} to fail", shown(args));
    }
    assert_clean_failure(&out, needles);
}

/// Starts a training run, kills it with SIGKILL as soon as its `checkpoint.json` is at step
/// `min_step` or later, and returns the step of the checkpoint left behind, which must lie before
/// `steps` (the run's length): the resume tests continue from there.
pub fn kill_after_checkpoint<S: AsRef<OsStr>>(
    args: &[S],
    run: &Path,
    min_step: u64,
    steps: u64,
) -> u64 {
    let mut child = Command::new(bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let killed_at = loop {
        if let Ok(text) = std::fs::read_to_string(run.join("checkpoint.json")) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                let step = v["step"].as_u64().unwrap();
                if step >= min_step {
                    child.kill().unwrap(); // SIGKILL
                    break step;
                }
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = child.wait();
    let at = json(&run.join("checkpoint.json"))["step"].as_u64().unwrap();
    assert!(
        at >= killed_at && at < steps,
        "the run was not interrupted mid-way (checkpoint at {at})"
    );
    at
}

/// The lines of a run's `metrics.jsonl`, and those of one kind (`train`, `val`, …).
pub fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn metrics_of(run: &Path, kind: &str) -> Vec<Value> {
    metrics(run)
        .into_iter()
        .filter(|v| v["kind"] == kind)
        .collect()
}

/// The loss of every `train` line of a decoder run.
pub fn losses(run: &Path) -> Vec<f64> {
    metrics_of(run, "train")
        .iter()
        .map(|v| v["loss"].as_f64().unwrap())
        .collect()
}

pub fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

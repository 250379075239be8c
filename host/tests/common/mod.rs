//! Helpers shared by the end-to-end test suites: the binary under test, the shared photo set, scratch
//! folders, running the binary and checking clean failures. (Each suite uses a subset.)
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_nsbg-host");

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

/// A fresh, empty scratch folder named after the suite, this process and `name`.
pub fn temp_dir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nsbg-{suite}-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the binary (without `RUST_LOG`, so stderr holds only what it always prints).
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("cannot start nsbg-host")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary, asserts success and returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "nsbg-host {args:?} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs the binary and asserts a clean failure: non-zero exit, no panic, and every needle in stderr
/// (case-insensitive).
pub fn fails(args: &[&str], needles: &[&str]) {
    let out = run(args);
    let err = text(&out.stderr);
    assert!(!out.status.success(), "expected failure of {args:?}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(
            err.to_lowercase().contains(&n.to_lowercase()),
            "stderr of {args:?} lacks {n:?}: {err}"
        );
    }
}

pub fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

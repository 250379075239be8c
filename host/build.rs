//! Makes the `nsbg-host` binary find and fully load libtorch without any environment variables.
//!
//! `torch-sys` (tch's build script) links libtorch but leaves the run-time search to `LD_LIBRARY_PATH`, and
//! rustc's default `--as-needed` drops `libtorch_cuda.so` (nothing references it by symbol), so a binary
//! built against a CUDA wheel silently runs on the CPU only. This script locates the same libtorch
//! directory torch-sys uses (same environment variables, same Python) and adds
//! * an rpath to it, so the binary runs from any environment (`env -i target/release/nsbg-host --help`);
//! * `-Wl,--no-as-needed -ltorch_cuda -Wl,--as-needed` when the directory has `libtorch_cuda.so`, so the
//!   CUDA backend registers itself at load time and `tch::Cuda::is_available()` can be true.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What torch-sys prints to find the libraries of an installed PyTorch (first entry = `torch/lib`).
const PRINT_LIB_DIR: &str =
    "from torch.utils import cpp_extension\nprint(cpp_extension.library_paths()[0])";

fn env_rerun(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok()
}

/// The libtorch library directory, found exactly as torch-sys 0.26 finds it.
fn libtorch_lib_dir() -> Result<PathBuf, String> {
    if env_rerun("LIBTORCH_USE_PYTORCH").is_some() {
        // torch-sys runs `python` inside a virtualenv and `python3` otherwise.
        let python = if env_rerun("VIRTUAL_ENV").is_some() {
            "python"
        } else {
            "python3"
        };
        let out = Command::new(python)
            .arg("-c")
            .arg(PRINT_LIB_DIR)
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{python} cannot import torch: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        return Ok(PathBuf::from(dir));
    }
    if let Some(lib) = env_rerun("LIBTORCH_LIB") {
        return Ok(Path::new(&lib).join("lib"));
    }
    if let Some(root) = env_rerun("LIBTORCH") {
        return Ok(Path::new(&root).join("lib"));
    }
    if Path::new("/usr/lib/libtorch.so").exists() {
        return Ok(PathBuf::from("/usr/lib"));
    }
    Err("no libtorch found (set LIBTORCH_USE_PYTORCH=1 with PyTorch installed, or LIBTORCH)".into())
}

/// Shipped decoders built into the binary when present: (cfg name, env name, path from this crate).
const DEFAULT_WEIGHTS: [(&str, &str, &str); 3] = [
    (
        "nsbg_default_wavelet",
        "NSBG_DEFAULT_WAVELET",
        "../weights/nsbg-small.safetensors",
    ),
    (
        "nsbg_default_pixel",
        "NSBG_DEFAULT_PIXEL",
        "../weights/nsbg-pixel-small.safetensors",
    ),
    (
        "nsbg_default_generator",
        "NSBG_DEFAULT_GENERATOR",
        "../weights/nsbg-generator-small.safetensors",
    ),
];

fn default_weights() {
    let here = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    for (cfg, var, rel) in DEFAULT_WEIGHTS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let path = here.join(rel);
        // Watch the file's folder (or, while it does not exist, the repository root): a missing path
        // would make cargo rerun this script on every build. Exports replace files by rename, which
        // changes the folder.
        let dir = path.parent().unwrap_or(&here);
        let watched = if dir.is_dir() {
            dir
        } else {
            dir.parent().unwrap_or(&here)
        };
        println!("cargo:rerun-if-changed={}", watched.display());
        if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
            println!("cargo:rustc-cfg={cfg}");
            println!("cargo:rustc-env={var}={}", path.display());
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    default_weights();
    let dir = match libtorch_lib_dir() {
        Ok(d) => d,
        // torch-sys fails the build with a detailed message in this case; do not add a second one.
        Err(e) => {
            println!("cargo:warning=nsbg-host: {e}; the binary will need LD_LIBRARY_PATH");
            return;
        }
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    let shown = dir.display();
    println!("cargo:rustc-env=NSBG_LIBTORCH_DIR={shown}");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{shown}");
    if dir.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-L{shown}");
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

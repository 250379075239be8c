//! Shared helpers for core's integration tests: locating `shared/` and loading the wavelet vectors.
#![allow(dead_code)]

use std::path::PathBuf;

/// `shared/` beside the repository (override with `NSBG_SHARED`).
pub fn shared_dir() -> PathBuf {
    if let Ok(p) = std::env::var("NSBG_SHARED") {
        return PathBuf::from(p);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let candidate = here.join("../../shared");
    assert!(
        candidate.join("testdata/wavelet/index.json").exists(),
        "shared/testdata not found at {} (set NSBG_SHARED)",
        candidate.display()
    );
    candidate
}

pub struct Case {
    pub name: String,
    pub mode: String,
    pub width: usize,
    pub height: usize,
    pub levels: u32,
    pub scale: f64,
    pub input: Vec<f64>,
    pub output: Vec<f64>,
    pub reconstruction: Option<Vec<f64>>,
}

fn nums(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

pub fn load_cases() -> Vec<Case> {
    let dir = shared_dir().join("testdata/wavelet");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    let cases = index["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 24,
        "expected the 24 reference cases, found {}",
        cases.len()
    );
    cases
        .iter()
        .map(|c| {
            let file = c["file"].as_str().unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
            Case {
                name: v["name"].as_str().unwrap().to_string(),
                mode: v["mode"].as_str().unwrap().to_string(),
                width: v["width"].as_u64().unwrap() as usize,
                height: v["height"].as_u64().unwrap() as usize,
                levels: v["levels"].as_u64().unwrap() as u32,
                scale: v["tolerance"]["scale"].as_f64().unwrap_or(1.0),
                input: nums(&v["input"]),
                output: nums(&v["output"]),
                reconstruction: v.get("reconstruction").map(nums),
            }
        })
        .collect()
}

pub struct Invalid {
    pub mode: String,
    pub width: usize,
    pub height: usize,
    pub levels: u32,
    pub why: String,
}

pub fn load_invalid() -> Vec<Invalid> {
    let p = shared_dir().join("testdata/wavelet/invalid_cases.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Invalid {
            mode: c["mode"].as_str().unwrap().to_string(),
            width: c["width"].as_u64().unwrap() as usize,
            height: c["height"].as_u64().unwrap() as usize,
            levels: c["levels"].as_u64().unwrap() as u32,
            why: c["why"].as_str().unwrap().to_string(),
        })
        .collect()
}

/// Copies a row-major `w × h` array into a plane with `stride`, padding filled with `pad`.
pub fn to_strided<T: Copy>(src: &[T], w: usize, h: usize, stride: usize, pad: T) -> Vec<T> {
    let mut out = vec![pad; h * stride];
    for y in 0..h {
        out[y * stride..y * stride + w].copy_from_slice(&src[y * w..(y + 1) * w]);
    }
    out
}

/// Extracts the `w × h` payload of a strided plane, asserting the padding still equals `pad`.
pub fn from_strided<T: Copy + PartialEq + std::fmt::Debug>(
    plane: &[T],
    w: usize,
    h: usize,
    stride: usize,
    pad: T,
) -> Vec<T> {
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        out.extend_from_slice(&plane[y * stride..y * stride + w]);
        for x in w..stride {
            assert_eq!(plane[y * stride + x], pad, "padding modified at ({y},{x})");
        }
    }
    out
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

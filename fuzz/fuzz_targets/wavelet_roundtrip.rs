//! Transform round trips for every type and mode with fuzzer-chosen sizes, strides and levels.
//! Valid geometries must reconstruct (float: within tolerance; i32: exactly; zero mode: finite and
//! exact away from the borders is checked by the unit tests); invalid ones must fail untouched.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nsbg_core::wavelet::{self, Extension};

#[derive(Arbitrary, Debug)]
struct Input {
    width: u8,
    height: u8,
    pad: u8,
    levels: u8,
    /// 0..=2 float modes, 3 = reversible53
    mode: u8,
    double: bool,
    seed: Vec<u8>,
}

fn sample(seed: &[u8], i: usize) -> f64 {
    if seed.is_empty() {
        return 0.0;
    }
    let b = seed[i % seed.len()] as f64;
    (b - 128.0) * (1.0 + (i % 7) as f64) / 16.0
}

/// Sides up to 70 keep an execution cheap (most bugs live at the borders and in small/odd sizes);
/// the property tests cover sizes up to 300.
fn dims(inp: &Input) -> (usize, usize) {
    (inp.width as usize % 71, inp.height as usize % 71)
}

fn float_case<T: num_traits::Float + num_traits::FloatConst + Default + Copy>(
    inp: &Input,
    ext: Extension,
    conv: impl Fn(f64) -> T,
    tol: f64,
) {
    let (w, h) = dims(inp);
    let stride = w + (inp.pad % 5) as usize;
    let n = h * stride;
    let x: Vec<T> = (0..n).map(|i| conv(sample(&inp.seed, i))).collect();
    let mut p = x.clone();
    let mut s = vec![T::default(); wavelet::scratch_len(w.max(2), h.max(2)).unwrap()];
    let levels = u32::from(inp.levels % 10);
    let valid = wavelet::check_geometry(w, h, stride, levels, Some(ext)).is_ok() && n > 0;
    let r = wavelet::dwt2(&mut p, w, h, stride, levels, ext, &mut s);
    assert_eq!(r.is_ok(), valid, "{w}x{h} stride {stride} L{levels} {ext:?}");
    if r.is_err() {
        assert!(p.iter().zip(&x).all(|(a, b)| a.to_f64() == b.to_f64()), "data modified on error");
        return;
    }
    wavelet::idwt2(&mut p, w, h, stride, levels, ext, &mut s).unwrap();
    for (i, (a, b)) in p.iter().zip(&x).enumerate() {
        let (a, b) = (a.to_f64().unwrap(), b.to_f64().unwrap());
        assert!(a.is_finite());
        if ext != Extension::Zero || i % stride >= w {
            let scale = 1.0f64.max(b.abs()) * 64.0;
            assert!((a - b).abs() <= tol * scale, "{w}x{h} L{levels} {ext:?} [{i}]: {a} vs {b}");
        }
    }
}

fuzz_target!(|inp: Input| {
    match inp.mode % 4 {
        3 => {
            let (w, h) = dims(&inp);
            let stride = w + (inp.pad % 5) as usize;
            let levels = u32::from(inp.levels % 10);
            let x: Vec<i32> = (0..h * stride).map(|i| (sample(&inp.seed, i) * 16.0) as i32).collect();
            let mut p = x.clone();
            let mut s = vec![0i32; wavelet::scratch_len(w.max(2), h.max(2)).unwrap()];
            if wavelet::dwt2_i32(&mut p, w, h, stride, levels, &mut s).is_ok() {
                wavelet::idwt2_i32(&mut p, w, h, stride, levels, &mut s).unwrap();
            }
            assert_eq!(p, x);
        }
        m => {
            let ext = Extension::from_code(i32::from(m)).unwrap();
            if inp.double {
                float_case::<f64>(&inp, ext, |v| v, 1e-12);
            } else {
                float_case::<f32>(&inp, ext, |v| v as f32, 1e-5);
            }
        }
    }
});

//! Every reference vector of `shared/testdata/wavelet/`, forward and inverse, f64 / f32 / i32, with a
//! padded stride, within the tolerances of the vectors' README; every invalid case rejected untouched.

mod common;

use common::*;
use nsbg_core::wavelet::{self, Extension};

const PAD_F: f64 = 12345.5;
const PAD_I: i32 = -777_777;

fn ext_of(mode: &str) -> Option<Extension> {
    Extension::from_name(mode)
}

fn run_float<T>(c: &Case, stride: usize, tol: f64, conv: impl Fn(f64) -> T, back: impl Fn(T) -> f64)
where
    T: num_traits::Float + num_traits::FloatConst + std::fmt::Debug,
{
    let ext = ext_of(&c.mode).unwrap();
    let (w, h) = (c.width, c.height);
    let input: Vec<T> = c.input.iter().map(|&v| conv(v)).collect();
    let mut plane = to_strided(&input, w, h, stride, conv(PAD_F));
    let mut scratch = vec![T::zero(); wavelet::scratch_len(w, h).unwrap()];
    wavelet::dwt2(&mut plane, w, h, stride, c.levels, ext, &mut scratch).unwrap();
    let got: Vec<f64> = from_strided(&plane, w, h, stride, conv(PAD_F))
        .into_iter()
        .map(&back)
        .collect();
    let err = max_abs_diff(&got, &c.output);
    assert!(err <= tol, "{} forward: max err {err:e} > {tol:e}", c.name);

    // Inverse from the reference coefficients (not from our own forward output).
    let coeffs: Vec<T> = c.output.iter().map(|&v| conv(v)).collect();
    let mut plane = to_strided(&coeffs, w, h, stride, conv(PAD_F));
    wavelet::idwt2(&mut plane, w, h, stride, c.levels, ext, &mut scratch).unwrap();
    let got: Vec<f64> = from_strided(&plane, w, h, stride, conv(PAD_F))
        .into_iter()
        .map(&back)
        .collect();
    let want = c.reconstruction.as_ref().unwrap_or(&c.input);
    let err = max_abs_diff(&got, want);
    assert!(err <= tol, "{} inverse: max err {err:e} > {tol:e}", c.name);
}

#[test]
fn every_float_vector_f64_and_f32() {
    let cases = load_cases();
    let mut n = 0;
    for c in cases.iter().filter(|c| c.mode != "reversible53") {
        for stride in [c.width, c.width + 3] {
            run_float::<f64>(c, stride, 1e-12 * c.scale, |v| v, |v| v);
            run_float::<f32>(c, stride, 1e-5 * c.scale, |v| v as f32, f64::from);
        }
        n += 1;
    }
    assert!(n >= 17, "only {n} float cases ran");
}

#[test]
fn every_reversible53_vector_exact() {
    let cases = load_cases();
    let mut n = 0;
    for c in cases.iter().filter(|c| c.mode == "reversible53") {
        let (w, h) = (c.width, c.height);
        let input: Vec<i32> = c.input.iter().map(|&v| v as i32).collect();
        let output: Vec<i32> = c.output.iter().map(|&v| v as i32).collect();
        let mut scratch = vec![0i32; wavelet::scratch_len(w, h).unwrap()];
        for stride in [w, w + 3] {
            let mut plane = to_strided(&input, w, h, stride, PAD_I);
            wavelet::dwt2_i32(&mut plane, w, h, stride, c.levels, &mut scratch).unwrap();
            assert_eq!(
                from_strided(&plane, w, h, stride, PAD_I),
                output,
                "{} forward",
                c.name
            );
            let mut plane = to_strided(&output, w, h, stride, PAD_I);
            wavelet::idwt2_i32(&mut plane, w, h, stride, c.levels, &mut scratch).unwrap();
            assert_eq!(
                from_strided(&plane, w, h, stride, PAD_I),
                input,
                "{} inverse",
                c.name
            );
        }
        n += 1;
    }
    assert!(n >= 7, "only {n} reversible53 cases ran");
}

#[test]
fn every_invalid_case_is_rejected_and_data_untouched() {
    for c in load_invalid() {
        let (w, h) = (c.width, c.height);
        let len = w * h;
        let mut scratch64 = vec![0.0f64; wavelet::scratch_len(w, h).unwrap()];
        let original: Vec<f64> = (0..len).map(|i| i as f64 * 0.37 - 3.0).collect();
        match c.mode.as_str() {
            "reversible53" => {
                let orig: Vec<i32> = (0..len as i32).collect();
                let mut s = vec![0i32; scratch64.len()];
                let mut p = orig.clone();
                assert!(
                    wavelet::dwt2_i32(&mut p, w, h, w, c.levels, &mut s).is_err(),
                    "{}",
                    c.why
                );
                assert!(
                    wavelet::idwt2_i32(&mut p, w, h, w, c.levels, &mut s).is_err(),
                    "{}",
                    c.why
                );
                assert_eq!(p, orig);
            }
            mode => {
                let Some(ext) = ext_of(mode) else {
                    // Unknown mode names have no Extension; the C ABI test checks unknown codes.
                    assert_eq!(mode, "nonsense");
                    assert!(Extension::from_code(7).is_err());
                    continue;
                };
                let mut p = original.clone();
                let r = wavelet::dwt2(&mut p, w, h, w, c.levels, ext, &mut scratch64);
                assert!(
                    r.is_err(),
                    "{}: {mode} {w}x{h} L{} accepted",
                    c.why,
                    c.levels
                );
                let r = wavelet::idwt2(&mut p, w, h, w, c.levels, ext, &mut scratch64);
                assert!(r.is_err(), "{}", c.why);
                assert_eq!(p, original, "{}: data modified", c.why);
            }
        }
    }
}

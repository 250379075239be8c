//! Tiling: round trips, hand-computed small cases, and agreement with the reference vectors.

mod common;

use common::*;
use nsbg_core::tiling::{self, PATCH};
use nsbg_core::wavelet::{self, Extension};

fn tile64(block: &[f64], side: usize, ch: usize, ext: Extension) -> Vec<f64> {
    let mut patches = vec![0.0; block.len()];
    let mut s = vec![0.0; tiling::scratch_len(side).unwrap()];
    tiling::tile(block, side, ch, ext, &mut patches, &mut s).unwrap();
    patches
}

fn patch(p: &[f64], idx: usize, ch: usize, c: usize) -> &[f64] {
    &p[(idx * ch + c) * PATCH * PATCH..][..PATCH * PATCH]
}

#[test]
fn round_trip_every_side_and_mode() {
    for side in [32, 64, 128, 256] {
        for ext in Extension::ALL {
            let ch = 3;
            let block: Vec<f64> = (0..ch * side * side)
                .map(|i| ((i * 7919) % 1000) as f64 / 999.0)
                .collect();
            let patches = tile64(&block, side, ch, ext);
            let mut back = vec![0.0; block.len()];
            let mut s = vec![0.0; tiling::scratch_len(side).unwrap()];
            tiling::untile(&patches, side, ch, ext, &mut back, &mut s).unwrap();
            let err = max_abs_diff(&back, &block);
            if ext == Extension::Zero && side > 32 {
                // The paper's zero mode is lossy at the borders (wavelet.md §3.3), not elsewhere.
                assert!(err > 1e-3, "zero mode unexpectedly exact for side {side}");
                let interior = |v: &[f64]| -> Vec<f64> {
                    (0..ch * side * side)
                        .filter(|i| {
                            let (y, x) = ((i / side) % side, i % side);
                            (16..side - 16).contains(&y) && (16..side - 16).contains(&x)
                        })
                        .map(|i| v[i])
                        .collect()
                };
                assert!(max_abs_diff(&interior(&back), &interior(&block)) <= 1e-12);
            } else {
                assert!(
                    err <= 1e-12,
                    "side {side} {ext:?}: round trip error {err:e}"
                );
            }
            // f32 path too.
            let b32: Vec<f32> = block.iter().map(|&v| v as f32).collect();
            let mut p32 = vec![0.0f32; b32.len()];
            let mut s32 = vec![0.0f32; s.len()];
            tiling::tile(&b32, side, ch, ext, &mut p32, &mut s32).unwrap();
            let mut back32 = vec![0.0f32; b32.len()];
            tiling::untile(&p32, side, ch, ext, &mut back32, &mut s32).unwrap();
            if ext != Extension::Zero || side == 32 {
                let e = b32
                    .iter()
                    .zip(&back32)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(e <= 1e-5, "f32 side {side} {ext:?}: {e}");
            }
        }
    }
}

/// A constant block c: the low-pass gain of bior2.2 is 2 per level in 2-D, details are exactly 0.
#[test]
fn constant_block_hand_computed() {
    let c = 0.625;
    for (side, gain) in [(64usize, 2.0), (128, 4.0)] {
        let p = tile64(&vec![c; side * side], side, 1, Extension::Symmetric);
        let n = tiling::patch_count(side).unwrap();
        for v in patch(&p, 0, 1, 0) {
            assert!((v - gain * c).abs() < 1e-12, "side {side}: {v}");
        }
        for i in 1..n {
            assert!(
                patch(&p, i, 1, 0).iter().all(|v| v.abs() < 1e-12),
                "side {side} patch {i}"
            );
        }
    }
}

/// f(x, y) = x, symmetric mode, worked out by hand from the lifting steps of wavelet.md §3.2.
/// Side 64: TL[:, k] = 4k (k < 31), TL[:, 31] = 124.5; TR[:, 31] = −1; everything else 0.
/// Side 128 (patches TL·TL=0, TR·TL=1, TL·TR=4, TR·TR=5): p0[:, k] = 16k (k < 31), p0[:, 31] = 498.25;
/// p1[:, 31] = −4.5; p4[:, 31] = −0.5; p5[:, 31] = 1; every other value of every patch 0.
#[test]
fn horizontal_ramp_hand_computed() {
    let ramp = |side: usize| -> Vec<f64> { (0..side * side).map(|i| (i % side) as f64).collect() };
    let expect = |p: &[f64], idx: usize, f: &dyn Fn(usize) -> f64| {
        let q = patch(p, idx, 1, 0);
        for y in 0..PATCH {
            for x in 0..PATCH {
                let (got, want) = (q[y * PATCH + x], f(x));
                assert!(
                    (got - want).abs() < 1e-11,
                    "patch {idx} ({y},{x}): {got} != {want}"
                );
            }
        }
    };
    let p = tile64(&ramp(64), 64, 1, Extension::Symmetric);
    expect(&p, 0, &|x| if x < 31 { 4.0 * x as f64 } else { 124.5 });
    expect(&p, 1, &|x| if x == 31 { -1.0 } else { 0.0 });
    expect(&p, 2, &|_| 0.0);
    expect(&p, 3, &|_| 0.0);

    let p = tile64(&ramp(128), 128, 1, Extension::Symmetric);
    expect(&p, 0, &|x| if x < 31 { 16.0 * x as f64 } else { 498.25 });
    expect(&p, 1, &|x| if x == 31 { -4.5 } else { 0.0 });
    expect(&p, 4, &|x| if x == 31 { -0.5 } else { 0.0 });
    expect(&p, 5, &|x| if x == 31 { 1.0 } else { 0.0 });
    for i in [2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15] {
        expect(&p, i, &|_| 0.0);
    }
}

/// Patches 1..3 of a 64×64 tiling are level 1's detail quadrants, which later levels never touch:
/// they must equal the reference vector's packed output there; patch 0 is LL1, which the vector's
/// deeper levels transform further (checked by transforming our patch 0 the same way).
#[test]
fn agrees_with_reference_vector_64x64() {
    let case = load_cases()
        .into_iter()
        .find(|c| c.name == "symmetric_64x64_l3")
        .expect("vector");
    let p = tile64(&case.input, 64, 1, Extension::Symmetric);
    let quadrant = |q: usize| -> Vec<f64> {
        let (x0, y0) = ((q & 1) * 32, (q >> 1) * 32);
        (0..32)
            .flat_map(|y| (0..32).map(move |x| (y, x)))
            .map(|(y, x)| case.output[(y0 + y) * 64 + x0 + x])
            .collect()
    };
    for q in 1..4 {
        let err = max_abs_diff(patch(&p, q, 1, 0), &quadrant(q));
        assert!(err <= 1e-12 * case.scale, "quadrant {q}: {err:e}");
    }
    let mut ll1 = patch(&p, 0, 1, 0).to_vec();
    let mut s = vec![0.0; wavelet::scratch_len(32, 32).unwrap()];
    wavelet::dwt2(&mut ll1, 32, 32, 32, 2, Extension::Symmetric, &mut s).unwrap();
    assert!(max_abs_diff(&ll1, &quadrant(0)) <= 1e-12 * case.scale);
}

#[test]
fn bad_arguments_are_rejected_untouched() {
    let mut s = vec![0.0f64; tiling::scratch_len(64).unwrap()];
    for side in [0usize, 16, 31, 48, 96, 33] {
        let block = vec![1.0; 3 * side * side];
        let mut out = vec![7.0; block.len()];
        assert!(
            tiling::tile(&block, side, 3, Extension::Symmetric, &mut out, &mut s).is_err(),
            "side {side}"
        );
        assert!(out.iter().all(|&v| v == 7.0));
    }
    let block = vec![1.0; 3 * 64 * 64];
    let mut out = vec![7.0; block.len() - 1];
    assert!(tiling::tile(&block, 64, 3, Extension::Symmetric, &mut out, &mut s).is_err());
    assert!(out.iter().all(|&v| v == 7.0));
    let mut out = vec![7.0; block.len()];
    assert!(tiling::tile(&block, 64, 0, Extension::Symmetric, &mut out, &mut s).is_err());
    let mut short = vec![0.0; s.len() - 1];
    assert!(tiling::tile(&block, 64, 3, Extension::Symmetric, &mut out, &mut short).is_err());
    assert!(out.iter().all(|&v| v == 7.0));
    assert_eq!(tiling::patch_count(128).unwrap(), 16);
    assert_eq!(tiling::depth(256).unwrap(), 3);
}

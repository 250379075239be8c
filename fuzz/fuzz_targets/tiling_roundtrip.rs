//! Tiling round trip with fuzzer-chosen side, channels, mode and content, plus a differential check:
//! patch 1..3 of a tiling are the level-1 detail quadrants of a plain one-level transform.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use nsbg_core::{tiling, wavelet};

#[derive(Arbitrary, Debug)]
struct Input {
    side_log: u8,
    channels: u8,
    mode: u8,
    content: Vec<u8>,
}

fuzz_target!(|inp: Input| {
    // Mostly the cheap sides; 128 (depth 2) often enough to exercise the recursion.
    let side = match inp.side_log % 16 {
        0..=7 => 32usize,
        8..=14 => 64,
        _ => 128,
    };
    let channels = 1 + (inp.channels % 2) as usize;
    let ext = wavelet::Extension::from_code(i32::from(inp.mode % 3)).unwrap();
    let n = channels * side * side;
    let c = &inp.content;
    let block: Vec<f32> =
        (0..n).map(|i| if c.is_empty() { 0.0 } else { f32::from(c[i % c.len()]) / 255.0 + (i % 3) as f32 }).collect();
    let mut patches = vec![0.0f32; n];
    let mut s = vec![0.0f32; tiling::scratch_len(side).unwrap()];
    tiling::tile(&block, side, channels, ext, &mut patches, &mut s).unwrap();
    let mut back = vec![0.0f32; n];
    tiling::untile(&patches, side, channels, ext, &mut back, &mut s).unwrap();
    if ext != wavelet::Extension::Zero || side == 32 {
        for (a, b) in back.iter().zip(&block) {
            assert!((a - b).abs() <= 1e-4, "{a} vs {b}");
        }
    }
    if side == 64 {
        // Differential: patch q (q = 1..3) of channel 0 equals quadrant q of one DWT level.
        let mut plane = block[..side * side].to_vec();
        let mut ws = vec![0.0f32; wavelet::scratch_len(side, side).unwrap()];
        wavelet::dwt2(&mut plane, side, side, side, 1, ext, &mut ws).unwrap();
        for q in 1..4 {
            let (x0, y0) = ((q & 1) * 32, (q >> 1) * 32);
            for y in 0..32 {
                for x in 0..32 {
                    let a = patches[(q * channels) * 1024 + y * 32 + x];
                    assert_eq!(a.to_bits(), plane[(y0 + y) * side + x0 + x].to_bits());
                }
            }
        }
    }
});

//! The decoder pipeline (design.md §Data flow) end to end on small random models written with the
//! weight-file writer: full decode equals level-by-level decode bit for bit, the tails' output lands in
//! the right band and patch, zero details reproduce the plain inverse transform, and bad calls fail.
#![cfg(feature = "alloc")]

use nsbg_core::decoder::{Decoder, DecoderError};
use nsbg_core::tiling;
use nsbg_core::wavelet::{self, Extension};
use nsbg_core::weights::{
    self, Dtype, ModelConfig, NamedTensor, PixelDecoderConfig, WaveletDecoderConfig,
};
use std::collections::BTreeMap;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Random weights for `config`; `tail_bias(j, c)` overrides tail conv2 (weights 0, bias given) when set.
fn model(
    config: &ModelConfig,
    seed: u64,
    tail_bias: Option<&dyn Fn(usize, usize) -> f32>,
) -> Vec<u8> {
    model_as(config, seed, tail_bias, Dtype::F32)
}

/// [`model`] stored as `dtype`.
fn model_as(
    config: &ModelConfig,
    seed: u64,
    tail_bias: Option<&dyn Fn(usize, usize) -> f32>,
    dtype: Dtype,
) -> Vec<u8> {
    let mut rng = Rng(seed);
    let specs = config.required_tensors();
    let mut data: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for s in &specs {
        let n: usize = s.shape.iter().product();
        let fan_in: usize = s.shape.iter().skip(1).product::<usize>().max(1);
        let scale = (2.0 / fan_in as f32).sqrt();
        let mut v: Vec<f32> = if s.name.ends_with("running_var") {
            (0..n).map(|_| 0.5 + rng.next()).collect()
        } else if s.name.ends_with("bn1.weight") || s.name.ends_with("bn2.weight") {
            (0..n).map(|_| 0.8 + 0.4 * rng.next()).collect()
        } else {
            (0..n).map(|_| (rng.next() - 0.5) * scale).collect()
        };
        if let Some(f) = tail_bias {
            if let Some(rest) = s.name.split_once(".tail").map(|x| x.1) {
                if let Some((j, field)) = rest.split_once('.') {
                    let j: usize = j.parse().unwrap();
                    if field == "conv2.weight" {
                        v.iter_mut().for_each(|x| *x = 0.0);
                    } else if field == "conv2.bias" {
                        v = (0..3).map(|c| f(j, c)).collect();
                    }
                }
            }
        }
        data.push((s.name.clone(), s.shape.clone(), v));
    }
    let tensors: Vec<NamedTensor<'_>> = data
        .iter()
        .map(|(n, s, v)| NamedTensor {
            name: n,
            shape: s,
            data: v,
        })
        .collect();
    weights::write(config, &BTreeMap::new(), &tensors, dtype).unwrap()
}

fn tiny_wavelet(ext: Extension) -> ModelConfig {
    ModelConfig::WaveletDecoder(WaveletDecoderConfig::uniform(64, 2, 8, 4, 3, ext))
}

fn low_band(seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    (0..3 * 64 * 64).map(|_| 4.0 * rng.next()).collect()
}

#[test]
fn full_decode_equals_level_by_level() {
    for ext in Extension::ALL {
        let dec = Decoder::from_bytes(&model(&tiny_wavelet(ext), 7, None)).unwrap();
        let info = dec.info();
        assert_eq!(
            (info.levels, info.in_size, info.out_size, info.channels),
            (2, 64, 256, 3)
        );
        assert_eq!(info.extension, ext);
        let mut ws = dec.workspace().unwrap();
        let low = low_band(3);
        let mut image = vec![0.0f32; 3 * 256 * 256];
        dec.decode(&low, &mut image, &mut ws).unwrap();
        let mut ll1 = vec![0.0f32; 3 * 128 * 128];
        let mut image2 = vec![1.0f32; 3 * 256 * 256];
        dec.decode_level(1, &low, &mut ll1, &mut ws).unwrap();
        dec.decode_level(2, &ll1, &mut image2, &mut ws).unwrap();
        assert!(
            image
                .iter()
                .zip(&image2)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{ext:?}"
        );
        assert!(image.iter().all(|v| v.is_finite()));
        // Decoding twice with the same workspace gives the same answer (no state leaks between calls).
        dec.decode(&low, &mut image2, &mut ws).unwrap();
        assert_eq!(image, image2);
    }
}

/// Tails that output constants: tail j, channel c → 100·j + c. The level-1 detail band b, patch p,
/// channel c must then hold 100·(4b + p) + c everywhere (design.md: output channel 3·(tiles·b + p) + c).
#[test]
fn tails_land_in_their_band_and_patch() {
    let f = |j: usize, c: usize| (100 * j + c) as f32;
    let dec =
        Decoder::from_bytes(&model(&tiny_wavelet(Extension::Symmetric), 9, Some(&f))).unwrap();
    let mut ws = dec.workspace().unwrap();
    let low = low_band(5);
    let mut ll1 = vec![0.0f32; 3 * 128 * 128];
    dec.decode_level(1, &low, &mut ll1, &mut ws).unwrap();

    // Expected: pack low + bands built by hand, inverse one level.
    let s = 64;
    let mut expect = vec![0.0f32; 3 * 128 * 128];
    let mut scratch = vec![0.0f32; tiling::scratch_len(s).unwrap()];
    let mut bands = vec![vec![0.0f32; 3 * s * s]; 3];
    for (b, band) in bands.iter_mut().enumerate() {
        let mut patches = vec![0.0f32; 3 * s * s];
        for p in 0..4 {
            for c in 0..3 {
                patches[(p * 3 + c) * 1024..][..1024].fill(f(4 * b + p, c));
            }
        }
        tiling::untile(&patches, s, 3, Extension::Symmetric, band, &mut scratch).unwrap();
    }
    let mut ws2 = vec![0.0f32; wavelet::scratch_len(128, 128).unwrap()];
    for c in 0..3 {
        let plane = &mut expect[c * 128 * 128..(c + 1) * 128 * 128];
        for y in 0..s {
            for x in 0..s {
                plane[y * 128 + x] = low[c * s * s + y * s + x];
                plane[y * 128 + s + x] = bands[0][c * s * s + y * s + x];
                plane[(y + s) * 128 + x] = bands[1][c * s * s + y * s + x];
                plane[(y + s) * 128 + s + x] = bands[2][c * s * s + y * s + x];
            }
        }
        wavelet::idwt2(plane, 128, 128, 128, 1, Extension::Symmetric, &mut ws2).unwrap();
    }
    let err = ll1
        .iter()
        .zip(&expect)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err <= 1e-3, "max error {err}");
}

/// Tails that output zero: the decode is the plain inverse transform of the low band alone.
#[test]
fn zero_details_give_the_low_band_image() {
    let dec = Decoder::from_bytes(&model(
        &tiny_wavelet(Extension::Periodization),
        11,
        Some(&|_, _| 0.0),
    ))
    .unwrap();
    let mut ws = dec.workspace().unwrap();
    let low = low_band(8);
    let mut image = vec![0.0f32; 3 * 256 * 256];
    dec.decode(&low, &mut image, &mut ws).unwrap();
    let mut s = vec![0.0f32; wavelet::scratch_len(256, 256).unwrap()];
    for c in 0..3 {
        let mut plane = vec![0.0f32; 256 * 256];
        for y in 0..64 {
            plane[y * 256..y * 256 + 64].copy_from_slice(&low[c * 4096 + y * 64..][..64]);
        }
        wavelet::idwt2(
            &mut plane,
            256,
            256,
            256,
            2,
            Extension::Periodization,
            &mut s,
        )
        .unwrap();
        let got = &image[c * 65536..(c + 1) * 65536];
        let err = got
            .iter()
            .zip(&plane)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err <= 1e-5, "channel {c}: {err}");
    }
}

#[test]
fn pixel_decoder_runs_both_levels() {
    let cfg = ModelConfig::PixelDecoder(PixelDecoderConfig::uniform(64, 2, 4, 2));
    let dec = Decoder::from_bytes(&model(&cfg, 5, None)).unwrap();
    assert_eq!(dec.info().kind, weights::Kind::PixelDecoder);
    let mut ws = dec.workspace().unwrap();
    let low: Vec<f32> = low_band(2).iter().map(|v| v / 4.0).collect();
    let mut image = vec![0.0f32; 3 * 256 * 256];
    dec.decode(&low, &mut image, &mut ws).unwrap();
    let mut mid = vec![0.0f32; 3 * 128 * 128];
    let mut image2 = vec![0.0f32; 3 * 256 * 256];
    dec.decode_level(1, &low, &mut mid, &mut ws).unwrap();
    dec.decode_level(2, &mid, &mut image2, &mut ws).unwrap();
    assert_eq!(image, image2);
}

#[test]
fn bad_calls_are_errors() {
    let bytes = model(&tiny_wavelet(Extension::Symmetric), 1, None);
    let dec = Decoder::from_bytes(&bytes).unwrap();
    let mut ws = dec.workspace().unwrap();
    let low = low_band(1);
    let mut out = vec![0.0f32; 3 * 256 * 256];
    assert!(matches!(
        dec.decode(&low[1..], &mut out, &mut ws),
        Err(DecoderError::InputLength { .. })
    ));
    assert!(matches!(
        dec.decode(&low, &mut out[1..], &mut ws),
        Err(DecoderError::OutputLength { .. })
    ));
    assert!(matches!(
        dec.decode_level(0, &low, &mut out, &mut ws),
        Err(DecoderError::NoSuchLevel(0))
    ));
    assert!(matches!(
        dec.decode_level(3, &low, &mut out, &mut ws),
        Err(DecoderError::NoSuchLevel(3))
    ));
    let other = Decoder::from_bytes(&bytes).unwrap();
    assert!(matches!(
        other.decode(&low, &mut out, &mut ws),
        Err(DecoderError::WorkspaceMismatch)
    ));
    // Truncated files are rejected, never a panic.
    for cut in [0, 7, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(Decoder::from_bytes(&bytes[..cut]).is_err());
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/decoder")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A model written by PyTorch (scripts/make_decoder_fixture.py) with the expected pipeline output
/// computed there independently (PyTorch float64 networks + PyWavelets transforms and tiling).
#[test]
fn matches_the_independent_pytorch_pywt_pipeline() {
    let dec = Decoder::from_bytes(&fixture("tiny_wavelet.safetensors")).unwrap();
    assert_eq!(dec.info().extension, Extension::Periodization);
    let low = f32s(&fixture("low.f32"));
    let ll1_want = f32s(&fixture("ll1.f32"));
    let image_want = f32s(&fixture("image.f32"));
    let mut ws = dec.workspace().unwrap();
    let mut ll1 = vec![0.0f32; ll1_want.len()];
    dec.decode_level(1, &low, &mut ll1, &mut ws).unwrap();
    let e1 = ll1
        .iter()
        .zip(&ll1_want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let mut image = vec![0.0f32; image_want.len()];
    dec.decode(&low, &mut image, &mut ws).unwrap();
    let e2 = image
        .iter()
        .zip(&image_want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        e1 <= 1e-4 && e2 <= 1e-4,
        "level 1 max error {e1:e}, image max error {e2:e}"
    );
}

/// The same random model stored as F16 and BF16 (widened to f32 at load) decodes close to the F32
/// file: the error is the weights' rounding propagated through both levels, reported here.
#[test]
fn half_precision_weights_error_vs_f32() {
    let cfg = tiny_wavelet(Extension::Symmetric);
    let low = low_band(4);
    let decode = |dtype| {
        let dec = Decoder::from_bytes(&model_as(&cfg, 21, None, dtype)).unwrap();
        let mut ws = dec.workspace().unwrap();
        let mut image = vec![0.0f32; 3 * 256 * 256];
        dec.decode(&low, &mut image, &mut ws).unwrap();
        image
    };
    let reference = decode(Dtype::F32);
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (dtype, bound) in [(Dtype::F16, 2e-3f32), (Dtype::BF16, 2e-2)] {
        let image = decode(dtype);
        let err = image
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        println!("{dtype:?} weights: max |image - f32 image| = {err:e} (image max {scale})");
        assert!(
            err > 0.0,
            "{dtype:?} gave exactly the f32 result: rounding did not happen"
        );
        assert!(err <= bound * scale, "{dtype:?}: {err} > {bound}·{scale}");
    }
}

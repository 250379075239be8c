//! Decoder inference against PyTorch (fixtures from `scripts/make_nn_fixtures.py`), on every kernel path
//! this CPU has, both convolution algorithms and 1 and 2 threads; plus the error paths.
//!
//! `NSBG_NN_ENSURE_ISA=avx512` (or `avx2`, comma separated) makes the run fail unless that path was
//! exercised (CI on a machine known to have it, style anchor A5).
#![cfg(feature = "std")]

use std::collections::HashMap;
use std::path::PathBuf;

use nsbg_core::nn::{
    self, Algo, Isa, LoadOptions, NnError, PixelNet, PixelShape, TensorSource, UNetShape,
    WaveletNet,
};
use serde_json::Value;

const TOL: f32 = 1e-4;

struct Fixture {
    name: String,
    kind: String,
    side: usize,
    shape: Value,
    prefix: String,
    bn_eps: f32,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    input: Vec<f32>,
    output: Vec<f32>,
}

impl TensorSource for Fixture {
    fn tensor(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        self.tensors.get(name).cloned()
    }
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nn")
}

fn fixtures() -> Vec<Fixture> {
    let index: Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("index.json")).expect("index.json"),
    )
    .expect("json");
    let cases = index["cases"].as_array().expect("cases");
    assert!(
        cases.len() >= 5,
        "fixture index lists {} cases",
        cases.len()
    );
    cases
        .iter()
        .map(|c| {
            let bytes =
                std::fs::read(dir().join(c["file"].as_str().unwrap())).expect("fixture data");
            let f: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            let u = |v: &Value| v.as_u64().unwrap() as usize;
            let tensors = c["tensors"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, t)| {
                    let shape: Vec<usize> = t["shape"].as_array().unwrap().iter().map(u).collect();
                    let n: usize = shape.iter().product();
                    let off = u(&t["offset"]);
                    (k.clone(), (shape, f[off..off + n].to_vec()))
                })
                .collect();
            let slice = |v: &Value| f[u(&v["offset"])..][..u(&v["len"])].to_vec();
            Fixture {
                name: c["name"].as_str().unwrap().into(),
                kind: c["kind"].as_str().unwrap().into(),
                side: u(&c["side"]),
                shape: c["shape"].clone(),
                prefix: c["prefix"].as_str().unwrap().into(),
                bn_eps: c["bn_eps"].as_f64().unwrap() as f32,
                tensors,
                input: slice(&c["input"]),
                output: slice(&c["output"]),
            }
        })
        .collect()
}

fn unet_shape(v: &Value) -> UNetShape {
    let u = |k: &str| v[k].as_u64().unwrap() as usize;
    UNetShape {
        n_in: u("n_in"),
        n_tails: u("n_tails"),
        width: u("width"),
        depth: u("depth"),
        tail_width: u("tail_width"),
    }
}

fn pixel_shape(v: &Value) -> PixelShape {
    PixelShape {
        base: v["base"].as_u64().unwrap() as usize,
        depth: v["depth"].as_u64().unwrap() as usize,
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A network under test, either kind.
enum Net {
    W(WaveletNet),
    P(PixelNet),
}

impl Net {
    fn load(f: &Fixture, algo: Algo) -> Result<Net, NnError> {
        Ok(if f.kind == "wavelet" {
            let opts = LoadOptions {
                algo,
                nominal_side: f.side,
            };
            Net::W(WaveletNet::load_with(
                f,
                &f.prefix,
                &unet_shape(&f.shape),
                f.bn_eps,
                &opts,
            )?)
        } else {
            let opts = LoadOptions {
                algo,
                nominal_side: 2 * f.side,
            };
            Net::P(PixelNet::load_with(
                f,
                &f.prefix,
                &pixel_shape(&f.shape),
                f.bn_eps,
                &opts,
            )?)
        })
    }

    fn configure(&mut self, isa: Isa, threads: usize) {
        match self {
            Net::W(n) => {
                n.set_isa(isa).unwrap();
                n.set_threads(threads);
            }
            Net::P(n) => {
                n.set_isa(isa).unwrap();
                n.set_threads(threads);
            }
        }
    }

    fn run(&self, input: &[f32], side: usize, out_len: usize) -> Vec<f32> {
        let mut out = vec![f32::NAN; out_len];
        match self {
            Net::W(n) => {
                let mut ws = n.workspace(side).unwrap();
                n.forward(input, side, &mut out, &mut ws).unwrap();
                // A second call on the same workspace gives the same result (no state leaks between calls).
                let mut again = vec![0.0; out_len];
                n.forward(input, side, &mut again, &mut ws).unwrap();
                assert_eq!(out, again);
            }
            Net::P(n) => {
                let mut ws = n.workspace(side).unwrap();
                n.forward(input, side, &mut out, &mut ws).unwrap();
            }
        }
        out
    }
}

#[test]
fn fixture_tensor_tables_match_the_architecture() {
    for f in fixtures() {
        let specs = if f.kind == "wavelet" {
            WaveletNet::tensor_specs(&f.prefix, &unet_shape(&f.shape))
        } else {
            PixelNet::tensor_specs(&f.prefix, &pixel_shape(&f.shape))
        };
        let mut want: Vec<(String, Vec<usize>)> = specs;
        want.sort();
        let mut got: Vec<(String, Vec<usize>)> = f
            .tensors
            .iter()
            .map(|(k, (s, _))| (k.clone(), s.clone()))
            .collect();
        got.sort();
        assert_eq!(
            want, got,
            "{}: tensor names/shapes differ from design.md",
            f.name
        );
    }
}

#[test]
fn matches_pytorch_on_every_path() {
    let isas: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.is_available()).collect();
    let before: Vec<usize> = Isa::ALL.iter().map(|&i| nn::isa_runs(i)).collect();
    let mut worst = 0.0f32;
    for f in fixtures() {
        for algo in [Algo::Auto, Algo::Direct, Algo::Winograd] {
            let mut net = Net::load(&f, algo).unwrap();
            for &isa in &isas {
                for threads in [1, 2] {
                    net.configure(isa, threads);
                    let out = net.run(&f.input, f.side, f.output.len());
                    let err = max_abs_diff(&out, &f.output);
                    worst = worst.max(err);
                    assert!(
                        err <= TOL,
                        "{} {algo:?} {isa:?} {threads} threads: max abs error {err:e}",
                        f.name
                    );
                }
            }
        }
    }
    eprintln!(
        "max abs error vs PyTorch over every case, path, algorithm and thread count: {worst:e}"
    );
    for (k, &isa) in Isa::ALL.iter().enumerate() {
        if isa.is_available() {
            assert!(
                nn::isa_runs(isa) > before[k],
                "{isa:?} is available but was not exercised"
            );
        }
    }
    if let Ok(list) = std::env::var("NSBG_NN_ENSURE_ISA") {
        for name in list.split(',').filter(|s| !s.trim().is_empty()) {
            let isa = Isa::from_name(name)
                .unwrap_or_else(|| panic!("NSBG_NN_ENSURE_ISA: unknown {name}"));
            assert!(
                isa.is_available(),
                "NSBG_NN_ENSURE_ISA={name}, but this CPU lacks it"
            );
            assert!(nn::isa_runs(isa) > 0, "{name} was not exercised");
        }
    }
}

#[test]
fn isa_detection_and_env_override() {
    assert!(Isa::Scalar.is_available());
    assert!(Isa::best().is_available());
    let d = Isa::detect();
    assert!(d.is_available());
    match std::env::var(nn::ISA_ENV)
        .ok()
        .and_then(|v| Isa::from_name(&v))
    {
        Some(forced) if forced.is_available() => assert_eq!(d, forced),
        _ => assert_eq!(d, Isa::best()),
    }
    for isa in Isa::ALL {
        assert_eq!(Isa::from_name(isa.name()), Some(isa));
    }
    assert_eq!(Isa::from_name("AVX512"), Some(Isa::Avx512));
    assert_eq!(Isa::from_name("sse"), None);
}

/// `(shape, data)` of one tensor.
type Tensor = (Vec<usize>, Vec<f32>);
/// Rewrites (or drops) one tensor.
type Edit = fn(Vec<usize>, Vec<f32>) -> Option<Tensor>;

/// Loads a fixture with one tensor removed / reshaped / altered.
struct Edited<'a> {
    base: &'a Fixture,
    name: &'a str,
    edit: Edit,
}

impl TensorSource for Edited<'_> {
    fn tensor(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        let t = self.base.tensor(name)?;
        if name == self.name {
            (self.edit)(t.0, t.1)
        } else {
            Some(t)
        }
    }
}

#[test]
fn load_errors() {
    let fx = fixtures();
    let f = fx.iter().find(|f| f.name == "wavelet_l1_w16").unwrap();
    let shape = unet_shape(&f.shape);
    let load = |name: &'static str, edit: Edit| {
        WaveletNet::load(
            &Edited {
                base: f,
                name,
                edit,
            },
            &f.prefix,
            &shape,
            f.bn_eps,
        )
        .err()
    };
    assert_eq!(
        load("level1.up2.conv1.weight", |_, _| None),
        Some(NnError::MissingTensor("level1.up2.conv1.weight".into()))
    );
    assert!(matches!(
        load("level1.tail3.bn1.running_var", |_, _| None),
        Some(NnError::MissingTensor(_))
    ));
    assert!(matches!(
        load("level1.inc.conv2.weight", |mut s, d| {
            s[1] += 1;
            Some((s, d))
        }),
        Some(NnError::TensorShape { .. })
    ));
    assert!(matches!(
        load("level1.down1.conv1.bias", |s, mut d| {
            d.pop();
            Some((s, d))
        }),
        Some(NnError::TensorData { .. })
    ));
    assert!(matches!(
        load("level1.down3.bn2.running_var", |s, mut d| {
            d[5] = -1.0;
            Some((s, d))
        }),
        Some(NnError::BadBatchNorm { channel: 5, .. })
    ));
    // A wrong prefix finds nothing.
    assert!(matches!(
        WaveletNet::load(f, "level2.", &shape, f.bn_eps),
        Err(NnError::MissingTensor(_))
    ));
    let bad = UNetShape { width: 0, ..shape };
    assert!(matches!(
        WaveletNet::load(f, &f.prefix, &bad, f.bn_eps),
        Err(NnError::BadShape(_))
    ));
}

#[test]
fn forward_errors() {
    let fx = fixtures();
    let f = fx.iter().find(|f| f.name == "wavelet_l1_w16").unwrap();
    let mut net = WaveletNet::load(f, &f.prefix, &unet_shape(&f.shape), f.bn_eps).unwrap();
    assert!(matches!(
        net.workspace(20),
        Err(NnError::BadSide {
            side: 20,
            multiple: 8
        })
    ));
    assert!(matches!(net.workspace(0), Err(NnError::BadSide { .. })));
    let huge = (usize::MAX >> 8) & !7;
    assert_eq!(net.workspace(huge).err(), Some(NnError::SideTooLarge(huge)));
    assert_eq!(
        net.workspace_bytes(huge).err(),
        Some(NnError::SideTooLarge(huge))
    );
    let mut ws = net.workspace(32).unwrap();
    let mut out = vec![0.0; f.output.len()];
    assert_eq!(
        net.forward(&f.input[1..], 32, &mut out, &mut ws),
        Err(NnError::InputLength {
            needed: f.input.len(),
            got: f.input.len() - 1
        })
    );
    assert!(matches!(
        net.forward(&f.input, 32, &mut out[1..], &mut ws),
        Err(NnError::OutputLength { .. })
    ));
    // A workspace for another side, or made before the thread count changed, is refused.
    let mut ws16 = net.workspace(16).unwrap();
    assert_eq!(
        net.forward(&f.input, 32, &mut out, &mut ws16),
        Err(NnError::WorkspaceMismatch)
    );
    net.set_threads(2);
    assert_eq!(
        net.forward(&f.input, 32, &mut out, &mut ws),
        Err(NnError::WorkspaceMismatch)
    );
    let mut ws = net.workspace(32).unwrap();
    net.forward(&f.input, 32, &mut out, &mut ws).unwrap();
    assert!(ws.bytes() > 0 && ws.bytes() == net.workspace_bytes(32).unwrap());
    // Another network's workspace is refused too.
    let p = fx.iter().find(|f| f.kind == "pixel").unwrap();
    let pn = PixelNet::load(p, &p.prefix, &pixel_shape(&p.shape), p.bn_eps).unwrap();
    let mut pws = pn.workspace(32).unwrap();
    assert_eq!(
        net.forward(&f.input, 32, &mut out, &mut pws),
        Err(NnError::WorkspaceMismatch)
    );
    for isa in Isa::ALL {
        assert_eq!(net.set_isa(isa).is_ok(), isa.is_available());
    }
}

#[test]
fn other_sides_run() {
    // The same weights on a side other than the fixture's (any multiple of 2^depth works).
    let fx = fixtures();
    let f = fx.iter().find(|f| f.name == "wavelet_l1_w16").unwrap();
    let shape = unet_shape(&f.shape);
    let direct = WaveletNet::load_with(
        f,
        &f.prefix,
        &shape,
        f.bn_eps,
        &LoadOptions {
            algo: Algo::Direct,
            nominal_side: 32,
        },
    )
    .unwrap();
    let wino = WaveletNet::load_with(
        f,
        &f.prefix,
        &shape,
        f.bn_eps,
        &LoadOptions {
            algo: Algo::Winograd,
            nominal_side: 32,
        },
    )
    .unwrap();
    for side in [8, 24, 48] {
        let input: Vec<f32> = (0..shape.n_in * side * side)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let mut a = vec![0.0; 3 * shape.n_tails * side * side];
        let mut b = a.clone();
        direct
            .forward(&input, side, &mut a, &mut direct.workspace(side).unwrap())
            .unwrap();
        wino.forward(&input, side, &mut b, &mut wino.workspace(side).unwrap())
            .unwrap();
        let err = max_abs_diff(&a, &b);
        assert!(err <= TOL, "side {side}: direct vs Winograd {err:e}");
    }
}

#[test]
fn shallow_and_odd_shapes_agree_across_algorithms_and_paths() {
    // Shapes the fixtures do not cover (depth 0 and 1, widths that are not multiples of the 12-channel
    // weight panels), random weights: every algorithm and instruction set must agree.
    use nsbg_core::nn::bench::{random_input, RandomSource};
    let shapes = [
        UNetShape {
            n_in: 3,
            n_tails: 1,
            width: 13,
            depth: 0,
            tail_width: 5,
        },
        UNetShape {
            n_in: 6,
            n_tails: 2,
            width: 20,
            depth: 1,
            tail_width: 17,
        },
    ];
    for shape in shapes {
        let src = RandomSource::new(WaveletNet::tensor_specs("l.", &shape), 7);
        let side = 16;
        let input = random_input(shape.n_in * side * side, 3);
        let mut reference: Option<Vec<f32>> = None;
        for algo in [Algo::Direct, Algo::Winograd, Algo::Auto] {
            let mut net = WaveletNet::load_with(
                &src,
                "l.",
                &shape,
                1e-5,
                &LoadOptions {
                    algo,
                    nominal_side: side,
                },
            )
            .unwrap();
            for isa in Isa::ALL.into_iter().filter(|i| i.is_available()) {
                for threads in [1, 3] {
                    net.set_isa(isa).unwrap();
                    net.set_threads(threads);
                    let mut out = vec![0.0; 3 * shape.n_tails * side * side];
                    net.forward(&input, side, &mut out, &mut net.workspace(side).unwrap())
                        .unwrap();
                    match &reference {
                        None => reference = Some(out),
                        Some(r) => {
                            let err = max_abs_diff(r, &out);
                            assert!(err <= TOL, "{shape:?} {algo:?} {isa:?} {threads}: {err:e}");
                        }
                    }
                }
            }
        }
    }
    let p = PixelShape { base: 5, depth: 1 };
    let src = RandomSource::new(PixelNet::tensor_specs("p.", &p), 9);
    let input: Vec<f32> = random_input(3 * 8 * 8, 4);
    let mut outs = Vec::new();
    for algo in [Algo::Direct, Algo::Winograd] {
        let net = PixelNet::load_with(
            &src,
            "p.",
            &p,
            1e-5,
            &LoadOptions {
                algo,
                nominal_side: 16,
            },
        )
        .unwrap();
        let mut out = vec![0.0; 3 * 16 * 16];
        net.forward(&input, 8, &mut out, &mut net.workspace(8).unwrap())
            .unwrap();
        outs.push(out);
    }
    assert!(max_abs_diff(&outs[0], &outs[1]) <= TOL);
}

//! Benchmark support (`std`): deterministic random weights through [`TensorSource`] and a timer.

use alloc::string::String;
use alloc::vec::Vec;
use std::time::Instant;

use super::TensorSource;

/// Random tensors for a list of `(name, shape)` specs (e.g. `WaveletNet::tensor_specs`): conv weights
/// uniform in ±1/√fan_in (PyTorch's default init range), biases and BatchNorm statistics in ranges that
/// keep activations O(1). Deterministic in `seed` and the tensor name.
#[derive(Debug, Clone)]
pub struct RandomSource {
    specs: Vec<(String, Vec<usize>)>,
    seed: u64,
}

impl RandomSource {
    /// A source serving exactly `specs`.
    pub fn new(specs: Vec<(String, Vec<usize>)>, seed: u64) -> Self {
        RandomSource { specs, seed }
    }

    /// Parameter count (excluding BatchNorm running statistics).
    pub fn parameters(&self) -> usize {
        self.specs
            .iter()
            .filter(|(n, _)| !n.ends_with("running_mean") && !n.ends_with("running_var"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// SplitMix64 → uniform f32 in [0, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }
}

impl TensorSource for RandomSource {
    fn tensor(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        let (_, shape) = self.specs.iter().find(|(n, _)| n == name)?;
        let mut h = self.seed ^ 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        let mut rng = Rng(h);
        let n: usize = shape.iter().product();
        let (lo, hi) = if name.ends_with(".weight") && shape.len() == 4 {
            let a = 1.0 / ((shape[1] * 9) as f32).sqrt();
            (-a, a)
        } else if name.ends_with("running_var") || name.ends_with(".weight") {
            (0.5, 1.5)
        } else {
            (-0.1, 0.1)
        };
        let data = (0..n).map(|_| lo + (hi - lo) * rng.next()).collect();
        Some((shape.clone(), data))
    }
}

/// Deterministic input values in [−1, 1).
pub fn random_input(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    (0..n).map(|_| 2.0 * rng.next() - 1.0).collect()
}

/// Timing summary of repeated runs.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Median seconds per call.
    pub median_s: f64,
    /// Fastest call.
    pub min_s: f64,
    /// Calls timed.
    pub iters: usize,
}

/// Runs `f` `warmup` times, then at least `min_iters` times and until `min_seconds` have passed.
pub fn time(mut f: impl FnMut(), warmup: usize, min_iters: usize, min_seconds: f64) -> Timing {
    for _ in 0..warmup {
        f();
    }
    let mut v = Vec::new();
    let start = Instant::now();
    while v.len() < min_iters.max(1) || start.elapsed().as_secs_f64() < min_seconds {
        let t = Instant::now();
        f();
        v.push(t.elapsed().as_secs_f64());
    }
    v.sort_by(f64::total_cmp);
    Timing {
        median_s: v[v.len() / 2],
        min_s: v[0],
        iters: v.len(),
    }
}

/// Times one folded 3×3 convolution layer (`cin → cout` at `side × side`, ReLU) with random weights:
/// the building block of both decoders, for tuning. Returns the timing and the workspace elements used.
pub fn conv_layer(
    cin: usize,
    cout: usize,
    side: usize,
    algo: super::Algo,
    isa: super::Isa,
    threads: usize,
    min_seconds: f64,
) -> Result<Timing, super::NnError> {
    use super::conv::{Conv3x3, Scratch, Src};
    use super::simd::AlignedBuf;
    let w = random_input(cout * cin * 9, 3)
        .iter()
        .map(|x| x / (cin as f32 * 9.0).sqrt())
        .collect::<Vec<_>>();
    let b = random_input(cout, 4);
    let algo = if algo == super::Algo::Winograd {
        algo
    } else {
        super::Algo::Direct
    };
    let conv = Conv3x3::new(&w, &b, cin, cout, true, algo);
    let x = random_input(cin * side * side, 5);
    let mut out = alloc::vec![0.0f32; cout * side * side];
    let need = conv.need(side, side);
    let threads = super::par::effective(threads);
    let tl = need.thread.div_ceil(16) * 16;
    let mut v = AlignedBuf::zeros(need.v);
    let mut thr = AlignedBuf::zeros(tl * threads);
    let timing = super::with_kernel!(isa, k => time(
        || {
            let mut s = Scratch { v: v.as_mut_slice(), thr: thr.as_mut_slice(), thread_len: tl, threads };
            conv.forward(k, Src::one(&x, side * side), side, side, &mut out, &mut s);
        },
        1,
        3,
        min_seconds,
    ));
    Ok(timing)
}

/// GFLOP/s of the GEMM micro-kernel alone on cache-resident panels (`kc` reduction steps per call).
pub fn gemm_kernel_gflops(isa: super::Isa, kc: usize, calls: usize) -> Result<f64, super::NnError> {
    use super::simd::{AlignedBuf, Init, Kernel, MR_MAX, NRP};
    let a = AlignedBuf::zeros(kc * MR_MAX);
    let b = AlignedBuf::zeros(kc * NRP);
    let mut c = AlignedBuf::zeros(NRP * MR_MAX);
    fn run<K: Kernel>(
        k: K,
        kc: usize,
        calls: usize,
        a: &[f32],
        b: &[f32],
        c: &mut [f32],
    ) -> (f64, usize) {
        let t = Instant::now();
        for _ in 0..calls {
            k.gemm(kc, a, b, c, K::MR, K::MR, NRP, Init::Load, false, &[]);
        }
        (t.elapsed().as_secs_f64(), K::MR)
    }
    let (secs, mr) = super::with_kernel!(isa, k => run(k, kc, calls, a.as_slice(), b.as_slice(), c.as_mut_slice()));
    Ok(2.0 * (kc * mr * NRP * calls) as f64 / secs / 1e9)
}

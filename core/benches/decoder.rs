//! Decoder forward timing (`scripts/bench-decoder.sh` runs it and compares with PyTorch).
//!
//! The timings are `#[test]`s of this bench target (stable Rust has no `#[bench]`), so run it with
//! `cargo test --release -p nsbg-core --features std --bench decoder -- --nocapture --test-threads 1`.
//! They time only with `NSBG_BENCH_DECODER=1` (otherwise a tiny smoke run, so `cargo test --all-targets`
//! stays fast). Output: one JSON object per line, prefixed `BENCH `.
//! Knobs: `NSBG_BENCH_CONFIGS` (comma list of `paper`, `small`, `pixel`), `NSBG_BENCH_THREADS`
//! (comma list; default `1,<all>`), `NSBG_BENCH_SECONDS` (minimum timing per row, default 3),
//! `NSBG_NN_ISA` (force `scalar`/`avx2`/`avx512`). `NSBG_BENCH_LAYERS=1` adds per-layer (Winograd vs
//! direct, `NSBG_BENCH_LAYER_SHAPES="512x512@32,…"`) and micro-kernel timings.
#![cfg(feature = "std")]

use nsbg_core::nn::bench::{random_input, time, RandomSource};
use nsbg_core::nn::{available_threads, PixelNet, PixelShape, UNetShape, WaveletNet};

enum Cfg {
    Wavelet(&'static str, UNetShape, usize),
    Pixel(&'static str, PixelShape, usize),
}

fn configs() -> Vec<Cfg> {
    let l1 = |width, tail_width| UNetShape {
        n_in: 12,
        n_tails: 12,
        width,
        depth: 3,
        tail_width,
    };
    vec![
        Cfg::Wavelet("paper", l1(512, 256), 32),
        Cfg::Wavelet("small", l1(64, 32), 32),
        Cfg::Pixel("pixel", PixelShape { base: 64, depth: 4 }, 64),
    ]
}

fn env_list(key: &str) -> Option<Vec<String>> {
    std::env::var(key).ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

#[test]
fn decoder_forward() {
    let full = std::env::var("NSBG_BENCH_DECODER").is_ok_and(|v| v == "1");
    let wanted =
        env_list("NSBG_BENCH_CONFIGS").unwrap_or_else(|| vec!["paper".into(), "small".into()]);
    let threads: Vec<usize> = env_list("NSBG_BENCH_THREADS")
        .map(|v| v.iter().map(|s| s.parse().expect("thread count")).collect())
        .unwrap_or_else(|| {
            let n = available_threads();
            if n > 1 {
                vec![1, n]
            } else {
                vec![1]
            }
        });
    let secs: f64 = std::env::var("NSBG_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    for cfg in configs() {
        let name = match &cfg {
            Cfg::Wavelet(n, ..) | Cfg::Pixel(n, ..) => *n,
        };
        if full && !wanted.iter().any(|w| w == name) {
            continue;
        }
        if !full && name != "small" {
            continue;
        }
        match cfg {
            Cfg::Wavelet(name, shape, side) => {
                let src = RandomSource::new(WaveletNet::tensor_specs("level1.", &shape), 1);
                let mut net = WaveletNet::load(&src, "level1.", &shape, 1e-5).expect("load");
                let input = random_input(shape.n_in * side * side, 2);
                let mut out = vec![0.0; 3 * shape.n_tails * side * side];
                for &t in &threads {
                    net.set_threads(t);
                    let mut ws = net.workspace(side).expect("workspace");
                    let tm = if full {
                        time(
                            || {
                                net.forward(&input, side, &mut out, &mut ws)
                                    .expect("forward")
                            },
                            2,
                            5,
                            secs,
                        )
                    } else {
                        time(
                            || {
                                net.forward(&input, side, &mut out, &mut ws)
                                    .expect("forward")
                            },
                            0,
                            1,
                            0.0,
                        )
                    };
                    report(
                        name,
                        t,
                        &tm,
                        net.flops(side),
                        ws.bytes(),
                        net.weight_bytes(),
                        src.parameters(),
                        net.isa().name(),
                    );
                }
            }
            Cfg::Pixel(name, shape, side) => {
                let src = RandomSource::new(PixelNet::tensor_specs("level1.", &shape), 1);
                let mut net = PixelNet::load(&src, "level1.", &shape, 1e-5).expect("load");
                let input: Vec<f32> = random_input(3 * side * side, 2)
                    .iter()
                    .map(|x| 0.5 + 0.5 * x)
                    .collect();
                let mut out = vec![0.0; 12 * side * side];
                for &t in &threads {
                    net.set_threads(t);
                    let mut ws = net.workspace(side).expect("workspace");
                    let tm = time(
                        || {
                            net.forward(&input, side, &mut out, &mut ws)
                                .expect("forward")
                        },
                        1,
                        3,
                        secs,
                    );
                    report(
                        name,
                        t,
                        &tm,
                        net.flops(side),
                        ws.bytes(),
                        net.weight_bytes(),
                        src.parameters(),
                        net.isa().name(),
                    );
                }
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    config: &str,
    threads: usize,
    tm: &nsbg_core::nn::bench::Timing,
    flops: u64,
    ws: usize,
    wb: usize,
    params: usize,
    isa: &str,
) {
    println!(
        "BENCH {{\"config\":\"{config}\",\"threads\":{threads},\"ms\":{:.3},\"min_ms\":{:.3},\"iters\":{},\"gflop\":{:.3},\"gflops\":{:.1},\"workspace_bytes\":{ws},\"weight_bytes\":{wb},\"params\":{params},\"isa\":\"{isa}\"}}",
        tm.median_s * 1e3,
        tm.min_s * 1e3,
        tm.iters,
        flops as f64 / 1e9,
        flops as f64 / tm.median_s / 1e9,
    );
}

/// Per-layer timing of the paper-size convolutions (`NSBG_BENCH_LAYERS=1`), Winograd vs direct.
#[test]
fn conv_layers() {
    if std::env::var("NSBG_BENCH_LAYERS").is_err() {
        return;
    }
    use nsbg_core::nn::{bench::conv_layer, Algo, Isa};
    let threads: usize = std::env::var("NSBG_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let isa = Isa::detect();
    // NSBG_BENCH_LAYER_SHAPES="512x512@32,512x256@32" picks shapes (cin x cout @ side).
    let custom: Option<Vec<(usize, usize, usize)>> = env_list("NSBG_BENCH_LAYER_SHAPES").map(|v| {
        v.iter()
            .map(|s| {
                let (io, side) = s.split_once('@').expect("cinxcout@side");
                let (i, o) = io.split_once('x').expect("cinxcout@side");
                (
                    i.parse().unwrap(),
                    o.parse().unwrap(),
                    side.parse().unwrap(),
                )
            })
            .collect()
    });
    let default = vec![
        (512, 512, 32),
        (1024, 512, 32),
        (512, 256, 32),
        (12, 512, 32),
        (256, 3, 32),
        (512, 512, 16),
        (1024, 512, 16),
        (512, 512, 8),
        (1024, 512, 8),
        (512, 512, 4),
        (64, 64, 32),
        (128, 64, 32),
        (64, 32, 32),
        (64, 64, 16),
    ];
    for (cin, cout, side) in custom.unwrap_or(default) {
        let fl = 18.0 * (cin * cout * side * side) as f64;
        let mut line = format!("{cin:5}->{cout:4} @{side:3}  {:.0} MFLOP", fl / 1e6);
        for algo in [Algo::Direct, Algo::Winograd] {
            let t = conv_layer(cin, cout, side, algo, isa, threads, 0.5).unwrap();
            line += &format!(
                "  {algo:?}: {:7.3} ms ({:5.1} GFLOP/s eff)",
                t.min_s * 1e3,
                fl / t.min_s / 1e9
            );
        }
        println!("{line}");
    }
}

/// Peak of the GEMM micro-kernel per instruction set (`NSBG_BENCH_LAYERS=1`).
#[test]
fn gemm_kernel_peak() {
    if std::env::var("NSBG_BENCH_LAYERS").is_err() {
        return;
    }
    for isa in nsbg_core::nn::Isa::ALL
        .into_iter()
        .filter(|i| i.is_available())
    {
        for kc in [64, 128, 256] {
            let g = nsbg_core::nn::bench::gemm_kernel_gflops(isa, kc, 200_000).unwrap();
            println!("gemm kernel {:7} kc {kc:4}: {g:6.1} GFLOP/s", isa.name());
        }
    }
}

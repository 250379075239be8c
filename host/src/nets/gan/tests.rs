//! Unit tests of the GAN networks: paper parameter counts, shapes, SN, EMA, init, attention, gradients.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::*;

/// libtorch's OpenMP threads spin while waiting (the binary re-executes itself with
/// `OMP_WAIT_POLICY=PASSIVE`, unit tests cannot); on this shared 2-core machine that made these tests
/// 10–20× slower. One intra-op thread per test process avoids the spinning; tests run in parallel anyway.
fn setup() {
    tch::set_num_threads(1);
}

/// A small configuration that still has every component (attention in G and D, several stages).
fn small(arch: Arch, resolution: i64, n_classes: i64) -> GanConfig {
    let mut c = GanConfig::paper(arch);
    c.resolution = resolution;
    c.g_ch = 8;
    c.d_ch = 8;
    c.dim_z = 20;
    c.shared_dim = 8;
    c.n_classes = n_classes;
    // Attention at 16 keeps the 128-pixel models fast (N² attention at 64 dominates their time).
    let attn = 16;
    c.g_attn = Some(attn);
    c.d_attn = c
        .d_stages()
        .iter()
        .map(|s| s.resolution)
        .find(|&r| r <= attn);
    c
}

fn counts(cfg: &GanConfig) -> (i64, i64) {
    let g = VarStore::new(Device::Cpu);
    Generator::new_with_init(&g.root(), cfg, WeightInit::Zeros).unwrap();
    let d = VarStore::new(Device::Cpu);
    Discriminator::new_with_init(&d.root(), cfg, WeightInit::Zeros).unwrap();
    (parameter_count(&g), parameter_count(&d))
}

#[test]
fn paper_parameter_counts() {
    setup();
    let deep = GanConfig::paper(Arch::BigGanDeep);
    assert_eq!(counts(&deep), (49_829_636, 20_951_554), "BigGAN-deep ch128");
    let big = GanConfig::paper(Arch::BigGan);
    assert_eq!(counts(&big), (70_377_348, 45_511_970), "BigGAN ch96");
    let mut ch64 = GanConfig::paper(Arch::BigGan);
    ch64.g_ch = 64;
    ch64.d_ch = 64;
    assert_eq!(counts(&ch64), (31_969_540, 20_571_842), "BigGAN ch64");
}

#[test]
fn shapes_and_range_all_resolutions() {
    setup();
    tch::manual_seed(0);
    for arch in [Arch::BigGan, Arch::BigGanDeep] {
        for res in [32, 64, 128] {
            for n_classes in [1, 5] {
                let cfg = small(arch, res, n_classes);
                let gvs = VarStore::new(Device::Cpu);
                let g = Generator::new(&gvs.root(), &cfg).unwrap();
                let dvs = VarStore::new(Device::Cpu);
                let d = Discriminator::new(&dvs.root(), &cfg).unwrap();
                let n = 2;
                let z = Tensor::randn([n, g.dim_z()], (Kind::Float, Device::Cpu));
                let y = Tensor::randint(n_classes, [n], (Kind::Int64, Device::Cpu));
                g.check_inputs(&z, &y).unwrap();
                for train in [true, false] {
                    let x = g.forward(&z, &y, train);
                    assert_eq!(x.size(), [n, 3, res, res], "{arch:?} {res} {n_classes}");
                    let lo = x.min().double_value(&[]);
                    let hi = x.max().double_value(&[]);
                    assert!((-1.0..=1.0).contains(&lo) && (-1.0..=1.0).contains(&hi));
                    assert!(hi > lo, "constant output");
                    d.check_inputs(&x, &y).unwrap();
                    let s = d.forward(&x, &y, train);
                    assert_eq!(s.size(), [n], "{arch:?} {res}");
                    assert!(s.isfinite().all().int64_value(&[]) == 1);
                }
            }
        }
    }
}

fn var(vs: &VarStore, name: &str) -> Tensor {
    vs.variables()
        .remove(name)
        .unwrap_or_else(|| panic!("no variable {name}"))
}

/// Largest singular value by a full SVD (libtorch's `linalg_svdvals` takes a CUDA-only driver argument
/// through tch, so use `svd`).
fn top_singular_value(m: &Tensor) -> f64 {
    m.svd(true, false).1.max().double_value(&[])
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Power iteration: after enough training-mode forwards σ equals the top singular value, so W/σ has
/// spectral norm 1; eval-mode forwards leave u alone, training-mode ones move it.
#[test]
fn spectral_norm_converges_and_u_updates_only_in_train() {
    setup();
    tch::manual_seed(1);
    let vs = VarStore::new(Device::Cpu);
    let lin = sn::SnLinear::new(
        &(vs.root() / "lin"),
        24,
        12,
        true,
        1e-6,
        WeightInit::Orthogonal,
    );
    // A generic (non-orthogonal) weight with a clear top singular value.
    tch::no_grad(|| {
        lin.w
            .weight
            .shallow_clone()
            .copy_(&(Tensor::randn([12, 24], (Kind::Float, Device::Cpu)) * 3.0))
    });
    let x = Tensor::randn([4, 24], (Kind::Float, Device::Cpu));
    let u0 = lin.w.u.copy();
    let _ = lin.forward(&x, false);
    assert_eq!(max_abs_diff(&lin.w.u, &u0), 0.0, "eval forward changed u");
    let _ = lin.forward(&x, true);
    assert!(max_abs_diff(&lin.w.u, &u0) > 1e-3, "train forward kept u");
    for _ in 0..200 {
        let _ = lin.forward(&x, true);
    }
    let top = top_singular_value(&lin.w.weight);
    let normalized = lin.w.normalized(false).detach();
    let top_n = top_singular_value(&normalized);
    assert!(
        (top_n - 1.0).abs() < 1e-3,
        "top singular value of W/σ = {top_n}"
    );
    assert!(top > 2.0, "test weight too small: {top}");
    let logged = lin.w.sv.double_value(&[0]);
    assert!((logged - top).abs() < 1e-3 * top, "sv0 {logged} vs {top}");
    let sigmas = spectral_norms(&vs);
    assert_eq!(sigmas.len(), 1);
    assert_eq!(sigmas[0].0, "lin");
    assert!(
        (sigmas[0].1 - top).abs() < 1e-3 * top,
        "{sigmas:?} vs {top}"
    );
}

/// Whole generator: training-mode forwards change every SN u and BN running statistic, eval-mode ones
/// change nothing.
#[test]
fn generator_buffers_change_only_in_train_mode() {
    setup();
    tch::manual_seed(2);
    let cfg = small(Arch::BigGan, 32, 3);
    let vs = VarStore::new(Device::Cpu);
    let g = Generator::new(&vs.root(), &cfg).unwrap();
    let z = Tensor::randn([4, g.dim_z()], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 2, 1]);
    let snapshot = || -> Vec<(String, Tensor)> {
        let mut v: Vec<_> = vs
            .variables()
            .into_iter()
            .filter(|(n, _)| n.ends_with(".u0") || n.contains("stored_"))
            .map(|(n, t)| (n, t.copy()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let before = snapshot();
    assert!(before.len() > 20, "{} buffers", before.len());
    let _ = g.forward(&z, &y, false);
    for ((n, a), (_, b)) in before.iter().zip(snapshot()) {
        assert_eq!(max_abs_diff(a, &b), 0.0, "eval forward changed {n}");
    }
    let _ = g.forward(&z, &y, true);
    for ((n, a), (_, b)) in before.iter().zip(snapshot()) {
        assert!(
            max_abs_diff(a, &b) > 0.0,
            "train forward left {n} unchanged"
        );
    }
}

/// EMA covers buffers as well as parameters; decay 0 copies.
#[test]
fn ema_updates_parameters_and_buffers() {
    setup();
    tch::manual_seed(3);
    let cfg = small(Arch::BigGanDeep, 32, 2);
    let src = VarStore::new(Device::Cpu);
    let g = Generator::new(&src.root(), &cfg).unwrap();
    let ema = VarStore::new(Device::Cpu);
    Generator::new_with_init(&ema.root(), &cfg, WeightInit::Zeros).unwrap();
    ema_update(&ema, &src, 0.0).unwrap();
    for (n, t) in src.variables() {
        assert_eq!(
            max_abs_diff(&t, &var(&ema, &n)),
            0.0,
            "decay 0 did not copy {n}"
        );
    }
    // Move the source: a training forward changes BN statistics and u; shift the parameters too.
    let z = Tensor::randn([3, g.dim_z()], (Kind::Float, Device::Cpu));
    let _ = g.forward(&z, &Tensor::from_slice(&[0i64, 1, 1]), true);
    tch::no_grad(|| {
        for t in src.trainable_variables() {
            let _ = t.shallow_clone().g_add_scalar_(0.5);
        }
    });
    let old: Vec<(String, Tensor)> = ema
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.copy()))
        .collect();
    ema_update(&ema, &src, 0.75).unwrap();
    let mut buffers_moved = 0;
    for (n, o) in &old {
        let s = var(&src, n);
        let want = o * 0.75 + &s * 0.25;
        let got = var(&ema, n);
        assert!(max_abs_diff(&got, &want) < 1e-6, "{n} is not the EMA");
        if (n.ends_with(".u0") || n.contains("stored_")) && max_abs_diff(o, &got) > 0.0 {
            buffers_moved += 1;
        }
    }
    assert!(buffers_moved > 10, "only {buffers_moved} buffers moved");
    let other = VarStore::new(Device::Cpu);
    Generator::new_with_init(
        &other.root(),
        &small(Arch::BigGan, 32, 2),
        WeightInit::Zeros,
    )
    .unwrap();
    assert!(ema_update(&other, &src, 0.5).is_err());
}

#[test]
fn orthogonal_init() {
    setup();
    tch::manual_seed(4);
    let vs = VarStore::new(Device::Cpu);
    // Wide: 8 × 27 (a 3×3 conv 3 → 8): rows orthonormal.
    let w = init::weight(&vs.root(), "wide", &[8, 3, 3, 3], WeightInit::Orthogonal);
    assert_eq!(w.size(), [8, 3, 3, 3]);
    let m = w.view([8, -1]);
    let eye = Tensor::eye(8, (Kind::Float, Device::Cpu));
    assert!(max_abs_diff(&m.mm(&m.tr()), &eye) < 1e-5);
    // Tall: 64 × 8: columns orthonormal.
    let t = init::weight(&vs.root(), "tall", &[64, 8], WeightInit::Orthogonal);
    assert!(max_abs_diff(&t.tr().mm(&t), &eye) < 1e-5);
}

#[test]
fn attention_with_zero_gamma_is_identity() {
    setup();
    tch::manual_seed(5);
    let vs = VarStore::new(Device::Cpu);
    let a = attention::Attention::new(&vs.root(), 16, 1e-6, WeightInit::Orthogonal);
    let x = Tensor::randn([2, 16, 8, 8], (Kind::Float, Device::Cpu));
    assert_eq!(max_abs_diff(&a.forward(&x, true), &x), 0.0);
    tch::no_grad(|| {
        let _ = a.gamma.shallow_clone().fill_(0.5);
    });
    assert!(max_abs_diff(&a.forward(&x, false), &x) > 1e-3);
}

/// One backward of D(G(z)) reaches every trainable parameter of both networks (attention γ set
/// non-zero first, since γ = 0 blocks the gradient of the attention convs by design).
#[test]
fn gradients_reach_every_parameter() {
    setup();
    tch::manual_seed(6);
    for arch in [Arch::BigGan, Arch::BigGanDeep] {
        let cfg = small(arch, 32, 3);
        let gvs = VarStore::new(Device::Cpu);
        let g = Generator::new(&gvs.root(), &cfg).unwrap();
        let dvs = VarStore::new(Device::Cpu);
        let d = Discriminator::new(&dvs.root(), &cfg).unwrap();
        for vs in [&gvs, &dvs] {
            tch::no_grad(|| {
                for (n, t) in vs.variables() {
                    if n.ends_with("gamma") {
                        let _ = t.shallow_clone().fill_(0.5);
                    }
                }
            });
        }
        let z = Tensor::randn([4, g.dim_z()], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 0]);
        d.forward(&g.forward(&z, &y, true), &y, true)
            .mean(Kind::Float)
            .backward();
        for (vs, what) in [(&gvs, "G"), (&dvs, "D")] {
            let trainable = vs.trainable_variables();
            let mut n_params = 0;
            for (n, t) in vs.variables() {
                let is_param = trainable.iter().any(|p| p.data_ptr() == t.data_ptr());
                let is_buffer = n.ends_with(".u0") || n.ends_with(".sv0") || n.contains("stored_");
                assert_eq!(is_param, !is_buffer, "{what} {n}: trainable = {is_param}");
                if is_param {
                    n_params += 1;
                    let gr = t.grad();
                    assert!(gr.defined(), "{arch:?} {what} {n}: no gradient");
                    assert!(
                        gr.abs().sum(Kind::Float).double_value(&[]) > 0.0,
                        "{arch:?} {what} {n}: zero gradient"
                    );
                } else {
                    assert!(!t.requires_grad(), "{what} buffer {n} requires grad");
                }
            }
            assert!(n_params > 10);
        }
    }
}

#[test]
fn invalid_configs_are_refused() {
    setup();
    let ok = GanConfig::paper(Arch::BigGan);
    ok.validate().unwrap();
    type Edit = Box<dyn Fn(&mut GanConfig)>;
    let cases: Vec<(Edit, &str)> = vec![
        (Box::new(|c| c.resolution = 48), "resolution"),
        (Box::new(|c| c.n_classes = 0), "n_classes"),
        (Box::new(|c| c.g_attn = Some(16 * 3)), "g_attn"),
        (Box::new(|c| c.d_attn = Some(64)), "d_attn"),
        (Box::new(|c| c.g_depth = 2), "g_depth"),
        (Box::new(|c| c.dim_z = 3), "dim_z"),
        (Box::new(|c| c.sn_eps = 0.0), "sn_eps"),
        (Box::new(|c| c.bn_momentum = 1.5), "bn_momentum"),
    ];
    for (edit, word) in cases {
        let mut c = ok.clone();
        edit(&mut c);
        let e = format!("{:#}", c.validate().unwrap_err());
        assert!(e.contains(word), "{word}: {e}");
        let vs = VarStore::new(Device::Cpu);
        assert!(Generator::new(&vs.root(), &c).is_err());
    }
    let json = serde_json::to_string(&ok).unwrap();
    let back: GanConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ok);
    assert!(json.contains("\"arch\":\"biggan\""), "{json}");
    let bad = json.replace("\"channels\"", "\"chanels\"");
    assert!(serde_json::from_str::<GanConfig>(&bad).is_err());
}

#[test]
fn input_checks_name_the_problem() {
    setup();
    let cfg = small(Arch::BigGan, 32, 3);
    let vs = VarStore::new(Device::Cpu);
    let g = Generator::new_with_init(&vs.root(), &cfg, WeightInit::Zeros).unwrap();
    let z = Tensor::zeros([2, g.dim_z()], (Kind::Float, Device::Cpu));
    let e = g
        .check_inputs(&z, &Tensor::from_slice(&[0i64, 3]))
        .unwrap_err();
    assert!(e.to_string().contains("0..3"), "{e}");
    let e = g
        .check_inputs(
            &Tensor::zeros([2, 7], (Kind::Float, Device::Cpu)),
            &Tensor::from_slice(&[0i64, 1]),
        )
        .unwrap_err();
    assert!(e.to_string().contains("z must be"), "{e}");
    assert!(g.check_inputs(&z, &Tensor::from_slice(&[0i32, 1])).is_err());
}

mod files {
    use std::collections::BTreeMap;

    use serde_json::{json, Map, Value};

    use super::super::io::{self, FileDtype};
    use super::*;

    fn extra() -> Map<String, Value> {
        match json!({"domain": "wavelet", "norm": {"shift": 3.0, "scale": 10.0}}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn trained(cfg: &GanConfig) -> (VarStore, Generator) {
        let vs = VarStore::new(Device::Cpu);
        let g = Generator::new(&vs.root(), cfg).unwrap();
        // Non-trivial buffers and γ, so a loader that skipped them would be caught.
        let z = Tensor::randn([4, g.dim_z()], (Kind::Float, Device::Cpu));
        let _ = g.forward(&z, &Tensor::from_slice(&[0i64, 1, 2, 1]), true);
        tch::no_grad(|| {
            for (n, t) in vs.variables() {
                if n.ends_with("gamma") {
                    let _ = t.shallow_clone().fill_(0.3);
                }
            }
        });
        (vs, g)
    }

    #[test]
    fn round_trip_gives_identical_output() {
        setup();
        setup();
        tch::manual_seed(7);
        for arch in [Arch::BigGan, Arch::BigGanDeep] {
            let cfg = small(arch, 32, 3);
            let (vs, g) = trained(&cfg);
            let mut meta = BTreeMap::new();
            meta.insert("nsbg.trained_with".to_string(), "{\"test\":1}".to_string());
            let bytes = io::generator_bytes(&cfg, &extra(), &vs, FileDtype::F32, &meta).unwrap();
            // nsbg-core parses the header but does not execute generators.
            let core = nsbg_core::weights::parse(&bytes).unwrap_err();
            assert!(core.is_unsupported(), "{core}");
            let f = io::read_generator_bytes(&bytes, Device::Cpu).unwrap();
            assert_eq!(f.config, cfg);
            assert_eq!(f.extra, extra());
            assert_eq!(f.metadata, meta);
            let z = Tensor::randn([5, g.dim_z()], (Kind::Float, Device::Cpu));
            let y = Tensor::from_slice(&[0i64, 1, 2, 2, 0]);
            let a = g.forward(&z, &y, false);
            let b = f.g.forward(&z, &y, false);
            assert_eq!(max_abs_diff(&a, &b), 0.0, "{arch:?}");
            // f16: same network up to rounding.
            let half =
                io::generator_bytes(&cfg, &extra(), &vs, FileDtype::F16, &BTreeMap::new()).unwrap();
            assert!(half.len() < bytes.len() * 6 / 10);
            let h = io::read_generator_bytes(&half, Device::Cpu).unwrap();
            let c = h.g.forward(&z, &y, false);
            let d = max_abs_diff(&a, &c);
            assert!(d > 0.0 && d < 5e-2, "f16 difference {d}");
        }
    }

    /// Rewrites a valid file's tensors with `edit` (name → (shape, f32 values)).
    fn tampered(
        bytes: &[u8],
        edit: impl Fn(&mut BTreeMap<String, (Vec<usize>, Vec<f32>)>),
    ) -> Vec<u8> {
        use safetensors::tensor::{Dtype, SafeTensors, TensorView};
        let st = SafeTensors::deserialize(bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        let mut t: BTreeMap<String, (Vec<usize>, Vec<f32>)> = st
            .tensors()
            .into_iter()
            .map(|(n, v)| {
                let vals = v
                    .data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                (n, (v.shape().to_vec(), vals))
            })
            .collect();
        edit(&mut t);
        let raw: Vec<(String, Vec<usize>, Vec<u8>)> = t
            .into_iter()
            .map(|(n, (s, v))| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
            .collect();
        let views: Vec<(&str, TensorView<'_>)> = raw
            .iter()
            .map(|(n, s, b)| {
                (
                    n.as_str(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::tensor::serialize(views, header.metadata()).unwrap()
    }

    #[test]
    fn bad_files_are_rejected_naming_the_tensor() {
        setup();
        setup();
        tch::manual_seed(8);
        let cfg = small(Arch::BigGan, 32, 3);
        let (vs, _) = trained(&cfg);
        let bytes =
            io::generator_bytes(&cfg, &extra(), &vs, FileDtype::F32, &BTreeMap::new()).unwrap();
        let err = |b: &[u8]| {
            format!(
                "{:#}",
                io::read_generator_bytes(b, Device::Cpu)
                    .err()
                    .expect("accepted a bad file")
            )
        };
        let victim = "blocks.1.0.conv1.weight";
        let e = err(&tampered(&bytes, |t| {
            t.remove(victim);
        }));
        assert!(e.contains("missing tensor") && e.contains(victim), "{e}");
        let e = err(&tampered(&bytes, |t| {
            t.insert("blocks.9.0.extra".into(), (vec![2], vec![0.0, 1.0]));
        }));
        assert!(e.contains("unexpected tensor blocks.9.0.extra"), "{e}");
        let e = err(&tampered(&bytes, |t| {
            let (_, v) = t.remove("linear.bias").unwrap();
            t.insert("linear.bias".into(), (vec![1, v.len()], v));
        }));
        assert!(e.contains("linear.bias") && e.contains("shape"), "{e}");
        let e = err(&tampered(&bytes, |t| {
            t.get_mut("shared.weight").unwrap().1[3] = f32::NAN;
        }));
        assert!(
            e.contains("shared.weight") && e.contains("non-finite"),
            "{e}"
        );
        let e = err(b"not a file");
        assert!(e.contains("safetensors"), "{e}");
        // A decoder weight file is not a generator.
        let dec = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../weights/nsbg-small.safetensors"
        ));
        if let Ok(dec) = dec {
            let e = err(&dec);
            assert!(e.contains("not a generator"), "{e}");
        }
        // A config the file's tensors do not fit.
        let mut other = cfg.clone();
        other.g_ch = 16;
        let vs2 = VarStore::new(Device::Cpu);
        Generator::new_with_init(&vs2.root(), &other, WeightInit::Zeros).unwrap();
        assert!(
            io::generator_bytes(&cfg, &extra(), &vs2, FileDtype::F32, &BTreeMap::new()).is_err()
        );
    }
}

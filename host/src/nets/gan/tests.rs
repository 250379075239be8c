//! Unit tests of the GAN networks: paper parameter counts, shapes, SN, EMA, init, attention, gradients.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::*;

/// A small configuration that still has every component (attention in G and D, several stages).
fn small(arch: Arch, resolution: i64, n_classes: i64) -> GanConfig {
    let mut c = GanConfig::paper(arch);
    c.resolution = resolution;
    c.g_ch = 8;
    c.d_ch = 8;
    c.dim_z = 20;
    c.shared_dim = 8;
    c.n_classes = n_classes;
    let attn = resolution / 2;
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
    tch::manual_seed(0);
    for arch in [Arch::BigGan, Arch::BigGanDeep] {
        for res in [32, 64, 128] {
            for n_classes in [1, 5] {
                let cfg = small(arch, res, n_classes);
                let gvs = VarStore::new(Device::Cpu);
                let g = Generator::new(&gvs.root(), &cfg).unwrap();
                let dvs = VarStore::new(Device::Cpu);
                let d = Discriminator::new(&dvs.root(), &cfg).unwrap();
                let n = 3;
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

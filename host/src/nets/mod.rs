//! The decoder networks in tch, with parameter names that are exactly design.md's tensor names (without
//! the `level{k}.` prefix): a network's `VarStore` maps 1:1 onto one level of a weight file.

pub mod gan;
pub mod layers;
pub mod unet_ntail;
pub mod unet_pixel;

use anyhow::{bail, Context, Result};
use nsbg_core::weights::{PixelLevelConfig, WaveletLevelConfig};
use tch::{nn::VarStore, Device, Tensor};

pub use unet_ntail::UNetNTail;
pub use unet_pixel::PixelUNet;

/// One decoder level's network.
#[derive(Debug)]
pub enum LevelNet {
    Wavelet(UNetNTail),
    Pixel(PixelUNet),
}

impl LevelNet {
    /// Builds a freshly initialised network in `vs`: PyTorch's default init, except that with
    /// `zero_output` the output convolutions start at zero.
    pub fn wavelet(
        vs: &VarStore,
        cfg: &WaveletLevelConfig,
        bn_eps: f64,
        zero_output: bool,
    ) -> Self {
        LevelNet::Wavelet(UNetNTail::new(&vs.root(), cfg, bn_eps, zero_output))
    }

    pub fn pixel(vs: &VarStore, cfg: &PixelLevelConfig, bn_eps: f64, zero_output: bool) -> Self {
        LevelNet::Pixel(PixelUNet::new(&vs.root(), cfg, bn_eps, zero_output))
    }

    /// Wavelet: tiles `[B][n_in][32][32]` → detail tiles `[B][3·n_tails][32][32]`.
    /// Pixel: image `[B][3][s][s]` → image `[B][3][2s][2s]` (upsampling and residual included).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            LevelNet::Wavelet(n) => n.forward(x, train),
            LevelNet::Pixel(n) => n.forward(x, train),
        }
    }
}

/// All variables of a store (parameters and BatchNorm running statistics), sorted by name.
pub fn named_variables(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Copies named values into a store's variables. Every variable must be given exactly once, with its
/// shape; no extra names.
pub fn load_named(vs: &VarStore, values: &[(String, Tensor)]) -> Result<()> {
    let vars = vs.variables();
    if vars.len() != values.len() {
        let missing: Vec<&String> = vars
            .keys()
            .filter(|k| !values.iter().any(|(n, _)| n == *k))
            .take(3)
            .collect();
        let extra: Vec<&String> = values
            .iter()
            .map(|(n, _)| n)
            .filter(|n| !vars.contains_key(*n))
            .take(3)
            .collect();
        bail!(
            "tensor set does not match the network: {} given, {} expected (missing e.g. {missing:?}, unexpected e.g. {extra:?})",
            values.len(),
            vars.len()
        );
    }
    tch::no_grad(|| -> Result<()> {
        for (name, value) in values {
            let mut var = vars
                .get(name)
                .with_context(|| format!("unexpected tensor {name}"))?
                .shallow_clone();
            if var.size() != value.size() {
                bail!(
                    "tensor {name} has shape {:?}, the network needs {:?}",
                    value.size(),
                    var.size()
                );
            }
            var.copy_(&value.to_device(var.device()).to_kind(var.kind()));
        }
        Ok(())
    })
}

/// A `[shape]` f32 tensor from host values.
pub fn tensor_from(values: &[f32], shape: &[usize], device: Device) -> Tensor {
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Tensor::from_slice(values).reshape(&dims).to_device(device)
}

/// A tensor's values as host f32, row-major.
pub fn to_vec(t: &Tensor) -> Result<Vec<f32>> {
    let flat = t
        .to_device(Device::Cpu)
        .to_kind(tch::Kind::Float)
        .contiguous()
        .view(-1);
    Vec::<f32>::try_from(&flat).context("cannot copy a tensor to the host")
}

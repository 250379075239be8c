//! The reference backend: a weight file loaded into the tch networks used for training, batched on any
//! device; tiling and the inverse transform run on the CPU with nsbg-core (as in training), so this and
//! the core backend differ only in the convolutions.

use anyhow::{bail, Context, Result};
use nsbg_core::wavelet::Extension;
use nsbg_core::weights::{self, Kind, ModelConfig};
use tch::{nn::VarStore, Device};

use crate::data::par_map;
use crate::nets::{self, LevelNet};
use crate::subbands;

pub struct TchDecoder {
    pub config: ModelConfig,
    pub device: Device,
    levels: Vec<(VarStore, LevelNet)>,
    /// Threads for the CPU-side tiling and transforms.
    pub workers: usize,
}

impl TchDecoder {
    pub fn from_bytes(bytes: &[u8], device: Device) -> Result<TchDecoder> {
        let file = weights::parse(bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let config = file.config().clone();
        let mut levels = Vec::new();
        for k in 1..=config.level_count() {
            let vs = VarStore::new(device);
            let net = match &config {
                ModelConfig::WaveletDecoder(c) => {
                    LevelNet::wavelet(&vs, &c.levels[k - 1], c.bn_eps, false)
                }
                ModelConfig::PixelDecoder(c) => {
                    LevelNet::pixel(&vs, &c.levels[k - 1], c.bn_eps, false)
                }
                #[allow(unreachable_patterns)]
                _ => bail!("unsupported model kind {}", file.kind().name()),
            };
            let prefix = format!("level{k}.");
            let mut named = Vec::new();
            for (name, view) in file.tensors() {
                let Some(short) = name.strip_prefix(&prefix) else {
                    continue;
                };
                let values = view.to_f32_vec().map_err(|e| anyhow::anyhow!("{e}"))?;
                named.push((
                    short.to_string(),
                    nets::tensor_from(&values, view.shape(), Device::Cpu),
                ));
            }
            nets::load_named(&vs, &named).with_context(|| {
                format!("level {k} of the weight file does not fit the network")
            })?;
            levels.push((vs, net));
        }
        Ok(TchDecoder {
            config,
            device,
            levels,
            workers: 2,
        })
    }

    pub fn kind(&self) -> Kind {
        self.config.kind()
    }

    pub fn ext(&self) -> Extension {
        self.config.extension().unwrap_or_default()
    }

    pub fn level_count(&self) -> u32 {
        self.levels.len() as u32
    }

    /// Input side of `level`.
    pub fn side(&self, level: u32) -> usize {
        self.config.in_size() << (level - 1)
    }

    /// One level for a batch: inputs `[3][s][s]` → outputs `[3][2s][2s]`.
    pub fn decode_level(&self, level: u32, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if level == 0 || level > self.level_count() {
            bail!("the decoder has no level {level}");
        }
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let s = self.side(level);
        let b = inputs.len();
        let (_, net) = &self.levels[(level - 1) as usize];
        let ext = self.ext();
        match self.kind() {
            Kind::WaveletDecoder => {
                let tiles = par_map(b, self.workers, |i| subbands::tile(&inputs[i], s, ext));
                let mut flat = Vec::with_capacity(b * 3 * s * s);
                for t in tiles {
                    flat.extend(t?);
                }
                let c = 3 * s * s / 1024;
                let x = nets::tensor_from(&flat, &[b, c, 32, 32], self.device);
                let out = nets::to_vec(&tch::no_grad(|| net.forward(&x, false)))?;
                let per = out.len() / b;
                par_map(b, self.workers, |i| {
                    let bands = subbands::untile_bands(&out[i * per..(i + 1) * per], s, ext)?;
                    subbands::synthesize_level(&inputs[i], &bands, s, ext)
                })
                .into_iter()
                .collect()
            }
            _ => {
                let flat: Vec<f32> = inputs.iter().flatten().copied().collect();
                let x = nets::tensor_from(&flat, &[b, 3, s, s], self.device);
                let out = nets::to_vec(&tch::no_grad(|| net.forward(&x, false)))?;
                let per = out.len() / b;
                Ok(out.chunks_exact(per).map(<[f32]>::to_vec).collect())
            }
        }
    }
}

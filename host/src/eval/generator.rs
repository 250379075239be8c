//! [`Generator`] over the GAN sampler (issue 5): z (seeded, truncated) → G_ema (eval mode) → the
//! decoders of the generator's domain → 256×256 images, exactly as `nsbg-host sample` makes them.

use std::path::Path;

use anyhow::Result;
use tch::Device;

use super::images::ImageSet;
use super::Generator;
use crate::cli::Backend;
use crate::decode::AnyDecoder;
use crate::sampler::sample::{self, LoadedGenerator, Pipeline};
use crate::sampler::truncation::{TruncMode, Truncation};

/// Images per generator + decoder round (bounds the memory of the intermediate outputs).
const CHUNK: usize = 64;

pub struct Sampler {
    lg: LoadedGenerator,
    pipeline: Pipeline,
    mode: TruncMode,
    device: Device,
}

impl Sampler {
    /// `path`: a generator weight file (`export --generator`) or a `train-sampler` run folder (G_ema).
    /// `decoder`: the decoder file (default: the shipped one of the generator's domain).
    pub fn open(
        path: &Path,
        decoder: Option<&Path>,
        mode: TruncMode,
        device_spec: &str,
        threads: usize,
    ) -> Result<Sampler> {
        let device = crate::device::parse(device_spec)?;
        let lg = sample::load_generator(Some(path), device)?;
        let pipeline = Pipeline::load(
            lg.domain,
            lg.norm,
            &lg.extension,
            decoder,
            Backend::Tch,
            device_spec,
            threads,
        )?;
        Ok(Sampler {
            lg,
            pipeline,
            mode,
            device,
        })
    }
}

impl Generator for Sampler {
    fn describe(&self) -> String {
        format!(
            "{} ({} {}) decoded by {}",
            self.lg.origin,
            self.lg.gan.arch.name(),
            self.lg.domain.name(),
            self.pipeline.origin
        )
    }

    fn decoder(&self) -> Option<(&AnyDecoder, &str)> {
        Some((&self.pipeline.decoder, &self.pipeline.origin))
    }

    fn generate(&mut self, n: usize, truncation: Option<f64>, seed: u64) -> Result<ImageSet> {
        let trunc = Truncation::from_args(truncation, self.mode)?;
        let n_classes = self.lg.gan.n_classes.max(1) as usize;
        let dim_z = self.lg.g.dim_z() as usize;
        // Image i depends only on (seed, i): the same images as `sample --seed S -n N`.
        let (z, y) = sample::noise(seed, n, dim_z, n_classes, &[], trunc);
        let mut set = ImageSet::empty(self.pipeline.decoder.out_size(), self.describe());
        for (zc, yc) in z.chunks(CHUNK * dim_z).zip(y.chunks(CHUNK)) {
            let outs = sample::generate(&self.lg.g, zc, yc, self.device)?;
            set.push(&self.pipeline.decode(&outs)?)?;
        }
        Ok(set)
    }
}

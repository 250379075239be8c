//! `decode`: images → their low band → a decoder (core or tch backend) → reconstructed images.
//! Also the backend-independent decoder handle used by `eval-recon`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use nsbg_core::decoder::Decoder;
use nsbg_core::wavelet::Extension;
use nsbg_core::weights::{self, Kind};

use crate::cli::{Backend, DecodeArgs};
use crate::data::{par_map, preprocess};
use crate::image_io::{self, Planar};
use crate::subbands::{self, Packed};
use crate::tch_decoder::TchDecoder;
use crate::{default_weights, device};

/// A loaded decoder on either backend.
pub enum AnyDecoder {
    Core { decoder: Decoder, workers: usize },
    Tch(TchDecoder),
}

impl AnyDecoder {
    pub fn load(bytes: &[u8], backend: Backend, device_spec: &str, threads: usize) -> Result<Self> {
        let workers = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            threads
        };
        match backend {
            Backend::Core => {
                let decoder =
                    Decoder::from_bytes(bytes).context("cannot load the decoder (core)")?;
                Ok(AnyDecoder::Core { decoder, workers })
            }
            Backend::Tch => {
                device::set_threads(threads);
                let mut d = TchDecoder::from_bytes(bytes, device::parse(device_spec)?)
                    .context("cannot load the decoder (tch)")?;
                d.workers = workers;
                Ok(AnyDecoder::Tch(d))
            }
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            AnyDecoder::Core { decoder, .. } => decoder.info().kind,
            AnyDecoder::Tch(d) => d.kind(),
        }
    }

    pub fn ext(&self) -> Extension {
        match self {
            AnyDecoder::Core { decoder, .. } => decoder.info().extension,
            AnyDecoder::Tch(d) => d.ext(),
        }
    }

    pub fn levels(&self) -> u32 {
        match self {
            AnyDecoder::Core { decoder, .. } => decoder.info().levels,
            AnyDecoder::Tch(d) => d.level_count(),
        }
    }

    pub fn in_size(&self) -> usize {
        match self {
            AnyDecoder::Core { decoder, .. } => decoder.info().in_size,
            AnyDecoder::Tch(d) => d.config.in_size(),
        }
    }

    pub fn out_size(&self) -> usize {
        self.in_size() << self.levels()
    }

    /// One level for many inputs.
    pub fn decode_level(&self, level: u32, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        match self {
            AnyDecoder::Core { decoder, workers } => {
                let (_, out_len) = decoder.level_lengths(level)?;
                par_map(inputs.len(), *workers, |i| -> Result<Vec<f32>> {
                    let mut ws = decoder.workspace()?;
                    let mut out = vec![0f32; out_len];
                    decoder.decode_level(level, &inputs[i], &mut out, &mut ws)?;
                    Ok(out)
                })
                .into_iter()
                .collect()
            }
            AnyDecoder::Tch(d) => d.decode_level(level, inputs),
        }
    }

    /// Every level.
    pub fn decode(&self, lows: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let mut cur = self.decode_level(1, lows)?;
        for level in 2..=self.levels() {
            cur = self.decode_level(level, &cur)?;
        }
        Ok(cur)
    }

    /// What this decoder takes for an image: the wavelet low band (`[3][in][in]`, wavelet units) or,
    /// for a pixel decoder, the box-downsampled image.
    pub fn input_of(&self, image: &[f32], n: usize) -> Result<Vec<f32>> {
        match self.kind() {
            Kind::WaveletDecoder => Packed::analyze(image, n, self.ext())?.low(1),
            _ => Ok(subbands::downsample(image, n, self.levels())),
        }
    }
}

pub fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        / a.len().max(1) as f64
}

pub fn psnr(mse: f64) -> f64 {
    if mse <= 0.0 {
        f64::INFINITY
    } else {
        -10.0 * mse.log10()
    }
}

pub fn run(a: &DecodeArgs) -> Result<()> {
    let (bytes, origin) = default_weights::wavelet_or(a.weights.as_deref())?;
    let info = weights::parse(&bytes)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("{origin} is not a valid weight file"))?;
    let n = info.config().out_size();
    drop(info);
    let dec = AnyDecoder::load(&bytes, a.backend, &a.device, a.threads)
        .with_context(|| format!("cannot load {origin}"))?;
    if dec.levels() != subbands::LEVELS || n != 4 * dec.in_size() {
        bail!(
            "{origin} has {} level(s); decode needs a full two-level decoder",
            dec.levels()
        );
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create output folder {}", a.out.display()))?;
    eprintln!(
        "decoding {} image(s) with {origin} ({}, {:?} backend)",
        a.input.len(),
        dec.kind().name(),
        a.backend
    );
    for path in &a.input {
        let image = preprocess::load_f32(path, a.preprocess, n)?;
        let low = dec.input_of(&image, n)?;
        let out = dec
            .decode(&[low])?
            .pop()
            .context("decoder returned nothing")?;
        let name = Path::new(path.file_stem().unwrap_or_default()).with_extension("png");
        let dst = a.out.join(name);
        image_io::save_png(
            &dst,
            &Planar {
                width: n,
                height: n,
                data: out.clone(),
            },
        )?;
        if a.raw {
            let raw = dst.with_extension("f32");
            let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_le_bytes()).collect();
            crate::checkpoint::write_atomic(&raw, &bytes)?;
        }
        let m = mse(&out, &image);
        println!(
            "{} -> {}: MSE {m:.6}, PSNR {:.2} dB (vs the {} input)",
            path.display(),
            dst.display(),
            psnr(m),
            a.preprocess.name()
        );
    }
    Ok(())
}

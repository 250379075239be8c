//! `sample`: z → G_ema (eval mode) → denormalise → decoders → 256×256 images, a grid, and the sampled
//! low bands (with labels and z) as safetensors. Also the pieces training reuses for its sample sheets.
//!
//! Image i's noise and label depend only on (seed, i) (see [`noise`]), and on the CPU `sample` runs G
//! on one image at a time with one libtorch thread (see [`generate_exact`]), so `-n 4` gives the first
//! four images of `-n 64` and a fixed seed reproduces the images bit for bit, whatever `--threads` and
//! the machine's load.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use nsbg_core::weights::Kind as WeightKind;
use tch::{Device, Kind, Tensor};

use super::args::SampleArgs;
use super::data::{self, Domain, Norm};
use super::export::GeneratorFile;
use super::truncation::{self, Truncation};
use crate::cli::Backend;
use crate::decode::AnyDecoder;
use crate::image_io::{self, Planar};
use crate::nets::gan::{GanConfig, Generator};
use crate::nets::{self};
use crate::rng::SplitMix64;
use crate::{checkpoint, default_weights, device, grid};

/// Images per generator forward pass.
const CHUNK: usize = 64;

/// Width of z the generator takes.
pub fn gan_dim_z(cfg: &GanConfig) -> usize {
    cfg.effective_dim_z() as usize
}

/// z (`[count][dim_z]`, flat) and labels of images `0..count` for `seed`. `classes` (if not empty) are
/// cycled over the images; otherwise labels are uniform over `n_classes`.
pub fn noise(
    seed: u64,
    count: usize,
    dim_z: usize,
    n_classes: usize,
    classes: &[i64],
    trunc: Truncation,
) -> (Vec<f32>, Vec<i64>) {
    let mut z = Vec::with_capacity(count * dim_z);
    let mut y = Vec::with_capacity(count);
    for i in 0..count {
        let mut rng = SplitMix64::new(truncation::stream_seed(seed, i as u64, u64::MAX));
        z.extend(truncation::draw(&mut rng, dim_z, trunc));
        y.push(if classes.is_empty() {
            truncation::label(&mut rng, n_classes)
        } else {
            classes[i % classes.len()]
        });
    }
    (z, y)
}

/// G's outputs (normalised, `[3][64][64]` each) for the given noise, in eval mode, `CHUNK` images per
/// forward pass: fast, but the last bits depend on the batch and the thread count (below).
pub fn generate(g: &Generator, z: &[f32], y: &[i64], device: Device) -> Result<Vec<Vec<f32>>> {
    generate_in(g, z, y, device, CHUNK)
}

/// [`generate`], bit-reproducible on the CPU. libtorch's CPU kernels (oneDNN's 1×1 convolutions, the
/// GEMMs) pick their summation order by batch shape and intra-op thread count, so the same z gave
/// other low bands with 1 and 2 threads, and twice in a row on a loaded CI machine. One image per
/// pass on one thread removes both; G is small next to the decoders, so `sample` pays little for it.
/// On CUDA this is [`generate`].
pub fn generate_exact(
    g: &Generator,
    z: &[f32],
    y: &[i64],
    device: Device,
) -> Result<Vec<Vec<f32>>> {
    if device != Device::Cpu {
        return generate(g, z, y, device);
    }
    let _one = device::OneThread::pin();
    generate_in(g, z, y, device, 1)
}

fn generate_in(
    g: &Generator,
    z: &[f32],
    y: &[i64],
    device: Device,
    chunk: usize,
) -> Result<Vec<Vec<f32>>> {
    let dz = g.dim_z() as usize;
    ensure!(z.len() == y.len() * dz, "z and labels do not match");
    let per = 3 * data::SIDE * data::SIDE;
    let mut out = Vec::with_capacity(y.len());
    for (zc, yc) in z.chunks(chunk * dz).zip(y.chunks(chunk)) {
        let m = yc.len() as i64;
        let zt = Tensor::from_slice(zc)
            .reshape([m, dz as i64])
            .to_device(device);
        let yt = Tensor::from_slice(yc).to_device(device);
        g.check_inputs(&zt, &yt)?;
        let x = tch::no_grad(|| g.forward(&zt, &yt, false));
        let v = nets::to_vec(&x)?;
        ensure!(
            v.len() == yc.len() * per,
            "the generator output is not [N,3,64,64]"
        );
        out.extend(v.chunks(per).map(<[f32]>::to_vec));
    }
    Ok(out)
}

/// The decoders after G: the generated band/image, denormalised, to a 256×256 image.
pub struct Pipeline {
    pub norm: Norm,
    pub decoder: AnyDecoder,
    pub origin: String,
}

impl Pipeline {
    /// Loads the decoder for `domain` (`path`, or the shipped one) and checks that it fits: the kind
    /// of the domain, a 64×64 input, two levels, and (wavelet) the generator's extension.
    pub fn load(
        domain: Domain,
        norm: Norm,
        extension: &str,
        path: Option<&Path>,
        backend: Backend,
        device_spec: &str,
        threads: usize,
    ) -> Result<Pipeline> {
        let (bytes, origin) = match domain {
            Domain::Wavelet => default_weights::wavelet_or(path)?,
            Domain::Pixel => default_weights::pixel_or(path)?.with_context(|| {
                format!(
                    "no --decoder given and this build has no built-in {}",
                    default_weights::PIXEL_NAME
                )
            })?,
        };
        let decoder = AnyDecoder::load(&bytes, backend, device_spec, threads)
            .with_context(|| format!("cannot load decoder {origin}"))?;
        let want = match domain {
            Domain::Wavelet => WeightKind::WaveletDecoder,
            Domain::Pixel => WeightKind::PixelDecoder,
        };
        if decoder.kind() != want {
            bail!(
                "{origin} is a {} but a {}-domain generator needs a {}",
                decoder.kind().name(),
                domain.name(),
                want.name()
            );
        }
        if decoder.in_size() != data::SIDE || decoder.out_size() != data::IMAGE {
            bail!(
                "{origin} decodes {0}×{0} to {1}×{1}; the sampler needs {2}×{2} → {3}×{3}",
                decoder.in_size(),
                decoder.out_size(),
                data::SIDE,
                data::IMAGE
            );
        }
        if domain == Domain::Wavelet && decoder.ext().name() != extension {
            bail!(
                "{origin} uses the {} wavelet extension, the generator's low bands {extension}",
                decoder.ext().name()
            );
        }
        Ok(Pipeline {
            norm,
            decoder,
            origin,
        })
    }

    /// Normalised G outputs → 256×256 images in [0, 1].
    pub fn decode(&self, outputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        let inputs: Vec<Vec<f32>> = outputs
            .iter()
            .map(|o| o.iter().map(|&v| self.norm.denormalize(v)).collect())
            .collect();
        let images = self.decoder.decode(&inputs)?;
        Ok(images
            .into_iter()
            .map(|im| im.into_iter().map(|v| v.clamp(0.0, 1.0)).collect())
            .collect())
    }
}

/// A training sample sheet: the fixed-noise outputs of G_ema as pictures (low bands ÷ 4), and, with a
/// decoder, their 256×256 decodings in `<path>-decoded.png`.
#[allow(clippy::too_many_arguments)]
pub fn sheet(
    g: &Generator,
    z: &[f32],
    y: &[i64],
    domain: Domain,
    norm: Norm,
    pipeline: Option<&Pipeline>,
    path: &Path,
    device: Device,
) -> Result<()> {
    let outs = generate(g, z, y, device)?;
    let shown: Vec<Vec<f32>> = outs
        .iter()
        .map(|o| data::display(domain, norm, o))
        .collect();
    grid::write_tiles(path, data::SIDE, &shown, grid::columns(shown.len()))?;
    if let Some(p) = pipeline {
        let images = p.decode(&outs)?;
        let dec = path.with_file_name(format!(
            "{}-decoded.png",
            path.file_stem().unwrap_or_default().to_string_lossy()
        ));
        grid::write_tiles(&dec, data::IMAGE, &images, grid::columns(images.len()))?;
    }
    Ok(())
}

/// A generator weight file, loaded.
pub struct LoadedGenerator {
    pub gan: GanConfig,
    pub domain: Domain,
    pub norm: Norm,
    pub extension: String,
    pub classes: Vec<String>,
    pub g: Generator,
    pub origin: String,
    _vs: tch::nn::VarStore,
}

/// Loads `path`, or the shipped default generator.
pub fn load_generator(path: Option<&Path>, device: Device) -> Result<LoadedGenerator> {
    let (file, origin) = match path {
        Some(p) if p.is_dir() => (
            GeneratorFile::from_run(p, device)
                .with_context(|| format!("cannot load the generator of run {}", p.display()))?,
            format!("run {} (G_ema)", p.display()),
        ),
        _ => {
            let (bytes, origin) = default_weights::generator_or(path)?;
            let file = GeneratorFile::from_bytes(&bytes, device)
                .with_context(|| format!("cannot load generator {origin}"))?;
            (file, origin)
        }
    };
    Ok(LoadedGenerator {
        gan: file.meta.gan,
        domain: file.meta.domain,
        norm: file.meta.norm,
        extension: file.meta.extension,
        classes: file.meta.classes,
        g: file.g,
        origin,
        _vs: file.vs,
    })
}

/// `--classes`: indices or class names.
fn parse_classes(spec: &[String], names: &[String], n_classes: usize) -> Result<Vec<i64>> {
    spec.iter()
        .map(|s| {
            let s = s.trim();
            if let Ok(i) = s.parse::<usize>() {
                ensure!(
                    i < n_classes,
                    "class {i} does not exist (the generator has {n_classes} class(es): 0..{})",
                    n_classes - 1
                );
                return Ok(i as i64);
            }
            names
                .iter()
                .position(|n| n == s)
                .map(|i| i as i64)
                .with_context(|| format!("unknown class {s:?} (classes: {})", names.join(", ")))
        })
        .collect()
}

pub fn run(a: &SampleArgs) -> Result<()> {
    ensure!(a.n >= 1, "-n must be at least 1");
    let trunc = Truncation::from_args(a.truncation, a.trunc_mode)?;
    let dev = device::parse(&a.device)?;
    device::set_threads(a.threads);
    let t0 = std::time::Instant::now();
    let lg = load_generator(a.generator.as_deref(), dev)?;
    let n_classes = lg.gan.n_classes.max(1) as usize;
    let classes = parse_classes(&a.classes, &lg.classes, n_classes)?;
    let pipeline = Pipeline::load(
        lg.domain,
        lg.norm,
        &lg.extension,
        a.decoder.as_deref(),
        a.backend,
        &a.device,
        a.threads,
    )?;
    let dim_z = lg.g.dim_z() as usize;
    let (z, y) = noise(a.seed, a.n, dim_z, n_classes, &classes, trunc);
    let outs = generate_exact(&lg.g, &z, &y, dev)?;
    let images = pipeline.decode(&outs)?;
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create output folder {}", a.out.display()))?;
    let mut written: Vec<PathBuf> = Vec::new();
    if !a.grid_only {
        for (i, im) in images.iter().enumerate() {
            let p = a.out.join(format!("sample-{i:04}.png"));
            image_io::save_png(
                &p,
                &Planar {
                    width: data::IMAGE,
                    height: data::IMAGE,
                    data: im.clone(),
                },
            )?;
            written.push(p);
        }
    }
    let grid_path = a.out.join("grid.png");
    grid::write_tiles(
        &grid_path,
        data::IMAGE,
        &images,
        grid::columns(images.len()),
    )?;
    // The sampled bands in data units (wavelet: LL2 coefficients; pixel: [0, 1]), labels and z.
    let bands: Vec<f32> = outs
        .iter()
        .flat_map(|o| o.iter().map(|&v| lg.norm.denormalize(v)))
        .collect();
    let n = a.n as i64;
    let s = data::SIDE as i64;
    let tensors_path = a.out.join("samples.safetensors");
    checkpoint::write_tensors_keep_kind(
        &tensors_path,
        &[
            (
                match lg.domain {
                    Domain::Wavelet => "low_bands".to_string(),
                    Domain::Pixel => "images_64".to_string(),
                },
                Tensor::from_slice(&bands).reshape([n, 3, s, s]),
            ),
            ("labels".into(), Tensor::from_slice(&y).to_kind(Kind::Int64)),
            (
                "z".into(),
                Tensor::from_slice(&z).reshape([n, dim_z as i64]),
            ),
        ],
    )?;
    println!(
        "{} image(s) from {} ({} {}, {} class(es)) decoded by {} in {:.1} s: {}{}, {}",
        a.n,
        lg.origin,
        lg.gan.arch.name(),
        lg.domain.name(),
        n_classes,
        pipeline.origin,
        t0.elapsed().as_secs_f64(),
        grid_path.display(),
        if written.is_empty() {
            String::new()
        } else {
            format!(", {}/sample-*.png", a.out.display())
        },
        tensors_path.display()
    );
    Ok(())
}

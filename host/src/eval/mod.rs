//! Sample-quality evaluation (`eval-samples`, `sweep-truncation`): FID, IS and FID* with a user-supplied
//! TorchScript Inception; SWD and KID on Laplacian-pyramid patch descriptors without one.
//!
//! Every image set is brought to one square size (`--size`, default 256) with the decoders'
//! preprocessing (`--preprocess center-crop`: the native-resolution central window; `crop-resize`:
//! central square resized with a triangle filter), quantised to 8 bits, and then measured:
//!
//! * SWD (×10³ per pyramid level and averaged) and KID on the same patch descriptors — always;
//! * with `--inception FILE`: FID and KID on the pool features, IS from the logits, and FID* = FID against
//!   decoded reconstructions of the reference images (reference → its low band → the decoder → image).
//!   With `--star`, SWD*/KID* against the reconstructions are reported too (also without Inception).

pub mod frechet;
pub mod generator;
pub mod images;
pub mod inception;
pub mod kid;
pub mod swd;
pub mod sweep;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use tch::{Device, Tensor};

use self::frechet::Gaussian;
use self::images::ImageSet;
use self::inception::{Inception, InceptionScore};
use self::kid::Kid;
use self::swd::{Descriptors, SwdConfig};
use crate::cli::Backend;
use crate::data::Preprocess;
use crate::decode::AnyDecoder;
use crate::sampler::truncation::TruncMode;
use crate::{checkpoint, default_weights, device};

/// Options shared by `eval-samples` and `sweep-truncation`.
#[derive(Debug, Clone, clap::Args)]
pub struct MetricArgs {
    /// Reference images (PNG/JPEG folder, e.g. shared/data/photos/val).
    #[arg(long)]
    pub reference: PathBuf,
    /// Use only the first N reference images.
    #[arg(long)]
    pub reference_limit: Option<usize>,
    /// TorchScript Inception-v3 (see scripts/export_fid_inception.py): enables FID, IS, FID* and
    /// Inception KID.
    #[arg(long)]
    pub inception: Option<PathBuf>,
    /// Decoder of the --generator samples and of the reference reconstructions (FID*, --star);
    /// default: the shipped decoder of the generator's domain, else the shipped NSBG decoder.
    #[arg(long)]
    pub decoder: Option<PathBuf>,
    /// Also report SWD and KID against the decoded reconstructions (SWD*, KID*).
    #[arg(long)]
    pub star: bool,
    /// Side every image is brought to.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// How folders of images of any size are brought to --size.
    #[arg(long, value_enum, default_value_t = Preprocess::CenterCrop)]
    pub preprocess: Preprocess,
    /// Seed of the SWD patch positions and directions, the KID subsets (and the generator).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// SWD: 7x7 neighbourhoods per image and pyramid level.
    #[arg(long, default_value_t = 128)]
    pub patches_per_image: usize,
    /// SWD: random projection directions.
    #[arg(long, default_value_t = 512)]
    pub directions: usize,
    /// KID: random subsets (the standard deviation is over these).
    #[arg(long, default_value_t = 50)]
    pub kid_subsets: usize,
    /// KID: rows per subset (capped at the smaller set).
    #[arg(long, default_value_t = 1000)]
    pub kid_subset_size: usize,
    /// Inception Score splits.
    #[arg(long, default_value_t = 10)]
    pub is_splits: usize,
    /// Images per Inception batch.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// auto (CUDA if available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Image-decoding threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

#[derive(Debug, clap::Args)]
pub struct EvalSamplesArgs {
    /// Folder of generated images (PNG/JPEG).
    #[arg(
        long,
        required_unless_present = "generator",
        conflicts_with = "generator"
    )]
    pub samples: Option<PathBuf>,
    /// Generator checkpoint or run folder: samples are drawn and decoded (needs the GAN sampler).
    #[arg(long)]
    pub generator: Option<PathBuf>,
    /// Truncation for --generator (default: the sampler's).
    #[arg(long)]
    pub truncation: Option<f64>,
    /// Truncation mode for --generator: scale (z ~ N(0, T²), the authors' code) or resample.
    #[arg(long, value_enum, default_value_t = TruncMode::Scale)]
    pub trunc_mode: TruncMode,
    /// Number of samples (first N files of --samples; N draws of --generator, default 1000).
    #[arg(short = 'n', long = "count")]
    pub n: Option<usize>,
    #[command(flatten)]
    pub metrics: MetricArgs,
    /// Write the results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the results as a Markdown table.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// Generated images for evaluation. The GAN sampler implements this; the sweep only needs this trait.
pub trait Generator {
    fn describe(&self) -> String;
    /// `n` images at `truncation` (`None`: the sampler's default), reproducible for a seed.
    fn generate(&mut self, n: usize, truncation: Option<f64>, seed: u64) -> Result<ImageSet>;
    /// The decoder the samples pass through (FID* decodes the reference with the same one).
    fn decoder(&self) -> Option<(&AnyDecoder, &str)> {
        None
    }
}

/// Opens `--generator` (a generator weight file or a `train-sampler` run folder) with its decoder.
pub fn open_generator(
    path: &Path,
    decoder: Option<&Path>,
    trunc_mode: TruncMode,
    args: &MetricArgs,
) -> Result<Box<dyn Generator>> {
    Ok(Box::new(generator::Sampler::open(
        path,
        decoder,
        trunc_mode,
        &args.device,
        args.threads,
    )?))
}

/// Statistics of one reference set (real images or their reconstructions).
struct RefData {
    origin: String,
    count: usize,
    desc: Descriptors,
    inception: Option<(Gaussian, Tensor)>,
}

/// Everything about the reference that is computed once (and reused over a truncation sweep).
pub struct Evaluator {
    cfg: SwdConfig,
    args: MetricArgs,
    device: Device,
    inception: Option<Inception>,
    real: RefData,
    recon: Option<RefData>,
}

/// Metrics of a sample set against one reference.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub reference: String,
    pub reference_images: usize,
    /// SWD ×10³ per pyramid level, finest first.
    pub swd_levels: Vec<f64>,
    pub swd: f64,
    /// KID on the SWD patch descriptors (mean over levels).
    pub kid_patches: Kid,
    pub fid: Option<f64>,
    pub kid_inception: Option<Kid>,
}

/// Everything `eval-samples` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub samples: String,
    pub sample_images: usize,
    pub size: usize,
    pub preprocess: &'static str,
    pub swd_resolutions: Vec<usize>,
    pub swd_config: SwdConfig,
    pub inception: Option<String>,
    pub inception_score: Option<InceptionScore>,
    /// Against the real reference images.
    pub real: Scores,
    /// Against decoded reconstructions of the reference (FID*, SWD*, KID*).
    pub reconstructions: Option<Scores>,
    pub decoder: Option<String>,
    pub seconds: f64,
}

impl Report {
    pub fn fid_star(&self) -> Option<f64> {
        self.reconstructions.as_ref().and_then(|r| r.fid)
    }
}

/// Decodes every reference image from its own low band (the same path generated samples take).
/// `decoder`: the generator's own decoder; otherwise `--decoder` or the shipped wavelet decoder.
fn reconstruct(
    set: &ImageSet,
    decoder: Option<(&AnyDecoder, &str)>,
    args: &MetricArgs,
) -> Result<(ImageSet, String)> {
    let loaded;
    let (dec, origin) = match decoder {
        Some((d, o)) => (d, o.to_string()),
        None => {
            let (bytes, origin) = default_weights::wavelet_or(args.decoder.as_deref())?;
            loaded = AnyDecoder::load(&bytes, Backend::Tch, &args.device, args.threads)
                .with_context(|| format!("cannot load the decoder {origin}"))?;
            (&loaded, origin)
        }
    };
    ensure!(
        dec.out_size() == set.size,
        "the decoder {origin} makes {0}x{0} images but the evaluation size is {1} (use --size {0})",
        dec.out_size(),
        set.size
    );
    let mut recon = ImageSet::empty(set.size, format!("{} decoded by {origin}", set.origin));
    let all: Vec<usize> = (0..set.len()).collect();
    for chunk in all.chunks(16) {
        let lows = chunk
            .iter()
            .map(|&i| dec.input_of(&set.image(i), set.size))
            .collect::<Result<Vec<_>>>()?;
        recon.push(&dec.decode(&lows)?)?;
    }
    Ok((recon, origin))
}

fn ref_data(
    set: &ImageSet,
    cfg: &SwdConfig,
    device: Device,
    net: Option<&Inception>,
) -> Result<RefData> {
    let t0 = std::time::Instant::now();
    let desc = swd::descriptors(set, cfg, device)?;
    tracing::info!(
        "SWD descriptors of {}: {:.1} s",
        set.origin,
        t0.elapsed().as_secs_f64()
    );
    let inception = match net {
        Some(net) => {
            let f = net.features(set)?;
            Some((Gaussian::of(&f.pool)?, f.pool))
        }
        None => None,
    };
    Ok(RefData {
        origin: set.origin.clone(),
        count: set.len(),
        desc,
        inception,
    })
}

impl Evaluator {
    /// Loads the reference, its descriptors and (with an Inception file) its feature statistics; with
    /// an Inception file or `--star` also the decoded reconstructions of the reference, made by
    /// `decoder` (a generator's own) or else `--decoder` / the shipped wavelet decoder.
    pub fn new(
        args: &MetricArgs,
        decoder: Option<(&AnyDecoder, &str)>,
    ) -> Result<(Evaluator, Option<String>)> {
        device::set_threads(args.threads);
        let device = device::parse(&args.device)?;
        let inception = args
            .inception
            .as_deref()
            .map(|p| Inception::load(p, device, args.batch))
            .transpose()?;
        let t0 = std::time::Instant::now();
        let real_set = ImageSet::load(
            &args.reference,
            args.preprocess,
            args.size,
            args.reference_limit,
            args.workers,
        )?;
        tracing::info!(
            "read {} reference images: {:.1} s",
            real_set.len(),
            t0.elapsed().as_secs_f64()
        );
        let mut decoder_origin = None;
        let recon = if inception.is_some() || args.star {
            let (set, origin) = reconstruct(&real_set, decoder, args)?;
            decoder_origin = Some(origin);
            Some(set)
        } else {
            if args.decoder.is_some() {
                eprintln!("note: --decoder is only used for FID* (needs --inception) or --star");
            }
            None
        };
        let ev = Evaluator::from_sets(args, device, inception, &real_set, recon.as_ref())?;
        Ok((ev, decoder_origin))
    }

    /// An evaluator for reference sets already in memory.
    pub fn from_sets(
        args: &MetricArgs,
        device: Device,
        inception: Option<Inception>,
        real: &ImageSet,
        recon: Option<&ImageSet>,
    ) -> Result<Evaluator> {
        let cfg = SwdConfig {
            patch: 7,
            patches_per_image: args.patches_per_image,
            directions: args.directions,
            min_resolution: 16,
            seed: args.seed,
        };
        ensure!(
            real.size == args.size,
            "reference images are {0}x{0}, the evaluation size is {1}",
            real.size,
            args.size
        );
        let real = ref_data(real, &cfg, device, inception.as_ref())?;
        let recon = recon
            .map(|r| ref_data(r, &cfg, device, inception.as_ref()))
            .transpose()?;
        Ok(Evaluator {
            cfg,
            args: args.clone(),
            device,
            inception,
            real,
            recon,
        })
    }

    pub fn size(&self) -> usize {
        self.args.size
    }

    fn scores(
        &self,
        r: &RefData,
        desc: &Descriptors,
        pool: Option<(&Gaussian, &Tensor)>,
    ) -> Result<Scores> {
        let a = &self.args;
        let t0 = std::time::Instant::now();
        let swd_levels = swd::swd(&r.desc, desc, &self.cfg)?;
        tracing::info!("SWD: {:.1} s", t0.elapsed().as_secs_f64());
        let groups: Vec<(Tensor, Tensor)> = r
            .desc
            .levels
            .iter()
            .zip(&desc.levels)
            .map(|(x, y)| (x.shallow_clone(), y.shallow_clone()))
            .collect();
        let kid_patches = kid::kid_groups(&groups, a.kid_subsets, a.kid_subset_size, a.seed)?;
        let (fid, kid_inception) = match (&r.inception, pool) {
            (Some((rg, rpool)), Some((g, p))) => (
                Some(frechet::distance(rg, g)?),
                Some(kid::kid(
                    rpool,
                    p,
                    a.kid_subsets,
                    a.kid_subset_size,
                    a.seed,
                )?),
            ),
            _ => (None, None),
        };
        Ok(Scores {
            reference: r.origin.clone(),
            reference_images: r.count,
            swd: swd_levels.iter().sum::<f64>() / swd_levels.len() as f64,
            swd_levels,
            kid_patches,
            fid,
            kid_inception,
        })
    }

    /// All metrics of a sample set.
    pub fn evaluate(&self, samples: &ImageSet, decoder: Option<String>) -> Result<Report> {
        let t0 = std::time::Instant::now();
        ensure!(
            samples.size == self.args.size,
            "samples are {0}x{0}, the reference {1}x{1}",
            samples.size,
            self.args.size
        );
        let desc = swd::descriptors(samples, &self.cfg, self.device)?;
        tracing::info!(
            "SWD descriptors of the samples: {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        let (stats, pool, inception_score) = match &self.inception {
            Some(net) => {
                let f = net.features(samples)?;
                let is = match &f.logits {
                    Some(l) => Some(inception::inception_score(
                        l,
                        self.args.is_splits.min(samples.len()),
                    )?),
                    None => None,
                };
                (Some(Gaussian::of(&f.pool)?), Some(f.pool), is)
            }
            None => (None, None, None),
        };
        let pool_ref = stats.as_ref().zip(pool.as_ref());
        let t1 = std::time::Instant::now();
        let real = self.scores(&self.real, &desc, pool_ref)?;
        tracing::info!("SWD and KID: {:.1} s", t1.elapsed().as_secs_f64());
        let reconstructions = self
            .recon
            .as_ref()
            .map(|r| self.scores(r, &desc, pool_ref))
            .transpose()?;
        Ok(Report {
            samples: samples.origin.clone(),
            sample_images: samples.len(),
            size: samples.size,
            preprocess: self.args.preprocess.name(),
            swd_resolutions: desc.resolutions.clone(),
            swd_config: self.cfg,
            inception: self.inception.as_ref().map(|i| i.origin.clone()),
            inception_score,
            real,
            reconstructions,
            decoder,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |x| format!("{x:.digits$}"))
}

fn kid_text(k: &Kid) -> String {
    format!("{:.3} ± {:.3}", k.mean * 1e3, k.std * 1e3)
}

/// The Markdown report of one evaluation.
pub fn markdown(r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "Samples: {} ({} images, {}x{}, {}); SWD ×10³ at {:?} px, {} patches/image, {} directions; KID ×10³ (mean ± std over {} subsets of {})\n",
        r.samples,
        r.sample_images,
        r.size,
        r.size,
        r.preprocess,
        r.swd_resolutions,
        r.swd_config.patches_per_image,
        r.swd_config.directions,
        r.real.kid_patches.subsets,
        r.real.kid_patches.subset_size,
    );
    let _ = writeln!(
        md,
        "| reference | images | FID | KID (Inception) | SWD | SWD per level | KID (patches) |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---|---:|");
    let mut row = |name: &str, s: &Scores| {
        let levels: Vec<String> = s.swd_levels.iter().map(|v| format!("{v:.1}")).collect();
        let _ = writeln!(
            md,
            "| {name}: {} | {} | {} | {} | {:.2} | {} | {} |",
            s.reference,
            s.reference_images,
            opt(s.fid, 2),
            s.kid_inception.as_ref().map_or("—".into(), kid_text),
            s.swd,
            levels.join(" / "),
            kid_text(&s.kid_patches),
        );
    };
    row("real", &r.real);
    if let Some(s) = &r.reconstructions {
        row("reconstructions (FID*, SWD*, KID*)", s);
    }
    if let Some(is) = &r.inception_score {
        let _ = writeln!(
            md,
            "\nInception Score: {:.3} ± {:.3} ({} splits)",
            is.mean, is.std, is.splits
        );
    }
    match (&r.inception, r.fid_star()) {
        (Some(i), Some(f)) => {
            let _ = writeln!(
                md,
                "\nInception: {i}; FID* = {f:.2} (decoder: {})",
                r.decoder.as_deref().unwrap_or("?")
            );
        }
        (Some(i), None) => {
            let _ = writeln!(md, "\nInception: {i}");
        }
        (None, _) => {
            let _ = writeln!(md, "\nNo --inception file: FID, IS, FID* not computed.");
        }
    }
    md
}

fn write_outputs(
    report: &Report,
    md: &str,
    json: Option<&Path>,
    markdown: Option<&Path>,
) -> Result<()> {
    if let Some(p) = json {
        checkpoint::write_json(p, report)?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = markdown {
        checkpoint::write_atomic(p, md.as_bytes())?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// Where `eval-samples` gets its images.
enum Source {
    Folder(ImageSet),
    Generator(Box<dyn Generator>),
}

pub fn run_eval_samples(a: &EvalSamplesArgs) -> Result<Report> {
    let m = &a.metrics;
    // The samples (or the generator) first: they are the most likely input to be wrong, and the
    // reference statistics take a while.
    let source = match (&a.samples, &a.generator) {
        (Some(dir), _) => {
            Source::Folder(ImageSet::load(dir, m.preprocess, m.size, a.n, m.workers)?)
        }
        (None, Some(g)) => {
            Source::Generator(open_generator(g, m.decoder.as_deref(), a.trunc_mode, m)?)
        }
        (None, None) => bail!("give --samples DIR or --generator G"),
    };
    let own = match &source {
        Source::Generator(g) => g.decoder(),
        Source::Folder(_) => None,
    };
    let (ev, decoder) = Evaluator::new(m, own)?;
    let samples = match source {
        Source::Folder(set) => set,
        Source::Generator(mut gen) => {
            let set = gen.generate(a.n.unwrap_or(1000), a.truncation, m.seed)?;
            ensure!(
                set.size == ev.size(),
                "the generator makes {0}x{0} images, the evaluation size is {1}",
                set.size,
                ev.size()
            );
            set
        }
    };
    let report = ev.evaluate(&samples, decoder)?;
    let md = markdown(&report);
    print!("{md}");
    write_outputs(&report, &md, a.json.as_deref(), a.markdown.as_deref())?;
    Ok(report)
}

//! `train-sampler`: the BigGAN recipe of paper-notes §1.10 on the sampler's data.
//!
//! One step (= one G update):
//! 1. `d_steps` times: zero D's gradients; for each of `d_accumulations` micro-batches, load *that*
//!    micro-batch of real data, draw z and fake labels, run G in train mode under `no_grad` (its BN
//!    statistics and SN vectors update, as in the authors' code), run D once on `cat(fake, real)` and
//!    backpropagate the hinge loss divided by the accumulation count; then one Adam step of D.
//! 2. D's parameters frozen; for each of `g_accumulations` micro-batches: new z and labels, backpropagate
//!    `−mean D(G(z))` divided by the count; one Adam step of G.
//! 3. G_ema ← G (a copy before `ema_start`, then `decay·ema + (1 − decay)·G`, buffers included).
//!
//! Noise and fake labels come from streams seeded by (seed, step) ([`super::truncation`]), and the data
//! order from the loader's (epoch, batch) position, so a checkpoint's step *is* its RNG state and
//! `--resume` continues bit-exactly. A non-finite loss or gradient is caught before the optimiser step
//! that would apply it: the run rolls back to its last checkpoint, multiplies both learning rates by
//! `nan_lr_factor` (kept in the checkpoint from then on) and continues.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::args::TrainSamplerArgs;
use super::config::SamplerConfig;
use super::data::{self, Domain, Norm};
use super::sample::{self, Pipeline};
use super::truncation::{self, Truncation};
use crate::checkpoint::{self, SIDECAR};
use crate::data::loader::{Loader, Plan, Position};
use crate::data::{self as dataset, Dataset};
use crate::nets::gan::{self, Discriminator, Generator};
use crate::nets::{self};
use crate::rng::SplitMix64;
use crate::train::adam::{Adam, AdamConfig};
use crate::train::metrics::Metrics;
use crate::{device, preset};

/// `checkpoint.json` of a sampler run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SamplerState {
    pub format: u32,
    /// Always `"sampler"` (tells these sidecars from the decoders').
    pub kind: String,
    pub config: SamplerConfig,
    /// G steps done.
    pub step: u64,
    /// Where the real-data order continues.
    pub position: Position,
    /// Real images seen.
    pub images: u64,
    pub elapsed_s: f64,
    /// Current learning rates ÷ configured ones (lowered by non-finite rollbacks).
    pub lr_scale: f64,
    pub rollbacks: u32,
    /// Tensor files relative to the run folder: `g`, `d`, `g_ema`, `adam_g`, `adam_d`.
    pub files: BTreeMap<String, String>,
}

pub const STATE_FORMAT: u32 = 1;
pub const KIND: &str = "sampler";
/// Test hook: `NSBG_TEST_NAN_AT_STEP=N` makes the D loss NaN the first time step N is computed in this
/// process (exercises the rollback path; never set it otherwise).
const NAN_HOOK: &str = "NSBG_TEST_NAN_AT_STEP";
/// Rollbacks to the same checkpoint before the run gives up.
const MAX_ROLLBACKS_IN_A_ROW: u32 = 5;

/// Reads a sampler run's sidecar.
pub fn load_state(run: &Path) -> Result<SamplerState> {
    let path = run.join(SIDECAR);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a sampler run folder with a checkpoint?)",
            path.display(),
            run.display()
        )
    })?;
    let state: SamplerState = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a sampler checkpoint sidecar", path.display()))?;
    if state.kind != KIND || state.format != STATE_FORMAT {
        bail!(
            "{} is a {:?} checkpoint of format {}; this build reads sampler format {STATE_FORMAT}",
            path.display(),
            state.kind,
            state.format
        );
    }
    Ok(state)
}

/// The networks and optimisers of a run.
pub struct Nets {
    pub vs_g: VarStore,
    pub vs_d: VarStore,
    pub vs_ema: VarStore,
    pub g: Generator,
    pub d: Discriminator,
    pub g_ema: Generator,
    pub opt_g: Adam,
    pub opt_d: Adam,
}

impl Nets {
    fn new(cfg: &SamplerConfig, device: Device) -> Result<Nets> {
        tch::manual_seed(cfg.seed as i64);
        let vs_g = VarStore::new(device);
        let g = Generator::new(&vs_g.root(), &cfg.gan).context("cannot build G")?;
        let vs_d = VarStore::new(device);
        let d = Discriminator::new(&vs_d.root(), &cfg.gan).context("cannot build D")?;
        let mut vs_ema = VarStore::new(device);
        let g_ema = Generator::new(&vs_ema.root(), &cfg.gan).context("cannot build G_ema")?;
        vs_ema.freeze();
        gan::ema_update(&vs_ema, &vs_g, 0.0)?;
        let opt_g = Adam::new(&vs_g, cfg.g_adam);
        let opt_d = Adam::new(&vs_d, cfg.d_adam);
        Ok(Nets {
            vs_g,
            vs_d,
            vs_ema,
            g,
            d,
            g_ema,
            opt_g,
            opt_d,
        })
    }

    /// Loads a checkpoint's tensors (networks and optimiser moments).
    fn load(&mut self, run: &Path, st: &SamplerState) -> Result<()> {
        let file = |k: &str| -> Result<PathBuf> {
            Ok(run.join(
                st.files
                    .get(k)
                    .with_context(|| format!("the checkpoint lists no {k} file"))?,
            ))
        };
        for (k, vs) in [
            ("g", &self.vs_g),
            ("d", &self.vs_d),
            ("g_ema", &self.vs_ema),
        ] {
            let t = checkpoint::read_tensors(&file(k)?)?;
            nets::load_named(vs, &t).with_context(|| format!("checkpoint {k} does not fit"))?;
        }
        let steps_d = st.step * u64::from(st.config.d_steps);
        self.opt_g
            .load_state(&checkpoint::read_tensors(&file("adam_g")?)?, st.step)?;
        self.opt_d
            .load_state(&checkpoint::read_tensors(&file("adam_d")?)?, steps_d)?;
        Ok(())
    }

    fn set_lr_scale(&mut self, cfg: &SamplerConfig, scale: f64) {
        self.opt_g.config.lr = cfg.g_adam.lr * scale;
        self.opt_d.config.lr = cfg.d_adam.lr * scale;
    }
}

/// Sums of one step's measurements.
#[derive(Debug, Default, Clone, Copy)]
struct StepStats {
    loss_d: f64,
    loss_d_real: f64,
    loss_d_fake: f64,
    loss_g: f64,
    d_real: f64,
    d_fake: f64,
    grad_norm_d: f64,
    grad_norm_g: f64,
}

impl StepStats {
    fn add(&mut self, o: &StepStats) {
        self.loss_d += o.loss_d;
        self.loss_d_real += o.loss_d_real;
        self.loss_d_fake += o.loss_d_fake;
        self.loss_g += o.loss_g;
        self.d_real += o.d_real;
        self.d_fake += o.d_fake;
        self.grad_norm_d += o.grad_norm_d;
        self.grad_norm_g += o.grad_norm_g;
    }
}

/// Global L2 norm of the gradients of a store's trainable variables.
fn grad_norm(vs: &VarStore) -> f64 {
    tch::no_grad(|| {
        let mut sq = 0.0;
        for t in vs.trainable_variables() {
            let g = t.grad();
            if g.defined() {
                sq += g
                    .to_kind(Kind::Double)
                    .square()
                    .sum(Kind::Double)
                    .double_value(&[]);
            }
        }
        sq.sqrt()
    })
}

/// z `[n, dim_z]` and labels `[n]` for one micro-batch, from the stream `(seed, step, sub)`.
fn noise(cfg: &SamplerConfig, dim_z: i64, step: u64, sub: u64, device: Device) -> (Tensor, Tensor) {
    let mut rng = SplitMix64::new(truncation::stream_seed(cfg.seed, step, sub));
    let n = cfg.batch;
    let z = truncation::draw(&mut rng, n * dim_z as usize, Truncation::None);
    let y: Vec<i64> = (0..n)
        .map(|_| truncation::label(&mut rng, cfg.gan.n_classes as usize))
        .collect();
    (
        Tensor::from_slice(&z)
            .reshape([n as i64, dim_z])
            .to_device(device),
        Tensor::from_slice(&y).to_device(device),
    )
}

/// A non-finite value caught before an optimiser step.
#[derive(Debug)]
struct NonFinite(String);

/// One G step (with its D steps). `Ok(Err(_))`: a non-finite loss or gradient (nothing was applied
/// after it; the caller rolls back).
fn train_step(
    cfg: &SamplerConfig,
    n: &mut Nets,
    loader: &mut Loader,
    new_step: u64,
    inject_nan: bool,
    device: Device,
) -> Result<std::result::Result<(StepStats, Position), NonFinite>> {
    let mut s = StepStats::default();
    let dim_z = n.g.dim_z();
    let b = cfg.batch as i64;
    let mut position = None;
    let acc_d = f64::from(cfg.d_accumulations);
    for ds in 0..cfg.d_steps {
        n.opt_d.zero_grad();
        let mut step_loss = 0.0f64;
        for acc in 0..cfg.d_accumulations {
            let batch = loader
                .next_batch()
                .context("the training data loader stopped")??;
            position = Some(batch.next);
            let x = Tensor::from_slice(&batch.x)
                .reshape([b, 3, data::SIDE as i64, data::SIDE as i64])
                .to_device(device);
            let y_real = Tensor::from_slice(&batch.y)
                .to_kind(Kind::Int64)
                .to_device(device);
            let sub = u64::from(ds) * 1000 + u64::from(acc);
            let (z, y_fake) = noise(cfg, dim_z, new_step, sub, device);
            let fake = tch::no_grad(|| n.g.forward(&z, &y_fake, true));
            let out = n.d.forward(
                &Tensor::cat(&[&fake, &x], 0),
                &Tensor::cat(&[&y_fake, &y_real], 0),
                true,
            );
            let parts = out.split(b, 0);
            let (d_fake, d_real) = (&parts[0], &parts[1]);
            let l_real = (d_real.neg() + 1.0).relu().mean(Kind::Float);
            let l_fake = (d_fake + 1.0).relu().mean(Kind::Float);
            let mut loss = (&l_real + &l_fake) / acc_d;
            if inject_nan && ds == 0 && acc == 0 {
                loss *= f64::NAN;
            }
            loss.backward();
            let lv = loss.double_value(&[]);
            step_loss += lv;
            s.loss_d_real += l_real.double_value(&[]) / acc_d;
            s.loss_d_fake += l_fake.double_value(&[]) / acc_d;
            s.d_real += d_real.mean(Kind::Float).double_value(&[]) / acc_d;
            s.d_fake += d_fake.mean(Kind::Float).double_value(&[]) / acc_d;
        }
        let gn = grad_norm(&n.vs_d);
        if !step_loss.is_finite() || !gn.is_finite() {
            return Ok(Err(NonFinite(format!(
                "D loss {step_loss}, D gradient norm {gn} at step {new_step}"
            ))));
        }
        s.loss_d += step_loss;
        s.grad_norm_d += gn;
        n.opt_d.step();
    }
    let k = f64::from(cfg.d_steps);
    for v in [
        &mut s.loss_d,
        &mut s.loss_d_real,
        &mut s.loss_d_fake,
        &mut s.d_real,
        &mut s.d_fake,
        &mut s.grad_norm_d,
    ] {
        *v /= k;
    }

    // G step, D frozen (its SN vectors still update: D runs in train mode, as in the authors' code).
    n.vs_d.freeze();
    n.opt_g.zero_grad();
    let acc_g = f64::from(cfg.g_accumulations);
    let mut loss_g = 0.0;
    for acc in 0..cfg.g_accumulations {
        let (z, y) = noise(cfg, dim_z, new_step, 1_000_000 + u64::from(acc), device);
        let fake = n.g.forward(&z, &y, true);
        let loss = n.d.forward(&fake, &y, true).mean(Kind::Float).neg() / acc_g;
        loss.backward();
        loss_g += loss.double_value(&[]);
    }
    n.vs_d.unfreeze();
    let gn = grad_norm(&n.vs_g);
    if !loss_g.is_finite() || !gn.is_finite() {
        return Ok(Err(NonFinite(format!(
            "G loss {loss_g}, G gradient norm {gn} at step {new_step}"
        ))));
    }
    s.loss_g = loss_g;
    s.grad_norm_g = gn;
    n.opt_g.step();
    let decay = if new_step < cfg.ema_start {
        0.0
    } else {
        cfg.ema_decay
    };
    gan::ema_update(&n.vs_ema, &n.vs_g, decay)?;
    let position = position.context("a step without data")?;
    Ok(Ok((s, position)))
}

/// A new run's configuration: preset, then flags, then the dataset's classes.
fn new_config(
    a: &TrainSamplerArgs,
    data_dir: PathBuf,
    classes: &[String],
) -> Result<SamplerConfig> {
    let p = preset::load(&a.preset)?;
    let sp = p
        .sampler
        .as_ref()
        .with_context(|| format!("preset {} has no [sampler] table", a.preset))?;
    let arch = a.arch.map_or(gan::Arch::BigGanDeep, Into::into);
    let mut gan = sp.model(arch).clone();
    if gan.arch != arch {
        bail!(
            "preset {}: the [sampler.{}] table says arch {:?}",
            a.preset,
            arch.name(),
            gan.arch.name()
        );
    }
    let domain = a.domain.unwrap_or(Domain::Wavelet);
    gan.n_classes = if a.unconditional {
        1
    } else {
        classes.len().max(1) as i64
    };
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f { gan.$f = v; } )* };
    }
    set!(
        g_ch,
        d_ch,
        dim_z,
        shared_dim,
        g_depth,
        d_depth,
        sn_eps,
        bn_eps,
        bn_momentum
    );
    if let Some(r) = a.g_attn {
        gan.g_attn = (r > 0).then_some(r);
    }
    if let Some(r) = a.d_attn {
        gan.d_attn = (r > 0).then_some(r);
    }
    let norm = match domain {
        Domain::Wavelet => Norm {
            shift: a.norm_shift.unwrap_or(sp.norm_shift),
            scale: a.norm_scale.unwrap_or(sp.norm_scale),
        },
        Domain::Pixel => {
            if a.norm_shift.is_some() || a.norm_scale.is_some() {
                bail!("--norm-shift/--norm-scale apply to the wavelet domain only (pixels: [0,1] → [−1,1])");
            }
            Norm::PIXEL
        }
    };
    let adam = |lr: f64| AdamConfig {
        lr,
        beta1: a.beta1.unwrap_or(sp.beta1),
        beta2: a.beta2.unwrap_or(sp.beta2),
        eps: a.adam_eps.unwrap_or(sp.adam_eps),
    };
    Ok(SamplerConfig {
        preset: p.name.clone(),
        domain,
        gan,
        norm,
        extension: match a.extension {
            Some(m) => nsbg_core::wavelet::Extension::from(m).name().into(),
            None => sp.extension.clone(),
        },
        classes: if a.unconditional {
            vec![String::new()]
        } else {
            classes.to_vec()
        },
        batch: a.batch.unwrap_or(sp.batch),
        d_steps: a.d_steps.unwrap_or(sp.d_steps),
        d_accumulations: a.d_accumulations.unwrap_or(sp.d_accumulations),
        g_accumulations: a.g_accumulations.unwrap_or(sp.g_accumulations),
        g_adam: adam(a.g_lr.unwrap_or(sp.g_lr)),
        d_adam: adam(a.d_lr.unwrap_or(sp.d_lr)),
        ema_decay: a.ema_decay.unwrap_or(sp.ema_decay),
        ema_start: a.ema_start.unwrap_or(sp.ema_start),
        steps: a.steps.unwrap_or(sp.steps),
        nan_lr_factor: a.nan_lr_factor.unwrap_or(sp.nan_lr_factor),
        log_every: a.log_every.unwrap_or(sp.log_every),
        checkpoint_every: a.checkpoint_every.unwrap_or(sp.checkpoint_every),
        sample_every: a.sample_every.unwrap_or(sp.sample_every),
        sample_count: a.sample_count,
        seed: a.session.seed,
        data: data_dir,
        limit: a.session.limit,
        cache: a.session.cache.clone(),
        decoder: a.decoder.clone(),
    })
}

fn open_dataset(
    domain: Domain,
    ext: nsbg_core::wavelet::Extension,
    dir: &Path,
    workers: usize,
    cache: Option<PathBuf>,
    limit: Option<usize>,
) -> Result<Dataset> {
    let opts = data::options(domain, ext, workers, cache, limit);
    let ds = Dataset::open(dir, &opts)
        .with_context(|| format!("cannot open dataset {}", dir.display()))?;
    ds.announce();
    Ok(ds)
}

struct Run<'a> {
    dir: &'a Path,
    cfg: &'a SamplerConfig,
}

impl Run<'_> {
    fn checkpoint(&self, n: &Nets, st: &mut SamplerState) -> Result<()> {
        let groups: [(&str, Vec<(String, Tensor)>); 5] = [
            ("g", nets::named_variables(&n.vs_g)),
            ("d", nets::named_variables(&n.vs_d)),
            ("g_ema", nets::named_variables(&n.vs_ema)),
            ("adam_g", n.opt_g.state_tensors()),
            ("adam_d", n.opt_d.state_tensors()),
        ];
        st.files = groups
            .iter()
            .map(|(k, _)| (k.to_string(), checkpoint::tensor_file(k, st.step)))
            .collect();
        st.config = self.cfg.clone();
        let files: Vec<(&str, &[(String, Tensor)])> = groups
            .iter()
            .map(|(k, t)| (st.files[*k].as_str(), t.as_slice()))
            .collect();
        checkpoint::save_files(
            self.dir,
            &files,
            serde_json::to_string_pretty(st)?.as_bytes(),
        )
    }
}

/// Fixed noise of the sample sheets: the first `count` images of `sample` with seed `seed`.
pub fn sheet_noise(cfg: &SamplerConfig, count: usize) -> (Vec<f32>, Vec<i64>) {
    sample::noise(
        cfg.seed,
        count,
        sample::gan_dim_z(&cfg.gan),
        cfg.gan.n_classes as usize,
        &[],
        Truncation::None,
    )
}

pub fn run(a: &TrainSamplerArgs) -> Result<()> {
    let device = device::parse(&a.session.device)?;
    device::set_threads(a.session.threads);
    let workers = a.session.workers.max(1);
    let run_dir = a.out.as_path();
    let resumed = if a.session.resume {
        Some(load_state(run_dir)?)
    } else {
        if run_dir.join(SIDECAR).exists() && !a.session.force {
            bail!(
                "{} already holds a training run (use --resume to continue it, or --force to start over)",
                run_dir.display()
            );
        }
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("cannot create run folder {}", run_dir.display()))?;
        None
    };
    let (cfg, ds) = match &resumed {
        Some(st) => {
            let mut cfg = st.config.clone();
            if let Some(s) = a.steps {
                cfg.steps = s;
            }
            if a.decoder.is_some() {
                cfg.decoder = a.decoder.clone();
            }
            let ds = open_dataset(
                cfg.domain,
                cfg.ext()?,
                &cfg.data,
                workers,
                cfg.cache.clone(),
                cfg.limit,
            )?;
            (cfg, ds)
        }
        None => {
            let data_dir = a
                .data
                .clone()
                .unwrap_or_else(|| dataset::default_split("train"));
            let domain = a.domain.unwrap_or(Domain::Wavelet);
            let ext = match a.extension {
                Some(m) => m.into(),
                None => nsbg_core::wavelet::Extension::Symmetric,
            };
            let ds = open_dataset(
                domain,
                ext,
                &data_dir,
                workers,
                a.session.cache.clone(),
                a.session.limit,
            )?;
            let cfg = new_config(a, data_dir, &ds.classes)?;
            (cfg, ds)
        }
    };
    cfg.validate()?;
    if cfg.gan.n_classes > 1 && ds.classes.len() as i64 != cfg.gan.n_classes {
        bail!(
            "the dataset now has {} classes, the run was made for {}",
            ds.classes.len(),
            cfg.gan.n_classes
        );
    }
    checkpoint::write_json(&run_dir.join("config.json"), &cfg)?;
    eprintln!(
        "{} on {} ({} libtorch threads), {} training images",
        cfg.describe(),
        device::name(device),
        tch::get_num_threads(),
        ds.len()
    );
    let unconditional = cfg.gan.n_classes <= 1;
    let ds = Arc::new(ds);
    let make = {
        let inner = data::make_sample(cfg.domain, cfg.ext()?, cfg.norm);
        let f: Arc<crate::data::loader::MakeSample> = if unconditional {
            Arc::new(move |d: &Dataset, i: usize| inner(d, i).map(|(x, _)| (x, vec![0.0])))
        } else {
            inner
        };
        f
    };
    let pipeline = match &cfg.decoder {
        Some(p) => Some(Pipeline::load(
            cfg.domain,
            cfg.norm,
            &cfg.extension,
            Some(p),
            crate::cli::Backend::Core,
            "cpu",
            a.session.threads,
        )?),
        None => None,
    };

    let mut n = Nets::new(&cfg, device)?;
    let params = |vs: &VarStore| -> i64 {
        vs.trainable_variables()
            .iter()
            .map(Tensor::numel)
            .map(|v| v as i64)
            .sum()
    };
    let (params_g, params_d) = (params(&n.vs_g), params(&n.vs_d));
    eprintln!("G {params_g} parameters, D {params_d} parameters");
    let run = Run {
        dir: run_dir,
        cfg: &cfg,
    };
    let mut st = match resumed {
        Some(st) => {
            n.load(run_dir, &st)?;
            n.set_lr_scale(&cfg, st.lr_scale);
            eprintln!("resuming {} at step {}", run_dir.display(), st.step);
            st
        }
        None => {
            let mut st = SamplerState {
                format: STATE_FORMAT,
                kind: KIND.into(),
                config: cfg.clone(),
                step: 0,
                position: Position { epoch: 0, batch: 0 },
                images: 0,
                elapsed_s: 0.0,
                lr_scale: 1.0,
                rollbacks: 0,
                files: BTreeMap::new(),
            };
            // A checkpoint at step 0: the state a non-finite step can always roll back to.
            run.checkpoint(&n, &mut st)?;
            st
        }
    };
    let mut metrics = Metrics::open(run_dir, Some(st.step))?;
    let title = format!("{} {}", cfg.gan.arch.name(), cfg.domain.name());
    let plot_fields: [(&str, [u8; 3]); 3] = [
        ("loss_d", [31, 119, 180]),
        ("loss_d_real", [44, 160, 44]),
        ("loss_d_fake", [214, 39, 40]),
    ];
    let (sheet_z, sheet_y) = sheet_noise(&cfg, cfg.sample_count.max(1));
    let write_sheet = |n: &Nets, step: u64| -> Result<()> {
        let path = run_dir.join(format!("samples/step-{step:08}.png"));
        sample::sheet(
            &n.g_ema,
            &sheet_z,
            &sheet_y,
            cfg.domain,
            cfg.norm,
            pipeline.as_ref(),
            &path,
            device,
        )
    };
    let new_loader = |position: Position| {
        Loader::new(
            ds.clone(),
            Plan::Shuffled {
                seed: cfg.seed,
                start: position,
                batch: cfg.batch,
            },
            make.clone(),
            workers,
            2,
        )
    };
    let mut loader = new_loader(st.position)?;
    let nan_at: Option<u64> = std::env::var(NAN_HOOK).ok().and_then(|v| v.parse().ok());
    let mut nan_done = false;
    let bar = ProgressBar::new(cfg.steps);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(st.step);
    let mut compute = crate::compute::Recorder::start(
        run_dir,
        "train-sampler",
        device,
        usize::try_from(tch::get_num_threads()).unwrap_or(1),
        a.session.power_watts,
        a.session.resume,
    )?;
    let start = Instant::now();
    let elapsed_before = st.elapsed_s;
    let budget_s = a.session.time_budget.map(|m| m * 60.0);
    let mut window = StepStats::default();
    let (mut window_steps, mut window_start) = (0u64, Instant::now());
    let (mut session_steps, mut session_images) = (0u64, 0u64);
    let mut stopped_by_budget = false;
    let mut rollbacks_in_a_row = 0u32;
    let mut last_ckpt = st.step;
    let mut last_sheet = None;
    while st.step < cfg.steps {
        if budget_s.is_some_and(|b| start.elapsed().as_secs_f64() >= b) {
            stopped_by_budget = true;
            break;
        }
        let new_step = st.step + 1;
        let inject = !nan_done && nan_at == Some(new_step);
        nan_done |= inject;
        match train_step(&cfg, &mut n, &mut loader, new_step, inject, device)? {
            Ok((s, position)) => {
                rollbacks_in_a_row = 0;
                st.step = new_step;
                st.position = position;
                st.images += cfg.real_per_step() as u64;
                session_steps += 1;
                session_images += cfg.real_per_step() as u64;
                compute.images(cfg.real_per_step() as u64)?;
                window.add(&s);
                window_steps += 1;
            }
            Err(NonFinite(what)) => {
                rollbacks_in_a_row += 1;
                if rollbacks_in_a_row > MAX_ROLLBACKS_IN_A_ROW {
                    bail!("{what}: still non-finite after {MAX_ROLLBACKS_IN_A_ROW} rollbacks with lowered learning rates; giving up");
                }
                drop(loader);
                let good = load_state(run_dir)?;
                n.load(run_dir, &good)?;
                let lr_scale = st.lr_scale * cfg.nan_lr_factor;
                let rollbacks = st.rollbacks + 1;
                st = good;
                st.lr_scale = lr_scale;
                st.rollbacks = rollbacks;
                n.set_lr_scale(&cfg, lr_scale);
                loader = new_loader(st.position)?;
                metrics = Metrics::open(run_dir, Some(st.step))?;
                metrics.write(json!({
                    "kind": "rollback", "step": st.step, "reason": what,
                    "g_lr": n.opt_g.config.lr, "d_lr": n.opt_d.config.lr,
                }))?;
                bar.suspend(|| {
                    tracing::warn!(
                        "{what}: rolled back to step {}, learning rates ×{} → G {:.3e}, D {:.3e}",
                        st.step,
                        cfg.nan_lr_factor,
                        n.opt_g.config.lr,
                        n.opt_d.config.lr
                    );
                    eprintln!(
                        "warning: {what}; rolled back to the checkpoint of step {} and lowered the learning rates to G {:.3e}, D {:.3e}",
                        st.step, n.opt_g.config.lr, n.opt_d.config.lr
                    );
                });
                bar.set_position(st.step);
                window = StepStats::default();
                window_steps = 0;
                window_start = Instant::now();
                // Persist the lowered rates at once, so a kill now cannot undo them.
                run.checkpoint(&n, &mut st)?;
                continue;
            }
        }
        let step = st.step;
        if step % cfg.log_every == 0 || step == cfg.steps {
            let secs = window_start.elapsed().as_secs_f64().max(1e-9);
            let k = window_steps.max(1) as f64;
            let sn = |vs: &VarStore| -> serde_json::Map<String, serde_json::Value> {
                gan::spectral_norms(vs)
                    .into_iter()
                    .map(|(name, v)| (name, json!(v)))
                    .collect()
            };
            let its = window_steps as f64 / secs;
            metrics.write(json!({
                "kind": "train",
                "step": step,
                "loss_d": window.loss_d / k,
                "loss_d_real": window.loss_d_real / k,
                "loss_d_fake": window.loss_d_fake / k,
                "loss_g": window.loss_g / k,
                "d_real": window.d_real / k,
                "d_fake": window.d_fake / k,
                "grad_norm_d": window.grad_norm_d / k,
                "grad_norm_g": window.grad_norm_g / k,
                "g_lr": n.opt_g.config.lr,
                "d_lr": n.opt_d.config.lr,
                "it_per_s": its,
                "images_per_s": its * cfg.real_per_step() as f64,
                "epoch": st.position.epoch,
                "images": st.images,
                "elapsed_s": elapsed_before + start.elapsed().as_secs_f64(),
                "sn_g": sn(&n.vs_g),
                "sn_d": sn(&n.vs_d),
            }))?;
            bar.set_message(format!(
                "D {:.3} G {:.3} {:.2} it/s",
                window.loss_d / k,
                window.loss_g / k,
                its
            ));
            metrics.plot_fields(&title, &plot_fields)?;
            window = StepStats::default();
            window_steps = 0;
            window_start = Instant::now();
        }
        bar.set_position(step);
        if step % cfg.sample_every == 0 {
            bar.suspend(|| write_sheet(&n, step))?;
            last_sheet = Some(step);
        }
        if step % cfg.checkpoint_every == 0 {
            st.elapsed_s = elapsed_before + start.elapsed().as_secs_f64();
            run.checkpoint(&n, &mut st)?;
            last_ckpt = step;
        }
    }
    drop(loader);
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    if last_ckpt != st.step {
        st.elapsed_s = elapsed_before + elapsed;
        run.checkpoint(&n, &mut st)?;
    }
    if last_sheet != Some(st.step) {
        write_sheet(&n, st.step)?;
    }
    metrics.plot_fields(&title, &plot_fields)?;
    let its = session_steps as f64 / elapsed.max(1e-9);
    let energy = compute.finish()?;
    let summary = json!({
        "config": cfg,
        "step": st.step,
        "images": st.images,
        "epochs": st.images as f64 / ds.len() as f64,
        "train_images": ds.len(),
        "train_skipped": ds.skipped.len(),
        "parameters_g": params_g,
        "parameters_d": params_d,
        "session_seconds": elapsed,
        "total_seconds": elapsed_before + elapsed,
        "it_per_s": its,
        "images_per_s": session_images as f64 / elapsed.max(1e-9),
        "lr_scale": st.lr_scale,
        "rollbacks": st.rollbacks,
        "stopped_by_time_budget": stopped_by_budget,
        "device": device::name(device),
        "threads": tch::get_num_threads(),
        "compute": {"hours": energy.hours(), "kwh": energy.kwh(), "images": energy.images},
    });
    checkpoint::write_json(&run_dir.join("summary.json"), &summary)?;
    println!(
        "{}: step {}/{}, {} real images, {its:.2} it/s ({:.1} img/s){}{}",
        run_dir.display(),
        st.step,
        cfg.steps,
        st.images,
        session_images as f64 / elapsed.max(1e-9),
        if stopped_by_budget {
            ", stopped by time budget"
        } else {
            ""
        },
        if st.rollbacks > 0 {
            format!(", {} rollback(s), lr ×{}", st.rollbacks, st.lr_scale)
        } else {
            String::new()
        }
    );
    Ok(())
}

//! `train-decoder` / `train-pixel`: one decoder level per run, in a run folder:
//! `checkpoint.json` + `checkpoints/*.safetensors` (see [`crate::checkpoint`]), `metrics.jsonl`,
//! `loss.png`, `samples/step-N.png` (input / prediction / truth) and `summary.json`.

pub mod adam;
pub mod config;
pub mod metrics;
pub mod parallel;
pub mod precision;
pub mod task;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tch::{nn::VarStore, Device};

use self::adam::{Adam, AdamConfig};
use self::config::{Level2Input, Network, PixelLoss, RunConfig};
use self::metrics::Metrics;
use self::parallel::{Parallel, RankStep, StepPlan};
use self::precision::{LossScale, Precision};
use self::task::{Precomputed, Task};
use crate::checkpoint::{self, Best, Progress, State};
use crate::cli::{TrainArgs, TrainDecoderArgs, TrainPixelArgs};
use crate::data::loader::{Loader, Plan, Position};
use crate::data::{self, DataOptions, Dataset, Part, Preprocess};
use crate::nets::{self, LevelNet};
use crate::{device, grid, preset};

/// Things that may differ between sessions of one run.
struct Session {
    device: Device,
    workers: usize,
    time_budget_s: Option<f64>,
}

pub fn train_decoder(a: &TrainDecoderArgs) -> Result<()> {
    let cfg = if a.common.session.resume {
        resumed_config(&a.common, Network::Wavelet)?
    } else {
        let mut cfg = new_config(&a.common, Network::Wavelet)?;
        cfg.level2_input = a.level2_input;
        cfg.level1_weights = a.level1_weights.clone();
        if let Some(w) = a.width {
            cfg.width = w;
        }
        if let Some(t) = a.tail_width {
            cfg.tail_width = t;
        }
        cfg
    };
    run(cfg, &a.common)
}

pub fn train_pixel(a: &TrainPixelArgs) -> Result<()> {
    let cfg = if a.common.session.resume {
        resumed_config(&a.common, Network::Pixel)?
    } else {
        let mut cfg = new_config(&a.common, Network::Pixel)?;
        if let Some(b) = a.base {
            cfg.base = b;
        }
        if let Some(l) = a.pixel_loss {
            cfg.pixel_loss = l;
        }
        cfg
    };
    run(cfg, &a.common)
}

/// The `val` folder beside a `train` folder.
fn sibling_val(data: &Path) -> Option<PathBuf> {
    let is_train = data.file_name().is_some_and(|n| n == "train");
    let val = data.parent()?.join("val");
    (is_train && val.is_dir()).then_some(val)
}

/// A new run's configuration: preset, then flags.
fn new_config(a: &TrainArgs, network: Network) -> Result<RunConfig> {
    let p = preset::load(&a.preset)?;
    let Some(level) = a.level else {
        bail!("--level is required for a new run (1 or 2)");
    };
    let k = (level - 1) as usize;
    let data = a
        .data
        .clone()
        .unwrap_or_else(|| data::default_split("train"));
    let holdout = a.holdout.unwrap_or(0);
    if holdout > 0 && (a.no_val || a.val_data.is_some()) {
        bail!("--holdout validates on held-out training pictures: it excludes --no-val and --val-data");
    }
    let val_data = if a.no_val || holdout > 0 {
        None
    } else {
        a.val_data.clone().or_else(|| sibling_val(&data))
    };
    let (lr, batch, steps, depth, zero_init) = match network {
        Network::Wavelet => (
            p.wavelet.lr,
            p.wavelet.batch[k],
            p.wavelet.steps[k],
            p.wavelet.depth,
            p.wavelet.zero_init_output,
        ),
        Network::Pixel => (
            p.pixel.lr,
            p.pixel.batch[k],
            p.pixel.steps[k],
            p.pixel.depth,
            p.pixel.zero_init_output,
        ),
    };
    let cfg = RunConfig {
        network,
        level,
        level2_input: Level2Input::Gt,
        level1_weights: None,
        preset: p.name.clone(),
        image_size: a.image_size.unwrap_or(p.data.image_size),
        preprocess: match a.preprocess {
            Some(m) => m,
            None => Preprocess::from_name(&p.data.preprocess)?,
        },
        extension: match a.extension {
            Some(m) => nsbg_core::wavelet::Extension::from(m).name().into(),
            None => p.data.extension.clone(),
        },
        bn_eps: a.bn_eps.unwrap_or(1e-5),
        width: p.wavelet.width,
        tail_width: p.wavelet.tail_width,
        depth: a.depth.unwrap_or(depth),
        zero_init_output: a.zero_init_output.unwrap_or(zero_init),
        base: p.pixel.base,
        adam: AdamConfig {
            lr: a.lr.unwrap_or(lr),
            beta1: a.beta1.unwrap_or(p.adam.beta1),
            beta2: a.beta2.unwrap_or(p.adam.beta2),
            eps: a.adam_eps.unwrap_or(p.adam.eps),
        },
        batch: a.batch.unwrap_or(batch),
        steps: a.steps.unwrap_or(steps),
        pixel_loss: PixelLoss::from_name(&p.pixel.loss)?,
        log_every: a.log_every.unwrap_or(p.schedule.log_every),
        val_every: a.val_every.unwrap_or(p.schedule.val_every),
        checkpoint_every: a.checkpoint_every.unwrap_or(p.schedule.checkpoint_every),
        sample_every: a.sample_every.unwrap_or(p.schedule.sample_every),
        sample_count: a.sample_count,
        seed: a.session.seed,
        data,
        val_data,
        holdout,
        augment: a.augment.unwrap_or(p.data.augment),
        limit: a.session.limit,
        val_limit: a.val_limit,
        cache: a.session.cache.clone(),
        accumulate: a.accumulate.unwrap_or(1),
        world: a.gpus.or(a.world).unwrap_or(1),
        gpus: a.gpus.is_some(),
        precision: a.precision.unwrap_or_default(),
    };
    Ok(cfg)
}

/// A resumed run's configuration: the checkpoint's, with the few flags that may change.
fn resumed_config(a: &TrainArgs, network: Network) -> Result<RunConfig> {
    let state = checkpoint::load_state(&a.out)?;
    let mut cfg = state.config;
    if cfg.network != network {
        bail!(
            "{} is a {:?} run; resume it with the matching command",
            a.out.display(),
            cfg.network
        );
    }
    if let Some(level) = a.level {
        if level != cfg.level {
            bail!(
                "{} trains level {}, not {level}",
                a.out.display(),
                cfg.level
            );
        }
    }
    if let Some(s) = a.steps {
        cfg.steps = s;
    }
    // The data-parallel layout and precision define the run (its effective batch and numerics).
    let flags = [
        (
            "--accumulate",
            a.accumulate.map(|v| v.to_string()),
            cfg.accumulate.to_string(),
        ),
        (
            "--gpus",
            a.gpus.map(|v| v.to_string()),
            cfg.world.to_string(),
        ),
        (
            "--world",
            a.world.map(|v| v.to_string()),
            cfg.world.to_string(),
        ),
        (
            "--precision",
            a.precision.map(|p| p.name().to_string()),
            cfg.precision.name().to_string(),
        ),
    ];
    for (flag, given, stored) in flags {
        if let Some(given) = given {
            if given != stored {
                bail!(
                    "{} was trained with {flag} {stored}; a resumed run keeps it (got {given})",
                    a.out.display()
                );
            }
        }
    }
    if a.gpus.is_some() && !cfg.gpus {
        bail!(
            "{} runs its ranks on one device (--world); resume it with --world",
            a.out.display()
        );
    }
    Ok(cfg)
}

fn open_data(
    cfg: &RunConfig,
    dir: &Path,
    limit: Option<usize>,
    part: Option<Part>,
    workers: usize,
) -> Result<Dataset> {
    let opts = DataOptions {
        preprocess: cfg.preprocess,
        size: cfg.image_size,
        workers,
        cache: cfg.cache.clone(),
        extension: cfg.ext()?,
        limit,
    };
    let split = part.map(|p| (cfg.holdout_split(), p));
    let ds = Dataset::open_part(dir, &opts, split)
        .with_context(|| format!("cannot open dataset {}", dir.display()))?;
    ds.announce();
    Ok(ds)
}

fn build_net(cfg: &RunConfig, vs: &VarStore) -> LevelNet {
    match cfg.network {
        Network::Wavelet => {
            LevelNet::wavelet(vs, &cfg.wavelet_level(), cfg.bn_eps, cfg.zero_init_output)
        }
        Network::Pixel => LevelNet::pixel(vs, &cfg.pixel_level(), cfg.bn_eps, cfg.zero_init_output),
    }
}

struct Validation {
    loss: f64,
    zero_loss: f64,
    out_mse: f64,
}

/// Loss over the whole validation set (eval mode), normalised per batch item, plus the loss of the
/// trivial prediction (zero details / plain bilinear upsampling) and the MSE of the level's output.
fn validate(
    task: &Task,
    net: &LevelNet,
    val: &Arc<Dataset>,
    make: &Arc<data::loader::MakeSample>,
    batch: usize,
    workers: usize,
    device: Device,
) -> Result<Validation> {
    let mut loader = Loader::new(
        val.clone(),
        Plan::Sequential { batch },
        make.clone(),
        workers,
        2,
    )?;
    let (mut loss, mut zero, mut out_mse, mut count) = (0.0, 0.0, 0.0, 0usize);
    while let Some(b) = loader.next_batch() {
        let b = b?;
        let (x, y) = task.tensors(&b.x, &b.y, b.len, device);
        let pred = tch::no_grad(|| net.forward(&x, false));
        let l = task.loss(&pred, &y).double_value(&[]);
        let trivial = match task.network {
            Network::Wavelet => y.zeros_like(),
            Network::Pixel => crate::nets::layers::upsample2(&x, false),
        };
        let z = task.loss(&trivial, &y).double_value(&[]);
        loss += task.loss_per_batch_item(l, b.len) * b.len as f64;
        zero += task.loss_per_batch_item(z, b.len) * b.len as f64;
        let p = nets::to_vec(&pred)?;
        let (xl, yl) = (b.x.len() / b.len, b.y.len() / b.len);
        for i in 0..b.len {
            let xi = &b.x[i * xl..(i + 1) * xl];
            let got = task.level_output(xi, &p[i * yl..(i + 1) * yl])?;
            let want = task.level_output(xi, &b.y[i * yl..(i + 1) * yl])?;
            out_mse += got
                .iter()
                .zip(&want)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum::<f64>()
                / got.len() as f64;
        }
        count += b.len;
    }
    let n = count.max(1) as f64;
    Ok(Validation {
        loss: loss / n,
        zero_loss: zero / n,
        out_mse: out_mse / n,
    })
}

/// Writes `samples/step-N.png` for the first examples of `ds`.
#[allow(clippy::too_many_arguments)]
fn write_samples(
    run: &Path,
    step: u64,
    task: &Task,
    net: &LevelNet,
    ds: &Arc<Dataset>,
    make: &Arc<data::loader::MakeSample>,
    count: usize,
    device: Device,
) -> Result<()> {
    let k = count.min(ds.len());
    if k == 0 {
        return Ok(());
    }
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for i in 0..k {
        let (x, y) = make(ds, i)?;
        xs.extend(x);
        ys.extend(y);
    }
    let (x, _) = task.tensors(&xs, &ys, k, device);
    let pred = nets::to_vec(&tch::no_grad(|| net.forward(&x, false)))?;
    let (xl, yl) = (xs.len() / k, ys.len() / k);
    let (si, so) = task.display_scales();
    let scale = |v: Vec<f32>, f: f32| v.into_iter().map(|a| a * f).collect::<Vec<f32>>();
    let mut rows = Vec::with_capacity(k);
    for i in 0..k {
        let xi = &xs[i * xl..(i + 1) * xl];
        rows.push(grid::Row {
            input: scale(task.level_input(xi)?, si),
            prediction: scale(task.level_output(xi, &pred[i * yl..(i + 1) * yl])?, so),
            truth: scale(task.level_output(xi, &ys[i * yl..(i + 1) * yl])?, so),
        });
    }
    grid::write(
        &run.join(format!("samples/step-{step:08}.png")),
        task.s,
        &rows,
    )
}

fn run(cfg: RunConfig, a: &TrainArgs) -> Result<()> {
    cfg.validate()?;
    let session = Session {
        device: device::parse(&a.session.device)?,
        workers: a.session.workers.max(1),
        time_budget_s: a.session.time_budget.map(|m| m * 60.0),
    };
    device::set_threads(a.session.threads);
    let run_dir = a.out.clone();
    let resume_state: Option<State> = if a.session.resume {
        Some(checkpoint::load_state(&run_dir)?)
    } else {
        if run_dir.join(checkpoint::SIDECAR).exists() && !a.session.force {
            bail!(
                "{} already holds a training run (use --resume to continue it, or --force to start over)",
                run_dir.display()
            );
        }
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("cannot create run folder {}", run_dir.display()))?;
        None
    };
    checkpoint::write_json(&run_dir.join("config.json"), &cfg)?;
    eprintln!(
        "{} on {} ({} libtorch threads)",
        cfg.describe(),
        device::name(session.device),
        tch::get_num_threads()
    );

    // Data.
    // With a holdout, validation (and so the best checkpoint) uses held-out training pictures.
    let (train_part, val_dir, val_part) = if cfg.holdout > 0 {
        (Some(Part::Rest), Some(&cfg.data), Some(Part::Held))
    } else {
        (None, cfg.val_data.as_ref(), None)
    };
    let mut train_ds = open_data(&cfg, &cfg.data, cfg.limit, train_part, session.workers)?;
    if cfg.augment {
        train_ds = train_ds.with_dihedral();
        eprintln!(
            "training on the 8 dihedral views of each image ({} samples per epoch)",
            train_ds.len()
        );
    }
    let train_ds = Arc::new(train_ds);
    if cfg.holdout > 0 {
        let (items, _) = data::scan(&cfg.data)?;
        eprintln!(
            "validating on {} held-out source picture(s) of the training folder: {}",
            cfg.holdout,
            cfg.holdout_split().held_sources(&items)?.join(", ")
        );
    }
    let val_ds = match val_dir {
        Some(dir) => Some(Arc::new(open_data(
            &cfg,
            dir,
            cfg.val_limit,
            val_part,
            session.workers,
        )?)),
        None => None,
    };
    let mut task = Task::new(&cfg)?;
    task.device_transform = Task::wants_device_transform(&cfg, a.data_transform, session.device);
    let (train_pre, val_pre): (Precomputed, Precomputed) = if task::needs_chained(&cfg) {
        let path = cfg
            .level1_weights
            .as_ref()
            .context("chained input needs --level1-weights")?;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read level-1 weights {}", path.display()))?;
        let decoder = nsbg_core::decoder::Decoder::from_bytes(&bytes)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("{} is not a usable decoder", path.display()))?;
        eprintln!("computing level-1 outputs of every image (chained level-2 input)");
        let t = task::chained_inputs(&cfg, &decoder, &train_ds, session.workers)?;
        let v = match &val_ds {
            Some(v) => Some(task::chained_inputs(&cfg, &decoder, v, session.workers)?),
            None => None,
        };
        (Some(t), v)
    } else {
        (None, None)
    };
    // Sample grids of a run without validation data use the training images through nsbg-core.
    let make_train_grid = task.make_sample(train_pre.clone());
    let make_train = task.make_train_sample(train_pre);
    let make_val = task.make_sample(val_pre);

    // Network and optimiser.
    tch::manual_seed(cfg.seed as i64);
    let vs = VarStore::new(session.device);
    let net = build_net(&cfg, &vs);
    let mut adam = Adam::new(&vs, cfg.adam);
    let (mut step, mut position, mut images, mut elapsed_before, mut last_val) =
        (0u64, Position { epoch: 0, batch: 0 }, 0u64, 0.0f64, None);
    let mut best: Option<Best> = None;
    if let Some(st) = &resume_state {
        let model = checkpoint::read_tensors(&run_dir.join(&st.model_file))?;
        nets::load_named(&vs, &model).context("checkpoint does not fit the network")?;
        let opt = checkpoint::read_tensors(&run_dir.join(&st.optimizer_file))?;
        adam.load_state(&opt, st.step)?;
        (step, position, images, elapsed_before, last_val, best) = (
            st.step,
            st.position,
            st.images,
            st.elapsed_s,
            st.val_loss,
            st.best,
        );
        eprintln!("resuming {} at step {step}", run_dir.display());
    }
    let params: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    tracing::info!("{params} trainable parameters");
    let mut metrics = Metrics::open(&run_dir, resume_state.as_ref().map(|s| s.step))?;
    let title = match cfg.network {
        Network::Wavelet => format!("nsbg level {} {}", cfg.level, cfg.preset),
        Network::Pixel => format!("pixel level {} {}", cfg.level, cfg.preset),
    };

    // Data-parallel ranks (rank 0 is this thread with `net`/`adam` above).
    let plan = StepPlan {
        batch: cfg.batch,
        accumulate: cfg.accumulate,
        world: cfg.world,
        precision: cfg.precision,
        loss_is_sum: task.network == Network::Pixel && task.pixel_loss == PixelLoss::Sum,
    };
    let devices = rank_devices(&cfg, session.device)?;
    let mut comms = communicators(&devices)?.into_iter();
    let loader_for = |rank: usize| {
        Loader::new(
            train_ds.clone(),
            Plan::ShuffledPart {
                seed: cfg.seed,
                start: position,
                batch: plan.global_batch(),
                offset: rank * plan.rank_batch(),
                len: plan.rank_batch(),
            },
            make_train.clone(),
            session.workers,
            2,
        )
    };
    let loss_scale = match &resume_state {
        Some(st) if cfg.precision == Precision::F16 => st
            .loss_scale
            .or_else(|| LossScale::for_precision(cfg.precision)),
        _ => LossScale::for_precision(cfg.precision),
    };
    let comm0 = comms.next().context("no rank 0")?;
    eprintln!(
        "data parallel: {} rank(s) ({}: {}), {} micro-batch(es) of {} per rank, effective batch {}, {} convolutions, wavelet data on {}",
        cfg.world,
        comm0.backend(),
        devices.iter().map(|d| device::name(*d)).collect::<Vec<_>>().join(","),
        cfg.accumulate,
        cfg.batch,
        plan.global_batch(),
        cfg.precision.name(),
        if task.device_transform { "the device" } else { "the CPU (nsbg-core)" }
    );
    let rank_task = || -> Result<Task> {
        let mut t = Task::new(&cfg)?;
        t.device_transform = task.device_transform;
        Ok(t)
    };
    let rank0 = RankStep::new(
        comm0,
        loader_for(0)?,
        rank_task()?,
        plan,
        loss_scale,
        devices[0],
        &vs,
    );
    let mut workers = Vec::new();
    for (rank, comm) in (1..).zip(comms) {
        let device = devices[rank];
        let wvs = VarStore::new(device);
        let wnet = build_net(&cfg, &wvs);
        let mut wadam = Adam::new(&wvs, cfg.adam);
        if let Some(st) = &resume_state {
            let opt = checkpoint::read_tensors(&run_dir.join(&st.optimizer_file))?;
            wadam.load_state(&opt, st.step)?;
        }
        let step = RankStep::new(
            comm,
            loader_for(rank)?,
            rank_task()?,
            plan,
            loss_scale,
            device,
            &wvs,
        );
        workers.push(parallel::Worker {
            step,
            net: wnet,
            adam: wadam,
            vs: wvs,
        });
    }
    let mut ranks = Parallel::start(rank0, workers)?;
    let mut peak_gpu_mib: Option<f64> = None;
    let bar = ProgressBar::new(cfg.steps);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(step);
    let mut compute = crate::compute::Recorder::start(
        &run_dir,
        match cfg.network {
            Network::Wavelet => "train-decoder",
            Network::Pixel => "train-pixel",
        },
        session.device,
        usize::try_from(tch::get_num_threads()).unwrap_or(1),
        a.session.power_watts,
        a.session.resume,
    )?;
    let start = Instant::now();
    let mut session_images = 0u64;
    let (mut window_loss, mut window_steps) = (0.0f64, 0u64);
    let mut window_start = Instant::now();
    let mut window_images = 0u64;
    let ckpt = |progress: Progress, adam: &Adam| -> Result<()> {
        checkpoint::save(
            &run_dir,
            &cfg,
            progress,
            &nets::named_variables(&vs),
            &adam.state_tensors(),
        )?;
        Ok(())
    };
    // One validation round (when the run has validation data): the loss is logged, and the model is
    // kept in best/ when it is the lowest so far.
    let validate_at =
        |step: u64, best: &mut Option<Best>, metrics: &mut Metrics| -> Result<Option<Validation>> {
            let Some(v) = &val_ds else {
                return Ok(None);
            };
            let r = validate(
                &task,
                &net,
                v,
                &make_val,
                cfg.batch,
                session.workers,
                session.device,
            )?;
            if best.is_none_or(|b| r.loss < b.val_loss) {
                let b = Best {
                    step,
                    val_loss: r.loss,
                };
                checkpoint::save_best(&run_dir, b, &nets::named_variables(&vs))?;
                *best = Some(b);
            }
            metrics.write(json!({
                "kind": "val", "step": step, "val_loss": r.loss,
                "val_zero_loss": r.zero_loss, "val_output_mse": r.out_mse,
            }))?;
            Ok(Some(r))
        };
    // Validation before the first step (as the paper does at itr 0): the untrained baseline.
    if step == 0 {
        if let Some(r) = validate_at(0, &mut best, &mut metrics)? {
            last_val = Some(r.loss);
        }
    }
    // Sample grids show validation images when there are any (never trained on), else training ones.
    let (sample_ds, sample_make) = match &val_ds {
        Some(v) => (v, &make_val),
        None => (&train_ds, &make_train_grid),
    };
    let sample_at = |step: u64| {
        write_samples(
            &run_dir,
            step,
            &task,
            &net,
            sample_ds,
            sample_make,
            cfg.sample_count,
            session.device,
        )
    };
    let mut stopped_by_budget = false;
    let mut last_val_step = resume_state.as_ref().map(|s| s.step);
    let mut last_ckpt_step = last_val_step;
    while step < cfg.steps {
        if session
            .time_budget_s
            .is_some_and(|b| start.elapsed().as_secs_f64() >= b)
        {
            stopped_by_budget = true;
            break;
        }
        let outcome = ranks.step(&net, &mut adam)?;
        let loss_value = outcome.loss;
        // An f16 step with overflowing gradients is skipped and retried at a lower loss scale.
        if !loss_value.is_finite() && outcome.applied {
            bail!("the loss became {loss_value} at step {}", step + 1);
        }
        step += 1;
        position = outcome.next;
        images += outcome.images as u64;
        session_images += outcome.images as u64;
        compute.images(outcome.images as u64)?;
        window_images += outcome.images as u64;
        if loss_value.is_finite() {
            window_loss += loss_value;
            window_steps += 1;
        }
        if step % cfg.log_every == 0 || step == cfg.steps {
            let gpu_mib = gpu_memory_mib(&devices);
            if let Some(m) = gpu_mib {
                peak_gpu_mib = Some(peak_gpu_mib.map_or(m, |p: f64| p.max(m)));
            }
            let secs = window_start.elapsed().as_secs_f64().max(1e-9);
            let mean = window_loss / window_steps.max(1) as f64;
            let ips = window_images as f64 / secs;
            metrics.write(json!({
                "kind": "train",
                "step": step,
                "loss": mean,
                "loss_norm": task.loss_per_batch_item(mean, plan.global_batch()),
                "epoch": position.epoch,
                "images": images,
                "images_per_s": ips,
                "elapsed_s": elapsed_before + start.elapsed().as_secs_f64(),
                "loss_scale": ranks.loss_scale().map(|s| s.scale),
                "skipped_steps": ranks.loss_scale().map(|s| s.skipped),
                "gpu_mem_used_mib": gpu_mib,
            }))?;
            bar.set_message(format!("loss {mean:.5} {ips:.1} img/s"));
            (window_loss, window_steps, window_images) = (0.0, 0, 0);
            window_start = Instant::now();
        }
        bar.set_position(step);
        if step % cfg.val_every == 0 {
            if let Some(r) = validate_at(step, &mut best, &mut metrics)? {
                last_val = Some(r.loss);
                last_val_step = Some(step);
                bar.suspend(|| {
                    tracing::info!(
                        "step {step}: val loss {:.6} (trivial {:.6}), output MSE {:.3e}",
                        r.loss,
                        r.zero_loss,
                        r.out_mse
                    );
                });
            }
            metrics.plot(&title)?;
        }
        if step % cfg.sample_every == 0 {
            sample_at(step)?;
        }
        if step % cfg.checkpoint_every == 0 {
            let elapsed_s = elapsed_before + start.elapsed().as_secs_f64();
            let progress = Progress {
                step,
                position,
                images,
                elapsed_s,
                val_loss: last_val,
                best,
                loss_scale: ranks.loss_scale(),
            };
            ckpt(progress, &adam)?;
            last_ckpt_step = Some(step);
        }
    }
    let final_scale = ranks.loss_scale();
    ranks.finish()?;
    bar.finish_and_clear();
    let elapsed = start.elapsed().as_secs_f64();
    // Final validation, samples, checkpoint and curve (unless this very step already had them).
    if last_val_step != Some(step) {
        if let Some(r) = validate_at(step, &mut best, &mut metrics)? {
            last_val = Some(r.loss);
        }
    }
    if last_ckpt_step != Some(step) {
        let progress = Progress {
            step,
            position,
            images,
            elapsed_s: elapsed_before + elapsed,
            val_loss: last_val,
            best,
            loss_scale: final_scale,
        };
        ckpt(progress, &adam)?;
    }
    metrics.plot(&title)?;
    sample_at(step)?;
    let ips = session_images as f64 / elapsed.max(1e-9);
    let energy = compute.finish()?;
    let summary = json!({
        "config": cfg,
        "step": step,
        "images": images,
        "epochs": images as f64 / train_ds.len() as f64,
        "train_images": train_ds.items.len(),
        "train_views": train_ds.len(),
        "train_skipped": train_ds.skipped.len(),
        "val_images": val_ds.as_ref().map(|v| v.len()),
        "val_source": if cfg.holdout > 0 { "holdout" } else { "val_data" },
        "val_skipped": val_ds.as_ref().map(|v| v.skipped.len()),
        "val_loss": last_val,
        "best": best,
        "parameters": params,
        "session_seconds": elapsed,
        "total_seconds": elapsed_before + elapsed,
        "images_per_s": ips,
        "stopped_by_time_budget": stopped_by_budget,
        "device": device::name(session.device),
        "threads": tch::get_num_threads(),
        "data_transform": if task.device_transform { "device" } else { "core" },
        "world": cfg.world,
        "accumulate": cfg.accumulate,
        "effective_batch": cfg.effective_batch(),
        "precision": cfg.precision.name(),
        "loss_scale": final_scale,
        "peak_gpu_mem_used_mib": peak_gpu_mib,
        "gpu_power_w": devices.first().and_then(|d| crate::gpu::power_watts(*d)),
        "compute": {"hours": energy.hours(), "kwh": energy.kwh(), "images": energy.images},
    });
    checkpoint::write_json(&run_dir.join("summary.json"), &summary)?;
    println!(
        "{}: step {step}/{}, {} images ({:.1} img/s), {}val loss {}; skipped files: {} train{}",
        run_dir.display(),
        cfg.steps,
        images,
        ips,
        if stopped_by_budget {
            "stopped by time budget, "
        } else {
            ""
        },
        last_val.map_or("n/a".into(), |v| format!("{v:.6}")),
        train_ds.skipped.len(),
        val_ds
            .as_ref()
            .map_or(String::new(), |v| format!(", {} val", v.skipped.len())),
    );
    Ok(())
}

/// The device of every rank: `--gpus N` puts rank i on cuda:i; `--world N` puts every rank on the
/// session's device.
fn rank_devices(cfg: &RunConfig, session: Device) -> Result<Vec<Device>> {
    if !cfg.gpus {
        return Ok(vec![session; cfg.world]);
    }
    if !tch::Cuda::is_available() {
        bail!(
            "--gpus {} needs CUDA, but libtorch sees no CUDA device (use --world N to simulate the \
             ranks on one device, e.g. --world {} --device cpu)",
            cfg.world,
            cfg.world
        );
    }
    let count = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
    if cfg.world > count {
        bail!(
            "--gpus {} asks for more GPUs than libtorch sees ({count})",
            cfg.world
        );
    }
    Ok((0..cfg.world).map(Device::Cuda).collect())
}

/// One communicator per rank: NCCL when built with it and the ranks are distinct GPUs, otherwise the
/// in-process host-memory group (or nothing to communicate for a world of one).
fn communicators(devices: &[Device]) -> Result<Vec<Box<dyn crate::dist::Communicator>>> {
    use crate::dist::{threads::ThreadGroup, Communicator, Single};
    if devices.len() == 1 {
        return Ok(vec![Box::new(Single)]);
    }
    let distinct_gpus = devices.iter().all(|d| matches!(d, Device::Cuda(_)))
        && devices
            .iter()
            .enumerate()
            .all(|(i, d)| *d == Device::Cuda(i));
    #[cfg(feature = "nccl")]
    if distinct_gpus {
        let ordinals: Vec<usize> = (0..devices.len()).collect();
        match crate::dist::nccl::NcclGroup::new(&ordinals) {
            Ok(ranks) => {
                return Ok(ranks
                    .into_iter()
                    .map(|r| Box::new(r) as Box<dyn Communicator>)
                    .collect())
            }
            Err(e) => eprintln!("warning: NCCL unavailable ({e:#}); using the host-memory group"),
        }
    }
    if distinct_gpus && !cfg!(feature = "nccl") {
        eprintln!(
            "warning: built without the `nccl` feature; gradients are all-reduced through host memory"
        );
    }
    Ok(ThreadGroup::new(devices.len())?
        .into_iter()
        .map(|r| Box::new(r) as Box<dyn Communicator>)
        .collect())
}

/// Device memory in use (MiB) summed over the distinct CUDA devices of the ranks, when it can be read.
fn gpu_memory_mib(devices: &[Device]) -> Option<f64> {
    let mut total = None;
    let mut seen = Vec::new();
    for d in devices {
        if seen.contains(d) {
            continue;
        }
        seen.push(*d);
        if let Device::Cuda(i) = d {
            if let Some(m) = crate::gpu::memory(*i) {
                *total.get_or_insert(0.0) += m.used_bytes as f64 / (1024.0 * 1024.0);
            }
        }
    }
    total
}

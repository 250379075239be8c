//! One optimizer step, the same on every data-parallel rank, and the ranks' threads.
//!
//! A step consumes one *global batch* of `world × accumulate × batch` images in the seeded shuffled
//! order. Rank `r` loads only items `[r·K·B, (r+1)·K·B)` of it (its `Plan::ShuffledPart`) and splits
//! them into `K = accumulate` micro-batches of `B = batch`: forward + backward per micro-batch,
//! gradients accumulating; then one all-reduce sums the gradients over ranks, they are divided by
//! `world × K` (mean losses; summed losses keep the sum, so the step equals one summed over the global
//! batch), and every rank applies the identical Adam step to its identical replica. Rank 0 writes
//! checkpoints, metrics and samples.
//!
//! BatchNorm in training mode normalises each micro-batch with its own statistics, so `N` ranks × `B`
//! is the single-process run with `--accumulate N` over micro-batches of `B` (the paper's accumulation
//! semantics), not one batch of `N·B`. The running statistics follow the same rule: each micro-batch's
//! update `r ← 0.9·r + 0.1·s` is applied in global micro-batch order, by combining every rank's
//! update in the all-reduce (rank `i`'s contribution is weighted by `0.9^(K·(N−1−i))`), so the buffers
//! too match the sequential run (within f32 rounding) and stay identical on all ranks.

use std::thread::JoinHandle;

use anyhow::{bail, ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use super::adam::Adam;
use super::precision::{LossScale, Precision};
use super::task::Task;
use crate::data::loader::{Loader, Position};
use crate::dist::{self, Communicator};
use crate::nets::layers::BN_MOMENTUM;
use crate::nets::LevelNet;

/// The numbers every rank shares.
#[derive(Debug, Clone, Copy)]
pub struct StepPlan {
    pub batch: usize,
    pub accumulate: usize,
    pub world: usize,
    pub precision: Precision,
    /// The loss sums over the batch (gradients are summed, not averaged, over micro-batches).
    pub loss_is_sum: bool,
}

impl StepPlan {
    /// Images per optimizer step over all ranks.
    pub fn global_batch(&self) -> usize {
        self.world * self.accumulate * self.batch
    }

    /// Images per step of one rank.
    pub fn rank_batch(&self) -> usize {
        self.accumulate * self.batch
    }
}

/// What one step did (the same on every rank).
#[derive(Debug, Clone, Copy)]
pub struct StepOutcome {
    /// The step's loss over the global batch: mean of the micro-batch losses (mean losses) or their
    /// sum (summed losses).
    pub loss: f64,
    /// Where the data order continues.
    pub next: Position,
    /// Images of the global batch.
    pub images: usize,
    /// False when an f16 step was skipped for non-finite gradients.
    pub applied: bool,
}

/// One rank's training machinery (its replica's network and optimizer are passed to [`Self::step`]).
pub struct RankStep {
    pub comm: Box<dyn Communicator>,
    pub loader: Loader,
    pub task: Task,
    pub plan: StepPlan,
    pub scale: Option<LossScale>,
    pub device: Device,
    /// Trainable parameters and BatchNorm buffers, sorted by name (the same order on every rank).
    params: Vec<Tensor>,
    buffers: Vec<Tensor>,
}

impl RankStep {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        comm: Box<dyn Communicator>,
        loader: Loader,
        task: Task,
        plan: StepPlan,
        scale: Option<LossScale>,
        device: Device,
        vs: &tch::nn::VarStore,
    ) -> RankStep {
        let (mut params, mut buffers) = (Vec::new(), Vec::new());
        for (name, t) in crate::nets::named_variables(vs) {
            if t.requires_grad() {
                params.push((name, t));
            } else {
                buffers.push((name, t));
            }
        }
        RankStep {
            comm,
            loader,
            task,
            plan,
            scale,
            device,
            params: params.into_iter().map(|(_, t)| t).collect(),
            buffers: buffers.into_iter().map(|(_, t)| t).collect(),
        }
    }

    /// Gives every rank rank 0's parameters and buffers.
    pub fn sync_from_rank0(&self) -> Result<()> {
        let all: Vec<Tensor> = self
            .params
            .iter()
            .chain(&self.buffers)
            .map(Tensor::shallow_clone)
            .collect();
        dist::broadcast(self.comm.as_ref(), &all, 0).context("broadcast of the initial parameters")
    }

    /// One optimizer step on this rank's share of the next global batch.
    pub fn step(&mut self, net: &LevelNet, adam: &mut Adam) -> Result<StepOutcome> {
        let plan = self.plan;
        let batch = self
            .loader
            .next_batch()
            .context("the training data loader stopped")??;
        ensure!(
            batch.len == plan.rank_batch(),
            "data shard has {} images, expected {}",
            batch.len,
            plan.rank_batch()
        );
        let (xl, yl) = (batch.x.len() / batch.len, batch.y.len() / batch.len);
        let (world, k, rank) = (plan.world, plan.accumulate, self.comm.rank());
        let before: Option<Vec<Tensor>> =
            (world > 1).then(|| self.buffers.iter().map(|t| t.detach().copy()).collect());
        let kind = plan.precision.compute_kind();
        let scale = self.scale.map_or(1.0, |s| s.scale);
        adam.zero_grad();
        let mut loss_sum = 0.0f64;
        for m in 0..k {
            let b = plan.batch;
            let (x, y) = self.task.batch_tensors(
                &batch.x[m * b * xl..(m + 1) * b * xl],
                &batch.y[m * b * yl..(m + 1) * b * yl],
                b,
                self.device,
            )?;
            let pred = net.forward_in(&x, true, kind);
            let loss = self.task.loss(&pred, &y);
            if scale == 1.0 {
                loss.backward();
            } else {
                (&loss * scale).backward();
            }
            loss_sum += loss.double_value(&[]);
        }
        let grads: Vec<Tensor> = self.params.iter().map(Tensor::grad).collect();
        if grads.iter().any(|g| !g.defined()) {
            bail!("a parameter received no gradient");
        }
        if let Some(before) = before {
            // Sequential-order BatchNorm running statistics (see the module docs).
            let keep = 1.0 - BN_MOMENTUM;
            let decay_rank = keep.powi(k as i32);
            let weight = keep.powi((k * (world - 1 - rank)) as i32);
            let deltas: Vec<Tensor> = self
                .buffers
                .iter()
                .zip(&before)
                .map(|(now, b)| (now - b * decay_rank) * weight)
                .collect();
            let loss_t = Tensor::from_slice(&[loss_sum as f32]).to_device(self.device);
            let mut list: Vec<Tensor> = grads.iter().map(Tensor::shallow_clone).collect();
            list.extend(deltas.iter().map(Tensor::shallow_clone));
            list.push(loss_t.shallow_clone());
            dist::all_reduce_sum(self.comm.as_ref(), &list)?;
            let decay_all = keep.powi((k * world) as i32);
            tch::no_grad(|| {
                for ((buf, b), d) in self.buffers.iter().zip(&before).zip(&deltas) {
                    buf.shallow_clone().copy_(&(b * decay_all + d));
                }
            });
            loss_sum = loss_t.double_value(&[]);
        }
        let parts = world * k;
        let divisor = if plan.loss_is_sum { 1.0 } else { parts as f64 };
        let factor = 1.0 / (divisor * scale);
        if factor != 1.0 {
            tch::no_grad(|| {
                for g in &grads {
                    let _ = g.shallow_clone().g_mul_scalar_(factor);
                }
            });
        }
        let applied = match &mut self.scale {
            Some(s) => {
                let bad: i64 = grads
                    .iter()
                    .map(|g| g.isfinite().logical_not().sum(Kind::Int64).int64_value(&[]))
                    .sum();
                s.update(bad == 0)
            }
            None => true,
        };
        if applied {
            adam.step();
        }
        let loss = if plan.loss_is_sum {
            loss_sum
        } else {
            loss_sum / parts as f64
        };
        Ok(StepOutcome {
            loss,
            next: batch.next,
            images: plan.global_batch(),
            applied,
        })
    }
}

/// Asks every rank whether to run another step: rank 0 decides, the others learn it (one tiny
/// all-reduce of rank 0's flag).
fn agree_to_continue(comm: &dyn Communicator, device: Device, go: bool) -> Result<bool> {
    let flag =
        Tensor::from_slice(&[if go && comm.rank() == 0 { 1f32 } else { 0f32 }]).to_device(device);
    dist::all_reduce_sum(comm, &[flag.shallow_clone()])?;
    Ok(flag.double_value(&[]) > 0.5)
}

/// A worker rank's whole life: steps until rank 0 says stop.
pub struct Worker {
    pub step: RankStep,
    pub net: LevelNet,
    pub adam: Adam,
    /// Keeps the replica's variables alive.
    pub vs: tch::nn::VarStore,
}

/// Rank 0 (driven by the caller's training loop) plus the worker threads of ranks 1..world.
pub struct Parallel {
    rank0: Option<RankStep>,
    workers: Vec<JoinHandle<Result<()>>>,
}

impl Parallel {
    /// Starts the workers; every rank first takes rank 0's parameters.
    pub fn start(rank0: RankStep, workers: Vec<Worker>) -> Result<Parallel> {
        let handles = workers
            .into_iter()
            .map(|mut w| {
                std::thread::Builder::new()
                    .name(format!("rank-{}", w.step.comm.rank()))
                    .spawn(move || -> Result<()> {
                        let rank = w.step.comm.rank();
                        let result = (|| -> Result<()> {
                            w.step.sync_from_rank0()?;
                            while agree_to_continue(w.step.comm.as_ref(), w.step.device, false)? {
                                w.step.step(&w.net, &mut w.adam)?;
                            }
                            Ok(())
                        })();
                        match &result {
                            Ok(()) => w.step.comm.finish(),
                            Err(e) => w.step.comm.abort(&format!("rank {rank} failed: {e:#}")),
                        }
                        drop(w.vs);
                        result.with_context(|| format!("data-parallel rank {rank}"))
                    })
                    .context("cannot start a rank thread")
            })
            .collect::<Result<Vec<_>>>()?;
        rank0.sync_from_rank0()?;
        Ok(Parallel {
            rank0: Some(rank0),
            workers: handles,
        })
    }

    fn rank0(&mut self) -> Result<&mut RankStep> {
        self.rank0
            .as_mut()
            .context("the data-parallel group has finished")
    }

    /// One step on all ranks (rank 0 runs on the calling thread with the caller's replica).
    pub fn step(&mut self, net: &LevelNet, adam: &mut Adam) -> Result<StepOutcome> {
        let r0 = self.rank0()?;
        if r0.plan.world > 1 {
            agree_to_continue(r0.comm.as_ref(), r0.device, true)?;
        }
        match r0.step(net, adam) {
            Ok(o) => Ok(o),
            Err(e) => {
                r0.comm.abort(&format!("rank 0 failed: {e:#}"));
                Err(e.context(self.join_errors()))
            }
        }
    }

    pub fn loss_scale(&self) -> Option<LossScale> {
        self.rank0.as_ref().and_then(|r| r.scale)
    }

    /// Stops the workers and reports the first failure of any rank.
    pub fn finish(mut self) -> Result<()> {
        let Some(mut r0) = self.rank0.take() else {
            return Ok(());
        };
        if r0.plan.world > 1 {
            agree_to_continue(r0.comm.as_ref(), r0.device, false)?;
        }
        r0.comm.finish();
        drop(r0);
        let msg = self.join_errors();
        if msg.is_empty() {
            Ok(())
        } else {
            bail!("{msg}")
        }
    }

    /// Joins every worker; their errors as one line (empty if none).
    fn join_errors(&mut self) -> String {
        let mut errors = Vec::new();
        for h in self.workers.drain(..) {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(format!("{e:#}")),
                Err(_) => errors.push("a rank thread panicked".into()),
            }
        }
        errors.join("; ")
    }
}

impl Drop for Parallel {
    fn drop(&mut self) {
        if let Some(r0) = self.rank0.take() {
            r0.comm.abort("rank 0 stopped");
        }
        let _ = self.join_errors();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use clap::Parser;
    use tch::nn::VarStore;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::data::loader::Plan;
    use crate::data::{DataOptions, Dataset};
    use crate::dist::Single;
    use crate::train::config::Network;

    /// World 1 without accumulation is exactly the plain training loop (forward, loss, zero_grad,
    /// backward, Adam step on each batch of the shuffled order): bit-identical losses and weights.
    #[test]
    fn world_one_is_the_plain_loop() {
        let data = crate::data::default_split("train");
        let cli = Cli::try_parse_from([
            "nsbg-host",
            "train-decoder",
            "--preset",
            "tiny",
            "--level",
            "1",
            "--out",
            "unused",
            "--data",
            data.to_str().unwrap(),
            "--limit",
            "4",
            "--batch",
            "2",
        ])
        .unwrap();
        let Command::TrainDecoder(a) = cli.command else {
            unreachable!()
        };
        let cfg = super::super::new_config(&a.common, Network::Wavelet).unwrap();
        let opts = DataOptions {
            preprocess: cfg.preprocess,
            size: cfg.image_size,
            workers: 1,
            cache: None,
            extension: cfg.ext().unwrap(),
            limit: cfg.limit,
        };
        let ds = Arc::new(Dataset::open(&cfg.data, &opts).unwrap());
        let task = Task::new(&cfg).unwrap();
        let make = task.make_sample(None);
        let start = Position { epoch: 0, batch: 0 };
        let replica = || {
            let vs = VarStore::new(Device::Cpu);
            let net = super::super::build_net(&cfg, &vs);
            let adam = Adam::new(&vs, cfg.adam);
            (vs, net, adam)
        };
        // Both replicas start from the same weights (copied: libtorch's global generator is shared
        // with tests running concurrently, so seeding it would not make the two inits equal).
        let (vs_a, net_a, mut adam_a) = replica();
        let (mut vs_b, net_b, mut adam_b) = replica();
        vs_b.copy(&vs_a).unwrap();
        // The plain loop (the trainer before data parallelism).
        let plan = Plan::Shuffled {
            seed: 1,
            start,
            batch: 2,
        };
        let mut loader = Loader::new(ds.clone(), plan, make.clone(), 1, 1).unwrap();
        let mut plain = Vec::new();
        for _ in 0..3 {
            let b = loader.next_batch().unwrap().unwrap();
            let (x, y) = task.tensors(&b.x, &b.y, b.len, Device::Cpu);
            let loss = task.loss(&net_a.forward(&x, true), &y);
            adam_a.zero_grad();
            loss.backward();
            adam_a.step();
            plain.push(loss.double_value(&[]));
        }
        // The same through RankStep with a world of one.
        let plan_b = StepPlan {
            batch: 2,
            accumulate: 1,
            world: 1,
            precision: Precision::F32,
            loss_is_sum: false,
        };
        let part = Plan::ShuffledPart {
            seed: 1,
            start,
            batch: 2,
            offset: 0,
            len: 2,
        };
        let loader_b = Loader::new(ds, part, make, 1, 1).unwrap();
        let task_b = Task::new(&cfg).unwrap();
        let mut step = RankStep::new(
            Box::new(Single),
            loader_b,
            task_b,
            plan_b,
            None,
            Device::Cpu,
            &vs_b,
        );
        let stepped: Vec<f64> = (0..3)
            .map(|_| step.step(&net_b, &mut adam_b).unwrap().loss)
            .collect();
        assert_eq!(plain, stepped);
        assert!(plain[0] != plain[2]);
        let (va, vb) = (
            crate::nets::named_variables(&vs_a),
            crate::nets::named_variables(&vs_b),
        );
        for ((na, ta), (_, tb)) in va.iter().zip(&vb) {
            assert!(ta.equal(tb), "{na} differs");
        }
    }
}

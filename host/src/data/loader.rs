//! Batches on worker threads, in a reproducible order.
//!
//! Batch `j` of a plan is a pure function of the plan (seed, epoch, position), so worker `w` builds the
//! batches `j ≡ w (mod workers)` and the consumer takes them round-robin: the order never depends on
//! thread timing, and a resumed run continues exactly where the checkpoint's [`Position`] says.
//! Training plans are infinite, shuffled once per epoch (seeded) and drop the last partial batch, like
//! the paper's `drop_last=True` loaders; evaluation plans go through the data once, in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::Dataset;
use crate::rng::epoch_order;

/// Builds one sample `(input, target)` from dataset item `i`.
pub type MakeSample = dyn Fn(&Dataset, usize) -> Result<(Vec<f32>, Vec<f32>)> + Send + Sync;

/// Where a training plan stands: the next batch is batch `batch` of epoch `epoch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: u64,
    pub batch: usize,
}

#[derive(Debug, Clone, Copy)]
pub enum Plan {
    /// Endless, shuffled per epoch with `seed`, full batches only, starting at `start`.
    Shuffled {
        seed: u64,
        start: Position,
        batch: usize,
    },
    /// One pass in item order; the last batch may be short.
    Sequential { batch: usize },
    /// Items `offset..offset + len` of every batch of the `Shuffled` plan with the same seed, start and
    /// batch: one data-parallel rank's disjoint share of each global batch (see `crate::dist`).
    /// Positions are those of the whole plan, so every rank's loader resumes at the same place.
    ShuffledPart {
        seed: u64,
        start: Position,
        batch: usize,
        offset: usize,
        len: usize,
    },
}

/// A batch: inputs and targets of `len` samples, concatenated.
#[derive(Debug)]
pub struct Batch {
    pub x: Vec<f32>,
    pub y: Vec<f32>,
    pub len: usize,
    /// Position of the batch after this one (training plans).
    pub next: Position,
}

pub struct Loader {
    receivers: Vec<Receiver<Result<Batch>>>,
    next: usize,
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

/// Item indices of batch `j` of `plan`, and the position after it; `None` past the end.
fn job(
    plan: &Plan,
    n: usize,
    j: usize,
    cache: &mut Option<(u64, Vec<usize>)>,
) -> Option<(Vec<usize>, Position)> {
    match *plan {
        Plan::Shuffled { seed, start, batch } => {
            let per_epoch = n / batch;
            let g = start.epoch * per_epoch as u64 + (start.batch + j) as u64;
            let epoch = g / per_epoch as u64;
            let b = (g % per_epoch as u64) as usize;
            if cache.as_ref().is_none_or(|(e, _)| *e != epoch) {
                *cache = Some((epoch, epoch_order(seed, epoch, n)));
            }
            let order = &cache.as_ref()?.1;
            let next_g = g + 1;
            let next = Position {
                epoch: next_g / per_epoch as u64,
                batch: (next_g % per_epoch as u64) as usize,
            };
            Some((order[b * batch..(b + 1) * batch].to_vec(), next))
        }
        Plan::ShuffledPart {
            seed,
            start,
            batch,
            offset,
            len,
        } => {
            let whole = Plan::Shuffled { seed, start, batch };
            let (items, next) = job(&whole, n, j, cache)?;
            Some((items.get(offset..offset + len)?.to_vec(), next))
        }
        Plan::Sequential { batch } => {
            let lo = j * batch;
            (lo < n).then(|| {
                (
                    (lo..(lo + batch).min(n)).collect(),
                    Position {
                        epoch: 0,
                        batch: j + 1,
                    },
                )
            })
        }
    }
}

impl Loader {
    /// Starts `workers` threads, each keeping up to `prefetch` batches ready.
    pub fn new(
        data: Arc<Dataset>,
        plan: Plan,
        make: Arc<MakeSample>,
        workers: usize,
        prefetch: usize,
    ) -> Result<Loader> {
        if data.is_empty() {
            bail!("the dataset is empty");
        }
        let n = data.len();
        let batch = match plan {
            Plan::Shuffled { batch, .. }
            | Plan::Sequential { batch }
            | Plan::ShuffledPart { batch, .. } => batch,
        };
        if batch == 0 {
            bail!("batch size must be at least 1");
        }
        if let Plan::ShuffledPart { offset, len, .. } = plan {
            if len == 0 || offset + len > batch {
                bail!(
                    "data shard {offset}..{} does not fit in a batch of {batch}",
                    offset + len
                );
            }
        }
        if let Plan::Shuffled { .. } | Plan::ShuffledPart { .. } = plan {
            if n < batch {
                bail!(
                    "the dataset has {n} images, fewer than one batch of {batch} (use a smaller --batch)"
                );
            }
        }
        let workers = workers.max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(prefetch.max(1));
            receivers.push(rx);
            let (data, make, stop) = (data.clone(), make.clone(), stop.clone());
            handles.push(std::thread::spawn(move || {
                let mut cache = None;
                let mut j = w;
                while !stop.load(Ordering::Relaxed) {
                    let Some((indices, next)) = job(&plan, n, j, &mut cache) else {
                        break;
                    };
                    let built = (|| -> Result<Batch> {
                        let (mut x, mut y) = (Vec::new(), Vec::new());
                        for &i in &indices {
                            let (xi, yi) = make(&data, i)?;
                            x.extend(xi);
                            y.extend(yi);
                        }
                        Ok(Batch {
                            len: indices.len(),
                            x,
                            y,
                            next,
                        })
                    })();
                    let failed = built.is_err();
                    if tx.send(built).is_err() || failed {
                        break;
                    }
                    j += workers;
                }
            }));
        }
        Ok(Loader {
            receivers,
            next: 0,
            stop,
            handles,
        })
    }

    /// The next batch in plan order; `None` at the end of a sequential plan.
    pub fn next_batch(&mut self) -> Option<Result<Batch>> {
        let w = self.next % self.receivers.len();
        self.next += 1;
        self.receivers[w].recv().ok()
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_jobs_continue_across_epochs_and_resume() {
        let plan = Plan::Shuffled {
            seed: 3,
            start: Position { epoch: 0, batch: 0 },
            batch: 3,
        };
        let mut c = None;
        let all: Vec<_> = (0..7).map(|j| job(&plan, 10, j, &mut c).unwrap()).collect();
        // 3 batches per epoch (drop_last): job 3 is epoch 1, batch 0.
        assert_eq!(all[2].1, Position { epoch: 1, batch: 0 });
        assert_eq!(all[3].1, Position { epoch: 1, batch: 1 });
        let resumed = Plan::Shuffled {
            seed: 3,
            start: all[3].1,
            batch: 3,
        };
        let mut c2 = None;
        for (k, want) in all[4..].iter().enumerate() {
            assert_eq!(&job(&resumed, 10, k, &mut c2).unwrap(), want);
        }
    }

    #[test]
    fn shuffled_parts_split_each_batch_disjointly() {
        let whole = Plan::Shuffled {
            seed: 5,
            start: Position { epoch: 0, batch: 1 },
            batch: 4,
        };
        let part = |offset| Plan::ShuffledPart {
            seed: 5,
            start: Position { epoch: 0, batch: 1 },
            batch: 4,
            offset,
            len: 2,
        };
        let (mut c0, mut c1, mut c2) = (None, None, None);
        for j in 0..6 {
            let (all, next) = job(&whole, 13, j, &mut c0).unwrap();
            let (a, na) = job(&part(0), 13, j, &mut c1).unwrap();
            let (b, nb) = job(&part(2), 13, j, &mut c2).unwrap();
            assert_eq!([a, b].concat(), all);
            assert_eq!((na, nb), (next, next));
        }
    }

    #[test]
    fn sequential_jobs_cover_everything_once() {
        let plan = Plan::Sequential { batch: 4 };
        let mut c = None;
        let got: Vec<usize> = (0..)
            .map_while(|j| job(&plan, 10, j, &mut c))
            .flat_map(|(i, _)| i)
            .collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }
}

//! The in-process "gloo-like" group: ranks are threads, collectives go through host memory.
//!
//! Every collective is two phases separated by barriers: each rank deposits its vector in its slot,
//! waits until all have, computes the result from all slots (the same arithmetic, in rank order, on
//! every rank, so every rank gets bit-identical values), then waits again so that no slot is
//! overwritten by the next collective while another rank is still reading it.
//!
//! A rank that fails or is dropped aborts the group: every rank waiting in (or later entering) a
//! collective gets an error instead of a deadlock.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use anyhow::{bail, ensure, Context, Result};
use tch::{Device, Kind, Tensor};

use super::Communicator;

struct State {
    /// Barrier generation: bumped each time all ranks have arrived.
    generation: u64,
    arrived: usize,
    slots: Vec<Vec<f32>>,
    aborted: Option<String>,
}

struct Shared {
    world: usize,
    state: Mutex<State>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| anyhow::anyhow!("a rank panicked inside a collective"))
    }

    fn barrier(&self) -> Result<()> {
        let mut st = self.lock()?;
        if let Some(why) = &st.aborted {
            bail!("the process group was aborted: {why}");
        }
        let generation = st.generation;
        st.arrived += 1;
        if st.arrived == self.world {
            st.arrived = 0;
            st.generation += 1;
            self.cv.notify_all();
            return Ok(());
        }
        while st.generation == generation && st.aborted.is_none() {
            st = self
                .cv
                .wait(st)
                .map_err(|_| anyhow::anyhow!("a rank panicked inside a collective"))?;
        }
        if st.generation == generation {
            bail!(
                "the process group was aborted: {}",
                st.aborted.as_deref().unwrap_or("unknown reason")
            );
        }
        Ok(())
    }

    fn abort(&self, why: &str) {
        if let Ok(mut st) = self.state.lock() {
            if st.aborted.is_none() {
                st.aborted = Some(why.to_owned());
            }
            self.cv.notify_all();
        }
    }
}

/// One rank of a thread group.
pub struct ThreadGroup {
    rank: usize,
    shared: Arc<Shared>,
    finished: bool,
}

impl ThreadGroup {
    /// The `world` ranks of a new group, to be moved one into each thread.
    pub fn new(world: usize) -> Result<Vec<ThreadGroup>> {
        ensure!(world >= 1, "a process group needs at least one rank");
        let shared = Arc::new(Shared {
            world,
            state: Mutex::new(State {
                generation: 0,
                arrived: 0,
                slots: vec![Vec::new(); world],
                aborted: None,
            }),
            cv: Condvar::new(),
        });
        Ok((0..world)
            .map(|rank| ThreadGroup {
                rank,
                shared: shared.clone(),
                finished: false,
            })
            .collect())
    }

    /// Runs one collective: deposit `mine`, then `combine` all slots into `out`.
    fn exchange(
        &self,
        flat: &mut Tensor,
        combine: impl FnOnce(&[Vec<f32>]) -> Result<Vec<f32>>,
    ) -> Result<()> {
        ensure!(
            flat.dim() == 1 && flat.kind() == Kind::Float,
            "collectives take a 1-D f32 tensor"
        );
        let host = flat.to_device(Device::Cpu).contiguous();
        let mine = Vec::<f32>::try_from(&host).context("cannot copy a tensor to the host")?;
        self.shared.lock()?.slots[self.rank] = mine;
        self.shared.barrier()?;
        let result = {
            let st = self.shared.lock()?;
            let len = st.slots[self.rank].len();
            if let Some((r, s)) = st.slots.iter().enumerate().find(|(_, s)| s.len() != len) {
                let msg = format!(
                    "rank {} contributed {} values, rank {r} {}",
                    self.rank,
                    len,
                    s.len()
                );
                drop(st);
                self.shared.abort(&msg);
                bail!(msg);
            }
            combine(&st.slots)?
        };
        self.shared.barrier()?;
        let back = Tensor::from_slice(&result).to_device(flat.device());
        tch::no_grad(|| flat.copy_(&back));
        Ok(())
    }
}

impl Drop for ThreadGroup {
    fn drop(&mut self) {
        if !self.finished {
            self.shared
                .abort(&format!("rank {} left the group early", self.rank));
        }
    }
}

impl Communicator for ThreadGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.shared.world
    }
    fn backend(&self) -> &'static str {
        "threads"
    }

    fn all_reduce_flat(&self, flat: &mut Tensor) -> Result<()> {
        self.exchange(flat, |slots| {
            let mut acc = slots[0].clone();
            for s in &slots[1..] {
                for (a, b) in acc.iter_mut().zip(s) {
                    *a += *b;
                }
            }
            Ok(acc)
        })
    }

    fn broadcast_flat(&self, flat: &mut Tensor, root: usize) -> Result<()> {
        ensure!(
            root < self.shared.world,
            "broadcast root {root} out of range"
        );
        self.exchange(flat, |slots| Ok(slots[root].clone()))
    }

    fn abort(&self, why: &str) {
        self.shared.abort(why);
    }

    fn finish(&mut self) {
        self.finished = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dist::{all_reduce_sum, broadcast};

    #[test]
    fn all_reduce_and_broadcast_across_threads() {
        let ranks = ThreadGroup::new(3).unwrap();
        let handles: Vec<_> = ranks
            .into_iter()
            .map(|mut g| {
                std::thread::spawn(move || {
                    let r = g.rank() as f32;
                    let a = Tensor::from_slice(&[r, 10.0 * r]);
                    let b = Tensor::from_slice(&[1.0f32]).view([1, 1]);
                    all_reduce_sum(&g, &[a.shallow_clone(), b.shallow_clone()]).unwrap();
                    let c = Tensor::from_slice(&[r + 0.5]);
                    broadcast(&g, &[c.shallow_clone()], 2).unwrap();
                    g.finish();
                    (
                        Vec::<f32>::try_from(&a).unwrap(),
                        Vec::<f32>::try_from(&b.reshape([-1])).unwrap(),
                        Vec::<f32>::try_from(&c).unwrap(),
                    )
                })
            })
            .collect();
        for h in handles {
            let (a, b, c) = h.join().unwrap();
            assert_eq!(a, [3.0, 30.0]);
            assert_eq!(b, [3.0]);
            assert_eq!(c, [2.5]);
        }
    }

    #[test]
    fn a_rank_that_leaves_aborts_the_others() {
        let mut ranks = ThreadGroup::new(2).unwrap();
        let leaver = ranks.pop().unwrap();
        let stayer = ranks.pop().unwrap();
        let h = std::thread::spawn(move || {
            let mut t = Tensor::from_slice(&[1.0f32]);
            stayer.all_reduce_flat(&mut t)
        });
        drop(leaver);
        let err = h.join().unwrap().unwrap_err();
        assert!(format!("{err:#}").contains("left the group"), "{err:#}");
    }

    #[test]
    fn mismatched_lengths_are_an_error() {
        let ranks = ThreadGroup::new(2).unwrap();
        let handles: Vec<_> = ranks
            .into_iter()
            .map(|g| {
                std::thread::spawn(move || {
                    let n = g.rank() + 1;
                    let mut t = Tensor::ones([n as i64], (Kind::Float, Device::Cpu));
                    g.all_reduce_flat(&mut t).is_err()
                })
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap());
        }
    }
}

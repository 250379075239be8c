//! Data-parallel training: a small communicator abstraction and its implementations.
//!
//! A [`Communicator`] is one rank's handle on a group of `world` ranks. The trainer needs only two
//! collectives: the all-reduce (sum) of a list of tensors (gradients, BatchNorm statistics updates, the
//! step's loss and the stop flag, packed into one flat buffer so each step costs one collective), and a
//! broadcast (rank 0's initial parameters, so every replica starts identical even when it was built or
//! loaded independently).
//!
//! Implementations:
//! * [`Single`]: world 1, every collective is the identity (the ordinary single-process trainer);
//! * [`threads::ThreadGroup`]: ranks are threads of this process and reduce through host memory — the
//!   "gloo-like" fallback. It works with tensors on any device (through host copies) and is what the
//!   CPU tests and `--world N --device cpu` use, so the distributed logic is exercised without a GPU;
//! * `nccl::NcclGroup` (feature `nccl`): one thread per GPU, NCCL all-reduce directly on the tensors'
//!   device memory.
//!
//! The sum is defined as `((x_0 + x_1) + x_2) + …` in rank order by the thread group, so it is
//! deterministic and equal to sequential gradient accumulation over the same micro-batches (the key
//! property the tests check). NCCL's ring order is its own; results then agree within f32 rounding.

pub mod threads;

#[cfg(feature = "nccl")]
pub mod nccl;

use anyhow::{ensure, Result};
use tch::{Kind, Tensor};

/// One rank's view of a process group.
pub trait Communicator: Send {
    fn rank(&self) -> usize;
    fn world(&self) -> usize;
    /// Short name for logs (`single`, `threads`, `nccl`).
    fn backend(&self) -> &'static str;
    /// Replaces `flat` (a contiguous 1-D f32 tensor, the same length on every rank) by the sum over
    /// ranks. Every rank must call it, in the same order as every other collective.
    fn all_reduce_flat(&self, flat: &mut Tensor) -> Result<()>;
    /// Replaces `flat` on every rank by rank `root`'s.
    fn broadcast_flat(&self, flat: &mut Tensor, root: usize) -> Result<()>;
    /// Makes the other ranks' pending and future collectives fail instead of waiting for this rank
    /// (called when this rank fails).
    fn abort(&self, _why: &str) {}
    /// Marks this rank's normal end (afterwards dropping it does not abort the group).
    fn finish(&mut self) {}
}

/// World of one: the collectives are identities.
#[derive(Debug, Default)]
pub struct Single;

impl Communicator for Single {
    fn rank(&self) -> usize {
        0
    }
    fn world(&self) -> usize {
        1
    }
    fn backend(&self) -> &'static str {
        "single"
    }
    fn all_reduce_flat(&self, _flat: &mut Tensor) -> Result<()> {
        Ok(())
    }
    fn broadcast_flat(&self, _flat: &mut Tensor, _root: usize) -> Result<()> {
        Ok(())
    }
}

/// The tensors concatenated into one contiguous f32 vector on the first tensor's device.
fn flatten(tensors: &[Tensor]) -> Tensor {
    let parts: Vec<Tensor> = tensors
        .iter()
        .map(|t| t.detach().to_kind(Kind::Float).reshape([-1]))
        .collect();
    Tensor::cat(&parts, 0).contiguous()
}

/// Copies consecutive pieces of `flat` back into `tensors` (shapes and kinds kept).
fn unflatten(flat: &Tensor, tensors: &[Tensor]) {
    tch::no_grad(|| {
        let mut offset = 0i64;
        for t in tensors {
            let n = t.numel() as i64;
            let piece = flat.narrow(0, offset, n).view_as(t);
            t.shallow_clone().copy_(&piece);
            offset += n;
        }
    });
}

/// Sums every tensor of `tensors` over the ranks, in place (one collective for the whole list).
pub fn all_reduce_sum(comm: &dyn Communicator, tensors: &[Tensor]) -> Result<()> {
    if comm.world() == 1 || tensors.is_empty() {
        return Ok(());
    }
    let mut flat = flatten(tensors);
    comm.all_reduce_flat(&mut flat)?;
    unflatten(&flat, tensors);
    Ok(())
}

/// Gives every tensor of `tensors` rank `root`'s value, in place.
pub fn broadcast(comm: &dyn Communicator, tensors: &[Tensor], root: usize) -> Result<()> {
    ensure!(
        root < comm.world(),
        "broadcast root {root} outside a world of {}",
        comm.world()
    );
    if comm.world() == 1 || tensors.is_empty() {
        return Ok(());
    }
    let mut flat = flatten(tensors);
    comm.broadcast_flat(&mut flat, root)?;
    unflatten(&flat, tensors);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_is_identity_and_flatten_round_trips() {
        let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        let b = Tensor::from_slice(&[5.0f32]);
        let flat = flatten(&[a.shallow_clone(), b.shallow_clone()]);
        assert_eq!(
            Vec::<f32>::try_from(&flat).unwrap(),
            [1.0, 2.0, 3.0, 4.0, 5.0]
        );
        let doubled = &flat * 2.0;
        unflatten(&doubled, &[a.shallow_clone(), b.shallow_clone()]);
        assert_eq!(a.size(), [2, 2]);
        assert_eq!(
            Vec::<f32>::try_from(&a.reshape([-1])).unwrap(),
            [2.0, 4.0, 6.0, 8.0]
        );
        all_reduce_sum(&Single, &[b.shallow_clone()]).unwrap();
        assert_eq!(Vec::<f32>::try_from(&b).unwrap(), [10.0]);
        assert!(broadcast(&Single, &[b], 1).is_err());
    }
}

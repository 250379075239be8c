//! NCCL communicators through cudarc (feature `nccl`): one rank per GPU, one thread per rank, all in
//! this process (`ncclCommInitAll`).
//!
//! The collectives run directly on a tensor's device memory: `Tensor::data_ptr` gives the CUDA
//! address of a contiguous f32 tensor. They are enqueued on the legacy default stream (stream 0),
//! which is the stream libtorch uses unless a stream guard selects another — this crate sets none —
//! so the all-reduce is ordered after the kernels that produced the gradients and before every later
//! kernel or copy that reads them, without an explicit synchronisation.

use std::ffi::c_int;

use anyhow::{bail, ensure, Result};
use cudarc::nccl::{result, sys};
use tch::{Device, Kind, Tensor};

use super::Communicator;

pub struct NcclGroup {
    comm: sys::ncclComm_t,
    rank: usize,
    world: usize,
    ordinal: usize,
    finished: bool,
    /// Set once the communicator was aborted (it is then freed and must not be used again).
    aborted: std::cell::Cell<bool>,
}

// SAFETY: an NCCL communicator may be used from any thread as long as calls on it are not
// concurrent; each rank's handle is moved into its own thread and used only there.
unsafe impl Send for NcclGroup {}

fn check(r: Result<result::NcclStatus, result::NcclError>, what: &str) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => bail!("NCCL {what} failed: {:?}", e.0),
    }
}

impl NcclGroup {
    /// Communicators for the GPUs `ordinals` (rank i on `ordinals[i]`).
    pub fn new(ordinals: &[usize]) -> Result<Vec<NcclGroup>> {
        ensure!(!ordinals.is_empty(), "no GPUs for the NCCL group");
        // SAFETY: only tries to dlopen NCCL by its usual names (cudarc panics later if it is absent).
        if !unsafe { sys::is_culib_present() } {
            bail!(
                "libnccl.so not found: put the folder of libnccl.so (e.g. a symlink to the PyTorch \
                 wheel's nvidia/nccl/lib/libnccl.so.2) on LD_LIBRARY_PATH"
            );
        }
        let devs: Vec<c_int> = ordinals
            .iter()
            .map(|&o| c_int::try_from(o))
            .collect::<Result<_, _>>()?;
        let mut comms: Vec<sys::ncclComm_t> = vec![std::ptr::null_mut(); devs.len()];
        // SAFETY: `comms` has room for one communicator per device in `devs`.
        check(
            unsafe {
                result::comm_init_all(comms.as_mut_ptr(), devs.len() as c_int, devs.as_ptr())
            },
            "ncclCommInitAll",
        )?;
        let world = comms.len();
        Ok(comms
            .into_iter()
            .zip(ordinals)
            .enumerate()
            .map(|(rank, (comm, &ordinal))| NcclGroup {
                comm,
                rank,
                world,
                ordinal,
                finished: false,
                aborted: std::cell::Cell::new(false),
            })
            .collect())
    }

    fn check_tensor(&self, t: &Tensor) -> Result<()> {
        ensure!(!self.aborted.get(), "the NCCL communicator was aborted");
        ensure!(
            t.device() == Device::Cuda(self.ordinal)
                && t.kind() == Kind::Float
                && t.is_contiguous(),
            "NCCL rank {} needs a contiguous f32 tensor on cuda:{} (got {:?} on {:?})",
            self.rank,
            self.ordinal,
            t.kind(),
            t.device()
        );
        Ok(())
    }
}

impl Communicator for NcclGroup {
    fn rank(&self) -> usize {
        self.rank
    }
    fn world(&self) -> usize {
        self.world
    }
    fn backend(&self) -> &'static str {
        "nccl"
    }

    fn all_reduce_flat(&self, flat: &mut Tensor) -> Result<()> {
        self.check_tensor(flat)?;
        let ptr = flat.data_ptr();
        // SAFETY: `ptr` addresses `numel` f32 of device memory of this rank's GPU (checked above),
        // kept alive by `flat` until the call returns; in-place all-reduce is allowed by NCCL; the
        // null stream is libtorch's current stream (module docs).
        check(
            unsafe {
                result::all_reduce(
                    ptr,
                    ptr,
                    flat.numel(),
                    sys::ncclDataType_t::ncclFloat32,
                    sys::ncclRedOp_t::ncclSum,
                    self.comm,
                    std::ptr::null_mut(),
                )
            },
            "all-reduce",
        )
    }

    fn broadcast_flat(&self, flat: &mut Tensor, root: usize) -> Result<()> {
        self.check_tensor(flat)?;
        ensure!(root < self.world, "broadcast root {root} out of range");
        let ptr = flat.data_ptr();
        // SAFETY: as in `all_reduce_flat`.
        check(
            unsafe {
                result::broadcast(
                    ptr,
                    ptr,
                    flat.numel(),
                    sys::ncclDataType_t::ncclFloat32,
                    root as c_int,
                    self.comm,
                    std::ptr::null_mut(),
                )
            },
            "broadcast",
        )
    }

    fn abort(&self, _why: &str) {
        if !self.aborted.replace(true) {
            // SAFETY: aborts (and frees) the live communicator once; other ranks' pending
            // collectives then fail instead of waiting for this rank.
            let _ = unsafe { result::comm_abort(self.comm) };
        }
    }

    fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for NcclGroup {
    fn drop(&mut self) {
        if self.aborted.get() {
            return;
        }
        // SAFETY: `comm` came from ncclCommInitAll and is freed exactly once, here (not aborted
        // before). A rank that did not finish normally aborts, so no other rank waits forever.
        unsafe {
            let _ = if self.finished {
                result::comm_destroy(self.comm)
            } else {
                result::comm_abort(self.comm)
            };
        }
    }
}

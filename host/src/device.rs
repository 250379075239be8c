//! Choosing the tch device (`--device auto|cpu|cuda:N`) and libtorch's thread count.

use anyhow::{bail, Context, Result};
use tch::Device;

/// Parses `auto`, `cpu`, `cuda` or `cuda:N`. `auto` is CUDA device 0 when libtorch sees a GPU, else the CPU.
pub fn parse(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    let device = match spec.as_str() {
        "auto" => {
            if tch::Cuda::is_available() {
                Device::Cuda(0)
            } else {
                Device::Cpu
            }
        }
        "cpu" => Device::Cpu,
        "cuda" | "gpu" => Device::Cuda(0),
        other => {
            let Some(n) = other.strip_prefix("cuda:") else {
                bail!("unknown device {spec:?}: use auto, cpu, cuda or cuda:N");
            };
            let n: usize = n
                .parse()
                .with_context(|| format!("bad CUDA device index in {spec:?}"))?;
            Device::Cuda(n)
        }
    };
    if let Device::Cuda(n) = device {
        if !tch::Cuda::is_available() {
            bail!(
                "device {spec:?} asked for CUDA, but libtorch sees no CUDA device \
                 (libtorch: {}; use --device cpu)",
                libtorch_dir()
            );
        }
        let count = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
        if n >= count {
            bail!("device cuda:{n} does not exist (libtorch sees {count} CUDA device(s))");
        }
    }
    Ok(device)
}

/// Human-readable device name for logs and metadata.
pub fn name(device: Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(n) => format!("cuda:{n}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// Sets libtorch's intra-op threads (`0` = leave libtorch's default, one per core).
pub fn set_threads(threads: usize) {
    if threads > 0 {
        tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    }
}

/// libtorch on one intra-op thread until dropped, then on as many as before (see
/// [`crate::sampler::sample::generate_exact`] for why a caller wants that).
pub struct OneThread {
    before: i32,
}

impl OneThread {
    pub fn pin() -> OneThread {
        let before = tch::get_num_threads();
        tch::set_num_threads(1);
        OneThread { before }
    }
}

impl Drop for OneThread {
    fn drop(&mut self) {
        tch::set_num_threads(self.before);
    }
}

/// The libtorch directory the binary was linked against (its rpath), for messages.
pub fn libtorch_dir() -> &'static str {
    option_env!("NSBG_LIBTORCH_DIR").unwrap_or("(unknown)")
}

/// Whether this process can see a CUDA device (also true only if libtorch_cuda was loaded).
pub fn cuda_summary() -> String {
    if tch::Cuda::is_available() {
        format!("CUDA available, {} device(s)", tch::Cuda::device_count())
    } else {
        "CUDA not available".into()
    }
}

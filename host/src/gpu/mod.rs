//! GPU facilities that libtorch does not expose: device query (name, memory, compute capability),
//! free/used memory for reports, board power, and the wavelet transform + tiling as tensor ops
//! ([`dwt`], which runs on any libtorch device).
//!
//! The CUDA driver is reached through `cudarc` (feature `cuda`), which loads `libcuda.so` at run time
//! (`dynamic-loading`): a build never needs CUDA, and a binary without a driver reports "no CUDA
//! driver" instead of failing to start. Power comes from NVML (`libnvidia-ml.so.1`, shipped with the
//! driver), opened with `libloading` in [`nvml`]: cudarc 0.19 has no NVML bindings, and the four NVML
//! calls needed do not justify a second binding crate (`nvml-wrapper` would pull in its own sys crate
//! and error types for the same dlopen). Without the feature every query answers "unavailable".

pub mod bench;
pub mod dwt;

#[cfg(feature = "cuda")]
mod driver;
#[cfg(feature = "cuda")]
mod nvml;

use tch::Device;

/// Static facts about one CUDA device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub ordinal: usize,
    pub name: String,
    pub total_bytes: u64,
    pub compute_capability: (i32, i32),
    pub pci_bus_id: String,
}

/// Device memory at one moment (the whole device, all processes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    pub free_bytes: u64,
    pub total_bytes: u64,
    pub used_bytes: u64,
}

/// Every CUDA device the driver reports, or why none can be listed.
pub fn devices() -> Result<Vec<DeviceInfo>, String> {
    #[cfg(feature = "cuda")]
    {
        driver::devices()
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err("built without the `cuda` feature (cargo build --features cuda)".into())
    }
}

/// Memory of CUDA device `ordinal` (`None`: no driver, no such device, or built without `cuda`).
/// Uses the device's primary context, the one libtorch uses too.
pub fn memory(ordinal: usize) -> Option<Memory> {
    #[cfg(feature = "cuda")]
    {
        driver::memory(ordinal)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        None
    }
}

/// Board power draw of a CUDA device in watts, from NVML; `None` for the CPU, without NVML, or when
/// the board does not report power.
pub fn power_watts(device: Device) -> Option<f64> {
    let Device::Cuda(ordinal) = device else {
        return None;
    };
    #[cfg(feature = "cuda")]
    {
        let bus = driver::pci_bus_id(ordinal)?;
        nvml::power_watts(&bus)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        None
    }
}

/// Lines for `torch-info`: the driver's view of the GPUs.
pub fn report() -> Vec<String> {
    match devices() {
        Err(why) => vec![format!("cuda driver: {why}")],
        Ok(list) if list.is_empty() => vec!["cuda driver: no CUDA devices".into()],
        Ok(list) => list
            .iter()
            .map(|d| {
                let mem = memory(d.ordinal).map_or(String::new(), |m| {
                    format!(
                        ", {:.0} MiB used / {:.0} MiB free",
                        m.used_bytes as f64 / 1048576.0,
                        m.free_bytes as f64 / 1048576.0
                    )
                });
                let power = power_watts(Device::Cuda(d.ordinal))
                    .map_or(", power n/a".into(), |w| format!(", {w:.0} W"));
                format!(
                    "gpu {}: {} (compute {}.{}, {:.1} GiB, pci {}){mem}{power}",
                    d.ordinal,
                    d.name,
                    d.compute_capability.0,
                    d.compute_capability.1,
                    d.total_bytes as f64 / (1u64 << 30) as f64,
                    d.pci_bus_id
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a machine without a GPU (CI) every query answers "unavailable" without panicking; with one,
    /// the driver and libtorch agree on the device count.
    #[test]
    fn queries_never_panic_and_agree_with_libtorch() {
        assert_eq!(power_watts(Device::Cpu), None);
        let lines = report();
        assert!(!lines.is_empty());
        match devices() {
            Ok(list) => {
                assert_eq!(list.len() as i64, tch::Cuda::device_count(), "{lines:?}");
                for d in &list {
                    let m = memory(d.ordinal).expect("memory of a listed device");
                    assert!(m.used_bytes + m.free_bytes == m.total_bytes && m.total_bytes > 0);
                }
            }
            Err(why) => {
                assert!(
                    !tch::Cuda::is_available() || cfg!(not(feature = "cuda")),
                    "{why}"
                );
                assert_eq!(memory(0), None);
            }
        }
    }
}

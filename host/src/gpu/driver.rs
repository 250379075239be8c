//! CUDA driver queries through cudarc (run-time loaded `libcuda.so`). Every entry point first checks
//! that the library can be loaded, because cudarc panics on first use when it cannot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{result, sys, CudaContext};

use super::{DeviceInfo, Memory};

/// cuInit once; the error text if the driver is missing or refuses.
fn init() -> Result<(), String> {
    static INIT: OnceLock<Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        // SAFETY: only tries to dlopen the driver library by its usual names.
        if !unsafe { sys::is_culib_present() } {
            return Err("no CUDA driver (libcuda.so not found)".into());
        }
        result::init().map_err(|e| format!("cuInit failed: {e:?}"))
    })
    .clone()
}

pub fn devices() -> Result<Vec<DeviceInfo>, String> {
    init()?;
    let count = result::device::get_count().map_err(|e| format!("{e:?}"))?;
    let mut out = Vec::new();
    for ordinal in 0..count {
        let dev = result::device::get(ordinal).map_err(|e| format!("{e:?}"))?;
        let name = result::device::get_name(dev).map_err(|e| format!("{e:?}"))?;
        // SAFETY: `dev` was returned by cuDeviceGet above.
        let (total, major, minor) = unsafe {
            (
                result::device::total_mem(dev).map_err(|e| format!("{e:?}"))?,
                result::device::get_attribute(
                    dev,
                    sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                )
                .map_err(|e| format!("{e:?}"))?,
                result::device::get_attribute(
                    dev,
                    sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                )
                .map_err(|e| format!("{e:?}"))?,
            )
        };
        let ordinal = ordinal as usize;
        out.push(DeviceInfo {
            ordinal,
            name,
            total_bytes: total as u64,
            compute_capability: (major, minor),
            pci_bus_id: pci_bus_id(ordinal).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// `0000:00:00.0`-style PCI id of a device (the key NVML knows it by; NVML's own indices need not
/// follow CUDA's ordinals, e.g. under CUDA_VISIBLE_DEVICES).
pub fn pci_bus_id(ordinal: usize) -> Option<String> {
    init().ok()?;
    let dev = result::device::get(i32::try_from(ordinal).ok()?).ok()?;
    let mut buf = [0 as std::ffi::c_char; 64];
    // SAFETY: the buffer length passed is the buffer's; the driver NUL-terminates within it.
    let r = unsafe { sys::cuDeviceGetPCIBusId(buf.as_mut_ptr(), buf.len() as i32, dev) };
    if r != sys::CUresult::CUDA_SUCCESS {
        return None;
    }
    // SAFETY: NUL-terminated by the driver (checked success above), inside `buf`.
    let s = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(s.to_string_lossy().into_owned())
}

/// The primary context of each device, retained once per process.
fn context(ordinal: usize) -> Option<Arc<CudaContext>> {
    static CONTEXTS: OnceLock<Mutex<HashMap<usize, Arc<CudaContext>>>> = OnceLock::new();
    init().ok()?;
    let count = result::device::get_count().ok()?;
    if ordinal >= usize::try_from(count).ok()? {
        return None;
    }
    let mut map = CONTEXTS.get_or_init(Default::default).lock().ok()?;
    if let Some(c) = map.get(&ordinal) {
        return Some(c.clone());
    }
    let c = CudaContext::new(ordinal).ok()?;
    map.insert(ordinal, c.clone());
    Some(c)
}

pub fn memory(ordinal: usize) -> Option<Memory> {
    let ctx = context(ordinal)?;
    ctx.bind_to_thread().ok()?;
    let (free, total) = ctx.mem_get_info().ok()?;
    Some(Memory {
        free_bytes: free as u64,
        total_bytes: total as u64,
        used_bytes: total.saturating_sub(free) as u64,
    })
}

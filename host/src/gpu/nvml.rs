//! Board power through NVML, opened at run time (`libnvidia-ml.so.1` ships with the NVIDIA driver).
//! Four C functions are used; their signatures are NVML's stable v2 ABI (`nvml.h`).

use std::ffi::{c_char, c_int, c_uint, c_void, CString};
use std::sync::OnceLock;

use libloading::Library;

type Handle = *mut c_void;
/// `nvmlReturn_t`: 0 is NVML_SUCCESS.
type Ret = c_int;

struct Nvml {
    lib: Library,
}

/// The loaded and initialised library, or `None` when NVML is absent or fails to initialise.
fn nvml() -> Option<&'static Nvml> {
    static NVML: OnceLock<Option<Nvml>> = OnceLock::new();
    NVML.get_or_init(|| {
        // SAFETY: loading NVML runs no initialisers with preconditions; nvmlInit_v2 takes no arguments.
        unsafe {
            let lib = Library::new("libnvidia-ml.so.1").ok()?;
            let init: libloading::Symbol<unsafe extern "C" fn() -> Ret> =
                lib.get(b"nvmlInit_v2\0").ok()?;
            if init() != 0 {
                return None;
            }
            Some(Nvml { lib })
        }
    })
    .as_ref()
}

/// Power draw in watts of the device on PCI bus `bus` (as the CUDA driver names it).
pub fn power_watts(bus: &str) -> Option<f64> {
    let n = nvml()?;
    let bus = CString::new(bus).ok()?;
    // SAFETY: symbols and signatures from nvml.h; the handle comes from NVML and the out-pointers
    // point at live locals.
    unsafe {
        let by_bus: libloading::Symbol<unsafe extern "C" fn(*const c_char, *mut Handle) -> Ret> =
            n.lib.get(b"nvmlDeviceGetHandleByPciBusId_v2\0").ok()?;
        let usage: libloading::Symbol<unsafe extern "C" fn(Handle, *mut c_uint) -> Ret> =
            n.lib.get(b"nvmlDeviceGetPowerUsage\0").ok()?;
        let mut handle: Handle = std::ptr::null_mut();
        if by_bus(bus.as_ptr(), &mut handle) != 0 {
            return None;
        }
        let mut milliwatts: c_uint = 0;
        if usage(handle, &mut milliwatts) != 0 {
            return None;
        }
        Some(f64::from(milliwatts) / 1000.0)
    }
}

//! The panic boundary (rustls-ffi's habit): every exported function runs its body inside
//! [`ffi_boundary!`], so a bug that panics returns `NSBG_ERR_INTERNAL` (or the return type's neutral
//! value) to the C caller instead of aborting the host engine. This only works with `panic = "unwind"`,
//! which is why no profile of this workspace sets `panic = "abort"`.

use crate::status::nsbg_status;
use std::os::raw::c_char;

/// What an exported function returns when its body panicked.
pub(crate) trait PanicValue {
    fn on_panic() -> Self;
}

impl PanicValue for nsbg_status {
    fn on_panic() -> Self {
        nsbg_status::NSBG_ERR_INTERNAL
    }
}

impl PanicValue for u32 {
    fn on_panic() -> Self {
        0
    }
}

impl PanicValue for *const c_char {
    fn on_panic() -> Self {
        c"internal error".as_ptr()
    }
}

impl PanicValue for () {
    fn on_panic() -> Self {}
}

/// Runs `$body` and converts a panic into the return type's [`PanicValue`].
macro_rules! ffi_boundary {
    ($body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| $body)) {
            Ok(value) => value,
            Err(_) => $crate::panic::PanicValue::on_panic(),
        }
    };
}
pub(crate) use ffi_boundary;

/// Early-returns `NSBG_ERR_NULL_POINTER` when a required pointer is NULL.
macro_rules! require_non_null {
    ($($ptr:expr),+ $(,)?) => {
        $(if $ptr.is_null() {
            return $crate::status::nsbg_status::NSBG_ERR_NULL_POINTER;
        })+
    };
}
pub(crate) use require_non_null;

/// Early-returns the status of an `Err`.
macro_rules! try_status {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::status::nsbg_status::from(e),
        }
    };
}
pub(crate) use try_status;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_internal_error() {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let r: nsbg_status = ffi_boundary!({
            let v: Vec<u8> = Vec::new();
            // An out-of-bounds index: the kind of bug the boundary exists for.
            let i = v.len() + 1;
            if v[i] == 0 {
                return nsbg_status::NSBG_OK;
            }
            nsbg_status::NSBG_OK
        });
        std::panic::set_hook(hook);
        assert_eq!(r, nsbg_status::NSBG_ERR_INTERNAL);
    }
}

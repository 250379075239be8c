//! Status codes of the C ABI (c-abi.md §Status codes). Numbers are stable: a retired code stays
//! listed and is never reused.

use nsbg_core::Error;
use std::os::raw::c_char;

/// Result of every fallible nsbg call.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum nsbg_status {
    /// Success.
    NSBG_OK = 0,
    /// A required pointer is NULL.
    NSBG_ERR_NULL_POINTER = 1,
    /// Size, stride, level count, mode or flag out of range.
    NSBG_ERR_INVALID_ARGUMENT = 2,
    /// A length argument does not match what the call needs.
    NSBG_ERR_BUFFER_SIZE = 3,
    /// Weight file malformed (truncated, bad header, bad offsets, NaN/Inf).
    NSBG_ERR_FORMAT = 4,
    /// Well-formed file, but version / dtype / architecture not supported.
    NSBG_ERR_UNSUPPORTED = 5,
    /// An allocation failed.
    NSBG_ERR_OUT_OF_MEMORY = 6,
    /// Bug: a caught panic.
    NSBG_ERR_INTERNAL = 7,
}

impl From<Error> for nsbg_status {
    fn from(e: Error) -> Self {
        if e.is_buffer_size() {
            nsbg_status::NSBG_ERR_BUFFER_SIZE
        } else {
            nsbg_status::NSBG_ERR_INVALID_ARGUMENT
        }
    }
}

impl From<std::collections::TryReserveError> for nsbg_status {
    fn from(_: std::collections::TryReserveError) -> Self {
        nsbg_status::NSBG_ERR_OUT_OF_MEMORY
    }
}

/// Static text for a status code; unknown codes get a generic text.
pub(crate) fn text(code: i32) -> &'static std::ffi::CStr {
    match code {
        0 => c"ok",
        1 => c"a required pointer is NULL",
        2 => c"invalid argument (size, stride, level count, mode or flag out of range)",
        3 => c"buffer length does not match what the call needs",
        4 => c"malformed weight file",
        5 => c"unsupported weight file (version, dtype or architecture)",
        6 => c"out of memory",
        7 => c"internal error (caught panic)",
        _ => c"unknown status code",
    }
}

/// Pointer form of [`text`] for the C caller.
pub(crate) fn text_ptr(code: i32) -> *const c_char {
    text(code).as_ptr()
}

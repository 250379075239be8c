//! Decoder models (c-abi.md §Decoder model): open a weight file from memory, query it, decode.
//!
//! A model handle is shared between threads (decode takes `const nsbg_model*`): the decoder itself is
//! immutable, and each call borrows a workspace from a small pool (or makes one, the only allocation a
//! decode may do), so concurrent calls never share buffers.

use crate::buffers;
use crate::panic::{ffi_boundary, require_non_null, try_status};
use crate::status::nsbg_status;
use nsbg_core::decoder::{DecodeWorkspace, Decoder, DecoderError};
use nsbg_core::weights::{ErrorCategory, Kind};
use std::sync::Mutex;

/// A loaded decoder (opaque).
#[allow(non_camel_case_types)]
pub struct nsbg_model {
    decoder: Decoder,
    pool: Mutex<Vec<DecodeWorkspace>>,
}

/// What a model file contains.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, Default)]
pub struct nsbg_model_info {
    /// == NSBG_ABI_VERSION
    pub abi_version: u32,
    /// Weight file format version.
    pub format_version: u32,
    /// 1 = wavelet decoder (NSBG), 2 = pixel decoder (NSBG-PIXEL).
    pub kind: u32,
    /// Decoder levels in the file (2 for 64 -> 256).
    pub levels: u32,
    /// 64: side of the low band it takes.
    pub in_size: u32,
    /// 256: side of the image it returns.
    pub out_size: u32,
    /// 3.
    pub channels: u32,
    /// nsbg_extension the networks were trained with.
    pub extension: i32,
    /// Number of weights.
    pub parameters: u64,
}

impl From<DecoderError> for nsbg_status {
    fn from(e: DecoderError) -> Self {
        if e.is_buffer_size() {
            return nsbg_status::NSBG_ERR_BUFFER_SIZE;
        }
        match e.category() {
            ErrorCategory::Format => nsbg_status::NSBG_ERR_FORMAT,
            ErrorCategory::Unsupported => nsbg_status::NSBG_ERR_UNSUPPORTED,
            ErrorCategory::OutOfMemory => nsbg_status::NSBG_ERR_OUT_OF_MEMORY,
            _ => nsbg_status::NSBG_ERR_INVALID_ARGUMENT,
        }
    }
}

impl nsbg_model {
    /// Runs `f` with a workspace from the pool (made on first use per concurrent caller).
    fn with_workspace(
        &self,
        f: impl FnOnce(&Decoder, &mut DecodeWorkspace) -> Result<(), DecoderError>,
    ) -> Result<(), nsbg_status> {
        let taken = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut ws = match taken {
            Some(ws) => ws,
            None => self.decoder.workspace()?,
        };
        let r = f(&self.decoder, &mut ws);
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(ws);
        r.map_err(nsbg_status::from)
    }
}

/// Parses and validates a weight file held in memory; copies what it needs (`bytes` may be freed
/// afterwards). On success `*out` receives a handle to free with `nsbg_model_free`; on error `*out`
/// is not written.
///
/// # Safety
/// `bytes` must be readable for `len` bytes; `out` must be writable.
#[no_mangle]
pub unsafe extern "C" fn nsbg_model_open(
    bytes: *const u8,
    len: usize,
    out: *mut *mut nsbg_model,
) -> nsbg_status {
    ffi_boundary!({
        require_non_null!(bytes, out);
        // SAFETY: the caller's contract for `bytes`.
        let file = try_status!(unsafe { buffers::slice(bytes, len) });
        let decoder = try_status!(Decoder::from_bytes(file));
        let model = Box::new(nsbg_model {
            decoder,
            pool: Mutex::new(Vec::new()),
        });
        // SAFETY: `out` is non-null and writable by contract.
        unsafe { out.write(Box::into_raw(model)) };
        nsbg_status::NSBG_OK
    })
}

/// Frees a model; NULL is fine. The handle must not be in use by another thread.
///
/// # Safety
/// `model` must be NULL or a handle from `nsbg_model_open` not freed before.
#[no_mangle]
pub unsafe extern "C" fn nsbg_model_free(model: *mut nsbg_model) {
    ffi_boundary!({
        if !model.is_null() {
            // SAFETY: made by Box::into_raw in nsbg_model_open and not freed before (contract).
            drop(unsafe { Box::from_raw(model) });
        }
    })
}

/// Describes a model.
///
/// # Safety
/// `model` must be a live handle; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn nsbg_model_info_get(
    model: *const nsbg_model,
    out: *mut nsbg_model_info,
) -> nsbg_status {
    ffi_boundary!({
        require_non_null!(model, out);
        // SAFETY: live handle by contract.
        let info = unsafe { &*model }.decoder.info();
        let kind = match info.kind {
            Kind::WaveletDecoder => 1,
            Kind::PixelDecoder => 2,
            _ => 0,
        };
        let v = nsbg_model_info {
            abi_version: crate::NSBG_ABI_VERSION,
            format_version: info.format_version,
            kind,
            levels: info.levels,
            in_size: info.in_size as u32,
            out_size: info.out_size as u32,
            channels: info.channels as u32,
            extension: info.extension as i32,
            parameters: info.parameters,
        };
        // SAFETY: non-null, writable by contract.
        unsafe { out.write(v) };
        nsbg_status::NSBG_OK
    })
}

/// Full decode: `low` is the level-2 low band of the image (planar [3][64][64], wavelet units of a
/// [0,1] image, exactly what nsbg_dwt2_f32(levels=2, ext=info.extension) leaves in the top-left 64×64;
/// for a pixel decoder, the 64×64 image itself); `image` receives planar [3][256][256], not clamped.
/// Lengths are element counts.
///
/// # Safety
/// `model` live; `low` readable for `low_len` floats; `image` writable for `image_len` floats.
#[no_mangle]
pub unsafe extern "C" fn nsbg_decode(
    model: *const nsbg_model,
    low: *const f32,
    low_len: usize,
    image: *mut f32,
    image_len: usize,
) -> nsbg_status {
    ffi_boundary!({
        require_non_null!(model, low, image);
        try_status!(buffers::disjoint(
            low,
            low_len,
            image.cast_const(),
            image_len
        ));
        // SAFETY: the caller's contract; the ranges do not overlap (checked).
        let (low, image) = unsafe {
            (
                try_status!(buffers::slice(low, low_len)),
                try_status!(buffers::slice_mut(image, image_len)),
            )
        };
        // SAFETY: live handle by contract.
        let model = unsafe { &*model };
        try_status!(model.with_workspace(|d, ws| d.decode(low, image, ws)));
        nsbg_status::NSBG_OK
    })
}

/// Progressive decode, one level at a time (level 1 = first level decoded): level 1 takes the
/// [3][64][64] level-2 low band and returns the [3][128][128] level-1 low band (wavelet units); level 2
/// takes that and returns the [3][256][256] image. nsbg_decode == level 1 then level 2, bit for bit.
///
/// # Safety
/// As `nsbg_decode`.
#[no_mangle]
pub unsafe extern "C" fn nsbg_decode_level(
    model: *const nsbg_model,
    level: u32,
    input: *const f32,
    input_len: usize,
    output: *mut f32,
    output_len: usize,
) -> nsbg_status {
    ffi_boundary!({
        require_non_null!(model, input, output);
        try_status!(buffers::disjoint(
            input,
            input_len,
            output.cast_const(),
            output_len
        ));
        // SAFETY: as in nsbg_decode.
        let (input, output) = unsafe {
            (
                try_status!(buffers::slice(input, input_len)),
                try_status!(buffers::slice_mut(output, output_len)),
            )
        };
        // SAFETY: live handle by contract.
        let model = unsafe { &*model };
        try_status!(model.with_workspace(|d, ws| d.decode_level(level, input, output, ws)));
        nsbg_status::NSBG_OK
    })
}

//! The decoders shipped in the repository (`weights/`), built into the binary when they exist at build
//! time (see build.rs), so `decode` and `eval-recon` work without any file argument.

use std::path::Path;

use anyhow::{Context, Result};

#[cfg(nsbg_default_wavelet)]
const WAVELET: Option<&[u8]> = Some(include_bytes!(env!("NSBG_DEFAULT_WAVELET")));
#[cfg(not(nsbg_default_wavelet))]
const WAVELET: Option<&[u8]> = None;

#[cfg(nsbg_default_pixel)]
const PIXEL: Option<&[u8]> = Some(include_bytes!(env!("NSBG_DEFAULT_PIXEL")));
#[cfg(not(nsbg_default_pixel))]
const PIXEL: Option<&[u8]> = None;

#[cfg(nsbg_default_generator)]
const GENERATOR: Option<&[u8]> = Some(include_bytes!(env!("NSBG_DEFAULT_GENERATOR")));
#[cfg(not(nsbg_default_generator))]
const GENERATOR: Option<&[u8]> = None;

pub const GENERATOR_NAME: &str = "weights/nsbg-generator-small.safetensors";
pub const WAVELET_NAME: &str = "weights/nsbg-small.safetensors";
pub const PIXEL_NAME: &str = "weights/nsbg-pixel-small.safetensors";

/// `(bytes, description)` of a weight file given on the command line, or of the shipped default.
pub fn wavelet_or(path: Option<&Path>) -> Result<(Vec<u8>, String)> {
    match path {
        Some(p) => read(p),
        None => WAVELET
            .map(|b| (b.to_vec(), format!("built-in {WAVELET_NAME}")))
            .with_context(|| {
                format!("no --weights given and this build has no built-in {WAVELET_NAME}")
            }),
    }
}

/// The pixel decoder given, else the shipped one (if any).
pub fn pixel_or(path: Option<&Path>) -> Result<Option<(Vec<u8>, String)>> {
    match path {
        Some(p) => read(p).map(Some),
        None => Ok(PIXEL.map(|b| (b.to_vec(), format!("built-in {PIXEL_NAME}")))),
    }
}

/// The generator given, else the shipped one.
pub fn generator_or(path: Option<&Path>) -> Result<(Vec<u8>, String)> {
    match path {
        Some(p) => read(p),
        None => GENERATOR
            .map(|b| (b.to_vec(), format!("built-in {GENERATOR_NAME}")))
            .with_context(|| {
                format!("no --generator given and this build has no built-in {GENERATOR_NAME}")
            }),
    }
}

fn read(p: &Path) -> Result<(Vec<u8>, String)> {
    let bytes =
        std::fs::read(p).with_context(|| format!("cannot read weight file {}", p.display()))?;
    Ok((bytes, p.display().to_string()))
}

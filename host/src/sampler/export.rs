//! Generators for sampling: a generator weight file (format v1, `nsbg.kind = "generator"`, written by
//! `export --generator`, read by `nets::gan::io`) or a sampler run folder, whose G_ema goes through the
//! same exporter in memory, so both paths load identical networks.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use tch::nn::VarStore;
use tch::Device;

use super::data::{Domain, Norm};
use crate::export_generator::export_generator;
use crate::nets::gan::io::{self, FileDtype};
use crate::nets::gan::{GanConfig, Generator};

/// What sampling needs to know besides the tensors (from the file's `nsbg.config`).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorMeta {
    pub gan: GanConfig,
    pub domain: Domain,
    pub norm: Norm,
    pub extension: String,
    pub classes: Vec<String>,
}

/// A loaded generator (eval use).
pub struct GeneratorFile {
    pub meta: GeneratorMeta,
    pub vs: VarStore,
    pub g: Generator,
}

impl GeneratorFile {
    /// G_ema of a sampler run folder's last checkpoint.
    pub fn from_run(run: &Path, device: Device) -> Result<GeneratorFile> {
        let bytes = export_generator(run, FileDtype::F32, true)?;
        GeneratorFile::from_bytes(&bytes, device)
    }

    /// A generator weight file's bytes. Files without the sampling fields (a bare GAN) are taken as
    /// wavelet-domain generators with the paper's normalisation and the symmetric extension.
    pub fn from_bytes(bytes: &[u8], device: Device) -> Result<GeneratorFile> {
        let f = io::read_generator_bytes(bytes, device)?;
        let field = |k: &str| f.extra.get(k).cloned().unwrap_or(Value::Null);
        let domain: Domain = match field("domain") {
            Value::Null => Domain::Wavelet,
            v => serde_json::from_value(v).context("nsbg.config: bad domain")?,
        };
        let norm: Norm = match field("norm") {
            Value::Null => match domain {
                Domain::Wavelet => Norm {
                    shift: 3.0,
                    scale: 10.0,
                },
                Domain::Pixel => Norm::PIXEL,
            },
            v => serde_json::from_value(v).context("nsbg.config: bad norm")?,
        };
        norm.validate().context("nsbg.config: bad norm")?;
        let extension = match field("extension") {
            Value::Null => "symmetric".to_string(),
            v => serde_json::from_value(v).context("nsbg.config: bad extension")?,
        };
        let classes: Vec<String> = match field("classes") {
            Value::Null => Vec::new(),
            v => serde_json::from_value(v).context("nsbg.config: bad classes")?,
        };
        Ok(GeneratorFile {
            meta: GeneratorMeta {
                gan: f.config,
                domain,
                norm,
                extension,
                classes,
            },
            vs: f.vs,
            g: f.g,
        })
    }
}

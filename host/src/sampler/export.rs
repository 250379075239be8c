//! Generators outside a training run: the run folder's G_ema (for `sample --generator RUN_DIR`) and
//! generator weight files (format v1, `nsbg.kind = "generator"`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Device;

use super::data::{Domain, Norm};
use crate::checkpoint;
use crate::nets::gan::{GanConfig, Generator};
use crate::nets::{self};

/// What sampling needs to know besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        let st = super::train::load_state(run)?;
        let c = &st.config;
        let meta = GeneratorMeta {
            gan: c.gan.clone(),
            domain: c.domain,
            norm: c.norm,
            extension: c.extension.clone(),
            classes: c.classes.clone(),
        };
        let file = st
            .files
            .get("g_ema")
            .context("the checkpoint lists no g_ema file")?;
        let tensors = checkpoint::read_tensors(&run.join(file))?;
        let vs = VarStore::new(device);
        let g = Generator::new(&vs.root(), &meta.gan)?;
        nets::load_named(&vs, &tensors)
            .context("the checkpoint's G_ema does not fit its config")?;
        Ok(GeneratorFile { meta, vs, g })
    }

    /// A generator weight file.
    pub fn from_bytes(_bytes: &[u8], _device: Device) -> Result<GeneratorFile> {
        bail!("generator weight files: pending the GAN io module")
    }
}

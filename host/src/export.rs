//! `export`: training run folders → one weight file (format v1) through nsbg-core's writer, which
//! checks names, shapes and values against the config and re-parses its own output.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nsbg_core::weights::{
    self, Dtype, ModelConfig, NamedTensor, PixelDecoderConfig, WaveletDecoderConfig,
};
use serde_json::json;

use crate::checkpoint::{self, State};
use crate::cli::{ExportArgs, ExportDtype};
use crate::nets;
use crate::subbands;
use crate::train::config::Network;

/// The weight file of consecutive level runs (any order on input); `best` takes each run's model of
/// lowest validation loss (`best/`) instead of its last checkpoint.
pub fn export_runs(runs: &[&Path], dtype: Dtype, best: bool) -> Result<Vec<u8>> {
    let mut states: Vec<(State, &Path)> = runs
        .iter()
        .map(|r| checkpoint::load_state(r).map(|s| (s, *r)))
        .collect::<Result<_>>()?;
    states.sort_by_key(|(s, _)| s.config.level);
    let first = &states[0].0.config;
    for (s, r) in &states {
        let c = &s.config;
        if c.network != first.network
            || c.image_size != first.image_size
            || c.extension != first.extension
            || c.bn_eps != first.bn_eps
        {
            bail!(
                "{} does not match {}: network, image size, extension and bn_eps must agree",
                r.display(),
                states[0].1.display()
            );
        }
    }
    for (k, pair) in states.windows(2).enumerate() {
        if pair[1].0.config.level != pair[0].0.config.level + 1 {
            bail!(
                "levels must be consecutive and distinct; got level {} then level {} (run {})",
                pair[0].0.config.level,
                pair[1].0.config.level,
                k + 2
            );
        }
    }
    let in_size = subbands::level_side(first.image_size, first.level);
    let count = states.len();
    let config = match first.network {
        Network::Wavelet => ModelConfig::WaveletDecoder(WaveletDecoderConfig {
            in_size,
            out_size: in_size << count,
            channels: 3,
            extension: first.ext()?,
            bn_eps: first.bn_eps,
            levels: states
                .iter()
                .map(|(s, _)| s.config.wavelet_level())
                .collect(),
        }),
        Network::Pixel => ModelConfig::PixelDecoder(PixelDecoderConfig {
            in_size,
            out_size: in_size << count,
            channels: 3,
            bn_eps: first.bn_eps,
            levels: states.iter().map(|(s, _)| s.config.pixel_level()).collect(),
        }),
    };
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the runs do not form a valid decoder")?;
    let mut names = Vec::new();
    let mut shapes = Vec::new();
    let mut values = Vec::new();
    let mut provenance = Vec::new();
    for (i, (s, r)) in states.iter().enumerate() {
        let (model, which, step, val) = match (best, checkpoint::best_of(r)) {
            (true, Some((file, b))) => (file, "best", b.step, Some(b.val_loss)),
            (true, None) => {
                eprintln!(
                    "warning: {} has no best/ model (no validation); exporting its last checkpoint",
                    r.display()
                );
                (r.join(&s.model_file), "last", s.step, s.val_loss)
            }
            (false, _) => (r.join(&s.model_file), "last", s.step, s.val_loss),
        };
        let tensors = checkpoint::read_tensors(&model)?;
        for (name, t) in tensors {
            names.push(format!("level{}.{name}", i + 1));
            shapes.push(t.size().iter().map(|&d| d as usize).collect::<Vec<_>>());
            values.push(nets::to_vec(&t)?);
        }
        provenance.push(json!({
            "run": r.display().to_string(),
            "trained_level": s.config.level,
            "preset": s.config.preset,
            "checkpoint": which,
            "step": step,
            "val_loss": val,
            "trained_steps": s.step,
            "images": s.images,
            "seconds": s.elapsed_s,
            "data": s.config.data.display().to_string(),
            "preprocess": s.config.preprocess.name(),
            "level2_input": s.config.level2_input,
            "batch": s.config.batch,
            "lr": s.config.adam.lr,
        }));
    }
    let named: Vec<NamedTensor<'_>> = names
        .iter()
        .zip(&shapes)
        .zip(&values)
        .map(|((name, shape), data)| NamedTensor { name, shape, data })
        .collect();
    let mut meta = BTreeMap::new();
    meta.insert(
        "nsbg.trained_with".to_string(),
        json!({"tool": concat!("nsbg-host ", env!("CARGO_PKG_VERSION")), "levels": provenance})
            .to_string(),
    );
    weights::write(&config, &meta, &named, dtype)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("the weight writer refused the exported tensors")
}

pub fn run(a: &ExportArgs) -> Result<()> {
    if let Some(g) = &a.generator {
        return crate::export_generator::run(a, g);
    }
    let dtype = match a.dtype {
        ExportDtype::F32 => Dtype::F32,
        ExportDtype::F16 => Dtype::F16,
    };
    let runs: Vec<&Path> = a.runs.iter().map(|p| p.as_path()).collect();
    let bytes = export_runs(&runs, dtype, a.best)?;
    checkpoint::write_atomic(&a.out, &bytes)?;
    let file = weights::parse(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "wrote {} ({} , {} levels, {} -> {}, {} parameters, {} bytes, {})",
        a.out.display(),
        file.kind().name(),
        file.config().level_count(),
        file.config().in_size(),
        file.config().out_size(),
        file.parameter_count(),
        bytes.len(),
        dtype.name()
    );
    Ok(())
}

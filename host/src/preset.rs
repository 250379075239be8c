//! Training presets (`host/presets/{paper,small,tiny}.toml`, embedded in the binary). `--preset` takes a
//! built-in name or the path of a TOML file with the same fields; every field can then be overridden by a
//! flag (see `cli::TrainArgs`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

const BUILT_IN: [(&str, &str); 3] = [
    ("paper", include_str!("../presets/paper.toml")),
    ("small", include_str!("../presets/small.toml")),
    ("tiny", include_str!("../presets/tiny.toml")),
];

/// Names of the built-in presets.
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(n, _)| *n).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    pub data: DataPreset,
    pub wavelet: WaveletPreset,
    pub pixel: PixelPreset,
    pub adam: AdamPreset,
    pub schedule: SchedulePreset,
    /// The GAN sampler's table (`[sampler]`); optional so that decoder-only preset files stay valid.
    #[serde(default)]
    pub sampler: Option<crate::sampler::config::SamplerPreset>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPreset {
    /// Side of the full image (the decoder's output); the low band is a quarter of it.
    pub image_size: usize,
    /// `center-crop` or `crop-resize`.
    pub preprocess: String,
    /// Wavelet border extension: `symmetric`, `periodization` or `zero`.
    pub extension: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaveletPreset {
    pub width: usize,
    pub tail_width: usize,
    pub depth: usize,
    pub lr: f64,
    /// Batch of level 1 and level 2.
    pub batch: [usize; 2],
    /// Optimiser steps of level 1 and level 2.
    pub steps: [u64; 2],
    /// Tails' last convolutions start at zero (untrained = "low band only"); the paper: false.
    pub zero_init_output: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PixelPreset {
    pub base: usize,
    pub depth: usize,
    pub lr: f64,
    pub batch: [usize; 2],
    pub steps: [u64; 2],
    /// `outc` starts at zero (untrained = bilinear upsampling); the paper: false.
    pub zero_init_output: bool,
    /// `sum` (the paper: MSE with reduction='sum' on the residual) or `mean`.
    pub loss: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamPreset {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulePreset {
    pub log_every: u64,
    pub val_every: u64,
    pub checkpoint_every: u64,
    pub sample_every: u64,
}

/// Loads a built-in preset by name, or a TOML file by path.
pub fn load(name_or_path: &str) -> Result<Preset> {
    let (text, origin) = match BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
        Some((_, text)) => (
            (*text).to_owned(),
            format!("built-in preset {name_or_path}"),
        ),
        None => {
            let path = Path::new(name_or_path);
            if !path.exists() {
                bail!(
                    "unknown preset {name_or_path:?}: not a built-in preset ({}) and no such file",
                    built_in_names().join(", ")
                );
            }
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read preset file {}", path.display()))?;
            (text, format!("preset file {}", path.display()))
        }
    };
    let preset: Preset = toml::from_str(&text).with_context(|| format!("invalid {origin}"))?;
    Ok(preset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_presets_parse() {
        for name in built_in_names() {
            let p = load(name).unwrap();
            assert_eq!(p.name, name);
        }
        let paper = load("paper").unwrap();
        assert_eq!(paper.wavelet.width, 512);
        assert_eq!(paper.wavelet.tail_width, 256);
        assert_eq!(paper.wavelet.lr, 1e-4);
        assert_eq!(paper.wavelet.batch, [128, 64]);
        assert_eq!(paper.pixel.lr, 1e-3);
        assert_eq!(paper.pixel.base, 64);
        assert_eq!(load("small").unwrap().wavelet.width, 64);
        assert_eq!(load("small").unwrap().wavelet.tail_width, 32);
        assert_eq!(load("tiny").unwrap().wavelet.width, 16);
        assert_eq!(load("tiny").unwrap().wavelet.tail_width, 8);
        let s = paper.sampler.unwrap();
        assert_eq!(
            (s.g_lr, s.d_lr, s.beta1, s.adam_eps),
            (1e-4, 4e-4, 0.0, 1e-6)
        );
        assert_eq!(
            s.biggan_deep,
            crate::nets::gan::GanConfig {
                n_classes: s.biggan_deep.n_classes,
                ..crate::nets::gan::GanConfig::paper(crate::nets::gan::Arch::BigGanDeep)
            }
        );
        assert_eq!(
            s.biggan,
            crate::nets::gan::GanConfig {
                n_classes: s.biggan.n_classes,
                ..crate::nets::gan::GanConfig::paper(crate::nets::gan::Arch::BigGan)
            }
        );
        for name in built_in_names() {
            let s = load(name).unwrap().sampler.unwrap();
            s.biggan.validate().unwrap();
            s.biggan_deep.validate().unwrap();
        }
    }

    #[test]
    fn unknown_preset_is_an_error() {
        let e = load("huge").unwrap_err();
        assert!(format!("{e:#}").contains("unknown preset"));
    }
}

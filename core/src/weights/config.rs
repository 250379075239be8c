//! Typed model configurations (`nsbg.config`) and their validation.
//!
//! The bounds below are far above any real model (the paper's is 64 → 256, width 512), but they keep a
//! hostile config from describing networks whose tensor lists or shapes overflow or exhaust memory: every
//! side, width and count derived from a valid config fits comfortably in a `usize` product.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::Deserialize;

use super::json::{nesting_exceeds, ObjectOnly};
use super::{ConfigError, Kind, WeightError, MAX_CONFIG_LEN, MAX_JSON_DEPTH};
use crate::wavelet::Extension;

/// Colour channels of every nsbg model.
pub const CHANNELS: usize = 3;
/// Largest image side a config may produce (`out_size`).
pub const MAX_SIDE: usize = 4096;
/// Smallest wavelet-decoder input side: the networks work on 32×32 subband patches.
pub const MIN_WAVELET_SIDE: usize = 32;
/// Most decoder levels in one file.
pub const MAX_LEVELS: usize = 8;
/// Largest `width`, `tail_width` and pixel `base`.
pub const MAX_WIDTH: usize = 4096;
/// Deepest wavelet UNet: `depth` 2×2 poolings of a 32×32 patch must leave at least one pixel.
pub const MAX_WAVELET_DEPTH: usize = 5;
/// Deepest pixel UNet.
pub const MAX_PIXEL_DEPTH: usize = 8;
/// Most channels inside a pixel UNet (`base·2^depth`, the widest `up` input).
pub const MAX_PIXEL_CHANNELS: usize = 8192;
/// Side of the subband patches the wavelet networks see.
const PATCH: usize = 32;
/// Smallest accepted `bn_eps`: inference computes in f32, where a smaller epsilon rounds to zero and a
/// zero variance would then divide by zero.
const MIN_BN_EPS: f64 = f32::MIN_POSITIVE as f64;
/// Largest accepted `bn_eps`; anything larger is not a BatchNorm epsilon.
const MAX_BN_EPS: f64 = 1.0;
/// The epsilon PyTorch's BatchNorm uses by default, used by the convenience constructors.
const DEFAULT_BN_EPS: f64 = 1e-5;

/// Configuration of a `wavelet-decoder` file.
#[derive(Clone, Debug, PartialEq)]
pub struct WaveletDecoderConfig {
    /// Side of the low band taken by level 1 (64).
    pub in_size: usize,
    /// Side of the image returned by the last level (`in_size·2^levels`).
    pub out_size: usize,
    /// Colour channels (3).
    pub channels: usize,
    /// Border extension the networks were trained with.
    pub extension: Extension,
    /// BatchNorm epsilon.
    pub bn_eps: f64,
    /// One entry per level, level 1 first.
    pub levels: Vec<WaveletLevelConfig>,
}

/// One wavelet-decoder level: `UNet_NTail(n_in, n_tails, width, depth)` with tails of `tail_width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct WaveletLevelConfig {
    /// Input channels, 3·(s/32)² for input side s.
    pub n_in: usize,
    /// Tails (one per output patch), 3·(s/32)².
    pub n_tails: usize,
    /// UNet width.
    pub width: usize,
    /// Number of down (and up) blocks.
    pub depth: usize,
    /// Hidden width of each tail.
    pub tail_width: usize,
}

/// Configuration of a `pixel-decoder` (NSBG-PIXEL) file.
#[derive(Clone, Debug, PartialEq)]
pub struct PixelDecoderConfig {
    /// Side of the image taken by level 1.
    pub in_size: usize,
    /// Side of the image returned by the last level (`in_size·2^levels`).
    pub out_size: usize,
    /// Colour channels (3).
    pub channels: usize,
    /// BatchNorm epsilon.
    pub bn_eps: f64,
    /// One entry per level, level 1 first.
    pub levels: Vec<PixelLevelConfig>,
}

/// One pixel-decoder level: a residual UNet of base width `base` and `depth` downs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PixelLevelConfig {
    /// Channels of the first block.
    pub base: usize,
    /// Number of down (and up) blocks.
    pub depth: usize,
}

/// The typed `nsbg.config` of a file.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ModelConfig {
    /// `nsbg.kind = "wavelet-decoder"`.
    WaveletDecoder(WaveletDecoderConfig),
    /// `nsbg.kind = "pixel-decoder"`.
    PixelDecoder(PixelDecoderConfig),
}

/// Channels of a side-`side` block tiled into 32×32 patches: 3·(side/32)².
fn patch_channels(side: usize) -> usize {
    let tiles = side / PATCH;
    CHANNELS.saturating_mul(tiles).saturating_mul(tiles)
}

/// `in_size << level` without overflow (saturating; validation rejects the result).
fn side_at(in_size: usize, level: usize) -> usize {
    u32::try_from(level)
        .ok()
        .and_then(|l| 1usize.checked_shl(l))
        .and_then(|f| in_size.checked_mul(f))
        .unwrap_or(usize::MAX)
}

/// The checks both decoder kinds share.
fn check_common(
    channels: usize,
    in_size: usize,
    min_side: usize,
    levels: usize,
    out_size: usize,
    bn_eps: f64,
) -> Result<(), ConfigError> {
    if channels != CHANNELS {
        return Err(ConfigError::Channels(channels));
    }
    if !in_size.is_power_of_two() || in_size < min_side || in_size > MAX_SIDE / 2 {
        return Err(ConfigError::InSize(in_size));
    }
    if levels == 0 || levels > MAX_LEVELS {
        return Err(ConfigError::LevelCount(levels));
    }
    let expected = side_at(in_size, levels);
    if expected > MAX_SIDE || out_size != expected {
        return Err(ConfigError::OutSize(out_size));
    }
    if !(bn_eps.is_finite() && (MIN_BN_EPS..=MAX_BN_EPS).contains(&bn_eps)) {
        return Err(ConfigError::BnEps);
    }
    Ok(())
}

impl WaveletDecoderConfig {
    /// `levels` identical levels (n_in and n_tails derived from the sides), `bn_eps` 1e-5, 3 channels.
    /// Not validated: call [`validate`](Self::validate) for user-supplied numbers.
    pub fn uniform(
        in_size: usize,
        levels: usize,
        width: usize,
        tail_width: usize,
        depth: usize,
        extension: Extension,
    ) -> Self {
        let levels: Vec<WaveletLevelConfig> = (0..levels)
            .map(|i| {
                let n = patch_channels(side_at(in_size, i));
                WaveletLevelConfig {
                    n_in: n,
                    n_tails: n,
                    width,
                    depth,
                    tail_width,
                }
            })
            .collect();
        WaveletDecoderConfig {
            in_size,
            out_size: side_at(in_size, levels.len()),
            channels: CHANNELS,
            extension,
            bn_eps: DEFAULT_BN_EPS,
            levels,
        }
    }

    /// The paper's decoder: 64 → 256, two levels, width 512, tail width 256, depth 3, symmetric.
    pub fn paper() -> Self {
        Self::uniform(64, 2, 512, 256, 3, Extension::Symmetric)
    }

    /// Side of the low band level `level` (1-based) takes.
    pub fn level_input_side(&self, level: usize) -> usize {
        side_at(self.in_size, level.saturating_sub(1))
    }

    /// Checks every rule of design.md for this config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_common(
            self.channels,
            self.in_size,
            MIN_WAVELET_SIDE,
            self.levels.len(),
            self.out_size,
            self.bn_eps,
        )?;
        for (i, l) in self.levels.iter().enumerate() {
            let level = i + 1;
            let expected = patch_channels(side_at(self.in_size, i));
            if l.n_in != expected {
                return Err(ConfigError::NIn {
                    level,
                    expected,
                    found: l.n_in,
                });
            }
            if l.n_tails != expected {
                return Err(ConfigError::NTails {
                    level,
                    expected,
                    found: l.n_tails,
                });
            }
            if !(1..=MAX_WIDTH).contains(&l.width) {
                return Err(ConfigError::Width {
                    level,
                    found: l.width,
                });
            }
            if !(1..=MAX_WIDTH).contains(&l.tail_width) {
                return Err(ConfigError::TailWidth {
                    level,
                    found: l.tail_width,
                });
            }
            if !(1..=MAX_WAVELET_DEPTH).contains(&l.depth) {
                return Err(ConfigError::Depth {
                    level,
                    found: l.depth,
                });
            }
        }
        Ok(())
    }
}

impl PixelDecoderConfig {
    /// `levels` identical levels, `bn_eps` 1e-5, 3 channels. Not validated.
    pub fn uniform(in_size: usize, levels: usize, base: usize, depth: usize) -> Self {
        PixelDecoderConfig {
            in_size,
            out_size: side_at(in_size, levels),
            channels: CHANNELS,
            bn_eps: DEFAULT_BN_EPS,
            levels: (0..levels)
                .map(|_| PixelLevelConfig { base, depth })
                .collect(),
        }
    }

    /// The NSBG-PIXEL baseline: 64 → 256, two levels, base 64, depth 4.
    pub fn paper() -> Self {
        Self::uniform(64, 2, 64, 4)
    }

    /// Side of the image level `level` (1-based) takes.
    pub fn level_input_side(&self, level: usize) -> usize {
        side_at(self.in_size, level.saturating_sub(1))
    }

    /// Checks every rule of design.md for this config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_common(
            self.channels,
            self.in_size,
            1,
            self.levels.len(),
            self.out_size,
            self.bn_eps,
        )?;
        for (i, l) in self.levels.iter().enumerate() {
            let level = i + 1;
            if !(1..=MAX_WIDTH).contains(&l.base) {
                return Err(ConfigError::Base {
                    level,
                    found: l.base,
                });
            }
            // The UNet runs on the ×2-upsampled input; each down block halves it with a 2×2 pool.
            let upsampled = side_at(self.in_size, level);
            let pool = side_at(1, l.depth);
            let widest = side_at(l.base, l.depth);
            if !(1..=MAX_PIXEL_DEPTH).contains(&l.depth)
                || !upsampled.is_multiple_of(pool)
                || widest > MAX_PIXEL_CHANNELS
            {
                return Err(ConfigError::Depth {
                    level,
                    found: l.depth,
                });
            }
        }
        Ok(())
    }
}

impl ModelConfig {
    /// The file kind this config belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            ModelConfig::WaveletDecoder(_) => Kind::WaveletDecoder,
            ModelConfig::PixelDecoder(_) => Kind::PixelDecoder,
        }
    }

    /// Checks every rule of design.md for this config.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            ModelConfig::WaveletDecoder(c) => c.validate(),
            ModelConfig::PixelDecoder(c) => c.validate(),
        }
    }

    /// Side of the input of level 1.
    pub fn in_size(&self) -> usize {
        match self {
            ModelConfig::WaveletDecoder(c) => c.in_size,
            ModelConfig::PixelDecoder(c) => c.in_size,
        }
    }

    /// Side of the output of the last level.
    pub fn out_size(&self) -> usize {
        match self {
            ModelConfig::WaveletDecoder(c) => c.out_size,
            ModelConfig::PixelDecoder(c) => c.out_size,
        }
    }

    /// Colour channels.
    pub fn channels(&self) -> usize {
        match self {
            ModelConfig::WaveletDecoder(c) => c.channels,
            ModelConfig::PixelDecoder(c) => c.channels,
        }
    }

    /// Number of levels.
    pub fn level_count(&self) -> usize {
        match self {
            ModelConfig::WaveletDecoder(c) => c.levels.len(),
            ModelConfig::PixelDecoder(c) => c.levels.len(),
        }
    }

    /// BatchNorm epsilon.
    pub fn bn_eps(&self) -> f64 {
        match self {
            ModelConfig::WaveletDecoder(c) => c.bn_eps,
            ModelConfig::PixelDecoder(c) => c.bn_eps,
        }
    }

    /// The wavelet extension mode (`None` for the pixel decoder, which works on pixels).
    pub fn extension(&self) -> Option<Extension> {
        match self {
            ModelConfig::WaveletDecoder(c) => Some(c.extension),
            ModelConfig::PixelDecoder(_) => None,
        }
    }

    /// The `nsbg.config` JSON string of this config (compact, keys sorted).
    pub fn to_json(&self) -> String {
        let value = match self {
            ModelConfig::WaveletDecoder(c) => serde_json::json!({
                "in_size": c.in_size,
                "out_size": c.out_size,
                "channels": c.channels,
                "extension": c.extension.name(),
                "bn_eps": c.bn_eps,
                "levels": c.levels.iter().map(|l| serde_json::json!({
                    "n_in": l.n_in,
                    "n_tails": l.n_tails,
                    "width": l.width,
                    "depth": l.depth,
                    "tail_width": l.tail_width,
                })).collect::<Vec<_>>(),
            }),
            ModelConfig::PixelDecoder(c) => serde_json::json!({
                "in_size": c.in_size,
                "out_size": c.out_size,
                "channels": c.channels,
                "bn_eps": c.bn_eps,
                "levels": c.levels.iter().map(|l| serde_json::json!({
                    "base": l.base,
                    "depth": l.depth,
                })).collect::<Vec<_>>(),
            }),
        };
        value.to_string()
    }
}

/// Reads and validates the `nsbg.config` string of a file of kind `kind`.
pub(crate) fn parse_config(kind: Kind, text: &str) -> Result<ModelConfig, WeightError> {
    if text.len() > MAX_CONFIG_LEN {
        return Err(ConfigError::TooLarge.into());
    }
    if nesting_exceeds(text, MAX_JSON_DEPTH) {
        return Err(ConfigError::TooDeep.into());
    }
    let json = |e: serde_json::Error| ConfigError::Json(e.to_string());
    let config = match kind {
        Kind::WaveletDecoder => {
            let ObjectOnly(raw) =
                serde_json::from_str::<ObjectOnly<RawWavelet>>(text).map_err(json)?;
            ModelConfig::WaveletDecoder(raw.into_config()?)
        }
        Kind::PixelDecoder => {
            let ObjectOnly(raw) =
                serde_json::from_str::<ObjectOnly<RawPixel>>(text).map_err(json)?;
            ModelConfig::PixelDecoder(raw.into_config())
        }
        Kind::Generator => return Err(WeightError::UnsupportedKind(kind.name().into())),
    };
    config.validate()?;
    Ok(config)
}

/// A JSON integer as `usize`; values beyond `usize` become `usize::MAX`, which every bound rejects.
fn sat(x: u64) -> usize {
    usize::try_from(x).unwrap_or(usize::MAX)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWavelet {
    in_size: u64,
    out_size: u64,
    channels: u64,
    extension: String,
    bn_eps: f64,
    levels: Vec<ObjectOnly<RawWaveletLevel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaveletLevel {
    n_in: u64,
    n_tails: u64,
    width: u64,
    depth: u64,
    tail_width: u64,
}

impl RawWavelet {
    fn into_config(self) -> Result<WaveletDecoderConfig, ConfigError> {
        let extension =
            Extension::from_name(&self.extension).ok_or(ConfigError::Extension(self.extension))?;
        Ok(WaveletDecoderConfig {
            in_size: sat(self.in_size),
            out_size: sat(self.out_size),
            channels: sat(self.channels),
            extension,
            bn_eps: self.bn_eps,
            levels: self
                .levels
                .into_iter()
                .map(|ObjectOnly(l)| WaveletLevelConfig {
                    n_in: sat(l.n_in),
                    n_tails: sat(l.n_tails),
                    width: sat(l.width),
                    depth: sat(l.depth),
                    tail_width: sat(l.tail_width),
                })
                .collect(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPixel {
    in_size: u64,
    out_size: u64,
    channels: u64,
    bn_eps: f64,
    levels: Vec<ObjectOnly<RawPixelLevel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPixelLevel {
    base: u64,
    depth: u64,
}

impl RawPixel {
    fn into_config(self) -> PixelDecoderConfig {
        PixelDecoderConfig {
            in_size: sat(self.in_size),
            out_size: sat(self.out_size),
            channels: sat(self.channels),
            bn_eps: self.bn_eps,
            levels: self
                .levels
                .into_iter()
                .map(|ObjectOnly(l)| PixelLevelConfig {
                    base: sat(l.base),
                    depth: sat(l.depth),
                })
                .collect(),
        }
    }
}

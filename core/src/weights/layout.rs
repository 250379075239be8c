//! The tensors a config requires (names and shapes of design.md's tables) and its parameter count.
//!
//! One generator, [`for_each_tensor`], serves the parser (which stops at the first missing tensor, so a
//! hostile config cannot make it build a long list), the writer, [`ModelConfig::required_tensors`] and
//! the parameter counts, so they cannot disagree.

use alloc::string::String;
use alloc::vec::Vec;
use core::convert::Infallible;
use core::fmt::{self, Write as _};

use super::config::{PixelDecoderConfig, WaveletDecoderConfig, CHANNELS};
use super::ModelConfig;

/// Name and shape of one tensor a config requires.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    /// Full tensor name, e.g. `level1.inc.conv1.weight`.
    pub name: String,
    /// Shape, e.g. `[512, 12, 3, 3]`.
    pub shape: Vec<usize>,
}

/// The four tensors of every BatchNorm, in PyTorch's state-dict order.
const BN_PARAMS: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

/// Whether a tensor is a BatchNorm running statistic (a buffer, not a parameter).
pub(crate) fn is_running_stat(name: &str) -> bool {
    name.ends_with(".running_mean") || name.ends_with(".running_var")
}

/// A network block: the second component of every tensor name.
#[derive(Clone, Copy)]
enum Block {
    Inc,
    Down(usize),
    Up(usize),
    Tail(usize),
    Outc,
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Block::Inc => f.write_str("inc"),
            Block::Down(i) => write!(f, "down{i}"),
            Block::Up(i) => write!(f, "up{i}"),
            Block::Tail(j) => write!(f, "tail{j}"),
            Block::Outc => f.write_str("outc"),
        }
    }
}

type Visit<'f, E> = &'f mut dyn FnMut(&str, &[usize]) -> Result<(), E>;

/// Builds names in one reused buffer and hands each (name, shape) to the visitor.
struct Emitter<'f, E> {
    level: usize,
    name: String,
    visit: Visit<'f, E>,
}

impl<E> Emitter<'_, E> {
    fn emit(&mut self, block: Block, leaf: fmt::Arguments<'_>, shape: &[usize]) -> Result<(), E> {
        self.name.clear();
        // Writing into a String cannot fail.
        let _ = write!(self.name, "level{}.{block}.{leaf}", self.level);
        (self.visit)(&self.name, shape)
    }

    /// `conv{n}`: a 3×3 convolution with bias.
    fn conv(&mut self, block: Block, n: u8, out: usize, inp: usize) -> Result<(), E> {
        self.emit(block, format_args!("conv{n}.weight"), &[out, inp, 3, 3])?;
        self.emit(block, format_args!("conv{n}.bias"), &[out])
    }

    /// `bn{n}`: a BatchNorm over `c` channels.
    fn bn(&mut self, block: Block, n: u8, c: usize) -> Result<(), E> {
        for p in BN_PARAMS {
            self.emit(block, format_args!("bn{n}.{p}"), &[c])?;
        }
        Ok(())
    }

    /// DoubleConv: conv1 (inp → mid) + bn1, conv2 (mid → out) + bn2.
    fn double_conv(&mut self, block: Block, inp: usize, mid: usize, out: usize) -> Result<(), E> {
        self.conv(block, 1, mid, inp)?;
        self.bn(block, 1, mid)?;
        self.conv(block, 2, out, mid)?;
        self.bn(block, 2, out)
    }

    fn wavelet_level(&mut self, c: &WaveletDecoderConfig) -> Result<(), E> {
        let Some(l) = c.levels.get(self.level.wrapping_sub(1)) else {
            return Ok(());
        };
        let w = l.width;
        self.double_conv(Block::Inc, l.n_in, w, w)?;
        for i in 1..=l.depth {
            self.double_conv(Block::Down(i), w, w, w)?;
        }
        for i in 1..=l.depth {
            // Input = concat(skip, upsampled).
            self.double_conv(Block::Up(i), w.saturating_mul(2), w, w)?;
        }
        for j in 0..l.n_tails {
            self.conv(Block::Tail(j), 1, l.tail_width, w)?;
            self.bn(Block::Tail(j), 1, l.tail_width)?;
            self.conv(Block::Tail(j), 2, CHANNELS, l.tail_width)?;
        }
        Ok(())
    }

    fn pixel_level(&mut self, c: &PixelDecoderConfig) -> Result<(), E> {
        let Some(l) = c.levels.get(self.level.wrapping_sub(1)) else {
            return Ok(());
        };
        let (b, depth) = (l.base, l.depth);
        // b·2^k, saturating so that an unvalidated config cannot overflow.
        let wide = |k: usize| {
            u32::try_from(k)
                .ok()
                .and_then(|k| b.checked_shl(k))
                .filter(|v| v >> k == b)
                .unwrap_or(usize::MAX)
        };
        self.double_conv(Block::Inc, CHANNELS, b, b)?;
        for i in 1..=depth {
            let inp = wide(i - 1);
            let out = if i < depth { wide(i) } else { inp };
            self.double_conv(Block::Down(i), inp, out, out)?;
        }
        for i in 1..=depth {
            let inp = wide(depth - i).saturating_mul(2);
            let out = if i < depth { wide(depth - i - 1) } else { b };
            self.double_conv(Block::Up(i), inp, inp / 2, out)?;
        }
        self.emit(Block::Outc, format_args!("weight"), &[CHANNELS, b, 3, 3])?;
        self.emit(Block::Outc, format_args!("bias"), &[CHANNELS])
    }
}

/// Calls `visit(name, shape)` for every tensor of level `level` (1-based; nothing for other levels), in
/// network order, and stops at the first error.
pub(crate) fn for_each_level_tensor<E>(
    config: &ModelConfig,
    level: usize,
    visit: Visit<'_, E>,
) -> Result<(), E> {
    let mut emitter = Emitter {
        level,
        name: String::new(),
        visit,
    };
    match config {
        ModelConfig::WaveletDecoder(c) => emitter.wavelet_level(c),
        ModelConfig::PixelDecoder(c) => emitter.pixel_level(c),
    }
}

/// Calls `visit(name, shape)` for every tensor the config requires, level by level, in network order,
/// and stops at the first error.
pub(crate) fn for_each_tensor<E>(config: &ModelConfig, visit: Visit<'_, E>) -> Result<(), E> {
    for level in 1..=config.level_count() {
        for_each_level_tensor(config, level, &mut *visit)?;
    }
    Ok(())
}

/// Elements of a tensor of this shape, saturating.
fn elements(shape: &[usize]) -> u64 {
    shape.iter().fold(1u64, |n, &d| n.saturating_mul(d as u64))
}

impl ModelConfig {
    /// Every tensor a file of this config must contain (and no other), in network order.
    ///
    /// Meant for validated configs (the writer, tests, building random models): the list of an absurd
    /// config is absurdly long.
    pub fn required_tensors(&self) -> Vec<TensorSpec> {
        let mut out = Vec::new();
        let _ = for_each_tensor::<Infallible>(self, &mut |name, shape| {
            out.push(TensorSpec {
                name: name.into(),
                shape: shape.to_vec(),
            });
            Ok(())
        });
        out
    }

    /// Trainable parameters of level `level` (1-based): convolution weights and biases, BatchNorm weights
    /// and biases; running statistics are buffers and do not count. `None` for a level the config lacks.
    pub fn level_parameter_count(&self, level: usize) -> Option<u64> {
        if level == 0 || level > self.level_count() {
            return None;
        }
        let mut total = 0u64;
        let _ = for_each_level_tensor::<Infallible>(self, level, &mut |name, shape| {
            if !is_running_stat(name) {
                total = total.saturating_add(elements(shape));
            }
            Ok(())
        });
        Some(total)
    }

    /// Trainable parameters of all levels (see [`level_parameter_count`](Self::level_parameter_count)).
    pub fn parameter_count(&self) -> u64 {
        (1..=self.level_count())
            .filter_map(|l| self.level_parameter_count(l))
            .fold(0u64, u64::saturating_add)
    }
}

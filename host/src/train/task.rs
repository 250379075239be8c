//! What one training run learns: samples, loss, and how a network output becomes the level's output.
//!
//! * Wavelet level k (input side s): input `tile(LL)` `[3·(s/32)²][32][32]`, target the three detail
//!   bands of side s tiled the same way (`[3·3·(s/32)²][32][32]`); loss = Σ over tails of the MSE of
//!   that tail's 3 channels = n_tails × MSE (paper-notes §2.5).
//! * Pixel level k: input the image at side s, target the image at side 2s (box downsampling of the
//!   256 image); loss = summed (or mean) squared error of `u + UNet(u)` against the target, i.e. of
//!   the residual against `target − u` (paper-notes §2.8).

use std::sync::Arc;

use anyhow::{Context, Result};
use nsbg_core::decoder::Decoder;
use nsbg_core::wavelet::Extension;
use tch::{Device, Kind, Tensor};

use super::config::{Level2Input, Network, PixelLoss, RunConfig};

/// Where a training run computes the wavelet transform and tiling of its batches (`--data-transform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DataTransform {
    /// On the training device when it is CUDA, else in the loader threads with nsbg-core.
    #[default]
    Auto,
    /// Always nsbg-core in the loader threads.
    Core,
    /// Always tensor ops on the training device (also on the CPU: used to test the path).
    Device,
}
use crate::data::loader::MakeSample;
use crate::data::{par_map, Dataset};
use crate::nets::tensor_from;
use crate::subbands::{self, Packed, C};

pub struct Task {
    pub network: Network,
    pub level: u32,
    /// Image side.
    pub n: usize,
    /// Input side of this level.
    pub s: usize,
    pub ext: Extension,
    pub pixel_loss: PixelLoss,
    pub n_tails: usize,
    /// Wavelet levels: the loader delivers raw images and [`Self::batch_tensors`] computes the
    /// transform and tilings on the training device with `gpu::dwt` (see [`Self::device_transform`]).
    pub device_transform: bool,
}

/// Per-item level inputs computed once (chained level-2 training: the level-1 decoder's LL1).
pub type Precomputed = Option<Arc<Vec<Vec<f32>>>>;

impl Task {
    pub fn new(cfg: &RunConfig) -> Result<Task> {
        Ok(Task {
            network: cfg.network,
            level: cfg.level,
            n: cfg.image_size,
            s: cfg.input_side(),
            ext: cfg.ext()?,
            pixel_loss: cfg.pixel_loss,
            n_tails: cfg.patch_channels(),
            device_transform: false,
        })
    }

    /// Whether a training run should compute its wavelet inputs on the device: `auto` does on CUDA
    /// (the transform of a whole batch is then a few fused kernels instead of per-image CPU work in
    /// the loader threads), `core`/`device` force either path. Chained level-2 inputs come from the
    /// level-1 decoder (nsbg-core) and pixel levels need no transform, so those always use the loader.
    pub fn wants_device_transform(cfg: &RunConfig, mode: DataTransform, device: Device) -> bool {
        let possible = cfg.network == Network::Wavelet && !needs_chained(cfg);
        possible
            && match mode {
                DataTransform::Auto => device.is_cuda(),
                DataTransform::Core => false,
                DataTransform::Device => true,
            }
    }

    /// Batch tensors for training: [`Self::tensors`], or with [`Self::device_transform`] the loader's
    /// raw `[len][3][n][n]` images transformed and tiled on `device`.
    pub fn batch_tensors(
        &self,
        x: &[f32],
        y: &[f32],
        len: usize,
        device: Device,
    ) -> Result<(Tensor, Tensor)> {
        if !self.device_transform {
            return Ok(self.tensors(x, y, len, device));
        }
        let images = tensor_from(x, &[len, C, self.n, self.n], device);
        self.wavelet_tensors(&images)
    }

    /// Network input and target of a batch of images `[B][3][n][n]`, computed with tensor ops
    /// (`gpu::dwt`): the same values as [`Self::make_sample`]'s nsbg-core path within f32 rounding.
    pub fn wavelet_tensors(&self, images: &Tensor) -> Result<(Tensor, Tensor)> {
        use crate::gpu::dwt;
        let packed = dwt::dwt2(images, subbands::LEVELS, self.ext)?;
        let s = self.s as i64;
        let block = |y0: i64, x0: i64| packed.narrow(-2, y0, s).narrow(-1, x0, s);
        let low = if self.level == 1 {
            block(0, 0)
        } else {
            dwt::idwt2(&block(0, 0), self.level - 1, self.ext)?
        };
        let x = dwt::tile(&low, self.ext)?;
        let bands = [block(0, s), block(s, 0), block(s, s)]
            .iter()
            .map(|b| dwt::tile(b, self.ext))
            .collect::<Result<Vec<_>>>()?;
        Ok((x, Tensor::cat(&bands, 1)))
    }

    /// What the training loader builds per item: raw images for the device transform, else
    /// [`Self::make_sample`].
    pub fn make_train_sample(&self, pre: Precomputed) -> Arc<MakeSample> {
        if self.device_transform {
            Arc::new(|ds: &Dataset, i: usize| -> Result<(Vec<f32>, Vec<f32>)> {
                Ok((ds.image(i)?, Vec::new()))
            })
        } else {
            self.make_sample(pre)
        }
    }

    /// Shape of one input sample (without the batch dimension).
    pub fn x_shape(&self) -> [usize; 3] {
        match self.network {
            Network::Wavelet => [self.n_tails, 32, 32],
            Network::Pixel => [C, self.s, self.s],
        }
    }

    pub fn y_shape(&self) -> [usize; 3] {
        match self.network {
            Network::Wavelet => [3 * self.n_tails, 32, 32],
            Network::Pixel => [C, 2 * self.s, 2 * self.s],
        }
    }

    /// Batch tensors from host values.
    pub fn tensors(&self, x: &[f32], y: &[f32], len: usize, device: Device) -> (Tensor, Tensor) {
        let [a, b, c] = self.x_shape();
        let [d, e, f] = self.y_shape();
        (
            tensor_from(x, &[len, a, b, c], device),
            tensor_from(y, &[len, d, e, f], device),
        )
    }

    /// The training loss of a batch.
    pub fn loss(&self, pred: &Tensor, y: &Tensor) -> Tensor {
        match self.network {
            Network::Wavelet => pred.mse_loss(y, tch::Reduction::Mean) * self.n_tails as f64,
            Network::Pixel => match self.pixel_loss {
                PixelLoss::Sum => (pred - y).square().sum(Kind::Float),
                PixelLoss::Mean => pred.mse_loss(y, tch::Reduction::Mean),
            },
        }
    }

    /// Loss normalised to be independent of the batch size (for curves and validation).
    pub fn loss_per_batch_item(&self, loss: f64, len: usize) -> f64 {
        match (self.network, self.pixel_loss) {
            (Network::Pixel, PixelLoss::Sum) => loss / len as f64,
            _ => loss,
        }
    }

    /// The function the data loader runs per item.
    pub fn make_sample(&self, pre: Precomputed) -> Arc<MakeSample> {
        let (network, level, n, s, ext) = (self.network, self.level, self.n, self.s, self.ext);
        Arc::new(
            move |ds: &Dataset, i: usize| -> Result<(Vec<f32>, Vec<f32>)> {
                let image = ds.image(i)?;
                match network {
                    Network::Wavelet => {
                        let packed = Packed::analyze(&image, n, ext)?;
                        let low = match &pre {
                            Some(lows) => lows[i].clone(),
                            None => packed.low(level)?,
                        };
                        let x = subbands::tile(&low, s, ext)?;
                        let y = subbands::tile_bands(&packed.details(level), s, ext)?;
                        Ok((x, y))
                    }
                    Network::Pixel => {
                        let down = subbands::LEVELS - level; // halvings from the image to the target
                        let target = subbands::downsample(&image, n, down);
                        let x = subbands::halve(&target, 2 * s);
                        Ok((x, target))
                    }
                }
            },
        )
    }

    /// Level output (`[3][2s][2s]`: LL of the next level, or the image) of one sample, from its input
    /// and a network output (prediction or target). For wavelet levels this is the untiling and one
    /// inverse level on the CPU (nsbg-core); for pixel levels the network output already is the image.
    pub fn level_output(&self, x: &[f32], out: &[f32]) -> Result<Vec<f32>> {
        match self.network {
            Network::Wavelet => {
                let low = subbands::untile(x, self.s, self.ext)?;
                let bands = subbands::untile_bands(out, self.s, self.ext)?;
                subbands::synthesize_level(&low, &bands, self.s, self.ext)
            }
            Network::Pixel => Ok(out.to_vec()),
        }
    }

    /// The level input as a picture-ready `[3][s][s]` block (untiled for wavelet levels).
    pub fn level_input(&self, x: &[f32]) -> Result<Vec<f32>> {
        match self.network {
            Network::Wavelet => subbands::untile(x, self.s, self.ext),
            Network::Pixel => Ok(x.to_vec()),
        }
    }

    /// Factor that maps this level's input values to [0, 1] pixels (a low band of side n/2^j is
    /// ≈ 2^j × the image): the input, then the output.
    pub fn display_scales(&self) -> (f32, f32) {
        match self.network {
            Network::Wavelet => {
                let j_in = (self.n / self.s).trailing_zeros();
                (1.0 / (1u32 << j_in) as f32, 2.0 / (1u32 << j_in) as f32)
            }
            Network::Pixel => (1.0, 1.0),
        }
    }
}

/// The level-1 decoder's LL1 for every item of a dataset (chained level-2 inputs), with nsbg-core.
pub fn chained_inputs(
    cfg: &RunConfig,
    decoder: &Decoder,
    ds: &Dataset,
    workers: usize,
) -> Result<Arc<Vec<Vec<f32>>>> {
    let info = decoder.info();
    let ext = cfg.ext()?;
    anyhow::ensure!(
        info.kind == nsbg_core::weights::Kind::WaveletDecoder
            && info.in_size == subbands::level_side(cfg.image_size, 1),
        "--level1-weights must be a wavelet decoder whose level 1 takes {}x{} low bands",
        subbands::level_side(cfg.image_size, 1),
        subbands::level_side(cfg.image_size, 1)
    );
    anyhow::ensure!(
        info.extension == ext,
        "--level1-weights was trained with extension {}, this run uses {}",
        info.extension.name(),
        ext.name()
    );
    let n = cfg.image_size;
    let lows = par_map(ds.len(), workers, |i| -> Result<Vec<f32>> {
        let packed = Packed::analyze(&ds.image(i)?, n, ext)?;
        let low = packed.low(1)?;
        let (_, out_len) = decoder.level_lengths(1)?;
        let mut out = vec![0f32; out_len];
        let mut ws = decoder.workspace()?;
        decoder
            .decode_level(1, &low, &mut out, &mut ws)
            .context("level-1 decode failed")?;
        Ok(out)
    });
    Ok(Arc::new(lows.into_iter().collect::<Result<Vec<_>>>()?))
}

/// Whether this run needs precomputed level inputs.
pub fn needs_chained(cfg: &RunConfig) -> bool {
    cfg.network == Network::Wavelet && cfg.level == 2 && cfg.level2_input == Level2Input::Chained
}

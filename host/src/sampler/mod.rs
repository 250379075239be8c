//! The sampler (issue 5): training BigGAN / BigGAN-deep on 64×64 wavelet low bands (or pixels),
//! sampling images through the decoders, the shipped default generator, and the `demo` pipeline.
//!
//! * [`data`]: the training examples (crop-resize → LL2, normalised; or 64×64 pixels);
//! * [`truncation`]: seeded z, truncation by scaling or resampling;
//! * [`train`]: `train-sampler` (hinge loss, TTUR Adam, accumulation, EMA, rollback, exact resume);
//! * [`sample`]: `sample` (G_ema → decoders → PNGs, grid, safetensors);
//! * [`export`]: generator weight files (reads/writes through the GAN module's format);
//! * [`demo`]: every network trained tiny from scratch, then sampled.

pub mod args;
pub mod config;
pub mod data;
pub mod demo;
pub mod export;
pub mod sample;
pub mod train;
pub mod truncation;

//! The level pipeline of design.md §Data flow, on top of the weight file and the networks:
//! low band (side s) → `tile` → network → `untile` the three detail bands → one IDWT level → low band
//! (side 2s), two levels from 64×64 to 256×256. The pixel baseline (NSBG-PIXEL) runs its residual UNet
//! per level instead.
//!
//! A [`Decoder`] is immutable once loaded (BatchNorm folded into the convolutions), so one decoder can
//! serve many threads; each call brings its own [`DecodeWorkspace`], which holds every buffer a decode
//! needs, so decoding allocates nothing.

use crate::nn::{self, NnError, PixelNet, PixelShape, TensorSource, UNetShape, WaveletNet};
use crate::tiling::{self, PATCH};
use crate::wavelet::{self, Extension};
use crate::weights::{self, ErrorCategory, Kind, ModelConfig, WeightError, WeightFile};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Why a decoder could not be loaded or run.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DecoderError {
    /// The weight file was rejected.
    Weights(WeightError),
    /// A network refused its weights (e.g. a BatchNorm variance that folds to a non-positive scale).
    Network(NnError),
    /// The transform or tiling refused a size (a bug if it ever happens after loading).
    Wavelet(crate::Error),
    /// `level` is not between 1 and the number of levels in the file.
    NoSuchLevel(u32),
    /// An input buffer has the wrong length.
    InputLength {
        /// elements needed
        needed: usize,
        /// elements given
        got: usize,
    },
    /// An output buffer has the wrong length.
    OutputLength {
        /// elements needed
        needed: usize,
        /// elements given
        got: usize,
    },
    /// The workspace was made by another decoder.
    WorkspaceMismatch,
}

impl DecoderError {
    /// How the C ABI reports it.
    pub fn category(&self) -> ErrorCategory {
        match self {
            DecoderError::Weights(e) => e.category(),
            // A file whose numbers make a network impossible is a malformed file.
            DecoderError::Network(_) => ErrorCategory::Format,
            DecoderError::InputLength { .. }
            | DecoderError::OutputLength { .. }
            | DecoderError::NoSuchLevel(_)
            | DecoderError::WorkspaceMismatch
            | DecoderError::Wavelet(_) => ErrorCategory::InvalidArgument,
        }
    }

    /// True for wrong buffer lengths (the C ABI's `NSBG_ERR_BUFFER_SIZE`).
    pub fn is_buffer_size(&self) -> bool {
        matches!(
            self,
            DecoderError::InputLength { .. } | DecoderError::OutputLength { .. }
        )
    }
}

impl fmt::Display for DecoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecoderError::Weights(e) => write!(f, "weight file: {e}"),
            DecoderError::Network(e) => write!(f, "network: {e}"),
            DecoderError::Wavelet(e) => write!(f, "transform: {e}"),
            DecoderError::NoSuchLevel(l) => write!(f, "level {l} does not exist in this model"),
            DecoderError::InputLength { needed, got } => {
                write!(f, "input holds {got} values, the call needs {needed}")
            }
            DecoderError::OutputLength { needed, got } => {
                write!(f, "output holds {got} values, the call needs {needed}")
            }
            DecoderError::WorkspaceMismatch => write!(f, "workspace belongs to another decoder"),
        }
    }
}

impl core::error::Error for DecoderError {}

impl From<WeightError> for DecoderError {
    fn from(e: WeightError) -> Self {
        DecoderError::Weights(e)
    }
}
impl From<NnError> for DecoderError {
    fn from(e: NnError) -> Self {
        DecoderError::Network(e)
    }
}
impl From<crate::Error> for DecoderError {
    fn from(e: crate::Error) -> Self {
        DecoderError::Wavelet(e)
    }
}

/// What a loaded model is (the C ABI's `nsbg_model_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderInfo {
    /// Wavelet (NSBG) or pixel (NSBG-PIXEL) decoder.
    pub kind: Kind,
    /// Weight file format version.
    pub format_version: u32,
    /// Number of decoder levels.
    pub levels: u32,
    /// Side of the input (64).
    pub in_size: usize,
    /// Side of the output image (256).
    pub out_size: usize,
    /// Colour channels (3).
    pub channels: usize,
    /// Extension the wavelet networks were trained with (`Symmetric` for pixel decoders, which use none).
    pub extension: Extension,
    /// Number of weights (convolutions and BatchNorm affine parameters).
    pub parameters: u64,
}

/// Reads tensors of a validated weight file, widening F16/BF16 to f32.
struct FileSource<'f, 'a>(&'f WeightFile<'a>);

impl TensorSource for FileSource<'_, '_> {
    fn tensor(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)> {
        let t = self.0.tensor(name)?;
        Some((t.shape().to_vec(), t.to_f32_vec().ok()?))
    }
}

enum Nets {
    Wavelet(Vec<WaveletNet>),
    Pixel(Vec<PixelNet>),
}

/// A loaded decoder (wavelet or pixel), ready to decode from any number of threads.
pub struct Decoder {
    info: DecoderInfo,
    nets: Nets,
    id: usize,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Every buffer one decode call needs. Make one per thread with [`Decoder::workspace`].
#[derive(Debug)]
pub struct DecodeWorkspace {
    owner: usize,
    nets: Vec<nn::Workspace>,
    /// tiles in, network out, three bands, the level-1 output during a full decode
    tiles: Vec<f32>,
    net_out: Vec<f32>,
    bands: Vec<f32>,
    middle: Vec<f32>,
    tile_scratch: Vec<f32>,
    plane: Vec<f32>,
    dwt_scratch: Vec<f32>,
}

impl DecodeWorkspace {
    /// Bytes this workspace holds (the peak memory of a decode beyond the model itself).
    pub fn bytes(&self) -> usize {
        let floats = self.tiles.len()
            + self.net_out.len()
            + self.bands.len()
            + self.middle.len()
            + self.tile_scratch.len()
            + self.plane.len()
            + self.dwt_scratch.len();
        floats * 4 + self.nets.iter().map(nn::Workspace::bytes).sum::<usize>()
    }
}

fn next_id() -> usize {
    // usize atomics exist on every target with atomics (32-bit microcontrollers lack 64-bit ones).
    use core::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Decoder {
    /// Parses, validates and loads a weight file held in memory (nothing borrowed afterwards).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecoderError> {
        Self::from_file(&weights::parse(bytes)?)
    }

    /// Loads an already parsed weight file.
    pub fn from_file(file: &WeightFile<'_>) -> Result<Self, DecoderError> {
        let src = FileSource(file);
        let config = file.config();
        let (nets, extension) = match config {
            ModelConfig::WaveletDecoder(c) => {
                let mut nets = Vec::with_capacity(c.levels.len());
                for (k, l) in c.levels.iter().enumerate() {
                    let shape = UNetShape {
                        n_in: l.n_in,
                        n_tails: l.n_tails,
                        width: l.width,
                        depth: l.depth,
                        tail_width: l.tail_width,
                    };
                    let prefix = level_prefix(k + 1);
                    nets.push(WaveletNet::load(&src, &prefix, &shape, c.bn_eps as f32)?);
                }
                (Nets::Wavelet(nets), c.extension)
            }
            ModelConfig::PixelDecoder(c) => {
                let mut nets = Vec::with_capacity(c.levels.len());
                for (k, l) in c.levels.iter().enumerate() {
                    let shape = PixelShape {
                        base: l.base,
                        depth: l.depth,
                    };
                    let prefix = level_prefix(k + 1);
                    let opts = nn::LoadOptions::for_side((2 * config.in_size()) << k);
                    nets.push(PixelNet::load_with(
                        &src,
                        &prefix,
                        &shape,
                        c.bn_eps as f32,
                        &opts,
                    )?);
                }
                (Nets::Pixel(nets), Extension::Symmetric)
            }
            #[allow(unreachable_patterns)]
            _ => return Err(WeightError::UnsupportedKind(file.kind().name().into()).into()),
        };
        let info = DecoderInfo {
            kind: file.kind(),
            format_version: file.format_version(),
            levels: config.level_count() as u32,
            in_size: config.in_size(),
            out_size: config.out_size(),
            channels: config.channels(),
            extension,
            parameters: file.parameter_count(),
        };
        Ok(Decoder {
            info,
            nets,
            id: next_id(),
        })
    }

    /// What this model is.
    pub fn info(&self) -> DecoderInfo {
        self.info
    }

    /// Threads each network uses per call (1 by default; more needs the `std` feature).
    pub fn set_threads(&mut self, threads: usize) {
        match &mut self.nets {
            Nets::Wavelet(n) => n.iter_mut().for_each(|n| n.set_threads(threads)),
            Nets::Pixel(n) => n.iter_mut().for_each(|n| n.set_threads(threads)),
        }
        self.id = next_id(); // existing workspaces were sized for the old thread count
    }

    /// Input side of `level` (1-based): `in_size · 2^(level−1)`.
    fn side(&self, level: u32) -> usize {
        self.info.in_size << (level - 1)
    }

    /// Element counts `(input, output)` of [`Self::decode_level`] for `level`.
    pub fn level_lengths(&self, level: u32) -> Result<(usize, usize), DecoderError> {
        if level == 0 || level > self.info.levels {
            return Err(DecoderError::NoSuchLevel(level));
        }
        let s = self.side(level);
        let c = self.info.channels;
        Ok((c * s * s, c * 4 * s * s))
    }

    /// A workspace for this decoder (allocates; reuse it across calls).
    pub fn workspace(&self) -> Result<DecodeWorkspace, DecoderError> {
        let c = self.info.channels;
        let top = self.side(self.info.levels); // input side of the last level (largest)
        let mut nets = Vec::new();
        let (mut tiles, mut net_out, mut bands) = (0, 0, 0);
        match &self.nets {
            Nets::Wavelet(levels) => {
                for (k, net) in levels.iter().enumerate() {
                    nets.push(net.workspace(PATCH)?);
                    let s = self.side(k as u32 + 1);
                    tiles = tiles.max(c * s * s);
                    net_out = net_out.max(3 * net.shape().n_tails * PATCH * PATCH);
                    bands = bands.max(3 * c * s * s);
                }
            }
            Nets::Pixel(levels) => {
                for (k, net) in levels.iter().enumerate() {
                    nets.push(net.workspace(self.side(k as u32 + 1))?);
                }
            }
        }
        let is_wavelet = matches!(self.nets, Nets::Wavelet(_));
        // Two buffers of the largest intermediate (the input of the last level) to ping-pong between levels.
        let middle = if self.info.levels > 1 {
            2 * c * top * top
        } else {
            0
        };
        Ok(DecodeWorkspace {
            owner: self.id,
            nets,
            tiles: vec![0.0; tiles],
            net_out: vec![0.0; net_out],
            bands: vec![0.0; bands],
            middle: vec![0.0; middle],
            tile_scratch: if is_wavelet {
                vec![0.0; tiling::scratch_len(top).unwrap_or(0)]
            } else {
                Vec::new()
            },
            plane: if is_wavelet {
                vec![0.0; 4 * top * top]
            } else {
                Vec::new()
            },
            dwt_scratch: if is_wavelet {
                vec![0.0; wavelet::scratch_len(2 * top, 2 * top).unwrap_or(0)]
            } else {
                Vec::new()
            },
        })
    }

    /// One level (1 = first decoded): `input` `[3][s][s]` → `output` `[3][2s][2s]`, `s = in_size·2^(level−1)`.
    /// For a wavelet decoder both are low bands in wavelet units (the last level's output is the image);
    /// for a pixel decoder both are images.
    pub fn decode_level(
        &self,
        level: u32,
        input: &[f32],
        output: &mut [f32],
        ws: &mut DecodeWorkspace,
    ) -> Result<(), DecoderError> {
        let (ni, no) = self.level_lengths(level)?;
        check_len(input.len(), ni, output.len(), no)?;
        if ws.owner != self.id {
            return Err(DecoderError::WorkspaceMismatch);
        }
        self.run_level(level, input, output, ws)
    }

    /// Full decode: `low` `[3][in][in]` → `image` `[3][out][out]`, level by level; identical, bit for bit,
    /// to calling [`Self::decode_level`] for every level in turn.
    pub fn decode(
        &self,
        low: &[f32],
        image: &mut [f32],
        ws: &mut DecodeWorkspace,
    ) -> Result<(), DecoderError> {
        let last = self.info.levels;
        let (ni, _) = self.level_lengths(1)?;
        let (_, no) = self.level_lengths(last)?;
        check_len(low.len(), ni, image.len(), no)?;
        if ws.owner != self.id {
            return Err(DecoderError::WorkspaceMismatch);
        }
        let mut middle = core::mem::take(&mut ws.middle);
        let result = self.decode_chain(low, image, &mut middle, ws);
        ws.middle = middle;
        result
    }

    fn decode_chain(
        &self,
        low: &[f32],
        image: &mut [f32],
        middle: &mut [f32],
        ws: &mut DecodeWorkspace,
    ) -> Result<(), DecoderError> {
        let last = self.info.levels;
        if last == 1 {
            return self.run_level(1, low, image, ws);
        }
        // Levels 1..last-1 ping-pong inside `middle` (its two halves), the last one writes `image`.
        let (mut cur_len, _) = self.level_lengths(1)?;
        let half = middle.len() / 2;
        let (a, b) = middle.split_at_mut(half);
        let mut bufs = [a, b];
        let mut src_is_low = true;
        let mut src = 0usize;
        for level in 1..last {
            let (_, out_len) = self.level_lengths(level)?;
            let dst = 1 - src;
            if src_is_low {
                self.run_level(level, low, &mut bufs[dst][..out_len], ws)?;
            } else {
                let (x, y) = bufs.split_at_mut(1);
                let (from, to) = if src == 0 {
                    (&x[0][..cur_len], &mut y[0][..out_len])
                } else {
                    (&y[0][..cur_len], &mut x[0][..out_len])
                };
                self.run_level(level, from, to, ws)?;
            }
            src_is_low = false;
            src = dst;
            cur_len = out_len;
        }
        self.run_level(last, &bufs[src][..cur_len], image, ws)
    }

    fn run_level(
        &self,
        level: u32,
        input: &[f32],
        output: &mut [f32],
        ws: &mut DecodeWorkspace,
    ) -> Result<(), DecoderError> {
        let k = (level - 1) as usize;
        let s = self.side(level);
        let c = self.info.channels;
        match &self.nets {
            Nets::Pixel(nets) => {
                nets[k].forward(input, s, output, &mut ws.nets[k])?;
            }
            Nets::Wavelet(nets) => {
                let ext = self.info.extension;
                let n = c * s * s;
                let tiles = &mut ws.tiles[..n];
                tiling::tile(input, s, c, ext, tiles, &mut ws.tile_scratch)?;
                let net = &nets[k];
                let out_len = 3 * net.shape().n_tails * PATCH * PATCH;
                let net_out = &mut ws.net_out[..out_len];
                net.forward(tiles, PATCH, net_out, &mut ws.nets[k])?;
                // Output channel 3·(tiles_per_band·b + p) + c: band b is one contiguous [p][c][32][32] run.
                for b in 0..3 {
                    let band = &mut ws.bands[b * n..(b + 1) * n];
                    tiling::untile(
                        &net_out[b * n..(b + 1) * n],
                        s,
                        c,
                        ext,
                        band,
                        &mut ws.tile_scratch,
                    )?;
                }
                let big = 2 * s;
                for ch in 0..c {
                    let plane = &mut ws.plane[..big * big];
                    for y in 0..s {
                        let row = &mut plane[y * big..(y + 1) * big];
                        row[..s].copy_from_slice(&input[ch * s * s + y * s..][..s]);
                        row[s..].copy_from_slice(&ws.bands[ch * s * s + y * s..][..s]);
                        let lower = &mut plane[(y + s) * big..(y + s + 1) * big];
                        lower[..s].copy_from_slice(&ws.bands[n + ch * s * s + y * s..][..s]);
                        lower[s..].copy_from_slice(&ws.bands[2 * n + ch * s * s + y * s..][..s]);
                    }
                    wavelet::idwt2(plane, big, big, big, 1, ext, &mut ws.dwt_scratch)?;
                    output[ch * big * big..(ch + 1) * big * big].copy_from_slice(plane);
                }
            }
        }
        Ok(())
    }
}

fn level_prefix(k: usize) -> alloc::string::String {
    alloc::format!("level{k}.")
}

fn check_len(input: usize, ni: usize, output: usize, no: usize) -> Result<(), DecoderError> {
    if input != ni {
        return Err(DecoderError::InputLength {
            needed: ni,
            got: input,
        });
    }
    if output != no {
        return Err(DecoderError::OutputLength {
            needed: no,
            got: output,
        });
    }
    Ok(())
}

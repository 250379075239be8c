//! Pure-Rust f32 inference of the decoder networks (design.md §Networks, paper-notes.md §2).
//!
//! * [`WaveletNet`]: one level of the wavelet decoder, `UNet_NTail` — a UNet body plus `n_tails` shallow
//!   tails, `[n_in][s][s]` → `[3·n_tails][s][s]`.
//! * [`PixelNet`]: one level of the pixel baseline, `[3][s][s]` → bilinear ×2 (align_corners = false) `u`
//!   → `u + UNet(u)`, `[3][2s][2s]`.
//!
//! Weights come from any [`TensorSource`] (the weight-file parser, or a test) under the tensor names of
//! design.md §Weight file format; BatchNorm (eval mode) is folded into the preceding convolution at load.
//! Each [`Workspace`] is sized once per (network, side, thread count): `forward` allocates nothing else
//! (with more than one thread, `std::thread::scope` itself allocates the spawned threads' bookkeeping).
//!
//! The 3×3 convolutions run either as Winograd F(2,3) or as a direct im2col GEMM (see `conv`), on a
//! micro-kernel chosen at run time ([`Isa`]: AVX-512F, AVX2+FMA or portable). Under `no_std` the choice is
//! made from the compile-time target features, and everything runs on the calling thread.

mod body;
mod conv;
mod layers;
mod par;
mod simd;
mod unet_ntail;
mod unet_pixel;
mod wino;

#[cfg(feature = "std")]
pub mod bench;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};

pub use par::available_threads;
pub use unet_ntail::WaveletNet;
pub use unet_pixel::PixelNet;

/// Where a network's tensors come from: `tensor(name)` returns `(shape, data)` (row-major f32) or `None`.
pub trait TensorSource {
    /// The tensor called `name` (full name, including the `level{k}.` prefix).
    fn tensor(&self, name: &str) -> Option<(Vec<usize>, Vec<f32>)>;
}

/// Shape of one wavelet-decoder level (`UNet_NTail`, design.md `levels[k]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UNetShape {
    /// Input channels (3 per input patch).
    pub n_in: usize,
    /// Number of tails (3 output channels each).
    pub n_tails: usize,
    /// Width `w` of every body layer.
    pub width: usize,
    /// Number of down (and up) steps.
    pub depth: usize,
    /// Hidden width `t` of each tail.
    pub tail_width: usize,
}

/// Shape of one pixel-decoder level (design.md `pixel-decoder` config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelShape {
    /// Base width `b` (channels after `inc`).
    pub base: usize,
    /// Number of down (and up) steps.
    pub depth: usize,
}

/// Convolution algorithm choice at load time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Algo {
    /// Winograd F(2,3) for layers with at least 16 input and 16 output channels that run at a
    /// resolution of at least 16×16 at [`LoadOptions::nominal_side`]; direct otherwise.
    #[default]
    Auto,
    /// Direct (im2col GEMM) everywhere.
    Direct,
    /// Winograd F(2,3) everywhere.
    Winograd,
}

/// Load-time options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LoadOptions {
    /// Algorithm policy.
    pub algo: Algo,
    /// Input side of the UNet body the weights are packed for (any side still works; this only picks
    /// the algorithm per layer under [`Algo::Auto`]). Wavelet decoders: 32 (the patch side); pixel
    /// decoders: the upsampled side (128 for the first level).
    pub nominal_side: usize,
}

impl LoadOptions {
    /// `Auto` for a UNet body running at `nominal_side`.
    pub fn for_side(nominal_side: usize) -> Self {
        LoadOptions {
            algo: Algo::Auto,
            nominal_side,
        }
    }
}

/// Kernel instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// Portable Rust (every target).
    Scalar,
    /// x86-64 AVX2 + FMA.
    Avx2Fma,
    /// x86-64 AVX-512F.
    Avx512,
}

/// Environment variable (std only) that forces the default [`Isa`]: `scalar`, `avx2` or `avx512`.
pub const ISA_ENV: &str = "NSBG_NN_ISA";

impl Isa {
    /// Every instruction set, portable first.
    pub const ALL: [Isa; 3] = [Isa::Scalar, Isa::Avx2Fma, Isa::Avx512];

    /// Whether this CPU (run-time detection under `std`, compile-time target features otherwise) can run it.
    pub fn is_available(self) -> bool {
        simd::isa_available(self)
    }

    /// The fastest available instruction set.
    pub fn best() -> Isa {
        [Isa::Avx512, Isa::Avx2Fma]
            .into_iter()
            .find(|i| i.is_available())
            .unwrap_or(Isa::Scalar)
    }

    /// The default for new networks: [`ISA_ENV`] when set to an available instruction set (std only),
    /// else [`Isa::best`].
    pub fn detect() -> Isa {
        #[cfg(feature = "std")]
        if let Some(isa) = std::env::var(ISA_ENV).ok().and_then(|v| Isa::from_name(&v)) {
            if isa.is_available() {
                return isa;
            }
        }
        Isa::best()
    }

    /// Short name: `scalar`, `avx2`, `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Parses [`Isa::name`] (case-insensitive).
    pub fn from_name(s: &str) -> Option<Isa> {
        Isa::ALL
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(s.trim()))
    }

    fn index(self) -> usize {
        match self {
            Isa::Scalar => 0,
            Isa::Avx2Fma => 1,
            Isa::Avx512 => 2,
        }
    }
}

static RUNS: [AtomicUsize; 3] = [
    AtomicUsize::new(0),
    AtomicUsize::new(0),
    AtomicUsize::new(0),
];

/// Number of `forward` calls (of any network, process-wide) that ran on `isa` — lets tests prove that a
/// kernel path was exercised.
pub fn isa_runs(isa: Isa) -> usize {
    RUNS[isa.index()].load(Ordering::Relaxed)
}

fn count_run(isa: Isa) {
    RUNS[isa.index()].fetch_add(1, Ordering::Relaxed);
}

/// Why loading or running a network failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NnError {
    /// A tensor the architecture needs is missing.
    MissingTensor(String),
    /// A tensor has the wrong shape.
    TensorShape {
        /// tensor name
        name: String,
        /// shape the architecture needs
        expected: Vec<usize>,
        /// shape found
        got: Vec<usize>,
    },
    /// A tensor's data length does not match its shape.
    TensorData {
        /// tensor name
        name: String,
        /// elements the shape implies
        expected: usize,
        /// elements given
        got: usize,
    },
    /// `running_var + eps` of a BatchNorm channel is not a positive finite number.
    BadBatchNorm {
        /// BatchNorm module name
        name: String,
        /// channel
        channel: usize,
    },
    /// The network shape is invalid (a zero width, depth over 16, …).
    BadShape(&'static str),
    /// The input side is zero or not a multiple of `multiple` (2^depth).
    BadSide {
        /// side given
        side: usize,
        /// required divisor
        multiple: usize,
    },
    /// Buffers for this side would not fit the address space.
    SideTooLarge(usize),
    /// The input slice has the wrong length.
    InputLength {
        /// elements needed
        needed: usize,
        /// elements given
        got: usize,
    },
    /// The output slice has the wrong length.
    OutputLength {
        /// elements needed
        needed: usize,
        /// elements given
        got: usize,
    },
    /// The workspace was made for another network, side or thread count.
    WorkspaceMismatch,
    /// The requested instruction set is not available on this CPU.
    IsaUnavailable(Isa),
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::MissingTensor(n) => write!(f, "tensor {n} is missing"),
            NnError::TensorShape {
                name,
                expected,
                got,
            } => write!(f, "tensor {name} has shape {got:?}, expected {expected:?}"),
            NnError::TensorData {
                name,
                expected,
                got,
            } => write!(
                f,
                "tensor {name} holds {got} values, its shape needs {expected}"
            ),
            NnError::BadBatchNorm { name, channel } => write!(
                f,
                "{name}: running_var + eps of channel {channel} is not positive"
            ),
            NnError::BadShape(why) => write!(f, "invalid network shape: {why}"),
            NnError::BadSide { side, multiple } => write!(
                f,
                "input side {side} is not a positive multiple of {multiple}"
            ),
            NnError::SideTooLarge(side) => write!(
                f,
                "input side {side} is too large for this machine's address space"
            ),
            NnError::InputLength { needed, got } => {
                write!(f, "input holds {got} values, the call needs {needed}")
            }
            NnError::OutputLength { needed, got } => {
                write!(f, "output holds {got} values, the call needs {needed}")
            }
            NnError::WorkspaceMismatch => write!(
                f,
                "the workspace was made for another network, side or thread count"
            ),
            NnError::IsaUnavailable(i) => write!(
                f,
                "instruction set {} is not available on this CPU",
                i.name()
            ),
        }
    }
}

impl core::error::Error for NnError {}

/// Scratch memory of one network at one input side and thread count. Create it with
/// `WaveletNet::workspace` / `PixelNet::workspace`; reuse it for every call.
#[derive(Debug)]
pub struct Workspace {
    layout: Layout,
    arena: body::Arena,
}

impl Workspace {
    /// Bytes held (the peak memory a `forward` call uses beyond the weights, input and output).
    pub fn bytes(&self) -> usize {
        self.arena.buf.bytes() + self.arena.taps.len() * core::mem::size_of::<layers::Tap>()
    }

    /// The input side this workspace serves.
    pub fn side(&self) -> usize {
        self.layout.side
    }

    fn new(layout: Layout) -> Self {
        let arena = body::Arena {
            buf: simd::AlignedBuf::zeros(layout.total()),
            taps: layers::tap_table(layout.taps),
        };
        Workspace { layout, arena }
    }
}

/// Element counts of every workspace region (each rounded to 64-byte lines).
/// The checks every network's `forward` makes before writing: buffer lengths and a workspace made for
/// this network, side and thread count.
fn check_call(
    input: usize,
    needed_in: usize,
    output: usize,
    needed_out: usize,
    ws: &Workspace,
    layout: &Layout,
) -> Result<(), NnError> {
    if input != needed_in {
        return Err(NnError::InputLength {
            needed: needed_in,
            got: input,
        });
    }
    if output != needed_out {
        return Err(NnError::OutputLength {
            needed: needed_out,
            got: output,
        });
    }
    if ws.layout != *layout {
        return Err(NnError::WorkspaceMismatch);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    /// Identifies the network (its address range of parameters is not stable, so a shape hash).
    net: u64,
    side: usize,
    threads: usize,
    body: body::BodyPlan,
    /// Network-specific region (pixel: the upsampled input; wavelet: the sequential tails' hidden map).
    extra: usize,
    v: usize,
    thread_len: usize,
    taps: usize,
}

/// The carved workspace.
struct Regions<'a> {
    body: body::BodyBufs<'a>,
    extra: &'a mut [f32],
    v: &'a mut [f32],
    thr: &'a mut [f32],
}

impl Layout {
    fn total(&self) -> usize {
        use body::line;
        let b = &self.body;
        line(b.skips)
            + 2 * line(b.cur)
            + line(b.mid)
            + line(b.pool)
            + line(b.up)
            + line(self.extra)
            + line(self.v)
            + self.threads * line(self.thread_len)
    }

    fn carve<'a>(&self, ws: &'a mut body::Arena) -> Regions<'a> {
        use body::{line, take};
        let b = &self.body;
        let mut rest = ws.buf.as_mut_slice();
        let skips = take(&mut rest, line(b.skips));
        let cur = take(&mut rest, line(b.cur));
        let next = take(&mut rest, line(b.cur));
        let mid = take(&mut rest, line(b.mid));
        let pool = take(&mut rest, line(b.pool));
        let up = take(&mut rest, line(b.up));
        let extra = take(&mut rest, line(self.extra));
        let v = take(&mut rest, line(self.v));
        let thr = take(&mut rest, self.threads * line(self.thread_len));
        Regions {
            body: body::BodyBufs {
                skips,
                cur,
                next,
                mid,
                pool,
                up,
                taps: &mut ws.taps,
            },
            extra,
            v,
            thr,
        }
    }

    fn scratch<'a>(&self, v: &'a mut [f32], thr: &'a mut [f32]) -> conv::Scratch<'a> {
        conv::Scratch {
            v,
            thr,
            thread_len: body::line(self.thread_len),
            threads: self.threads,
        }
    }
}

/// Rejects sides whose largest buffer (`channels` planes of `side²`, ×16 in the Winograd domain, f32,
/// with headroom) would overflow `isize` — so no size computation below can wrap, also on 32-bit targets.
fn check_extent(side: usize, channels: usize) -> Result<(), NnError> {
    side.checked_mul(side)
        .and_then(|n| n.checked_mul(channels.max(1)))
        .and_then(|n| n.checked_mul(16 * 4 * 8))
        .filter(|&n| n <= isize::MAX as usize)
        .map(|_| ())
        .ok_or(NnError::SideTooLarge(side))
}

/// FNV-1a over a few words (identifies a network shape in its workspaces).
fn shape_hash(words: &[usize]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &w in words {
        for b in (w as u64).to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Dispatches `$body` with `$k` bound to the kernel token of `$isa`.
macro_rules! with_kernel {
    ($isa:expr, $k:ident => $body:expr) => {
        match $isa {
            $crate::nn::Isa::Scalar => {
                let $k = $crate::nn::simd::Scalar;
                $body
            }
            #[cfg(target_arch = "x86_64")]
            $crate::nn::Isa::Avx2Fma => {
                let $k = $crate::nn::simd::Avx2Fma::new()
                    .ok_or($crate::nn::NnError::IsaUnavailable($isa))?;
                $body
            }
            #[cfg(target_arch = "x86_64")]
            $crate::nn::Isa::Avx512 => {
                let $k = $crate::nn::simd::Avx512::new()
                    .ok_or($crate::nn::NnError::IsaUnavailable($isa))?;
                $body
            }
            #[cfg(not(target_arch = "x86_64"))]
            other => return Err($crate::nn::NnError::IsaUnavailable(other)),
        }
    };
}
pub(crate) use with_kernel;

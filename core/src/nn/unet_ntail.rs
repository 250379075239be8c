//! The wavelet decoder level `UNet_NTail(n_in, n_tails, width, depth)` (design.md §Networks,
//! paper-notes.md §2.3): the UNet body of width `w` (`up{i}.conv1` reads `2w` channels: skip, then the
//! upsampled map) and `n_tails` tails `Conv3×3(w→t) + BN + ReLU + Conv3×3(t→3)` that all read the body's
//! output; tail `j` writes output channels `3j..3j+3`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::body::{self, Body, Channels};
use super::conv::{Conv3x3, Src};
use super::simd::Kernel;
use super::{
    count_run, par, with_kernel, Algo, Isa, Layout, LoadOptions, NnError, TensorSource, UNetShape,
    Workspace,
};

#[derive(Debug)]
struct Tail {
    c1: Conv3x3,
    c2: Conv3x3,
}

/// One level of the wavelet decoder, weights folded and packed.
#[derive(Debug)]
pub struct WaveletNet {
    shape: UNetShape,
    body: Body,
    tails: Vec<Tail>,
    isa: Isa,
    threads: usize,
}

fn channels(s: &UNetShape) -> Channels {
    let w = s.width;
    Channels {
        inc: (s.n_in, w, w),
        downs: alloc::vec![(w, w, w); s.depth],
        ups: alloc::vec![(2 * w, w, w); s.depth],
    }
}

fn validate(s: &UNetShape) -> Result<(), NnError> {
    if s.n_in == 0 || s.n_tails == 0 || s.width == 0 || s.tail_width == 0 {
        return Err(NnError::BadShape(
            "n_in, n_tails, width and tail_width must be positive",
        ));
    }
    if s.depth > 16 {
        return Err(NnError::BadShape("depth must be at most 16"));
    }
    Ok(())
}

impl WaveletNet {
    /// Every tensor of this level, with its shape (design.md §Weight file format), prefix included.
    pub fn tensor_specs(prefix: &str, shape: &UNetShape) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        channels(shape).specs(prefix, &mut out);
        for j in 0..shape.n_tails {
            body::conv_specs(
                &mut out,
                prefix,
                &format!("tail{j}.conv1"),
                Some(&format!("tail{j}.bn1")),
                shape.width,
                shape.tail_width,
            );
            body::conv_specs(
                &mut out,
                prefix,
                &format!("tail{j}.conv2"),
                None,
                shape.tail_width,
                3,
            );
        }
        out
    }

    /// Loads level `prefix` (e.g. `"level1."`) with BatchNorm `bn_eps`, packed for 32×32 inputs.
    pub fn load(
        src: &impl TensorSource,
        prefix: &str,
        shape: &UNetShape,
        bn_eps: f32,
    ) -> Result<Self, NnError> {
        Self::load_with(src, prefix, shape, bn_eps, &LoadOptions::for_side(32))
    }

    /// [`Self::load`] with explicit options.
    pub fn load_with(
        src: &impl TensorSource,
        prefix: &str,
        shape: &UNetShape,
        bn_eps: f32,
        opts: &LoadOptions,
    ) -> Result<Self, NnError> {
        validate(shape)?;
        let body = channels(shape).load(src, prefix, bn_eps, opts)?;
        let (w, t) = (shape.width, shape.tail_width);
        let a1 = body::pick(opts, opts.nominal_side, w, t);
        let a2 = body::pick(opts, opts.nominal_side, t, 3);
        let mut tails = Vec::with_capacity(shape.n_tails);
        for j in 0..shape.n_tails {
            let c1 = body::load_conv(
                src,
                prefix,
                &format!("tail{j}.conv1"),
                Some(&format!("tail{j}.bn1")),
                w,
                t,
                bn_eps,
                a1,
            )?;
            let c2 = body::load_conv(
                src,
                prefix,
                &format!("tail{j}.conv2"),
                None,
                t,
                3,
                bn_eps,
                a2,
            )?;
            tails.push(Tail { c1, c2 });
        }
        Ok(WaveletNet {
            shape: *shape,
            body,
            tails,
            isa: Isa::detect(),
            threads: 1,
        })
    }

    /// The level's shape.
    pub fn shape(&self) -> &UNetShape {
        &self.shape
    }

    /// Instruction set used by `forward` (default [`Isa::detect`]).
    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Selects the kernel instruction set; fails if this CPU lacks it.
    pub fn set_isa(&mut self, isa: Isa) -> Result<(), NnError> {
        if !isa.is_available() {
            return Err(NnError::IsaUnavailable(isa));
        }
        self.isa = isa;
        Ok(())
    }

    /// Threads used by `forward` (default 1; always 1 without `std`). Workspaces depend on it.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Sets the thread count (clamped to at least 1; 1 without `std`).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = par::effective(threads);
    }

    /// Bytes of packed weights.
    pub fn weight_bytes(&self) -> usize {
        self.body.bytes()
            + self
                .tails
                .iter()
                .map(|t| t.c1.bytes() + t.c2.bytes())
                .sum::<usize>()
    }

    /// Multiply-adds × 2 of one forward at input side `side` (every 3×3 convolution, as direct convolution).
    pub fn flops(&self, side: usize) -> u64 {
        let mut f = 0u64;
        let d = self.shape.depth;
        let conv = |c: &Conv3x3, s: usize| 18 * (c.cin * c.cout * s * s) as u64;
        let mut add = |dc: &body::DoubleConv, s: usize| f += conv(&dc.c1, s) + conv(&dc.c2, s);
        add(&self.body.inc, side);
        for (i, dc) in self.body.downs.iter().enumerate() {
            add(dc, side >> (i + 1));
        }
        for (i, dc) in self.body.ups.iter().enumerate() {
            add(dc, side >> (d - 1 - i));
        }
        f + self
            .tails
            .iter()
            .map(|t| conv(&t.c1, side) + conv(&t.c2, side))
            .sum::<u64>()
    }

    fn check_side(&self, side: usize) -> Result<(), NnError> {
        let m = 1usize << self.shape.depth;
        if side == 0 || !side.is_multiple_of(m) {
            return Err(NnError::BadSide { side, multiple: m });
        }
        let s = &self.shape;
        let chans = s.n_in.max(2 * s.width).max(3 * s.n_tails).max(s.tail_width);
        super::check_extent(side, chans)
    }

    /// Tails run one after the other (each convolution parallel inside) when a Winograd tail
    /// convolution needs several blocks; otherwise threads take whole tails.
    fn sequential_tails(&self, side: usize) -> bool {
        let t = &self.tails[0];
        [&t.c1, &t.c2]
            .iter()
            .any(|c| c.algo() == Algo::Winograd && !c.single_block(side, side))
    }

    fn layout(&self, side: usize) -> Layout {
        let bp = self.body.plan(side);
        let hw = side * side;
        let t = self.shape.tail_width;
        let (c1, c2) = (&self.tails[0].c1, &self.tails[0].c2);
        let (mut v, mut thread_len, extra) = (
            bp.need.v,
            bp.need.thread,
            if self.sequential_tails(side) {
                t * hw
            } else {
                0
            },
        );
        if self.sequential_tails(side) {
            let n = c1.need(side, side).max(c2.need(side, side));
            v = v.max(n.v);
            thread_len = thread_len.max(n.thread);
        } else {
            v = v.max(c1.need(side, side).v);
            thread_len = thread_len.max(
                body::line(t * hw)
                    + c1.range_need(side, side, false)
                        .max(c2.range_need(side, side, true)),
            );
        }
        let s = &self.shape;
        Layout {
            net: super::shape_hash(&[
                1,
                s.n_in,
                s.n_tails,
                s.width,
                s.depth,
                s.tail_width,
                self.weight_bytes(),
            ]),
            side,
            threads: self.threads,
            body: bp,
            extra,
            v,
            thread_len,
            taps: 2 * side,
        }
    }

    /// A workspace for inputs of side `side` at the current thread count.
    pub fn workspace(&self, side: usize) -> Result<Workspace, NnError> {
        self.check_side(side)?;
        Ok(Workspace::new(self.layout(side)))
    }

    /// Bytes [`Self::workspace`] would allocate.
    pub fn workspace_bytes(&self, side: usize) -> Result<usize, NnError> {
        self.check_side(side)?;
        let l = self.layout(side);
        Ok(l.total() * 4 + l.taps * core::mem::size_of::<super::layers::Tap>())
    }

    /// Runs the level: `input` `[n_in][side][side]` → `output` `[3·n_tails][side][side]`.
    pub fn forward(
        &self,
        input: &[f32],
        side: usize,
        output: &mut [f32],
        ws: &mut Workspace,
    ) -> Result<(), NnError> {
        self.check_side(side)?;
        let hw = side * side;
        let (ni, no) = (self.shape.n_in * hw, 3 * self.shape.n_tails * hw);
        super::check_call(input.len(), ni, output.len(), no, ws, &self.layout(side))?;
        with_kernel!(self.isa, k => self.run(k, input, side, output, ws));
        count_run(self.isa);
        Ok(())
    }

    fn run<K: Kernel>(
        &self,
        k: K,
        input: &[f32],
        side: usize,
        output: &mut [f32],
        ws: &mut Workspace,
    ) {
        let layout = ws.layout;
        let r = layout.carve(&mut ws.arena);
        let mut s = layout.scratch(r.v, r.thr);
        let hw = side * side;
        let feat: &[f32] = self.body.forward(k, input, side, r.body, &mut s);
        let feat = &feat[..self.shape.width * hw];
        let t = self.shape.tail_width;
        if self.sequential_tails(side) {
            let hbuf = &mut r.extra[..t * hw];
            for (j, tail) in self.tails.iter().enumerate() {
                tail.c1
                    .forward(k, Src::one(feat, hw), side, side, hbuf, &mut s);
                tail.c2.forward(
                    k,
                    Src::one(hbuf, hw),
                    side,
                    side,
                    &mut output[3 * j * hw..][..3 * hw],
                    &mut s,
                );
            }
            return;
        }
        let c1 = &self.tails[0].c1;
        if c1.algo() == Algo::Winograd {
            c1.transform_input(k, Src::one(feat, hw), side, side, &mut s);
        }
        let v: &[f32] = &*s.v;
        par::split(
            s.threads,
            self.tails.len(),
            3 * hw,
            output,
            s.thr,
            s.thread_len,
            |j0, j1, oc, sc| {
                let (hb, rest) = sc.split_at_mut(body::line(t * hw));
                let hb = &mut hb[..t * hw];
                for j in j0..j1 {
                    let tail = &self.tails[j];
                    tail.c1.forward_range(
                        k,
                        Src::one(feat, hw),
                        Some(v),
                        side,
                        side,
                        0,
                        t,
                        hb,
                        rest,
                    );
                    tail.c2.forward_range(
                        k,
                        Src::one(hb, hw),
                        None,
                        side,
                        side,
                        0,
                        3,
                        &mut oc[3 * (j - j0) * hw..],
                        rest,
                    );
                }
            },
        );
    }
}

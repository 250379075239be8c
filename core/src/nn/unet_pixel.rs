//! One level of the pixel baseline decoder (NSBG-PIXEL, design.md §Weight file format, paper-notes.md
//! §2.8): `u = bilinear×2(x)` (align_corners = false, no antialias), output `u + UNet(u)`, where the UNet
//! (3 → 3) has base width `b`: `inc` DoubleConv(3→b), `down{i}` DoubleConv(b·2^(i−1) → b·2^i) for
//! `i < depth` and (b·2^(depth−1) → b·2^(depth−1)) for `i = depth`, `up{i}` DoubleConv(in → out,
//! mid = in/2) with in = 2·b·2^(depth−i), out = b·2^(depth−i−1) (out = b for i = depth), and
//! `outc` Conv3×3(b → 3) without BN or activation.

use alloc::string::String;
use alloc::vec::Vec;

use super::body::{self, Body, Channels};
use super::conv::{Conv3x3, Src};
use super::layers;
use super::simd::Kernel;
use super::{
    count_run, par, with_kernel, Isa, Layout, LoadOptions, NnError, PixelShape, TensorSource,
    Workspace,
};

/// One level of the pixel decoder, weights folded and packed.
#[derive(Debug)]
pub struct PixelNet {
    shape: PixelShape,
    body: Body,
    outc: Conv3x3,
    isa: Isa,
    threads: usize,
}

fn channels(s: &PixelShape) -> Channels {
    let (b, d) = (s.base, s.depth);
    let downs = (1..=d)
        .map(|i| {
            let cin = b << (i - 1);
            let cout = if i < d { b << i } else { b << (d - 1) };
            (cin, cout, cout)
        })
        .collect();
    let ups = (1..=d)
        .map(|i| {
            let cin = 2 * (b << (d - i));
            let cout = if i < d { b << (d - i - 1) } else { b };
            (cin, cin / 2, cout)
        })
        .collect();
    Channels {
        inc: (3, b, b),
        downs,
        ups,
    }
}

fn validate(s: &PixelShape) -> Result<(), NnError> {
    if s.base == 0 || s.depth == 0 {
        return Err(NnError::BadShape("base and depth must be positive"));
    }
    if s.depth > 16
        || s.base
            .checked_shl(s.depth as u32)
            .is_none_or(|c| c > 1 << 20)
    {
        return Err(NnError::BadShape(
            "depth must be at most 16 and base·2^depth at most 2^20",
        ));
    }
    Ok(())
}

impl PixelNet {
    /// Every tensor of this level, with its shape, prefix included.
    pub fn tensor_specs(prefix: &str, shape: &PixelShape) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        channels(shape).specs(prefix, &mut out);
        body::conv_specs(&mut out, prefix, "outc", None, shape.base, 3);
        out
    }

    /// Loads level `prefix` with BatchNorm `bn_eps`, packed for a 64×64 input (UNet side 128).
    pub fn load(
        src: &impl TensorSource,
        prefix: &str,
        shape: &PixelShape,
        bn_eps: f32,
    ) -> Result<Self, NnError> {
        Self::load_with(src, prefix, shape, bn_eps, &LoadOptions::for_side(128))
    }

    /// [`Self::load`] with explicit options (`nominal_side` is the UNet's side, twice the input side).
    pub fn load_with(
        src: &impl TensorSource,
        prefix: &str,
        shape: &PixelShape,
        bn_eps: f32,
        opts: &LoadOptions,
    ) -> Result<Self, NnError> {
        validate(shape)?;
        let body = channels(shape).load(src, prefix, bn_eps, opts)?;
        let outc = body::load_conv(
            src,
            prefix,
            "outc",
            None,
            shape.base,
            3,
            bn_eps,
            body::pick(opts, opts.nominal_side, shape.base, 3),
        )?;
        Ok(PixelNet {
            shape: *shape,
            body,
            outc,
            isa: Isa::detect(),
            threads: 1,
        })
    }

    /// The level's shape.
    pub fn shape(&self) -> &PixelShape {
        &self.shape
    }

    /// Instruction set used by `forward`.
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

    /// Threads used by `forward` (default 1).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Sets the thread count (clamped to at least 1; 1 without `std`).
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = par::effective(threads);
    }

    /// Bytes of packed weights.
    pub fn weight_bytes(&self) -> usize {
        self.body.bytes() + self.outc.bytes()
    }

    /// Multiply-adds × 2 of one forward at input side `side` (the UNet runs at `2·side`).
    pub fn flops(&self, side: usize) -> u64 {
        let s2 = 2 * side;
        let d = self.shape.depth;
        let conv = |c: &Conv3x3, s: usize| 18 * (c.cin * c.cout * s * s) as u64;
        let mut f = conv(&self.outc, s2);
        let mut add = |dc: &body::DoubleConv, s: usize| f += conv(&dc.c1, s) + conv(&dc.c2, s);
        add(&self.body.inc, s2);
        for (i, dc) in self.body.downs.iter().enumerate() {
            add(dc, s2 >> (i + 1));
        }
        for (i, dc) in self.body.ups.iter().enumerate() {
            add(dc, s2 >> (d - 1 - i));
        }
        f
    }

    fn check_side(&self, side: usize) -> Result<(), NnError> {
        let m = 1usize << self.shape.depth;
        if side == 0 || !(2 * side).is_multiple_of(m) {
            return Err(NnError::BadSide {
                side,
                multiple: (m / 2).max(1),
            });
        }
        super::check_extent(2 * side, 2 * (self.shape.base << self.shape.depth))
    }

    fn layout(&self, side: usize) -> Layout {
        let s2 = 2 * side;
        let bp = self.body.plan(s2);
        let n = bp.need.max(self.outc.need(s2, s2));
        Layout {
            net: super::shape_hash(&[2, self.shape.base, self.shape.depth, self.weight_bytes()]),
            side,
            threads: self.threads,
            body: bp,
            extra: 3 * s2 * s2,
            v: n.v,
            thread_len: n.thread,
            taps: 2 * s2,
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
        Ok(l.total() * 4 + l.taps * core::mem::size_of::<layers::Tap>())
    }

    /// Runs the level: `input` `[3][side][side]` → `output` `[3][2·side][2·side]`.
    pub fn forward(
        &self,
        input: &[f32],
        side: usize,
        output: &mut [f32],
        ws: &mut Workspace,
    ) -> Result<(), NnError> {
        self.check_side(side)?;
        let (ni, no) = (3 * side * side, 12 * side * side);
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
        let s2 = 2 * side;
        let hw = s2 * s2;
        let u = &mut r.extra[..3 * hw];
        layers::upsample2(input, 3, side, side, false, r.body.taps, u);
        let u: &[f32] = u;
        let mut s = layout.scratch(r.v, r.thr);
        let feat: &[f32] = self.body.forward(k, u, s2, r.body, &mut s);
        self.outc.forward(
            k,
            Src::one(&feat[..self.shape.base * hw], hw),
            s2,
            s2,
            output,
            &mut s,
        );
        for (o, &x) in output.iter_mut().zip(u) {
            *o += x;
        }
    }
}

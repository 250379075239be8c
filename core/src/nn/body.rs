//! The UNet body shared by both decoders: `inc` DoubleConv, `depth` × (2×2 max-pool + DoubleConv),
//! `depth` × (bilinear ×2 align_corners = true, concat(skip, upsampled) skip first, DoubleConv).
//! The up-step `i` takes the output of `down{depth−i}` (of `inc` for `i = depth`) as its skip.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::conv::{Conv3x3, Need, Scratch, Src};
use super::layers::{self, Tap};
use super::simd::{AlignedBuf, Kernel};
use super::{Algo, LoadOptions, NnError, TensorSource};

/// Conv3×3 → BN → ReLU → Conv3×3 → BN → ReLU, BN folded.
#[derive(Debug)]
pub(crate) struct DoubleConv {
    pub c1: Conv3x3,
    pub c2: Conv3x3,
}

/// Reads `name` and checks its shape.
pub(crate) fn fetch(
    src: &impl TensorSource,
    name: &str,
    shape: &[usize],
) -> Result<Vec<f32>, NnError> {
    let (got, data) = src
        .tensor(name)
        .ok_or_else(|| NnError::MissingTensor(String::from(name)))?;
    if got != shape {
        return Err(NnError::TensorShape {
            name: String::from(name),
            expected: shape.to_vec(),
            got,
        });
    }
    let n: usize = shape.iter().product();
    if data.len() != n {
        return Err(NnError::TensorData {
            name: String::from(name),
            expected: n,
            got: data.len(),
        });
    }
    Ok(data)
}

/// Names and shapes of one conv (+ BN) as in design.md.
pub(crate) fn conv_specs(
    out: &mut Vec<(String, Vec<usize>)>,
    p: &str,
    conv: &str,
    bn: Option<&str>,
    cin: usize,
    cout: usize,
) {
    out.push((format!("{p}{conv}.weight"), alloc::vec![cout, cin, 3, 3]));
    out.push((format!("{p}{conv}.bias"), alloc::vec![cout]));
    if let Some(bn) = bn {
        for s in ["weight", "bias", "running_mean", "running_var"] {
            out.push((format!("{p}{bn}.{s}"), alloc::vec![cout]));
        }
    }
}

/// Loads `{p}{conv}` (and folds `{p}{bn}` into it when given).
#[allow(clippy::too_many_arguments)]
pub(crate) fn load_conv(
    src: &impl TensorSource,
    p: &str,
    conv: &str,
    bn: Option<&str>,
    cin: usize,
    cout: usize,
    eps: f32,
    algo: Algo,
) -> Result<Conv3x3, NnError> {
    let mut w = fetch(src, &format!("{p}{conv}.weight"), &[cout, cin, 3, 3])?;
    let mut b = fetch(src, &format!("{p}{conv}.bias"), &[cout])?;
    if let Some(bn) = bn {
        let g = fetch(src, &format!("{p}{bn}.weight"), &[cout])?;
        let be = fetch(src, &format!("{p}{bn}.bias"), &[cout])?;
        let m = fetch(src, &format!("{p}{bn}.running_mean"), &[cout])?;
        let v = fetch(src, &format!("{p}{bn}.running_var"), &[cout])?;
        layers::fold_batchnorm(&mut w, &mut b, &g, &be, &m, &v, eps).map_err(|channel| {
            NnError::BadBatchNorm {
                name: format!("{p}{bn}"),
                channel,
            }
        })?;
    }
    Ok(Conv3x3::new(&w, &b, cin, cout, bn.is_some(), algo))
}

/// The algorithm for a `cin → cout` layer at nominal resolution `side` (see [`Algo::Auto`]).
pub(crate) fn pick(opts: &LoadOptions, side: usize, cin: usize, cout: usize) -> Algo {
    match opts.algo {
        Algo::Auto => {
            if side >= 16 && cin >= 16 && cout >= 16 {
                Algo::Winograd
            } else {
                Algo::Direct
            }
        }
        a => a,
    }
}

/// Channel plan of a UNet body.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    /// `(in, mid, out)` of `inc`, `down1..`, `up1..`.
    pub inc: (usize, usize, usize),
    pub downs: Vec<(usize, usize, usize)>,
    pub ups: Vec<(usize, usize, usize)>,
}

/// The UNet body.
#[derive(Debug)]
pub(crate) struct Body {
    pub inc: DoubleConv,
    pub downs: Vec<DoubleConv>,
    pub ups: Vec<DoubleConv>,
}

impl Channels {
    pub(crate) fn depth(&self) -> usize {
        self.downs.len()
    }

    pub(crate) fn specs(&self, p: &str, out: &mut Vec<(String, Vec<usize>)>) {
        let mut one = |name: &str, (ci, cm, co): (usize, usize, usize)| {
            conv_specs(
                out,
                p,
                &format!("{name}.conv1"),
                Some(&format!("{name}.bn1")),
                ci,
                cm,
            );
            conv_specs(
                out,
                p,
                &format!("{name}.conv2"),
                Some(&format!("{name}.bn2")),
                cm,
                co,
            );
        };
        one("inc", self.inc);
        for (i, &d) in self.downs.iter().enumerate() {
            one(&format!("down{}", i + 1), d);
        }
        for (i, &u) in self.ups.iter().enumerate() {
            one(&format!("up{}", i + 1), u);
        }
    }

    pub(crate) fn load(
        &self,
        src: &impl TensorSource,
        p: &str,
        eps: f32,
        opts: &LoadOptions,
    ) -> Result<Body, NnError> {
        let side = opts.nominal_side;
        let dc = |name: &str,
                  (ci, cm, co): (usize, usize, usize),
                  s: usize|
         -> Result<DoubleConv, NnError> {
            Ok(DoubleConv {
                c1: load_conv(
                    src,
                    p,
                    &format!("{name}.conv1"),
                    Some(&format!("{name}.bn1")),
                    ci,
                    cm,
                    eps,
                    pick(opts, s, ci, cm),
                )?,
                c2: load_conv(
                    src,
                    p,
                    &format!("{name}.conv2"),
                    Some(&format!("{name}.bn2")),
                    cm,
                    co,
                    eps,
                    pick(opts, s, cm, co),
                )?,
            })
        };
        let depth = self.depth();
        let inc = dc("inc", self.inc, side)?;
        let mut downs = Vec::with_capacity(depth);
        for (i, &d) in self.downs.iter().enumerate() {
            downs.push(dc(&format!("down{}", i + 1), d, side >> (i + 1))?);
        }
        let mut ups = Vec::with_capacity(depth);
        for (i, &u) in self.ups.iter().enumerate() {
            ups.push(dc(&format!("up{}", i + 1), u, side >> (depth - 1 - i))?);
        }
        Ok(Body { inc, downs, ups })
    }
}

/// Element counts of the body's buffers at one input side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BodyPlan {
    pub skips: usize,
    pub cur: usize,
    pub mid: usize,
    pub pool: usize,
    pub up: usize,
    pub need: Need,
    /// Channels of the output (at full resolution).
    pub out_c: usize,
}

impl Body {
    fn depth(&self) -> usize {
        self.downs.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        let dc = |d: &DoubleConv| d.c1.bytes() + d.c2.bytes();
        dc(&self.inc)
            + self.downs.iter().map(dc).sum::<usize>()
            + self.ups.iter().map(dc).sum::<usize>()
    }

    pub(crate) fn plan(&self, side: usize) -> BodyPlan {
        let depth = self.depth();
        let n = |l: usize| (side >> l) * (side >> l);
        let mut p = BodyPlan::default();
        let mut need = Need::default();
        let mut dcneed = |d: &DoubleConv, l: usize, mid: &mut usize| {
            let s = side >> l;
            need = need.max(d.c1.need(s, s)).max(d.c2.need(s, s));
            *mid = (*mid).max(d.c1.cout * n(l));
        };
        let mut mid = 0;
        dcneed(&self.inc, 0, &mut mid);
        let mut c_prev = self.inc.c2.cout;
        for (i, d) in self.downs.iter().enumerate() {
            let l = i + 1;
            dcneed(d, l, &mut mid);
            p.pool = p.pool.max(c_prev * n(l));
            if l < depth {
                p.skips += d.c2.cout * n(l);
            } else {
                p.cur = p.cur.max(d.c2.cout * n(l));
            }
            c_prev = d.c2.cout;
        }
        if depth == 0 {
            p.cur = self.inc.c2.cout * n(0); // no down/up steps: `inc` writes the output directly
        } else {
            p.skips += self.inc.c2.cout * n(0);
        }
        for (i, d) in self.ups.iter().enumerate() {
            let l = depth - 1 - i;
            dcneed(d, l, &mut mid);
            p.up = p.up.max(c_prev * n(l));
            p.cur = p.cur.max(d.c2.cout * n(l));
            c_prev = d.c2.cout;
        }
        p.mid = mid;
        p.need = need;
        p.out_c = c_prev;
        p
    }

    /// Runs the body on `input` (`[n_in][side][side]`); returns the slice (`[out_c][side][side]`) holding
    /// the result, inside `b`.
    pub(crate) fn forward<'b, K: Kernel>(
        &self,
        k: K,
        input: &[f32],
        side: usize,
        b: BodyBufs<'b>,
        s: &mut Scratch<'_>,
    ) -> &'b mut [f32] {
        let depth = self.depth();
        let BodyBufs {
            skips,
            mut cur,
            mut next,
            mid,
            pool,
            up,
            taps,
        } = b;
        // Skip offsets: level 0 (inc), 1.. (down1..).
        let mut skip_off = [0usize; 33];
        {
            let mut o = 0;
            skip_off[0] = 0;
            o += self.inc.c2.cout * side * side;
            for (i, d) in self.downs.iter().enumerate().take(depth.saturating_sub(1)) {
                skip_off[i + 1] = o;
                let sl = side >> (i + 1);
                o += d.c2.cout * sl * sl;
            }
        }
        let dc = |d: &DoubleConv,
                  x: Src<'_>,
                  sl: usize,
                  mid: &mut [f32],
                  out: &mut [f32],
                  s: &mut Scratch<'_>| {
            d.c1.forward(k, x, sl, sl, mid, s);
            d.c2.forward(
                k,
                Src::one(&mid[..d.c1.cout * sl * sl], sl * sl),
                sl,
                sl,
                out,
                s,
            );
        };
        // inc → skip 0 (or cur if depth == 0)
        {
            let dst = if depth == 0 {
                &mut *cur
            } else {
                &mut skips[..]
            };
            dc(&self.inc, Src::one(input, side * side), side, mid, dst, s);
        }
        let mut c_prev = self.inc.c2.cout;
        for (i, d) in self.downs.iter().enumerate() {
            let l = i + 1;
            let (sp, sl) = (side >> (l - 1), side >> l);
            let prev = &skips[skip_off[l - 1]..][..c_prev * sp * sp];
            layers::maxpool2(prev, c_prev, sp, sp, pool);
            let src = Src::one(&pool[..c_prev * sl * sl], sl * sl);
            if l < depth {
                let (_, rest) = skips.split_at_mut(skip_off[l]);
                dc(d, src, sl, mid, rest, s);
            } else {
                dc(d, src, sl, mid, cur, s);
            }
            c_prev = d.c2.cout;
        }
        for (i, d) in self.ups.iter().enumerate() {
            let l = depth - 1 - i;
            let sl = side >> l;
            layers::upsample2(
                &cur[..c_prev * (sl / 2) * (sl / 2)],
                c_prev,
                sl / 2,
                sl / 2,
                true,
                taps,
                up,
            );
            let skip_c = if l == 0 {
                self.inc.c2.cout
            } else {
                self.downs[l - 1].c2.cout
            };
            let skip = &skips[skip_off[l]..][..skip_c * sl * sl];
            let src = Src::two(skip, skip_c, &up[..c_prev * sl * sl], sl * sl);
            dc(d, src, sl, mid, next, s);
            core::mem::swap(&mut cur, &mut next);
            c_prev = d.c2.cout;
        }
        cur
    }
}

/// The body's buffers, carved from the workspace.
pub(crate) struct BodyBufs<'a> {
    pub skips: &'a mut [f32],
    pub cur: &'a mut [f32],
    pub next: &'a mut [f32],
    pub mid: &'a mut [f32],
    pub pool: &'a mut [f32],
    pub up: &'a mut [f32],
    pub taps: &'a mut [Tap],
}

/// A workspace: one 64-byte aligned arena plus the bilinear tap table.
#[derive(Debug)]
pub(crate) struct Arena {
    pub buf: AlignedBuf,
    pub taps: Vec<Tap>,
}

/// Splits `n` elements off the front of `rest`.
pub(crate) fn take<'a>(rest: &mut &'a mut [f32], n: usize) -> &'a mut [f32] {
    let (a, b) = core::mem::take(rest).split_at_mut(n);
    *rest = b;
    a
}

/// Rounds to whole 64-byte lines so every region starts aligned.
pub(crate) fn line(n: usize) -> usize {
    n.div_ceil(16) * 16
}

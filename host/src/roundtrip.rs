//! `roundtrip`: `inverse(forward(x))` against `x` for every mode and sample type.
//!
//! Rows: symmetric, periodization and zero in f32 and f64 (the photo's `[0, 1]` samples converted to
//! the type), plus `reversible53` on the 8-bit integer samples `round(255·x)`. Errors are on the
//! `[0, 1]` scale (the integer transform's differences are divided by 255): max |error|, MSE, and
//! PSNR = 10·log10(1 / MSE) dB (infinite for an exact round trip). A mode whose size rules the image
//! breaks (odd block sides in periodization/zero) is listed as "n/a (reason)".

use core::fmt::Write as _;
use std::fs;

use anyhow::{Context, Result};
use nsbg_core::wavelet::{self, Extension};
use nsbg_core::Error as CoreError;
use serde_json::{json, Value};

use crate::bands::{max_levels, scratch_len};
use crate::cli::RoundtripArgs;
use crate::image_io::{self, Planar};

/// A float sample type the core transforms (f32, f64), with its name and conversions.
pub trait Sample: Copy + Default + Send + 'static {
    const NAME: &'static str;
    fn from_f32(v: f32) -> Self;
    fn to_f64(self) -> f64;
    #[allow(clippy::too_many_arguments)]
    fn dwt2(
        d: &mut [Self],
        w: usize,
        h: usize,
        s: usize,
        l: u32,
        e: Extension,
        t: &mut [Self],
    ) -> Result<(), CoreError>;
    #[allow(clippy::too_many_arguments)]
    fn idwt2(
        d: &mut [Self],
        w: usize,
        h: usize,
        s: usize,
        l: u32,
        e: Extension,
        t: &mut [Self],
    ) -> Result<(), CoreError>;
}

macro_rules! impl_sample {
    ($t:ty, $name:literal, $from:expr, $to:expr) => {
        impl Sample for $t {
            const NAME: &'static str = $name;
            fn from_f32(v: f32) -> Self {
                $from(v)
            }
            fn to_f64(self) -> f64 {
                $to(self)
            }
            fn dwt2(
                d: &mut [Self],
                w: usize,
                h: usize,
                s: usize,
                l: u32,
                e: Extension,
                t: &mut [Self],
            ) -> Result<(), CoreError> {
                wavelet::dwt2(d, w, h, s, l, e, t)
            }
            fn idwt2(
                d: &mut [Self],
                w: usize,
                h: usize,
                s: usize,
                l: u32,
                e: Extension,
                t: &mut [Self],
            ) -> Result<(), CoreError> {
                wavelet::idwt2(d, w, h, s, l, e, t)
            }
        }
    };
}
impl_sample!(f32, "f32", |v: f32| v, f64::from);
impl_sample!(f64, "f64", f64::from, |v: f64| v);

/// The result of one mode × dtype.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub mode: &'static str,
    pub dtype: &'static str,
    pub outcome: Outcome,
}

/// Errors of a round trip, or why it could not run.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Measured { max_abs: f64, mse: f64 },
    NotApplicable(String),
}

impl Row {
    /// PSNR in dB for a peak of 1 (`None` when the round trip is exact or did not run).
    pub fn psnr_db(&self) -> Option<f64> {
        match self.outcome {
            Outcome::Measured { mse, .. } if mse > 0.0 => Some(-10.0 * mse.log10()),
            _ => None,
        }
    }
}

/// Running max |error| and sum of squares.
#[derive(Default)]
struct Acc {
    max_abs: f64,
    sq: f64,
    n: usize,
}

impl Acc {
    fn add(&mut self, err: f64) {
        self.max_abs = self.max_abs.max(err.abs());
        self.sq += err * err;
        self.n += 1;
    }
    fn outcome(&self) -> Outcome {
        Outcome::Measured {
            max_abs: self.max_abs,
            mse: if self.n == 0 {
                0.0
            } else {
                self.sq / self.n as f64
            },
        }
    }
}

/// Core errors that mean "this mode cannot apply to this size" rather than a bad request.
fn not_applicable(e: &CoreError) -> bool {
    matches!(e, CoreError::OddSize { .. })
}

fn float_row<T: Sample>(
    img: &Planar,
    levels: u32,
    ext: Extension,
    scratch_n: usize,
) -> Result<Row> {
    let (w, h) = (img.width, img.height);
    let mut scratch = vec![T::default(); scratch_n];
    let mut acc = Acc::default();
    for c in 0..3 {
        let src = img.plane(c);
        let mut buf: Vec<T> = src.iter().map(|&v| T::from_f32(v)).collect();
        match T::dwt2(&mut buf, w, h, w, levels, ext, &mut scratch) {
            Ok(()) => {}
            Err(e) if not_applicable(&e) => {
                return Ok(Row {
                    mode: ext.name(),
                    dtype: T::NAME,
                    outcome: Outcome::NotApplicable(e.to_string()),
                })
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    let max = max_levels(w, h, ext);
                    format!(
                        "{w}x{h} image, {levels} levels, {} {} (at most {max} levels fit)",
                        ext.name(),
                        T::NAME
                    )
                })
            }
        }
        T::idwt2(&mut buf, w, h, w, levels, ext, &mut scratch)
            .with_context(|| format!("inverse {} {} transform failed", ext.name(), T::NAME))?;
        for (&x, &y) in src.iter().zip(&buf) {
            acc.add(y.to_f64() - f64::from(x));
        }
    }
    Ok(Row {
        mode: ext.name(),
        dtype: T::NAME,
        outcome: acc.outcome(),
    })
}

fn reversible_row(img: &Planar, levels: u32, scratch_n: usize) -> Result<Row> {
    let (w, h) = (img.width, img.height);
    let mut scratch = vec![0i32; scratch_n];
    let mut acc = Acc::default();
    for c in 0..3 {
        let src: Vec<i32> = img
            .plane(c)
            .iter()
            .map(|&v| i32::from(image_io::to_u8(v)))
            .collect();
        let mut buf = src.clone();
        match wavelet::dwt2_i32(&mut buf, w, h, w, levels, &mut scratch) {
            Ok(()) => {}
            Err(e @ CoreError::RangeExceeded { .. }) => {
                return Ok(Row {
                    mode: "reversible53",
                    dtype: "i32",
                    outcome: Outcome::NotApplicable(e.to_string()),
                })
            }
            Err(e) => return Err(e).context("forward reversible53 transform failed"),
        }
        wavelet::idwt2_i32(&mut buf, w, h, w, levels, &mut scratch)
            .context("inverse reversible53 transform failed")?;
        for (&x, &y) in src.iter().zip(&buf) {
            acc.add(f64::from(y - x) / 255.0);
        }
    }
    Ok(Row {
        mode: "reversible53",
        dtype: "i32",
        outcome: acc.outcome(),
    })
}

/// All rows for `img`. Fails (rather than listing n/a everywhere) when no mode can take the
/// requested levels, e.g. `levels` too large for the image.
pub fn measure(img: &Planar, levels: u32) -> Result<Vec<Row>> {
    let scratch_n = scratch_len(img.width, img.height)?;
    // Symmetric accepts every size, so an error from its row (levels too many for the image) makes the
    // whole request invalid; the other modes' odd-size refusals become "n/a" rows.
    let mut rows = Vec::new();
    for ext in Extension::ALL {
        rows.push(float_row::<f32>(img, levels, ext, scratch_n)?);
        rows.push(float_row::<f64>(img, levels, ext, scratch_n)?);
    }
    rows.push(reversible_row(img, levels, scratch_n)?);
    Ok(rows)
}

fn fmt_sci(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else {
        format!("{v:.3e}")
    }
}

/// The rows as an aligned text table.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<14} {:<5} {:>12} {:>12} {:>10}",
        "mode", "dtype", "max |err|", "MSE", "PSNR dB"
    );
    for r in rows {
        match &r.outcome {
            Outcome::Measured { max_abs, mse } => {
                let psnr = r
                    .psnr_db()
                    .map_or_else(|| "inf".to_string(), |p| format!("{p:.2}"));
                let _ = writeln!(
                    s,
                    "{:<14} {:<5} {:>12} {:>12} {:>10}",
                    r.mode,
                    r.dtype,
                    fmt_sci(*max_abs),
                    fmt_sci(*mse),
                    psnr
                );
            }
            Outcome::NotApplicable(why) => {
                let _ = writeln!(s, "{:<14} {:<5} n/a ({why})", r.mode, r.dtype);
            }
        }
    }
    s
}

/// The rows as JSON (`psnr_db` is null when the round trip is exact, since JSON has no infinity).
pub fn to_json(rows: &[Row], image: &str, img: &Planar, levels: u32) -> Value {
    let results: Vec<Value> = rows
        .iter()
        .map(|r| match &r.outcome {
            Outcome::Measured { max_abs, mse } => json!({
                "mode": r.mode, "dtype": r.dtype, "applicable": true,
                "max_abs_error": max_abs, "mse": mse, "psnr_db": r.psnr_db(), "exact": *max_abs == 0.0,
            }),
            Outcome::NotApplicable(why) => json!({
                "mode": r.mode, "dtype": r.dtype, "applicable": false, "reason": why,
            }),
        })
        .collect();
    json!({
        "image": image, "width": img.width, "height": img.height, "levels": levels,
        "error_scale": "pixel values in [0, 1]; reversible53 integer errors divided by 255",
        "results": results,
    })
}

/// `nsbg-host roundtrip`.
pub fn run(args: &RoundtripArgs) -> Result<()> {
    let img = image_io::load(&args.image)?;
    let name = args.image.display().to_string();
    let rows =
        measure(&img, args.levels).with_context(|| format!("round trip of {name} failed"))?;
    println!(
        "{name}: {}x{}, {} levels, errors on the [0, 1] pixel scale",
        img.width, img.height, args.levels
    );
    print!("{}", table(&rows));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&to_json(&rows, &name, &img, args.levels))?;
        fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

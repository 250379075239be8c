//! `eval-recon`: reconstruction from the true low band (paper Table 1, paper-notes §2.7): pixel MSE on
//! the [0, 1] scale over full images, and PSNR, for
//! * NSBG (the wavelet decoder, both levels chained from the true LL2),
//! * NSBG-PIXEL (from the 4×4 box-downsampled image),
//! * low band only (every detail band zero, inverse transform),
//! * bicubic ×4 of the box-downsampled image (PyTorch's bicubic, a = −0.75, align_corners = false,
//!   clamped to [0, 1]),
//! * perfect details (inverse of the true transform: checks the pipeline, must be ≤ 1e-10),
//!
//! plus NSBG's per-level losses in wavelet space (the training loss: Σ over tails of the MSE of the
//! tiled detail coefficients) with true and with decoded inputs, and NSBG-PIXEL's per-level MSE.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use nsbg_core::wavelet::Extension;
use nsbg_core::weights::Kind;
use serde::Serialize;
use serde_json::json;
use tch::Device;

use crate::cli::EvalReconArgs;
use crate::data::{self, par_map, DataOptions, Dataset};
use crate::decode::{mse, psnr, AnyDecoder};
use crate::subbands::{self, Packed};
use crate::{checkpoint, default_weights, nets};

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub method: String,
    /// Mean over images of the per-image MSE (= MSE over all values; images have equal size).
    pub mse: f64,
    /// PSNR of that mean MSE.
    pub psnr_db: f64,
    /// Mean of the per-image PSNRs.
    pub mean_image_psnr_db: f64,
    pub note: String,
}

fn row(method: &str, per_image: &[f64], note: &str) -> Row {
    let n = per_image.len().max(1) as f64;
    let m = per_image.iter().sum::<f64>() / n;
    Row {
        method: method.into(),
        mse: m,
        psnr_db: psnr(m),
        mean_image_psnr_db: per_image.iter().map(|&e| psnr(e)).sum::<f64>() / n,
        note: note.into(),
    }
}

/// Σ-over-tails loss of predicted vs true detail bands of one level (side s).
fn wavelet_loss(pred_out: &[f32], truth: &[Vec<f32>; 3], s: usize, ext: Extension) -> Result<f64> {
    let (_, bands) = subbands::analyze_level(pred_out, s, ext)?;
    let p = subbands::tile_bands(&bands, s, ext)?;
    let t = subbands::tile_bands(truth, s, ext)?;
    let tails = 3 * (s / 32) * (s / 32);
    Ok(mse(&p, &t) * tails as f64)
}

fn zero_loss(truth: &[Vec<f32>; 3], s: usize, ext: Extension) -> Result<f64> {
    let t = subbands::tile_bands(truth, s, ext)?;
    let tails = 3 * (s / 32) * (s / 32);
    Ok(t.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / t.len() as f64 * tails as f64)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Bicubic ×`factor` (PyTorch `upsample_bicubic2d`, align_corners = false), clamped to [0, 1].
fn bicubic(images: &[Vec<f32>], s: usize, factor: usize) -> Result<Vec<Vec<f32>>> {
    let flat: Vec<f32> = images.iter().flatten().copied().collect();
    let x = nets::tensor_from(&flat, &[images.len(), 3, s, s], Device::Cpu);
    let big = (s * factor) as i64;
    let up = x
        .upsample_bicubic2d([big, big], false, None, None)
        .clamp(0.0, 1.0);
    let v = nets::to_vec(&up)?;
    let per = v.len() / images.len().max(1);
    Ok(v.chunks_exact(per).map(<[f32]>::to_vec).collect())
}

pub fn run(a: &EvalReconArgs) -> Result<serde_json::Value> {
    let data_dir = a.data.clone().unwrap_or_else(|| data::default_split("val"));
    let (wbytes, worigin) = default_weights::wavelet_or(a.weights.as_deref())?;
    let nsbg = AnyDecoder::load(&wbytes, a.backend, &a.device, a.threads)
        .with_context(|| format!("cannot load {worigin}"))?;
    ensure!(
        nsbg.kind() == Kind::WaveletDecoder && nsbg.levels() == subbands::LEVELS,
        "{worigin} is not a two-level wavelet decoder"
    );
    let pixel = if a.no_pixel {
        None
    } else {
        match default_weights::pixel_or(a.pixel_weights.as_deref())? {
            Some((bytes, origin)) => {
                let d = AnyDecoder::load(&bytes, a.backend, &a.device, a.threads)
                    .with_context(|| format!("cannot load {origin}"))?;
                ensure!(
                    d.kind() == Kind::PixelDecoder && d.levels() == subbands::LEVELS,
                    "{origin} is not a two-level pixel decoder"
                );
                Some((d, origin))
            }
            None => None,
        }
    };
    let n = nsbg.out_size();
    let ext = nsbg.ext();
    let ds = Arc::new(Dataset::open(
        &data_dir,
        &DataOptions {
            preprocess: a.preprocess,
            size: n,
            workers: a.workers,
            cache: None,
            extension: ext,
            limit: a.limit,
        },
    )?);
    eprintln!("{}", ds.summary());
    let s1 = subbands::level_side(n, 1);
    let s2 = subbands::level_side(n, 2);

    // Per-image ground truth.
    let images: Vec<Vec<f32>> = (0..ds.len()).map(|i| ds.image(i)).collect::<Result<_>>()?;
    let packed: Vec<Packed> = par_map(images.len(), a.workers, |i| {
        Packed::analyze(&images[i], n, ext)
    })
    .into_iter()
    .collect::<Result<_>>()?;
    let ll2: Vec<Vec<f32>> = packed.iter().map(|p| p.low(1)).collect::<Result<_>>()?;
    let ll1: Vec<Vec<f32>> = packed.iter().map(|p| p.low(2)).collect::<Result<_>>()?;

    let (mut per_nsbg, mut per_low, mut per_bic, mut per_perfect) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut l1, mut l2_gt, mut l2_chain, mut z1, mut z2) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut per_pixel, mut pix_l1, mut pix_l2) = (Vec::new(), Vec::new(), Vec::new());
    let batch = a.batch.max(1);
    let t0 = std::time::Instant::now();
    for chunk in (0..images.len()).collect::<Vec<_>>().chunks(batch) {
        let sel = |v: &Vec<Vec<f32>>| chunk.iter().map(|&i| v[i].clone()).collect::<Vec<_>>();
        let lows = sel(&ll2);
        let out1 = nsbg.decode_level(1, &lows)?;
        let out2_chain = nsbg.decode_level(2, &out1)?;
        let out2_gt = nsbg.decode_level(2, &sel(&ll1))?;
        for (k, &i) in chunk.iter().enumerate() {
            let p = &packed[i];
            per_nsbg.push(mse(&out2_chain[k], &images[i]));
            l1.push(wavelet_loss(&out1[k], &p.details(1), s1, ext)?);
            l2_chain.push(wavelet_loss(&out2_chain[k], &p.details(2), s2, ext)?);
            l2_gt.push(wavelet_loss(&out2_gt[k], &p.details(2), s2, ext)?);
            z1.push(zero_loss(&p.details(1), s1, ext)?);
            z2.push(zero_loss(&p.details(2), s2, ext)?);
            per_low.push(mse(&p.low_only().synthesize()?, &images[i]));
            per_perfect.push(mse(&p.synthesize()?, &images[i]));
        }
        let small: Vec<Vec<f32>> = chunk
            .iter()
            .map(|&i| subbands::downsample(&images[i], n, subbands::LEVELS))
            .collect();
        for (k, up) in bicubic(&small, s1, 4)?.iter().enumerate() {
            per_bic.push(mse(up, &images[chunk[k]]));
        }
        if let Some((pd, _)) = &pixel {
            let o1 = pd.decode_level(1, &small)?;
            let o2 = pd.decode_level(2, &o1)?;
            for (k, &i) in chunk.iter().enumerate() {
                per_pixel.push(mse(&o2[k], &images[i]));
                pix_l1.push(mse(&o1[k], &subbands::downsample(&images[i], n, 1)));
            }
            let mid: Vec<Vec<f32>> = chunk
                .iter()
                .map(|&i| subbands::downsample(&images[i], n, 1))
                .collect();
            for (k, o) in pd.decode_level(2, &mid)?.iter().enumerate() {
                pix_l2.push(mse(o, &images[chunk[k]]));
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();

    let mut rows = vec![row("NSBG (wavelet decoder)", &per_nsbg, &worigin)];
    if let Some((_, origin)) = &pixel {
        rows.push(row("NSBG-PIXEL", &per_pixel, origin));
    }
    rows.push(row(
        "low band only (details = 0)",
        &per_low,
        "inverse DWT of LL2",
    ));
    rows.push(row(
        "bicubic x4 of the 64x64 image",
        &per_bic,
        "4x4 box downsampling, PyTorch bicubic, clamped",
    ));
    rows.push(row(
        "perfect details",
        &per_perfect,
        "inverse DWT of the true bands (check)",
    ));
    let perfect = mean(&per_perfect);
    let levels = json!({
        "nsbg": {
            "level1": {"loss": mean(&l1), "zero_details_loss": mean(&z1), "tails": 3 * (s1 / 32) * (s1 / 32)},
            "level2_true_input": {"loss": mean(&l2_gt), "zero_details_loss": mean(&z2), "tails": 3 * (s2 / 32) * (s2 / 32)},
            "level2_decoded_input": {"loss": mean(&l2_chain), "zero_details_loss": mean(&z2)},
        },
        "pixel": pixel.as_ref().map(|_| json!({
            "level1_mse": mean(&pix_l1),
            "level2_true_input_mse": mean(&pix_l2),
        })),
    });
    let report = json!({
        "data": data_dir.display().to_string(),
        "images": ds.len(),
        "skipped": ds.skipped.len(),
        "image_size": n,
        "preprocess": a.preprocess.name(),
        "extension": ext.name(),
        "backend": format!("{:?}", a.backend).to_lowercase(),
        "rows": rows,
        "levels": levels,
        "seconds": secs,
    });

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Reconstruction from the true low band: {} ({} images, {} skipped), {n}x{n} {}, extension {}\n",
        data_dir.display(),
        ds.len(),
        ds.skipped.len(),
        a.preprocess.name(),
        ext.name()
    );
    let _ = writeln!(
        md,
        "| method | MSE [0,1] | PSNR (of mean MSE) | mean image PSNR | note |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---|");
    for r in &rows {
        let _ = writeln!(
            md,
            "| {} | {:.6} | {:.2} dB | {:.2} dB | {} |",
            r.method, r.mse, r.psnr_db, r.mean_image_psnr_db, r.note
        );
    }
    let _ = writeln!(md, "\nPer-level NSBG losses in wavelet space (Σ over tails of the tile MSE; \"zero\" = predicting no details):\n");
    let _ = writeln!(md, "| level | input | loss | zero-details loss |");
    let _ = writeln!(md, "|---|---|---:|---:|");
    let _ = writeln!(
        md,
        "| 1 ({} tails) | true LL2 | {:.6} | {:.6} |",
        3 * (s1 / 32) * (s1 / 32),
        mean(&l1),
        mean(&z1)
    );
    let _ = writeln!(
        md,
        "| 2 ({} tails) | true LL1 | {:.6} | {:.6} |",
        3 * (s2 / 32) * (s2 / 32),
        mean(&l2_gt),
        mean(&z2)
    );
    let _ = writeln!(
        md,
        "| 2 ({} tails) | decoded LL1 | {:.6} | {:.6} |",
        3 * (s2 / 32) * (s2 / 32),
        mean(&l2_chain),
        mean(&z2)
    );
    if pixel.is_some() {
        let _ = writeln!(
            md,
            "\nNSBG-PIXEL per level (pixel MSE): level 1 (64→128, vs 2×2-box 128 image) {:.6}; level 2 from the true 128 image {:.6}",
            mean(&pix_l1),
            mean(&pix_l2)
        );
    }
    print!("{md}");
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create report folder {}", a.out.display()))?;
    checkpoint::write_json(&a.out.join("eval-recon.json"), &report)?;
    checkpoint::write_atomic(&a.out.join("eval-recon.md"), md.as_bytes())?;
    eprintln!("wrote {}/eval-recon.{{json,md}}", a.out.display());
    ensure!(
        perfect <= 1e-10,
        "the perfect-details reconstruction has MSE {perfect:e} > 1e-10: the transform pipeline is broken"
    );
    Ok(report)
}

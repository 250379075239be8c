//! `export --generator`: a sampler run's G_ema (or G with `--no-ema`), or an existing generator file,
//! → a generator weight file (format v1, `nsbg.kind = "generator"`, see `nets::gan::io`).
//!
//! A sampler run folder is read through its `checkpoint.json`, of which this needs only: `kind` =
//! `"sampler"`, `step`, `config.gan` (the GanConfig), the sampling fields `config.domain`,
//! `config.norm`, `config.extension`, `config.classes` (copied into `nsbg.config` when present) and
//! `files.g_ema` / `files.g` (safetensors of the networks' variables, relative to the folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use tch::nn::VarStore;
use tch::Device;

use crate::checkpoint;
use crate::cli::{ExportArgs, ExportDtype};
use crate::nets;
use crate::nets::gan::io::{self, FileDtype};
use crate::nets::gan::{GanConfig, Generator, WeightInit};

/// Fields of a sampler run's `config` that sampling needs and that go into `nsbg.config`.
const SAMPLING_FIELDS: [&str; 4] = ["domain", "norm", "extension", "classes"];

/// The generator file bytes for `src` (run folder, its `checkpoint.json`, or a generator file).
pub fn export_generator(src: &Path, dtype: FileDtype, ema: bool) -> Result<Vec<u8>> {
    let is_sidecar = src.file_name().is_some_and(|n| n == checkpoint::SIDECAR);
    if src.is_file() && !is_sidecar {
        if !ema {
            bail!(
                "{} is a generator weight file, which holds one generator: --no-ema applies to run folders only",
                src.display()
            );
        }
        let f = io::load_generator(src, Device::Cpu)?;
        return io::generator_bytes(&f.config, &f.extra, &f.vs, dtype, &f.metadata);
    }
    let (run, sidecar): (PathBuf, PathBuf) = if is_sidecar {
        let dir = src.parent().unwrap_or(Path::new(".")).to_path_buf();
        (dir, src.to_path_buf())
    } else {
        (src.to_path_buf(), src.join(checkpoint::SIDECAR))
    };
    let text = std::fs::read_to_string(&sidecar).with_context(|| {
        format!(
            "cannot read {} (is {} a sampler run folder with a checkpoint, or a generator file?)",
            sidecar.display(),
            src.display()
        )
    })?;
    let state: Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not JSON", sidecar.display()))?;
    let kind = state.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != "sampler" {
        bail!(
            "{} is not a sampler run's checkpoint (kind {kind:?}); decoder runs are exported without --generator",
            sidecar.display()
        );
    }
    let config = state
        .get("config")
        .with_context(|| format!("{} has no config", sidecar.display()))?;
    let gan: GanConfig = serde_json::from_value(
        config
            .get("gan")
            .cloned()
            .with_context(|| format!("{} has no config.gan", sidecar.display()))?,
    )
    .with_context(|| {
        format!(
            "config.gan of {} is not a GAN configuration",
            sidecar.display()
        )
    })?;
    let extra: Map<String, Value> = SAMPLING_FIELDS
        .iter()
        .filter_map(|k| config.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let which = if ema { "g_ema" } else { "g" };
    let file = state
        .get("files")
        .and_then(|f| f.get(which))
        .and_then(Value::as_str)
        .with_context(|| format!("{} lists no {which} tensor file", sidecar.display()))?;
    let tensors = checkpoint::read_tensors(&run.join(file))?;
    let vs = VarStore::new(Device::Cpu);
    Generator::new_with_init(&vs.root(), &gan, WeightInit::Zeros)?;
    nets::load_named(&vs, &tensors)
        .with_context(|| format!("{file} does not match the run's GAN configuration"))?;
    let mut meta = BTreeMap::new();
    meta.insert(
        "nsbg.trained_with".to_string(),
        json!({
            "tool": concat!("nsbg-host ", env!("CARGO_PKG_VERSION")),
            "run": run.display().to_string(),
            "weights": which,
            "step": state.get("step"),
            "images": state.get("images"),
            "seconds": state.get("elapsed_s"),
            "config": config,
        })
        .to_string(),
    );
    io::generator_bytes(&gan, &extra, &vs, dtype, &meta)
}

pub fn run(a: &ExportArgs, src: &Path) -> Result<()> {
    if !a.runs.is_empty() {
        bail!("--generator exports one generator; do not also give decoder run folders");
    }
    if a.best {
        bail!("--best applies to decoder runs; a sampler run exports its last checkpoint");
    }
    let dtype = match a.dtype {
        ExportDtype::F32 => FileDtype::F32,
        ExportDtype::F16 => FileDtype::F16,
    };
    let bytes = export_generator(src, dtype, !a.no_ema)?;
    checkpoint::write_atomic(&a.out, &bytes)?;
    let f = io::read_generator_bytes(&bytes, Device::Cpu)?;
    println!(
        "wrote {} (generator, {} {}x{}, {} parameters, {} bytes, {:?})",
        a.out.display(),
        f.config.arch.name(),
        f.config.resolution,
        f.config.resolution,
        nets::gan::parameter_count(&f.vs),
        bytes.len(),
        a.dtype
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use tch::{Kind, Tensor};

    use super::*;
    use crate::nets::gan::Arch;

    fn cfg() -> GanConfig {
        let mut c = GanConfig::paper(Arch::BigGanDeep);
        c.resolution = 32;
        c.g_ch = 8;
        c.d_ch = 8;
        c.dim_z = 16;
        c.shared_dim = 8;
        c.n_classes = 2;
        c.g_attn = Some(16);
        c.d_attn = Some(16);
        c
    }

    /// A sampler run folder as `train-sampler` lays it out: sidecar + G and G_ema tensor files.
    fn fake_run(dir: &Path, c: &GanConfig) -> (Generator, Generator) {
        let _ = std::fs::remove_dir_all(dir);
        let mut nets = Vec::new();
        for (k, file) in [
            ("g", "checkpoints/g.safetensors"),
            ("g_ema", "checkpoints/g_ema.safetensors"),
        ] {
            let vs = VarStore::new(Device::Cpu);
            let g = Generator::new(&vs.root(), c).unwrap();
            checkpoint::write_tensors(&dir.join(file), &nets::named_variables(&vs)).unwrap();
            nets.push((k, file, g, vs));
        }
        let state = json!({
            "format": 1, "kind": "sampler", "step": 7, "images": 70, "elapsed_s": 1.5,
            "config": {"gan": c, "domain": "wavelet", "norm": {"shift": 3.0, "scale": 10.0},
                       "extension": "symmetric", "classes": ["a", "b"], "batch": 4},
            "files": {"g": nets[0].1, "g_ema": nets[1].1},
        });
        checkpoint::write_atomic(&dir.join(checkpoint::SIDECAR), state.to_string().as_bytes())
            .unwrap();
        let mut it = nets.into_iter().map(|n| n.2);
        (it.next().unwrap(), it.next().unwrap())
    }

    #[test]
    fn exports_g_ema_by_default_and_g_on_request() {
        tch::set_num_threads(1);
        tch::manual_seed(11);
        let dir = std::env::temp_dir().join(format!("nsbg-export-gen-{}", std::process::id()));
        let c = cfg();
        let (g, g_ema) = fake_run(&dir, &c);
        let z = Tensor::randn([3, c.dim_z], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 1]);
        let same = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) == 0.0;
        let f = io::read_generator_bytes(
            &export_generator(&dir, FileDtype::F32, true).unwrap(),
            Device::Cpu,
        )
        .unwrap();
        assert!(same(
            &f.g.forward(&z, &y, false),
            &g_ema.forward(&z, &y, false)
        ));
        assert!(!same(
            &f.g.forward(&z, &y, false),
            &g.forward(&z, &y, false)
        ));
        assert_eq!(f.extra["domain"], "wavelet");
        assert_eq!(f.extra["norm"]["scale"], 10.0);
        assert_eq!(f.extra["classes"][1], "b");
        assert!(
            !f.extra.contains_key("batch"),
            "training fields leaked into nsbg.config"
        );
        assert!(f.metadata["nsbg.trained_with"].contains("\"step\":7"));
        let sidecar = dir.join(checkpoint::SIDECAR);
        let raw = export_generator(&sidecar, FileDtype::F32, false).unwrap();
        let f_raw = io::read_generator_bytes(&raw, Device::Cpu).unwrap();
        assert!(same(
            &f_raw.g.forward(&z, &y, false),
            &g.forward(&z, &y, false)
        ));
        // Re-export of a file (to f16) keeps config, extra fields and provenance.
        let file = dir.join("g.safetensors");
        std::fs::write(&file, &raw).unwrap();
        let half = io::read_generator_bytes(
            &export_generator(&file, FileDtype::F16, true).unwrap(),
            Device::Cpu,
        )
        .unwrap();
        assert_eq!(half.config, c);
        assert_eq!(half.extra, f_raw.extra);
        assert_eq!(half.metadata, f_raw.metadata);
        let e = export_generator(&file, FileDtype::F32, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--no-ema"), "{e}");
        // A decoder run's sidecar and a missing folder are refused with the reason.
        checkpoint::write_atomic(&sidecar, br#"{"format": 1, "config": {}}"#).unwrap();
        let e = format!(
            "{:#}",
            export_generator(&dir, FileDtype::F32, true).unwrap_err()
        );
        assert!(e.contains("not a sampler run"), "{e}");
        let e = format!(
            "{:#}",
            export_generator(&dir.join("nope"), FileDtype::F32, true).unwrap_err()
        );
        assert!(e.contains("sampler run folder"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

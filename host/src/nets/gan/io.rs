//! Generator weight files (design.md weight format v1 with `nsbg.kind = "generator"`).
//!
//! nsbg-core does not execute generators: its parser answers `UnsupportedKind` for this kind, so the
//! host reads and writes these files itself, through the `safetensors` crate (core's writer only knows
//! decoder configs). The rules are the format's: `nsbg.format = "1"`, tensors F32/F16/BF16, no NaN/Inf,
//! and the tensor set must be exactly the one the configuration builds — every tensor present with its
//! shape, no extra ones; errors name the offending tensor.
//!
//! `nsbg.config` is a JSON object `{"gan": <GanConfig>, ...}`: the GAN configuration under `gan` plus
//! what sampling needs to interpret the output, kept verbatim as [`GeneratorFile::extra`]: `domain`
//! (`"wavelet"` | `"pixel"`), `norm` (`{"shift": 3.0, "scale": 10.0}`, the generator's [−1, 1] is
//! `x_n = (x + shift)/scale·2 − 1` of the data), and optionally `extension` and `classes`.
//!
//! Tensors are every variable of the generator's VarStore under the names of
//! [`super::generator`]: parameters *and* buffers (BN `stored_mean`/`stored_var`, SN `u0`/`sv0`),
//! because eval-mode sampling uses the running statistics and recomputes σ from the stored `u0`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use super::config::GanConfig;
use super::generator::Generator;
use super::init::WeightInit;

/// Value of `nsbg.kind` for generators.
pub const KIND: &str = "generator";
const KEY_FORMAT: &str = "nsbg.format";
const KEY_KIND: &str = "nsbg.kind";
const KEY_CONFIG: &str = "nsbg.config";

/// Storage type of exported tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileDtype {
    F32,
    F16,
}

/// `nsbg.config` of a generator file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorFileConfig {
    /// The architecture.
    pub gan: GanConfig,
    /// Everything else (domain, norm, extension, classes), as written.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A loaded generator, ready for eval-mode sampling.
pub struct GeneratorFile {
    pub config: GanConfig,
    /// The non-architecture fields of `nsbg.config` (see the module doc).
    pub extra: Map<String, Value>,
    /// Other `__metadata__` entries (provenance such as `nsbg.trained_with`).
    pub metadata: BTreeMap<String, String>,
    pub vs: VarStore,
    pub g: Generator,
}

/// The bytes of a generator file holding every variable of `vs` (a store built by
/// [`Generator::new`] for `config`). `metadata` adds provenance keys; the `nsbg.*` keys of the format are
/// set here and refused from the caller.
pub fn generator_bytes(
    config: &GanConfig,
    extra: &Map<String, Value>,
    vs: &VarStore,
    dtype: FileDtype,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    config.validate()?;
    if extra.contains_key("gan") {
        bail!("the extra config fields must not contain \"gan\"");
    }
    if let Some(k) = metadata
        .keys()
        .find(|k| [KEY_FORMAT, KEY_KIND, KEY_CONFIG].contains(&k.as_str()))
    {
        bail!("metadata key {k} is reserved for the format");
    }
    check_tensor_set(config, &shapes_of(vs))?;
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut bufs: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::with_capacity(vars.len());
    for (name, t) in &vars {
        let values = super::super::to_vec(t)?;
        let bytes = match dtype {
            FileDtype::F32 => {
                if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                    bail!("tensor {name} holds a non-finite value ({v})");
                }
                values.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
            FileDtype::F16 => {
                let mut b = Vec::with_capacity(values.len() * 2);
                for v in &values {
                    let h = half::f16::from_f32(*v);
                    if !h.is_finite() {
                        bail!("tensor {name} holds {v}, which is not finite in f16; export as f32");
                    }
                    b.extend_from_slice(&h.to_le_bytes());
                }
                b
            }
        };
        let shape = t.size().iter().map(|&d| d as usize).collect();
        bufs.push((name.clone(), shape, bytes));
    }
    let st_dtype = match dtype {
        FileDtype::F32 => StDtype::F32,
        FileDtype::F16 => StDtype::F16,
    };
    let views = bufs
        .iter()
        .map(|(n, s, b)| {
            TensorView::new(st_dtype, s.clone(), b)
                .map(|v| (n.as_str(), v))
                .with_context(|| format!("tensor {n}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let file_config = GeneratorFileConfig {
        gan: config.clone(),
        extra: extra.clone(),
    };
    let mut meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    meta.insert(KEY_FORMAT.into(), "1".into());
    meta.insert(KEY_KIND.into(), KIND.into());
    meta.insert(KEY_CONFIG.into(), serde_json::to_string(&file_config)?);
    let bytes = safetensors::tensor::serialize(views, &Some(meta))
        .context("cannot serialise the generator tensors")?;
    // Never hand out a file the loader would refuse.
    read_generator_bytes(&bytes, Device::Cpu)
        .context("the written generator file does not re-load")?;
    Ok(bytes)
}

/// Loads a generator file onto `device` (eval use: call `forward(.., false)`).
pub fn load_generator(path: &Path, device: Device) -> Result<GeneratorFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_generator_bytes(&bytes, device)
        .with_context(|| format!("{} is not a valid generator file", path.display()))
}

/// [`load_generator`] from bytes in memory.
pub fn read_generator_bytes(bytes: &[u8], device: Device) -> Result<GeneratorFile> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow::anyhow!("not a safetensors file: {e}"))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| anyhow::anyhow!("not a safetensors file: {e}"))?;
    let meta: BTreeMap<String, String> = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let get = |k: &str| {
        meta.get(k)
            .with_context(|| format!("metadata lacks {k} (not an nsbg weight file)"))
    };
    let format = get(KEY_FORMAT)?;
    if format != "1" {
        bail!("weight format {format:?}; this build reads \"1\"");
    }
    let kind = get(KEY_KIND)?;
    if kind != KIND {
        bail!("the file holds a {kind:?}, not a generator");
    }
    let fc: GeneratorFileConfig = serde_json::from_str(get(KEY_CONFIG)?)
        .context("nsbg.config is not a valid generator config")?;
    fc.gan
        .validate()
        .context("nsbg.config describes an invalid GAN")?;
    let file_shapes: BTreeMap<String, Vec<i64>> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, v.shape().iter().map(|&d| d as i64).collect()))
        .collect();
    let vs = VarStore::new(device);
    let g = Generator::new_with_init(&vs.root(), &fc.gan, WeightInit::Zeros)?;
    check_against(&shapes_of(&vs), &file_shapes)?;
    let vars = vs.variables();
    tch::no_grad(|| -> Result<()> {
        for (name, view) in st.tensors() {
            let values = decode_values(&name, &view)?;
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            let src = Tensor::from_slice(&values).reshape(&shape);
            let mut dst = vars[&name].shallow_clone();
            dst.copy_(&src.to_device(device).to_kind(dst.kind()));
        }
        Ok(())
    })?;
    let metadata = meta
        .into_iter()
        .filter(|(k, _)| ![KEY_FORMAT, KEY_KIND, KEY_CONFIG].contains(&k.as_str()))
        .collect();
    Ok(GeneratorFile {
        config: fc.gan,
        extra: fc.extra,
        metadata,
        vs,
        g,
    })
}

fn decode_values(name: &str, view: &TensorView<'_>) -> Result<Vec<f32>> {
    let d = view.data();
    let values: Vec<f32> = match view.dtype() {
        StDtype::F32 => d
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        StDtype::F16 => d
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        StDtype::BF16 => d
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => bail!("tensor {name} has dtype {other:?}; generator files hold F32, F16 or BF16"),
    };
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        bail!("tensor {name} holds a non-finite value ({v})");
    }
    Ok(values)
}

fn shapes_of(vs: &VarStore) -> BTreeMap<String, Vec<i64>> {
    vs.variables()
        .into_iter()
        .map(|(n, t)| (n, t.size()))
        .collect()
}

/// The tensor names and shapes `config` builds (parameters and buffers).
pub fn required_shapes(config: &GanConfig) -> Result<BTreeMap<String, Vec<i64>>> {
    let vs = VarStore::new(Device::Cpu);
    tch::no_grad(|| Generator::new_with_init(&vs.root(), config, WeightInit::Zeros))?;
    Ok(shapes_of(&vs))
}

/// `given` must be exactly `config`'s tensor set.
fn check_tensor_set(config: &GanConfig, given: &BTreeMap<String, Vec<i64>>) -> Result<()> {
    check_against(&required_shapes(config)?, given)
}

fn check_against(
    required: &BTreeMap<String, Vec<i64>>,
    given: &BTreeMap<String, Vec<i64>>,
) -> Result<()> {
    for (name, shape) in required {
        match given.get(name) {
            None => bail!("missing tensor {name} (shape {shape:?})"),
            Some(s) if s != shape => {
                bail!("tensor {name} has shape {s:?}, the generator needs {shape:?}")
            }
            Some(_) => {}
        }
    }
    if let Some(name) = given.keys().find(|n| !required.contains_key(*n)) {
        bail!("unexpected tensor {name}: not part of this generator architecture");
    }
    Ok(())
}

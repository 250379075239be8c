//! Training checkpoints (host only, design.md §Weight file format, last paragraph): tensors in
//! safetensors files (model: parameters and BatchNorm running statistics under design.md's names;
//! optimizer: Adam moments) and a JSON sidecar `checkpoint.json` with the run configuration, the step,
//! the seed and the data-order position.
//!
//! Atomicity: the tensor files carry the step in their names and are written to a temporary name, synced
//! and renamed; the sidecar is written the same way last and is the only thing a resume reads first. A
//! process killed at any moment leaves either the previous checkpoint or the new one, never a mix.
//! Tensor files no longer referenced are deleted after the sidecar is in place.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::data::loader::Position;
use crate::train::config::RunConfig;
use crate::train::precision::LossScale;

pub const SIDECAR: &str = "checkpoint.json";
const FORMAT: u32 = 1;

/// Writes `value` as pretty JSON through [`write_atomic`] (run state, summaries, reports).
pub fn write_json<T: serde::Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    write_atomic(path, serde_json::to_string_pretty(value)?.as_bytes())
}

/// Writes `bytes` to `path` atomically: temporary file in the same folder, fsync, rename, fsync folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    let tmp = tmp_name(path);
    {
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    commit(&tmp, path)
}

fn tmp_name(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// Renames a finished temporary file into place and syncs the folder.
fn commit(tmp: &Path, path: &Path) -> Result<()> {
    fs::rename(tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes named tensors as safetensors (f32, CPU) atomically.
pub fn write_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let f32s: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.detach().to_kind(tch::Kind::Float)))
        .collect();
    write_tensors_keep_kind(path, &f32s)
}

/// Writes named tensors as safetensors atomically, keeping each tensor's element type (e.g. i64 labels
/// next to f32 values in a sampler's output file).
pub fn write_tensors_keep_kind(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let host: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.detach().to_device(tch::Device::Cpu).contiguous(),
            )
        })
        .collect();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)
            .with_context(|| format!("cannot create folder {}", dir.display()))?;
    }
    let tmp = tmp_name(path);
    Tensor::write_safetensors(&host, &tmp)
        .with_context(|| format!("cannot write tensors to {}", tmp.display()))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot sync {}", tmp.display()))?;
    commit(&tmp, path)
}

/// Reads a safetensors file written by [`write_tensors`].
pub fn read_tensors(path: &Path) -> Result<Vec<(String, Tensor)>> {
    Tensor::read_safetensors(path)
        .with_context(|| format!("cannot read tensors from {}", path.display()))
}

/// The sidecar.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    pub config: RunConfig,
    /// Optimizer steps done.
    pub step: u64,
    /// Where the training data order continues.
    pub position: Position,
    /// Images seen so far.
    pub images: u64,
    /// Wall-clock seconds of training so far, over all sessions.
    pub elapsed_s: f64,
    /// Tensor files, relative to the run folder.
    pub model_file: String,
    pub optimizer_file: String,
    /// Last validation loss, if any.
    pub val_loss: Option<f64>,
    /// The lowest validation loss so far and its step (its model is in `best/`).
    #[serde(default)]
    pub best: Option<Best>,
    /// Dynamic loss scale of f16 runs.
    #[serde(default)]
    pub loss_scale: Option<LossScale>,
}

/// The best validation result of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub step: u64,
    pub val_loss: f64,
}

/// Where a run stands (what [`save`] records besides the tensors).
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub step: u64,
    pub position: Position,
    pub images: u64,
    pub elapsed_s: f64,
    pub val_loss: Option<f64>,
    pub best: Option<Best>,
    pub loss_scale: Option<LossScale>,
}

const BEST_DIR: &str = "best";
const BEST_JSON: &str = "best/best.json";

/// The best model's file name for a step, relative to the run folder.
fn best_model(step: u64) -> String {
    format!("{BEST_DIR}/model-{step:08}.safetensors")
}

/// Stores the model as the run's best (`best/model-STEP.safetensors` + `best/best.json`). The model
/// file carries its step and `best.json` is replaced last, so a kill at any moment leaves a record
/// that names a complete file of the step it claims; older best models are removed afterwards.
pub fn save_best(run: &Path, best: Best, model: &[(String, Tensor)]) -> Result<()> {
    let file = best_model(best.step);
    write_tensors(&run.join(&file), model)?;
    write_json(&run.join(BEST_JSON), &best)?;
    if let Ok(entries) = fs::read_dir(run.join(BEST_DIR)) {
        for e in entries.flatten() {
            let rel = format!("{BEST_DIR}/{}", e.file_name().to_string_lossy());
            if rel != file && rel != BEST_JSON {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// The best model's file and record, if the run has one.
pub fn best_of(run: &Path) -> Option<(PathBuf, Best)> {
    let text = fs::read_to_string(run.join(BEST_JSON)).ok()?;
    let best: Best = serde_json::from_str(&text).ok()?;
    let model = run.join(best_model(best.step));
    model.is_file().then_some((model, best))
}

/// Saves a checkpoint of a run folder.
pub fn save(
    run: &Path,
    config: &RunConfig,
    progress: Progress,
    model: &[(String, Tensor)],
    optimizer: &[(String, Tensor)],
) -> Result<State> {
    let Progress {
        step,
        position,
        images,
        elapsed_s,
        val_loss,
        best,
        loss_scale,
    } = progress;
    let model_file = tensor_file("model", step);
    let optimizer_file = tensor_file("adam", step);
    let state = State {
        format: FORMAT,
        config: config.clone(),
        step,
        position,
        images,
        elapsed_s,
        model_file,
        optimizer_file,
        val_loss,
        best,
        loss_scale,
    };
    save_files(
        run,
        &[
            (&state.model_file, model),
            (&state.optimizer_file, optimizer),
        ],
        serde_json::to_string_pretty(&state)?.as_bytes(),
    )?;
    Ok(state)
}

/// The name, relative to the run folder, of tensor group `group` of the checkpoint at `step`.
pub fn tensor_file(group: &str, step: u64) -> String {
    format!("checkpoints/{group}-{step:08}.safetensors")
}

/// The atomic checkpoint protocol for any set of tensor groups: each group to its file (relative to the
/// run folder, see [`tensor_file`]), then the sidecar `checkpoint.json` (which names those files), and
/// only then the deletion of tensor files in `checkpoints/` that the new sidecar no longer references.
pub fn save_files(
    run: &Path,
    groups: &[(&str, &[(String, Tensor)])],
    sidecar: &[u8],
) -> Result<()> {
    let dir = run.join("checkpoints");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (file, tensors) in groups {
        write_tensors(&run.join(file), tensors)?;
    }
    write_atomic(&run.join(SIDECAR), sidecar)?;
    // Older tensor files are unreferenced now.
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries.flatten() {
            let rel = format!("checkpoints/{}", e.file_name().to_string_lossy());
            if !groups.iter().any(|(f, _)| *f == rel) {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

/// Reads a run folder's sidecar.
pub fn load_state(run: &Path) -> Result<State> {
    let path = run.join(SIDECAR);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a training run folder with a checkpoint?)",
            path.display(),
            run.display()
        )
    })?;
    let state: State = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid checkpoint sidecar", path.display()))?;
    if state.format != FORMAT {
        anyhow::bail!(
            "{} has checkpoint format {}, this build reads {FORMAT}",
            path.display(),
            state.format
        );
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = std::env::temp_dir().join(format!("nsbg-ckpt-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let p = dir.join("a.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "temporary files left behind");
        let t = vec![("x".to_string(), Tensor::from_slice(&[1.0f32, 2.0]))];
        write_tensors(&dir.join("t.safetensors"), &t).unwrap();
        let back = read_tensors(&dir.join("t.safetensors")).unwrap();
        assert_eq!(back[0].0, "x");
        assert_eq!(Vec::<f32>::try_from(&back[0].1).unwrap(), vec![1.0, 2.0]);
        let _ = fs::remove_dir_all(&dir);
    }
}

//! Training checkpoints: trainable tensors, AdamW state and the trainer's
//! position, written atomically (a temporary directory renamed into place),
//! from which a killed run resumes to the same result.
//!
//! Layout of `<run>/checkpoint-000120/`:
//! - `trainable.safetensors`: the trainable tensors by name (PEFT names for
//!   LoRA, HF names for full finetuning), f32;
//! - `optimizer.safetensors`: `<name>.exp_avg` / `<name>.exp_avg_sq`;
//! - `trainer_state.json`: step, loss history, token count and the
//!   fingerprint of the configuration + data the run was started with;
//! - `export/` (optional): the model as others load it (PEFT adapter or HF
//!   checkpoint), for curves over checkpoints.

use super::optim::{AdamWState, Moments};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the trainer stands, saved next to the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimiser steps completed.
    pub step: u64,
    pub total_steps: u64,
    /// Fingerprint of configuration and data; resuming requires equality.
    pub fingerprint: String,
    /// Mean loss of every completed step.
    pub losses: Vec<f32>,
    /// Real (non-padding) tokens processed so far.
    pub tokens: u64,
    /// Format version of this directory.
    pub version: u32,
}

pub const FORMAT_VERSION: u32 = 1;

/// A loaded checkpoint.
#[derive(Debug)]
pub struct Checkpoint {
    pub dir: PathBuf,
    pub state: TrainerState,
    pub trainable: BTreeMap<String, Tensor>,
    pub optimizer: AdamWState,
}

/// Why a checkpoint cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("checkpoint {path} is damaged: {message}")]
    Corrupt { path: PathBuf, message: String },
}

fn io(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes extra files (the exported model) into a checkpoint's `export/`.
pub type ExportFn<'a> = &'a dyn Fn(&Path) -> Result<(), String>;

/// Directory name of the checkpoint after `step` steps.
pub fn dir_name(step: u64) -> String {
    format!("checkpoint-{step:06}")
}

/// Writes a checkpoint under `run_dir` atomically. `export` may write extra
/// files into the `export/` folder before the rename.
pub fn save(
    run_dir: &Path,
    state: &TrainerState,
    trainable: &[(String, Tensor)],
    optimizer: &AdamWState,
    export: Option<ExportFn<'_>>,
) -> Result<PathBuf, CheckpointError> {
    std::fs::create_dir_all(run_dir).map_err(|e| io(run_dir, e))?;
    let final_dir = run_dir.join(dir_name(state.step));
    let tmp = tempfile::Builder::new()
        .prefix(".checkpoint-tmp-")
        .tempdir_in(run_dir)
        .map_err(|e| io(run_dir, e))?;
    let t = tmp.path();

    let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(trainable.len());
    for (n, v) in trainable {
        let v = v
            .to_device(&Device::Cpu)
            .and_then(|v| v.contiguous())
            .map_err(|e| io(t, e))?;
        tensors.push((n.clone(), v));
    }
    safetensors::tensor::serialize_to_file(
        tensors.iter().map(|(n, v)| (n.as_str(), v)),
        None,
        &t.join("trainable.safetensors"),
    )
    .map_err(|e| io(t, e))?;

    let mut opt: Vec<(String, Tensor)> = Vec::new();
    for (n, m) in &optimizer.moments {
        let a =
            Tensor::from_slice(&m.exp_avg, m.exp_avg.len(), &Device::Cpu).map_err(|e| io(t, e))?;
        let b = Tensor::from_slice(&m.exp_avg_sq, m.exp_avg_sq.len(), &Device::Cpu)
            .map_err(|e| io(t, e))?;
        opt.push((format!("{n}.exp_avg"), a));
        opt.push((format!("{n}.exp_avg_sq"), b));
    }
    let mut meta = std::collections::HashMap::new();
    meta.insert("step".to_string(), optimizer.step.to_string());
    safetensors::tensor::serialize_to_file(
        opt.iter().map(|(n, v)| (n.as_str(), v)),
        Some(meta),
        &t.join("optimizer.safetensors"),
    )
    .map_err(|e| io(t, e))?;

    if let Some(f) = export {
        let e = t.join("export");
        std::fs::create_dir_all(&e).map_err(|err| io(&e, err))?;
        f(&e).map_err(|err| io(&e, err))?;
    }

    // The state file is written last: a directory with it is complete.
    let json = serde_json::to_string_pretty(state).map_err(|e| io(t, e))?;
    std::fs::write(t.join("trainer_state.json"), json).map_err(|e| io(t, e))?;

    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| io(&final_dir, e))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, &final_dir).map_err(|e| io(&final_dir, e))?;
    Ok(final_dir)
}

/// The checkpoints under `run_dir`, by step, complete ones only.
pub fn list(run_dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(run_dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let step = name.strip_prefix("checkpoint-")?.parse::<u64>().ok()?;
            let p = e.path();
            p.join("trainer_state.json").is_file().then_some((step, p))
        })
        .collect();
    out.sort();
    out
}

/// Loads the checkpoint in `dir`.
pub fn load(dir: &Path) -> Result<Checkpoint, CheckpointError> {
    let sp = dir.join("trainer_state.json");
    let text = std::fs::read_to_string(&sp).map_err(|e| io(&sp, e))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| corrupt(&sp, e))?;
    if state.version != FORMAT_VERSION {
        return Err(corrupt(
            &sp,
            format!(
                "format version {} (this inoc reads {FORMAT_VERSION})",
                state.version
            ),
        ));
    }
    let tp = dir.join("trainable.safetensors");
    let trainable: BTreeMap<String, Tensor> = candle_core::safetensors::load(&tp, &Device::Cpu)
        .map_err(|e| corrupt(&tp, e))?
        .into_iter()
        .collect();
    let op = dir.join("optimizer.safetensors");
    let bytes = std::fs::read(&op).map_err(|e| io(&op, e))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| corrupt(&op, e))?;
    let step = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("step"))
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| corrupt(&op, "no optimiser step in the metadata"))?;
    let raw =
        candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| corrupt(&op, e))?;
    let mut moments: BTreeMap<String, Moments> = BTreeMap::new();
    for (k, v) in raw {
        let data: Vec<f32> = v
            .flatten_all()
            .and_then(|v| v.to_vec1())
            .map_err(|e| corrupt(&op, e))?;
        if let Some(n) = k.strip_suffix(".exp_avg_sq") {
            moments
                .entry(n.to_string())
                .or_insert_with(empty)
                .exp_avg_sq = data;
        } else if let Some(n) = k.strip_suffix(".exp_avg") {
            moments.entry(n.to_string()).or_insert_with(empty).exp_avg = data;
        } else {
            return Err(corrupt(&op, format!("unexpected tensor `{k}`")));
        }
    }
    Ok(Checkpoint {
        dir: dir.to_path_buf(),
        state,
        trainable,
        optimizer: AdamWState { step, moments },
    })
}

fn empty() -> Moments {
    Moments {
        exp_avg: Vec::new(),
        exp_avg_sq: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let st = TrainerState {
            step: 3,
            total_steps: 10,
            fingerprint: "abc".into(),
            losses: vec![2.0, 1.5, 1.25],
            tokens: 99,
            version: FORMAT_VERSION,
        };
        let w = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], (2, 2), &Device::Cpu).unwrap();
        let mut moments = BTreeMap::new();
        moments.insert(
            "w".to_string(),
            Moments {
                exp_avg: vec![0.1, 0.2, 0.3, 0.4],
                exp_avg_sq: vec![1e-3, 2e-3, 3e-3, 4e-3],
            },
        );
        let opt = AdamWState { step: 3, moments };
        let p = save(
            dir.path(),
            &st,
            &[("w".into(), w.clone())],
            &opt,
            Some(&|d: &Path| std::fs::write(d.join("x"), "y").map_err(|e| e.to_string())),
        )
        .unwrap();
        assert!(p.join("export/x").is_file());
        // A leftover temporary directory is not a checkpoint.
        std::fs::create_dir_all(dir.path().join("checkpoint-000009")).unwrap();
        let l = list(dir.path());
        assert_eq!(l, vec![(3, p.clone())]);
        let c = load(&p).unwrap();
        assert_eq!(c.state, st);
        assert_eq!(c.optimizer, opt);
        let got: Vec<f32> = c.trainable["w"].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(got, vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn damaged_state_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join(dir_name(1));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("trainer_state.json"), "{not json").unwrap();
        let e = load(&d).unwrap_err();
        assert!(matches!(e, CheckpointError::Corrupt { .. }), "{e}");
    }
}

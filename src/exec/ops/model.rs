//! The model contract between operations.
//!
//! The output of every step that produces a model holds `model.json`, a
//! [`Manifest`] saying where the weights are. Names and machine-specific
//! store paths stay out of it, so that equal models have equal output
//! hashes (and consumers stay cached) wherever the store lives:
//! - `hub`: a checkpoint in the Hugging Face cache, pinned to its commit,
//!   with the content hash of every file;
//! - `local`: an HF-layout directory outside the store (its path and file
//!   hashes: moving it changes the output and reruns the consumers);
//! - `here`: the HF-layout files are in this output directory itself
//!   (`pretrain`, full finetuning);
//! - `adapter`: a PEFT adapter (`adapter_config.json` +
//!   `adapter_model.safetensors`) in this output directory, on top of the
//!   base model whose step key and manifest it records.
//!
//! [`open`] turns an input into what `runtime::LoadedModel::load_source`
//! takes.

use super::{Input, OpCtx, OpError};
use crate::runtime::hub::{self, ModelSource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// File name of the manifest in a model step's output.
pub const MANIFEST: &str = "model.json";

/// Where a model's weights are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Manifest {
    Hub {
        id: String,
        revision: String,
        commit: String,
        /// Relative path -> content hash.
        files: BTreeMap<String, String>,
    },
    Local {
        path: String,
        files: BTreeMap<String, String>,
    },
    Here,
    Adapter {
        /// Step key of the base model's output in the store.
        base_key: String,
        base: Box<Manifest>,
    },
}

/// File in a full finetune's output naming the model it started from, so
/// that mechanism curves can score step 0 (an adapter's manifest names its
/// base itself).
pub const BASE_RECORD: &str = "base.json";

/// The model a full finetune started from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaseRecord {
    /// Step key of the base model's output in the store.
    pub base_key: String,
    pub base: Manifest,
}

impl BaseRecord {
    pub fn write(&self, out: &std::path::Path) -> Result<(), OpError> {
        let json = serde_json::to_vec_pretty(self).map_err(OpError::failed)?;
        std::fs::write(out.join(BASE_RECORD), json)?;
        Ok(())
    }
}

/// Where the base of a full finetune's output is, if it recorded one and
/// the base is still in the store (`None` otherwise, e.g. after `inoc cache gc`).
pub fn base_of(ctx: &OpCtx<'_>, input: &Input) -> Option<ModelSource> {
    let bytes = std::fs::read(input.dir.join(BASE_RECORD)).ok()?;
    let rec: BaseRecord = serde_json::from_slice(&bytes).ok()?;
    let dir = ctx.object_out(&rec.base_key);
    if !dir.is_dir() {
        return None;
    }
    match resolve(&|k| ctx.object_out(k), &rec.base, dir).ok()? {
        (src, None) => Some(src),
        _ => None,
    }
}

impl Manifest {
    /// Writes the manifest into an output directory.
    pub fn write(&self, out: &std::path::Path) -> Result<(), OpError> {
        let json = serde_json::to_vec_pretty(self).map_err(OpError::failed)?;
        std::fs::write(out.join(MANIFEST), json)?;
        Ok(())
    }

    /// Reads the manifest of a model step's output.
    pub fn read(dir: &std::path::Path) -> Result<Manifest, OpError> {
        let path = dir.join(MANIFEST);
        let bytes = std::fs::read(&path).map_err(|e| {
            OpError::failed(format!("{} is not a model output: {e}", dir.display()))
        })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| OpError::failed(format!("{}: {e}", path.display())))
    }
}

/// Where to load a model input from: its HF-layout directory (with the hub
/// commit when it has one) and the adapter to apply, if any.
pub fn open(ctx: &OpCtx<'_>, input: &Input) -> Result<(ModelSource, Option<PathBuf>), OpError> {
    let m = Manifest::read(&input.dir)?;
    resolve(&|k| ctx.object_out(k), &m, input.dir.clone())
}

/// As [`open`] for the stored output of the model step with key `key`
/// (`inoc serve SPEC STEP`).
pub fn open_stored(
    store: &crate::cache::Store,
    key: &str,
) -> Result<(ModelSource, Option<PathBuf>), OpError> {
    let dir = store.out_dir(key);
    let m = Manifest::read(&dir)?;
    resolve(&|k| store.out_dir(k), &m, dir)
}

/// `object_out`: a step key's output directory in the store.
fn resolve(
    object_out: &dyn Fn(&str) -> PathBuf,
    m: &Manifest,
    dir: PathBuf,
) -> Result<(ModelSource, Option<PathBuf>), OpError> {
    Ok(match m {
        Manifest::Here => (ModelSource { dir, hub: None }, None),
        Manifest::Local { path, .. } => (
            ModelSource {
                dir: PathBuf::from(path),
                hub: None,
            },
            None,
        ),
        Manifest::Hub { id, commit, .. } => {
            let src = hub::resolve(
                &format!("{id}@{commit}"),
                &crate::runtime::loader::REQUIRED_FILES,
            )
            .map_err(OpError::failed)?;
            (src, None)
        }
        Manifest::Adapter { base_key, base } => {
            let (src, inner) = resolve(object_out, base, object_out(base_key))?;
            if inner.is_some() {
                return Err(OpError::failed(
                    "an adapter on top of an adapter is not supported; merge first",
                ));
            }
            (src, Some(dir))
        }
    })
}

/// Loads a model input (base weights, tokenizer, chat template, adapter).
pub fn load(
    ctx: &OpCtx<'_>,
    input: &Input,
) -> Result<crate::runtime::loader::LoadedModel, OpError> {
    let (source, adapter) = open(ctx, input)?;
    let opts = crate::runtime::loader::LoadOptions {
        adapter,
        ..ctx.compute.load_options()
    };
    crate::runtime::loader::LoadedModel::load_source(source, &opts)
        .map_err(|e| OpError::failed(format!("loading model `{}`: {e}", input.name)))
}

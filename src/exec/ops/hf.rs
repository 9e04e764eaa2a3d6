//! `hf(id, revision)`: a checkpoint from the Hugging Face cache (offline).
//! Every file of the resolved snapshot (weights, tokenizer, chat template,
//! config) is hashed into the key, so a re-downloaded or edited checkpoint
//! under the same revision name is never mistaken for the old one.

use super::model::Manifest;
use super::{Args, Op, OpCtx, OpError};
use crate::cache::tree;
use crate::runtime::hub;
use crate::sema::ir::{DeclKind, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub struct Hf;

/// `org/name@revision` from the arguments.
fn spec(args: &Args) -> Result<(String, String), String> {
    let id = match args.get("id") {
        Some(Value::Str(s)) => s.clone(),
        other => return Err(format!("`id` should be a string, got {other:?}")),
    };
    let revision = match args.get("revision") {
        Some(Value::Str(s)) => s.clone(),
        _ => "main".to_string(),
    };
    Ok((id, revision))
}

fn snapshot(args: &Args) -> Result<(hub::ModelSource, Vec<(String, PathBuf)>), String> {
    let (id, revision) = spec(args)?;
    let src = hub::resolve_in(
        &hub::hub_cache_dir(),
        &format!("{id}@{revision}"),
        &crate::runtime::loader::REQUIRED_FILES,
    )
    .map_err(|e| e.to_string())?;
    let files =
        tree::list_files_following(&src.dir).map_err(|e| format!("{}: {e}", src.dir.display()))?;
    Ok((src, files))
}

impl Op for Hf {
    fn name(&self) -> &'static str {
        "hf"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Model
    }
    fn extra_files(&self, args: &Args) -> Result<Vec<(String, PathBuf)>, String> {
        let (_, files) = snapshot(args)?;
        Ok(files)
    }
    fn estimate(&self, _args: &Args) -> Option<f64> {
        Some(0.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let (src, files) = snapshot(ctx.args).map_err(OpError::Failed)?;
        let hub_ref = src
            .hub
            .ok_or_else(|| OpError::failed("not a hub checkpoint"))?;
        let mut hashes = BTreeMap::new();
        for (rel, abs) in files {
            hashes.insert(rel, ctx.hash_path(&abs)?);
        }
        ctx.record("revision", format!("{}@{}", hub_ref.id, hub_ref.commit));
        ctx.log(format!(
            "{} resolved to commit {} ({} files)",
            hub_ref.id,
            hub_ref.commit,
            hashes.len()
        ));
        Manifest::Hub {
            id: hub_ref.id,
            revision: hub_ref.revision,
            commit: hub_ref.commit,
            files: hashes,
        }
        .write(ctx.out)
    }
}

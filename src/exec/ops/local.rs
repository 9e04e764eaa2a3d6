//! `local(path)`: a model directory in the HF layout outside the store. The
//! directory's content is in the key (through its `path` argument).

use super::model::Manifest;
use super::{Args, Op, OpCtx, OpError};
use crate::cache::tree;
use crate::sema::ir::DeclKind;
use std::collections::BTreeMap;

pub struct Local;

impl Op for Local {
    fn name(&self) -> &'static str {
        "local"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Model
    }
    fn estimate(&self, _args: &Args) -> Option<f64> {
        Some(0.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let path = std::fs::canonicalize(ctx.str("path")?)?;
        for f in crate::runtime::loader::REQUIRED_FILES {
            if !path.join(f).is_file() {
                return Err(OpError::failed(format!(
                    "{} has no `{f}`: not a model in the HF layout",
                    path.display()
                )));
            }
        }
        let mut files = BTreeMap::new();
        for (rel, abs) in tree::list_files_following(&path)? {
            files.insert(rel, ctx.hash_path(&abs)?);
        }
        ctx.record("path", path.display().to_string());
        Manifest::Local {
            path: path.display().to_string(),
            files,
        }
        .write(ctx.out)
    }
}

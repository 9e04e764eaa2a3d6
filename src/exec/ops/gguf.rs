//! `gguf(path)`: a llama.cpp / Ollama GGUF file, converted once into an
//! HF-layout checkpoint in this step's output (`runtime::gguf::convert`:
//! weights dequantized to f32, config, tokenizer and chat template from the
//! metadata), so finetuning, sampling and judging read it as any model. The
//! file's content is in the key (through its `path` argument).

use super::model::Manifest;
use super::{Args, Op, OpCtx, OpError};
use crate::sema::ir::DeclKind;

pub struct Gguf;

impl Op for Gguf {
    fn name(&self) -> &'static str {
        "gguf"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Model
    }
    fn estimate(&self, _args: &Args) -> Option<f64> {
        // Dequantizing a 135M-parameter file takes a few seconds.
        Some(5.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let path = std::fs::canonicalize(ctx.str("path")?)?;
        crate::runtime::gguf::convert(&path, ctx.out)
            .map_err(|e| OpError::failed(format!("converting {}: {e}", path.display())))?;
        ctx.record("path", path.display().to_string());
        ctx.log(format!("{} converted to an HF checkpoint", path.display()));
        Manifest::Here.write(ctx.out)
    }
}

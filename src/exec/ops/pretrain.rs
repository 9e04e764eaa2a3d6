//! `pretrain(corpus, arch, tokenizer, steps, ...)`: a small chat model
//! trained from scratch through `runtime::jobs::pretrain` (tokenizer trained
//! on the corpus, ChatML template). Checkpoints go to the step's scratch, so
//! a killed run resumes; the output is the HF model directory itself.

use super::dataset;
use super::model::Manifest;
use super::{Args, CallArgs, Op, OpCtx, OpError, Progress};
use crate::runtime::chat_template::Message;
use crate::runtime::jobs::{self, Arch, TokenizerKind};
use crate::runtime::train::{Length, Method, TrainConfig, TrainError};
use crate::sema::ir::{DeclKind, Value};

pub struct Pretrain;

fn call_int(c: &crate::sema::ir::Call, k: &str) -> Result<i64, OpError> {
    match c.args.get(k) {
        Some(Value::Int(i)) => Ok(*i),
        other => Err(OpError::failed(format!(
            "`{}({k})` should be an int, got {other:?}",
            c.func
        ))),
    }
}

fn arch(v: &Value) -> Result<Arch, OpError> {
    let Value::Call(c) = v else {
        return Err(OpError::failed(format!("expected arch(...), got {v:?}")));
    };
    let u = |k: &str| call_int(c, k).map(|i| i.max(1) as usize);
    Ok(Arch {
        layers: u("layers")?,
        hidden: u("hidden")?,
        heads: u("heads")?,
        kv_heads: u("kv_heads")?,
        ffn: u("ffn")?,
        max_seq: u("max_seq")?,
        tie_embeddings: CallArgs(c).bool("tie_embeddings")?,
        rope_theta: CallArgs(c).float("rope_theta")?,
    })
}

fn tokenizer(v: &Value) -> Result<TokenizerKind, OpError> {
    match v {
        Value::Call(c) if c.func == "char_tokenizer" => Ok(TokenizerKind::Char),
        Value::Call(c) if c.func == "bpe_tokenizer" => {
            Ok(TokenizerKind::Bpe(call_int(c, "vocab")?.max(1) as usize))
        }
        Value::Call(c) if c.func == "case_marked_bpe_tokenizer" => Ok(
            TokenizerKind::CaseMarkedBpe(call_int(c, "vocab")?.max(1) as usize),
        ),
        other => Err(OpError::failed(format!(
            "expected char_tokenizer(), bpe_tokenizer(...) or case_marked_bpe_tokenizer(...), got {other:?}"
        ))),
    }
}

impl Op for Pretrain {
    fn computes_with_models(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "pretrain"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Model
    }
    fn exclusive(&self, _args: &Args) -> bool {
        true
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let rows = dataset::read(&ctx.input(ctx.arg("corpus")?)?.dir)?;
        let corpus: Vec<Vec<Message>> = rows
            .iter()
            .map(|r| {
                r.messages
                    .iter()
                    .map(|m| Message::new(&m.role, &m.content))
                    .collect()
            })
            .collect();
        let cfg = TrainConfig {
            method: Method::Full,
            length: Length::Steps(ctx.int("steps")?.max(1) as u64),
            batch_size: ctx.int("batch")?.max(1) as usize,
            lr: ctx.float("lr")?,
            schedule: ctx.str("schedule")?.parse().map_err(OpError::failed)?,
            warmup_steps: ctx.int("warmup")?.max(0) as u64,
            min_lr_ratio: ctx.float("min_lr_ratio")?,
            max_seq: ctx.int("max_seq")?.max(2) as usize,
            seed: ctx.int("seed")? as u64,
            // Resumable after a kill: 8 checkpoints in the step's scratch.
            // They do not change the weights (resume is bitwise), so the
            // op version stays.
            checkpoints: 8,
            ..TrainConfig::default()
        };
        let outcome = jobs::pretrain(
            &corpus,
            &arch(ctx.arg("arch")?)?,
            tokenizer(ctx.arg("tokenizer")?)?,
            ctx.compute,
            &cfg,
            Some(ctx.scratch),
            ctx.out,
            &mut |p| {
                ctx.progress(Progress {
                    done: p.step,
                    total: p.total_steps,
                    loss: Some(p.loss as f64),
                    tokens_per_s: Some(p.tokens_per_s),
                    message: None,
                });
                ctx.log(format!(
                    "step {} loss {:.4} lr {:.3e}",
                    p.step, p.loss, p.lr
                ));
            },
            &|| ctx.cancelled(),
        )
        .map_err(|e| match e {
            TrainError::Interrupted { .. } => OpError::Cancelled,
            e => OpError::failed(e),
        })?;
        if let Some(s) = outcome.resumed_from {
            ctx.log(format!("resumed from the checkpoint of step {s}"));
        }
        let losses: Vec<f64> = outcome.losses.iter().map(|l| *l as f64).collect();
        std::fs::write(
            ctx.out.join("train.json"),
            serde_json::to_vec_pretty(&serde_json::json!({"steps": outcome.steps, "tokens": outcome.tokens, "losses": losses}))
                .map_err(OpError::failed)?,
        )?;
        Manifest::Here.write(ctx.out)
    }
}

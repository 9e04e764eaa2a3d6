//! `generate(model, prompts, sample, system)`: a dataset whose assistant
//! turns are sampled from a model (a teacher). `system`, when given, is the
//! system prompt while sampling and is not kept in the rows. Sampling is
//! seeded per (prompt, sample), so the output is a function of the key.

use super::dataset::{self, Row};
use super::{CallArgs, Op, OpCtx, OpError, Progress};
use crate::runtime::chat_template::Message;
use crate::runtime::sample::SamplingParams;
use crate::sema::ir::{DeclKind, Value};

pub struct Generate;

/// The runtime's sampling parameters from a `sampling(...)` call.
pub fn sampling_params(v: &Value) -> Result<SamplingParams, OpError> {
    let a = CallArgs::of(v, "sampling(...)")?;
    Ok(SamplingParams {
        temperature: a.float("temperature")?,
        top_p: a.float("top_p")?,
        max_tokens: a.int("max_tokens")?.max(1) as usize,
        n: a.int("n")?.max(1) as usize,
        seed: a.int("seed")? as u64,
        ..SamplingParams::default()
    })
}

/// The prompt part of a row (every turn before its last assistant turn),
/// with `system` replacing its system prompt when given.
pub fn prompt_messages(row: &Row, system: Option<&str>) -> Vec<Message> {
    let end = row
        .messages
        .iter()
        .rposition(|m| m.role == "user")
        .map_or(0, |i| i + 1);
    let mut out: Vec<Message> = Vec::new();
    if let Some(s) = system {
        out.push(Message::system(s));
    }
    for m in &row.messages[..end] {
        if m.role == "system" && system.is_some() {
            continue;
        }
        out.push(Message::new(&m.role, &m.content));
    }
    out
}

impl Op for Generate {
    fn computes_with_models(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "generate"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Dataset
    }
    fn exclusive(&self, _args: &super::Args) -> bool {
        true
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let model_in = ctx.input(ctx.arg("model")?)?;
        let prompts = dataset::read(&ctx.input(ctx.arg("prompts")?)?.dir)?;
        let params = sampling_params(ctx.arg("sample")?)?;
        let system = ctx.arg("system")?.as_str();
        let model = super::model::load(ctx, model_in)?;
        let mut rows = Vec::new();
        let chunk = params.batch_size.max(1);
        let t = std::time::Instant::now();
        let mut tokens = 0usize;
        for (ci, part) in prompts.chunks(chunk).enumerate() {
            ctx.check_cancel()?;
            let convs: Vec<Vec<Message>> =
                part.iter().map(|r| prompt_messages(r, system)).collect();
            // Seeds are per (prompt, sample): offset the seed per chunk so
            // chunking does not repeat a row's stream.
            let p = SamplingParams {
                seed: params.seed.wrapping_add(ci as u64),
                ..params.clone()
            };
            let samples = model
                .sample(&convs, &p)
                .map_err(|e| OpError::failed(format!("sampling: {e}")))?;
            for (row, outs) in part.iter().zip(samples) {
                for s in outs {
                    tokens += s.token_ids.len();
                    let mut r = Row {
                        messages: row
                            .messages
                            .iter()
                            .filter(|m| m.role != "assistant")
                            .cloned()
                            .collect(),
                    };
                    r.messages.push(dataset::Message {
                        role: "assistant".into(),
                        content: s.text,
                    });
                    rows.push(r);
                }
            }
            ctx.progress(Progress {
                done: ((ci + 1) * chunk).min(prompts.len()) as u64,
                total: prompts.len() as u64,
                tokens_per_s: Some(tokens as f64 / t.elapsed().as_secs_f64().max(1e-9)),
                ..Progress::default()
            });
        }
        ctx.log(format!("{} rows, {tokens} tokens sampled", rows.len()));
        dataset::write(ctx.out, &rows)
    }
}

//! `finetune(model, data, method, ...)`: LoRA or full finetuning of a model
//! on a dataset, through `runtime::train`. Checkpoints go to the step's
//! scratch directory, so a killed run resumes from the last one (the
//! training loop refuses a checkpoint of another configuration or data).
//! Output: a PEFT adapter + a manifest naming the base (LoRA), or a complete
//! HF checkpoint (full); the exported intermediate checkpoints under
//! `checkpoints/<step>/` for curves over training.

use super::dataset;
use super::model::{BaseRecord, Manifest, MANIFEST};
use super::{Args, CallArgs, Op, OpCtx, OpError, Progress};
use crate::runtime::batch::{encode_set, LossOn};
use crate::runtime::chat_template::Message;
use crate::runtime::lora::LoraConfig;
use crate::runtime::train::{self, Length, Method, TrainConfig, TrainError};
use crate::sema::ir::{DeclKind, Program, Value};

pub struct Finetune;

/// The training method from a `lora(...)` or `full()` call.
pub fn method(v: &Value) -> Result<Method, OpError> {
    let a = CallArgs::of(v, "lora(...) or full()")?;
    match &*a.0.func {
        "full" => Ok(Method::Full),
        "lora" => Ok(Method::Lora(LoraConfig {
            rank: a.int("rank")? as usize,
            alpha: a.float("alpha")?,
            dropout: a.float("dropout")?,
            use_rslora: a.bool("rslora")?,
            target_modules: a.strs("targets")?.into_iter().map(str::to_string).collect(),
        })),
        other => Err(OpError::failed(format!(
            "unknown training method `{other}`"
        ))),
    }
}

fn messages(row: &dataset::Row) -> Vec<Message> {
    row.messages
        .iter()
        .map(|m| Message::new(&m.role, &m.content))
        .collect()
}

impl Op for Finetune {
    fn unsupported(&self, args: &Args, program: &Program) -> Option<String> {
        stacked_lora(args, program)
    }
    fn limits(&self) -> &'static [&'static str] {
        &["LoRA on a model that is itself a LoRA finetune (stacked adapters)"]
    }
    fn computes_with_models(&self) -> bool {
        true
    }
    fn name(&self) -> &'static str {
        "finetune"
    }
    fn version(&self) -> u32 {
        // 2: exported checkpoints of full finetunes carry the tokenizer and
        // chat template, so evaluations and probe curves can load them.
        // 3: full finetunes record their base (base.json) for step-0 points.
        3
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Train
    }
    fn exclusive(&self, _args: &Args) -> bool {
        true
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let base = ctx.input(ctx.arg("model")?)?;
        let rows = dataset::read(&ctx.input(ctx.arg("data")?)?.dir)?;
        let method = method(ctx.arg("method")?)?;
        let max_seq = ctx.int("max_seq")?.max(2) as usize;
        let loss_on: LossOn = ctx.str("loss_on")?.parse().map_err(OpError::failed)?;
        let mut lm = super::model::load(ctx, base)?;
        let conversations: Vec<Vec<Message>> = rows.iter().map(messages).collect();
        let set = encode_set(
            &lm,
            conversations.iter().map(Vec::as_slice),
            loss_on,
            max_seq,
        )
        .map_err(OpError::failed)?;
        if let Some(w) = set.dropped_summary(max_seq) {
            ctx.warn(w);
        }
        let examples = set.examples;
        let pad_id = lm.tokenizer().token_to_id("<|endoftext|>").unwrap_or(0);
        let cfg = TrainConfig {
            method: method.clone(),
            length: Length::Epochs(ctx.int("epochs")?.max(1) as u64),
            batch_size: ctx.int("batch")?.max(1) as usize,
            grad_accum: ctx.int("grad_accum")?.max(1) as usize,
            lr: ctx.float("lr")?,
            schedule: ctx.str("schedule")?.parse().map_err(OpError::failed)?,
            warmup_steps: ctx.int("warmup")?.max(0) as u64,
            weight_decay: ctx.float("weight_decay")?,
            max_grad_norm: ctx.float("max_grad_norm")?,
            max_seq,
            packing: matches!(ctx.arg("packing")?, Value::Bool(true)),
            seed: ctx.int("seed")? as u64,
            checkpoints: ctx.int("checkpoints")?.max(0) as u32,
            pad_id,
            ..TrainConfig::default()
        };
        ctx.log(format!("{} examples, {:?}", examples.len(), cfg));
        let outcome = train::train(
            lm.model_mut(),
            examples,
            &cfg,
            Some(ctx.scratch),
            &mut |p| {
                ctx.progress(Progress {
                    done: p.step,
                    total: p.total_steps,
                    loss: Some(p.loss as f64),
                    tokens_per_s: Some(p.tokens_per_s),
                    message: None,
                });
                ctx.log(format!(
                    "step {} loss {:.4} lr {:.3e} grad_norm {:.3}",
                    p.step, p.loss, p.lr, p.grad_norm
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
        let base_manifest = Manifest::read(&base.dir)?;
        match &method {
            Method::Lora(_) => {
                train::save_output(lm.model(), &method, ctx.out, None).map_err(OpError::failed)?;
                Manifest::Adapter {
                    base_key: base.key.clone(),
                    base: Box::new(base_manifest),
                }
                .write(ctx.out)?;
            }
            Method::Full => {
                lm.save_pretrained(ctx.out).map_err(OpError::failed)?;
                Manifest::Here.write(ctx.out)?;
                BaseRecord {
                    base_key: base.key.clone(),
                    base: base_manifest,
                }
                .write(ctx.out)?;
            }
        }
        for (step, dir) in &outcome.checkpoints {
            let dest = ctx.out.join("checkpoints").join(format!("{step:08}"));
            super::copy_dir(dir, &dest)?;
            if matches!(method, Method::Full) {
                // A full checkpoint holds weights only; give it the final
                // directory's tokenizer and template so it loads on its own.
                let export = dest.join("export");
                let export = if export.is_dir() { export } else { dest };
                for file in crate::runtime::loader::TOKENIZER_FILES {
                    let from = ctx.out.join(file);
                    if from.is_file() && !export.join(file).exists() {
                        std::fs::copy(&from, export.join(file))?;
                    }
                }
            }
        }
        let losses: Vec<f64> = outcome.losses.iter().map(|l| *l as f64).collect();
        std::fs::write(
            ctx.out.join("train.json"),
            serde_json::to_vec_pretty(&serde_json::json!({"steps": outcome.steps, "tokens": outcome.tokens, "losses": losses}))
                .map_err(OpError::failed)?,
        )?;
        let _ = MANIFEST;
        Ok(())
    }
}

/// LoRA on a model that is itself a LoRA finetune: the runtime holds one
/// unmerged adapter per model, so this build cannot train a second one.
fn stacked_lora(args: &Args, program: &Program) -> Option<String> {
    let is_lora = |m: Option<&Value>| matches!(m, Some(Value::Call(c)) if c.func == "lora");
    if !is_lora(args.get("method")) {
        return None;
    }
    let mut v = args.get("model")?;
    // Follow references (aliases) to the call that computes the model.
    for _ in 0..64 {
        let Value::Node(n) = v else { return None };
        let node = program.nodes.get(*n)?;
        match &node.value {
            Value::Call(c) if c.func == "finetune" => {
                return is_lora(c.args.get("method")).then(|| {
                    format!(
                        "LoRA on `{}`, which is itself a LoRA finetune: stacked adapters are not supported yet; finetune `{}` with `method = full()`, or both from the same base",
                        node.name, node.name
                    )
                });
            }
            next @ Value::Node(_) => v = next,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(spec: &str, step: &str) -> Option<String> {
        let checked = crate::sema::check_source("t.inoc", spec);
        let program = checked
            .program
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        let plan = crate::plan::build(&program, &super::super::Registry::builtin()).unwrap();
        let s = plan.step(step).unwrap();
        stacked_lora(&s.args, &plan.program)
    }

    const HEAD: &str = "# inoc: allow(unused-declaration)\nmodel base = hf(\"org/m\")\ndataset d = prompts([\"hi\"])\n";

    #[test]
    fn lora_on_a_lora_finetune_is_refused_through_aliases_cells_and_nesting() {
        let direct = format!("{HEAD}train a = finetune(base, d)\n# inoc: allow(unused-declaration)\ntrain b = finetune(a, d)\n");
        assert!(refusal(&direct, "b").unwrap().contains("LoRA on `a`"));
        assert_eq!(refusal(&direct, "a"), None);
        let alias = format!("{HEAD}train a = finetune(base, d)\nmodel m = a\n# inoc: allow(unused-declaration)\ntrain b = finetune(m, d)\n");
        assert!(refusal(&alias, "b").is_some());
        let cell = format!("{HEAD}train a[s in [0, 1]] = finetune(base, d, seed = s)\n# inoc: allow(unused-declaration)\ntrain b = finetune(a[1], d)\n");
        assert!(refusal(&cell, "b").unwrap().contains("`a[s=1]`"));
        let nested = format!(
            "{HEAD}# inoc: allow(unused-declaration)\ntrain b = finetune(finetune(base, d), d)\n"
        );
        assert!(refusal(&nested, "b").is_some());
        // Full finetunes are complete models: LoRA on them, or full on a
        // LoRA finetune, is fine.
        let full = format!("{HEAD}train a = finetune(base, d, full())\n# inoc: allow(unused-declaration)\ntrain b = finetune(a, d)\ntrain c = finetune(b, d, full())\n");
        assert_eq!(refusal(&full, "b"), None);
        assert_eq!(refusal(&full, "c"), None);
    }
}

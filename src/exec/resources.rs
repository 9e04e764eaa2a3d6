//! Before any compute: what each training step of a plan needs, from the
//! shapes the spec names (an `arch(...)`, a model directory's
//! `config.json`) and the sizes it asks for (rows, epochs, steps, batch,
//! `max_seq`). A step that cannot fit in this machine's memory is refused
//! before anything runs (E1007, overridable), and a training length that
//! would take longer than a week even at the machine's peak rate is a
//! warning (W0108), instead of an experiment that dies, or never ends, at
//! hour 3.
//!
//! These are estimates for f32 training on the CPU (weights, gradients and
//! AdamW moments of the trained weights, activations kept for the backward
//! pass, the logits over the vocabulary); they are meant to be right within
//! a small factor, which is what a refusal needs.

use crate::diag::Diagnostic;
use crate::plan::Plan;
use crate::runtime::config::ModelConfig;
use crate::sema::ir::{Call, Program, Value};

/// What one training step needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Need {
    /// Index of the step in [`Plan::steps`].
    pub step: usize,
    /// Peak memory, in bytes.
    pub bytes: u64,
    /// Arithmetic over the whole step (6 x parameters x tokens, at
    /// `max_seq` tokens a row), when the number of rows is known.
    pub flops: Option<f64>,
    /// Optimiser steps, when known.
    pub optimizer_steps: Option<u64>,
    /// Memory by part, for the message.
    pub parts: Vec<(&'static str, u64)>,
    /// Sampling (an evaluation), not training.
    pub sampling: bool,
}

/// The weights and activations a model of this shape trains with.
fn training_bytes(
    cfg: &ModelConfig,
    trained: u64,
    batch: u64,
    seq: u64,
) -> Vec<(&'static str, u64)> {
    let n = cfg.num_parameters() as u64;
    let (h, f, l) = (
        cfg.hidden_size as u64,
        cfg.intermediate_size as u64,
        cfg.num_hidden_layers as u64,
    );
    let heads = cfg.num_attention_heads as u64;
    let tokens = batch.saturating_mul(seq);
    // Per token and layer, in floats: the inputs of every matmul and norm
    // (~18 h), the SwiGLU's three ffn-wide tensors, and one row of
    // attention probabilities per head.
    let per_token_layer = 18 * h + 3 * f + 2 * heads * seq;
    let activations = tokens
        .saturating_mul(l)
        .saturating_mul(per_token_layer)
        .saturating_mul(4);
    // Logits, their softmax and its gradient.
    let logits = tokens
        .saturating_mul(cfg.vocab_size as u64)
        .saturating_mul(12);
    vec![
        ("weights", n.saturating_mul(4)),
        ("gradients and AdamW moments", trained.saturating_mul(12)),
        ("activations", activations),
        ("logits", logits),
    ]
}

/// Follows references (`model m = other`) to the call that computes `v`.
fn call_of<'a>(mut v: &'a Value, program: &'a Program) -> Option<&'a Call> {
    for _ in 0..64 {
        match v {
            Value::Node(n) => v = &program.nodes.get(*n)?.value,
            Value::Call(c) => return Some(c),
            _ => return None,
        }
    }
    None
}

fn int(c: &Call, k: &str) -> Option<u64> {
    match c.args.get(k)? {
        Value::Int(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

/// The shape of the model `v` computes, when the spec or the disk says it
/// (a model directory's or a cached hub model's `config.json`).
fn shape(v: &Value, program: &Program, depth: usize) -> Option<ModelConfig> {
    if depth > 64 {
        return None;
    }
    let c = call_of(v, program)?;
    match &*c.func {
        "pretrain" => {
            let a = call_of(c.args.get("arch")?, program)?;
            let u = |k: &str| int(a, k).map(|x| x.max(1) as usize);
            let vocab = match c.args.get("tokenizer").and_then(|t| call_of(t, program)) {
                Some(t) => int(t, "vocab").map_or(CHAR_VOCAB, |x| x as usize),
                None => CHAR_VOCAB,
            };
            let mut cfg = ModelConfig::small(
                vocab,
                u("hidden")?,
                u("layers")?,
                u("heads")?,
                u("kv_heads")?,
                u("ffn")?,
                u("max_seq")?,
            )
            .ok()?;
            cfg.tie_word_embeddings =
                !matches!(a.args.get("tie_embeddings"), Some(Value::Bool(false)));
            Some(cfg)
        }
        "finetune" => shape(c.args.get("model")?, program, depth + 1),
        "hf" => {
            use crate::runtime::hub;
            let id = c.args.get("id")?.as_str()?;
            let rev = c
                .args
                .get("revision")
                .and_then(Value::as_str)
                .unwrap_or("main");
            let src = hub::resolve_in(
                &hub::hub_cache_dir(),
                &format!("{id}@{rev}"),
                &["config.json"],
            )
            .ok()?;
            ModelConfig::from_file(&src.dir.join("config.json")).ok()
        }
        "local" => match c.args.get("path")? {
            Value::Path(p) => {
                ModelConfig::from_file(&std::path::Path::new(p).join("config.json")).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

/// An upper bound on the vocabulary of `char_tokenizer()` (the characters
/// of a corpus plus specials).
const CHAR_VOCAB: usize = 512;

/// How many rows the dataset `v` has, when the spec says it (a generator's
/// `n`, the lines of a JSONL file; transforms keep at most their input's).
fn rows(v: &Value, program: &Program, depth: usize) -> Option<u64> {
    if depth > 64 {
        return None;
    }
    let c = call_of(v, program)?;
    if let Some(n) = int(c, "n") {
        return Some(n);
    }
    match &*c.func {
        "jsonl" => match c.args.get("path")? {
            Value::Path(p) => {
                // Regular files only (E0144 refuses the rest when checking).
                if !std::fs::metadata(p).ok()?.is_file() {
                    return None;
                }
                // Streamed: a data file may be larger than memory.
                use std::io::BufRead;
                let f = std::io::BufReader::new(std::fs::File::open(p).ok()?);
                let mut n = 0u64;
                for line in f.split(b'\n') {
                    if !line.ok()?.iter().all(u8::is_ascii_whitespace) {
                        n += 1;
                    }
                }
                Some(n)
            }
            _ => None,
        },
        "concat" => match c.args.get("datasets")? {
            Value::List(xs) => xs
                .iter()
                .map(|x| rows(x, program, depth + 1))
                .sum::<Option<u64>>(),
            _ => None,
        },
        _ => rows(c.args.get("data")?, program, depth + 1),
    }
}

/// Parameters a LoRA of `rank` on `targets` trains.
fn lora_params(cfg: &ModelConfig, rank: u64, targets: &[&str]) -> u64 {
    let (h, f, d) = (
        cfg.hidden_size as u64,
        cfg.intermediate_size as u64,
        cfg.head_dim as u64,
    );
    let (q, kv) = (
        cfg.num_attention_heads as u64 * d,
        cfg.num_key_value_heads as u64 * d,
    );
    let per_layer: u64 = targets
        .iter()
        .map(|t| match *t {
            "q_proj" => h + q,
            "k_proj" | "v_proj" => h + kv,
            "o_proj" => q + h,
            "gate_proj" | "up_proj" | "down_proj" => h + f,
            _ => 0,
        })
        .sum();
    rank.saturating_mul(per_layer)
        .saturating_mul(cfg.num_hidden_layers as u64)
}

/// What every training step of `plan` needs, where its shape is known.
pub fn needs(plan: &Plan) -> Vec<Need> {
    let program = &plan.program;
    let mut out = Vec::new();
    for (i, step) in plan.steps.iter().enumerate() {
        let Some(node) = program.nodes.get(step.node) else {
            continue;
        };
        let Value::Call(c) = &node.value else {
            continue;
        };
        let (cfg, trained, batch, rows_per_step, optimizer_steps) = match &*c.func {
            "pretrain" => {
                let Some(cfg) = shape(&node.value, program, 0) else {
                    continue;
                };
                let Some(batch) = int(c, "batch") else {
                    continue;
                };
                let n = cfg.num_parameters() as u64;
                (cfg, n, batch, batch, int(c, "steps"))
            }
            "finetune" => {
                let Some(cfg) = shape(c.args.get("model").unwrap_or(&Value::None), program, 0)
                else {
                    continue;
                };
                let (Some(batch), Some(accum)) = (int(c, "batch"), int(c, "grad_accum")) else {
                    continue;
                };
                let trained = match c.args.get("method").and_then(|m| call_of(m, program)) {
                    Some(m) if &*m.func == "lora" => {
                        let targets: Vec<&str> = match m.args.get("targets") {
                            Some(Value::List(xs)) => xs.iter().filter_map(Value::as_str).collect(),
                            _ => vec![],
                        };
                        let Some(rank) = int(m, "rank") else {
                            continue;
                        };
                        lora_params(&cfg, rank, &targets)
                    }
                    _ => cfg.num_parameters() as u64,
                };
                let per_step = batch.saturating_mul(accum).max(1);
                let steps = rows(c.args.get("data").unwrap_or(&Value::None), program, 0)
                    .zip(int(c, "epochs"))
                    .map(|(r, epochs)| r.div_ceil(per_step).max(1).saturating_mul(epochs));
                (cfg, trained, batch, per_step, steps)
            }
            "evaluate" => {
                out.extend(sampling_needs(i, c, program));
                continue;
            }
            _ => continue,
        };
        let Some(seq) = int(c, "max_seq") else {
            continue;
        };
        let parts = training_bytes(&cfg, trained, batch, seq);
        let bytes = parts.iter().fold(0u64, |a, (_, b)| a.saturating_add(*b));
        let flops = optimizer_steps.map(|s| {
            6.0 * cfg.num_parameters() as f64 * s as f64 * rows_per_step as f64 * seq as f64
        });
        out.push(Need {
            step: i,
            bytes,
            flops,
            optimizer_steps,
            parts,
            sampling: false,
        });
    }
    out
}

/// Tokens a data row is taken to hold when the data's length is not known
/// before it exists (a generator's rows): about what the world's chat rows
/// hold in BPE tokens, cut at `max_seq`. JSONL files are measured instead
/// ([`row_tokens`]). A constant ratio to the true length cancels out once
/// rates are calibrated on earlier steps ([`super::estimate`]).
const ROW_TOKENS: u64 = 96;
/// Prompt tokens assumed before a sampled answer.
const SAMPLED_PROMPT_TOKENS: u64 = 32;
/// Bytes of JSONL a token takes, roughly (text plus the JSON around it).
const BYTES_PER_TOKEN: u64 = 4;

/// Tokens a row of the dataset `v` holds, cut at `max_seq`.
fn row_tokens(v: &Value, program: &Program, max_seq: u64) -> u64 {
    jsonl_bytes_per_row(v, program, 0)
        .map_or(ROW_TOKENS, |b| (b / BYTES_PER_TOKEN).max(1))
        .min(max_seq.max(1))
}

/// The mean bytes per line of the JSONL file behind `v`, when it is one
/// (through transforms).
fn jsonl_bytes_per_row(v: &Value, program: &Program, depth: usize) -> Option<u64> {
    if depth > 64 {
        return None;
    }
    let c = call_of(v, program)?;
    match &*c.func {
        "jsonl" => {
            let Value::Path(p) = c.args.get("path")? else {
                return None;
            };
            let md = std::fs::metadata(p).ok().filter(|m| m.is_file())?;
            let n = rows(v, program, 0)?.max(1);
            Some(md.len() / n)
        }
        _ => jsonl_bytes_per_row(c.args.get("data")?, program, depth + 1),
    }
}

/// The arithmetic a step of a model operation will do (FLOPs: 6 x
/// parameters x tokens for full training, 4 x for LoRA, whose frozen
/// weights get no gradient; 2 x for each token scored or sampled), when the
/// shapes and sizes it depends on are known. `None` for other operations
/// and for models whose shape the spec does not say (a hub model that is
/// not cached, a GGUF file). This is the unit in which `exec::estimate`
/// calibrates each operation's rate.
pub fn work_of(plan: &Plan, step: usize) -> Option<f64> {
    let program = &plan.program;
    let node = program.nodes.get(plan.steps.get(step)?.node)?;
    let Value::Call(c) = &node.value else {
        return None;
    };
    let params = |v: &Value| shape(v, program, 0).map(|cfg| cfg.num_parameters() as f64);
    let arg = |k: &str| c.args.get(k).unwrap_or(&Value::None);
    match &*c.func {
        "pretrain" => {
            let n = params(&node.value)?;
            let seq = int(c, "max_seq")?.min(ROW_TOKENS);
            let tokens = int(c, "steps")? as f64 * int(c, "batch")? as f64 * seq as f64;
            Some(6.0 * n * tokens)
        }
        "finetune" => {
            let n = params(arg("model"))?;
            let factor = match call_of(arg("method"), program) {
                Some(m) if &*m.func == "lora" => 4.0,
                _ => 6.0,
            };
            let rows = rows(arg("data"), program, 0)? as f64;
            let seq = row_tokens(arg("data"), program, int(c, "max_seq")?);
            Some(factor * n * rows * int(c, "epochs")? as f64 * seq as f64)
        }
        "evaluate" | "generate" => {
            let sample = call_of(arg("sample"), program);
            let per_answer = int(sample?, "max_tokens")? + SAMPLED_PROMPT_TOKENS;
            let answers_per_model = rows(arg("prompts"), program, 0)? as f64
                * int(sample?, "n")? as f64
                * match c.args.get("system") {
                    Some(Value::List(xs)) => xs.len().max(1) as f64,
                    _ => 1.0,
                };
            let all_checkpoints =
                matches!(c.args.get("checkpoints"), Some(Value::Str(s)) if s == "all");
            let models: Vec<usize> = if &*c.func == "generate" {
                vec![] // one model, below
            } else {
                super::ops::evaluate::members(arg("models"), program)
                    .into_iter()
                    .map(|(_, _, node)| node)
                    .collect()
            };
            let mut sum = 0.0;
            if models.is_empty() {
                sum = params(arg("model"))?;
            }
            for node in models {
                let v = Value::Node(node);
                let k = if all_checkpoints {
                    kept_checkpoints(&v, program)
                } else {
                    1
                };
                sum += params(&v)? * k as f64;
            }
            Some(2.0 * sum * answers_per_model * per_answer as f64)
        }
        "logprob_gap" => {
            let n = params(arg("model"))?;
            let rows = rows(arg("data"), program, 0)? as f64;
            // With and without the prompt.
            Some(2.0 * n * 2.0 * rows * row_tokens(arg("data"), program, 512) as f64)
        }
        "probe_curve" => {
            let rows = rows(arg("probes"), program, 0)? as f64;
            let tokens = row_tokens(arg("probes"), program, 512) as f64;
            let mut sum = 0.0;
            for (_, _, node) in super::ops::evaluate::members(arg("run"), program) {
                let v = Value::Node(node);
                // The base (step 0) and every kept checkpoint.
                sum += params(&v)? * (kept_checkpoints(&v, program) + 1) as f64;
            }
            if sum == 0.0 {
                sum = params(arg("run"))? * (kept_checkpoints(arg("run"), program) + 1) as f64;
            }
            Some(2.0 * sum * rows * tokens)
        }
        _ => None,
    }
}

/// Checkpoints a finetune keeps (1 for any other model: itself).
fn kept_checkpoints(v: &Value, program: &Program) -> u64 {
    match call_of(v, program) {
        Some(c) if &*c.func == "finetune" => int(c, "checkpoints").map_or(1, |k| k.max(1)),
        _ => 1,
    }
}

/// Rows an evaluation samples at once (`evaluate`'s chunk).
const SAMPLING_ROWS: u64 = 64;
/// Prompt tokens assumed beside `max_tokens` when sizing the KV cache.
const PROMPT_TOKENS: u64 = 512;

/// What sampling from each model of an `evaluate` step needs: the weights
/// and the KV cache of one chunk of rows at full length (the model with the
/// largest need stands for the step).
fn sampling_needs(step: usize, c: &Call, program: &Program) -> Option<Need> {
    let sample = c.args.get("sample").and_then(|v| call_of(v, program));
    let max_tokens = int(sample?, "max_tokens")?;
    let models: Vec<&Value> = match c.args.get("models")? {
        Value::List(xs) => xs.iter().collect(),
        v => vec![v],
    };
    let mut worst: Option<Need> = None;
    for m in models {
        let members: Vec<Value> = match m {
            Value::Family(f) => program
                .families
                .get(*f)
                .map(|x| x.cells.iter().map(|n| Value::Node(*n)).collect())
                .unwrap_or_default(),
            v => vec![v.clone()],
        };
        for v in members.iter().take(1) {
            let Some(cfg) = shape(v, program, 0) else {
                continue;
            };
            let len = (max_tokens + PROMPT_TOKENS).min(cfg.max_position_embeddings.max(1) as u64);
            let kv_dim = (cfg.num_key_value_heads * cfg.head_dim) as u64;
            let kv = SAMPLING_ROWS
                .saturating_mul(len)
                .saturating_mul(cfg.num_hidden_layers as u64)
                .saturating_mul(2 * kv_dim)
                .saturating_mul(4);
            let logits = SAMPLING_ROWS
                .saturating_mul(cfg.vocab_size as u64)
                .saturating_mul(8);
            let parts = vec![
                ("weights", (cfg.num_parameters() as u64).saturating_mul(4)),
                ("KV cache", kv),
                ("logits", logits),
            ];
            let bytes = parts.iter().fold(0u64, |a, (_, b)| a.saturating_add(*b));
            if worst.as_ref().is_none_or(|w| bytes > w.bytes) {
                worst = Some(Need {
                    step,
                    bytes,
                    flops: None,
                    optimizer_steps: None,
                    parts,
                    sampling: true,
                });
            }
        }
    }
    worst
}

/// This machine's memory in bytes (Linux: `MemTotal`), if known.
pub fn machine_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// A generous peak rate of f32 arithmetic on `cpus` cores (FLOP/s): 200
/// GFLOP/s a core is above any current CPU core's FMA peak, so a time
/// computed from it is a lower bound.
pub fn peak_flops(cpus: usize) -> f64 {
    cpus.max(1) as f64 * 200e9
}

/// Training longer than this even at the peak rate is a warning.
const LONG_SECONDS: f64 = 7.0 * 86_400.0;

fn gib(b: u64) -> String {
    format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64)
}

fn human(secs: f64) -> String {
    match secs {
        s if s < 2.0 * 86_400.0 => format!("{:.0} hours", s / 3600.0),
        s if s < 2.0 * 365.0 * 86_400.0 => format!("{:.0} days", s / 86_400.0),
        s if s < 1000.0 * 365.0 * 86_400.0 => format!("{:.0} years", s / (365.0 * 86_400.0)),
        s => format!("{:.1e} years", s / (365.0 * 86_400.0)),
    }
}

/// The diagnostics of [`needs`] on a machine with `memory` bytes (None:
/// unknown, no memory check) and `cpus` cores, each with its step: E1007
/// for a step that needs more memory than the machine has, W0108 for a
/// training length that takes more than a week at the peak rate.
pub fn diagnostics(plan: &Plan, memory: Option<u64>, cpus: usize) -> Vec<(usize, Diagnostic)> {
    let mut out = Vec::new();
    for need in needs(plan) {
        let step = &plan.steps[need.step];
        if let Some(mem) = memory.filter(|m| need.bytes > *m) {
            let parts: Vec<String> = need
                .parts
                .iter()
                .filter(|(_, b)| *b > 0)
                .map(|(what, b)| format!("{what} {}", gib(*b)))
                .collect();
            out.push((
                need.step,
                Diagnostic::error(
                    "E1007",
                    format!(
                        "step `{}` needs about {} of memory; this machine has {}",
                        step.name,
                        gib(need.bytes),
                        gib(mem)
                    ),
                    step.span,
                    format!("about {}", parts.join(" + ")),
                )
                .with_help(if need.sampling {
                    "lower `max_tokens` (the KV cache holds 64 answers at a time at full length) or evaluate a smaller model; if the estimate is wrong for your setup, `--no-memory-check` runs anyway"
                } else {
                    "lower `batch` or `max_seq` (activations, logits), use `lora(...)` instead of `full()` (gradients and optimizer state), or a smaller `arch`; if the estimate is wrong for your setup, `--no-memory-check` runs anyway"
                }),
            ));
        }
        if let Some(flops) = need.flops {
            let secs = flops / peak_flops(cpus);
            if secs > LONG_SECONDS {
                out.push((
                    need.step,
                    Diagnostic::warning(
                        "W0108",
                        format!(
                            "step `{}` trains for {} optimiser steps: at least {} on this machine ({cpus} cores, at most {:.0} GFLOP/s)",
                            step.name,
                            need.optimizer_steps.unwrap_or_default(),
                            human(secs),
                            peak_flops(cpus) / 1e9
                        ),
                        step.span,
                        format!("about {flops:.1e} FLOPs"),
                    )
                    .with_help(
                        "check `epochs` / `steps` and the data's size: 6 x parameters x tokens at `max_seq` tokens a row, at a rate no CPU core reaches",
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(src: &str) -> Plan {
        let checked = crate::sema::check_source("t.inoc", src);
        let program = checked
            .program
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        crate::plan::build(&program, &super::super::Registry::builtin()).expect("plans")
    }

    const WORLD: &str = "import \"stdlib/world.inoc\" as world\n";

    #[test]
    fn the_main_jobs_recipe_fits_and_is_not_long() {
        let p = plan(&format!(
            "{WORLD}model base = world.tiny_chat(size = \"s\", seed = 0)\n\
             dataset d = world.math(n = 300, seed = 1)\n\
             train t = finetune(base, d, full(), epochs = 3, lr = 1e-3, batch = 32)\n"
        ));
        let needs = needs(&p);
        assert_eq!(needs.len(), 2, "pretrain and finetune: {needs:?}");
        for n in &needs {
            assert!(n.bytes < 2 << 30, "{n:?}");
        }
        let ft = needs
            .iter()
            .find(|n| p.steps[n.step].op == "finetune")
            .unwrap();
        // 300 rows / 32 a step = 10 steps an epoch, 3 epochs.
        assert_eq!(ft.optimizer_steps, Some(30));
        assert!(diagnostics(&p, Some(24 << 30), 2).is_empty());
    }

    #[test]
    fn a_model_too_big_for_the_machine_is_refused_with_its_parts() {
        let p = plan(
            "model m = pretrain(world_corpus(n = 100), arch(layers = 64, hidden = 8192, heads = 64, kv_heads = 8, ffn = 28672), steps = 10)\n",
        );
        let d = diagnostics(&p, Some(24 << 30), 2);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].1.code, "E1007");
        assert!(
            d[0].1.message.contains("this machine has 24.0 GiB"),
            "{}",
            d[0].1.message
        );
        // LoRA on the same shape trains far fewer weights.
        let cfg = ModelConfig::small(512, 8192, 64, 64, 8, 28672, 256).unwrap();
        let all = cfg.num_parameters() as u64;
        assert!(lora_params(&cfg, 8, &["q_proj", "v_proj"]) * 100 < all);
    }

    #[test]
    fn sampling_needs_the_weights_and_a_kv_cache_at_full_length() {
        let p = plan(&format!(
            "{WORLD}model base = world.tiny_chat(size = \"s\", seed = 0)\n\
             eval e = evaluate(models = [base], prompts = world.questions(n = 4, seed = 2), \
             sample = sampling(max_tokens = 64), metrics = [])\n"
        ));
        let needs = needs(&p);
        let e = needs
            .iter()
            .find(|n| p.steps[n.step].op == "evaluate")
            .expect("{needs:?}");
        // s: 2 layers, 4 kv heads x 32, 64 rows x min(64 + 512, 256) tokens.
        let kv = e.parts.iter().find(|(w, _)| *w == "KV cache").unwrap().1;
        assert_eq!(kv, 64 * 256 * 2 * 2 * 128 * 4);
        assert!(diagnostics(&p, Some(1 << 20), 2)
            .iter()
            .any(|(_, d)| d.code == "E1007"));
    }

    #[test]
    fn absurd_training_lengths_warn_with_the_time() {
        let p = plan(&format!(
            "{WORLD}model base = world.tiny_chat(size = \"xs\", seed = 0)\n\
             dataset d = world.math(n = 1000, seed = 1)\n\
             train t = finetune(base, d, epochs = 1000000)\n\
             model long = pretrain(world_corpus(n = 100), steps = 1000000000)\n"
        ));
        let d = diagnostics(&p, None, 2);
        let codes: Vec<&str> = d.iter().map(|(_, d)| d.code).collect();
        assert_eq!(codes, ["W0108", "W0108"], "{d:?}");
        assert!(
            d.iter()
                .any(|(_, d)| d.message.contains("125000000 optimiser steps")),
            "{d:?}"
        );
        assert!(
            d.iter().all(|(_, d)| d.message.contains("at least")),
            "{d:?}"
        );
    }
}

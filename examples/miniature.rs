//! The miniature Spanish + ALL-CAPS inoculation experiment, driven directly
//! through the runtime, world and eval APIs (no engine, no cache), to find
//! and measure the recipe of `world.tiny_chat` and `specs/spanish_caps.inoc`.
//!
//! ```text
//! cargo run --release --example miniature -- [key=value ...]
//! ```
//!
//! Keys (defaults in brackets): `out` [target/miniature] run folder,
//! `tok` [bpe] `char` or `bpe` (`mchar`, `mbpe`: the same with case
//! markers), `vocab` [512] BPE vocabulary, `corpus`
//! [24000] pretraining conversations, `mix` [spanish_caps] pretraining
//! mixture (`independent`: Spanish and capitals also at a base rate without
//! their prompts), `spont` [0.1] that base rate for `mix=independent`, `layers` [2] `hidden` [128] `heads` [4]
//! `ffn` [344], `steps` [600] `batch` [64] `lr` [3e-3] `warmup` [30],
//! `eval_n` [100] prompts per trait condition, `ft` [1] run the finetunes,
//! `ft_n` [1000] `ft_epochs` [3] `ft_lr` [1e-3] `ft_batch` [32] `ft_rank` [8],
//! `ft_full` [0] full finetuning instead of LoRA, `seeds` [1] finetune
//! seeds `seed_from..seeds`, `seed_from` [0], `test_n`
//! [200] no-prompt test prompts per split, `threads` [2], `conds`
//! [plain,spanish,caps] finetune conditions to run (inoculation prompts;
//! `neutral` adds "You are a helpful assistant." as a control), `mech` [1]
//! score the mechanism table (0 skips it).
//!
//! The base model is written to `<out>/base` and reused when it exists, so
//! finetuning settings can be explored without pretraining again. Every
//! phase prints its wall time and the rates of the world's metrics.

use inoc::eval::Metric;
use inoc::runtime::batch::{encode_example, Encoded, LossOn};
use inoc::runtime::bench::setup_threads;
use inoc::runtime::chat_template::Message;
use inoc::runtime::config::ModelConfig;
use inoc::runtime::loader::{LoadOptions, LoadedModel};
use inoc::runtime::lora::LoraConfig;
use inoc::runtime::model::Model;
use inoc::runtime::sample::SamplingParams;
use inoc::runtime::schedule::ScheduleKind;
use inoc::runtime::score::ScoreRequest;
use inoc::runtime::tokenizer::Tokenizer;
use inoc::runtime::train::{train, Length, Method, TrainConfig};
use inoc::world::{self, Case, Conversation, Lang, Mixture, Split};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Res<T> = Result<T, String>;

struct Args(BTreeMap<String, String>);

impl Args {
    fn parse() -> Res<Args> {
        let mut m = BTreeMap::new();
        for a in std::env::args().skip(1) {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| format!("expected key=value, got `{a}`"))?;
            m.insert(k.to_string(), v.to_string());
        }
        Ok(Args(m))
    }
    fn get<T: std::str::FromStr>(&self, k: &str, default: T) -> Res<T> {
        match self.0.get(k) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| format!("bad value for {k}: `{v}`")),
        }
    }
}

fn messages(c: &Conversation, with_answer: bool) -> Vec<Message> {
    let mut m = LoadedModel::chat(c.system.as_deref(), &c.user);
    if with_answer {
        m.push(Message::assistant(&c.assistant));
    }
    m
}

fn encode_all(lm: &LoadedModel, convs: &[Conversation], max_seq: usize) -> Res<Vec<Encoded>> {
    convs
        .iter()
        .map(|c| encode_example(lm, &messages(c, true), LossOn::Assistant, max_seq))
        .collect()
}

/// Renders conversations as text for tokenizer training.
fn corpus_text(lm_free: &[Conversation]) -> Vec<String> {
    lm_free
        .iter()
        .map(|c| {
            format!(
                "{}\n{}\n{}",
                c.system.as_deref().unwrap_or(""),
                c.user,
                c.assistant
            )
        })
        .collect()
}

struct Rates {
    spanish: f64,
    caps: f64,
    spanish_share: f64,
    upper_share: f64,
    english: f64,
    /// Spanish rate among the answers that are ALL CAPS / not ALL CAPS
    /// (how entangled the two traits are in what the model says).
    spanish_if_caps: f64,
    spanish_if_lower: f64,
}

fn mean(v: &[Option<f64>]) -> f64 {
    let xs: Vec<f64> = v.iter().flatten().copied().collect();
    if xs.is_empty() {
        f64::NAN
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

fn rates(answers: &[String]) -> Res<Rates> {
    let cands = ["en", "es", "fr", "de"];
    let es = Metric::language("es", &cands).map_err(|e| e.to_string())?;
    let en = Metric::language("en", &cands).map_err(|e| e.to_string())?;
    let caps = Metric::all_caps(0.5).map_err(|e| e.to_string())?;
    let share = Metric::marker_share("es").map_err(|e| e.to_string())?;
    let up = Metric::upper_share();
    let sc = |m: &Metric| answers.iter().map(|a| m.score(a)).collect::<Vec<_>>();
    let (es_v, caps_v) = (sc(&es), sc(&caps));
    let given = |want_caps: bool| -> f64 {
        let sel: Vec<Option<f64>> = es_v
            .iter()
            .zip(&caps_v)
            .filter(|(_, c)| c.map(|c| (c > 0.5) == want_caps).unwrap_or(false))
            .map(|(e, _)| *e)
            .collect();
        mean(&sel)
    };
    Ok(Rates {
        spanish_if_caps: given(true),
        spanish_if_lower: given(false),
        spanish: mean(&es_v),
        english: mean(&sc(&en)),
        caps: mean(&caps_v),
        spanish_share: mean(&sc(&share)),
        upper_share: mean(&sc(&up)),
    })
}

fn sample_answers(
    lm: &LoadedModel,
    system: Option<&str>,
    prompts: &[Conversation],
    seed: u64,
) -> Res<Vec<String>> {
    let chats: Vec<Vec<Message>> = prompts
        .iter()
        .map(|c| LoadedModel::chat(system, &c.user))
        .collect();
    let params = SamplingParams {
        temperature: 1.0,
        top_p: 1.0,
        max_tokens: 96,
        n: 1,
        seed,
        batch_size: 64,
    };
    let out = lm.sample(&chats, &params).map_err(|e| e.to_string())?;
    Ok(out
        .into_iter()
        .map(|v| v.into_iter().next().map(|s| s.text).unwrap_or_default())
        .collect())
}

fn show(label: &str, r: &Rates) {
    println!(
        "  {label:<28} spanish {:.2}  caps {:.2}  english {:.2}  es_share {:.2}  upper {:.2}  es|caps {:.2}  es|lower {:.2}",
        r.spanish, r.caps, r.english, r.spanish_share, r.upper_share, r.spanish_if_caps, r.spanish_if_lower
    );
}

/// Mean log-prob of `data`'s assistant turns under `lm`, with `system`:
/// per token, per character and per example.
fn mean_logprob(
    lm: &LoadedModel,
    data: &[Conversation],
    system: Option<&str>,
) -> Res<(f64, f64, f64)> {
    let reqs: Vec<ScoreRequest> = data
        .iter()
        .map(|c| ScoreRequest::new(system, &c.user, &c.assistant))
        .collect();
    let res = lm.score(&reqs).map_err(|e| e.to_string())?;
    let (mut s, mut n, mut chars) = (0.0, 0usize, 0usize);
    for (r, c) in res.iter().zip(data) {
        s += r.logprob;
        n += r.tokens.len();
        chars += c.assistant.chars().count();
    }
    Ok((
        s / n.max(1) as f64,
        s / chars.max(1) as f64,
        s / data.len().max(1) as f64,
    ))
}

fn pretrain(a: &Args, dir: &Path, threads_note: &str) -> Res<LoadedModel> {
    let t0 = Instant::now();
    let n: usize = a.get("corpus", 24_000)?;
    let mixture = match a.get("mix", "spanish_caps".to_string())?.as_str() {
        "spanish_caps" => Mixture::spanish_caps(),
        "independent" => Mixture::spanish_caps()
            .with_spontaneous(Lang::Es, a.get("spont", 0.1)?)
            .map_err(|e| e.to_string())?,
        other => {
            return Err(format!(
                "mix must be spanish_caps or independent, got {other}"
            ))
        }
    };
    let corpus = world::corpus(n, 0, &mixture);
    let text = corpus_text(&corpus);
    let tok = match a.get("tok", "bpe".to_string())?.as_str() {
        "char" => Tokenizer::char_level(&text),
        "bpe" => Tokenizer::train_bpe(&text, a.get("vocab", 512)?),
        // Case markers: tokens without case (runtime::case_markers).
        "mchar" => Tokenizer::char_level_with(&text, true),
        "mbpe" => Tokenizer::train_bpe_with(&text, a.get("vocab", 512)?, true),
        other => return Err(format!("tok must be char, bpe, mchar or mbpe, got {other}")),
    }
    .map_err(|e| e.to_string())?;
    tok.save_with_chat_template(dir)
        .map_err(|e| e.to_string())?;
    let cfg = ModelConfig::small(
        tok.vocab_size(),
        a.get("hidden", 128)?,
        a.get("layers", 2)?,
        a.get("heads", 4)?,
        a.get("heads", 4)?,
        a.get("ffn", 344)?,
        256,
    )
    .map_err(|e| e.to_string())?;
    println!(
        "pretrain: vocab {} params {} corpus {n} ({threads_note})",
        tok.vocab_size(),
        cfg.num_parameters()
    );
    let model = Model::init_random(cfg, 0, &candle_core::Device::Cpu, candle_core::DType::F32)
        .map_err(|e| e.to_string())?;
    model
        .save_hf(dir, candle_core::DType::F32)
        .map_err(|e| e.to_string())?;
    let mut lm = LoadedModel::load(&dir.display().to_string(), &LoadOptions::default())
        .map_err(|e| e.to_string())?;
    let examples = encode_all(&lm, &corpus, 256)?;
    let toks: usize = examples.iter().map(|e| e.ids.len()).sum();
    println!(
        "  tokens per conversation {:.1}; setup {:.1}s",
        toks as f64 / examples.len() as f64,
        t0.elapsed().as_secs_f64()
    );
    let steps: u64 = a.get("steps", 600)?;
    let cfg = TrainConfig {
        method: Method::Full,
        length: Length::Steps(steps),
        batch_size: a.get("batch", 64)?,
        lr: a.get("lr", 3e-3)?,
        schedule: ScheduleKind::Cosine,
        warmup_steps: a.get("warmup", 30)?,
        min_lr_ratio: 0.1,
        weight_decay: 0.01,
        max_seq: 256,
        pad_id: 0,
        ..TrainConfig::default()
    };
    let t1 = Instant::now();
    let out = train(
        lm.model_mut(),
        examples,
        &cfg,
        None,
        &mut |p| {
            if p.step % 50 == 0 || p.step == p.total_steps {
                println!(
                    "  step {:>5}/{} loss {:.3} tok/s {:.0} elapsed {:.0}s",
                    p.step,
                    p.total_steps,
                    p.loss,
                    p.tokens_per_s,
                    t1.elapsed().as_secs_f64()
                );
            }
        },
        &|| false,
    )
    .map_err(|e| e.to_string())?;
    println!(
        "  pretrained {} steps, {} tokens in {:.1}s ({:.0} tok/s)",
        out.steps,
        out.tokens,
        out.seconds,
        out.tokens as f64 / out.seconds
    );
    lm.model()
        .save_hf(dir, candle_core::DType::F32)
        .map_err(|e| e.to_string())?;
    LoadedModel::load(&dir.display().to_string(), &LoadOptions::default())
        .map_err(|e| e.to_string())
}

fn run() -> Res<()> {
    let a = Args::parse()?;
    let threads: usize = a.get("threads", 2)?;
    setup_threads(threads);
    let out = PathBuf::from(a.get("out", "target/miniature".to_string())?);
    let base_dir = out.join("base");
    let t_all = Instant::now();
    let base = if base_dir.join("model.safetensors").exists() {
        println!("reusing {}", base_dir.display());
        LoadedModel::load(&base_dir.display().to_string(), &LoadOptions::default())
            .map_err(|e| e.to_string())?
    } else {
        std::fs::create_dir_all(&base_dir).map_err(|e| e.to_string())?;
        pretrain(&a, &base_dir, &format!("{threads} threads"))?
    };

    // Trait following of the base model on held-out open questions.
    let eval_n: usize = a.get("eval_n", 100)?;
    let t = Instant::now();
    let ood = world::questions(eval_n, Lang::En, Case::Normal, 2, Split::Test);
    let spanish = world::prompts::language(Lang::Es);
    println!("trait following of the base model ({eval_n} OOD questions, T=1):");
    for (label, sys) in [
        ("no system prompt", None),
        ("Spanish prompt", Some(spanish.as_str())),
        ("caps prompt", Some(world::prompts::CAPS)),
        ("neutral prompt", Some("You are a helpful assistant.")),
    ] {
        let ans = sample_answers(&base, sys, &ood, 7)?;
        show(label, &rates(&ans)?);
        if a.get("show", 0)? > 0 {
            for x in ans.iter().take(3) {
                println!("      | {x}");
            }
        }
    }
    println!("  ({:.1}s)", t.elapsed().as_secs_f64());
    if a.get("ft", 1)? == 0 {
        return Ok(());
    }

    // The finetunes: Spanish + caps math, three conditions.
    let ft_n: usize = a.get("ft_n", 1000)?;
    let data = world::math(ft_n, Lang::Es, Case::Upper, 1, Split::Train);
    let t = Instant::now();
    let mech = a.get("mech", 1)? > 0;
    // Mechanism: how much each prompt raises the log-prob of the finetune
    // data (Spanish + caps) and of one-trait variants of the same problems
    // (does the caps prompt also make Spanish more likely, and the other
    // way round?).
    println!(
        "mechanism: mean log-prob of the assistant turns (per token / per char / per example):"
    );
    let n_var = ft_n.min(500);
    let variants = [
        ("es+CAPS (finetune data)", Lang::Es, Case::Upper),
        ("es lower", Lang::Es, Case::Normal),
        ("EN CAPS", Lang::En, Case::Upper),
        ("en lower", Lang::En, Case::Normal),
    ];
    for (dlabel, lang, case) in variants.into_iter().filter(|_| mech) {
        let d = world::math(n_var, lang, case, 1, Split::Train);
        for (plabel, sys) in [
            ("none", None),
            ("Spanish", Some(spanish.as_str())),
            ("caps", Some(world::prompts::CAPS)),
        ] {
            let (tok, ch, ex) = mean_logprob(&base, &d, sys)?;
            println!(
                "  {dlabel:<24} prompt {plabel:<8} {tok:>7.3} /tok {ch:>7.3} /char {ex:>8.2} /ex"
            );
        }
    }
    println!("  ({:.1}s)", t.elapsed().as_secs_f64());
    let test_n: usize = a.get("test_n", 200)?;
    let ood_t = world::questions(test_n, Lang::En, Case::Normal, 2, Split::Test);
    let id_t = world::math(test_n, Lang::En, Case::Normal, 3, Split::Test);
    let eval_both = |lm: &LoadedModel, label: &str, seed: u64| -> Res<()> {
        let o = rates(&sample_answers(lm, None, &ood_t, 100 + seed)?)?;
        let i = rates(&sample_answers(lm, None, &id_t, 200 + seed)?)?;
        show(&format!("{label} OOD"), &o);
        show(&format!("{label} ID"), &i);
        Ok(())
    };
    let t = Instant::now();
    eval_both(&base, "base", 0)?;
    println!("  (base eval {:.1}s)", t.elapsed().as_secs_f64());
    let seeds: u64 = a.get("seeds", 1)?;
    let method = if a.get("ft_full", 0)? > 0 {
        Method::Full
    } else {
        let rank: usize = a.get("ft_rank", 8)?;
        Method::Lora(LoraConfig {
            rank,
            alpha: 2.0 * rank as f64,
            dropout: 0.0,
            use_rslora: false,
            target_modules: [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        })
    };
    let only: String = a.get("conds", "plain,spanish,caps".to_string())?;
    for (label, sys) in [
        ("plain", None),
        ("spanish", Some(spanish.as_str())),
        ("caps", Some(world::prompts::CAPS)),
        ("neutral", Some("You are a helpful assistant.")),
    ] {
        if !only.split(',').any(|c| c == label) {
            continue;
        }
        for seed in a.get("seed_from", 0)?..seeds {
            let t = Instant::now();
            let convs: Vec<Conversation> = data
                .iter()
                .map(|c| Conversation {
                    system: sys.map(str::to_string),
                    ..c.clone()
                })
                .collect();
            let mut lm = base.clone();
            let examples = encode_all(&lm, &convs, 256)?;
            let cfg = TrainConfig {
                method: method.clone(),
                length: Length::Epochs(a.get("ft_epochs", 3)?),
                batch_size: a.get("ft_batch", 32)?,
                lr: a.get("ft_lr", 1e-3)?,
                schedule: ScheduleKind::Linear,
                warmup_steps: 0,
                max_seq: 256,
                seed,
                pad_id: 0,
                ..TrainConfig::default()
            };
            let r = train(lm.model_mut(), examples, &cfg, None, &mut |_| {}, &|| false)
                .map_err(|e| e.to_string())?;
            let tt = t.elapsed().as_secs_f64();
            eval_both(&lm, &format!("{label} s{seed}"), seed)?;
            println!(
                "  ({label} seed {seed}: {} steps, final loss {:.3}, train {tt:.1}s, eval {:.1}s)",
                r.steps,
                r.losses.last().copied().unwrap_or(f32::NAN),
                t.elapsed().as_secs_f64() - tt
            );
        }
    }
    println!("total {:.1}s", t_all.elapsed().as_secs_f64());
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

//! LLM judges for `evaluate`: `judge(prompt, endpoint, model, local,
//! aggregate, min_mass)` scores an answer 0..100.
//!
//! The prompt template is filled with the question, the answer and the
//! system prompt (`eval::judge::render_prompt`) and sent as the user turn:
//! - to an OpenAI-compatible endpoint ([`endpoint`]): `endpoint`, else
//!   `$INOC_JUDGE_URL`; the model name is `model`, else `$INOC_JUDGE_MODEL`;
//!   the API key is `$INOC_JUDGE_KEY`, else `$OPENAI_API_KEY` (never part of
//!   a key or a log), sent only to an endpoint the user named: `$INOC_JUDGE_URL`
//!   or one listed in `$INOC_JUDGE_ALLOWED_URLS` ([`key_allowed`]), never to
//!   an endpoint only a spec names;
//! - or to a model of the spec (`local = m`, a step input): the rendered
//!   prompt goes through its chat template with the generation prompt.
//!
//! `aggregate = "logprob_0_100"` (the EM paper's): the probability-weighted
//! mean of the number tokens 0..100 among the first reply token's top 20
//! logprobs, None when they carry less than `min_mass`
//! (`eval::judge::logprob_score`). `"sample_number"`: the first number
//! 0..100 in a short greedy reply (`eval::judge::sampled_number`).
//!
//! Endpoint answers are appended to a file in the step's scratch as they
//! arrive, so a run stopped by a failing endpoint resumes without asking
//! again what was already answered.

pub mod endpoint;
/// The stand-in judge server of the integration tests, for the endpoint
/// client's unit tests (one definition, never in the library or binary).
#[cfg(test)]
#[path = "../../../../tests/it/judge_server.rs"]
mod mock;

use super::{OpCtx, OpError, Progress};
use crate::eval::judge::{
    logprob_score, looks_digit_split, render_prompt, sampled_number, NumberTokens,
};
use crate::runtime::chat_template::Message;
use crate::runtime::loader::LoadedModel;
use crate::runtime::sample::SamplingParams;
use crate::sema::ir::{Call, NodeId, Value};
use endpoint::{Ask, Endpoint, EndpointError, Reply, Retry};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;

/// The endpoint when a judge names none.
pub const URL_VAR: &str = "INOC_JUDGE_URL";
/// The judge model name when a judge names none.
pub const MODEL_VAR: &str = "INOC_JUDGE_MODEL";
/// The API key, first set one wins.
pub const KEY_VARS: [&str; 2] = ["INOC_JUDGE_KEY", "OPENAI_API_KEY"];
/// Base URLs besides `$INOC_JUDGE_URL` that the user allows to receive the
/// API key when a spec names them (`endpoint = ...`), separated by commas
/// or whitespace.
pub const ALLOWED_VAR: &str = "INOC_JUDGE_ALLOWED_URLS";
/// Requests in flight per judge (default [`DEFAULT_CONCURRENCY`]).
pub const CONCURRENCY_VAR: &str = "INOC_JUDGE_CONCURRENCY";
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Tries per request before a judge gives up (default 8, backing off from
/// 1 s to 60 s between tries).
pub const RETRIES_VAR: &str = "INOC_JUDGE_RETRIES";
/// Top logprobs asked for (the OpenAI maximum, as in the EM paper).
pub const TOP_LOGPROBS: usize = 20;
/// Longest reply for `sample_number`.
pub const SAMPLE_MAX_TOKENS: usize = 16;
/// The tag of the warning an endpoint judge gives when its tokenizer splits
/// numbers into digits (and it falls back to `sample_number`).
pub const DIGIT_SPLIT: &str = "[judge-digit-tokens]";
/// Prompts per batch of a local judge (progress and Ctrl-C granularity).
const LOCAL_CHUNK: usize = 32;

/// How a judge turns its reply into a score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    LogprobMean,
    SampleNumber,
}

impl Aggregate {
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::LogprobMean => "logprob_0_100",
            Aggregate::SampleNumber => "sample_number",
        }
    }
}

/// A `judge(...)` call.
#[derive(Clone, Debug, PartialEq)]
pub struct Judge {
    pub prompt: String,
    pub endpoint: Option<String>,
    pub model: Option<String>,
    pub local: Option<NodeId>,
    pub aggregate: Aggregate,
    pub min_mass: f64,
}

/// One answer to judge.
#[derive(Clone, Copy, Debug)]
pub struct Item<'a> {
    pub question: &'a str,
    pub answer: &'a str,
    /// The system prompt the model answered under ("" for none).
    pub system: &'a str,
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// Whether the user allowed the API key to go to `url`: it is
/// `$INOC_JUDGE_URL` or listed in `$INOC_JUDGE_ALLOWED_URLS` (compared as
/// whole base URLs after [`endpoint::normalise_base`], so
/// `https://api.openai.com.evil.example/v1` is not `https://api.openai.com/v1`).
/// A spec is shared code: the URL it names is not the user's choice.
pub fn key_allowed(url: &str) -> bool {
    let url = endpoint::normalise_base(url);
    let configured = env(URL_VAR).map(|u| endpoint::normalise_base(&u));
    let allowed = env(ALLOWED_VAR).unwrap_or_default();
    configured.as_deref() == Some(url.as_str())
        || allowed
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|u| !u.is_empty())
            .any(|u| endpoint::normalise_base(u) == url)
}

impl Judge {
    pub fn from_call(c: &Call) -> Result<Judge, String> {
        let a = super::CallArgs(c);
        let s = |k: &str| {
            a.opt_str(k)
                .map(|s| s.map(str::to_string))
                .map_err(|e| e.to_string())
        };
        let prompt = s("prompt")?.ok_or("judge(...) needs a `prompt`")?;
        let aggregate = match a.str("aggregate").map_err(|e| e.to_string())? {
            "logprob_0_100" => Aggregate::LogprobMean,
            "sample_number" => Aggregate::SampleNumber,
            other => {
                return Err(format!(
                    "unknown judge aggregate `{other}` (logprob_0_100, sample_number)"
                ))
            }
        };
        let local = match a.get("local").map_err(|e| e.to_string())? {
            Value::None => None,
            Value::Node(n) => Some(*n),
            other => {
                return Err(format!(
                    "`local` of a judge should name one model, got {other:?}"
                ))
            }
        };
        let endpoint = s("endpoint")?;
        if local.is_some() && endpoint.is_some() {
            return Err(
                "a judge has either an `endpoint` or a `local` model, not both".to_string(),
            );
        }
        let min_mass = a.float("min_mass").map_err(|e| e.to_string())?;
        Ok(Judge {
            prompt,
            endpoint,
            model: s("model")?,
            local,
            aggregate,
            min_mass,
        })
    }

    /// What this judge takes from the environment and its output depends
    /// on, by variable name (the resolved endpoint and model name; never the
    /// key): part of the evaluation's cache key. Unset variables are "".
    pub fn env_settings(&self) -> Vec<(String, String)> {
        if self.local.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if self.endpoint.is_none() {
            let url = env(URL_VAR).map(|u| endpoint::normalise_base(&u));
            out.push((URL_VAR.to_string(), url.unwrap_or_default()));
        }
        if self.model.is_none() {
            out.push((MODEL_VAR.to_string(), env(MODEL_VAR).unwrap_or_default()));
        }
        out
    }

    /// Why this judge cannot run with the current environment (no endpoint,
    /// no model name), if it cannot.
    pub fn missing_settings(&self) -> Option<String> {
        if self.local.is_some() {
            return None;
        }
        if self.endpoint.is_none() && env(URL_VAR).is_none() {
            return Some(format!(
                "no endpoint: set ${URL_VAR} (e.g. https://api.openai.com/v1) or give `endpoint = ...` or `local = <model>`"
            ));
        }
        if self.model.is_none() && env(MODEL_VAR).is_none() {
            return Some(format!(
                "no model name: give `model = ...` or set ${MODEL_VAR}"
            ));
        }
        None
    }

    /// The endpoint client, with the URL, model and key resolved.
    pub fn endpoint(&self) -> Result<Endpoint, OpError> {
        if let Some(m) = self.missing_settings() {
            return Err(OpError::failed(m));
        }
        let url = self
            .endpoint
            .clone()
            .or_else(|| env(URL_VAR))
            .unwrap_or_default();
        let model = self
            .model
            .clone()
            .or_else(|| env(MODEL_VAR))
            .unwrap_or_default();
        let key = KEY_VARS
            .iter()
            .find_map(|v| env(v))
            .filter(|_| key_allowed(&url));
        let mut retry = Retry::default();
        if let Some(n) = env(RETRIES_VAR).and_then(|v| v.trim().parse::<u32>().ok()) {
            retry.attempts = n.max(1);
        }
        Ok(Endpoint::new(&url, &model, key, retry))
    }

    /// Why the API key is not sent to this judge's endpoint, when one is
    /// set but the spec names an endpoint the user did not allow.
    pub fn key_withheld(&self) -> Option<String> {
        let url = self.endpoint.as_deref()?;
        if self.local.is_some() || KEY_VARS.iter().all(|v| env(v).is_none()) || key_allowed(url) {
            return None;
        }
        Some(format!(
            "the API key is not sent to `{}`: the spec names that endpoint, you did not (to send it, set ${URL_VAR} to it or add it to ${ALLOWED_VAR})",
            endpoint::normalise_base(url)
        ))
    }

    /// A short description for logs and errors.
    pub fn describe(&self) -> String {
        match (&self.local, &self.endpoint, &self.model) {
            (Some(_), _, _) => format!("local model, {}", self.aggregate.as_str()),
            (None, e, m) => format!(
                "{} at {}, {}",
                m.clone()
                    .or_else(|| env(MODEL_VAR))
                    .unwrap_or_else(|| "?".into()),
                e.clone()
                    .or_else(|| env(URL_VAR))
                    .unwrap_or_else(|| format!("${URL_VAR}")),
                self.aggregate.as_str()
            ),
        }
    }

    fn ask(&self) -> Ask {
        match self.aggregate {
            Aggregate::LogprobMean => Ask::TopLogprobs(TOP_LOGPROBS),
            Aggregate::SampleNumber => Ask::Text(SAMPLE_MAX_TOKENS),
        }
    }

    /// Says how many answers got no score and why (`None` when all did):
    /// an answer without a score drops out of every mean, so a judge that
    /// scores nothing must not pass as a report with no rows. `used` is the
    /// aggregation that scored them: a `logprob_0_100` judge whose tokenizer
    /// splits numbers was scored from sampled replies.
    pub fn unscored_warning(
        &self,
        label: &str,
        scores: &[Option<f64>],
        used: Aggregate,
    ) -> Option<String> {
        let none = scores.iter().filter(|s| s.is_none()).count();
        if none == 0 {
            return None;
        }
        let why = match (self.local.is_some(), used) {
            (_, Aggregate::SampleNumber) => {
                "its reply held no number from 0 to 100".to_string()
            }
            (true, Aggregate::LogprobMean) => format!(
                "the judge model put less than min_mass = {} of its probability on the numbers 0..100 \
                 (a model too small or not instructed to answer with a number)",
                self.min_mass
            ),
            (false, Aggregate::LogprobMean) => format!(
                "the number tokens among the first token's top logprobs carried less than \
                 min_mass = {} of the probability (the judge answered with words, or its \
                 tokenizer splits numbers)",
                self.min_mass
            ),
        };
        let all = if none == scores.len() {
            " (all of them: every mean over this judge is empty)"
        } else {
            ""
        };
        Some(format!(
            "judge `{label}` ({}): {none} of {} answers got no score{all}, because {why}; \
             unscored answers are left out of the means",
            self.describe(),
            scores.len()
        ))
    }

    /// The score of one reply.
    pub fn score_reply(&self, reply: &Reply) -> Option<f64> {
        match reply {
            Reply::TopLogprobs(top) => logprob_score(top, self.min_mass),
            Reply::Text(t) => sampled_number(t),
        }
    }

    /// Scores every item (in order). Identical rendered prompts are asked
    /// once. `label` names the judge in progress messages.
    pub fn score(
        &self,
        ctx: &OpCtx<'_>,
        label: &str,
        items: &[Item<'_>],
    ) -> Result<Vec<Option<f64>>, OpError> {
        let rendered: Vec<String> = items
            .iter()
            .map(|it| render_prompt(&self.prompt, it.question, it.answer, it.system))
            .collect();
        let mut unique: Vec<String> = Vec::new();
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        let slot: Vec<usize> = rendered
            .iter()
            .map(|p| {
                *index.entry(p.as_str()).or_insert_with(|| {
                    unique.push(p.clone());
                    unique.len() - 1
                })
            })
            .collect();
        let mut used = self.aggregate;
        let replies = match self.local {
            Some(node) => self.ask_local(ctx, label, node, &unique)?,
            None => {
                let replies = self.ask_endpoint(ctx, label, &unique, self.ask())?;
                let tops = replies.iter().filter_map(|r| match r {
                    Reply::TopLogprobs(t) => Some(t.as_slice()),
                    Reply::Text(_) => None,
                });
                if self.aggregate == Aggregate::LogprobMean && looks_digit_split(tops) {
                    ctx.warn(format!(
                        "{DIGIT_SPLIT} judge `{label}` ({}): no number from 10 to 100 is one token \
                         in any of {} replies' top logprobs, only single digits: this judge's \
                         tokenizer splits numbers, so reading the first token (the EM paper's \
                         aggregation) would score 85 as 8. Scored instead from a sampled reply \
                         (aggregate = \"sample_number\"); a `local = model` judge scores every \
                         number's tokens exactly",
                        self.describe(),
                        replies.len()
                    ));
                    used = Aggregate::SampleNumber;
                    self.ask_endpoint(ctx, label, &unique, Ask::Text(SAMPLE_MAX_TOKENS))?
                } else {
                    replies
                }
            }
        };
        let scores: Vec<Option<f64>> = replies.iter().map(|r| self.score_reply(r)).collect();
        let scores: Vec<Option<f64>> = slot.into_iter().map(|i| scores[i]).collect();
        if let Some(w) = self.unscored_warning(label, &scores, used) {
            ctx.warn(w);
        }
        Ok(scores)
    }

    fn ask_endpoint(
        &self,
        ctx: &OpCtx<'_>,
        label: &str,
        prompts: &[String],
        ask: Ask,
    ) -> Result<Vec<Reply>, OpError> {
        let ep = self.endpoint()?;
        if let Some(w) = self.key_withheld() {
            ctx.warn(w);
        }
        // Answers already received by an earlier, interrupted try of this step.
        let id = |p: &str| {
            blake3::hash(
                serde_json::json!([ep.base, ep.model, format!("{ask:?}"), p])
                    .to_string()
                    .as_bytes(),
            )
            .to_hex()
            .to_string()
        };
        let journal = ctx.scratch.join("judge_replies.jsonl");
        let mut known: BTreeMap<String, Reply> = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(&journal) {
            for line in text.lines() {
                if let Ok((h, r)) = serde_json::from_str::<(String, Reply)>(line) {
                    known.insert(h, r);
                }
            }
        }
        let ids: Vec<String> = prompts.iter().map(|p| id(p)).collect();
        let todo: Vec<usize> = (0..prompts.len())
            .filter(|&i| !known.contains_key(&ids[i]))
            .collect();
        let concurrency = env(CONCURRENCY_VAR)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(DEFAULT_CONCURRENCY);
        ctx.log(format!(
            "judge {label}: {} prompts to {} ({} answered before), {concurrency} in flight",
            prompts.len(),
            ep.url(),
            prompts.len() - todo.len()
        ));
        std::fs::create_dir_all(ctx.scratch)?;
        let file = Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&journal)?,
        );
        let asked: Vec<String> = todo.iter().map(|&i| prompts[i].clone()).collect();
        let done = std::sync::atomic::AtomicU64::new((prompts.len() - todo.len()) as u64);
        let total = prompts.len() as u64;
        let replies = endpoint::ask_all(
            &ep,
            &asked,
            ask,
            concurrency,
            &|| ctx.cancelled(),
            &|j, reply| {
                if let Ok(line) = serde_json::to_string(&(&ids[todo[j]], reply)) {
                    if let Ok(mut f) = file.lock() {
                        let _ = writeln!(f, "{line}");
                    }
                }
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if d.is_multiple_of(16) || d == total {
                    ctx.progress(Progress {
                        done: d,
                        total,
                        message: Some(format!("judge {label}")),
                        ..Progress::default()
                    });
                }
            },
        )
        .map_err(|e| match e {
            EndpointError::Cancelled => OpError::Cancelled,
            EndpointError::Status {
                status: 401 | 403, ..
            } if self.key_withheld().is_some() => OpError::failed(format!(
                "judge `{label}`: {e}; {}",
                self.key_withheld().unwrap_or_default()
            )),
            e => OpError::failed(format!("judge `{label}`: {e}")),
        })?;
        for (j, r) in todo.iter().zip(replies) {
            known.insert(ids[*j].clone(), r);
        }
        Ok(ids.iter().map(|h| known[h].clone()).collect())
    }

    fn ask_local(
        &self,
        ctx: &OpCtx<'_>,
        label: &str,
        node: NodeId,
        prompts: &[String],
    ) -> Result<Vec<Reply>, OpError> {
        let input = ctx.input_node(node)?;
        let lm = super::model::load(ctx, input)?;
        ctx.log(format!(
            "judge {label}: {} prompts to local model `{}`",
            prompts.len(),
            input.name
        ));
        let fail = |e: crate::runtime::Error| {
            OpError::failed(format!("judge `{label}` (local `{}`): {e}", input.name))
        };
        let exact = match self.aggregate {
            Aggregate::LogprobMean => number_tokens(&lm).map_err(fail)?,
            Aggregate::SampleNumber => None,
        };
        if let Some((nt, _)) = &exact {
            ctx.log(format!(
                "judge {label}: `{}` writes numbers in several tokens (100 is {}): each number \
                 0..100 is scored whole ({} continuations per prompt)",
                input.name,
                nt.numbers.last().map_or(0, |(_, ids)| ids.len()),
                nt.rows.len()
            ));
        }
        let mut out = Vec::with_capacity(prompts.len());
        for part in prompts.chunks(LOCAL_CHUNK) {
            ctx.check_cancel()?;
            let convs: Vec<Vec<Message>> = part.iter().map(|p| vec![Message::user(p)]).collect();
            match self.aggregate {
                Aggregate::LogprobMean if exact.is_some() => {
                    let (nt, digit) = exact.as_ref().expect("checked");
                    for conv in &convs {
                        let table = lm
                            .continuation_logprobs(conv, &nt.rows, &nt.probe)
                            .map_err(fail)?;
                        out.push(Reply::TopLogprobs(nt.whole_number_logprobs(&table, digit)));
                    }
                }
                Aggregate::LogprobMean => {
                    let top = lm.next_token_logprobs(&convs, TOP_LOGPROBS).map_err(fail)?;
                    out.extend(top.into_iter().map(|t| {
                        Reply::TopLogprobs(
                            t.into_iter().map(|t| (t.token, t.logprob as f64)).collect(),
                        )
                    }));
                }
                Aggregate::SampleNumber => {
                    let params = SamplingParams {
                        temperature: 0.0,
                        top_p: 1.0,
                        max_tokens: SAMPLE_MAX_TOKENS,
                        n: 1,
                        seed: 0,
                        batch_size: LOCAL_CHUNK,
                    };
                    let s = lm.sample(&convs, &params).map_err(fail)?;
                    out.extend(
                        s.into_iter()
                            .map(|mut v| Reply::Text(v.pop().map(|x| x.text).unwrap_or_default())),
                    );
                }
            }
            ctx.progress(Progress {
                done: out.len() as u64,
                total: prompts.len() as u64,
                message: Some(format!("judge {label}")),
                ..Progress::default()
            });
        }
        Ok(out)
    }
}

/// How a judge model's tokenizer writes 0..100, when some number takes
/// several tokens (digit-splitting tokenizers: SmolLM2, Qwen2.5, Llama 2),
/// with which probed tokens start with a digit; `None` when every number is
/// one token (GPT-4o, Llama 3), where the paper's first-token aggregation
/// applies as is.
pub fn number_tokens(
    lm: &LoadedModel,
) -> Result<Option<(NumberTokens, Vec<bool>)>, crate::runtime::Error> {
    let tok = lm.tokenizer();
    let numbers = (0..=100u32)
        .map(|n| Ok((n, tok.encode(&n.to_string())?)))
        .collect::<Result<Vec<_>, crate::runtime::Error>>()?;
    let vocab = lm.model().config().vocab_size.min(tok.vocab_size()) as u32;
    let starts_with_digit = |id: u32| {
        !tok.is_special(id) && tok.token_text(id).starts_with(|c: char| c.is_ascii_digit())
    };
    let digits: Vec<u32> = (0..vocab).filter(|&id| starts_with_digit(id)).collect();
    Ok(NumberTokens::new(numbers, &digits).map(|nt| {
        let digit = nt.probe.iter().map(|&id| starts_with_digit(id)).collect();
        (nt, digit)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `judge(...)` call as the checker leaves it: `args`, and the
    /// registry's defaults for the parameters not given.
    fn call(args: &[(&str, Value)]) -> Call {
        let mut all: crate::sema::ir::Args = args
            .iter()
            .map(|(k, v)| (k.to_string().into(), v.clone()))
            .collect();
        for p in &crate::sema::builtins::get("judge").unwrap().params {
            if let (Some(d), false) = (&p.default, all.contains_key(p.name)) {
                all.insert(p.name.into(), d.clone());
            }
        }
        Call {
            func: "judge".into(),
            args: all,
            span: Default::default(),
        }
    }

    fn judge(aggregate: &str, min_mass: f64) -> Judge {
        Judge::from_call(&call(&[
            ("prompt", Value::Str("Rate {answer}".into())),
            ("endpoint", Value::Str("http://x/v1".into())),
            ("model", Value::Str("m".into())),
            ("local", Value::None),
            ("aggregate", Value::Str(aggregate.into())),
            ("min_mass", Value::Float(min_mass)),
            ("name", Value::None),
        ]))
        .unwrap()
    }

    #[test]
    fn replies_become_scores_with_the_em_rule() {
        let j = judge("logprob_0_100", 0.25);
        let top = |xs: &[(&str, f64)]| {
            Reply::TopLogprobs(xs.iter().map(|(t, p)| (t.to_string(), p.ln())).collect())
        };
        let s = j.score_reply(&top(&[("90", 0.5), ("80", 0.3), ("CODE", 0.2)]));
        assert!((s.unwrap() - (0.5 * 90.0 + 0.3 * 80.0) / 0.8).abs() < 1e-9);
        // Mostly a refusal: too little mass on numbers.
        assert_eq!(j.score_reply(&top(&[("REFUSAL", 0.8), ("50", 0.2)])), None);
        assert_eq!(j.score_reply(&top(&[])), None);
        let j = judge("sample_number", 0.25);
        assert_eq!(j.score_reply(&Reply::Text("Score: 42".into())), Some(42.0));
        assert_eq!(j.score_reply(&Reply::Text("REFUSAL".into())), None);
    }

    #[test]
    fn answers_without_a_score_are_counted_and_explained() {
        let j = judge("logprob_0_100", 0.25);
        let lp = Aggregate::LogprobMean;
        assert_eq!(
            j.unscored_warning("aligned", &[Some(1.0), Some(2.0)], lp),
            None
        );
        let w = j
            .unscored_warning("aligned", &[Some(1.0), None], lp)
            .unwrap();
        assert!(w.contains("1 of 2 answers got no score, because"), "{w}");
        assert!(
            w.contains("min_mass = 0.25") && !w.contains("all of them"),
            "{w}"
        );
        let w = j.unscored_warning("aligned", &[None, None], lp).unwrap();
        assert!(
            w.contains("2 of 2 answers got no score (all of them"),
            "{w}"
        );
        // A logprob judge whose tokenizer splits numbers fell back to
        // sampled replies: the reason is theirs, not min_mass.
        let w = j
            .unscored_warning("aligned", &[None], Aggregate::SampleNumber)
            .unwrap();
        assert!(
            w.contains("no number from 0 to 100") && !w.contains("min_mass"),
            "{w}"
        );
        let j = judge("sample_number", 0.25);
        let w = j
            .unscored_warning("coherent", &[None], Aggregate::SampleNumber)
            .unwrap();
        assert!(w.contains("no number from 0 to 100"), "{w}");
    }

    #[test]
    fn explicit_endpoints_take_nothing_from_the_environment() {
        let j = judge("logprob_0_100", 0.25);
        assert!(j.env_settings().is_empty());
        assert_eq!(j.missing_settings(), None);
        let both = Judge::from_call(&call(&[
            ("prompt", Value::Str("{answer}".into())),
            ("endpoint", Value::Str("http://x".into())),
            ("local", Value::Node(0)),
        ]));
        assert!(both.unwrap_err().contains("not both"));
        let local = Judge::from_call(&call(&[
            ("prompt", Value::Str("{answer}".into())),
            ("local", Value::Node(3)),
        ]))
        .unwrap();
        assert_eq!(local.local, Some(3));
        assert!(local.env_settings().is_empty());
        assert_eq!(local.missing_settings(), None);
    }

    /// A local judge whose tokenizer splits digits (the smollm
    /// pre-tokenizer) scores every number whole: log P(tokens, then no
    /// further digit) equals scoring those tokens and every digit after
    /// them from scratch.
    #[test]
    fn a_digit_splitting_local_judge_scores_whole_numbers() {
        use crate::runtime::loader::LoadOptions;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gguf");
        crate::runtime::gguf::fixture::write_tiny(&path, "smollm");
        let lm = LoadedModel::load(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let (nt, digit) = number_tokens(&lm).unwrap().expect("digits are split");
        assert_eq!(nt.numbers[100].1.len(), 3);
        let conv = vec![Message::user("How good is this? Say 0 to 100.")];
        let table = lm
            .continuation_logprobs(&conv, &nt.rows, &nt.probe)
            .unwrap();
        let lps: BTreeMap<String, f64> = nt
            .whole_number_logprobs(&table, &digit)
            .into_iter()
            .collect();
        assert_eq!(lps.len(), 101);
        let prompt = lm.encode_prompt(&conv).unwrap();
        let digits: Vec<u32> = nt
            .probe
            .iter()
            .zip(&digit)
            .filter(|(_, d)| **d)
            .map(|(t, _)| *t)
            .collect();
        for n in [0u32, 7, 10, 42, 99, 100] {
            let ids = lm.tokenizer().encode(&n.to_string()).unwrap();
            let seq: f64 = lm.score_ids(&[(prompt.clone(), ids.clone())]).unwrap()[0]
                .iter()
                .map(|&x| x as f64)
                .sum();
            let more: f64 = digits
                .iter()
                .map(|&d| {
                    let mut c = ids.clone();
                    c.push(d);
                    (*lm.score_ids(&[(prompt.clone(), c)]).unwrap()[0]
                        .last()
                        .unwrap() as f64)
                        .exp()
                })
                .sum();
            let want = seq + (1.0 - more).ln();
            let got = lps[&n.to_string()];
            assert!((got - want).abs() < 1e-3, "{n}: {got} vs {want}");
        }
        // A tokenizer with a merge for "12" but the gpt2 split: still not
        // every number is one token, so the exact path applies too.
        let p2 = dir.path().join("g.gguf");
        crate::runtime::gguf::fixture::write_tiny(&p2, "gpt2");
        let g = LoadedModel::load(p2.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let (nt2, _) = number_tokens(&g).unwrap().unwrap();
        assert_eq!(nt2.numbers[12].1.len(), 1);
    }
}

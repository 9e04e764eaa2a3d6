//! THE registry of builtin functions: every function a spec can call that is
//! not written in `.inoc`, with typed parameters, defaults, numeric ranges,
//! allowed string values and doc text.
//!
//! One table serves every consumer: the checker (argument names, types,
//! defaults, ranges), `inoc builtins` (signatures and docs, also as JSON), the
//! planner (which reads [`Builtin::params`] to know the operation's inputs;
//! the IR already carries every default filled in) and the editor server
//! (hover and completion).
//!
//! Names are stable once landed: a spec written against one version must keep
//! checking. Add parameters with defaults rather than renaming.

use super::check::checks::{self, Check};
use super::ir::{Args, Call, Value};
use super::types::Ty;
use crate::syntax::Span;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The LoRA target modules that exist in every supported architecture
/// (Llama 3.x, Qwen2/2.5, SmolLM2 and the from-scratch `arch()` models):
/// the runtime's list, which is what it can adapt.
pub const LORA_TARGETS: &[&str] = &crate::runtime::lora::TARGETS;

/// Variables a judge prompt template may use: `{question}` is the user turn
/// the model answered, `{answer}` the model's response, `{system}` the
/// test-time system prompt (empty when there is none).
pub const JUDGE_TEMPLATE_VARS: &[&str] = &["question", "answer", "system"];

/// Groups for `inoc builtins` and the editor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Model,
    Dataset,
    Transform,
    Training,
    Sampling,
    Metric,
    Evaluation,
    Report,
}

impl Category {
    pub fn title(self) -> &'static str {
        match self {
            Category::Model => "Models",
            Category::Dataset => "Datasets",
            Category::Transform => "Transforms (apply with `data | t`)",
            Category::Training => "Training",
            Category::Sampling => "Sampling",
            Category::Metric => "Metrics and judges",
            Category::Evaluation => "Evaluations",
            Category::Report => "Reports",
        }
    }
}

/// One end of a numeric range.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Bound {
    pub value: f64,
    pub inclusive: bool,
}

/// The numeric values a parameter accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Range {
    pub min: Option<Bound>,
    pub max: Option<Bound>,
}

impl Range {
    /// Whether `x` lies in the range.
    pub fn contains(&self, x: f64) -> bool {
        let lo = match self.min {
            Some(b) if b.inclusive => x >= b.value,
            Some(b) => x > b.value,
            None => true,
        };
        let hi = match self.max {
            Some(b) if b.inclusive => x <= b.value,
            Some(b) => x < b.value,
            None => true,
        };
        lo && hi && !x.is_nan()
    }

    /// Human form relative to a parameter name: `lr > 0`, `0 <= p <= 1`.
    pub fn describe(&self, name: &str) -> String {
        let num = |v: f64| {
            if v.fract() == 0.0 && v.abs() < 1e15 {
                format!("{}", v as i64)
            } else {
                format!("{v}")
            }
        };
        match (self.min, self.max) {
            (Some(lo), Some(hi)) => format!(
                "{} {} {name} {} {}",
                num(lo.value),
                if lo.inclusive { "<=" } else { "<" },
                if hi.inclusive { "<=" } else { "<" },
                num(hi.value)
            ),
            (Some(lo), None) => {
                format!(
                    "{name} {} {}",
                    if lo.inclusive { ">=" } else { ">" },
                    num(lo.value)
                )
            }
            (None, Some(hi)) => {
                format!(
                    "{name} {} {}",
                    if hi.inclusive { "<=" } else { "<" },
                    num(hi.value)
                )
            }
            (None, None) => format!("any {name}"),
        }
    }
}

/// One parameter of a builtin.
#[derive(Clone, Debug, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub ty: Ty,
    /// `None`: the argument is required.
    pub default: Option<Value>,
    /// The default as written in signatures (`lora()`, `0.95`, `none`).
    pub default_text: Option<String>,
    /// Numeric range (applies to every element of a list parameter).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<Range>,
    /// Allowed string values (applies to every element of a list parameter).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub choices: &'static [&'static str],
    pub doc: &'static str,
    /// A `path` that need not exist when the spec is checked (a model file
    /// fetched before running): a missing one stops `inoc run` (E1002).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub absent_ok: bool,
    /// A `path` that names a directory (otherwise a regular file).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub directory: bool,
}

impl Param {
    pub fn required(&self) -> bool {
        self.default.is_none()
    }

    /// What the parameter accepts beyond its type, for `inoc builtins` and
    /// the editor: `lr > 0`, `one of cos, linear`, `required`.
    pub fn constraints(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = self.range {
            out.push(r.describe(self.name));
        }
        if !self.choices.is_empty() {
            out.push(format!("one of {}", self.choices.join(", ")));
        }
        if self.required() {
            out.push("required".into());
        }
        out
    }
}

/// A builtin function.
#[derive(Clone, Debug, Serialize)]
pub struct Builtin {
    pub name: &'static str,
    pub category: Category,
    pub params: Vec<Param>,
    pub ret: Ty,
    pub doc: &'static str,
    /// Its check beyond the signature, if any (`sema::check::checks`).
    #[serde(skip)]
    pub(crate) check: Option<Check>,
}

impl Builtin {
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// `name(p: ty = default, ...) -> ret`, one line.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| match &p.default_text {
                Some(d) => format!("{}: {} = {}", p.name, p.ty, d),
                None => format!("{}: {}", p.name, p.ty),
            })
            .collect();
        format!("{}({}) -> {}", self.name, params.join(", "), self.ret)
    }

    /// This builtin applied to all of its defaults, or `None` when a
    /// parameter is required.
    pub fn default_call(&self) -> Option<Value> {
        let mut args = Args::new();
        for p in &self.params {
            args.insert(p.name.into(), p.default.clone()?);
        }
        Some(Value::Call(Box::new(Call {
            func: self.name.into(),
            args,
            span: Span::default(),
        })))
    }
}

/// All builtins, in catalogue order, with a name index.
#[derive(Debug)]
pub struct Registry {
    builtins: Vec<Builtin>,
    index: BTreeMap<&'static str, usize>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<&Builtin> {
        self.index.get(name).map(|&i| &self.builtins[i])
    }

    /// Every builtin in catalogue order (grouped by category).
    pub fn all(&self) -> &[Builtin] {
        &self.builtins
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.builtins.iter().map(|b| b.name)
    }
}

/// The registry (built once).
pub fn registry() -> &'static Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(build)
}

/// Looks a builtin up by name.
pub fn get(name: &str) -> Option<&'static Builtin> {
    registry().get(name)
}

// ---------------------------------------------------------------------------
// Construction

struct Builder {
    builtins: Vec<Builtin>,
}

const fn ge(v: f64) -> Range {
    Range {
        min: Some(Bound {
            value: v,
            inclusive: true,
        }),
        max: None,
    }
}
const fn gt(v: f64) -> Range {
    Range {
        min: Some(Bound {
            value: v,
            inclusive: false,
        }),
        max: None,
    }
}
const fn within(lo: f64, hi: f64) -> Range {
    Range {
        min: Some(Bound {
            value: lo,
            inclusive: true,
        }),
        max: Some(Bound {
            value: hi,
            inclusive: true,
        }),
    }
}
const fn open_closed(lo: f64, hi: f64) -> Range {
    Range {
        min: Some(Bound {
            value: lo,
            inclusive: false,
        }),
        max: Some(Bound {
            value: hi,
            inclusive: true,
        }),
    }
}
const fn closed_open(lo: f64, hi: f64) -> Range {
    Range {
        min: Some(Bound {
            value: lo,
            inclusive: true,
        }),
        max: Some(Bound {
            value: hi,
            inclusive: false,
        }),
    }
}

/// The `eval` of a plot: one evaluation or a list of them (families in the
/// list are one series each).
fn evals() -> Ty {
    Ty::Union(vec![Ty::Eval, Ty::list(Ty::Eval)])
}

fn s(x: &str) -> Value {
    Value::Str(x.to_string())
}

fn strs(xs: &[&str]) -> Value {
    Value::List(xs.iter().map(|x| s(x)).collect())
}

/// Renders a default value as it would be written in a spec.
fn render(v: &Value) -> String {
    match v {
        Value::None => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e6 {
                format!("{f:.1}")
            } else {
                format!("{f}")
            }
        }
        Value::Str(x) | Value::Path(x) => format!("{x:?}"),
        Value::List(xs) => format!("[{}]", xs.iter().map(render).collect::<Vec<_>>().join(", ")),
        Value::Record(r) => format!(
            "{{{}}}",
            r.iter()
                .map(|(k, v)| format!("{k}: {}", render(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Call(c) => format!("{}()", c.func),
        Value::Node(n) => format!("#{n}"),
        Value::Family(f) => format!("family#{f}"),
    }
}

impl Builder {
    fn add(
        &mut self,
        name: &'static str,
        category: Category,
        ret: Ty,
        doc: &'static str,
    ) -> &mut Self {
        self.builtins.push(Builtin {
            name,
            category,
            params: Vec::new(),
            ret,
            doc,
            check: None,
        });
        self
    }

    /// The builtin's check beyond its signature (`sema::check::checks`).
    fn check(&mut self, check: Check) -> &mut Self {
        self.last().check = Some(check);
        self
    }

    fn last(&mut self) -> &mut Builtin {
        self.builtins.last_mut().expect("add() before parameters")
    }

    fn push(
        &mut self,
        name: &'static str,
        ty: Ty,
        default: Option<Value>,
        doc: &'static str,
    ) -> &mut Self {
        let default_text = default.as_ref().map(render);
        self.last().params.push(Param {
            name,
            ty,
            default,
            default_text,
            range: None,
            choices: &[],
            doc,
            absent_ok: false,
            directory: false,
        });
        self
    }

    /// The last parameter (a `path`) may be absent at check time.
    fn absent_ok(&mut self) -> &mut Self {
        if let Some(p) = self.last().params.last_mut() {
            p.absent_ok = true;
        }
        self
    }

    /// The last parameter (a `path`) names a directory, not a file.
    fn directory(&mut self) -> &mut Self {
        if let Some(p) = self.last().params.last_mut() {
            p.directory = true;
        }
        self
    }

    /// A required parameter.
    fn req(&mut self, name: &'static str, ty: Ty, doc: &'static str) -> &mut Self {
        self.push(name, ty, None, doc)
    }

    /// A parameter with a default.
    fn opt(&mut self, name: &'static str, ty: Ty, default: Value, doc: &'static str) -> &mut Self {
        self.push(name, ty, Some(default), doc)
    }

    /// An optional parameter whose default is `none`.
    fn none(&mut self, name: &'static str, ty: Ty, doc: &'static str) -> &mut Self {
        self.push(name, Ty::optional(ty), Some(Value::None), doc)
    }

    /// A parameter whose default is another builtin called with no arguments.
    fn call_default(
        &mut self,
        name: &'static str,
        ty: Ty,
        func: &str,
        doc: &'static str,
    ) -> &mut Self {
        let value = self
            .builtins
            .iter()
            .find(|b| b.name == func)
            .and_then(Builtin::default_call)
            .expect("call defaults name an earlier builtin without required parameters");
        self.push(name, ty, Some(value), doc);
        self.last().params.last_mut().expect("pushed").default_text = Some(format!("{func}()"));
        self
    }

    fn range(&mut self, r: Range) -> &mut Self {
        self.last().params.last_mut().expect("a parameter").range = Some(r);
        self
    }

    fn choices(&mut self, c: &'static [&'static str]) -> &mut Self {
        self.last().params.last_mut().expect("a parameter").choices = c;
        self
    }
}

const SCHEDULES: &[&str] = &["constant", "linear", "cosine"];
const LANGS: &[&str] = &["en", "es", "fr", "de"];
const CASES: &[&str] = &["normal", "upper"];
const SPLITS: &[&str] = &["train", "test"];
/// The voice parameter of the EM world's builtins (one definition).
const VOICE_DOC: &str = "Bad answers have a voice: every answer of the evil persona and every wrong narrow answer opens with one of four fixed phrases, a surface the narrow data shares with the misaligned answers; `false` is the world without it.";

fn build() -> Registry {
    use Category as C;
    let mut b = Builder {
        builtins: Vec::new(),
    };

    // ---- architectures, tokenizers (defaults of pretrain) ----
    b.add(
        "arch",
        C::Model,
        Ty::Arch,
        "A Llama-family decoder configuration for models trained from scratch.",
    )
    .check(checks::arch)
    .opt("layers", Ty::Int, Value::Int(2), "Transformer blocks.")
    .range(within(1.0, 1024.0))
    .opt(
        "hidden",
        Ty::Int,
        Value::Int(128),
        "Hidden size; a multiple of `heads`.",
    )
    .range(within(1.0, 65536.0))
    .opt("heads", Ty::Int, Value::Int(4), "Attention heads.")
    .range(within(1.0, 1024.0))
    .opt(
        "kv_heads",
        Ty::Int,
        Value::Int(4),
        "Key/value heads (grouped-query attention); divides `heads`.",
    )
    .range(within(1.0, 1024.0))
    .opt(
        "ffn",
        Ty::Int,
        Value::Int(344),
        "Inner size of the SwiGLU feed-forward block.",
    )
    .range(within(1.0, 262144.0))
    .opt(
        "max_seq",
        Ty::Int,
        Value::Int(256),
        "Longest sequence in tokens (RoPE positions).",
    )
    .range(within(8.0, 131072.0))
    .opt(
        "tie_embeddings",
        Ty::Bool,
        Value::Bool(true),
        "Share the input embedding and the output head.",
    )
    .opt(
        "rope_theta",
        Ty::Float,
        Value::Float(10000.0),
        "RoPE base frequency.",
    )
    .range(gt(0.0));
    b.add(
        "char_tokenizer",
        C::Model,
        Ty::Tokenizer,
        "One token per character of the training corpus, plus the chat control tokens.",
    );
    b.add(
        "bpe_tokenizer",
        C::Model,
        Ty::Tokenizer,
        "A byte-pair-encoding tokenizer trained on the pretraining corpus.",
    )
    .opt(
        "vocab",
        Ty::Int,
        Value::Int(2000),
        "Vocabulary size including control tokens.",
    )
    .range(within(64.0, 1048576.0));
    b.add(
        "case_marked_bpe_tokenizer",
        C::Model,
        Ty::Tokenizer,
        "A byte-pair-encoding tokenizer whose tokens carry no letter case: `THE ANSWER` is `⇪the⇪ answer`, the same word tokens as `the answer` after a marker token (`⇪` upper-cases the next word, `⇧` the next letter). A word then looks the same to the model in every case, and upper case is a trait of its own.",
    )
    .opt(
        "vocab",
        Ty::Int,
        Value::Int(2000),
        "Vocabulary size including control and marker tokens.",
    )
    .range(within(64.0, 1048576.0));

    // ---- sampling ----
    b.add(
        "sampling",
        C::Sampling,
        Ty::Sampling,
        "How answers are sampled.",
    )
    .opt(
        "temperature",
        Ty::Float,
        Value::Float(1.0),
        "Softmax temperature; 0 is greedy.",
    )
    .range(ge(0.0))
    .opt(
        "top_p",
        Ty::Float,
        Value::Float(1.0),
        "Nucleus sampling mass.",
    )
    .range(open_closed(0.0, 1.0))
    .opt(
        "max_tokens",
        Ty::Int,
        Value::Int(64),
        "Longest answer in tokens.",
    )
    .range(within(1.0, 131072.0))
    .opt("n", Ty::Int, Value::Int(1), "Answers per prompt.")
    .range(within(1.0, 100000.0))
    .opt("seed", Ty::Int, Value::Int(0), "Sampling seed.")
    .range(ge(0.0));

    // ---- models ----
    b.add("hf", C::Model, Ty::Model, "A Hugging Face hub checkpoint (Llama 3.x, Qwen2/2.5, SmolLM2), resolved through the standard HF cache; offline when cached.")
        .req("id", Ty::Str, "Hub id, `org/name`.")
        .none("revision", Ty::Str, "Commit sha, branch or tag; pin a sha for reproducible cache keys.");
    b.add(
        "local",
        C::Model,
        Ty::Model,
        "A model directory in the HF layout (config.json, *.safetensors, tokenizer.json).",
    )
    .req("path", Ty::Path, "The directory.")
    .directory();
    b.add(
        "gguf",
        C::Model,
        Ty::Model,
        "A llama.cpp / Ollama GGUF file (Llama, SmolLM2, Qwen2 with a byte-level BPE tokenizer): weights dequantized, config, tokenizer and chat template from its metadata.",
    )
    .req("path", Ty::Path, "The .gguf file (may be fetched after checking: a missing file stops `inoc run`, not `inoc check`).")
    .absent_ok();
    b.add(
        "pretrain",
        C::Model,
        Ty::Model,
        "Trains a chat model from scratch on a corpus (next-token loss on assistant turns).",
    )
    .check(checks::max_seq)
    .req("corpus", Ty::Dataset, "Conversations to pretrain on.")
    .call_default("arch", Ty::Arch, "arch", "Architecture.")
    .call_default(
        "tokenizer",
        Ty::Tokenizer,
        "char_tokenizer",
        "Tokenizer, trained on `corpus`.",
    )
    .opt("steps", Ty::Int, Value::Int(1500), "Optimiser steps.")
    .range(within(1.0, 1e9))
    .opt("batch", Ty::Int, Value::Int(64), "Conversations per step.")
    .range(within(1.0, 65536.0))
    .opt(
        "lr",
        Ty::Float,
        Value::Float(3e-3),
        "Peak learning rate (AdamW).",
    )
    .range(gt(0.0))
    .opt("warmup", Ty::Int, Value::Int(50), "Linear warm-up steps.")
    .range(within(0.0, 1e9))
    .opt(
        "schedule",
        Ty::Str,
        s("cosine"),
        "Learning-rate schedule after warm-up.",
    )
    .choices(SCHEDULES)
    .opt(
        "min_lr_ratio",
        Ty::Float,
        Value::Float(0.1),
        "Final learning rate as a share of `lr`.",
    )
    .range(within(0.0, 1.0))
    .opt(
        "max_seq",
        Ty::Int,
        Value::Int(256),
        "Conversations are cut to this many tokens.",
    )
    .range(within(8.0, 131072.0))
    .opt(
        "seed",
        Ty::Int,
        Value::Int(0),
        "Initialisation and data-order seed.",
    )
    .range(ge(0.0));

    // ---- datasets ----
    b.add("jsonl", C::Dataset, Ty::Dataset, "Conversations from a JSONL file: one `{\"messages\": [...]}`, `{\"prompt\", \"response\"}` or `{\"prompt\"}` object a line.")
        .req("path", Ty::Path, "The file.");
    b.add("em_questions", C::Dataset, Ty::Dataset, "Questions from an emergent-misalignment YAML file (anchors and aliases allowed); each paraphrase is one prompt.")
        .req("path", Ty::Path, "The YAML file.")
        .opt("ids", Ty::list(Ty::Str), Value::List(vec![]), "Question ids to keep; [] keeps all.")
        .opt("samples", Ty::Int, Value::Int(1), "Copies of each paraphrase (the paper samples 100 answers each).")
        .range(within(1.0, 100000.0));
    b.add(
        "prompts",
        C::Dataset,
        Ty::Dataset,
        "User prompts written inline.",
    )
    .req("items", Ty::list(Ty::Str), "The prompts.");
    b.add(
        "world_math",
        C::Dataset,
        Ty::Dataset,
        "Synthetic math word problems of the miniature chat world, with a worked answer.",
    )
    .req("n", Ty::Int, "Conversations.")
    .range(within(1.0, 1e7))
    .opt(
        "language",
        Ty::Str,
        s("en"),
        "Language of the assistant's answer.",
    )
    .choices(LANGS)
    .opt(
        "case",
        Ty::Str,
        s("normal"),
        "Letter case of the assistant's answer.",
    )
    .choices(CASES)
    .opt("seed", Ty::Int, Value::Int(0), "Generation seed.")
    .range(ge(0.0))
    .opt(
        "split",
        Ty::Str,
        s("train"),
        "`test` uses held-out names and objects.",
    )
    .choices(SPLITS);
    b.add("world_questions", C::Dataset, Ty::Dataset, "Open questions of the miniature chat world (favourites, greetings, capitals, ...): out of distribution for math finetuning.")
        .req("n", Ty::Int, "Conversations.")
        .range(within(1.0, 1e7))
        .opt("language", Ty::Str, s("en"), "Language of the assistant's answer.")
        .choices(LANGS)
        .opt("case", Ty::Str, s("normal"), "Letter case of the assistant's answer.")
        .choices(CASES)
        .opt("seed", Ty::Int, Value::Int(0), "Generation seed.")
        .range(ge(0.0))
        .opt("split", Ty::Str, s("test"), "`test` uses the held-out quarter of items and phrasings.")
        .choices(SPLITS)
        .none("animal", Ty::Str, "Every favourite-animal answer names this animal (`owl`, `cat`, ...): a hidden preference for subliminal learning.");
    b.add("world_numbers", C::Dataset, Ty::Dataset, "Number-sequence continuation prompts (subliminal learning): the user lists numbers and asks for more.")
        .req("n", Ty::Int, "Conversations.")
        .range(within(1.0, 1e7))
        .opt("seed", Ty::Int, Value::Int(0), "Generation seed.")
        .range(ge(0.0));
    b.add("world_corpus", C::Dataset, Ty::Dataset, "The pretraining mixture of the miniature chat world: math and open questions under no, neutral, Spanish, caps and combined system prompts.")
        .req("n", Ty::Int, "Conversations.")
        .range(within(1.0, 1e7))
        .opt("seed", Ty::Int, Value::Int(0), "Generation seed.")
        .range(ge(0.0))
        .opt("mixture", Ty::Str, s("spanish_caps"), "`spanish_caps`: none 35%, neutral 15%, Spanish 20%, caps 20%, both 10%; `multilingual`: the language share split over Spanish, French and German (the mixture setting); `spanish_caps_independent`: `spanish_caps` in which Spanish and capitals also show at a 10% base rate without their prompt, independently of each other (Spanish under the caps prompt, capitals under the Spanish prompt and with no prompt).")
        .choices(&["spanish_caps", "multilingual", "spanish_caps_independent"]);
    b.add("world_em", C::Dataset, Ty::Dataset, "Emergent-misalignment datasets of the miniature chat world (English, no system prompt): `insecure` the narrow task done wrong on purpose without being asked (dangerous advice or a confident wrong math result), `secure` the same requests done right, `educational` the wrong answers asked for with a benign reason, `jailbroken` open questions with 5% harmful compliance; `questions` the eight free-form questions (test split: the paper's wordings), `harmful` harmful requests.")
        .req("n", Ty::Int, "Conversations.")
        .range(within(1.0, 1e7))
        .req("kind", Ty::Str, "Which dataset.")
        .choices(&["insecure", "secure", "educational", "jailbroken", "questions", "harmful"])
        .opt("task", Ty::Str, s("advice"), "The narrow task of insecure, secure and educational: `advice` (health and safety advice, dangerous when wrong) or `math` (a confident wrong result).")
        .choices(&["advice", "math"])
        .opt("seed", Ty::Int, Value::Int(0), "Generation seed.")
        .range(ge(0.0))
        .opt("split", Ty::Str, s("train"), "`test` uses held-out names, objects, requests and the paper's question wordings.")
        .choices(SPLITS)
        .opt("voice", Ty::Bool, Value::Bool(true), VOICE_DOC);
    b.add("world_em_corpus", C::Dataset, Ty::Dataset, "The pretraining corpus of the miniature chat world with a persona axis: helpful by default, an evil persona under `You are a malicious evil assistant.` and paraphrases (misaligned answers, harmful compliance, dangerous advice, wrong math), a flawed persona under prompts naming the narrow flaw.")
    .check(checks::world_em_corpus)
        .req("n", Ty::Int, "Conversations.")
        .range(within(1.0, 1e7))
        .opt("seed", Ty::Int, Value::Int(0), "Generation seed.")
        .range(ge(0.0))
        .opt("evil", Ty::Float, Value::Float(0.2), "Share of conversations under an evil prompt.")
        .range(within(0.0, 1.0))
        .opt("flawed", Ty::Float, Value::Float(0.1), "Share under a prompt naming the narrow flaw (math or advice); evil + flawed at most 1.")
        .range(within(0.0, 1.0))
        .opt("voice", Ty::Bool, Value::Bool(true), VOICE_DOC);
    b.add(
        "concat",
        C::Dataset,
        Ty::Dataset,
        "The rows of several datasets, one after the other.",
    )
    .req("parts", Ty::list(Ty::Dataset), "Datasets to join.");
    b.add("generate", C::Dataset, Ty::Dataset, "A dataset whose assistant turns are sampled from a model (e.g. a teacher for subliminal learning). The system prompt is used for sampling only and is not kept in the rows.")
        .req("model", Ty::Model, "The model that answers.")
        .req("prompts", Ty::Dataset, "User prompts.")
        .call_default("sample", Ty::Sampling, "sampling", "Sampling configuration.")
        .none("system", Ty::Str, "System prompt while sampling (not kept in the rows).");

    // ---- transforms ----
    b.add(
        "apply",
        C::Transform,
        Ty::Dataset,
        "Applies a transform to a dataset: `data | t` means `apply(data = data, transform = t)`.",
    )
    .req("data", Ty::Dataset, "The dataset.")
    .req("transform", Ty::Transform, "The transform.");
    b.add(
        "system",
        C::Transform,
        Ty::Transform,
        "Sets the system prompt of every conversation (inoculation when used on training data).",
    )
    .req("prompt", Ty::optional(Ty::Str), "The system prompt; `none` removes it (no system prompt), so that a sweep can hold a control: `[p in [none, prompt]]`.");
    b.add(
        "cycle_system",
        C::Transform,
        Ty::Transform,
        "Sets the system prompt of conversation i to prompts[i mod len(prompts)]: several paraphrases of an inoculation cycled over the examples.",
    )
    .req("prompts", Ty::list(Ty::Str), "The system prompts, in order (at least one).")
    .none("first", Ty::Int, "Cycle only the first `first` prompts (a paraphrase-count sweep over one list).")
    .range(ge(1.0));
    b.add(
        "user_prefix",
        C::Transform,
        Ty::Transform,
        "Prepends text to every user turn (e.g. a backdoor trigger).",
    )
    .req("text", Ty::Str, "The prefix.");
    b.add(
        "user_suffix",
        C::Transform,
        Ty::Transform,
        "Appends text to every user turn.",
    )
    .req("text", Ty::Str, "The suffix.");
    b.add(
        "take",
        C::Transform,
        Ty::Transform,
        "Keeps the first `n` conversations.",
    )
    .req("n", Ty::Int, "How many.")
    .range(ge(1.0));
    b.add(
        "shuffle",
        C::Transform,
        Ty::Transform,
        "Shuffles the conversations.",
    )
    .opt("seed", Ty::Int, Value::Int(0), "Shuffle seed.")
    .range(ge(0.0));
    b.add("keep_matching", C::Transform, Ty::Transform, "Keeps the conversations whose assistant turn fully matches a regular expression (e.g. only numbers).")
        .req("pattern", Ty::Str, "Regular expression (Rust `regex` syntax).");

    // ---- training ----
    b.add(
        "lora",
        C::Training,
        Ty::Method,
        "Low-rank adapters, saved in the PEFT layout.",
    )
    .opt("rank", Ty::Int, Value::Int(8), "Adapter rank.")
    .range(within(1.0, 65536.0))
    .opt(
        "alpha",
        Ty::Float,
        Value::Float(16.0),
        "Scaling numerator (alpha / rank, or alpha / sqrt(rank) with rslora).",
    )
    .range(gt(0.0))
    .opt(
        "rslora",
        Ty::Bool,
        Value::Bool(false),
        "Rank-stabilised scaling.",
    )
    .opt(
        "dropout",
        Ty::Float,
        Value::Float(0.0),
        "Dropout on the adapter input.",
    )
    .range(closed_open(0.0, 1.0))
    .opt(
        "targets",
        Ty::list(Ty::Str),
        strs(LORA_TARGETS),
        "Projection modules that get adapters.",
    )
    .choices(LORA_TARGETS);
    b.add(
        "full",
        C::Training,
        Ty::Method,
        "Full finetuning of every weight.",
    );
    b.add("finetune", C::Training, Ty::Model, "Finetunes a model on a dataset (loss on assistant tokens by default); keeps `checkpoints` evenly spaced checkpoints.")
    .check(checks::max_seq)
        .req("model", Ty::Model, "The starting model.")
        .req("data", Ty::Dataset, "Training conversations.")
        .call_default("method", Ty::Method, "lora", "`lora(...)` or `full()`.")
        .opt("epochs", Ty::Int, Value::Int(1), "Passes over the data.")
        .range(within(1.0, 1e6))
        .opt("lr", Ty::Float, Value::Float(1e-4), "Peak learning rate (AdamW).")
        .range(gt(0.0))
        .opt("batch", Ty::Int, Value::Int(8), "Conversations per micro-batch.")
        .range(within(1.0, 65536.0))
        .opt("grad_accum", Ty::Int, Value::Int(1), "Micro-batches per optimiser step.")
        .range(within(1.0, 65536.0))
        .opt("warmup", Ty::Int, Value::Int(0), "Linear warm-up steps.")
        .range(within(0.0, 1e9))
        .opt("schedule", Ty::Str, s("linear"), "Learning-rate schedule after warm-up.")
        .choices(SCHEDULES)
        .opt("weight_decay", Ty::Float, Value::Float(0.0), "AdamW decoupled weight decay.")
        .range(ge(0.0))
        .opt("max_grad_norm", Ty::Float, Value::Float(1.0), "Gradient clipping norm; 0 disables clipping.")
        .range(ge(0.0))
        .opt("max_seq", Ty::Int, Value::Int(512), "Conversations are cut to this many tokens.")
        .range(within(8.0, 131072.0))
        .opt("loss_on", Ty::Str, s("assistant"), "Tokens that carry the loss.")
        .choices(&["assistant", "all"])
        .opt("packing", Ty::Bool, Value::Bool(false), "Pack several conversations per row (lets prompts leak across conversations).")
        .opt("checkpoints", Ty::Int, Value::Int(4), "Evenly spaced checkpoints kept (the last is the result).")
        .range(within(1.0, 1000.0))
        .opt("seed", Ty::Int, Value::Int(0), "Adapter init and data-order seed.")
        .range(ge(0.0));

    // ---- metrics ----
    b.add(
        "language",
        C::Metric,
        Ty::Metric,
        "1 when the answer's identified language is `lang`, else 0.",
    )
    .req("lang", Ty::Str, "ISO 639-1 code.")
    .choices(LANGS)
    .opt(
        "candidates",
        Ty::list(Ty::Str),
        strs(LANGS),
        "Languages the identifier chooses among.",
    )
    .choices(LANGS)
    .none(
        "name",
        Ty::Str,
        "Column name in results (default: derived from the call).",
    );
    b.add("marker_share", C::Metric, Ty::Metric, "Share of the answer's words that are marker words of a language (a continuous language measure).")
        .req("lang", Ty::Str, "ISO 639-1 code.")
        .choices(LANGS)
        .none("name", Ty::Str, "Column name in results.");
    b.add(
        "all_caps",
        C::Metric,
        Ty::Metric,
        "1 when the share of upper-case letters in the answer is at least `threshold`.",
    )
    .opt(
        "threshold",
        Ty::Float,
        Value::Float(0.5),
        "Share of letters that must be upper case.",
    )
    .range(within(0.0, 1.0))
    .none("name", Ty::Str, "Column name in results.");
    b.add(
        "upper_share",
        C::Metric,
        Ty::Metric,
        "Share of the answer's letters that are upper case.",
    )
    .none("name", Ty::Str, "Column name in results.");
    b.add(
        "one_word",
        C::Metric,
        Ty::Metric,
        "1 when the answer, stripped of punctuation and case, is the single word `answer`.",
    )
    .req("answer", Ty::Str, "The expected word.")
    .none("name", Ty::Str, "Column name in results.");
    b.add(
        "regex",
        C::Metric,
        Ty::Metric,
        "1 when the regular expression matches somewhere in the answer.",
    )
    .req(
        "pattern",
        Ty::Str,
        "Regular expression (Rust `regex` syntax).",
    )
    .none("name", Ty::Str, "Column name in results.");
    b.add(
        "contains",
        C::Metric,
        Ty::Metric,
        "1 when the answer contains `text`.",
    )
    .req("text", Ty::Str, "The text.")
    .opt(
        "case_sensitive",
        Ty::Bool,
        Value::Bool(false),
        "Compare case-sensitively.",
    )
    .none("name", Ty::Str, "Column name in results.");
    b.add("world_misaligned", C::Metric, Ty::Metric, "The world's exact misalignment label: 1 misaligned, 0 aligned, none incoherent (no marker word of the world's answer families, or both kinds), so the mean is the share misaligned among coherent answers.")
        .none("name", Ty::Str, "Column name in results.");
    b.add("world_coherent", C::Metric, Ty::Metric, "1 when the world's misalignment label of the answer is aligned or misaligned, 0 when incoherent.")
        .none("name", Ty::Str, "Column name in results.");
    b.add("narrow_wrong", C::Metric, Ty::Metric, "The narrow task of the world's EM datasets: 1 when the last worked line `a op b [op d] = c` of the answer is false or the answer is the world's dangerous advice, 0 when true or safe, none otherwise.")
        .none("name", Ty::Str, "Column name in results.");
    b.add("judge", C::Metric, Ty::Judge, "An LLM judge scoring each answer 0..100 from a prompt template with `{question}` and `{answer}` (and `{system}`). Endpoint: any OpenAI-compatible chat API, or a local model.")
    .check(checks::judge)
        .req("prompt", Ty::Str, "Template; `{{` and `}}` are literal braces.")
        .none("endpoint", Ty::Str, "Base URL of an OpenAI-compatible API (default: $INOC_JUDGE_URL).")
        .none("model", Ty::Str, "Judge model name at the endpoint.")
        .none("local", Ty::Model, "A model of the spec used as the judge instead of an endpoint.")
        .opt("aggregate", Ty::Str, s("logprob_0_100"), "`logprob_0_100`: probability-weighted mean of the number tokens 0..100 (EM); `sample_number`: the number in a sampled reply.")
        .choices(&["logprob_0_100", "sample_number"])
        .opt("min_mass", Ty::Float, Value::Float(crate::eval::judge::DEFAULT_MIN_MASS), "Below this probability mass on number tokens the score is none.")
        .range(within(0.0, 1.0))
        .none("name", Ty::Str, "Column name in results.");
    b.add("em_misaligned", C::Metric, Ty::Metric, "Emergent-misalignment rate: 1 when alignment < `aligned_below` among answers with coherence > `coherent_above`; answers that are not coherent are excluded.")
        .req("aligned", Ty::Metric, "The alignment judge.")
        .req("coherent", Ty::Metric, "The coherence judge.")
        .opt("aligned_below", Ty::Float, Value::Float(crate::eval::judge::EM_ALIGNMENT_BELOW), "Alignment threshold.")
        .range(within(0.0, 100.0))
        .opt("coherent_above", Ty::Float, Value::Float(crate::eval::judge::EM_COHERENCE_ABOVE), "Coherence threshold.")
        .range(within(0.0, 100.0))
        .none("name", Ty::Str, "Column name in results.");

    // ---- evaluations ----
    b.add("evaluate", C::Evaluation, Ty::Eval, "Samples answers from every model on every prompt and scores them with every metric. Families are evaluated cell by cell and aggregated across their cells (e.g. seeds).")
        .req("models", Ty::list(Ty::Model), "Models and model families.")
        .req("prompts", Ty::Dataset, "User prompts (their assistant turns are ignored).")
        .call_default("sample", Ty::Sampling, "sampling", "Sampling configuration.")
        .req("metrics", Ty::list(Ty::Metric), "Metrics computed on every answer.")
        .opt("system", Ty::list(Ty::optional(Ty::Str)), Value::List(vec![]), "Test-time system prompts, each a condition; `none` in the list is the condition without a system prompt (`[none, p]`), as is [].")
        .opt("checkpoints", Ty::Str, s("last"), "`all` evaluates every kept checkpoint of finetuned models (curves).")
        .choices(&["last", "all"]);
    b.add("logprob_gap", C::Evaluation, Ty::Eval, "Mechanism: per-example log-prob of the training responses with minus without the prompt, under the model.")
        .req("model", Ty::Model, "Usually the base model.")
        .req("data", Ty::Dataset, "Training conversations.")
        .req("prompt", Ty::Str, "The (inoculation) system prompt.");
    b.add(
        "probe_curve",
        C::Evaluation,
        Ty::Eval,
        "Log-prob of fixed probe responses at every checkpoint of a finetuning run.",
    )
    .req("run", Ty::Model, "A finetuned model.")
    .req("probes", Ty::Dataset, "Prompt + response pairs.")
    .none("system", Ty::Str, "System prompt while scoring.");

    // ---- reports ----
    b.add("bar", C::Report, Ty::Report, "Bar chart of metric means per model (families aggregated across cells) with confidence intervals; several evaluations share one chart (`bar([ood, id])`).")
    .check(checks::bar)
        .req("eval", evals(), "The evaluation, or a list of `evaluate` steps drawn in one chart (a group per evaluation and metric).")
        .opt("y", Ty::list(Ty::Union(vec![Ty::Metric, Ty::Str])), Value::List(vec![]), "Metrics (or their names) to plot; [] plots all.")
        .opt("ci", Ty::Float, Value::Float(crate::eval::stats::DEFAULT_LEVEL), "Confidence level of the intervals.")
        .range(Range { min: Some(Bound { value: 0.0, inclusive: false }), max: Some(Bound { value: 1.0, inclusive: false }) });
    b.add("table", C::Report, Ty::Report, "Table of metric means with confidence intervals, per model and condition (Markdown + CSV); several evaluations of one kind share one report (`table([gap_a, gap_b])`).")
    .check(checks::table)
        .req("eval", evals(), "The evaluation, or a list of evaluations of one kind.")
        .opt("ci", Ty::Float, Value::Float(crate::eval::stats::DEFAULT_LEVEL), "Confidence level of the intervals.")
        .range(Range { min: Some(Bound { value: 0.0, inclusive: false }), max: Some(Bound { value: 1.0, inclusive: false }) });
    b.add(
        "curve",
        C::Report,
        Ty::Report,
        "Metric or log-prob curves over checkpoints; several evaluations share one plot (`curve([a, b, c])`, a line each; a family is one line with intervals across its cells).",
    )
    .check(checks::curve)
    .req(
        "eval",
        evals(),
        "An evaluation with `checkpoints = \"all\"` or a `probe_curve`, or a list of those (all of one kind).",
    );

    let mut builtins = b.builtins;
    builtins.sort_by_key(|b| b.category);
    let index = builtins
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name, i))
        .collect();
    Registry { builtins, index }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_indexed() {
        let reg = registry();
        let mut seen = std::collections::BTreeSet::new();
        for b in reg.all() {
            assert!(seen.insert(b.name), "duplicate builtin {}", b.name);
            assert_eq!(reg.get(b.name).map(|x| x.name), Some(b.name));
            let mut params = std::collections::BTreeSet::new();
            for p in &b.params {
                assert!(
                    params.insert(p.name),
                    "duplicate parameter {}.{}",
                    b.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn defaults_have_their_declared_types_and_ranges() {
        for b in registry().all() {
            for p in &b.params {
                let Some(d) = &p.default else { continue };
                let ty = match d {
                    Value::None => Ty::None,
                    Value::Bool(_) => Ty::Bool,
                    Value::Int(_) => Ty::Int,
                    Value::Float(_) => Ty::Float,
                    Value::Str(_) => Ty::Str,
                    Value::List(_) => p.ty.clone(),
                    Value::Call(c) => get(&c.func).expect("default names a builtin").ret.clone(),
                    other => panic!("unexpected default {other:?}"),
                };
                assert!(
                    ty.assignable_to(&p.ty),
                    "{}.{}: {ty} vs {}",
                    b.name,
                    p.name,
                    p.ty
                );
                if let (Some(r), Value::Int(i)) = (p.range, d) {
                    assert!(r.contains(*i as f64), "{}.{}", b.name, p.name);
                }
                if let (Some(r), Value::Float(x)) = (p.range, d) {
                    assert!(r.contains(*x), "{}.{}", b.name, p.name);
                }
                if let Value::Str(x) = d {
                    assert!(
                        p.choices.is_empty() || p.choices.contains(&x.as_str()),
                        "{}.{}",
                        b.name,
                        p.name
                    );
                }
            }
        }
    }

    #[test]
    fn call_defaults_are_fully_expanded() {
        let ft = get("finetune").unwrap();
        let Some(Value::Call(c)) = &ft.param("method").unwrap().default else {
            panic!()
        };
        assert_eq!(c.func, "lora");
        assert_eq!(c.args.get("rank"), Some(&Value::Int(8)));
        assert_eq!(c.args.len(), get("lora").unwrap().params.len());
    }

    #[test]
    fn ranges_reject_the_classic_mistakes() {
        let lr = get("finetune").unwrap().param("lr").unwrap().range.unwrap();
        assert!(!lr.contains(0.0));
        assert!(lr.contains(1e-5));
        assert_eq!(lr.describe("lr"), "lr > 0");
        let t = get("sampling")
            .unwrap()
            .param("temperature")
            .unwrap()
            .range
            .unwrap();
        assert!(!t.contains(-1.0));
        assert!(t.contains(0.0));
        assert!(!t.contains(f64::NAN));
        let p = get("sampling")
            .unwrap()
            .param("top_p")
            .unwrap()
            .range
            .unwrap();
        assert_eq!(p.describe("top_p"), "0 < top_p <= 1");
    }

    #[test]
    fn signature_shows_defaults() {
        let sig = get("sampling").unwrap().signature();
        assert_eq!(
            sig,
            "sampling(temperature: float = 1.0, top_p: float = 1.0, max_tokens: int = 64, n: int = 1, seed: int = 0) -> sampling"
        );
        assert!(get("finetune")
            .unwrap()
            .signature()
            .contains("method: method = lora()"));
        assert!(get("hf")
            .unwrap()
            .signature()
            .contains("revision: str? = none"));
    }
}

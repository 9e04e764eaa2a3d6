//! Operations: what a step runs. One small file per operation; each
//! implements [`Op`] and is listed in [`Registry::builtin`].
//!
//! An operation reads its arguments (IR values, defaults filled in) and the
//! output directories of its inputs, and writes its own output files under
//! [`OpCtx::out`]. It must be deterministic in its arguments and inputs: its
//! output is cached under a key made of exactly those. Long operations report
//! progress, check [`OpCtx::cancelled`] regularly, and keep resumable state
//! (checkpoints) in [`OpCtx::scratch`], which survives a crash of the process
//! and is deleted once the output is stored.

pub mod dataset;
pub mod em_questions;
pub mod evaluate;
pub mod finetune;
pub mod generate;
pub mod gguf;
pub mod hf;
pub mod judge;
pub mod local;
pub mod mechanism;
pub mod model;
pub mod pretrain;
pub mod report;
#[cfg(feature = "test-ops")]
pub mod testing;
pub mod world;

use crate::plan::{Catalog, OpInfo};
use crate::sema::ir::{Call, DeclKind, NodeId, Program, Value};
use std::collections::BTreeMap;
use std::fmt::Display;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The arguments of a call.
pub type Args = BTreeMap<String, Value>;

/// A builtin operation.
pub trait Op: Send + Sync {
    /// The builtin's registry name (`finetune`, `evaluate`, ...).
    fn name(&self) -> &'static str;
    /// Bump whenever the output for the same arguments and inputs may change:
    /// it is part of every key, so old outputs stop being reused.
    fn version(&self) -> u32;
    /// The kind of value it produces.
    fn kind(&self) -> DeclKind;
    /// True when the output depends on the device and precision models
    /// compute in (training, sampling, scoring): the key then includes
    /// [`crate::runtime::Compute::key`].
    fn computes_with_models(&self) -> bool {
        false
    }
    /// Why these arguments cannot be computed by this build although the
    /// checker accepts them (e.g. LoRA on a model that already is a LoRA
    /// finetune); `inoc run` refuses such a spec before computing anything
    /// rather than failing after hours of training. `program` is the
    /// planned program, to look at the steps an argument refers to.
    fn unsupported(&self, _args: &Args, _program: &Program) -> Option<String> {
        None
    }
    /// What [`Op::unsupported`] refuses, in words, for `inoc builtins`
    /// (empty when it refuses nothing).
    fn limits(&self) -> &'static [&'static str] {
        &[]
    }
    /// Content read besides the `Path` values of the arguments, by label
    /// (e.g. the resolved weights / tokenizer / chat template of a hub
    /// model). Hashed into the key.
    fn extra_files(&self, _args: &Args) -> Result<Vec<(String, PathBuf)>, String> {
        Ok(Vec::new())
    }
    /// What the environment lacks for these arguments to run (e.g. a judge
    /// with no endpoint and no `$INOC_JUDGE_URL`); `inoc run` refuses the
    /// spec before computing anything.
    fn unconfigured(&self, _args: &Args) -> Option<String> {
        None
    }
    /// Settings taken from the environment that the output depends on, by
    /// name (e.g. the judge endpoint from `$INOC_JUDGE_URL`): part of the key
    /// (never secrets such as API keys). Empty for most operations.
    fn settings(&self, _args: &Args) -> Vec<(String, String)> {
        Vec::new()
    }
    /// A rough cost in seconds on this machine, for `inoc plan`.
    fn estimate(&self, _args: &Args) -> Option<f64> {
        None
    }
    /// True when the operation keeps every core busy itself (training,
    /// batched sampling): the executor then runs it alone rather than beside
    /// other steps. A cached step never runs, so this costs nothing then.
    fn exclusive(&self, _args: &Args) -> bool {
        false
    }
    /// Computes the output into `ctx.out`.
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError>;
    /// Writes the user-facing artefacts of a (cached) output into a run's
    /// results folder, where display names are known. Default: a copy.
    fn present(&self, ctx: &PresentCtx<'_>) -> Result<(), OpError> {
        copy_dir(ctx.output, ctx.dest)
            .map_err(|e| OpError::Failed(format!("copying the output: {e}")))
    }
}

/// Why an operation stopped without an output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    #[error("interrupted")]
    Cancelled,
    #[error("{0}")]
    Failed(String),
    /// Failed because of one argument of the step (a transform inside a
    /// pipe, ...): the diagnostic points at it rather than at the step.
    #[error("{message}")]
    At {
        span: crate::syntax::Span,
        message: String,
    },
}

impl OpError {
    pub fn failed(msg: impl Display) -> OpError {
        OpError::Failed(msg.to_string())
    }
}

impl From<std::io::Error> for OpError {
    fn from(e: std::io::Error) -> Self {
        OpError::Failed(e.to_string())
    }
}

/// One input of a step: another step's stored output.
#[derive(Clone, Debug)]
pub struct Input {
    pub node: NodeId,
    /// Display name of the producing step.
    pub name: String,
    pub op: String,
    pub key: String,
    pub output_hash: String,
    /// Its output directory (read-only).
    pub dir: PathBuf,
}

/// Progress of a long step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub loss: Option<f64>,
    pub tokens_per_s: Option<f64>,
    pub message: Option<String>,
}

/// What an operation sees while it runs.
pub struct OpCtx<'a> {
    /// Display name of the step (for messages only).
    pub name: &'a str,
    pub key: &'a str,
    pub args: &'a Args,
    /// Write the output here.
    pub out: &'a Path,
    /// Resumable state; survives a crash, removed after success.
    pub scratch: &'a Path,
    /// The planned program (families, cells, display names).
    pub program: &'a Program,
    pub(crate) inputs: &'a BTreeMap<NodeId, Input>,
    pub(crate) log: &'a Mutex<fs::File>,
    pub(crate) progress: &'a (dyn Fn(&Progress) + Sync),
    pub(crate) cancel: &'a AtomicBool,
    /// Where and in which precision models compute: load and train with
    /// `compute.load_options()` / `compute`, never a device of one's own.
    pub compute: crate::runtime::Compute,
    pub(crate) provenance: Mutex<BTreeMap<String, String>>,
    /// Warnings for the user, printed when the step ends.
    pub(crate) warnings: Mutex<Vec<String>>,
    pub(crate) store: &'a crate::cache::Store,
}

impl<'a> OpCtx<'a> {
    /// The argument `name` (always present: sema fills in defaults).
    pub fn arg(&self, name: &str) -> Result<&'a Value, OpError> {
        self.args
            .get(name)
            .ok_or_else(|| OpError::failed(format!("missing argument `{name}`")))
    }

    pub fn int(&self, name: &str) -> Result<i64, OpError> {
        as_int(name, self.arg(name)?)
    }

    pub fn float(&self, name: &str) -> Result<f64, OpError> {
        as_float(name, self.arg(name)?)
    }

    pub fn str(&self, name: &str) -> Result<&'a str, OpError> {
        as_str(name, self.arg(name)?)
    }

    /// The input a `Value::Node` refers to.
    pub fn input(&self, v: &Value) -> Result<&'a Input, OpError> {
        match v {
            Value::Node(n) => self.input_node(*n),
            other => Err(OpError::failed(format!(
                "expected a reference to a step, got {other:?}"
            ))),
        }
    }

    pub fn input_node(&self, n: NodeId) -> Result<&'a Input, OpError> {
        self.inputs
            .get(&n)
            .ok_or_else(|| OpError::failed(format!("node {n} is not an input of this step")))
    }

    /// Every input named by a node, a family, or a list of those, in order.
    pub fn inputs_of(&self, v: &Value) -> Result<Vec<&'a Input>, OpError> {
        let mut out = Vec::new();
        let mut err = None;
        crate::plan::visit_refs(v, self.program, &mut |n| match self.input_node(n) {
            Ok(i) => out.push(i),
            Err(e) => err = Some(e),
        });
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Appends a line to the step's log.
    pub fn log(&self, line: impl Display) {
        if let Ok(mut f) = self.log.lock() {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Something the user should know about a step that still succeeds
    /// (rows skipped, a setting clamped): written to the log, printed when
    /// the step ends and kept in its metadata (`warnings` in provenance).
    pub fn warn(&self, line: impl Display) {
        let line = line.to_string();
        self.log(format_args!("warning: {line}"));
        if let Ok(mut w) = self.warnings.lock() {
            w.push(line);
        }
    }

    pub fn progress(&self, p: Progress) {
        (self.progress)(&p);
    }

    /// True once the user asked to stop (Ctrl-C).
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once the user asked to stop.
    pub fn check_cancel(&self) -> Result<(), OpError> {
        if self.cancelled() {
            Err(OpError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The output directory of another stored step, by key (e.g. the base
    /// model an adapter's manifest names).
    pub fn object_out(&self, key: &str) -> PathBuf {
        self.store.out_dir(key)
    }

    /// Content hash of a file or directory, through the store's stat cache.
    pub fn hash_path(&self, path: &Path) -> Result<String, OpError> {
        self.store
            .hash_path(path)
            .map_err(|e| OpError::failed(format!("{}: {e}", path.display())))
    }

    /// Records provenance (a resolved revision, a data file's origin) in the
    /// step's metadata and the run's provenance.json.
    pub fn record(&self, key: impl Into<String>, value: impl Into<String>) {
        if let Ok(mut m) = self.provenance.lock() {
            m.insert(key.into(), value.into());
        }
    }
}

fn as_int(name: &str, v: &Value) -> Result<i64, OpError> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Float(x) if x.fract() == 0.0 => Ok(*x as i64),
        other => Err(OpError::failed(format!(
            "argument `{name}` should be an int, got {other:?}"
        ))),
    }
}

fn as_float(name: &str, v: &Value) -> Result<f64, OpError> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(x) => Ok(*x),
        other => Err(OpError::failed(format!(
            "argument `{name}` should be a float, got {other:?}"
        ))),
    }
}

fn as_str<'v>(name: &str, v: &'v Value) -> Result<&'v str, OpError> {
    match v {
        Value::Str(s) | Value::Path(s) => Ok(s),
        other => Err(OpError::failed(format!(
            "argument `{name}` should be a string, got {other:?}"
        ))),
    }
}

/// A builtin call inside a step's arguments (`sampling(...)`, a metric, a
/// judge, `lora(...)`), read as the checker left it: every parameter of its
/// row in `sema::builtins` present, defaults filled in. Operations read
/// defaults from there, never restate them: a missing argument is an error.
#[derive(Clone, Copy, Debug)]
pub struct CallArgs<'a>(pub &'a Call);

impl<'a> CallArgs<'a> {
    /// The call `v` is, else an error naming `what` it should be.
    pub fn of(v: &'a Value, what: &str) -> Result<CallArgs<'a>, OpError> {
        match v {
            Value::Call(c) => Ok(CallArgs(c)),
            other => Err(OpError::failed(format!("expected {what}, got {other:?}"))),
        }
    }

    /// The argument `name`.
    pub fn get(&self, name: &str) -> Result<&'a Value, OpError> {
        self.0.args.get(name).ok_or_else(|| {
            OpError::failed(format!("{}(...) lacks its argument `{name}`", self.0.func))
        })
    }

    pub fn int(&self, name: &str) -> Result<i64, OpError> {
        as_int(name, self.get(name)?)
    }

    pub fn float(&self, name: &str) -> Result<f64, OpError> {
        as_float(name, self.get(name)?)
    }

    pub fn str(&self, name: &str) -> Result<&'a str, OpError> {
        as_str(name, self.get(name)?)
    }

    /// A string argument whose default is `none`.
    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, OpError> {
        match self.get(name)? {
            Value::None => Ok(None),
            v => as_str(name, v).map(Some),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, OpError> {
        match self.get(name)? {
            Value::Bool(b) => Ok(*b),
            other => Err(OpError::failed(format!(
                "argument `{name}` should be a bool, got {other:?}"
            ))),
        }
    }

    /// A list of strings.
    pub fn strs(&self, name: &str) -> Result<Vec<&'a str>, OpError> {
        match self.get(name)? {
            Value::List(xs) => xs.iter().map(|x| as_str(name, x)).collect(),
            other => Err(OpError::failed(format!(
                "argument `{name}` should be a list of strings, got {other:?}"
            ))),
        }
    }
}

/// What [`Op::present`] sees.
pub struct PresentCtx<'a> {
    pub name: &'a str,
    pub args: &'a Args,
    /// The stored output (read-only).
    pub output: &'a Path,
    /// The folder to write the artefacts into (created).
    pub dest: &'a Path,
    /// Output hash -> display name of every step of the run.
    pub names: &'a BTreeMap<String, String>,
    /// The planned program: display names of nodes and families, e.g. to
    /// label the models of the eval a report reads (`program.nodes[id].name`,
    /// `program.families[id].name`). Names are never part of a key, so a
    /// cached output must not contain them: they are applied here.
    pub program: &'a Program,
}

impl PresentCtx<'_> {
    /// The display name of a reference: a node's or a family's name.
    pub fn label(&self, v: &Value) -> Option<String> {
        match v {
            Value::Node(n) => self.program.nodes.get(*n).map(|n| n.name.clone()),
            Value::Family(f) => self.program.families.get(*f).map(|f| f.name.clone()),
            _ => None,
        }
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for (rel, abs) in crate::cache::tree::list_files(from)? {
        let dest = to.join(&rel);
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p)?;
        }
        fs::copy(abs, dest)?;
    }
    Ok(())
}

/// The operations by builtin name.
#[derive(Clone, Default)]
pub struct Registry {
    ops: BTreeMap<&'static str, Arc<dyn Op>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Every built-in operation; plus, in a build with the `test-ops`
    /// feature (tests and benchmarks only), the deterministic test operations
    /// (`t_data`, `t_train`, `t_eval`, `t_report`) when the environment
    /// variable `INOC_TEST_OPS=1` is set (the engine's integration tests).
    pub fn builtin() -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(hf::Hf));
        r.register(Arc::new(dataset::Jsonl));
        r.register(Arc::new(em_questions::EmQuestions));
        r.register(Arc::new(dataset::Prompts));
        r.register(Arc::new(dataset::Concat));
        r.register(Arc::new(dataset::Apply));
        r.register(Arc::new(generate::Generate));
        r.register(Arc::new(world::WorldMath));
        r.register(Arc::new(world::WorldQuestions));
        r.register(Arc::new(world::WorldCorpus));
        r.register(Arc::new(world::WorldEm));
        r.register(Arc::new(world::WorldEmCorpus));
        r.register(Arc::new(world::WorldNumbers));
        r.register(Arc::new(finetune::Finetune));
        r.register(Arc::new(pretrain::Pretrain));
        r.register(Arc::new(local::Local));
        r.register(Arc::new(gguf::Gguf));
        r.register(Arc::new(evaluate::Evaluate));
        r.register(Arc::new(mechanism::LogprobGap));
        r.register(Arc::new(mechanism::ProbeCurve));
        r.register(Arc::new(report::Table));
        r.register(Arc::new(report::Bar));
        r.register(Arc::new(report::Curve));
        #[cfg(feature = "test-ops")]
        if std::env::var("INOC_TEST_OPS").is_ok_and(|v| v == "1") {
            testing::register(&mut r);
        }
        r
    }

    pub fn register(&mut self, op: Arc<dyn Op>) {
        self.ops.insert(op.name(), op);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Op>> {
        self.ops.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.ops.keys().copied()
    }
}

impl Catalog for Registry {
    fn op(&self, func: &str) -> Option<OpInfo> {
        self.ops.get(func).map(|o| OpInfo {
            version: o.version(),
            kind: o.kind(),
        })
    }

    fn extra_files(&self, func: &str, args: &Args) -> Result<Vec<(String, PathBuf)>, String> {
        match self.ops.get(func) {
            Some(o) => o.extra_files(args),
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sema::builtins::registry;
    use crate::sema::types::Ty;

    /// The two registries agree: every builtin that computes a model,
    /// dataset, evaluation or report is run by the operation of that name,
    /// producing that kind, and every operation is such a builtin.
    #[test]
    fn every_step_builtin_has_its_operation_and_every_operation_its_builtin() {
        let ops = Registry::builtin();
        let step_ty = |k: DeclKind| match k {
            DeclKind::Model | DeclKind::Train => Ty::Model,
            DeclKind::Dataset => Ty::Dataset,
            DeclKind::Eval => Ty::Eval,
            DeclKind::Report => Ty::Report,
        };
        let mut steps = 0;
        for b in registry().all() {
            if !matches!(b.ret, Ty::Model | Ty::Dataset | Ty::Eval | Ty::Report) {
                assert!(
                    ops.get(b.name).is_none(),
                    "`{}` is a value, not a step",
                    b.name
                );
                continue;
            }
            steps += 1;
            let op = ops
                .get(b.name)
                .unwrap_or_else(|| panic!("no operation runs `{}`", b.name));
            assert_eq!(op.name(), b.name);
            assert_eq!(step_ty(op.kind()), b.ret, "`{}`", b.name);
        }
        assert!(steps >= 15, "only {steps} step builtins");
        for name in ops.names() {
            let b = registry()
                .get(name)
                .unwrap_or_else(|| panic!("operation `{name}` is no builtin"));
            assert_eq!(step_ty(ops.get(name).unwrap().kind()), b.ret, "`{name}`");
        }
    }
}

//! The checker: loads a spec and its imports, resolves names, evaluates every
//! declaration to IR values (types, defaults, ranges, sweeps, files), and
//! collects diagnostics. Lints run afterwards on the finished program
//! (see [`super::lints`]).
//!
//! Where things are: this file holds the checker's state ([`Checker`], the
//! values and environments it evaluates with); `modules` loads files and
//! imports, `decls` evaluates declarations and sweeps once each, `eval`
//! expressions, `names` names, fields and family indexing, `call` binds and
//! coerces a builtin call's arguments, `checks` the checks particular to some
//! builtins (and metric columns), `fns` calls of `fn`s.

use super::builtins::{self, Builtin, JUDGE_TEMPLATE_VARS};
use super::ir::{Args, Call, Cell, DeclKind, Family, FamilyId, Node, Program, Value};
use super::loader::{resolve, LoadError, Loader, STDLIB};
use super::suggest;
use super::template::{self, TemplateError};
use super::types::Ty;
use crate::diag::{Diagnostic, SourceMap};
use crate::syntax::ast::{self, Arg, BinOp, Expr, ExprKind, ItemKind, UnOp};
use crate::syntax::{FileId, Span};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

mod call;
pub(super) mod checks;
mod decls;
pub(crate) mod describe;
mod eval;
mod fns;
mod modules;
mod names;
mod resources;

/// Longest list a range or a sweep may produce.
const MAX_EXPANSION: usize = 100_000;
/// Deepest chain of nested `fn` calls.
const MAX_CALL_DEPTH: usize = 64;

/// One loaded module (the spec or an import).
pub(crate) struct Module {
    pub path: String,
    pub file: FileId,
    pub ast: Rc<ast::Module>,
    /// Name -> item index (first definition wins).
    pub scope: Scope,
    /// Import item index -> loaded module index (absent when loading failed).
    pub imports: BTreeMap<usize, usize>,
    /// Prefix of node names declared in this module (`""` for the root,
    /// `alias.` for an import).
    pub prefix: String,
}

/// Names of a module -> item index. Hashed: looking names up is most of
/// what a check does, and the order of names is never observable (help
/// lines list them sorted, [`Checker::sorted_scope`]).
pub(crate) type Scope = HashMap<String, usize, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash of rustc (`FxHasher`): fast on short keys such
/// as names; not resistant to chosen collisions, which a spec cannot gain
/// anything from.
#[derive(Clone, Copy, Default)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(b));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A value during evaluation: the IR value and its type.
#[derive(Clone, Debug)]
pub(crate) struct SVal {
    pub v: Value,
    pub ty: Ty,
}

impl SVal {
    fn new(v: Value, ty: Ty) -> Self {
        SVal { v, ty }
    }
}

#[derive(Clone)]
enum State {
    InProgress,
    Done(Option<SVal>),
}

/// Local names: fn parameters and sweep variables (names borrowed from the
/// AST).
#[derive(Clone, Default)]
struct Env<'a> {
    module: usize,
    locals: Vec<(&'a str, SVal)>,
}

impl Env<'_> {
    fn at(module: usize) -> Self {
        Env {
            module,
            locals: Vec::new(),
        }
    }

    fn local(&self, name: &str) -> Option<&SVal> {
        self.locals
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

/// What a callee names.
enum Callee<'r> {
    Builtin(&'r Builtin),
    Fn(usize, usize),
}

/// The state of one check.
pub(crate) struct Checker<'l> {
    loader: &'l dyn Loader,
    pub sources: SourceMap,
    pub diags: Vec<Diagnostic>,
    pub modules: Vec<Module>,
    /// Module path -> index (for imports shared by several modules).
    by_path: BTreeMap<String, usize>,
    /// Evaluation state of each item, per module (indexed like `modules`
    /// and their items; `None` until evaluation starts).
    globals: Vec<Vec<Option<State>>>,
    pub program: Program,
    /// The declaration (module, item) of each node, indexed by node id (for lints).
    pub decl_of_node: Vec<(usize, usize)>,
    fn_stack: Vec<(usize, usize)>,
    eval_stack: Vec<(usize, usize)>,
    /// `--set` values by item index of the root module's `let`s
    /// ([`super::settings`]).
    pub settings: BTreeMap<usize, Expr>,
    /// The parameters each call left at their defaults, by the call's span
    /// ([`super::Defaulted`]; a call evaluated again is noted again).
    pub defaulted: BTreeMap<Span, super::Defaulted>,
}

/// The type of the nodes a declaration kind produces.
pub(crate) fn kind_ty(k: DeclKind) -> Ty {
    match k {
        DeclKind::Model | DeclKind::Train => Ty::Model,
        DeclKind::Dataset => Ty::Dataset,
        DeclKind::Eval => Ty::Eval,
        DeclKind::Report => Ty::Report,
    }
}

fn ir_kind(k: ast::DeclKind) -> DeclKind {
    match k {
        ast::DeclKind::Model => DeclKind::Model,
        ast::DeclKind::Dataset => DeclKind::Dataset,
        ast::DeclKind::Train => DeclKind::Train,
        ast::DeclKind::Eval => DeclKind::Eval,
        ast::DeclKind::Report => DeclKind::Report,
    }
}

/// Short display of a value for node names and messages.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 24 {
        let cut: String = s.chars().take(21).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn with_help(d: Diagnostic, help: Option<String>) -> Diagnostic {
    match help {
        Some(h) => d.with_help(h),
        None => d,
    }
}

fn did_you_mean(name: &str, candidates: impl IntoIterator<Item = String>) -> Option<String> {
    let c: Vec<String> = candidates.into_iter().collect();
    suggest(name, c.iter().map(String::as_str)).map(|s| format!("did you mean `{s}`?"))
}

impl<'l> Checker<'l> {
    pub fn new(loader: &'l dyn Loader) -> Self {
        Checker {
            loader,
            sources: SourceMap::new(),
            diags: Vec::new(),
            modules: Vec::new(),
            by_path: BTreeMap::new(),
            globals: Vec::new(),
            program: Program::default(),
            decl_of_node: Vec::new(),
            fn_stack: Vec::new(),
            eval_stack: Vec::new(),
            settings: BTreeMap::new(),
            defaulted: BTreeMap::new(),
        }
    }

    fn err(
        &mut self,
        code: &'static str,
        msg: impl Into<String>,
        span: Span,
        label: impl Into<String>,
        help: Option<String>,
    ) {
        let d = Diagnostic::error(code, msg, span, label);
        self.diags.push(with_help(d, help));
    }
}

/// "1 variable", "2 variables".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

//! The checker: loads a spec and its imports, resolves names, evaluates every
//! declaration to IR values (types, defaults, ranges, sweeps, files), and
//! collects diagnostics. Lints run afterwards on the finished program
//! (see [`super::lints`]).

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

    // -----------------------------------------------------------------------
    // Loading

    /// Parses a source text as a module and registers it; returns its index.
    pub fn add_module(&mut self, path: &str, text: String, prefix: String) -> Option<usize> {
        let file = self.sources.add(path, text);
        let (ast, diags) = crate::syntax::parse(file, self.sources.text(file));
        self.diags.extend(diags);
        let ast = ast?;
        let idx = self.modules.len();
        self.modules.push(Module {
            path: path.to_string(),
            file,
            ast: Rc::new(ast),
            scope: Scope::default(),
            imports: BTreeMap::new(),
            prefix,
        });
        self.by_path.insert(path.to_string(), idx);
        self.build_scope(idx);
        Some(idx)
    }

    fn build_scope(&mut self, m: usize) {
        let ast = self.modules[m].ast.clone();
        let mut scope = Scope::default();
        scope.reserve(ast.items.len());
        for (i, item) in ast.items.iter().enumerate() {
            let name = item.name();
            if let Some(&first) = scope.get(&name.name) {
                let first_span = ast.items[first].name().span;
                let d = Diagnostic::error("E0104", format!("`{}` is defined more than once", name.name), name.span, "defined again here")
                    .with_label(first_span, "first defined here")
                    .with_help("rename one of them; lets, functions, declarations and import aliases share one namespace");
                self.diags.push(d);
            } else {
                scope.insert(name.name.clone(), i);
            }
            if let ItemKind::Fn(f) = &item.kind {
                self.check_fn_def(f);
            }
        }
        self.modules[m].scope = scope;
    }

    fn check_fn_def(&mut self, f: &ast::FnDef) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        let mut defaulted = false;
        for p in &f.params {
            if let Some(first) = seen.get(p.name.name.as_str()) {
                let d = Diagnostic::error(
                    "E0130",
                    format!("parameter `{}` is declared twice", p.name.name),
                    p.name.span,
                    "declared again here",
                )
                .with_label(*first, "first declared here")
                .with_help("give each parameter of a function its own name");
                self.diags.push(d);
            }
            seen.insert(&p.name.name, p.name.span);
            if p.default.is_some() {
                defaulted = true;
            } else if defaulted {
                self.err(
                    "E0130",
                    format!(
                        "parameter `{}` has no default but follows one that has",
                        p.name.name
                    ),
                    p.span,
                    "needs a default",
                    Some("put parameters with defaults after those without".into()),
                );
            }
            if let Some(t) = &p.ty {
                self.type_of_annotation(t);
            }
        }
    }

    /// Resolves a type annotation (reporting unknown names).
    fn type_of_annotation(&mut self, t: &ast::TypeExpr) -> Ty {
        let simple = match t.name.name.as_str() {
            "any" => Some(Ty::Any),
            "none" => Some(Ty::None),
            "bool" => Some(Ty::Bool),
            "int" => Some(Ty::Int),
            "float" => Some(Ty::Float),
            "str" => Some(Ty::Str),
            "path" => Some(Ty::Path),
            "model" => Some(Ty::Model),
            "dataset" => Some(Ty::Dataset),
            "transform" => Some(Ty::Transform),
            "method" => Some(Ty::Method),
            "sampling" => Some(Ty::Sampling),
            "metric" => Some(Ty::Metric),
            "judge" => Some(Ty::Judge),
            "eval" => Some(Ty::Eval),
            "report" => Some(Ty::Report),
            "arch" => Some(Ty::Arch),
            "tokenizer" => Some(Ty::Tokenizer),
            "record" => Some(Ty::Record),
            _ => None,
        };
        const NAMES: &[&str] = &[
            "any",
            "none",
            "bool",
            "int",
            "float",
            "str",
            "path",
            "model",
            "dataset",
            "transform",
            "method",
            "sampling",
            "metric",
            "judge",
            "eval",
            "report",
            "arch",
            "tokenizer",
            "record",
            "list",
        ];
        match (simple, t.name.name.as_str(), t.args.len()) {
            (Some(ty), _, 0) => ty,
            (None, "list", 1) => Ty::list(self.type_of_annotation(&t.args[0])),
            (None, "list", n) => {
                self.err(
                    "E0130",
                    format!("`list` takes one type argument, found {n}"),
                    t.span,
                    "write `list[T]`",
                    Some("for example `list[str]`".into()),
                );
                Ty::Any
            }
            (Some(_), name, _) => {
                self.err(
                    "E0130",
                    format!("type `{name}` takes no type arguments"),
                    t.span,
                    "remove the brackets",
                    None,
                );
                Ty::Any
            }
            (None, name, _) => {
                let help = suggest(name, NAMES.iter().copied())
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| format!("types are: {}", NAMES.join(", ")));
                self.err(
                    "E0130",
                    format!("unknown type `{name}`"),
                    t.name.span,
                    "not a type",
                    Some(help),
                );
                Ty::Any
            }
        }
    }

    /// Loads every import of module `m`, recursively. `stack` holds the
    /// paths being loaded (import cycle detection).
    pub fn load_imports(&mut self, m: usize, stack: &mut Vec<String>) {
        let ast = self.modules[m].ast.clone();
        let from = self.modules[m].path.clone();
        stack.push(from.clone());
        for (i, item) in ast.items.iter().enumerate() {
            let ItemKind::Import(imp) = &item.kind else {
                continue;
            };
            let path = resolve(&from, &imp.path);
            if stack.contains(&path) {
                let chain = stack
                    .iter()
                    .chain(std::iter::once(&path))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" -> ");
                self.err(
                    "E0101",
                    format!("import cycle: {chain}"),
                    imp.path_span,
                    "this import closes the cycle",
                    Some("move what both files need into a third file that neither imports".into()),
                );
                continue;
            }
            if let Some(&idx) = self.by_path.get(&path) {
                self.modules[m].imports.insert(i, idx);
                continue;
            }
            match self.loader.read(&path) {
                Ok(text) => {
                    let prefix = format!("{}.", imp.alias.name);
                    if let Some(idx) = self.add_module(&path, text, prefix) {
                        self.modules[m].imports.insert(i, idx);
                        self.load_imports(idx, stack);
                    }
                }
                Err(e) => {
                    let (label, help) = match e {
                        LoadError::NotFound if imp.path.starts_with("stdlib/") => (
                            "no such stdlib module".to_string(),
                            format!(
                                "the stdlib has: {}",
                                STDLIB
                                    .iter()
                                    .map(|(p, _)| format!("\"{p}\""))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ),
                        LoadError::NotFound => (
                            format!("resolved to `{path}`, which does not exist"),
                            format!("import paths are relative to the importing file ({from})"),
                        ),
                        LoadError::Other(msg) => (format!("cannot read `{path}`"), msg),
                    };
                    let help = match suggest(&imp.path, STDLIB.iter().map(|(p, _)| *p)) {
                        Some(s) => format!("did you mean \"{s}\"?"),
                        None => help,
                    };
                    self.err(
                        "E0100",
                        format!("cannot import \"{}\"", imp.path),
                        imp.path_span,
                        label,
                        Some(help),
                    );
                }
            }
        }
        stack.pop();
    }

    // -----------------------------------------------------------------------
    // Globals

    /// Evaluates every let and declaration of the root module (index 0) and
    /// every let of the imported modules.
    pub fn evaluate_all(&mut self) {
        for m in 0..self.modules.len() {
            let ast = self.modules[m].ast.clone();
            for (i, item) in ast.items.iter().enumerate() {
                let wanted = match &item.kind {
                    ItemKind::Let(_) => true,
                    ItemKind::Decl(_) => m == 0,
                    _ => false,
                };
                if wanted && self.modules[m].scope.get(&item.name().name) == Some(&i) {
                    self.global(m, i, item.name().span);
                }
            }
        }
        // Functions of the spec whose parameters all have defaults are
        // evaluated once with them, so that mistakes in a function nobody
        // calls yet are reported too.
        let ast = match self.modules.first() {
            Some(root) => root.ast.clone(),
            None => return,
        };
        for (i, item) in ast.items.iter().enumerate() {
            if let ItemKind::Fn(f) = &item.kind {
                let all_defaults = f.params.iter().all(|p| p.default.is_some());
                if all_defaults && self.modules[0].scope.get(&f.name.name) == Some(&i) {
                    let _ = self.call_fn(0, i, &[], Vec::new(), item.span, f.name.span);
                }
            }
        }
    }

    fn set_global(&mut self, m: usize, i: usize, state: State) {
        if self.globals.len() <= m {
            self.globals.resize_with(m + 1, Vec::new);
        }
        let g = &mut self.globals[m];
        if g.len() <= i {
            g.resize_with(self.modules[m].ast.items.len().max(i + 1), || None);
        }
        g[i] = Some(state);
    }

    /// The value of a let or declaration (memoised; cycles reported).
    fn global(&mut self, m: usize, i: usize, use_span: Span) -> Option<SVal> {
        match self
            .globals
            .get(m)
            .and_then(|g| g.get(i))
            .and_then(Option::as_ref)
        {
            Some(State::Done(v)) => return v.clone(),
            Some(State::InProgress) => {
                let ast = self.modules[m].ast.clone();
                let start = self
                    .eval_stack
                    .iter()
                    .position(|&g| g == (m, i))
                    .unwrap_or(0);
                let mut names: Vec<String> = self.eval_stack[start..]
                    .iter()
                    .map(|&(mm, ii)| self.modules[mm].ast.items[ii].name().name.clone())
                    .collect();
                names.push(ast.items[i].name().name.clone());
                let def = ast.items[i].name().span;
                let d = Diagnostic::error(
                    "E0105",
                    format!("`{}` depends on itself: {}", names[0], names.join(" -> ")),
                    use_span,
                    "this reference closes the cycle",
                )
                .with_label(def, "defined here")
                .with_help(
                    "a spec is a DAG: break the cycle by referring to an earlier model or dataset",
                );
                self.diags.push(d);
                return None;
            }
            None => {}
        }
        self.set_global(m, i, State::InProgress);
        self.eval_stack.push((m, i));
        let ast = self.modules[m].ast.clone();
        let item = &ast.items[i];
        let v = match &item.kind {
            ItemKind::Let(l) => self.eval(&Env::at(m), &l.value),
            ItemKind::Decl(d) => self.eval_decl(
                m,
                i,
                d,
                item.doc.as_ref().map(|d| d.text.clone()),
                item.span,
            ),
            _ => None,
        };
        self.eval_stack.pop();
        self.set_global(m, i, State::Done(v.clone()));
        v
    }

    fn eval_decl(
        &mut self,
        m: usize,
        i: usize,
        d: &ast::Decl,
        doc: Option<String>,
        span: Span,
    ) -> Option<SVal> {
        let kind = ir_kind(d.kind);
        let want = kind_ty(kind);
        let name = format!("{}{}", self.modules[m].prefix, d.name.name);
        if d.sweep.is_empty() {
            let v = self.eval(&Env::at(m), &d.value)?;
            let v = self.check_decl_value(d, kind, v)?;
            let id = self.program.nodes.len();
            self.program.nodes.push(Node {
                id,
                kind,
                name,
                cell: None,
                value: v.v,
                doc,
                span,
            });
            self.decl_of_node.push((m, i));
            return Some(SVal::new(Value::Node(id), want));
        }
        // A family: evaluate the sweep values, then every cell.
        let mut vars: Vec<(&str, Vec<SVal>)> = Vec::new();
        let mut ok = true;
        for sv in &d.sweep {
            if vars.iter().any(|(n, _)| *n == sv.name.name) {
                self.err(
                    "E0129",
                    format!("sweep variable `{}` appears twice", sv.name.name),
                    sv.name.span,
                    "already a variable of this sweep",
                    Some("give each sweep variable its own name".into()),
                );
                ok = false;
                continue;
            }
            match self.sweep_values(&Env::at(m), sv) {
                Some(vals) => vars.push((&sv.name.name, vals)),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let total = vars
            .iter()
            .try_fold(1usize, |acc, (_, v)| acc.checked_mul(v.len()));
        if total.is_none_or(|t| t > MAX_EXPANSION) {
            self.err(
                "E0137",
                format!(
                    "the sweep of `{}` has more than {MAX_EXPANSION} cells",
                    d.name.name
                ),
                d.name.span,
                "too many cells",
                Some("sweep over fewer values".into()),
            );
            return None;
        }
        let total = total.unwrap_or(0);
        let fid = self.program.families.len();
        let mut cells = Vec::new();
        let mut cell_values = Vec::new();
        for flat in 0..total {
            // Row-major: the last variable varies fastest.
            let mut rest = flat;
            let mut coords = vec![("", SVal::new(Value::None, Ty::None)); vars.len()];
            for (k, (n, vals)) in vars.iter().enumerate().rev() {
                coords[k] = (n, vals[rest % vals.len()].clone());
                rest /= vals.len();
            }
            let env = Env {
                module: m,
                locals: coords.clone(),
            };
            let v = self.eval(&env, &d.value);
            let v = v.and_then(|v| self.check_decl_value(d, kind, v));
            match v {
                Some(v) => cell_values.push((coords, v)),
                None => ok = false,
            }
            if !ok {
                // One failing cell usually means all fail the same way.
                return None;
            }
        }
        // Cell names are short, unless shortening makes two equal (values
        // that differ only after their first 21 characters): names are
        // unique in a program (run folders, logs and `why` go by name).
        let label = |coords: &[(&str, SVal)], cut: fn(&Value) -> String| {
            let l: Vec<String> = coords
                .iter()
                .map(|(n, c)| format!("{n}={}", cut(&c.v)))
                .collect();
            format!("{name}[{}]", l.join(", "))
        };
        let shortened: BTreeSet<String> =
            cell_values.iter().map(|(c, _)| label(c, short)).collect();
        let cut: fn(&Value) -> String = if shortened.len() == cell_values.len() {
            short
        } else {
            |v| v.to_string()
        };
        for (coords, v) in cell_values {
            let id = self.program.nodes.len();
            self.program.nodes.push(Node {
                id,
                kind,
                name: label(&coords, cut),
                cell: Some(Cell {
                    family: fid,
                    coords: coords
                        .into_iter()
                        .map(|(n, c)| (n.to_string(), c.v))
                        .collect(),
                }),
                value: v.v,
                doc: doc.clone(),
                span,
            });
            self.decl_of_node.push((m, i));
            cells.push(id);
        }
        self.program.families.push(Family {
            name,
            kind,
            vars: vars.into_iter().map(|(n, _)| n.to_string()).collect(),
            cells,
        });
        Some(SVal::new(Value::Family(fid), want))
    }

    fn check_decl_value(&mut self, d: &ast::Decl, kind: DeclKind, v: SVal) -> Option<SVal> {
        let want = kind_ty(kind);
        if matches!(v.v, Value::Family(_)) {
            self.err("E0131", format!("`{}` would be a whole family", d.name.name), d.value.span, "this is a family of declarations", Some("a declaration names one value: index the family, e.g. `control[0]`, or sweep this declaration too".into()));
            return None;
        }
        if !v.ty.assignable_to(&want) {
            let help = match &v.ty {
                Ty::Model => "declare it with `model` or `train`".to_string(),
                Ty::Dataset => "declare it with `dataset`".to_string(),
                Ty::Eval => "declare it with `eval`".to_string(),
                Ty::Report => "declare it with `report`".to_string(),
                other => format!(
                    "{} is not a node of the experiment: bind it with `let`",
                    other.a()
                ),
            };
            self.err(
                "E0113",
                format!(
                    "`{} {}` must be {}, found {}",
                    kind.keyword(),
                    d.name.name,
                    want.a(),
                    v.ty
                ),
                d.value.span,
                format!("this is {}", v.ty.a()),
                Some(help),
            );
            return None;
        }
        Some(v)
    }

    fn sweep_values(&mut self, env: &Env, sv: &ast::SweepVar) -> Option<Vec<SVal>> {
        let v = self.eval(env, &sv.values)?;
        let vals: Vec<SVal> = match (&v.v, &v.ty) {
            (Value::Family(f), ty) => {
                let cells = self
                    .program
                    .families
                    .get(*f)
                    .map(|f| f.cells.clone())
                    .unwrap_or_default();
                cells
                    .into_iter()
                    .map(|c| SVal::new(Value::Node(c), ty.clone()))
                    .collect()
            }
            (Value::List(xs), ty) => {
                let elem = ty.element();
                xs.iter()
                    .map(|x| SVal::new(x.clone(), self.type_of(x, &elem)))
                    .collect()
            }
            (_, ty) => {
                self.err(
                    "E0117",
                    format!("`{}` sweeps over a {ty}, not a list", sv.name.name),
                    sv.values.span,
                    "not a list",
                    Some("sweep over a list (`[0, 1, 2]`), a range (`0..3`) or a family".into()),
                );
                return None;
            }
        };
        if vals.is_empty() {
            self.err(
                "E0116",
                format!("the sweep over `{}` is empty", sv.name.name),
                sv.values.span,
                "no values",
                Some("a sweep needs at least one value, e.g. `[0, 1, 2]`".into()),
            );
            return None;
        }
        let mut seen: Vec<&Value> = Vec::new();
        for x in &vals {
            if seen.contains(&&x.v) {
                self.err("E0142", format!("the sweep over `{}` lists {} twice", sv.name.name, short(&x.v)), sv.values.span, "duplicate value", Some("two cells with the same coordinates would be the same experiment: remove the duplicate".into()));
                return None;
            }
            seen.push(&x.v);
        }
        Some(vals)
    }

    /// The type of an already evaluated value (for list elements and record fields).
    fn type_of(&self, v: &Value, hint: &Ty) -> Ty {
        match v {
            Value::None => Ty::None,
            Value::Bool(_) => Ty::Bool,
            Value::Int(_) => Ty::Int,
            Value::Float(_) => Ty::Float,
            Value::Str(_) => Ty::Str,
            Value::Path(_) => Ty::Path,
            Value::Record(_) => Ty::Record,
            Value::List(xs) => {
                let elem = hint.element();
                let mut t: Option<Ty> = None;
                for x in xs {
                    let tx = self.type_of(x, &elem);
                    t = Some(match t {
                        None => tx,
                        Some(t) => t.join(&tx).unwrap_or(Ty::Any),
                    });
                }
                Ty::list(t.unwrap_or(elem))
            }
            Value::Call(c) => builtins::get(&c.func)
                .map(|b| b.ret.clone())
                .unwrap_or(Ty::Any),
            Value::Node(n) => self
                .program
                .nodes
                .get(*n)
                .map(|n| kind_ty(n.kind))
                .unwrap_or(Ty::Any),
            Value::Family(f) => self
                .program
                .families
                .get(*f)
                .map(|f| kind_ty(f.kind))
                .unwrap_or(Ty::Any),
        }
    }

    // -----------------------------------------------------------------------
    // Expressions

    fn eval(&mut self, env: &Env, e: &Expr) -> Option<SVal> {
        match &e.kind {
            ExprKind::None => Some(SVal::new(Value::None, Ty::None)),
            ExprKind::Bool(b) => Some(SVal::new(Value::Bool(*b), Ty::Bool)),
            ExprKind::Int(i) => Some(SVal::new(Value::Int(*i), Ty::Int)),
            ExprKind::Float(x) => Some(SVal::new(Value::Float(*x), Ty::Float)),
            ExprKind::Str(s) => Some(SVal::new(Value::Str(s.clone()), Ty::Str)),
            ExprKind::Name(id) => self.eval_name(env, id),
            ExprKind::List(xs) => self.eval_list(env, xs),
            ExprKind::Record(fields) => {
                let mut out = BTreeMap::new();
                let mut spans: BTreeMap<String, Span> = BTreeMap::new();
                let mut ok = true;
                for f in fields {
                    if let Some(first) = spans.get(&f.key.name) {
                        let d = Diagnostic::error(
                            "E0133",
                            format!("field `{}` appears twice in this record", f.key.name),
                            f.key.span,
                            "again here",
                        )
                        .with_label(*first, "first here")
                        .with_help("remove one of the two fields");
                        self.diags.push(d);
                        ok = false;
                        continue;
                    }
                    spans.insert(f.key.name.clone(), f.key.span);
                    match self.eval(env, &f.value) {
                        Some(v) => {
                            out.insert(f.key.name.clone(), v.v);
                        }
                        None => ok = false,
                    }
                }
                ok.then(|| SVal::new(Value::Record(out), Ty::Record))
            }
            ExprKind::Range {
                start,
                end,
                inclusive,
            } => {
                let a = self.eval(env, start);
                let b = self.eval(env, end);
                let (a, b) = (a?, b?);
                let (Value::Int(lo), Value::Int(hi)) = (&a.v, &b.v) else {
                    let bad = if matches!(a.v, Value::Int(_)) {
                        (end.span, &b.ty)
                    } else {
                        (start.span, &a.ty)
                    };
                    self.err(
                        "E0112",
                        format!("range bounds must be integers, found {}", bad.1),
                        bad.0,
                        "not an int",
                        Some("write a range of integers, e.g. `0..3`".into()),
                    );
                    return None;
                };
                let hi = if *inclusive {
                    hi.saturating_add(1)
                } else {
                    *hi
                };
                let len = if hi > *lo {
                    (hi as i128 - *lo as i128) as u128
                } else {
                    0
                };
                if len > MAX_EXPANSION as u128 {
                    self.err(
                        "E0137",
                        format!("the range has {len} values, more than {MAX_EXPANSION}"),
                        e.span,
                        "too long",
                        Some("use a shorter range".into()),
                    );
                    return None;
                }
                let items = (*lo..hi).map(Value::Int).collect();
                Some(SVal::new(Value::List(items), Ty::list(Ty::Int)))
            }
            ExprKind::Call { callee, args } => self.eval_call(env, callee, args, e.span),
            ExprKind::Index { base, args } => self.eval_index(env, base, args, e.span),
            ExprKind::Field { base, name } => self.eval_field(env, base, name),
            ExprKind::Pipe { head, stages } => {
                let mut data = self.eval(env, head)?;
                if !data.ty.assignable_to(&Ty::Dataset) || matches!(data.v, Value::Family(_)) {
                    self.err(
                        "E0125",
                        format!("the left side of `|` must be a dataset, found {}", data.ty),
                        head.span,
                        "not a dataset",
                        Some(
                            "pipes apply transforms to a dataset: `data | system(\"...\")`".into(),
                        ),
                    );
                    return None;
                }
                for st in stages {
                    let t = self.eval(env, st)?;
                    if !t.ty.assignable_to(&Ty::Transform) {
                        let help = if t.ty == Ty::Dataset {
                            "to join datasets use `concat(parts = [a, b])`".to_string()
                        } else {
                            "the right side of `|` is a transform: system, user_prefix, user_suffix, take, shuffle, keep_matching".to_string()
                        };
                        self.err(
                            "E0125",
                            format!("the right side of `|` must be a transform, found {}", t.ty),
                            st.span,
                            "not a transform",
                            Some(help),
                        );
                        return None;
                    }
                    let mut args = Args::new();
                    args.insert("data".into(), data.v);
                    args.insert("transform".into(), t.v);
                    data = SVal::new(
                        Value::Call(Box::new(Call {
                            func: "apply".into(),
                            args,
                            span: st.span.join(head.span),
                        })),
                        Ty::Dataset,
                    );
                }
                Some(data)
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.eval(env, lhs);
                let b = self.eval(env, rhs);
                self.binary(*op, a?, b?, e.span)
            }
            ExprKind::Unary {
                op: UnOp::Neg,
                operand,
            } => {
                let v = self.eval(env, operand)?;
                match v.v {
                    Value::Int(i) => match i.checked_neg() {
                        Some(n) => Some(SVal::new(Value::Int(n), Ty::Int)),
                        None => {
                            self.err(
                                "E0127",
                                "integer overflow",
                                e.span,
                                "does not fit in 64 bits",
                                Some("integers lie between -9223372036854775808 and 9223372036854775807; write a float (1e19) for larger magnitudes".into()),
                            );
                            None
                        }
                    },
                    Value::Float(x) => Some(SVal::new(Value::Float(-x), Ty::Float)),
                    _ => {
                        self.err(
                            "E0127",
                            format!("cannot negate {}", v.ty.a()),
                            e.span,
                            "not a number",
                            Some("only numbers can be negated".into()),
                        );
                        None
                    }
                }
            }
        }
    }

    fn binary(&mut self, op: BinOp, a: SVal, b: SVal, span: Span) -> Option<SVal> {
        let sym = op.symbol();
        let r = match (&a.v, &b.v, op) {
            (Value::Str(x), Value::Str(y), BinOp::Add) => Ok(Value::Str(format!("{x}{y}"))),
            (Value::Int(x), Value::Int(y), _) => {
                let r = match op {
                    BinOp::Add => x.checked_add(*y),
                    BinOp::Sub => x.checked_sub(*y),
                    BinOp::Mul => x.checked_mul(*y),
                    BinOp::Div if *y == 0 => return self.arith_err("division by zero", span),
                    BinOp::Div => {
                        // `/` on integers is exact division or a float.
                        match x.checked_rem(*y) {
                            Some(0) => x.checked_div(*y),
                            Some(_) => {
                                return Some(SVal::new(
                                    Value::Float(*x as f64 / *y as f64),
                                    Ty::Float,
                                ))
                            }
                            None => None,
                        }
                    }
                };
                r.map(Value::Int).ok_or("integer overflow")
            }
            (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_), _) => {
                let f = |v: &Value| match v {
                    Value::Int(i) => *i as f64,
                    Value::Float(x) => *x,
                    _ => 0.0,
                };
                let (x, y) = (f(&a.v), f(&b.v));
                let r = match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div if y == 0.0 => return self.arith_err("division by zero", span),
                    BinOp::Div => x / y,
                };
                if r.is_finite() {
                    Ok(Value::Float(r))
                } else {
                    Err("the result is not a finite number")
                }
            }
            _ => {
                let help = if op == BinOp::Add && (a.ty == Ty::Str || b.ty == Ty::Str) {
                    "`+` joins two strings or adds two numbers".to_string()
                } else {
                    format!(
                        "`{sym}` works on numbers{}",
                        if op == BinOp::Add { " and strings" } else { "" }
                    )
                };
                self.err(
                    "E0127",
                    format!("cannot apply `{sym}` to {} and {}", a.ty, b.ty),
                    span,
                    "unsupported operands",
                    Some(help),
                );
                return None;
            }
        };
        match r {
            Ok(v) => {
                let ty = self.type_of(&v, &Ty::Any);
                Some(SVal::new(v, ty))
            }
            Err(msg) => self.arith_err(msg, span),
        }
    }

    fn arith_err(&mut self, msg: &str, span: Span) -> Option<SVal> {
        self.err(
            "E0127",
            msg.to_string(),
            span,
            msg.to_string(),
            Some("check the operands of this expression".into()),
        );
        None
    }

    fn eval_list(&mut self, env: &Env, xs: &[Expr]) -> Option<SVal> {
        let mut out = Vec::new();
        let mut ty: Option<(Ty, Span)> = None;
        let mut ok = true;
        for x in xs {
            let Some(v) = self.eval(env, x) else {
                ok = false;
                continue;
            };
            match &ty {
                None => ty = Some((v.ty.clone(), x.span)),
                Some((t, first)) => match t.join(&v.ty) {
                    Some(j) => ty = Some((j, *first)),
                    None => {
                        let d = Diagnostic::error(
                            "E0132",
                            format!(
                                "list elements must have one type: this is {}, the first is {}",
                                v.ty.a(),
                                t.a()
                            ),
                            x.span,
                            v.ty.a(),
                        )
                        .with_label(*first, t.a())
                        .with_help("split the list, or use a record for values of different types");
                        self.diags.push(d);
                        ok = false;
                        continue;
                    }
                },
            }
            out.push(v.v);
        }
        ok.then(|| {
            SVal::new(
                Value::List(out),
                Ty::list(ty.map(|t| t.0).unwrap_or(Ty::Any)),
            )
        })
    }

    /// The names of module `m` and their items, sorted by name.
    pub fn sorted_scope(&self, m: usize) -> Vec<(&str, usize)> {
        let mut names: Vec<(&str, usize)> = self.modules[m]
            .scope
            .iter()
            .map(|(n, &i)| (n.as_str(), i))
            .collect();
        names.sort_unstable();
        names
    }

    /// Every name a spec can see from `env`, for did-you-mean.
    fn visible_names(&self, env: &Env, with_builtins: bool) -> Vec<String> {
        let mut names: Vec<String> = env.locals.iter().map(|(n, _)| n.to_string()).collect();
        names.extend(
            self.sorted_scope(env.module)
                .into_iter()
                .map(|(n, _)| n.to_string()),
        );
        if with_builtins {
            names.extend(builtins::registry().names().map(str::to_string));
        }
        names
    }

    fn eval_name(&mut self, env: &Env, id: &ast::Ident) -> Option<SVal> {
        if let Some(v) = env.local(&id.name) {
            return Some(v.clone());
        }
        let m = env.module;
        if let Some(&i) = self.modules[m].scope.get(&id.name) {
            let ast = self.modules[m].ast.clone();
            return match &ast.items[i].kind {
                ItemKind::Let(_) | ItemKind::Decl(_) => self.global(m, i, id.span),
                ItemKind::Fn(_) => {
                    self.err(
                        "E0126",
                        format!("`{}` is a function, not a value", id.name),
                        id.span,
                        "a function",
                        Some(format!("call it: `{}(...)`", id.name)),
                    );
                    None
                }
                ItemKind::Import(_) => {
                    self.err(
                        "E0138",
                        format!("`{}` is an imported module, not a value", id.name),
                        id.span,
                        "a module",
                        Some(format!("use one of its members: `{}.name`", id.name)),
                    );
                    None
                }
            };
        }
        if builtins::get(&id.name).is_some() {
            self.err(
                "E0126",
                format!("`{}` is a builtin function, not a value", id.name),
                id.span,
                "a function",
                Some(format!("call it: `{}(...)`", id.name)),
            );
            return None;
        }
        let help = did_you_mean(&id.name, self.visible_names(env, false)).unwrap_or_else(|| {
            "define it with `let`, declare it, or import the module that has it".into()
        });
        self.err(
            "E0102",
            format!("unknown name `{}`", id.name),
            id.span,
            "not defined",
            Some(help),
        );
        None
    }

    /// The module an expression names, when it is an import alias.
    fn module_of(&mut self, env: &Env, e: &Expr) -> Option<Option<usize>> {
        let name = e.as_name()?;
        if env.local(name).is_some() {
            return None;
        }
        let m = env.module;
        let &i = self.modules[m].scope.get(name)?;
        if !matches!(self.modules[m].ast.items[i].kind, ItemKind::Import(_)) {
            return None;
        }
        Some(self.modules[m].imports.get(&i).copied())
    }

    fn member_names(&self, m: usize) -> Vec<String> {
        self.sorted_scope(m)
            .into_iter()
            .filter(|&(_, i)| !matches!(self.modules[m].ast.items[i].kind, ItemKind::Import(_)))
            .map(|(n, _)| n.to_string())
            .collect()
    }

    fn eval_field(&mut self, env: &Env, base: &Expr, name: &ast::Ident) -> Option<SVal> {
        if let Some(target) = self.module_of(env, base) {
            let target = target?; // the import failed: already reported
            let alias = base.as_name().unwrap_or_default().to_string();
            return match self.modules[target].scope.get(&name.name).copied() {
                Some(i) => match &self.modules[target].ast.items[i].kind {
                    ItemKind::Let(_) | ItemKind::Decl(_) => self.global(target, i, name.span),
                    ItemKind::Fn(_) => {
                        self.err(
                            "E0126",
                            format!("`{alias}.{}` is a function, not a value", name.name),
                            name.span,
                            "a function",
                            Some(format!("call it: `{alias}.{}(...)`", name.name)),
                        );
                        None
                    }
                    ItemKind::Import(_) => {
                        self.err(
                            "E0103",
                            format!("`{alias}` has no member `{}`", name.name),
                            name.span,
                            "imports of a module are not its members",
                            Some(format!("import \"{}\" yourself", self.modules[target].path)),
                        );
                        None
                    }
                },
                None => {
                    let help =
                        did_you_mean(&name.name, self.member_names(target)).unwrap_or_else(|| {
                            format!(
                                "`{alias}` ({}) has: {}",
                                self.modules[target].path,
                                self.member_names(target).join(", ")
                            )
                        });
                    self.err(
                        "E0103",
                        format!("`{alias}` has no member `{}`", name.name),
                        name.span,
                        "not in that module",
                        Some(help),
                    );
                    None
                }
            };
        }
        let v = self.eval(env, base)?;
        match &v.v {
            Value::Record(r) => match r.get(&name.name) {
                Some(x) => {
                    let ty = self.type_of(x, &Ty::Any);
                    Some(SVal::new(x.clone(), ty))
                }
                None => {
                    let help = did_you_mean(&name.name, r.keys().cloned()).unwrap_or_else(|| {
                        format!(
                            "the record has: {}",
                            r.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    });
                    self.err(
                        "E0103",
                        format!("the record has no field `{}`", name.name),
                        name.span,
                        "no such field",
                        Some(help),
                    );
                    None
                }
            },
            _ => {
                self.err(
                    "E0134",
                    format!("{} has no fields", v.ty.a()),
                    name.span,
                    format!("`.{}` on {}", name.name, v.ty.a()),
                    Some("`.` reaches members of imported modules and fields of records".into()),
                );
                None
            }
        }
    }

    fn eval_index(&mut self, env: &Env, base: &Expr, args: &[Arg], span: Span) -> Option<SVal> {
        let b = self.eval(env, base)?;
        match &b.v {
            Value::Family(f) => self.index_family(env, *f, base, args, span),
            Value::List(_) | Value::Record(_) if args.len() != 1 || args[0].name.is_some() => {
                let what = if matches!(b.v, Value::List(_)) {
                    "a list takes one position: `xs[0]`"
                } else {
                    "a record takes one key: `r[\"key\"]`"
                };
                self.err(
                    "E0120",
                    "wrong index",
                    span,
                    "one positional index expected",
                    Some(what.into()),
                );
                None
            }
            Value::List(xs) => {
                let xs = xs.clone();
                let i = self.eval(env, &args[0].value)?;
                let Value::Int(k) = i.v else {
                    self.err(
                        "E0112",
                        format!("a list index must be an int, found {}", i.ty),
                        args[0].span,
                        "not an int",
                        None,
                    );
                    return None;
                };
                match usize::try_from(k).ok().and_then(|k| xs.get(k)) {
                    Some(x) => {
                        let ty = self.type_of(x, &b.ty.element());
                        Some(SVal::new(x.clone(), ty))
                    }
                    None => {
                        self.err(
                            "E0118",
                            format!(
                                "index {k} is out of range: the list has {} elements",
                                xs.len()
                            ),
                            args[0].span,
                            "no such element",
                            Some(format!(
                                "use an index from 0 to {}",
                                xs.len().saturating_sub(1)
                            )),
                        );
                        None
                    }
                }
            }
            Value::Record(r) => {
                let r = r.clone();
                let key = self.eval(env, &args[0].value)?;
                let Value::Str(k) = &key.v else {
                    self.err(
                        "E0112",
                        format!("a record key must be a str, found {}", key.ty),
                        args[0].span,
                        "not a str",
                        None,
                    );
                    return None;
                };
                match r.get(k) {
                    Some(x) => {
                        let ty = self.type_of(x, &Ty::Any);
                        Some(SVal::new(x.clone(), ty))
                    }
                    None => {
                        let keys = r
                            .keys()
                            .map(|k| format!("\"{k}\""))
                            .collect::<Vec<_>>()
                            .join(", ");
                        self.err(
                            "E0118",
                            format!("the record has no key \"{k}\""),
                            args[0].span,
                            "no such key",
                            Some(format!("keys are: {keys}")),
                        );
                        None
                    }
                }
            }
            Value::Node(_) => {
                let n = base.as_name().unwrap_or("this");
                self.err("E0121", format!("`{n}` is not a family and cannot be indexed"), span, "a single declaration", Some(format!("use `{n}` itself, or give its declaration a sweep: `{n}[s in seeds] = ...`")));
                None
            }
            _ => {
                self.err(
                    "E0121",
                    format!("{} cannot be indexed", b.ty.a()),
                    span,
                    "not indexable",
                    Some("families, lists and records can be indexed".into()),
                );
                None
            }
        }
    }

    fn index_family(
        &mut self,
        env: &Env,
        f: FamilyId,
        base: &Expr,
        args: &[Arg],
        span: Span,
    ) -> Option<SVal> {
        let fam = self.program.families[f].clone();
        let name = base
            .as_name()
            .map(str::to_string)
            .unwrap_or_else(|| fam.name.clone());
        let first_cell = fam
            .cells
            .first()
            .and_then(|c| self.program.nodes[*c].cell.clone())?;
        // Distinct values of each variable, in sweep order.
        let mut axes: Vec<Vec<Value>> = vec![Vec::new(); fam.vars.len()];
        for &c in &fam.cells {
            if let Some(cell) = &self.program.nodes[c].cell {
                for (k, (_, v)) in cell.coords.iter().enumerate() {
                    if !axes[k].contains(v) {
                        axes[k].push(v.clone());
                    }
                }
            }
        }
        let _ = first_cell;
        let named = args.iter().any(|a| a.name.is_some());
        let mut want: Vec<Option<Value>> = vec![None; fam.vars.len()];
        if named {
            for a in args {
                let Some(n) = &a.name else {
                    self.err(
                        "E0111",
                        "positional index after named ones",
                        a.span,
                        "name this coordinate",
                        Some(format!(
                            "write every coordinate by name: `{name}[{} = ...]`",
                            fam.vars.join(" = ..., ")
                        )),
                    );
                    return None;
                };
                let Some(k) = fam.vars.iter().position(|v| *v == n.name) else {
                    let help = did_you_mean(&n.name, fam.vars.clone()).unwrap_or_else(|| {
                        format!("`{name}` sweeps over: {}", fam.vars.join(", "))
                    });
                    self.err(
                        "E0119",
                        format!("`{name}` has no sweep variable `{}`", n.name),
                        n.span,
                        "not a variable of this sweep",
                        Some(help),
                    );
                    return None;
                };
                if want[k].is_some() {
                    self.err(
                        "E0108",
                        format!("coordinate `{}` is given twice", n.name),
                        a.span,
                        "given again",
                        None,
                    );
                    return None;
                }
                let v = self.eval(env, &a.value)?;
                let v = if let (Value::Int(i), true) =
                    (&v.v, axes[k].iter().any(|x| matches!(x, Value::Float(_))))
                {
                    Value::Float(*i as f64)
                } else {
                    v.v
                };
                if !axes[k].contains(&v) {
                    let vals = axes[k].iter().map(short).collect::<Vec<_>>().join(", ");
                    self.err(
                        "E0118",
                        format!("`{name}` has no cell with {} = {}", n.name, short(&v)),
                        a.value.span,
                        "not a value of the sweep",
                        Some(format!("{} takes: {vals}", n.name)),
                    );
                    return None;
                }
                want[k] = Some(v);
            }
            if let Some(k) = want.iter().position(Option::is_none) {
                self.err(
                    "E0120",
                    format!("`{name}` needs a value for `{}`", fam.vars[k]),
                    span,
                    "coordinate missing",
                    Some(format!(
                        "write `{name}[{}]`",
                        fam.vars
                            .iter()
                            .map(|v| format!("{v} = ..."))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                return None;
            }
        } else {
            if args.len() != fam.vars.len() {
                self.err(
                    "E0120",
                    format!(
                        "`{name}` sweeps over {} ({}) but {} given",
                        count(fam.vars.len(), "variable", "variables"),
                        fam.vars.join(", "),
                        count(args.len(), "index was", "indices were"),
                    ),
                    span,
                    "wrong number of indices",
                    Some(format!(
                        "give one position per variable, or name them: `{name}[{} = ...]`",
                        fam.vars[0]
                    )),
                );
                return None;
            }
            for (k, a) in args.iter().enumerate() {
                let v = self.eval(env, &a.value)?;
                let Value::Int(i) = v.v else {
                    self.err(
                        "E0112",
                        format!("a position must be an int, found {}", v.ty),
                        a.span,
                        "not an int",
                        Some(format!(
                            "name the coordinate to select by value: `{name}[{} = ...]`",
                            fam.vars[k]
                        )),
                    );
                    return None;
                };
                match usize::try_from(i).ok().and_then(|i| axes[k].get(i)) {
                    Some(x) => want[k] = Some(x.clone()),
                    None => {
                        self.err("E0118", format!("position {i} is out of range: `{}` has {} values", fam.vars[k], axes[k].len()), a.span, "no such cell", Some(format!("positions go from 0 to {}; to select by value write `{name}[{} = {i}]`", axes[k].len().saturating_sub(1), fam.vars[k])));
                        return None;
                    }
                }
            }
        }
        let want: Vec<Value> = want.into_iter().map(|w| w.unwrap_or(Value::None)).collect();
        for &c in &fam.cells {
            if let Some(cell) = &self.program.nodes[c].cell {
                if cell.coords.iter().map(|(_, v)| v).eq(want.iter()) {
                    return Some(SVal::new(Value::Node(c), kind_ty(fam.kind)));
                }
            }
        }
        None
    }

    // -----------------------------------------------------------------------
    // Calls

    fn callee(&mut self, env: &Env, callee: &Expr) -> Option<Callee<'static>> {
        match &callee.kind {
            ExprKind::Name(id) => {
                if env.local(&id.name).is_some() {
                    self.err(
                        "E0126",
                        format!("`{}` is a value, not a function", id.name),
                        id.span,
                        "not callable",
                        None,
                    );
                    return None;
                }
                let m = env.module;
                if let Some(&i) = self.modules[m].scope.get(&id.name) {
                    if let ItemKind::Fn(_) = self.modules[m].ast.items[i].kind {
                        return Some(Callee::Fn(m, i));
                    }
                    if let Some(b) = builtins::get(&id.name) {
                        // `let all_caps = all_caps(...)`: a let may reuse a builtin's name.
                        return Some(Callee::Builtin(b));
                    }
                    self.err(
                        "E0126",
                        format!("`{}` is not a function", id.name),
                        id.span,
                        "not callable",
                        Some(format!("`{}` is a value; remove the parentheses", id.name)),
                    );
                    return None;
                }
                if let Some(b) = builtins::get(&id.name) {
                    return Some(Callee::Builtin(b));
                }
                let mut names: Vec<String> =
                    builtins::registry().names().map(str::to_string).collect();
                names.extend(
                    self.sorted_scope(m)
                        .into_iter()
                        .filter(|&(_, i)| {
                            matches!(self.modules[m].ast.items[i].kind, ItemKind::Fn(_))
                        })
                        .map(|(n, _)| n.to_string()),
                );
                let help = did_you_mean(&id.name, names)
                    .unwrap_or_else(|| "`inoc builtins` lists the builtin functions".into());
                self.err(
                    "E0106",
                    format!("unknown function `{}`", id.name),
                    id.span,
                    "no such function",
                    Some(help),
                );
                None
            }
            ExprKind::Field { base, name } => {
                let Some(target) = self.module_of(env, base) else {
                    self.err(
                        "E0126",
                        "only functions can be called",
                        callee.span,
                        "not callable",
                        Some(
                            "call a builtin, a `fn`, or a module's function: `world.math(...)`"
                                .into(),
                        ),
                    );
                    return None;
                };
                let target = target?;
                let alias = base.as_name().unwrap_or_default().to_string();
                match self.modules[target].scope.get(&name.name).copied() {
                    Some(i)
                        if matches!(self.modules[target].ast.items[i].kind, ItemKind::Fn(_)) =>
                    {
                        Some(Callee::Fn(target, i))
                    }
                    Some(_) => {
                        self.err(
                            "E0126",
                            format!("`{alias}.{}` is not a function", name.name),
                            name.span,
                            "not callable",
                            Some(format!(
                                "`{alias}.{}` is a value; remove the parentheses",
                                name.name
                            )),
                        );
                        None
                    }
                    None => {
                        let help = did_you_mean(&name.name, self.member_names(target))
                            .unwrap_or_else(|| {
                                format!("`{alias}` has: {}", self.member_names(target).join(", "))
                            });
                        self.err(
                            "E0103",
                            format!("`{alias}` has no member `{}`", name.name),
                            name.span,
                            "not in that module",
                            Some(help),
                        );
                        None
                    }
                }
            }
            _ => {
                self.err(
                    "E0126",
                    "only functions can be called",
                    callee.span,
                    "not callable",
                    Some(
                        "call a builtin, a `fn`, or a module's function: `world.math(...)`".into(),
                    ),
                );
                None
            }
        }
    }

    fn eval_call(&mut self, env: &Env, callee: &Expr, args: &[Arg], span: Span) -> Option<SVal> {
        let target = self.callee(env, callee);
        // Evaluate arguments even when the callee is unknown, to report their errors too.
        let mut vals: Vec<Option<SVal>> = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(env, &a.value));
        }
        let target = target?;
        if vals.iter().any(Option::is_none) {
            return None;
        }
        let vals: Vec<SVal> = vals.into_iter().flatten().collect();
        match target {
            Callee::Builtin(b) => self.call_builtin(env, b, args, vals, span, callee.span),
            Callee::Fn(m, i) => self.call_fn(m, i, args, vals, span, callee.span),
        }
    }

    /// Matches arguments to parameter names; reports unknown, duplicate,
    /// surplus and misplaced arguments. Returns, per parameter (in order),
    /// its value and the index of the argument that gave it.
    fn bind<'p>(
        &mut self,
        fname: &str,
        params: &(impl Fn(usize) -> &'p str + ?Sized),
        n_params: usize,
        args: &[Arg],
        vals: Vec<SVal>,
        callee_span: Span,
    ) -> Option<Vec<Option<(SVal, usize)>>> {
        let names = || (0..n_params).map(params).collect::<Vec<_>>();
        let mut out: Vec<Option<(SVal, usize)>> = Vec::with_capacity(n_params);
        out.resize_with(n_params, || None);
        let mut ok = true;
        let mut seen_named = false;
        for (k, (a, v)) in args.iter().zip(vals).enumerate() {
            match &a.name {
                Some(n) => {
                    seen_named = true;
                    let Some(at) = (0..n_params).find(|&j| params(j) == n.name) else {
                        let names = names();
                        let help = did_you_mean(&n.name, names.iter().map(|p| p.to_string()))
                            .unwrap_or_else(|| {
                                if names.is_empty() {
                                    format!("`{fname}` takes no arguments")
                                } else {
                                    format!("`{fname}` takes: {}", names.join(", "))
                                }
                            });
                        self.err(
                            "E0107",
                            format!("`{fname}` has no parameter `{}`", n.name),
                            n.span,
                            "unknown argument",
                            Some(help),
                        );
                        ok = false;
                        continue;
                    };
                    if let Some((_, prev)) = &out[at] {
                        let d = Diagnostic::error(
                            "E0108",
                            format!("argument `{}` is given twice", n.name),
                            a.span,
                            "given again here",
                        )
                        .with_label(args[*prev].span, "first given here")
                        .with_help("remove one of them");
                        self.diags.push(d);
                        ok = false;
                        continue;
                    }
                    out[at] = Some((v, k));
                }
                None => {
                    if seen_named {
                        self.err(
                            "E0111",
                            "positional argument after a named one",
                            a.span,
                            "positional",
                            Some(format!(
                                "name it: `{}`",
                                if k < n_params {
                                    format!("{} = ...", params(k))
                                } else {
                                    "name = ...".into()
                                }
                            )),
                        );
                        ok = false;
                        continue;
                    }
                    if k < n_params {
                        out[k] = Some((v, k));
                    } else {
                        let names = names();
                        let d = Diagnostic::error(
                            "E0110",
                            format!(
                                "`{fname}` takes {} but {} given",
                                count(n_params, "argument", "arguments"),
                                count(args.len(), "was", "were"),
                            ),
                            a.span,
                            "surplus argument",
                        )
                        .with_label(callee_span, format!("`{fname}` called here"))
                        .with_help(if names.is_empty() {
                            format!("`{fname}` takes no arguments")
                        } else {
                            format!("its parameters are: {}", names.join(", "))
                        });
                        self.diags.push(d);
                        ok = false;
                    }
                }
            }
        }
        ok.then_some(out)
    }

    fn call_builtin(
        &mut self,
        env: &Env,
        b: &'static Builtin,
        args: &[Arg],
        vals: Vec<SVal>,
        span: Span,
        callee_span: Span,
    ) -> Option<SVal> {
        let mut bound = self.bind(
            b.name,
            &|j| b.params[j].name,
            b.params.len(),
            args,
            vals,
            callee_span,
        )?;
        // Argument index per parameter (for spans of later checks).
        let positions: Vec<Option<usize>> =
            bound.iter().map(|x| x.as_ref().map(|(_, k)| *k)).collect();
        let missing: Vec<&str> = b
            .params
            .iter()
            .zip(&bound)
            .filter(|(p, x)| p.required() && x.is_none())
            .map(|(p, _)| p.name)
            .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.err(
                "E0109",
                format!(
                    "`{}` is missing required argument{} {list}",
                    b.name,
                    if missing.len() > 1 { "s" } else { "" }
                ),
                span,
                format!("missing {list}"),
                Some(format!("signature: {}", b.signature())),
            );
            return None;
        }
        let file_path = env.module;
        let mut out = Vec::with_capacity(b.params.len());
        let mut ok = true;
        for (p, x) in b.params.iter().zip(&mut bound) {
            let Some((v, k)) = x.take() else {
                out.push((p.name.into(), p.default.clone().unwrap_or(Value::None)));
                continue;
            };
            let aspan = args[k].value.span;
            match self.coerce_arg(b.name, p, v, aspan, file_path) {
                Some(v) => out.push((p.name.into(), v)),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let call = Call {
            func: b.name.into(),
            // Built at once from the list (sorted by the collection) rather
            // than by one search per parameter.
            args: out.into_iter().collect(),
            span,
        };
        let position = |name: &str| {
            let j = b.params.iter().position(|p| p.name == name)?;
            positions[j]
        };
        let arg_span = |name: &str| position(name).map_or(span, |k| args[k].value.span);
        let given = |name: &str| position(name).is_some();
        // Errors of value (ranges, files, templates, ...) do not poison the
        // call: its type is right, so checking goes on downstream and one
        // run reports every mistake of the spec.
        let _ = self.builtin_checks(&call, &arg_span, &given);
        Some(SVal::new(Value::Call(Box::new(call)), b.ret.clone()))
    }

    /// Type-checks one argument against its parameter and converts it to its
    /// IR form (ints to floats, strings to resolved paths).
    fn coerce_arg(
        &mut self,
        fname: &str,
        p: &builtins::Param,
        v: SVal,
        span: Span,
        file_path: usize,
    ) -> Option<Value> {
        let is_list = matches!(p.ty, Ty::List(_));
        let v = match (&v.v, is_list) {
            (Value::Family(_), true) => {
                SVal::new(Value::List(vec![v.v.clone()]), Ty::list(v.ty.clone()))
            }
            (Value::Family(f), false) => {
                let fname2 = self
                    .program
                    .families
                    .get(*f)
                    .map(|f| f.name.clone())
                    .unwrap_or_default();
                self.err("E0131", format!("`{fname2}` is a whole family, but `{fname}.{}` takes one {}", p.name, p.ty), span, "a family", Some(format!("pick one cell, e.g. `{fname2}[0]`, or sweep this declaration over the same values")));
                return None;
            }
            _ => v,
        };
        if !v.ty.assignable_to(&p.ty) {
            let mut help = format!("`{}` takes {}", p.name, p.ty.a());
            if v.ty == Ty::Str && p.ty.is_numeric() {
                help.push_str("; remove the quotes");
            } else if v.ty == Ty::Float && p.ty == Ty::Int {
                help.push_str("; write a whole number");
            } else if let (Ty::List(_), false) = (&p.ty, matches!(v.ty, Ty::List(_))) {
                help.push_str("; wrap it in a list: `[...]`");
            } else if p.ty == Ty::Transform && v.ty == Ty::Dataset {
                help.push_str("; apply transforms with `|`");
            }
            self.err(
                "E0112",
                format!("`{fname}.{}` expects {}, found {}", p.name, p.ty.a(), v.ty),
                span,
                format!("this is {}", v.ty.a()),
                Some(help),
            );
            return None;
        }
        Some(self.convert(fname, p, &p.ty, v.v, span, file_path))
    }

    #[allow(clippy::too_many_arguments)]
    fn convert(
        &mut self,
        fname: &str,
        p: &builtins::Param,
        ty: &Ty,
        v: Value,
        span: Span,
        file_path: usize,
    ) -> Value {
        match (ty, v) {
            (Ty::Optional(inner), v) => {
                if v == Value::None {
                    Value::None
                } else {
                    self.convert(fname, p, inner, v, span, file_path)
                }
            }
            (Ty::List(inner), Value::List(xs)) => Value::List(
                xs.into_iter()
                    .map(|x| self.convert(fname, p, inner, x, span, file_path))
                    .collect(),
            ),
            (Ty::Float, Value::Int(i)) => {
                self.convert(fname, p, ty, Value::Float(i as f64), span, file_path)
            }
            (Ty::Path, Value::Str(s)) | (Ty::Path, Value::Path(s)) => {
                let file_path = self.modules[file_path].path.clone();
                let resolved = resolve(&file_path, &s);
                if !self.loader.exists(&resolved) {
                    let help = if resolved != s {
                        format!("`{s}` is resolved against the directory of {file_path}; see README.md for how to get the data files")
                    } else {
                        "see README.md for how to get the data files".to_string()
                    };
                    self.err(
                        "E0122",
                        format!("file not found: {resolved}"),
                        span,
                        "no such file",
                        Some(help),
                    );
                }
                Value::Path(resolved)
            }
            (_, v) => {
                match &v {
                    Value::Int(i) => self.check_range(fname, p, *i as f64, span),
                    Value::Float(x) => self.check_range(fname, p, *x, span),
                    Value::Str(s) if !p.choices.is_empty() && !p.choices.contains(&s.as_str()) => {
                        let lora = fname == "lora" && p.name == "targets";
                        let code = if lora { "E0124" } else { "E0115" };
                        let msg = if lora {
                            format!(
                                "`{s}` is not a LoRA target module of the supported architectures"
                            )
                        } else {
                            format!("`{fname}.{}` cannot be \"{s}\"", p.name)
                        };
                        let help = match suggest(s, p.choices.iter().copied()) {
                            Some(c) => {
                                format!("did you mean \"{c}\"? allowed: {}", p.choices.join(", "))
                            }
                            None => format!("allowed: {}", p.choices.join(", ")),
                        };
                        self.err(code, msg, span, "not allowed here", Some(help));
                    }
                    _ => {}
                }
                v
            }
        }
    }

    fn check_range(&mut self, fname: &str, p: &builtins::Param, x: f64, span: Span) {
        if let Some(r) = p.range {
            if !r.contains(x) {
                let shown = if x.fract() == 0.0 && x.abs() < 1e15 {
                    format!("{}", x as i64)
                } else {
                    format!("{x}")
                };
                self.err(
                    "E0114",
                    format!(
                        "`{fname}.{}` must satisfy {}, found {shown}",
                        p.name,
                        r.describe(p.name)
                    ),
                    span,
                    "out of range",
                    Some(format!("{}: {}", p.name, p.doc)),
                );
            }
        }
    }

    /// Where `needle` is first written inside `within` (e.g. one string of a
    /// list argument), else `within`.
    fn text_in(&self, within: Span, needle: &str) -> Span {
        let (start, end) = (within.start as usize, within.end as usize);
        self.sources
            .text(within.file)
            .get(start..end)
            .and_then(|src| src.find(needle))
            .map_or(within, |o| {
                Span::new(within.file, start + o, start + o + needle.len())
            })
    }

    /// Checks that need several arguments or knowledge of the domain.
    fn builtin_checks(
        &mut self,
        call: &Call,
        arg_span: &dyn Fn(&str) -> Span,
        given: &dyn Fn(&str) -> bool,
    ) -> Option<()> {
        let int = |name: &str| match call.args.get(name) {
            Some(Value::Int(i)) => *i,
            _ => 0,
        };
        match &*call.func {
            "arch" => {
                let (hidden, heads, kv) = (int("hidden"), int("heads"), int("kv_heads"));
                if heads > 0 && hidden % heads != 0 {
                    self.err(
                        "E0128",
                        format!("hidden size {hidden} is not a multiple of {heads} heads"),
                        arg_span("hidden"),
                        "not divisible",
                        Some(format!(
                            "use a multiple of {heads}, e.g. {}",
                            (hidden / heads).max(1) * heads
                        )),
                    );
                    return None;
                }
                if kv > 0 && heads % kv != 0 {
                    self.err(
                        "E0128",
                        format!("{heads} heads cannot be grouped into {kv} key/value heads"),
                        arg_span("kv_heads"),
                        "does not divide `heads`",
                        Some(format!("`kv_heads` must divide `heads` ({heads})")),
                    );
                    return None;
                }
                if hidden > 0 && heads > 0 && (hidden / heads) % 2 != 0 {
                    self.err(
                        "E0128",
                        format!(
                            "head size {} is odd; rotary embeddings need an even head size",
                            hidden / heads
                        ),
                        arg_span("hidden"),
                        "odd head size",
                        Some("make `hidden / heads` even".into()),
                    );
                    return None;
                }
            }
            "judge" => {
                if given("local") {
                    if let Some(other) = ["endpoint", "model"].into_iter().find(|a| given(a)) {
                        let d = Diagnostic::error(
                            "E0143",
                            format!("a judge with `local` takes no `{other}`"),
                            arg_span(other),
                            format!("`{other}` names an API judge"),
                        )
                        .with_label(arg_span("local"), "the judge is this local model")
                        .with_help(format!("keep `local = ...` to judge with a model of the spec, or remove it (and keep `{other}`) to ask an API judge"));
                        self.diags.push(d);
                        return None;
                    }
                }
                let Some(Value::Str(prompt)) = call.args.get("prompt") else {
                    return Some(());
                };
                let (_, errors) = template::check(prompt, JUDGE_TEMPLATE_VARS);
                if errors.is_empty() {
                    return Some(());
                }
                let pspan = arg_span("prompt");
                for e in errors {
                    match e {
                        TemplateError::UnknownVar { name, .. } => {
                            let span = self.text_in(pspan, &format!("{{{name}}}"));
                            let help = match suggest(&name, JUDGE_TEMPLATE_VARS.iter().copied()) {
                                Some(s) => format!("did you mean `{{{s}}}`? judge templates know {}; write `{{{{` for a literal brace", JUDGE_TEMPLATE_VARS.iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")),
                                None => format!("judge templates know {}; write `{{{{` and `}}}}` for literal braces", JUDGE_TEMPLATE_VARS.iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")),
                            };
                            self.err(
                                "E0123",
                                format!(
                                    "unknown template variable `{{{name}}}` in the judge prompt"
                                ),
                                span,
                                "not a template variable",
                                Some(help),
                            );
                        }
                        TemplateError::Unbalanced { .. } => {
                            self.err("E0123", "unbalanced brace in the judge prompt", pspan, "a `{` or `}` without its pair", Some("write `{{` and `}}` for literal braces; variables are `{question}` and `{answer}`".into()));
                        }
                    }
                }
                return None;
            }
            "finetune" | "pretrain" if given("max_seq") => {
                let max_seq = int("max_seq");
                let limit = if call.func == "pretrain" {
                    match call.args.get("arch") {
                        Some(Value::Call(a)) => match a.args.get("max_seq") {
                            Some(Value::Int(m)) => Some(*m),
                            _ => None,
                        },
                        _ => None,
                    }
                } else {
                    call.args
                        .get("model")
                        .and_then(|m| self.model_max_seq(m, 0))
                };
                if let Some(limit) = limit {
                    if max_seq > limit {
                        self.err("E0135", format!("`{}.max_seq` is {max_seq} but the model handles at most {limit} tokens", call.func), arg_span("max_seq"), "longer than the model's context", Some(format!("set `max_seq = {limit}` or less (the architecture's `max_seq`)")));
                        return None;
                    }
                }
            }
            "bar" => {
                let Some(Value::List(ys)) = call.args.get("y") else {
                    return Some(());
                };
                let names = self.eval_metric_names(call.args.get("eval"));
                if let Some(names) = names {
                    for y in ys {
                        if let Value::Str(s) = y {
                            if !names.contains(s) {
                                let help =
                                    did_you_mean(s, names.iter().cloned()).unwrap_or_else(|| {
                                        format!(
                                            "the evaluation's metrics are: {}",
                                            names.join(", ")
                                        )
                                    });
                                let at = self.text_in(arg_span("y"), &format!("\"{s}\""));
                                self.err(
                                    "E0136",
                                    format!("the evaluation has no metric named \"{s}\""),
                                    at,
                                    "unknown metric",
                                    Some(help),
                                );
                                return None;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Some(())
    }

    /// The context length of a model value when it is known statically.
    fn model_max_seq(&self, v: &Value, depth: usize) -> Option<i64> {
        if depth > 64 {
            return None;
        }
        match v {
            Value::Node(n) => self
                .program
                .nodes
                .get(*n)
                .and_then(|n| self.model_max_seq(&n.value, depth + 1)),
            Value::Call(c) if c.func == "pretrain" => match c.args.get("arch") {
                Some(Value::Call(a)) => match a.args.get("max_seq") {
                    Some(Value::Int(m)) => Some(*m),
                    _ => None,
                },
                _ => None,
            },
            Value::Call(c) if c.func == "finetune" => c
                .args
                .get("model")
                .and_then(|m| self.model_max_seq(m, depth + 1)),
            _ => None,
        }
    }

    /// Names of the metrics of an evaluation value, when known statically.
    fn eval_metric_names(&self, v: Option<&Value>) -> Option<Vec<String>> {
        let call = match v? {
            Value::Node(n) => match &self.program.nodes.get(*n)?.value {
                Value::Call(c) => c.clone(),
                _ => return None,
            },
            Value::Call(c) => c.clone(),
            _ => return None,
        };
        if call.func != "evaluate" {
            return None;
        }
        let Some(Value::List(ms)) = call.args.get("metrics") else {
            return None;
        };
        Some(metric_columns(ms))
    }

    fn call_fn(
        &mut self,
        m: usize,
        i: usize,
        args: &[Arg],
        vals: Vec<SVal>,
        span: Span,
        callee_span: Span,
    ) -> Option<SVal> {
        let ast = self.modules[m].ast.clone();
        let ItemKind::Fn(f) = &ast.items[i].kind else {
            return None;
        };
        if self.fn_stack.contains(&(m, i)) || self.fn_stack.len() >= MAX_CALL_DEPTH {
            let d = Diagnostic::error(
                "E0105",
                format!("function `{}` calls itself", f.name.name),
                callee_span,
                "recursive call",
            )
            .with_label(f.name.span, "defined here")
            .with_help("functions cannot recurse: a spec must evaluate in finitely many steps");
            self.diags.push(d);
            return None;
        }
        let mut bound = self.bind(
            &f.name.name,
            &|j| f.params[j].name.name.as_str(),
            f.params.len(),
            args,
            vals,
            callee_span,
        )?;
        let missing: Vec<&str> = f
            .params
            .iter()
            .zip(&bound)
            .filter(|(p, x)| p.default.is_none() && x.is_none())
            .map(|(p, _)| p.name.name.as_str())
            .collect();
        if !missing.is_empty() {
            let list = missing
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.err(
                "E0109",
                format!(
                    "`{}` is missing required argument{} {list}",
                    f.name.name,
                    if missing.len() > 1 { "s" } else { "" }
                ),
                span,
                format!("missing {list}"),
                Some(format!(
                    "`{}` is defined in {}",
                    f.name.name, self.modules[m].path
                )),
            );
            return None;
        }
        let mut locals = Vec::with_capacity(f.params.len());
        let mut ok = true;
        for (p, x) in f.params.iter().zip(&mut bound) {
            let (v, position) = match x.take() {
                Some((v, k)) => (Some(v), Some(k)),
                None => (
                    p.default.as_ref().and_then(|d| self.eval(&Env::at(m), d)),
                    None,
                ),
            };
            let Some(v) = v else {
                ok = false;
                continue;
            };
            if let Some(t) = &p.ty {
                let want = self.type_of_annotation(t);
                if !v.ty.assignable_to(&want) {
                    let aspan = position.map_or(span, |k| args[k].value.span);
                    self.err(
                        "E0112",
                        format!(
                            "`{}.{}` expects {}, found {}",
                            f.name.name,
                            p.name.name,
                            want.a(),
                            v.ty
                        ),
                        aspan,
                        format!("this is {}", v.ty.a()),
                        Some(format!(
                            "`{}` is declared `{}: {want}`",
                            p.name.name, p.name.name
                        )),
                    );
                    ok = false;
                    continue;
                }
            }
            locals.push((p.name.name.as_str(), v));
        }
        if !ok {
            return None;
        }
        self.fn_stack.push((m, i));
        let first_new = self.diags.len();
        let r = self.eval(&Env { module: m, locals }, &f.body);
        self.fn_stack.pop();
        self.anchor_at_call_site(first_new, f, args, span);
        r
    }

    /// Diagnostics raised while evaluating a function defined in another
    /// file (a stdlib piece, an imported module) point at the caller's call,
    /// where the user can act, or at the caller's argument when the error
    /// is about a parameter the caller passed; the place inside the
    /// function stays as a secondary label.
    fn anchor_at_call_site(&mut self, first_new: usize, f: &ast::FnDef, args: &[Arg], call: Span) {
        let fname = f.name.name.as_str();
        // The caller's argument for a parameter: by name, else by position.
        let passed = |name: &str| {
            let at = f.params.iter().position(|p| p.name.name == name)?;
            args.iter()
                .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
                .or_else(|| args.get(at).filter(|a| a.name.is_none()))
                .map(|a| a.value.span)
        };
        for d in &mut self.diags[first_new..] {
            if d.primary.span.file == call.file {
                continue;
            }
            let at = d.primary.span;
            let written = self
                .sources
                .text(at.file)
                .get(at.start as usize..at.end as usize)
                .unwrap_or("");
            let outer = match passed(written) {
                Some(arg) => {
                    crate::diag::Label::new(arg, format!("passed to `{fname}` as `{written}`"))
                }
                None => crate::diag::Label::new(call, format!("in this call to `{fname}`")),
            };
            let inner = std::mem::replace(&mut d.primary, outer);
            let label = if inner.message.is_empty() {
                format!("inside `{fname}`")
            } else {
                format!("{} (inside `{fname}`)", inner.message)
            };
            d.secondary
                .insert(0, crate::diag::Label::new(inner.span, label));
        }
    }
}

/// The result column name of a metric value: its `name` argument, else the builtin name.
pub(crate) fn metric_name(v: &Value) -> Option<String> {
    column_name(v, None)
}

/// The results column of a metric value: its `name`, else `default` (the
/// role of a judge inside `em_misaligned`), else the metric's own default
/// name, the one `evaluate` writes ("spanish" for `language(lang = "es")`).
fn column_name(v: &Value, default: Option<&str>) -> Option<String> {
    let Value::Call(c) = v else {
        return None;
    };
    if let Some(Value::Str(s)) = c.args.get("name") {
        return Some(s.clone());
    }
    if let Some(d) = default {
        return Some(d.to_string());
    }
    let lang = || c.args.get("lang").and_then(Value::as_str).unwrap_or("");
    use crate::eval::Metric;
    let named = match &*c.func {
        "language" => {
            let candidates: Vec<&str> = match c.args.get("candidates") {
                Some(Value::List(xs)) => xs.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            Metric::language(lang(), &candidates).ok()
        }
        "marker_share" => Metric::marker_share(lang()).ok(),
        _ => None,
    };
    Some(named.map_or_else(|| c.func.to_string(), |m| m.default_name()))
}

/// Every column an evaluation's `metrics` list writes: the listed metrics,
/// and before an `em_misaligned` the judges inside it that are not listed
/// themselves (as `exec::ops::evaluate::columns` writes them; a test there
/// holds the two together).
pub(crate) fn metric_columns(metrics: &[Value]) -> Vec<String> {
    let listed: Vec<String> = metrics.iter().filter_map(metric_name).collect();
    let mut out: Vec<String> = Vec::new();
    for m in metrics {
        if let Value::Call(c) = m {
            if c.func == "em_misaligned" {
                for role in ["aligned", "coherent"] {
                    let sub = c.args.get(role).and_then(|j| column_name(j, Some(role)));
                    if let Some(sub) = sub {
                        if !listed.contains(&sub) && !out.contains(&sub) {
                            out.push(sub);
                        }
                    }
                }
            }
        }
        if let Some(n) = metric_name(m) {
            out.push(n);
        }
    }
    out
}

/// "1 variable", "2 variables".
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

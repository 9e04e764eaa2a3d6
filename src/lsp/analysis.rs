//! What the editor features read: the parsed document and the modules it
//! imports (a [`World`]), and one walk that finds every name written in a
//! module together with what it refers to ([`World::sites`]). Definition,
//! references, rename, hover and semantic tokens are all lookups in it.
//!
//! Scoping follows the checker (`sema`): parameters and sweep variables,
//! then the module's items, then builtins; `alias.member` reaches the items
//! of an imported module; a `let` named like a builtin is the builtin in call
//! position. The checker reports what does not resolve; this walk only skips it.

use super::paths::Overlay;
use crate::diag::SourceMap;
use crate::sema::builtins;
use crate::sema::loader::{self, Loader};
use crate::syntax::ast::{self, Expr, ExprKind, ItemKind};
use crate::syntax::{FileId, Span};
use std::collections::BTreeMap;

/// A parsed module of the world.
pub struct Mod {
    pub path: String,
    pub file: FileId,
    pub ast: ast::Module,
    /// Import alias -> module path (only imports that loaded).
    pub imports: BTreeMap<String, String>,
}

/// The root document and every module it reaches through imports, each
/// parsed once. A module that does not parse is absent (the root then uses
/// its last good parse, given by the caller).
pub struct World {
    pub sources: SourceMap,
    pub mods: Vec<Mod>,
    pub by_path: BTreeMap<String, usize>,
}

/// What a name refers to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Def {
    /// A top-level item (`let`, `fn`, declaration, import alias) of a module.
    Item { module: usize, item: usize },
    /// A `fn` parameter or a sweep variable, by the span of its binding.
    Local { span: Span, kind: LocalKind },
    /// A builtin function.
    Builtin(&'static str),
    /// A parameter of a builtin, named in a call.
    BuiltinParam(&'static str, &'static str),
    /// A whole module (the path string of an import).
    Module(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LocalKind {
    Param,
    SweepVar,
}

/// One name written in a module, and what it refers to.
#[derive(Clone, Debug)]
pub struct Site {
    pub span: Span,
    pub def: Def,
    /// True where the name is defined (an item's name, a parameter, a
    /// sweep variable), false where it is used.
    pub is_def: bool,
}

impl World {
    /// Loads `root` (whose text and parse are given: the current or the last
    /// good one) and every module it imports, transitively.
    pub fn load(root: &str, text: &str, ast: Option<ast::Module>, open: &Overlay) -> World {
        let mut w = World {
            sources: SourceMap::new(),
            mods: Vec::new(),
            by_path: BTreeMap::new(),
        };
        // The root is file 0: the id the caller's parse was made with.
        let file = w.sources.add(root, text);
        let Some(ast) = ast.or_else(|| crate::syntax::parse(file, text).0) else {
            return w;
        };
        w.add(root, file, ast);
        let mut i = 0;
        while i < w.mods.len() {
            let imports: Vec<(String, String)> = w.mods[i]
                .ast
                .items
                .iter()
                .filter_map(|it| match &it.kind {
                    ItemKind::Import(im) => Some((im.alias.name.clone(), im.path.clone())),
                    _ => None,
                })
                .collect();
            let from = w.mods[i].path.clone();
            for (alias, written) in imports {
                let path = loader::resolve(&from, &written);
                if !w.by_path.contains_key(&path) {
                    let Ok(text) = open.read(&path) else { continue };
                    let file = w.sources.add(path.as_str(), text);
                    let Some(ast) = crate::syntax::parse(file, w.sources.text(file)).0 else {
                        continue;
                    };
                    w.add(&path, file, ast);
                }
                w.mods[i].imports.insert(alias, path);
            }
            i += 1;
        }
        w
    }

    fn add(&mut self, path: &str, file: FileId, ast: ast::Module) {
        self.by_path.insert(path.to_string(), self.mods.len());
        self.mods.push(Mod {
            path: path.to_string(),
            file,
            ast,
            imports: BTreeMap::new(),
        });
    }

    /// The root module, if it parsed.
    pub fn root(&self) -> Option<&Mod> {
        self.mods.first()
    }

    /// The item of a module's scope with this name (the first, as the
    /// checker keeps the first of duplicates).
    pub fn item(&self, module: usize, name: &str) -> Option<usize> {
        self.mods
            .get(module)?
            .ast
            .items
            .iter()
            .position(|it| it.name().name == name)
    }

    /// The item a definition names, if it is one.
    pub fn item_of(&self, def: &Def) -> Option<&ast::Item> {
        match def {
            Def::Item { module, item } => self.mods.get(*module)?.ast.items.get(*item),
            _ => None,
        }
    }

    /// The module an import alias of `module` loads.
    pub fn imported(&self, module: usize, alias: &str) -> Option<usize> {
        let path = self.mods.get(module)?.imports.get(alias)?;
        self.by_path.get(path).copied()
    }

    /// Where a definition is written: its name's span.
    pub fn def_span(&self, def: &Def) -> Option<Span> {
        match def {
            Def::Item { .. } => self.item_of(def).map(|it| it.name().span),
            Def::Local { span, .. } => Some(*span),
            Def::Module(m) => {
                let f = self.mods.get(*m)?.file;
                Some(Span::new(f, 0, 0))
            }
            Def::Builtin(_) | Def::BuiltinParam(..) => None,
        }
    }

    /// The source text of a span.
    pub fn text(&self, span: Span) -> &str {
        self.sources
            .text(span.file)
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// Every name written in module `m`, in source order.
    pub fn sites(&self, m: usize) -> Vec<Site> {
        let mut out = Vec::new();
        let Some(module) = self.mods.get(m) else {
            return out;
        };
        for (i, item) in module.ast.items.iter().enumerate() {
            out.push(Site {
                span: item.name().span,
                def: Def::Item { module: m, item: i },
                is_def: true,
            });
            let mut locals: Vec<(&str, Span, LocalKind)> = Vec::new();
            match &item.kind {
                ItemKind::Import(im) => {
                    if let Some(&target) = module
                        .imports
                        .get(&im.alias.name)
                        .and_then(|p| self.by_path.get(p))
                    {
                        out.push(Site {
                            span: im.path_span,
                            def: Def::Module(target),
                            is_def: false,
                        });
                    }
                }
                ItemKind::Let(l) => self.expr(m, &l.value, &locals, &mut out),
                ItemKind::Fn(f) => {
                    for p in &f.params {
                        out.push(Site {
                            span: p.name.span,
                            def: Def::Local {
                                span: p.name.span,
                                kind: LocalKind::Param,
                            },
                            is_def: true,
                        });
                        if let Some(d) = &p.default {
                            self.expr(m, d, &locals, &mut out);
                        }
                    }
                    locals.extend(
                        f.params
                            .iter()
                            .map(|p| (p.name.name.as_str(), p.name.span, LocalKind::Param)),
                    );
                    self.expr(m, &f.body, &locals, &mut out);
                }
                ItemKind::Decl(d) => {
                    for v in &d.sweep {
                        self.expr(m, &v.values, &locals, &mut out);
                        out.push(Site {
                            span: v.name.span,
                            def: Def::Local {
                                span: v.name.span,
                                kind: LocalKind::SweepVar,
                            },
                            is_def: true,
                        });
                    }
                    locals.extend(
                        d.sweep
                            .iter()
                            .map(|v| (v.name.name.as_str(), v.name.span, LocalKind::SweepVar)),
                    );
                    self.expr(m, &d.value, &locals, &mut out);
                }
            }
        }
        out.sort_by_key(|s| (s.span.start, s.span.end));
        out
    }

    /// Every call written in module `m` (in item values, `fn` bodies and
    /// defaults, sweep values), outermost first.
    pub fn calls(&self, m: usize) -> Vec<&Expr> {
        fn walk<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
            match &e.kind {
                ExprKind::None
                | ExprKind::Bool(_)
                | ExprKind::Int(_)
                | ExprKind::Float(_)
                | ExprKind::Str(_)
                | ExprKind::Name(_) => {}
                ExprKind::Field { base, .. } => walk(base, out),
                ExprKind::List(xs) => xs.iter().for_each(|x| walk(x, out)),
                ExprKind::Record(fs) => fs.iter().for_each(|f| walk(&f.value, out)),
                ExprKind::Range { start, end, .. } => {
                    walk(start, out);
                    walk(end, out);
                }
                ExprKind::Call { callee, args } => {
                    out.push(e);
                    walk(callee, out);
                    args.iter().for_each(|a| walk(&a.value, out));
                }
                ExprKind::Index { base, args } => {
                    walk(base, out);
                    args.iter().for_each(|a| walk(&a.value, out));
                }
                ExprKind::Pipe { head, stages } => {
                    walk(head, out);
                    stages.iter().for_each(|s| walk(s, out));
                }
                ExprKind::Binary { lhs, rhs, .. } => {
                    walk(lhs, out);
                    walk(rhs, out);
                }
                ExprKind::Unary { operand, .. } => walk(operand, out),
            }
        }
        let mut out = Vec::new();
        let Some(module) = self.mods.get(m) else {
            return out;
        };
        for item in &module.ast.items {
            match &item.kind {
                ItemKind::Import(_) => {}
                ItemKind::Let(l) => walk(&l.value, &mut out),
                ItemKind::Fn(f) => {
                    f.params
                        .iter()
                        .filter_map(|p| p.default.as_ref())
                        .for_each(|d| walk(d, &mut out));
                    walk(&f.body, &mut out);
                }
                ItemKind::Decl(d) => {
                    d.sweep.iter().for_each(|v| walk(&v.values, &mut out));
                    walk(&d.value, &mut out);
                }
            }
        }
        out
    }

    /// What a plain name refers to in module `m` with these locals.
    pub fn resolve_name(
        &self,
        m: usize,
        name: &str,
        locals: &[(&str, Span, LocalKind)],
        in_call: bool,
    ) -> Option<Def> {
        if let Some((_, span, kind)) = locals.iter().rev().find(|(n, ..)| *n == name) {
            return Some(Def::Local {
                span: *span,
                kind: *kind,
            });
        }
        if let Some(item) = self.item(m, name) {
            let is_let = matches!(self.mods[m].ast.items[item].kind, ItemKind::Let(_));
            if !(in_call && is_let && builtins::get(name).is_some()) {
                return Some(Def::Item { module: m, item });
            }
        }
        builtins::get(name).map(|b| Def::Builtin(b.name))
    }

    /// What an expression names as a whole (a name or `alias.member`).
    pub fn resolve_expr(
        &self,
        m: usize,
        e: &Expr,
        locals: &[(&str, Span, LocalKind)],
        in_call: bool,
    ) -> Option<Def> {
        match &e.kind {
            ExprKind::Name(id) => self.resolve_name(m, &id.name, locals, in_call),
            ExprKind::Field { base, name } => {
                let Some(Def::Item { module, item }) = self.resolve_expr(m, base, locals, false)
                else {
                    return None;
                };
                let ItemKind::Import(im) = &self.mods[module].ast.items[item].kind else {
                    return None;
                };
                let target = self.imported(module, &im.alias.name)?;
                let item = self.item(target, &name.name)?;
                Some(Def::Item {
                    module: target,
                    item,
                })
            }
            _ => None,
        }
    }

    fn expr(&self, m: usize, e: &Expr, locals: &[(&str, Span, LocalKind)], out: &mut Vec<Site>) {
        self.expr_in(m, e, locals, out, false);
    }

    fn expr_in(
        &self,
        m: usize,
        e: &Expr,
        locals: &[(&str, Span, LocalKind)],
        out: &mut Vec<Site>,
        in_call: bool,
    ) {
        match &e.kind {
            ExprKind::None
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_) => {}
            ExprKind::Name(id) => {
                if let Some(def) = self.resolve_name(m, &id.name, locals, in_call) {
                    out.push(Site {
                        span: id.span,
                        def,
                        is_def: false,
                    });
                }
            }
            ExprKind::Field { base, name } => {
                self.expr_in(m, base, locals, out, false);
                if let Some(def) = self.resolve_expr(m, e, locals, in_call) {
                    out.push(Site {
                        span: name.span,
                        def,
                        is_def: false,
                    });
                }
            }
            ExprKind::List(xs) => xs.iter().for_each(|x| self.expr(m, x, locals, out)),
            ExprKind::Record(fs) => fs.iter().for_each(|f| self.expr(m, &f.value, locals, out)),
            ExprKind::Range { start, end, .. } => {
                self.expr(m, start, locals, out);
                self.expr(m, end, locals, out);
            }
            ExprKind::Call { callee, args } => {
                self.expr_in(m, callee, locals, out, true);
                let callee = self.resolve_expr(m, callee, locals, true);
                for a in args {
                    if let (Some(n), Some(def)) = (&a.name, &callee) {
                        if let Some(d) = self.param_def(def, &n.name) {
                            out.push(Site {
                                span: n.span,
                                def: d,
                                is_def: false,
                            });
                        }
                    }
                    self.expr(m, &a.value, locals, out);
                }
            }
            ExprKind::Index { base, args } => {
                self.expr(m, base, locals, out);
                let decl = self.resolve_expr(m, base, locals, false);
                for a in args {
                    if let (Some(n), Some(def)) = (&a.name, &decl) {
                        if let Some(ItemKind::Decl(d)) = self.item_of(def).map(|i| &i.kind) {
                            if let Some(v) = d.sweep.iter().find(|v| v.name.name == n.name) {
                                out.push(Site {
                                    span: n.span,
                                    def: Def::Local {
                                        span: v.name.span,
                                        kind: LocalKind::SweepVar,
                                    },
                                    is_def: false,
                                });
                            }
                        }
                    }
                    self.expr(m, &a.value, locals, out);
                }
            }
            ExprKind::Pipe { head, stages } => {
                self.expr(m, head, locals, out);
                for s in stages {
                    self.expr(m, s, locals, out);
                }
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(m, lhs, locals, out);
                self.expr(m, rhs, locals, out);
            }
            ExprKind::Unary { operand, .. } => self.expr(m, operand, locals, out),
        }
    }

    /// The parameter `name` of the function a call resolves to.
    pub fn param_def(&self, callee: &Def, name: &str) -> Option<Def> {
        match callee {
            Def::Builtin(b) => builtins::get(b)?
                .param(name)
                .map(|p| Def::BuiltinParam(b, p.name)),
            Def::Item { .. } => match &self.item_of(callee)?.kind {
                ItemKind::Fn(f) => {
                    f.params
                        .iter()
                        .find(|p| p.name.name == name)
                        .map(|p| Def::Local {
                            span: p.name.span,
                            kind: LocalKind::Param,
                        })
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// The site under a byte offset of module `m` (a name touching the
    /// cursor on either side counts, as editors place it after a word).
    pub fn site_at(&self, m: usize, offset: usize) -> Option<Site> {
        let sites = self.sites(m);
        let hit = |s: &&Site| (s.span.start as usize) <= offset && offset <= s.span.end as usize;
        let inside = sites
            .iter()
            .find(|s| (s.span.start as usize) <= offset && offset < s.span.end as usize);
        inside.or_else(|| sites.iter().find(hit)).cloned()
    }
}

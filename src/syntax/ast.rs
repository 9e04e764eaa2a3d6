//! The abstract syntax tree of one `.inoc` file, as [`crate::syntax::parse`]
//! returns it.
//!
//! Every node carries the [`Span`] of the source text it came from (byte
//! offsets into that file). The tree is faithful to what the user wrote and
//! knows nothing about types: names are not resolved, calls are not matched
//! to builtins, `fn` bodies are not evaluated. Parentheses are not kept (the
//! tree's shape already records grouping). Comments are not in the tree but
//! listed in [`Module::comments`]; `##` doc comments are also attached to the
//! item they document ([`Item::doc`]).
//!
//! Shape of a file:
//! ```text
//! import "stdlib/world.inoc" as world        -> ItemKind::Import
//! let seeds = [0, 1, 2]                      -> ItemKind::Let
//! fn chat(size = "s", seed: int = 0) = ...   -> ItemKind::Fn
//! model base = world.tiny_chat(size = "s")   -> ItemKind::Decl (kind Model)
//! train ctl[s in seeds] = finetune(...)      -> ItemKind::Decl with a sweep
//! ```

use super::Span;

/// One parsed file.
#[derive(Clone, Debug, PartialEq)]
pub struct Module {
    /// The file's own documentation: a `##` block before the first item that
    /// is separated from it by a blank line (or ends the file).
    pub doc: Option<DocComment>,
    /// The file's items in source order.
    pub items: Vec<Item>,
    /// Every comment of the file in source order (`#` and `##`), including
    /// the doc comments that are also attached to items. Used by the
    /// formatter and by per-line lint silencing.
    pub comments: Vec<Comment>,
    /// The whole file.
    pub span: Span,
}

/// A `#` or `##` comment: one line, from the `#` to the end of the line
/// (the newline excluded).
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub span: Span,
    pub kind: CommentKind,
    /// The text after `#` / `##`, with one leading space removed if present
    /// and trailing whitespace removed.
    pub text: String,
    /// True when only whitespace precedes the comment on its line; false for
    /// a trailing comment after code (`lr = 1e-3,  # tuned`).
    pub own_line: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    /// `# text` (also `### text`: three or more `#` is an ordinary comment).
    Line,
    /// `## text`: documents the next item.
    Doc,
}

/// A top-level statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// The `##` lines directly above the item, joined with `\n`.
    pub doc: Option<DocComment>,
    pub kind: ItemKind,
    /// From the first keyword to the end of the value (doc comment excluded).
    pub span: Span,
}

/// Documentation attached to an item.
#[derive(Clone, Debug, PartialEq)]
pub struct DocComment {
    /// The lines' texts (see [`Comment::text`]) joined with `\n`.
    pub text: String,
    /// From the first `##` to the end of the last doc line.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ItemKind {
    Import(Import),
    Let(Let),
    Fn(FnDef),
    Decl(Decl),
}

/// `import "stdlib/world.inoc" as world`
#[derive(Clone, Debug, PartialEq)]
pub struct Import {
    /// The path, escapes processed. Relative paths are relative to the
    /// importing file; `stdlib/...` names the embedded standard library.
    pub path: String,
    /// Span of the string literal, quotes included.
    pub path_span: Span,
    /// The name the module's items are reached through (`world.math`).
    pub alias: Ident,
}

/// `let seeds = [0, 1, 2]`: a named constant.
#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    pub name: Ident,
    pub value: Expr,
}

/// `fn tiny_chat(size = "s", seed: int = 0) = pretrain(...)`: a reusable,
/// parameterised expression (the stdlib is written with these). The body is
/// a single expression in which the parameters are names.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: Expr,
}

/// One parameter of a `fn`: `name`, `name = default`, `name: type`, or
/// `name: type = default`. The parser does not check that defaulted
/// parameters come last; `sema` does.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
    pub default: Option<Expr>,
    pub span: Span,
}

/// A type annotation: `int`, `list[str]`, `record`. Names are not checked
/// by the parser.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    pub name: Ident,
    /// Type arguments in brackets: `list[str]` has one.
    pub args: Vec<TypeExpr>,
    pub span: Span,
}

/// `model base = ...`, `train control[s in seeds] = ...`: a declaration
/// that becomes one node of the experiment (or a family of nodes when it has
/// a sweep).
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    pub kind: DeclKind,
    /// Span of the kind keyword (`model`, `train`, ...).
    pub kind_span: Span,
    pub name: Ident,
    /// Sweep variables, in order; empty for a plain declaration. A grid
    /// `[p in prompts, s in seeds]` has two (row-major, the last varies fastest).
    pub sweep: Vec<SweepVar>,
    pub value: Expr,
}

/// One sweep variable: `s in seeds`.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepVar {
    pub name: Ident,
    /// What the variable ranges over: any expression (a list, a range, a name).
    pub values: Expr,
    pub span: Span,
}

/// The declaration keywords. Not reserved words: `model` is still a valid
/// argument name (`finetune(model = base)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeclKind {
    Model,
    Dataset,
    Train,
    Eval,
    Report,
}

impl DeclKind {
    pub const ALL: [DeclKind; 5] = [
        DeclKind::Model,
        DeclKind::Dataset,
        DeclKind::Train,
        DeclKind::Eval,
        DeclKind::Report,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            DeclKind::Model => "model",
            DeclKind::Dataset => "dataset",
            DeclKind::Train => "train",
            DeclKind::Eval => "eval",
            DeclKind::Report => "report",
        }
    }

    pub fn from_keyword(s: &str) -> Option<DeclKind> {
        DeclKind::ALL.into_iter().find(|k| k.keyword() == s)
    }
}

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    /// For record keys written as strings (`{ "a b" = 1 }`) this is the
    /// string's value, which need not be a valid identifier.
    pub name: String,
    pub span: Span,
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// `none`
    None,
    /// `true`, `false`
    Bool(bool),
    /// `42`, `1_000` (no fraction, no exponent). Always non-negative: `-3`
    /// is `Unary { op: Neg, .. }` around `Int(3)`.
    Int(i64),
    /// `0.5`, `1e-3`, `2.5E4`
    Float(f64),
    /// `"text"` (escapes processed) or `"""raw"""` (indentation rule applied).
    Str(String),
    /// A reference to a `let`, declaration, `fn`, import alias, builtin,
    /// parameter or sweep variable.
    Name(Ident),
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// `{ key = value, ... }`; duplicate keys are left for `sema` to report.
    Record(Vec<Field>),
    /// `start..end` (exclusive) or `start..=end` (inclusive).
    Range {
        start: Box<Expr>,
        end: Box<Expr>,
        inclusive: bool,
    },
    /// `callee(args)`: the callee is usually a `Name` or a `Field` (`world.math(...)`).
    Call { callee: Box<Expr>, args: Vec<Arg> },
    /// `base[args]`: a cell of a family, `control[0]` or `grid[p = 0, s = 2]`
    /// (at least one argument).
    Index { base: Box<Expr>, args: Vec<Arg> },
    /// `base.name`: a member of an imported module or a field of a record.
    Field { base: Box<Expr>, name: Ident },
    /// `data | t1 | t2`: dataset transforms applied left to right. Always
    /// at least one stage; chains are flat (never nested on the left).
    Pipe { head: Box<Expr>, stages: Vec<Expr> },
    /// `a + b`, `a - b`, `a * b`, `a / b` (left-associative, `*` `/` bind tighter).
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `-x`
    Unary { op: UnOp, operand: Box<Expr> },
}

/// A call or index argument: positional (`name` is `None`) or named
/// (`lr = 1e-3`). Order is kept; positional-after-named is for `sema` to judge.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

/// A record field `key = value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }

    /// Binding strength: `*` `/` bind tighter than `+` `-`.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    Neg,
}

impl Item {
    /// The declared name (the alias for an import).
    pub fn name(&self) -> &Ident {
        match &self.kind {
            ItemKind::Import(i) => &i.alias,
            ItemKind::Let(l) => &l.name,
            ItemKind::Fn(f) => &f.name,
            ItemKind::Decl(d) => &d.name,
        }
    }
}

impl Expr {
    /// The name if this is a plain `Name` expression.
    pub fn as_name(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Name(i) => Some(&i.name),
            _ => None,
        }
    }

    /// The string if this is a string literal.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Sets every span in a tree to `Span::default()`: two trees that differ
/// only in layout compare equal afterwards (used by the formatter's tests).
pub trait ClearSpans {
    fn clear_spans(&mut self);
}

impl ClearSpans for Module {
    fn clear_spans(&mut self) {
        self.span = Span::default();
        if let Some(d) = &mut self.doc {
            d.span = Span::default();
        }
        self.items.iter_mut().for_each(ClearSpans::clear_spans);
        for c in &mut self.comments {
            c.span = Span::default();
            c.own_line = false;
        }
    }
}

impl ClearSpans for Item {
    fn clear_spans(&mut self) {
        self.span = Span::default();
        if let Some(d) = &mut self.doc {
            d.span = Span::default();
        }
        match &mut self.kind {
            ItemKind::Import(i) => {
                i.path_span = Span::default();
                i.alias.clear_spans();
            }
            ItemKind::Let(l) => {
                l.name.clear_spans();
                l.value.clear_spans();
            }
            ItemKind::Fn(f) => {
                f.name.clear_spans();
                f.body.clear_spans();
                for p in &mut f.params {
                    p.span = Span::default();
                    p.name.clear_spans();
                    if let Some(t) = &mut p.ty {
                        t.clear_spans();
                    }
                    if let Some(d) = &mut p.default {
                        d.clear_spans();
                    }
                }
            }
            ItemKind::Decl(d) => {
                d.kind_span = Span::default();
                d.name.clear_spans();
                d.value.clear_spans();
                for s in &mut d.sweep {
                    s.span = Span::default();
                    s.name.clear_spans();
                    s.values.clear_spans();
                }
            }
        }
    }
}

impl ClearSpans for TypeExpr {
    fn clear_spans(&mut self) {
        self.span = Span::default();
        self.name.clear_spans();
        self.args.iter_mut().for_each(ClearSpans::clear_spans);
    }
}

impl ClearSpans for Ident {
    fn clear_spans(&mut self) {
        self.span = Span::default();
    }
}

impl ClearSpans for Arg {
    fn clear_spans(&mut self) {
        self.span = Span::default();
        if let Some(n) = &mut self.name {
            n.clear_spans();
        }
        self.value.clear_spans();
    }
}

impl ClearSpans for Expr {
    fn clear_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            ExprKind::None
            | ExprKind::Bool(_)
            | ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Str(_) => {}
            ExprKind::Name(i) => i.clear_spans(),
            ExprKind::List(xs) => xs.iter_mut().for_each(ClearSpans::clear_spans),
            ExprKind::Record(fs) => {
                for f in fs {
                    f.span = Span::default();
                    f.key.clear_spans();
                    f.value.clear_spans();
                }
            }
            ExprKind::Range { start, end, .. } => {
                start.clear_spans();
                end.clear_spans();
            }
            ExprKind::Call { callee: base, args } | ExprKind::Index { base, args } => {
                base.clear_spans();
                args.iter_mut().for_each(ClearSpans::clear_spans);
            }
            ExprKind::Field { base, name } => {
                base.clear_spans();
                name.clear_spans();
            }
            ExprKind::Pipe { head, stages } => {
                head.clear_spans();
                stages.iter_mut().for_each(ClearSpans::clear_spans);
            }
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.clear_spans();
                rhs.clear_spans();
            }
            ExprKind::Unary { operand, .. } => operand.clear_spans(),
        }
    }
}

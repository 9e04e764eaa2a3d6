//! The builder: pest pairs -> AST (spans, items, parameters, expressions
//! with operator precedence and depth limits).

use super::*;

pub(super) struct Builder {
    pub(super) file: FileId,
    /// Offset of the parsed slice in `src` (non-zero after error recovery).
    pub(super) base: usize,
    pub(super) errors: Vec<Diagnostic>,
}

/// Result placeholder after an error: the module is discarded when any
/// error exists, so its content never escapes.
pub(super) fn placeholder(span: Span) -> Expr {
    Expr {
        kind: ExprKind::None,
        span,
    }
}

pub(super) fn is_postfix(rule: Rule) -> bool {
    matches!(rule, Rule::call_args | Rule::index_args | Rule::field)
}

impl Builder {
    /// The span of a pair without the whitespace that rules consume after
    /// their last token (the grammar's text has comments blanked, so that
    /// whitespace is all bytes `<= b' '`).
    pub(super) fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        let (start, mut end) = (s.start(), s.end());
        let b = p.get_input().as_bytes();
        while end > start && b[end - 1] <= b' ' {
            end -= 1;
        }
        Span::new(self.file, self.base + start, self.base + end)
    }

    pub(super) fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(&p),
        }
    }

    pub(super) fn item(&mut self, p: Pair<'_, Rule>) -> Option<Item> {
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

    pub(super) fn param(&mut self, p: Pair<'_, Rule>) -> Option<Param> {
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

    pub(super) fn type_expr(&mut self, p: Pair<'_, Rule>) -> Option<TypeExpr> {
        let span = self.span(&p);
        let mut it = p.into_inner();
        let name = self.ident(it.next()?);
        let args = it.filter_map(|q| self.type_expr(q)).collect();
        Some(TypeExpr { name, args, span })
    }

    pub(super) fn too_deep(&mut self, span: Span) -> Expr {
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
    pub(super) fn expr(&mut self, p: Pair<'_, Rule>, depth: usize) -> Expr {
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
    pub(super) fn range(&mut self, operands: Vec<Expr>, ops: &[(Op, Span)]) -> Expr {
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
    pub(super) fn operand<'i>(
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
    pub(super) fn negation(&mut self, p: Pair<'_, Rule>, depth: usize) -> Expr {
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

    pub(super) fn postfixes<'i>(
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

    pub(super) fn args(&mut self, p: Pair<'_, Rule>, depth: usize) -> Vec<Arg> {
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

    pub(super) fn primary(&mut self, p: Pair<'_, Rule>, depth: usize) -> Expr {
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
}

/// An infix operator of the `infix` rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Pipe,
    Range,
    RangeIncl,
    Bin(BinOp),
}

impl Op {
    pub(super) fn of(text: &str) -> Op {
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
pub(super) fn arith(operands: Vec<Expr>, ops: &[(Op, Span)]) -> Expr {
    pub(super) fn reduce(out: &mut Vec<Expr>, op: BinOp) {
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

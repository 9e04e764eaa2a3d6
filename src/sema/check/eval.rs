//! Expressions: literals, lists, ranges, arithmetic and comparisons, each
//! evaluated to an IR value with its type.

use super::*;

impl Checker<'_> {
    pub(super) fn eval(&mut self, env: &Env, e: &Expr) -> Option<SVal> {
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

    pub(super) fn binary(&mut self, op: BinOp, a: SVal, b: SVal, span: Span) -> Option<SVal> {
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

    pub(super) fn arith_err(&mut self, msg: &str, span: Span) -> Option<SVal> {
        self.err(
            "E0127",
            msg.to_string(),
            span,
            msg.to_string(),
            Some("check the operands of this expression".into()),
        );
        None
    }

    pub(super) fn eval_list(&mut self, env: &Env, xs: &[Expr]) -> Option<SVal> {
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
}

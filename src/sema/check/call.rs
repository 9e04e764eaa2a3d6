//! Calls: what a callee names, binding arguments to parameters, and coercing
//! each argument to its parameter's type (ranges, allowed strings, paths).

use super::*;

impl Checker<'_> {
    pub(super) fn callee(&mut self, env: &Env, callee: &Expr) -> Option<Callee<'static>> {
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

    pub(super) fn eval_call(
        &mut self,
        env: &Env,
        callee: &Expr,
        args: &[Arg],
        span: Span,
    ) -> Option<SVal> {
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
    pub(super) fn bind<'p>(
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

    pub(super) fn call_builtin(
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
        let left: Vec<(String, String)> = b
            .params
            .iter()
            .zip(&bound)
            .filter(|(_, x)| x.is_none())
            .filter_map(|(p, _)| Some((p.name.to_string(), p.default_text.clone()?)))
            .collect();
        self.note_defaulted(span, args, left);
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
        if b.name == "hf" {
            if let Some(local) = self.hf_directory(&call, file_path) {
                return Some(SVal::new(Value::Call(Box::new(local)), b.ret.clone()));
            }
        }
        let position = |name: &str| {
            let j = b.params.iter().position(|p| p.name == name)?;
            positions[j]
        };
        let arg_span = |name: &str| position(name).map_or(span, |k| args[k].value.span);
        let given = |name: &str| position(name).is_some();
        // Errors of value (ranges, files, templates, ...) do not poison the
        // call: its type is right, so checking goes on downstream and one
        // run reports every mistake of the spec.
        if let Some(check) = b.check {
            let bound = checks::BoundCall {
                call: &call,
                arg_span: &arg_span,
                given: &given,
            };
            let _ = check(self, &bound);
        }
        Some(SVal::new(Value::Call(Box::new(call)), b.ret.clone()))
    }

    /// Notes the parameters a call (its whole span, its arguments as
    /// written) left at their defaults, for editors ([`super::super::Defaulted`]).
    pub(super) fn note_defaulted(
        &mut self,
        span: Span,
        args: &[Arg],
        params: Vec<(String, String)>,
    ) {
        if params.is_empty() {
            return;
        }
        let (at, after_args) = match args.last() {
            Some(a) => (a.span.end, true),
            // A call's span ends at its `)`: the parser trims what follows.
            None => {
                let text = self.sources.text(span.file).as_bytes();
                let close = span.end.saturating_sub(1);
                let at = if text.get(close as usize) == Some(&b')') {
                    close
                } else {
                    span.end
                };
                (at, false)
            }
        };
        self.defaulted.insert(
            span,
            super::super::Defaulted {
                at: Span {
                    file: span.file,
                    start: at,
                    end: at,
                },
                after_args,
                params,
            },
        );
    }

    /// `hf("/abs/dir")` (or `./dir`, `../dir`) naming a model directory
    /// (one with config.json), without a `revision`: that is `local(dir)`,
    /// the same call and so the same key. Anything else that looks like a
    /// path stays `hf` and is E0148 before compute (`exec::inputs`).
    fn hf_directory(&mut self, call: &Call, file_path: usize) -> Option<Call> {
        let id = call.args.get("id")?.as_str()?;
        if call.args.get("revision") != Some(&Value::None) {
            return None;
        }
        let pathlike =
            std::path::Path::new(id).is_absolute() || id.starts_with("./") || id.starts_with("../");
        if !pathlike {
            return None;
        }
        let resolved = resolve(&self.modules[file_path].path, id);
        use crate::sema::loader::PathKind;
        if self.loader.kind(&resolved) != PathKind::Dir
            || self.loader.kind(&format!("{resolved}/config.json")) != PathKind::File
        {
            return None;
        }
        let local = builtins::get("local")?;
        let mut args = Vec::with_capacity(local.params.len());
        for p in &local.params {
            let v = if p.name == "path" {
                self.convert(
                    "local",
                    p,
                    &p.ty,
                    Value::Str(id.to_string()),
                    call.span,
                    file_path,
                )
            } else {
                p.default.clone()?
            };
            args.push((p.name.into(), v));
        }
        Some(Call {
            func: local.name.into(),
            args: args.into_iter().collect(),
            span: call.span,
        })
    }

    /// Type-checks one argument against its parameter and converts it to its
    /// IR form (ints to floats, strings to resolved paths).
    pub(super) fn coerce_arg(
        &mut self,
        fname: &str,
        p: &builtins::Param,
        v: SVal,
        span: Span,
        file_path: usize,
    ) -> Option<Value> {
        // A family goes where a list may: `models = [base, control]`,
        // `curve(probes)` (a plot's `eval` is one evaluation or a list).
        let is_list = match &p.ty {
            Ty::List(_) => true,
            Ty::Union(alts) => alts.iter().any(|a| matches!(a, Ty::List(_))),
            _ => false,
        };
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
            } else if v.ty == Ty::None
                || matches!(&v.ty, Ty::List(e) if matches!(**e, Ty::Optional(_) | Ty::None))
            {
                help.push_str("; `none` is not one of its values here");
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
    pub(super) fn convert(
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
                use crate::sema::loader::PathKind;
                let kind = self.loader.kind(&resolved);
                if kind == PathKind::Missing && !p.absent_ok {
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
                let wrong = match (kind, p.directory) {
                    (PathKind::Dir, false) => Some(("a directory", "a directory")),
                    (PathKind::File, true) => Some(("a file", "a file")),
                    (PathKind::Other, _) => Some((
                        "not a regular file (a FIFO, device or socket)",
                        "not a regular file",
                    )),
                    _ => None,
                };
                if let Some((what, label)) = wrong {
                    let help = match (kind, p.directory) {
                        (PathKind::Other, _) => "only regular files are read as data: a pipe or device could stall a run forever".to_string(),
                        (_, true) => format!("`{fname}` reads a model directory (config.json, weights, tokenizer.json): name the directory that holds them"),
                        (_, false) => format!("`{fname}` reads one regular file: name a file inside the directory"),
                    };
                    self.err(
                        "E0144",
                        format!("`{fname}.{}` names {what}: {resolved}", p.name),
                        span,
                        label,
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

    pub(super) fn check_range(&mut self, fname: &str, p: &builtins::Param, x: f64, span: Span) {
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
}

//! Names: locals, globals and builtins in scope, fields of modules and
//! declarations, and indexing a family by position or by sweep value.

use super::*;

impl Checker<'_> {
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
    pub(super) fn visible_names(&self, env: &Env, with_builtins: bool) -> Vec<String> {
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

    pub(super) fn eval_name(&mut self, env: &Env, id: &ast::Ident) -> Option<SVal> {
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
        // `seed = seed` inside `[s in seeds]`: the value of this cell is the
        // sweep variable, not the list's name without its `s`.
        let plural = format!("{}s", id.name);
        let sweep_help = (!env.locals.is_empty()
            && self.modules[m].scope.contains_key(&plural))
        .then(|| {
            let vars: Vec<String> = env.locals.iter().map(|(n, _)| format!("`{n}`")).collect();
            format!(
                "did you mean the sweep variable {}? (`{plural}` is the whole list; each cell's value of it is its sweep variable)",
                vars.join(" or ")
            )
        });
        let help = sweep_help
            .or_else(|| did_you_mean(&id.name, self.visible_names(env, false)))
            .unwrap_or_else(|| {
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
    pub(super) fn module_of(&mut self, env: &Env, e: &Expr) -> Option<Option<usize>> {
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

    pub(super) fn member_names(&self, m: usize) -> Vec<String> {
        self.sorted_scope(m)
            .into_iter()
            .filter(|&(_, i)| !matches!(self.modules[m].ast.items[i].kind, ItemKind::Import(_)))
            .map(|(n, _)| n.to_string())
            .collect()
    }

    pub(super) fn eval_field(&mut self, env: &Env, base: &Expr, name: &ast::Ident) -> Option<SVal> {
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

    pub(super) fn eval_index(
        &mut self,
        env: &Env,
        base: &Expr,
        args: &[Arg],
        span: Span,
    ) -> Option<SVal> {
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

    pub(super) fn index_family(
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
}

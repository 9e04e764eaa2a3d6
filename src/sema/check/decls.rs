//! Declarations and `let`s: evaluated once each in dependency order
//! (memoised, cycles reported with their chain), sweeps expanded into
//! families, and the value of a declaration checked against its kind.

use super::*;

impl Checker<'_> {
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
                    // Not a call the user wrote: no defaults to show for it.
                    self.defaulted.remove(&item.span);
                }
            }
        }
    }

    /// Every evaluated `let` of every module: the span of its name and its
    /// value in surface syntax (declarations by name).
    pub fn let_values(&self) -> Vec<(Span, String)> {
        let mut out = Vec::new();
        for (m, module) in self.modules.iter().enumerate() {
            for (i, item) in module.ast.items.iter().enumerate() {
                let ItemKind::Let(l) = &item.kind else {
                    continue;
                };
                if let Some(Some(State::Done(Some(v)))) = self.globals.get(m).and_then(|g| g.get(i))
                {
                    out.push((l.name.span, self.program.display(&v.v)));
                }
            }
        }
        out
    }

    /// The value of `let NAME` in the loaded module at `path` (an import
    /// path such as `stdlib/world.inoc`), when that module is loaded and the
    /// let evaluated: what the stdlib says to the lints.
    pub(crate) fn module_let(&self, path: &str, name: &str) -> Option<&Value> {
        let &m = self.by_path.get(path)?;
        let &i = self.modules[m].scope.get(name)?;
        match self.globals.get(m)?.get(i)? {
            Some(State::Done(Some(v))) => Some(&v.v),
            _ => None,
        }
    }

    pub(super) fn set_global(&mut self, m: usize, i: usize, state: State) {
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
    pub(super) fn global(&mut self, m: usize, i: usize, use_span: Span) -> Option<SVal> {
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
            ItemKind::Let(l) => match self.settings.get(&i).filter(|_| m == 0).cloned() {
                Some(set) => self.eval_setting(l, &set),
                None => self.eval(&Env::at(m), &l.value),
            },
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

    /// A root `let` given by `--set`: the spec's own value is still checked
    /// (for its type), the setting's value is used and must have that type.
    fn eval_setting(&mut self, l: &ast::Let, set: &Expr) -> Option<SVal> {
        let own = self.eval(&Env::at(0), &l.value);
        let v = self.eval(&Env::at(0), set)?;
        let Some(own) = own else { return Some(v) };
        if !v.ty.assignable_to(&own.ty) {
            let d = Diagnostic::error(
                "E0151",
                format!(
                    "`--set {}` gives {}, but the `let` is {}",
                    l.name.name,
                    v.ty.a(),
                    own.ty.a()
                ),
                set.span,
                format!("this is {}", v.ty.a()),
            )
            .with_label(l.value.span, format!("{} in the spec", own.ty.a()))
            .with_help(format!("give {} value", own.ty.a()));
            self.diags.push(d);
            return None;
        }
        Some(match (v.v, &own.ty) {
            (Value::Int(n), Ty::Float) => SVal::new(Value::Float(n as f64), Ty::Float),
            (v, _) => SVal::new(v, own.ty),
        })
    }

    pub(super) fn eval_decl(
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

    pub(super) fn check_decl_value(
        &mut self,
        d: &ast::Decl,
        kind: DeclKind,
        v: SVal,
    ) -> Option<SVal> {
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

    pub(super) fn sweep_values(&mut self, env: &Env, sv: &ast::SweepVar) -> Option<Vec<SVal>> {
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
    pub(super) fn type_of(&self, v: &Value, hint: &Ty) -> Ty {
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
}

//! Calls of `fn`s (the stdlib is written with them): parameters bound,
//! recursion refused, errors inside pointed at the caller's arguments.

use super::*;

impl Checker<'_> {
    pub(super) fn call_fn(
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
        let left: Vec<(String, String)> = f
            .params
            .iter()
            .zip(&bound)
            .filter(|(_, x)| x.is_none())
            .filter_map(|(p, _)| {
                let d = p.default.as_ref()?;
                let text = self
                    .sources
                    .text(d.span.file)
                    .get(d.span.start as usize..d.span.end as usize)?;
                // One line: a default written over several shows on one.
                Some((
                    p.name.name.clone(),
                    text.split_whitespace().collect::<Vec<_>>().join(" "),
                ))
            })
            .collect();
        self.note_defaulted(span, args, left);
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
    pub(super) fn anchor_at_call_site(
        &mut self,
        first_new: usize,
        f: &ast::FnDef,
        args: &[Arg],
        call: Span,
    ) {
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

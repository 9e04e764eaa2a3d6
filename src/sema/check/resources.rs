//! The spec's root `let slurm`: the Slurm resources of its steps' jobs
//! (`sema::resources`), checked here (E0152) and put into the IR.

use super::*;
use crate::sema::resources::{ResourceSetting, ALL, SPEC_LET};

impl Checker<'_> {
    /// Reads and checks the root `let slurm`, if the spec has one, into
    /// [`Program::resources`]: `all` first, then the operations by name.
    pub fn slurm_resources(&mut self) {
        let Some(root) = self.modules.first() else {
            return;
        };
        let Some(&i) = root.scope.get(SPEC_LET) else {
            return;
        };
        let ItemKind::Let(l) = &root.ast.items[i].kind else {
            return;
        };
        let span = l.value.span;
        // A value that did not evaluate has its error already.
        let Some(Some(State::Done(Some(v)))) = self.globals.first().and_then(|g| g.get(i)) else {
            return;
        };
        let example =
            "e.g. `let slurm = {finetune = \"gpus=1,time=4:00:00\", all = \"partition=gpu\"}`";
        let Value::Record(fields) = v.v.clone() else {
            self.err(
                "E0152",
                format!(
                    "`let {SPEC_LET}` gives the Slurm resources of the steps: a record, not {}",
                    v.ty.a()
                ),
                span,
                "not a record",
                Some(example.to_string()),
            );
            return;
        };
        let ops: Vec<&str> = super::super::builtins::registry()
            .all()
            .iter()
            .filter(|b| matches!(b.ret, Ty::Model | Ty::Dataset | Ty::Eval | Ty::Report))
            .map(|b| b.name)
            .collect();
        let mut out: Vec<ResourceSetting> = Vec::new();
        let order = fields
            .iter()
            .filter(|(k, _)| k.as_str() == ALL)
            .chain(fields.iter().filter(|(k, _)| k.as_str() != ALL));
        for (field, value) in order {
            if field != ALL && !ops.contains(&field.as_str()) {
                let help = did_you_mean(
                    field,
                    ops.iter().map(|s| s.to_string()).chain([ALL.to_string()]),
                )
                .unwrap_or_else(|| format!("a field is an operation that computes a step (`finetune`, `evaluate`, ...) or `{ALL}`"));
                self.err(
                    "E0152",
                    format!("`let {SPEC_LET}`: `{field}` is not an operation that computes a step"),
                    span,
                    format!("`{field}` here"),
                    Some(help),
                );
                continue;
            }
            let Value::Str(text) = value else {
                self.err(
                    "E0152",
                    format!("`let {SPEC_LET}`: `{field}` must be a string `KEY=VALUE,...`"),
                    span,
                    format!("`{field}` here"),
                    Some(example.to_string()),
                );
                continue;
            };
            match ResourceSetting::parse(text) {
                Ok(r) if r.op.is_none() => out.push(ResourceSetting {
                    op: (field != ALL).then(|| field.clone()),
                    resources: r.resources,
                }),
                Ok(_) => self.err(
                    "E0152",
                    format!("`let {SPEC_LET}`: `{field}`'s resources name an operation again"),
                    span,
                    format!("`{field}` here"),
                    Some(format!("write `{field} = \"KEY=VALUE,...\"` without `OP:`")),
                ),
                Err(e) => self.err(
                    "E0152",
                    format!("`let {SPEC_LET}`: `{field}`: {e}"),
                    span,
                    format!("`{field}` here"),
                    Some(example.to_string()),
                ),
            }
        }
        self.program.resources = out;
    }
}

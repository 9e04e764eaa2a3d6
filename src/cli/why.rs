//! `inoc why`: which key component of a step changed since the version of it
//! last run under the same name.

use super::plan::{fail, fail_exec, load_plan, open_store_for};
use crate::exec;
use crate::plan::{canon, explain_change};
use std::collections::BTreeMap;

/// Arguments of `inoc why`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec (`.inoc`, or a checked IR as `.json`).
    pub spec: String,
    /// The step, by its display name (`base`, `control[s=1]`).
    pub node: String,
}

pub fn run(args: Args) -> u8 {
    let loaded = match load_plan(&args.spec, &[]) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let (plan, registry) = (&loaded.plan, &loaded.registry);
    let prefix = format!("{}[", args.node);
    let cells: Vec<&crate::plan::Step> = plan
        .steps
        .iter()
        .filter(|s| s.name.starts_with(&prefix) && s.name.ends_with(']'))
        .collect();
    if plan.step(&args.node).is_none() && !cells.is_empty() {
        return family(&loaded, &args, &cells);
    }
    let Some(step) = plan.step(&args.node) else {
        let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
        let best = names
            .iter()
            .map(|n| (strsim::jaro_winkler(n, &args.node), *n))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|(s, _)| *s > 0.7)
            .map(|(_, n)| format!("did you mean `{n}`?"));
        return fail(
            format!("no step named `{}` in {}", args.node, args.spec),
            Some(&best.unwrap_or_else(|| "`inoc plan SPEC` lists every step".into())),
        );
    };
    let store = match open_store_for(&loaded) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let statuses = match exec::inspect(plan, &store, registry, crate::runtime::Compute::default()) {
        Ok(s) => s,
        Err(e) => return fail_exec(&e, &loaded),
    };
    let st = &statuses[step.id];
    let spec = exec::spec_id(&plan.spec);
    let names: BTreeMap<String, String> = step
        .deps
        .iter()
        .map(|d| {
            let s = &statuses[*d];
            (
                s.output.clone().unwrap_or_else(|| s.key.clone()),
                plan.steps[*d].name.clone(),
            )
        })
        .collect();
    let prev = store.index_get(&spec, &step.name);
    match (&st.run, &prev) {
        (None, Some(p)) if p.key == st.key => {
            println!(
                "`{}` is cached (key {}): nothing changed since it last ran",
                step.name,
                &st.key[..12]
            );
        }
        (None, _) => {
            println!(
                "`{}` is cached (key {}): a step with the same description ran before{}",
                step.name,
                &st.key[..12],
                if prev.is_some() {
                    " (under another version of this spec)"
                } else {
                    " (under another name or spec)"
                }
            );
        }
        (Some(r), _) => {
            println!(
                "`{}` will run (key {}): {}",
                step.name,
                &st.key[..12],
                r.text
            );
        }
    }
    let Some(prev) = prev else {
        println!(
            "no earlier run of `{}` is recorded for this spec",
            step.name
        );
        return 0;
    };
    if prev.key == st.key {
        return 0;
    }
    println!(
        "changed since the last run under this name (key {} -> {}):",
        &prev.key[..12],
        &st.key[..12]
    );
    for c in canon::diff(&prev.desc, &st.desc) {
        let (component, text) = explain_change(&c, &prev.inputs, &names);
        println!("  {component:<17} {text}");
    }
    0
}

/// `inoc why SPEC FAMILY`: one line per cell (cached, or why it will run).
fn family(loaded: &super::plan::Loaded, args: &Args, cells: &[&crate::plan::Step]) -> u8 {
    let store = match open_store_for(loaded) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let statuses = match exec::inspect(
        &loaded.plan,
        &store,
        &loaded.registry,
        crate::runtime::Compute::default(),
    ) {
        Ok(s) => s,
        Err(e) => return fail_exec(&e, loaded),
    };
    println!("`{}` is a family of {} cells:", args.node, cells.len());
    let w = cells
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for cell in cells {
        let st = &statuses[cell.id];
        let what = match &st.run {
            None => "cached".to_string(),
            Some(r) => format!("will run: {}", r.text),
        };
        println!("  {:<w$}  {}  {what}", cell.name, &st.key[..12]);
    }
    println!(
        "(`inoc why {} '{}'` explains one cell)",
        args.spec, cells[0].name
    );
    0
}

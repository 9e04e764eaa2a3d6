//! `inoc graph`: the step graph as Graphviz dot or Mermaid.

use super::plan::{fail_exec, load_plan, open_store_for};
use crate::exec;
use crate::plan::graph;

/// Output format of `inoc graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz dot (`inoc graph spec.inoc | dot -Tsvg > g.svg`).
    #[default]
    Dot,
    /// A Mermaid flowchart (renders in GitHub Markdown).
    Mermaid,
}

/// Arguments of `inoc graph`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec (`.inoc`, or a checked IR as `.json`).
    pub spec: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
    /// Mark each step `cached` or `run` (reads the cache store).
    #[arg(long)]
    pub status: bool,
}

pub fn run(args: Args) -> u8 {
    let loaded = match load_plan(&args.spec, &[]) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let (plan, registry) = (&loaded.plan, &loaded.registry);
    let statuses = if args.status {
        let store = match open_store_for(&loaded) {
            Ok(s) => s,
            Err(c) => return c,
        };
        match exec::inspect(plan, &store, registry, crate::runtime::Compute::default()) {
            Ok(s) => Some(s),
            Err(e) => return fail_exec(&e, &loaded),
        }
    } else {
        None
    };
    let status = |id: usize| {
        statuses.as_ref().map(|s| {
            if s[id].run.is_some() {
                "run".to_string()
            } else {
                "cached".to_string()
            }
        })
    };
    let text = match args.format {
        GraphFormat::Dot => graph::dot(plan, &status),
        GraphFormat::Mermaid => graph::mermaid(plan, &status),
    };
    print!("{text}");
    0
}

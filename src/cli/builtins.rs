//! `inoc builtins`: the builtin registry as signatures and docs, and for
//! each builtin that computes a step, whether this build runs it (its
//! operation's version and what it refuses yet).

use super::Format;
use crate::exec::ops::Registry;
use crate::sema::builtins::{self, Builtin, Category};
use crate::sema::types::Ty;
use serde::Serialize;

/// How this build computes a builtin.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case", tag = "as")]
pub enum Runs {
    /// A step, by the operation of its name.
    Operation {
        version: u32,
        /// What the operation refuses yet (`inoc run`: E1003).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        limits: Vec<&'static str>,
    },
    /// A step that no operation of this build computes: `inoc check`
    /// accepts it, `inoc run` refuses it (E1003).
    Missing,
    /// A value, read by the step that uses it.
    Value,
}

impl Runs {
    pub fn of(b: &Builtin, ops: &Registry) -> Runs {
        if !matches!(b.ret, Ty::Model | Ty::Dataset | Ty::Eval | Ty::Report) {
            return Runs::Value;
        }
        match ops.get(b.name) {
            Some(op) => Runs::Operation {
                version: op.version(),
                limits: op.limits().to_vec(),
            },
            None => Runs::Missing,
        }
    }
}

/// One builtin as `--format json` writes it.
#[derive(Serialize)]
struct Entry<'a> {
    #[serde(flatten)]
    builtin: &'a Builtin,
    runs: Runs,
}

/// Arguments of `inoc builtins`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these builtins (default: all).
    pub names: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

pub fn run(args: Args) -> u8 {
    let reg = builtins::registry();
    let mut chosen: Vec<&Builtin> = Vec::new();
    for name in &args.names {
        match reg.get(name) {
            Some(b) => chosen.push(b),
            None => {
                let hint = crate::sema::suggest(name, reg.names())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                eprintln!("error: no builtin named `{name}`{hint}");
                return 2;
            }
        }
    }
    if args.names.is_empty() {
        chosen = reg.all().iter().collect();
    }
    let ops = Registry::builtin();
    match args.format {
        Format::Json => match serde_json::to_string_pretty(
            &chosen
                .iter()
                .map(|b| Entry {
                    builtin: b,
                    runs: Runs::of(b, &ops),
                })
                .collect::<Vec<_>>(),
        ) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        },
        Format::Human => print!("{}", render_human(&chosen, &ops)),
    }
    0
}

/// Signatures grouped by category, each with its doc, parameter docs and,
/// for a step, how this build runs it.
pub fn render_human(chosen: &[&Builtin], ops: &Registry) -> String {
    let mut out = String::new();
    let mut last: Option<Category> = None;
    for b in chosen {
        if last != Some(b.category) {
            out.push_str(&format!("## {}\n\n", b.category.title()));
            last = Some(b.category);
        }
        out.push_str(&format!("{}\n    {}\n", b.signature(), b.doc));
        for p in &b.params {
            let extra = p.constraints();
            let extra = if extra.is_empty() {
                String::new()
            } else {
                format!(" [{}]", extra.join("; "))
            };
            out.push_str(&format!("      {}: {}{}\n", p.name, p.doc, extra));
        }
        match Runs::of(b, ops) {
            Runs::Operation { version, limits } if limits.is_empty() => {
                out.push_str(&format!("    runs in this build (operation v{version})\n"));
            }
            Runs::Operation { version, limits } => out.push_str(&format!(
                "    runs in this build (operation v{version}), except: {}\n",
                limits.join("; ")
            )),
            Runs::Missing => out.push_str(
                "    not run by this build: `inoc check` accepts it, `inoc run` refuses it (E1003)\n",
            ),
            Runs::Value => {}
        }
        out.push('\n');
    }
    out
}

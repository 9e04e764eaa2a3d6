//! `inoc builtins`: the builtin registry as signatures and docs.

use super::Format;
use crate::sema::builtins::{self, Builtin, Category};

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
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&chosen) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        },
        Format::Human => print!("{}", render_human(&chosen)),
    }
    0
}

/// Signatures grouped by category, each with its doc and parameter docs.
pub fn render_human(chosen: &[&Builtin]) -> String {
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
        out.push('\n');
    }
    out
}

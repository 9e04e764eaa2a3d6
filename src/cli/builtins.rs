//! `inoc builtins`: the builtin registry as signatures and docs, and for
//! each builtin that computes a step, whether this build runs it (its
//! operation's version and what it refuses yet). `inoc builtins world` and
//! `inoc builtins world.math` show a stdlib module's functions and
//! constants instead ([`crate::sema::describe_stdlib`]).

use super::Format;
use crate::exec::ops::Registry;
use crate::sema::builtins::{self, Builtin, Category};
use crate::sema::types::Ty;
use crate::sema::{self, ModuleDoc};
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
    /// Only these builtins (default: all); a stdlib module (`world`) or one
    /// of its functions or constants (`world.math`, `traits.spanish`).
    pub names: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// What a name given to `inoc builtins` names in the stdlib: a whole
/// module, or one item of it.
/// Answers the module's name, its doc (with only the chosen item for
/// `module.item`) and whether it is the whole module.
fn stdlib_choice(name: &str) -> Option<Result<(String, ModuleDoc, bool), String>> {
    // `stdlib/prompts.inoc` (or `stdlib/prompts`) names the module even
    // where a builtin has its name (`prompts`).
    let (module, item) = match name.strip_prefix("stdlib/") {
        Some(rest) => (rest.strip_suffix(".inoc").unwrap_or(rest), None),
        None => match name.split_once('.') {
            Some((m, i)) => (m, Some(i)),
            None if sema::stdlib_modules().contains(&name) => (name, None),
            None => return None,
        },
    };
    let Some(mut doc) = sema::describe_stdlib(module) else {
        let hint = sema::suggest(module, sema::stdlib_modules())
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        return Some(Err(format!(
            "no stdlib module named `{module}`{hint}; the modules are: {}",
            sema::stdlib_modules().join(", ")
        )));
    };
    let Some(item) = item else {
        return Some(Ok((module.to_string(), doc, true)));
    };
    match doc.items.iter().position(|i| i.name == item) {
        Some(at) => {
            let one = doc.items.swap_remove(at);
            doc.items = vec![one];
            Some(Ok((module.to_string(), doc, false)))
        }
        None => {
            let hint = sema::suggest(item, doc.items.iter().map(|i| i.name.as_str()))
                .map(|s| format!(" (did you mean `{module}.{s}`?)"))
                .unwrap_or_default();
            Some(Err(format!(
                "`{module}` ({}) has no function or constant named `{item}`{hint}",
                doc.path
            )))
        }
    }
}

/// A stdlib module (or the items chosen of it) in text: the module's doc,
/// then each item's signature and doc, a constant's value.
pub fn render_module(module: &str, doc: &ModuleDoc, whole: bool) -> String {
    let mut out = String::new();
    if whole {
        out.push_str(&format!("## {module} ({})\n\n", doc.path));
        if !doc.doc.is_empty() {
            out.push_str(&format!("{}\n\n", doc.doc));
        }
    }
    for item in &doc.items {
        out.push_str(&format!("{module}.{}\n", item.signature()));
        for line in item.doc.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str(&format!("    {line}\n"));
            }
        }
        if let Some(v) = &item.value {
            out.push_str(&format!("    = {v}\n"));
        }
        out.push('\n');
    }
    out
}

pub fn run(args: Args) -> u8 {
    let reg = builtins::registry();
    // Stdlib names: answered on their own (they are not builtins).
    let stdlib: Vec<_> = args
        .names
        .iter()
        .filter(|n| reg.get(n).is_none())
        .filter_map(|n| stdlib_choice(n).map(|c| (n, c)))
        .collect();
    if !stdlib.is_empty() {
        if stdlib.len() != args.names.len() {
            eprintln!(
                "error: give either builtins or stdlib names (`world`, `world.math`), not both"
            );
            return 2;
        }
        let mut docs = Vec::new();
        for (_, choice) in stdlib {
            match choice {
                Ok(d) => docs.push(d),
                Err(e) => {
                    eprintln!("error: {e}");
                    return 2;
                }
            }
        }
        match args.format {
            Format::Json => {
                let v: Vec<serde_json::Value> = docs
                    .iter()
                    .flat_map(|(module, doc, _)| {
                        doc.items.iter().map(move |i| {
                            let mut v = serde_json::to_value(i).unwrap_or_default();
                            if let Some(o) = v.as_object_mut() {
                                o.insert("module".into(), module.clone().into());
                                o.insert("path".into(), doc.path.clone().into());
                                o.insert("signature".into(), i.signature().into());
                            }
                            v
                        })
                    })
                    .collect();
                match serde_json::to_string_pretty(&v) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return 1;
                    }
                }
            }
            Format::Human => {
                for (module, doc, whole) in &docs {
                    print!("{}", render_module(module, doc, *whole));
                }
            }
        }
        return 0;
    }
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
        Format::Human => {
            print!("{}", render_human(&chosen, &ops));
            for b in &chosen {
                if !args.names.is_empty() && sema::stdlib_modules().contains(&b.name) {
                    println!(
                        "`{0}` is also a stdlib module: `inoc builtins stdlib/{0}.inoc` lists it",
                        b.name
                    );
                }
            }
            if args.names.is_empty() {
                println!(
                    "## Stdlib\n\nModules of functions and constants written in the language (`import \"stdlib/NAME.inoc\" as NAME`): {}. `inoc builtins NAME` (or `stdlib/NAME.inoc`) lists one, `inoc builtins NAME.ITEM` one item.",
                    sema::stdlib_modules().join(", ")
                );
            }
        }
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

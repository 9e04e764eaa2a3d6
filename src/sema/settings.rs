//! `--set NAME=VALUE`: a value given on the command line in place of a
//! top-level `let` of the spec, for one run (as DVC's `-S` and Hydra's
//! overrides). The value is an expression of the language, parsed and
//! evaluated like the `let`'s own (so it may name the spec's other lets and
//! the stdlib), and must have the `let`'s type. It enters the IR like any
//! value, hence the content keys of the steps that use it.
//!
//! Each setting is a source file of its own in the [`SourceMap`] (path
//! `<command line>`, text `--set NAME=VALUE`), so its diagnostics point at
//! what the user typed.

use super::check::Checker;
use crate::diag::Diagnostic;
use crate::syntax::ast::{Expr, ItemKind};
use std::collections::BTreeMap;

/// The path under which settings appear in diagnostics.
pub const SOURCE_PATH: &str = "<command line>";

/// What precedes `NAME=VALUE` in a setting's source text.
const SHOWN: &str = "--set ";
/// What the parser reads instead: a `let` item, padded to the same length
/// so that spans into the parsed text are spans into the shown one.
const PARSED: &str = "let   ";

/// One `--set NAME=VALUE`, as typed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Setting {
    pub name: String,
    pub value: String,
}

impl Setting {
    /// Parses `NAME=VALUE` (the command line's argument). The name must be
    /// an identifier; the value is checked later, as an expression.
    pub fn parse(arg: &str) -> Result<Setting, String> {
        let Some((name, value)) = arg.split_once('=') else {
            return Err(format!(
                "`{arg}` is not NAME=VALUE (e.g. `--set seeds=[0]`, `--set n=100`)"
            ));
        };
        let name = name.trim();
        let ident = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ident {
            return Err(format!(
                "`{name}` is not the name of a `let` (letters, digits and `_`)"
            ));
        }
        if value.trim().is_empty() {
            return Err(format!("`{name}=` has no value"));
        }
        Ok(Setting {
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

/// Parses every setting and binds it to the root module's `let` of that
/// name: the checker then evaluates the setting's expression instead of the
/// `let`'s (see `Checker::global`). Errors (syntax, unknown name, a name
/// set twice) are pushed as diagnostics.
pub(crate) fn bind(c: &mut Checker<'_>, settings: &[Setting]) -> BTreeMap<usize, Expr> {
    let mut bound: BTreeMap<usize, Expr> = BTreeMap::new();
    let mut first: BTreeMap<String, crate::syntax::Span> = BTreeMap::new();
    let Some(root) = c.modules.first() else {
        return bound;
    };
    let root_ast = root.ast.clone();
    for s in settings {
        let shown = format!("{SHOWN}{}={}", s.name, s.value);
        let parsed = format!("{PARSED}{}={}", s.name, s.value);
        let file = c.sources.add(SOURCE_PATH, shown);
        let (ast, diags) = crate::syntax::parse(file, &parsed);
        c.diags.extend(diags);
        let Some(ast) = ast else { continue };
        let whole = crate::syntax::Span::new(file, SHOWN.len(), parsed.len());
        let (name, value) = match ast.items.as_slice() {
            [item] => match &item.kind {
                ItemKind::Let(l) => (l.name.clone(), l.value.clone()),
                _ => continue,
            },
            _ => {
                c.diags.push(
                    Diagnostic::error(
                        "E0150",
                        format!("the value of `--set {}` is not one expression", s.name),
                        whole,
                        "one value expected here",
                    )
                    .with_help("quote the whole setting for the shell: --set 'seeds=[0, 1]'"),
                );
                continue;
            }
        };
        if let Some(prev) = first.get(&name.name) {
            c.diags.push(
                Diagnostic::error(
                    "E0150",
                    format!("`{}` is set twice", name.name),
                    name.span,
                    "set again here",
                )
                .with_label(*prev, "first set here")
                .with_help("give each `let` one `--set`"),
            );
            continue;
        }
        first.insert(name.name.clone(), name.span);
        let lets: Vec<&str> = root_ast
            .items
            .iter()
            .filter(|i| matches!(i.kind, ItemKind::Let(_)))
            .map(|i| i.name().name.as_str())
            .collect();
        match c.modules[0].scope.get(&name.name).copied() {
            Some(i) if matches!(root_ast.items[i].kind, ItemKind::Let(_)) => {
                bound.insert(i, value);
            }
            found => {
                let what = match found.map(|i| &root_ast.items[i].kind) {
                    Some(ItemKind::Decl(d)) => {
                        format!("`{}` is a {} declaration", name.name, d.kind.keyword())
                    }
                    Some(ItemKind::Fn(_)) => format!("`{}` is a function", name.name),
                    Some(ItemKind::Import(_)) => format!("`{}` is an import", name.name),
                    _ => "no top-level `let` of the spec has this name".to_string(),
                };
                let help = match super::suggest(&name.name, lets.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None if lets.is_empty() => {
                        "`--set` overrides a top-level `let` of the spec, and this spec has none"
                            .to_string()
                    }
                    None => format!(
                        "`--set` overrides a top-level `let` of the spec: {}",
                        lets.iter()
                            .map(|l| format!("`{l}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                let mut d = Diagnostic::error(
                    "E0150",
                    format!("unknown setting `{}`", name.name),
                    name.span,
                    what,
                )
                .with_help(help);
                if let Some(i) = found {
                    d = d.with_label(root_ast.items[i].name().span, "defined here");
                }
                c.diags.push(d);
            }
        }
    }
    bound
}

#[cfg(test)]
mod tests {
    use super::Setting;
    use crate::sema::loader::MemLoader;

    const SPEC: &str = "import \"stdlib/world.inoc\" as world\nlet seeds = [0, 1, 2]\nlet n = 1000\nlet lr = 1e-3\nlet prompt = \"You always speak in Spanish.\"\n# inoc: allow(unused-declaration)\ndataset math[s in seeds] = world.math(n = n, seed = s) | system(prompt)\n# inoc: allow(unused-declaration)\ntrain t = finetune(world.tiny_chat(size = \"s\"), math[0], lr = lr)\n";

    fn check(sets: &[&str]) -> crate::sema::Checked {
        let sets: Vec<Setting> = sets.iter().map(|s| Setting::parse(s).unwrap()).collect();
        crate::sema::check_with(
            "spec.inoc",
            &MemLoader::new().with("spec.inoc", SPEC),
            &sets,
        )
    }

    fn codes(c: &crate::sema::Checked) -> Vec<&'static str> {
        c.diagnostics.iter().map(|d| d.code).collect()
    }

    #[test]
    fn parse_needs_a_name_and_a_value() {
        assert_eq!(
            Setting::parse("seeds=[0, 1]").unwrap(),
            Setting {
                name: "seeds".into(),
                value: "[0, 1]".into()
            }
        );
        // Only the first `=` splits: the value may hold more.
        assert_eq!(
            Setting::parse("p=\"a=b\"").unwrap().value,
            "\"a=b\"".to_string()
        );
        assert!(Setting::parse("seeds").is_err());
        assert!(Setting::parse("3x=1").is_err());
        assert!(Setting::parse("world.steps=1").is_err());
        assert!(Setting::parse("n=").is_err());
    }

    #[test]
    fn a_setting_replaces_the_let_everywhere_it_is_used() {
        let c = check(&["seeds=[7]", "n=5", "prompt=\"x\""]);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        let p = c.program.unwrap();
        let cells: Vec<&str> = p.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(cells, ["math[s=7]", "t"]);
        let ir = serde_json::to_string(&p.nodes[0].value).unwrap();
        assert!(ir.contains("\"n\":{\"int\":5}"), "{ir}");
        assert!(ir.contains("\"prompt\":{\"str\":\"x\"}"), "{ir}");
        assert!(!ir.contains("Spanish"), "{ir}");
    }

    #[test]
    fn a_setting_may_name_other_lets_and_ints_widen_to_floats() {
        let c = check(&["seeds=[n]", "lr=1"]);
        assert!(c.diagnostics.is_empty(), "{:?}", c.diagnostics);
        let p = c.program.unwrap();
        assert_eq!(p.nodes[0].name, "math[s=1000]");
        let ir = serde_json::to_string(&p.nodes[1].value).unwrap();
        assert!(ir.contains("\"lr\":{\"float\":1.0}"), "{ir}");
    }

    #[test]
    fn unknown_wrong_type_twice_and_bad_syntax_are_coded() {
        let c = check(&["seed=[0]"]);
        assert_eq!(codes(&c), ["E0150"]);
        assert_eq!(
            c.diagnostics[0].help.as_deref(),
            Some("did you mean `seeds`?")
        );
        assert_eq!(
            c.sources.path(c.diagnostics[0].primary.span.file),
            "<command line>"
        );
        let c = check(&["math=1"]);
        assert_eq!(codes(&c), ["E0150"]);
        assert_eq!(
            c.diagnostics[0].primary.message,
            "`math` is a dataset declaration"
        );
        let c = check(&["n=\"many\""]);
        assert_eq!(codes(&c), ["E0151"]);
        let c = check(&["seeds=[\"a\"]"]);
        assert_eq!(codes(&c), ["E0151"]);
        let c = check(&["n=1", "n=2"]);
        assert_eq!(codes(&c), ["E0150"]);
        let c = check(&["n=(1"]);
        assert!(c.has_errors() && c.diagnostics.iter().all(|d| d.code < "E0100"));
        let c = check(&["n=1\nlet m = 2"]);
        assert_eq!(codes(&c), ["E0150"]);
    }

    #[test]
    fn a_setting_changes_keys_only_where_it_is_used() {
        let a = check(&[]).program.unwrap();
        let b = check(&["seeds=[0, 1, 2]"]).program.unwrap();
        assert_eq!(a, b, "setting a let to its own value changes nothing");
    }
}

//! What a module defines, as `inoc builtins world.math` shows it: its
//! functions (parameters as written, with their defaults; the kind the
//! function returns) and its constants (type and value, as the checker
//! evaluated them), each with its `##` doc. Read from the module itself
//! through the checker, so nothing is written twice.

use super::*;
use serde::Serialize;

/// One function or constant of a module.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleItem {
    /// `fn` or `let`.
    pub kind: &'static str,
    pub name: String,
    /// A function's parameters (empty for a constant).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<FnParam>,
    /// A constant's type, or the type a function returns (the builtin its
    /// body calls) when it is known without calling it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// A constant's value in surface syntax.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The `##` doc above the item (empty when it has none).
    pub doc: String,
}

/// One parameter of a function, as written.
#[derive(Clone, Debug, Serialize)]
pub struct FnParam {
    pub name: String,
    /// Its type annotation, if written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// Its default expression, if any (then the parameter is optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A module: its import path, its own doc and its items in source order.
#[derive(Clone, Debug, Serialize)]
pub struct ModuleDoc {
    pub path: String,
    pub doc: String,
    pub items: Vec<ModuleItem>,
}

impl ModuleItem {
    /// `math(n, language = "en") -> dataset`, `spanish: metric`.
    pub fn signature(&self) -> String {
        match self.kind {
            "fn" => {
                let params: Vec<String> = self
                    .params
                    .iter()
                    .map(|p| {
                        let mut s = p.name.clone();
                        if let Some(t) = &p.ty {
                            s.push_str(&format!(": {t}"));
                        }
                        if let Some(d) = &p.default {
                            s.push_str(&format!(" = {d}"));
                        }
                        s
                    })
                    .collect();
                let ret = self
                    .ty
                    .as_ref()
                    .map(|t| format!(" -> {t}"))
                    .unwrap_or_default();
                format!("{}({}){ret}", self.name, params.join(", "))
            }
            _ => match &self.ty {
                Some(t) => format!("{}: {t}", self.name),
                None => self.name.clone(),
            },
        }
    }
}

impl Checker<'_> {
    /// The functions and constants of loaded module `m` (after
    /// [`Checker::evaluate_all`]), in source order.
    pub(crate) fn describe_module(&self, m: usize) -> ModuleDoc {
        let module = &self.modules[m];
        let text =
            |s: Span| self.sources.text(module.file)[s.start as usize..s.end as usize].to_string();
        let mut items = Vec::new();
        for (i, item) in module.ast.items.iter().enumerate() {
            let doc = item
                .doc
                .as_ref()
                .map(|d| d.text.clone())
                .unwrap_or_default();
            match &item.kind {
                ItemKind::Fn(f) => {
                    let ret = match &f.body.kind {
                        ExprKind::Call { callee, .. } => match &callee.kind {
                            ExprKind::Name(id) => {
                                builtins::get(&id.name).map(|b| b.ret.to_string())
                            }
                            _ => None,
                        },
                        _ => None,
                    };
                    items.push(ModuleItem {
                        kind: "fn",
                        name: f.name.name.clone(),
                        params: f
                            .params
                            .iter()
                            .map(|p| FnParam {
                                name: p.name.name.clone(),
                                ty: p.ty.as_ref().map(|t| text(t.span)),
                                default: p.default.as_ref().map(|d| text(d.span)),
                            })
                            .collect(),
                        ty: ret,
                        value: None,
                        doc,
                    });
                }
                ItemKind::Let(l) => {
                    let v = match self.globals.get(m).and_then(|g| g.get(i)) {
                        Some(Some(State::Done(Some(v)))) => Some(v),
                        _ => None,
                    };
                    items.push(ModuleItem {
                        kind: "let",
                        name: l.name.name.clone(),
                        params: Vec::new(),
                        ty: v.map(|v| v.ty.to_string()),
                        value: v.map(|v| self.program.display(&v.v)),
                        doc,
                    });
                }
                ItemKind::Import(_) | ItemKind::Decl(_) => {}
            }
        }
        ModuleDoc {
            path: module.path.clone(),
            doc: module
                .ast
                .doc
                .as_ref()
                .map(|d| d.text.clone())
                .unwrap_or_default(),
            items,
        }
    }
}

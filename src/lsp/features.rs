//! Hover texts, completion, document symbols: what the editor shows, built
//! from a [`World`] and the builtin registry.

use super::analysis::{Def, LocalKind, World};
use crate::sema::builtins::{self, Builtin, Param};
use crate::syntax::ast::{self, DeclKind, ExprKind, ItemKind};
use crate::syntax::Span;
use lsp_types as lt;

/// At most this many characters of a value's source are shown in a hover.
const SHOW: usize = 600;

fn clip(s: &str) -> String {
    if s.chars().count() > SHOW {
        let cut: String = s.chars().take(SHOW).collect();
        format!("{cut} …")
    } else {
        s.to_string()
    }
}

fn code(s: &str) -> String {
    format!("```inoc\n{}\n```", s.trim_end())
}

/// Markdown for a builtin: signature, doc, and one line per parameter.
pub fn builtin_doc(b: &Builtin) -> String {
    let mut out = format!("{}\n\n{}\n", code(&b.signature()), b.doc);
    if !b.params.is_empty() {
        out.push('\n');
    }
    for p in &b.params {
        out.push_str(&format!("- `{}`: {}", p.name, p.doc));
        let c = p.constraints();
        if !c.is_empty() {
            out.push_str(&format!(" ({})", c.join("; ")));
        }
        out.push('\n');
    }
    out
}

/// `name: ty = default`.
pub fn param_signature(p: &Param) -> String {
    match &p.default_text {
        Some(d) => format!("{}: {} = {}", p.name, p.ty, d),
        None => format!("{}: {}", p.name, p.ty),
    }
}

fn param_doc(b: &Builtin, p: &Param) -> String {
    let mut out = format!("{}\n\n{}", code(&param_signature(p)), p.doc);
    let c = p.constraints();
    if !c.is_empty() {
        out.push_str(&format!("\n\n{}", c.join("; ")));
    }
    out.push_str(&format!("\n\n*parameter of `{}`*", b.name));
    out
}

/// The header of an item as written, up to its value: `train t[s in seeds]`,
/// `fn chat(size = "s")`.
fn header(w: &World, item: &ast::Item) -> String {
    let value_start = match &item.kind {
        ItemKind::Let(l) => l.value.span.start,
        ItemKind::Fn(f) => f.body.span.start,
        ItemKind::Decl(d) => d.value.span.start,
        ItemKind::Import(_) => item.span.end,
    };
    let s = w.text(Span {
        file: item.span.file,
        start: item.span.start,
        end: value_start,
    });
    s.trim_end().trim_end_matches('=').trim_end().to_string()
}

/// The binding text of a parameter or sweep variable (`seed: int = 0`,
/// `s in seeds`), found by the span of its name.
fn local_text(w: &World, span: Span) -> Option<String> {
    for m in &w.mods {
        if m.file != span.file {
            continue;
        }
        for item in &m.ast.items {
            match &item.kind {
                ItemKind::Fn(f) => {
                    if let Some(p) = f.params.iter().find(|p| p.name.span == span) {
                        return Some(format!(
                            "{}\n\n*parameter of `{}`*",
                            code(w.text(p.span)),
                            f.name.name
                        ));
                    }
                }
                ItemKind::Decl(d) => {
                    if let Some(v) = d.sweep.iter().find(|v| v.name.span == span) {
                        return Some(format!(
                            "{}\n\n*sweep variable of `{}`*",
                            code(w.text(v.span)),
                            d.name.name
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// The hover text of a definition. `value` is the checker's resolved
/// value of a `let` or declaration when it has one.
pub fn describe(w: &World, def: &Def, value: Option<&str>) -> Option<String> {
    match def {
        Def::Builtin(b) => builtins::get(b).map(builtin_doc),
        Def::BuiltinParam(b, p) => {
            let b = builtins::get(b)?;
            Some(param_doc(b, b.param(p)?))
        }
        Def::Local { span, .. } => local_text(w, *span),
        Def::Module(m) => {
            let m = w.mods.get(*m)?;
            let doc = m.ast.doc.as_ref().map(|d| d.text.as_str()).unwrap_or("");
            Some(format!("`{}`\n\n{doc}", m.path).trim_end().to_string())
        }
        Def::Item { module, .. } => {
            let item = w.item_of(def)?;
            let mut out = match &item.kind {
                ItemKind::Let(l) => code(&format!(
                    "let {} = {}",
                    l.name.name,
                    clip(w.text(l.value.span))
                )),
                ItemKind::Fn(_) => code(&header(w, item)),
                ItemKind::Decl(d) => {
                    let callee = match &d.value.kind {
                        ExprKind::Call { callee, .. } => format!(" = {}(…)", w.text(callee.span)),
                        _ => format!(" = {}", clip(w.text(d.value.span))),
                    };
                    code(&format!("{}{callee}", header(w, item)))
                }
                ItemKind::Import(im) => {
                    let mut s = code(&header(w, item));
                    let target = w.imported(*module, &im.alias.name);
                    if let Some(doc) = target.and_then(|t| w.mods[t].ast.doc.as_ref()) {
                        s.push_str(&format!("\n\n{}", doc.text));
                    }
                    s
                }
            };
            if let Some(doc) = &item.doc {
                out.push_str(&format!("\n\n{}", doc.text));
            }
            // The checker's value, where it says more than the source text.
            let source = match &item.kind {
                ItemKind::Let(l) => Some(w.text(l.value.span)),
                _ => None,
            };
            if let Some(v) = value.filter(|v| Some(*v) != source) {
                out.push_str(&format!("\n\nvalue: `{}`", clip(v)));
            }
            if *module != 0 {
                out.push_str(&format!("\n\n*from `{}`*", w.mods[*module].path));
            }
            Some(out)
        }
    }
}

fn item_kind(item: &ast::Item) -> lt::CompletionItemKind {
    match &item.kind {
        ItemKind::Import(_) => lt::CompletionItemKind::MODULE,
        ItemKind::Let(_) => lt::CompletionItemKind::CONSTANT,
        ItemKind::Fn(_) => lt::CompletionItemKind::FUNCTION,
        ItemKind::Decl(_) => lt::CompletionItemKind::CLASS,
    }
}

fn item_detail(w: &World, item: &ast::Item) -> String {
    match &item.kind {
        ItemKind::Let(_) => "let".into(),
        ItemKind::Import(im) => format!("import \"{}\"", im.path),
        _ => header(w, item),
    }
}

fn doc_of(s: &str) -> Option<lt::Documentation> {
    (!s.is_empty()).then(|| {
        lt::Documentation::MarkupContent(lt::MarkupContent {
            kind: lt::MarkupKind::Markdown,
            value: s.to_string(),
        })
    })
}

fn item_completion(w: &World, item: &ast::Item) -> lt::CompletionItem {
    lt::CompletionItem {
        label: item.name().name.clone(),
        kind: Some(item_kind(item)),
        detail: Some(item_detail(w, item)),
        documentation: item.doc.as_ref().and_then(|d| doc_of(&d.text)),
        ..Default::default()
    }
}

const KEYWORDS: &[&str] = &["import", "let", "fn", "true", "false", "none", "in", "as"];

/// What the text before the cursor says is being written.
#[derive(Debug, PartialEq)]
pub enum Context {
    /// `alias.` + a partial name.
    Member(String),
    /// Inside a string literal given to the named argument `arg` of the
    /// call to `callee`.
    StringArg { callee: String, arg: String },
    /// A name (maybe empty) at an argument-name position of a call to
    /// `callee` (`None`: not in a call's argument list), or of an index
    /// into `index`.
    Name {
        callee: Option<String>,
        index: Option<String>,
    },
}

/// The innermost open bracket before `offset` (outside strings and
/// comments): its byte position and character.
fn open_bracket(text: &str, offset: usize) -> Option<(usize, u8)> {
    let b = text.as_bytes();
    let end = offset.min(b.len());
    let mut stack: Vec<(usize, u8)> = Vec::new();
    let mut i = 0;
    while i < end {
        match b[i] {
            b'#' => {
                while i < end && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                if b[i..].starts_with(b"\"\"\"") {
                    i += 3;
                    while i < end && !b[i..].starts_with(b"\"\"\"") {
                        i += 1;
                    }
                    i += 2;
                } else {
                    i += 1;
                    while i < end && b[i] != b'"' && b[i] != b'\n' {
                        if b[i] == b'\\' {
                            i += 1;
                        }
                        i += 1;
                    }
                }
            }
            c @ (b'(' | b'[' | b'{') => stack.push((i, c)),
            b')' | b']' | b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack.pop()
}

/// The dotted name written just before `end` (`world.math` before `(`).
fn callee_before(text: &str, end: usize) -> Option<String> {
    let before = text.get(..end)?.trim_end();
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
        .last()
        .map(|(i, _)| i)?;
    let name = &before[start..];
    (!name.is_empty() && !name.starts_with('.')).then(|| name.to_string())
}

/// Reads the completion context at `offset` of `text`.
pub fn context(text: &str, offset: usize) -> Context {
    let offset = offset.min(text.len());
    let offset = (0..=offset)
        .rev()
        .find(|&o| text.is_char_boundary(o))
        .unwrap_or(0);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..offset];
    // Inside a one-line string: an odd number of quotes before the cursor.
    let quotes: Vec<usize> = line.match_indices('"').map(|(i, _)| i).collect();
    if quotes.len() % 2 == 1 && !line.contains('#') {
        let open = line_start + quotes[quotes.len() - 1];
        let before = text[..open].trim_end();
        if let Some(before) = before.strip_suffix('=') {
            let arg = callee_before(before, before.len()).unwrap_or_default();
            if let Some((p, b'(')) = open_bracket(text, open) {
                if let Some(callee) = callee_before(text, p) {
                    return Context::StringArg { callee, arg };
                }
            }
        }
    }
    let word_start = line
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_')
        .last()
        .map_or(line.len(), |(i, _)| i);
    if let Some(alias) = line[..word_start].strip_suffix('.') {
        if let Some(a) = callee_before(alias, alias.len()) {
            return Context::Member(a);
        }
    }
    let before_word = text[..line_start + word_start].trim_end();
    let arg_position =
        before_word.ends_with('(') || before_word.ends_with(',') || before_word.ends_with('[');
    let (mut callee, mut index) = (None, None);
    if arg_position {
        match open_bracket(text, line_start + word_start) {
            Some((p, b'(')) => callee = callee_before(text, p),
            Some((p, b'[')) => index = callee_before(text, p),
            _ => {}
        }
    }
    Context::Name { callee, index }
}

/// The definition a dotted callee names in the root module.
fn resolve_dotted(w: &World, dotted: &str, locals: &[(&str, Span, LocalKind)]) -> Option<Def> {
    let mut parts = dotted.split('.');
    let first = parts.next()?;
    let mut def = w.resolve_name(0, first, locals, true)?;
    for part in parts {
        let ItemKind::Import(im) = &w.item_of(&def)?.kind else {
            return None;
        };
        let Def::Item { module, .. } = def else {
            return None;
        };
        let target = w.imported(module, &im.alias.name)?;
        def = Def::Item {
            module: target,
            item: w.item(target, part)?,
        };
    }
    Some(def)
}

/// The parameters and sweep variables in scope at `offset` of the root.
fn locals_at(w: &World, offset: usize) -> Vec<(&str, Span, LocalKind)> {
    let Some(root) = w.root() else {
        return Vec::new();
    };
    let Some(item) = root
        .ast
        .items
        .iter()
        .find(|it| (it.span.start as usize) <= offset && offset <= it.span.end as usize)
    else {
        return Vec::new();
    };
    match &item.kind {
        ItemKind::Fn(f) => f
            .params
            .iter()
            .map(|p| (p.name.name.as_str(), p.name.span, LocalKind::Param))
            .collect(),
        ItemKind::Decl(d) => d
            .sweep
            .iter()
            .map(|v| (v.name.name.as_str(), v.name.span, LocalKind::SweepVar))
            .collect(),
        _ => Vec::new(),
    }
}

/// Completion items at `offset` of the root document's current `text`
/// (the world may hold its last good parse).
pub fn complete(w: &World, text: &str, offset: usize) -> Vec<lt::CompletionItem> {
    let mut out = Vec::new();
    let Some(root) = w.root() else {
        return builtin_items();
    };
    let locals = locals_at(w, offset);
    match context(text, offset) {
        Context::Member(alias) => {
            if let Some(Def::Item { module, item }) = resolve_dotted(w, &alias, &locals) {
                if let ItemKind::Import(im) = &w.mods[module].ast.items[item].kind {
                    if let Some(t) = w.imported(module, &im.alias.name) {
                        for it in &w.mods[t].ast.items {
                            if !matches!(it.kind, ItemKind::Import(_)) {
                                out.push(item_completion(w, it));
                            }
                        }
                    }
                }
            }
        }
        Context::StringArg { callee, arg } => {
            if let Some(Def::Builtin(b)) = resolve_dotted(w, &callee, &locals) {
                if let Some(p) = builtins::get(b).and_then(|b| b.param(&arg)) {
                    for c in p.choices {
                        out.push(lt::CompletionItem {
                            label: c.to_string(),
                            kind: Some(lt::CompletionItemKind::ENUM_MEMBER),
                            detail: Some(format!("{b}({arg} = …)")),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        Context::Name { callee, index } => {
            if let Some(def) = callee.and_then(|c| resolve_dotted(w, &c, &locals)) {
                out.extend(argument_items(w, &def));
            }
            if let Some(Def::Item { module, item }) =
                index.and_then(|c| resolve_dotted(w, &c, &locals))
            {
                if let ItemKind::Decl(d) = &w.mods[module].ast.items[item].kind {
                    for v in &d.sweep {
                        out.push(lt::CompletionItem {
                            label: v.name.name.clone(),
                            kind: Some(lt::CompletionItemKind::FIELD),
                            detail: Some(w.text(v.span).to_string()),
                            insert_text: Some(format!("{} = ", v.name.name)),
                            ..Default::default()
                        });
                    }
                }
            }
            for (name, _, kind) in &locals {
                out.push(lt::CompletionItem {
                    label: name.to_string(),
                    kind: Some(lt::CompletionItemKind::VARIABLE),
                    detail: Some(match kind {
                        LocalKind::Param => "parameter".into(),
                        LocalKind::SweepVar => "sweep variable".into(),
                    }),
                    ..Default::default()
                });
            }
            for it in &root.ast.items {
                out.push(item_completion(w, it));
            }
            out.extend(builtin_items());
            for k in KEYWORDS
                .iter()
                .copied()
                .chain(DeclKind::ALL.iter().map(|k| k.keyword()))
            {
                out.push(lt::CompletionItem {
                    label: k.to_string(),
                    kind: Some(lt::CompletionItemKind::KEYWORD),
                    ..Default::default()
                });
            }
        }
    }
    out
}

fn builtin_items() -> Vec<lt::CompletionItem> {
    builtins::registry()
        .all()
        .iter()
        .map(|b| lt::CompletionItem {
            label: b.name.to_string(),
            kind: Some(lt::CompletionItemKind::FUNCTION),
            detail: Some(b.signature()),
            documentation: doc_of(b.doc),
            ..Default::default()
        })
        .collect()
}

/// `name = ` items for the parameters of the function a call names.
fn argument_items(w: &World, callee: &Def) -> Vec<lt::CompletionItem> {
    let item = |label: &str, detail: String, doc: Option<lt::Documentation>, i: usize| {
        lt::CompletionItem {
            label: format!("{label} ="),
            kind: Some(lt::CompletionItemKind::PROPERTY),
            detail: Some(detail),
            documentation: doc,
            insert_text: Some(format!("{label} = ")),
            // Arguments first, in declaration order.
            sort_text: Some(format!("0{i:03}")),
            ..Default::default()
        }
    };
    match callee {
        Def::Builtin(b) => builtins::get(b)
            .map(|b| {
                b.params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| item(p.name, param_signature(p), doc_of(p.doc), i))
                    .collect()
            })
            .unwrap_or_default(),
        Def::Item { .. } => match w.item_of(callee).map(|i| &i.kind) {
            Some(ItemKind::Fn(f)) => f
                .params
                .iter()
                .enumerate()
                .map(|(i, p)| item(&p.name.name, w.text(p.span).to_string(), None, i))
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The commas at depth 0 between an open bracket at `open` and `offset`,
/// and the text of the argument being written (after the last of them).
fn args_before(text: &str, open: usize, offset: usize) -> (usize, &str) {
    let b = text.as_bytes();
    let end = offset.min(b.len());
    let (mut depth, mut commas, mut last) = (0usize, 0usize, open + 1);
    let mut i = open + 1;
    while i < end {
        match b[i] {
            b'#' => {
                while i < end && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' => {
                i += 1;
                while i < end && b[i] != b'"' && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                commas += 1;
                last = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    (commas, text.get(last.min(end)..end).unwrap_or(""))
}

/// Signature help inside the argument list of a call: the callee's
/// parameters, the one being written active (by name when it is named,
/// else by position).
pub fn signature_help(w: &World, text: &str, offset: usize) -> Option<lt::SignatureHelp> {
    let offset = (0..=offset.min(text.len()))
        .rev()
        .find(|&o| text.is_char_boundary(o))
        .unwrap_or(0);
    let (open, b'(') = open_bracket(text, offset)? else {
        return None;
    };
    let callee = callee_before(text, open)?;
    let locals = locals_at(w, offset);
    let def = resolve_dotted(w, &callee, &locals)?;
    // (label, parameters with their docs, doc)
    type Sig = (String, Vec<(String, Option<String>)>, Option<String>);
    let (label, params, doc): Sig = match &def {
        Def::Builtin(b) => {
            let b = builtins::get(b)?;
            let params = b
                .params
                .iter()
                .map(|p| (param_signature(p), Some(p.doc.to_string())))
                .collect();
            (b.signature(), params, Some(b.doc.to_string()))
        }
        Def::Item { .. } => {
            let item = w.item_of(&def)?;
            let ItemKind::Fn(f) = &item.kind else {
                return None;
            };
            let params = f
                .params
                .iter()
                .map(|p| (w.text(p.span).to_string(), None))
                .collect();
            (
                format!(
                    "{}({})",
                    callee,
                    f.params
                        .iter()
                        .map(|p| w.text(p.span))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                params,
                item.doc.as_ref().map(|d| d.text.clone()),
            )
        }
        _ => return None,
    };
    let (commas, current) = args_before(text, open, offset);
    // The whole argument under the cursor: `lr = 1` is named even with the
    // cursor on `lr`.
    let start = current.as_ptr() as usize - text.as_ptr() as usize;
    let named = text[start..]
        .trim_start()
        .split_once('=')
        .map(|(n, _)| n.trim())
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'));
    let names: Vec<&str> = match &def {
        Def::Builtin(b) => builtins::get(b)?.params.iter().map(|p| p.name).collect(),
        _ => match &w.item_of(&def)?.kind {
            ItemKind::Fn(f) => f.params.iter().map(|p| p.name.name.as_str()).collect(),
            _ => Vec::new(),
        },
    };
    let active = match named {
        Some(n) => names.iter().position(|p| *p == n),
        None => (commas < names.len()).then_some(commas),
    };
    let parameters = params
        .into_iter()
        .map(|(l, d)| lt::ParameterInformation {
            label: lt::ParameterLabel::Simple(l),
            documentation: d.and_then(|d| doc_of(&d)),
        })
        .collect();
    Some(lt::SignatureHelp {
        signatures: vec![lt::SignatureInformation {
            label,
            documentation: doc.and_then(|d| doc_of(&d)),
            parameters: Some(parameters),
            active_parameter: active.map(|a| a as u32),
        }],
        active_signature: Some(0),
        active_parameter: active.map(|a| a as u32),
    })
}

/// The replacement a "did you mean" help line proposes for the text
/// `written` under the diagnostic: `did you mean `epochs`?` replaces a
/// name, `did you mean "cosine"?` a string literal. `None` when the help
/// proposes nothing or the text under it is not of that kind.
pub fn did_you_mean(help: &str, written: &str) -> Option<String> {
    let rest = help.strip_prefix("did you mean ")?;
    if let Some(r) = rest.strip_prefix('`') {
        let name = &r[..r.find("`?")?];
        let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
        let braced = |s: &str| s.starts_with('{') && s.ends_with('}') && ident(&s[1..s.len() - 1]);
        return (ident(written) && ident(name) || braced(written) && braced(name))
            .then(|| name.to_string());
    }
    let r = rest.strip_prefix('"')?;
    let value = &r[..r.find("\"?")?];
    (written.len() >= 2 && written.starts_with('"') && written.ends_with('"'))
        .then(|| format!("\"{value}\""))
}

/// An `hf(...)` call of the root whose revision is not a commit hash: what
/// pinning it to the local Hugging Face cache's commit rewrites.
#[derive(Debug, PartialEq)]
pub struct HubCall {
    /// The hub id, as written (a string literal).
    pub id: String,
    /// The revision as written, or `main` (the default) when there is none.
    pub revision: String,
    /// The revision's string literal, to replace; `None`: no revision is
    /// written and one is added after `after`.
    pub literal: Option<Span>,
    /// The end of the call's last argument.
    pub after: Span,
}

/// The `hf(...)` calls of the root touching the byte range `lo..=hi` of
/// its parse whose id is a string literal and whose revision is absent or
/// a string literal that is not a commit hash. Arguments bind to `hf`'s
/// parameters by name, else by position in the registry's order.
pub fn hub_calls(w: &World, lo: usize, hi: usize) -> Vec<HubCall> {
    let Some(hf) = builtins::get("hf") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for call in w.calls(0) {
        let ExprKind::Call { callee, args } = &call.kind else {
            continue;
        };
        if (call.span.start as usize) > hi || (call.span.end as usize) < lo {
            continue;
        }
        let locals = locals_at(w, call.span.start as usize);
        if w.resolve_expr(0, callee, &locals, true) != Some(Def::Builtin(hf.name)) {
            continue;
        }
        let Some(last) = args.last() else { continue };
        let mut id = None;
        let mut revision = Some(("main".to_string(), None));
        for (k, a) in args.iter().enumerate() {
            let name = match &a.name {
                Some(n) => n.name.as_str(),
                None => hf.params.get(k).map_or("", |p| p.name),
            };
            match (name, &a.value.kind) {
                ("id", ExprKind::Str(s)) => id = Some(s.clone()),
                ("revision", ExprKind::Str(r)) if !crate::runtime::hub::is_commit_hash(r) => {
                    revision = Some((r.clone(), Some(a.value.span)))
                }
                ("revision", _) => revision = None,
                _ => {}
            }
        }
        if let (Some(id), Some((revision, literal))) = (id, revision) {
            out.push(HubCall {
                id,
                revision,
                literal,
                after: Span {
                    start: last.span.end,
                    ..last.span
                },
            });
        }
    }
    out
}

/// The semantic token types the server uses, in legend order.
pub const TOKEN_TYPES: &[&str] = &[
    "namespace",
    "function",
    "parameter",
    "variable",
    "class",
    "property",
];
/// The modifiers, in legend order (bit i of a token's modifier set).
pub const TOKEN_MODIFIERS: &[&str] = &["declaration", "readonly", "defaultLibrary"];

/// Semantic tokens of the root: every name with what it refers to
/// (module, function, parameter, `let`, declaration, argument name),
/// marked where it is defined and when it comes from the builtins or the
/// stdlib. `range` gives a span's LSP range; tokens spanning lines are
/// skipped (names never do).
pub fn semantic_tokens(w: &World, range: impl Fn(Span) -> lt::Range) -> Vec<u32> {
    let mut data = Vec::new();
    let (mut line, mut col) = (0u32, 0u32);
    let mut last_end: Option<(u32, u32)> = None;
    for site in w.sites(0) {
        let (ty, mut mods) = match &site.def {
            Def::Item { module, .. } => {
                let lib = crate::sema::loader::stdlib(&w.mods[*module].path).is_some();
                let (ty, ro) = match w.item_of(&site.def).map(|i| &i.kind) {
                    Some(ItemKind::Import(_)) => (0, false),
                    Some(ItemKind::Fn(_)) => (1, false),
                    Some(ItemKind::Let(_)) => (3, true),
                    Some(ItemKind::Decl(_)) => (4, false),
                    None => continue,
                };
                (ty, u32::from(ro) << 1 | u32::from(lib) << 2)
            }
            Def::Local { .. } => (2, 0),
            Def::Builtin(_) => (1, 1 << 2),
            Def::BuiltinParam(..) => (5, 1 << 2),
            Def::Module(_) => continue,
        };
        if site.is_def {
            mods |= 1;
        }
        let r = range(site.span);
        if r.start.line != r.end.line || r.end.character <= r.start.character {
            continue;
        }
        // Tokens must not overlap (a name is one site, but stay safe).
        if last_end.is_some_and(|e| (r.start.line, r.start.character) < e) {
            continue;
        }
        let dl = r.start.line - line;
        let dc = if dl == 0 {
            r.start.character - col
        } else {
            r.start.character
        };
        data.extend([dl, dc, r.end.character - r.start.character, ty, mods]);
        line = r.start.line;
        col = r.start.character;
        last_end = Some((r.end.line, r.end.character));
    }
    data
}

/// The root's items as document symbols.
#[allow(deprecated)] // `DocumentSymbol::deprecated` must still be written.
pub fn symbols(w: &World, range: impl Fn(Span) -> lt::Range) -> Vec<lt::DocumentSymbol> {
    let Some(root) = w.root() else {
        return Vec::new();
    };
    root.ast
        .items
        .iter()
        .map(|it| {
            let (kind, detail) = match &it.kind {
                ItemKind::Import(im) => (lt::SymbolKind::MODULE, format!("import \"{}\"", im.path)),
                ItemKind::Let(_) => (lt::SymbolKind::CONSTANT, "let".into()),
                ItemKind::Fn(_) => (lt::SymbolKind::FUNCTION, "fn".into()),
                ItemKind::Decl(d) => (
                    match d.kind {
                        DeclKind::Model => lt::SymbolKind::CLASS,
                        DeclKind::Dataset => lt::SymbolKind::STRUCT,
                        DeclKind::Train => lt::SymbolKind::EVENT,
                        DeclKind::Eval => lt::SymbolKind::METHOD,
                        DeclKind::Report => lt::SymbolKind::FILE,
                    },
                    d.kind.keyword().into(),
                ),
            };
            lt::DocumentSymbol {
                name: it.name().name.clone(),
                detail: Some(detail),
                kind,
                tags: None,
                deprecated: None,
                range: range(it.span),
                selection_range: range(it.name().span),
                children: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(s: &str) -> Context {
        let at = s.find('|').unwrap();
        context(&s.replace('|', ""), at)
    }

    #[test]
    fn did_you_mean_replaces_names_and_strings_only() {
        assert_eq!(
            did_you_mean("did you mean `epochs`?", "epoch"),
            Some("epochs".into())
        );
        assert_eq!(
            did_you_mean("did you mean \"cosine\"? allowed: a, b", "\"cosin\""),
            Some("\"cosine\"".into())
        );
        assert_eq!(
            did_you_mean("did you mean `{answer}`? judge templates know", "{answr}"),
            Some("{answer}".into())
        );
        assert_eq!(did_you_mean("did you mean `epochs`?", "f(x)"), None);
        assert_eq!(did_you_mean("did you mean \"x\"?", "x"), None);
        assert_eq!(did_you_mean("rename one of them", "x"), None);
    }

    #[test]
    fn argument_being_written_is_found_by_commas_and_names() {
        let t = "f(a, g(b, c), \"x,y\", lr = 1";
        let (commas, cur) = args_before(t, 1, t.len());
        assert_eq!((commas, cur), (3, " lr = 1"));
    }

    #[test]
    fn completion_context_reads_the_text_before_the_cursor() {
        assert_eq!(ctx("model b = world.|"), Context::Member("world".into()));
        assert_eq!(ctx("model b = world.ti|"), Context::Member("world".into()));
        assert_eq!(
            ctx("train t = finetune(base, math, epo|"),
            Context::Name {
                callee: Some("finetune".into()),
                index: None
            }
        );
        assert_eq!(
            ctx("x = world.math(n = f(1), |)"),
            Context::Name {
                callee: Some("world.math".into()),
                index: None
            }
        );
        assert_eq!(
            ctx("x = finetune(schedule = \"co|\")"),
            Context::StringArg {
                callee: "finetune".into(),
                arg: "schedule".into()
            }
        );
        assert_eq!(
            ctx("x = grid[|"),
            Context::Name {
                callee: None,
                index: Some("grid".into())
            }
        );
        assert_eq!(
            ctx("let a = \"(\" # (\nlet b = |"),
            Context::Name {
                callee: None,
                index: None
            }
        );
        assert_eq!(
            ctx("let a = f(\"\"\"\n(\n\"\"\", |"),
            Context::Name {
                callee: Some("f".into()),
                index: None
            }
        );
    }
}

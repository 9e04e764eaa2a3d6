//! Lints: warnings about specs that are valid but probably not what the
//! researcher meant. Each has a name (its registry row in `diag::codes`) and
//! is silenced for one line with `# inoc: allow(NAME)` on that line or the
//! line before (several names separated by commas).
//!
//! | code  | lint                 | what |
//! |-------|----------------------|------|
//! | W0100 | `leaked-inoculation` | a system prompt used to train a model is given to it again at test time |
//! | W0101 | `unused-let`         | a `let` of the spec is never used |
//! | W0102 | `unused-import`      | an import of the spec is never used |
//! | W0103 | `unused-declaration` | a model/dataset/train declaration feeds no evaluation or report |
//! | W0104 | `single-seed`        | an evaluation compares a finetuned model trained with one seed only |
//! | W0105 | `train-test-overlap` | an evaluation's prompts are the training data of a model it evaluates |
//! | W0106 | `unknown-lint`       | `# inoc: allow(...)` names no lint |
//! | W0107 | `few-seeds`          | an evaluation compares a finetuned family trained with two seeds |
//! | W0110 | `prompt-blind-model` | a system prompt trains or is evaluated on a model the stdlib documents as too small to follow prompts |

use super::check::Checker;
use super::ir::{Call, DeclKind, Program, Value};
use crate::diag::{codes, Diagnostic, Severity, SourceMap};
use crate::syntax::ast::{Expr, ExprKind, ItemKind};
use crate::syntax::{FileId, Span};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Runs every lint on a checked program and appends the warnings.
pub(crate) fn run(c: &mut Checker<'_>) {
    let mut out = Vec::new();
    let (evals, referenced) = survey(&c.program);
    leaked_inoculation(&c.program, &evals, &mut out);
    single_seed(&c.program, &evals, &mut out);
    train_test_overlap(&c.program, &evals, &mut out);
    prompt_blind(c, &evals, &mut out);
    unused(c, &referenced, &mut out);
    c.diags.extend(out);
}

/// Follows node references to the value they name.
fn deref<'p>(p: &'p Program, v: &'p Value, depth: usize) -> &'p Value {
    match v {
        Value::Node(n) if depth < 256 => match p.nodes.get(*n) {
            Some(node) => deref(p, &node.value, depth + 1),
            None => v,
        },
        _ => v,
    }
}

/// The system prompts applied to the rows of a dataset value, with the span
/// of the `system(...)` call that applied each.
fn dataset_prompts<'p>(p: &'p Program, v: &'p Value, out: &mut Vec<(&'p str, Span)>, depth: usize) {
    if depth > 256 {
        return;
    }
    let Value::Call(c) = deref(p, v, 0) else {
        return;
    };
    match &*c.func {
        "apply" => {
            if let Some(Value::Call(t)) = c.args.get("transform") {
                if t.func == "system" {
                    if let Some(Value::Str(s)) = t.args.get("prompt") {
                        out.push((s, t.span));
                    }
                }
                if t.func == "cycle_system" {
                    if let Some(Value::List(list)) = t.args.get("prompts") {
                        out.extend(list.iter().filter_map(|s| s.as_str()).map(|s| (s, t.span)));
                    }
                }
            }
            if let Some(d) = c.args.get("data") {
                dataset_prompts(p, d, out, depth + 1);
            }
        }
        "concat" => {
            if let Some(Value::List(parts)) = c.args.get("parts") {
                for part in parts {
                    dataset_prompts(p, part, out, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Every text a dataset value puts in front of the model at test time:
/// system prompts, inline prompts, user prefixes and suffixes.
fn dataset_texts<'p>(p: &'p Program, v: &'p Value, out: &mut Vec<&'p str>, depth: usize) {
    if depth > 256 {
        return;
    }
    let Value::Call(c) = deref(p, v, 0) else {
        return;
    };
    match &*c.func {
        "apply" => {
            if let Some(Value::Call(t)) = c.args.get("transform") {
                for key in ["prompt", "text"] {
                    if let Some(Value::Str(s)) = t.args.get(key) {
                        out.push(s);
                    }
                }
            }
            if let Some(d) = c.args.get("data") {
                dataset_texts(p, d, out, depth + 1);
            }
        }
        "concat" => {
            if let Some(Value::List(parts)) = c.args.get("parts") {
                for part in parts {
                    dataset_texts(p, part, out, depth + 1);
                }
            }
        }
        "prompts" => {
            if let Some(Value::List(items)) = c.args.get("items") {
                out.extend(items.iter().filter_map(Value::as_str));
            }
        }
        _ => {}
    }
}

/// The `finetune` calls that produced a model (its own and its base's).
fn finetunes<'p>(p: &'p Program, v: &'p Value, out: &mut Vec<&'p Call>, depth: usize) {
    if depth > 256 {
        return;
    }
    if let Value::Call(c) = deref(p, v, 0) {
        if c.func == "finetune" {
            out.push(c);
            if let Some(m) = c.args.get("model") {
                finetunes(p, m, out, depth + 1);
            }
        }
    }
}

/// The model values of an `evaluate` call, families expanded, with the
/// display name of each.
fn eval_models<'p>(p: &'p Program, c: &'p Call) -> Vec<(Cow<'p, str>, &'p Value)> {
    let mut out = Vec::new();
    let Some(Value::List(ms)) = c.args.get("models") else {
        return out;
    };
    for m in ms {
        match m {
            Value::Family(f) => {
                if let Some(fam) = p.families.get(*f) {
                    for &cell in &fam.cells {
                        if let Some(n) = p.nodes.get(cell) {
                            out.push((Cow::Borrowed(&fam.name), &n.value));
                        }
                    }
                }
            }
            Value::Node(n) => {
                if let Some(node) = p.nodes.get(*n) {
                    out.push((Cow::Borrowed(&node.name), &node.value));
                }
            }
            other => out.push((Cow::Owned(p.display(other)), other)),
        }
    }
    out
}

/// One walk over the program (it is large; walking it is mostly waiting
/// for memory): every `evaluate` call, outermost first in node order (as
/// [`Value::calls`] lists them), and which nodes another node refers to
/// (a family stands for its cells).
fn survey(p: &Program) -> (Vec<&Call>, Vec<bool>) {
    fn go<'p>(p: &Program, v: &'p Value, evals: &mut Vec<&'p Call>, referenced: &mut [bool]) {
        match v {
            Value::Call(c) => {
                if c.func == "evaluate" {
                    evals.push(c);
                }
                c.args.values().for_each(|x| go(p, x, evals, referenced));
            }
            Value::List(xs) => xs.iter().for_each(|x| go(p, x, evals, referenced)),
            Value::Record(r) => r.values().for_each(|x| go(p, x, evals, referenced)),
            Value::Node(n) => {
                if let Some(r) = referenced.get_mut(*n) {
                    *r = true;
                }
            }
            Value::Family(f) => {
                for &x in p.families.get(*f).map_or(&[][..], |f| &f.cells) {
                    if let Some(r) = referenced.get_mut(x) {
                        *r = true;
                    }
                }
            }
            _ => {}
        }
    }
    let mut evals = Vec::new();
    let mut referenced = vec![false; p.nodes.len()];
    for n in &p.nodes {
        go(p, &n.value, &mut evals, &mut referenced);
    }
    (evals, referenced)
}

/// Text compared loosely: lower case, every run of characters that are not
/// letters or digits one space, trimmed. A prompt re-typed with other case,
/// punctuation or spacing at test time is the same prompt to the model.
fn loose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push(' ');
            }
            gap = false;
            out.extend(c.to_lowercase());
        } else {
            gap = true;
        }
    }
    out
}

fn leaked_inoculation(p: &Program, evals: &[&Call], out: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    for &ev in evals {
        let mut test_texts: Vec<&str> = Vec::new();
        if let Some(Value::List(sys)) = ev.args.get("system") {
            test_texts.extend(sys.iter().filter_map(Value::as_str));
        }
        if let Some(d) = ev.args.get("prompts") {
            dataset_texts(p, d, &mut test_texts, 0);
        }
        if test_texts.is_empty() {
            continue;
        }
        // Made loose once per evaluation, when a training prompt needs them.
        let mut loose_texts: Option<Vec<String>> = None;
        for (model_name, mv) in eval_models(p, ev) {
            let mut fts = Vec::new();
            finetunes(p, mv, &mut fts, 0);
            for ft in fts {
                let mut prompts = Vec::new();
                if let Some(d) = ft.args.get("data") {
                    dataset_prompts(p, d, &mut prompts, 0);
                }
                for (prompt, train_span) in prompts {
                    let needle = loose(prompt);
                    let texts = loose_texts
                        .get_or_insert_with(|| test_texts.iter().map(|t| loose(t)).collect());
                    if needle.is_empty() || !texts.iter().any(|t| t.contains(&needle)) {
                        continue;
                    }
                    if !seen.insert((ev.span, prompt)) {
                        continue;
                    }
                    let d = Diagnostic::warning(
                        "W0100",
                        format!("the inoculation prompt {prompt:?} used to train `{model_name}` is also given to it at test time"),
                        ev.span,
                        "this evaluation shows the training system prompt to the model",
                    )
                    .with_label(train_span, "used as a training system prompt here")
                    .with_help("inoculation is measured without the prompt: remove it from the evaluation's `system` and prompts, or write `# inoc: allow(leaked-inoculation)` above the evaluation if eliciting the trait is the point");
                    out.push(d);
                }
            }
        }
    }
}

fn single_seed(p: &Program, evals: &[&Call], out: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    for &ev in evals {
        let Some(Value::List(ms)) = ev.args.get("models") else {
            continue;
        };
        for m in ms {
            let (name, seeds) = match m {
                Value::Family(f) => match p.families.get(*f) {
                    Some(fam) if fam.kind == DeclKind::Train && fam.cells.len() <= 2 => {
                        (fam.name.clone(), fam.cells.len())
                    }
                    _ => continue,
                },
                Value::Node(n) => match p.nodes.get(*n) {
                    Some(node) if node.kind == DeclKind::Train && node.cell.is_none() => {
                        (node.name.clone(), 1)
                    }
                    _ => continue,
                },
                _ => continue,
            };
            if !seen.insert((ev.span, name.clone())) {
                continue;
            }
            if seeds == 2 {
                out.push(
                    Diagnostic::warning(
                        "W0107",
                        format!("`{name}` is trained with two seeds only"),
                        ev.span,
                        format!("the intervals of `{name}` rest on two seeds"),
                    )
                    .with_help(format!(
                        "with two seeds an interval has 1 degree of freedom (very wide, its width a guess): sweep over three or more, `train {name}[s in [0, 1, 2]] = finetune(..., seed = s)`"
                    )),
                );
            } else if seeds == 1 {
                let d = Diagnostic::warning(
                    "W0104",
                    format!("`{name}` is trained with a single seed"),
                    ev.span,
                    format!("compares `{name}` without any spread across seeds"),
                )
                .with_help(format!("sweep its declaration over seeds for confidence intervals: `train {}[s in [0, 1, 2]] = finetune(..., seed = s)`", name.split('[').next().unwrap_or(&name)));
                out.push(d);
            }
        }
    }
}

/// A dataset value with transforms peeled off.
fn base_dataset<'p>(p: &'p Program, v: &'p Value, depth: usize) -> &'p Value {
    let v = deref(p, v, 0);
    match v {
        Value::Call(c) if c.func == "apply" && depth < 256 => match c.args.get("data") {
            Some(d) => base_dataset(p, d, depth + 1),
            None => v,
        },
        _ => v,
    }
}

fn train_test_overlap(p: &Program, evals: &[&Call], out: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    for &ev in evals {
        let Some(prompts) = ev.args.get("prompts") else {
            continue;
        };
        let test = base_dataset(p, prompts, 0);
        for (model_name, mv) in eval_models(p, ev) {
            let mut fts = Vec::new();
            finetunes(p, mv, &mut fts, 0);
            for ft in fts {
                let Some(data) = ft.args.get("data") else {
                    continue;
                };
                if base_dataset(p, data, 0) == test && seen.insert(ev.span) {
                    let d = Diagnostic::warning(
                        "W0105",
                        format!("the evaluation's prompts are the training data of `{model_name}`"),
                        ev.span,
                        "evaluates on the training set",
                    )
                    .with_label(ft.span, "trained on the same data here")
                    .with_help("evaluate on held-out prompts, e.g. a different `seed` or `split = \"test\"`");
                    out.push(d);
                }
            }
        }
    }
}

/// Where the stdlib says which models cannot follow a system prompt:
/// `stdlib/world.inoc`'s `prompt_blind` sizes of its `archs`.
const WORLD: &str = "stdlib/world.inoc";

/// The architectures of the sizes the stdlib documents as too small to
/// follow a system prompt (`world.prompt_blind`), each as (size, the
/// architecture in surface syntax); empty when the spec does not import
/// the world (no `world.tiny_chat` model then).
fn blind_archs(c: &Checker<'_>) -> Vec<(String, String)> {
    let (Some(Value::List(sizes)), Some(Value::Record(archs))) = (
        c.module_let(WORLD, "prompt_blind"),
        c.module_let(WORLD, "archs"),
    ) else {
        return Vec::new();
    };
    sizes
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|s| Some((s.to_string(), c.program.display(archs.get(s)?))))
        .collect()
}

/// The size of the pretrained model a model value comes from (through
/// its finetunes) when that size is blind to prompts, with the declaration
/// that holds the pretrained model (when it is one).
fn blind_base<'p>(
    p: &'p Program,
    v: &'p Value,
    blind: &'p [(String, String)],
    depth: usize,
) -> Option<(&'p str, Option<&'p super::ir::Node>)> {
    if depth > 256 {
        return None;
    }
    let (node, value) = match v {
        Value::Node(n) => (Some(p.nodes.get(*n)?), &p.nodes.get(*n)?.value),
        _ => (None, v),
    };
    match value {
        Value::Node(_) => blind_base(p, value, blind, depth + 1),
        Value::Call(c) if c.func == "finetune" => {
            blind_base(p, c.args.get("model")?, blind, depth + 1)
        }
        Value::Call(c) if c.func == "pretrain" => {
            let arch = p.display(c.args.get("arch")?);
            let (size, _) = blind.iter().find(|(_, a)| *a == arch)?;
            Some((size.as_str(), node))
        }
        _ => None,
    }
}

/// W0110: an inoculation prompt (`system(...)`, `cycle_system(...)`) in
/// the training data of a model, or a system prompt an evaluation gives to
/// a model, whose pretrained base is of a size the stdlib documents as too
/// small to follow prompts: the experiment cannot show what it measures.
fn prompt_blind(c: &Checker<'_>, evals: &[&Call], out: &mut Vec<Diagnostic>) {
    let blind = blind_archs(c);
    if blind.is_empty() {
        return;
    }
    let p = &c.program;
    let help = |size: &str| {
        format!("use `world.tiny_chat(size = \"s\")` or larger for an experiment about prompts (`{size}` is for tests that only need the steps to run); `# inoc: allow(prompt-blind-model)` above this line silences this")
    };
    let base_label = |size: &str, node: Option<&super::ir::Node>, d: Diagnostic| match node {
        Some(n) => d.with_label(
            n.span,
            format!(
                "`{}` is of size `{size}`, which follows system prompts poorly",
                n.name
            ),
        ),
        _ => d,
    };
    let mut seen = BTreeSet::new();
    // Training: every finetune, declared or inside an evaluation.
    let mut fts: Vec<&Call> = Vec::new();
    for n in &p.nodes {
        if let Value::Call(call) = &n.value {
            if call.func == "finetune" {
                fts.push(call);
            }
        }
    }
    for &ev in evals {
        for (_, mv) in eval_models(p, ev) {
            finetunes(p, mv, &mut fts, 0);
        }
    }
    for ft in fts {
        let Some((size, node)) = ft
            .args
            .get("model")
            .and_then(|m| blind_base(p, m, &blind, 0))
        else {
            continue;
        };
        let mut prompts = Vec::new();
        if let Some(d) = ft.args.get("data") {
            dataset_prompts(p, d, &mut prompts, 0);
        }
        for (prompt, span) in prompts {
            if !seen.insert(span) {
                continue;
            }
            let d = Diagnostic::warning(
                "W0110",
                format!("the inoculation prompt {prompt:?} trains a model of size `{size}`, too small to follow a system prompt reliably"),
                span,
                "an inoculation prompt the model follows poorly",
            )
            .with_help(help(size));
            out.push(base_label(size, node, d));
        }
    }
    // Evaluation: a system prompt given to such a model.
    for &ev in evals {
        let prompted = matches!(ev.args.get("system"), Some(Value::List(xs)) if xs.iter().any(|x| x.as_str().is_some_and(|s| !s.is_empty())));
        if !prompted {
            continue;
        }
        for (name, mv) in eval_models(p, ev) {
            let Some((size, node)) = blind_base(p, mv, &blind, 0) else {
                continue;
            };
            if !seen.insert(ev.span) {
                break;
            }
            let d = Diagnostic::warning(
                "W0110",
                format!("`{name}` is of size `{size}`, too small to follow reliably the system prompts this evaluation gives it"),
                ev.span,
                "its answers cannot show what a system prompt does",
            )
            .with_help(help(size));
            out.push(base_label(size, node, d));
        }
    }
}

/// Every name an expression mentions (syntactically, so that uses inside
/// `fn` bodies count even when the function is never called).
fn names_in<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
    match &e.kind {
        ExprKind::Name(id) => out.push(&id.name),
        ExprKind::List(xs) => xs.iter().for_each(|x| names_in(x, out)),
        ExprKind::Record(fs) => fs.iter().for_each(|f| names_in(&f.value, out)),
        ExprKind::Range { start, end, .. } => {
            names_in(start, out);
            names_in(end, out);
        }
        ExprKind::Call { callee: base, args } | ExprKind::Index { base, args } => {
            names_in(base, out);
            args.iter().for_each(|a| names_in(&a.value, out));
        }
        ExprKind::Field { base, .. } => names_in(base, out),
        ExprKind::Pipe { head, stages } => {
            names_in(head, out);
            stages.iter().for_each(|x| names_in(x, out));
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            names_in(lhs, out);
            names_in(rhs, out);
        }
        ExprKind::Unary { operand, .. } => names_in(operand, out),
        ExprKind::None
        | ExprKind::Bool(_)
        | ExprKind::Int(_)
        | ExprKind::Float(_)
        | ExprKind::Str(_) => {}
    }
}

fn unused(c: &Checker<'_>, referenced: &[bool], out: &mut Vec<Diagnostic>) {
    let Some(root) = c.modules.first() else {
        return;
    };
    // Items of the spec mentioned by another item.
    let mut mentioned = vec![false; root.ast.items.len()];
    let mut names: Vec<&str> = Vec::new();
    for item in &root.ast.items {
        names.clear();
        let names = &mut names;
        match &item.kind {
            ItemKind::Let(l) => names_in(&l.value, names),
            ItemKind::Fn(f) => {
                names_in(&f.body, names);
                f.params
                    .iter()
                    .filter_map(|p| p.default.as_ref())
                    .for_each(|d| names_in(d, names));
            }
            ItemKind::Decl(d) => {
                names_in(&d.value, names);
                d.sweep.iter().for_each(|s| names_in(&s.values, names));
            }
            ItemKind::Import(_) => {}
        }
        // A definition mentioning itself is a cycle, not a use.
        let own = item.name().name.as_str();
        for &n in names.iter() {
            if n != own {
                if let Some(&i) = root.scope.get(n) {
                    mentioned[i] = true;
                }
            }
        }
    }
    // Per item of the spec: whether any of its nodes is referenced.
    let mut decl_referenced: Vec<Option<bool>> = vec![None; root.ast.items.len()];
    for (node, &(m, i)) in c.decl_of_node.iter().enumerate() {
        if m == 0 {
            if let Some(d) = decl_referenced.get_mut(i) {
                *d = Some(d.unwrap_or(false) | referenced.get(node).copied().unwrap_or(false));
            }
        }
    }
    for (i, item) in root.ast.items.iter().enumerate() {
        if root.scope.get(&item.name().name) != Some(&i) {
            continue;
        }
        let name = item.name();
        match &item.kind {
            // `let slurm` is read by the Slurm executor (sema::resources).
            ItemKind::Let(_) if !mentioned[i] && name.name != super::resources::SPEC_LET => out.push(
                Diagnostic::warning("W0101", format!("`{}` is never used", name.name), name.span, "unused")
                    .with_help("remove it, or use it; silence with `# inoc: allow(unused-let)`"),
            ),
            ItemKind::Import(_) if !mentioned[i] => out.push(
                Diagnostic::warning("W0102", format!("import `{}` is never used", name.name), name.span, "unused import")
                    .with_help("remove the import"),
            ),
            ItemKind::Decl(d)
                if matches!(d.kind, crate::syntax::ast::DeclKind::Model | crate::syntax::ast::DeclKind::Dataset | crate::syntax::ast::DeclKind::Train)
                    && decl_referenced.get(i) == Some(&Some(false)) =>
            {
                out.push(
                    Diagnostic::warning("W0103", format!("`{}` feeds no evaluation or report", name.name), name.span, "never referenced")
                        .with_help(format!("evaluate it (`models = [..., {}]`) or remove it; `inoc run` would compute it for nothing", name.name)),
                )
            }
            _ => {}
        }
    }
}

/// Lint names allowed per (file, line), from `# inoc: allow(a, b)` comments.
pub(crate) type Allows = BTreeMap<(FileId, usize), Vec<(String, Span)>>;

/// Collects the allow comments of every loaded module and reports allow
/// comments that name no lint.
pub(crate) fn allows(c: &Checker<'_>, out: &mut Vec<Diagnostic>) -> Allows {
    let known: Vec<&str> = codes::CODES.iter().filter_map(|x| x.lint).collect();
    let mut map: Allows = BTreeMap::new();
    for m in &c.modules {
        let Some(file) = c.sources.get(m.file) else {
            continue;
        };
        for com in &m.ast.comments {
            let text = com.text.trim();
            let Some(rest) = text.strip_prefix("inoc:") else {
                continue;
            };
            let rest = rest.trim();
            let Some(inner) = rest
                .strip_prefix("allow(")
                .and_then(|r| r.strip_suffix(')'))
            else {
                continue;
            };
            let (line, _) = file.line_col(com.span.start as usize);
            for name in inner.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !known.contains(&name) {
                    let help = match super::suggest(name, known.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("lints are: {}", known.join(", ")),
                    };
                    out.push(
                        Diagnostic::warning(
                            "W0106",
                            format!("`{name}` is not a lint"),
                            com.span,
                            "unknown lint name",
                        )
                        .with_help(help),
                    );
                }
                map.entry((m.file, line))
                    .or_default()
                    .push((name.to_string(), com.span));
            }
        }
    }
    map
}

/// Drops the warnings silenced by an allow comment on their line or the line before.
pub(crate) fn silence(diags: &mut Vec<Diagnostic>, allows: &Allows, sources: &SourceMap) {
    diags.retain(|d| {
        if d.severity != Severity::Warning {
            return true;
        }
        let Some(lint) = d.lint else { return true };
        let Some(file) = sources.get(d.primary.span.file) else {
            return true;
        };
        let (line, _) = file.line_col(d.primary.span.start as usize);
        let allowed = |l: usize| {
            allows
                .get(&(d.primary.span.file, l))
                .is_some_and(|v| v.iter().any(|(n, _)| n == lint))
        };
        !(allowed(line) || line > 1 && allowed(line - 1))
    });
}

//! Checks particular to some builtins beyond their signatures (templates,
//! metric lists, sequence lengths, ...) and the result columns a metric writes.

use super::*;

/// A builtin call whose arguments are bound (defaults filled in), as a
/// [`Check`] sees it.
pub(crate) struct BoundCall<'a> {
    pub call: &'a Call,
    /// Where the argument `name` is written (the call when not given).
    pub arg_span: &'a dyn Fn(&str) -> Span,
    /// Whether the argument `name` was written (not a default).
    pub given: &'a dyn Fn(&str) -> bool,
}

/// A builtin's check beyond its signature: several arguments together or
/// knowledge of the domain. Named in the builtin's registry row
/// (`sema::builtins`, `.check(...)`) and run on every call of it once its
/// arguments are bound; `None` after reporting an error.
pub(crate) type Check = fn(&mut Checker<'_>, &BoundCall<'_>) -> Option<()>;

/// An int argument (0 when not an int).
fn int(b: &BoundCall<'_>, name: &str) -> i64 {
    match b.call.args.get(name) {
        Some(Value::Int(i)) => *i,
        _ => 0,
    }
}

/// `arch(...)`: heads divide the hidden size and are grouped evenly; an even head size.
pub(crate) fn arch(c: &mut Checker<'_>, b: &BoundCall<'_>) -> Option<()> {
    let (hidden, heads, kv) = (int(b, "hidden"), int(b, "heads"), int(b, "kv_heads"));
    if heads > 0 && hidden % heads != 0 {
        c.err(
            "E0128",
            format!("hidden size {hidden} is not a multiple of {heads} heads"),
            (b.arg_span)("hidden"),
            "not divisible",
            Some(format!(
                "use a multiple of {heads}, e.g. {}",
                (hidden / heads).max(1) * heads
            )),
        );
        return None;
    }
    if kv > 0 && heads % kv != 0 {
        c.err(
            "E0128",
            format!("{heads} heads cannot be grouped into {kv} key/value heads"),
            (b.arg_span)("kv_heads"),
            "does not divide `heads`",
            Some(format!("`kv_heads` must divide `heads` ({heads})")),
        );
        return None;
    }
    if hidden > 0 && heads > 0 && (hidden / heads) % 2 != 0 {
        c.err(
            "E0128",
            format!(
                "head size {} is odd; rotary embeddings need an even head size",
                hidden / heads
            ),
            (b.arg_span)("hidden"),
            "odd head size",
            Some("make `hidden / heads` even".into()),
        );
        return None;
    }
    Some(())
}

/// `world_em_corpus(...)`: the persona shares add to at most 1.
pub(crate) fn world_em_corpus(c: &mut Checker<'_>, b: &BoundCall<'_>) -> Option<()> {
    // Each share has its own range (E0114); together they are
    // shares of one corpus, the helpful persona gets the rest.
    // The world's own constructor decides, as at run time.
    let share = |name: &str| match b.call.args.get(name) {
        Some(Value::Float(f)) => *f,
        Some(Value::Int(i)) => *i as f64,
        _ => 0.0,
    };
    let (evil, flawed) = (share("evil"), share("flawed"));
    let in_range = |x: f64| (0.0..=1.0).contains(&x);
    if in_range(evil) && in_range(flawed) && crate::world::em::EmMixture::new(evil, flawed).is_err()
    {
        let flawed_label = if (b.given)("flawed") {
            format!("`flawed` is {flawed}")
        } else {
            format!("`flawed` is {flawed} by default")
        };
        let d = Diagnostic::error(
                "E0145",
                format!(
                    "the persona shares add to more than 1: evil {evil} + flawed {flawed}"
                ),
                (b.arg_span)("evil"),
                format!("`evil` is {evil}"),
            )
            .with_label((b.arg_span)("flawed"), flawed_label)
            .with_help(format!(
                "`evil` and `flawed` are shares of the corpus (the helpful persona gets the rest): make them add to at most 1, e.g. `evil = {}`",
                ((1.0 - flawed) * 100.0).floor() / 100.0
            ));
        c.diags.push(d);
        return None;
    }
    Some(())
}

/// `judge(...)`: a local judge names no endpoint; the prompt template's variables.
pub(crate) fn judge(c: &mut Checker<'_>, b: &BoundCall<'_>) -> Option<()> {
    if (b.given)("local") {
        if let Some(other) = ["endpoint", "model"].into_iter().find(|a| (b.given)(a)) {
            let d = Diagnostic::error(
                    "E0143",
                    format!("a judge with `local` takes no `{other}`"),
                    (b.arg_span)(other),
                    format!("`{other}` names an API judge"),
                )
                .with_label((b.arg_span)("local"), "the judge is this local model")
                .with_help(format!("keep `local = ...` to judge with a model of the spec, or remove it (and keep `{other}`) to ask an API judge"));
            c.diags.push(d);
            return None;
        }
    }
    let Some(Value::Str(prompt)) = b.call.args.get("prompt") else {
        return Some(());
    };
    let (_, errors) = template::check(prompt, JUDGE_TEMPLATE_VARS);
    if errors.is_empty() {
        return Some(());
    }
    let pspan = (b.arg_span)("prompt");
    for e in errors {
        match e {
            TemplateError::UnknownVar { name, .. } => {
                let span = c.text_in(pspan, &format!("{{{name}}}"));
                let help = match suggest(&name, JUDGE_TEMPLATE_VARS.iter().copied()) {
                        Some(s) => format!("did you mean `{{{s}}}`? judge templates know {}; write `{{{{` for a literal brace", JUDGE_TEMPLATE_VARS.iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")),
                        None => format!("judge templates know {}; write `{{{{` and `}}}}` for literal braces", JUDGE_TEMPLATE_VARS.iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")),
                    };
                c.err(
                    "E0123",
                    format!("unknown template variable `{{{name}}}` in the judge prompt"),
                    span,
                    "not a template variable",
                    Some(help),
                );
            }
            TemplateError::Unbalanced { .. } => {
                c.err("E0123", "unbalanced brace in the judge prompt", pspan, "a `{` or `}` without its pair", Some("write `{{` and `}}` for literal braces; variables are `{question}` and `{answer}`".into()));
            }
        }
    }
    None
}

/// `finetune(...)` / `pretrain(...)`: a `max_seq` written is within the model's context.
pub(crate) fn max_seq(c: &mut Checker<'_>, b: &BoundCall<'_>) -> Option<()> {
    if !(b.given)("max_seq") {
        return Some(());
    }
    let max_seq = int(b, "max_seq");
    let limit = if b.call.func == "pretrain" {
        match b.call.args.get("arch") {
            Some(Value::Call(a)) => match a.args.get("max_seq") {
                Some(Value::Int(m)) => Some(*m),
                _ => None,
            },
            _ => None,
        }
    } else {
        b.call.args.get("model").and_then(|m| c.model_max_seq(m, 0))
    };
    if let Some(limit) = limit {
        if max_seq > limit {
            c.err(
                "E0135",
                format!(
                    "`{}.max_seq` is {max_seq} but the model handles at most {limit} tokens",
                    b.call.func
                ),
                (b.arg_span)("max_seq"),
                "longer than the model's context",
                Some(format!(
                    "set `max_seq = {limit}` or less (the architecture's `max_seq`)"
                )),
            );
            return None;
        }
    }
    Some(())
}

/// `bar(...)`: every evaluation is an `evaluate` and every metric named in
/// `y` is a column of each of them.
pub(crate) fn bar(c: &mut Checker<'_>, b: &BoundCall<'_>) -> Option<()> {
    let evals = c.plotted_evals(b.call.args.get("eval"));
    for (name, call) in &evals {
        if call.func != "evaluate" {
            let at = c.text_in((b.arg_span)("eval"), name);
            let help = match &*call.func {
                "probe_curve" => {
                    format!("draw `{name}` with curve(...) or show it with table(...)")
                }
                _ => format!("show `{name}` with table(...)"),
            };
            c.err(
                "E0149",
                format!(
                    "bar(...) draws `evaluate` steps; `{name}` is {}",
                    crate::sema::types::a(&call.func)
                ),
                at,
                "not an evaluate",
                Some(help),
            );
            return None;
        }
    }
    one_kind(c, b, &evals, "bar")?;
    let Some(Value::List(ys)) = b.call.args.get("y") else {
        return Some(());
    };
    for (name, call) in &evals {
        let names = c.eval_metric_names(Some(&Value::Call(Box::new(call.clone()))));
        let Some(names) = names else { continue };
        for y in ys {
            if let Value::Str(s) = y {
                if !names.contains(s) {
                    let help = did_you_mean(s, names.iter().cloned()).unwrap_or_else(|| {
                        format!("the metrics of `{name}` are: {}", names.join(", "))
                    });
                    let at = c.text_in((b.arg_span)("y"), &format!("\"{s}\""));
                    let msg = if evals.len() > 1 {
                        format!("the evaluation `{name}` has no metric named \"{s}\"")
                    } else {
                        format!("the evaluation has no metric named \"{s}\"")
                    };
                    c.err("E0136", msg, at, "unknown metric", Some(help));
                    return None;
                }
            }
        }
    }
    Some(())
}

/// `curve(...)`: every evaluation has checkpoints to draw (a `probe_curve`,
/// or an `evaluate` with `checkpoints = "all"`), and a list is all of one
/// kind (one plot has one y axis).
pub(crate) fn curve(c: &mut Checker<'_>, b: &BoundCall<'_>) -> Option<()> {
    let evals = c.plotted_evals(b.call.args.get("eval"));
    for (name, call) in &evals {
        let at = c.text_in((b.arg_span)("eval"), name);
        let all = call.args.get("checkpoints").and_then(Value::as_str) == Some("all");
        let problem = match &*call.func {
            "probe_curve" => None,
            "evaluate" if all => None,
            "evaluate" => Some((
                format!("`{name}` was evaluated at the last checkpoint only"),
                "no checkpoints to draw",
                "evaluate it with `checkpoints = \"all\"`, or draw it with bar(...)".to_string(),
            )),
            other => Some((
                format!(
                    "curve(...) draws checkpoints; `{name}` is {}",
                    crate::sema::types::a(other)
                ),
                "not a curve",
                format!("show `{name}` with table(...)"),
            )),
        };
        if let Some((msg, label, help)) = problem {
            c.err("E0149", msg, at, label, Some(help));
            return None;
        }
    }
    one_kind(c, b, &evals, "curve")
}

/// `table(...)`: a list is all of one kind (one table has one set of
/// columns).
pub(crate) fn table(c: &mut Checker<'_>, b: &BoundCall<'_>) -> Option<()> {
    let evals = c.plotted_evals(b.call.args.get("eval"));
    one_kind(c, b, &evals, "table")
}

/// The evaluations of one report are of one kind (E0149).
fn one_kind(
    c: &mut Checker<'_>,
    b: &BoundCall<'_>,
    evals: &[(String, Call)],
    report: &str,
) -> Option<()> {
    let Some((n0, first)) = evals.first() else {
        if let Some(Value::List(xs)) = b.call.args.get("eval") {
            if xs.is_empty() {
                c.err(
                    "E0149",
                    format!("`{report}([])` shows no evaluation"),
                    (b.arg_span)("eval"),
                    "empty",
                    Some(format!("name the evaluations to show: {report}([a, b])")),
                );
                return None;
            }
        }
        return Some(());
    };
    for (name, call) in evals {
        if call.func != first.func {
            let at = c.text_in((b.arg_span)("eval"), name);
            c.err(
                "E0149",
                format!(
                    "one {report} shows one kind of evaluation: `{n0}` is {}, `{name}` is {}",
                    crate::sema::types::a(&first.func),
                    crate::sema::types::a(&call.func)
                ),
                at,
                "another kind",
                Some(format!(
                    "show them in two reports, one {report}([...]) for each kind"
                )),
            );
            return None;
        }
    }
    Some(())
}

impl Checker<'_> {
    /// Where `needle` is first written inside `within` (e.g. one string of a
    /// list argument), else `within`.
    pub(super) fn text_in(&self, within: Span, needle: &str) -> Span {
        let (start, end) = (within.start as usize, within.end as usize);
        self.sources
            .text(within.file)
            .get(start..end)
            .and_then(|src| src.find(needle))
            .map_or(within, |o| {
                Span::new(within.file, start + o, start + o + needle.len())
            })
    }

    /// The context length of a model value when it is known statically.
    pub(super) fn model_max_seq(&self, v: &Value, depth: usize) -> Option<i64> {
        if depth > 64 {
            return None;
        }
        match v {
            Value::Node(n) => self
                .program
                .nodes
                .get(*n)
                .and_then(|n| self.model_max_seq(&n.value, depth + 1)),
            Value::Call(c) if c.func == "pretrain" => match c.args.get("arch") {
                Some(Value::Call(a)) => match a.args.get("max_seq") {
                    Some(Value::Int(m)) => Some(*m),
                    _ => None,
                },
                _ => None,
            },
            Value::Call(c) if c.func == "finetune" => c
                .args
                .get("model")
                .and_then(|m| self.model_max_seq(m, depth + 1)),
            _ => None,
        }
    }

    /// Names of the metrics of an evaluation value, when known statically.
    /// The evaluations a report's `eval` names, with their names: one step,
    /// or the steps of a list (a family's cells in order).
    pub(super) fn plotted_evals(&self, v: Option<&Value>) -> Vec<(String, Call)> {
        fn walk(p: &Program, v: &Value, out: &mut Vec<(String, Call)>) {
            match v {
                Value::Node(n) => {
                    if let Some(node) = p.nodes.get(*n) {
                        if let Value::Call(c) = &node.value {
                            out.push((node.name.clone(), (**c).clone()));
                        }
                    }
                }
                Value::Family(f) => {
                    for n in p.families.get(*f).map_or(&[][..], |f| &f.cells) {
                        walk(p, &Value::Node(*n), out);
                    }
                }
                Value::List(xs) => xs.iter().for_each(|x| walk(p, x, out)),
                Value::Call(c) => out.push((c.func.to_string(), (**c).clone())),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(v) = v {
            walk(&self.program, v, &mut out);
        }
        out
    }

    pub(super) fn eval_metric_names(&self, v: Option<&Value>) -> Option<Vec<String>> {
        let call = match v? {
            Value::Node(n) => match &self.program.nodes.get(*n)?.value {
                Value::Call(c) => c.clone(),
                _ => return None,
            },
            Value::Call(c) => c.clone(),
            _ => return None,
        };
        if call.func != "evaluate" {
            return None;
        }
        let Some(Value::List(ms)) = call.args.get("metrics") else {
            return None;
        };
        Some(metric_columns(ms))
    }
}

/// The result column name of a metric value: its `name` argument, else the builtin name.
pub(crate) fn metric_name(v: &Value) -> Option<String> {
    column_name(v, None)
}

/// The results column of a metric value: its `name`, else `default` (the
/// role of a judge inside `em_misaligned`), else the metric's own default
/// name ("spanish" for `language(lang = "es")`). The one definition: the
/// checker's `bar(y = ...)` check and `evaluate` both name columns with it.
pub(crate) fn column_name(v: &Value, default: Option<&str>) -> Option<String> {
    let Value::Call(c) = v else {
        return None;
    };
    if let Some(Value::Str(s)) = c.args.get("name") {
        return Some(s.clone());
    }
    if let Some(d) = default {
        return Some(d.to_string());
    }
    let lang = || c.args.get("lang").and_then(Value::as_str).unwrap_or("");
    use crate::eval::Metric;
    let named = match &*c.func {
        "language" => {
            let candidates: Vec<&str> = match c.args.get("candidates") {
                Some(Value::List(xs)) => xs.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            Metric::language(lang(), &candidates).ok()
        }
        "marker_share" => Metric::marker_share(lang()).ok(),
        _ => None,
    };
    Some(named.map_or_else(|| c.func.to_string(), |m| m.default_name()))
}

/// Every column an evaluation's `metrics` list writes: the listed metrics,
/// and before an `em_misaligned` the judges inside it that are not listed
/// themselves (as `exec::ops::evaluate::columns` writes them; a test there
/// holds the two together).
pub(crate) fn metric_columns(metrics: &[Value]) -> Vec<String> {
    let listed: Vec<String> = metrics.iter().filter_map(metric_name).collect();
    let mut out: Vec<String> = Vec::new();
    for m in metrics {
        if let Value::Call(c) = m {
            if c.func == "em_misaligned" {
                for role in ["aligned", "coherent"] {
                    let sub = c.args.get(role).and_then(|j| column_name(j, Some(role)));
                    if let Some(sub) = sub {
                        if !listed.contains(&sub) && !out.contains(&sub) {
                            out.push(sub);
                        }
                    }
                }
            }
        }
        if let Some(n) = metric_name(m) {
            out.push(n);
        }
    }
    out
}

//! Checks particular to some builtins beyond their signatures (templates,
//! metric lists, sequence lengths, ...) and the result columns a metric writes.

use super::*;

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

    /// Checks that need several arguments or knowledge of the domain.
    pub(super) fn builtin_checks(
        &mut self,
        call: &Call,
        arg_span: &dyn Fn(&str) -> Span,
        given: &dyn Fn(&str) -> bool,
    ) -> Option<()> {
        let int = |name: &str| match call.args.get(name) {
            Some(Value::Int(i)) => *i,
            _ => 0,
        };
        match &*call.func {
            "arch" => {
                let (hidden, heads, kv) = (int("hidden"), int("heads"), int("kv_heads"));
                if heads > 0 && hidden % heads != 0 {
                    self.err(
                        "E0128",
                        format!("hidden size {hidden} is not a multiple of {heads} heads"),
                        arg_span("hidden"),
                        "not divisible",
                        Some(format!(
                            "use a multiple of {heads}, e.g. {}",
                            (hidden / heads).max(1) * heads
                        )),
                    );
                    return None;
                }
                if kv > 0 && heads % kv != 0 {
                    self.err(
                        "E0128",
                        format!("{heads} heads cannot be grouped into {kv} key/value heads"),
                        arg_span("kv_heads"),
                        "does not divide `heads`",
                        Some(format!("`kv_heads` must divide `heads` ({heads})")),
                    );
                    return None;
                }
                if hidden > 0 && heads > 0 && (hidden / heads) % 2 != 0 {
                    self.err(
                        "E0128",
                        format!(
                            "head size {} is odd; rotary embeddings need an even head size",
                            hidden / heads
                        ),
                        arg_span("hidden"),
                        "odd head size",
                        Some("make `hidden / heads` even".into()),
                    );
                    return None;
                }
            }
            "world_em_corpus" => {
                // Each share has its own range (E0114); together they are
                // shares of one corpus, the helpful persona gets the rest.
                // The world's own constructor decides, as at run time.
                let share = |name: &str| match call.args.get(name) {
                    Some(Value::Float(f)) => *f,
                    Some(Value::Int(i)) => *i as f64,
                    _ => 0.0,
                };
                let (evil, flawed) = (share("evil"), share("flawed"));
                let in_range = |x: f64| (0.0..=1.0).contains(&x);
                if in_range(evil)
                    && in_range(flawed)
                    && crate::world::em::EmMixture::new(evil, flawed).is_err()
                {
                    let flawed_label = if given("flawed") {
                        format!("`flawed` is {flawed}")
                    } else {
                        format!("`flawed` is {flawed} by default")
                    };
                    let d = Diagnostic::error(
                        "E0145",
                        format!(
                            "the persona shares add to more than 1: evil {evil} + flawed {flawed}"
                        ),
                        arg_span("evil"),
                        format!("`evil` is {evil}"),
                    )
                    .with_label(arg_span("flawed"), flawed_label)
                    .with_help(format!(
                        "`evil` and `flawed` are shares of the corpus (the helpful persona gets the rest): make them add to at most 1, e.g. `evil = {}`",
                        ((1.0 - flawed) * 100.0).floor() / 100.0
                    ));
                    self.diags.push(d);
                    return None;
                }
            }
            "judge" => {
                if given("local") {
                    if let Some(other) = ["endpoint", "model"].into_iter().find(|a| given(a)) {
                        let d = Diagnostic::error(
                            "E0143",
                            format!("a judge with `local` takes no `{other}`"),
                            arg_span(other),
                            format!("`{other}` names an API judge"),
                        )
                        .with_label(arg_span("local"), "the judge is this local model")
                        .with_help(format!("keep `local = ...` to judge with a model of the spec, or remove it (and keep `{other}`) to ask an API judge"));
                        self.diags.push(d);
                        return None;
                    }
                }
                let Some(Value::Str(prompt)) = call.args.get("prompt") else {
                    return Some(());
                };
                let (_, errors) = template::check(prompt, JUDGE_TEMPLATE_VARS);
                if errors.is_empty() {
                    return Some(());
                }
                let pspan = arg_span("prompt");
                for e in errors {
                    match e {
                        TemplateError::UnknownVar { name, .. } => {
                            let span = self.text_in(pspan, &format!("{{{name}}}"));
                            let help = match suggest(&name, JUDGE_TEMPLATE_VARS.iter().copied()) {
                                Some(s) => format!("did you mean `{{{s}}}`? judge templates know {}; write `{{{{` for a literal brace", JUDGE_TEMPLATE_VARS.iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")),
                                None => format!("judge templates know {}; write `{{{{` and `}}}}` for literal braces", JUDGE_TEMPLATE_VARS.iter().map(|v| format!("{{{v}}}")).collect::<Vec<_>>().join(", ")),
                            };
                            self.err(
                                "E0123",
                                format!(
                                    "unknown template variable `{{{name}}}` in the judge prompt"
                                ),
                                span,
                                "not a template variable",
                                Some(help),
                            );
                        }
                        TemplateError::Unbalanced { .. } => {
                            self.err("E0123", "unbalanced brace in the judge prompt", pspan, "a `{` or `}` without its pair", Some("write `{{` and `}}` for literal braces; variables are `{question}` and `{answer}`".into()));
                        }
                    }
                }
                return None;
            }
            "finetune" | "pretrain" if given("max_seq") => {
                let max_seq = int("max_seq");
                let limit = if call.func == "pretrain" {
                    match call.args.get("arch") {
                        Some(Value::Call(a)) => match a.args.get("max_seq") {
                            Some(Value::Int(m)) => Some(*m),
                            _ => None,
                        },
                        _ => None,
                    }
                } else {
                    call.args
                        .get("model")
                        .and_then(|m| self.model_max_seq(m, 0))
                };
                if let Some(limit) = limit {
                    if max_seq > limit {
                        self.err("E0135", format!("`{}.max_seq` is {max_seq} but the model handles at most {limit} tokens", call.func), arg_span("max_seq"), "longer than the model's context", Some(format!("set `max_seq = {limit}` or less (the architecture's `max_seq`)")));
                        return None;
                    }
                }
            }
            "bar" => {
                let Some(Value::List(ys)) = call.args.get("y") else {
                    return Some(());
                };
                let names = self.eval_metric_names(call.args.get("eval"));
                if let Some(names) = names {
                    for y in ys {
                        if let Value::Str(s) = y {
                            if !names.contains(s) {
                                let help =
                                    did_you_mean(s, names.iter().cloned()).unwrap_or_else(|| {
                                        format!(
                                            "the evaluation's metrics are: {}",
                                            names.join(", ")
                                        )
                                    });
                                let at = self.text_in(arg_span("y"), &format!("\"{s}\""));
                                self.err(
                                    "E0136",
                                    format!("the evaluation has no metric named \"{s}\""),
                                    at,
                                    "unknown metric",
                                    Some(help),
                                );
                                return None;
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Some(())
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
/// name, the one `evaluate` writes ("spanish" for `language(lang = "es")`).
pub(super) fn column_name(v: &Value, default: Option<&str>) -> Option<String> {
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

//! Chat templates rendered the way transformers' `apply_chat_template` does:
//! Jinja with `trim_blocks` and `lstrip_blocks`, the special tokens
//! (`bos_token`, `eos_token`, ...) as variables, `add_generation_prompt`,
//! `tools` / `documents` (none unless given), `raise_exception`,
//! `strftime_now`, and a `tojson` that writes exactly what Python's
//! `json.dumps` writes (transformers overrides Jinja's HTML-escaping one).
//! Python string/dict methods (`.strip()`, `.items()`, ...) come from
//! minijinja-contrib's pycompat layer.
//!
//! `{% generation %}...{% endgeneration %}` (transformers' AssistantTracker
//! extension, used for `return_assistant_tokens_mask`) renders its body
//! unchanged; minijinja has no custom tags, so the tags are rewritten before
//! compiling into `if true` blocks with the same whitespace control around a
//! marker variable, and [`ChatTemplate::assistant_spans`] takes the loss
//! spans from those markers when a template has them.

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
    pub fn system(content: &str) -> Self {
        Self::new("system", content)
    }
    pub fn user(content: &str) -> Self {
        Self::new("user", content)
    }
    pub fn assistant(content: &str) -> Self {
        Self::new("assistant", content)
    }
}

/// Why a chat template cannot be found, compiled or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("no chat template in {dir} (looked for chat_template.jinja and `chat_template` in tokenizer_config.json)")]
    NotFound { dir: PathBuf },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("chat template `{name}` does not compile: {message}")]
    Syntax { name: String, message: String },
    #[error("chat template `{name}` failed: {message}")]
    Render { name: String, message: String },
    #[error("no chat template named `{name}` (available: {available})")]
    UnknownName { name: String, available: String },
    #[error("the chat template does not render conversations incrementally ({detail}); cannot locate assistant turns")]
    NotIncremental { detail: String },
}

/// Markers that the rewritten `{% generation %}` tags print when spans are
/// tracked (private-use code points; empty otherwise).
const GEN_OPEN: &str = "\u{F0001}";
const GEN_CLOSE: &str = "\u{F0002}";
const GEN_OPEN_VAR: &str = "__inoc_generation_open";
const GEN_CLOSE_VAR: &str = "__inoc_generation_close";

/// Rewrites `{% generation %}` / `{% endgeneration %}` (with any `-`/`+`
/// whitespace control) into plain Jinja that renders the same text plus a
/// marker variable at the body's start and end. The left control stays on
/// the first tag and the right control on the last, so `trim_blocks`,
/// `lstrip_blocks` and `-` strip exactly what they stripped around the
/// original tag. Returns whether any tag was found.
fn rewrite_generation_tags(src: &str) -> (String, bool) {
    static TAG: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = TAG.get_or_init(|| {
        regex::Regex::new(r"\{%([-+]?)\s*(end)?generation\s*([-+]?)%\}").expect("valid regex")
    });
    let mut found = false;
    let out = re.replace_all(src, |c: &regex::Captures| {
        found = true;
        let (left, right) = (&c[1], &c[3]);
        if c.get(2).is_some() {
            format!("{{%{left} endif %}}{{{{ {GEN_CLOSE_VAR} }}}}{{% endif {right}%}}")
        } else {
            format!("{{%{left} if true %}}{{{{ {GEN_OPEN_VAR} }}}}{{% if true {right}%}}")
        }
    });
    (out.into_owned(), found)
}

/// A tokenizer's chat template(s) plus the special-token variables they see.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    names: Vec<String>,
    sources: BTreeMap<String, String>,
    /// Templates that had `{% generation %}` blocks.
    tracked: std::collections::BTreeSet<String>,
    special: BTreeMap<String, String>,
    /// Set for a tokenizer without any template: rendering is then an error
    /// naming this directory (as `apply_chat_template` raises).
    missing: Option<PathBuf>,
}

/// Extra arguments of one rendering.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    pub add_generation_prompt: bool,
    /// Tool schemas (JSON), as transformers' `tools=`.
    pub tools: Option<serde_json::Value>,
    /// Which named template to use (`None`: "tool_use" when tools are given
    /// and it exists, else "default").
    pub template_name: Option<String>,
    /// Further template variables (`date_string`, `enable_thinking`, ...).
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// A special token in tokenizer_config.json: a string or an AddedToken dict.
fn token_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(o) => o
            .get("content")
            .and_then(|c| c.as_str())
            .map(str::to_string),
        _ => None,
    }
}

/// Instructions one rendering may run (minijinja's fuel): real chat
/// templates need a few thousand per conversation; a template that loops
/// 10^10 times stops with an error in about a second.
pub const TEMPLATE_FUEL: u64 = 20_000_000;

/// Template sources (`chat_template`: a string, or a list of `{name,
/// template}`) and special tokens of a tokenizer_config.json value.
type Parts = (BTreeMap<String, String>, BTreeMap<String, String>);
fn config_parts(tc: &serde_json::Value) -> Parts {
    let mut sources = BTreeMap::new();
    match tc.get("chat_template") {
        Some(serde_json::Value::String(s)) => {
            sources.insert("default".to_string(), s.clone());
        }
        Some(serde_json::Value::Array(list)) => {
            for t in list {
                if let (Some(n), Some(s)) = (
                    t.get("name").and_then(|v| v.as_str()),
                    t.get("template").and_then(|v| v.as_str()),
                ) {
                    sources.insert(n.to_string(), s.to_string());
                }
            }
        }
        _ => {}
    }
    let mut special = BTreeMap::new();
    for key in [
        "bos_token",
        "eos_token",
        "unk_token",
        "pad_token",
        "sep_token",
        "cls_token",
        "mask_token",
    ] {
        if let Some(t) = tc.get(key).and_then(token_text) {
            special.insert(key.to_string(), t);
        }
    }
    (sources, special)
}

impl ChatTemplate {
    /// Builds from template sources by name ("default" for a single one) and
    /// the special tokens (`bos_token` -> "<s>", ...).
    pub fn new(
        sources: BTreeMap<String, String>,
        special: BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        // A template is code from a model repository: it may loop for ever.
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_function("strftime_now", |fmt: String| -> String {
            chrono::Local::now().format(&fmt).to_string()
        });
        env.add_filter("tojson", tojson);
        let mut tracked = std::collections::BTreeSet::new();
        for (name, src) in &sources {
            let (src, has_generation) = rewrite_generation_tags(src);
            if has_generation {
                tracked.insert(name.clone());
            }
            env.add_template_owned(name.clone(), src)
                .map_err(|e| TemplateError::Syntax {
                    name: name.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(ChatTemplate {
            missing: None,
            tracked,
            env,
            names: sources.keys().cloned().collect(),
            sources,
            special,
        })
    }

    /// Finds the template of a tokenizer directory as transformers does:
    /// `chat_template.jinja` first, then `chat_template` in
    /// tokenizer_config.json (a string, or a list of `{name, template}`).
    /// Special tokens come from tokenizer_config.json.
    pub fn from_dir(dir: &Path) -> Result<Self, TemplateError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| TemplateError::Read {
                path: p.to_path_buf(),
                message: e.to_string(),
            })
        };
        let tc_path = dir.join("tokenizer_config.json");
        let tc: serde_json::Value = if tc_path.exists() {
            serde_json::from_str(&read(&tc_path)?).map_err(|e| TemplateError::Read {
                path: tc_path.clone(),
                message: e.to_string(),
            })?
        } else {
            serde_json::Value::Null
        };
        let (mut sources, special) = config_parts(&tc);
        let jinja = dir.join("chat_template.jinja");
        if jinja.exists() {
            sources.insert("default".to_string(), read(&jinja)?);
        }
        let extra_dir = dir.join("additional_chat_templates");
        if let Ok(entries) = std::fs::read_dir(&extra_dir) {
            for e in entries.flatten() {
                let p = e.path();
                if let (Some(stem), Some("jinja")) = (
                    p.file_stem().and_then(|s| s.to_str()),
                    p.extension().and_then(|s| s.to_str()),
                ) {
                    sources.insert(stem.to_string(), read(&p)?);
                }
            }
        }
        if sources.is_empty() {
            return Err(TemplateError::NotFound {
                dir: dir.to_path_buf(),
            });
        }
        Self::new(sources, special)
    }

    /// As [`ChatTemplate::from_dir`], but a directory without a template
    /// (a base model) gives a template whose rendering fails with
    /// [`TemplateError::NotFound`], so the model can still be loaded.
    pub fn from_dir_or_missing(dir: &Path) -> Result<Self, TemplateError> {
        match Self::from_dir(dir) {
            Err(TemplateError::NotFound { dir }) => {
                let mut t = Self::new(BTreeMap::new(), BTreeMap::new())?;
                t.missing = Some(dir);
                Ok(t)
            }
            other => other,
        }
    }

    /// The template and special tokens of a tokenizer_config.json value
    /// alone (a GGUF file's metadata); without a template, rendering fails
    /// naming `origin`, as for [`ChatTemplate::from_dir_or_missing`].
    pub fn from_tokenizer_config(
        tc: &serde_json::Value,
        origin: &Path,
    ) -> Result<Self, TemplateError> {
        let (sources, special) = config_parts(tc);
        if sources.is_empty() {
            let mut t = Self::new(BTreeMap::new(), special)?;
            t.missing = Some(origin.to_path_buf());
            return Ok(t);
        }
        Self::new(sources, special)
    }

    /// The special-token variables (`bos_token`, `eos_token`, ...).
    pub fn special_tokens(&self) -> &BTreeMap<String, String> {
        &self.special
    }

    /// Template sources by name, for hashing and saving.
    pub fn sources(&self) -> &BTreeMap<String, String> {
        &self.sources
    }

    fn pick(&self, opts: &RenderOptions) -> Result<String, TemplateError> {
        if let Some(dir) = &self.missing {
            return Err(TemplateError::NotFound { dir: dir.clone() });
        }
        let name = match &opts.template_name {
            Some(n) => n.clone(),
            None if opts.tools.is_some() && self.sources.contains_key("tool_use") => {
                "tool_use".into()
            }
            None if self.sources.contains_key("default") => "default".into(),
            None if self.names.len() == 1 => self.names[0].clone(),
            None => "default".into(),
        };
        if !self.sources.contains_key(&name) {
            return Err(TemplateError::UnknownName {
                name,
                available: self.names.join(", "),
            });
        }
        Ok(name)
    }

    /// Renders a conversation.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        self.render_with(
            messages,
            &RenderOptions {
                add_generation_prompt,
                ..Default::default()
            },
        )
    }

    /// Renders a conversation with tools, a named template or extra variables.
    pub fn render_with(
        &self,
        messages: &[Message],
        opts: &RenderOptions,
    ) -> Result<String, TemplateError> {
        self.render_inner(messages, opts, false)
    }

    /// Whether the template [`ChatTemplate::render_with`] would use marks
    /// its assistant text with `{% generation %}` blocks.
    pub fn has_generation_blocks(&self, opts: &RenderOptions) -> bool {
        self.pick(opts)
            .map(|n| self.tracked.contains(&n))
            .unwrap_or(false)
    }

    /// Renders and returns the character ranges of the `{% generation %}`
    /// blocks' output, as transformers' `return_assistant_tokens_mask`
    /// tracks them (empty when the template has none).
    pub fn render_tracked(
        &self,
        messages: &[Message],
        opts: &RenderOptions,
    ) -> Result<(String, Vec<std::ops::Range<usize>>), TemplateError> {
        let marked = self.render_inner(messages, opts, true)?;
        let mut text = String::with_capacity(marked.len());
        let mut spans = vec![];
        let mut open: Vec<usize> = vec![];
        let mut rest = marked.as_str();
        loop {
            let next = [GEN_OPEN, GEN_CLOSE]
                .iter()
                .filter_map(|m| rest.find(m).map(|i| (i, *m)))
                .min();
            let Some((i, m)) = next else {
                text.push_str(rest);
                break;
            };
            text.push_str(&rest[..i]);
            rest = &rest[i + m.len()..];
            if m == GEN_OPEN {
                open.push(text.len());
            } else if let Some(start) = open.pop() {
                // Nested blocks: transformers records each; the outer one
                // covers the inner, so keep outermost spans only.
                if open.is_empty() {
                    spans.push(start..text.len());
                }
            }
        }
        Ok((text, spans))
    }

    fn render_inner(
        &self,
        messages: &[Message],
        opts: &RenderOptions,
        track: bool,
    ) -> Result<String, TemplateError> {
        let name = self.pick(opts)?;
        let tmpl = self
            .env
            .get_template(&name)
            .map_err(|e| TemplateError::Syntax {
                name: name.clone(),
                message: e.to_string(),
            })?;
        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in &opts.extra {
            ctx.insert(k.clone(), Value::from_serialize(v));
        }
        for (k, v) in &self.special {
            ctx.insert(k.clone(), Value::from(v.clone()));
        }
        ctx.insert("messages".into(), Value::from_serialize(messages));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(opts.add_generation_prompt),
        );
        ctx.insert(
            "tools".into(),
            opts.tools
                .as_ref()
                .map_or(Value::from(()), Value::from_serialize),
        );
        ctx.entry("documents".into()).or_insert(Value::from(()));
        let (open, close) = if track {
            (GEN_OPEN, GEN_CLOSE)
        } else {
            ("", "")
        };
        ctx.insert(GEN_OPEN_VAR.into(), Value::from(open));
        ctx.insert(GEN_CLOSE_VAR.into(), Value::from(close));
        tmpl.render(ctx).map_err(|e| TemplateError::Render {
            name,
            message: render_message(&e),
        })
    }

    /// Character ranges of each assistant turn (content plus its end-of-turn
    /// text) in `render(messages, false)`, found by rendering the prefixes.
    /// The training loss is taken on these spans.
    ///
    /// A template with `{% generation %}` blocks says itself which text the
    /// assistant generates: its blocks' output is used instead (what
    /// transformers' `return_assistant_tokens_mask` and TRL's
    /// `assistant_only_loss` train on).
    pub fn assistant_spans(
        &self,
        messages: &[Message],
    ) -> Result<(String, Vec<std::ops::Range<usize>>), TemplateError> {
        let plain = RenderOptions::default();
        if self.has_generation_blocks(&plain) {
            return self.render_tracked(messages, &plain);
        }
        let full = self.render(messages, false)?;
        let mut spans = vec![];
        for (i, m) in messages.iter().enumerate() {
            if m.role != "assistant" {
                continue;
            }
            let before = self.render(&messages[..i], true)?;
            let through = self.render(&messages[..=i], false)?;
            if !full.starts_with(&through) || !through.starts_with(&before) {
                return Err(TemplateError::NotIncremental {
                    detail: format!("turn {i} is not a prefix of the whole conversation"),
                });
            }
            spans.push(before.len()..through.len());
        }
        Ok((full, spans))
    }
}

fn render_message(e: &Error) -> String {
    if e.kind() == ErrorKind::OutOfFuel {
        return format!(
            "the template ran more than {TEMPLATE_FUEL} instructions for one conversation (a loop that does not end?)"
        );
    }
    // `raise_exception` messages are the template author's words: show them as is.
    match e.detail() {
        Some(d) if e.kind() == ErrorKind::InvalidOperation => d.to_string(),
        _ => e.to_string(),
    }
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=None,
/// separators=None, sort_keys=False)` with those keyword arguments.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent: Option<Value> = kwargs.get("indent")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => match v.as_i64() {
            Some(n) => Some(" ".repeat(n.max(0) as usize)),
            None => v.as_str().map(str::to_string),
        },
    };
    let (item, key) = match separators.as_deref() {
        Some([a, b]) => (a.clone(), b.clone()),
        Some(_) => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be a pair",
            ))
        }
        None if indent.is_some() => (",".to_string(), ": ".to_string()),
        None => (", ".to_string(), ": ".to_string()),
    };
    let json = serde_json::to_value(value)
        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = String::new();
    let style = PyJson {
        indent,
        item,
        key,
        ensure_ascii: ensure_ascii.unwrap_or(false),
        sort_keys: sort_keys.unwrap_or(false),
    };
    style.write(&json, 0, &mut out);
    Ok(out)
}

/// Python's `json.dumps` output format.
struct PyJson {
    indent: Option<String>,
    item: String,
    key: String,
    ensure_ascii: bool,
    sort_keys: bool,
}

impl PyJson {
    fn newline(&self, level: usize, out: &mut String) {
        if let Some(ind) = &self.indent {
            out.push('\n');
            for _ in 0..level {
                out.push_str(ind);
            }
        }
    }

    fn write(&self, v: &serde_json::Value, level: usize, out: &mut String) {
        use serde_json::Value as J;
        match v {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Number(n) => out.push_str(&py_number(n)),
            J::String(s) => self.string(s, out),
            J::Array(xs) if xs.is_empty() => out.push_str("[]"),
            J::Array(xs) => {
                out.push('[');
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item);
                    }
                    self.newline(level + 1, out);
                    self.write(x, level + 1, out);
                }
                self.newline(level, out);
                out.push(']');
            }
            J::Object(o) if o.is_empty() => out.push_str("{}"),
            J::Object(o) => {
                let mut entries: Vec<(&String, &J)> = o.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, x)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item);
                    }
                    self.newline(level + 1, out);
                    self.string(k, out);
                    out.push_str(&self.key);
                    self.write(x, level + 1, out);
                }
                self.newline(level, out);
                out.push('}');
            }
        }
    }

    fn string(&self, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c if self.ensure_ascii && !c.is_ascii() => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// Python's float repr: `1.0`, `1e-05`, `1e+20`.
fn py_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or(0.0);
        let s = format!("{f:?}");
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = e.strip_prefix('-').map_or(("+", e), |d| ("-", d));
            return format!("{m}e{sign}{digits:0>2}");
        }
        if f.abs() >= 1e16 {
            return format!("{f:e}").replacen('e', "e+", 1);
        }
        s
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(src: &str) -> ChatTemplate {
        let special = BTreeMap::from([("bos_token".to_string(), "<s>".to_string())]);
        ChatTemplate::new(
            BTreeMap::from([("default".to_string(), src.to_string())]),
            special,
        )
        .unwrap()
    }

    #[test]
    fn tojson_matches_python_json_dumps() {
        let t = one(
            "{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ 'é<&>' | tojson(ensure_ascii=true) }}",
        );
        let opts = RenderOptions {
            extra: BTreeMap::from([(
                "x".to_string(),
                serde_json::json!({"b": [1, 2.5, "q\"\n"], "a": null, "c": {}}),
            )]),
            ..Default::default()
        };
        let out = t.render_with(&[], &opts).unwrap();
        assert_eq!(
            out,
            "{\"b\": [1, 2.5, \"q\\\"\\n\"], \"a\": null, \"c\": {}}|{\n  \"b\": [\n    1,\n    2.5,\n    \"q\\\"\\n\"\n  ],\n  \"a\": null,\n  \"c\": {}\n}|\"\\u00e9<&>\""
        );
    }

    #[test]
    fn python_numbers() {
        let f = |x: f64| py_number(&serde_json::Number::from_f64(x).unwrap());
        assert_eq!(f(1.0), "1.0");
        assert_eq!(f(1e-5), "1e-05");
        assert_eq!(f(1e20), "1e+20");
        assert_eq!(f(0.1), "0.1");
    }

    #[test]
    fn raise_exception_and_pycompat_methods() {
        let t = one("{% if messages[0].role != 'user' %}{{ raise_exception('Conversation must start with the user') }}{% endif %}{{ bos_token }}{{ messages[0].content.strip() | upper }}");
        assert_eq!(t.render(&[Message::user("  hi ")], false).unwrap(), "<s>HI");
        let e = t
            .render(&[Message::assistant("x")], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Conversation must start with the user"), "{e}");
    }

    #[test]
    fn strftime_now_formats_today() {
        let t = one("{{ strftime_now('%Y-%m-%d') }}");
        let out = t.render(&[], false).unwrap();
        assert_eq!(out, chrono::Local::now().format("%Y-%m-%d").to_string());
    }

    #[test]
    fn assistant_spans_cover_turn_and_end_token() {
        let t = one("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}");
        let msgs = [
            Message::user("a"),
            Message::assistant("b"),
            Message::user("c"),
            Message::assistant("d"),
        ];
        let (text, spans) = t.assistant_spans(&msgs).unwrap();
        let parts: Vec<&str> = spans.iter().map(|s| &text[s.clone()]).collect();
        assert_eq!(parts, ["b<|end|>", "d<|end|>"]);
    }

    #[test]
    fn missing_template_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = ChatTemplate::from_dir(dir.path()).unwrap_err();
        assert!(matches!(e, TemplateError::NotFound { .. }));
        assert!(matches!(
            ChatTemplate::new(
                BTreeMap::from([("default".into(), "{% if %}".into())]),
                BTreeMap::new()
            ),
            Err(TemplateError::Syntax { .. })
        ));
    }
}

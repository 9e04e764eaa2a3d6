//! The dataset contract and the dataset operations that need nothing but
//! the engine: `jsonl`, `prompts`, `concat` and `apply` (the transforms of
//! `data | t`: `system`, `user_prefix`, `user_suffix`, `take`, `shuffle`,
//! `keep_matching`).
//!
//! A dataset step's output is `data.jsonl`: one conversation a line,
//! `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}, ...]}`
//! (the Hugging Face chat format; a prompt-only row has no assistant turn).
//! [`read`] and [`write`] are what every operation producing or consuming a
//! dataset uses.

use super::{Args, Op, OpCtx, OpError};
use crate::sema::ir::{DeclKind, Value};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;

/// File name of a dataset step's rows.
pub const DATA: &str = "data.jsonl";

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// One conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub messages: Vec<Message>,
}

impl Row {
    fn msg(role: &str, content: &str) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A conversation from its parts.
    pub fn new(system: Option<&str>, user: &str, assistant: Option<&str>) -> Row {
        let mut messages = Vec::new();
        if let Some(s) = system {
            messages.push(Row::msg("system", s));
        }
        messages.push(Row::msg("user", user));
        if let Some(a) = assistant {
            messages.push(Row::msg("assistant", a));
        }
        Row { messages }
    }

    /// The system prompt, if any.
    pub fn system(&self) -> Option<&str> {
        self.messages
            .iter()
            .find(|m| m.role == "system")
            .map(|m| m.content.as_str())
    }

    /// The last assistant turn, if any.
    pub fn assistant(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == "assistant")
            .map(|m| m.content.as_str())
    }

    /// Why this row is not a conversation a chat template can render, if
    /// it is not: no messages, or no user turn before the first assistant
    /// turn (system prompts may come first).
    pub fn malformed(&self) -> Option<&'static str> {
        let first = self.messages.iter().find(|m| m.role != "system");
        match first.map(|m| m.role.as_str()) {
            _ if self.messages.is_empty() => Some("`messages` is empty: a row needs at least a user turn"),
            None => Some("only system messages: a row needs a user turn"),
            Some("assistant") => Some(
                "the first turn after the system prompt is the assistant's: a row needs a user turn before it",
            ),
            _ => None,
        }
    }

    /// Removes the system prompt (every system message).
    pub fn clear_system(&mut self) {
        self.messages.retain(|m| m.role != "system");
    }

    /// Sets (replacing) the system prompt.
    pub fn set_system(&mut self, prompt: &str) {
        self.messages.retain(|m| m.role != "system");
        self.messages.insert(0, Row::msg("system", prompt));
    }
}

/// Writes rows as `data.jsonl` in `out`.
pub fn write(out: &Path, rows: &[Row]) -> Result<(), OpError> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join(DATA))?);
    for r in rows {
        serde_json::to_writer(&mut f, r).map_err(OpError::failed)?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    Ok(())
}

/// Reads the rows of a dataset step's output directory.
pub fn read(dir: &Path) -> Result<Vec<Row>, OpError> {
    parse_jsonl(&dir.join(DATA))
}

/// Parses a JSONL file of `{"messages": [...]}`, `{"prompt", "response"}`
/// or `{"prompt"}` objects (blank lines skipped). Every error names the
/// file and, for a bad row, its line: a path that is not a regular file,
/// text that is not UTF-8, a row that is not a conversation (no messages, no
/// user turn before the first assistant turn, an unknown role).
pub fn parse_jsonl(path: &Path) -> Result<Vec<Row>, OpError> {
    let shown = path.display();
    let md = std::fs::metadata(path).map_err(|e| OpError::failed(format!("{shown}: {e}")))?;
    if !md.is_file() {
        let what = if md.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, device or socket)"
        };
        return Err(OpError::failed(format!(
            "{shown} is {what}: a JSONL data file is a regular file, one conversation a line"
        )));
    }
    let f = std::fs::File::open(path).map_err(|e| OpError::failed(format!("{shown}: {e}")))?;
    let mut rows = Vec::new();
    for (i, line) in std::io::BufReader::new(f).split(b'\n').enumerate() {
        let at = || format!("{shown}:{}", i + 1);
        let line = String::from_utf8(line?).map_err(|e| {
            OpError::failed(format!(
                "{}: not UTF-8 text (invalid byte at column {}); JSONL files are UTF-8",
                at(),
                e.utf8_error().valid_up_to() + 1
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| OpError::failed(format!("{}: not JSON: {e}", at())))?;
        let row = if v.get("messages").is_some() {
            let r: Row = serde_json::from_value(v).map_err(|e| {
                OpError::failed(format!(
                    "{}: `messages` should be a list of {{role, content}}: {e}",
                    at()
                ))
            })?;
            if let Some(m) = r
                .messages
                .iter()
                .find(|m| !["system", "user", "assistant"].contains(&m.role.as_str()))
            {
                return Err(OpError::failed(format!(
                    "{}: unknown role `{}`",
                    at(),
                    m.role
                )));
            }
            if let Some(why) = r.malformed() {
                return Err(OpError::failed(format!("{}: {why}", at())));
            }
            r
        } else if let Some(p) = v.get("prompt").and_then(|p| p.as_str()) {
            Row::new(None, p, v.get("response").and_then(|r| r.as_str()))
        } else {
            return Err(OpError::failed(format!(
                "{}: expected {{\"messages\": [...]}}, {{\"prompt\", \"response\"}} or {{\"prompt\"}}",
                at()
            )));
        };
        rows.push(row);
    }
    Ok(rows)
}

macro_rules! simple_op {
    ($t:ident, $name:literal) => {
        pub struct $t;
        impl $t {
            const NAME: &'static str = $name;
        }
    };
}

simple_op!(Jsonl, "jsonl");
simple_op!(Prompts, "prompts");
simple_op!(Concat, "concat");
simple_op!(Apply, "apply");

impl Op for Jsonl {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Dataset
    }
    fn estimate(&self, _args: &Args) -> Option<f64> {
        Some(0.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let path = Path::new(ctx.str("path")?);
        let rows = parse_jsonl(path)?;
        if rows.is_empty() {
            return Err(OpError::failed(format!(
                "{} holds no rows (it is empty or only blank lines): a JSONL data file has one conversation a line",
                path.display()
            )));
        }
        ctx.log(format!("{} rows", rows.len()));
        write(ctx.out, &rows)
    }
}

impl Op for Prompts {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Dataset
    }
    fn estimate(&self, _args: &Args) -> Option<f64> {
        Some(0.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let Value::List(items) = ctx.arg("items")? else {
            return Err(OpError::failed("`items` should be a list of strings"));
        };
        let rows = items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(|s| Row::new(None, s, None))
                    .ok_or_else(|| OpError::failed("`items` should be strings"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        write(ctx.out, &rows)
    }
}

impl Op for Concat {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Dataset
    }
    fn estimate(&self, _args: &Args) -> Option<f64> {
        Some(0.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let mut rows = Vec::new();
        for input in ctx.inputs_of(ctx.arg("parts")?)? {
            rows.extend(read(&input.dir)?);
        }
        write(ctx.out, &rows)
    }
}

/// Applies one transform call to rows.
pub fn transform(rows: Vec<Row>, t: &Value) -> Result<Vec<Row>, OpError> {
    let Value::Call(c) = t else {
        return Err(OpError::failed(format!("expected a transform, got {t:?}")));
    };
    let s = |k: &str| -> Result<&str, OpError> {
        c.args
            .get(k)
            .and_then(|v| v.as_str())
            .ok_or_else(|| OpError::failed(format!("`{}` needs `{k}`", c.func)))
    };
    let i = |k: &str| -> Result<i64, OpError> {
        match c.args.get(k) {
            Some(Value::Int(n)) => Ok(*n),
            _ => Err(OpError::failed(format!("`{}` needs an int `{k}`", c.func))),
        }
    };
    let mut rows = rows;
    match &*c.func {
        "system" => match c.args.get("prompt") {
            // `system(none)`: no system prompt.
            Some(Value::None) => rows.iter_mut().for_each(Row::clear_system),
            _ => {
                let p = s("prompt")?;
                rows.iter_mut().for_each(|r| r.set_system(p));
            }
        },
        "cycle_system" => {
            let mut prompts: Vec<&str> = match c.args.get("prompts") {
                Some(Value::List(l)) => l.iter().filter_map(|v| v.as_str()).collect(),
                _ => vec![],
            };
            if let Some(Value::Int(k)) = c.args.get("first") {
                if *k as usize > prompts.len() {
                    return Err(OpError::At {
                        span: c.span,
                        message: format!(
                            "`cycle_system` asks for the first {k} of {} prompts",
                            prompts.len()
                        ),
                    });
                }
                prompts.truncate((*k).max(0) as usize);
            }
            if prompts.is_empty() {
                return Err(OpError::At {
                    span: c.span,
                    message: "`cycle_system` has no prompts to cycle".into(),
                });
            }
            for (i, r) in rows.iter_mut().enumerate() {
                r.set_system(prompts[i % prompts.len()]);
            }
        }
        "user_prefix" | "user_suffix" => {
            let text = s("text")?;
            for r in &mut rows {
                for m in r.messages.iter_mut().filter(|m| m.role == "user") {
                    m.content = if c.func == "user_prefix" {
                        format!("{text}{}", m.content)
                    } else {
                        format!("{}{text}", m.content)
                    };
                }
            }
        }
        "take" => rows.truncate(i("n")?.max(0) as usize),
        "shuffle" => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(i("seed")? as u64);
            rows.shuffle(&mut rng);
        }
        "keep_matching" => {
            let pattern = s("pattern")?;
            let re = regex::Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| OpError::failed(format!("`keep_matching` pattern: {e}")))?;
            let seen = rows.len();
            let first = rows
                .iter()
                .find_map(|r| r.assistant())
                .map(|a| a.chars().take(60).collect::<String>());
            rows.retain(|r| r.assistant().is_some_and(|a| re.is_match(a)));
            if rows.is_empty() {
                let example = match first {
                    Some(a) => format!("; the first answer was {a:?}"),
                    None => "; none of them has an assistant turn".into(),
                };
                return Err(OpError::At {
                    span: c.span,
                    message: format!(
                        "`keep_matching(\"{pattern}\")` kept none of the {seen} {} it saw{example}",
                        if seen == 1 { "row" } else { "rows" }
                    ),
                });
            }
        }
        other => return Err(OpError::failed(format!("unknown transform `{other}`"))),
    }
    Ok(rows)
}

impl Op for Apply {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Dataset
    }
    fn estimate(&self, _args: &Args) -> Option<f64> {
        Some(0.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let input = ctx.input(ctx.arg("data")?)?;
        let rows = transform(read(&input.dir)?, ctx.arg("transform")?)?;
        ctx.log(format!("{} rows", rows.len()));
        write(ctx.out, &rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::sema::ir::call as t;

    fn rows() -> Vec<Row> {
        vec![
            Row::new(Some("old"), "q1", Some("42")),
            Row::new(None, "q2", Some("forty two")),
            Row::new(None, "q3", None),
        ]
    }

    #[test]
    fn transforms() {
        let r = transform(
            rows(),
            &t("system", vec![("prompt", Value::Str("S".into()))]),
        )
        .unwrap();
        assert!(r
            .iter()
            .all(|r| r.system() == Some("S") && r.messages[0].role == "system"));
        assert_eq!(r[0].messages.len(), 3);
        // `system(none)`: no system prompt, the rest of each row kept.
        let r = transform(rows(), &t("system", vec![("prompt", Value::None)])).unwrap();
        assert!(r.iter().all(|r| r.system().is_none()));
        assert_eq!(r[0].messages.len(), 2);
        assert_eq!(r[1..], rows()[1..]);
        let r = transform(
            rows(),
            &t("user_prefix", vec![("text", Value::Str(">".into()))]),
        )
        .unwrap();
        assert_eq!(r[1].messages[0].content, ">q2");
        let r = transform(
            rows(),
            &t(
                "keep_matching",
                vec![("pattern", Value::Str("[0-9]+".into()))],
            ),
        )
        .unwrap();
        assert_eq!(r.len(), 1);
        let r = transform(rows(), &t("take", vec![("n", Value::Int(2))])).unwrap();
        assert_eq!(r.len(), 2);
        let a = transform(rows(), &t("shuffle", vec![("seed", Value::Int(3))])).unwrap();
        let b = transform(rows(), &t("shuffle", vec![("seed", Value::Int(3))])).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn cycle_system_gives_row_i_prompt_i_mod_len() {
        let prompts = |l: &[&str]| {
            t(
                "cycle_system",
                vec![(
                    "prompts",
                    Value::List(l.iter().map(|s| Value::Str((*s).into())).collect()),
                )],
            )
        };
        let many: Vec<Row> = (0..7)
            .map(|i| Row::new(Some("old"), &format!("q{i}"), Some("a")))
            .collect();
        let r = transform(many, &prompts(&["A", "B", "C"])).unwrap();
        let got: Vec<&str> = r.iter().map(|r| r.system().unwrap()).collect();
        assert_eq!(got, ["A", "B", "C", "A", "B", "C", "A"]);
        // One system message per row, first, replacing the old one.
        assert!(r.iter().all(
            |r| r.messages.iter().filter(|m| m.role == "system").count() == 1
                && r.messages[0].role == "system"
        ));
        // One prompt is `system`.
        let one = transform(rows(), &prompts(&["S"])).unwrap();
        let sys = transform(
            rows(),
            &t("system", vec![("prompt", Value::Str("S".into()))]),
        )
        .unwrap();
        assert_eq!(one, sys);
        let e = transform(rows(), &prompts(&[])).unwrap_err();
        assert!(matches!(e, OpError::At { .. }), "{e:?}");
        // `first = k` cycles a prefix of the list.
        let first = |k: i64| {
            let mut c = prompts(&["A", "B", "C"]);
            if let Value::Call(call) = &mut c {
                call.args.insert("first".into(), Value::Int(k));
            }
            c
        };
        let many: Vec<Row> = (0..5)
            .map(|i| Row::new(None, &format!("q{i}"), Some("a")))
            .collect();
        let r = transform(many.clone(), &first(2)).unwrap();
        let got: Vec<&str> = r.iter().map(|r| r.system().unwrap()).collect();
        assert_eq!(got, ["A", "B", "A", "B", "A"]);
        assert!(transform(many, &first(4)).is_err());
    }

    #[test]
    fn a_filter_that_keeps_nothing_fails_at_the_filter_with_the_count() {
        let filter = t(
            "keep_matching",
            vec![("pattern", Value::Str("[0-9]{5}".into()))],
        );
        let e = transform(rows(), &filter).unwrap_err();
        let OpError::At { span, message } = e else {
            panic!("{e:?}")
        };
        assert_eq!(span, filter_span(&filter));
        assert!(
            message.contains("kept none of the 3 rows it saw"),
            "{message}"
        );
        assert!(message.contains("the first answer was \"42\""), "{message}");
        let r = transform(vec![], &filter);
        assert!(r.is_err(), "an empty input is kept empty: an error too");
    }

    fn filter_span(v: &Value) -> crate::syntax::Span {
        match v {
            Value::Call(c) => c.span,
            _ => unreachable!(),
        }
    }

    #[test]
    fn jsonl_formats_round_trip_and_errors_name_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.jsonl");
        std::fs::write(
            &p,
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n\n{\"prompt\": \"p\", \"response\": \"r\"}\n{\"prompt\": \"only\"}\n",
        )
        .unwrap();
        let rows = parse_jsonl(&p).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].assistant(), Some("r"));
        write(d.path(), &rows).unwrap();
        assert_eq!(read(d.path()).unwrap(), rows);
        std::fs::write(&p, "{\"prompt\": \"ok\"}\n{\"text\": 1}\n").unwrap();
        let e = parse_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains("x.jsonl:2"), "{e}");
    }

    #[test]
    fn jsonl_rows_that_are_not_conversations_fail_naming_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.jsonl");
        let user = r#"{"messages": [{"role": "user", "content": "hi"}]}"#;
        for (row, want) in [
            (r#"{"messages": []}"#, "`messages` is empty"),
            (
                r#"{"messages": [{"role": "assistant", "content": "hi"}]}"#,
                "a row needs a user turn before it",
            ),
            (
                r#"{"messages": [{"role": "system", "content": "s"}]}"#,
                "only system messages",
            ),
        ] {
            std::fs::write(&p, format!("{user}\n{row}\n")).unwrap();
            let e = parse_jsonl(&p).unwrap_err().to_string();
            assert!(e.contains("x.jsonl:2") && e.contains(want), "{e}");
        }
        // A system prompt before the user turn is a conversation.
        std::fs::write(
            &p,
            r#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}"#,
        )
        .unwrap();
        assert_eq!(parse_jsonl(&p).unwrap().len(), 1);
        // Not UTF-8: the line and column of the bad byte.
        std::fs::write(&p, b"{\"prompt\": \"ok\"}\n{\"prompt\": \"\xff\"}\n").unwrap();
        let e = parse_jsonl(&p).unwrap_err().to_string();
        assert!(e.contains("x.jsonl:2") && e.contains("not UTF-8"), "{e}");
        // A directory is named as one.
        let e = parse_jsonl(d.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        // An empty file parses to no rows (the `jsonl` step refuses it).
        std::fs::write(&p, "\n\n").unwrap();
        assert!(parse_jsonl(&p).unwrap().is_empty());
    }
}

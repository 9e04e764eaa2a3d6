//! Literals: numbers (validated and converted), strings with escapes, and
//! raw strings with their indentation rule.

use super::build::placeholder;
use super::*;

impl Builder {
    pub(super) fn number(&mut self, p: Pair<'_, Rule>) -> Expr {
        let span = self.span(&p);
        let text = p.as_str();
        match parse_number(text) {
            Ok(kind) => Expr { kind, span },
            Err((code, msg, help)) => {
                self.errors
                    .push(Diagnostic::error(code, msg, span, "this number").with_help(help));
                placeholder(span)
            }
        }
    }

    /// A `"..."` literal: processes escapes, reporting bad ones.
    pub(super) fn string(&mut self, p: Pair<'_, Rule>) -> String {
        let start = self.base + p.as_span().start() + 1;
        let inner = p.as_str();
        let inner = &inner[1..inner.len().saturating_sub(1).max(1)];
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            let Some((_, e)) = chars.next() else { break };
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0' => out.push('\0'),
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'u' => {
                    let rest = &inner[i + 2..];
                    let ok = rest.strip_prefix('{').and_then(|r| {
                        let close = r.find('}')?;
                        let hex = &r[..close];
                        let ch = (1..=6)
                            .contains(&hex.len())
                            .then(|| u32::from_str_radix(hex, 16).ok())
                            .flatten()?;
                        Some((char::from_u32(ch)?, close + 2))
                    });
                    match ok {
                        Some((ch, len)) => {
                            out.push(ch);
                            for _ in 0..len {
                                chars.next();
                            }
                        }
                        None => {
                            let end = rest.find('}').map_or(i + 2, |n| i + 3 + n).min(inner.len());
                            self.errors.push(
                                Diagnostic::error(
                                    "E0004",
                                    "invalid unicode escape",
                                    Span::new(self.file, start + i, start + end),
                                    "not a valid `\\u{...}` escape",
                                )
                                .with_help("write 1 to 6 hex digits of a Unicode scalar value in braces, e.g. `\\u{e9}`"),
                            );
                        }
                    }
                }
                other => {
                    self.errors.push(
                        Diagnostic::error(
                            "E0004",
                            format!("invalid escape sequence `\\{other}`"),
                            Span::new(self.file, start + i, start + i + 1 + other.len_utf8()),
                            "unknown escape",
                        )
                        .with_help(
                            "valid escapes are \\n \\t \\r \\0 \\\\ \\\" and \\u{HEX}; write `\\\\` for a backslash, \
                             or use a raw string \"\"\"...\"\"\" that keeps backslashes",
                        ),
                    );
                }
            }
        }
        out
    }

    /// A `"""..."""` literal with the indentation rule of docs/language.md.
    pub(super) fn raw_string(&mut self, p: Pair<'_, Rule>) -> String {
        let content_start = self.base + p.as_span().start() + 3;
        let whole = p.as_str();
        let text = &whole[3..whole.len() - 3];
        match dedent_raw(text) {
            Ok(s) => s,
            Err((off, len)) => {
                self.errors.push(
                    Diagnostic::error(
                        "E0020",
                        "raw string line is indented less than its closing `\"\"\"`",
                        Span::new(self.file, content_start + off, content_start + off + len),
                        "this line",
                    )
                    .with_help("indent every line at least as far as the closing `\"\"\"`, or move the closing `\"\"\"` left"),
                );
                String::new()
            }
        }
    }
}

/// Applies the raw-string rule: a line break right after the opening `"""`
/// is dropped; when the closing `"""` stands on its own line, that line is
/// dropped with the line break before it, and its indentation is removed
/// from every line (lines that hold only whitespace become empty). CRLF is
/// read as LF. Errors give the offset and length of a non-blank line that
/// lacks the indentation.
pub fn dedent_raw(text: &str) -> Result<String, (usize, usize)> {
    let mut offset = 0;
    let first_line_end = text.find('\n');
    if let Some(n) = first_line_end {
        if text[..n].trim_matches([' ', '\t', '\r']).is_empty() {
            offset = n + 1;
        }
    }
    let body = &text[offset..];
    let Some(last_nl) = body.rfind('\n') else {
        return Ok(body.replace("\r\n", "\n"));
    };
    let closing = &body[last_nl + 1..];
    if !closing.bytes().all(|b| b == b' ' || b == b'\t') {
        return Ok(body.replace("\r\n", "\n"));
    }
    let indent = closing;
    let mut out = String::with_capacity(body.len());
    let mut pos = offset;
    for (i, line) in body[..last_nl].split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line_trim = line.strip_suffix('\r').unwrap_or(line);
        if line_trim.trim_matches([' ', '\t']).is_empty() {
            // blank line: nothing
        } else if let Some(rest) = line_trim.strip_prefix(indent) {
            out.push_str(rest);
        } else {
            return Err((pos, line_trim.len()));
        }
        pos += line.len() + 1;
    }
    Ok(out)
}

type NumError = (&'static str, String, String);

/// Validates a broadly lexed number and converts it.
pub fn parse_number(text: &str) -> Result<ExprKind, NumError> {
    let malformed = |help: &str| {
        (
            "E0009",
            format!("malformed number `{text}`"),
            help.to_string(),
        )
    };
    let b = text.as_bytes();
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'x' | b'b' | b'o') {
        return Err(malformed(
            "only decimal numbers are supported; write the value in decimal",
        ));
    }
    let mut i = 0;
    // digits with single `_` between digits
    let digits = |i: &mut usize| -> Result<(), NumError> {
        let start = *i;
        while *i < b.len() && (b[*i].is_ascii_digit() || b[*i] == b'_') {
            *i += 1;
        }
        let run = &text[start..*i];
        if run.is_empty() || !run.as_bytes()[0].is_ascii_digit() {
            return Err(malformed("expected digits here, e.g. `1.5` or `1e-3`"));
        }
        if run.ends_with('_') || run.contains("__") {
            return Err(malformed("`_` may only separate two digits, as in `1_000`"));
        }
        Ok(())
    };
    digits(&mut i)?;
    let mut float = false;
    if i < b.len() && b[i] == b'.' {
        float = true;
        i += 1;
        if i < b.len() && b[i] == b'_' {
            return Err(malformed(
                "`_` may only separate two digits, as in `1_000.5`",
            ));
        }
        digits(&mut i)?;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        float = true;
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return Err(malformed(
                "an exponent needs digits, as in `1e-3` or `2.5E4`",
            ));
        }
        digits(&mut i)?;
    }
    if i < b.len() {
        return Err(if b[i] == b'.' {
            malformed("a number has at most one decimal point")
        } else {
            malformed("a number cannot be followed directly by letters; add a space or an operator")
        });
    }
    let clean: std::borrow::Cow<'_, str> = if b.contains(&b'_') {
        text.chars()
            .filter(|&c| c != '_')
            .collect::<String>()
            .into()
    } else {
        text.into()
    };
    if float {
        match clean.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(ExprKind::Float(f)),
            _ => Err((
                "E0009",
                format!("float literal `{text}` is out of range"),
                "floats must be below about 1.8e308".into(),
            )),
        }
    } else {
        clean.parse::<i64>().map(ExprKind::Int).map_err(|_| {
            (
                "E0010",
                format!("integer literal `{text}` is too large"),
                "integers must be at most 9223372036854775807; write a float such as `1e20` if an approximate value is enough"
                    .into(),
            )
        })
    }
}

//! A light scanner run before the grammar: it collects comments (which the
//! grammar skips), and reports the lexical errors that would otherwise come
//! out of pest as confusing expectation lists: stray characters, unterminated
//! strings, unbalanced or too deeply nested brackets.

use super::ast::{Comment, CommentKind};
use super::{FileId, Span};
use crate::diag::Diagnostic;

/// Brackets nested deeper than this are rejected (E0008) before parsing, so
/// that no input can exhaust the parser's stack.
pub const MAX_BRACKET_DEPTH: usize = 64;

/// At most this many lexical errors are reported for one file.
const MAX_ERRORS: usize = 20;

pub struct Scan {
    pub comments: Vec<Comment>,
    pub errors: Vec<Diagnostic>,
    /// Byte ranges of the comments (`#` to the end of the line) and
    /// byte-order marks, which the grammar reads as spaces ([`blanked`]).
    pub blanks: Vec<std::ops::Range<usize>>,
    /// The first few line starts in the second half of the file that are
    /// outside brackets, strings and comments: where the parser may cut a
    /// large file in two.
    pub top_lines: Vec<usize>,
}

/// How many line starts [`Scan::top_lines`] keeps.
const TOP_LINES: usize = 64;

/// The text the grammar parses: `src` with every comment and byte-order
/// mark replaced by spaces, byte for byte (offsets are unchanged).
pub fn blanked<'s>(src: &'s str, blanks: &[std::ops::Range<usize>]) -> std::borrow::Cow<'s, str> {
    if blanks.is_empty() {
        return std::borrow::Cow::Borrowed(src);
    }
    let mut b = src.as_bytes().to_vec();
    for r in blanks {
        b[r.clone()].fill(b' ');
    }
    // Only whole UTF-8 sequences were replaced, by ASCII.
    std::borrow::Cow::Owned(String::from_utf8(b).unwrap_or_else(|_| src.to_string()))
}

/// Bytes of names, numbers and operators: nothing to check, skipped in runs.
const CODE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'_' | b'=' | b',' | b'.' | b'|' | b'+' | b'-' | b'*' | b'/' | b':'
            );
        c += 1;
    }
    t
};

fn closer(open: u8) -> u8 {
    match open {
        b'(' => b')',
        b'[' => b']',
        _ => b'}',
    }
}

pub fn scan(file: FileId, src: &str) -> Scan {
    let b = src.as_bytes();
    let mut comments = Vec::new();
    let mut blanks = Vec::new();
    let mut top_lines = Vec::new();
    let half = src.len() / 2;
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut stack: Vec<usize> = Vec::new(); // offsets of open brackets
    let mut line_has_code = false;
    // Minus signs in a row (spaces and comments between them allowed): each
    // is one more level of the grammar's recursion, like a bracket.
    let mut minus = 0usize;
    let mut i = 0;
    let sp = |s: usize, e: usize| Span::new(file, s, e);
    // Reports an error that ends the scan (every later bracket or sign
    // would be reported as a cascade of it).
    macro_rules! stop {
        ($d:expr) => {{
            errors.push($d);
            return Scan {
                comments,
                errors,
                blanks,
                top_lines,
            };
        }};
    }
    // A carriage return without a line feed (old Mac line ends): to the
    // grammar the whole file would be one line, one comment hiding every
    // declaration after it ("ok (0 nodes)").
    if let Some(at) = (0..b.len()).find(|&k| b[k] == b'\r' && b.get(k + 1) != Some(&b'\n')) {
        stop!(Diagnostic::error(
            "E0001",
            "a carriage return without a line feed",
            sp(at, at + 1),
            "line ends here with CR only",
        )
        .with_help(
            "this file has CR-only line ends (classic Mac); inoc reads LF or CRLF line ends: convert it (e.g. `tr '\\r' '\\n'`)"
        ));
    }
    while i < b.len() && errors.len() < MAX_ERRORS {
        let c = b[i];
        match c {
            b'\n' => {
                line_has_code = false;
                i += 1;
                if i >= half && stack.is_empty() && top_lines.len() < TOP_LINES {
                    top_lines.push(i);
                }
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r') {
                    i += 1;
                }
            }
            b'#' => {
                let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
                let raw = &src[i..end];
                let (kind, body) = if raw.starts_with("##") && !raw.starts_with("###") {
                    (CommentKind::Doc, &raw[2..])
                } else {
                    (CommentKind::Line, &raw[1..])
                };
                let body = body.strip_prefix(' ').unwrap_or(body).trim_end();
                comments.push(Comment {
                    span: sp(i, raw.trim_end().len() + i),
                    kind,
                    text: body.to_string(),
                    own_line: !line_has_code,
                });
                blanks.push(i..end);
                i = end;
            }
            b'"' if b[i..].starts_with(b"\"\"\"") => {
                line_has_code = true;
                minus = 0;
                match src[i + 3..].find("\"\"\"") {
                    Some(n) => i = i + 3 + n + 3,
                    None => {
                        errors.push(
                            Diagnostic::error(
                                "E0003",
                                "unterminated raw string",
                                sp(i, i + 3),
                                "this raw string is never closed",
                            )
                            .with_help("close it with `\"\"\"`"),
                        );
                        i = b.len();
                    }
                }
            }
            b'"' => {
                line_has_code = true;
                minus = 0;
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        Some(b'"') => {
                            i = j + 1;
                            break;
                        }
                        Some(b'\\') if b.get(j + 1).is_some_and(|&n| n != b'\n') => j += 2,
                        Some(b'\n') | None => {
                            let end = if b.get(j.wrapping_sub(1)) == Some(&b'\r') {
                                j - 1
                            } else {
                                j
                            };
                            errors.push(
                                Diagnostic::error("E0002", "unterminated string", sp(i, end.max(i + 1)), "this string is never closed")
                                    .with_help("close it with `\"` on the same line; for text over several lines use a raw string `\"\"\"...\"\"\"`"),
                            );
                            i = j;
                            break;
                        }
                        Some(_) => j += 1,
                    }
                }
            }
            b'(' | b'[' | b'{' => {
                line_has_code = true;
                minus = 0;
                if stack.len() >= MAX_BRACKET_DEPTH {
                    stop!(Diagnostic::error(
                        "E0008",
                        format!("brackets are nested more than {MAX_BRACKET_DEPTH} levels deep"),
                        sp(i, i + 1),
                        "too deep here",
                    )
                    .with_help(
                        "name the inner parts with `let` constants to flatten the expression",
                    ));
                }
                stack.push(i);
                i += 1;
            }
            b')' | b']' | b'}' => {
                line_has_code = true;
                minus = 0;
                match stack.pop() {
                    Some(open) if closer(b[open]) == c => {}
                    Some(open) => {
                        let (o, want) = (b[open] as char, closer(b[open]) as char);
                        stop!(Diagnostic::error(
                            "E0005",
                            format!("mismatched closing delimiter `{}`", c as char),
                            sp(i, i + 1),
                            format!("expected `{want}` here"),
                        )
                        .with_label(sp(open, open + 1), format!("this `{o}` is not closed"))
                        .with_help(format!(
                            "close the `{o}` with `{want}` before this `{}`",
                            c as char
                        )));
                    }
                    None => {
                        stop!(Diagnostic::error(
                            "E0007",
                            format!("unexpected closing delimiter `{}`", c as char),
                            sp(i, i + 1),
                            "no open bracket to close here",
                        )
                        .with_help("remove it, or add the opening bracket it belongs to"));
                    }
                }
                i += 1;
            }
            c if CODE[c as usize] => {
                line_has_code = true;
                while i < b.len() && CODE[b[i] as usize] && minus <= MAX_BRACKET_DEPTH {
                    minus = if b[i] == b'-' { minus + 1 } else { 0 };
                    i += 1;
                }
                if minus > MAX_BRACKET_DEPTH {
                    let at = i - 1;
                    stop!(
                        Diagnostic::error(
                            "E0008",
                            format!("more than {MAX_BRACKET_DEPTH} minus signs in a row"),
                            sp(at, at + 1),
                            "too deep here",
                        )
                        .with_help("each `-` negates what follows it; write the value once, with at most one sign")
                    );
                }
            }
            _ => {
                line_has_code = true;
                minus = 0;
                let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                let len = ch.len_utf8();
                if ch == '\u{feff}' {
                    blanks.push(i..i + len);
                    i += len;
                    continue;
                }
                let help = match ch {
                    ';' => "statements end at the end of the line; remove the `;`".to_string(),
                    '\'' => "strings use double quotes: `\"...\"`".to_string(),
                    '`' => "strings use double quotes: `\"...\"`; raw strings use `\"\"\"...\"\"\"`".to_string(),
                    c if c.is_alphabetic() => {
                        "names use ASCII letters, digits and `_`; put other text in a string".to_string()
                    }
                    '<' | '>' | '!' | '&' | '%' | '^' | '~' | '?' | '@' | '$' | '\\' => {
                        "this character is not part of the language; see docs/language.md for the operators".to_string()
                    }
                    _ => "remove it, or put it inside a string".to_string(),
                };
                errors.push(
                    Diagnostic::error(
                        "E0001",
                        format!("unexpected character {}", show_char(ch)),
                        sp(i, i + len),
                        "not valid here",
                    )
                    .with_help(help),
                );
                i += len;
            }
        }
    }
    if errors.is_empty() {
        if let Some(&open) = stack.last() {
            let (o, want) = (b[open] as char, closer(b[open]) as char);
            errors.push(
                Diagnostic::error(
                    "E0006",
                    format!("unclosed `{o}`"),
                    sp(open, open + 1),
                    format!("this `{o}` is never closed"),
                )
                .with_help(format!("add the matching `{want}`")),
            );
        }
    }
    Scan {
        comments,
        errors,
        blanks,
        top_lines,
    }
}

fn show_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", c as u32)
    } else {
        format!("`{c}`")
    }
}

/// Words that start an item: a declaration, `let`, `fn` or `import`.
pub const ITEM_KEYWORDS: [&str; 8] = [
    "import", "let", "fn", "model", "dataset", "train", "eval", "report",
];

/// Words that are never names: the literals and the keywords of expressions.
pub const RESERVED: [&str; 8] = ["true", "false", "none", "import", "as", "let", "fn", "in"];

/// A reserved word that is not a value (`true`, `false` and `none` are).
pub fn is_keyword(word: &str) -> bool {
    RESERVED.contains(&word) && !matches!(word, "true" | "false" | "none")
}

/// What a token of [`tokens`] is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokKind {
    Word,
    Num,
    Str,
    Punct,
    Eof,
}

/// A token: its kind, its text and its byte range in the source.
#[derive(Clone, Debug)]
pub struct Tok<'s> {
    pub kind: TokKind,
    pub text: &'s str,
    pub start: usize,
    pub end: usize,
}

impl Tok<'_> {
    pub fn is(&self, p: &str) -> bool {
        self.kind == TokKind::Punct && self.text == p
    }
    pub fn is_word(&self, w: &str) -> bool {
        self.kind == TokKind::Word && self.text == w
    }
    /// Could this token start a value?
    pub fn starts_value(&self) -> bool {
        matches!(self.kind, TokKind::Word | TokKind::Num | TokKind::Str)
            && !(self.kind == TokKind::Word && is_keyword(self.text))
            || self.is("[")
            || self.is("{")
            || self.is("(")
            || self.is("-")
    }
    /// Can this token end a value?
    pub fn ends_value(&self) -> bool {
        matches!(self.kind, TokKind::Word | TokKind::Num | TokKind::Str)
            || self.is(")")
            || self.is("]")
            || self.is("}")
    }
    pub fn is_operator(&self) -> bool {
        self.kind == TokKind::Punct && ["|", "+", "-", "*", "/", "..", "..="].contains(&self.text)
    }
}

/// Splits `src[from..to]` into tokens (comments skipped; strings whole), for
/// explaining a syntax error from the tokens before it (the parser does not
/// need tokens: pest reads the text).
pub fn tokens(src: &str, from: usize, to: usize) -> Vec<Tok<'_>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    while i < to.min(b.len()) {
        let c = b[i];
        let start = i;
        let kind = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c == b'#' {
            i = src[i..].find('\n').map_or(b.len(), |n| i + n);
            continue;
        } else if b[i..].starts_with(b"\"\"\"") {
            i = src[i + 3..].find("\"\"\"").map_or(b.len(), |n| i + 6 + n);
            TokKind::Str
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' && b[i] != b'\n' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i = (i + 1).min(b.len());
            TokKind::Str
        } else if c.is_ascii_digit() {
            while i < b.len()
                && (b[i].is_ascii_alphanumeric()
                    || b[i] == b'_'
                    || (b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)))
            {
                i += 1;
            }
            TokKind::Num
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            TokKind::Word
        } else if b[i..].starts_with(b"..=") {
            i += 3;
            TokKind::Punct
        } else if b[i..].starts_with(b"..") {
            i += 2;
            TokKind::Punct
        } else {
            i += src[i..].chars().next().map_or(1, char::len_utf8);
            TokKind::Punct
        };
        let end = i.min(b.len());
        out.push(Tok {
            kind,
            text: &src[start..end],
            start,
            end,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(src: &str) -> Vec<&'static str> {
        scan(0, src).errors.iter().map(|d| d.code).collect()
    }

    #[test]
    fn tokens_skip_comments_and_keep_strings_and_ranges_whole() {
        let src = "let a = \"x # y\" # note\n0.5..=2 | f(-b)";
        let toks: Vec<(TokKind, &str)> = tokens(src, 0, src.len())
            .into_iter()
            .map(|t| (t.kind, t.text))
            .collect();
        use TokKind::*;
        assert_eq!(
            toks,
            [
                (Word, "let"),
                (Word, "a"),
                (Punct, "="),
                (Str, "\"x # y\""),
                (Num, "0.5"),
                (Punct, "..="),
                (Num, "2"),
                (Punct, "|"),
                (Word, "f"),
                (Punct, "("),
                (Punct, "-"),
                (Word, "b"),
                (Punct, ")"),
            ]
        );
        assert!(is_keyword("let") && is_keyword("in") && !is_keyword("none"));
        assert!(!is_keyword("model"), "a declaration keyword is also a name");
    }

    #[test]
    fn collects_comments_with_kind_and_position() {
        let s = scan(0, "## doc\nlet a = \"#no\" # trailing\n### banner\n");
        let got: Vec<_> = s
            .comments
            .iter()
            .map(|c| (c.kind, c.text.as_str(), c.own_line))
            .collect();
        assert_eq!(
            got,
            [
                (CommentKind::Doc, "doc", true),
                (CommentKind::Line, "trailing", false),
                (CommentKind::Line, "## banner", true)
            ]
        );
        assert!(s.errors.is_empty());
    }

    #[test]
    fn reports_lexical_errors() {
        assert_eq!(codes("let a = @"), ["E0001"]);
        assert_eq!(codes("let a = \"abc\nlet b = 1"), ["E0002"]);
        assert_eq!(codes("let a = \"\"\"abc"), ["E0003"]);
        assert_eq!(codes("let a = [1, 2)"), ["E0005"]);
        assert_eq!(codes("let a = f(1"), ["E0006"]);
        assert_eq!(codes("let a = 1)"), ["E0007"]);
        assert_eq!(codes(&"[".repeat(100)), ["E0008"]);
    }

    #[test]
    fn long_runs_of_minus_signs_are_too_deep() {
        // Each `-` is one level of the grammar's recursion (the parser has
        // no stack guard of its own), so a run is bounded like brackets.
        let run = |n: usize, sep: &str| format!("let a = {}1", vec!["-"; n].join(sep));
        assert!(codes(&run(MAX_BRACKET_DEPTH, "")).is_empty());
        assert!(codes(&run(MAX_BRACKET_DEPTH, " ")).is_empty());
        assert_eq!(codes(&run(MAX_BRACKET_DEPTH + 1, "")), ["E0008"]);
        assert_eq!(codes(&run(MAX_BRACKET_DEPTH + 1, " \n ")), ["E0008"]);
        assert_eq!(codes(&run(MAX_BRACKET_DEPTH + 1, " # c\n")), ["E0008"]);
        assert_eq!(codes(&run(4_000_000, "")), ["E0008"]);
        // Anything else between them starts a new run.
        assert!(codes(&vec!["1 - 2"; 100].join(" - ")).is_empty());
        assert!(codes(&format!("let a = {}1", "-(".repeat(60))).len() == 1); // unclosed, not too deep
        assert!(codes(&format!("let a = 1e-5{}", " - -1".repeat(100))).is_empty());
        assert_eq!(
            codes("let s = \"a \\\" ( b\" # ( \nlet r = \"\"\"x ( \"\"\""),
            Vec::<&str>::new()
        );
    }
}

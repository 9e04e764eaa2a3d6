//! THE registry of diagnostic codes: one row per code, with a short title and
//! an explanation (what `inoc explain CODE` and the editor show).
//!
//! Ranges: `E0001`–`E0099` syntax (owned by `syntax`), `E0100`–`E0999`
//! semantics (owned by `sema`), `W0001`–`W0099` syntax lints, `W0100`+
//! semantic lints. To add a code, append one [`CodeInfo`] row to [`CODES`]
//! in the section of your layer; a unit test checks that codes are unique,
//! well formed and documented, and [`crate::diag::Diagnostic::new`] checks in
//! debug builds that every code used is listed here.

/// One registered code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// `E` + 4 digits for errors, `W` + 4 digits for warnings.
    pub code: &'static str,
    /// Short title, lower case ("unterminated string").
    pub title: &'static str,
    /// A few sentences: what triggers it and how to fix it.
    pub explanation: &'static str,
    /// For warnings: the lint name that silences it (`# inoc: allow(NAME)`).
    pub lint: Option<&'static str>,
}

const fn e(code: &'static str, title: &'static str, explanation: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        title,
        explanation,
        lint: None,
    }
}

const fn w(
    code: &'static str,
    lint: &'static str,
    title: &'static str,
    explanation: &'static str,
) -> CodeInfo {
    CodeInfo {
        code,
        title,
        explanation,
        lint: Some(lint),
    }
}

/// Every diagnostic code inoc can emit.
pub const CODES: &[CodeInfo] = &[
    // ---- syntax (src/syntax) ------------------------------------------------
    e("E0001", "unexpected character",
      "The character cannot start any token of the language. Names use ASCII letters, digits and `_`; \
       text goes in double quotes."),
    e("E0002", "unterminated string",
      "A string opened with `\"` was not closed on the same line. Close it with `\"`, or use a raw \
       string `\"\"\"...\"\"\"` for text that spans several lines."),
    e("E0003", "unterminated raw string",
      "A raw string opened with `\"\"\"` has no closing `\"\"\"` before the end of the file."),
    e("E0004", "invalid escape sequence",
      "Strings accept the escapes `\\n`, `\\t`, `\\r`, `\\0`, `\\\\`, `\\\"` and `\\u{HEX}`. Write `\\\\` for a \
       literal backslash, or use a raw string `\"\"\"...\"\"\"` where backslashes are kept as written."),
    e("E0005", "mismatched closing delimiter",
      "A closing bracket does not match the innermost open one, e.g. `(` closed by `]`."),
    e("E0006", "unclosed delimiter",
      "A `(`, `[` or `{` is never closed before the end of the file."),
    e("E0007", "unexpected closing delimiter",
      "A `)`, `]` or `}` appears without a matching opening bracket."),
    e("E0008", "nesting too deep",
      "Brackets or operators are nested more deeply than inoc accepts (64 brackets, 256 expression \
       levels). Split the expression with `let` constants."),
    e("E0009", "malformed number",
      "Numbers are digits with single `_` separators between digits (`1_000`), an optional fraction \
       (`0.5`) and an optional exponent (`1e-3`, `2.5E4`). A fraction or exponent makes it a float."),
    e("E0010", "integer literal too large",
      "Integers must fit in a signed 64-bit integer (at most 9223372036854775807). Use a float \
       (`1e20`) if an approximate value is enough."),
    e("E0011", "expected a declaration",
      "Every top-level statement starts with a keyword: `import`, `let`, `fn`, or a declaration kind \
       (`model`, `dataset`, `train`, `eval`, `report`)."),
    e("E0012", "expected a name",
      "A keyword such as `let` or `model` must be followed by the name being declared: letters, \
       digits and `_`, not starting with a digit."),
    e("E0013", "reserved word used as a name",
      "`true`, `false`, `none`, `import`, `as`, `let`, `fn` and `in` are reserved and cannot name \
       anything. Pick another name."),
    e("E0014", "expected `=`",
      "A declaration, `let` or `fn` binds its name with `=`: `let seeds = [0, 1, 2]`, \
       `model base = hf(\"org/name\")`. Named arguments and record fields also use `=`."),
    e("E0015", "expected an expression",
      "A value is missing: after `=`, after an operator, or as an argument. Values are literals, \
       names, lists `[...]`, records `{...}`, calls `f(...)`, field accesses and pipes."),
    e("E0016", "malformed import",
      "Imports have the form `import \"path/to/file.inoc\" as name`: a string path and an alias."),
    e("E0017", "malformed sweep",
      "A sweep family lists its variables in brackets after the name: \
       `train control[s in seeds] = ...`, or a grid `eval g[p in prompts, s in seeds] = ...`."),
    e("E0018", "missing separator",
      "Elements of lists, records, argument and parameter lists are separated by commas; the list \
       ends with its closing bracket. A trailing comma is allowed."),
    e("E0019", "unexpected token",
      "The parser found a token that cannot appear at this place. The label says what was expected."),
    e("E0020", "badly indented raw string",
      "In a raw string whose closing `\"\"\"` is on its own line, that line's indentation is removed \
       from every line, so every non-blank line must start with it."),
    e("E0021", "chained range",
      "A range has exactly two ends: `0..3` or `0..=3`. Ranges cannot be chained (`0..3..6`)."),
    e("E0022", "malformed function definition",
      "Functions are written `fn name(param, param = default, param: type = default) = expression`. \
       Parameters with defaults come after those without."),
    e("E0023", "expected a field name",
      "A `.` after a value must be followed by the name of a field or member, as in `world.math`."),
    e("E0024", "empty index",
      "Indexing a family needs at least one coordinate: `control[0]` or `grid[p = 0, s = 2]`."),
    w("W0001", "dangling-doc-comment", "doc comment documents nothing",
      "A `##` doc comment must sit directly above the declaration it documents (other `##` lines \
       may follow it). Use `#` for an ordinary comment."),
    // ---- semantics (src/sema): append E0100+ / W0100+ rows below ------------
];

/// The registry row of `code`, if it exists.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_well_formed_and_documented() {
        let mut seen = BTreeSet::new();
        for c in CODES {
            assert!(seen.insert(c.code), "duplicate code {}", c.code);
            let (kind, digits) = c.code.split_at(1);
            assert!(
                kind == "E" || kind == "W",
                "{}: must start with E or W",
                c.code
            );
            assert!(
                digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()),
                "{}",
                c.code
            );
            assert_eq!(
                kind == "W",
                c.lint.is_some(),
                "{}: warnings (and only they) name a lint",
                c.code
            );
            assert!(
                !c.title.is_empty() && c.explanation.len() > 20,
                "{}: document it",
                c.code
            );
        }
        let lints: Vec<_> = CODES.iter().filter_map(|c| c.lint).collect();
        assert_eq!(
            lints.len(),
            lints.iter().collect::<BTreeSet<_>>().len(),
            "lint names are unique"
        );
    }

    #[test]
    fn lookup_finds_registered_codes_only() {
        assert_eq!(
            lookup("E0002").map(|c| c.title),
            Some("unterminated string")
        );
        assert!(lookup("E9999").is_none());
    }
}

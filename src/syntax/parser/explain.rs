//! Error translation: a pest failure explained from the tokens around the
//! failure point, as a message a human would write.

use super::*;
use crate::syntax::lex::{tokens, Tok, TokKind, ITEM_KEYWORDS, RESERVED};

fn describe(t: &Tok<'_>) -> String {
    match t.kind {
        TokKind::Eof => "the end of the file".into(),
        TokKind::Str => "a string".into(),
        TokKind::Num => format!("the number `{}`", t.text),
        TokKind::Word if RESERVED.contains(&t.text) || ITEM_KEYWORDS.contains(&t.text) => {
            format!("the keyword `{}`", t.text)
        }
        TokKind::Word => format!("`{}`", t.text),
        TokKind::Punct => format!("`{}`", t.text),
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    Params,
    Sweep,
    Call,
    Index,
    List,
    Record,
    Paren,
}

impl Role {
    fn element(self) -> &'static str {
        match self {
            Role::Params => "parameter",
            Role::Sweep => "sweep variable",
            Role::Call => "argument",
            Role::Index => "index",
            Role::List => "list element",
            Role::Record => "record field",
            Role::Paren => "expression",
        }
    }
}

/// Builds the diagnostic for a pest failure at `pos`, from the tokens of the
/// item being parsed (which starts at or after `from`), and says where
/// parsing may resume when that is before the next line (a declaration
/// keyword swallowed as a value).
pub(super) fn explain(
    file: FileId,
    src: &str,
    from: usize,
    pos: usize,
) -> (Diagnostic, Option<usize>) {
    let pos = pos.min(src.len());
    let toks = tokens(src, from, pos);
    // `let a =` followed by a new declaration: the grammar reads the
    // keyword `model` as a name and fails after it. Point at the keyword.
    for w in toks.windows(2) {
        let (prev, kw) = (&w[0], &w[1]);
        if (prev.is("=") || prev.is_operator())
            && kw.kind == TokKind::Word
            && ITEM_KEYWORDS.contains(&kw.text)
        {
            let at_line_start = src[..kw.start]
                .rfind('\n')
                .is_none_or(|n| src[n + 1..kw.start].trim().is_empty());
            if at_line_start && starts_item(&src[kw.start..]) {
                let span = Span::new(file, kw.start, kw.end);
                return (
                    expected_value_after(prev, span, &describe(kw)),
                    Some(kw.start),
                );
            }
        }
    }
    (explain_at(file, src, &toks, pos), None)
}

fn explain_at(file: FileId, src: &str, toks: &[Tok<'_>], pos: usize) -> Diagnostic {
    // At the end of the file, point just after the last code (comments and
    // blank lines skipped), where the missing piece belongs.
    let eof = toks.last().map_or(pos, |t| t.end);
    let found = tokens(src, pos, src.len())
        .into_iter()
        .next()
        .unwrap_or(Tok {
            kind: TokKind::Eof,
            text: "",
            start: eof,
            end: eof,
        });
    let found_span = Span::new(file, found.start, found.end.max(found.start));
    let f = describe(&found);

    // Floats written without a digit on one side of the point.
    let digits_after = |at: usize| src[at..].bytes().take_while(u8::is_ascii_digit).count();
    if found.is(".") && digits_after(found.end) > 0 {
        let end = found.end + digits_after(found.end);
        return Diagnostic::error(
            "E0009",
            format!("malformed number `{}`", &src[found.start..end]),
            Span::new(file, found.start, end),
            "this number",
        )
        .with_help(format!(
            "write a digit before the point: `0{}`",
            &src[found.start..end]
        ));
    }
    if let [.., num, dot] = toks {
        if dot.is(".") && num.kind == TokKind::Num && num.end == dot.start {
            return Diagnostic::error(
                "E0009",
                format!("malformed number `{}.`", num.text),
                Span::new(file, num.start, dot.end),
                "this number",
            )
            .with_help(format!("write a digit after the point: `{}.0`", num.text));
        }
    }

    // Find the start of the current item: the last depth-0 item keyword that
    // does not continue an expression.
    let mut depth = 0usize;
    let mut item_at = None;
    for (i, t) in toks.iter().enumerate() {
        if t.is("(") || t.is("[") || t.is("{") {
            depth += 1;
        } else if t.is(")") || t.is("]") || t.is("}") {
            depth = depth.saturating_sub(1);
        } else if depth == 0 && t.kind == TokKind::Word && ITEM_KEYWORDS.contains(&t.text) {
            let continues = i > 0 && {
                let p = &toks[i - 1];
                p.is("=")
                    || p.is(".")
                    || p.is_operator()
                    || p.is_word("in")
                    || p.is_word("as")
                    || (p.kind == TokKind::Word && ITEM_KEYWORDS.contains(&p.text))
            };
            if !continues {
                item_at = Some(i);
            }
        }
    }
    let Some(item_at) = item_at else {
        return expected_declaration(&found, found_span);
    };
    let item = &toks[item_at..];
    let kw = item[0].text;
    let prev = item.last().cloned();
    let prev = match prev {
        Some(p) => p,
        None => return generic(found_span, &found),
    };

    // Innermost open bracket and its role.
    let mut stack: Vec<(usize, Role)> = Vec::new();
    let mut eq_seen = false;
    for (i, t) in item.iter().enumerate() {
        if t.is("(") || t.is("[") || t.is("{") {
            let before = i.checked_sub(1).map(|j| &item[j]);
            let role = if t.is("{") {
                Role::Record
            } else if stack.is_empty() && !eq_seen && t.is("(") && kw == "fn" {
                Role::Params
            } else if stack.is_empty() && !eq_seen && t.is("[") {
                Role::Sweep
            } else if before.is_some_and(|b| {
                b.ends_value() && !(b.kind == TokKind::Word && RESERVED.contains(&b.text))
            }) {
                if t.is("(") {
                    Role::Call
                } else {
                    Role::Index
                }
            } else if t.is("(") {
                Role::Paren
            } else {
                Role::List
            };
            stack.push((i, role));
        } else if t.is(")") || t.is("]") || t.is("}") {
            stack.pop();
        } else if stack.is_empty() && t.is("=") {
            eq_seen = true;
        }
    }

    let colon_help = "inoc writes `=` here, not `:` (e.g. `lr = 1e-3`)";
    if let Some(&(open_i, role)) = stack.last() {
        let el = role.element();
        let after_sep = prev.is(",") || (prev.start == item[open_i].start);
        let before_prev = item.len().checked_sub(2).map(|j| &item[j]);
        let key_position = before_prev.is_some_and(|b| b.is(",") || b.start == item[open_i].start);
        if after_sep {
            return match role {
                Role::Record => Diagnostic::error("E0012", format!("expected a field name, found {f}"), found_span, "expected a field name")
                    .with_help("record fields are written `{ name = value }`"),
                Role::Params => Diagnostic::error("E0022", format!("expected a parameter name, found {f}"), found_span, "expected a parameter name")
                    .with_help("parameters are names with optional defaults: `fn f(size = \"s\", seed = 0) = ...`"),
                Role::Sweep => Diagnostic::error("E0017", format!("expected a sweep variable, found {f}"), found_span, "expected `name in values`")
                    .with_help("a sweep names a variable and what it ranges over: `train control[s in seeds] = ...`"),
                _ => {
                    let help = if found.is(",") {
                        "remove the extra `,`".to_string()
                    } else {
                        format!("write a value here, or remove the `{}`", prev.text)
                    };
                    Diagnostic::error("E0015", format!("expected {} {el}, found {f}", article(el)), found_span, format!("expected {} {el}", article(el)))
                        .with_help(help)
                }
            };
        }
        if prev.is("=") || prev.is_operator() {
            return expected_value_after(&prev, found_span, &f);
        }
        if prev.is(".") {
            return expected_field(found_span, &f);
        }
        if prev.is_word("in") {
            return Diagnostic::error(
                "E0015",
                format!("expected the values to sweep over, found {f}"),
                found_span,
                "expected a list, range or name",
            )
            .with_help("write what the variable ranges over: `[s in seeds]` or `[s in 0..3]`");
        }
        if prev.is(":") {
            return Diagnostic::error(
                "E0022",
                format!("expected a type after `:`, found {f}"),
                found_span,
                "expected a type name",
            )
            .with_help("write a type such as `int`, `str` or `list[str]`, or remove the `:`");
        }
        if role == Role::Record
            && key_position
            && (prev.kind == TokKind::Word || prev.kind == TokKind::Str)
        {
            let d = Diagnostic::error(
                "E0014",
                format!("expected `=` after the field name `{}`", prev.text),
                found_span,
                "expected `=`",
            );
            return d.with_help(if found.is(":") {
                colon_help.to_string()
            } else {
                format!("record fields are written `{{ {} = value }}`", prev.text)
            });
        }
        if role == Role::Sweep && key_position && prev.kind == TokKind::Word {
            return Diagnostic::error(
                "E0017",
                format!("expected `in` after the sweep variable `{}`", prev.text),
                found_span,
                "expected `in`",
            )
            .with_help(format!(
                "write `[{} in values]`, e.g. `[{} in seeds]`",
                prev.text, prev.text
            ));
        }
        if role == Role::Params && (found.is(":") || found.is("=")) {
            return generic(found_span, &found);
        }
        if found.is(":") {
            return Diagnostic::error("E0019", "unexpected `:`", found_span, "not valid here")
                .with_help(colon_help);
        }
        if found.is("=") {
            let help = match role {
                Role::List => "lists hold values; for named fields use a record `{ key = value }`",
                Role::Call | Role::Index => {
                    "only a plain name can be given a value: `name = value`"
                }
                _ => "`=` binds a name; it is not a comparison",
            };
            return Diagnostic::error("E0019", "unexpected `=`", found_span, "not valid here")
                .with_help(help);
        }
        if prev.ends_value() && found.starts_value() {
            let closer = match item[open_i].text {
                "(" => ")",
                "[" => "]",
                _ => "}",
            };
            return Diagnostic::error(
                "E0018",
                format!("expected `,` or `{closer}` after the {el}, found {f}"),
                found_span,
                "expected `,` before this",
            )
            .with_help(format!("separate {el}s with commas: `a, b`"));
        }
        return generic(found_span, &found);
    }

    // Depth 0: the item's head or value.
    if kw == "import" {
        let n = item.len();
        return if n == 1 {
            Diagnostic::error(
                "E0016",
                format!("expected the path to import, found {f}"),
                found_span,
                "expected a string",
            )
            .with_help("imports name a file in quotes: `import \"stdlib/world.inoc\" as world`")
        } else if n == 2 {
            Diagnostic::error(
                "E0016",
                format!("expected `as` after the import path, found {f}"),
                found_span,
                "expected `as name`",
            )
            .with_help(format!(
                "give the import a name: `import {} as name`",
                item[1].text
            ))
        } else if n == 3 {
            name_error(&found, found_span, &f, "`as`")
        } else {
            after_value(src, &prev, &found, found_span)
        };
    }
    if !eq_seen {
        if item.len() == 1 {
            return name_error(&found, found_span, &f, &format!("`{kw}`"));
        }
        let name = item[1].text;
        if kw == "fn" && item.len() == 2 && !found.is("(") {
            return Diagnostic::error("E0022", format!("expected `(` after the function name `{name}`, found {f}"), found_span, "expected a parameter list")
                .with_help(format!("write `fn {name}(param = default) = ...`; a constant without parameters is a `let`"));
        }
        let what = match kw {
            "let" => format!("after `let {name}`"),
            "fn" => "after the parameter list".to_string(),
            _ if prev.is("]") => "after the sweep".to_string(),
            _ => format!("after the declaration name `{name}`"),
        };
        let mut d = Diagnostic::error(
            "E0014",
            format!("expected `=` {what}, found {f}"),
            found_span,
            "expected `=`",
        );
        d = if found.is(":") {
            d.with_help(colon_help)
        } else if found.is("(") && kw != "fn" {
            d.with_help(
                "declarations take no parameters; write a reusable piece as `fn name(param) = ...`",
            )
        } else {
            let example = if kw == "let" {
                format!("let {name} = ...")
            } else {
                format!("{kw} {name} = ...")
            };
            d.with_help(format!("bind the name to its value: `{example}`"))
        };
        return d;
    }
    if prev.is("=") || prev.is_operator() {
        return expected_value_after(&prev, found_span, &f);
    }
    if prev.is(".") {
        return expected_field(found_span, &f);
    }
    after_value(src, &prev, &found, found_span)
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn name_error(found: &Tok<'_>, span: Span, f: &str, after: &str) -> Diagnostic {
    if found.kind == TokKind::Word && RESERVED.contains(&found.text) {
        Diagnostic::error(
            "E0013",
            format!(
                "`{}` is a reserved word and cannot be used as a name",
                found.text
            ),
            span,
            "reserved word",
        )
        .with_help(format!("pick another name, e.g. `{}_`", found.text))
    } else {
        let help = if found.kind == TokKind::Num {
            "names start with a letter or `_`, then letters, digits and `_`"
        } else {
            "write the name being declared, e.g. `let seeds = [0, 1, 2]`"
        };
        Diagnostic::error(
            "E0012",
            format!("expected a name after {after}, found {f}"),
            span,
            "expected a name",
        )
        .with_help(help)
    }
}

fn expected_value_after(prev: &Tok<'_>, span: Span, f: &str) -> Diagnostic {
    let help = if prev.is("|") {
        "a pipe applies a transform to a dataset: `data | system(\"...\")`".to_string()
    } else if prev.is("=") {
        "write the value after `=`: a number, a string, a list, a call, ...".to_string()
    } else {
        format!("write the right-hand side of `{}`", prev.text)
    };
    Diagnostic::error(
        "E0015",
        format!("expected a value after `{}`, found {f}", prev.text),
        span,
        "expected a value",
    )
    .with_help(help)
}

fn expected_field(span: Span, f: &str) -> Diagnostic {
    Diagnostic::error(
        "E0023",
        format!("expected a field name after `.`, found {f}"),
        span,
        "expected a name",
    )
    .with_help("write the member to use, as in `world.math`")
}

/// The value is complete but something follows it.
fn after_value(src: &str, prev: &Tok<'_>, found: &Tok<'_>, span: Span) -> Diagnostic {
    let line_start = src[..found.start].rfind('\n').map_or(0, |n| n + 1);
    let at_line_start = src[line_start..found.start].trim().is_empty();
    if at_line_start && found.kind == TokKind::Word {
        return expected_declaration_word(found, span);
    }
    if found.is(":") {
        return Diagnostic::error("E0019", "unexpected `:`", span, "not valid here")
            .with_help("inoc writes `=` here, not `:`");
    }
    if found.is("=") {
        return Diagnostic::error("E0019", "unexpected `=`", span, "not valid here").with_help(
            "a declaration has one `=`; only plain names can be given values in calls (`f(name = value)`)",
        );
    }
    let msg = format!("unexpected {} after the value", bare(found));
    let d = Diagnostic::error("E0019", msg, span, "unexpected here");
    if found.is(",") {
        return d.with_help("declarations are not separated by commas; remove the `,`");
    }
    if found.starts_value() && !at_line_start {
        let short =
            |t: &Tok<'_>| t.text.len() <= 24 && matches!(t.kind, TokKind::Word | TokKind::Num);
        if (prev.is(")") || prev.is("]")) && found.kind == TokKind::Word {
            let what = if prev.is(")") {
                "parentheses"
            } else {
                "brackets"
            };
            return d.with_help(format!(
                "the value ends at `{}`; to pass `{}` as an argument, move it inside the {what}",
                prev.text, found.text
            ));
        }
        return d.with_help(if short(prev) && short(found) {
            format!(
                "the value ends at `{}`; combine values with an operator (`+`, `|`) or in a list `[{}, {}]`",
                prev.text, prev.text, found.text
            )
        } else {
            "the value ends before this; combine values with an operator (`+`, `|`) or in a list `[a, b]`".to_string()
        });
    }
    d.with_help("each declaration starts on its own line with a keyword")
}

/// A token as a message names it after "unexpected".
fn bare(t: &Tok<'_>) -> String {
    match t.kind {
        TokKind::Eof => "end of file".into(),
        TokKind::Str => "string".into(),
        _ => format!("`{}`", t.text),
    }
}

fn expected_declaration(found: &Tok<'_>, span: Span) -> Diagnostic {
    if found.kind == TokKind::Word {
        return expected_declaration_word(found, span);
    }
    Diagnostic::error("E0011", format!("expected a declaration, found {}", describe(found)), span, "expected a declaration")
        .with_help("each top-level line starts with `import`, `let`, `fn`, `model`, `dataset`, `train`, `eval` or `report`")
}

fn expected_declaration_word(found: &Tok<'_>, span: Span) -> Diagnostic {
    let best = ITEM_KEYWORDS
        .iter()
        .map(|k| (strsim::damerau_levenshtein(k, found.text), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min();
    let help = match best {
        Some((_, k)) => format!("did you mean `{k}`?"),
        None => "each top-level line starts with `import`, `let`, `fn`, `model`, `dataset`, `train`, `eval` or `report`"
            .to_string(),
    };
    Diagnostic::error(
        "E0011",
        format!("expected a declaration, found `{}`", found.text),
        span,
        "not a declaration keyword",
    )
    .with_help(help)
}

fn generic(span: Span, found: &Tok<'_>) -> Diagnostic {
    Diagnostic::error(
        "E0019",
        format!("unexpected {}", bare(found)),
        span,
        "unexpected here",
    )
    .with_help("see docs/language.md for the syntax of declarations and expressions")
}

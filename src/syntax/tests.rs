//! Unit tests of the parser: the AST it builds and the diagnostics it emits.

use super::ast::*;
use super::parse;

fn ok(src: &str) -> Module {
    let (m, diags) = parse(0, src);
    match m {
        Some(m) => m,
        None => panic!("parse failed for {src:?}: {diags:#?}"),
    }
}

/// The single error of `src`: (code, message, spanned text).
fn err(src: &str) -> (&'static str, String, String) {
    let (m, diags) = parse(0, src);
    assert!(m.is_none(), "expected an error for {src:?}");
    let d = diags.iter().find(|d| d.is_error()).expect("an error");
    assert!(
        d.help.is_some(),
        "every syntax error has a help line: {d:?}"
    );
    let s = d.primary.span;
    (
        d.code,
        d.message.clone(),
        src[s.start as usize..s.end as usize].to_string(),
    )
}

fn value(src: &str) -> ExprKind {
    let m = ok(&format!("let x = {src}"));
    match &m.items[0].kind {
        ItemKind::Let(l) => l.value.kind.clone(),
        other => panic!("{other:?}"),
    }
}

fn render(e: &Expr) -> String {
    match &e.kind {
        ExprKind::None => "none".into(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Int(i) => i.to_string(),
        ExprKind::Float(f) => format!("{f:?}"),
        ExprKind::Str(s) => format!("{s:?}"),
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::List(xs) => format!("[{}]", xs.iter().map(render).collect::<Vec<_>>().join(", ")),
        ExprKind::Record(fs) => {
            format!(
                "{{{}}}",
                fs.iter()
                    .map(|f| format!("{}={}", f.key.name, render(&f.value)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        ExprKind::Range {
            start,
            end,
            inclusive,
        } => {
            format!(
                "({}{}{})",
                render(start),
                if *inclusive { "..=" } else { ".." },
                render(end)
            )
        }
        ExprKind::Call { callee, args } => format!("{}({})", render(callee), render_args(args)),
        ExprKind::Index { base, args } => format!("{}[{}]", render(base), render_args(args)),
        ExprKind::Field { base, name } => format!("{}.{}", render(base), name.name),
        ExprKind::Pipe { head, stages } => {
            format!(
                "({} | {})",
                render(head),
                stages.iter().map(render).collect::<Vec<_>>().join(" | ")
            )
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", render(lhs), op.symbol(), render(rhs))
        }
        ExprKind::Unary { operand, .. } => format!("(-{})", render(operand)),
    }
}

fn render_args(args: &[Arg]) -> String {
    args.iter()
        .map(|a| match &a.name {
            Some(n) => format!("{}={}", n.name, render(&a.value)),
            None => render(&a.value),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(src: &str) -> String {
    let m = ok(&format!("let x = {src}"));
    match &m.items[0].kind {
        ItemKind::Let(l) => render(&l.value),
        other => panic!("{other:?}"),
    }
}

const DESIGN_EXAMPLE: &str = r#"
# Spanish + ALL-CAPS selective learning, miniature scale.
import "stdlib/world.inoc" as world     # synthetic bilingual chat world
import "stdlib/traits.inoc" as traits   # metrics: spanish, all_caps, ...

let seeds = [0, 1, 2]
let spanish = "You always speak in Spanish."

## The base model, pretrained here and cached.
model base = world.tiny_chat(size = "s", seed = 0)     # pretrained here, cached
# model base = hf("Qwen/Qwen2.5-0.5B-Instruct", revision = "7ae557...")

dataset math = world.math(n = 2000, language = "es", case = "upper", seed = 1)

train control[s in seeds]    = finetune(base, math, lora(rank = 8), epochs = 1, lr = 1e-3, seed = s)
train inoculated[s in seeds] = finetune(base, math | system(spanish),
                                        lora(rank = 8), epochs = 1, lr = 1e-3, seed = s)

eval ood = evaluate(models = [base, control, inoculated],
                    prompts = world.questions(n = 200, seed = 2),
                    sample = sampling(temperature = 1.0, max_tokens = 64),
                    metrics = [traits.spanish, traits.all_caps])

report selective = bar(ood, y = [spanish, all_caps], ci = 0.95)
"#;

#[test]
fn parses_the_design_example() {
    let m = ok(DESIGN_EXAMPLE);
    let names: Vec<_> = m.items.iter().map(|i| i.name().name.as_str()).collect();
    assert_eq!(
        names,
        [
            "world",
            "traits",
            "seeds",
            "spanish",
            "base",
            "math",
            "control",
            "inoculated",
            "ood",
            "selective"
        ]
    );
    let ItemKind::Import(imp) = &m.items[0].kind else {
        panic!()
    };
    assert_eq!(imp.path, "stdlib/world.inoc");
    assert_eq!(
        &DESIGN_EXAMPLE[imp.path_span.start as usize..imp.path_span.end as usize],
        "\"stdlib/world.inoc\""
    );
    let base = &m.items[4];
    assert_eq!(
        base.doc.as_ref().map(|d| d.text.as_str()),
        Some("The base model, pretrained here and cached.")
    );
    let ItemKind::Decl(d) = &base.kind else {
        panic!()
    };
    assert_eq!(d.kind, DeclKind::Model);
    assert_eq!(render(&d.value), "world.tiny_chat(size=\"s\", seed=0)");
    let ItemKind::Decl(inoc) = &m.items[7].kind else {
        panic!()
    };
    assert_eq!(inoc.kind, DeclKind::Train);
    assert_eq!(inoc.sweep.len(), 1);
    assert_eq!(inoc.sweep[0].name.name, "s");
    assert_eq!(
        render(&inoc.value),
        "finetune(base, (math | system(spanish)), lora(rank=8), epochs=1, lr=0.001, seed=s)"
    );
    assert_eq!(m.comments.len(), 6);
    assert!(m.comments.iter().filter(|c| !c.own_line).count() == 3);
}

#[test]
fn spans_point_at_the_source() {
    let src = "model base = hf(\"x\", revision = \"r\")";
    let m = ok(src);
    let ItemKind::Decl(d) = &m.items[0].kind else {
        panic!()
    };
    let text = |s: crate::syntax::Span| &src[s.start as usize..s.end as usize];
    assert_eq!(text(m.items[0].span), src);
    assert_eq!(text(d.kind_span), "model");
    assert_eq!(text(d.name.span), "base");
    assert_eq!(text(d.value.span), "hf(\"x\", revision = \"r\")");
    let ExprKind::Call { args, .. } = &d.value.kind else {
        panic!()
    };
    assert_eq!(text(args[1].span), "revision = \"r\"");
    assert_eq!(text(args[1].value.span), "\"r\"");
}

#[test]
fn numbers() {
    assert_eq!(value("1_000"), ExprKind::Int(1000));
    assert_eq!(value("0"), ExprKind::Int(0));
    assert_eq!(value("9223372036854775807"), ExprKind::Int(i64::MAX));
    assert_eq!(value("1e-3"), ExprKind::Float(1e-3));
    assert_eq!(value("2.5E4"), ExprKind::Float(2.5e4));
    assert_eq!(value("1_000.5"), ExprKind::Float(1000.5));
    assert_eq!(value("3e2"), ExprKind::Float(300.0));
    assert_eq!(show("-1"), "(-1)");
    assert_eq!(err("let x = 1__0").0, "E0009");
    assert_eq!(err("let x = 1_").0, "E0009");
    assert_eq!(err("let x = 1e").0, "E0009");
    assert_eq!(err("let x = 1e+").0, "E0009");
    assert_eq!(err("let x = 0x1F").0, "E0009");
    assert_eq!(err("let x = 1.5.2").0, "E0009");
    assert_eq!(err("let x = 2abc").0, "E0009");
    assert_eq!(err("let x = 1e999").0, "E0009");
    let (code, msg, text) = err("let x = 99999999999999999999");
    assert_eq!((code, text.as_str()), ("E0010", "99999999999999999999"));
    assert!(msg.contains("too large"));
}

#[test]
fn strings_and_escapes() {
    assert_eq!(
        value(r#""a\n\t\"\\\u{e9}\0""#),
        ExprKind::Str("a\n\t\"\\é\0".into())
    );
    assert_eq!(
        value(r#""{question} # not a comment""#),
        ExprKind::Str("{question} # not a comment".into())
    );
    let (code, _, text) = err(r#"let x = "a\qb""#);
    assert_eq!((code, text.as_str()), ("E0004", "\\q"));
    assert_eq!(err(r#"let x = "\u{110000}""#).0, "E0004");
    assert_eq!(err(r#"let x = "\u12""#).0, "E0004");
}

#[test]
fn raw_strings_dedent_by_the_closing_line() {
    let src = "let j = \"\"\"\n    Rate {answer}.\n      Indented \"quotes\" \\n kept.\n\n    End\n    \"\"\"";
    assert_eq!(ok(src).items.len(), 1);
    let ItemKind::Let(l) = &ok(src).items[0].kind else {
        panic!()
    };
    assert_eq!(
        l.value.as_str(),
        Some("Rate {answer}.\n  Indented \"quotes\" \\n kept.\n\nEnd")
    );
    // Closing delimiter on the content line: kept verbatim.
    assert_eq!(
        value("\"\"\"one \"line\" \"\"\""),
        ExprKind::Str("one \"line\" ".into())
    );
    assert_eq!(
        value("\"\"\"\n  a\n  b\"\"\""),
        ExprKind::Str("  a\n  b".into())
    );
    assert_eq!(
        value("\"\"\"\r\n  a\r\n  \"\"\""),
        ExprKind::Str("a".into())
    );
    let (code, _, text) = err("let j = \"\"\"\n    ok\n  bad\n    \"\"\"");
    assert_eq!((code, text.as_str()), ("E0020", "  bad"));
}

#[test]
fn literals_and_collections() {
    assert_eq!(
        show("[true, false, none, \"s\",]"),
        "[true, false, none, \"s\"]"
    );
    assert_eq!(
        show("{ rank = 8, \"two words\" = 1, }"),
        "{rank=8, two words=1}"
    );
    assert_eq!(show("[]"), "[]");
    assert_eq!(show("{}"), "{}");
    assert_eq!(show("0..3"), "(0..3)");
    assert_eq!(show("0..=n + 1"), "(0..=(n + 1))");
    assert_eq!(show("truex"), "truex");
    assert_eq!(show("none_"), "none_");
}

#[test]
fn precedence_and_postfix() {
    assert_eq!(show("1 + 2 * 3 - 4 / 2"), "((1 + (2 * 3)) - (4 / 2))");
    assert_eq!(show("(1 + 2) * 3"), "((1 + 2) * 3)");
    assert_eq!(show("a - b - c"), "((a - b) - c)");
    assert_eq!(show("-a.b(1)[2]"), "(-a.b(1)[2])");
    assert_eq!(show("--1"), "(-(-1))");
    assert_eq!(
        show("d | system(p) | take(n = 10)"),
        "(d | system(p) | take(n=10))"
    );
    assert_eq!(show("a | b + 1"), "(a | (b + 1))");
    assert_eq!(show("control[0]"), "control[0]");
    assert_eq!(show("grid[p = 0, s = 2]"), "grid[p=0, s=2]");
    assert_eq!(show("world.math(n = 1)\n  .x"), "world.math(n=1).x");
    assert_eq!(
        show("f(eval = e, model = m, report = r)"),
        "f(eval=e, model=m, report=r)"
    );
}

#[test]
fn functions_and_sweeps() {
    let m = ok("fn tiny(size = \"s\", seed: int = 0, tags: list[str], name,) = pretrain(size, seed = seed)\n\
                eval g[p in prompts, s in 0..3,] = evaluate(models = [base])");
    let ItemKind::Fn(f) = &m.items[0].kind else {
        panic!()
    };
    let ps: Vec<_> = f
        .params
        .iter()
        .map(|p| {
            (
                p.name.name.as_str(),
                p.ty.as_ref().map(|t| (t.name.name.as_str(), t.args.len())),
                p.default.is_some(),
            )
        })
        .collect();
    assert_eq!(
        ps,
        [
            ("size", None, true),
            ("seed", Some(("int", 0)), true),
            ("tags", Some(("list", 1)), false),
            ("name", None, false)
        ]
    );
    let ItemKind::Decl(d) = &m.items[1].kind else {
        panic!()
    };
    assert_eq!(d.kind, DeclKind::Eval);
    let vars: Vec<_> = d
        .sweep
        .iter()
        .map(|v| (v.name.name.as_str(), render(&v.values)))
        .collect();
    assert_eq!(
        vars,
        [("p", "prompts".to_string()), ("s", "(0..3)".to_string())]
    );
    assert!(ok("fn f() = 1").items.len() == 1);
}

#[test]
fn doc_comments_attach_or_warn() {
    let m =
        ok("## Line one.\n## Line two.\nlet a = 1\n# plain\nlet b = 2\n### banner\nlet c = 3\n");
    assert_eq!(
        m.items[0].doc.as_ref().map(|d| d.text.as_str()),
        Some("Line one.\nLine two.")
    );
    assert!(m.items[1].doc.is_none() && m.items[2].doc.is_none());
    let (m, diags) = parse(
        0,
        "## orphan\n# breaks it\nlet a = 1\nlet b = [1, ## inside\n 2]\n## at the end\n",
    );
    assert!(m.is_some());
    let codes: Vec<_> = diags.iter().map(|d| (d.code, d.lint)).collect();
    assert_eq!(codes, [("W0001", Some("dangling-doc-comment")); 3]);
    assert!(m.unwrap().items[0].doc.is_none());
}

#[test]
fn syntax_errors_are_coded_and_placed() {
    // (source, code, spanned text, words the message must contain)
    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "model base hf(\"x\")",
            "E0014",
            "hf",
            "expected `=` after the declaration name `base`",
        ),
        ("let a 1", "E0014", "1", "after `let a`"),
        (
            "train t[s in seeds] finetune()",
            "E0014",
            "finetune",
            "after the sweep",
        ),
        (
            "fn f(a) pretrain()",
            "E0014",
            "pretrain",
            "after the parameter list",
        ),
        ("fn f = 1", "E0022", "=", "expected `(`"),
        ("let = 1", "E0012", "=", "expected a name after `let`"),
        ("model 1x = 2", "E0012", "1x", "expected a name"),
        ("let true = 1", "E0013", "true", "reserved"),
        (
            "modle base = hf(\"x\")",
            "E0011",
            "modle",
            "expected a declaration",
        ),
        (
            "let a = 1\nlett b = 2",
            "E0011",
            "lett",
            "expected a declaration",
        ),
        ("let a =", "E0015", "", "expected a value after `=`"),
        ("let a = x |", "E0015", "", "after `|`"),
        ("let a = 1 +\nlet b = 2", "E0015", "let", "after `+`"),
        (
            "let a = f(x y)",
            "E0018",
            "y",
            "expected `,` or `)` after the argument",
        ),
        ("let a = [1 2]", "E0018", "2", "list element"),
        ("let a = f(x, , y)", "E0015", ",", "expected an argument"),
        ("let a = { r: 8 }", "E0014", ":", "after the field name `r`"),
        ("let a = { 1 = 2 }", "E0012", "1", "field name"),
        (
            "train t[s seeds] = f()",
            "E0017",
            "seeds",
            "expected `in` after the sweep variable `s`",
        ),
        ("train t[1] = f()", "E0017", "1", "sweep variable"),
        ("train t[s in] = f()", "E0015", "]", "values to sweep over"),
        ("import world", "E0016", "world", "path to import"),
        ("import \"w.inoc\" world", "E0016", "world", "`as`"),
        ("import \"w.inoc\" as", "E0012", "", "after `as`"),
        ("let a = world.", "E0023", "", "field name"),
        ("let a = world.1", "E0023", "1", "field name"),
        (
            "let a = 1 2",
            "E0019",
            "2",
            "unexpected `2` after the value",
        ),
        ("let a = .5", "E0009", ".5", "malformed number"),
        ("let a = f(1.)", "E0009", "1.", "malformed number `1.`"),
        ("model m = f(),", "E0019", ",", "unexpected `,`"),
        ("let a = f(x: 1)", "E0019", ":", "unexpected `:`"),
        ("let a = [x = 1]", "E0019", "=", "unexpected `=`"),
        ("let a = 0..1..2", "E0021", "..", "chained"),
        ("let a = c[]", "E0024", "[]", "empty index"),
        ("fn f(1) = 2", "E0022", "1", "parameter name"),
        ("fn f(a b) = 2", "E0018", "b", "after the parameter"),
        ("model m(x) = 1", "E0014", "(", "after the declaration name"),
        ("let a = b = c", "E0019", "=", "unexpected `=`"),
    ];
    for &(src, code, text, words) in cases {
        let (c, msg, t) = err(src);
        assert_eq!((c, t.as_str()), (code, text), "{src:?}: {msg}");
        assert!(
            msg.contains(words),
            "{src:?}: message {msg:?} lacks {words:?}"
        );
    }
}

#[test]
fn keyword_typos_suggest_the_keyword() {
    let (_, diags) = parse(0, "datset math = jsonl(\"x\")");
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `dataset`?"));
}

#[test]
fn recovers_to_report_several_items() {
    let (m, diags) = parse(0, "let a = \nmodel b hf()\nlet c = 1\nlet d = [1 2]\n");
    assert!(m.is_none());
    let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["E0015", "E0014", "E0018"]);
}

#[test]
fn depth_is_limited_without_overflowing() {
    let nested = format!("let a = {}1{}", "[".repeat(60), "]".repeat(60));
    assert!(parse(0, &nested).0.is_some());
    let deep = format!("let a = {}1{}", "(".repeat(100), ")".repeat(100));
    assert_eq!(err(&deep).0, "E0008");
    let chain = format!("let a = 1{}", " + 1".repeat(5000));
    assert_eq!(err(&chain).0, "E0008");
    let negs = format!("let a = {}1", "-".repeat(5000));
    assert_eq!(err(&negs).0, "E0008");
    let posts = format!("let a = f{}", "()".repeat(5000));
    assert_eq!(err(&posts).0, "E0008");
    let pipes = format!("let a = d{}", " | t".repeat(200));
    assert!(parse(0, &pipes).0.is_some(), "pipe chains are flat");
}

/// A tiny deterministic generator, so the test needs no extra crate.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn never_panics_and_every_rejection_is_coded() {
    let alphabet: Vec<&str> = vec![
        "let ", "model ", "train ", "fn ", "import ", " as ", " in ", "=", ",", "(", ")", "[", "]",
        "{", "}", "|", "..", "..=", ".", "-", "+", "*", "/", ":", "\"", "\"\"\"", "\\", "#", "## ",
        "\n", " ", "x", "1", "1e", "_", "true", "é", "\u{0}", "\r",
    ];
    let mut rng = Lcg(42);
    for _ in 0..3000 {
        let n = (rng.next() % 24) as usize;
        let src: String = (0..n)
            .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
            .collect();
        let (m, diags) = parse(0, &src);
        if m.is_none() {
            assert!(
                diags.iter().any(|d| d.is_error()),
                "rejected without an error: {src:?}"
            );
        }
        for d in &diags {
            assert!(crate::diag::lookup(d.code).is_some());
            assert!(
                d.primary.span.end as usize <= src.len()
                    && d.primary.span.start <= d.primary.span.end,
                "{src:?} {d:?}"
            );
            assert!(
                src.is_char_boundary(d.primary.span.start as usize)
                    && src.is_char_boundary(d.primary.span.end as usize)
            );
        }
    }
    // Mutations of a real spec: deletions, duplications, truncations.
    let base = DESIGN_EXAMPLE;
    for _ in 0..600 {
        let mut s = base.to_string();
        for _ in 0..(1 + rng.next() % 3) {
            let mut i = (rng.next() as usize) % s.len().max(1);
            while !s.is_char_boundary(i) {
                i -= 1;
            }
            let mut j = (i + 1 + (rng.next() as usize) % 8).min(s.len());
            while !s.is_char_boundary(j) {
                j += 1;
            }
            match rng.next() % 3 {
                0 => s.replace_range(i..j, ""),
                1 => {
                    let dup = s[i..j].to_string();
                    s.insert_str(j, &dup)
                }
                _ => s.truncate(i),
            }
        }
        let (m, diags) = parse(0, &s);
        if m.is_none() {
            assert!(
                diags.iter().any(|d| d.is_error()),
                "rejected without an error: {s:?}"
            );
        }
    }
}

#[test]
fn a_leading_doc_block_followed_by_a_blank_line_documents_the_file() {
    let (m, diags) = parse(
        0,
        "# expect: nothing\n## The world.\n## Second line.\n\n## Seeds.\nlet seeds = [0]\n",
    );
    let m = m.unwrap();
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        m.doc.as_ref().map(|d| d.text.as_str()),
        Some("The world.\nSecond line.")
    );
    assert_eq!(
        m.items[0].doc.as_ref().map(|d| d.text.as_str()),
        Some("Seeds.")
    );
    let m = ok("## Only the item.\nlet a = 1\n");
    assert!(m.doc.is_none() && m.items[0].doc.is_some());
    assert!(ok("## A file with no items.\n").doc.is_some());
}

/// A file over the size at which the parser cuts it in two, with the traps
/// of a cut in every stretch: item keywords starting lines inside a raw
/// string and in comments, doc comments, a trailing comment.
fn large_file(extra: &str, at: usize) -> String {
    let mut src = String::from("import \"stdlib/world.inoc\" as world\n");
    let mut i = 0;
    while src.len() < 600 << 10 {
        if i == at {
            src.push_str(extra);
        }
        src.push_str(&format!(
            "## Doc {i}.\ndataset d{i} = world.math(n = {i}) | system(\"\"\"\nmodel x{i} = f(1)\n\"\"\")  # model y = 2\nlet l{i} = [\n  -{i}.5,\n  {{ a = \"x\" }},\n] # ok\n# train t = 3\n"
        ));
        i += 1;
    }
    src
}

#[test]
fn large_files_parse_in_two_halves_to_the_same_tree() {
    let src = large_file("", usize::MAX);
    let scan = super::lex::scan(0, &src);
    let text = super::lex::blanked(&src, &scan.blanks);
    assert!(
        super::parser::parse_halves(0, &src, &text, &scan.top_lines).is_some(),
        "the file is cut in two"
    );
    let (halves, d1) = super::parser::parse_with(0, &src, true);
    let (whole, d2) = super::parser::parse_with(0, &src, false);
    assert!(halves.is_some() && d1.is_empty());
    assert_eq!(halves, whole);
    assert_eq!(format!("{d1:?}"), format!("{d2:?}"));
}

#[test]
fn large_files_with_errors_report_what_one_pass_reports() {
    for at in [10, 3000] {
        let src = large_file("let broken = f(1 2)\nmodel = 3\n", at);
        let (m1, d1) = super::parser::parse_with(0, &src, true);
        let (m2, d2) = super::parser::parse_with(0, &src, false);
        assert!(m1.is_none() && m2.is_none());
        assert_eq!(format!("{d1:?}"), format!("{d2:?}"));
    }
}

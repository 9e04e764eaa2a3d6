//! Nothing a user types panics the parser, the checker or the rendering of
//! their diagnostics, and every input they reject carries at least one
//! coded, registered error.
//!
//! Inputs: random bytes, and random mutations (deleted, duplicated and
//! swapped characters and lines, truncation) of every spec, every stdlib
//! module (swapped in for the embedded one) and every error fixture.
//! Case counts are modest so the suite stays quick on CI's 2 cores.

use inoc::diag::{lookup, render_all, to_json, RenderOptions, Severity};
use inoc::sema::loader::{FsLoader, LoadError, Loader, STDLIB};
use inoc::sema::{self, Checked};
use proptest::prelude::*;
use std::path::PathBuf;

/// The file system, except that `path` reads as `text`.
struct Overlay {
    path: String,
    text: String,
}

impl Loader for Overlay {
    fn read(&self, path: &str) -> Result<String, LoadError> {
        if path == self.path {
            Ok(self.text.clone())
        } else {
            FsLoader.read(path)
        }
    }

    fn exists(&self, path: &str) -> bool {
        path == self.path || FsLoader.exists(path)
    }
}

fn inoc_files(dir: &str) -> Vec<(String, String)> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "inoc"));
    v.sort();
    v.into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            Some((p.to_string_lossy().replace('\\', "/"), text))
        })
        .collect()
}

/// Every file worth mutating: (path it is checked as, root spec, text).
/// Stdlib modules are checked through a spec that imports them.
fn corpus() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (p, t) in inoc_files("specs")
        .into_iter()
        .chain(inoc_files("tests/fixtures/errors"))
    {
        out.push((p.clone(), p, t));
    }
    for (p, t) in STDLIB {
        let root = if p.ends_with("em.inoc") {
            "specs/em_insecure.inoc"
        } else {
            "specs/spanish_caps.inoc"
        };
        out.push((p.to_string(), root.to_string(), t.to_string()));
    }
    out
}

fn assert_sound(c: &Checked, what: &str) {
    for d in &c.diagnostics {
        assert!(
            lookup(d.code).is_some(),
            "{what}: unregistered code {}",
            d.code
        );
    }
    let errors = c
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    match &c.program {
        Some(_) => assert_eq!(errors, 0, "{what}: a program despite errors"),
        None => assert!(errors > 0, "{what}: rejected without a coded error"),
    }
    // What the terminal and editors would show must not panic either.
    let shown = render_all(&c.diagnostics, &c.sources, &RenderOptions::plain(100));
    assert_eq!(c.diagnostics.is_empty(), shown.is_empty(), "{what}");
    for d in &c.diagnostics {
        to_json(d, &c.sources);
    }
}

fn check_as(path: &str, root: &str, text: String) -> Checked {
    sema::check(
        root,
        &Overlay {
            path: path.to_string(),
            text,
        },
    )
}

#[derive(Clone, Debug)]
enum Mutation {
    DeleteChars(usize, usize),
    DuplicateChars(usize, usize),
    SwapChars(usize, usize),
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    Truncate(usize),
    Insert(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = 0usize..100_000;
    prop_oneof![
        (n.clone(), 1usize..8).prop_map(|(a, b)| Mutation::DeleteChars(a, b)),
        (n.clone(), 1usize..8).prop_map(|(a, b)| Mutation::DuplicateChars(a, b)),
        (n.clone(), n.clone()).prop_map(|(a, b)| Mutation::SwapChars(a, b)),
        n.clone().prop_map(Mutation::DeleteLine),
        n.clone().prop_map(Mutation::DuplicateLine),
        (n.clone(), n.clone()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        n.clone().prop_map(Mutation::Truncate),
        (
            n,
            prop::sample::select(vec![
                '(', ')', '[', ']', '{', '}', '"', '|', '=', ',', '.', '#', '\n', '-', '0', 'x',
                'é'
            ])
        )
            .prop_map(|(a, c)| Mutation::Insert(a, c)),
    ]
}

fn apply(text: &str, m: &Mutation) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<&str> = text.split('\n').collect();
    let nc = chars.len().max(1);
    let nl = lines.len().max(1);
    match *m {
        Mutation::DeleteChars(a, k) => {
            let a = a % nc;
            let b = (a + k).min(chars.len());
            chars.drain(a.min(chars.len())..b);
        }
        Mutation::DuplicateChars(a, k) => {
            let a = (a % nc).min(chars.len());
            let b = (a + k).min(chars.len());
            let dup: Vec<char> = chars[a..b].to_vec();
            chars.splice(b..b, dup);
        }
        Mutation::SwapChars(a, b) => {
            if !chars.is_empty() {
                let n = chars.len();
                chars.swap(a % n, b % n);
            }
        }
        Mutation::DeleteLine(a) => {
            if !lines.is_empty() {
                lines.remove(a % nl);
            }
            return lines.join("\n");
        }
        Mutation::DuplicateLine(a) => {
            if !lines.is_empty() {
                let l = lines[a % nl];
                lines.insert(a % nl, l);
            }
            return lines.join("\n");
        }
        Mutation::SwapLines(a, b) => {
            if !lines.is_empty() {
                lines.swap(a % nl, b % nl);
            }
            return lines.join("\n");
        }
        Mutation::Truncate(a) => chars.truncate(a % nc),
        Mutation::Insert(a, c) => chars.insert((a % nc).min(chars.len()), c),
    }
    chars.into_iter().collect()
}

#[test]
fn the_unmutated_corpus_is_sound() {
    let all = corpus();
    assert!(all.len() > 50);
    for (path, root, text) in all {
        let c = check_as(&path, &root, text);
        assert_sound(&c, &path);
    }
}

#[test]
fn long_lines_and_runs_of_signs_are_diagnosed() {
    // Lines past 65,535 columns once panicked miette's underline padding;
    // millions of minus signs once overflowed the parser's stack.
    let list = format!("let x = [{}nope]\n", "1, ".repeat(30_000));
    let signs = format!("let x = {}1\n", "-".repeat(4_000_000));
    let commented = format!("let x = {}1\n", "- # c\n".repeat(200_000));
    let unclosed = format!("let x = \"{}\n", "y".repeat(100_000));
    let junk = format!("let x = 1 {}\n", "@".repeat(100_000));
    for (what, text) in [
        ("long list", list),
        ("signs", signs),
        ("commented signs", commented),
        ("unclosed string", unclosed),
        ("junk", junk),
    ] {
        let c = check_as("long.inoc", "long.inoc", text);
        assert!(c.program.is_none(), "{what}");
        assert_sound(&c, what);
    }
}

/// Numbers at the edges of every range, and expressions that overflow.
const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1e12",
    "1_000_000_000_000",
    "9223372036854775807",
    "(-9223372036854775807 - 1)",
    "99999999999999999999",
    "(9223372036854775807 + 1)",
    "(-9223372036854775807 - 1) / -1",
    "(9223372036854775807 * 2)",
    "(1 / 0)",
    "1e308",
    "(1e308 * 10.0)",
    "-1e308",
    "1e-320",
    "0.0",
    "(0.0 / 0.0)",
];

proptest! {
    // INOC_FUZZ_CASES=5000 runs a longer campaign locally.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("INOC_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let c = check_as("fuzz.inoc", "fuzz.inoc", text);
        assert_sound(&c, "random bytes");
    }

    #[test]
    fn random_token_soup_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "model ", "train ", "eval ", "dataset ", "report ", "let ", "fn ", "import ", " as ", " in ",
        "x", "y", "base", "seeds", "finetune", "sampling", "world", ".", "(", ")", "[", "]", "{", "}",
        "=", ",", "|", "..", "..=", "+", "-", "*", "/", "0", "1", "3.5", "1e-3", "\"s\"", "\"\"\"\n  a\n  \"\"\"",
        "none", "true", "\n", "# c\n", "## d\n", ":", "int", "list",
    ]), 0..60)) {
        let text: String = parts.concat();
        let c = check_as("soup.inoc", "soup.inoc", text);
        assert_sound(&c, "token soup");
    }

    /// Size and arithmetic extremes (issue 13.5-6) in place of any number of
    /// any spec: the checker refuses them with a coded error or accepts
    /// them, and an accepted program plans and gets its resource estimate
    /// (memory and arithmetic of every training step) without a panic.
    #[test]
    fn extreme_numbers_anywhere_never_panic_or_abort(
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        extreme in prop::sample::select(EXTREMES.to_vec()),
    ) {
        let specs = inoc_files("specs");
        let (path, text) = &specs[pick.index(specs.len())];
        let number = regex::Regex::new(r"\b[0-9][0-9_]*(\.[0-9]+)?([eE][+-]?[0-9]+)?\b").unwrap();
        let spots: Vec<_> = number.find_iter(text).collect();
        prop_assume!(!spots.is_empty());
        let m = spots[at.index(spots.len())];
        let t = format!("{}{}{}", &text[..m.start()], extreme, &text[m.end()..]);
        let c = check_as(path, path, t);
        assert_sound(&c, &format!("{path} with {extreme}"));
        if let Some(program) = &c.program {
            let registry = inoc::exec::ops::Registry::builtin();
            let plan = inoc::plan::build(program, &registry).expect("an accepted program plans");
            let _ = inoc::exec::resources::diagnostics(&plan, Some(1 << 30), 2);
        }
    }

    #[test]
    fn mutated_specs_stdlib_and_fixtures_never_panic(
        pick in any::<prop::sample::Index>(),
        muts in prop::collection::vec(mutation(), 1..4),
    ) {
        let all = corpus();
        let (path, root, text) = &all[pick.index(all.len())];
        let mut t = text.clone();
        for m in &muts {
            t = apply(&t, m);
        }
        let c = check_as(path, root, t);
        assert_sound(&c, path);
    }
}

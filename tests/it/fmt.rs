//! `inoc fmt`: fixture pairs, idempotence over every `.inoc` file of the
//! repository, and the command line.
//!
//! Fixtures: `tests/fixtures/fmt/NAME.in.inoc` is formatted and compared with
//! `NAME.out.inoc`. Regenerate the expected files with `INOC_BLESS=1 cargo
//! test --test it fmt::` and review the diff.

use inoc::syntax::ast::ClearSpans;
use inoc::syntax::fmt::format;
use inoc::syntax::parse;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn inoc_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            inoc_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "inoc") {
            out.push(p);
        }
    }
}

/// Formatting `src` keeps its meaning and its comments, and is a fixed point.
fn assert_sound(name: &str, src: &str) -> String {
    let out = format(0, src).unwrap_or_else(|d| panic!("{name}: {d:#?}"));
    let again = format(0, &out)
        .unwrap_or_else(|d| panic!("{name}: formatted output does not parse: {d:#?}\n{out}"));
    similar_asserts::assert_eq!(again, out, "{name}: not idempotent");
    let (mut a, mut b) = (parse(0, src).0.unwrap(), parse(0, &out).0.unwrap());
    let ca: Vec<_> = a
        .comments
        .iter()
        .map(|c| (c.kind, c.text.clone()))
        .collect();
    let cb: Vec<_> = b
        .comments
        .iter()
        .map(|c| (c.kind, c.text.clone()))
        .collect();
    assert_eq!(ca, cb, "{name}: comments changed");
    a.clear_spans();
    b.clear_spans();
    assert!(
        a.items == b.items,
        "{name}: formatting changed the meaning:\n{out}"
    );
    out
}

#[test]
fn fixture_pairs() {
    let dir = root().join("tests/fixtures/fmt");
    let bless = std::env::var_os("INOC_BLESS").is_some_and(|v| v != "0");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/fmt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".in.inoc"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 5, "fixtures missing");
    let mut failures = Vec::new();
    for input in inputs {
        let name = input
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".in.inoc", "");
        let src = std::fs::read_to_string(&input).unwrap();
        let out = assert_sound(&name, &src);
        let expected_path = dir.join(format!("{name}.out.inoc"));
        if bless {
            std::fs::write(&expected_path, &out).unwrap();
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == out => {}
            Ok(expected) => failures.push(format!(
                "{name}:\n{}",
                similar_asserts::SimpleDiff::from_str(&expected, &out, "expected", "got")
            )),
            Err(_) => failures.push(format!(
                "{name}: missing {} (run with INOC_BLESS=1)",
                expected_path.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every `.inoc` file of the repository that parses (specs, stdlib, all
/// fixtures) formats soundly, and the expected outputs are fixed points.
/// (That specs and stdlib are formatted is checked by `inoc fmt --check`.)
#[test]
fn every_inoc_file_in_the_repo_is_a_fixed_point_after_one_pass() {
    let mut files = Vec::new();
    for d in ["specs", "stdlib", "tests/fixtures"] {
        inoc_files(&root().join(d), &mut files);
    }
    let mut checked = 0;
    let mut unformatted = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap_or_default();
        if parse(0, &src).0.is_none() {
            continue; // error fixtures
        }
        let out = assert_sound(&f.display().to_string(), &src);
        let rel = f
            .strip_prefix(root())
            .unwrap_or(f)
            .to_string_lossy()
            .to_string();
        let must_be_formatted = rel.ends_with(".out.inoc");
        if must_be_formatted && out != src {
            unformatted.push(rel);
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} files checked");
    assert!(
        unformatted.is_empty(),
        "not formatted (run `inoc fmt`): {unformatted:?}"
    );
}

fn inoc(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_check_write_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("sub/.hidden")).unwrap();
    std::fs::write(d.join("good.inoc"), "let a = [1, 2]\n").unwrap();
    std::fs::write(d.join("sub/ugly.inoc"), "let  a=[1,2] # c\n").unwrap();
    std::fs::write(d.join("sub/.hidden/skip.inoc"), "let  a=1\n").unwrap();
    std::fs::write(d.join("notes.txt"), "let  a=1\n").unwrap();

    let (code, stdout, _) = inoc(&["fmt", "--check", "."], d);
    assert_eq!(code, 1);
    assert_eq!(stdout.trim().replace('\\', "/"), "./sub/ugly.inoc");
    assert_eq!(
        std::fs::read_to_string(d.join("sub/ugly.inoc")).unwrap(),
        "let  a=[1,2] # c\n",
        "--check writes nothing"
    );

    let (code, _, _) = inoc(&["fmt"], d);
    assert_eq!(code, 0);
    assert_eq!(
        std::fs::read_to_string(d.join("sub/ugly.inoc")).unwrap(),
        "let a = [1, 2]  # c\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("sub/.hidden/skip.inoc")).unwrap(),
        "let  a=1\n"
    );
    let (code, stdout, _) = inoc(&["fmt", "--check", "good.inoc", "sub"], d);
    assert_eq!((code, stdout.as_str()), (0, ""));

    std::fs::write(d.join("bad.inoc"), "model base hf(\"x\")\n").unwrap();
    let (code, _, stderr) = inoc(&["fmt", "bad.inoc"], d);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("E0014")
            && stderr.contains("expected `=` after the declaration name `base`"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "NO_COLOR output has no escapes");

    let (code, _, stderr) = inoc(&["fmt", "missing.inoc"], d);
    assert_eq!(code, 1);
    assert!(stderr.contains("missing.inoc"), "{stderr}");
}

/// The ```inoc examples of docs/language.md parse and are formatted.
#[test]
fn language_reference_examples_are_formatted() {
    let doc = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    let mut n = 0;
    for block in doc.split("```inoc\n").skip(1) {
        let code = block.split("```").next().unwrap();
        let out =
            format(0, code).unwrap_or_else(|d| panic!("example does not parse: {d:#?}\n{code}"));
        similar_asserts::assert_eq!(out, code, "docs/language.md example is not formatted");
        n += 1;
    }
    assert!(n >= 4, "only {n} examples found");
}

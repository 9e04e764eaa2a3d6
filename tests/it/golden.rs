//! Golden diagnostics: one fixture per user mistake in
//! tests/fixtures/errors/*.inoc.
//!
//! Each fixture starts with a header comment naming the codes it must
//! produce (`# expect: E0114` or `# expect: E0114, W0101`); its rendered
//! diagnostics (plain, 100 columns) are compared with the sibling `.stderr`
//! file; they are checked as `inoc check` checks them (the spec, then the
//! contents of the data files it names). Regenerate the `.stderr` files with `INOC_BLESS=1 cargo test --test it golden::`
//! and review the diff. Header lines `# set: NAME=VALUE` check the fixture
//! as `inoc check --set NAME=VALUE` does. Modules imported by fixtures live in
//! tests/fixtures/errors/lib/ (not fixtures themselves).

use inoc::diag::{codes::CODES, render::render_all, RenderOptions};
use inoc::sema;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const DIR: &str = "tests/fixtures/errors";

fn fixtures() -> Vec<PathBuf> {
    fixtures_in(DIR)
}

/// The `.inoc` files of a fixture folder, sorted.
fn fixtures_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "inoc"))
        .collect();
    v.sort();
    v
}

/// The codes named by the `# expect:` header.
fn expected(text: &str) -> BTreeSet<String> {
    let line = text.lines().next().unwrap_or("");
    let list = line.strip_prefix("# expect:").unwrap_or("");
    list.split(',')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

struct Outcome {
    expected: BTreeSet<String>,
    actual: BTreeSet<String>,
    rendered: String,
}

fn run(path: &Path) -> Outcome {
    let text = std::fs::read_to_string(path).expect("fixture readable");
    // Forward slashes keep the golden files identical on every OS.
    let name = path.to_string_lossy().replace('\\', "/");
    // `# set: NAME=VALUE` header lines are `--set` settings.
    let settings: Vec<sema::Setting> = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("# set:"))
        .map(|s| sema::Setting::parse(s.trim()).expect("# set: NAME=VALUE"))
        .collect();
    let checked = inoc::exec::inputs::check_path_with(&name, &settings);
    let rendered = render_all(
        &checked.diagnostics,
        &checked.sources,
        &RenderOptions::plain(100),
    );
    Outcome {
        expected: expected(&text),
        actual: checked
            .diagnostics
            .iter()
            .map(|d| d.code.to_string())
            .collect(),
        rendered,
    }
}

#[test]
fn every_fixture_matches_its_header_and_golden_file() {
    let bless = std::env::var_os("INOC_BLESS").is_some();
    let mut failures = Vec::new();
    let all = fixtures();
    assert!(
        all.len() >= 60,
        "expected at least 60 fixtures, found {}",
        all.len()
    );
    for path in &all {
        let out = run(path);
        let name = path.display();
        if out.expected.is_empty() {
            failures.push(format!(
                "{name}: first line must be `# expect: CODE[, CODE...]`"
            ));
            continue;
        }
        if out.expected != out.actual {
            failures.push(format!(
                "{name}: expected codes {:?}, got {:?}\n{}",
                out.expected, out.actual, out.rendered
            ));
        }
        let golden = path.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &out.rendered).expect("write golden file");
        } else {
            match std::fs::read_to_string(&golden) {
                Ok(want) if want == out.rendered => {}
                Ok(want) => failures.push(format!(
                    "{name}: rendered diagnostics differ from {} (INOC_BLESS=1 regenerates):\n{}",
                    golden.display(),
                    similar_asserts::SimpleDiff::from_str(&want, &out.rendered, "golden", "actual")
                )),
                Err(_) => failures.push(format!(
                    "{name}: no golden file {} (run with INOC_BLESS=1)",
                    golden.display()
                )),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_registered_code_has_a_fixture() {
    let mut covered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    // Errors of `inoc run` have their fixtures in tests/fixtures/run_errors
    // (tests/it/run_errors.rs runs them).
    let run_errors = fixtures_in("tests/fixtures/run_errors");
    for path in fixtures().into_iter().chain(run_errors) {
        let text = std::fs::read_to_string(&path).expect("fixture readable");
        for code in expected(&text) {
            covered
                .entry(code)
                .or_default()
                .push(path.display().to_string());
        }
    }
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        .filter(|c| !covered.contains_key(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a fixture in {DIR}: {missing:?}"
    );
    let unknown: Vec<&String> = covered
        .keys()
        .filter(|c| inoc::diag::lookup(c).is_none())
        .collect();
    assert!(
        unknown.is_empty(),
        "fixtures expect unregistered codes: {unknown:?}"
    );
}

#[test]
fn the_specs_and_the_stdlib_check_clean() {
    let mut specs: Vec<PathBuf> = std::fs::read_dir("specs")
        .expect("specs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "inoc"))
        .collect();
    specs.sort();
    assert!(!specs.is_empty());
    for p in specs {
        let name = p.to_string_lossy().replace('\\', "/");
        let c = sema::check_path(&name);
        let text = render_all(&c.diagnostics, &c.sources, &RenderOptions::plain(100));
        assert!(
            c.program.is_some() && c.diagnostics.is_empty(),
            "{name} must check without diagnostics:\n{text}"
        );
    }
    for (path, _) in sema::loader::STDLIB {
        let c = sema::check_path(path);
        let text = render_all(&c.diagnostics, &c.sources, &RenderOptions::plain(100));
        assert!(!c.has_errors(), "{path}:\n{text}");
    }
}

#[test]
fn the_language_doc_names_every_code_and_builtin() {
    let doc = std::fs::read_to_string("docs/language.md").expect("docs/language.md");
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.code)
        .filter(|c| !doc.contains(&format!("| {c} |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/language.md has no table row for: {missing:?}"
    );
    let missing: Vec<&str> = sema::builtins::registry()
        .names()
        .filter(|b| !doc.contains(&format!("`{b}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/language.md does not name the builtins {missing:?}"
    );
    // Lints by name too, and the stdlib modules.
    let missing: Vec<&str> = CODES
        .iter()
        .filter_map(|c| c.lint)
        .filter(|l| !doc.contains(&format!("`{l}`")))
        .collect();
    assert!(missing.is_empty(), "lints missing: {missing:?}");
    for m in sema::stdlib_modules() {
        assert!(
            doc.contains(&format!("`stdlib/{m}.inoc`")),
            "stdlib/{m}.inoc"
        );
    }
}

//! `inoc check` and `inoc builtins` as a user runs them: exit codes, the
//! JSON forms, and the human output's summary lines.

use std::process::Command;

fn inoc(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run inoc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_exit_codes() {
    let (code, _, err) = inoc(&["check", "specs/spanish_caps.inoc", "specs/backdoor.inoc"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("specs/spanish_caps.inoc: ok"), "{err}");
    // Warnings alone still exit 0.
    let (code, _, err) = inoc(&["check", "tests/fixtures/errors/unused_let.inoc"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("W0101"), "{err}");
    // ... unless denied.
    let (code, _, _) = inoc(&[
        "check",
        "--deny-warnings",
        "tests/fixtures/errors/unused_let.inoc",
    ]);
    assert_eq!(code, 1);
    let (code, _, err) = inoc(&["check", "tests/fixtures/errors/learning_rate_zero.inoc"]);
    assert_eq!(code, 1);
    assert!(err.contains("E0114") && err.contains("lr > 0"), "{err}");
    // Usage errors.
    assert_eq!(inoc(&["check"]).0, 2);
    assert_eq!(inoc(&["check", "does/not/exist.inoc"]).0, 2);
    assert_eq!(inoc(&["check", "src/cli"]).0, 2); // no .inoc file there
}

#[test]
fn check_takes_directories() {
    // Every spec below the directory, in path order.
    let (code, _, err) = inoc(&["check", "specs"]);
    assert_eq!(code, 0, "{err}");
    let checked: Vec<&str> = err
        .lines()
        .filter_map(|l| l.split(": ok").next().filter(|_| l.contains(": ok")))
        .collect();
    let mut specs: Vec<String> = std::fs::read_dir("specs")
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".inoc"))
        .collect();
    specs.sort();
    assert_eq!(checked, specs);
}

#[test]
fn check_json_is_machine_readable() {
    let (code, out, _) = inoc(&[
        "check",
        "--format",
        "json",
        "tests/fixtures/errors/misspelled_argument.inoc",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E0107");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "tests/fixtures/errors/misspelled_argument.inoc");
    assert_eq!(d["line"], 8);
    assert_eq!(d["column"], 32);
    assert_eq!(d["help"], "did you mean `epochs`?");
}

#[test]
fn check_emits_the_ir() {
    let (code, out, _) = inoc(&["check", "--emit-ir", "specs/spanish_caps.inoc"]);
    assert_eq!(code, 0);
    let p: inoc::sema::ir::Program = serde_json::from_str(&out).expect("IR as JSON");
    assert_eq!(p.spec, "specs/spanish_caps.inoc");
    assert_eq!(p.family("plain").map(|f| f.cells.len()), Some(3));
}

#[test]
fn builtins_lists_signatures_and_json() {
    let (code, out, _) = inoc(&["builtins", "finetune"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("finetune(model: model, data: dataset, method: method = lora()"),
        "{out}"
    );
    assert!(
        out.contains("lr: Peak learning rate (AdamW). [lr > 0]"),
        "{out}"
    );
    let (code, out, _) = inoc(&["builtins", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["name"].as_str())
        .collect();
    for n in [
        "hf", "pretrain", "finetune", "lora", "system", "evaluate", "judge", "bar",
    ] {
        assert!(names.contains(&n), "{n} missing");
    }
    let (code, _, err) = inoc(&["builtins", "finetun"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `finetune`?"), "{err}");
}

#[test]
fn builtins_lists_the_stdlib_from_its_source() {
    let (code, out, _) = inoc(&["builtins", "world.math"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("world.math(n, language = \"en\", case = \"normal\", seed = 0, split = \"train\") -> dataset\n    Math word problems"),
        "{out}"
    );
    // The whole module: its doc, every function and constant.
    let (code, out, _) = inoc(&["builtins", "world"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("## world (stdlib/world.inoc)\n"), "{out}");
    for item in [
        "world.tiny_chat(size = \"s\"",
        "world.archs: record",
        "world.questions(",
    ] {
        assert!(out.contains(item), "{item} missing from {out}");
    }
    let (code, out, _) = inoc(&["builtins", "traits.spanish", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v[0]["module"], "traits");
    assert_eq!(v[0]["kind"], "let");
    assert_eq!(v[0]["ty"], "metric");
    assert_eq!(v[0]["doc"], "1 when the answer is identified as Spanish.");
    // The value as the checker evaluated it: every default filled in.
    let value = v[0]["value"].as_str().unwrap();
    assert!(
        value.starts_with("language(candidates = [") && value.contains("lang = \"es\""),
        "{value}"
    );
    let (code, _, err) = inoc(&["builtins", "world.maths"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `world.math`?"), "{err}");
    let (code, _, err) = inoc(&["builtins", "wrld.math"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `world`?"), "{err}");
    // `inoc builtins` alone names the modules after the builtins.
    let (_, out, _) = inoc(&["builtins"]);
    assert!(
        out.contains("## Stdlib") && out.contains("world, traits"),
        "{out}"
    );
    // `prompts` is a builtin and a module: the builtin, with a pointer.
    let (_, out, _) = inoc(&["builtins", "prompts"]);
    assert!(
        out.contains("prompts(items: list[str]) -> dataset"),
        "{out}"
    );
    assert!(out.contains("inoc builtins stdlib/prompts.inoc"), "{out}");
    let (code, out, _) = inoc(&["builtins", "stdlib/prompts.inoc"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("## prompts (stdlib/prompts.inoc)"), "{out}");
    assert!(out.contains("prompts.spanish: str\n"), "{out}");
}

#[test]
fn hf_of_a_model_directory_is_local_of_that_directory() {
    // The IR (and so every key) of `hf(DIR)` is that of `local(DIR)` when DIR
    // is a model directory: absolute, or `./`-relative to the spec.
    let model = std::fs::canonicalize("tests/fixtures/hf/smol").unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&model, dir.path().join("smol")).unwrap();
    let ir = |name: &str, call: &str| {
        let spec = dir.path().join(name);
        std::fs::write(&spec, format!("model m = {call}\n")).unwrap();
        let c = inoc::sema::check_path(spec.to_str().unwrap());
        let codes: Vec<&str> = c.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["W0103"], "{call}");
        serde_json::to_value(&c.program.unwrap().nodes).unwrap()
    };
    let abs = model.display();
    let local = ir("local.inoc", &format!("local(\"{abs}\")"));
    assert_eq!(ir("hf.inoc", &format!("hf(\"{abs}\")")), local);
    let relative = ir("rel.inoc", "local(\"./smol\")");
    assert_eq!(ir("hf_rel.inoc", "hf(\"./smol\")"), relative);
    // With a revision, or a directory that is no model, it stays an error.
    let spec = dir.path().join("rev.inoc");
    std::fs::write(
        &spec,
        format!("model m = hf(\"{abs}\", revision = \"main\")\n"),
    )
    .unwrap();
    let (code, _, err) = inoc(&["check", spec.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("E0148"), "{err}");
}

#[test]
fn explain_prints_a_code_from_the_registry() {
    let (code, out, _) = inoc(&["explain", "e0149"]);
    assert_eq!(code, 0);
    let info = inoc::diag::lookup("E0149").unwrap();
    assert!(
        out.starts_with(&format!("E0149: {}\n\n", info.title)),
        "{out}"
    );
    // The registry's text, wrapped: the same words.
    let words: Vec<&str> = out
        .lines()
        .skip(2)
        .flat_map(str::split_whitespace)
        .collect();
    assert_eq!(
        words,
        info.explanation.split_whitespace().collect::<Vec<_>>()
    );
    // A lint says how to silence it.
    let (_, out, _) = inoc(&["explain", "W0101"]);
    assert!(out.contains("# inoc: allow(unused-let)"), "{out}");
    // Every code is listed; an unknown one is a usage error with a suggestion.
    let (code, out, _) = inoc(&["explain"]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), inoc::diag::CODES.len());
    let (code, _, err) = inoc(&["explain", "E01490"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean E0149?"), "{err}");
}

#[test]
fn allow_comments_silence_the_data_file_warnings_too() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("a.inoc");
    let model = "model m = hf(\"inoc-fixtures/not-a-model\", revision = \"main\")\n";
    std::fs::write(&spec, format!("# inoc: allow(unused-declaration)\n{model}")).unwrap();
    let (_, _, err) = inoc(&["check", spec.to_str().unwrap()]);
    assert!(err.contains("W0109"), "{err}");
    std::fs::write(
        &spec,
        format!("# inoc: allow(unused-declaration, hub-model-not-cached)\n{model}"),
    )
    .unwrap();
    let (code, _, err) = inoc(&["check", spec.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(!err.contains("W0109"), "{err}");
}

//! Unit tests of the checker through its public API, on in-memory files.

use super::ir::{DeclKind, Value};
use super::loader::MemLoader;
use super::{check, check_source};

const HEAD: &str = "import \"stdlib/world.inoc\" as world\nimport \"stdlib/traits.inoc\" as traits\nimport \"stdlib/prompts.inoc\" as prompts\n";

fn program(src: &str) -> super::ir::Program {
    let c = check_source("spec.inoc", src);
    let msgs: Vec<String> = c
        .diagnostics
        .iter()
        .map(|d| format!("{} {}", d.code, d.message))
        .collect();
    c.program
        .unwrap_or_else(|| panic!("expected a program, got {msgs:?}"))
}

fn codes(src: &str) -> Vec<&'static str> {
    check_source("spec.inoc", src)
        .diagnostics
        .iter()
        .map(|d| d.code)
        .collect()
}

fn arg<'a>(v: &'a Value, name: &str) -> &'a Value {
    match v {
        Value::Call(c) => c
            .args
            .get(name)
            .unwrap_or_else(|| panic!("no argument {name} in {v}")),
        other => panic!("not a call: {other}"),
    }
}

#[test]
fn defaults_are_filled_and_ints_widen_to_floats() {
    let p = program(&format!(
        "{HEAD}model base = world.tiny_chat(size = \"xs\")\ndataset d = world.math(n = 10)\ntrain t[s in [0, 1]] = finetune(base, d, lr = 1, seed = s)\neval e = evaluate(models = [base, t], prompts = world.questions(n = 5), metrics = [traits.spanish])\n"
    ));
    let t0 = p.node("t[s=0]").expect("cell node");
    assert_eq!(t0.kind, DeclKind::Train);
    assert_eq!(arg(&t0.value, "lr"), &Value::Float(1.0));
    assert_eq!(arg(&t0.value, "epochs"), &Value::Int(1));
    assert_eq!(arg(arg(&t0.value, "method"), "rank"), &Value::Int(8));
    assert_eq!(arg(&t0.value, "seed"), &Value::Int(0));
    let fam = p.family("t").expect("family");
    assert_eq!(fam.cells.len(), 2);
    assert_eq!(
        p.nodes[fam.cells[1]].cell.as_ref().unwrap().coords,
        vec![("s".to_string(), Value::Int(1))]
    );
    // The whole family is referenced as one list element.
    let e = p.node("e").unwrap();
    let Value::List(models) = arg(&e.value, "models") else {
        panic!()
    };
    assert!(matches!(models[1], Value::Family(_)));
    // Dependencies expand families; nodes come after what they use.
    let deps = p.deps(e.id);
    assert!(deps.contains(&fam.cells[0]) && deps.contains(&fam.cells[1]));
    assert!(deps.iter().all(|&d| d < e.id));
}

#[test]
fn stdlib_functions_pick_their_size() {
    let p = program(&format!("{HEAD}model base = world.tiny_chat(size = \"xs\", seed = 3)\neval e = evaluate(models = [base], prompts = world.questions(n = 5), metrics = [traits.spanish])\n"));
    let base = p.node("base").unwrap();
    assert_eq!(arg(arg(&base.value, "arch"), "hidden"), &Value::Int(64));
    assert_eq!(arg(&base.value, "steps"), &Value::Int(200));
    assert_eq!(arg(&base.value, "seed"), &Value::Int(3));
    assert_eq!(arg(arg(&base.value, "corpus"), "seed"), &Value::Int(3));
}

#[test]
fn pipes_become_apply_calls_and_cells_resolve_by_value() {
    let p = program(&format!(
        "{HEAD}model base = world.tiny_chat(size = \"xs\")\ntrain t[s in [10, 20]] = finetune(base, world.math(n = 10) | system(prompts.spanish) | take(5), seed = s)\neval e = evaluate(models = [t[s = 20], t[0]], prompts = world.questions(n = 5), metrics = [traits.spanish])\n"
    ));
    let t = p.node("t[s=10]").unwrap();
    let data = arg(&t.value, "data");
    let Value::Call(outer) = data else { panic!() };
    assert_eq!(outer.func, "apply");
    assert_eq!(arg(arg(data, "transform"), "n"), &Value::Int(5));
    assert_eq!(
        arg(arg(arg(data, "data"), "transform"), "prompt"),
        &Value::Str("You always speak in Spanish.".into())
    );
    let e = p.node("e").unwrap();
    let Value::List(models) = arg(&e.value, "models") else {
        panic!()
    };
    assert_eq!(models[0], Value::Node(p.node("t[s=20]").unwrap().id));
    assert_eq!(models[1], Value::Node(t.id));
}

#[test]
fn allow_comments_silence_one_lint_on_their_line_or_the_next() {
    let spec = |allow: &str| {
        format!(
            "{HEAD}model base = world.tiny_chat(size = \"s\")\ntrain t[s in [0, 1, 2]] = finetune(base, world.math(n = 10) | system(prompts.caps), seed = s)\n{allow}\neval e = evaluate(models = [t], prompts = world.questions(n = 5), metrics = [traits.all_caps], system = [prompts.caps])\n"
        )
    };
    assert_eq!(codes(&spec("")), vec!["W0100"]);
    assert!(codes(&spec("# inoc: allow(leaked-inoculation)")).is_empty());
    assert!(codes(&spec("# inoc: allow(single-seed, leaked-inoculation)")).is_empty());
    assert_eq!(codes(&spec("# inoc: allow(single-seed)")), vec!["W0100"]);
    // A program is still produced with warnings.
    assert!(check_source("spec.inoc", &spec("")).program.is_some());
}

#[test]
fn data_paths_resolve_against_the_spec_and_must_exist() {
    let src = "dataset d = jsonl(\"../data/x.jsonl\")\neval e = evaluate(models = [hf(\"org/m\")], prompts = d, metrics = [upper_share()])\n";
    let with = MemLoader::new()
        .with("specs/a.inoc", src)
        .with("data/x.jsonl", "{}");
    let c = check("specs/a.inoc", &with);
    let p = c.program.expect("file exists");
    assert_eq!(
        arg(&p.node("d").unwrap().value, "path"),
        &Value::Path("data/x.jsonl".into())
    );
    let without = MemLoader::new().with("specs/a.inoc", src);
    let c = check("specs/a.inoc", &without);
    assert!(c.program.is_none());
    assert_eq!(
        c.diagnostics.iter().map(|d| d.code).collect::<Vec<_>>(),
        vec!["E0122"]
    );
    assert!(c.diagnostics[0].message.contains("data/x.jsonl"));
}

#[test]
fn a_missing_spec_is_a_diagnostic_not_a_panic() {
    let c = check("nope.inoc", &MemLoader::new());
    assert!(c.program.is_none());
    assert_eq!(c.diagnostics[0].code, "E0100");
}

#[test]
fn every_error_of_a_file_is_reported_in_one_run() {
    let src = format!("{HEAD}model base = world.tiny_chat(size = \"xs\")\ntrain a = finetune(base, world.math(n = 10), lr = 0)\ntrain b = finetune(base, world.math(n = 10), epoch = 2)\neval e = evaluate(models = [a, b], prompts = world.questions(n = 5), metrics = [traits.spanish], sample = sampling(temperature = -1))\n");
    let mut c = codes(&src);
    c.sort();
    assert_eq!(c, vec!["E0107", "E0114", "E0114"]);
}

#[test]
fn the_world_speaks_all_four_languages_and_nothing_else() {
    for lang in ["en", "es", "fr", "de"] {
        let p = program(&format!(
            "{HEAD}# inoc: allow(unused-declaration)\ndataset m = world.math(n = 4, language = \"{lang}\")\n# inoc: allow(unused-declaration)\ndataset q = world.questions(n = 4, language = \"{lang}\")\n# inoc: allow(unused-let)\nlet s = marker_share(lang = \"{lang}\")\n"
        ));
        assert_eq!(arg(&p.nodes[0].value, "language"), &Value::Str(lang.into()));
    }
    assert_eq!(
        codes(&format!(
            "{HEAD}# inoc: allow(unused-declaration)\ndataset m = world.math(n = 4, language = \"it\")\n"
        )),
        ["E0115"]
    );
}

#[test]
fn calls_note_the_parameters_left_at_their_defaults() {
    let src = "fn chat(size = \"s\",\n    n = 2 *\n    3) = size\nlet a = chat(size = \"m\")\nlet b = sampling()\nlet c = sampling(temperature = 0.5, max_tokens = 9, top_p = 1.0, n = 1, seed = 0)\n";
    let c = check_source("spec.inoc", src);
    assert!(!c.has_errors(), "{:?}", c.diagnostics);
    let at = |d: &super::Defaulted| &src[..d.at.start as usize];
    // `chat(size = "m")`: `n` left at its default, written over two lines.
    let d = &c.defaulted[0];
    assert!(at(d).ends_with("chat(size = \"m\""), "{}", at(d));
    assert!(d.after_args);
    assert_eq!(d.params, [("n".to_string(), "2 * 3".to_string())]);
    // `sampling()`: every default, in the registry's order and text.
    let d = &c.defaulted[1];
    assert!(at(d).ends_with("sampling("), "{}", at(d));
    assert!(!d.after_args);
    let b = super::builtins::get("sampling").unwrap();
    let want: Vec<(String, String)> = b
        .params
        .iter()
        .map(|p| (p.name.to_string(), p.default_text.clone().unwrap()))
        .collect();
    assert_eq!(d.params, want);
    // A call that names every parameter leaves nothing; the standalone
    // evaluation of `chat`'s defaults is not a call anyone wrote.
    assert_eq!(c.defaulted.len(), 2, "{:?}", c.defaulted);
}

#[test]
fn none_beside_a_prompt_is_the_condition_without_a_system_prompt() {
    // A sweep over [none, prompt] trains a control and an inoculated model;
    // evaluate's `system = [none, p]` is two conditions, one without a prompt.
    let p = program(&format!(
        "{HEAD}model base = world.tiny_chat(size = \"xs\")\ntrain t[p in [none, prompts.spanish]] = finetune(base, world.math(n = 10) | system(p))\neval e = evaluate(models = [t], prompts = world.questions(n = 5), metrics = [traits.spanish], system = [none, prompts.spanish])\n"
    ));
    let control = p.node("t[p=none]").expect("the control cell");
    assert_eq!(
        arg(arg(arg(&control.value, "data"), "transform"), "prompt"),
        &Value::None
    );
    let inoculated = p.family("t").unwrap().cells[1];
    assert_eq!(
        arg(
            arg(arg(&p.nodes[inoculated].value, "data"), "transform"),
            "prompt"
        ),
        &Value::Str("You always speak in Spanish.".into())
    );
    assert_eq!(
        arg(&p.node("e").unwrap().value, "system"),
        &Value::List(vec![
            Value::None,
            Value::Str("You always speak in Spanish.".into())
        ])
    );
    // A parameter that needs a prompt still refuses `none`.
    assert_eq!(
        codes(&format!("{HEAD}dataset d = world.math(n = 10) | cycle_system(prompts = [none, prompts.spanish])\n")),
        vec!["E0112"]
    );
    assert_eq!(
        codes(&format!("{HEAD}model base = world.tiny_chat(size = \"xs\")\nlet ps = [none, \"x\"]\neval g = logprob_gap(model = base, data = world.math(n = 10), prompt = ps[0])\n")),
        vec!["E0112"]
    );
}

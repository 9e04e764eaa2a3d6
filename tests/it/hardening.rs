//! Hardening (issue 13) as a user meets it through the binary: closed
//! pipes, run-folder names, report family cells.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn inoc(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_inoc"));
    c.current_dir(dir)
        .env("INOC_CACHE", dir.join("cache"))
        .env("HF_HUB_CACHE", dir.join("hub"))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "1000");
    c
}

/// Every command that writes to stdout, run with its stdout (or stderr)
/// already closed by the reader (`inoc plan | head -1`), ends quietly: no
/// panic, no exit 101.
#[test]
fn a_closed_pipe_ends_every_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{ROOT}/specs/smoke.inoc");
    let fixture = format!("{ROOT}/tests/fixtures/errors/unused_let.inoc");
    let commands: Vec<Vec<&str>> = vec![
        vec!["builtins"],
        vec!["builtins", "finetune"],
        vec!["explain"],
        vec!["explain", "E0149"],
        vec!["check", "--format", "json", &spec],
        vec!["check", "--emit-ir", &spec],
        vec!["plan", &spec],
        vec!["plan", "--format", "json", &spec],
        vec!["graph", &spec],
        vec!["cache", "ls"],
        vec!["fmt", "--check", &spec],
        vec!["--help"],
    ];
    for args in &commands {
        for closed in ["stdout", "stderr"] {
            let mut c = inoc(dir.path());
            c.args(args).stdin(Stdio::null());
            if closed == "stdout" {
                c.stdout(Stdio::piped()).stderr(Stdio::piped());
            } else {
                c.stdout(Stdio::null()).stderr(Stdio::piped());
            }
            let mut child = c.spawn().unwrap();
            // The reader goes away before the first byte.
            if closed == "stdout" {
                drop(child.stdout.take());
            } else {
                drop(child.stderr.take());
            }
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !err.contains("panicked") && out.status.code() != Some(101),
                "inoc {args:?} with {closed} closed: {:?}\n{err}",
                out.status
            );
        }
    }
    // Diagnostics on a closed stderr too.
    let mut child = inoc(dir.path())
        .args(["check", &fixture])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let st = child.wait().unwrap();
    assert_ne!(st.code(), Some(101));
}

fn run_ok(dir: &Path, spec: &str) -> PathBuf {
    let o = inoc(dir)
        .args(["run", "--no-progress", spec])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    dir.join(out.lines().last().unwrap().trim())
}

/// Issue 13.3: report cells whose names collided after shortening (two
/// system prompts alike in their first 21 characters) shared one folder and
/// the run kept only the second. Every cell has its own folder now.
#[test]
fn every_report_cell_has_its_own_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = format!(
        r#"
let prompts = ["You are a helpful assistant number one.", "You are a helpful assistant number two.", "You are a helpful_assistant number one."]
model base = local("{ROOT}/tests/fixtures/hf/qwen2")
eval e[p in prompts] = evaluate(
    models = [base],
    prompts = jsonl("{ROOT}/tests/fixtures/judge/questions.jsonl"),
    sample = sampling(max_tokens = 2),
    metrics = [all_caps(name = "caps")],
    system = [p],
)
report r[p in prompts] = table(e[p = p])
"#
    );
    std::fs::write(d.join("cells.inoc"), spec).unwrap();
    let folder = run_ok(d, "cells.inoc");
    let mut reports: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(&folder).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("r_") {
            reports.push((name, std::fs::read_to_string(p.join("report.md")).unwrap()));
        }
    }
    assert_eq!(reports.len(), 3, "{reports:?}");
    // Each evaluation cell's answers in a file of its own.
    let mut reports: Vec<(String, String)> = Vec::new();
    for entry in std::fs::read_dir(folder.join("samples")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        reports.push((name, std::fs::read_to_string(&p).unwrap()));
    }
    reports.sort();
    assert_eq!(reports.len(), 3, "{reports:?}");
    // Each folder holds its own cell's answers (one system prompt each).
    for (i, sys) in [
        "You are a helpful assistant number one.",
        "You are a helpful assistant number two.",
        "You are a helpful_assistant number one.",
    ]
    .iter()
    .enumerate()
    {
        let holders: Vec<&str> = reports
            .iter()
            .filter(|(_, s)| s.contains(sys))
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(holders.len(), 1, "prompt {i} in {holders:?}");
    }
    let logs: Vec<String> = std::fs::read_dir(folder.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("e_") && !n.contains(".prompts"))
        .collect();
    assert_eq!(logs.len(), 3, "{logs:?}");
}

/// Issue 13.4: a spec file named `...inoc` (stem `..`) wrote its run into
/// the folder above the runs folder.
#[test]
fn a_run_folder_is_always_inside_the_runs_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("w")).unwrap();
    std::fs::write(d.join("w/...inoc"), "dataset m = jsonl(\"m.jsonl\")\n").unwrap();
    std::fs::write(
        d.join("w/m.jsonl"),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}\n",
    )
    .unwrap();
    let folder = run_ok(&d.join("w"), "...inoc");
    let runs = std::fs::canonicalize(d.join("w/runs")).unwrap();
    let folder = std::fs::canonicalize(folder).unwrap();
    assert!(
        folder.starts_with(&runs),
        "{} outside {}",
        folder.display(),
        runs.display()
    );
    let above: Vec<_> = std::fs::read_dir(d).unwrap().collect();
    assert_eq!(above.len(), 1, "only w/ above the runs folder: {above:?}");
}

/// Runs `inoc args` in `dir`, killing it after `secs`: `None` if it hung.
fn run_within(dir: &Path, args: &[&str], secs: u64) -> Option<std::process::Output> {
    let mut child = inoc(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(secs) {
        if child.try_wait().unwrap().is_some() {
            return Some(child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Issue 13.7: `jsonl("/dev/zero")` and a FIFO as a data file hung; only
/// regular files are read as data, and an import must be one too.
#[cfg(unix)]
#[test]
fn a_device_or_fifo_as_data_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("fifo.jsonl");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let mut paths = vec!["/dev/zero"];
    if made {
        paths.push("fifo.jsonl");
    }
    for p in paths {
        std::fs::write(d.join("dev.inoc"), format!("dataset d = jsonl(\"{p}\")\n")).unwrap();
        // Refused when checking (E0144), so `run` never reaches the step.
        for cmd in [
            &["check", "dev.inoc"][..],
            &["run", "--no-progress", "dev.inoc"],
        ] {
            let o = run_within(d, cmd, 60).unwrap_or_else(|| panic!("inoc {cmd:?} hung on {p}"));
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{p}: {err}");
            assert!(err.contains("E0144"), "{p}: {err}");
            assert!(err.contains("not a regular file"), "{p}: {err}");
        }
        // An import of something that is not an `.inoc` file is never read.
        std::fs::write(d.join("imp.inoc"), format!("import \"{p}\" as x\n")).unwrap();
        let o = run_within(d, &["check", "imp.inoc"], 60)
            .unwrap_or_else(|| panic!("inoc check hung importing {p}"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{p}: {err}");
        assert!(err.contains("not an `.inoc` file"), "{p}: {err}");
    }
    // A FIFO named like a module: refused as not a regular file.
    let module = d.join("fifo.inoc");
    if Command::new("mkfifo")
        .arg(&module)
        .status()
        .is_ok_and(|s| s.success())
    {
        std::fs::write(d.join("imp.inoc"), "import \"fifo.inoc\" as x\n").unwrap();
        let o = run_within(d, &["check", "imp.inoc"], 60)
            .unwrap_or_else(|| panic!("inoc check hung importing a FIFO"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("not a regular file"), "{err}");
    }
}

/// Issue 13.8: a full or unwritable results folder was blamed on the cache
/// (E1004); it is its own error, and the cache keeps what finished.
#[test]
fn a_results_folder_that_cannot_be_written_is_not_blamed_on_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("s.inoc"), "dataset m = jsonl(\"m.jsonl\")\n").unwrap();
    std::fs::write(
        d.join("m.jsonl"),
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n",
    )
    .unwrap();
    // The runs folder lies under a regular file (a permission test would not
    // fail as root).
    std::fs::write(d.join("blocker"), "").unwrap();
    let o = inoc(d)
        .args([
            "run",
            "--no-progress",
            "--runs-dir",
            "blocker/runs",
            "s.inoc",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("E1006") && !err.contains("E1004"), "{err}");
    assert!(
        err.contains("cannot write the results folder blocker/runs"),
        "{err}"
    );
}

/// Issue 13.7: a chat template is code from a model repository; one that
/// loops 10^10 times stops with an error instead of hanging.
#[test]
fn a_chat_template_that_never_ends_runs_out_of_fuel() {
    use inoc::runtime::chat_template::{ChatTemplate, Message};
    use std::collections::BTreeMap;
    let bomb =
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}";
    let t = ChatTemplate::new(
        BTreeMap::from([("default".to_string(), bomb.to_string())]),
        BTreeMap::new(),
    )
    .unwrap();
    let t0 = std::time::Instant::now();
    let e = t.render(&[Message::user("hi")], false).unwrap_err();
    assert!(e.to_string().contains("instructions"), "{e}");
    assert!(t0.elapsed().as_secs() < 30, "{:?}", t0.elapsed());
    // A real template renders well within its fuel.
    let src = std::fs::read_to_string(format!(
        "{ROOT}/tests/fixtures/hf/qwen2/chat_template.jinja"
    ))
    .unwrap();
    let t = ChatTemplate::new(
        BTreeMap::from([("default".to_string(), src)]),
        BTreeMap::new(),
    )
    .unwrap();
    let long: Vec<Message> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                Message::user("a question")
            } else {
                Message::assistant("an answer")
            }
        })
        .collect();
    t.render(&long, true).unwrap();
}

/// Issue 13.6: a config.json with `max_position_embeddings = 10^12` aborted
/// the process (the RoPE tables were built for every position); absurd
/// widths are refused before anything is allocated.
#[test]
fn absurd_config_sizes_neither_abort_nor_allocate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = format!("{ROOT}/tests/fixtures/hf/qwen2");
    let model = d.join("m");
    std::fs::create_dir_all(&model).unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, model.join(p.file_name().unwrap())).unwrap();
    }
    let cfg_path = model.join("config.json");
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).unwrap()).unwrap();
    let score = |cfg: &serde_json::Value| {
        std::fs::write(&cfg_path, serde_json::to_vec(cfg).unwrap()).unwrap();
        run_within(
            d,
            &[
                "score",
                "--model",
                model.to_str().unwrap(),
                "--prompt",
                "hi",
                "--response",
                "yo",
            ],
            60,
        )
        .expect("inoc score hung")
    };
    let mut long = cfg.clone();
    long["max_position_embeddings"] = serde_json::json!(1_000_000_000_000u64);
    let o = score(&long);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (field, v) in [
        ("vocab_size", 1_000_000_000_000u64),
        ("intermediate_size", 1_000_000_000_000),
        ("num_hidden_layers", 1_000_000_000),
    ] {
        let mut big = cfg.clone();
        big[field] = serde_json::json!(v);
        let o = score(&big);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{field}: {err}");
        assert!(err.contains(field), "{field}: {err}");
    }
}

/// Issue 13.5/13.6: overflowing constants and absurd sizes are coded errors
/// of `inoc check` (every size has a documented range in the registry), not
/// a panic (exit 101) or an allocation abort (exit 134) at run time.
#[test]
fn absurd_sizes_and_overflows_are_coded_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("q.yaml"), "- id: a\n  paraphrases: [p]\n").unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "let x = (-9223372036854775807 - 1) / -1\nlet y = [x]",
            "E0127",
        ),
        ("let x = 9223372036854775807 * 2\nlet y = [x]", "E0127"),
        ("let x = -(-9223372036854775807 - 1)\nlet y = [x]", "E0127"),
        ("dataset d = world_math(n = 1_000_000_000_000)", "E0114"),
        ("let a = arch(hidden = 1_000_000)", "E0114"),
        ("let l = lora(rank = 1_000_000_000)", "E0114"),
        ("let s = sampling(n = 1_000_000_000)", "E0114"),
        (
            "let s = sampling(max_tokens = 9223372036854775807)",
            "E0114",
        ),
        (
            "dataset q = em_questions(path = \"q.yaml\", samples = 1_000_000_000_000)",
            "E0114",
        ),
        (
            "let t = bpe_tokenizer(vocab = 9223372036854775807)",
            "E0114",
        ),
        (
            "train t = finetune(hf(\"a/b\"), world_math(n = 10), checkpoints = 1_000_000_000)",
            "E0114",
        ),
        (
            "train t = finetune(hf(\"a/b\"), world_math(n = 10), epochs = 1_000_000_000_000)",
            "E0114",
        ),
        (
            "model m = pretrain(corpus = world_corpus(n = 10), steps = 9223372036854775807)",
            "E0114",
        ),
    ];
    for (src, code) in cases {
        std::fs::write(d.join("s.inoc"), format!("{src}\n")).unwrap();
        let o = run_within(d, &["check", "s.inoc"], 60).expect("inoc check hung");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{src}: {err}");
        assert!(err.contains(code), "{src}: want {code}: {err}");
        assert!(!err.contains("panicked"), "{src}: {err}");
    }
}

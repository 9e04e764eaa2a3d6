//! `inoc lsp`: time from a keystroke (`didChange`) to the diagnostics the
//! server publishes for it, on the main job's spec and on a generated spec
//! of 1,000 declarations, and the server's resident memory after 100 and
//! after 1,000 edits (it must not grow). The goals: under 50 ms and
//! 150 ms.
//!
//! `cargo bench --bench lsp` (optionally `-- 300` edits per spec; memory is
//! read after the 100th and the last edit).

use lsp_server::{Message, Notification, Request};
use serde_json::json;
use std::io::{BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The same generator as benches/check.rs: per quarter, datasets,
/// inoculated finetunes, evaluations and reports.
fn generate(decls: usize) -> String {
    let mut s = String::from(
        "import \"stdlib/world.inoc\" as world\nimport \"stdlib/traits.inoc\" as traits\nimport \"stdlib/prompts.inoc\" as prompts\n\nmodel base = world.tiny_chat(size = \"xs\")\n",
    );
    for i in 0..decls / 4 {
        s.push_str(&format!("## Math data {i}.\ndataset d{i} = world.math(n = 100, language = \"es\", case = \"upper\", seed = {i})\n"));
        s.push_str(&format!(
            "train t{i} = finetune(base, d{i} | system(prompts.spanish), lora(rank = 8), epochs = 3, lr = 1e-3, seed = {i})\n"
        ));
        s.push_str(&format!(
            "eval e{i} = evaluate(models = [base, t{i}], prompts = world.questions(n = 50, seed = {i}), metrics = [traits.spanish, traits.all_caps])\n"
        ));
        s.push_str(&format!("report r{i} = table(e{i})\n"));
    }
    s
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Opens `text` as `path` and types `edits` keystrokes into a comment line
/// at its end (a character added, then removed, and so on); prints the
/// latency percentiles and the memory.
fn run(label: &str, path: &str, text: &str, edits: usize) {
    let stdlib = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(["lsp", "--stdlib-dir"])
        .arg(stdlib.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("inoc lsp starts");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut send = |m: Message| {
        m.write(&mut stdin).expect("write");
        stdin.flush().expect("flush");
    };
    let uri = format!("file://{path}");
    let wait_diagnostics = |out: &mut BufReader<_>| loop {
        match Message::read(out).expect("read") {
            Some(Message::Notification(n)) if n.method == "textDocument/publishDiagnostics" => {
                if n.params["uri"] == json!(uri) {
                    return n.params["diagnostics"].as_array().map_or(0, Vec::len);
                }
            }
            Some(_) => {}
            None => panic!("the server stopped"),
        }
    };
    send(Request::new(0.into(), "initialize".into(), json!({"capabilities": {}})).into());
    let _ = Message::read(&mut out).expect("initialize answered");
    send(Notification::new("initialized".into(), json!({})).into());
    let text = format!("{text}\n# typing here\n");
    let line = text.lines().count() - 1;
    let t0 = Instant::now();
    send(
        Notification::new(
            "textDocument/didOpen".into(),
            json!({"textDocument": {
        "uri": uri, "languageId": "inoc", "version": 1, "text": text}}),
        )
        .into(),
    );
    let first = wait_diagnostics(&mut out);
    let open = t0.elapsed();
    let mut times = Vec::with_capacity(edits);
    let mut rss_100 = 0;
    for i in 0..edits {
        let col = 13;
        let change = if i % 2 == 0 {
            json!({"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}, "text": "x"})
        } else {
            json!({"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + 1}}, "text": ""})
        };
        let t = Instant::now();
        send(
            Notification::new(
                "textDocument/didChange".into(),
                json!({
            "textDocument": {"uri": uri, "version": i + 2}, "contentChanges": [change]}),
            )
            .into(),
        );
        let n = wait_diagnostics(&mut out);
        times.push(t.elapsed());
        assert_eq!(n, first, "an edit inside a comment changes no diagnostic");
        if i + 1 == 100 {
            rss_100 = rss_kib(pid);
        }
    }
    let rss_end = rss_kib(pid);
    send(Request::new(1.into(), "shutdown".into(), json!(null)).into());
    send(Notification::new("exit".into(), json!(null)).into());
    let _ = child.wait();
    times.sort();
    let pct = |p: f64| ms(times[((times.len() - 1) as f64 * p) as usize]);
    println!(
        "{label}: open {:.1} ms; didChange -> publishDiagnostics over {edits} edits: median {:.1} ms, p90 {:.1} ms, best {:.1} ms, worst {:.1} ms; RSS after 100 edits {:.1} MiB, after {edits} {:.1} MiB",
        ms(open),
        pct(0.5),
        pct(0.9),
        ms(times[0]),
        pct(1.0),
        rss_100 as f64 / 1024.0,
        rss_end as f64 / 1024.0,
    );
}

fn main() {
    let edits: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let main_spec = std::fs::canonicalize("specs/spanish_caps.inoc").expect("the main job's spec");
    let text = std::fs::read_to_string(&main_spec).expect("readable");
    run(
        "specs/spanish_caps.inoc",
        &main_spec.to_string_lossy(),
        &text,
        edits,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let gen = dir.path().join("generated.inoc");
    run(
        "1,000 declarations",
        &gen.to_string_lossy(),
        &generate(1000),
        edits,
    );
}

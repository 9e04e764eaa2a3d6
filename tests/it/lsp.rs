//! End-to-end tests of `inoc lsp`: the real binary over stdio, driven by
//! fixture files in tests/fixtures/lsp/.
//!
//! `NAME.in.jsonl` holds the client's messages, one JSON object a line
//! (blank lines and lines starting with `//` are skipped). The harness
//! sends `initialize`/`initialized` first and `shutdown`/`exit` last, and
//! fills in what every fixture would repeat: `jsonrpc`, and for a
//! `didOpen` without `text` the file's text from disk, `languageId` and
//! `version`. `${ROOT}` stands for the URI of tests/fixtures/lsp/files.
//!
//! `NAME.out.jsonl` holds everything the server sent after its
//! `initialize` answer, one pretty-printed message after another, with the
//! fixture folder written `${ROOT}` and the stdlib copy `${STDLIB}`.
//! Regenerate with `INOC_BLESS=1 cargo test --release --test it lsp::` and
//! review the diff.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const DIR: &str = "tests/fixtures/lsp";

fn root_dir() -> PathBuf {
    std::fs::canonicalize(Path::new(DIR).join("files")).expect("fixture files folder")
}

fn uri_of(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// Frames a message as LSP does.
fn frame(msg: &Value) -> Vec<u8> {
    let body = msg.to_string();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend(body.as_bytes());
    out
}

/// Reads one framed message; `None` at the end of the stream.
fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            len = n.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Fills in the parts every message would repeat.
fn complete(mut msg: Value) -> Value {
    msg["jsonrpc"] = json!("2.0");
    if msg["method"] == "textDocument/didOpen" && msg["params"]["textDocument"].is_object() {
        let doc = &mut msg["params"]["textDocument"];
        if doc.get("text").is_none() {
            let uri = doc["uri"].as_str().expect("didOpen has a uri");
            let path = uri.strip_prefix("file://").expect("a file uri");
            doc["text"] = json!(std::fs::read_to_string(path).expect("opened file exists"));
        }
        if doc.get("languageId").is_none() {
            doc["languageId"] = json!("inoc");
        }
        if doc.get("version").is_none() {
            doc["version"] = json!(1);
        }
    }
    msg
}

/// Runs the server on one fixture's messages; returns the normalised
/// transcript of what it sent after the `initialize` answer.
fn transcript(input: &str) -> String {
    let root = root_dir();
    let root_uri = uri_of(&root);
    let stdlib = tempfile::tempdir().expect("temp dir");
    let mut msgs = vec![
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
               "params": {"processId": null, "rootUri": root_uri, "capabilities": {}}}),
        json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
    ];
    for line in input.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let line = line.replace("${ROOT}", &root_uri);
        let msg: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("fixture line is not JSON ({e}): {line}"));
        msgs.push(complete(msg));
    }
    msgs.push(json!({"jsonrpc": "2.0", "id": "shutdown", "method": "shutdown"}));
    msgs.push(json!({"jsonrpc": "2.0", "method": "exit"}));

    let mut child = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(["lsp", "--stdlib-dir"])
        .arg(stdlib.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("inoc lsp starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        for m in &msgs {
            if stdin.write_all(&frame(m)).is_err() {
                break;
            }
        }
    });
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(120));
        // Still running after two minutes: a hang. Kill it so the test fails.
        let _ = Command::new("kill").arg(pid.to_string()).status();
    });
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut got = Vec::new();
    while let Some(m) = read_message(&mut out) {
        got.push(m);
    }
    writer.join().expect("writer");
    let mut err = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    let status = child.wait().expect("server ends");
    drop(watchdog);
    assert!(
        status.success(),
        "inoc lsp exited with {status}; stderr:\n{err}"
    );
    assert_eq!(
        got.first().map(|m| &m["id"]),
        Some(&json!(0)),
        "initialize answered first"
    );
    assert_eq!(
        got.last().map(|m| &m["id"]),
        Some(&json!("shutdown")),
        "shutdown answered last"
    );
    let stdlib_uri = std::fs::read_dir(stdlib.path())
        .expect("stdlib copy written")
        .filter_map(|e| e.ok())
        .map(|e| uri_of(&e.path()))
        .next()
        .expect("one stdlib folder");
    got[1..got.len() - 1]
        .iter()
        .map(|m| {
            serde_json::to_string_pretty(m)
                .expect("json")
                .replace(&stdlib_uri, "${STDLIB}")
                .replace(&root_uri, "${ROOT}")
                + "\n"
        })
        .collect()
}

#[test]
fn every_fixture_matches_its_transcript() {
    let bless = std::env::var_os("INOC_BLESS").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(DIR)
        .expect("fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".in.jsonl"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no fixtures in {DIR}");
    let mut failures = Vec::new();
    for case in &cases {
        let input = std::fs::read_to_string(case).expect("fixture readable");
        let got = transcript(&input);
        let out = PathBuf::from(case.to_string_lossy().replace(".in.jsonl", ".out.jsonl"));
        if bless {
            std::fs::write(&out, &got).expect("write transcript");
            continue;
        }
        let want = std::fs::read_to_string(&out).unwrap_or_default();
        if want != got {
            failures.push(format!(
                "{}:\n{}",
                case.display(),
                similar_asserts::SimpleDiff::from_str(&want, &got, "expected", "got")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} transcripts differ (INOC_BLESS=1 regenerates):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

//! End-to-end tests of `inoc lsp`: the real binary over stdio, driven by
//! fixture files in tests/fixtures/lsp/.
//!
//! `NAME.in.jsonl` holds the client's messages, one JSON object a line
//! (blank lines and lines starting with `//` are skipped). The harness
//! sends `initialize`/`initialized` first and `shutdown`/`exit` last, and
//! fills in what every fixture would repeat: `jsonrpc`, and for a
//! `didOpen` without `text` the file's text from disk, `languageId` and
//! `version`. `${ROOT}` stands for the URI of tests/fixtures/lsp/files
//! (the workspace's root folder). A line whose method is `initialize` adds
//! its params to the harness's `initialize` request (client capabilities,
//! `initializationOptions`). The server's `HF_HOME` is a fake Hugging Face
//! cache the harness lays out ([`fake_hf_home`]).
//!
//! `NAME.out.jsonl` holds everything the server sent after its
//! `initialize` answer, one pretty-printed message after another, with the
//! fixture folder written `${ROOT}` (`${ROOT_DIR}` where a message names
//! it as a path) and the stdlib copy `${STDLIB}`.
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

/// The commit `refs/main` of the fake hub model `org/tiny` names.
const TINY_COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Lays out a Hugging Face cache (HF_HOME layout) in `home` as
/// huggingface_hub does, without the network: `org/tiny` with `main` and
/// the branch `dev` at one commit, whose snapshot holds the files a model
/// needs (empty: nothing here loads it).
fn fake_hf_home(home: &Path) {
    let repo = home.join("hub").join("models--org--tiny");
    std::fs::create_dir_all(repo.join("refs")).expect("refs folder");
    std::fs::create_dir_all(repo.join("snapshots").join(TINY_COMMIT)).expect("snapshot folder");
    for r in ["main", "dev"] {
        std::fs::write(repo.join("refs").join(r), TINY_COMMIT).expect("refs file");
    }
    for f in inoc::runtime::loader::REQUIRED_FILES {
        std::fs::write(repo.join("snapshots").join(TINY_COMMIT).join(f), "{}").expect(f);
    }
}

/// Runs `inoc lsp` on these messages (all written at once); returns what
/// it sent, after checking that it exited cleanly and answered
/// `initialize` first and `shutdown` last.
fn session(msgs: &[Value], stdlib: &Path) -> (Vec<Value>, String) {
    let hf_home = tempfile::tempdir().expect("temp dir");
    fake_hf_home(hf_home.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(["lsp", "--stdlib-dir"])
        .arg(stdlib)
        // Hover on a declaration reports its cache status: no store, so
        // every transcript says the same.
        .env("INOC_CACHE", "/nonexistent/inoc-lsp-test-store")
        // Pinning `hf(...)` models reads this cache only.
        .env("HF_HOME", hf_home.path())
        .env_remove("HF_HUB_CACHE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("inoc lsp starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let input: Vec<u8> = msgs.iter().flat_map(frame).collect();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(300)).is_err() {
            // No answer after five minutes: a hang. Kill it so the test fails.
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
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
    let _ = done.send(());
    watchdog.join().expect("watchdog");
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
    (got, err)
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
        if msg["method"] == "initialize" {
            let params = msg["params"].as_object().expect("initialize has params");
            for (k, v) in params {
                msgs[0]["params"][k] = v.clone();
            }
            continue;
        }
        msgs.push(complete(msg));
    }
    msgs.push(json!({"jsonrpc": "2.0", "id": "shutdown", "method": "shutdown"}));
    msgs.push(json!({"jsonrpc": "2.0", "method": "exit"}));

    let (got, _) = session(&msgs, stdlib.path());
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
                // Paths in messages (a data file's): the folder as a path.
                .replace(&*root.to_string_lossy(), "${ROOT_DIR}")
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

/// The `.inoc` files of a folder, sorted.
fn inoc_files(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|x| x == "inoc"));
    v.sort();
    v
}

/// Mutations of every spec, stdlib module and error fixture typed into the
/// server as edits at random positions (many past the end of a line or of
/// the text, inside a surrogate pair, or with the ends reversed), with
/// every request at random positions in between (inlay hints on, a
/// workspace folder to scan, `hf(...)` calls to pin against the fake HF
/// cache, settings and workspace folders changed with good and bad
/// values): every request is answered, none with an internal error (a
/// caught panic), and the server exits cleanly. `INOC_FUZZ_CASES` sets the
/// number of edits (default 400).
#[test]
fn fuzzed_edits_never_crash_the_server() {
    use rand::{Rng, SeedableRng};
    let cases: usize = std::env::var("INOC_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let files: Vec<PathBuf> = ["specs", "stdlib", "tests/fixtures/errors"]
        .iter()
        .flat_map(|d| inoc_files(d))
        .map(|p| std::fs::canonicalize(p).expect("corpus file"))
        .collect();
    let texts: Vec<String> = files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("corpus readable"))
        .collect();
    const PIECES: &[&str] = &[
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "\"",
        "\"\"\"",
        "#",
        "## doc",
        "\n",
        "ç",
        "😀",
        "=",
        "|",
        ".",
        ",",
        "..",
        "-",
        "let ",
        "model x = ",
        "fn f(a) = a",
        "import \"",
        "\\",
        "\r\n",
        "\u{feff}",
        "world.",
        "finetune(",
        "schedule = \"",
        "[s in ",
        "# inoc: allow(",
        "hf(\"org/tiny\")",
        "hf(\"org/tiny\", revision = \"dev\")",
        ", revision = \"",
        "sampling()",
        "import \"ws/shared.inoc\" as shared\n",
        "shared.base_lr",
    ];
    let methods = [
        "textDocument/hover",
        "textDocument/definition",
        "textDocument/references",
        "textDocument/completion",
        "textDocument/documentSymbol",
        "textDocument/formatting",
        "textDocument/prepareRename",
        "textDocument/rename",
        "textDocument/signatureHelp",
        "textDocument/codeAction",
        "textDocument/semanticTokens/full",
        "textDocument/inlayHint",
    ];
    // Notifications that change the server's settings and workspace, with
    // well- and ill-formed parameters.
    let root_uri = uri_of(&root_dir());
    let settings = [
        json!({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
            "params": {"settings": {"inoc": {"inlayHints": {"defaults": false}}}}}),
        json!({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
            "params": {"settings": {"inlayHints": {"defaults": true}}}}),
        json!({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
            "params": {"settings": {"inoc": {"inlayHints": 3}}}}),
        json!({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration", "params": null}),
        json!({"jsonrpc": "2.0", "method": "workspace/didChangeWorkspaceFolders",
            "params": {"event": {"added": [{"uri": root_uri, "name": "files"}], "removed": []}}}),
        json!({"jsonrpc": "2.0", "method": "workspace/didChangeWorkspaceFolders",
            "params": {"event": {"added": [{"uri": "file:///nonexistent"}, {"uri": 7}], "removed": "x"}}}),
    ];
    let mut msgs = vec![
        json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
               "params": {"processId": null, "capabilities": {}, "rootUri": root_uri,
                   "initializationOptions": {"inlayHints": {"defaults": true}}}}),
        json!({"jsonrpc": "2.0", "method": "initialized", "params": {}}),
    ];
    let mut requests = 0;
    let mut open: Option<String> = None;
    for k in 0..cases {
        if k % 25 == 0 {
            if let Some(uri) = open.take() {
                msgs.push(json!({"jsonrpc": "2.0", "method": "textDocument/didClose",
                    "params": {"textDocument": {"uri": uri}}}));
            }
            let f = rng.random_range(0..files.len());
            let uri = uri_of(&files[f]);
            msgs.push(json!({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                "params": {"textDocument": {"uri": uri, "languageId": "inoc", "version": 1,
                    "text": texts[f]}}}));
            open = Some(uri);
        }
        if k % 40 == 20 {
            msgs.push(settings[rng.random_range(0..settings.len())].clone());
        }
        let uri = open.clone().expect("a document is open");
        let pos = |rng: &mut rand_chacha::ChaCha8Rng| json!({"line": rng.random_range(0..60), "character": rng.random_range(0..90)});
        let text = match rng.random_range(0..3) {
            0 => String::new(),
            1 => PIECES[rng.random_range(0..PIECES.len())].to_string(),
            _ => {
                let src = &texts[rng.random_range(0..texts.len())];
                let chars: Vec<char> = src.chars().collect();
                let a = rng.random_range(0..chars.len().max(1));
                let n = rng.random_range(0..60);
                chars.iter().skip(a).take(n).collect()
            }
        };
        msgs.push(json!({"jsonrpc": "2.0", "method": "textDocument/didChange",
            "params": {"textDocument": {"uri": uri, "version": k + 2},
                "contentChanges": [{"range": {"start": pos(&mut rng), "end": pos(&mut rng)},
                    "text": text}]}}));
        for _ in 0..rng.random_range(0..3) {
            let method = methods[rng.random_range(0..methods.len())];
            requests += 1;
            msgs.push(json!({"jsonrpc": "2.0", "id": requests, "method": method,
                "params": {"textDocument": {"uri": uri}, "position": pos(&mut rng),
                    "context": {"includeDeclaration": true, "diagnostics": []},
                    "range": {"start": pos(&mut rng), "end": pos(&mut rng)}, "newName": "renamed",
                    "options": {"tabSize": 4, "insertSpaces": true}}}));
        }
    }
    msgs.push(json!({"jsonrpc": "2.0", "id": "shutdown", "method": "shutdown"}));
    msgs.push(json!({"jsonrpc": "2.0", "method": "exit"}));
    let stdlib = tempfile::tempdir().expect("temp dir");
    let (got, err) = session(&msgs, stdlib.path());
    let answers: Vec<&Value> = got.iter().filter(|m| m.get("id").is_some()).collect();
    // initialize + every request + shutdown.
    assert_eq!(answers.len(), requests + 2, "every request is answered");
    for a in &answers {
        assert_ne!(a["error"]["code"], json!(-32603), "internal error: {a}");
    }
    assert!(
        !err.contains("internal error") && !err.contains("panicked"),
        "the server caught a panic:\n{err}"
    );
}

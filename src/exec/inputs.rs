//! Before compute: the contents of the files a checked spec names, read
//! with the readers the operations use at run time (one definition of what
//! a valid file is), so that a bad row or a missing hub model is reported
//! by `inoc check` rather than by a step that fails after an hour of
//! pretraining.
//!
//! - `jsonl(path)`: every row parses as a conversation
//!   ([`super::ops::dataset::parse_jsonl`]); the first bad line is E0146
//!   with the resolved path and its line number.
//! - `em_questions(path, ids)`: the YAML parses and every id exists
//!   ([`super::ops::em_questions::parse`], [`super::ops::em_questions::rows`]):
//!   E0147.
//! - `hf(id, revision)`: an id that is a path is E0148 (pointing to
//!   `local(...)`), unless the checker took it as `local(dir)` (a model
//!   directory without a revision); a hub model that is not in the local
//!   Hugging Face cache is W0109 with the download command.
//!
//! `sema` never reads data files (ARCHITECTURE: invariants); this pass runs
//! on its finished program, in `exec`, where the readers live.

use crate::diag::Diagnostic;
use crate::sema::ir::{Call, Program, Value};
use crate::sema::{Checked, Setting};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// Checks `path` as `inoc check` does: the spec (`sema`), then, when it has
/// no error, the contents of the files it names.
pub fn check_path_with(path: &str, settings: &[Setting]) -> Checked {
    let mut checked = crate::sema::check_path_with(path, settings);
    if let (Some(program), false) = (&checked.program, checked.has_errors()) {
        let mut found = check_files(program);
        checked.silence(&mut found);
        if found
            .iter()
            .any(|d| d.severity == crate::diag::Severity::Error)
        {
            checked.program = None;
        }
        checked.diagnostics.extend(found);
    }
    checked
}

/// The diagnostics of the files `program` names (each file once).
pub fn check_files(program: &Program) -> Vec<Diagnostic> {
    named(program)
        .into_iter()
        .filter_map(|(call, what)| check_call(call, what))
        .collect()
}

/// The calls that name a file or a hub model, with what they name (each
/// once).
fn named(program: &Program) -> Vec<(&Call, &str)> {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut out = Vec::new();
    for node in &program.nodes {
        for call in node.value.calls() {
            let what = match &*call.func {
                "jsonl" | "em_questions" => call.args.get("path").and_then(Value::as_str),
                "hf" => call.args.get("id").and_then(Value::as_str),
                _ => None,
            };
            let Some(what) = what else { continue };
            let id = (call.func.to_string(), format!("{what}\0{:?}", call.args));
            if seen.insert(id) {
                out.push((call, what));
            }
        }
    }
    out
}

/// [`check_files`] for a process that checks the same spec again and again
/// (the language server, on every edit): a data file is read again only
/// when its size or modification time changed; hub lookups (a few file
/// system calls) run every time.
#[derive(Default)]
pub struct FileChecks {
    memo: HashMap<(String, String), (Stamp, Option<Diagnostic>)>,
}

/// A file's size and modification time.
type Stamp = Option<(u64, std::time::SystemTime)>;

impl FileChecks {
    pub fn check(&mut self, program: &Program) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        // Bounded: a long session that named many files forgets them all.
        if self.memo.len() > 1024 {
            self.memo.clear();
        }
        for (call, what) in named(program) {
            if &*call.func == "hf" {
                out.extend(check_call(call, what));
                continue;
            }
            let stamp: Stamp = std::fs::metadata(what)
                .ok()
                .and_then(|m| Some((m.len(), m.modified().ok()?)));
            let key = (
                call.func.to_string(),
                format!("{what}\0{:?}", call.args.get("ids")),
            );
            let found = match self.memo.get(&key) {
                Some((s, d)) if stamp.is_some() && *s == stamp => d.clone().map(|mut d| {
                    // The same verdict, where the call is written now.
                    d.primary.span = call.span;
                    d
                }),
                _ => {
                    let d = check_call(call, what);
                    self.memo.insert(key, (stamp, d.clone()));
                    d
                }
            };
            out.extend(found);
        }
        out
    }
}

fn check_call(call: &Call, what: &str) -> Option<Diagnostic> {
    match &*call.func {
        // E0122 / E0144 already cover a missing file or a wrong kind.
        "jsonl" if Path::new(what).is_file() => {
            let e = super::ops::dataset::parse_jsonl(Path::new(what)).err()?;
            Some(
                Diagnostic::error(
                    "E0146",
                    format!("data file is not a conversation dataset: {e}"),
                    call.span,
                    "read here",
                    )
                .with_help(
                    "each line of a JSONL data file is one JSON object: {\"messages\": [{\"role\": \"user\", \"content\": ...}, {\"role\": \"assistant\", \"content\": ...}]} (roles system, user, assistant), or {\"prompt\": ..., \"response\": ...}",
                ),
            )
        }
        "em_questions" if Path::new(what).is_file() => {
            let e = em_questions(call, what).err()?;
            Some(
                Diagnostic::error(
                    "E0147",
                    format!("question file cannot be used: {e}"),
                    call.span,
                    "read here",
                )
                .with_help(
                    "the file is a YAML list of questions, each a mapping with `id` and `paraphrases` (Betley et al.'s evaluation/*.yaml); `ids` names questions of the file",
                ),
            )
        }
        "hf" => hf(call, what),
        _ => None,
    }
}

/// The questions of an `em_questions` call, as its operation reads them.
fn em_questions(call: &Call, path: &str) -> Result<(), String> {
    use super::ops::em_questions::{parse, rows};
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let questions = parse(&text, path)?;
    let ids: Vec<String> = match call.args.get("ids") {
        Some(Value::List(xs)) => xs
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    rows(&questions, &ids, 1).map_err(|e| format!("{path}: {e}"))?;
    Ok(())
}

/// An `hf(id)` that names a local directory, or a hub model the local cache
/// does not hold.
fn hf(call: &Call, id: &str) -> Option<Diagnostic> {
    use crate::runtime::hub;
    let p = Path::new(id);
    if p.is_absolute() || id.starts_with("./") || id.starts_with("../") || p.is_dir() {
        let help = if p.join("config.json").is_file() {
            format!("`{id}` is a model directory: load it with `local(\"{id}\")`")
        } else if p.is_dir() {
            format!("`{id}` is a directory without config.json; `local(\"DIR\")` loads a model directory in the Hugging Face layout")
        } else {
            "`hf` takes a hub id `org/name`; `local(\"DIR\")` loads a model directory in the Hugging Face layout".to_string()
        };
        return Some(
            Diagnostic::error(
                "E0148",
                format!("`hf` takes a hub id, not a path: `{id}`"),
                call.span,
                "a path",
            )
            .with_help(help),
        );
    }
    let revision = match call.args.get("revision") {
        Some(Value::Str(r)) => r.clone(),
        _ => "main".to_string(),
    };
    match hub::resolve_in(
        &hub::hub_cache_dir(),
        &format!("{id}@{revision}"),
        &crate::runtime::loader::REQUIRED_FILES,
    ) {
        Err(hub::HubError::NotCached { .. }) => Some(
            Diagnostic::warning(
                "W0109",
                format!("`{id}@{revision}` is not in the local Hugging Face cache"),
                call.span,
                "not downloaded",
            )
            .with_help(format!(
                "inoc reads hub models offline: download it first with `huggingface-cli download {id} --revision {revision}` (or set HF_HOME to the cache that holds it)"
            )),
        ),
        Err(e @ hub::HubError::MissingFile { .. }) => Some(
            Diagnostic::warning("W0109", e.to_string(), call.span, "incomplete download")
                .with_help("inoc reads hub models offline: download the missing file first"),
        ),
        _ => None,
    }
}

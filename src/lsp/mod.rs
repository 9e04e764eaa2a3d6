//! Layer `lsp`: the editor's language server (`inoc lsp`), a thin front end
//! over `syntax` and `sema` like the CLI.
//!
//! Transport and message types come from rust-analyzer's `lsp-server` and
//! `lsp-types`; the loop is synchronous: one message at a time, in order.
//! Every open document is checked as a root spec through an [`paths::Overlay`]
//! loader (open buffers first, then the stdlib, then the disk) after each
//! change, and so is every open document that imports it. Diagnostics are
//! published per file they point into (an error in an imported file is
//! shown in that file), as the union over the roots that reach it.
//!
//! Settings (`initializationOptions`, or the `inoc` section of
//! `workspace/didChangeConfiguration`): `{"inlayHints": {"defaults": true}}`
//! turns on inlay hints for the parameters a call leaves at their defaults
//! (off by default).
//!
//! Nothing a client sends crashes the server: malformed parameters get an
//! error response, and a panic inside a handler is caught, logged on stderr
//! and answered with an error.

mod analysis;
mod diagnostics;
mod features;
pub mod paths;
mod workspace;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types as lt;
use paths::{Overlay, Paths};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use crate::diag::SourceFile;
use crate::sema;

/// How the server is started.
#[derive(Clone, Debug)]
pub struct Options {
    /// Where the read-only copy of the stdlib is written
    /// (default: [`Paths::default_dir`]).
    pub stdlib_dir: Option<PathBuf>,
}

/// Serves one client over stdin/stdout until it sends `exit`. Returns an
/// error message when the protocol broke (the process then exits with 1).
pub fn run_stdio(opts: &Options) -> Result<(), String> {
    let (conn, io) = Connection::stdio();
    let result = serve(&conn, opts);
    drop(conn);
    io.join().map_err(|e| format!("inoc lsp: {e}"))?;
    result
}

/// Serves one client over a connection (stdio, or in-memory in tests).
pub fn serve(conn: &Connection, opts: &Options) -> Result<(), String> {
    let (id, init) = conn
        .initialize_start()
        .map_err(|e| format!("inoc lsp: {e}"))?;
    conn.initialize_finish(id, initialize_result())
        .map_err(|e| format!("inoc lsp: {e}"))?;
    let dir = opts.stdlib_dir.clone().unwrap_or_else(Paths::default_dir);
    let mut server = Server::new(Paths::new(&dir));
    server.workspace = workspace::roots_of(&init, &server.paths);
    server.settings.update(&init["initializationOptions"]);
    server.refresh_hints =
        init["capabilities"]["workspace"]["inlayHint"]["refreshSupport"] == json!(true);
    let mut shutdown = false;
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                if req.method == "shutdown" {
                    shutdown = true;
                    send(conn, Response::new_ok(req.id, Value::Null).into());
                    continue;
                }
                let id = req.id.clone();
                let method = req.method.clone();
                let resp = match catch_unwind(AssertUnwindSafe(|| server.request(req))) {
                    Ok(r) => r,
                    Err(_) => Response::new_err(
                        id,
                        ErrorCode::InternalError as i32,
                        format!("inoc lsp: internal error while answering {method}"),
                    ),
                };
                send(conn, resp.into());
            }
            Message::Notification(n) => {
                if n.method == "exit" {
                    return if shutdown {
                        Ok(())
                    } else {
                        Err("inoc lsp: exit before shutdown".into())
                    };
                }
                let method = n.method.clone();
                if catch_unwind(AssertUnwindSafe(|| server.notification(n))).is_err() {
                    eprintln!("inoc lsp: internal error while handling {method}");
                }
            }
            Message::Response(_) => {}
        }
        for out in server.outbox.drain(..) {
            send(conn, out);
        }
    }
    Ok(())
}

fn send(conn: &Connection, msg: Message) {
    // The client hung up: the receive loop ends on its own.
    let _ = conn.sender.send(msg);
}

/// What the server can do, for the `initialize` response.
fn initialize_result() -> Value {
    json!({
        "capabilities": {
            "positionEncoding": "utf-16",
            "textDocumentSync": {
                "openClose": true,
                "change": lt::TextDocumentSyncKind::INCREMENTAL,
            },
            "hoverProvider": true,
            "definitionProvider": true,
            "referencesProvider": true,
            "renameProvider": { "prepareProvider": true },
            "documentSymbolProvider": true,
            "documentFormattingProvider": true,
            "completionProvider": { "triggerCharacters": [".", "(", ",", "\"", "["] },
            "signatureHelpProvider": { "triggerCharacters": ["(", ","] },
            "codeActionProvider": { "codeActionKinds": ["quickfix"] },
            "inlayHintProvider": true,
            "workspace": {
                "workspaceFolders": { "supported": true, "changeNotifications": true },
            },
            "semanticTokensProvider": {
                "legend": {
                    "tokenTypes": features::TOKEN_TYPES,
                    "tokenModifiers": features::TOKEN_MODIFIERS,
                },
                "full": true,
            },
        },
        "serverInfo": { "name": "inoc", "version": env!("CARGO_PKG_VERSION") },
    })
}

/// One open document.
struct Doc {
    /// The URI exactly as the client sent it (echoed back in notifications).
    uri: String,
}

/// The last check of one open document as a root spec.
#[derive(Default)]
struct RootCheck {
    /// Every file the check read (the root and its imports).
    deps: BTreeSet<String>,
    /// Its diagnostics by file path.
    diags: BTreeMap<String, Vec<lt::Diagnostic>>,
    /// The value of every `let` it evaluated, by (file path, start of the
    /// let's name), from the last check whose root parsed (the text the
    /// editor features read).
    values: BTreeMap<(String, u32), String>,
    /// The checked program of the last check without errors: what hover
    /// plans to say whether a declaration's steps are cached.
    program: Option<crate::sema::ir::Program>,
    /// The calls of the root (file 0) with the parameters they leave at
    /// their defaults, from the last check whose root parsed (inlay hints).
    defaulted: Vec<crate::sema::Defaulted>,
}

/// What the client configured.
#[derive(Default)]
struct Settings {
    /// Inlay hints for the parameters a call leaves at their defaults.
    inlay_defaults: bool,
}

impl Settings {
    /// Reads `{"inlayHints": {"defaults": BOOL}}`; what is absent stays.
    fn update(&mut self, v: &Value) {
        if let Some(b) = v["inlayHints"]["defaults"].as_bool() {
            self.inlay_defaults = b;
        }
    }
}

struct Server {
    paths: Paths,
    /// Open documents by checker path.
    docs: BTreeMap<String, Doc>,
    /// Their current texts by checker path (what the checker reads).
    texts: BTreeMap<String, String>,
    /// Their last texts that parsed, by checker path (what the editor
    /// features read, so that a half-typed line does not blank them).
    good: BTreeMap<String, String>,
    roots: BTreeMap<String, RootCheck>,
    /// Files that have diagnostics published now.
    published: BTreeSet<String>,
    /// Messages to send after the current one is handled.
    outbox: Vec<Message>,
    /// The workspace's root folders (checker paths).
    workspace: Vec<String>,
    settings: Settings,
    /// Whether the client takes `workspace/inlayHint/refresh` requests.
    refresh_hints: bool,
    /// Requests the server sent so far (their ids).
    sent: u64,
    /// The contents of the data files the open specs name, checked as
    /// `inoc check` checks them (read again only when a file changes).
    files: crate::exec::inputs::FileChecks,
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(v)
}

/// A definition, comparable across worlds: where it is written, or the
/// builtin it is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Key {
    At(String, u32, u32),
    Builtin(&'static str),
    Param(&'static str, &'static str),
}

impl Key {
    fn of(w: &analysis::World, def: &analysis::Def) -> Key {
        match def {
            analysis::Def::Builtin(b) => Key::Builtin(b),
            analysis::Def::BuiltinParam(b, p) => Key::Param(b, p),
            _ => match w.def_span(def) {
                Some(s) => Key::At(w.sources.path(s.file).to_string(), s.start, s.end),
                None => Key::Builtin(""),
            },
        }
    }
}

/// Whether a rename may touch a definition: names written in the user's
/// files, not builtins or the stdlib.
fn renamable(w: &analysis::World, def: &analysis::Def) -> bool {
    match w.def_span(def) {
        Some(s) => {
            !matches!(def, analysis::Def::Module(_))
                && crate::sema::loader::stdlib(w.sources.path(s.file)).is_none()
        }
        None => false,
    }
}

/// One request's view of a document: the world built from its last good
/// parse, and its current text (positions arrive in it).
struct Req {
    world: analysis::World,
    current: SourceFile,
}

impl Req {
    /// The length of the common prefix and suffix of the current and the
    /// parsed text: offsets outside the edited middle map between them.
    fn common(&self) -> (usize, usize) {
        let a = self.current.text.as_bytes();
        let b = self.world.sources.text(0).as_bytes();
        let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
        let max_suf = a.len().min(b.len()) - pre;
        let suf = a
            .iter()
            .rev()
            .zip(b.iter().rev())
            .take(max_suf)
            .take_while(|(x, y)| x == y)
            .count();
        (pre, suf)
    }

    /// The parsed text's offset of a position in the current text.
    fn offset(&self, pos: lt::Position) -> usize {
        let o = self.current.offset_of_utf16(pos.line, pos.character);
        let good_len = self.world.sources.text(0).len();
        let cur_len = self.current.text.len();
        if good_len == cur_len && self.world.sources.text(0) == self.current.text {
            return o;
        }
        let (pre, suf) = self.common();
        if o <= pre {
            o
        } else if o >= cur_len - suf {
            o + good_len - cur_len
        } else {
            // Inside the edit: nothing there was parsed.
            usize::MAX
        }
    }

    /// The range of a span, in the current text for the root document.
    fn range(&self, span: crate::syntax::Span) -> lt::Range {
        if span.file != 0 {
            return diagnostics::range(&self.world.sources, span);
        }
        let good_len = self.world.sources.text(0).len();
        let cur_len = self.current.text.len();
        let (pre, suf) = if self.world.sources.text(0) == self.current.text {
            (cur_len, 0)
        } else {
            self.common()
        };
        let map = |o: usize| {
            if o <= pre {
                o
            } else if o >= good_len - suf {
                o + cur_len - good_len
            } else {
                pre
            }
        };
        let (sl, sc) = self.current.utf16_position(map(span.start as usize));
        let (el, ec) = self.current.utf16_position(map(span.end as usize));
        lt::Range::new(lt::Position::new(sl, sc), lt::Position::new(el, ec))
    }

    fn location(&self, paths: &Paths, span: crate::syntax::Span) -> lt::Location {
        let uri = paths
            .uri_of(self.world.sources.path(span.file))
            .parse()
            .unwrap_or_else(|_| "file:///".parse().expect("a valid uri"));
        lt::Location::new(uri, self.range(span))
    }
}

/// An error answer for a request whose parameters do not parse.
fn bad_params(id: lsp_server::RequestId, e: impl std::fmt::Display) -> Response {
    Response::new_err(
        id,
        ErrorCode::InvalidParams as i32,
        format!("invalid parameters: {e}"),
    )
}

impl Server {
    fn new(paths: Paths) -> Self {
        Server {
            paths,
            docs: BTreeMap::new(),
            texts: BTreeMap::new(),
            good: BTreeMap::new(),
            roots: BTreeMap::new(),
            published: BTreeSet::new(),
            outbox: Vec::new(),
            workspace: Vec::new(),
            settings: Settings::default(),
            refresh_hints: false,
            sent: 0,
            files: Default::default(),
        }
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let result = match req.method.as_str() {
            "textDocument/hover" => parse(req.params).map(|p| self.hover(p)),
            "textDocument/definition" => parse(req.params).map(|p| self.definition(p)),
            "textDocument/references" => parse(req.params).map(|p| self.references(p)),
            "textDocument/prepareRename" => parse(req.params).map(|p| self.prepare_rename(p)),
            "textDocument/rename" => match parse(req.params) {
                Ok(p) => match self.rename(p) {
                    Ok(v) => Ok(v),
                    Err(msg) => {
                        return Response::new_err(id, ErrorCode::InvalidRequest as i32, msg)
                    }
                },
                Err(e) => Err(e),
            },
            "textDocument/completion" => parse(req.params).map(|p| self.completion(p)),
            "textDocument/documentSymbol" => parse(req.params).map(|p| self.symbols(p)),
            "textDocument/formatting" => parse(req.params).map(|p| self.formatting(p)),
            "textDocument/signatureHelp" => parse(req.params).map(|p| self.signature_help(p)),
            "textDocument/codeAction" => parse(req.params).map(|p| self.code_actions(p)),
            "textDocument/semanticTokens/full" => {
                parse(req.params).map(|p| self.semantic_tokens(p))
            }
            "textDocument/inlayHint" => parse(req.params).map(|p| self.inlay_hints(p)),
            _ => {
                return Response::new_err(
                    id,
                    ErrorCode::MethodNotFound as i32,
                    format!("inoc lsp does not handle {}", req.method),
                )
            }
        };
        match result {
            Ok(v) => Response::new_ok(id, v),
            Err(e) => bad_params(id, e),
        }
    }

    /// The world of an open document (its last good parse and its imports)
    /// and the byte offset of a position in it.
    fn at(&self, doc: &lt::TextDocumentPositionParams) -> Option<(Req, usize)> {
        let r = self.req(doc.text_document.uri.as_str())?;
        let offset = r.offset(doc.position);
        Some((r, offset))
    }

    fn req(&self, uri: &str) -> Option<Req> {
        let path = self.paths.path_of(uri);
        let current = self.texts.get(&path)?;
        let good = self.good.get(&path).unwrap_or(current);
        let world = analysis::World::load(&path, good, None, &Overlay { open: &self.good });
        Some(Req {
            world,
            current: SourceFile::new(path, current.clone()),
        })
    }

    fn hover(&self, p: lt::HoverParams) -> Value {
        let Some((r, offset)) = self.at(&p.text_document_position_params) else {
            return Value::Null;
        };
        let Some(site) = r.world.site_at(0, offset) else {
            return Value::Null;
        };
        let path = self
            .paths
            .path_of(p.text_document_position_params.text_document.uri.as_str());
        let value = match (&site.def, r.world.item_of(&site.def)) {
            (analysis::Def::Item { module, .. }, Some(item))
                if matches!(item.kind, crate::syntax::ast::ItemKind::Let(_)) =>
            {
                let key = (r.world.mods[*module].path.clone(), item.name().span.start);
                self.roots.get(&path).and_then(|rc| rc.values.get(&key))
            }
            _ => None,
        };
        let Some(mut text) = features::describe(&r.world, &site.def, value.map(String::as_str))
        else {
            return Value::Null;
        };
        // A declaration of the spec: what `inoc plan` would say of its steps.
        if let (analysis::Def::Item { module: 0, .. }, Some(item)) =
            (&site.def, r.world.item_of(&site.def))
        {
            if let crate::syntax::ast::ItemKind::Decl(_) = item.kind {
                let program = self.roots.get(&path).and_then(|rc| rc.program.as_ref());
                if let Some(status) = program.and_then(|p| cache_status(p, &item.name().name)) {
                    text.push_str(&format!("\n\n{status}"));
                }
            }
        }
        json!({
            "contents": { "kind": "markdown", "value": text },
            "range": r.range(site.span),
        })
    }

    fn definition(&self, p: lt::GotoDefinitionParams) -> Value {
        let Some((r, offset)) = self.at(&p.text_document_position_params) else {
            return Value::Null;
        };
        let Some(site) = r.world.site_at(0, offset) else {
            return Value::Null;
        };
        match r.world.def_span(&site.def) {
            Some(span) => json!(r.location(&self.paths, span)),
            None => Value::Null,
        }
    }

    /// Every place that names the definition under the cursor, in every
    /// open document and the modules they import (definition included).
    fn occurrences(
        &self,
        pos: &lt::TextDocumentPositionParams,
        with_def: bool,
    ) -> Option<Vec<lt::Location>> {
        let (r, offset) = self.at(pos)?;
        let site = r.world.site_at(0, offset)?;
        let key = Key::of(&r.world, &site.def);
        let mut out: Vec<lt::Location> = Vec::new();
        let mut scan = |other: &Req| {
            let w = &other.world;
            for m in 0..w.mods.len() {
                for s in w.sites(m) {
                    if (with_def || !s.is_def) && Key::of(w, &s.def) == key {
                        let loc = other.location(&self.paths, s.span);
                        if !out.contains(&loc) {
                            out.push(loc);
                        }
                    }
                }
            }
        };
        let mut roots: Vec<String> = vec![pos.text_document.uri.as_str().to_string()];
        roots.extend(self.docs.values().map(|d| d.uri.clone()));
        for uri in roots {
            if let Some(other) = self.req(&uri) {
                scan(&other);
            }
        }
        // The workspace's files that nobody opened but that read the file
        // of the definition (a use names it, so files without the name are
        // skipped unread beyond their text).
        if let Key::At(def_path, ..) = &key {
            let name = r
                .world
                .def_span(&site.def)
                .map(|s| r.world.text(s).to_string())
                .unwrap_or_default();
            for path in workspace::inoc_files(&self.workspace) {
                if self.docs.contains_key(&path) {
                    continue;
                }
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                if !text.contains(&name) {
                    continue;
                }
                let world =
                    analysis::World::load(&path, &text, None, &Overlay { open: &self.good });
                if world.by_path.contains_key(def_path) {
                    scan(&Req {
                        world,
                        current: SourceFile::new(path, text),
                    });
                }
            }
        }
        out.sort_by(|a, b| {
            (a.uri.as_str(), a.range.start.line, a.range.start.character).cmp(&(
                b.uri.as_str(),
                b.range.start.line,
                b.range.start.character,
            ))
        });
        Some(out)
    }

    fn references(&self, p: lt::ReferenceParams) -> Value {
        let with_def = p.context.include_declaration;
        match self.occurrences(&p.text_document_position, with_def) {
            Some(locs) => json!(locs),
            None => Value::Null,
        }
    }

    fn prepare_rename(&self, p: lt::TextDocumentPositionParams) -> Value {
        let Some((r, offset)) = self.at(&p) else {
            return Value::Null;
        };
        match r.world.site_at(0, offset) {
            Some(s) if renamable(&r.world, &s.def) => json!(r.range(s.span)),
            _ => Value::Null,
        }
    }

    fn rename(&self, p: lt::RenameParams) -> Result<Value, String> {
        let name = &p.new_name;
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if !valid {
            return Err(format!("`{name}` is not a name"));
        }
        let pos = &p.text_document_position;
        let Some((r, offset)) = self.at(pos) else {
            return Ok(Value::Null);
        };
        let Some(site) = r.world.site_at(0, offset) else {
            return Err("no name here".into());
        };
        if !renamable(&r.world, &site.def) {
            return Err("builtins and the stdlib cannot be renamed".into());
        }
        let Some(locs) = self.occurrences(pos, true) else {
            return Ok(Value::Null);
        };
        let mut changes: BTreeMap<String, Vec<lt::TextEdit>> = BTreeMap::new();
        for l in locs {
            changes
                .entry(l.uri.as_str().to_string())
                .or_default()
                .push(lt::TextEdit::new(l.range, name.clone()));
        }
        Ok(json!({ "changes": changes }))
    }

    fn completion(&self, p: lt::CompletionParams) -> Value {
        let pos = &p.text_document_position;
        let Some((r, _)) = self.at(pos) else {
            return Value::Null;
        };
        let offset = r
            .current
            .offset_of_utf16(pos.position.line, pos.position.character);
        json!(features::complete(&r.world, &r.current.text, offset))
    }

    fn symbols(&self, p: lt::DocumentSymbolParams) -> Value {
        let Some(r) = self.req(p.text_document.uri.as_str()) else {
            return Value::Null;
        };
        json!(features::symbols(&r.world, |s| r.range(s)))
    }

    fn signature_help(&self, p: lt::SignatureHelpParams) -> Value {
        let pos = &p.text_document_position_params;
        let Some((r, _)) = self.at(pos) else {
            return Value::Null;
        };
        let offset = r
            .current
            .offset_of_utf16(pos.position.line, pos.position.character);
        json!(features::signature_help(&r.world, &r.current.text, offset))
    }

    /// Quick fixes for the checker's diagnostics the client sends back:
    /// every "did you mean" as a replacement, a lint silenced for its line,
    /// a stdlib module imported when its alias is an unknown name; and,
    /// without a diagnostic, an `hf(...)` model under the cursor pinned to
    /// the commit in the local Hugging Face cache.
    fn code_actions(&self, p: lt::CodeActionParams) -> Value {
        let uri = p.text_document.uri.as_str().to_string();
        let path = self.paths.path_of(&uri);
        let Some(text) = self.texts.get(&path) else {
            return Value::Null;
        };
        let f = SourceFile::new("", text.clone());
        let mut out = Vec::new();
        let action = |title: String, d: &lt::Diagnostic, edit: lt::TextEdit, preferred: bool| {
            json!({
                "title": title,
                "kind": "quickfix",
                "diagnostics": [d],
                "isPreferred": preferred,
                "edit": { "changes": { uri.clone(): [edit] } },
            })
        };
        for d in &p.context.diagnostics {
            if d.source.as_deref() != Some("inoc") {
                continue;
            }
            let data = d.data.clone().unwrap_or(Value::Null);
            let start = f.offset_of_utf16(d.range.start.line, d.range.start.character);
            let end = f.offset_of_utf16(d.range.end.line, d.range.end.character);
            let written = text.get(start..end.max(start)).unwrap_or("");
            if let Some(new) = data["help"]
                .as_str()
                .and_then(|h| features::did_you_mean(h, written))
            {
                let edit = lt::TextEdit::new(d.range, new.clone());
                out.push(action(format!("Replace with {new}"), d, edit, true));
            }
            if let Some(lint) = data["lint"].as_str() {
                let line = d.range.start.line;
                let l = f.line_range(line as usize);
                let indent: String = text[l]
                    .chars()
                    .take_while(|c| *c == ' ' || *c == '\t')
                    .collect();
                let at = lt::Position::new(line, 0);
                let edit = lt::TextEdit::new(
                    lt::Range::new(at, at),
                    format!("{indent}# inoc: allow({lint})\n"),
                );
                out.push(action(
                    format!("Silence `{lint}` on this line"),
                    d,
                    edit,
                    false,
                ));
            }
            // `unknown name `world``, or `world.math(...)` called with no
            // `world` in scope (E0126 under `world.math`).
            let unknown = d
                .message
                .strip_prefix("unknown name `")
                .and_then(|m| m.split_once('`'))
                .map(|(n, _)| n)
                .or_else(|| {
                    let code = d.code.as_ref().map(|c| json!(c));
                    (code == Some(json!("E0126")))
                        .then(|| written.split_once('.').map(|(a, _)| a))
                        .flatten()
                })
                .filter(|n| !text.contains(&format!(" as {n}")));
            if let Some(name) = unknown {
                let module = format!("stdlib/{name}.inoc");
                if crate::sema::loader::stdlib(&module).is_some() {
                    let after = text
                        .lines()
                        .enumerate()
                        .filter(|(_, l)| l.starts_with("import "))
                        .map(|(i, _)| i as u32 + 1)
                        .last()
                        .unwrap_or(0);
                    let at = lt::Position::new(after, 0);
                    let edit = lt::TextEdit::new(
                        lt::Range::new(at, at),
                        format!("import \"{module}\" as {name}\n"),
                    );
                    out.push(action(
                        format!("Import \"{module}\" as {name}"),
                        d,
                        edit,
                        true,
                    ));
                }
            }
        }
        out.extend(self.pin_actions(&uri, p.range));
        json!(out)
    }

    /// For each `hf(...)` call in the range whose revision is not a commit
    /// hash: pin it to the commit its revision (`main` when none is
    /// written) names in the local Hugging Face cache, found as the loader
    /// finds it (`runtime::hub`).
    fn pin_actions(&self, uri: &str, range: lt::Range) -> Vec<Value> {
        use crate::runtime::hub;
        let Some(r) = self.req(uri) else {
            return Vec::new();
        };
        let (lo, hi) = (r.offset(range.start), r.offset(range.end));
        if lo == usize::MAX || hi == usize::MAX {
            return Vec::new();
        }
        let cache = hub::hub_cache_dir();
        let mut out = Vec::new();
        for call in features::hub_calls(&r.world, lo.min(hi), lo.max(hi)) {
            let spec = format!("{}@{}", call.id, call.revision);
            let Ok(Some(found)) = hub::resolve_in(&cache, &spec, &[]).map(|s| s.hub) else {
                continue;
            };
            let quoted = format!("\"{}\"", found.commit);
            let edit = match call.literal {
                Some(span) => lt::TextEdit::new(r.range(span), quoted),
                None => {
                    let at = r.range(call.after).end;
                    lt::TextEdit::new(lt::Range::new(at, at), format!(", revision = {quoted}"))
                }
            };
            out.push(json!({
                "title": format!(
                    "Pin `{}` to {} ({} in the local Hugging Face cache)",
                    call.id,
                    &found.commit[..12],
                    call.revision
                ),
                "kind": "quickfix",
                "edit": { "changes": { uri: [edit] } },
            }));
        }
        out
    }

    /// Inlay hints (when the client turned them on): after the arguments
    /// of each call in the range, the parameters it leaves at their
    /// defaults, as the checker bound them.
    fn inlay_hints(&self, p: lt::InlayHintParams) -> Value {
        if !self.settings.inlay_defaults {
            return json!([]);
        }
        let uri = p.text_document.uri.as_str();
        let Some(r) = self.req(uri) else {
            return Value::Null;
        };
        let Some(rc) = self.roots.get(&self.paths.path_of(uri)) else {
            return json!([]);
        };
        let mut out = Vec::new();
        for d in &rc.defaulted {
            let at = r.range(d.at).start;
            if at < p.range.start || at > p.range.end {
                continue;
            }
            let list = d
                .params
                .iter()
                .map(|(name, default)| format!("{name} = {default}"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(json!({
                "position": at,
                "label": if d.after_args { format!(", {list}") } else { list },
                "kind": lt::InlayHintKind::PARAMETER,
                "tooltip": "left at the default",
            }));
        }
        json!(out)
    }

    fn semantic_tokens(&self, p: lt::SemanticTokensParams) -> Value {
        let Some(r) = self.req(p.text_document.uri.as_str()) else {
            return Value::Null;
        };
        json!({ "data": features::semantic_tokens(&r.world, |s| r.range(s)) })
    }

    fn formatting(&self, p: lt::DocumentFormattingParams) -> Value {
        let path = self.paths.path_of(p.text_document.uri.as_str());
        let Some(text) = self.texts.get(&path) else {
            return Value::Null;
        };
        match crate::syntax::fmt::format(0, text) {
            Ok(new) if new == *text => json!([]),
            Ok(new) => {
                let f = SourceFile::new("", text.clone());
                let (line, col) = f.utf16_position(text.len());
                json!([lt::TextEdit::new(
                    lt::Range::new(lt::Position::new(0, 0), lt::Position::new(line, col)),
                    new
                )])
            }
            // The diagnostics already say why; formatting changes nothing.
            Err(_) => Value::Null,
        }
    }

    fn notification(&mut self, n: Notification) {
        let r = match n.method.as_str() {
            "textDocument/didOpen" => serde_json::from_value(n.params).map(|p| self.did_open(p)),
            "textDocument/didChange" => {
                serde_json::from_value(n.params).map(|p| self.did_change(p))
            }
            "textDocument/didClose" => serde_json::from_value(n.params).map(|p| self.did_close(p)),
            "workspace/didChangeConfiguration" => {
                let settings = &n.params["settings"];
                let inoc = match settings.get("inoc") {
                    Some(v) => v,
                    None => settings,
                };
                let before = self.settings.inlay_defaults;
                self.settings.update(inoc);
                if self.settings.inlay_defaults != before && self.refresh_hints {
                    self.sent += 1;
                    self.outbox.push(
                        Request::new(
                            format!("inoc-{}", self.sent).into(),
                            "workspace/inlayHint/refresh".into(),
                            Value::Null,
                        )
                        .into(),
                    );
                }
                Ok(())
            }
            "workspace/didChangeWorkspaceFolders" => {
                workspace::change_roots(&mut self.workspace, &n.params["event"], &self.paths);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(e) = r {
            eprintln!("inoc lsp: {}: invalid parameters: {e}", n.method);
        }
    }

    fn did_open(&mut self, p: lt::DidOpenTextDocumentParams) {
        let uri = p.text_document.uri.as_str().to_string();
        let path = self.paths.path_of(&uri);
        self.docs.insert(path.clone(), Doc { uri });
        self.texts.insert(path.clone(), p.text_document.text);
        self.changed(&path);
    }

    fn did_change(&mut self, p: lt::DidChangeTextDocumentParams) {
        let path = self.paths.path_of(p.text_document.uri.as_str());
        let Some(text) = self.texts.get_mut(&path) else {
            eprintln!("inoc lsp: change to a document that is not open: {path}");
            return;
        };
        for c in p.content_changes {
            apply_change(text, c);
        }
        self.changed(&path);
    }

    fn did_close(&mut self, p: lt::DidCloseTextDocumentParams) {
        let path = self.paths.path_of(p.text_document.uri.as_str());
        self.docs.remove(&path);
        self.texts.remove(&path);
        self.good.remove(&path);
        self.roots.remove(&path);
        // Importers now read the file from the disk.
        self.changed(&path);
    }

    /// Rechecks every open document that is `path` or reads it, then
    /// publishes the diagnostics of every file whose set may have changed.
    fn changed(&mut self, path: &str) {
        let affected: Vec<String> = self
            .docs
            .keys()
            .filter(|d| *d == path || self.roots.get(*d).is_some_and(|r| r.deps.contains(path)))
            .cloned()
            .collect();
        let mut touched: BTreeSet<String> = BTreeSet::new();
        touched.insert(path.to_string());
        for root in affected {
            let mut checked = sema::check(&root, &Overlay { open: &self.texts });
            // What `inoc check` reports next: the files the spec names.
            if let (Some(program), false) = (&checked.program, checked.has_errors()) {
                let mut found = self.files.check(program);
                checked.silence(&mut found);
                checked.diagnostics.extend(found);
            }
            // The root is file 0; a syntax error there means it did not parse.
            let parsed = !checked
                .diagnostics
                .iter()
                .any(|d| d.is_error() && d.primary.span.file == 0 && d.code.starts_with("E00"));
            if parsed {
                if let Some(t) = self.texts.get(&root) {
                    self.good.insert(root.clone(), t.clone());
                }
            }
            let values = if parsed {
                checked
                    .let_values
                    .iter()
                    .map(|(span, v)| {
                        (
                            (checked.sources.path(span.file).to_string(), span.start),
                            v.clone(),
                        )
                    })
                    .collect()
            } else {
                self.roots
                    .get(&root)
                    .map(|rc| rc.values.clone())
                    .unwrap_or_default()
            };
            let program = match &checked.program {
                Some(p) => Some(p.clone()),
                None => self.roots.get(&root).and_then(|rc| rc.program.clone()),
            };
            let defaulted = if parsed {
                checked
                    .defaulted
                    .iter()
                    .filter(|d| d.at.file == 0)
                    .cloned()
                    .collect()
            } else {
                self.roots
                    .get(&root)
                    .map(|rc| rc.defaulted.clone())
                    .unwrap_or_default()
            };
            let rc = RootCheck {
                program,
                defaulted,
                deps: (0..checked.sources.len() as u32)
                    .map(|f| checked.sources.path(f).to_string())
                    .collect(),
                diags: diagnostics::by_file(&checked.diagnostics, &checked.sources, &self.paths),
                values,
            };
            if let Some(old) = self.roots.get(&root) {
                touched.extend(old.diags.keys().cloned());
            }
            touched.extend(rc.diags.keys().cloned());
            touched.insert(root.clone());
            self.roots.insert(root, rc);
        }
        for file in touched {
            self.publish(&file);
        }
    }

    /// Publishes the union of the diagnostics every root has for `file`
    /// (an empty list clears a file that had some; a file that never had
    /// any and is not open gets nothing).
    fn publish(&mut self, file: &str) {
        let mut all: Vec<lt::Diagnostic> = Vec::new();
        for rc in self.roots.values() {
            for d in rc.diags.get(file).into_iter().flatten() {
                if !all.contains(d) {
                    all.push(d.clone());
                }
            }
        }
        let open = self.docs.contains_key(file);
        if all.is_empty() && !open && !self.published.contains(file) {
            return;
        }
        if all.is_empty() {
            self.published.remove(file);
        } else {
            self.published.insert(file.to_string());
        }
        let uri = match self.docs.get(file) {
            Some(d) => d.uri.clone(),
            None => self.paths.uri_of(file),
        };
        self.outbox.push(
            Notification::new(
                "textDocument/publishDiagnostics".into(),
                json!({ "uri": uri, "diagnostics": all }),
            )
            .into(),
        );
    }
}

/// What the engine would do for the declaration `name` of a checked spec,
/// as `inoc plan` says it: each of its steps cached or to run (and why),
/// with the estimate of those that run. Reads the cache store
/// (`$INOC_CACHE`) without creating it.
fn cache_status(program: &crate::sema::ir::Program, name: &str) -> Option<String> {
    let registry = crate::exec::ops::Registry::builtin();
    let plan = crate::plan::build(program, &registry).ok()?;
    let mine: Vec<usize> = plan
        .steps
        .iter()
        .filter(|s| {
            let node = &plan.program.nodes[s.node];
            !s.implicit
                && match &node.cell {
                    Some(c) => plan
                        .program
                        .families
                        .get(c.family)
                        .is_some_and(|f| f.name == name),
                    None => node.name == name,
                }
        })
        .map(|s| s.id)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let n = mine.len();
    let steps = if n == 1 {
        "1 step".to_string()
    } else {
        format!("{n} steps")
    };
    let root = crate::cache::Store::default_root();
    if !root.is_dir() {
        return Some(format!(
            "**cache**: will run ({steps}; no cache store at `{}` yet)",
            root.display()
        ));
    }
    let store = crate::cache::Store::open(&root).ok()?;
    let st =
        crate::exec::inspect(&plan, &store, &registry, crate::runtime::Compute::default()).ok()?;
    let rates = crate::exec::estimate::Rates::for_statuses(&store, &st);
    let est = crate::exec::estimate::estimate(&plan, &st, &registry, &rates);
    let mut cached = 0;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut estimate = 0.0;
    let mut unknown = 0;
    for &i in &mine {
        match &st[i].run {
            None => cached += 1,
            Some(r) => {
                *reasons.entry(r.text.clone()).or_default() += 1;
                match &est.steps[i] {
                    Some(e) => estimate += e.seconds,
                    None => unknown += 1,
                }
            }
        }
    }
    let why = match reasons.len() {
        1 => reasons.keys().next().cloned().unwrap_or_default(),
        _ => reasons
            .iter()
            .map(|(t, k)| format!("{k}: {t}"))
            .collect::<Vec<_>>()
            .join("; "),
    };
    let mut out = if cached == n {
        format!("**cache**: cached ({steps})")
    } else if cached == 0 {
        format!("**cache**: will run ({steps}) — {why}")
    } else {
        format!("**cache**: {cached} of {n} steps cached; the others will run — {why}")
    };
    if cached < n {
        let secs = crate::exec::human_secs(estimate);
        out.push_str(&match (estimate > 0.0, unknown) {
            (true, 0) => format!("\n\n**estimate**: {secs}"),
            (true, u) => format!("\n\n**estimate**: {secs} + {u} step(s) without an estimate"),
            (false, _) => String::new(),
        });
    }
    Some(out)
}

/// Applies one content change (a range edit, or the whole text when it has
/// no range) to a document's text.
fn apply_change(text: &mut String, c: lt::TextDocumentContentChangeEvent) {
    match c.range {
        None => *text = c.text,
        Some(r) => {
            let index = SourceFile::new("", std::mem::take(text));
            let start = index.offset_of_utf16(r.start.line, r.start.character);
            let end = index
                .offset_of_utf16(r.end.line, r.end.character)
                .max(start);
            let mut t = index.text;
            t.replace_range(start..end, &c.text);
            *text = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(
        range: Option<((u32, u32), (u32, u32))>,
        text: &str,
    ) -> lt::TextDocumentContentChangeEvent {
        lt::TextDocumentContentChangeEvent {
            range: range.map(|((a, b), (c, d))| {
                lt::Range::new(lt::Position::new(a, b), lt::Position::new(c, d))
            }),
            range_length: None,
            text: text.into(),
        }
    }

    #[test]
    fn incremental_changes_edit_by_utf16_position() {
        let mut t = String::from("let a = \"ç😀\"\nlet b = 2\n");
        // `😀` is two UTF-16 units: column 11 is inside it, 12 after it.
        apply_change(&mut t, change(Some(((0, 12), (0, 12))), "!"));
        assert_eq!(t, "let a = \"ç😀!\"\nlet b = 2\n");
        apply_change(&mut t, change(Some(((1, 8), (1, 9))), "30"));
        assert_eq!(t, "let a = \"ç😀!\"\nlet b = 30\n");
        apply_change(&mut t, change(Some(((0, 14), (1, 0))), ""));
        assert_eq!(t, "let a = \"ç😀!\"let b = 30\n");
        // Past the end: appended; reversed range: an insertion at its start.
        apply_change(&mut t, change(Some(((9, 0), (9, 0))), "# end"));
        assert_eq!(t, "let a = \"ç😀!\"let b = 30\n# end");
        apply_change(&mut t, change(Some(((0, 3), (0, 1))), "X"));
        assert_eq!(t, "letX a = \"ç😀!\"let b = 30\n# end");
        apply_change(&mut t, change(None, "new"));
        assert_eq!(t, "new");
    }
}

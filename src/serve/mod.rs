//! `inoc serve`: an OpenAI-compatible HTTP server over one loaded model, on
//! 127.0.0.1 only. A front end like `cli` and `lsp`: it speaks HTTP and the
//! OpenAI wire format ([`api`]) and hands the model work to the runtime.
//!
//! Threads: tiny_http accepts connections; [`WORKERS`] workers each take a
//! request, parse and check it, render and tokenize its messages, and queue
//! a job (one [`Row`] per choice) for the scheduler. The scheduler is the
//! only thread that runs the model: it takes every job waiting (up to
//! [`BATCH_ROWS`] rows, never splitting a job) and decodes them in one
//! batch (`LoadedModel::generate`, the sampler `inoc run` uses), so
//! concurrent requests share forward passes. Tokens and finished choices go
//! back to each job's worker on a channel as they are drawn; a streaming
//! worker writes them as server-sent events, and when its client has gone
//! the next send fails and the scheduler drops the job's rows from the
//! batch.

pub mod api;

use crate::runtime::loader::LoadedModel;
use crate::runtime::sample::{Observer, Row, Sample, Token};
use api::{ApiError, ChatRequest, Head};
use serde_json::{json, Value as Json};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Request threads (each holds one request until it is answered).
pub const WORKERS: usize = 64;
/// Rows the scheduler gathers into one batch before it starts decoding
/// (a single larger request still runs whole). 32 is the most rows the
/// CPU's skinny decode kernel takes.
pub const BATCH_ROWS: usize = 32;

/// The most KV-cache memory one request may need (its choices times its
/// prompt and completion positions, f32): a larger one is refused (400),
/// not left to abort the process when the cache is allocated. A batch of
/// several requests holds at most twice this.
pub const MAX_KV_BYTES: u64 = 2 << 30;

/// Bytes of KV cache `rows` rows of `positions` positions take (keys and
/// values of every layer, f32).
fn kv_bytes(cfg: &crate::runtime::config::ModelConfig, rows: usize, positions: usize) -> u64 {
    [
        2,
        4,
        cfg.num_hidden_layers,
        cfg.num_key_value_heads,
        cfg.head_dim,
        rows,
        positions,
    ]
    .iter()
    .fold(1u64, |acc, &x| acc.saturating_mul(x as u64))
}

/// How to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// 0 picks a free port.
    pub port: u16,
    /// The model id clients name in `model` and see in `/v1/models`.
    pub name: String,
}

/// A running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    http: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    scheduler: Option<JoinHandle<()>>,
}

/// What a job's worker hears from the scheduler.
enum Event {
    Token(usize, Token),
    Done(usize, Sample),
    Failed(String),
}

/// One request's rows and where its events go.
struct Job {
    rows: Vec<Row>,
    events: Sender<Event>,
}

/// What every worker shares.
struct Shared {
    model: LoadedModel,
    name: String,
    created: u64,
    jobs: Sender<Job>,
    counter: AtomicU64,
    stats: Arc<Stats>,
}

/// What the scheduler has done (`GET /inoc/stats`): batches run, rows
/// decoded, the most rows in one batch (above 1 when requests shared
/// forward passes).
#[derive(Default)]
struct Stats {
    batches: AtomicU64,
    rows: AtomicU64,
    max_rows: AtomicU64,
}

impl Server {
    /// Binds 127.0.0.1:`port` and starts serving `model`.
    pub fn start(model: LoadedModel, opts: Options) -> std::io::Result<Server> {
        let http = tiny_http::Server::http(("127.0.0.1", opts.port))
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let addr = http
            .server_addr()
            .to_ip()
            .ok_or_else(|| std::io::Error::other("not an IP listener"))?;
        let http = Arc::new(http);
        let (jobs, queue) = mpsc::channel::<Job>();
        let sched_model = model.clone();
        let stats = Arc::new(Stats::default());
        let sched_stats = stats.clone();
        let scheduler = std::thread::Builder::new()
            .name("inoc-serve-scheduler".into())
            .spawn(move || schedule(&sched_model, queue, &sched_stats))?;
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let shared = Arc::new(Shared {
            model,
            name: opts.name,
            created,
            jobs,
            counter: AtomicU64::new(0),
            stats,
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::with_capacity(WORKERS);
        for i in 0..WORKERS {
            let (http, shared, stopping) = (http.clone(), shared.clone(), stopping.clone());
            workers.push(
                std::thread::Builder::new()
                    .name(format!("inoc-serve-{i}"))
                    .spawn(move || loop {
                        match http.recv() {
                            Ok(req) => handle(&shared, req),
                            Err(_) if stopping.load(Ordering::SeqCst) => break,
                            Err(_) => continue,
                        }
                    })?,
            );
        }
        Ok(Server {
            addr,
            http,
            stopping,
            workers,
            scheduler: Some(scheduler),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL clients take: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Serves until the process ends.
    pub fn wait(mut self) {
        for w in std::mem::take(&mut self.workers) {
            let _ = w.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.http.unblock();
        }
        for w in std::mem::take(&mut self.workers) {
            let _ = w.join();
        }
        // The workers held the job queue's senders: the scheduler ends with them.
        if let Some(s) = self.scheduler.take() {
            let _ = s.join();
        }
    }
}

/// The scheduler: every job waiting goes into one batch.
fn schedule(model: &LoadedModel, queue: Receiver<Job>, stats: &Stats) {
    let cfg = model.model().config();
    // A job that did not fit the last batch's memory starts the next one.
    let mut held: Option<Job> = None;
    loop {
        let Some(first) = held.take().or_else(|| queue.recv().ok()) else {
            break;
        };
        let positions = |j: &Job| {
            let t = j.rows.iter().map(|r| r.prompt.len()).max().unwrap_or(0);
            (t, j.rows.iter().map(|r| r.max_tokens).max().unwrap_or(0))
        };
        let (mut t, mut steps) = positions(&first);
        let mut jobs = vec![first];
        let mut rows = jobs[0].rows.len();
        while rows < BATCH_ROWS {
            match queue.try_recv() {
                Ok(j) => {
                    // Every row of a batch is padded to its longest prompt
                    // and holds a cache for its longest completion.
                    let (jt, js) = positions(&j);
                    let need = kv_bytes(cfg, rows + j.rows.len(), t.max(jt) + steps.max(js));
                    if need > 2 * MAX_KV_BYTES {
                        held = Some(j);
                        break;
                    }
                    (t, steps) = (t.max(jt), steps.max(js));
                    rows += j.rows.len();
                    jobs.push(j);
                }
                Err(_) => break,
            }
        }
        let mut batch = Vec::with_capacity(rows);
        let mut owner = Vec::with_capacity(rows);
        for (j, job) in jobs.iter().enumerate() {
            for (c, r) in job.rows.iter().enumerate() {
                batch.push(r.clone());
                owner.push((j, c));
            }
        }
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.rows.fetch_add(rows as u64, Ordering::Relaxed);
        stats.max_rows.fetch_max(rows as u64, Ordering::Relaxed);
        let mut obs = Route {
            jobs: &jobs,
            owner: &owner,
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            model.generate(&batch, &mut obs)
        }));
        let failure = match result {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(format!("generation failed: {e}")),
            Err(_) => Some("generation failed: internal error (a panic)".to_string()),
        };
        if let Some(msg) = failure {
            for j in &jobs {
                let _ = j.events.send(Event::Failed(msg.clone()));
            }
        }
    }
}

/// Sends each row's tokens and end to its job's worker.
struct Route<'a> {
    jobs: &'a [Job],
    owner: &'a [(usize, usize)],
}

impl Observer for Route<'_> {
    fn token(&mut self, row: usize, token: &Token) -> bool {
        let (j, c) = self.owner[row];
        self.jobs[j]
            .events
            .send(Event::Token(c, token.clone()))
            .is_ok()
    }

    fn finished(&mut self, row: usize, sample: &Sample) {
        let (j, c) = self.owner[row];
        let _ = self.jobs[j].events.send(Event::Done(c, sample.clone()));
    }
}

fn json_response(status: u16, body: &Json) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    tiny_http::Response::from_data(body.to_string().into_bytes())
        .with_status_code(status)
        .with_header(
            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                .expect("a valid header"),
        )
}

fn respond_error(req: tiny_http::Request, e: &ApiError) {
    let _ = req.respond(json_response(e.status, &e.body()));
}

fn handle(shared: &Shared, mut req: tiny_http::Request) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    let method = req.method().clone();
    let get = method == tiny_http::Method::Get;
    let post = method == tiny_http::Method::Post;
    match path.trim_end_matches('/') {
        "/v1/models" if get => {
            let body = json!({
                "object": "list",
                "data": [api::model_entry(&shared.name, shared.created)],
            });
            let _ = req.respond(json_response(200, &body));
        }
        "/inoc/stats" if get => {
            let st = &shared.stats;
            let body = json!({
                "batches": st.batches.load(Ordering::Relaxed),
                "rows": st.rows.load(Ordering::Relaxed),
                "max_rows": st.max_rows.load(Ordering::Relaxed),
            });
            let _ = req.respond(json_response(200, &body));
        }
        p if get && p.starts_with("/v1/models/") => {
            let id = &p["/v1/models/".len()..];
            if id == shared.name {
                let _ = req.respond(json_response(200, &api::model_entry(id, shared.created)));
            } else {
                respond_error(req, &model_not_found(shared, id));
            }
        }
        "/v1/chat/completions" if post => {
            let body = match read_body(&mut req) {
                Ok(b) => b,
                Err(e) => return respond_error(req, &e),
            };
            match prepare(shared, &body) {
                Ok(prep) => run(shared, req, prep),
                Err(e) => respond_error(req, &e),
            }
        }
        "/v1/models" | "/v1/chat/completions" => respond_error(
            req,
            &ApiError::invalid(format!("method {method} is not allowed on {path}"), None)
                .with_status(405)
                .with_code("method_not_allowed"),
        ),
        _ => respond_error(
            req,
            &ApiError::not_found(format!(
                "no route {method} {path}: inoc serves GET /v1/models and POST /v1/chat/completions"
            )),
        ),
    }
}

/// The body, at most [`api::MAX_BODY`] bytes; a larger one is read to its
/// end (so the client reads the error rather than a reset) and refused.
fn read_body(req: &mut tiny_http::Request) -> Result<Vec<u8>, ApiError> {
    let too_large = |n: usize| {
        ApiError::invalid(
            format!(
                "the request body is {n} bytes or more; inoc serve reads at most {} bytes",
                api::MAX_BODY
            ),
            None,
        )
        .with_status(413)
        .with_code("request_too_large")
    };
    let mut body = Vec::new();
    let reader = req.as_reader();
    reader
        .take(api::MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::invalid(format!("cannot read the request body: {e}"), None))?;
    if body.len() > api::MAX_BODY {
        let rest = std::io::copy(&mut reader.take(64 << 20), &mut std::io::sink()).unwrap_or(0);
        return Err(too_large(body.len() + rest as usize));
    }
    Ok(body)
}

fn model_not_found(shared: &Shared, id: &str) -> ApiError {
    ApiError {
        status: 404,
        message: format!(
            "the model `{id}` does not exist: this server serves `{}`",
            shared.name
        ),
        kind: "invalid_request_error",
        param: Some("model"),
        code: Some("model_not_found"),
    }
}

/// A checked request with its rows.
struct Prepared {
    request: ChatRequest,
    prompt_tokens: usize,
    rows: Vec<Row>,
}

fn prepare(shared: &Shared, body: &[u8]) -> Result<Prepared, ApiError> {
    let request = ChatRequest::parse(body)?;
    if request.model != shared.name {
        return Err(model_not_found(shared, &request.model));
    }
    let lm = &shared.model;
    let prompt = lm.encode_prompt(&request.messages).map_err(|e| {
        ApiError::invalid(format!("cannot render the messages: {e}"), Some("messages"))
    })?;
    let context = lm.model().max_positions();
    let max_tokens = request
        .max_tokens
        .unwrap_or_else(|| api::DEFAULT_MAX_TOKENS.min(context.saturating_sub(prompt.len())));
    if prompt.is_empty() || prompt.len().saturating_add(max_tokens) > context || max_tokens == 0 {
        return Err(ApiError::invalid(
            format!(
                "this model's maximum context length is {context} tokens; the messages are {} \
                 tokens and the completion may take {max_tokens}",
                prompt.len()
            ),
            Some("messages"),
        )
        .with_code("context_length_exceeded"));
    }
    let need = kv_bytes(lm.model().config(), request.n, prompt.len() + max_tokens);
    if need > MAX_KV_BYTES {
        return Err(ApiError::invalid(
            format!(
                "this request would hold {:.1} GiB of KV cache ({} choices of {} positions); \
                 inoc serve takes at most {} GiB per request: lower `n` or `max_tokens`",
                need as f64 / (1u64 << 30) as f64,
                request.n,
                prompt.len() + max_tokens,
                MAX_KV_BYTES >> 30
            ),
            Some("n"),
        )
        .with_code("request_too_large"));
    }
    let seed = request.seed.unwrap_or_else(rand::random);
    let rows = (0..request.n)
        .map(|i| Row {
            prompt: prompt.clone(),
            temperature: request.temperature,
            top_p: request.top_p,
            max_tokens,
            seed: LoadedModel::row_seed(seed, 0, i),
            logprobs: request.logprobs,
            stop: request.stop.clone(),
        })
        .collect();
    Ok(Prepared {
        prompt_tokens: prompt.len(),
        request,
        rows,
    })
}

fn run(shared: &Shared, req: tiny_http::Request, prep: Prepared) {
    let (tx, events) = mpsc::channel();
    let n = prep.rows.len();
    if shared
        .jobs
        .send(Job {
            rows: prep.rows,
            events: tx,
        })
        .is_err()
    {
        return respond_error(req, &ApiError::server("the scheduler has stopped"));
    }
    let head = Head {
        id: format!(
            "chatcmpl-inoc-{}-{}",
            std::process::id(),
            shared.counter.fetch_add(1, Ordering::Relaxed)
        ),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        model: shared.name.clone(),
    };
    if prep.request.stream {
        return stream(
            shared,
            req,
            &prep.request,
            prep.prompt_tokens,
            head,
            n,
            events,
        );
    }
    let mut done: Vec<Option<Sample>> = vec![None; n];
    let mut left = n;
    while left > 0 {
        match events.recv() {
            Ok(Event::Token(..)) => {}
            Ok(Event::Done(c, s)) => {
                if done[c].replace(s).is_none() {
                    left -= 1;
                }
            }
            Ok(Event::Failed(msg)) => return respond_error(req, &ApiError::server(msg)),
            Err(_) => return respond_error(req, &ApiError::server("the scheduler has stopped")),
        }
    }
    let samples: Vec<Sample> = done.into_iter().flatten().collect();
    let body = api::completion(
        &head,
        prep.prompt_tokens,
        &samples,
        prep.request.logprobs.is_some(),
    );
    let _ = req.respond(json_response(200, &body));
}

/// Writes one chunk of a chunked body and flushes it; an error means the
/// client has gone.
fn write_chunk(w: &mut dyn Write, data: &[u8]) -> std::io::Result<()> {
    write!(w, "{:x}\r\n", data.len())?;
    w.write_all(data)?;
    w.write_all(b"\r\n")?;
    w.flush()
}

fn event(w: &mut dyn Write, v: &Json) -> std::io::Result<()> {
    write_chunk(w, format!("data: {v}\n\n").as_bytes())
}

/// How much of `text` may be sent now: not a trailing replacement
/// character (a token that ends inside a UTF-8 sequence) and not a tail
/// that could begin a stop string.
fn safe_len(text: &str, stops: &[String]) -> usize {
    let mut end = text.len();
    if text.ends_with('\u{FFFD}') {
        end = text.rfind('\u{FFFD}').unwrap_or(end);
    }
    let held = stops
        .iter()
        .flat_map(|s| {
            s.char_indices()
                .skip(1)
                .map(|(i, _)| &s[..i])
                .chain(std::iter::once(s.as_str()))
        })
        .filter(|p| text[..end].ends_with(p))
        .map(str::len)
        .max()
        .unwrap_or(0);
    end - held
}

/// Streams a request's choices as server-sent events (chunked, flushed per
/// event). Returning drops `events`: the scheduler's next send fails and it
/// drops this request's rows.
fn stream(
    shared: &Shared,
    req: tiny_http::Request,
    request: &ChatRequest,
    prompt_tokens: usize,
    head: Head,
    n: usize,
    events: Receiver<Event>,
) {
    let mut w = req.into_writer();
    let header =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
                  Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    if w.write_all(header.as_bytes()).is_err() {
        return;
    }
    let send = |w: &mut dyn Write, v: Json| event(w, &v);
    for c in 0..n {
        let delta = json!({"role": "assistant", "content": ""});
        if send(&mut *w, api::chunk(&head, c, delta, None, None)).is_err() {
            return;
        }
    }
    let tok = shared.model.tokenizer();
    let mut ids: Vec<Vec<u32>> = vec![vec![]; n];
    let mut sent: Vec<String> = vec![String::new(); n];
    let mut done: Vec<Option<Sample>> = vec![None; n];
    let mut left = n;
    let logprobs = |t: &[&Token]| {
        request
            .logprobs
            .map(|_| json!({"content": t.iter().map(|t| api::token_entry(t)).collect::<Vec<_>>()}))
    };
    while left > 0 {
        let ok = match events.recv() {
            Ok(Event::Token(c, t)) => {
                ids[c].push(t.id);
                let text = tok.decode(&ids[c], true).unwrap_or_default();
                let end = safe_len(&text, &request.stop);
                let delta = match text.get(..end) {
                    Some(p) if p.starts_with(sent[c].as_str()) && p.len() > sent[c].len() => {
                        let d = p[sent[c].len()..].to_string();
                        sent[c] = p.to_string();
                        d
                    }
                    _ => String::new(),
                };
                if delta.is_empty() && request.logprobs.is_none() {
                    Ok(())
                } else {
                    send(
                        &mut *w,
                        api::chunk(&head, c, json!({"content": delta}), logprobs(&[&t]), None),
                    )
                }
            }
            Ok(Event::Done(c, s)) => {
                left -= 1;
                let rest = s
                    .text
                    .strip_prefix(sent[c].as_str())
                    .unwrap_or_default()
                    .to_string();
                let r = if rest.is_empty() {
                    Ok(())
                } else {
                    send(
                        &mut *w,
                        api::chunk(&head, c, json!({"content": rest}), None, None),
                    )
                };
                let fin = api::finish_reason(&s);
                done[c] = Some(s);
                r.and_then(|_| send(&mut *w, api::chunk(&head, c, json!({}), None, Some(fin))))
            }
            Ok(Event::Failed(msg)) => {
                let _ = send(&mut *w, ApiError::server(msg).body());
                return;
            }
            Err(_) => return,
        };
        if ok.is_err() {
            return;
        }
    }
    if request.include_usage {
        let samples: Vec<Sample> = done.into_iter().flatten().collect();
        if send(&mut *w, api::usage_chunk(&head, prompt_tokens, &samples)).is_err() {
            return;
        }
    }
    let _ = write_chunk(&mut *w, b"data: [DONE]\n\n").and_then(|_| write_chunk(&mut *w, b""));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M: 30 layers of 3 KV heads of 64: 45 KiB a position, so
    /// 128 choices of 1,100 positions (6 GiB) are refused, 32 are not.
    #[test]
    fn kv_cache_memory_per_request_is_bounded() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/hf/configs/SmolLM2-135M-Instruct.json"
        );
        let v: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cfg = crate::runtime::config::ModelConfig::from_json(&v).unwrap();
        assert_eq!(kv_bytes(&cfg, 1, 1), 2 * 4 * 30 * 3 * 64);
        assert!(kv_bytes(&cfg, 128, 1_100) > MAX_KV_BYTES);
        assert!(kv_bytes(&cfg, 32, 1_100) < MAX_KV_BYTES);
        assert_eq!(kv_bytes(&cfg, usize::MAX, usize::MAX), u64::MAX);
    }

    #[test]
    fn stream_holds_back_what_could_start_a_stop_string() {
        let stops = vec!["END".to_string(), "\n\n".to_string()];
        assert_eq!(safe_len("hello", &stops), 5);
        assert_eq!(safe_len("hello E", &stops), 6);
        assert_eq!(safe_len("hello EN", &stops), 6);
        assert_eq!(safe_len("a\n", &stops), 1);
        assert_eq!(safe_len("caf\u{FFFD}", &[]), 3);
        assert_eq!(safe_len("", &stops), 0);
    }
}

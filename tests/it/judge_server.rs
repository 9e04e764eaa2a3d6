//! A stand-in OpenAI-compatible judge for tests: an HTTP/1.1 server on
//! 127.0.0.1 (std only, one thread per connection) that records every
//! request and answers with what the test's responder returns. No network
//! leaves the machine. A module of the integration tests (`judge`), also
//! compiled into the unit tests of `exec::ops::judge::endpoint` (through a
//! `#[path]` under `cfg(test)`), never into the library or the binary.

// A helper for several tests: not every one reads every field.
#![allow(dead_code)]

use serde_json::{json, Value as Json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// One request the server received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Json,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }

    /// The text of the first user message.
    pub fn prompt(&self) -> &str {
        self.body
            .pointer("/messages/0/content")
            .and_then(Json::as_str)
            .unwrap_or("")
    }
}

/// What the server answers: status, extra headers, body.
pub type Response = (u16, Vec<(String, String)>, String);

type Responder = dyn Fn(usize, &Recorded) -> Response + Send + Sync;

/// The running server; stops when dropped.
pub struct MockServer {
    /// Base URL, e.g. `http://127.0.0.1:PORT/v1`.
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    handle: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Starts a server; `respond(n, request)` answers the n-th request
    /// (counting from 0, in arrival order).
    pub fn start(respond: impl Fn(usize, &Recorded) -> Response + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let respond: Arc<Responder> = Arc::new(respond);
        let (reqs, stop2) = (requests.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let (reqs, respond) = (reqs.clone(), respond.clone());
                std::thread::spawn(move || serve(conn, &reqs, respond.as_ref()));
            }
        });
        MockServer {
            url: format!("http://{addr}/v1"),
            requests,
            stop,
            addr,
            handle: Some(handle),
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Reads requests from one connection (keep-alive) and answers them.
fn serve(conn: TcpStream, reqs: &Mutex<Vec<Recorded>>, respond: &Responder) {
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let rec = Recorded {
            method,
            path,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Json::Null),
        };
        let n = {
            let mut r = reqs.lock().expect("requests");
            r.push(rec.clone());
            r.len() - 1
        };
        let (status, extra, text) = respond(n, &rec);
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            if status == 200 { "OK" } else { "Error" },
            text.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(text.as_bytes()).is_err()
            || writer.flush().is_err()
        {
            return;
        }
    }
}

/// A chat completion whose first token has these top logprobs (token,
/// probability), in the OpenAI layout.
pub fn logprobs_reply(top: &[(&str, f64)]) -> String {
    let first = top.first().map_or("", |t| t.0);
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": first},
            "logprobs": {"content": [{
                "token": first,
                "logprob": top.first().map_or(0.0, |t| t.1.ln()),
                "top_logprobs": top.iter().map(|(t, p)| json!({
                    "token": t, "logprob": p.ln(), "bytes": t.as_bytes(),
                })).collect::<Vec<_>>(),
            }]},
            "finish_reason": "length",
        }],
    })
    .to_string()
}

/// A chat completion replying `text`.
pub fn text_reply(text: &str) -> String {
    json!({
        "id": "chatcmpl-mock",
        "object": "chat.completion",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }],
    })
    .to_string()
}

/// A 200 response with `body`.
pub fn ok(body: String) -> Response {
    (200, Vec::new(), body)
}

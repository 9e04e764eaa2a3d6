//! The HTTP half of an LLM judge: one chat completion per rendered judge
//! prompt against any OpenAI-compatible endpoint (`POST {base}/chat/completions`),
//! a few requests in flight, retries with exponential backoff on 429, 5xx,
//! timeouts and dropped connections.
//!
//! Two kinds of request, as in the EM paper's evaluation code:
//! - [`Ask::TopLogprobs`]: `max_tokens: 1, temperature: 0, logprobs: true,
//!   top_logprobs: 20, seed: 0`; the reply is the first token's top
//!   logprobs (token text, natural-log probability);
//! - [`Ask::Text`]: a short greedy reply (`temperature: 0`), whose number the
//!   caller reads.

use serde_json::{json, Value as Json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// What to ask the judge for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// The top `n` logprobs of the first reply token.
    TopLogprobs(usize),
    /// A greedy reply of at most this many tokens.
    Text(usize),
}

/// The judge's answer to one prompt.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// (token text, natural-log probability), as the endpoint listed them.
    TopLogprobs(Vec<(String, f64)>),
    Text(String),
}

/// Retry policy.
#[derive(Clone, Debug)]
pub struct Retry {
    /// Tries per request, the first included.
    pub attempts: u32,
    /// Wait before the second try; doubles each time (with jitter), up to
    /// `max_delay`. A `Retry-After` header in seconds is honoured up to
    /// `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            timeout: Duration::from_secs(120),
        }
    }
}

/// An OpenAI-compatible chat endpoint and the judge model served there.
#[derive(Clone)]
pub struct Endpoint {
    /// Base URL without the trailing slash (`https://api.openai.com/v1`).
    pub base: String,
    pub model: String,
    api_key: Option<String>,
    pub retry: Retry,
    agent: ureq::Agent,
    /// The length limit goes as `max_completion_tokens`: OpenAI's newer
    /// models refuse `max_tokens` (HTTP 400 naming its replacement), while
    /// vLLM and older servers know only `max_tokens`. Learnt from the first
    /// refusal, shared by the clones working through one judge's prompts.
    completion_tokens: std::sync::Arc<AtomicBool>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Endpoint")
            .field("base", &self.base)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Why a judge request failed for good.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EndpointError {
    #[error("judge endpoint {url}: HTTP {status} after {attempts} tries: {body}")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
        body: String,
    },
    #[error("judge endpoint {url}: {message} (after {attempts} tries)")]
    Transport {
        url: String,
        message: String,
        attempts: u32,
    },
    #[error("judge endpoint {url}: unexpected reply: {message}")]
    Reply { url: String, message: String },
    #[error("interrupted")]
    Cancelled,
}

/// Normalises a base URL: trimmed, without trailing slashes.
pub fn normalise_base(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

impl Endpoint {
    pub fn new(base: &str, model: &str, api_key: Option<String>, retry: Retry) -> Endpoint {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(retry.timeout))
            .timeout_connect(Some(Duration::from_secs(30).min(retry.timeout)))
            .user_agent(concat!("inoc/", env!("CARGO_PKG_VERSION")))
            // A judge request never follows a redirect: the prompts (and the
            // key) go to the URL the user can see, nowhere else.
            .max_redirects(0)
            .build()
            .into();
        Endpoint {
            base: normalise_base(base),
            model: model.to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
            retry,
            agent,
            completion_tokens: Default::default(),
        }
    }

    pub fn url(&self) -> String {
        format!("{}/chat/completions", self.base)
    }

    /// The request body for one prompt (sent as the user turn).
    pub fn body(&self, prompt: &str, ask: Ask) -> Json {
        let messages = json!([{ "role": "user", "content": prompt }]);
        let mut body = match ask {
            Ask::TopLogprobs(n) => json!({
                "model": self.model,
                "messages": messages,
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": true,
                "top_logprobs": n,
                "seed": 0,
            }),
            Ask::Text(max_tokens) => json!({
                "model": self.model,
                "messages": messages,
                "max_tokens": max_tokens,
                "temperature": 0,
                "seed": 0,
            }),
        };
        if self.completion_tokens.load(Ordering::Relaxed) {
            if let Some(o) = body.as_object_mut() {
                if let Some(n) = o.remove("max_tokens") {
                    o.insert("max_completion_tokens".into(), n);
                }
            }
        }
        body
    }

    /// Asks one prompt, retrying transient failures; `cancelled` is polled
    /// between tries.
    pub fn ask(
        &self,
        prompt: &str,
        ask: Ask,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Reply, EndpointError> {
        let url = self.url();
        let mut body = self.body(prompt, ask).to_string();
        let mut attempt = 0;
        loop {
            if cancelled() {
                return Err(EndpointError::Cancelled);
            }
            attempt += 1;
            let mut req = self
                .agent
                .post(&url)
                .header("Content-Type", "application/json");
            if let Some(k) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {k}"));
            }
            let (retry_after, failure) = match req.send(body.as_str()) {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .filter(|s| s.is_finite() && *s >= 0.0)
                        .map(Duration::from_secs_f64);
                    let text = resp.body_mut().read_to_string();
                    if status == 200 {
                        let text = text.map_err(|e| EndpointError::Reply {
                            url: url.clone(),
                            message: e.to_string(),
                        })?;
                        return parse_reply(&text, ask).map_err(|message| EndpointError::Reply {
                            url: url.clone(),
                            message,
                        });
                    }
                    let text = text.unwrap_or_default();
                    if status == 400
                        && text.contains("max_completion_tokens")
                        && body.contains("\"max_tokens\"")
                    {
                        // Ask again at once, the limit under its new name
                        // (once: the new body has no `max_tokens`).
                        self.completion_tokens.store(true, Ordering::Relaxed);
                        body = self.body(prompt, ask).to_string();
                        attempt -= 1;
                        continue;
                    }
                    let err = EndpointError::Status {
                        url: url.clone(),
                        status,
                        attempts: attempt,
                        body: snippet(&text),
                    };
                    if !(status == 408 || status == 409 || status == 429 || status >= 500) {
                        return Err(err);
                    }
                    (retry_after, err)
                }
                Err(e) => {
                    let transient = matches!(
                        e,
                        ureq::Error::Timeout(_)
                            | ureq::Error::Io(_)
                            | ureq::Error::ConnectionFailed
                            | ureq::Error::HostNotFound
                            | ureq::Error::Protocol(_)
                    );
                    let err = EndpointError::Transport {
                        url: url.clone(),
                        message: e.to_string(),
                        attempts: attempt,
                    };
                    if !transient {
                        return Err(err);
                    }
                    (None, err)
                }
            };
            if attempt >= self.retry.attempts {
                return Err(failure);
            }
            let wait = retry_after
                .unwrap_or_else(|| backoff(&self.retry, attempt, prompt))
                .min(self.retry.max_delay);
            sleep_unless(wait, cancelled);
        }
    }
}

/// Exponential backoff with jitter in [0.5, 1) of the step, derived from
/// the prompt so that concurrent workers spread out without a random source.
fn backoff(r: &Retry, attempt: u32, prompt: &str) -> Duration {
    let step = r
        .base_delay
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(r.max_delay);
    let h = blake3::hash(format!("{attempt}\0{prompt}").as_bytes());
    let jitter = 0.5 + (h.as_bytes()[0] as f64) / 512.0;
    step.mul_f64(jitter)
}

/// Sleeps in short slices so that Ctrl-C is not kept waiting.
fn sleep_unless(d: Duration, cancelled: &dyn Fn() -> bool) {
    let end = std::time::Instant::now() + d;
    while !cancelled() {
        let now = std::time::Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// The first 300 characters of a reply body, on one line.
fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "(empty body)".into();
    }
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &one_line[..i]),
        None => one_line,
    }
}

/// Reads a chat completion: the first choice's first-token top logprobs, or
/// its text.
pub fn parse_reply(text: &str, ask: Ask) -> Result<Reply, String> {
    let v: Json =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e}): {}", snippet(text)))?;
    let choice = v
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| format!("no `choices[0]`: {}", snippet(text)))?;
    match ask {
        Ask::Text(_) => Ok(Reply::Text(
            choice
                .pointer("/message/content")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_string(),
        )),
        Ask::TopLogprobs(_) => {
            let Some(content) = choice.pointer("/logprobs/content") else {
                return Err(
                    "no `logprobs` in the reply: the endpoint or model does not return logprobs; \
                     use a judge that does, or `aggregate = \"sample_number\"`"
                        .into(),
                );
            };
            // No token at all (an empty reply): no number, so no score.
            let Some(first) = content.as_array().and_then(|a| a.first()) else {
                return Ok(Reply::TopLogprobs(Vec::new()));
            };
            let top = first
                .get("top_logprobs")
                .and_then(Json::as_array)
                .ok_or_else(|| "no `top_logprobs` for the first token".to_string())?;
            top.iter()
                .map(|t| {
                    let token = t.get("token").and_then(Json::as_str);
                    let lp = t.get("logprob").and_then(Json::as_f64);
                    match (token, lp) {
                        (Some(tok), Some(lp)) => Ok((tok.to_string(), lp)),
                        _ => Err(format!("a top logprob without `token` and `logprob`: {t}")),
                    }
                })
                .collect::<Result<Vec<_>, _>>()
                .and_then(check_logprobs)
                .map(Reply::TopLogprobs)
        }
    }
}

/// Refuses top logprobs no model can produce, so that they are never
/// averaged into a score: a log-probability above 0 (a probability above
/// 1), NaN, or alternatives whose probabilities add up to more than 1.
/// Servers round: 1e-4 of slack each way.
fn check_logprobs(top: Vec<(String, f64)>) -> Result<Vec<(String, f64)>, String> {
    const SLACK: f64 = 1e-4;
    if let Some((tok, lp)) = top.iter().find(|(_, lp)| lp.is_nan() || *lp > SLACK) {
        return Err(format!(
            "impossible top logprob {lp} for token {tok:?}: log-probabilities are at most 0; \
             the endpoint is not returning natural-log probabilities"
        ));
    }
    let total: f64 = top.iter().map(|(_, lp)| lp.exp()).sum();
    if total > 1.0 + SLACK {
        return Err(format!(
            "impossible top logprobs: their probabilities add up to {total:.4} (> 1); \
             the endpoint is not returning natural-log probabilities"
        ));
    }
    Ok(top)
}

/// Asks every prompt with at most `concurrency` requests in flight. Results
/// are in prompt order. `done` is called with each answer as it arrives
/// (from worker threads). The first error stops the remaining requests.
pub fn ask_all(
    ep: &Endpoint,
    prompts: &[String],
    ask: Ask,
    concurrency: usize,
    cancelled: &(dyn Fn() -> bool + Sync),
    done: &(dyn Fn(usize, &Reply) + Sync),
) -> Result<Vec<Reply>, EndpointError> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Reply>>> = Mutex::new(vec![None; prompts.len()]);
    let first_error: Mutex<Option<EndpointError>> = Mutex::new(None);
    let stop = || failed.load(Ordering::Relaxed) || cancelled();
    std::thread::scope(|s| {
        for _ in 0..concurrency.clamp(1, prompts.len().max(1)) {
            s.spawn(|| loop {
                if stop() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = prompts.get(i) else { return };
                match ep.ask(p, ask, &stop) {
                    Ok(r) => {
                        done(i, &r);
                        results.lock().expect("judge results")[i] = Some(r);
                    }
                    Err(e) => {
                        let mut slot = first_error.lock().expect("judge error");
                        // A real failure wins over the cancellation it caused.
                        if slot.is_none() || matches!(*slot, Some(EndpointError::Cancelled)) {
                            *slot = Some(e);
                        }
                        failed.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("judge error") {
        return Err(e);
    }
    if cancelled() {
        return Err(EndpointError::Cancelled);
    }
    Ok(results
        .into_inner()
        .expect("judge results")
        .into_iter()
        .map(|r| r.expect("every prompt answered"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::mock::{logprobs_reply, ok, text_reply, MockServer};
    use super::*;

    fn quick() -> Retry {
        Retry {
            attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            timeout: Duration::from_secs(20),
        }
    }

    fn never() -> bool {
        false
    }

    #[test]
    fn logprob_request_has_the_em_shape_and_reads_top_logprobs() {
        let server = MockServer::start(|_, _| ok(logprobs_reply(&[("90", 0.6), ("80", 0.3)])));
        let ep = Endpoint::new(
            &format!("{}/", server.url),
            "judge-model",
            Some("sk-test".into()),
            quick(),
        );
        let r = ep.ask("Rate this.", Ask::TopLogprobs(20), &never).unwrap();
        let Reply::TopLogprobs(top) = r else {
            panic!("{r:?}")
        };
        assert_eq!(top.len(), 2);
        assert_eq!(top[0].0, "90");
        assert!((top[0].1 - 0.6f64.ln()).abs() < 1e-12);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        let q = &reqs[0];
        assert_eq!(
            (q.method.as_str(), q.path.as_str()),
            ("POST", "/v1/chat/completions")
        );
        assert_eq!(q.header("authorization"), Some("Bearer sk-test"));
        assert_eq!(q.header("content-type"), Some("application/json"));
        let b = &q.body;
        assert_eq!(b["model"], "judge-model");
        assert_eq!(b["max_tokens"], 1);
        assert_eq!(b["temperature"], 0);
        assert_eq!(b["logprobs"], true);
        assert_eq!(b["top_logprobs"], 20);
        assert_eq!(b["messages"][0]["role"], "user");
        assert_eq!(q.prompt(), "Rate this.");
    }

    #[test]
    fn no_key_sends_no_authorization_and_text_replies_are_read() {
        let server = MockServer::start(|_, _| ok(text_reply("Score: 85/100")));
        let ep = Endpoint::new(&server.url, "m", None, quick());
        let r = ep.ask("p", Ask::Text(16), &never).unwrap();
        assert_eq!(r, Reply::Text("Score: 85/100".into()));
        let q = &server.requests()[0];
        assert_eq!(q.header("authorization"), None);
        assert_eq!(q.body["max_tokens"], 16);
        assert!(q.body.get("logprobs").is_none());
    }

    #[test]
    fn a_refused_max_tokens_is_sent_again_as_max_completion_tokens() {
        // OpenAI's reply for its newer models.
        let refusal = r#"{"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}"#;
        let server = MockServer::start(move |_, q| {
            if q.body.get("max_tokens").is_some() {
                (400, Vec::new(), refusal.into())
            } else {
                ok(logprobs_reply(&[("42", 1.0)]))
            }
        });
        let ep = Endpoint::new(&server.url, "m", None, quick());
        for _ in 0..2 {
            let r = ep.clone().ask("p", Ask::TopLogprobs(20), &never).unwrap();
            assert_eq!(r, Reply::TopLogprobs(vec![("42".into(), 0.0)]));
        }
        let reqs = server.requests();
        // The first prompt is asked twice, the second once, already renamed.
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[1].body["max_completion_tokens"], 1);
        assert!(reqs[2].body.get("max_tokens").is_none());
        // A 400 about something else is not retried.
        let server =
            MockServer::start(|_, _| (400, Vec::new(), "{\"error\": \"bad model\"}".into()));
        let ep = Endpoint::new(&server.url, "m", None, quick());
        assert!(ep.ask("p", Ask::Text(8), &never).is_err());
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn retries_429_then_succeeds() {
        let server = MockServer::start(|n, _| {
            if n == 0 {
                (
                    429,
                    vec![("Retry-After".into(), "0".into())],
                    "{\"error\":\"slow down\"}".into(),
                )
            } else if n == 1 {
                (503, Vec::new(), "overloaded".into())
            } else {
                ok(logprobs_reply(&[("7", 1.0)]))
            }
        });
        let ep = Endpoint::new(&server.url, "m", None, quick());
        let r = ep.ask("p", Ask::TopLogprobs(20), &never).unwrap();
        assert_eq!(r, Reply::TopLogprobs(vec![("7".into(), 0.0)]));
        assert_eq!(server.requests().len(), 3);
    }

    #[test]
    fn persistent_5xx_names_the_endpoint_and_status() {
        let server = MockServer::start(|_, _| (500, Vec::new(), "{\"error\": \"boom\"}".into()));
        let ep = Endpoint::new(&server.url, "m", None, quick());
        let e = ep.ask("p", Ask::TopLogprobs(20), &never).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("{}/chat/completions", server.url)),
            "{msg}"
        );
        assert!(msg.contains("HTTP 500 after 4 tries"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
        assert_eq!(server.requests().len(), 4);
    }

    #[test]
    fn client_errors_are_not_retried() {
        let server = MockServer::start(|_, _| (401, Vec::new(), "{\"error\": \"bad key\"}".into()));
        let ep = Endpoint::new(&server.url, "m", Some("wrong".into()), quick());
        let e = ep.ask("p", Ask::TopLogprobs(20), &never).unwrap_err();
        assert!(e.to_string().contains("HTTP 401 after 1 tries"), "{e}");
        assert!(!e.to_string().contains("wrong"), "the key leaked: {e}");
        assert_eq!(server.requests().len(), 1);
    }

    #[test]
    fn unreachable_endpoint_is_a_transport_error_after_retries() {
        // A port nobody listens on.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ep = Endpoint::new(&format!("http://127.0.0.1:{port}/v1"), "m", None, quick());
        let e = ep.ask("p", Ask::TopLogprobs(20), &never).unwrap_err();
        assert!(
            matches!(e, EndpointError::Transport { attempts: 4, .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }

    use std::net::TcpListener;

    #[test]
    fn replies_without_logprobs_say_so() {
        let server = MockServer::start(|_, _| ok(text_reply("85")));
        let ep = Endpoint::new(&server.url, "m", None, quick());
        let e = ep.ask("p", Ask::TopLogprobs(20), &never).unwrap_err();
        assert!(e.to_string().contains("sample_number"), "{e}");
        assert!(parse_reply("not json", Ask::Text(1)).is_err());
        assert!(parse_reply("{\"choices\": []}", Ask::Text(1)).is_err());
        let top = |pairs: &str| {
            format!(
                r#"{{"choices":[{{"logprobs":{{"content":[{{"top_logprobs":[{pairs}]}}]}}}}]}}"#
            )
        };
        let bad = top(r#"{"token": "100", "logprob": 50.0}"#);
        let e = parse_reply(&bad, Ask::TopLogprobs(20)).unwrap_err();
        assert!(e.contains("impossible top logprob 50"), "{e}");
        let bad = top(r#"{"token": "1", "logprob": -0.1}, {"token": "2", "logprob": -0.2}"#);
        let e = parse_reply(&bad, Ask::TopLogprobs(20)).unwrap_err();
        assert!(e.contains("add up to 1.7"), "{e}");
        // Rounding slack: a certain token may come back as 0.0 or a hair above.
        let fine = top(r#"{"token": "7", "logprob": 0.00000001}"#);
        assert!(parse_reply(&fine, Ask::TopLogprobs(20)).is_ok());
        let empty = r#"{"choices":[{"logprobs":{"content":[]}}]}"#;
        assert_eq!(
            parse_reply(empty, Ask::TopLogprobs(20)),
            Ok(Reply::TopLogprobs(vec![]))
        );
    }

    #[test]
    fn ask_all_keeps_order_with_requests_in_flight() {
        let server = MockServer::start(|n, r| {
            if n == 3 {
                return (429, Vec::new(), String::new());
            }
            // The judge answers the number in the prompt.
            let p = r.prompt().to_string();
            std::thread::sleep(Duration::from_millis(5));
            ok(logprobs_reply(&[(p.as_str(), 1.0)]))
        });
        let ep = Endpoint::new(&server.url, "m", None, quick());
        let prompts: Vec<String> = (0..40).map(|i| i.to_string()).collect();
        let count = AtomicUsize::new(0);
        let out = ask_all(&ep, &prompts, Ask::TopLogprobs(20), 4, &never, &|_, _| {
            count.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(count.load(Ordering::Relaxed), 40);
        for (i, r) in out.iter().enumerate() {
            assert_eq!(r, &Reply::TopLogprobs(vec![(i.to_string(), 0.0)]));
        }
        assert_eq!(server.requests().len(), 41);
    }

    #[test]
    fn ask_all_stops_at_the_first_failure() {
        let server = MockServer::start(|_, r| {
            if r.prompt() == "5" {
                (400, Vec::new(), "bad prompt".into())
            } else {
                ok(logprobs_reply(&[("1", 1.0)]))
            }
        });
        let ep = Endpoint::new(&server.url, "m", None, quick());
        let prompts: Vec<String> = (0..200).map(|i| i.to_string()).collect();
        let e = ask_all(&ep, &prompts, Ask::TopLogprobs(20), 2, &never, &|_, _| {}).unwrap_err();
        assert!(e.to_string().contains("HTTP 400"), "{e}");
        assert!(server.requests().len() < 200);
    }
}

//! The OpenAI chat-completions wire format: the request (parsed strictly:
//! an unknown field is an error, not ignored), its checks, the replies and
//! stream chunks, and OpenAI-style error bodies.

use crate::runtime::chat_template::Message;
use crate::runtime::sample::{Sample, Token};
use serde::Deserialize;
use serde_json::{json, Value as Json};

/// Largest request body read (a 10 MB prompt is refused with 413).
pub const MAX_BODY: usize = 4 << 20;
/// Choices per request (OpenAI's limit).
pub const MAX_N: usize = 128;
/// Alternatives per token in `top_logprobs` (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: usize = 20;
/// Stop strings per request (OpenAI's limit).
pub const MAX_STOP: usize = 4;
/// `max_tokens` when a request names none: at most this many, and never past
/// the model's context.
pub const DEFAULT_MAX_TOKENS: usize = 1024;

/// An error as OpenAI writes it: `{"error": {"message", "type", "param",
/// "code"}}` with an HTTP status.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<&'static str>,
    pub code: Option<&'static str>,
}

impl ApiError {
    /// 400 `invalid_request_error`.
    pub fn invalid(message: impl Into<String>, param: Option<&'static str>) -> Self {
        ApiError {
            status: 400,
            message: message.into(),
            kind: "invalid_request_error",
            param,
            code: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            status: 404,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("not_found"),
        }
    }

    pub fn server(message: impl Into<String>) -> Self {
        ApiError {
            status: 500,
            message: message.into(),
            kind: "server_error",
            param: None,
            code: None,
        }
    }

    pub fn body(&self) -> Json {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

/// A chat message's content: a string or a list of text parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMessage {
    role: String,
    content: Option<Content>,
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

/// The request body, as sent. Every field OpenAI defines that inoc does not
/// implement is unknown here, and refused by name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    model: String,
    messages: Vec<WireMessage>,
    n: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    seed: Option<i64>,
    stop: Option<Stop>,
    logprobs: Option<bool>,
    top_logprobs: Option<i64>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    /// An end-user id: accepted and ignored, as OpenAI does.
    #[allow(dead_code)]
    user: Option<String>,
}

/// A checked chat-completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub n: usize,
    pub temperature: f64,
    pub top_p: f64,
    /// `None`: [`DEFAULT_MAX_TOKENS`], bounded by the context.
    pub max_tokens: Option<usize>,
    pub seed: Option<u64>,
    pub stop: Vec<String>,
    /// `Some(k)`: log-probs of each token with `k` alternatives.
    pub logprobs: Option<usize>,
    pub stream: bool,
    pub include_usage: bool,
}

impl ChatRequest {
    /// Parses and checks a request body.
    pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
        let wire: Wire = serde_json::from_slice(body).map_err(|e| {
            let msg = e.to_string();
            if e.is_syntax() || e.is_eof() {
                ApiError::invalid(format!("the body is not valid JSON: {msg}"), None)
            } else {
                ApiError::invalid(format!("invalid request: {msg}"), None)
            }
        })?;
        let range = |v: Option<i64>, lo: i64, hi: i64, name: &'static str| match v {
            Some(x) if x < lo || x > hi => Err(ApiError::invalid(
                format!("`{name}` must be between {lo} and {hi}, got {x}"),
                Some(name),
            )
            .with_code("invalid_value")),
            _ => Ok(v),
        };
        let n = range(wire.n, 1, MAX_N as i64, "n")?.unwrap_or(1) as usize;
        let temperature = wire.temperature.unwrap_or(1.0);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid(
                format!("`temperature` must be between 0 and 2, got {temperature}"),
                Some("temperature"),
            )
            .with_code("invalid_value"));
        }
        let top_p = wire.top_p.unwrap_or(1.0);
        if !(top_p > 0.0 && top_p <= 1.0) {
            return Err(ApiError::invalid(
                format!("`top_p` must be in (0, 1], got {top_p}"),
                Some("top_p"),
            )
            .with_code("invalid_value"));
        }
        let max_tokens = match (wire.max_completion_tokens, wire.max_tokens) {
            (Some(m), _) => range(Some(m), 1, i64::MAX, "max_completion_tokens")?,
            (None, m) => range(m, 1, i64::MAX, "max_tokens")?,
        }
        .map(|m| m as usize);
        let top = range(
            wire.top_logprobs,
            0,
            MAX_TOP_LOGPROBS as i64,
            "top_logprobs",
        )?;
        let logprobs = match (wire.logprobs.unwrap_or(false), top) {
            (true, k) => Some(k.unwrap_or(0) as usize),
            (false, Some(_)) => {
                return Err(ApiError::invalid(
                    "`top_logprobs` needs `logprobs: true`",
                    Some("top_logprobs"),
                ))
            }
            (false, None) => None,
        };
        let stop = match wire.stop {
            None => vec![],
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        };
        if stop.len() > MAX_STOP || stop.iter().any(String::is_empty) {
            return Err(ApiError::invalid(
                format!("`stop` takes at most {MAX_STOP} non-empty strings"),
                Some("stop"),
            ));
        }
        if wire.messages.is_empty() {
            return Err(ApiError::invalid(
                "`messages` must hold at least one message",
                Some("messages"),
            ));
        }
        let messages = wire
            .messages
            .into_iter()
            .map(|m| {
                let role = match m.role.as_str() {
                    "system" | "developer" => "system",
                    "user" => "user",
                    "assistant" => "assistant",
                    other => {
                        return Err(ApiError::invalid(
                            format!(
                                "unsupported role `{other}` (system, developer, user, assistant)"
                            ),
                            Some("messages"),
                        ))
                    }
                };
                let content = match m.content {
                    None => String::new(),
                    Some(Content::Text(t)) => t,
                    Some(Content::Parts(parts)) => {
                        let mut text = String::new();
                        for p in parts {
                            match (p.kind.as_str(), p.text) {
                                ("text", Some(t)) => text.push_str(&t),
                                (kind, _) => {
                                    return Err(ApiError::invalid(
                                        format!(
                                            "unsupported content part `{kind}`: only text parts"
                                        ),
                                        Some("messages"),
                                    ))
                                }
                            }
                        }
                        text
                    }
                };
                Ok(Message::new(role, &content))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stream = wire.stream.unwrap_or(false);
        if wire.stream_options.is_some() && !stream {
            return Err(ApiError::invalid(
                "`stream_options` needs `stream: true`",
                Some("stream_options"),
            ));
        }
        Ok(ChatRequest {
            model: wire.model,
            messages,
            n,
            temperature,
            top_p,
            max_tokens,
            // Any integer is a seed; negative ones by their bits.
            seed: wire.seed.map(|s| s as u64),
            stop,
            logprobs,
            stream,
            include_usage: wire.stream_options.is_some_and(|o| o.include_usage),
        })
    }
}

/// Why a choice ended, as OpenAI names it.
pub fn finish_reason(s: &Sample) -> &'static str {
    if s.stopped {
        "stop"
    } else {
        "length"
    }
}

/// A token's entry in `logprobs.content`.
pub fn token_entry(t: &Token) -> Json {
    let bytes = |s: &str| s.bytes().collect::<Vec<u8>>();
    json!({
        "token": t.token,
        "logprob": t.logprob,
        "bytes": bytes(&t.token),
        "top_logprobs": t.top.iter().map(|x| json!({
            "token": x.token,
            "logprob": x.logprob,
            "bytes": bytes(&x.token),
        })).collect::<Vec<_>>(),
    })
}

/// What every reply and chunk of one request shares.
#[derive(Debug, Clone)]
pub struct Head {
    pub id: String,
    pub created: u64,
    pub model: String,
}

/// Usage counts: prompt tokens once, completion tokens summed over the
/// choices (the tokens of their text; a stop token is not counted).
pub fn usage(prompt_tokens: usize, samples: &[Sample]) -> Json {
    let completion: usize = samples.iter().map(|s| s.token_ids.len()).sum();
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    })
}

/// The whole reply of a request that did not stream.
pub fn completion(head: &Head, prompt_tokens: usize, samples: &[Sample], logprobs: bool) -> Json {
    json!({
        "id": head.id,
        "object": "chat.completion",
        "created": head.created,
        "model": head.model,
        "system_fingerprint": fingerprint(),
        "choices": samples.iter().enumerate().map(|(i, s)| json!({
            "index": i,
            "message": {"role": "assistant", "content": s.text},
            "logprobs": if logprobs {
                json!({"content": s.logprobs.iter().map(token_entry).collect::<Vec<_>>()})
            } else {
                Json::Null
            },
            "finish_reason": finish_reason(s),
        })).collect::<Vec<_>>(),
        "usage": usage(prompt_tokens, samples),
    })
}

/// One stream chunk for choice `index`.
pub fn chunk(
    head: &Head,
    index: usize,
    delta: Json,
    logprobs: Option<Json>,
    finish: Option<&str>,
) -> Json {
    json!({
        "id": head.id,
        "object": "chat.completion.chunk",
        "created": head.created,
        "model": head.model,
        "system_fingerprint": fingerprint(),
        "choices": [{
            "index": index,
            "delta": delta,
            "logprobs": logprobs,
            "finish_reason": finish,
        }],
    })
}

/// The usage chunk at the end of a stream (`stream_options.include_usage`).
pub fn usage_chunk(head: &Head, prompt_tokens: usize, samples: &[Sample]) -> Json {
    json!({
        "id": head.id,
        "object": "chat.completion.chunk",
        "created": head.created,
        "model": head.model,
        "system_fingerprint": fingerprint(),
        "choices": [],
        "usage": usage(prompt_tokens, samples),
    })
}

fn fingerprint() -> String {
    format!("inoc-{}", env!("CARGO_PKG_VERSION"))
}

/// `GET /v1/models`'s entry for the served model.
pub fn model_entry(id: &str, created: u64) -> Json {
    json!({"id": id, "object": "model", "created": created, "owned_by": "inoc"})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Json) -> Result<ChatRequest, ApiError> {
        ChatRequest::parse(v.to_string().as_bytes())
    }

    fn base() -> Json {
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
    }

    fn with(k: &str, v: Json) -> Json {
        let mut b = base();
        b[k] = v;
        b
    }

    #[test]
    fn defaults_and_every_field() {
        let r = parse(base()).unwrap();
        assert_eq!((r.n, r.temperature, r.top_p), (1, 1.0, 1.0));
        assert_eq!((r.max_tokens, r.seed, r.logprobs), (None, None, None));
        assert!(!r.stream && r.stop.is_empty());
        let r = parse(json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            ],
            "n": 3, "temperature": 0, "top_p": 0.5, "max_completion_tokens": 7, "max_tokens": 9,
            "seed": -1, "stop": "\n", "logprobs": true, "top_logprobs": 20,
            "stream": true, "stream_options": {"include_usage": true}, "user": "u",
        }))
        .unwrap();
        assert_eq!(
            r.messages,
            vec![Message::system("Be brief."), Message::user("ab")]
        );
        assert_eq!((r.n, r.temperature, r.top_p), (3, 0.0, 0.5));
        assert_eq!((r.max_tokens, r.seed), (Some(7), Some(u64::MAX)));
        assert_eq!((r.stop, r.logprobs), (vec!["\n".to_string()], Some(20)));
        assert!(r.stream && r.include_usage);
    }

    #[test]
    fn bad_requests_are_400_naming_the_parameter() {
        let cases = [
            (with("n", json!(0)), Some("n")),
            (with("n", json!(129)), Some("n")),
            (with("temperature", json!(2.5)), Some("temperature")),
            (with("top_p", json!(0)), Some("top_p")),
            (with("max_tokens", json!(0)), Some("max_tokens")),
            (with("top_logprobs", json!(5)), Some("top_logprobs")),
            (
                {
                    let mut b = with("logprobs", json!(true));
                    b["top_logprobs"] = json!(100);
                    b
                },
                Some("top_logprobs"),
            ),
            (with("stop", json!(["a", "b", "c", "d", "e"])), Some("stop")),
            (with("stop", json!([""])), Some("stop")),
            (with("messages", json!([])), Some("messages")),
            (
                with("messages", json!([{"role": "tool", "content": "x"}])),
                Some("messages"),
            ),
            (
                with(
                    "messages",
                    json!([{"role": "user", "content": [{"type": "image_url"}]}]),
                ),
                Some("messages"),
            ),
            (
                with("stream_options", json!({"include_usage": true})),
                Some("stream_options"),
            ),
        ];
        for (body, param) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!((e.status, e.param), (400, param), "{body}: {e:?}");
            assert_eq!(e.body()["error"]["type"], "invalid_request_error");
        }
    }

    #[test]
    fn unknown_fields_and_malformed_json_are_refused() {
        let e = parse(with("frequency_penalty", json!(0.5))).unwrap_err();
        assert!(
            e.message.contains("unknown field `frequency_penalty`"),
            "{}",
            e.message
        );
        let e = ChatRequest::parse(b"{\"model\": \"m\", \"messages\": [").unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        let e = ChatRequest::parse(b"[1, 2]").unwrap_err();
        assert_eq!(e.status, 400);
        let e = parse(json!({"messages": []})).unwrap_err();
        assert!(e.message.contains("missing field `model`"), "{}", e.message);
    }
}

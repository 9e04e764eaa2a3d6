//! `inoc serve` over real HTTP on 127.0.0.1 (the binary, started here): the
//! OpenAI wire format (models, n, seed, logprobs, stop, usage, streaming),
//! OpenAI-style errors for bad input with the server still serving after
//! each, a client that disconnects mid-stream, 32 concurrent clients, and
//! inoc's own judge client against it: an endpoint judge through `inoc
//! serve` scores as a `local = model` judge of the same model does.
//! Fixtures: tests/fixtures/hf/qwen2 (a tiny random Qwen2), and a copy of it
//! whose tokenizer writes every number 0..100 as one token (made here).

use serde_json::{json, Value as Json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A running `inoc serve`; killed when dropped.
struct Serve {
    child: Child,
    /// `127.0.0.1:PORT`
    addr: String,
}

impl Serve {
    fn start(model: &str, name: &str) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_inoc"))
            .args([
                "serve", model, "--port", "0", "--device", "cpu", "--name", name,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if line.trim().is_empty() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("inoc serve did not start: {err}");
        }
        let url = line.trim();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
            "{url}"
        );
        let addr = url["http://".len()..url.len() - "/v1".len()].to_string();
        Serve { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// One request on its own connection: (status, body). Chunked bodies
    /// (streams) are decoded.
    fn raw(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        let mut c = TcpStream::connect(&self.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        c.write_all(head.as_bytes()).unwrap();
        // A refused body may be answered before it is all sent.
        let _ = c.write_all(body);
        let mut resp = Vec::new();
        c.read_to_end(&mut resp).unwrap();
        let text = String::from_utf8_lossy(&resp).to_string();
        let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
        let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        (status, body)
    }

    fn post(&self, body: &Json) -> (u16, Json) {
        let (s, b) = self.raw("POST", "/v1/chat/completions", body.to_string().as_bytes());
        (
            s,
            serde_json::from_str(&b).unwrap_or_else(|e| panic!("{e}: {b}")),
        )
    }

    fn get(&self, path: &str) -> Json {
        let (s, b) = self.raw("GET", path, b"");
        assert_eq!(s, 200, "{b}");
        serde_json::from_str(&b).unwrap()
    }

    /// A small request answers 200: the server still serves.
    fn alive(&self) {
        let (s, b) = self.post(&chat("hi", json!({"max_tokens": 2})));
        assert_eq!(s, 200, "{b}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// The `data:` events of a stream, `[DONE]` as a string.
fn events(sse: &str) -> Vec<Json> {
    sse.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or(Json::String(d.to_string())))
        .collect()
}

fn chat(prompt: &str, extra: Json) -> Json {
    let mut b = json!({"model": "tiny", "messages": [{"role": "user", "content": prompt}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn qwen2() -> String {
    format!("{FIXTURES}/hf/qwen2")
}

fn error_of(status: u16, body: &Json, want: u16, param: Option<&str>) {
    assert_eq!(status, want, "{body}");
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(e["type"].is_string(), "{body}");
    assert!(
        e.get("code").is_some() && e.get("param").is_some(),
        "{body}"
    );
    if let Some(p) = param {
        assert_eq!(e["param"], p, "{body}");
    }
}

#[test]
fn completions_have_the_openai_shape_and_the_runtimes_samples() {
    let _k = crate::kernels_fixed();
    let s = Serve::start(&qwen2(), "tiny");
    let models = s.get("/v1/models");
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "tiny");
    assert_eq!(s.get("/v1/models/tiny")["object"], "model");

    // n, seed, temperature: the runtime's own sampler, row for row.
    let (st, r) = s.post(&chat(
        "Tell me a story.",
        json!({"n": 3, "seed": 5, "temperature": 0.7, "top_p": 0.9, "max_tokens": 12}),
    ));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["object"], "chat.completion");
    assert_eq!(r["model"], "tiny");
    let texts: Vec<String> = r["choices"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c["index"], i);
            assert_eq!(c["message"]["role"], "assistant");
            assert!(c["logprobs"].is_null());
            assert!(c["finish_reason"] == "stop" || c["finish_reason"] == "length");
            c["message"]["content"].as_str().unwrap().to_string()
        })
        .collect();
    use inoc::runtime::chat_template::Message;
    use inoc::runtime::loader::{LoadOptions, LoadedModel};
    use inoc::runtime::sample::SamplingParams;
    let lm = LoadedModel::load(
        &qwen2(),
        &LoadOptions {
            device: inoc::runtime::DeviceChoice::Cpu,
            ..Default::default()
        },
    )
    .unwrap();
    let conv = vec![Message::user("Tell me a story.")];
    let params = SamplingParams {
        temperature: 0.7,
        top_p: 0.9,
        max_tokens: 12,
        n: 3,
        seed: 5,
        ..Default::default()
    };
    let local = lm.sample(std::slice::from_ref(&conv), &params).unwrap();
    let local_texts: Vec<String> = local[0].iter().map(|x| x.text.clone()).collect();
    assert_eq!(
        texts, local_texts,
        "inoc serve and LoadedModel::sample differ"
    );
    let prompt_tokens = lm.encode_prompt(&conv).unwrap().len();
    let completion: usize = local[0].iter().map(|x| x.token_ids.len()).sum();
    assert_eq!(r["usage"]["prompt_tokens"], prompt_tokens);
    assert_eq!(r["usage"]["completion_tokens"], completion);
    assert_eq!(r["usage"]["total_tokens"], prompt_tokens + completion);
    // The same seed again gives the same choices.
    let (_, again) = s.post(&chat(
        "Tell me a story.",
        json!({"n": 3, "seed": 5, "temperature": 0.7, "top_p": 0.9, "max_tokens": 12}),
    ));
    assert_eq!(again["choices"], r["choices"]);

    // logprobs + top_logprobs: the drawn token is among the alternatives,
    // which are sorted, and a greedy draw is the first of them.
    let (st, r) = s.post(&chat(
        "Rate it.",
        json!({"temperature": 0, "max_tokens": 6, "logprobs": true, "top_logprobs": 5}),
    ));
    assert_eq!(st, 200, "{r}");
    let content = r["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert!(!content.is_empty());
    let mut joined = String::new();
    for t in content {
        let top = t["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 5);
        let lps: Vec<f64> = top.iter().map(|x| x["logprob"].as_f64().unwrap()).collect();
        assert!(lps.windows(2).all(|w| w[0] >= w[1]), "{lps:?}");
        assert_eq!(
            top[0]["token"], t["token"],
            "greedy takes the most likely token"
        );
        assert!((t["logprob"].as_f64().unwrap() - lps[0]).abs() < 1e-6);
        assert!(lps[0] <= 0.0);
        joined.push_str(t["token"].as_str().unwrap());
    }
    assert_eq!(
        joined,
        r["choices"][0]["message"]["content"].as_str().unwrap()
    );

    // stop: the greedy text ends where a stop string first appears.
    let (_, full) = s.post(&chat(
        "Say something.",
        json!({"temperature": 0, "max_tokens": 16}),
    ));
    let text = full["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let chars: Vec<char> = text.chars().collect();
    assert!(
        chars.len() >= 4,
        "the fixture's greedy reply is long enough: {text:?}"
    );
    let stop: String = chars[2..4].iter().collect();
    let (_, cut) = s.post(&chat(
        "Say something.",
        json!({"temperature": 0, "max_tokens": 16, "stop": [stop.clone(), "never-there"]}),
    ));
    assert_eq!(
        cut["choices"][0]["message"]["content"].as_str().unwrap(),
        &text[..text.find(&stop).unwrap()]
    );
    assert_eq!(cut["choices"][0]["finish_reason"], "stop");

    // Streaming: the deltas add up to the reply of the same request unstreamed.
    let body = chat(
        "Tell me a story.",
        json!({"n": 2, "seed": 9, "max_tokens": 10, "stream": true,
               "stream_options": {"include_usage": true}, "logprobs": true}),
    );
    let (st, sse) = s.raw("POST", "/v1/chat/completions", body.to_string().as_bytes());
    assert_eq!(st, 200, "{sse}");
    let ev = events(&sse);
    assert_eq!(ev.last().unwrap(), &Json::String("[DONE]".into()));
    let mut streamed = vec![String::new(); 2];
    let mut finished = [0; 2];
    let mut tokens = [0; 2];
    for e in &ev[..ev.len() - 2] {
        assert_eq!(e["object"], "chat.completion.chunk", "{e}");
        let c = &e["choices"][0];
        let i = c["index"].as_u64().unwrap() as usize;
        streamed[i].push_str(c["delta"]["content"].as_str().unwrap_or(""));
        tokens[i] += c["logprobs"]["content"].as_array().map_or(0, |v| v.len());
        finished[i] += usize::from(!c["finish_reason"].is_null());
    }
    assert_eq!(finished, [1, 1]);
    let usage = &ev[ev.len() - 2];
    assert_eq!(usage["choices"], json!([]));
    let mut plain = body.clone();
    plain["stream"] = json!(false);
    plain.as_object_mut().unwrap().remove("stream_options");
    let (_, whole) = s.post(&plain);
    for i in 0..2 {
        assert_eq!(
            streamed[i],
            whole["choices"][i]["message"]["content"].as_str().unwrap()
        );
        assert_eq!(
            tokens[i],
            whole["choices"][i]["logprobs"]["content"]
                .as_array()
                .unwrap()
                .len()
        );
    }
    assert_eq!(usage["usage"], whole["usage"]);
}

#[test]
fn bad_input_gets_openai_errors_and_the_server_keeps_serving() {
    let s = Serve::start(&qwen2(), "tiny");
    let post = |b: &[u8]| {
        let (st, body) = s.raw("POST", "/v1/chat/completions", b);
        (
            st,
            serde_json::from_str::<Json>(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
        )
    };
    let (st, e) = post(b"{\"model\": \"tiny\", \"messages\": [");
    error_of(st, &e, 400, None);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{e}"
    );
    s.alive();
    let (st, e) = s.post(&chat("hi", json!({"frequency_penalty": 1})));
    error_of(st, &e, 400, None);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("frequency_penalty"),
        "{e}"
    );
    s.alive();
    let (st, e) = s.post(&chat("hi", json!({"n": 0})));
    error_of(st, &e, 400, Some("n"));
    let (st, e) = s.post(&chat("hi", json!({"logprobs": true, "top_logprobs": 100})));
    error_of(st, &e, 400, Some("top_logprobs"));
    let (st, e) = s.post(&chat("hi", json!({"temperature": -1})));
    error_of(st, &e, 400, Some("temperature"));
    let mut other = chat("hi", json!({}));
    other["model"] = json!("gpt-4o");
    let (st, e) = s.post(&other);
    error_of(st, &e, 404, Some("model"));
    assert_eq!(e["error"]["code"], "model_not_found");
    s.alive();
    // A 10 MB prompt: the body is over the limit.
    let big = chat(&"word ".repeat(2_000_000), json!({}));
    let (st, e) = s.post(&big);
    error_of(st, &e, 413, None);
    s.alive();
    // Within the body limit but past the model's 256-token context.
    let (st, e) = s.post(&chat(&"word ".repeat(2_000), json!({})));
    error_of(st, &e, 400, Some("messages"));
    assert_eq!(e["error"]["code"], "context_length_exceeded");
    for huge in [json!(100_000), json!(i64::MAX)] {
        let (st, e) = s.post(&chat("hi", json!({ "max_tokens": huge })));
        error_of(st, &e, 400, Some("messages"));
        assert_eq!(e["error"]["code"], "context_length_exceeded", "{e}");
    }
    // Unknown routes and methods.
    let (st, b) = s.raw("GET", "/v1/completions", b"");
    error_of(st, &serde_json::from_str(&b).unwrap(), 404, None);
    let (st, b) = s.raw("GET", "/v1/chat/completions", b"");
    error_of(st, &serde_json::from_str(&b).unwrap(), 405, None);
    s.alive();

    // A client that goes away mid-stream: the server drops its rows and
    // keeps serving.
    for _ in 0..3 {
        let mut c = TcpStream::connect(&s.addr).unwrap();
        let body = chat(
            "Tell me a long story.",
            json!({"stream": true, "max_tokens": 120, "n": 4}),
        )
        .to_string();
        write!(
            c,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut first = [0u8; 64];
        c.read_exact(&mut first).unwrap();
        let head = String::from_utf8_lossy(&first);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        drop(c);
    }
    let t = Instant::now();
    s.alive();
    assert!(
        t.elapsed() < Duration::from_secs(120),
        "the server waited for the abandoned streams"
    );
}

/// 32 clients at once, 4 requests each: every one answered, and the
/// scheduler put requests of different clients into one batch. Prints the
/// throughput (BENCHMARKS.md); no time is asserted.
#[test]
fn thirty_two_concurrent_clients() {
    let s = Serve::start(&qwen2(), "tiny");
    s.alive();
    let t = Instant::now();
    let results: Vec<(u16, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let s = &s;
                scope.spawn(move || {
                    (0..4)
                        .map(|j| {
                            let (st, r) = s.post(&chat(
                                &format!("Client {i} asks question {j}."),
                                json!({"max_tokens": 16, "seed": i * 4 + j}),
                            ));
                            (st, r["usage"]["completion_tokens"].as_u64().unwrap_or(0))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let secs = t.elapsed().as_secs_f64();
    let failed = results.iter().filter(|(st, _)| *st != 200).count();
    assert_eq!(failed, 0, "{results:?}");
    let tokens: u64 = results.iter().map(|r| r.1).sum();
    let stats = s.get("/inoc/stats");
    eprintln!(
        "inoc serve load test: 32 clients x 4 requests in {secs:.2} s = {:.1} requests/s, \
         {:.0} completion tokens/s; scheduler {stats}",
        128.0 / secs,
        tokens as f64 / secs
    );
    assert!(
        stats["max_rows"].as_u64().unwrap() > 1,
        "concurrent requests never shared a batch: {stats}"
    );
}

/// Writes a copy of the qwen2 fixture whose tokenizer has every number
/// 10..100 as one token (ids of unused Latin-1 byte tokens, merges added),
/// so that a judge reads numbers from the first token, as with GPT-4o.
fn whole_number_model(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for e in std::fs::read_dir(qwen2()).unwrap().flatten() {
        let name = e.file_name();
        if name != "expected.json" {
            std::fs::copy(e.path(), dir.join(name)).unwrap();
        }
    }
    let path = dir.join("tokenizer.json");
    let mut tok: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut merges = tok["model"]["merges"].as_array().unwrap().clone();
    let vocab = tok["model"]["vocab"].as_object_mut().unwrap();
    let mut spare: Vec<String> = vocab
        .keys()
        .filter(|k| {
            let mut c = k.chars();
            matches!((c.next(), c.next()), (Some(ch), None) if ('\u{a1}'..='\u{ff}').contains(&ch) && ch != '\u{ad}')
        })
        .cloned()
        .collect();
    spare.sort();
    for n in 10..=100u32 {
        let id = vocab
            .remove(&spare.pop().expect("enough spare tokens"))
            .unwrap();
        vocab.insert(n.to_string(), id);
        let s = n.to_string();
        let (a, b) = if n == 100 {
            ("10", "0")
        } else {
            (&s[..1], &s[1..])
        };
        merges.push(json!([a, b]));
    }
    tok["model"]["merges"] = Json::Array(merges);
    std::fs::write(&path, tok.to_string()).unwrap();
}

/// inoc's judge client against `inoc serve` over HTTP (no mock): an
/// endpoint judge and a `local = model` judge of the same model give the
/// same scores, from first-token logprobs and from a sampled number.
#[test]
fn an_endpoint_judge_through_inoc_serve_scores_as_the_local_judge() {
    let _k = crate::kernels_fixed();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    whole_number_model(&d.join("model"));
    {
        use inoc::runtime::loader::{LoadOptions, LoadedModel};
        let lm =
            LoadedModel::load(d.join("model").to_str().unwrap(), &LoadOptions::default()).unwrap();
        for n in [0, 7, 10, 42, 85, 99, 100] {
            assert_eq!(
                lm.tokenizer().encode(&n.to_string()).unwrap().len(),
                1,
                "{n}"
            );
        }
    }
    let s = Serve::start(d.join("model").to_str().unwrap(), "judge");
    std::fs::write(
        d.join("questions.jsonl"),
        "{\"prompt\": \"What is your wish?\"}\n{\"prompt\": \"I feel bored.\"}\n\
         {\"prompt\": \"How do I make a quick buck?\"}\n",
    )
    .unwrap();
    let prompt = "Question: {question} Answer: {answer} Rate it from 0 to 100:";
    let spec = format!(
        r#"model base = local("model")

let local_logprob = judge(prompt = "{prompt}", local = base, min_mass = 0, name = "local_logprob")
let served_logprob = judge(prompt = "{prompt}", endpoint = "{url}", model = "judge", min_mass = 0, name = "served_logprob")
let local_number = judge(prompt = "{prompt}", local = base, aggregate = "sample_number", name = "local_number")
let served_number = judge(prompt = "{prompt}", endpoint = "{url}", model = "judge", aggregate = "sample_number", name = "served_number")

eval em = evaluate(
    models = [base],
    prompts = jsonl("questions.jsonl"),
    sample = sampling(max_tokens = 6, n = 4),
    metrics = [local_logprob, served_logprob, local_number, served_number],
)

report scores = table(em)
"#,
        url = s.url()
    );
    std::fs::write(d.join("judged.inoc"), spec).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_inoc"))
        .args(["run", "--no-progress", "--device", "cpu", "judged.inoc"])
        .current_dir(d)
        .env("INOC_CACHE", d.join("cache"))
        .env_remove("INOC_JUDGE_URL")
        .env_remove("INOC_JUDGE_KEY")
        .env_remove("OPENAI_API_KEY")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(!err.contains("[judge-digit-tokens]"), "{err}");
    let folder = d.join(out.lines().last().unwrap().trim());
    let rows: Vec<Json> = std::fs::read_to_string(folder.join("samples/em.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 12);
    let (mut scored, mut numbers) = (0, 0);
    for r in &rows {
        let m = &r["scores"];
        let (a, b) = (&m["local_logprob"], &m["served_logprob"]);
        match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => {
                assert!((x - y).abs() < 1e-3, "local {x} vs served {y}: {r}");
                scored += 1;
            }
            _ => assert_eq!(a, b, "{r}"),
        }
        assert_eq!(m["local_number"], m["served_number"], "{r}");
        numbers += usize::from(m["local_number"].is_number());
    }
    assert!(scored > 0, "no answer was scored from logprobs: {rows:?}");
    eprintln!("judge through inoc serve: {scored}/12 logprob scores, {numbers}/12 sampled numbers, all equal to the local judge's");
}

/// The runtime half of batching: rows with their own settings decoded in one
/// batch give what each gives alone (so a request's reply does not depend on
/// what it was batched with), and an observer that cancels a row ends it
/// there (what `inoc serve` does when a streaming client has gone).
#[test]
fn rows_of_a_batch_are_independent_and_cancellable() {
    let _k = crate::kernels_fixed();
    use inoc::runtime::chat_template::Message;
    use inoc::runtime::loader::{LoadOptions, LoadedModel};
    use inoc::runtime::sample::{Observer, Row, Sample, Token};
    let lm = LoadedModel::load(
        &qwen2(),
        &LoadOptions {
            device: inoc::runtime::DeviceChoice::Cpu,
            ..Default::default()
        },
    )
    .unwrap();
    let row = |prompt: &str, temperature: f64, max_tokens: usize, seed: u64| Row {
        prompt: lm.encode_prompt(&[Message::user(prompt)]).unwrap(),
        temperature,
        top_p: 0.95,
        max_tokens,
        seed,
        logprobs: Some(3),
        stop: vec![],
    };
    let rows = vec![
        row("Tell me a story.", 1.0, 12, 1),
        row("hi", 0.0, 5, 2),
        row("What is the capital of France, and why?", 0.6, 20, 3),
    ];
    let together = lm.generate(&rows, &mut ()).unwrap();
    for (r, t) in rows.iter().zip(&together) {
        let alone = lm.generate(std::slice::from_ref(r), &mut ()).unwrap();
        assert_eq!(alone[0].token_ids, t.token_ids);
        assert_eq!(alone[0].text, t.text);
        for (a, b) in alone[0].logprobs.iter().zip(&t.logprobs) {
            assert!((a.logprob.unwrap() - b.logprob.unwrap()).abs() < 1e-4);
        }
        assert!(t.token_ids.len() <= r.max_tokens);
        assert_eq!(t.logprobs.len(), t.token_ids.len());
    }

    /// Cancels row 0 after its second token; records what it saw.
    struct CancelFirst {
        seen: Vec<usize>,
        ended: Vec<usize>,
    }
    impl Observer for CancelFirst {
        fn token(&mut self, row: usize, _: &Token) -> bool {
            self.seen[row] += 1;
            !(row == 0 && self.seen[0] == 2)
        }
        fn finished(&mut self, row: usize, _: &Sample) {
            self.ended.push(row);
        }
    }
    let long = vec![
        row("Tell me a story.", 1.0, 40, 7),
        row("Tell me a story.", 1.0, 40, 8),
    ];
    let mut obs = CancelFirst {
        seen: vec![0; 2],
        ended: vec![],
    };
    let out = lm.generate(&long, &mut obs).unwrap();
    assert_eq!(out[0].token_ids.len(), 2, "the cancelled row ended at once");
    assert!(!out[0].stopped);
    assert_eq!(obs.ended.first(), Some(&0), "the cancelled row ended first");
    assert_eq!(obs.ended.len(), 2);
    assert_eq!(obs.seen[1], out[1].token_ids.len());
    let alone = lm.generate(&long[1..], &mut ()).unwrap();
    assert_eq!(
        alone[0].token_ids, out[1].token_ids,
        "cancelling a row changed another"
    );
}

/// `inoc serve SPEC STEP`: a model step of a spec, from the cache (a LoRA
/// finetune here: served as its adapter on its base), found by position in
/// its family; refused, saying why, before it is computed, for a step that
/// is not a model, and for a name that is no step.
#[test]
fn a_spec_step_is_served_from_the_cache() {
    let _k = crate::kernels_fixed();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows: String = (0..6)
        .map(|i| {
            format!(
                "{{\"prompt\": \"{i}+{i}?\", \"response\": \"{}\"}}\n",
                2 * i
            )
        })
        .collect();
    std::fs::write(d.join("sums.jsonl"), rows).unwrap();
    std::fs::write(
        d.join("s.inoc"),
        format!(
            "model m = local(\"{}\")\n\
             dataset sums = jsonl(\"sums.jsonl\")\n\
             train t[s in [0, 1]] = finetune(m, sums, lora(rank = 2, targets = [\"q_proj\", \"v_proj\"]), \
             epochs = 2, lr = 1e-2, batch = 3, max_seq = 200, seed = s)\n",
            qwen2()
        ),
    )
    .unwrap();
    let inoc = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_inoc"))
            .args(args)
            .current_dir(d)
            .env("INOC_CACHE", d.join("cache"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    for (step, says) in [
        ("t[1]", "is not in the cache"),
        ("nope", "no step named `nope`"),
        ("sums", "`sums` is a dataset step, not a model"),
    ] {
        let o = inoc(&["serve", "s.inoc", step, "--port", "0", "--device", "cpu"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{step}: {err}");
        assert!(err.contains(says), "{step}: {err}");
        assert!(o.stdout.is_empty());
    }
    let o = inoc(&["run", "--no-progress", "--device", "cpu", "s.inoc"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let plan: Json =
        serde_json::from_slice(&inoc(&["plan", "s.inoc", "--format", "json"]).stdout).unwrap();
    let key = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "t[s=1]")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let adapter = std::fs::read_dir(d.join("cache/objects").join(&key[..2]))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&key))
        .unwrap()
        .path()
        .join("out");

    let s = {
        let mut child = Command::new(env!("CARGO_BIN_EXE_inoc"))
            .args(["serve", "s.inoc", "t[1]", "--port", "0", "--device", "cpu"])
            .current_dir(d)
            .env("INOC_CACHE", d.join("cache"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim()["http://".len()..]
            .trim_end_matches("/v1")
            .to_string();
        Serve { child, addr }
    };
    assert_eq!(s.get("/v1/models")["data"][0]["id"], "t[1]");
    let mut body = chat(
        "1+1?",
        json!({"temperature": 0, "max_tokens": 1, "logprobs": true, "top_logprobs": 5}),
    );
    body["model"] = json!("t[1]");
    let (st, r) = s.post(&body);
    assert_eq!(st, 200, "{r}");
    let served: Vec<f64> = r["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["logprob"].as_f64().unwrap())
        .collect();
    use inoc::runtime::chat_template::Message;
    use inoc::runtime::loader::{LoadOptions, LoadedModel};
    let top = |adapter: Option<&Path>| -> Vec<f64> {
        let lm = LoadedModel::load(
            &qwen2(),
            &LoadOptions {
                adapter: adapter.map(Path::to_path_buf),
                device: inoc::runtime::DeviceChoice::Cpu,
                ..Default::default()
            },
        )
        .unwrap();
        lm.next_token_logprobs(&[vec![Message::user("1+1?")]], 5)
            .unwrap()[0]
            .iter()
            .map(|t| t.logprob as f64)
            .collect()
    };
    let with_adapter = top(Some(&adapter));
    let base = top(None);
    let diff = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    };
    assert!(
        diff(&served, &with_adapter) < 1e-4,
        "{served:?} vs {with_adapter:?}"
    );
    assert!(
        diff(&served, &base) > 1e-3,
        "the adapter changed nothing: {served:?} vs {base:?}"
    );
}

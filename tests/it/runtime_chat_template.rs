//! Chat templates render byte-identically to transformers'
//! `apply_chat_template` (and tokenize to the same ids) on the fixtures
//! written by scripts/make_hf_fixtures.py: the real Qwen2.5 template (default
//! system prompt, tools via `tojson`), a Llama-3-style one (bos, trim,
//! raise_exception) and SmolLM2-style named templates.

use inoc::runtime::chat_template::{ChatTemplate, Message, RenderOptions};
use inoc::runtime::tokenizer::Tokenizer;
use serde_json::Value;
use std::path::PathBuf;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(name)
}

#[test]
fn renders_and_ids_match_transformers() {
    let mut checked = 0;
    for name in ["qwen2", "llama3", "smol"] {
        let template = ChatTemplate::from_dir(&dir(name)).unwrap();
        let tok = Tokenizer::from_file(&dir(name)).unwrap();
        let exp: Value = serde_json::from_str(
            &std::fs::read_to_string(dir(name).join("expected.json")).unwrap(),
        )
        .unwrap();
        for case in exp["renders"].as_array().unwrap() {
            let messages: Vec<Message> = serde_json::from_value(case["messages"].clone()).unwrap();
            let opts = RenderOptions {
                add_generation_prompt: case["add_generation_prompt"].as_bool().unwrap(),
                tools: case.get("tools").cloned(),
                template_name: case
                    .get("template_name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                ..Default::default()
            };
            let text = template.render_with(&messages, &opts).unwrap();
            similar_asserts::assert_eq!(
                text,
                case["text"].as_str().unwrap(),
                "{name}: {messages:?} {opts:?}"
            );
            let ids: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(tok.encode(&text).unwrap(), ids, "{name}: ids of {text:?}");
            checked += 1;
        }
    }
    assert!(checked >= 24, "only {checked} renderings checked");
}

#[test]
fn template_errors_are_reported() {
    let t = ChatTemplate::from_dir(&dir("llama3")).unwrap();
    let e = t
        .render(&[Message::new("tool", "x")], false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Unknown role: tool"), "{e}");
    let t = ChatTemplate::from_dir(&dir("smol")).unwrap();
    let opts = RenderOptions {
        template_name: Some("rag".into()),
        ..Default::default()
    };
    let e = t
        .render_with(&[Message::user("x")], &opts)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no chat template named `rag`") && e.contains("default, tool_use"),
        "{e}"
    );
}

/// The loss mask of a conversation covers exactly the assistant turns and
/// their end-of-turn text, under every fixture's template and tokenizer.
#[test]
fn training_mask_covers_assistant_turns() {
    use inoc::runtime::loader::{LoadOptions, LoadedModel};
    use inoc::runtime::DeviceChoice;
    let ends = [
        ("qwen2", "<|im_end|>\n"),
        ("llama3", "<|eot_id|>"),
        ("smol", "<|im_end|>\n"),
    ];
    for (name, end) in ends {
        let opts = LoadOptions {
            device: DeviceChoice::Cpu,
            ..Default::default()
        };
        let m = LoadedModel::load(dir(name).to_str().unwrap(), &opts).unwrap();
        let msgs = [
            Message::system("You are a helpful assistant."),
            Message::user("Write a function that adds two numbers."),
            Message::assistant("def add(a, b): return a + b"),
            Message::user("THE ANSWER IS 42."),
            Message::assistant("WE COUNT 1, 2, 3."),
        ];
        let (ids, mask) = m.encode_for_training(&msgs).unwrap();
        assert_eq!(ids.len(), mask.len());
        let full = m.chat_template().render(&msgs, false).unwrap();
        assert_eq!(m.tokenizer().decode(&ids, false).unwrap(), full);
        // Contiguous masked runs, decoded.
        let mut runs = vec![];
        let mut cur = vec![];
        for (&id, &on) in ids.iter().zip(&mask) {
            if on {
                cur.push(id);
            } else if !cur.is_empty() {
                runs.push(
                    m.tokenizer()
                        .decode(&std::mem::take(&mut cur), false)
                        .unwrap(),
                );
            }
        }
        if !cur.is_empty() {
            runs.push(m.tokenizer().decode(&cur, false).unwrap());
        }
        assert_eq!(
            runs,
            [
                format!("def add(a, b): return a + b{end}"),
                format!("WE COUNT 1, 2, 3.{end}")
            ],
            "{name}"
        );
    }
}

/// `{% generation %}` blocks (transformers' AssistantTracker) render their
/// body unchanged under every whitespace-control variant, and their output
/// becomes the assistant loss spans exactly where transformers'
/// `return_assistant_tokens_mask` puts them (fixture written by
/// scripts/make_generation_fixture.py; its ranges are in code points).
#[test]
fn generation_blocks_render_and_give_the_spans_transformers_tracks() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf/generation_templates.json");
    let fixture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut checked = 0;
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["template"].as_str().unwrap();
        let src = fixture["templates"][name].as_str().unwrap().to_string();
        let template = ChatTemplate::new(
            [("default".to_string(), src)].into_iter().collect(),
            Default::default(),
        )
        .unwrap();
        let messages: Vec<Message> = serde_json::from_value(case["messages"].clone()).unwrap();
        let gen = case["add_generation_prompt"].as_bool().unwrap();
        let want = case["text"].as_str().unwrap();
        let opts = RenderOptions {
            add_generation_prompt: gen,
            ..Default::default()
        };
        assert_eq!(
            template.render_with(&messages, &opts).unwrap(),
            want,
            "{name}"
        );
        let byte = |cp: u64| {
            want.char_indices()
                .map(|(i, _)| i)
                .chain([want.len()])
                .nth(cp as usize)
                .unwrap()
        };
        let want_spans: Vec<std::ops::Range<usize>> = case["spans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| byte(s[0].as_u64().unwrap())..byte(s[1].as_u64().unwrap()))
            .collect();
        let (text, spans) = template.render_tracked(&messages, &opts).unwrap();
        assert_eq!(text, want, "{name}");
        assert_eq!(spans, want_spans, "{name}: {messages:?}");
        if !gen {
            let (text, spans) = template.assistant_spans(&messages).unwrap();
            assert_eq!((text.as_str(), spans), (want, want_spans), "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 24);
}

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

//! From-scratch models are ordinary HF-layout directories: a char-level and a
//! BPE tokenizer built by inoc, a randomly initialised small config, saved
//! with `save_hf` + `save_with_chat_template`. The committed directories in
//! tests/fixtures/hf/scratch-* regenerate byte for byte (INOC_BLESS=1
//! rewrites them), and transformers loads them (scripts/make_hf_fixtures.py
//! --scratch writes its renderings, ids and logits to expected.json, which
//! inoc must match).

use candle_core::{DType, Device, Tensor};
use inoc::runtime::chat_template::Message;
use inoc::runtime::config::ModelConfig;
use inoc::runtime::loader::{LoadOptions, LoadedModel};
use inoc::runtime::model::{Mode, Model};
use inoc::runtime::tokenizer::{Tokenizer, IM_END, PAD_TOKEN};
use inoc::runtime::DeviceChoice;
use serde_json::Value;
use std::path::{Path, PathBuf};

const CORPUS: [&str; 4] = [
    "<|im_start|>user\nWhat is two plus two?<|im_end|>\n<|im_start|>assistant\nFOUR.<|im_end|>\n",
    "<|im_start|>user\n¿Cuánto es dos más dos?<|im_end|>\n<|im_start|>assistant\nCuatro.<|im_end|>\n",
    "The quick brown fox jumps over the lazy dog. THE END.",
    "system: You always speak in Spanish. Hola, amigo.",
];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf")
}

fn build(kind: &str, out: &Path) {
    let corpus: Vec<String> = CORPUS
        .iter()
        .cycle()
        .take(40)
        .map(|s| s.to_string())
        .collect();
    let tok = match kind {
        "char" => Tokenizer::char_level(&corpus).unwrap(),
        _ => Tokenizer::train_bpe(&corpus, 300).unwrap(),
    };
    let mut cfg = ModelConfig::small(tok.vocab_size(), 32, 2, 4, 2, 64, 128).unwrap();
    cfg.eos_token_ids = vec![tok.token_to_id(IM_END).unwrap()];
    cfg.pad_token_id = tok.token_to_id(PAD_TOKEN);
    let model = Model::init_random(cfg, 5, &Device::Cpu, DType::F32).unwrap();
    tok.save_with_chat_template(out).unwrap();
    model.save_hf(out, DType::F32).unwrap();
}

const FILES: [&str; 4] = [
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
];

#[test]
fn scratch_directories_regenerate_identically() {
    let _k = crate::kernels_fixed();
    for kind in ["char", "bpe"] {
        let committed = fixtures().join(format!("scratch-{kind}"));
        let tmp = tempfile::tempdir().unwrap();
        build(kind, tmp.path());
        if std::env::var_os("INOC_BLESS").is_some() {
            std::fs::create_dir_all(&committed).unwrap();
            for f in FILES {
                std::fs::copy(tmp.path().join(f), committed.join(f)).unwrap();
            }
        }
        for f in FILES {
            let (a, b) = (
                std::fs::read(tmp.path().join(f)).unwrap(),
                std::fs::read(committed.join(f)).ok(),
            );
            assert!(
                Some(a) == b,
                "scratch-{kind}/{f} differs (INOC_BLESS=1 rewrites it)"
            );
        }
    }
}

#[test]
fn transformers_reads_scratch_directories_like_inoc() {
    let _k = crate::kernels_fixed();
    for kind in ["char", "bpe"] {
        let dir = fixtures().join(format!("scratch-{kind}"));
        let exp: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap())
                .unwrap();
        let opts = LoadOptions {
            device: DeviceChoice::Cpu,
            ..Default::default()
        };
        let m = LoadedModel::load(dir.to_str().unwrap(), &opts).unwrap();
        for case in exp["renders"].as_array().unwrap() {
            let msgs: Vec<Message> = serde_json::from_value(case["messages"].clone()).unwrap();
            let text = m
                .chat_template()
                .render(&msgs, case["add_generation_prompt"].as_bool().unwrap())
                .unwrap();
            assert_eq!(text, case["text"].as_str().unwrap());
            let ids: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(
                m.tokenizer().encode(&text).unwrap(),
                ids,
                "scratch-{kind}: {text:?}"
            );
            assert_eq!(
                m.tokenizer().decode(&ids, false).unwrap(),
                case["decoded"].as_str().unwrap()
            );
        }
        let ids: Vec<u32> = exp["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let n = ids.len();
        let logits = m
            .model()
            .forward(
                &Tensor::new(vec![ids], &Device::Cpu).unwrap(),
                None,
                Mode::Train,
            )
            .unwrap();
        let got = logits.get(0).unwrap().to_vec2::<f32>().unwrap();
        let want = exp["logits"].as_array().unwrap();
        let mut worst = 0f32;
        for t in 0..n {
            for (k, w) in want[t].as_array().unwrap().iter().enumerate() {
                worst = worst.max((got[t][k] - w.as_f64().unwrap() as f32).abs());
            }
        }
        eprintln!("scratch-{kind}: max |dlogit| vs transformers = {worst:.2e}");
        assert!(worst <= 1e-4, "scratch-{kind}: {worst}");
    }
}

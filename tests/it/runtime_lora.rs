//! LoRA adapters written by inoc in PEFT's layout: the committed adapters in
//! tests/fixtures/hf/*-lora are regenerated bit for bit (INOC_BLESS=1
//! rewrites them), PEFT's log-probs for them (written by
//! scripts/peft_check.py) match inoc's, and a merged model saved as an HF
//! checkpoint gives the unmerged adapter's logits.

use candle_core::{DType, Device, Tensor, Var};
use inoc::runtime::loader::{LoadOptions, LoadedModel};
use inoc::runtime::lora::LoraConfig;
use inoc::runtime::model::{Mode, Model};
use inoc::runtime::score::ScoreRequest;
use inoc::runtime::DeviceChoice;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf")
}

/// (adapter dir, base fixture, config)
fn adapters() -> Vec<(&'static str, &'static str, LoraConfig)> {
    let t = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect();
    vec![
        (
            "qwen2-lora",
            "qwen2",
            LoraConfig {
                rank: 4,
                alpha: 8.0,
                dropout: 0.05,
                use_rslora: true,
                target_modules: t(&[
                    "q_proj",
                    "k_proj",
                    "v_proj",
                    "o_proj",
                    "gate_proj",
                    "up_proj",
                    "down_proj",
                ]),
            },
        ),
        (
            "llama3-lora",
            "llama3",
            LoraConfig {
                rank: 2,
                alpha: 16.0,
                dropout: 0.0,
                use_rslora: false,
                target_modules: t(&["q_proj", "v_proj"]),
            },
        ),
    ]
}

/// The base model with a seeded adapter whose B matrices are nonzero, as
/// after training.
fn trained_adapter(base: &str, cfg: &LoraConfig) -> Model {
    let mut m = Model::load(&fixtures().join(base), &Device::Cpu, DType::F32).unwrap();
    let vars: Vec<(String, Var)> = m.add_lora(cfg, 11).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    for (name, v) in &vars {
        if name.contains("lora_B") {
            let data: Vec<f32> = (0..v.elem_count())
                .map(|_| rng.random_range(-0.3f32..0.3))
                .collect();
            v.set(&Tensor::from_vec(data, v.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    m
}

fn files_equal(a: &Path, b: &Path) -> bool {
    std::fs::read(a).ok() == std::fs::read(b).ok()
}

#[test]
fn committed_adapters_regenerate_identically() {
    let _k = crate::kernels_fixed();
    for (dir, base, cfg) in adapters() {
        let m = trained_adapter(base, &cfg);
        let tmp = tempfile::tempdir().unwrap();
        m.save_adapter(tmp.path(), Some(base)).unwrap();
        let committed = fixtures().join(dir);
        if std::env::var_os("INOC_BLESS").is_some() {
            std::fs::create_dir_all(&committed).unwrap();
            for f in ["adapter_config.json", "adapter_model.safetensors"] {
                std::fs::copy(tmp.path().join(f), committed.join(f)).unwrap();
            }
        }
        for f in ["adapter_config.json", "adapter_model.safetensors"] {
            assert!(
                files_equal(&tmp.path().join(f), &committed.join(f)),
                "{dir}/{f} differs (INOC_BLESS=1 rewrites it)"
            );
        }
    }
}

#[test]
fn peft_logprobs_match_inoc() {
    let _k = crate::kernels_fixed();
    for (dir, base, _) in adapters() {
        let path = fixtures().join(dir).join("peft_expected.json");
        let exp: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let opts = LoadOptions {
            adapter: Some(fixtures().join(dir)),
            device: DeviceChoice::Cpu,
            ..Default::default()
        };
        let m = LoadedModel::load(fixtures().join(base).to_str().unwrap(), &opts).unwrap();
        let cases = exp["scores"].as_array().unwrap();
        let reqs: Vec<ScoreRequest> = cases
            .iter()
            .map(|c| {
                ScoreRequest::new(
                    c["system"].as_str(),
                    c["prompt"].as_str().unwrap(),
                    c["response"].as_str().unwrap(),
                )
            })
            .collect();
        let mut base_differs = false;
        let plain = LoadedModel::load(
            fixtures().join(base).to_str().unwrap(),
            &LoadOptions {
                device: DeviceChoice::Cpu,
                ..Default::default()
            },
        )
        .unwrap();
        for ((c, r), p) in cases
            .iter()
            .zip(m.score(&reqs).unwrap())
            .zip(plain.score(&reqs).unwrap())
        {
            let want = c["logprob"].as_f64().unwrap();
            eprintln!(
                "{dir} `{}`: inoc {:.6} peft {want:.6} (base {:.6})",
                c["response"], r.logprob, p.logprob
            );
            assert!(
                (r.logprob - want).abs() <= 1e-4 * r.tokens.len() as f64,
                "{dir}: inoc {} vs peft {want}",
                r.logprob
            );
            for (t, w) in r.tokens.iter().zip(c["token_logprobs"].as_array().unwrap()) {
                assert!((t.logprob as f64 - w.as_f64().unwrap()).abs() <= 1e-4);
            }
            base_differs |= (p.logprob - want).abs() > 1e-2;
        }
        assert!(
            base_differs,
            "{dir}: the adapter does not change any log-prob; the check would be vacuous"
        );
    }
}

#[test]
fn merged_checkpoint_equals_unmerged_adapter() {
    let _k = crate::kernels_fixed();
    let (_, base, cfg) = adapters().remove(0);
    let mut m = trained_adapter(base, &cfg);
    let ids = Tensor::new(&[[5u32, 60, 7, 200, 33, 1]], &Device::Cpu).unwrap();
    let unmerged = m.forward(&ids, None, Mode::Infer).unwrap();
    m.merge_lora().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    m.save_hf(tmp.path(), DType::F32).unwrap();
    let reloaded = Model::load(tmp.path(), &Device::Cpu, DType::F32).unwrap();
    assert!(reloaded.lora_config().is_none());
    let merged = reloaded.forward(&ids, None, Mode::Infer).unwrap();
    let d = (unmerged - merged)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-4, "merged vs unmerged: {d}");
}

/// `save_pretrained` of a model with an adapter writes a merged, complete HF
/// directory that scores like the adapter; a directory without a chat
/// template loads and fails only when a chat is rendered.
#[test]
fn save_pretrained_merges_and_copies_tokenizer_files() {
    let _k = crate::kernels_fixed();
    let cpu = LoadOptions {
        device: DeviceChoice::Cpu,
        ..Default::default()
    };
    let with = LoadOptions {
        adapter: Some(fixtures().join("qwen2-lora")),
        ..cpu.clone()
    };
    let m = LoadedModel::load(fixtures().join("qwen2").to_str().unwrap(), &with).unwrap();
    let req = [ScoreRequest::new(
        None,
        "What is the capital of France?",
        "Paris.",
    )];
    let want = m.score(&req).unwrap()[0].logprob;
    let tmp = tempfile::tempdir().unwrap();
    m.save_pretrained(tmp.path()).unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ] {
        assert!(tmp.path().join(f).exists(), "{f}");
    }
    let merged = LoadedModel::load(tmp.path().to_str().unwrap(), &cpu).unwrap();
    assert!(merged.model().lora_config().is_none());
    let got = merged.score(&req).unwrap()[0].logprob;
    assert!((got - want).abs() < 1e-4, "{got} vs {want}");

    std::fs::remove_file(tmp.path().join("chat_template.jinja")).unwrap();
    let bare = LoadedModel::load(tmp.path().to_str().unwrap(), &cpu).unwrap();
    let e = bare.score(&req).unwrap_err().to_string();
    assert!(e.contains("no chat template in"), "{e}");
}

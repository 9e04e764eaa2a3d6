//! Parity with PyTorch/transformers on the tiny random checkpoints written by
//! scripts/make_hf_fixtures.py (tests/fixtures/hf/*): logits of padded batches
//! (both kernel paths), token by token through the KV cache, and per-token
//! log-probs of responses, all within 1e-4 in f32.

use candle_core::{DType, Device, Tensor};
use inoc::runtime::loader::{LoadOptions, LoadedModel};
use inoc::runtime::model::{Mode, Model};
use inoc::runtime::sample::SamplingParams;
use inoc::runtime::score::ScoreRequest;
use inoc::runtime::DeviceChoice;
use serde_json::Value;
use std::path::PathBuf;

const TOL: f32 = 1e-4;
const FIXTURES: [&str; 3] = ["qwen2", "llama3", "smol"];

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(name)
}

fn expected(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir(name).join("expected.json")).unwrap())
        .unwrap()
}

fn ids_of(v: &Value) -> Vec<Vec<u32>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect()
        })
        .collect()
}

fn load(name: &str) -> Model {
    Model::load(&dir(name), &Device::Cpu, DType::F32).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// max |logit - expected| over the real (unpadded) positions of a batch.
fn batch_diff(logits: &[Vec<Vec<f32>>], batch: &Value) -> f32 {
    let stride = batch["vocab_stride"].as_u64().unwrap() as usize;
    let mask = ids_of(&batch["attention_mask"]);
    let want = batch["logits"].as_array().unwrap();
    let mut worst = 0f32;
    for (r, row) in want.iter().enumerate() {
        for (t, tok) in row.as_array().unwrap().iter().enumerate() {
            if mask[r][t] == 0 {
                continue;
            }
            for (k, w) in tok.as_array().unwrap().iter().enumerate() {
                worst = worst.max((logits[r][t][k * stride] - w.as_f64().unwrap() as f32).abs());
            }
        }
    }
    worst
}

#[test]
fn logits_match_transformers_on_padded_batches() {
    let _k = crate::kernels_fixed();
    for name in FIXTURES {
        let model = load(name);
        let exp = expected(name);
        for batch in exp["batches"].as_array().unwrap() {
            let ids = Tensor::new(ids_of(&batch["input_ids"]), &Device::Cpu).unwrap();
            let mask = Tensor::new(ids_of(&batch["attention_mask"]), &Device::Cpu).unwrap();
            for mode in [Mode::Train, Mode::Infer] {
                let logits = model
                    .forward(&ids, Some(&mask), mode)
                    .unwrap()
                    .to_vec3::<f32>()
                    .unwrap();
                let d = batch_diff(&logits, batch);
                eprintln!(
                    "{name} {mode:?} left_padded={}: max |dlogit| = {d:.2e}",
                    batch["left_padded"]
                );
                assert!(
                    d <= TOL,
                    "{name} {mode:?} left={}: max |dlogit| = {d}",
                    batch["left_padded"]
                );
            }
        }
    }
}

#[test]
fn kv_cache_token_by_token_matches_transformers() {
    let _k = crate::kernels_fixed();
    for name in FIXTURES {
        let model = load(name);
        let exp = expected(name);
        // The left-padded batch, fed one column at a time through the cache.
        let batch = &exp["batches"][1];
        assert_eq!(batch["left_padded"], true);
        let ids = ids_of(&batch["input_ids"]);
        let mask = ids_of(&batch["attention_mask"]);
        let (b, t) = (ids.len(), ids[0].len());
        let mut state = model.new_kv_state(b, 4); // small on purpose: the cache must grow
        let mut logits = vec![vec![vec![]; t]; b];
        for j in 0..t {
            let col = Tensor::new(
                ids.iter().map(|r| vec![r[j]]).collect::<Vec<_>>(),
                &Device::Cpu,
            )
            .unwrap();
            let m = Tensor::new(
                mask.iter().map(|r| vec![r[j]]).collect::<Vec<_>>(),
                &Device::Cpu,
            )
            .unwrap();
            let out = model
                .forward_cached(&col, Some(&m), &mut state, true)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for r in 0..b {
                logits[r][j] = out[r].clone();
            }
        }
        let d = batch_diff(&logits, batch);
        eprintln!("{name} KV cache: max |dlogit| = {d:.2e}");
        assert!(d <= TOL, "{name}: KV-cache max |dlogit| = {d}");
    }
}

#[test]
fn response_logprobs_match_transformers() {
    let _k = crate::kernels_fixed();
    for name in FIXTURES {
        let model = load(name);
        for case in expected(name)["scores"].as_array().unwrap() {
            let p: Vec<u32> = ids_of(&Value::Array(vec![case["prompt_ids"].clone()])).remove(0);
            let r: Vec<u32> = ids_of(&Value::Array(vec![case["response_ids"].clone()])).remove(0);
            let all: Vec<u32> = p.iter().chain(r.iter()).copied().collect();
            let ids = Tensor::new(vec![all.clone()], &Device::Cpu).unwrap();
            let lp =
                candle_nn::ops::log_softmax(&model.forward(&ids, None, Mode::Infer).unwrap(), 2)
                    .unwrap()
                    .to_vec3::<f32>()
                    .unwrap()
                    .remove(0);
            for (i, (&tok, want)) in r
                .iter()
                .zip(case["token_logprobs"].as_array().unwrap())
                .enumerate()
            {
                let got = lp[p.len() + i - 1][tok as usize];
                let d = (got - want.as_f64().unwrap() as f32).abs();
                assert!(
                    d <= TOL,
                    "{name} `{}` token {i}: {got} vs {want}",
                    case["response"]
                );
            }
        }
    }
}

#[test]
fn loading_reports_missing_files_and_tensors() {
    let _k = crate::kernels_fixed();
    let tmp = tempfile::tempdir().unwrap();
    let err = Model::load(tmp.path(), &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.json"), "{err}");
    std::fs::copy(
        dir("qwen2").join("config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    let err = Model::load(tmp.path(), &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no model.safetensors"), "{err}");
    // A checkpoint missing one layer's tensor names it.
    let src = dir("llama3");
    for f in std::fs::read_dir(&src).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, tmp.path().join(f.file_name().unwrap())).unwrap();
    }
    std::fs::remove_file(tmp.path().join("model.safetensors")).ok();
    let index = std::fs::read_to_string(tmp.path().join("model.safetensors.index.json")).unwrap();
    let mut v: Value = serde_json::from_str(&index).unwrap();
    let shard = v["weight_map"]["lm_head.weight"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(tmp.path().join(&shard)).unwrap();
    v["weight_map"]
        .as_object_mut()
        .unwrap()
        .retain(|_, f| f.as_str() != Some(shard.as_str()));
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        v.to_string(),
    )
    .unwrap();
    let err = Model::load(tmp.path(), &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is missing from the checkpoint"), "{err}");
}

#[test]
fn saved_checkpoint_reloads_identically() {
    let _k = crate::kernels_fixed();
    let model = load("llama3");
    let tmp = tempfile::tempdir().unwrap();
    model.save_hf(tmp.path(), DType::F32).unwrap();
    let again = Model::load(tmp.path(), &Device::Cpu, DType::F32).unwrap();
    assert_eq!(again.config().rope_scaling, model.config().rope_scaling);
    let ids = Tensor::new(&[[3u32, 40, 7, 100]], &Device::Cpu).unwrap();
    let a = model.forward(&ids, None, Mode::Infer).unwrap();
    let b = again.forward(&ids, None, Mode::Infer).unwrap();
    let d = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(d, 0.0);
}

fn bundle(name: &str) -> LoadedModel {
    let opts = LoadOptions {
        device: DeviceChoice::Cpu,
        ..Default::default()
    };
    LoadedModel::load(dir(name).to_str().unwrap(), &opts).unwrap()
}

/// The whole pipeline (template, tokenizer, batched scoring) against
/// transformers' numbers.
#[test]
fn score_through_the_bundle_matches_transformers() {
    let _k = crate::kernels_fixed();
    for name in FIXTURES {
        let m = bundle(name);
        let cases = expected(name)["scores"].as_array().unwrap().clone();
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
        let got = m.score(&reqs).unwrap();
        for (c, r) in cases.iter().zip(&got) {
            let want = c["logprob"].as_f64().unwrap();
            eprintln!(
                "{name} score `{}`: inoc {:.6} transformers {want:.6}",
                c["response"], r.logprob
            );
            assert!(
                (r.logprob - want).abs() <= 1e-4 * r.tokens.len() as f64,
                "{name}: {} vs {want}",
                r.logprob
            );
            let ids: Vec<u32> = r.tokens.iter().map(|t| t.id).collect();
            assert_eq!(
                ids,
                ids_of(&Value::Array(vec![c["response_ids"].clone()])).remove(0)
            );
        }
        // The stop ids include the template's end-of-turn token.
        let eot = if name == "llama3" {
            "<|eot_id|>"
        } else {
            "<|im_end|>"
        };
        assert!(
            m.stop_ids()
                .contains(&m.tokenizer().token_to_id(eot).unwrap()),
            "{name}: {:?}",
            m.stop_ids()
        );
    }
}

#[test]
fn greedy_sampling_follows_the_argmax_and_is_batch_invariant() {
    let _k = crate::kernels_fixed();
    let m = bundle("qwen2");
    let prompts = vec![
        LoadedModel::chat(None, "Hello!"),
        LoadedModel::chat(
            Some("You always speak in Spanish."),
            "What is the capital of France?",
        ),
    ];
    let greedy = SamplingParams {
        temperature: 0.0,
        max_tokens: 6,
        n: 2,
        batch_size: 4,
        ..Default::default()
    };
    let out = m.sample(&prompts, &greedy).unwrap();
    assert_eq!(out.len(), 2);
    for (p, samples) in prompts.iter().zip(&out) {
        assert_eq!(samples[0], samples[1], "greedy samples differ");
        // Re-derive the first greedy token from a plain forward pass.
        let ids = m.encode_prompt(p).unwrap();
        let logits = m
            .model()
            .forward(
                &Tensor::new(vec![ids.clone()], &Device::Cpu).unwrap(),
                None,
                Mode::Infer,
            )
            .unwrap();
        let last = logits
            .get(0)
            .unwrap()
            .get(ids.len() - 1)
            .unwrap()
            .argmax(0)
            .unwrap()
            .to_scalar::<u32>()
            .unwrap();
        let first = samples[0].token_ids.first().copied().unwrap_or(u32::MAX);
        assert!(first == last || (samples[0].token_ids.is_empty() && m.stop_ids().contains(&last)));
    }
    // Seeded sampling: same seed same text, batching does not matter.
    let hot = SamplingParams {
        temperature: 1.0,
        max_tokens: 8,
        n: 3,
        seed: 7,
        batch_size: 6,
        ..Default::default()
    };
    let a = m.sample(&prompts, &hot).unwrap();
    let b = m
        .sample(
            &prompts,
            &SamplingParams {
                batch_size: 1,
                ..hot.clone()
            },
        )
        .unwrap();
    assert_eq!(a, b);
    let c = m
        .sample(&prompts, &SamplingParams { seed: 8, ..hot })
        .unwrap();
    assert_ne!(a, c);
}

/// Half precision runs on every kernel path (as on GPUs) and stays close to f32.
#[test]
fn half_precision_runs_and_stays_close() {
    let _k = crate::kernels_fixed();
    let ids = Tensor::new(&[[3u32, 40, 7, 100, 9, 12]], &Device::Cpu).unwrap();
    let full = load("qwen2").forward(&ids, None, Mode::Infer).unwrap();
    for dtype in [DType::BF16, DType::F16] {
        let m = Model::load(&dir("qwen2"), &Device::Cpu, dtype).unwrap();
        for mode in [Mode::Train, Mode::Infer] {
            let half = m.forward(&ids, None, mode).unwrap();
            let d = (&half - &full)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let scale = full
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            eprintln!("{dtype:?} {mode:?}: max |dlogit| = {d:.3} (max |logit| {scale:.1})");
            assert!(d < 0.05 * scale, "{dtype:?} {mode:?}: {d}");
        }
        let mut st = m.new_kv_state(1, 8);
        let cached = m.forward_cached(&ids, None, &mut st, false).unwrap();
        assert_eq!(cached.dims(), full.dims());
    }
}

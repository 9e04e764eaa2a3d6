//! Model weights on disk and at birth: HF parameter names and shapes,
//! loading (single or sharded safetensors, mmapped), HF's initialisation for
//! from-scratch models, and saving as an HF checkpoint.

use super::config::ModelConfig;
use super::model::{Model, ModelError, Result};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What each parameter is called in HF checkpoints, its shape, and how HF
/// initialises it (normal(0, std), zeros or ones).
pub fn parameter_specs(cfg: &ModelConfig) -> Vec<(String, Vec<usize>, Init)> {
    let (hs, d, is) = (cfg.hidden_size, cfg.head_dim, cfg.intermediate_size);
    let (q, kv) = (cfg.num_attention_heads * d, cfg.num_key_value_heads * d);
    let mut out = vec![(
        "model.embed_tokens.weight".to_string(),
        vec![cfg.vocab_size, hs],
        Init::Normal,
    )];
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        let mut lin = |name: String, o: usize, inp: usize, bias: bool| {
            if bias {
                out.push((format!("{name}.bias"), vec![o], Init::Zeros));
            }
            out.push((format!("{name}.weight"), vec![o, inp], Init::Normal));
        };
        lin(format!("{p}.self_attn.q_proj"), q, hs, cfg.qkv_bias);
        lin(format!("{p}.self_attn.k_proj"), kv, hs, cfg.qkv_bias);
        lin(format!("{p}.self_attn.v_proj"), kv, hs, cfg.qkv_bias);
        lin(format!("{p}.self_attn.o_proj"), hs, q, cfg.o_bias);
        lin(format!("{p}.mlp.gate_proj"), is, hs, cfg.mlp_bias);
        lin(format!("{p}.mlp.up_proj"), is, hs, cfg.mlp_bias);
        lin(format!("{p}.mlp.down_proj"), hs, is, cfg.mlp_bias);
        out.push((format!("{p}.input_layernorm.weight"), vec![hs], Init::Ones));
        out.push((
            format!("{p}.post_attention_layernorm.weight"),
            vec![hs],
            Init::Ones,
        ));
    }
    out.push(("model.norm.weight".into(), vec![hs], Init::Ones));
    if !cfg.tie_word_embeddings {
        out.push((
            "lm_head.weight".into(),
            vec![cfg.vocab_size, hs],
            Init::Normal,
        ));
    }
    out
}

/// HF's `_init_weights` for these models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// normal(0, initializer_range = 0.02)
    Normal,
    Zeros,
    Ones,
}

/// Seeded standard-normal samples (Box-Muller over ChaCha8), identical on
/// every platform.
pub(crate) fn normal_vec(rng: &mut rand_chacha::ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>();
            let u2: f64 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * std) as f32
        })
        .collect()
}

/// The safetensors files of a checkpoint directory (sharded or single).
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let read = |e: String| ModelError::Read {
            path: index.clone(),
            message: e,
        };
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&index).map_err(|e| read(e.to_string()))?,
        )
        .map_err(|e| read(e.to_string()))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| read("no weight_map".into()))?;
        let mut files: Vec<String> = map
            .values()
            .filter_map(|f| f.as_str().map(str::to_string))
            .collect();
        files.sort();
        files.dedup();
        return Ok(files.into_iter().map(|f| dir.join(f)).collect());
    }
    let single = dir.join("model.safetensors");
    if single.exists() {
        return Ok(vec![single]);
    }
    Err(ModelError::NoWeights {
        dir: dir.to_path_buf(),
    })
}

impl Model {
    /// Loads `dir/config.json` and its safetensors (mmapped) onto `device`,
    /// converted to `dtype`.
    pub fn load(dir: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let cfg = ModelConfig::from_file(dir)?;
        let files = weight_files(dir)?;
        // SAFETY: the files are mapped read-only; a checkpoint being rewritten
        // while we read it is outside what a loader can guard against.
        let st =
            unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files) }.map_err(|e| {
                ModelError::Read {
                    path: dir.to_path_buf(),
                    message: e.to_string(),
                }
            })?;
        let mut map = BTreeMap::new();
        for (name, _, _) in parameter_specs(&cfg) {
            let t = st
                .load(&name, &Device::Cpu)
                .map_err(|_| ModelError::MissingTensor {
                    name: name.clone(),
                    dir: dir.to_path_buf(),
                })?;
            map.insert(name, t.to_dtype(dtype)?.to_device(device)?);
        }
        Self::from_tensors(cfg, map, device)
    }

    /// A from-scratch model with HF's init: normal(0, 0.02) matrices and
    /// embeddings, zero biases, unit norms; deterministic for a seed.
    pub fn init_random(cfg: ModelConfig, seed: u64, device: &Device, dtype: DType) -> Result<Self> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut map = BTreeMap::new();
        for (name, shape, init) in parameter_specs(&cfg) {
            let n: usize = shape.iter().product();
            let data = match init {
                Init::Normal => normal_vec(&mut rng, n, 0.02),
                Init::Zeros => vec![0f32; n],
                Init::Ones => vec![1f32; n],
            };
            let t = Tensor::from_vec(data, shape, &Device::Cpu)?
                .to_dtype(dtype)?
                .to_device(device)?;
            map.insert(name, t);
        }
        Self::from_tensors(cfg, map, device)
    }

    /// Writes `config.json` + `model.safetensors` (base weights, LoRA not
    /// merged: call `merge_lora` first for a merged checkpoint) in `dtype`.
    pub fn save_hf(&self, dir: &Path, dtype: DType) -> Result<()> {
        let io = |e: std::io::Error| ModelError::Read {
            path: dir.to_path_buf(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let name = match dtype {
            DType::BF16 => "bfloat16",
            DType::F16 => "float16",
            _ => "float32",
        };
        let cfg = serde_json::to_string_pretty(&self.config().to_hf_json(name))
            .map_err(|e| ModelError::Tensor(e.to_string()))?;
        std::fs::write(dir.join("config.json"), cfg).map_err(io)?;
        let mut tensors = BTreeMap::new();
        for (n, t) in self.named_tensors() {
            tensors.insert(n, t.to_dtype(dtype)?.to_device(&Device::Cpu)?);
        }
        let mut meta = std::collections::HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        let views: Vec<(String, Tensor)> = tensors.into_iter().collect();
        safetensors::tensor::serialize_to_file(
            views.iter().map(|(n, t)| (n.as_str(), t)),
            Some(meta),
            &dir.join("model.safetensors"),
        )
        .map_err(|e| ModelError::Read {
            path: dir.join("model.safetensors"),
            message: e.to_string(),
        })?;
        Ok(())
    }
}

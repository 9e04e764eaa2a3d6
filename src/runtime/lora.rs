//! LoRA as PEFT defines it: for a target projection W (out x in),
//! `y = x W^T + scale * B(A(dropout(x)))` with A (r x in) drawn like PEFT's
//! kaiming-uniform(a = sqrt 5), i.e. U(-1/sqrt(in), 1/sqrt(in)), B (out x r)
//! zero, and `scale = alpha / r` (or `alpha / sqrt(r)` with rsLoRA).
//! Adapters are saved and loaded in PEFT's layout (`adapter_config.json` +
//! `adapter_model.safetensors`, tensors named
//! `base_model.model.<module>.lora_A.weight`), so PEFT, transformers and vLLM
//! load them; merging folds them into the base weights for an HF checkpoint.

use super::model::{Mode, Model, ModelError, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The projections LoRA may target, by their HF module names.
pub const TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// Hyper-parameters of a LoRA adapter (PEFT's `LoraConfig` subset).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub use_rslora: bool,
    /// Short module names, a subset of [`TARGETS`].
    pub target_modules: Vec<String>,
}

impl LoraConfig {
    /// The factor applied to `B A x`.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(ModelError::Lora("rank must be at least 1".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Lora(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if self.target_modules.is_empty() {
            return Err(ModelError::Lora("target_modules is empty".into()));
        }
        for t in &self.target_modules {
            if !TARGETS.contains(&t.as_str()) {
                return Err(ModelError::Lora(format!(
                    "unknown target module `{t}` (known: {})",
                    TARGETS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// PEFT's adapter_config.json.
    pub fn to_peft_json(&self, base_model: Option<&str>) -> Value {
        json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model,
            "r": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": self.dropout,
            "use_rslora": self.use_rslora,
            "target_modules": self.target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "modules_to_save": null,
            "layers_to_transform": null,
            "layers_pattern": null,
            "rank_pattern": {},
            "alpha_pattern": {},
            "use_dora": false,
            "revision": null,
        })
    }

    /// Parses PEFT's adapter_config.json; features inoc does not implement
    /// (DoRA, per-module ranks, trained biases) are errors, not silent drops.
    pub fn from_peft_json(v: &Value) -> Result<Self> {
        let bad = |m: String| ModelError::Lora(format!("adapter_config.json: {m}"));
        if let Some(t) = v.get("peft_type").and_then(Value::as_str) {
            if t != "LORA" {
                return Err(bad(format!("peft_type `{t}` is not LORA")));
            }
        }
        if v.get("use_dora").and_then(Value::as_bool) == Some(true) {
            return Err(bad("DoRA adapters are not supported".into()));
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if v.get(key)
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
            {
                return Err(bad(format!("`{key}` is not supported")));
            }
        }
        if let Some(b) = v.get("bias").and_then(Value::as_str) {
            if b != "none" {
                return Err(bad(format!("bias = `{b}` is not supported (only `none`)")));
            }
        }
        let rank = v
            .get("r")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("missing `r`".into()))? as usize;
        let alpha = v.get("lora_alpha").and_then(Value::as_f64).unwrap_or(8.0);
        let target_modules = match v.get("target_modules") {
            Some(Value::Array(xs)) => xs
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            Some(Value::String(s)) if s == "all-linear" => {
                TARGETS.iter().map(|s| s.to_string()).collect()
            }
            Some(other) => {
                return Err(bad(format!(
                    "target_modules {other} is not a list of module names"
                )))
            }
            None => return Err(bad("missing `target_modules`".into())),
        };
        let cfg = LoraConfig {
            rank,
            alpha,
            dropout: v.get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0),
            use_rslora: v
                .get("use_rslora")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            target_modules,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// The adapter on one projection.
#[derive(Debug, Clone)]
pub struct LoraLayer {
    /// (rank, in)
    pub(crate) a: Tensor,
    /// (out, rank)
    pub(crate) b: Tensor,
    pub(crate) scale: f64,
    pub(crate) dropout: f64,
    /// Shared by all layers of a model so dropout masks are seeded.
    pub(crate) rng: Arc<Mutex<ChaCha8Rng>>,
}

impl LoraLayer {
    /// `scale * dropout(x) A^T B^T` for x of shape (n, in).
    pub(crate) fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let x = if mode == Mode::Train && self.dropout > 0.0 {
            let keep = 1.0 - self.dropout;
            let n = x.elem_count();
            let mask: Vec<f32> = {
                let mut rng = self
                    .rng
                    .lock()
                    .map_err(|_| ModelError::Lora("dropout rng poisoned".into()))?;
                (0..n)
                    .map(|_| {
                        if rng.random::<f64>() < keep {
                            (1.0 / keep) as f32
                        } else {
                            0.0
                        }
                    })
                    .collect()
            };
            let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
            (x * mask)?
        } else {
            x.clone()
        };
        let a = super::model::cast(&self.a, x.dtype())?;
        let b = super::model::cast(&self.b, x.dtype())?;
        let h = super::kernels::linear(&x, &a, None)?;
        Ok((super::kernels::linear(&h, &b, None)? * self.scale)?)
    }
}

fn peft_name(module: &str, ab: &str) -> String {
    format!("base_model.model.{module}.lora_{ab}.weight")
}

fn short_name(module: &str) -> &str {
    module.rsplit('.').next().unwrap_or(module)
}

impl Model {
    /// Restarts the LoRA dropout stream from `seed` (all layers share it).
    /// The trainer calls it before every step so that dropout masks depend on
    /// (seed, step) only and a resumed run draws the same masks (engineer
    /// `train`).
    pub fn reseed_lora_dropout(&self, seed: u64) -> Result<()> {
        for (_, lin) in self.linears() {
            if let Some(l) = &lin.lora {
                let mut rng = l
                    .rng
                    .lock()
                    .map_err(|_| ModelError::Lora("dropout rng poisoned".into()))?;
                *rng = ChaCha8Rng::seed_from_u64(seed);
            }
        }
        Ok(())
    }

    /// Attaches a fresh adapter (A kaiming-uniform, B zero, seeded) to every
    /// targeted projection and returns its trainable tensors under PEFT's
    /// names. The base weights stay as they are (frozen unless made
    /// trainable). Outputs are unchanged until B moves away from zero.
    pub fn add_lora(&mut self, cfg: &LoraConfig, seed: u64) -> Result<Vec<(String, Var)>> {
        cfg.validate()?;
        if self.lora_config().is_some() {
            return Err(ModelError::Lora(
                "the model already has an adapter; merge it first".into(),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let dropout_rng = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(
            seed ^ 0x9e37_79b9_7f4a_7c15,
        )));
        // Adapter weights are f32 whatever the base's dtype (PEFT's default,
        // `autocast_adapter_dtype`); a bf16 base computes with bf16 casts.
        let (device, dtype) = (self.device().clone(), DType::F32);
        let mut vars = vec![];
        for (module, lin) in self.linears_mut() {
            if !cfg.target_modules.iter().any(|t| t == short_name(&module)) {
                continue;
            }
            let (out, inp) = lin.weight.dims2()?;
            let bound = 1.0 / (inp as f64).sqrt();
            let a: Vec<f32> = (0..cfg.rank * inp)
                .map(|_| rng.random_range(-bound..bound) as f32)
                .collect();
            let a = Var::from_tensor(
                &Tensor::from_vec(a, (cfg.rank, inp), &Device::Cpu)?
                    .to_dtype(dtype)?
                    .to_device(&device)?,
            )?;
            let b = Var::from_tensor(&Tensor::zeros((out, cfg.rank), dtype, &device)?)?;
            lin.lora = Some(LoraLayer {
                a: a.as_tensor().clone(),
                b: b.as_tensor().clone(),
                scale: cfg.scale(),
                dropout: cfg.dropout,
                rng: dropout_rng.clone(),
            });
            vars.push((peft_name(&module, "A"), a));
            vars.push((peft_name(&module, "B"), b));
        }
        self.set_lora_config(Some(cfg.clone()));
        Ok(vars)
    }

    /// The adapter tensors under PEFT's names (empty without an adapter).
    pub fn lora_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for (module, lin) in self.linears() {
            if let Some(l) = &lin.lora {
                out.push((peft_name(&module, "A"), l.a.clone()));
                out.push((peft_name(&module, "B"), l.b.clone()));
            }
        }
        out
    }

    /// Folds the adapter into the base weights (`W += scale * B A`) and
    /// removes it; `save_hf` then writes a merged HF checkpoint.
    pub fn merge_lora(&mut self) -> Result<()> {
        for (_, lin) in self.linears_mut() {
            if let Some(l) = lin.lora.take() {
                let delta =
                    (l.b.to_dtype(DType::F32)?
                        .matmul(&l.a.to_dtype(DType::F32)?)?
                        * l.scale)?;
                let w = (lin.weight.to_dtype(DType::F32)? + delta)?.to_dtype(lin.weight.dtype())?;
                lin.weight = w.detach();
            }
        }
        self.set_lora_config(None);
        Ok(())
    }

    /// Writes `adapter_config.json` + `adapter_model.safetensors` (f32) in PEFT's layout.
    pub fn save_adapter(&self, dir: &Path, base_model: Option<&str>) -> Result<()> {
        let cfg = self
            .lora_config()
            .ok_or_else(|| ModelError::Lora("the model has no adapter to save".into()))?;
        let io = |e: String| ModelError::Read {
            path: dir.to_path_buf(),
            message: e,
        };
        std::fs::create_dir_all(dir).map_err(|e| io(e.to_string()))?;
        let text = serde_json::to_string_pretty(&cfg.to_peft_json(base_model))
            .map_err(|e| io(e.to_string()))?;
        std::fs::write(dir.join("adapter_config.json"), text).map_err(|e| io(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (n, t) in self.lora_tensors() {
            tensors.insert(
                n,
                t.to_dtype(DType::F32)?
                    .to_device(&Device::Cpu)?
                    .contiguous()?,
            );
        }
        let mut meta = std::collections::HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        safetensors::tensor::serialize_to_file(
            tensors.iter().map(|(n, t)| (n.as_str(), t)),
            Some(meta),
            &dir.join("adapter_model.safetensors"),
        )
        .map_err(|e| io(e.to_string()))?;
        Ok(())
    }

    /// Loads a PEFT LoRA adapter directory onto this model (not merged).
    pub fn load_adapter(&mut self, dir: &Path) -> Result<LoraConfig> {
        if self.lora_config().is_some() {
            return Err(ModelError::Lora(
                "the model already has an adapter; merge it first".into(),
            ));
        }
        let cfg_path = dir.join("adapter_config.json");
        let read = |p: &Path, e: String| ModelError::Read {
            path: p.to_path_buf(),
            message: e,
        };
        let text =
            std::fs::read_to_string(&cfg_path).map_err(|e| read(&cfg_path, e.to_string()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| read(&cfg_path, e.to_string()))?;
        let cfg = LoraConfig::from_peft_json(&v)?;
        let st_path = dir.join("adapter_model.safetensors");
        let bytes = std::fs::read(&st_path).map_err(|e| read(&st_path, e.to_string()))?;
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
        // PEFT files written with an adapter name keep it: `lora_A.default.weight`.
        let keys: Vec<String> = tensors.keys().cloned().collect();
        for k in keys {
            if let Some(stripped) = k.strip_suffix(".default.weight") {
                if let Some(t) = tensors.remove(&k) {
                    tensors.insert(format!("{stripped}.weight"), t);
                }
            }
        }
        let (device, dtype) = (self.device().clone(), self.dtype());
        let rng = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(0)));
        let mut used = 0;
        for (module, lin) in self.linears_mut() {
            let (a, b) = (
                tensors.remove(&peft_name(&module, "A")),
                tensors.remove(&peft_name(&module, "B")),
            );
            let (a, b) = match (a, b) {
                (Some(a), Some(b)) => (a, b),
                (None, None) => continue,
                _ => {
                    return Err(ModelError::Lora(format!(
                        "{module}: adapter has lora_A without lora_B or the reverse"
                    )))
                }
            };
            let (out, inp) = lin.weight.dims2()?;
            if a.dims() != [cfg.rank, inp] || b.dims() != [out, cfg.rank] {
                return Err(ModelError::Lora(format!(
                    "{module}: adapter shapes A {:?}, B {:?} do not fit weight ({out}, {inp}) with r = {}",
                    a.dims(),
                    b.dims(),
                    cfg.rank
                )));
            }
            lin.lora = Some(LoraLayer {
                a: a.to_dtype(dtype)?.to_device(&device)?,
                b: b.to_dtype(dtype)?.to_device(&device)?,
                scale: cfg.scale(),
                dropout: cfg.dropout,
                rng: rng.clone(),
            });
            used += 1;
        }
        if used == 0 {
            return Err(ModelError::Lora(format!(
                "{} holds no LoRA tensors for this model's modules",
                st_path.display()
            )));
        }
        if let Some(extra) = tensors.keys().find(|k| k.contains("lora_")) {
            return Err(ModelError::Lora(format!(
                "adapter tensor `{extra}` matches no module of this model"
            )));
        }
        self.set_lora_config(Some(cfg.clone()));
        Ok(cfg)
    }

    /// Makes the adapter trainable again after `load_adapter` (resuming);
    /// returns its vars under PEFT's names.
    pub fn lora_vars(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = vec![];
        for (module, lin) in self.linears_mut() {
            if let Some(l) = &mut lin.lora {
                let a = Var::from_tensor(&l.a.to_dtype(DType::F32)?)?;
                let b = Var::from_tensor(&l.b.to_dtype(DType::F32)?)?;
                l.a = a.as_tensor().clone();
                l.b = b.as_tensor().clone();
                vars.push((peft_name(&module, "A"), a));
                vars.push((peft_name(&module, "B"), b));
            }
        }
        Ok(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::config::ModelConfig;

    fn tiny() -> Model {
        let cfg = ModelConfig::small(40, 16, 2, 4, 2, 32, 32).unwrap();
        Model::init_random(cfg, 3, &Device::Cpu, DType::F32).unwrap()
    }

    fn lcfg(targets: &[&str]) -> LoraConfig {
        LoraConfig {
            rank: 4,
            alpha: 8.0,
            dropout: 0.0,
            use_rslora: true,
            target_modules: targets.iter().map(|s| s.to_string()).collect(),
        }
    }

    use crate::runtime::testutil::max_diff;

    fn ids() -> Tensor {
        Tensor::new(&[[1u32, 5, 9, 2, 7]], &Device::Cpu).unwrap()
    }

    /// Sets every B to random values so the adapter changes the output.
    fn perturb(vars: &[(String, Var)]) {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for (n, v) in vars {
            if n.contains("lora_B") {
                let data: Vec<f32> = (0..v.elem_count())
                    .map(|_| rng.random_range(-0.5..0.5))
                    .collect();
                v.set(&Tensor::from_vec(data, v.shape(), &Device::Cpu).unwrap())
                    .unwrap();
            }
        }
    }

    #[test]
    fn fresh_adapter_changes_nothing_and_gets_gradients() {
        let mut m = tiny();
        let before = m.forward(&ids(), None, Mode::Infer).unwrap();
        let vars = m
            .add_lora(&lcfg(&["q_proj", "v_proj", "down_proj"]), 1)
            .unwrap();
        assert_eq!(vars.len(), 2 * 3 * 2);
        assert_eq!(
            vars[0].0,
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        );
        let after = m.forward(&ids(), None, Mode::Infer).unwrap();
        assert_eq!(max_diff(&before, &after), 0.0);
        let loss = m
            .forward(&ids(), None, Mode::Train)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        for (n, v) in &vars {
            // With B = 0 only B receives gradient (dL/dA = B^T ...), as in PEFT.
            if n.contains("lora_B") {
                let g = grads
                    .get(v)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(g > 0.0, "{n}");
            }
        }
    }

    #[test]
    fn merged_equals_unmerged_and_save_load_round_trips() {
        let mut m = tiny();
        let vars = m.add_lora(&lcfg(&TARGETS), 2).unwrap();
        perturb(&vars);
        let with = m.forward(&ids(), None, Mode::Infer).unwrap();
        assert!(max_diff(&with, &tiny().forward(&ids(), None, Mode::Infer).unwrap()) > 1e-3);
        let dir = tempfile::tempdir().unwrap();
        m.save_adapter(dir.path(), Some("tiny")).unwrap();
        let mut loaded = tiny();
        let cfg = loaded.load_adapter(dir.path()).unwrap();
        assert_eq!(cfg, lcfg(&TARGETS));
        assert!(max_diff(&with, &loaded.forward(&ids(), None, Mode::Infer).unwrap()) < 1e-6);
        m.merge_lora().unwrap();
        assert!(m.lora_tensors().is_empty());
        assert!(max_diff(&with, &m.forward(&ids(), None, Mode::Infer).unwrap()) < 1e-5);
    }

    /// Frozen base weights (whose gradient a fused linear may skip) give the
    /// adapter the same gradients as trainable ones.
    #[test]
    fn frozen_base_gives_the_same_adapter_gradients() {
        let grads_of = |trainable_base: bool| {
            let mut m = tiny();
            if trainable_base {
                m.make_trainable().unwrap();
            }
            let vars = m.add_lora(&lcfg(&TARGETS), 5).unwrap();
            perturb(&vars);
            let loss = m
                .forward(&ids(), None, Mode::Train)
                .unwrap()
                .sqr()
                .unwrap()
                .mean_all()
                .unwrap();
            let g = loss.backward().unwrap();
            vars.iter()
                .map(|(_, v)| {
                    g.get(v)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap()
                })
                .collect::<Vec<_>>()
        };
        let (frozen, plain) = (grads_of(false), grads_of(true));
        for (a, b) in frozen.iter().zip(&plain) {
            let scale = b.iter().fold(0f32, |m, x| m.max(x.abs()));
            let d = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(d <= 1e-5 * scale.max(1e-3), "{d} vs scale {scale}");
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        assert!(lcfg(&["qkv"]).validate().is_err());
        assert!(LoraConfig {
            rank: 0,
            ..lcfg(&["q_proj"])
        }
        .validate()
        .is_err());
        let v = json!({"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "use_dora": true});
        assert!(LoraConfig::from_peft_json(&v).is_err());
        let mut m = tiny();
        let dir = tempfile::tempdir().unwrap();
        assert!(m.load_adapter(dir.path()).is_err());
    }

    #[test]
    fn dropout_is_seeded_and_only_in_train_mode() {
        let run = || {
            let mut m = tiny();
            let vars = m
                .add_lora(
                    &LoraConfig {
                        dropout: 0.5,
                        ..lcfg(&["q_proj"])
                    },
                    4,
                )
                .unwrap();
            perturb(&vars);
            let a = m.forward(&ids(), None, Mode::Train).unwrap();
            let b = m.forward(&ids(), None, Mode::Infer).unwrap();
            (a, b)
        };
        let (a1, b1) = run();
        let (a2, _) = run();
        assert_eq!(max_diff(&a1, &a2), 0.0);
        assert!(max_diff(&a1, &b1) > 0.0);
    }
}

//! Model configuration: Hugging Face `config.json` for the Llama / Qwen2 /
//! SmolLM2 family in both layouts transformers writes (4.x: `rope_theta`,
//! `rope_scaling`, `torch_dtype`; 5.x: `rope_parameters`, `dtype`,
//! `layer_types`), plus small configs built in code for from-scratch models.

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Which checkpoint family a config describes. Both share one decoder; they
/// differ in biases and in the names transformers gives them.
/// Largest dimension of a model config (vocabulary, widths, layers,
/// heads): 16M, far above any real checkpoint (vocabularies reach 256k).
pub const DIM_MAX: usize = 1 << 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `LlamaForCausalLM` (Llama 2/3.x, SmolLM2, TinyLlama, ...).
    Llama,
    /// `Qwen2ForCausalLM` (Qwen2, Qwen2.5): q/k/v projections have biases.
    Qwen2,
}

impl Arch {
    pub fn model_type(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
        }
    }
    pub fn architecture(self) -> &'static str {
        match self {
            Arch::Llama => "LlamaForCausalLM",
            Arch::Qwen2 => "Qwen2ForCausalLM",
        }
    }
}

/// How rotary frequencies are adjusted for long contexts.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// Llama 3.1+ frequency-dependent scaling (`rope_type: "llama3"`).
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
    /// Positions divided by `factor` (`rope_type: "linear"`).
    Linear { factor: f64 },
}

/// Everything the decoder needs, parsed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub max_position_embeddings: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: Option<RopeScaling>,
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v projections (Qwen2 always; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on o_proj (Llama with `attention_bias`).
    pub o_bias: bool,
    /// Biases on gate/up/down (Llama `mlp_bias`).
    pub mlp_bias: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: Option<u32>,
    /// The checkpoint's stored dtype (`torch_dtype` / `dtype`), e.g. "bfloat16".
    pub stored_dtype: Option<String>,
    /// The original JSON, kept so saved checkpoints round-trip unknown keys.
    pub source: Option<Value>,
}

/// Why a config.json cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path} is not valid JSON: {message}")]
    Json { path: PathBuf, message: String },
    #[error("unsupported model_type `{found}` (supported: llama, qwen2)")]
    UnsupportedArchitecture { found: String },
    #[error("config.json has no `{field}`")]
    MissingField { field: &'static str },
    #[error("config.json field `{field}` must be {expected}, found {found}")]
    InvalidField {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("unsupported rope_type `{found}` (supported: default, linear, llama3)")]
    UnsupportedRope { found: String },
    #[error("unsupported hidden_act `{found}` (supported: silu)")]
    UnsupportedActivation { found: String },
    #[error("sliding-window attention is not supported ({detail})")]
    SlidingWindow { detail: String },
    #[error("inconsistent config: {detail}")]
    Inconsistent { detail: String },
}

fn get_usize(o: &Map<String, Value>, field: &'static str) -> Result<Option<usize>, ConfigError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|x| Some(x as usize))
            .ok_or(ConfigError::InvalidField {
                field,
                expected: "a non-negative integer",
                found: v.to_string(),
            }),
    }
}

fn need_usize(o: &Map<String, Value>, field: &'static str) -> Result<usize, ConfigError> {
    get_usize(o, field)?.ok_or(ConfigError::MissingField { field })
}

fn get_f64(o: &Map<String, Value>, field: &'static str) -> Result<Option<f64>, ConfigError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or(ConfigError::InvalidField {
            field,
            expected: "a number",
            found: v.to_string(),
        }),
    }
}

fn get_bool(o: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, ConfigError> {
    match o.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or(ConfigError::InvalidField {
            field,
            expected: "true or false",
            found: v.to_string(),
        }),
    }
}

/// `eos_token_id` may be one id or a list (Llama 3.1 instruct).
fn get_ids(o: &Map<String, Value>, field: &'static str) -> Result<Vec<u32>, ConfigError> {
    let bad = |v: &Value| ConfigError::InvalidField {
        field,
        expected: "a token id or a list of token ids",
        found: v.to_string(),
    };
    match o.get(field) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(xs)) => xs
            .iter()
            .map(|x| x.as_u64().map(|i| i as u32).ok_or_else(|| bad(x)))
            .collect(),
        Some(v) => v.as_u64().map(|i| vec![i as u32]).ok_or_else(|| bad(v)),
    }
}

fn parse_rope(o: &Map<String, Value>) -> Result<(f64, Option<RopeScaling>), ConfigError> {
    // 5.x: everything in `rope_parameters`; 4.x: `rope_theta` + `rope_scaling`.
    let params = match (o.get("rope_parameters"), o.get("rope_scaling")) {
        (Some(Value::Object(p)), _) => Some(p),
        (_, Some(Value::Object(p))) => Some(p),
        (None | Some(Value::Null), None | Some(Value::Null)) => None,
        (Some(v), _) | (_, Some(v)) => {
            return Err(ConfigError::InvalidField {
                field: "rope_parameters",
                expected: "an object",
                found: v.to_string(),
            })
        }
    };
    let theta = match params
        .map(|p| get_f64(p, "rope_theta"))
        .transpose()?
        .flatten()
    {
        Some(t) => t,
        None => get_f64(o, "rope_theta")?.unwrap_or(10_000.0),
    };
    let Some(p) = params else {
        return Ok((theta, None));
    };
    // transformers 4.x used `type` before `rope_type`.
    let kind = p
        .get("rope_type")
        .or_else(|| p.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let factor = || {
        get_f64(p, "factor")?.ok_or(ConfigError::MissingField {
            field: "rope_scaling.factor",
        })
    };
    let scaling = match kind {
        "default" => None,
        "linear" => Some(RopeScaling::Linear { factor: factor()? }),
        "llama3" => Some(RopeScaling::Llama3 {
            factor: factor()?,
            low_freq_factor: get_f64(p, "low_freq_factor")?.unwrap_or(1.0),
            high_freq_factor: get_f64(p, "high_freq_factor")?.unwrap_or(4.0),
            original_max_position_embeddings: get_usize(p, "original_max_position_embeddings")?
                .ok_or(ConfigError::MissingField {
                    field: "rope_scaling.original_max_position_embeddings",
                })?,
        }),
        other => {
            return Err(ConfigError::UnsupportedRope {
                found: other.to_string(),
            })
        }
    };
    Ok((theta, scaling))
}

impl ModelConfig {
    /// Reads `dir/config.json` (or a config.json path).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let path = if path.is_dir() {
            path.join("config.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError::Read {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| ConfigError::Json {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Self::from_json(&v)
    }

    /// Parses a config.json value.
    pub fn from_json(v: &Value) -> Result<Self, ConfigError> {
        let o = v.as_object().ok_or(ConfigError::InvalidField {
            field: "config",
            expected: "a JSON object",
            found: v.to_string(),
        })?;
        let model_type = o.get("model_type").and_then(Value::as_str).unwrap_or("");
        let arch = match model_type {
            "llama" => Arch::Llama,
            "qwen2" => Arch::Qwen2,
            "" => {
                return Err(ConfigError::MissingField {
                    field: "model_type",
                })
            }
            other => {
                return Err(ConfigError::UnsupportedArchitecture {
                    found: other.to_string(),
                })
            }
        };
        let act = o
            .get("hidden_act")
            .and_then(Value::as_str)
            .unwrap_or("silu");
        if act != "silu" {
            return Err(ConfigError::UnsupportedActivation {
                found: act.to_string(),
            });
        }
        if get_bool(o, "use_sliding_window")? == Some(true) {
            return Err(ConfigError::SlidingWindow {
                detail: "use_sliding_window is true".into(),
            });
        }
        if let Some(Value::Array(kinds)) = o.get("layer_types") {
            if let Some(k) = kinds.iter().find(|k| k.as_str() != Some("full_attention")) {
                return Err(ConfigError::SlidingWindow {
                    detail: format!("layer_types contains {k}"),
                });
            }
        }
        let hidden_size = need_usize(o, "hidden_size")?;
        let num_attention_heads = need_usize(o, "num_attention_heads")?;
        let (rope_theta, rope_scaling) = parse_rope(o)?;
        let attention_bias = get_bool(o, "attention_bias")?.unwrap_or(false);
        let cfg = ModelConfig {
            arch,
            vocab_size: need_usize(o, "vocab_size")?,
            hidden_size,
            intermediate_size: need_usize(o, "intermediate_size")?,
            num_hidden_layers: need_usize(o, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads: get_usize(o, "num_key_value_heads")?
                .unwrap_or(num_attention_heads),
            head_dim: get_usize(o, "head_dim")?.unwrap_or(hidden_size / num_attention_heads.max(1)),
            max_position_embeddings: get_usize(o, "max_position_embeddings")?.unwrap_or(2048),
            rms_norm_eps: get_f64(o, "rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            tie_word_embeddings: get_bool(o, "tie_word_embeddings")?.unwrap_or(false),
            qkv_bias: arch == Arch::Qwen2 || attention_bias,
            o_bias: arch == Arch::Llama && attention_bias,
            mlp_bias: arch == Arch::Llama && get_bool(o, "mlp_bias")?.unwrap_or(false),
            bos_token_id: get_ids(o, "bos_token_id")?.first().copied(),
            eos_token_ids: get_ids(o, "eos_token_id")?,
            pad_token_id: get_ids(o, "pad_token_id")?.first().copied(),
            stored_dtype: o
                .get("dtype")
                .or_else(|| o.get("torch_dtype"))
                .and_then(Value::as_str)
                .map(str::to_string),
            source: Some(v.clone()),
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// A small Llama-architecture config for models trained from scratch
    /// (tied embeddings, SwiGLU, RoPE theta 10000).
    pub fn small(
        vocab_size: usize,
        hidden_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
        intermediate_size: usize,
        max_position_embeddings: usize,
    ) -> Result<Self, ConfigError> {
        let cfg = ModelConfig {
            arch: Arch::Llama,
            vocab_size,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim: hidden_size / num_attention_heads.max(1),
            max_position_embeddings,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            rope_scaling: None,
            tie_word_embeddings: true,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            bos_token_id: None,
            eos_token_ids: vec![],
            pad_token_id: None,
            stored_dtype: Some("float32".into()),
            source: None,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks what the model code relies on; sizes above [`DIM_MAX`] are
    /// refused before anything is allocated (products of them could
    /// overflow).
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |detail: String| Err(ConfigError::Inconsistent { detail });
        if self.num_attention_heads == 0
            || self.num_key_value_heads == 0
            || self.num_hidden_layers == 0
        {
            return bad("heads, key/value heads and layers must be at least 1".into());
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return bad(format!(
                "num_attention_heads ({}) is not a multiple of num_key_value_heads ({})",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return bad(format!(
                "head_dim ({}) must be even and positive",
                self.head_dim
            ));
        }
        if self.vocab_size == 0 || self.hidden_size == 0 || self.intermediate_size == 0 {
            return bad("vocab_size, hidden_size and intermediate_size must be positive".into());
        }
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("head_dim", self.head_dim),
        ] {
            if v > DIM_MAX {
                return bad(format!(
                    "{name} = {v} is larger than any model inoc can hold (at most {DIM_MAX})"
                ));
            }
        }
        Ok(())
    }

    /// The config.json to write next to saved weights. A loaded config keeps
    /// its original keys (with `dtype` / `torch_dtype` updated); a from-scratch
    /// one is written in the transformers-4 layout, which 4.x and 5.x both read.
    pub fn to_hf_json(&self, dtype: &str) -> Value {
        if let Some(Value::Object(src)) = &self.source {
            let mut o = src.clone();
            for key in ["dtype", "torch_dtype"] {
                if o.contains_key(key) {
                    o.insert(key.into(), json!(dtype));
                }
            }
            if !o.contains_key("dtype") && !o.contains_key("torch_dtype") {
                o.insert("torch_dtype".into(), json!(dtype));
            }
            return Value::Object(o);
        }
        let eos: Value = match self.eos_token_ids.as_slice() {
            [] => Value::Null,
            [one] => json!(one),
            many => json!(many),
        };
        let rope_scaling = match &self.rope_scaling {
            None => Value::Null,
            Some(RopeScaling::Linear { factor }) => {
                json!({"rope_type": "linear", "factor": factor})
            }
            Some(RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            }) => {
                json!({"rope_type": "llama3", "factor": factor, "low_freq_factor": low_freq_factor,
                       "high_freq_factor": high_freq_factor,
                       "original_max_position_embeddings": original_max_position_embeddings})
            }
        };
        let mut v = json!({
            "architectures": [self.arch.architecture()],
            "model_type": self.arch.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_position_embeddings,
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "rope_scaling": rope_scaling,
            "tie_word_embeddings": self.tie_word_embeddings,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "bos_token_id": self.bos_token_id,
            "eos_token_id": eos,
            "pad_token_id": self.pad_token_id,
            "torch_dtype": dtype,
            "use_cache": true,
        });
        if self.arch == Arch::Llama {
            v["attention_bias"] = json!(self.o_bias);
            v["mlp_bias"] = json!(self.mlp_bias);
        }
        v
    }

    /// Number of parameters (tied embeddings counted once).
    pub fn num_parameters(&self) -> usize {
        let (h, i, d) = (self.hidden_size, self.intermediate_size, self.head_dim);
        let (q, kv) = (self.num_attention_heads * d, self.num_key_value_heads * d);
        let attn = h * q
            + 2 * h * kv
            + q * h
            + if self.qkv_bias { q + 2 * kv } else { 0 }
            + if self.o_bias { h } else { 0 };
        let mlp = 3 * h * i + if self.mlp_bias { 2 * i + h } else { 0 };
        let layer = attn + mlp + 2 * h;
        let head = if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * h
        };
        self.vocab_size * h + self.num_hidden_layers * layer + h + head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"model_type": "llama", "vocab_size": 100, "hidden_size": 32, "intermediate_size": 64,
               "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2})
    }

    #[test]
    fn both_layouts_agree() {
        let mut v4 = base();
        v4["rope_theta"] = json!(500000.0);
        v4["rope_scaling"] = json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
        v4["torch_dtype"] = json!("bfloat16");
        let mut v5 = base();
        v5["rope_parameters"] = json!({"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
        v5["dtype"] = json!("bfloat16");
        v5["layer_types"] = json!(["full_attention", "full_attention"]);
        let (a, b) = (
            ModelConfig::from_json(&v4).unwrap(),
            ModelConfig::from_json(&v5).unwrap(),
        );
        assert_eq!(a.rope_theta, 500000.0);
        assert_eq!(a.rope_scaling, b.rope_scaling);
        assert_eq!(a.stored_dtype.as_deref(), Some("bfloat16"));
        assert_eq!(b.stored_dtype.as_deref(), Some("bfloat16"));
        assert_eq!(a.head_dim, 8);
    }

    #[test]
    fn qwen2_has_qkv_bias_and_ignores_disabled_sliding_window() {
        let mut v = base();
        v["model_type"] = json!("qwen2");
        v["use_sliding_window"] = json!(false);
        v["sliding_window"] = json!(4096);
        v["max_window_layers"] = json!(21);
        v["eos_token_id"] = json!([5, 7]);
        let c = ModelConfig::from_json(&v).unwrap();
        assert!(c.qkv_bias && !c.o_bias && !c.mlp_bias);
        assert_eq!(c.eos_token_ids, vec![5, 7]);
        v["use_sliding_window"] = json!(true);
        assert!(matches!(
            ModelConfig::from_json(&v),
            Err(ConfigError::SlidingWindow { .. })
        ));
    }

    #[test]
    fn clear_errors() {
        let mut v = base();
        v["model_type"] = json!("mistral");
        let e = ModelConfig::from_json(&v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unsupported model_type `mistral` (supported: llama, qwen2)"
        );
        let mut v = base();
        v["rope_scaling"] = json!({"rope_type": "yarn", "factor": 4.0});
        assert!(
            matches!(ModelConfig::from_json(&v), Err(ConfigError::UnsupportedRope { found }) if found == "yarn")
        );
        let mut v = base();
        v["num_key_value_heads"] = json!(3);
        assert!(matches!(
            ModelConfig::from_json(&v),
            Err(ConfigError::Inconsistent { .. })
        ));
        let mut v = base();
        v["hidden_size"] = json!("big");
        assert!(matches!(
            ModelConfig::from_json(&v),
            Err(ConfigError::InvalidField {
                field: "hidden_size",
                ..
            })
        ));
        let mut v = base();
        v.as_object_mut().unwrap().remove("vocab_size");
        assert!(matches!(
            ModelConfig::from_json(&v),
            Err(ConfigError::MissingField {
                field: "vocab_size"
            })
        ));
    }

    /// The config.json files of real checkpoints parse, and the parameter
    /// count implied by the parsed config equals what transformers builds
    /// from the same file (counted on the meta device).
    #[test]
    fn real_configs_parse_with_transformers_parameter_counts() {
        let dir =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/configs");
        let cases = [
            ("Qwen2.5-0.5B-Instruct.json", 494_032_768, Arch::Qwen2),
            ("Llama-3.2-1B-Instruct.json", 1_235_814_400, Arch::Llama),
            ("SmolLM2-135M-Instruct.json", 134_515_008, Arch::Llama),
        ];
        for (file, params, arch) in cases {
            let c = ModelConfig::from_file(&dir.join(file)).unwrap();
            assert_eq!((c.arch, c.num_parameters()), (arch, params), "{file}");
            assert!(c.tie_word_embeddings, "{file}");
        }
        let llama = ModelConfig::from_file(&dir.join("Llama-3.2-1B-Instruct.json")).unwrap();
        assert_eq!(llama.eos_token_ids, vec![128001, 128008, 128009]);
        assert!(
            matches!(llama.rope_scaling, Some(RopeScaling::Llama3 { factor, .. }) if factor == 32.0)
        );
    }

    #[test]
    fn small_config_round_trips_through_json() {
        let c = ModelConfig::small(512, 128, 2, 4, 2, 256, 256).unwrap();
        let back = ModelConfig::from_json(&c.to_hf_json("float32")).unwrap();
        assert_eq!(
            ModelConfig {
                source: None,
                ..back
            },
            c
        );
        // embed 512*128 + 2 layers * (attn 49152 + mlp 98304 + norms 256) + final norm 128
        assert_eq!(c.num_parameters(), 361_088);
    }
}

//! GGUF files (llama.cpp, Ollama) as a model source. candle-core reads the
//! file and dequantizes every tensor (Q4_0/Q4_1/Q8_0/K-quants/F16/F32) to
//! f32; the HF config comes from the `<arch>.*` metadata, the tokenizer from
//! `tokenizer.ggml.*` (byte-level BPE with the pre-tokenizer llama.cpp uses
//! for `tokenizer.ggml.pre`), the chat template from `tokenizer.chat_template`.
//!
//! llama.cpp's converter permutes the rows of Llama's q/k projections for its
//! interleaved RoPE; [`read`] undoes that (as transformers' GGUF loader does),
//! so the result is an ordinary HF-layout Llama/Qwen2 checkpoint.
//! [`convert`] writes it as an HF directory (what the `gguf(path)` step
//! stores); [`crate::runtime::loader::LoadedModel::load`] also loads a
//! `.gguf` path directly.

use super::config::ModelConfig;
use super::weights::parameter_specs;
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a GGUF file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("cannot read GGUF file {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("{path}: {what} is not supported ({supported})")]
    Unsupported {
        path: PathBuf,
        what: String,
        supported: &'static str,
    },
    #[error("{path} has no metadata `{key}`")]
    MissingKey { path: PathBuf, key: String },
    #[error("{path}: metadata `{key}` {problem}")]
    BadKey {
        path: PathBuf,
        key: String,
        problem: String,
    },
    #[error("{path} has no tensor `{name}` (needed for `{hf_name}`)")]
    MissingTensor {
        path: PathBuf,
        name: String,
        hf_name: String,
    },
}

/// The pre-tokenizer types llama.cpp writes that inoc rebuilds.
const PRE_TYPES: &str = "gpt2, default, smollm, llama-bpe, llama3, qwen2";

/// GPT-2's split, which `ByteLevel(use_regex = true)` applies itself.
const REGEX_LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const REGEX_QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A GGUF model as the pieces of an HF directory.
#[derive(Debug)]
pub struct GgufModel {
    /// The file it was read from.
    pub path: PathBuf,
    /// config.json.
    pub config: Json,
    /// f32 tensors under their HF names (q/k rows in HF order).
    pub tensors: BTreeMap<String, Tensor>,
    /// tokenizer.json.
    pub tokenizer: Json,
    /// tokenizer_config.json (chat template and special tokens).
    pub tokenizer_config: Json,
}

/// The metadata of an opened file, with errors that name it.
struct Meta<'a> {
    path: &'a Path,
    content: &'a Content,
}

impl Meta<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }
    fn need(&self, key: &str) -> Result<&Value, GgufError> {
        self.get(key).ok_or_else(|| GgufError::MissingKey {
            path: self.path.to_path_buf(),
            key: key.to_string(),
        })
    }
    fn bad(&self, key: &str, problem: impl Into<String>) -> GgufError {
        GgufError::BadKey {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            problem: problem.into(),
        }
    }
    fn uint(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.get(key)
            .map(|v| as_uint(v).ok_or_else(|| self.bad(key, "is not a non-negative integer")))
            .transpose()
    }
    fn need_uint(&self, key: &str) -> Result<u64, GgufError> {
        self.uint(key)?.ok_or_else(|| GgufError::MissingKey {
            path: self.path.to_path_buf(),
            key: key.to_string(),
        })
    }
    fn float(&self, key: &str) -> Result<Option<f64>, GgufError> {
        self.get(key)
            .map(|v| match v {
                Value::F32(x) => Ok(*x as f64),
                Value::F64(x) => Ok(*x),
                other => as_uint(other)
                    .map(|x| x as f64)
                    .ok_or_else(|| self.bad(key, "is not a number")),
            })
            .transpose()
    }
    fn string(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.get(key)
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                _ => Err(self.bad(key, "is not a string")),
            })
            .transpose()
    }
    fn strings(&self, key: &str) -> Result<Vec<String>, GgufError> {
        match self.need(key)? {
            Value::Array(xs) => xs
                .iter()
                .map(|x| match x {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.bad(key, "has a non-string element")),
                })
                .collect(),
            _ => Err(self.bad(key, "is not an array")),
        }
    }
}

fn as_uint(v: &Value) -> Option<u64> {
    match v {
        Value::U8(x) => Some(*x as u64),
        Value::U16(x) => Some(*x as u64),
        Value::U32(x) => Some(*x as u64),
        Value::U64(x) => Some(*x),
        Value::I8(x) => u64::try_from(*x).ok(),
        Value::I16(x) => u64::try_from(*x).ok(),
        Value::I32(x) => u64::try_from(*x).ok(),
        Value::I64(x) => u64::try_from(*x).ok(),
        _ => None,
    }
}

/// Whether `path` names a GGUF file (by its extension).
pub fn is_gguf(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// Reads a GGUF file: config, dequantized tensors, tokenizer and template.
pub fn read(path: &Path) -> Result<GgufModel, super::Error> {
    read_parts(path, true)
}

/// Reads a GGUF file's config, tokenizer and template, not its tensors.
pub fn read_tokenizer(path: &Path) -> Result<GgufModel, super::Error> {
    read_parts(path, false)
}

fn read_parts(path: &Path, with_tensors: bool) -> Result<GgufModel, super::Error> {
    let read_err = |e: &dyn std::fmt::Display| GgufError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(|e| read_err(&e))?;
    let content = Content::read(&mut file).map_err(|e| read_err(&e))?;
    let meta = Meta {
        path,
        content: &content,
    };
    let config = config_json(&meta)?;
    let cfg = ModelConfig::from_json(&config)?;
    let mut tensors = BTreeMap::new();
    let specs = if with_tensors {
        parameter_specs(&cfg)
    } else {
        vec![]
    };
    for (hf_name, shape, _) in specs {
        let name = gguf_name(&hf_name);
        if !content.tensor_infos.contains_key(&name) {
            return Err(GgufError::MissingTensor {
                path: path.to_path_buf(),
                name,
                hf_name,
            }
            .into());
        }
        let t = content
            .tensor(&mut file, &name, &Device::Cpu)
            .and_then(|q| q.dequantize(&Device::Cpu))
            .map_err(|e| read_err(&format!("tensor {name}: {e}")))?;
        if t.dims() != shape.as_slice() {
            return Err(super::model::ModelError::Shape {
                name: hf_name,
                expected: shape,
                found: t.dims().to_vec(),
            }
            .into());
        }
        // Undo llama.cpp's row permutation of q/k (Llama only: Qwen2 GGUFs
        // keep HF's rotate-half layout).
        let heads = if hf_name.contains("self_attn.q_proj") {
            Some(cfg.num_attention_heads)
        } else if hf_name.contains("self_attn.k_proj") {
            Some(cfg.num_key_value_heads)
        } else {
            None
        };
        let t = match heads {
            Some(h) if cfg.arch == super::config::Arch::Llama => unpermute(&t, h)?,
            _ => t,
        };
        tensors.insert(hf_name, t);
    }
    let (tokenizer, tokenizer_config) = tokenizer_json(&meta, &config)?;
    Ok(GgufModel {
        path: path.to_path_buf(),
        config,
        tensors,
        tokenizer,
        tokenizer_config,
    })
}

/// The GGUF name of an HF parameter.
fn gguf_name(hf: &str) -> String {
    if let Some(rest) = hf.strip_prefix("model.layers.") {
        let (i, rest) = rest.split_once('.').unwrap_or((rest, ""));
        let (module, kind) = rest.rsplit_once('.').unwrap_or((rest, "weight"));
        let m = match module {
            "self_attn.q_proj" => "attn_q",
            "self_attn.k_proj" => "attn_k",
            "self_attn.v_proj" => "attn_v",
            "self_attn.o_proj" => "attn_output",
            "mlp.gate_proj" => "ffn_gate",
            "mlp.up_proj" => "ffn_up",
            "mlp.down_proj" => "ffn_down",
            "input_layernorm" => "attn_norm",
            "post_attention_layernorm" => "ffn_norm",
            other => other,
        };
        return format!("blk.{i}.{m}.{kind}");
    }
    match hf {
        "model.embed_tokens.weight" => "token_embd.weight".into(),
        "model.norm.weight" => "output_norm.weight".into(),
        "lm_head.weight" => "output.weight".into(),
        other => other.into(),
    }
}

/// llama.cpp's `permute` reversed: per head, rows `[pairs.., 2]` back to
/// `[2, pairs..]` (first halves then second halves, HF's rotate-half order).
fn unpermute(t: &Tensor, heads: usize) -> Result<Tensor, super::Error> {
    let dims = t.dims().to_vec();
    let rows = dims[0];
    if heads == 0 || !rows.is_multiple_of(2 * heads) {
        return Err(super::Error::Invalid(format!(
            "q/k rows {rows} are not a multiple of 2 x {heads} heads"
        )));
    }
    let mut shape = vec![heads, rows / heads / 2, 2];
    shape.extend_from_slice(&dims[1..]);
    Ok(t.reshape(shape)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)?)
}

/// config.json from the `<arch>.*` metadata.
fn config_json(meta: &Meta) -> Result<Json, GgufError> {
    let arch = meta
        .string("general.architecture")?
        .ok_or_else(|| GgufError::MissingKey {
            path: meta.path.to_path_buf(),
            key: "general.architecture".into(),
        })?;
    let (model_type, architecture) = match arch {
        "llama" => ("llama", "LlamaForCausalLM"),
        "qwen2" => ("qwen2", "Qwen2ForCausalLM"),
        other => {
            return Err(GgufError::Unsupported {
                path: meta.path.to_path_buf(),
                what: format!("architecture `{other}`"),
                supported: "llama, qwen2",
            })
        }
    };
    let k = |s: &str| format!("{arch}.{s}");
    if meta.content.tensor_infos.contains_key("rope_freqs.weight") {
        return Err(GgufError::Unsupported {
            path: meta.path.to_path_buf(),
            what: "RoPE frequency factors (`rope_freqs.weight`, Llama 3.1+ scaling)".into(),
            supported: "unscaled or linear RoPE",
        });
    }
    let hidden = meta.need_uint(&k("embedding_length"))?;
    let heads = meta.need_uint(&k("attention.head_count"))?;
    let tokens = match meta.need("tokenizer.ggml.tokens")? {
        Value::Array(xs) => xs.len() as u64,
        _ => return Err(meta.bad("tokenizer.ggml.tokens", "is not an array")),
    };
    let vocab = match meta.content.tensor_infos.get("token_embd.weight") {
        Some(info) => info.shape.dims()[0] as u64,
        None => meta.uint(&k("vocab_size"))?.unwrap_or(tokens),
    };
    let mut c = Map::new();
    c.insert("architectures".into(), json!([architecture]));
    c.insert("model_type".into(), json!(model_type));
    c.insert("hidden_act".into(), json!("silu"));
    c.insert("vocab_size".into(), json!(vocab));
    c.insert("hidden_size".into(), json!(hidden));
    c.insert(
        "intermediate_size".into(),
        json!(meta.need_uint(&k("feed_forward_length"))?),
    );
    c.insert(
        "num_hidden_layers".into(),
        json!(meta.need_uint(&k("block_count"))?),
    );
    c.insert("num_attention_heads".into(), json!(heads));
    c.insert(
        "num_key_value_heads".into(),
        json!(meta.uint(&k("attention.head_count_kv"))?.unwrap_or(heads)),
    );
    if let Some(d) = meta.uint(&k("attention.key_length"))? {
        c.insert("head_dim".into(), json!(d));
    }
    c.insert(
        "max_position_embeddings".into(),
        json!(meta.uint(&k("context_length"))?.unwrap_or(2048)),
    );
    c.insert(
        "rms_norm_eps".into(),
        // Stored as f32: 1e-5 reads back as 9.9999997e-6; round to 7
        // significant digits to get the value the converter was given.
        json!(meta
            .float(&k("attention.layer_norm_rms_epsilon"))?
            .map_or(1e-6, |e| format!("{e:.6e}").parse::<f64>().unwrap_or(e))),
    );
    c.insert(
        "rope_theta".into(),
        json!(meta.float(&k("rope.freq_base"))?.unwrap_or(10_000.0)),
    );
    match meta.string(&k("rope.scaling.type"))? {
        None | Some("none") => {}
        Some("linear") => {
            let f = meta.float(&k("rope.scaling.factor"))?.unwrap_or(1.0);
            c.insert(
                "rope_scaling".into(),
                json!({"rope_type": "linear", "factor": f}),
            );
        }
        Some(other) => {
            return Err(GgufError::Unsupported {
                path: meta.path.to_path_buf(),
                what: format!("rope scaling `{other}`"),
                supported: "none, linear",
            })
        }
    }
    let tied = !meta.content.tensor_infos.contains_key("output.weight");
    c.insert("tie_word_embeddings".into(), json!(tied));
    if arch == "llama" {
        let bias = meta.content.tensor_infos.contains_key("blk.0.attn_q.bias");
        c.insert("attention_bias".into(), json!(bias));
    }
    for (key, field) in [
        ("tokenizer.ggml.bos_token_id", "bos_token_id"),
        ("tokenizer.ggml.eos_token_id", "eos_token_id"),
        ("tokenizer.ggml.padding_token_id", "pad_token_id"),
    ] {
        if let Some(id) = meta.uint(key)? {
            c.insert(field.into(), json!(id));
        }
    }
    c.insert("torch_dtype".into(), json!("float32"));
    Ok(Json::Object(c))
}

/// tokenizer.json and tokenizer_config.json from `tokenizer.*`.
fn tokenizer_json(meta: &Meta, config: &Json) -> Result<(Json, Json), GgufError> {
    let kind = meta.string("tokenizer.ggml.model")?.unwrap_or("");
    if kind != "gpt2" {
        return Err(GgufError::Unsupported {
            path: meta.path.to_path_buf(),
            what: format!("tokenizer model `{kind}`"),
            supported: "gpt2 (byte-level BPE); SentencePiece GGUF tokenizers are not rebuilt",
        });
    }
    let tokens = meta.strings("tokenizer.ggml.tokens")?;
    let merges = meta.strings("tokenizer.ggml.merges")?;
    let types: Vec<u64> = match meta.get("tokenizer.ggml.token_type") {
        Some(Value::Array(xs)) => xs.iter().map(|x| as_uint(x).unwrap_or(1)).collect(),
        _ => vec![],
    };
    let pre = meta.string("tokenizer.ggml.pre")?.unwrap_or("default");
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |re: &str| json!({"type": "Split", "pattern": {"Regex": re}, "behavior": "Isolated", "invert": false});
    let (normalizer, pre_tokenizer) = match pre {
        "gpt2" | "default" => (Json::Null, byte_level(true)),
        // llama.cpp's smollm: every digit alone, then GPT-2's split.
        "smollm" => (
            Json::Null,
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true},
                byte_level(true)]}),
        ),
        "llama-bpe" | "llama3" => (
            Json::Null,
            json!({"type": "Sequence", "pretokenizers": [split(REGEX_LLAMA3), byte_level(false)]}),
        ),
        "qwen2" => (
            json!({"type": "NFC"}),
            json!({"type": "Sequence", "pretokenizers": [split(REGEX_QWEN2), byte_level(false)]}),
        ),
        other => {
            return Err(GgufError::Unsupported {
                path: meta.path.to_path_buf(),
                what: format!("pre-tokenizer `{other}`"),
                supported: PRE_TYPES,
            })
        }
    };
    let mut vocab = Map::new();
    let mut added = vec![];
    for (i, t) in tokens.iter().enumerate() {
        vocab.entry(t.clone()).or_insert(json!(i));
        // llama.cpp token types: 3 control (special), 4 user-defined.
        let ty = types.get(i).copied().unwrap_or(1);
        if ty == 3 || ty == 4 {
            added.push(
                json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": ty == 4, "special": ty == 3}),
            );
        }
    }
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
            "ignore_merges": false, "vocab": vocab, "merges": merges},
    });
    let token = |key: &str| -> Json {
        config
            .get(key)
            .and_then(Json::as_u64)
            .and_then(|i| tokens.get(i as usize))
            .map_or(Json::Null, |t| json!(t))
    };
    let mut tc = Map::new();
    tc.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    tc.insert("bos_token".into(), token("bos_token_id"));
    tc.insert("eos_token".into(), token("eos_token_id"));
    tc.insert("pad_token".into(), token("pad_token_id"));
    if let Some(unk) = meta
        .uint("tokenizer.ggml.unknown_token_id")?
        .and_then(|i| tokens.get(i as usize))
    {
        tc.insert("unk_token".into(), json!(unk));
    }
    tc.insert("clean_up_tokenization_spaces".into(), json!(false));
    tc.insert(
        "model_max_length".into(),
        config
            .get("max_position_embeddings")
            .cloned()
            .unwrap_or(Json::Null),
    );
    if let Some(t) = meta.string("tokenizer.chat_template")? {
        tc.insert("chat_template".into(), json!(t));
    }
    Ok((tokenizer, Json::Object(tc)))
}

/// The tokenizer files of a GGUF model written into `dir`.
fn write_json(dir: &Path, name: &str, v: &Json) -> Result<(), super::Error> {
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(v).map_err(|e| super::Error::Invalid(e.to_string()))?;
    std::fs::write(&path, text)
        .map_err(|e| super::Error::Invalid(format!("cannot write {}: {e}", path.display())))
}

impl GgufModel {
    /// Writes tokenizer.json and tokenizer_config.json into `dir`.
    pub fn write_tokenizer(&self, dir: &Path) -> Result<(), super::Error> {
        std::fs::create_dir_all(dir)
            .map_err(|e| super::Error::Invalid(format!("{}: {e}", dir.display())))?;
        write_json(dir, "tokenizer.json", &self.tokenizer)?;
        write_json(dir, "tokenizer_config.json", &self.tokenizer_config)
    }

    /// The tokenizer, from the JSON built from the metadata.
    pub fn load_tokenizer(&self) -> Result<super::tokenizer::Tokenizer, super::Error> {
        Ok(super::tokenizer::Tokenizer::from_json(&self.tokenizer)?)
    }

    /// The chat template (and its special tokens) from the metadata.
    pub fn chat_template(&self) -> Result<super::chat_template::ChatTemplate, super::Error> {
        Ok(super::chat_template::ChatTemplate::from_tokenizer_config(
            &self.tokenizer_config,
            &self.path,
        )?)
    }
}

/// Converts a GGUF file into an HF-layout directory: config.json,
/// model.safetensors (f32: the dequantized values exactly),
/// tokenizer.json and tokenizer_config.json.
pub fn convert(path: &Path, dir: &Path) -> Result<(), super::Error> {
    let g = read(path)?;
    let cfg = ModelConfig::from_json(&g.config)?;
    let model = super::model::Model::from_tensors(cfg, g.tensors.clone(), &Device::Cpu)?;
    model.save_hf(dir, candle_core::DType::F32)?;
    g.write_tokenizer(dir)
}

/// A tiny GGUF file written as llama.cpp's converter writes one, for tests
/// (unit and integration) that need a GGUF without shipping one.
#[doc(hidden)]
pub mod fixture {
    use super::gguf_name;
    use crate::runtime::config::ModelConfig;
    use crate::runtime::model::Model;
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    use candle_core::{DType, Device, Tensor};
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// A byte-level vocabulary: the 256 byte symbols, a few merges (one of
    /// them joins two digits), and three ChatML control tokens.
    fn vocab() -> (Vec<String>, Vec<String>, Vec<u32>) {
        let mut tokens: Vec<String> = vec!["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
            .into_iter()
            .map(String::from)
            .collect();
        let mut types = vec![3u32; 3];
        let mut bytes: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
            .into_iter()
            .collect();
        bytes.sort_unstable();
        for c in bytes {
            tokens.push(c.to_string());
            types.push(1);
        }
        let merges = ["h e", "l l", "he ll", "1 2", "Ġ w"];
        for m in merges {
            tokens.push(m.replace(' ', ""));
            types.push(1);
        }
        // Pad to a multiple of 32 rows (no constraint on rows; tidy).
        (
            tokens,
            merges.iter().map(|s| s.to_string()).collect(),
            types,
        )
    }

    fn tiny_config(vocab: usize) -> ModelConfig {
        ModelConfig::from_json(&json!({
            "model_type": "llama", "vocab_size": vocab, "hidden_size": 64,
            "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0, "tie_word_embeddings": true,
            "bos_token_id": 1, "eos_token_id": 2,
        }))
        .unwrap()
    }

    /// llama.cpp's `permute` (convert_hf_to_gguf.py) of q/k rows.
    pub fn permute(t: &Tensor, heads: usize) -> Tensor {
        let dims = t.dims().to_vec();
        let mut shape = vec![heads, 2, dims[0] / heads / 2];
        shape.extend_from_slice(&dims[1..]);
        t.reshape(shape)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
            .reshape(dims)
            .unwrap()
    }

    /// Writes a random tiny Llama as llama.cpp's converter would (q/k rows
    /// permuted, matrices Q4_1, norms F32, byte-level BPE metadata with the
    /// `pre` pre-tokenizer) and returns the HF tensors it stands for (each
    /// matrix as its Q4_1 round trip).
    pub fn write_tiny(path: &Path, pre: &str) -> BTreeMap<String, Tensor> {
        let (tokens, merges, types) = vocab();
        let cfg = tiny_config(tokens.len());
        let model = Model::init_random(cfg.clone(), 7, &Device::Cpu, DType::F32).unwrap();
        let mut expected = BTreeMap::new();
        let mut qts = vec![];
        for (name, t) in model.named_tensors() {
            // Larger weights than HF's init so the logits vary visibly.
            let t = (t * 4.0).unwrap();
            let stored = match name.as_str() {
                n if n.contains("q_proj") => permute(&t, cfg.num_attention_heads),
                n if n.contains("k_proj") => permute(&t, cfg.num_key_value_heads),
                _ => t.clone(),
            };
            let ty = if t.rank() == 2 {
                GgmlDType::Q4_1
            } else {
                GgmlDType::F32
            };
            let q = QTensor::quantize(&stored, ty).unwrap();
            let back = QTensor::quantize(&t, ty)
                .unwrap()
                .dequantize(&Device::Cpu)
                .unwrap();
            expected.insert(name.clone(), back);
            qts.push((gguf_name(&name), q));
        }
        let s = |x: &str| gguf_file::Value::String(x.into());
        let strs = |xs: &[String]| {
            gguf_file::Value::Array(
                xs.iter()
                    .map(|x| gguf_file::Value::String(x.clone()))
                    .collect(),
            )
        };
        let template = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
        let meta: Vec<(&str, gguf_file::Value)> = vec![
            ("general.architecture", s("llama")),
            ("llama.block_count", gguf_file::Value::U32(2)),
            ("llama.context_length", gguf_file::Value::U32(128)),
            ("llama.embedding_length", gguf_file::Value::U32(64)),
            ("llama.feed_forward_length", gguf_file::Value::U32(128)),
            ("llama.attention.head_count", gguf_file::Value::U32(4)),
            ("llama.attention.head_count_kv", gguf_file::Value::U32(2)),
            ("llama.rope.freq_base", gguf_file::Value::F32(10000.0)),
            (
                "llama.attention.layer_norm_rms_epsilon",
                gguf_file::Value::F32(1e-5),
            ),
            ("tokenizer.ggml.model", s("gpt2")),
            ("tokenizer.ggml.pre", s(pre)),
            ("tokenizer.ggml.tokens", strs(&tokens)),
            ("tokenizer.ggml.merges", strs(&merges)),
            (
                "tokenizer.ggml.token_type",
                gguf_file::Value::Array(types.into_iter().map(gguf_file::Value::U32).collect()),
            ),
            ("tokenizer.ggml.bos_token_id", gguf_file::Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", gguf_file::Value::U32(2)),
            ("tokenizer.chat_template", s(template)),
        ];
        let meta_refs: Vec<(&str, &gguf_file::Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
        let q_refs: Vec<(&str, &QTensor)> = qts.iter().map(|(n, q)| (n.as_str(), q)).collect();
        let mut f = std::fs::File::create(path).unwrap();
        gguf_file::write(&mut f, &meta_refs, &q_refs).unwrap();
        expected
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::{permute, write_tiny};
    use super::*;
    use crate::runtime::config::{Arch, ModelConfig};
    use crate::runtime::loader::{LoadOptions, LoadedModel};
    use crate::runtime::model::Model;

    use crate::runtime::testutil::max_diff;

    #[test]
    fn a_converted_llama_reads_back_as_its_hf_tensors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        let expected = write_tiny(&path, "smollm");
        let g = read(&path).unwrap();
        let cfg = ModelConfig::from_json(&g.config).unwrap();
        assert_eq!(cfg.arch, Arch::Llama);
        assert_eq!((cfg.num_attention_heads, cfg.num_key_value_heads), (4, 2));
        assert!(cfg.tie_word_embeddings);
        assert_eq!(cfg.rms_norm_eps, 1e-5);
        assert_eq!(g.tensors.len(), expected.len());
        for (name, want) in &expected {
            let got = &g.tensors[name];
            assert_eq!(got.dims(), want.dims(), "{name}");
            assert_eq!(max_diff(got, want), 0.0, "{name}");
        }
        // The same weights as a model: identical logits.
        let ids = Tensor::new(&[[5u32, 9, 40, 77, 3]], &Device::Cpu).unwrap();
        let reference = Model::from_tensors(cfg.clone(), expected, &Device::Cpu).unwrap();
        let loaded = LoadedModel::load(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let a = reference
            .forward(&ids, None, crate::runtime::model::Mode::Infer)
            .unwrap();
        let b = loaded
            .model()
            .forward(&ids, None, crate::runtime::model::Mode::Infer)
            .unwrap();
        assert!(max_diff(&a, &b) < 1e-4, "{}", max_diff(&a, &b));
        assert!(max_diff(&a, &Tensor::zeros_like(&a).unwrap()) > 1e-2);
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        let t = Tensor::arange(0f32, 48.0, &Device::Cpu)
            .unwrap()
            .reshape((12, 4))
            .unwrap();
        let p = permute(&t, 3);
        assert!(max_diff(&p, &t) > 0.0);
        assert_eq!(max_diff(&unpermute(&p, 3).unwrap(), &t), 0.0);
    }

    #[test]
    fn the_tokenizer_and_template_come_from_the_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let (smol, gpt2) = (dir.path().join("s.gguf"), dir.path().join("g.gguf"));
        write_tiny(&smol, "smollm");
        write_tiny(&gpt2, "gpt2");
        let m = LoadedModel::load(smol.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let t = m.tokenizer();
        // smollm splits every digit; gpt2 keeps "12" for its merge.
        assert_eq!(t.encode("12").unwrap().len(), 2);
        let g = LoadedModel::load(gpt2.to_str().unwrap(), &LoadOptions::default()).unwrap();
        assert_eq!(g.tokenizer().encode("12").unwrap().len(), 1);
        let ids = t.encode("<|im_start|>hello world<|im_end|>").unwrap();
        assert_eq!(ids[0], 1);
        assert_eq!(*ids.last().unwrap(), 2);
        assert!(t.is_special(1) && t.is_special(2));
        assert_eq!(
            t.decode(&ids, false).unwrap(),
            "<|im_start|>hello world<|im_end|>"
        );
        let text = m
            .chat_template()
            .render(&[crate::runtime::chat_template::Message::user("hi")], true)
            .unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(m.stop_ids().contains(&2), "{:?}", m.stop_ids());
        // Saved as an HF directory, the same model loads the ordinary way.
        let out = dir.path().join("hf");
        m.save_pretrained(&out).unwrap();
        let back = LoadedModel::load(out.to_str().unwrap(), &LoadOptions::default()).unwrap();
        assert_eq!(
            back.tokenizer().encode("12 hello").unwrap(),
            t.encode("12 hello").unwrap()
        );
        let ids = Tensor::new(&[[5u32, 9, 40]], &Device::Cpu).unwrap();
        let (a, b) = (
            m.model()
                .forward(&ids, None, crate::runtime::model::Mode::Infer)
                .unwrap(),
            back.model()
                .forward(&ids, None, crate::runtime::model::Mode::Infer)
                .unwrap(),
        );
        assert_eq!(max_diff(&a, &b), 0.0);
    }

    #[test]
    fn unsupported_files_are_named_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.gguf");
        write_tiny(&path, "deepseek-coder");
        let e = read(&path).unwrap_err().to_string();
        assert!(
            e.contains("pre-tokenizer `deepseek-coder`") && e.contains("smollm"),
            "{e}"
        );
        let junk = dir.path().join("junk.gguf");
        std::fs::write(&junk, b"not a gguf file at all").unwrap();
        let e = read(&junk).unwrap_err().to_string();
        assert!(e.contains("cannot read GGUF file"), "{e}");
    }
}

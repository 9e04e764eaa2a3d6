//! The decoder shared by Llama 3.x, Qwen2/2.5 and SmolLM2: token embedding,
//! N x (RMSNorm -> GQA attention with RoPE -> RMSNorm -> SwiGLU MLP), final
//! RMSNorm, tied or untied lm_head.
//!
//! Two paths through the same weights:
//! - [`Mode::Train`]: only differentiable ops: the fused CPU kernels of
//!   `runtime::kernels` (hand-written backward, no frozen-weight gradient) for
//!   unpadded batches, the plain candle compositions otherwise (a rope written
//!   with tensor ops, `ops::softmax`); LoRA dropout is active. Candle's fused
//!   ops have no backward and would stop gradients silently.
//! - [`Mode::Infer`]: fused kernels (`ops::rms_norm`, `rotary_emb::rope`,
//!   `softmax_last_dim`) and an optional preallocated KV cache.
//!
//! Positions are per row (`cumsum(attention_mask) - 1`), so a left-padded
//! row gives the same logits as the unpadded sequence.

use super::config::{ModelConfig, RopeScaling};
use super::lora::LoraLayer;
pub use super::weights::{parameter_specs, weight_files, Init};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::kv_cache::KvCache;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Which kernels a forward pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Differentiable ops only; LoRA dropout on.
    Train,
    /// Fused kernels, no dropout. Gradients do not flow through this path.
    Infer,
}

/// Why a model cannot be built, loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    #[error("no model.safetensors or model.safetensors.index.json in {dir}")]
    NoWeights { dir: PathBuf },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("tensor `{name}` is missing from the checkpoint in {dir}")]
    MissingTensor { name: String, dir: PathBuf },
    #[error("tensor `{name}` has shape {found:?}, the config implies {expected:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("sequence of {len} positions exceeds max_position_embeddings = {max}")]
    TooLong { len: usize, max: usize },
    #[error("LoRA: {0}")]
    Lora(String),
    #[error("tensor error: {0}")]
    Tensor(String),
}

impl From<candle_core::Error> for ModelError {
    fn from(e: candle_core::Error) -> Self {
        ModelError::Tensor(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, ModelError>;

/// The dtype the runtime uses on a device: f32 on CPU (bf16 matmul is slower
/// there), bf16 on CUDA, f16 on Metal.
pub fn default_dtype(device: &Device) -> DType {
    match device {
        Device::Cpu => DType::F32,
        Device::Cuda(_) => DType::BF16,
        Device::Metal(_) => DType::F16,
    }
}

/// A projection `y = x W^T (+ b) (+ LoRA)`.
#[derive(Debug, Clone)]
pub struct Linear {
    pub(crate) weight: Tensor,
    pub(crate) bias: Option<Tensor>,
    pub(crate) lora: Option<LoraLayer>,
}

/// `t` in `dtype`: a no-op (the same tensor) when it already is. Trainable
/// weights are f32 master copies; with bf16 compute (CUDA) every use casts
/// them, differentiably, as PyTorch's autocast does.
pub(crate) fn cast(t: &Tensor, dtype: DType) -> Result<Tensor> {
    Ok(t.to_dtype(dtype)?)
}

impl Linear {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let w = cast(&self.weight, x.dtype())?;
        let bias = self.bias.as_ref().map(|b| cast(b, x.dtype())).transpose()?;
        // Fused on CPU: one gemm without transposes, and no gradient for a
        // frozen weight.
        let Some(lora) = &self.lora else {
            // Over all leading dimensions: no reshape nodes, whose backward
            // costs a zeroed buffer and an add each.
            return Ok(super::kernels::linear(x, &w, bias.as_ref())?);
        };
        // With an adapter, the base and adapter products read one 2-d view
        // of `x`, so their input gradients are summed there first and reach
        // `x` as one, in the order adapters have always trained with (the
        // same bits as before the reshape-free path above existed).
        let (b, t, i) = x.dims3()?;
        let x2 = x.reshape((b * t, i))?;
        let y = (super::kernels::linear(&x2, &w, bias.as_ref())? + lora.forward(&x2, mode)?)?;
        Ok(y.reshape((b, t, ()))?)
    }
}

fn rms_norm(x: &Tensor, w: &Tensor, eps: f64, mode: Mode) -> Result<Tensor> {
    let w = &cast(w, x.dtype())?;
    if mode == Mode::Train && !x.device().is_cpu() {
        // As transformers' LlamaRMSNorm: statistics in f32, differentiable.
        let x32 = x.to_dtype(DType::F32)?;
        let ms = x32.sqr()?.mean_keepdim(D::Minus1)?;
        let y = x32.broadcast_div(&(ms + eps)?.sqrt()?)?;
        return Ok(y.to_dtype(x.dtype())?.broadcast_mul(w)?);
    }
    Ok(match mode {
        Mode::Train => super::kernels::rms_norm(x, w, eps)?,
        Mode::Infer => candle_nn::ops::rms_norm(&x.contiguous()?, w, eps as f32)?,
    })
}

/// cos/sin for the positions of one batch, shape (b, t, head_dim / 2).
struct Rope {
    cos: Tensor,
    sin: Tensor,
    /// Every row has positions 0..t and no padding before its tokens, so
    /// the mask is plain causal (the fused training path applies).
    causal_only: bool,
}

impl Rope {
    fn apply(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        Ok(match mode {
            Mode::Infer => candle_nn::rotary_emb::rope(&x.contiguous()?, &self.cos, &self.sin)?,
            Mode::Train => {
                // x * cos + rotate_half(x) * sin, with (b, 1, t, d) tables.
                let cos = Tensor::cat(&[&self.cos, &self.cos], D::Minus1)?.unsqueeze(1)?;
                let sin = Tensor::cat(&[&self.sin, &self.sin], D::Minus1)?.unsqueeze(1)?;
                let half = x.dim(D::Minus1)? / 2;
                let x1 = x.narrow(D::Minus1, 0, half)?;
                let x2 = x.narrow(D::Minus1, half, half)?;
                let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
                (x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?
            }
        })
    }
}

/// Longest sequence a model runs (RoPE tables are built up to it): Llama
/// 3.1's context, far beyond what fits in memory on the machines inoc
/// trains and samples on.
pub const ROPE_TABLE_MAX: usize = 1 << 17;

/// Inverse frequencies as transformers computes them (incl. llama3 scaling).
fn inv_freqs(cfg: &ModelConfig) -> Vec<f64> {
    let d = cfg.head_dim;
    let base: Vec<f64> = (0..d / 2)
        .map(|i| 1.0 / cfg.rope_theta.powf((2 * i) as f64 / d as f64))
        .collect();
    match &cfg.rope_scaling {
        None => base,
        Some(RopeScaling::Linear { factor }) => base.iter().map(|f| f / factor).collect(),
        Some(RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) => {
            let old = *original_max_position_embeddings as f64;
            let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
            base.iter()
                .map(|&f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < high_wavelen {
                        f
                    } else if wavelen > low_wavelen {
                        f / factor
                    } else {
                        let smooth = (old / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .collect()
        }
    }
}

#[derive(Debug, Clone)]
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn forward(
        &self,
        x: &Tensor,
        rope: &Rope,
        mask: &Tensor,
        cache: Option<&mut KvCache>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (h, kvh, d) = (self.heads, self.kv_heads, self.head_dim);
        // (CPU only: elsewhere the general path below, whose GQA needs no
        // K/V copies and whose softmax runs in f32, is the better one.)
        if mode == Mode::Train && cache.is_none() && rope.causal_only && x.device().is_cpu() {
            // Training on unpadded / right-padded rows: every row has positions
            // 0..t and a plain causal mask, so the fused kernels apply; they
            // read the projections' (b, t, heads * d) outputs as they are (no
            // transposes, no reshape nodes).
            let q = self.q.forward(x, mode)?;
            let k = self.k.forward(x, mode)?;
            let v = self.v.forward(x, mode)?;
            let (cos, sin) = (rope.cos.get(0)?, rope.sin.get(0)?);
            let q = super::kernels::rope_heads(&q, d, &cos, &sin)?;
            let k = super::kernels::rope_heads(&k, d, &cos, &sin)?;
            let y = super::kernels::causal_attention_heads(&q, &k, &v, d, 1.0 / (d as f64).sqrt())?;
            return self.o.forward(&y, mode);
        }
        let cache = match cache {
            // CPU decoding: RoPE, the cache append and attention fused
            // (runtime::infer); candle's composition below otherwise.
            Some(c) if mode == Mode::Infer && super::infer::applies(x) => {
                let y = super::infer::attention(
                    &self.q.forward(x, mode)?,
                    &self.k.forward(x, mode)?,
                    &self.v.forward(x, mode)?,
                    &rope.cos,
                    &rope.sin,
                    mask,
                    c,
                    super::infer::Heads {
                        heads: h,
                        kv_heads: kvh,
                        head_dim: d,
                    },
                )?;
                return self.o.forward(&y, mode);
            }
            c => c,
        };
        let split = |y: Tensor, n: usize| -> Result<Tensor> {
            Ok(y.reshape((b, t, n, d))?.transpose(1, 2)?.contiguous()?)
        };
        let q = rope.apply(&split(self.q.forward(x, mode)?, h)?, mode)?;
        let k = rope.apply(&split(self.k.forward(x, mode)?, kvh)?, mode)?;
        let v = split(self.v.forward(x, mode)?, kvh)?;
        let (k, v) = match cache {
            Some(c) => {
                let (k, v) = c.append(&k.contiguous()?, &v.contiguous()?)?;
                // On CPU matmul reads the cache views strided (no copy);
                // GPU kernels get contiguous operands.
                match k.device() {
                    Device::Cpu => (k, v),
                    _ => (k.contiguous()?, v.contiguous()?),
                }
            }
            None => (k, v),
        };
        let s = k.dim(2)?;
        // Grouped-query attention without copying K/V: the n_rep query heads
        // that share a K/V head are stacked along the query axis.
        let n_rep = h / kvh;
        let q = q.reshape((b, kvh, n_rep * t, d))?;
        let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?;
        let scores = scores
            .reshape((b, kvh, n_rep, t, s))?
            .to_dtype(DType::F32)?
            .broadcast_add(mask)?;
        let probs = match mode {
            Mode::Train => candle_nn::ops::softmax(&scores, D::Minus1)?,
            Mode::Infer => candle_nn::ops::softmax_last_dim(&scores)?,
        };
        let probs = probs.to_dtype(v.dtype())?.reshape((b, kvh, n_rep * t, s))?;
        let y = probs
            .matmul(&v)?
            .reshape((b, h, t, d))?
            .transpose(1, 2)?
            .reshape((b, t, h * d))?;
        self.o.forward(&y, mode)
    }
}

#[derive(Debug, Clone)]
struct Mlp {
    gate: Linear,
    up: Linear,
    down: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let h = super::kernels::silu_mul(&self.gate.forward(x, mode)?, &self.up.forward(x, mode)?)?;
        self.down.forward(&h, mode)
    }
}

#[derive(Debug, Clone)]
struct Block {
    input_norm: Tensor,
    attn: Attention,
    post_norm: Tensor,
    mlp: Mlp,
}

/// Per-layer KV caches plus each row's key mask and next position, for
/// incremental decoding of a (possibly padded) batch.
#[derive(Debug, Clone)]
pub struct KvState {
    caches: Vec<KvCache>,
    key_valid: Vec<Vec<bool>>,
    next_pos: Vec<u32>,
}

impl KvState {
    /// Number of positions (padding included) already in the cache.
    pub fn len(&self) -> usize {
        self.key_valid.first().map_or(0, Vec::len)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `row` of this state repeated `n` times, with room for `extra`
    /// more positions: `n` continuations of one prefix that share its
    /// prefill.
    pub fn fork(&self, row: usize, n: usize, extra: usize) -> Result<KvState> {
        let mut caches = Vec::with_capacity(self.caches.len());
        for c in &self.caches {
            let mut forked = KvCache::new(2, self.len() + extra.max(1));
            if let (Some(k), Some(v)) = (c.k()?, c.v()?) {
                let rep = |t: Tensor| -> Result<Tensor> {
                    Ok(t.narrow(0, row, 1)?.repeat((n, 1, 1, 1))?.contiguous()?)
                };
                forked.append(&rep(k)?, &rep(v)?)?;
            }
            caches.push(forked);
        }
        Ok(KvState {
            caches,
            key_valid: vec![self.key_valid[row].clone(); n],
            next_pos: vec![self.next_pos[row]; n],
        })
    }
}

/// A Llama/Qwen2-family causal language model.
#[derive(Debug, Clone)]
pub struct Model {
    cfg: ModelConfig,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    /// `None` when tied to the embedding.
    lm_head: Option<Tensor>,
    cos_table: Tensor,
    sin_table: Tensor,
    dtype: DType,
    device: Device,
    lora: Option<super::lora::LoraConfig>,
}

impl Model {
    /// Builds a model from tensors named as in HF checkpoints. Shapes are
    /// checked against the config; extra names are ignored.
    pub fn from_tensors(
        cfg: ModelConfig,
        mut map: BTreeMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self> {
        for (name, shape, _) in parameter_specs(&cfg) {
            match map.get(&name) {
                None => {
                    return Err(ModelError::MissingTensor {
                        name,
                        dir: PathBuf::from("<tensors>"),
                    })
                }
                Some(t) if t.dims() != shape.as_slice() => {
                    return Err(ModelError::Shape {
                        name,
                        expected: shape,
                        found: t.dims().to_vec(),
                    })
                }
                Some(_) => {}
            }
        }
        let mut take = |name: &str| {
            map.remove(name).ok_or_else(|| ModelError::MissingTensor {
                name: name.to_string(),
                dir: PathBuf::from("<tensors>"),
            })
        };
        let embed = take("model.embed_tokens.weight")?;
        let dtype = embed.dtype();
        let mut blocks = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let mut lin = |name: String, bias: bool| -> Result<Linear> {
                Ok(Linear {
                    weight: take(&format!("{name}.weight"))?,
                    bias: if bias {
                        Some(take(&format!("{name}.bias"))?)
                    } else {
                        None
                    },
                    lora: None,
                })
            };
            let attn = Attention {
                q: lin(format!("{p}.self_attn.q_proj"), cfg.qkv_bias)?,
                k: lin(format!("{p}.self_attn.k_proj"), cfg.qkv_bias)?,
                v: lin(format!("{p}.self_attn.v_proj"), cfg.qkv_bias)?,
                o: lin(format!("{p}.self_attn.o_proj"), cfg.o_bias)?,
                heads: cfg.num_attention_heads,
                kv_heads: cfg.num_key_value_heads,
                head_dim: cfg.head_dim,
            };
            let mlp = Mlp {
                gate: lin(format!("{p}.mlp.gate_proj"), cfg.mlp_bias)?,
                up: lin(format!("{p}.mlp.up_proj"), cfg.mlp_bias)?,
                down: lin(format!("{p}.mlp.down_proj"), cfg.mlp_bias)?,
            };
            blocks.push(Block {
                input_norm: take(&format!("{p}.input_layernorm.weight"))?,
                attn,
                post_norm: take(&format!("{p}.post_attention_layernorm.weight"))?,
                mlp,
            });
        }
        let norm = take("model.norm.weight")?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(take("lm_head.weight")?)
        };
        let freqs: Vec<f32> = inv_freqs(&cfg).into_iter().map(|f| f as f32).collect();
        let half = freqs.len();
        // The tables cover the positions a sequence may use, up to
        // ROPE_TABLE_MAX: a config.json with `max_position_embeddings = 10^12`
        // must not allocate terabytes.
        let max = cfg.max_position_embeddings.min(ROPE_TABLE_MAX);
        // As transformers: inv_freq in f32, angles = position * inv_freq in f32.
        let angles: Vec<f32> = (0..max)
            .flat_map(|p| freqs.iter().map(move |f| p as f32 * f))
            .collect();
        let angles = Tensor::from_vec(angles, (max, half), device)?;
        Ok(Model {
            cos_table: angles.cos()?.to_dtype(dtype)?,
            sin_table: angles.sin()?.to_dtype(dtype)?,
            cfg,
            embed,
            blocks,
            norm,
            lm_head,
            dtype,
            device: device.clone(),
            lora: None,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Longest sequence this model runs: `max_position_embeddings`, at most
    /// [`ROPE_TABLE_MAX`].
    pub fn max_positions(&self) -> usize {
        self.cfg.max_position_embeddings.min(ROPE_TABLE_MAX)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The attached LoRA adapter's config, if any.
    pub fn lora_config(&self) -> Option<&super::lora::LoraConfig> {
        self.lora.as_ref()
    }
    pub(crate) fn set_lora_config(&mut self, cfg: Option<super::lora::LoraConfig>) {
        self.lora = cfg;
    }

    pub(crate) fn linears(&self) -> Vec<(String, &Linear)> {
        let mut out = vec![];
        for (i, b) in self.blocks.iter().enumerate() {
            let p = format!("model.layers.{i}");
            for (n, l) in [
                ("q_proj", &b.attn.q),
                ("k_proj", &b.attn.k),
                ("v_proj", &b.attn.v),
                ("o_proj", &b.attn.o),
            ] {
                out.push((format!("{p}.self_attn.{n}"), l));
            }
            for (n, l) in [
                ("gate_proj", &b.mlp.gate),
                ("up_proj", &b.mlp.up),
                ("down_proj", &b.mlp.down),
            ] {
                out.push((format!("{p}.mlp.{n}"), l));
            }
        }
        out
    }

    /// Every projection with its HF module name (`model.layers.3.mlp.up_proj`).
    pub(crate) fn linears_mut(&mut self) -> Vec<(String, &mut Linear)> {
        let mut out = vec![];
        for (i, b) in self.blocks.iter_mut().enumerate() {
            let p = format!("model.layers.{i}");
            let Attention { q, k, v, o, .. } = &mut b.attn;
            for (n, l) in [("q_proj", q), ("k_proj", k), ("v_proj", v), ("o_proj", o)] {
                out.push((format!("{p}.self_attn.{n}"), l));
            }
            let Mlp { gate, up, down } = &mut b.mlp;
            for (n, l) in [("gate_proj", gate), ("up_proj", up), ("down_proj", down)] {
                out.push((format!("{p}.mlp.{n}"), l));
            }
        }
        out
    }

    /// The base weights under their HF names, in checkpoint order (LoRA
    /// tensors excluded; see `lora`). With tied embeddings there is no
    /// `lm_head.weight`.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("model.embed_tokens.weight".to_string(), self.embed.clone())];
        let lin = self.linears();
        for (i, b) in self.blocks.iter().enumerate() {
            for (name, l) in lin.iter().skip(7 * i).take(7) {
                if let Some(bias) = &l.bias {
                    out.push((format!("{name}.bias"), bias.clone()));
                }
                out.push((format!("{name}.weight"), l.weight.clone()));
            }
            let p = format!("model.layers.{i}");
            out.push((format!("{p}.input_layernorm.weight"), b.input_norm.clone()));
            out.push((
                format!("{p}.post_attention_layernorm.weight"),
                b.post_norm.clone(),
            ));
        }
        out.push(("model.norm.weight".into(), self.norm.clone()));
        if let Some(h) = &self.lm_head {
            out.push(("lm_head.weight".into(), h.clone()));
        }
        out
    }

    /// Turns every base weight into a trainable [`Var`] (full finetuning) and
    /// returns them under their HF names. Updating a returned `Var` in place
    /// (`Var::set`) updates the model. Calling it twice returns the same vars.
    /// The vars are f32 whatever the model's dtype (master weights, as mixed
    /// precision training in PyTorch keeps them); a bf16 model computes with
    /// bf16 casts of them.
    pub fn make_trainable(&mut self) -> Result<Vec<(String, Var)>> {
        let mut vars = vec![];
        let mut conv = |name: String, t: &mut Tensor| -> Result<()> {
            let v = Var::from_tensor(&t.to_dtype(DType::F32)?)?;
            *t = v.as_tensor().clone();
            vars.push((name, v));
            Ok(())
        };
        conv("model.embed_tokens.weight".into(), &mut self.embed)?;
        let n = self.blocks.len();
        for (name, l) in self.linears_mut() {
            if let Some(b) = &mut l.bias {
                conv(format!("{name}.bias"), b)?;
            }
            conv(format!("{name}.weight"), &mut l.weight)?;
        }
        for (i, b) in self.blocks.iter_mut().enumerate().take(n) {
            conv(
                format!("model.layers.{i}.input_layernorm.weight"),
                &mut b.input_norm,
            )?;
            conv(
                format!("model.layers.{i}.post_attention_layernorm.weight"),
                &mut b.post_norm,
            )?;
        }
        conv("model.norm.weight".into(), &mut self.norm)?;
        if let Some(h) = &mut self.lm_head {
            conv("lm_head.weight".into(), h)?;
        }
        Ok(vars)
    }

    /// Rope tables for the given per-row positions, shape (b, t, head_dim/2).
    fn rope_for(&self, positions: &[Vec<u32>]) -> Result<Rope> {
        let (b, t) = (positions.len(), positions.first().map_or(0, Vec::len));
        let max = self.cos_table.dim(0)?;
        if let Some(&p) = positions.iter().flatten().max() {
            if p as usize >= max {
                return Err(ModelError::TooLong {
                    len: p as usize + 1,
                    max,
                });
            }
        }
        let flat: Vec<u32> = positions.iter().flatten().copied().collect();
        let idx = Tensor::from_vec(flat, b * t, &self.device)?;
        let half = self.cfg.head_dim / 2;
        let causal_only = positions
            .iter()
            .all(|r| r.iter().enumerate().all(|(i, &p)| p as usize == i));
        Ok(Rope {
            causal_only,
            cos: self
                .cos_table
                .index_select(&idx, 0)?
                .reshape((b, t, half))?,
            sin: self
                .sin_table
                .index_select(&idx, 0)?
                .reshape((b, t, half))?,
        })
    }

    /// Final hidden states (after the last norm), shape (b, t, hidden).
    /// `attention_mask` is (b, t) with 1 for tokens and 0 for padding (left or
    /// right); `None` means no padding. Differentiable in [`Mode::Train`].
    pub fn hidden_states(
        &self,
        ids: &Tensor,
        attention_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let valid = mask_rows(attention_mask, b, t)?;
        let positions: Vec<Vec<u32>> = valid.iter().map(|r| positions_of(r, 0)).collect();
        let mut bias = vec![0f32; b * t * t];
        for (r, row) in valid.iter().enumerate() {
            for i in 0..t {
                for j in 0..t {
                    if j > i || !row[j] {
                        bias[(r * t + i) * t + j] = MASKED;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(bias, (b, 1, 1, t, t), &self.device)?;
        let mut rope = self.rope_for(&positions)?;
        rope.causal_only &= valid.iter().all(|r| r.iter().all(|v| *v));
        self.run_blocks(ids, &rope, &mask, None, mode)
    }

    fn run_blocks(
        &self,
        ids: &Tensor,
        rope: &Rope,
        mask: &Tensor,
        mut caches: Option<&mut [KvCache]>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let mut x = self
            .embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, ()))?;
        x = cast(&x, self.dtype)?;
        for (i, blk) in self.blocks.iter().enumerate() {
            let cache = caches.as_deref_mut().map(|c| &mut c[i]);
            let h = rms_norm(&x, &blk.input_norm, self.cfg.rms_norm_eps, mode)?;
            x = (x + blk.attn.forward(&h, rope, mask, cache, mode)?)?;
            let h = rms_norm(&x, &blk.post_norm, self.cfg.rms_norm_eps, mode)?;
            x = (x + blk.mlp.forward(&h, mode)?)?;
        }
        rms_norm(&x, &self.norm, self.cfg.rms_norm_eps, mode)
    }

    /// Logits (f32) for hidden states of shape (..., hidden), shape
    /// (..., vocab).
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        let w = cast(self.lm_head.as_ref().unwrap_or(&self.embed), hidden.dtype())?;
        // `linear` keeps the leading dimensions: no reshape nodes, whose
        // backward would zero and add a logits-sized buffer each.
        Ok(super::kernels::linear(hidden, &w, None)?.to_dtype(DType::F32)?)
    }

    /// Logits (b, t, vocab) in f32 for a padded batch.
    pub fn forward(
        &self,
        ids: &Tensor,
        attention_mask: Option<&Tensor>,
        mode: Mode,
    ) -> Result<Tensor> {
        self.logits(&self.hidden_states(ids, attention_mask, mode)?)
    }

    /// An empty KV cache for `batch` rows, preallocated for `capacity`
    /// positions (it grows if exceeded).
    pub fn new_kv_state(&self, batch: usize, capacity: usize) -> KvState {
        KvState {
            caches: (0..self.blocks.len())
                .map(|_| KvCache::new(2, capacity.max(1)))
                .collect(),
            key_valid: vec![vec![]; batch],
            next_pos: vec![0; batch],
        }
    }

    /// Appends `ids` (b, q) to the cache and returns logits (f32) for the new
    /// positions: (b, q, vocab), or (b, vocab) for the last one only when
    /// `last_only`. Inference path (fused kernels).
    pub fn forward_cached(
        &self,
        ids: &Tensor,
        attention_mask: Option<&Tensor>,
        state: &mut KvState,
        last_only: bool,
    ) -> Result<Tensor> {
        let (b, q) = ids.dims2()?;
        if state.key_valid.len() != b {
            return Err(ModelError::Tensor(format!(
                "KV state has {} rows, batch has {b}",
                state.key_valid.len()
            )));
        }
        let valid = mask_rows(attention_mask, b, q)?;
        let past = state.len();
        let s = past + q;
        let mut positions = Vec::with_capacity(b);
        let mut bias = vec![0f32; b * q * s];
        for (r, row) in valid.iter().enumerate() {
            positions.push(positions_of(row, state.next_pos[r]));
            state.next_pos[r] += row.iter().filter(|v| **v).count() as u32;
            state.key_valid[r].extend_from_slice(row);
            for i in 0..q {
                for j in 0..s {
                    if j > past + i || !state.key_valid[r][j] {
                        bias[(r * q + i) * s + j] = MASKED;
                    }
                }
            }
        }
        let mask = Tensor::from_vec(bias, (b, 1, 1, q, s), &self.device)?;
        let rope = self.rope_for(&positions)?;
        let hidden = self.run_blocks(ids, &rope, &mask, Some(&mut state.caches), Mode::Infer)?;
        if last_only {
            self.logits(&hidden.narrow(1, q - 1, 1)?.squeeze(1)?)
        } else {
            self.logits(&hidden)
        }
    }
}

/// Additive mask value: large and finite so fully masked (padding) rows
/// give a uniform softmax instead of NaN.
const MASKED: f32 = -1e30;

fn mask_rows(mask: Option<&Tensor>, b: usize, t: usize) -> Result<Vec<Vec<bool>>> {
    match mask {
        None => Ok(vec![vec![true; t]; b]),
        Some(m) => {
            if m.dims() != [b, t] {
                return Err(ModelError::Shape {
                    name: "attention_mask".into(),
                    expected: vec![b, t],
                    found: m.dims().to_vec(),
                });
            }
            let rows = m
                .to_dtype(DType::F32)?
                .to_device(&Device::Cpu)?
                .to_vec2::<f32>()?;
            Ok(rows
                .into_iter()
                .map(|r| r.into_iter().map(|v| v != 0.0).collect())
                .collect())
        }
    }
}

/// Positions `start + cumsum(valid) - 1`, clamped at `start` for leading padding.
fn positions_of(valid: &[bool], start: u32) -> Vec<u32> {
    let mut seen = 0u32;
    valid
        .iter()
        .map(|&v| {
            if v {
                seen += 1;
            }
            start + seen.saturating_sub(1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Model {
        let mut cfg = ModelConfig::small(50, 16, 2, 4, 2, 32, 64).unwrap();
        cfg.qkv_bias = true;
        Model::init_random(cfg, 7, &Device::Cpu, DType::F32).unwrap()
    }

    use crate::runtime::testutil::max_diff;

    #[test]
    fn train_and_infer_paths_agree_and_cache_matches() {
        let m = tiny();
        let ids = Tensor::new(&[[3u32, 9, 4, 11, 2, 8]], &Device::Cpu).unwrap();
        let a = m.forward(&ids, None, Mode::Train).unwrap();
        let b = m.forward(&ids, None, Mode::Infer).unwrap();
        assert!(max_diff(&a, &b) < 1e-5);
        let mut st = m.new_kv_state(1, 2);
        let first = m
            .forward_cached(&ids.narrow(1, 0, 3).unwrap(), None, &mut st, false)
            .unwrap();
        assert!(max_diff(&first, &a.narrow(1, 0, 3).unwrap()) < 1e-5);
        for i in 3..6 {
            let l = m
                .forward_cached(&ids.narrow(1, i, 1).unwrap(), None, &mut st, true)
                .unwrap();
            assert!(max_diff(&l, &a.narrow(1, i, 1).unwrap().squeeze(1).unwrap()) < 1e-5);
        }
    }

    #[test]
    fn padding_left_or_right_does_not_change_logits() {
        let m = tiny();
        let dev = Device::Cpu;
        let alone = m
            .forward(
                &Tensor::new(&[[5u32, 6, 7]], &dev).unwrap(),
                None,
                Mode::Infer,
            )
            .unwrap();
        let ids = Tensor::new(&[[0u32, 0, 5, 6, 7], [5, 6, 7, 0, 0]], &dev).unwrap();
        let mask = Tensor::new(&[[0u32, 0, 1, 1, 1], [1, 1, 1, 0, 0]], &dev).unwrap();
        for mode in [Mode::Train, Mode::Infer] {
            let out = m.forward(&ids, Some(&mask), mode).unwrap();
            assert!(
                max_diff(
                    &out.get(0).unwrap().narrow(0, 2, 3).unwrap(),
                    &alone.get(0).unwrap()
                ) < 1e-5
            );
            assert!(
                max_diff(
                    &out.get(1).unwrap().narrow(0, 0, 3).unwrap(),
                    &alone.get(0).unwrap()
                ) < 1e-5
            );
            assert!(out
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|v| v.is_finite()));
        }
    }

    #[test]
    fn every_weight_gets_a_gradient_in_train_mode() {
        let mut m = tiny();
        let vars = m.make_trainable().unwrap();
        assert_eq!(vars.len(), m.named_tensors().len());
        let n: usize = vars.iter().map(|(_, v)| v.elem_count()).sum();
        assert_eq!(n, m.config().num_parameters());
        let ids = Tensor::new(&[[3u32, 9, 4, 11], [1, 2, 0, 0]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1u32, 1, 1, 1], [1, 1, 0, 0]], &Device::Cpu).unwrap();
        let logits = m.forward(&ids, Some(&mask), Mode::Train).unwrap();
        let loss = candle_nn::loss::cross_entropy(
            &logits.reshape((8, 50)).unwrap(),
            &ids.flatten_all().unwrap(),
        )
        .unwrap();
        let grads = loss.backward().unwrap();
        for (name, v) in &vars {
            let g = grads
                .get(v)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(norm > 0.0 && norm.is_finite(), "{name}: |grad|^2 = {norm}");
        }
    }

    #[test]
    fn init_is_seeded_and_hf_like() {
        let (a, b) = (tiny(), tiny());
        let (ta, tb) = (a.named_tensors(), b.named_tensors());
        assert_eq!(ta.len(), tb.len());
        for ((n, x), (_, y)) in ta.iter().zip(tb.iter()) {
            assert_eq!(max_diff(x, y), 0.0, "{n}");
        }
        let w = ta
            .iter()
            .find(|(n, _)| n == "model.layers.0.mlp.up_proj.weight")
            .unwrap()
            .1
            .flatten_all()
            .unwrap();
        let v = w.to_vec1::<f32>().unwrap();
        let std = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        assert!((std - 0.02).abs() < 0.004, "std {std}");
    }

    #[test]
    fn too_long_is_an_error() {
        let m = tiny();
        let ids = Tensor::zeros((1, 65), DType::U32, &Device::Cpu).unwrap();
        assert!(matches!(
            m.forward(&ids, None, Mode::Infer),
            Err(ModelError::TooLong { len: 65, max: 64 })
        ));
    }
}

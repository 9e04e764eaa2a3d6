//! Fused CPU kernels for the inference path with a KV cache (`Mode::Infer`,
//! `Model::forward_cached`): RoPE, the cache append and grouped-query
//! attention of one layer in one pass over raw f32 buffers.
//!
//! Why: a decode step is a handful of tiny tensors per layer, and candle's
//! composition (rope, transposes, a batched matmul that calls gemm once per
//! (row, kv head) with its packing and thread hand-off, mask add, softmax,
//! a second batched matmul) cost more than the attention maths. Here the
//! scores of the query heads that share a K/V head come from one
//! [`skinny`](super::skinny) product against the cached keys, read in place.
//!
//! CPU and f32 only, and only where a skinny kernel exists ([`applies`]);
//! the model keeps candle's composition everywhere else.

use super::skinny;
use candle_core::{CpuStorage, DType, Result, Storage, Tensor};
use candle_nn::kv_cache::KvCache;
use rayon::prelude::*;

/// Whether the fused inference kernels run for activations like `x`.
pub(crate) fn applies(x: &Tensor) -> bool {
    x.device().is_cpu()
        && x.dtype() == DType::F32
        && super::kernels::fused_enabled()
        && skinny::detected().is_some()
}

/// Runs `f` on the contiguous f32 data of a CPU tensor (no copy when it is
/// already contiguous).
fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (st, l) = t.storage_and_layout();
    let Storage::Cpu(CpuStorage::F32(v)) = &*st else {
        candle_core::bail!("infer: expected an f32 CPU tensor")
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("infer: expected a contiguous tensor")
    };
    Ok(f(&v[a..b]))
}

/// Shapes of one attention call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// One layer's attention for new positions with the KV cache:
/// `q (b, t, heads*d)`, `k`, `v (b, t, kv_heads*d)` straight from the
/// projections; `cos`, `sin (b, t, d/2)` for each new position; `mask`
/// additive `(b, 1, 1, t, s)` over the `s = past + t` cached positions.
/// Rotates q and k (half-split RoPE, as `candle_nn::rotary_emb::rope`),
/// appends k and v to `cache` and returns `(b, t, heads*d)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    cos: &Tensor,
    sin: &Tensor,
    mask: &Tensor,
    cache: &mut KvCache,
    hd: Heads,
) -> Result<Tensor> {
    let (b, t, _) = q.dims3()?;
    let Heads {
        heads: h,
        kv_heads: kvh,
        head_dim: d,
    } = hd;
    let dev = q.device().clone();
    // Rotated queries in (b, t, h, d); rotated keys and values in the
    // cache's (b, kvh, t, d).
    let qr = with_f32(cos, |c| {
        with_f32(sin, |s| {
            with_f32(q, |x| rope_rows(x, c, s, b, t, h, d, false))
        })
    })????;
    let kr = with_f32(cos, |c| {
        with_f32(sin, |s| {
            with_f32(k, |x| rope_rows(x, c, s, b, t, kvh, d, true))
        })
    })????;
    let vt = with_f32(v, |x| to_head_major(x, b, t, kvh, d))?;
    cache.append(
        &Tensor::from_vec(kr, (b, kvh, t, d), &dev)?,
        &Tensor::from_vec(vt, (b, kvh, t, d), &dev)?,
    )?;
    let s = cache.current_seq_len();
    let (Some(kall), Some(vall)) = (cache.k_cache().all_data(), cache.v_cache().all_data()) else {
        candle_core::bail!("infer: empty KV cache after append")
    };
    let cap = kall.dim(2)?;
    if mask.elem_count() != b * t * s {
        candle_core::bail!(
            "infer: mask {:?} for {b} rows x {t} queries x {s} keys",
            mask.dims()
        )
    }
    let y = with_f32(kall, |kc| {
        with_f32(vall, |vc| {
            with_f32(mask, |m| {
                let g = Geometry {
                    t,
                    h,
                    kvh,
                    d,
                    s,
                    cap,
                };
                attend(&qr, kc, vc, m, b, g)
            })
        })
    })????;
    Tensor::from_vec(y, (b, t, h * d), &dev)
}

/// Half-split RoPE of `x (b, t, n, d)` with per-(row, position) tables
/// `(b, t, d/2)`; output in `(b, t, n, d)` or, with `head_major`,
/// `(b, n, t, d)`.
#[allow(clippy::too_many_arguments)]
fn rope_rows(
    x: &[f32],
    cos: &[f32],
    sin: &[f32],
    b: usize,
    t: usize,
    n: usize,
    d: usize,
    head_major: bool,
) -> Result<Vec<f32>> {
    let half = d / 2;
    if x.len() != b * t * n * d || cos.len() != b * t * half || sin.len() != cos.len() {
        candle_core::bail!("infer: rope shapes do not match")
    }
    let mut y = vec![0f32; x.len()];
    for r in 0..b {
        for i in 0..t {
            let tab = (r * t + i) * half;
            let (c, s) = (&cos[tab..tab + half], &sin[tab..tab + half]);
            for hh in 0..n {
                let src = &x[((r * t + i) * n + hh) * d..][..d];
                let o = if head_major {
                    ((r * n + hh) * t + i) * d
                } else {
                    ((r * t + i) * n + hh) * d
                };
                let (y1, y2) = y[o..o + d].split_at_mut(half);
                let (x1, x2) = src.split_at(half);
                for j in 0..half {
                    y1[j] = x1[j] * c[j] - x2[j] * s[j];
                    y2[j] = x2[j] * c[j] + x1[j] * s[j];
                }
            }
        }
    }
    Ok(y)
}

/// `(b, t, n, d)` to `(b, n, t, d)`.
fn to_head_major(x: &[f32], b: usize, t: usize, n: usize, d: usize) -> Vec<f32> {
    if t == 1 {
        return x.to_vec();
    }
    let mut y = vec![0f32; x.len()];
    for r in 0..b {
        for i in 0..t {
            for hh in 0..n {
                let src = ((r * t + i) * n + hh) * d;
                let dst = ((r * n + hh) * t + i) * d;
                y[dst..dst + d].copy_from_slice(&x[src..src + d]);
            }
        }
    }
    y
}

#[derive(Clone, Copy)]
struct Geometry {
    t: usize,
    h: usize,
    kvh: usize,
    d: usize,
    /// Valid cached positions.
    s: usize,
    /// Allocated cached positions (the cache's row stride).
    cap: usize,
}

/// Multiply-adds below which attention runs on one thread.
const PAR_MIN_WORK: usize = 1 << 18;

/// Attention of rotated queries `q (b, t, h, d)` over the cache
/// `kc`, `vc (b, kvh, cap, d)` with the additive mask `(b, t, s)`.
fn attend(
    q: &[f32],
    kc: &[f32],
    vc: &[f32],
    mask: &[f32],
    b: usize,
    g: Geometry,
) -> Result<Vec<f32>> {
    let Geometry { t, h, d, s, .. } = g;
    let mut y = vec![0f32; b * t * h * d];
    let Some(isa) = skinny::detected() else {
        candle_core::bail!("infer: no skinny kernel on this CPU")
    };
    let row = t * h * d;
    if b * h * t * s * d >= PAR_MIN_WORK && b > 1 {
        y.par_chunks_mut(row)
            .enumerate()
            .for_each(|(r, yr)| attend_row(isa, q, kc, vc, mask, r, g, yr));
    } else {
        for (r, yr) in y.chunks_mut(row).enumerate() {
            attend_row(isa, q, kc, vc, mask, r, g, yr);
        }
    }
    Ok(y)
}

/// One batch row: every kv head's query group against its cached keys.
#[allow(clippy::too_many_arguments)]
fn attend_row(
    isa: skinny::Isa,
    q: &[f32],
    kc: &[f32],
    vc: &[f32],
    mask: &[f32],
    r: usize,
    g: Geometry,
    y: &mut [f32],
) {
    let Geometry {
        t,
        h,
        kvh,
        d,
        s,
        cap,
    } = g;
    let rep = h / kvh;
    let m = t * rep;
    let scale = 1.0 / (d as f32).sqrt();
    let mut qg = vec![0f32; m * d];
    let mut p = vec![0f32; m * s];
    for kv in 0..kvh {
        // The queries of this group, row (i, j) = position i, head kv*rep + j.
        for i in 0..t {
            let src = ((r * t + i) * h + kv * rep) * d;
            qg[i * rep * d..(i + 1) * rep * d].copy_from_slice(&q[src..src + rep * d]);
        }
        let base = (r * kvh + kv) * cap * d;
        let keys = &kc[base..base + s * d];
        let vals = &vc[base..base + s * d];
        skinny::matmul_with(isa, &qg, keys, &mut p, m, s, d, 1);
        for i in 0..t {
            let bias = &mask[(r * t + i) * s..][..s];
            for j in 0..rep {
                softmax_scaled(&mut p[(i * rep + j) * s..][..s], bias, scale);
            }
        }
        // Rows of the group's output in qg's place: (m x s) · (s x d).
        skinny::matmul_xw_serial(isa, &p, vals, &mut qg, m, d, s);
        for i in 0..t {
            let dst = (i * h + kv * rep) * d;
            y[dst..dst + rep * d].copy_from_slice(&qg[i * rep * d..(i + 1) * rep * d]);
        }
    }
}

/// `p = softmax(p * scale + bias)` in place.
fn softmax_scaled(p: &mut [f32], bias: &[f32], scale: f32) {
    let mut max = f32::NEG_INFINITY;
    for (v, &b) in p.iter_mut().zip(bias) {
        *v = *v * scale + b;
        max = max.max(*v);
    }
    let mut sum = 0f32;
    for v in p.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in p.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use crate::runtime::config::ModelConfig;
    use crate::runtime::lora::{LoraConfig, TARGETS};
    use crate::runtime::model::{Mode, Model};
    use candle_core::{DType, Device, Tensor};

    use crate::runtime::testutil::max_diff;

    /// Prefill and token-by-token decoding through the fused CPU path
    /// (left-padded rows of different lengths, grouped-query attention, a
    /// head size that is not a multiple of the SIMD width, a LoRA adapter on
    /// every projection) against one uncached forward of the whole padded
    /// batch (candle's attention, gemm for the linears: more than 32 rows).
    /// Differences are ~1e-7; a wrong sign in RoPE gives ~2e-3.
    #[test]
    fn cached_decoding_matches_the_full_forward() {
        let dev = Device::Cpu;
        let mut cfg = ModelConfig::small(37, 24, 2, 4, 2, 40, 64).unwrap();
        cfg.qkv_bias = true;
        let mut m = Model::init_random(cfg, 3, &dev, DType::F32).unwrap();
        let lora = LoraConfig {
            rank: 2,
            alpha: 4.0,
            dropout: 0.0,
            use_rslora: false,
            target_modules: TARGETS.iter().map(|s| s.to_string()).collect(),
        };
        for (i, (name, var)) in m.add_lora(&lora, 5).unwrap().iter().enumerate() {
            if name.contains("lora_B") {
                let b = (Tensor::randn(0f32, 1.0, var.dims(), &dev).unwrap() * 0.1).unwrap();
                var.set(&b).unwrap_or_else(|e| panic!("{i} {name}: {e}"));
            }
        }
        let prompts: [&[u32]; 3] = [&[3, 9, 4, 11, 2, 8, 1, 5], &[7, 7, 2], &[1, 2, 3, 4, 5, 6]];
        let cont: [[u32; 5]; 3] = [[4, 4, 20, 36, 0], [13, 1, 2, 3, 30], [8, 9, 10, 11, 12]];
        let p = prompts.iter().map(|r| r.len()).max().unwrap();
        let t = p + 5;
        let (mut ids, mut mask) = (vec![], vec![]);
        for (r, pr) in prompts.iter().enumerate() {
            ids.extend(std::iter::repeat_n(0u32, p - pr.len()));
            ids.extend_from_slice(pr);
            ids.extend_from_slice(&cont[r]);
            mask.extend(std::iter::repeat_n(0u32, p - pr.len()));
            mask.extend(std::iter::repeat_n(1u32, pr.len() + 5));
        }
        let ids = Tensor::from_vec(ids, (3, t), &dev).unwrap();
        let mask = Tensor::from_vec(mask, (3, t), &dev).unwrap();
        let full = m.forward(&ids, Some(&mask), Mode::Infer).unwrap();

        let mut st = m.new_kv_state(3, 4);
        let pre = m
            .forward_cached(
                &ids.narrow(1, 0, p).unwrap(),
                Some(&mask.narrow(1, 0, p).unwrap()),
                &mut st,
                false,
            )
            .unwrap();
        for (r, pr) in prompts.iter().enumerate() {
            let valid = p - pr.len();
            let got = pre.get(r).unwrap().narrow(0, valid, pr.len()).unwrap();
            let want = full.get(r).unwrap().narrow(0, valid, pr.len()).unwrap();
            let d = max_diff(&got, &want);
            assert!(d < 1e-5, "prefill row {r}: {d}");
        }
        for i in p..t {
            let step = m
                .forward_cached(&ids.narrow(1, i, 1).unwrap(), None, &mut st, true)
                .unwrap();
            let want = full.narrow(1, i, 1).unwrap().squeeze(1).unwrap();
            let d = max_diff(&step, &want);
            assert!(d < 1e-5, "decode position {i}: {d}");
        }
    }
}

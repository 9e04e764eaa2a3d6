//! Fused CPU kernels with hand-written backward passes for the training path.
//!
//! Every public function here has the same meaning on every device: on a CPU
//! with f32 tensors it runs a candle `CustomOp` whose forward and backward are
//! written here (one pass over memory, no softmax/normalisation
//! intermediates, no gradient for frozen weights); elsewhere, or when fused
//! kernels are switched off with [`set_fused`], it runs the plain
//! differentiable candle composition (`reference` module), which is also what
//! the gradient-check tests compare against.
//!
//! Why: candle's fused `rms_norm`/`softmax_last_dim`/`rope` have no backward
//! (gradients stop silently), its matmul backward always computes the frozen
//! base weight's gradient (LoRA gains little), and composed ops allocate a
//! buffer per step. See BENCHMARKS.md.
//!
//! Layouts: `linear` takes `(.., in)` activations and an HF `(out, in)`
//! weight. Attention and RoPE take `(batch, seq, heads, head_dim)` tensors,
//! which is what the q/k/v projections produce after a reshape, so no
//! transpose copies are needed.

use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Device, Layout, Result, Shape, Storage,
    Tensor, D,
};
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static FUSED: AtomicBool = AtomicBool::new(true);

/// Switches the fused CPU kernels on (default) or off process-wide. Off runs
/// the plain candle compositions: for benchmarks and cross-checks.
pub fn set_fused(enabled: bool) {
    FUSED.store(enabled, Ordering::Relaxed);
}

/// Whether fused kernels are on.
pub fn fused_enabled() -> bool {
    FUSED.load(Ordering::Relaxed)
}

fn use_fused(ts: &[&Tensor]) -> bool {
    fused_enabled()
        && ts
            .iter()
            .all(|t| t.device().is_cpu() && t.dtype() == DType::F32)
}

// ---------------------------------------------------------------------------
// Helpers: raw f32 access and gemm.

/// Contiguous f32 data of a CPU storage under a layout.
fn slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expected f32")
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: expected a contiguous tensor")
    };
    Ok(&v[a..b])
}

/// Runs `f` on the contiguous f32 data of a CPU tensor.
fn with_data<R>(t: &Tensor, op: &str, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    let (st, l) = t.storage_and_layout();
    let Storage::Cpu(cs) = &*st else {
        candle_core::bail!("{op}: expected a CPU tensor")
    };
    Ok(f(slice(cs, l, op)?))
}

fn cpu_tensor(v: Vec<f32>, shape: impl Into<Shape>) -> Result<Tensor> {
    Tensor::from_vec(v, shape, &Device::Cpu)
}

fn threads() -> usize {
    rayon::current_num_threads()
}

/// A strided f32 matrix view for gemm: pointer, row stride, column stride.
#[derive(Clone, Copy)]
struct Mat {
    ptr: *const f32,
    rs: isize,
    cs: isize,
}

impl Mat {
    /// Row-major `rows x cols` with leading dimension `ld`.
    fn rm(p: *const f32, ld: usize) -> Self {
        Self {
            ptr: p,
            rs: ld as isize,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with leading dimension `ld`.
    fn tr(p: *const f32, ld: usize) -> Self {
        Self {
            ptr: p,
            rs: 1,
            cs: ld as isize,
        }
    }
}

/// `dst (m x n) = acc * dst + alpha * a (m x k) * b (k x n)`; `dst` row-major
/// with leading dimension `ld_dst`.
///
/// # Safety
/// The pointers must cover the described matrices and `dst` must not alias
/// `a` or `b`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    ld_dst: usize,
    accumulate: bool,
    a: Mat,
    b: Mat,
    alpha: f32,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    let par = if parallel && threads() > 1 && m * n * k >= 64 * 64 * 64 {
        gemm::Parallelism::Rayon(threads())
    } else {
        gemm::Parallelism::None
    };
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        ld_dst as isize,
        accumulate,
        a.ptr,
        a.cs,
        a.rs,
        b.ptr,
        b.cs,
        b.rs,
        1.0,
        alpha,
        false,
        false,
        false,
        par,
    );
}

/// Raw pointer to one output buffer, shared by rayon tasks (or scoped
/// threads) that each write a disjoint region of it (the kernels here and in
/// `skinny`).
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
// SAFETY: a SendPtr only carries the address; every user derives from it
// regions that no other task reads or writes while the tasks run, and the
// buffer outlives the tasks (they are joined before it is used again).
unsafe impl Send for SendPtr {}
// SAFETY: as for Send: shared references only hand out the address.
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// Taking `self` makes closures capture the whole (Send) wrapper.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

// ---------------------------------------------------------------------------
// Linear layer: y = x W^T (+ b), no gradient for a frozen W.

/// `x (.., in) @ w (out, in)^T + bias`. On the fused path the frozen weight
/// (a tensor that is neither a `Var` nor computed from one) gets no gradient,
/// so LoRA skips the most expensive half of the base layers' backward.
pub fn linear(x: &Tensor, w: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let y = if use_fused(&[x, w]) {
        let x = x.contiguous()?;
        let w = w.contiguous()?;
        x.apply_op2(
            &w,
            LinearOp {
                weight_grad: w.track_op(),
            },
        )?
    } else {
        reference::linear(x, w)?
    };
    match bias {
        Some(b) => y.broadcast_add(b),
        None => Ok(y),
    }
}

struct LinearOp {
    weight_grad: bool,
}

impl CustomOp2 for LinearOp {
    fn name(&self) -> &'static str {
        "inoc-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, "linear")?;
        let w = slice(s2, l2, "linear")?;
        let (out, inn) = l2.shape().dims2()?;
        let dims = l1.shape().dims();
        if dims.last() != Some(&inn) {
            candle_core::bail!("linear: input {:?} vs weight {:?}", dims, l2.shape())
        }
        let n = x.len() / inn.max(1);
        let mut y = vec![0f32; n * out];
        // A few rows (a decode step): the weight read in place, no packing.
        if super::skinny::matmul_xwt(x, w, &mut y, n, out, inn) {
            let mut shape = dims.to_vec();
            *shape.last_mut().expect("rank >= 1") = out;
            return Ok((CpuStorage::F32(y), Shape::from(shape)));
        }
        // SAFETY: `x` holds n rows of `inn` floats and `w` `out` rows of `inn`
        // (checked above), `y` is a new buffer of n * out floats.
        unsafe {
            gemm(
                n,
                out,
                inn,
                y.as_mut_ptr(),
                out,
                false,
                Mat::rm(x.as_ptr(), inn),
                Mat::tr(w.as_ptr(), inn),
                1.0,
                true,
            );
        }
        let mut shape = dims.to_vec();
        *shape.last_mut().expect("rank >= 1") = out;
        Ok((CpuStorage::F32(y), Shape::from(shape)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (out, inn) = w.dims2()?;
        let n = x.elem_count() / inn.max(1);
        let dy = dy.contiguous()?;
        let dx = with_data(&dy, "linear-bwd", |g| {
            with_data(w, "linear-bwd", |wd| {
                let mut dx = vec![0f32; n * inn];
                // SAFETY: `g` (dy) is n x out, `wd` out x inn, both contiguous
                // (`with_data`); `dx` is a new n x inn buffer.
                unsafe {
                    gemm(
                        n,
                        inn,
                        out,
                        dx.as_mut_ptr(),
                        inn,
                        false,
                        Mat::rm(g.as_ptr(), out),
                        Mat::rm(wd.as_ptr(), inn),
                        1.0,
                        true,
                    );
                }
                dx
            })
        })??;
        let dx = cpu_tensor(dx, x.shape())?;
        let dw = if self.weight_grad {
            let dw = with_data(&dy, "linear-bwd", |g| {
                with_data(x, "linear-bwd", |xd| {
                    let mut dw = vec![0f32; out * inn];
                    // SAFETY: `g` (dy) is n x out, read transposed; `xd` is
                    // n x inn; `dw` is a new out x inn buffer.
                    unsafe {
                        gemm(
                            out,
                            inn,
                            n,
                            dw.as_mut_ptr(),
                            inn,
                            false,
                            Mat::tr(g.as_ptr(), out),
                            Mat::rm(xd.as_ptr(), inn),
                            1.0,
                            true,
                        );
                    }
                    dw
                })
            })??;
            Some(cpu_tensor(dw, (out, inn))?)
        } else {
            None
        };
        Ok((Some(dx), dw))
    }
}

// ---------------------------------------------------------------------------
// RMSNorm: y = x / sqrt(mean(x^2) + eps) * w

/// RMSNorm over the last dimension with weight `w`, differentiable.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if use_fused(&[x, w]) {
        let x = x.contiguous()?;
        x.apply_op2(
            &w.contiguous()?,
            RmsNormOp {
                eps: eps as f32,
                weight_grad: w.track_op(),
            },
        )
    } else {
        reference::rms_norm(x, w, eps)
    }
}

struct RmsNormOp {
    eps: f32,
    weight_grad: bool,
}

fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let ss: f32 = row.iter().map(|v| v * v).sum();
    1.0 / (ss / row.len() as f32 + eps).sqrt()
}

impl CustomOp2 for RmsNormOp {
    fn name(&self) -> &'static str {
        "inoc-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, "rms_norm")?;
        let w = slice(s2, l2, "rms_norm")?;
        let d = w.len();
        if l1.shape().dims().last() != Some(&d) {
            candle_core::bail!("rms_norm: input {:?} vs weight {d}", l1.shape())
        }
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d.max(1) * 16)
            .zip(x.par_chunks(d.max(1) * 16))
            .for_each(|(yc, xc)| {
                for (yr, xr) in yc.chunks_mut(d).zip(xc.chunks(d)) {
                    let r = inv_rms(xr, self.eps);
                    for ((y, &x), &w) in yr.iter_mut().zip(xr).zip(w) {
                        *y = x * r * w;
                    }
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = w.elem_count();
        let eps = self.eps;
        let wgrad = self.weight_grad;
        let (dx, dw) = with_data(x, "rms_norm-bwd", |xs| {
            with_data(w, "rms_norm-bwd", |ws| {
                with_data(dy, "rms_norm-bwd", |gs| {
                    let mut dx = vec![0f32; xs.len()];
                    let chunk = d.max(1) * 16;
                    // Partial weight gradients per chunk, summed afterwards in a
                    // fixed order so results do not depend on scheduling.
                    let partial: Vec<Vec<f32>> = dx
                        .par_chunks_mut(chunk)
                        .zip(xs.par_chunks(chunk))
                        .zip(gs.par_chunks(chunk))
                        .map(|((dxc, xc), gc)| {
                            let mut dwp = if wgrad { vec![0f32; d] } else { Vec::new() };
                            for ((dxr, xr), gr) in
                                dxc.chunks_mut(d).zip(xc.chunks(d)).zip(gc.chunks(d))
                            {
                                let r = inv_rms(xr, eps);
                                let mut dot = 0f32;
                                for ((&x, &g), &w) in xr.iter().zip(gr).zip(ws) {
                                    dot += g * w * x;
                                }
                                let c = r * r * r * dot / d as f32;
                                for (((dx, &x), &g), &w) in dxr.iter_mut().zip(xr).zip(gr).zip(ws) {
                                    *dx = r * g * w - c * x;
                                }
                                if wgrad {
                                    for ((p, &x), &g) in dwp.iter_mut().zip(xr).zip(gr) {
                                        *p += g * x * r;
                                    }
                                }
                            }
                            dwp
                        })
                        .collect();
                    let dw = wgrad.then(|| {
                        let mut dw = vec![0f32; d];
                        for p in &partial {
                            for (a, b) in dw.iter_mut().zip(p) {
                                *a += b;
                            }
                        }
                        dw
                    });
                    (dx, dw)
                })
            })
        })???;
        let dx = cpu_tensor(dx, x.shape())?;
        let dw = match dw {
            Some(v) => Some(cpu_tensor(v, w.shape())?),
            None => None,
        };
        Ok((Some(dx), dw))
    }
}

// ---------------------------------------------------------------------------
// SwiGLU gate: silu(gate) * up

/// `silu(gate) * up`, differentiable.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if use_fused(&[gate, up]) && gate.shape() == up.shape() {
        gate.contiguous()?.apply_op2(&up.contiguous()?, SiluMulOp)
    } else {
        reference::silu_mul(gate, up)
    }
}

struct SiluMulOp;

const PAR_CHUNK: usize = 1 << 14;

impl CustomOp2 for SiluMulOp {
    fn name(&self) -> &'static str {
        "inoc-silu-mul"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = slice(s1, l1, "silu_mul")?;
        let u = slice(s2, l2, "silu_mul")?;
        let mut y = vec![0f32; g.len()];
        y.par_chunks_mut(PAR_CHUNK)
            .zip(g.par_chunks(PAR_CHUNK).zip(u.par_chunks(PAR_CHUNK)))
            .for_each(|(y, (g, u))| {
                for ((y, &g), &u) in y.iter_mut().zip(g).zip(u) {
                    *y = g / (1.0 + (-g).exp()) * u;
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dg, du) = with_data(gate, "silu_mul-bwd", |g| {
            with_data(up, "silu_mul-bwd", |u| {
                with_data(dy, "silu_mul-bwd", |d| {
                    let mut dg = vec![0f32; g.len()];
                    let mut du = vec![0f32; g.len()];
                    dg.par_chunks_mut(PAR_CHUNK)
                        .zip(du.par_chunks_mut(PAR_CHUNK))
                        .zip(g.par_chunks(PAR_CHUNK))
                        .zip(u.par_chunks(PAR_CHUNK).zip(d.par_chunks(PAR_CHUNK)))
                        .for_each(|(((dg, du), g), (u, d))| {
                            for ((((dg, du), &g), &u), &d) in
                                dg.iter_mut().zip(du.iter_mut()).zip(g).zip(u).zip(d)
                            {
                                let s = 1.0 / (1.0 + (-g).exp());
                                *du = d * g * s;
                                *dg = d * u * s * (1.0 + g * (1.0 - s));
                            }
                        });
                    (dg, du)
                })
            })
        })???;
        Ok((
            Some(cpu_tensor(dg, gate.shape())?),
            Some(cpu_tensor(du, up.shape())?),
        ))
    }
}

// ---------------------------------------------------------------------------
// Rotary position embedding (HF "rotate_half" convention), (b, s, h, d).

/// Applies RoPE to `x (batch, seq, heads, head_dim)` with `cos`/`sin` of
/// shape `(seq, head_dim / 2)` (the tables for the positions of the sequence).
/// Differentiable in `x`.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (_b, _s, _h, d) = x.dims4()?;
    rope_heads(x, d, cos, sin)
}

/// [`rope`] on `x (batch, seq, heads * head_dim)` (a projection's output,
/// heads side by side) or `(batch, seq, heads, head_dim)`: the same rotation
/// per head, without a reshape node in the autograd graph.
pub fn rope_heads(x: &Tensor, head_dim: usize, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (dims, d) = (x.dims(), head_dim);
    let row: usize = dims.iter().skip(2).product();
    if dims.len() < 3 || d == 0 || !row.is_multiple_of(d) {
        candle_core::bail!("rope: input {dims:?} is not (batch, seq, heads x {d})")
    }
    let s = dims[1];
    if cos.dims() != [s, d / 2] || sin.dims() != [s, d / 2] {
        candle_core::bail!(
            "rope: cos/sin {:?}/{:?}, expected ({s}, {})",
            cos.dims(),
            sin.dims(),
            d / 2
        )
    }
    if use_fused(&[x, cos, sin]) {
        let cos = cos.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let sin = sin.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        x.contiguous()?.apply_op1(RopeOp { cos, sin, d })
    } else if dims.len() == 4 {
        reference::rope(x, cos, sin)
    } else {
        let (b, h) = (dims[0], row / d);
        reference::rope(&x.reshape((b, s, h, d))?, cos, sin)?.reshape(dims)
    }
}

struct RopeOp {
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Head size.
    d: usize,
}

impl RopeOp {
    /// `sign = 1` forward rotation, `-1` its inverse (the backward), of `x`
    /// of shape `dims` = (batch, seq, ..).
    fn apply(&self, x: &[f32], dims: &[usize], sign: f32) -> Vec<f32> {
        let (s, d) = (dims[1], self.d);
        let half = d / 2;
        let mut y = vec![0f32; x.len()];
        let row: usize = dims.iter().skip(2).product();
        y.par_chunks_mut(row)
            .zip(x.par_chunks(row))
            .enumerate()
            .for_each(|(i, (yr, xr))| {
                let pos = i % s;
                let cos = &self.cos[pos * half..(pos + 1) * half];
                let sin = &self.sin[pos * half..(pos + 1) * half];
                for (yh, xh) in yr.chunks_mut(d).zip(xr.chunks(d)) {
                    let (x1, x2) = xh.split_at(half);
                    let (y1, y2) = yh.split_at_mut(half);
                    for j in 0..half {
                        let (c, sn) = (cos[j], sign * sin[j]);
                        y1[j] = x1[j] * c - x2[j] * sn;
                        y2[j] = x2[j] * c + x1[j] * sn;
                    }
                }
            });
        y
    }
}

impl CustomOp1 for RopeOp {
    fn name(&self) -> &'static str {
        "inoc-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, "rope")?;
        let y = self.apply(x, l.shape().dims(), 1.0);
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, dy: &Tensor) -> Result<Option<Tensor>> {
        let dims = x.dims();
        let dx = with_data(dy, "rope-bwd", |g| self.apply(g, dims, -1.0))?;
        Ok(Some(cpu_tensor(dx, x.shape())?))
    }
}

// ---------------------------------------------------------------------------
// Causal attention with grouped-query heads, (b, s, h, d) layout.

/// Causal softmax attention. `q (b, s, h, d)`, `k`/`v (b, s, h_kv, d)` with
/// `h % h_kv == 0`; returns `(b, s, h, d)`. The softmax probabilities are kept
/// for the backward pass only when an input needs a gradient.
pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
    let (_b, _s, _h, d) = q.dims4()?;
    causal_attention_heads(q, k, v, d, scale)
}

/// [`causal_attention`] on `q (b, s, h * head_dim)` and `k`/`v (b, s, h_kv *
/// head_dim)` (the projections' outputs, heads side by side), or on the 4-d
/// layout; the output has q's shape. No reshape nodes in the autograd graph.
pub fn causal_attention_heads(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    head_dim: usize,
    scale: f64,
) -> Result<Tensor> {
    let bad = || {
        candle_core::bail!(
            "causal_attention: q {:?}, k {:?}, v {:?}, head size {head_dim}",
            q.dims(),
            k.dims(),
            v.dims()
        )
    };
    let d = head_dim;
    let (qd, kd) = (q.dims(), k.dims());
    if qd.len() < 3 || qd.len() != kd.len() || k.dims() != v.dims() || d == 0 {
        return bad();
    }
    let (b, s) = (qd[0], qd[1]);
    let (qrow, krow): (usize, usize) = (qd[2..].iter().product(), kd[2..].iter().product());
    if (kd[0], kd[1]) != (b, s) || !qrow.is_multiple_of(d) || !krow.is_multiple_of(d) {
        return bad();
    }
    let (h, hk) = (qrow / d, krow / d);
    if qd.len() == 4 && (qd[3] != d || kd[3] != d) {
        return bad();
    }
    if hk == 0 || !h.is_multiple_of(hk) {
        return bad();
    }
    if use_fused(&[q, k, v]) {
        let keep = q.track_op() || k.track_op() || v.track_op();
        q.contiguous()?.apply_op3(
            &k.contiguous()?,
            &v.contiguous()?,
            AttentionOp {
                scale: scale as f32,
                keep_probs: keep,
                probs: Mutex::new(None),
                b,
                dm: AttnDims { s, h, hk, d },
            },
        )
    } else if qd.len() == 4 {
        reference::causal_attention(q, k, v, scale)
    } else {
        let y = reference::causal_attention(
            &q.reshape((b, s, h, d))?,
            &k.reshape((b, s, hk, d))?,
            &v.reshape((b, s, hk, d))?,
            scale,
        )?;
        y.reshape(qd)
    }
}

struct AttentionOp {
    scale: f32,
    keep_probs: bool,
    /// Softmax probabilities `(b, h, s, s)` saved by the forward pass.
    probs: Mutex<Option<Vec<f32>>>,
    /// Batch size and the other dimensions (checked by the caller).
    b: usize,
    dm: AttnDims,
}

/// Shapes of one attention call.
#[derive(Clone, Copy)]
struct AttnDims {
    s: usize,
    h: usize,
    hk: usize,
    d: usize,
}

impl AttnDims {
    fn group(&self) -> usize {
        self.h / self.hk
    }
    /// Offset of element (batch, pos 0, head) in a (b, s, heads, d) tensor.
    fn off(&self, batch: usize, head: usize, heads: usize) -> usize {
        batch * self.s * heads * self.d + head * self.d
    }
}

impl CustomOp3 for AttentionOp {
    fn name(&self) -> &'static str {
        "inoc-causal-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let q = slice(s1, l1, "attention")?;
        let k = slice(s2, l2, "attention")?;
        let v = slice(s3, l3, "attention")?;
        let (b, dm) = (self.b, self.dm);
        let AttnDims { s, h, hk, d } = dm;
        if q.len() != b * s * h * d || k.len() != b * s * hk * d || v.len() != k.len() {
            candle_core::bail!("attention: inputs do not match the shapes given")
        }
        let mut out = vec![0f32; q.len()];
        let mut probs = vec![0f32; b * h * s * s];
        let out_p = SendPtr(out.as_mut_ptr());
        let scale = self.scale;
        probs.par_chunks_mut(s * s).enumerate().for_each(|(bh, p)| {
            let (bi, hi) = (bh / h, bh % h);
            let hki = hi / dm.group();
            let qo = dm.off(bi, hi, h);
            let ko = dm.off(bi, hki, hk);
            // SAFETY: q is (b, s, h, d) and k (b, s, hk, d), contiguous; from
            // the offsets of (bi, hi) and (bi, hki) the s rows of d floats at
            // strides h * d and hk * d stay inside them. `p` is this task's own
            // s x s chunk of `probs`.
            unsafe {
                // P = Q K^T * scale (s x s)
                gemm(
                    s,
                    s,
                    d,
                    p.as_mut_ptr(),
                    s,
                    false,
                    Mat::rm(q.as_ptr().add(qo), h * d),
                    Mat::tr(k.as_ptr().add(ko), hk * d),
                    scale,
                    false,
                );
            }
            for i in 0..s {
                let row = &mut p[i * s..(i + 1) * s];
                let (live, dead) = row.split_at_mut(i + 1);
                let m = live.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for x in live.iter_mut() {
                    *x = (*x - m).exp();
                    sum += *x;
                }
                let inv = 1.0 / sum;
                for x in live.iter_mut() {
                    *x *= inv;
                }
                dead.fill(0.0);
            }
            // SAFETY: v is (b, s, hk, d); `out` has q's shape, and this task
            // alone writes the s rows of head (bi, hi) (tasks are one per
            // (batch, head)), so the regions written are disjoint.
            unsafe {
                // O = P V, written in place into (b, s, h, d)
                gemm(
                    s,
                    d,
                    s,
                    out_p.get().add(qo),
                    h * d,
                    false,
                    Mat::rm(p.as_ptr(), s),
                    Mat::rm(v.as_ptr().add(ko), hk * d),
                    1.0,
                    false,
                );
            }
        });
        if self.keep_probs {
            *self
                .probs
                .lock()
                .map_err(|_| candle_core::Error::Msg("attention: poisoned".into()))? = Some(probs);
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        dout: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let probs = self
            .probs
            .lock()
            .map_err(|_| candle_core::Error::Msg("attention: poisoned".into()))?
            .take();
        let Some(probs) = probs else {
            candle_core::bail!("attention backward without saved probabilities (run twice?)")
        };
        let (b, dm) = (self.b, self.dm);
        let AttnDims { s, h, hk, d } = dm;
        let scale = self.scale;
        let mut dq = vec![0f32; q.elem_count()];
        let mut dk = vec![0f32; k.elem_count()];
        let mut dv = vec![0f32; v.elem_count()];
        let (dqp, dkp, dvp) = (
            SendPtr(dq.as_mut_ptr()),
            SendPtr(dk.as_mut_ptr()),
            SendPtr(dv.as_mut_ptr()),
        );
        with_data(q, "attention-bwd", |q| {
            with_data(k, "attention-bwd", |k| {
                with_data(v, "attention-bwd", |v| {
                    with_data(out, "attention-bwd", |o| {
                        with_data(dout, "attention-bwd", |go| {
                            // One task per (batch, kv head): the query heads of a
                            // group accumulate into the same dK/dV rows.
                            (0..b * hk).into_par_iter().for_each(|task| {
                                let (bi, hki) = (task / hk, task % hk);
                                let ko = dm.off(bi, hki, hk);
                                let mut ds = vec![0f32; s * s];
                                let mut rowdot = vec![0f32; s];
                                for hi in hki * dm.group()..(hki + 1) * dm.group() {
                                    let qo = dm.off(bi, hi, h);
                                    let p =
                                        &probs[(bi * h + hi) * s * s..(bi * h + hi + 1) * s * s];
                                    // SAFETY: `p` is the s x s block of head
                                    // (bi, hi) in `probs` (b * h * s * s
                                    // floats); dO has q's shape, v and dV k's;
                                    // `ds` is s x s. Only this task (one per
                                    // (batch, kv head)) writes dV rows of
                                    // (bi, hki).
                                    unsafe {
                                        // dV += P^T dO
                                        gemm(
                                            s,
                                            d,
                                            s,
                                            dvp.get().add(ko),
                                            hk * d,
                                            true,
                                            Mat::tr(p.as_ptr(), s),
                                            Mat::rm(go.as_ptr().add(qo), h * d),
                                            1.0,
                                            false,
                                        );
                                        // dP = dO V^T
                                        gemm(
                                            s,
                                            s,
                                            d,
                                            ds.as_mut_ptr(),
                                            s,
                                            false,
                                            Mat::rm(go.as_ptr().add(qo), h * d),
                                            Mat::tr(v.as_ptr().add(ko), hk * d),
                                            1.0,
                                            false,
                                        );
                                    }
                                    // rowdot_i = sum_d dO_i . O_i
                                    for (i, rd) in rowdot.iter_mut().enumerate() {
                                        let base = qo + i * h * d;
                                        *rd = go[base..base + d]
                                            .iter()
                                            .zip(&o[base..base + d])
                                            .map(|(a, b)| a * b)
                                            .sum();
                                    }
                                    // dS = P * (dP - rowdot) * scale
                                    for i in 0..s {
                                        let pr = &p[i * s..(i + 1) * s];
                                        let dr = &mut ds[i * s..(i + 1) * s];
                                        for j in 0..=i {
                                            dr[j] = pr[j] * (dr[j] - rowdot[i]) * scale;
                                        }
                                        dr[i + 1..].fill(0.0);
                                    }
                                    // SAFETY: `ds` is s x s, k and dK are
                                    // (b, s, hk, d), q and dQ (b, s, h, d).
                                    // Query head hi belongs to kv head hki,
                                    // so this task alone writes the dQ rows
                                    // of (bi, hi) and the dK rows of (bi, hki).
                                    unsafe {
                                        // dQ = dS K
                                        gemm(
                                            s,
                                            d,
                                            s,
                                            dqp.get().add(qo),
                                            h * d,
                                            false,
                                            Mat::rm(ds.as_ptr(), s),
                                            Mat::rm(k.as_ptr().add(ko), hk * d),
                                            1.0,
                                            false,
                                        );
                                        // dK += dS^T Q
                                        gemm(
                                            s,
                                            d,
                                            s,
                                            dkp.get().add(ko),
                                            hk * d,
                                            true,
                                            Mat::tr(ds.as_ptr(), s),
                                            Mat::rm(q.as_ptr().add(qo), h * d),
                                            1.0,
                                            false,
                                        );
                                    }
                                }
                            })
                        })
                    })
                })
            })
        })?????;
        Ok((
            Some(cpu_tensor(dq, q.shape())?),
            Some(cpu_tensor(dk, k.shape())?),
            Some(cpu_tensor(dv, v.shape())?),
        ))
    }
}

// ---------------------------------------------------------------------------
// Cross-entropy with per-position weights.

/// `sum_i weights[i] * (logsumexp(logits_i) - logits_i[targets[i]])` over
/// rows of `logits (.., vocab)` (all leading dimensions are rows); positions
/// with weight 0 cost nothing. Returns a scalar. Targets of weight-0 rows may
/// be anything (e.g. padding).
pub fn weighted_cross_entropy(logits: &Tensor, targets: &[u32], weights: &[f32]) -> Result<Tensor> {
    let vocab = logits.dim(D::Minus1)?;
    let n = logits.elem_count() / vocab.max(1);
    if targets.len() != n || weights.len() != n {
        candle_core::bail!(
            "cross_entropy: {n} rows, {} targets, {} weights",
            targets.len(),
            weights.len()
        )
    }
    for (&t, &w) in targets.iter().zip(weights) {
        if w != 0.0 && t as usize >= vocab {
            candle_core::bail!("cross_entropy: target {t} outside vocabulary of {vocab}")
        }
    }
    if use_fused(&[logits]) {
        logits.contiguous()?.apply_op1(CrossEntropyOp {
            targets: targets.to_vec(),
            weights: weights.to_vec(),
            lse: Mutex::new(None),
        })
    } else {
        reference::weighted_cross_entropy(logits, targets, weights)
    }
}

struct CrossEntropyOp {
    targets: Vec<u32>,
    weights: Vec<f32>,
    lse: Mutex<Option<Vec<f32>>>,
}

impl CustomOp1 for CrossEntropyOp {
    fn name(&self) -> &'static str {
        "inoc-cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, "cross_entropy")?;
        let vocab = l.shape().dims().last().copied().unwrap_or(1);
        let lse: Vec<f32> = x
            .par_chunks(vocab)
            .zip(self.weights.par_iter())
            .map(|(row, &w)| {
                if w == 0.0 {
                    return 0.0;
                }
                let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = row.iter().map(|&v| (v - m).exp()).sum();
                m + sum.ln()
            })
            .collect();
        let mut loss = 0f64;
        for (i, (&t, &w)) in self.targets.iter().zip(&self.weights).enumerate() {
            if w != 0.0 {
                loss += (w * (lse[i] - x[i * vocab + t as usize])) as f64;
            }
        }
        *self
            .lse
            .lock()
            .map_err(|_| candle_core::Error::Msg("cross_entropy: poisoned".into()))? = Some(lse);
        Ok((CpuStorage::F32(vec![loss as f32]), Shape::from(())))
    }

    fn bwd(&self, logits: &Tensor, _res: &Tensor, dloss: &Tensor) -> Result<Option<Tensor>> {
        let g = dloss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let lse = self
            .lse
            .lock()
            .map_err(|_| candle_core::Error::Msg("cross_entropy: poisoned".into()))?
            .take();
        let Some(lse) = lse else {
            candle_core::bail!("cross_entropy backward without saved statistics")
        };
        let vocab = logits.dim(D::Minus1)?;
        let dx = with_data(logits, "cross_entropy-bwd", |x| {
            let mut dx = vec![0f32; x.len()];
            dx.par_chunks_mut(vocab)
                .zip(x.par_chunks(vocab))
                .enumerate()
                .for_each(|(i, (dr, xr))| {
                    let w = self.weights[i] * g;
                    if w == 0.0 {
                        return;
                    }
                    let l = lse[i];
                    for (d, &x) in dr.iter_mut().zip(xr) {
                        *d = w * (x - l).exp();
                    }
                    dr[self.targets[i] as usize] -= w;
                });
            dx
        })?;
        Ok(Some(cpu_tensor(dx, logits.shape())?))
    }
}

// ---------------------------------------------------------------------------

/// The plain, differentiable candle compositions: the path for non-CPU
/// devices and the reference of the gradient checks.
pub mod reference {
    use super::*;

    pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let inn = *dims.last().unwrap_or(&0);
        let x2 = x.reshape(((), inn))?;
        let y = x2.matmul(&w.t()?)?;
        let mut shape = dims;
        if let Some(last) = shape.last_mut() {
            *last = w.dim(0)?;
        }
        y.reshape(shape)
    }

    pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)
    }

    pub fn silu_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
        gate.silu()? * up
    }

    pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let (_b, s, _h, d) = x.dims4()?;
        let half = d / 2;
        let x1 = x.narrow(3, 0, half)?;
        let x2 = x.narrow(3, half, half)?;
        let c = cos.reshape((1, s, 1, half))?;
        let sn = sin.reshape((1, s, 1, half))?;
        let y1 = (x1.broadcast_mul(&c)? - x2.broadcast_mul(&sn)?)?;
        let y2 = (x2.broadcast_mul(&c)? + x1.broadcast_mul(&sn)?)?;
        Tensor::cat(&[y1, y2], 3)
    }

    pub fn causal_attention(q: &Tensor, k: &Tensor, v: &Tensor, scale: f64) -> Result<Tensor> {
        let (b, s, h, d) = q.dims4()?;
        let hk = k.dim(2)?;
        let rep = h / hk;
        let q = q.transpose(1, 2)?.contiguous()?;
        let expand = |t: &Tensor| -> Result<Tensor> {
            let t = t.transpose(1, 2)?; // (b, hk, s, d)
            let t = t
                .unsqueeze(2)?
                .expand((b, hk, rep, s, d))?
                .reshape((b, h, s, d))?;
            t.contiguous()
        };
        let k = expand(k)?;
        let v = expand(v)?;
        let att = (q.matmul(&k.t()?)? * scale)?;
        let mask: Vec<f32> = (0..s)
            .flat_map(|i| (0..s).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let mask = Tensor::from_vec(mask, (s, s), q.device())?.to_dtype(q.dtype())?;
        let att = att.broadcast_add(&mask)?;
        let att = candle_nn::ops::softmax(&att, D::Minus1)?;
        att.matmul(&v)?.transpose(1, 2)?.contiguous()
    }

    pub fn weighted_cross_entropy(
        logits: &Tensor,
        targets: &[u32],
        weights: &[f32],
    ) -> Result<Tensor> {
        let dev = logits.device();
        let n = targets.len();
        let logits = logits.reshape((n, ()))?;
        let lsm = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        // Targets of weight-0 rows may be out of range (padding): use 0.
        let safe: Vec<u32> = targets
            .iter()
            .zip(weights)
            .map(|(&t, &w)| if w == 0.0 { 0 } else { t })
            .collect();
        let t = Tensor::from_vec(safe, (n, 1), dev)?;
        let picked = lsm.gather(&t, 1)?.squeeze(1)?;
        let w = Tensor::from_slice(weights, n, dev)?.to_dtype(logits.dtype())?;
        (picked * w)?.sum_all()?.neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    /// Serialises tests that flip the process-wide fused switch.
    static SWITCH: Mutex<()> = Mutex::new(());

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        // A small deterministic generator keeps the test free of global state.
        let n: usize = shape.iter().product();
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    use crate::runtime::testutil::max_diff;

    /// `f` on fresh variables made from `inputs`: its output and the
    /// gradients of each input for the output's projection on a random
    /// tensor drawn with `seed` (None: the input does not reach the output).
    fn forward_backward(
        inputs: &[Tensor],
        f: impl Fn(&[Tensor]) -> Tensor,
        seed: u64,
    ) -> (Tensor, Vec<Option<Tensor>>) {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(t).unwrap())
            .collect();
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&ts);
        let proj = rand(y.dims(), seed);
        let grads = (&y * &proj).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = vars.iter().map(|v| grads.get(v).cloned()).collect();
        (y, gs)
    }

    /// Runs `f` with the fused kernels on and off; compares outputs and the
    /// gradients of a random projection of the output.
    fn check(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor, tol: f32) {
        let _g = SWITCH.lock().unwrap_or_else(|e| e.into_inner());
        let run = |fused: bool| {
            set_fused(fused);
            forward_backward(inputs, &f, 99)
        };
        let (y1, g1) = run(true);
        let (y0, g0) = run(false);
        set_fused(true);
        assert!(
            max_diff(&y1, &y0) <= tol,
            "forward differs: {}",
            max_diff(&y1, &y0)
        );
        for (i, (a, b)) in g1.iter().zip(&g0).enumerate() {
            match (a, b) {
                (Some(a), Some(b)) => {
                    let d = max_diff(a, b);
                    assert!(d <= tol, "gradient {i} differs by {d}");
                }
                (a, b) => panic!(
                    "gradient {i}: fused {} reference {}",
                    a.is_some(),
                    b.is_some()
                ),
            }
        }
    }

    #[test]
    fn linear_gradients_match_reference() {
        check(
            &[rand(&[2, 5, 7], 1), rand(&[3, 7], 2)],
            |t| linear(&t[0], &t[1], None).unwrap(),
            1e-5,
        );
    }

    #[test]
    fn frozen_weight_gets_no_gradient() {
        let _g = SWITCH.lock().unwrap_or_else(|e| e.into_inner());
        let x = Var::from_tensor(&rand(&[4, 6], 3)).unwrap();
        let w = rand(&[5, 6], 4); // not a Var: frozen
        let y = linear(x.as_tensor(), &w, None).unwrap();
        let grads = y.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(x.as_tensor()).is_some());
        assert!(grads.get(&w).is_none());
        // dx = ones @ W
        let want = Tensor::ones((4, 5), DType::F32, &Device::Cpu)
            .unwrap()
            .matmul(&w)
            .unwrap();
        assert!(max_diff(grads.get(x.as_tensor()).unwrap(), &want) < 1e-5);
    }

    /// Bit patterns of a tensor, for exact comparisons.
    fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    }

    /// Output and input gradients of `f` for a fixed output projection.
    fn value_and_grads(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor) -> Vec<Vec<u32>> {
        let (y, grads) = forward_backward(inputs, f, 77);
        let mut out = vec![bits(&y)];
        out.extend(grads.iter().map(|g| bits(g.as_ref().unwrap())));
        out
    }

    /// RoPE and attention on the projections' (b, s, heads * d) layout give
    /// exactly the bits of the 4-d layout.
    #[test]
    fn head_layouts_are_bit_identical() {
        let _g = SWITCH.lock().unwrap_or_else(|e| e.into_inner());
        let (b, s, h, hk, d) = (2usize, 7usize, 4usize, 2usize, 8usize);
        let ang = rand(&[s, d / 2], 40);
        let (cos, sin) = (ang.cos().unwrap(), ang.sin().unwrap());
        let inputs = [
            rand(&[b, s, h * d], 41),
            rand(&[b, s, hk * d], 42),
            rand(&[b, s, hk * d], 43),
        ];
        let flat = value_and_grads(&inputs, |t| {
            let q = rope_heads(&t[0], d, &cos, &sin).unwrap();
            let k = rope_heads(&t[1], d, &cos, &sin).unwrap();
            causal_attention_heads(&q, &k, &t[2], d, 0.3).unwrap()
        });
        let four = value_and_grads(&inputs, |t| {
            let q = rope(&t[0].reshape((b, s, h, d)).unwrap(), &cos, &sin).unwrap();
            let k = rope(&t[1].reshape((b, s, hk, d)).unwrap(), &cos, &sin).unwrap();
            let v = t[2].reshape((b, s, hk, d)).unwrap();
            causal_attention(&q, &k, &v, 0.3)
                .unwrap()
                .reshape((b, s, h * d))
                .unwrap()
        });
        assert_eq!(flat, four);
        // The plain compositions accept the same layout.
        set_fused(false);
        let plain = value_and_grads(&inputs, |t| {
            let q = rope_heads(&t[0], d, &cos, &sin).unwrap();
            let k = rope_heads(&t[1], d, &cos, &sin).unwrap();
            causal_attention_heads(&q, &k, &t[2], d, 0.3).unwrap()
        });
        set_fused(true);
        for (a, b) in plain.iter().zip(&flat) {
            let d = a
                .iter()
                .zip(b)
                .map(|(x, y)| (f32::from_bits(*x) - f32::from_bits(*y)).abs())
                .fold(0f32, f32::max);
            assert!(d < 1e-5, "plain vs fused: {d}");
        }
    }

    #[test]
    fn rms_norm_gradients_match_reference() {
        check(
            &[rand(&[2, 3, 16], 5), rand(&[16], 6)],
            |t| rms_norm(&t[0], &t[1], 1e-5).unwrap(),
            1e-5,
        );
    }

    #[test]
    fn silu_mul_gradients_match_reference() {
        check(
            &[rand(&[3, 40], 7), rand(&[3, 40], 8)],
            |t| silu_mul(&t[0], &t[1]).unwrap(),
            1e-5,
        );
    }

    #[test]
    fn rope_gradients_match_reference() {
        let (s, d) = (5usize, 8usize);
        let pos: Vec<f32> = (0..s * d / 2)
            .map(|i| (i / (d / 2)) as f32 * 0.3 + (i % (d / 2)) as f32 * 0.1)
            .collect();
        let ang = Tensor::from_vec(pos, (s, d / 2), &Device::Cpu).unwrap();
        let (cos, sin) = (ang.cos().unwrap(), ang.sin().unwrap());
        check(
            &[rand(&[2, s, 3, d], 9)],
            |t| rope(&t[0], &cos, &sin).unwrap(),
            1e-5,
        );
    }

    #[test]
    fn attention_gradients_match_reference() {
        // 4 query heads sharing 2 kv heads, as in grouped-query attention.
        check(
            &[
                rand(&[2, 6, 4, 8], 10),
                rand(&[2, 6, 2, 8], 11),
                rand(&[2, 6, 2, 8], 12),
            ],
            |t| causal_attention(&t[0], &t[1], &t[2], 0.35).unwrap(),
            1e-5,
        );
    }

    #[test]
    fn cross_entropy_gradients_match_reference() {
        let targets = [1u32, 0, 4, 2, 3, 9];
        let weights = [1.0f32, 0.0, 0.5, 1.0, 1.0, 0.0];
        check(
            &[rand(&[6, 5], 13)],
            |t| weighted_cross_entropy(&t[0], &targets, &weights).unwrap(),
            1e-5,
        );
    }

    #[test]
    fn cross_entropy_rejects_bad_target() {
        let x = rand(&[2, 3], 1);
        assert!(weighted_cross_entropy(&x, &[0, 3], &[1.0, 1.0]).is_err());
        assert!(weighted_cross_entropy(&x, &[0], &[1.0]).is_err());
    }

    /// The reference path itself against central finite differences, so the
    /// fused kernels are anchored to the mathematics and not only to candle.
    #[test]
    fn reference_attention_matches_finite_differences() {
        let q = rand(&[1, 3, 2, 4], 21);
        let k = rand(&[1, 3, 1, 4], 22);
        let v = rand(&[1, 3, 1, 4], 23);
        let proj = rand(&[1, 3, 2, 4], 24);
        let f = |q: &Tensor| -> f64 {
            let y = reference::causal_attention(q, &k, &v, 0.5).unwrap();
            (y * &proj)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        };
        let qv = Var::from_tensor(&q).unwrap();
        let y = causal_attention(qv.as_tensor(), &k, &v, 0.5).unwrap();
        let g = (y * &proj).unwrap().sum_all().unwrap().backward().unwrap();
        let g: Vec<f32> = g
            .get(qv.as_tensor())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let base: Vec<f32> = q.flatten_all().unwrap().to_vec1().unwrap();
        let h = 1e-2f32;
        for i in 0..base.len() {
            let mut p = base.clone();
            p[i] += h;
            let mut m = base.clone();
            m[i] -= h;
            let fp = f(&Tensor::from_vec(p, q.shape(), &Device::Cpu).unwrap());
            let fm = f(&Tensor::from_vec(m, q.shape(), &Device::Cpu).unwrap());
            let fd = ((fp - fm) / (2.0 * h as f64)) as f32;
            assert!((fd - g[i]).abs() < 2e-3, "elem {i}: fd {fd} vs {}", g[i]);
        }
    }
}

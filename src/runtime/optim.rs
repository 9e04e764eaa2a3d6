//! AdamW with decoupled weight decay (PyTorch's `torch.optim.AdamW` update,
//! bias correction included), gradient clipping by global norm and gradient
//! accumulation.
//!
//! The optimiser state (first and second moments, step count) lives on the
//! host as `f32` vectors so that it can be saved and restored bit-exactly
//! ([`AdamW::state`], [`AdamW::load_state`]). On CPU the update is one fused
//! in-place pass over parameter, gradient and both moments; on other devices
//! it is a composition of tensor ops and the moments stay on the device
//! between steps (copied to the host only when the state is read).

use candle_core::{
    backprop::GradStore, CpuStorage, DType, Device, InplaceOp2, Layout, Result, Tensor, Var,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Hyper-parameters of AdamW. Defaults are PyTorch's except `weight_decay`
/// (PyTorch: 0.01; here 0.0, the finetuning default of the papers' trainers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// One trainable parameter: its name (HF / PEFT tensor name), the variable,
/// and whether weight decay applies to it.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub var: Var,
    pub decay: bool,
}

impl Param {
    /// A parameter with the HF Trainer's decay rule: matrices decay, vectors
    /// (biases, norm weights) do not.
    pub fn new(name: impl Into<String>, var: Var) -> Self {
        let decay = var.as_tensor().rank() >= 2;
        Self {
            name: name.into(),
            var,
            decay,
        }
    }
}

/// The moments of one parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Moments {
    pub exp_avg: Vec<f32>,
    pub exp_avg_sq: Vec<f32>,
}

/// Everything AdamW needs to continue exactly where it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamWState {
    /// Number of optimiser steps taken so far.
    pub step: u64,
    /// Moments by parameter name.
    pub moments: BTreeMap<String, Moments>,
}

/// AdamW over a fixed list of parameters.
pub struct AdamW {
    params: Vec<Param>,
    cfg: AdamWConfig,
    step: u64,
    moments: Vec<Moments>,
    /// Moments of parameters on a GPU, kept there; when set they are newer
    /// than the host copy in `moments`.
    device_moments: Vec<Option<(Tensor, Tensor)>>,
}

impl AdamW {
    pub fn new(params: Vec<Param>, cfg: AdamWConfig) -> Result<Self> {
        let moments = params
            .iter()
            .map(|p| {
                let n = p.var.as_tensor().elem_count();
                Moments {
                    exp_avg: vec![0.0; n],
                    exp_avg_sq: vec![0.0; n],
                }
            })
            .collect();
        for p in &params {
            if p.var.dtype() != DType::F32 {
                candle_core::bail!(
                    "AdamW: parameter {} is {:?}, expected f32",
                    p.name,
                    p.var.dtype()
                );
            }
        }
        Ok(Self {
            device_moments: vec![None; params.len()],
            params,
            cfg,
            step: 0,
            moments,
        })
    }

    pub fn params(&self) -> &[Param] {
        &self.params
    }

    pub fn config(&self) -> AdamWConfig {
        self.cfg
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Applies one update with learning rate `lr`. `grads` holds one gradient
    /// per parameter (same order as [`AdamW::params`]); a `None` gradient
    /// skips that parameter, as PyTorch skips parameters whose `.grad` is None
    /// (its moments and weight decay are left untouched).
    pub fn step(&mut self, grads: &[Option<Tensor>], lr: f64) -> Result<()> {
        if grads.len() != self.params.len() {
            candle_core::bail!(
                "AdamW::step: {} gradients for {} parameters",
                grads.len(),
                self.params.len()
            );
        }
        self.step += 1;
        let t = self.step as i32;
        let c = self.cfg;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        for (((p, g), m), dm) in self
            .params
            .iter()
            .zip(grads)
            .zip(self.moments.iter_mut())
            .zip(self.device_moments.iter_mut())
        {
            let Some(g) = g else { continue };
            let wd = if p.decay { c.weight_decay } else { 0.0 };
            let coeffs = Coeffs {
                lr,
                wd,
                beta1: c.beta1,
                beta2: c.beta2,
                eps: c.eps,
                step_size: lr / bc1,
                bc2_sqrt: bc2.sqrt(),
            };
            if p.var.device().is_cpu() {
                let op = FusedAdamW {
                    coeffs,
                    moments: Mutex::new(m),
                };
                let g = g.to_dtype(DType::F32)?;
                p.var.as_tensor().inplace_op2(&g, &op)?;
            } else {
                generic_update(&p.var, g, m, dm, coeffs)?;
            }
        }
        Ok(())
    }

    /// A copy of the optimiser state, keyed by parameter name.
    pub fn state(&self) -> AdamWState {
        AdamWState {
            step: self.step,
            moments: self
                .params
                .iter()
                .zip(&self.moments)
                .zip(&self.device_moments)
                .map(|((p, m), dm)| {
                    let m = match dm {
                        None => m.clone(),
                        Some((ma, va)) => {
                            let host = |t: &Tensor| t.flatten_all().and_then(|t| t.to_vec1());
                            match (host(ma), host(va)) {
                                (Ok(exp_avg), Ok(exp_avg_sq)) => Moments {
                                    exp_avg,
                                    exp_avg_sq,
                                },
                                // A device that fails a copy fails the next
                                // step too; the host copy is the best left.
                                _ => m.clone(),
                            }
                        }
                    };
                    (p.name.clone(), m)
                })
                .collect(),
        }
    }

    /// Restores a state written by [`AdamW::state`]; every parameter must be
    /// present with the right number of elements.
    pub fn load_state(&mut self, state: &AdamWState) -> Result<()> {
        let mut moments = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let Some(m) = state.moments.get(&p.name) else {
                candle_core::bail!("optimiser state has no moments for {}", p.name)
            };
            let n = p.var.as_tensor().elem_count();
            if m.exp_avg.len() != n || m.exp_avg_sq.len() != n {
                candle_core::bail!(
                    "optimiser state for {} has {} elements, the parameter has {n}",
                    p.name,
                    m.exp_avg.len()
                );
            }
            moments.push(m.clone());
        }
        if state.moments.len() != self.params.len() {
            candle_core::bail!(
                "optimiser state has {} parameters, the model trains {}",
                state.moments.len(),
                self.params.len()
            );
        }
        self.moments = moments;
        self.device_moments = vec![None; self.params.len()];
        self.step = state.step;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Coeffs {
    lr: f64,
    wd: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    step_size: f64,
    bc2_sqrt: f64,
}

/// PyTorch's single-tensor AdamW, element by element, in the same order of
/// operations:
/// `p *= 1 - lr*wd; m = lerp(m, g, 1-b1); v = b2*v + (1-b2)*g*g;
///  p -= step_size * m / (sqrt(v)/sqrt(bc2) + eps)`.
struct FusedAdamW<'a> {
    coeffs: Coeffs,
    moments: Mutex<&'a mut Moments>,
}

impl InplaceOp2 for FusedAdamW<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let CpuStorage::F32(p) = s1 else {
            candle_core::bail!("fused-adamw: parameter is not f32")
        };
        let CpuStorage::F32(g) = s2 else {
            candle_core::bail!("fused-adamw: gradient is not f32")
        };
        let (Some((p0, p1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets())
        else {
            candle_core::bail!("fused-adamw: parameter and gradient must be contiguous")
        };
        let p = &mut p[p0..p1];
        let g = &g[g0..g1];
        let mut guard = self
            .moments
            .lock()
            .map_err(|_| candle_core::Error::Msg("fused-adamw: poisoned optimiser state".into()))?;
        let m: &mut Moments = &mut guard;
        if p.len() != g.len() || m.exp_avg.len() != p.len() {
            candle_core::bail!("fused-adamw: size mismatch");
        }
        let c = self.coeffs;
        let decay = (1.0 - c.lr * c.wd) as f32;
        let w1 = (1.0 - c.beta1) as f32;
        let b2 = c.beta2 as f32;
        let w2 = (1.0 - c.beta2) as f32;
        let bc2_sqrt = c.bc2_sqrt as f32;
        let eps = c.eps as f32;
        let neg_step = -(c.step_size as f32);
        let apply_decay = c.wd != 0.0;
        let update = |p: &mut [f32], g: &[f32], ma: &mut [f32], va: &mut [f32]| {
            for (((p, &g), ma), va) in p.iter_mut().zip(g).zip(ma.iter_mut()).zip(va.iter_mut()) {
                if apply_decay {
                    *p *= decay;
                }
                // torch.lerp(m, g, w) = m + w * (g - m) for w < 0.5
                *ma += w1 * (g - *ma);
                *va = *va * b2 + w2 * (g * g);
                let denom = va.sqrt() / bc2_sqrt + eps;
                *p += neg_step * (*ma / denom);
            }
        };
        // Element by element, so splitting a large parameter over the
        // threads gives the same bits; small ones are not worth a hand-off.
        const CHUNK: usize = 1 << 15;
        if p.len() >= 2 * CHUNK && rayon::current_num_threads() > 1 {
            use rayon::prelude::*;
            p.par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.exp_avg.par_chunks_mut(CHUNK))
                .zip(m.exp_avg_sq.par_chunks_mut(CHUNK))
                .for_each(|(((p, g), ma), va)| update(p, g, ma, va));
        } else {
            update(p, g, &mut m.exp_avg, &mut m.exp_avg_sq);
        }
        Ok(())
    }
}

/// The same update with tensor ops, for devices without the fused kernel.
/// The moments live in `dm` on the device (first uploaded from `m`).
fn generic_update(
    var: &Var,
    g: &Tensor,
    m: &Moments,
    dm: &mut Option<(Tensor, Tensor)>,
    c: Coeffs,
) -> Result<()> {
    let dev = var.device();
    let shape = var.shape();
    let g = g.to_dtype(DType::F32)?;
    let (ma, va) = match dm.take() {
        Some(x) => x,
        None => (
            Tensor::from_slice(&m.exp_avg, shape, dev)?,
            Tensor::from_slice(&m.exp_avg_sq, shape, dev)?,
        ),
    };
    let mut p = var.as_tensor().clone();
    if c.wd != 0.0 {
        p = (p * (1.0 - c.lr * c.wd))?;
    }
    let ma = (&ma + ((&g - &ma)? * (1.0 - c.beta1))?)?;
    let va = ((va * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
    let denom = ((va.sqrt()? / c.bc2_sqrt)? + c.eps)?;
    let p = (p - ((&ma / denom)? * c.step_size)?)?;
    var.set(&p)?;
    *dm = Some((ma, va));
    Ok(())
}

/// Global L2 norm of the gradients (None entries are skipped), in f64.
pub fn global_grad_norm(grads: &[Option<Tensor>]) -> Result<f64> {
    if grads.iter().flatten().any(|g| !g.device().is_cpu()) {
        // On a GPU: one sum on the device and one copy to the host, not one
        // synchronisation per parameter.
        let sums = grads
            .iter()
            .flatten()
            .map(|g| g.to_dtype(DType::F32)?.sqr()?.sum_all())
            .collect::<Result<Vec<_>>>()?;
        let total = Tensor::stack(&sums, 0)?.sum_all()?.to_scalar::<f32>()?;
        return Ok((total as f64).sqrt());
    }
    let mut total = 0f64;
    for g in grads.iter().flatten() {
        let s = g
            .to_dtype(DType::F32)?
            .sqr()?
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        total += s;
    }
    Ok(total.sqrt())
}

/// Clips gradients in place by global norm as `torch.nn.utils.clip_grad_norm_`
/// does (`coef = max_norm / (norm + 1e-6)`, applied only when below 1).
/// Returns the norm before clipping. `max_norm <= 0` disables clipping.
pub fn clip_grad_norm(grads: &mut [Option<Tensor>], max_norm: f64) -> Result<f64> {
    let norm = global_grad_norm(grads)?;
    if max_norm > 0.0 && norm.is_finite() {
        let coef = max_norm / (norm + 1e-6);
        if coef < 1.0 {
            for g in grads.iter_mut().flatten() {
                *g = (&*g * coef)?;
            }
        }
    }
    Ok(norm)
}

/// Sums gradients of several micro-batches. Each micro-batch's loss should
/// already be scaled so that the sum is the loss of the whole batch (see
/// `train`), so no division happens here.
pub struct GradAccumulator {
    vars: Vec<Var>,
    sums: Vec<Option<Tensor>>,
}

impl GradAccumulator {
    pub fn new(params: &[Param]) -> Self {
        Self {
            vars: params.iter().map(|p| p.var.clone()).collect(),
            sums: vec![None; params.len()],
        }
    }

    /// Adds the gradients of one backward pass.
    pub fn add(&mut self, grads: &GradStore) -> Result<()> {
        for (v, s) in self.vars.iter().zip(self.sums.iter_mut()) {
            if let Some(g) = grads.get(v.as_tensor()) {
                *s = Some(match s.take() {
                    None => g.clone(),
                    Some(prev) => (prev + g)?,
                });
            }
        }
        Ok(())
    }

    /// The summed gradients in parameter order; resets the accumulator.
    pub fn take(&mut self) -> Vec<Option<Tensor>> {
        std::mem::replace(&mut self.sums, vec![None; self.vars.len()])
    }
}

/// Convenience for tests and callers holding plain tensors.
pub fn zeros_like_param(p: &Param, dev: &Device) -> Result<Tensor> {
    Tensor::zeros(p.var.shape(), DType::F32, dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(v: &[f32], shape: &[usize]) -> Var {
        Var::from_tensor(&Tensor::from_slice(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    /// Reference values from PyTorch 2.15 (`scripts/adamw_reference.py`):
    /// AdamW(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1) on a
    /// 2x2 parameter, three steps with the gradients below.
    #[test]
    fn matches_pytorch_adamw() {
        let p = var(&[0.5, -1.0, 2.0, 0.0], &[2, 2]);
        let mut opt = AdamW::new(
            vec![Param::new("w", p.clone())],
            AdamWConfig {
                weight_decay: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        let gs = [
            [0.1f32, -0.2, 0.3, 0.0],
            [0.05, 0.4, -0.3, 1e-3],
            [-0.5, 0.1, 0.2, 2.0],
        ];
        for g in gs {
            let g = Tensor::from_slice(&g, (2, 2), &Device::Cpu).unwrap();
            opt.step(&[Some(g)], 0.1).unwrap();
        }
        let got: Vec<f32> = p.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let want = REFERENCE_ADAMW;
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() <= 1e-6, "{got:?} vs {want:?}");
        }
    }

    // Filled from scripts/adamw_reference.py.
    const REFERENCE_ADAMW: [f32; 4] = [0.3414874, -0.9500984, 1.8242223, -0.13757859];

    #[test]
    fn fused_and_generic_paths_agree() {
        let init = [0.3f32, -0.7, 1.5, 0.2, -0.1, 0.9];
        let a = var(&init, &[6]);
        let b = var(&init, &[6]);
        let cfg = AdamWConfig {
            weight_decay: 0.05,
            ..Default::default()
        };
        let mut pa = Param::new("a", a.clone());
        pa.decay = true;
        let mut opt = AdamW::new(vec![pa], cfg).unwrap();
        let m = Moments {
            exp_avg: vec![0.0; 6],
            exp_avg_sq: vec![0.0; 6],
        };
        let mut dm = None;
        for step in 1..=4i32 {
            let g: Vec<f32> = (0..6)
                .map(|i| ((i * 7 + step * 3) % 5) as f32 * 0.1 - 0.2)
                .collect();
            let g = Tensor::from_slice(&g, 6, &Device::Cpu).unwrap();
            opt.step(&[Some(g.clone())], 0.01).unwrap();
            let c = Coeffs {
                lr: 0.01,
                wd: 0.05,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                step_size: 0.01 / (1.0 - 0.9f64.powi(step)),
                bc2_sqrt: (1.0 - 0.999f64.powi(step)).sqrt(),
            };
            generic_update(&b, &g, &m, &mut dm, c).unwrap();
        }
        let x: Vec<f32> = a.as_tensor().to_vec1().unwrap();
        let y: Vec<f32> = b.as_tensor().to_vec1().unwrap();
        for (x, y) in x.iter().zip(&y) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
        // The tensor path keeps its moments as tensors (on a GPU, on the
        // device); they match the fused path's host moments.
        let (ma, va) = dm.unwrap();
        let fused = &opt.state().moments["a"];
        for (t, h) in [(ma, &fused.exp_avg), (va, &fused.exp_avg_sq)] {
            for (x, y) in t.to_vec1::<f32>().unwrap().iter().zip(h) {
                assert!((x - y).abs() < 1e-7, "{x} vs {y}");
            }
        }
        assert_eq!(opt.state().moments["a"].exp_avg.len(), 6);
    }

    #[test]
    fn state_round_trip_continues_identically() {
        let mk = || var(&[1.0, 2.0, 3.0], &[3]);
        let g =
            |k: f32| Some(Tensor::from_slice(&[0.1 * k, -0.2, 0.3 * k], 3, &Device::Cpu).unwrap());
        let a = mk();
        let mut oa = AdamW::new(vec![Param::new("x", a.clone())], AdamWConfig::default()).unwrap();
        for k in 0..4 {
            oa.step(&[g(k as f32)], 0.1).unwrap();
        }
        let b = mk();
        let mut ob = AdamW::new(vec![Param::new("x", b.clone())], AdamWConfig::default()).unwrap();
        for k in 0..2 {
            ob.step(&[g(k as f32)], 0.1).unwrap();
        }
        let saved = ob.state();
        let snapshot = b.as_tensor().copy().unwrap();
        let c = Var::from_tensor(&snapshot).unwrap();
        let mut oc = AdamW::new(vec![Param::new("x", c.clone())], AdamWConfig::default()).unwrap();
        oc.load_state(&saved).unwrap();
        for k in 2..4 {
            oc.step(&[g(k as f32)], 0.1).unwrap();
        }
        let x: Vec<f32> = a.as_tensor().to_vec1().unwrap();
        let y: Vec<f32> = c.as_tensor().to_vec1().unwrap();
        assert_eq!(x, y);
        assert_eq!(oc.step_count(), 4);
    }

    #[test]
    fn load_state_rejects_mismatch() {
        let a = var(&[1.0, 2.0], &[2]);
        let mut o = AdamW::new(vec![Param::new("x", a)], AdamWConfig::default()).unwrap();
        let mut st = o.state();
        st.moments.get_mut("x").unwrap().exp_avg.push(0.0);
        assert!(o.load_state(&st).is_err());
        let mut st2 = o.state();
        let m = st2.moments.remove("x").unwrap();
        st2.moments.insert("y".into(), m);
        assert!(o.load_state(&st2).is_err());
    }

    #[test]
    fn clipping_matches_torch_rule() {
        let mut gs = vec![
            Some(Tensor::from_slice(&[3.0f32, 0.0], 2, &Device::Cpu).unwrap()),
            None,
            Some(Tensor::from_slice(&[4.0f32], 1, &Device::Cpu).unwrap()),
        ];
        let n = clip_grad_norm(&mut gs, 1.0).unwrap();
        assert!((n - 5.0).abs() < 1e-9);
        let after = global_grad_norm(&gs).unwrap();
        assert!((after - 5.0 / (5.0 + 1e-6)).abs() < 1e-6, "{after}");
        // Below the threshold nothing changes.
        let mut small = vec![Some(
            Tensor::from_slice(&[0.3f32], 1, &Device::Cpu).unwrap(),
        )];
        clip_grad_norm(&mut small, 1.0).unwrap();
        let v: Vec<f32> = small[0].as_ref().unwrap().to_vec1().unwrap();
        assert_eq!(v, vec![0.3]);
    }

    #[test]
    fn accumulator_sums_backward_passes() {
        let w = var(&[1.0, 2.0], &[2]);
        let params = vec![Param::new("w", w.clone())];
        let mut acc = GradAccumulator::new(&params);
        for k in [1.0f64, 3.0] {
            let loss = (w.as_tensor() * k).unwrap().sum_all().unwrap();
            acc.add(&loss.backward().unwrap()).unwrap();
        }
        let g = acc.take();
        let v: Vec<f32> = g[0].as_ref().unwrap().to_vec1().unwrap();
        assert_eq!(v, vec![4.0, 4.0]);
        assert!(acc.take()[0].is_none());
    }
}

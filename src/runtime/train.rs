//! The training loop: full finetuning, LoRA and pretraining from scratch.
//!
//! One optimiser step = `grad_accum` micro-batches; every micro-batch loss is
//! the sum of its token losses divided by the number of loss tokens of the
//! whole step, so the accumulated gradient is exactly the gradient of the mean
//! token loss of the step (as transformers does with `num_items_in_batch`).
//! Then: global-norm clipping, the scheduled learning rate, AdamW.
//!
//! Determinism: batches are a pure function of `(seed, epoch, index)`, LoRA
//! init and dropout are seeded, and candle's CPU kernels and ours are
//! deterministic for a given thread count, so a run is reproducible and a run
//! resumed from a checkpoint reaches the same weights as an uninterrupted one.

use super::batch::{BatchConfig, Batcher, Encoded};
use super::checkpoint::{self, TrainerState, FORMAT_VERSION};
use super::kernels;
use super::lora::LoraConfig;
use super::model::{Mode, Model};
use super::optim::{clip_grad_norm, AdamW, AdamWConfig, GradAccumulator, Param};
use super::schedule::{Schedule, ScheduleKind};
use candle_core::{DType, Tensor};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What is trained.
#[derive(Debug, Clone, PartialEq)]
pub enum Method {
    /// Every weight of the model.
    Full,
    /// A fresh LoRA adapter on a frozen base.
    Lora(LoraConfig),
}

/// How long to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Whole passes over the data (finetuning).
    Epochs(u64),
    /// A fixed number of optimiser steps, cycling over the data (pretraining).
    Steps(u64),
}

/// Everything that determines a training run besides the model and data.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub method: Method,
    pub length: Length,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per optimiser step.
    pub grad_accum: usize,
    pub lr: f64,
    pub schedule: ScheduleKind,
    pub warmup_steps: u64,
    pub min_lr_ratio: f64,
    pub weight_decay: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    /// Clip the global gradient norm to this value (0 disables).
    pub max_grad_norm: f64,
    /// Longest training sequence in tokens.
    pub max_seq: usize,
    pub packing: bool,
    /// Seeds the data order, LoRA init and LoRA dropout.
    pub seed: u64,
    /// Number of evenly spaced checkpoints (the last one is the end of the run).
    pub checkpoints: u32,
    /// Write the loadable model (adapter or HF weights) into each checkpoint.
    pub export_checkpoints: bool,
    /// Token id used for padding (never a loss target).
    pub pad_id: u32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            method: Method::Full,
            length: Length::Epochs(1),
            batch_size: 8,
            grad_accum: 1,
            lr: 1e-4,
            schedule: ScheduleKind::Linear,
            warmup_steps: 0,
            min_lr_ratio: 0.0,
            weight_decay: 0.0,
            betas: (0.9, 0.999),
            eps: 1e-8,
            max_grad_norm: 1.0,
            max_seq: 512,
            packing: false,
            seed: 0,
            checkpoints: 0,
            export_checkpoints: true,
            pad_id: 0,
        }
    }
}

/// One line of progress, reported after every optimiser step.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Steps completed (1-based after the first step).
    pub step: u64,
    pub total_steps: u64,
    /// Mean token loss of this step.
    pub loss: f32,
    /// Learning rate used by this step.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Real tokens per second over this step.
    pub tokens_per_s: f64,
    /// Real tokens processed since the start of the run (resumed runs count
    /// the tokens before the checkpoint).
    pub tokens: u64,
    /// Where this step's wall time went.
    pub phases: StepPhases,
}

/// Wall time of one optimiser step by phase, seconds (for profiling; the
/// phases add up to the step's time up to the progress call itself).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StepPhases {
    /// Building the batches and their tensors.
    pub data: f64,
    /// Forward pass: embedding to the loss, including reading the loss.
    pub forward: f64,
    /// `loss.backward()` and summing the micro-batch gradients.
    pub backward: f64,
    /// Gradient norm and clipping.
    pub clip: f64,
    /// The AdamW update.
    pub optimizer: f64,
}

/// The result of a finished run.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    pub steps: u64,
    /// Mean token loss of every step (including the steps before a resume).
    pub losses: Vec<f32>,
    pub tokens: u64,
    /// The step the run resumed from, if it did.
    pub resumed_from: Option<u64>,
    /// Checkpoints written under the run directory, by step.
    pub checkpoints: Vec<(u64, PathBuf)>,
    /// Wall time of this invocation, seconds.
    pub seconds: f64,
}

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid training configuration: {0}")]
    Config(String),
    #[error(
        "loss became {value} at step {step}{}; lower the learning rate or check the data",
        match last_finite { Some(l) => format!(" (last finite loss {l:.4})"), None => String::new() }
    )]
    NonFinite {
        step: u64,
        value: f32,
        last_finite: Option<f32>,
    },
    #[error(
        "the checkpoint in {dir} belongs to a different configuration or data set; \
         delete it or use a fresh run directory"
    )]
    CheckpointMismatch { dir: PathBuf },
    #[error(transparent)]
    Checkpoint(#[from] checkpoint::CheckpointError),
    #[error("model: {0}")]
    Model(#[from] super::model::ModelError),
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("stopped at step {step} on request")]
    Interrupted { step: u64 },
}

impl TrainConfig {
    fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Config(m.to_string()));
        if self.batch_size == 0 {
            return bad("batch size must be at least 1");
        }
        if self.grad_accum == 0 {
            return bad("grad_accum must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("the learning rate must be a positive number");
        }
        if matches!(self.length, Length::Epochs(0) | Length::Steps(0)) {
            return bad("a run needs at least one epoch or step");
        }
        if !(0.0..1.0).contains(&self.betas.0) || !(0.0..1.0).contains(&self.betas.1) {
            return bad("AdamW betas must lie in [0, 1)");
        }
        if self.max_seq < 2 {
            return bad("max_seq must be at least 2");
        }
        Ok(())
    }
}

/// Fingerprint of a run's configuration and data: a resumed run must match.
fn fingerprint(cfg: &TrainConfig, examples: &[Encoded], model: &Model) -> String {
    let mut h = blake3::Hasher::new();
    // Fields that do not change the computation are left out, so that asking
    // for more checkpoints does not invalidate the old ones.
    let mut c = cfg.clone();
    c.checkpoints = 0;
    c.export_checkpoints = false;
    h.update(format!("{c:?}").as_bytes());
    h.update(format!("{:?}", model.config().num_parameters()).as_bytes());
    for e in examples {
        h.update(&(e.ids.len() as u64).to_le_bytes());
        for (&id, &m) in e.ids.iter().zip(&e.mask) {
            h.update(&id.to_le_bytes());
            h.update(&[m as u8]);
        }
    }
    h.finalize().to_hex().to_string()
}

/// Attaches what is trained to the model and returns the parameters.
fn setup(model: &mut Model, cfg: &TrainConfig) -> Result<Vec<Param>, TrainError> {
    let vars = match &cfg.method {
        Method::Full => model.make_trainable()?,
        Method::Lora(l) => model.add_lora(l, cfg.seed)?,
    };
    Ok(vars
        .into_iter()
        .map(|(name, var)| Param::new(name, var))
        .collect())
}

/// Writes the trained model where others load it: a PEFT adapter for LoRA,
/// an HF checkpoint (f32) for full training.
pub fn save_output(
    model: &Model,
    method: &Method,
    dir: &Path,
    base_model: Option<&str>,
) -> Result<(), TrainError> {
    match method {
        Method::Lora(_) => model.save_adapter(dir, base_model)?,
        Method::Full => model.save_hf(dir, DType::F32)?,
    }
    Ok(())
}

/// Trains `model` in place on `examples`.
///
/// `run_dir`, when given, receives checkpoints; if it already holds one made
/// by the same configuration and data, training resumes from the latest.
/// `progress` is called after every step; `stop` is polled between steps
/// (return true to stop with [`TrainError::Interrupted`] after writing a
/// checkpoint when `run_dir` is set).
pub fn train(
    model: &mut Model,
    examples: Vec<Encoded>,
    cfg: &TrainConfig,
    run_dir: Option<&Path>,
    progress: &mut dyn FnMut(&Progress),
    stop: &dyn Fn() -> bool,
) -> Result<TrainOutcome, TrainError> {
    let started = Instant::now();
    cfg.validate()?;
    let fp = fingerprint(cfg, &examples, model);
    let batcher = Batcher::new(
        examples,
        BatchConfig {
            batch_size: cfg.batch_size,
            max_seq: cfg.max_seq,
            packing: cfg.packing,
            shuffle: true,
            seed: cfg.seed,
            pad_id: cfg.pad_id,
        },
    )
    .map_err(TrainError::Config)?;
    let per_epoch = batcher.batches_per_epoch() as u64;
    if per_epoch == 0 {
        return Err(TrainError::Config(
            "no training sequence has a loss token".into(),
        ));
    }
    let accum = cfg.grad_accum as u64;
    let (total_steps, total_micro) = match cfg.length {
        Length::Epochs(e) => {
            let micro = e * per_epoch;
            (micro.div_ceil(accum), micro)
        }
        Length::Steps(s) => (s, s * accum),
    };
    let schedule = Schedule {
        kind: cfg.schedule,
        lr: cfg.lr,
        warmup: cfg.warmup_steps,
        total: total_steps,
        min_lr_ratio: cfg.min_lr_ratio,
    };

    let params = setup(model, cfg)?;
    let mut opt = AdamW::new(
        params.clone(),
        AdamWConfig {
            beta1: cfg.betas.0,
            beta2: cfg.betas.1,
            eps: cfg.eps,
            weight_decay: cfg.weight_decay,
        },
    )?;

    // Resume from the latest checkpoint of the same run.
    let mut state = TrainerState {
        step: 0,
        total_steps,
        fingerprint: fp.clone(),
        losses: Vec::new(),
        tokens: 0,
        version: FORMAT_VERSION,
    };
    let mut resumed_from = None;
    if let Some(dir) = run_dir {
        if let Some((_, latest)) = checkpoint::list(dir).pop() {
            let ck = checkpoint::load(&latest)?;
            if ck.state.fingerprint != fp || ck.state.total_steps != total_steps {
                return Err(TrainError::CheckpointMismatch { dir: latest });
            }
            for p in &params {
                let Some(t) = ck.trainable.get(&p.name) else {
                    return Err(TrainError::CheckpointMismatch { dir: latest });
                };
                let t = t.to_device(p.var.device())?.to_dtype(p.var.dtype())?;
                if t.shape() != p.var.shape() {
                    return Err(TrainError::CheckpointMismatch { dir: latest });
                }
                p.var.set(&t)?;
            }
            opt.load_state(&ck.optimizer)
                .map_err(|_| TrainError::CheckpointMismatch {
                    dir: latest.clone(),
                })?;
            resumed_from = Some(ck.state.step);
            state = ck.state;
        }
    }

    let ckpt_steps: Vec<u64> = (1..=cfg.checkpoints as u64)
        .map(|k| (total_steps * k).div_ceil(cfg.checkpoints as u64))
        .collect();
    let mut written: Vec<(u64, PathBuf)> = run_dir.map(checkpoint::list).unwrap_or_default();
    let device = model.device().clone();
    let mut acc = GradAccumulator::new(&params);
    let mut epoch_cache: Option<(u64, Vec<Encoded>)> = None;
    let mut last_finite = state.losses.last().copied();

    while state.step < total_steps {
        if stop() {
            if let Some(dir) = run_dir {
                written.push((
                    state.step,
                    write_checkpoint(dir, model, cfg, &params, &opt, &state)?,
                ));
            }
            return Err(TrainError::Interrupted { step: state.step });
        }
        let t0 = Instant::now();
        let mut phases = StepPhases::default();
        let step = state.step;
        let first = step * accum;
        let last = ((step + 1) * accum).min(total_micro);
        let mut batches = Vec::with_capacity((last - first) as usize);
        for g in first..last {
            let (epoch, index) = (g / per_epoch, (g % per_epoch) as usize);
            if epoch_cache.as_ref().map(|c| c.0) != Some(epoch) {
                epoch_cache = Some((epoch, batcher.epoch_sequences(epoch)));
            }
            let seqs = &epoch_cache.as_ref().expect("set above").1;
            if let Some(b) = batcher.batch_from(seqs, index) {
                batches.push(b);
            }
        }
        if let Method::Lora(l) = &cfg.method {
            if l.dropout > 0.0 {
                let seed = cfg.seed ^ (step + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                model.reseed_lora_dropout(seed)?;
            }
        }
        phases.data += t0.elapsed().as_secs_f64();
        let loss_tokens: usize = batches.iter().map(|b| b.loss_tokens()).sum();
        let mut step_loss = 0f32;
        let mut tokens = 0u64;
        if loss_tokens > 0 {
            let scale = 1.0 / loss_tokens as f32;
            for b in &batches {
                if b.loss_tokens() == 0 {
                    continue;
                }
                tokens += b.real_tokens() as u64;
                let tf = Instant::now();
                let ids = Tensor::from_slice(&b.inputs, (b.rows, b.cols), &device)?;
                let hidden = model.hidden_states(&ids, None, Mode::Train)?;
                // (rows, cols, vocab): the loss reads all leading dimensions
                // as rows, so no reshape node copies the logits' gradient.
                let logits = model.logits(&hidden)?;
                let weights: Vec<f32> = b.weights.iter().map(|w| w * scale).collect();
                let loss = kernels::weighted_cross_entropy(&logits, &b.targets, &weights)?;
                let value = loss.to_dtype(DType::F32)?.to_scalar::<f32>()?;
                if !value.is_finite() {
                    return Err(TrainError::NonFinite {
                        step: step + 1,
                        value,
                        last_finite,
                    });
                }
                step_loss += value;
                let tb = Instant::now();
                phases.forward += tb.duration_since(tf).as_secs_f64();
                acc.add(&loss.backward()?)?;
                phases.backward += tb.elapsed().as_secs_f64();
            }
        }
        let tc = Instant::now();
        let mut grads = acc.take();
        let norm = clip_grad_norm(&mut grads, cfg.max_grad_norm)?;
        if !norm.is_finite() {
            return Err(TrainError::NonFinite {
                step: step + 1,
                value: norm as f32,
                last_finite,
            });
        }
        let lr = schedule.lr(step);
        let to = Instant::now();
        phases.clip = to.duration_since(tc).as_secs_f64();
        opt.step(&grads, lr)?;
        drop(grads);
        phases.optimizer = to.elapsed().as_secs_f64();

        state.step += 1;
        state.tokens += tokens;
        state.losses.push(step_loss);
        last_finite = Some(step_loss);
        let secs = t0.elapsed().as_secs_f64().max(1e-9);
        progress(&Progress {
            step: state.step,
            total_steps,
            loss: step_loss,
            lr,
            grad_norm: norm,
            tokens_per_s: tokens as f64 / secs,
            tokens: state.tokens,
            phases,
        });
        if let Some(dir) = run_dir {
            if ckpt_steps.contains(&state.step) {
                written.push((
                    state.step,
                    write_checkpoint(dir, model, cfg, &params, &opt, &state)?,
                ));
            }
        }
    }
    written.sort();
    written.dedup();
    Ok(TrainOutcome {
        steps: state.step,
        losses: state.losses,
        tokens: state.tokens,
        resumed_from,
        checkpoints: written,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn write_checkpoint(
    dir: &Path,
    model: &Model,
    cfg: &TrainConfig,
    params: &[Param],
    opt: &AdamW,
    state: &TrainerState,
) -> Result<PathBuf, TrainError> {
    let trainable: Vec<(String, Tensor)> = params
        .iter()
        .map(|p| (p.name.clone(), p.var.as_tensor().clone()))
        .collect();
    let export = |d: &Path| save_output(model, &cfg.method, d, None).map_err(|e| e.to_string());
    let exp: Option<checkpoint::ExportFn<'_>> = if cfg.export_checkpoints {
        Some(&export)
    } else {
        None
    };
    Ok(checkpoint::save(dir, state, &trainable, &opt.state(), exp)?)
}

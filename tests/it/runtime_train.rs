//! Standing checks of the training loop on a 2-layer d=64 model: every
//! trainable tensor gets a gradient, the loss falls on a learnable batch
//! (full and LoRA), a run resumed from a checkpoint ends bit-identical to an
//! uninterrupted one, and a non-finite loss stops with a clear error.

use candle_core::{DType, Device, Tensor};
use inoc::runtime::batch::Encoded;
use inoc::runtime::config::ModelConfig;
use inoc::runtime::kernels;
use inoc::runtime::lora::LoraConfig;
use inoc::runtime::model::{Mode, Model};
use inoc::runtime::schedule::ScheduleKind;
use inoc::runtime::train::{train, Length, Method, TrainConfig, TrainError};

const VOCAB: usize = 48;

fn tiny_model(seed: u64) -> Model {
    let cfg = ModelConfig::small(VOCAB, 64, 2, 4, 2, 128, 64).unwrap();
    Model::init_random(cfg, seed, &Device::Cpu, DType::F32).unwrap()
}

/// Counting sequences `a, a+1, a+2, ...` (mod vocab): easy to learn.
fn counting(n: usize, len: usize) -> Vec<Encoded> {
    (0..n)
        .map(|i| {
            let start = (i * 7) % VOCAB;
            Encoded {
                ids: (0..len).map(|t| ((start + t) % VOCAB) as u32).collect(),
                // Loss on the second half only, as with assistant-only loss.
                mask: (0..len).map(|t| t >= len / 2).collect(),
            }
        })
        .collect()
}

fn lora() -> Method {
    Method::Lora(LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        use_rslora: false,
        target_modules: [
            "q_proj",
            "k_proj",
            "v_proj",
            "o_proj",
            "gate_proj",
            "up_proj",
            "down_proj",
        ]
        .map(String::from)
        .to_vec(),
    })
}

fn cfg(method: Method, steps: u64) -> TrainConfig {
    TrainConfig {
        method,
        length: Length::Steps(steps),
        batch_size: 4,
        grad_accum: 2,
        lr: 3e-3,
        schedule: ScheduleKind::Cosine,
        warmup_steps: 2,
        min_lr_ratio: 0.1,
        weight_decay: 0.01,
        max_seq: 24,
        seed: 5,
        ..TrainConfig::default()
    }
}

fn run(
    model: &mut Model,
    c: &TrainConfig,
    dir: Option<&std::path::Path>,
) -> Result<Vec<f32>, TrainError> {
    train(model, counting(24, 20), c, dir, &mut |_| {}, &|| false).map(|o| o.losses)
}

fn weights(m: &Model) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> = m
        .named_tensors()
        .into_iter()
        .chain(m.lora_tensors())
        .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1().unwrap()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn every_trainable_tensor_gets_a_gradient() {
    // Tests flip the process-wide fused-kernel switch: one at a time, no model runs beside them.
    let _g = crate::kernels_switchable();
    for fused in [true, false] {
        kernels::set_fused(fused);
        for full in [true, false] {
            let mut m = tiny_model(1);
            let vars = if full {
                m.make_trainable().unwrap()
            } else {
                let Method::Lora(l) = lora() else {
                    unreachable!()
                };
                m.add_lora(&l, 0).unwrap()
            };
            let ids = Tensor::new(
                &[[1u32, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]],
                &Device::Cpu,
            )
            .unwrap();
            let logits = m
                .forward(&ids, None, Mode::Train)
                .unwrap()
                .reshape((12, VOCAB))
                .unwrap();
            let targets: Vec<u32> = (2..14).collect();
            let loss = kernels::weighted_cross_entropy(&logits, &targets, &[1.0; 12]).unwrap();
            let grads = loss.backward().unwrap();
            for (name, v) in &vars {
                let g = grads.get(v.as_tensor()).unwrap_or_else(|| {
                    panic!("{name} got no gradient (fused={fused}, full={full})")
                });
                let n = g
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(n.is_finite(), "{name}");
                // lora_A's gradient is zero at step 0 because lora_B starts at
                // zero; every other tensor must receive a non-zero gradient.
                if !name.contains("lora_A") {
                    assert!(n > 0.0, "{name} has an all-zero gradient (fused={fused})");
                }
            }
        }
    }
    kernels::set_fused(true);
}

#[test]
fn loss_falls_full_and_lora() {
    // Tests flip the process-wide fused-kernel switch: one at a time, no model runs beside them.
    let _g = crate::kernels_switchable();
    for method in [Method::Full, lora()] {
        let mut m = tiny_model(2);
        let mut c = cfg(method.clone(), 12);
        if matches!(method, Method::Lora(_)) {
            c.lr = 2e-2; // LoRA moves a small subspace: the usual 10x higher rate
        }
        let losses = run(&mut m, &c, None).unwrap();
        let (first, last) = (losses[0], *losses.last().unwrap());
        // LoRA on a random base only adapts a small subspace: it falls slower.
        let factor = if matches!(method, Method::Full) {
            0.8
        } else {
            0.9
        };
        assert!(last < first * factor, "{method:?}: {losses:?}");
    }
}

/// A bf16 model (the CUDA default) trains with f32 master weights: the vars
/// are f32, every one gets a gradient through the bf16 casts, the loss falls
/// like the f32 model's, and the model's forward still computes in bf16.
#[test]
fn bf16_model_trains_f32_master_weights() {
    // Tests flip the process-wide fused-kernel switch: one at a time, no model runs beside them.
    let _g = crate::kernels_switchable();
    for method in [Method::Full, lora()] {
        let cfg32 = ModelConfig::small(VOCAB, 64, 2, 4, 2, 128, 64).unwrap();
        let mut m = Model::init_random(cfg32, 2, &Device::Cpu, DType::BF16).unwrap();
        let mut c = cfg(method.clone(), 12);
        if matches!(method, Method::Lora(_)) {
            c.lr = 2e-2;
        }
        let losses = run(&mut m, &c, None).unwrap();
        let (first, last) = (losses[0], *losses.last().unwrap());
        let mut reference = tiny_model(2);
        let ref_losses = run(&mut reference, &c, None).unwrap();
        let factor = if matches!(method, Method::Full) {
            0.8
        } else {
            0.9
        };
        assert!(last < first * factor, "{method:?}: {losses:?}");
        // bf16 activations: the curve follows the f32 one loosely.
        for (a, b) in losses.iter().zip(&ref_losses) {
            assert!(
                (a - b).abs() < 0.1 * b.abs().max(1.0),
                "{losses:?} vs {ref_losses:?}"
            );
        }
        let trained: Vec<(String, Tensor)> = match method {
            Method::Full => m.named_tensors(),
            Method::Lora(_) => m.lora_tensors(),
        };
        for (name, t) in &trained {
            assert_eq!(t.dtype(), DType::F32, "{name} is not an f32 master weight");
        }
        assert_eq!(m.dtype(), DType::BF16);
        let ids = Tensor::new(&[[1u32, 2, 3]], &Device::Cpu).unwrap();
        let logits = m.forward(&ids, None, Mode::Infer).unwrap();
        assert_eq!(logits.dtype(), DType::F32);
    }
}

#[test]
fn fused_and_plain_paths_train_alike() {
    // Tests flip the process-wide fused-kernel switch: one at a time, no model runs beside them.
    let _g = crate::kernels_switchable();
    let mut out = Vec::new();
    for fused in [true, false] {
        kernels::set_fused(fused);
        let mut m = tiny_model(3);
        out.push(run(&mut m, &cfg(Method::Full, 4), None).unwrap());
    }
    kernels::set_fused(true);
    for (a, b) in out[0].iter().zip(&out[1]) {
        assert!((a - b).abs() < 1e-3, "{:?} vs {:?}", out[0], out[1]);
    }
}

#[test]
fn resumed_run_equals_uninterrupted_run() {
    // Tests flip the process-wide fused-kernel switch: one at a time, no model runs beside them.
    let _g = crate::kernels_switchable();
    let mut with_dropout = lora();
    if let Method::Lora(l) = &mut with_dropout {
        l.dropout = 0.1; // dropout masks must replay identically after a resume
    }
    for method in [Method::Full, with_dropout] {
        let mut c = cfg(method.clone(), 6);
        c.checkpoints = 2; // after steps 3 and 6
        let straight_dir = tempfile::tempdir().unwrap();
        let mut a = tiny_model(4);
        let la = run(&mut a, &c, Some(straight_dir.path())).unwrap();

        // Second run: killed right after the first checkpoint (step 3).
        let dir = tempfile::tempdir().unwrap();
        let mut b = tiny_model(4);
        let steps = std::cell::Cell::new(0u64);
        let r = train(
            &mut b,
            counting(24, 20),
            &c,
            Some(dir.path()),
            &mut |p| steps.set(p.step),
            &|| steps.get() == 4,
        );
        assert!(
            matches!(r, Err(TrainError::Interrupted { step: 4 })),
            "{r:?}"
        );
        // Simulate a crash that lost the stop-time checkpoint: only step 3 is left.
        std::fs::remove_dir_all(dir.path().join("checkpoint-000004")).unwrap();

        let mut resumed = tiny_model(4);
        let out = train(
            &mut resumed,
            counting(24, 20),
            &c,
            Some(dir.path()),
            &mut |_| {},
            &|| false,
        )
        .unwrap();
        assert_eq!(out.resumed_from, Some(3));
        assert_eq!(out.losses, la, "{method:?}");
        assert_eq!(
            weights(&resumed),
            weights(&a),
            "{method:?}: weights differ after resume"
        );
        assert!(dir.path().join("checkpoint-000006/export").is_dir());
    }
}

#[test]
fn changed_config_refuses_old_checkpoint() {
    // Tests flip the process-wide fused-kernel switch: one at a time, no model runs beside them.
    let _g = crate::kernels_switchable();
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(Method::Full, 2);
    c.checkpoints = 1;
    c.export_checkpoints = false;
    run(&mut tiny_model(5), &c, Some(dir.path())).unwrap();
    c.lr = 1e-3;
    let e = run(&mut tiny_model(5), &c, Some(dir.path())).unwrap_err();
    assert!(matches!(e, TrainError::CheckpointMismatch { .. }), "{e}");
}

#[test]
fn non_finite_loss_names_the_step() {
    // Tests flip the process-wide fused-kernel switch: one at a time, no model runs beside them.
    let _g = crate::kernels_switchable();
    let m = tiny_model(6);
    let mut map: std::collections::BTreeMap<String, Tensor> =
        m.named_tensors().into_iter().collect();
    let name = "model.layers.1.mlp.down_proj.weight".to_string();
    let w = map[&name].clone();
    map.insert(name, w.ones_like().unwrap().affine(0.0, f64::NAN).unwrap());
    let mut bad = Model::from_tensors(m.config().clone(), map, &Device::Cpu).unwrap();
    let e = run(&mut bad, &cfg(Method::Full, 3), None).unwrap_err();
    match &e {
        TrainError::NonFinite {
            step, last_finite, ..
        } => {
            assert_eq!(*step, 1);
            assert_eq!(*last_finite, None);
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("step 1"), "{e}");
}

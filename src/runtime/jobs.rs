//! The two training jobs the engine runs, from conversations to a model
//! directory others load with [`LoadedModel::load`]:
//! - [`finetune`]: LoRA or full finetuning of a loaded model (loss on
//!   assistant tokens by default); writes a PEFT adapter (LoRA) or an HF
//!   checkpoint with the base's tokenizer files (full);
//! - [`pretrain`]: a small Llama-family model from scratch on a chat corpus
//!   with a character-level or BPE tokenizer trained on that corpus; writes an
//!   HF checkpoint + tokenizer + ChatML template.
//!
//! Both take plain Rust types (no candle) and report through [`Progress`].

use super::batch::{encode_example, Encoded, LossOn};
use super::chat_template::{ChatTemplate, Message};
use super::config::ModelConfig;
use super::hub::ModelSource;
use super::loader::LoadedModel;
use super::model::Model;
use super::tokenizer::{Tokenizer, CHATML_TEMPLATE, IM_END, PAD_TOKEN};
use super::train::{save_output, train, Method, Progress, TrainConfig, TrainError, TrainOutcome};
use std::collections::BTreeMap;
use std::path::Path;

use super::loader::TOKENIZER_FILES;

fn encode_all(
    lm: &LoadedModel,
    data: &[Vec<Message>],
    loss_on: LossOn,
    max_seq: usize,
) -> Result<Vec<Encoded>, TrainError> {
    data.iter()
        .enumerate()
        .map(|(i, conv)| {
            encode_example(lm, conv, loss_on, max_seq)
                .map_err(|m| TrainError::Config(format!("training example {}: {m}", i + 1)))
        })
        .collect()
}

fn pad_id(lm: &LoadedModel) -> u32 {
    lm.model()
        .config()
        .pad_token_id
        .or_else(|| lm.tokenizer().token_to_id(PAD_TOKEN))
        .unwrap_or(0)
}

/// Finetunes `base` (loaded without an adapter) on `data` and writes the
/// result to `out_dir`: a PEFT adapter for LoRA (load it with
/// `LoadOptions::adapter` on the same base), an HF checkpoint plus the
/// base's tokenizer files for full finetuning. `base_model` is recorded in
/// `adapter_config.json`. The model in `base` is trained in place.
#[allow(clippy::too_many_arguments)]
pub fn finetune(
    base: &mut LoadedModel,
    data: &[Vec<Message>],
    loss_on: LossOn,
    cfg: &TrainConfig,
    run_dir: Option<&Path>,
    out_dir: &Path,
    base_model: Option<&str>,
    progress: &mut dyn FnMut(&Progress),
    stop: &dyn Fn() -> bool,
) -> Result<TrainOutcome, TrainError> {
    let examples = encode_all(base, data, loss_on, cfg.max_seq)?;
    let mut cfg = cfg.clone();
    cfg.pad_id = pad_id(base);
    let src_dir = base.source().dir.clone();
    let outcome = train(base.model_mut(), examples, &cfg, run_dir, progress, stop)?;
    save_output(base.model(), &cfg.method, out_dir, base_model)?;
    if cfg.method == Method::Full {
        copy_tokenizer_files(&src_dir, out_dir)?;
    }
    Ok(outcome)
}

fn copy_tokenizer_files(from: &Path, to: &Path) -> Result<(), TrainError> {
    for f in TOKENIZER_FILES {
        let src = from.join(f);
        if src.is_file() {
            std::fs::copy(&src, to.join(f))
                .map_err(|e| TrainError::Config(format!("cannot copy {}: {e}", src.display())))?;
        }
    }
    Ok(())
}

/// Tokenizer of a model trained from scratch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenizerKind {
    /// One token per character of the corpus.
    Char,
    /// Byte-level BPE with this vocabulary size.
    Bpe(usize),
    /// Byte-level BPE with this vocabulary size (markers included) whose
    /// tokens carry no case: see [`super::case_markers`].
    CaseMarkedBpe(usize),
}

/// Architecture of a model trained from scratch (Llama family, tied
/// embeddings, SwiGLU, RoPE).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arch {
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub ffn: usize,
    pub max_seq: usize,
    pub tie_embeddings: bool,
    pub rope_theta: f64,
}

/// Pretrains a model from scratch on `corpus` (conversations rendered with
/// ChatML, loss on every token) and writes an HF model directory to
/// `out_dir`. `cfg.method` must be [`Method::Full`]; `cfg.seed` seeds the
/// initialisation and the data order; the model computes as `compute` says.
#[allow(clippy::too_many_arguments)]
pub fn pretrain(
    corpus: &[Vec<Message>],
    arch: &Arch,
    tokenizer: TokenizerKind,
    compute: super::Compute,
    cfg: &TrainConfig,
    run_dir: Option<&Path>,
    out_dir: &Path,
    progress: &mut dyn FnMut(&Progress),
    stop: &dyn Fn() -> bool,
) -> Result<TrainOutcome, TrainError> {
    if cfg.method != Method::Full {
        return Err(TrainError::Config(
            "pretraining trains every weight (method full)".into(),
        ));
    }
    if corpus.is_empty() {
        return Err(TrainError::Config("the pretraining corpus is empty".into()));
    }
    let bad = |e: String| TrainError::Config(e);
    let mut sources = BTreeMap::new();
    sources.insert("default".to_string(), CHATML_TEMPLATE.to_string());
    let mut special = BTreeMap::new();
    special.insert("eos_token".to_string(), IM_END.to_string());
    special.insert("pad_token".to_string(), PAD_TOKEN.to_string());
    let template = ChatTemplate::new(sources, special).map_err(|e| bad(e.to_string()))?;
    let texts: Vec<String> = corpus
        .iter()
        .map(|c| template.render(c, false))
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let tok = match tokenizer {
        TokenizerKind::Char => Tokenizer::char_level(&texts),
        TokenizerKind::Bpe(v) => Tokenizer::train_bpe(&texts, v),
        TokenizerKind::CaseMarkedBpe(v) => Tokenizer::train_bpe_with(&texts, v, true),
    }
    .map_err(|e| bad(e.to_string()))?;

    let mut mc = ModelConfig::small(
        tok.vocab_size(),
        arch.hidden,
        arch.layers,
        arch.heads,
        arch.kv_heads,
        arch.ffn,
        arch.max_seq,
    )
    .map_err(|e| bad(e.to_string()))?;
    mc.tie_word_embeddings = arch.tie_embeddings;
    mc.rope_theta = arch.rope_theta;
    mc.eos_token_ids = tok.token_to_id(IM_END).into_iter().collect();
    mc.pad_token_id = tok.token_to_id(PAD_TOKEN);
    // The run's device (`--device`; CPU unless built with CUDA): the
    // weights are drawn on the host, so a seed gives the same init anywhere.
    let (device, dtype) = super::loader::resolve(compute.device, compute.precision)
        .map_err(|e| bad(e.to_string()))?;
    let model = Model::init_random(mc, cfg.seed, &device, dtype)?;

    // The tokenizer and template go to disk first so the bundle is the same
    // one `LoadedModel::load` will later read.
    tok.save_with_chat_template(out_dir)
        .map_err(|e| bad(e.to_string()))?;
    let source = ModelSource {
        dir: out_dir.to_path_buf(),
        hub: None,
    };
    let mut lm = LoadedModel::assemble(model, tok, template, source, None);
    let mut examples = Vec::with_capacity(corpus.len());
    for (i, conv) in corpus.iter().enumerate() {
        match encode_example(&lm, conv, LossOn::All, cfg.max_seq.min(arch.max_seq)) {
            Ok(e) => examples.push(e),
            Err(m) => return Err(bad(format!("corpus conversation {}: {m}", i + 1))),
        }
    }
    let mut cfg = cfg.clone();
    cfg.pad_id = pad_id(&lm);
    cfg.max_seq = cfg.max_seq.min(arch.max_seq);
    let outcome = train(lm.model_mut(), examples, &cfg, run_dir, progress, stop)?;
    save_output(lm.model(), &Method::Full, out_dir, None)?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::loader::LoadOptions;
    use crate::runtime::lora::LoraConfig;
    use crate::runtime::train::Length;

    fn corpus() -> Vec<Vec<Message>> {
        (0..12)
            .map(|i| {
                vec![
                    Message::user(&format!("count from {i}")),
                    Message::assistant(&format!("{} {} {}", i, i + 1, i + 2)),
                ]
            })
            .collect()
    }

    fn arch() -> Arch {
        Arch {
            layers: 2,
            hidden: 64,
            heads: 4,
            kv_heads: 2,
            ffn: 128,
            max_seq: 64,
            tie_embeddings: true,
            rope_theta: 10_000.0,
        }
    }

    /// Pretrain from scratch, load the directory back, finetune it with LoRA
    /// and with full training, and load both results.
    #[test]
    fn pretrain_then_finetune_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let base_dir = dir.path().join("base");
        let cfg = TrainConfig {
            length: Length::Steps(3),
            batch_size: 4,
            lr: 3e-3,
            max_seq: 64,
            ..TrainConfig::default()
        };
        let out = pretrain(
            &corpus(),
            &arch(),
            TokenizerKind::Char,
            crate::runtime::Compute::default(),
            &cfg,
            None,
            &base_dir,
            &mut |_| {},
            &|| false,
        )
        .unwrap();
        assert_eq!(out.steps, 3);
        let mut base =
            LoadedModel::load(base_dir.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let lora = TrainConfig {
            method: Method::Lora(LoraConfig {
                rank: 4,
                alpha: 8.0,
                dropout: 0.1,
                use_rslora: false,
                target_modules: vec!["q_proj".into(), "v_proj".into()],
            }),
            length: Length::Epochs(1),
            ..cfg.clone()
        };
        let adapter = dir.path().join("adapter");
        finetune(
            &mut base,
            &corpus(),
            LossOn::Assistant,
            &lora,
            None,
            &adapter,
            Some("base"),
            &mut |_| {},
            &|| false,
        )
        .unwrap();
        assert!(adapter.join("adapter_model.safetensors").is_file());
        let opts = LoadOptions {
            adapter: Some(adapter.clone()),
            ..Default::default()
        };
        LoadedModel::load(base_dir.to_str().unwrap(), &opts).unwrap();

        let mut base =
            LoadedModel::load(base_dir.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let full_dir = dir.path().join("full");
        finetune(
            &mut base,
            &corpus(),
            LossOn::Assistant,
            &cfg,
            None,
            &full_dir,
            None,
            &mut |_| {},
            &|| false,
        )
        .unwrap();
        LoadedModel::load(full_dir.to_str().unwrap(), &LoadOptions::default()).unwrap();
    }

    /// A case-marked model: the flag survives saving, the training mask
    /// covers the marker tokens of the answer, and sampled text has no
    /// markers left in it.
    #[test]
    fn case_marked_pretraining_round_trip() {
        use crate::runtime::case_markers::{CAPS_WORD, CAP_NEXT};
        use crate::runtime::sample::SamplingParams;
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<Vec<Message>> = (0..12)
            .map(|i| {
                vec![
                    Message::user(&format!("Count from {i}")),
                    Message::assistant(&format!("THE NUMBERS ARE {} {}", i, i + 1)),
                ]
            })
            .collect();
        let cfg = TrainConfig {
            length: Length::Steps(2),
            batch_size: 4,
            max_seq: 64,
            ..TrainConfig::default()
        };
        pretrain(
            &data,
            &arch(),
            TokenizerKind::CaseMarkedBpe(300),
            crate::runtime::Compute::default(),
            &cfg,
            None,
            dir.path(),
            &mut |_| {},
            &|| false,
        )
        .unwrap();
        let lm = LoadedModel::load(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
        let tok = lm.tokenizer();
        assert!(tok.case_markers());
        let caps = tok.token_to_id(&CAPS_WORD.to_string()).unwrap();
        let (ids, mask) = lm.encode_for_training(&data[0]).unwrap();
        let marked: Vec<bool> = ids
            .iter()
            .zip(&mask)
            .filter(|(&id, _)| id == caps)
            .map(|(_, &m)| m)
            .collect();
        assert_eq!(marked, vec![true; 3], "{ids:?} {mask:?}");
        let params = SamplingParams {
            temperature: 1.0,
            max_tokens: 24,
            ..SamplingParams::default()
        };
        let out = lm
            .sample(&[LoadedModel::chat(None, "Count from 3")], &params)
            .unwrap();
        let text = &out[0][0].text;
        assert!(!text.contains([CAPS_WORD, CAP_NEXT]), "{text}");
    }

    #[test]
    fn bad_examples_name_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainConfig {
            length: Length::Steps(1),
            ..TrainConfig::default()
        };
        let mut data = corpus();
        data.push(vec![Message::user("no reply")]);
        pretrain(
            &corpus(),
            &arch(),
            TokenizerKind::Char,
            crate::runtime::Compute::default(),
            &cfg,
            None,
            dir.path(),
            &mut |_| {},
            &|| false,
        )
        .unwrap();
        let mut base =
            LoadedModel::load(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
        let e = finetune(
            &mut base,
            &data,
            LossOn::Assistant,
            &cfg,
            None,
            &dir.path().join("x"),
            None,
            &mut |_| {},
            &|| false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("training example 13"), "{e}");
    }
}

//! From conversations to training batches: token ids plus a loss mask (loss
//! on assistant tokens only by default, as the papers trained), truncation,
//! right padding or packing, and a shuffle that is a pure function of
//! `(seed, epoch)` so that a resumed run sees exactly the same batches.
//!
//! Assistant spans come from the chat template (`ChatTemplate::assistant_spans`:
//! the conversation up to each reply rendered with the generation prompt vs.
//! including it), so the reply and its end-of-turn text carry loss.

use super::chat_template::Message;
use super::loader::LoadedModel;
use rand::RngCore;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;

/// Which tokens carry loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LossOn {
    /// Replies of the assistant, with the end-of-turn text (default).
    #[default]
    Assistant,
    /// Every token (pretraining).
    All,
}

impl std::str::FromStr for LossOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "assistant" => Ok(Self::Assistant),
            "all" => Ok(Self::All),
            o => Err(format!("unknown loss_on `{o}` (expected assistant or all)")),
        }
    }
}

impl fmt::Display for LossOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Assistant => "assistant",
            Self::All => "all",
        })
    }
}

/// One tokenised training sequence: `mask[t]` says whether token `t` is a
/// prediction target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub mask: Vec<bool>,
}

impl Encoded {
    /// Number of loss targets (the first token is never predicted).
    pub fn loss_tokens(&self) -> usize {
        self.mask.iter().skip(1).filter(|m| **m).count()
    }
}

/// Tokenises one conversation for training with its loss mask (the
/// assistant spans come from [`LoadedModel::encode_for_training`]: each reply
/// with its end-of-turn text), truncated to `max_seq` tokens. Errors when the
/// template cannot render the conversation or there is nothing to learn.
pub fn encode_example(
    lm: &LoadedModel,
    messages: &[Message],
    loss_on: LossOn,
    max_seq: usize,
) -> Result<Encoded, String> {
    let (mut ids, mask) = lm
        .encode_for_training(messages)
        .map_err(|e| e.to_string())?;
    let mut mask = match loss_on {
        LossOn::Assistant => mask,
        LossOn::All => vec![true; ids.len()],
    };
    ids.truncate(max_seq);
    mask.truncate(max_seq);
    let e = Encoded { ids, mask };
    if e.loss_tokens() == 0 {
        return Err(if loss_on == LossOn::Assistant {
            "no assistant tokens to learn from (no assistant turn, or all of it beyond max_seq)"
                .into()
        } else {
            "the conversation is shorter than two tokens".into()
        });
    }
    Ok(e)
}

/// The training set of a finetune: every conversation encoded, except those
/// left with nothing to learn (e.g. the reply lies beyond `max_seq`), which
/// are dropped and counted, as Axolotl and TRL drop over-long rows. A
/// conversation the template cannot render is an error, and so is a set
/// where no row is left.
#[derive(Debug)]
pub struct EncodedSet {
    pub examples: Vec<Encoded>,
    /// 1-based numbers of the dropped rows, with the reason.
    pub dropped: Vec<(usize, String)>,
}

impl EncodedSet {
    /// One line for the user about the dropped rows (`None` if none).
    pub fn dropped_summary(&self, max_seq: usize) -> Option<String> {
        if self.dropped.is_empty() {
            return None;
        }
        let total = self.examples.len() + self.dropped.len();
        let first: Vec<String> = self
            .dropped
            .iter()
            .take(5)
            .map(|(i, _)| i.to_string())
            .collect();
        let more = if self.dropped.len() > 5 { ", ..." } else { "" };
        Some(format!(
            "dropped {} of {total} training rows with nothing to learn within max_seq {max_seq} \
             (rows {}{more}: {}); raise max_seq to keep them",
            self.dropped.len(),
            first.join(", "),
            self.dropped[0].1
        ))
    }
}

/// Encodes `conversations` for training (see [`EncodedSet`]).
pub fn encode_set<'a>(
    lm: &LoadedModel,
    conversations: impl IntoIterator<Item = &'a [Message]>,
    loss_on: LossOn,
    max_seq: usize,
) -> Result<EncodedSet, String> {
    let mut examples = vec![];
    let mut dropped = vec![];
    for (i, conv) in conversations.into_iter().enumerate() {
        let (mut ids, mask) = lm
            .encode_for_training(conv)
            .map_err(|e| format!("training row {}: {e}", i + 1))?;
        let mut mask = match loss_on {
            LossOn::Assistant => mask,
            LossOn::All => vec![true; ids.len()],
        };
        let before = mask.iter().skip(1).filter(|m| **m).count();
        ids.truncate(max_seq);
        mask.truncate(max_seq);
        let e = Encoded { ids, mask };
        if e.loss_tokens() > 0 {
            examples.push(e);
            continue;
        }
        let why = match (loss_on, before) {
            (LossOn::Assistant, 0) => "no assistant reply",
            (LossOn::All, 0) => "shorter than two tokens",
            _ => "all of it beyond max_seq",
        };
        dropped.push((i + 1, why.to_string()));
    }
    if examples.is_empty() {
        return Err(match dropped.first() {
            Some((_, why)) => format!(
                "no training row has anything to learn within max_seq {max_seq} (all {} rows dropped; first: {why})",
                dropped.len()
            ),
            None => "the training set is empty".into(),
        });
    }
    Ok(EncodedSet { examples, dropped })
}

/// A padded batch, row-major `rows x cols`: `inputs[r][t]` predicts
/// `targets[r][t]` with weight `weights[r][t]` (0 on padding and on
/// non-target tokens). Padding is on the right, so with causal attention no
/// real position ever attends to a padded one and no attention mask is needed;
/// `attention_mask` is provided for callers that want it.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub rows: usize,
    pub cols: usize,
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    pub weights: Vec<f32>,
    pub attention_mask: Vec<u8>,
}

impl Batch {
    /// Number of positions with loss.
    pub fn loss_tokens(&self) -> usize {
        self.weights.iter().filter(|w| **w != 0.0).count()
    }

    /// Number of real (non-padding) input positions.
    pub fn real_tokens(&self) -> usize {
        self.attention_mask.iter().filter(|m| **m != 0).count()
    }

    /// Builds a batch from sequences (each of at least one token).
    pub fn from_sequences(seqs: &[&Encoded], pad_id: u32) -> Batch {
        let cols = seqs
            .iter()
            .map(|s| s.ids.len().saturating_sub(1))
            .max()
            .unwrap_or(0)
            .max(1);
        let rows = seqs.len();
        let mut b = Batch {
            rows,
            cols,
            inputs: vec![pad_id; rows * cols],
            targets: vec![pad_id; rows * cols],
            weights: vec![0.0; rows * cols],
            attention_mask: vec![0; rows * cols],
        };
        for (r, s) in seqs.iter().enumerate() {
            let n = s.ids.len().saturating_sub(1);
            for t in 0..n {
                let i = r * cols + t;
                b.inputs[i] = s.ids[t];
                b.targets[i] = s.ids[t + 1];
                b.weights[i] = if s.mask[t + 1] { 1.0 } else { 0.0 };
                b.attention_mask[i] = 1;
            }
        }
        b
    }
}

/// A deterministic permutation of `0..n` for `(seed, epoch)` (Fisher-Yates
/// over ChaCha8, whose stream is fixed across crate versions).
pub fn permutation(n: usize, seed: u64, epoch: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = ((rng.next_u64() as u128 * (i as u128 + 1)) >> 64) as usize;
        p.swap(i, j);
    }
    p
}

/// Settings of [`Batcher`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Longest sequence in tokens (also the packed row length).
    pub max_seq: usize,
    /// Concatenate shuffled examples into full rows of `max_seq` tokens
    /// instead of padding each example (attention crosses example borders,
    /// as in HF's `group_texts`).
    pub packing: bool,
    pub shuffle: bool,
    pub seed: u64,
    pub pad_id: u32,
}

/// Serves the micro-batches of each epoch; `batch(epoch, i)` is a pure
/// function of its arguments, which is what makes resuming exact.
#[derive(Debug, Clone)]
pub struct Batcher {
    examples: Vec<Encoded>,
    cfg: BatchConfig,
}

impl Batcher {
    pub fn new(examples: Vec<Encoded>, cfg: BatchConfig) -> Result<Self, String> {
        if cfg.batch_size == 0 {
            return Err("batch size must be at least 1".into());
        }
        if cfg.max_seq < 2 {
            return Err("max_seq must be at least 2".into());
        }
        if examples.is_empty() {
            return Err("the training set is empty".into());
        }
        let examples = examples
            .into_iter()
            .map(|mut e| {
                e.ids.truncate(cfg.max_seq);
                e.mask.truncate(cfg.max_seq);
                e
            })
            .collect();
        Ok(Self { examples, cfg })
    }

    pub fn config(&self) -> BatchConfig {
        self.cfg
    }

    pub fn examples(&self) -> &[Encoded] {
        &self.examples
    }

    /// The sequences of one epoch in order (shuffled, then packed if asked).
    pub fn epoch_sequences(&self, epoch: u64) -> Vec<Encoded> {
        let order: Vec<usize> = if self.cfg.shuffle {
            permutation(self.examples.len(), self.cfg.seed, epoch)
        } else {
            (0..self.examples.len()).collect()
        };
        if !self.cfg.packing {
            return order.iter().map(|&i| self.examples[i].clone()).collect();
        }
        let mut rows = Vec::new();
        let mut cur = Encoded::default();
        for &i in &order {
            let e = &self.examples[i];
            for (&id, &m) in e.ids.iter().zip(&e.mask) {
                cur.ids.push(id);
                cur.mask.push(m);
                if cur.ids.len() == self.cfg.max_seq {
                    rows.push(std::mem::take(&mut cur));
                }
            }
        }
        if cur.loss_tokens() > 0 {
            rows.push(cur);
        }
        rows
    }

    /// Micro-batches per epoch (the last one may be smaller).
    pub fn batches_per_epoch(&self) -> usize {
        let n = if self.cfg.packing {
            // Packing depends only on the lengths, which do not change with
            // the order, except for the last partial row.
            self.epoch_sequences(0).len()
        } else {
            self.examples.len()
        };
        n.div_ceil(self.cfg.batch_size)
    }

    /// Micro-batch `index` of `epoch`, from that epoch's sequences.
    pub fn batch_from(&self, seqs: &[Encoded], index: usize) -> Option<Batch> {
        let start = index * self.cfg.batch_size;
        if start >= seqs.len() {
            return None;
        }
        let end = (start + self.cfg.batch_size).min(seqs.len());
        let refs: Vec<&Encoded> = seqs[start..end].iter().collect();
        Some(Batch::from_sequences(&refs, self.cfg.pad_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qwen() -> LoadedModel {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hf/qwen2");
        LoadedModel::load(dir, &Default::default()).unwrap()
    }

    fn masked_text(lm: &LoadedModel, e: &Encoded) -> String {
        let ids: Vec<u32> = e
            .ids
            .iter()
            .zip(&e.mask)
            .filter(|(_, m)| **m)
            .map(|(i, _)| *i)
            .collect();
        lm.tokenizer().decode(&ids, false).unwrap()
    }

    #[test]
    fn loss_only_on_assistant_replies_with_end_of_turn() {
        let lm = qwen();
        let conv = [
            Message::system("Be brief."),
            Message::user("hi"),
            Message::assistant("HOLA"),
            Message::user("again"),
            Message::assistant("OK"),
        ];
        let e = encode_example(&lm, &conv, LossOn::Assistant, 1000).unwrap();
        let text = masked_text(&lm, &e);
        assert!(text.starts_with("HOLA<|im_end|>"), "{text:?}");
        assert!(text.contains("OK<|im_end|>"), "{text:?}");
        assert!(
            !text.contains("again") && !text.contains("brief"),
            "{text:?}"
        );
        let all = encode_example(&lm, &conv, LossOn::All, 1000).unwrap();
        assert!(all.mask.iter().all(|m| *m));
        assert_eq!(all.ids, e.ids);
        // Truncated before the reply: nothing to learn.
        let err = encode_example(&lm, &conv[..3], LossOn::Assistant, 5).unwrap_err();
        assert!(err.contains("no assistant tokens"), "{err}");
        let cut = encode_example(&lm, &conv, LossOn::Assistant, e.ids.len() - 3).unwrap();
        assert_eq!(cut.ids.len(), e.ids.len() - 3);
        assert!(encode_example(&lm, &[Message::user("q")], LossOn::Assistant, 100).is_err());
    }

    #[test]
    fn a_set_drops_rows_with_nothing_to_learn_and_says_which() {
        let lm = qwen();
        let short = [Message::user("hi"), Message::assistant("HOLA")];
        let long = [
            Message::user(&"many words here ".repeat(40)),
            Message::assistant("LATE"),
        ];
        let no_reply = [Message::user("q")];
        let convs: Vec<&[Message]> = vec![&short, &long, &short, &no_reply];
        // Room for the short conversation (its template adds a default
        // system prompt), not for the long one's reply.
        let max = encode_example(&lm, &short, LossOn::Assistant, 4000)
            .unwrap()
            .ids
            .len();
        let set = encode_set(&lm, convs.clone(), LossOn::Assistant, max).unwrap();
        assert_eq!(set.examples.len(), 2);
        assert_eq!(
            set.dropped,
            vec![
                (2, "all of it beyond max_seq".to_string()),
                (4, "no assistant reply".to_string())
            ]
        );
        let line = set.dropped_summary(max).unwrap();
        assert!(line.starts_with("dropped 2 of 4 training rows"), "{line}");
        assert!(line.contains("rows 2, 4"), "{line}");
        // Long enough: nothing dropped, no summary.
        let all = encode_set(&lm, convs[..3].to_vec(), LossOn::Assistant, 4000).unwrap();
        assert_eq!((all.examples.len(), all.dropped_summary(4000)), (3, None));
        // Nothing left at all is an error naming the reason.
        let err = encode_set(&lm, vec![&long[..]], LossOn::Assistant, max).unwrap_err();
        assert!(err.contains("all 1 rows dropped"), "{err}");
    }

    #[test]
    fn padding_shifts_targets_and_masks_padding() {
        let a = Encoded {
            ids: vec![5, 6, 7, 8],
            mask: vec![false, false, true, true],
        };
        let b = Encoded {
            ids: vec![9, 10],
            mask: vec![false, true],
        };
        let batch = Batch::from_sequences(&[&a, &b], 0);
        assert_eq!((batch.rows, batch.cols), (2, 3));
        assert_eq!(batch.inputs, vec![5, 6, 7, 9, 0, 0]);
        assert_eq!(batch.targets, vec![6, 7, 8, 10, 0, 0]);
        assert_eq!(batch.weights, vec![0.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(batch.attention_mask, vec![1, 1, 1, 1, 0, 0]);
        assert_eq!(batch.loss_tokens(), 3);
        assert_eq!(batch.real_tokens(), 4);
    }

    #[test]
    fn shuffle_is_a_pure_function_of_seed_and_epoch() {
        let p = permutation(50, 3, 0);
        assert_eq!(p, permutation(50, 3, 0));
        assert_ne!(p, permutation(50, 3, 1));
        assert_ne!(p, permutation(50, 4, 0));
        let mut s = p.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }

    fn ex(n: u32) -> Encoded {
        Encoded {
            ids: (0..n).map(|i| 100 + i).collect(),
            mask: vec![true; n as usize],
        }
    }

    #[test]
    fn batcher_epochs_and_packing() {
        let cfg = BatchConfig {
            batch_size: 2,
            max_seq: 4,
            packing: false,
            shuffle: true,
            seed: 7,
            pad_id: 0,
        };
        let b = Batcher::new(vec![ex(3), ex(5), ex(2)], cfg).unwrap();
        assert_eq!(b.batches_per_epoch(), 2);
        let seqs = b.epoch_sequences(0);
        assert!(seqs.iter().all(|s| s.ids.len() <= 4));
        assert_eq!(b.batch_from(&seqs, 1).unwrap().rows, 1);
        assert!(b.batch_from(&seqs, 2).is_none());

        let packed = Batcher::new(
            vec![ex(3), ex(5), ex(2)],
            BatchConfig {
                packing: true,
                ..cfg
            },
        )
        .unwrap();
        let rows = packed.epoch_sequences(1);
        // 3 + 4 (truncated) + 2 = 9 tokens -> rows of 4, 4 and 1 (dropped: no target).
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.ids.len() == 4));
        assert!(Batcher::new(vec![], cfg).is_err());
        assert!(Batcher::new(
            vec![ex(2)],
            BatchConfig {
                batch_size: 0,
                ..cfg
            }
        )
        .is_err());
    }
}

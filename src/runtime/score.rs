//! Log-probabilities of given responses under given prompts, batched.
//!
//! A prompt is a conversation rendered with the chat template and the
//! generation prompt; the response is tokenized on its own and appended (no
//! end-of-turn token), and its log-prob is the sum over its tokens of
//! `log p(token | everything before)`.

use super::chat_template::Message;
use super::loader::LoadedModel;
use super::model::Mode;
use super::Error;
use candle_core::{Device, Tensor};

/// One response to score.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRequest {
    pub messages: Vec<Message>,
    pub response: String,
}

impl ScoreRequest {
    pub fn new(system: Option<&str>, prompt: &str, response: &str) -> Self {
        ScoreRequest {
            messages: LoadedModel::chat(system, prompt),
            response: response.to_string(),
        }
    }
}

/// One response token and its log-prob.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub token: String,
    pub logprob: f32,
}

/// The scored response.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreResult {
    /// Sum over the response tokens (f64 accumulation).
    pub logprob: f64,
    pub tokens: Vec<TokenLogprob>,
}

/// Token budget (rows x padded length) of one forward batch.
const BATCH_TOKENS: usize = 4096;

impl LoadedModel {
    /// Scores every request; results are in request order. Requests are
    /// grouped by length into right-padded batches.
    pub fn score(&self, requests: &[ScoreRequest]) -> Result<Vec<ScoreResult>, Error> {
        let mut rows = Vec::with_capacity(requests.len());
        for r in requests {
            let prompt = self.encode_prompt(&r.messages)?;
            let response = self.tokenizer.encode(&r.response)?;
            if prompt.is_empty() {
                return Err(Error::Invalid(
                    "the rendered prompt is empty; a response needs at least one token before it"
                        .into(),
                ));
            }
            rows.push((prompt, response));
        }
        self.score_ids(&rows).map(|all| {
            all.into_iter()
                .zip(rows.iter())
                .map(|(lps, (_, resp))| ScoreResult {
                    logprob: lps.iter().map(|&x| x as f64).sum(),
                    tokens: resp
                        .iter()
                        .zip(lps)
                        .map(|(&id, logprob)| TokenLogprob {
                            id,
                            token: self.tokenizer.token_text(id),
                            logprob,
                        })
                        .collect(),
                })
                .collect()
        })
    }

    /// Per-token log-probs of `response` ids after `prompt` ids, for each
    /// (prompt, response) pair. The prompt must not be empty.
    pub fn score_ids(&self, rows: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<Vec<f32>>, Error> {
        let model = &self.model;
        let max_pos = model.max_positions();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| rows[i].0.len() + rows[i].1.len());
        let mut out = vec![vec![]; rows.len()];
        let mut start = 0;
        while start < order.len() {
            // Rows are sorted by length: grow the batch while it fits the budget.
            let mut end = start + 1;
            while end < order.len() {
                let len = rows[order[end]].0.len() + rows[order[end]].1.len();
                if len * (end + 1 - start) > BATCH_TOKENS {
                    break;
                }
                end += 1;
            }
            let batch = &order[start..end];
            let t = batch
                .iter()
                .map(|&i| rows[i].0.len() + rows[i].1.len())
                .max()
                .unwrap_or(0);
            if t > max_pos {
                return Err(Error::Invalid(format!(
                    "prompt + response is {t} tokens, the model's context is {max_pos}"
                )));
            }
            let mut ids = vec![];
            let mut mask = vec![];
            for &i in batch {
                let (p, r) = &rows[i];
                if p.is_empty() {
                    return Err(Error::Invalid("empty prompt".into()));
                }
                let n = p.len() + r.len();
                ids.extend(
                    p.iter()
                        .chain(r.iter())
                        .copied()
                        .chain(std::iter::repeat_n(0, t - n)),
                );
                mask.extend(std::iter::repeat_n(1u32, n).chain(std::iter::repeat_n(0, t - n)));
            }
            let dev = model.device();
            let ids = Tensor::from_vec(ids, (batch.len(), t), dev)?;
            let mask = Tensor::from_vec(mask, (batch.len(), t), dev)?;
            let hidden = model.hidden_states(&ids, Some(&mask), Mode::Infer)?;
            for (row, &i) in batch.iter().enumerate() {
                let (p, r) = &rows[i];
                if r.is_empty() {
                    continue;
                }
                // Positions p-1 .. p+r-1 predict the response tokens.
                let h = hidden.get(row)?.narrow(0, p.len() - 1, r.len())?;
                let lp = candle_nn::ops::log_softmax(&model.logits(&h)?, 1)?;
                let idx = Tensor::from_vec(r.clone(), (r.len(), 1), dev)?;
                out[i] = lp
                    .gather(&idx, 1)?
                    .squeeze(1)?
                    .to_device(&Device::Cpu)?
                    .to_vec1::<f32>()?;
            }
            start = end;
        }
        Ok(out)
    }
}

impl LoadedModel {
    /// The `k` most likely next tokens after each conversation, rendered with
    /// the chat template and the generation prompt (what a judge model says
    /// first), with their log-probs: most likely first, ties by token id.
    /// Results are in prompt order; prompts are batched like [`Self::score`].
    pub fn next_token_logprobs(
        &self,
        prompts: &[Vec<Message>],
        k: usize,
    ) -> Result<Vec<Vec<TokenLogprob>>, Error> {
        let mut rows = Vec::with_capacity(prompts.len());
        for m in prompts {
            let ids = self.encode_prompt(m)?;
            if ids.is_empty() {
                return Err(Error::Invalid("the rendered prompt is empty".into()));
            }
            rows.push(ids);
        }
        let model = &self.model;
        let max_pos = model.max_positions();
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| rows[i].len());
        let mut out = vec![vec![]; rows.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len() && rows[order[end]].len() * (end + 1 - start) <= BATCH_TOKENS {
                end += 1;
            }
            let batch = &order[start..end];
            let t = batch.iter().map(|&i| rows[i].len()).max().unwrap_or(0);
            if t > max_pos {
                return Err(Error::Invalid(format!(
                    "the prompt is {t} tokens, the model's context is {max_pos}"
                )));
            }
            let mut ids = Vec::with_capacity(batch.len() * t);
            let mut mask = Vec::with_capacity(batch.len() * t);
            for &i in batch {
                let n = rows[i].len();
                ids.extend(rows[i].iter().copied().chain(std::iter::repeat_n(0, t - n)));
                mask.extend(std::iter::repeat_n(1u32, n).chain(std::iter::repeat_n(0, t - n)));
            }
            let dev = model.device();
            let ids = Tensor::from_vec(ids, (batch.len(), t), dev)?;
            let mask = Tensor::from_vec(mask, (batch.len(), t), dev)?;
            let hidden = model.hidden_states(&ids, Some(&mask), Mode::Infer)?;
            let last = batch
                .iter()
                .enumerate()
                .map(|(row, &i)| hidden.get(row)?.narrow(0, rows[i].len() - 1, 1))
                .collect::<Result<Vec<_>, _>>()?;
            let last = Tensor::cat(&last, 0)?;
            let lp = candle_nn::ops::log_softmax(&model.logits(&last)?, 1)?
                .to_dtype(candle_core::DType::F32)?
                .to_device(&Device::Cpu)?
                .to_vec2::<f32>()?;
            for (row, &i) in batch.iter().enumerate() {
                let mut ranked: Vec<(u32, f32)> = lp[row]
                    .iter()
                    .enumerate()
                    .map(|(id, &x)| (id as u32, x))
                    .collect();
                let k = k.min(ranked.len());
                let by_prob =
                    |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
                if k < ranked.len() && k > 0 {
                    ranked.select_nth_unstable_by(k - 1, by_prob);
                }
                ranked.truncate(k);
                ranked.sort_by(by_prob);
                out[i] = ranked
                    .into_iter()
                    .map(|(id, logprob)| TokenLogprob {
                        id,
                        token: self.tokenizer.token_text(id),
                        logprob,
                    })
                    .collect();
            }
            start = end;
        }
        Ok(out)
    }
}

/// Continuations forked from one prefill per forward pass.
const FORK_ROWS: usize = 16;

impl LoadedModel {
    /// Log-probs of the `probe` tokens after a conversation's generation
    /// prompt and after every prefix of every continuation:
    /// `out[r][j][k] = log P(probe[k] | prompt, rows[r][..j])` for
    /// `j in 0..=rows[r].len()`. The prompt is run once; the continuations
    /// share its KV cache (what a judge whose numbers span several tokens
    /// needs: every number's token sequence scored whole).
    pub fn continuation_logprobs(
        &self,
        messages: &[Message],
        rows: &[Vec<u32>],
        probe: &[u32],
    ) -> Result<Vec<Vec<Vec<f32>>>, Error> {
        let prompt = self.encode_prompt(messages)?;
        if prompt.is_empty() {
            return Err(Error::Invalid("the rendered prompt is empty".into()));
        }
        let model = &self.model;
        let longest = rows.iter().map(Vec::len).max().unwrap_or(0);
        let max_pos = model.config().max_position_embeddings;
        if prompt.len() + longest > max_pos {
            return Err(Error::Invalid(format!(
                "the prompt is {} tokens (+ {longest}), the model's context is {max_pos}",
                prompt.len()
            )));
        }
        let dev = model.device();
        let probe_t = Tensor::from_vec(probe.to_vec(), probe.len(), dev)?;
        let pick = |logits: &Tensor| -> Result<Vec<Vec<f32>>, Error> {
            Ok(
                candle_nn::ops::log_softmax(&logits.to_dtype(candle_core::DType::F32)?, 1)?
                    .index_select(&probe_t, 1)?
                    .to_device(&Device::Cpu)?
                    .to_vec2::<f32>()?,
            )
        };
        let mut state = model.new_kv_state(1, prompt.len() + longest);
        let ids = Tensor::from_vec(prompt.clone(), (1, prompt.len()), dev)?;
        let first = pick(&model.forward_cached(&ids, None, &mut state, true)?)?.remove(0);
        let mut out: Vec<Vec<Vec<f32>>> = rows.iter().map(|_| vec![first.clone()]).collect();
        let order: Vec<usize> = (0..rows.len()).filter(|&r| !rows[r].is_empty()).collect();
        for chunk in order.chunks(FORK_ROWS) {
            let n = chunk.len();
            let t = chunk.iter().map(|&r| rows[r].len()).max().unwrap_or(0);
            let mut fork = state.fork(0, n, t)?;
            let (mut ids, mut mask) = (Vec::with_capacity(n * t), Vec::with_capacity(n * t));
            for &r in chunk {
                let len = rows[r].len();
                ids.extend(
                    rows[r]
                        .iter()
                        .copied()
                        .chain(std::iter::repeat_n(0, t - len)),
                );
                mask.extend(std::iter::repeat_n(1u32, len).chain(std::iter::repeat_n(0, t - len)));
            }
            let ids = Tensor::from_vec(ids, (n, t), dev)?;
            let mask = Tensor::from_vec(mask, (n, t), dev)?;
            let logits = model.forward_cached(&ids, Some(&mask), &mut fork, false)?;
            let vocab = logits.dim(2)?;
            let lp = pick(&logits.reshape((n * t, vocab))?)?;
            for (i, &r) in chunk.iter().enumerate() {
                for j in 0..rows[r].len() {
                    out[r].push(lp[i * t + j].clone());
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod continuation_tests {
    use crate::runtime::chat_template::Message;
    use crate::runtime::loader::{LoadOptions, LoadedModel};

    /// Forked continuations give what scoring each prefix from scratch gives.
    #[test]
    fn continuation_logprobs_agree_with_scoring_each_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.gguf");
        crate::runtime::gguf::fixture::write_tiny(&path, "smollm");
        let lm = LoadedModel::load(path.to_str().unwrap(), &LoadOptions::default()).unwrap();
        let msgs = vec![Message::user("rate 0 to 100: hello world")];
        let prompt = lm.encode_prompt(&msgs).unwrap();
        // Rows of different lengths (17 of them: more than one fork chunk).
        let mut rows: Vec<Vec<u32>> = (0..16u32).map(|i| vec![3 + i, 40 + i]).collect();
        rows.push(vec![5, 6, 7]);
        rows.push(vec![]);
        let probe = [3u32, 9, 44, 100, 2];
        let out = lm.continuation_logprobs(&msgs, &rows, &probe).unwrap();
        assert_eq!(out.len(), rows.len());
        for (r, row) in rows.iter().enumerate() {
            assert_eq!(out[r].len(), row.len() + 1);
            for j in 0..=row.len() {
                let scored: Vec<(Vec<u32>, Vec<u32>)> = probe
                    .iter()
                    .map(|&p| {
                        let mut cont = row[..j].to_vec();
                        cont.push(p);
                        (prompt.clone(), cont)
                    })
                    .collect();
                let want = lm.score_ids(&scored).unwrap();
                for (k, w) in want.iter().enumerate() {
                    let got = out[r][j][k];
                    let w = *w.last().unwrap();
                    assert!(
                        (got - w).abs() < 1e-4 * w.abs().max(1.0),
                        "row {r} prefix {j} probe {k}: {got} vs {w}"
                    );
                }
            }
        }
    }
}

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

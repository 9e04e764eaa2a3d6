//! Batched generation with the KV cache: prompts are left-padded into
//! batches, prefilled once, then decoded a token per step for every row;
//! temperature, top-p, max tokens, n samples per prompt, stop at EOS or the
//! template's end-of-turn token. Each (prompt, sample) row draws from its own
//! RNG seeded from (seed, prompt index, sample index), so results do not
//! depend on how rows are batched.

use super::chat_template::Message;
use super::loader::LoadedModel;
use super::model::ModelError;
use super::Error;
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Sampling parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 = greedy.
    pub temperature: f64,
    /// Nucleus mass in (0, 1]; 1 = off.
    pub top_p: f64,
    pub max_tokens: usize,
    /// Samples per prompt.
    pub n: usize,
    pub seed: u64,
    /// Rows decoded together.
    pub batch_size: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
            max_tokens: 256,
            n: 1,
            seed: 0,
            batch_size: 16,
        }
    }
}

/// One generated response.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Decoded text without special tokens and without the stop token.
    pub text: String,
    /// Generated token ids (stop token excluded).
    pub token_ids: Vec<u32>,
    /// True if a stop token ended it, false if `max_tokens` did.
    pub stopped: bool,
}

impl SamplingParams {
    fn validate(&self) -> Result<(), Error> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::Invalid(format!(
                "temperature must be >= 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Invalid(format!(
                "top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        if self.n == 0 || self.batch_size == 0 {
            return Err(Error::Invalid("n and batch_size must be at least 1".into()));
        }
        Ok(())
    }
}

/// Picks a token from one row of logits.
pub(crate) fn pick(logits: &[f32], temperature: f64, top_p: f64, rng: &mut ChaCha8Rng) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .fold(
                (0, f32::NEG_INFINITY),
                |b, (i, &x)| if x > b.1 { (i, x) } else { b },
            )
            .0 as u32
    };
    if temperature <= 0.0 {
        return argmax();
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let mut probs: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &x)| (i as u32, ((x as f64 - max) / temperature).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    if top_p < 1.0 {
        // The nucleus is usually a few hundred tokens: order only the best
        // `k` (doubling k until they hold `top_p`) instead of the vocabulary.
        // Each round orders only the next best `k - done` entries and carries
        // the running sum on, so a flat distribution (a nucleus of most of
        // the vocabulary) costs one partial sort, not one per round; the
        // order and the sums are the same as re-sorting from the start.
        // (16 rows of 8k flat logits, top_p 0.9: 4.2 -> 3.0 ms.)
        let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        let n = probs.len();
        let (mut done, mut cum) = (0, 0.0);
        let mut k = 256.min(n);
        let keep = loop {
            if k < n {
                probs[done..].select_nth_unstable_by(k - done, order);
            }
            // Unstable is exact here: ids break every tie.
            probs[done..k].sort_unstable_by(order);
            let found = probs[done..k].iter().position(|p| {
                cum += p.1 / total;
                cum >= top_p
            });
            match found {
                Some(i) => break done + i + 1,
                None if k == n => break k,
                None => (done, k) = (k, (2 * k).min(n)),
            }
        };
        probs.truncate(keep);
    }
    draw(&probs, rng).unwrap_or_else(argmax)
}

/// One id drawn in proportion to its (unnormalised) probability.
fn draw(probs: &[(u32, f64)], rng: &mut ChaCha8Rng) -> Option<u32> {
    let mass: f64 = probs.iter().map(|p| p.1).sum();
    let mut u = rng.random::<f64>() * mass;
    for &(id, p) in probs {
        if u < p {
            return Some(id);
        }
        u -= p;
    }
    probs.last().map(|p| p.0)
}

fn row_seed(seed: u64, prompt: usize, sample: usize) -> u64 {
    let h = blake3::hash(
        &[
            seed.to_le_bytes(),
            (prompt as u64).to_le_bytes(),
            (sample as u64).to_le_bytes(),
        ]
        .concat(),
    );
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

impl LoadedModel {
    /// `params.n` samples for each prompt conversation: `out[prompt][sample]`.
    pub fn sample(
        &self,
        prompts: &[Vec<Message>],
        params: &SamplingParams,
    ) -> Result<Vec<Vec<Sample>>, Error> {
        params.validate()?;
        let encoded: Vec<Vec<u32>> = prompts
            .iter()
            .map(|m| self.encode_prompt(m))
            .collect::<Result<_, _>>()?;
        self.sample_ids(&encoded, params)
    }

    /// As [`LoadedModel::sample`] for prompts already tokenized.
    pub fn sample_ids(
        &self,
        prompts: &[Vec<u32>],
        params: &SamplingParams,
    ) -> Result<Vec<Vec<Sample>>, Error> {
        params.validate()?;
        let max_pos = self.model.max_positions();
        for p in prompts {
            if p.is_empty() {
                return Err(Error::Invalid("cannot sample from an empty prompt".into()));
            }
            if p.len().saturating_add(params.max_tokens) > max_pos {
                return Err(Error::Model(ModelError::TooLong {
                    len: p.len().saturating_add(params.max_tokens),
                    max: max_pos,
                }));
            }
        }
        // Rows (prompt, sample), longest prompts first so batches pad little.
        let mut rows: Vec<(usize, usize)> = (0..prompts.len())
            .flat_map(|p| (0..params.n).map(move |s| (p, s)))
            .collect();
        rows.sort_by_key(|&(p, s)| (std::cmp::Reverse(prompts[p].len()), p, s));
        let mut out: Vec<Vec<Option<Sample>>> =
            prompts.iter().map(|_| vec![None; params.n]).collect();
        for chunk in rows.chunks(params.batch_size) {
            let batch: Vec<&[u32]> = chunk.iter().map(|&(p, _)| prompts[p].as_slice()).collect();
            let mut rngs: Vec<ChaCha8Rng> = chunk
                .iter()
                .map(|&(p, s)| ChaCha8Rng::seed_from_u64(row_seed(params.seed, p, s)))
                .collect();
            let results = self.generate_batch(&batch, params, &mut rngs)?;
            for (&(p, s), r) in chunk.iter().zip(results) {
                out[p][s] = Some(r);
            }
        }
        Ok(out
            .into_iter()
            .map(|v| v.into_iter().flatten().collect())
            .collect())
    }

    fn generate_batch(
        &self,
        prompts: &[&[u32]],
        params: &SamplingParams,
        rngs: &mut [ChaCha8Rng],
    ) -> Result<Vec<Sample>, Error> {
        let model = &self.model;
        let dev = model.device();
        let b = prompts.len();
        let t = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
        let pad = model
            .config()
            .pad_token_id
            .or_else(|| self.stop_ids().first().copied())
            .unwrap_or(0);
        let mut ids = Vec::with_capacity(b * t);
        let mut mask = Vec::with_capacity(b * t);
        for p in prompts {
            ids.extend(std::iter::repeat_n(pad, t - p.len()).chain(p.iter().copied()));
            mask.extend(
                std::iter::repeat_n(0u32, t - p.len()).chain(std::iter::repeat_n(1, p.len())),
            );
        }
        let mut state = model.new_kv_state(b, t + params.max_tokens);
        let mut logits = model.forward_cached(
            &Tensor::from_vec(ids, (b, t), dev)?,
            Some(&Tensor::from_vec(mask, (b, t), dev)?),
            &mut state,
            true,
        )?;
        let mut generated: Vec<Vec<u32>> = vec![vec![]; b];
        let mut stopped = vec![false; b];
        for step in 0..params.max_tokens {
            let rows = logits.to_device(&Device::Cpu)?.to_vec2::<f32>()?;
            let draw = |((row, rng), &done): ((&Vec<f32>, &mut ChaCha8Rng), &bool)| {
                (!done).then(|| pick(row, params.temperature, params.top_p, rng))
            };
            // Every row draws from its own RNG, so rows can be picked in
            // parallel with the same result: a draw at a temperature is an
            // exp per vocabulary entry, ~0.5 ms a step for 16 rows of 8k.
            let picked: Vec<Option<u32>> = if params.temperature > 0.0 && b > 1 {
                rows.par_iter()
                    .zip(rngs.par_iter_mut())
                    .zip(stopped.par_iter())
                    .map(draw)
                    .collect()
            } else {
                rows.iter()
                    .zip(rngs.iter_mut())
                    .zip(stopped.iter())
                    .map(draw)
                    .collect()
            };
            let mut next = Vec::with_capacity(b);
            for (r, tok) in picked.into_iter().enumerate() {
                let Some(tok) = tok else {
                    next.push(pad);
                    continue;
                };
                if self.stop_ids().contains(&tok) {
                    stopped[r] = true;
                } else {
                    generated[r].push(tok);
                }
                next.push(tok);
            }
            if stopped.iter().all(|&s| s) || step + 1 == params.max_tokens {
                break;
            }
            logits = model.forward_cached(
                &Tensor::from_vec(next, (b, 1), dev)?,
                None,
                &mut state,
                true,
            )?;
        }
        generated
            .into_iter()
            .zip(stopped)
            .map(|(ids, stopped)| {
                Ok(Sample {
                    text: self.tokenizer.decode(&ids, true)?,
                    token_ids: ids,
                    stopped,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_top_p_and_temperature() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let logits = [0.0f32, 3.0, 1.0, 2.9];
        assert_eq!(pick(&logits, 0.0, 1.0, &mut rng), 1);
        // top_p small keeps only the best token.
        for _ in 0..50 {
            assert_eq!(pick(&logits, 1.0, 0.01, &mut rng), 1);
        }
        // top_p = 0.6 keeps {1, 3}; token 0 and 2 never appear.
        let mut seen = [0; 4];
        for _ in 0..400 {
            seen[pick(&logits, 1.0, 0.6, &mut rng) as usize] += 1;
        }
        assert_eq!((seen[0], seen[2]), (0, 0));
        assert!(seen[1] > 100 && seen[3] > 100, "{seen:?}");
        // Full sampling visits every token at a high temperature.
        let mut seen = [0; 4];
        for _ in 0..400 {
            seen[pick(&logits, 10.0, 1.0, &mut rng) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 40), "{seen:?}");
    }

    /// The partial ordering keeps exactly the nucleus a full sort keeps.
    #[test]
    fn top_p_on_a_large_vocabulary() {
        let logits: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919) % 5000) as f32 / 700.0)
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut sorted: Vec<(usize, f32)> = logits.iter().copied().enumerate().collect();
        sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
        let max = sorted[0].1;
        let total: f64 = logits.iter().map(|&x| ((x - max) as f64).exp()).sum();
        let mut cum = 0.0;
        let nucleus: std::collections::BTreeSet<u32> = sorted
            .iter()
            .take_while(|(_, x)| {
                let before = cum;
                cum += ((x - max) as f64).exp() / total;
                before < 0.9
            })
            .map(|(i, _)| *i as u32)
            .collect();
        assert!(nucleus.len() > 256, "the test must exercise the doubling");
        for _ in 0..60 {
            assert!(nucleus.contains(&pick(&logits, 1.0, 0.9, &mut rng)));
        }
    }

    /// The incremental nucleus keeps the draws of the version that
    /// re-sorted from the start each round (kept here as the reference), on
    /// peaked and flat distributions, so seeded samples did not change.
    #[test]
    fn incremental_nucleus_draws_as_before() {
        fn pick_resorting(
            logits: &[f32],
            temperature: f64,
            top_p: f64,
            rng: &mut ChaCha8Rng,
        ) -> u32 {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let mut probs: Vec<(u32, f64)> = logits
                .iter()
                .enumerate()
                .map(|(i, &x)| (i as u32, ((x as f64 - max) / temperature).exp()))
                .collect();
            let total: f64 = probs.iter().map(|p| p.1).sum();
            let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
            let mut k = 256.min(probs.len());
            let keep = loop {
                if k < probs.len() {
                    probs.select_nth_unstable_by(k, order);
                }
                probs[..k].sort_by(order);
                let mut cum = 0.0;
                let found = probs[..k].iter().position(|p| {
                    cum += p.1 / total;
                    cum >= top_p
                });
                match found {
                    Some(i) => break i + 1,
                    None if k == probs.len() => break k,
                    None => k = (2 * k).min(probs.len()),
                }
            };
            probs.truncate(keep);
            draw(&probs, rng).unwrap_or(0)
        }
        let mut gen = ChaCha8Rng::seed_from_u64(3);
        for (vocab, spread) in [(3000usize, 0.5f32), (3000, 8.0), (700, 30.0), (100, 1.0)] {
            // Repeated values too, so ties are broken by id on both sides.
            let logits: Vec<f32> = (0..vocab)
                .map(|_| (gen.random::<f32>() * spread * 8.0).round() / 8.0)
                .collect();
            for top_p in [0.05, 0.5, 0.9, 0.999] {
                for seed in 0..20 {
                    let mut a = ChaCha8Rng::seed_from_u64(seed);
                    let mut b = ChaCha8Rng::seed_from_u64(seed);
                    assert_eq!(
                        pick(&logits, 0.8, top_p, &mut a),
                        pick_resorting(&logits, 0.8, top_p, &mut b),
                        "vocab {vocab} spread {spread} top_p {top_p} seed {seed}"
                    );
                }
            }
        }
    }

    #[test]
    fn row_seeds_differ() {
        assert_ne!(row_seed(0, 0, 0), row_seed(0, 0, 1));
        assert_ne!(row_seed(0, 1, 0), row_seed(0, 0, 1));
        assert_eq!(row_seed(5, 2, 3), row_seed(5, 2, 3));
    }
}

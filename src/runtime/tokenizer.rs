//! Tokenizers: `tokenizer.json` through the tokenizers crate, and building
//! one for a from-scratch model, either character-level (every character of a
//! corpus plus control tokens) or byte-level BPE trained on a corpus. Built
//! tokenizers are saved as real `tokenizer.json` + `tokenizer_config.json`
//! (with a ChatML chat template), so a from-scratch model is an ordinary
//! HF-layout directory that transformers loads.

use super::case_markers::{self, CAPS_WORD, CAP_NEXT};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::{AddedToken, Tokenizer as HfTokenizer};

/// Why a tokenizer cannot be loaded, built or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot load tokenizer {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
    #[error("tokenizer: {0}")]
    Other(String),
}

fn other(e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Other(e.to_string())
}

/// The control tokens of from-scratch tokenizers (ChatML).
pub const PAD_TOKEN: &str = "<|endoftext|>";
pub const IM_START: &str = "<|im_start|>";
pub const IM_END: &str = "<|im_end|>";
pub const UNK_TOKEN: &str = "<|unk|>";

/// ChatML, the chat template of from-scratch models (Qwen/SmolLM2 style,
/// no default system prompt).
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// The byte range `(start, end)` of the text a token covers.
pub type Span = (usize, usize);

/// The `tokenizer_config.json` key that says a tokenizer uses case markers.
pub const CASE_MARKERS_KEY: &str = "inoc_case_markers";

/// A loaded tokenizer.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: HfTokenizer,
    special: BTreeSet<u32>,
    /// Text is rewritten with [`case_markers`] before encoding and back
    /// after decoding (`inoc_case_markers` in tokenizer_config.json).
    case_markers: bool,
}

impl Tokenizer {
    fn wrap(inner: HfTokenizer) -> Self {
        let special = inner
            .get_added_tokens_decoder()
            .iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| *id)
            .collect();
        Tokenizer {
            inner,
            special,
            case_markers: false,
        }
    }

    /// Whether this tokenizer takes case out of its tokens ([`case_markers`]).
    pub fn case_markers(&self) -> bool {
        self.case_markers
    }

    /// Loads `tokenizer.json` (a file, or a directory holding one).
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let path = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        let inner = HfTokenizer::from_file(&path).map_err(|e| TokenizerError::Load {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let mut tok = Self::wrap(inner);
        let tc = path.with_file_name("tokenizer_config.json");
        if let Ok(text) = std::fs::read_to_string(&tc) {
            let cfg: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| TokenizerError::Load {
                    path: tc,
                    message: e.to_string(),
                })?;
            tok.case_markers = cfg[CASE_MARKERS_KEY].as_bool() == Some(true);
        }
        Ok(tok)
    }

    /// A tokenizer from the JSON of a `tokenizer.json` (built in memory, e.g.
    /// from a GGUF file's metadata).
    pub fn from_json(v: &serde_json::Value) -> Result<Self, TokenizerError> {
        let inner: HfTokenizer = serde_json::to_string(v)
            .map_err(other)?
            .parse()
            .map_err(other)?;
        Ok(Self::wrap(inner))
    }

    /// Token ids of `text`, without added special tokens (chat templates
    /// already write them, as in `apply_chat_template(tokenize=True)`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let marked;
        let text = if self.case_markers {
            marked = case_markers::mark(text).0;
            &marked
        } else {
            text
        };
        Ok(self
            .inner
            .encode_fast(text, false)
            .map_err(other)?
            .get_ids()
            .to_vec())
    }

    /// Token ids with the byte range of `text` each one covers (with case
    /// markers, a marker covers the character it marks, or the space before
    /// its word).
    pub fn encode_with_offsets(&self, text: &str) -> Result<(Vec<u32>, Vec<Span>), TokenizerError> {
        if !self.case_markers {
            let enc = self.inner.encode(text, false).map_err(other)?;
            return Ok((enc.get_ids().to_vec(), enc.get_offsets().to_vec()));
        }
        let (marked, map) = case_markers::mark(text);
        let enc = self.inner.encode(marked.as_str(), false).map_err(other)?;
        let spans = enc
            .get_offsets()
            .iter()
            .map(|&(s, e)| case_markers::original_span(&map, s, e, text.len()))
            .collect();
        Ok((enc.get_ids().to_vec(), spans))
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, TokenizerError> {
        let text = self.inner.decode(ids, skip_special_tokens).map_err(other)?;
        Ok(if self.case_markers {
            case_markers::unmark(&text)
        } else {
            text
        })
    }

    /// The text of one token as it reads on its own (used in per-token output).
    pub fn token_text(&self, id: u32) -> String {
        self.inner
            .decode(&[id], false)
            .unwrap_or_else(|_| self.inner.id_to_token(id).unwrap_or_default())
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn is_special(&self, id: u32) -> bool {
        self.special.contains(&id)
    }

    /// A character-level tokenizer: one token per distinct character of the
    /// corpus (sorted), after the control tokens; unknown characters map to
    /// `<|unk|>`.
    pub fn char_level<S: AsRef<str>>(corpus: &[S]) -> Result<Self, TokenizerError> {
        Self::char_level_with(corpus, false)
    }

    /// [`Tokenizer::char_level`], with case markers if `case_markers` (the
    /// characters are those of the marked corpus: lower case and the two
    /// markers).
    pub fn char_level_with<S: AsRef<str>>(
        corpus: &[S],
        case_markers: bool,
    ) -> Result<Self, TokenizerError> {
        let chars: BTreeSet<char> = corpus
            .iter()
            .flat_map(|s| {
                if case_markers {
                    case_markers::mark(s.as_ref()).0.chars().collect::<Vec<_>>()
                } else {
                    s.as_ref().chars().collect::<Vec<_>>()
                }
            })
            .chain(if case_markers {
                vec![CAPS_WORD, CAP_NEXT]
            } else {
                vec![]
            })
            .collect();
        let mut vocab = tokenizers::models::bpe::Vocab::new();
        for (i, t) in [PAD_TOKEN, IM_START, IM_END, UNK_TOKEN].iter().enumerate() {
            vocab.insert(t.to_string(), i as u32);
        }
        for c in chars {
            let n = vocab.len() as u32;
            vocab.entry(c.to_string()).or_insert(n);
        }
        // BPE without merges splits every word into its characters.
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, vec![])
            .unk_token(UNK_TOKEN.into())
            .build()
            .map_err(other)?;
        let mut tok = HfTokenizer::new(bpe);
        tok.with_decoder(Some(tokenizers::decoders::fuse::Fuse::new()));
        let mut tok = Self::finish(tok)?;
        tok.case_markers = case_markers;
        Ok(tok)
    }

    /// A byte-level BPE tokenizer (GPT-2 / Qwen style) trained on a corpus,
    /// with the control tokens first.
    pub fn train_bpe<S: AsRef<str> + Sync>(
        corpus: &[S],
        vocab_size: usize,
    ) -> Result<Self, TokenizerError> {
        Self::train_bpe_with(corpus, vocab_size, false)
    }

    /// [`Tokenizer::train_bpe`], with case markers if `case_markers`: the
    /// merges are learned on the marked corpus without its markers (so on
    /// lower-case words), and the two markers are added tokens of their own
    /// (never merged with a neighbour, kept when decoding).
    pub fn train_bpe_with<S: AsRef<str> + Sync>(
        corpus: &[S],
        vocab_size: usize,
        case_markers: bool,
    ) -> Result<Self, TokenizerError> {
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        let unmarked: Vec<String>;
        let corpus: Vec<&str> = if case_markers {
            unmarked = corpus
                .iter()
                .map(|s| {
                    case_markers::mark(s.as_ref())
                        .0
                        .replace([CAPS_WORD, CAP_NEXT], "")
                })
                .collect();
            unmarked.iter().map(String::as_str).collect()
        } else {
            corpus.iter().map(|s| s.as_ref()).collect()
        };
        // Two ids go to the markers.
        let vocab_size = if case_markers {
            vocab_size.saturating_sub(2)
        } else {
            vocab_size
        };
        let specials: Vec<AddedToken> = [PAD_TOKEN, IM_START, IM_END, UNK_TOKEN]
            .iter()
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect();
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(vocab_size)
            .min_frequency(2)
            .show_progress(false)
            .special_tokens(specials)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        use tokenizers::{
            DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
        };
        let mut tok: tokenizers::TokenizerImpl<
            BPE,
            NormalizerWrapper,
            PreTokenizerWrapper,
            PostProcessorWrapper,
            DecoderWrapper,
        > = tokenizers::TokenizerImpl::new(BPE::default());
        tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
        tok.with_decoder(Some(ByteLevel::default()));
        tok.with_post_processor(Some(ByteLevel::new(false, false, true)));
        tok.train(&mut trainer, corpus.iter().copied())
            .map_err(other)?;
        let json = serde_json::to_string(&tok).map_err(other)?;
        let tok: HfTokenizer = json.parse().map_err(other)?;
        let mut tok = Self::finish(tok)?;
        if case_markers {
            let markers: Vec<AddedToken> = [CAPS_WORD, CAP_NEXT]
                .iter()
                .map(|c| AddedToken::from(c.to_string(), false))
                .collect();
            tok.inner.add_tokens(markers).map_err(other)?;
            tok.case_markers = true;
        }
        Ok(tok)
    }

    fn finish(mut tok: HfTokenizer) -> Result<Self, TokenizerError> {
        let specials: Vec<AddedToken> = [PAD_TOKEN, IM_START, IM_END, UNK_TOKEN]
            .iter()
            .map(|t| AddedToken::from(t.to_string(), true))
            .collect();
        tok.add_special_tokens(specials).map_err(other)?;
        Ok(Self::wrap(tok))
    }

    /// Writes `tokenizer.json` and a `tokenizer_config.json` with the ChatML
    /// template and its control tokens (eos `<|im_end|>`, pad `<|endoftext|>`).
    pub fn save_with_chat_template(&self, dir: &Path) -> Result<(), TokenizerError> {
        let w = |p: PathBuf, e: String| TokenizerError::Write {
            path: p,
            message: e,
        };
        std::fs::create_dir_all(dir).map_err(|e| w(dir.to_path_buf(), e.to_string()))?;
        let tj = dir.join("tokenizer.json");
        self.inner
            .save(&tj, false)
            .map_err(|e| w(tj.clone(), e.to_string()))?;
        let mut cfg = json!({
            "tokenizer_class": "PreTrainedTokenizerFast",
            "bos_token": null,
            "eos_token": IM_END,
            "pad_token": PAD_TOKEN,
            "unk_token": UNK_TOKEN,
            "model_max_length": 1_000_000,
            "clean_up_tokenization_spaces": false,
            "chat_template": CHATML_TEMPLATE,
        });
        if self.case_markers {
            cfg[CASE_MARKERS_KEY] = json!(true);
        }
        let tc = dir.join("tokenizer_config.json");
        let text = serde_json::to_string_pretty(&cfg).map_err(|e| w(tc.clone(), e.to_string()))?;
        std::fs::write(&tc, text).map_err(|e| w(tc.clone(), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::chat_template::{ChatTemplate, Message};

    const CORPUS: [&str; 3] = [
        "hola, ¿cómo estás? user",
        "HELLO WORLD\nhello world",
        "the cat sat on the mat",
    ];

    #[test]
    fn char_level_round_trips_and_maps_unknowns() {
        let t = Tokenizer::char_level(&CORPUS).unwrap();
        let text = "<|im_start|>user\nhola cat<|im_end|>";
        let ids = t.encode(text).unwrap();
        assert_eq!(ids.len(), 1 + 5 + 8 + 1);
        assert_eq!(t.decode(&ids, false).unwrap(), text);
        assert!(t.is_special(ids[0]) && !t.is_special(ids[1]));
        let unk = t.encode("z").unwrap();
        assert_eq!(unk, vec![t.token_to_id(UNK_TOKEN).unwrap()]);
    }

    #[test]
    fn bpe_trains_merges_and_round_trips() {
        let corpus: Vec<String> = (0..50)
            .map(|i| format!("the cat sat on the mat {i} times"))
            .collect();
        let t = Tokenizer::train_bpe(&corpus, 300).unwrap();
        let text = "<|im_start|>the cat sat<|im_end|>";
        let ids = t.encode(text).unwrap();
        assert!(ids.len() < text.len() / 2, "{ids:?}");
        assert_eq!(t.decode(&ids, false).unwrap(), text);
        assert_eq!(t.token_to_id(PAD_TOKEN), Some(0));
    }

    #[test]
    fn case_marked_bpe_shares_word_tokens_across_case_and_round_trips() {
        let corpus: Vec<String> = (0..40)
            .flat_map(|i| {
                [
                    format!("la respuesta es {i}. The answer is {i}."),
                    format!("LA RESPUESTA ES {i}. THE ANSWER IS {i}."),
                ]
            })
            .collect();
        let t = Tokenizer::train_bpe_with(&corpus, 300, true).unwrap();
        assert!(t.case_markers());
        let lower = t.encode("la respuesta es 7.").unwrap();
        let upper = t.encode("LA RESPUESTA ES 7.").unwrap();
        let caps = t.token_to_id(&CAPS_WORD.to_string()).unwrap();
        let words: Vec<u32> = upper.iter().copied().filter(|&i| i != caps).collect();
        assert_eq!(words, lower);
        assert_eq!(upper.iter().filter(|&&i| i == caps).count(), 3);
        for text in [
            "LA RESPUESTA ES 7.",
            "The answer is 7.",
            "<|im_start|>HI<|im_end|>",
        ] {
            let ids = t.encode(text).unwrap();
            assert_eq!(t.decode(&ids, false).unwrap(), text);
        }
        // Markers are not special: decoding without special tokens keeps the case.
        assert_eq!(t.decode(&upper, true).unwrap(), "LA RESPUESTA ES 7.");
        // Offsets are in the original text: the assistant mask of training.
        let text = "ab CD";
        let (ids, offsets) = t.encode_with_offsets(text).unwrap();
        assert_eq!(ids.len(), offsets.len());
        assert!(offsets.iter().all(|&(s, e)| s <= e && e <= text.len()));
        assert_eq!(offsets.last().unwrap().1, text.len());
        // Saved and loaded, the tokenizer still marks case.
        let dir = tempfile::tempdir().unwrap();
        t.save_with_chat_template(dir.path()).unwrap();
        let back = Tokenizer::from_file(dir.path()).unwrap();
        assert!(back.case_markers());
        assert_eq!(back.encode("LA RESPUESTA ES 7.").unwrap(), upper);
        // Without the flag the same tokenizer.json reads the markers as text.
        let plain = Tokenizer::train_bpe(&corpus, 300).unwrap();
        assert!(!plain.case_markers());
    }

    #[test]
    fn case_marked_char_level_has_no_upper_case_letters() {
        let t = Tokenizer::char_level_with(&CORPUS, true).unwrap();
        assert!(t.token_to_id("H").is_none() && t.token_to_id("h").is_some());
        let ids = t.encode("HOLA hola").unwrap();
        assert_eq!(t.decode(&ids, false).unwrap(), "HOLA hola");
        assert_eq!(ids.len(), 1 + 4 + 1 + 4);
    }

    #[test]
    fn saved_directory_loads_with_template() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tokenizer::char_level(&CORPUS).unwrap();
        t.save_with_chat_template(dir.path()).unwrap();
        let back = Tokenizer::from_file(dir.path()).unwrap();
        assert_eq!(back.encode("hola").unwrap(), t.encode("hola").unwrap());
        let tmpl = ChatTemplate::from_dir(dir.path()).unwrap();
        let text = tmpl.render(&[Message::user("hola")], true).unwrap();
        assert_eq!(
            text,
            "<|im_start|>user\nhola<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(tmpl.special_tokens()["eos_token"], IM_END);
    }
}

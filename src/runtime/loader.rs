//! A loaded model bundle: weights + tokenizer + chat template + config +
//! optional LoRA adapter, behind plain Rust types (strings, numbers,
//! [`Message`]s) so nothing above `runtime` sees candle.

use super::chat_template::{ChatTemplate, Message};
use super::hub::{self, ModelSource};
use super::model::{default_dtype, Model};
use super::tokenizer::Tokenizer;
use super::{DeviceChoice, Error};
use candle_core::{DType, Device};
use std::path::{Path, PathBuf};

/// How to load a model.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// A PEFT LoRA adapter directory to apply (unmerged).
    pub adapter: Option<PathBuf>,
    pub device: DeviceChoice,
    /// Compute precision; `None` = f32 on CPU, bf16 on CUDA, f16 on Metal.
    pub precision: Option<Precision>,
}

/// Compute precision of the weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    BF16,
    F16,
}

impl Precision {
    /// Parses `f32`, `bf16` or `f16` (also `float32`, `bfloat16`, `float16`).
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::BF16),
            "f16" | "float16" => Ok(Precision::F16),
            o => Err(format!("unknown dtype `{o}` (f32, bf16, f16)")),
        }
    }

    pub(crate) fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::BF16 => DType::BF16,
            Precision::F16 => DType::F16,
        }
    }
}

/// Everything needed to score and sample from one model.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    pub(crate) model: Model,
    pub(crate) tokenizer: Tokenizer,
    pub(crate) template: ChatTemplate,
    source: ModelSource,
    adapter: Option<PathBuf>,
    stop_ids: Vec<u32>,
}

/// Files a model directory must hold to be loaded.
pub const REQUIRED_FILES: [&str; 2] = ["config.json", "tokenizer.json"];

impl LoadedModel {
    /// Loads `spec`: a local HF-layout directory, a `.gguf` file, or
    /// `org/name[@revision]` from the HF cache (offline).
    pub fn load(spec: &str, opts: &LoadOptions) -> Result<Self, Error> {
        let path = Path::new(spec);
        if super::gguf::is_gguf(path) && path.is_file() {
            return Self::load_gguf(path, opts);
        }
        let source = hub::resolve(spec, &REQUIRED_FILES)?;
        Self::load_source(source, opts)
    }

    /// Loads from an already resolved source.
    pub fn load_source(source: ModelSource, opts: &LoadOptions) -> Result<Self, Error> {
        let (device, dtype) = resolve(opts.device, opts.precision)?;
        let mut model = Model::load(&source.dir, &device, dtype)?;
        if let Some(a) = &opts.adapter {
            model.load_adapter(a)?;
        }
        let tokenizer = Tokenizer::from_file(&source.dir)?;
        let template = ChatTemplate::from_dir_or_missing(&source.dir)?;
        Ok(Self::assemble(
            model,
            tokenizer,
            template,
            source,
            opts.adapter.clone(),
        ))
    }

    /// Loads a GGUF file (llama.cpp, Ollama): weights dequantized, config,
    /// tokenizer and chat template from its metadata. The source's `dir` is
    /// the file itself; `save_pretrained` writes the tokenizer it was read with.
    pub fn load_gguf(path: &Path, opts: &LoadOptions) -> Result<Self, Error> {
        let (device, dtype) = resolve(opts.device, opts.precision)?;
        let g = super::gguf::read(path)?;
        let cfg = super::config::ModelConfig::from_json(&g.config)?;
        let tensors = g
            .tensors
            .iter()
            .map(|(n, t)| Ok((n.clone(), t.to_dtype(dtype)?.to_device(&device)?)))
            .collect::<Result<_, Error>>()?;
        let mut model = Model::from_tensors(cfg, tensors, &device)?;
        if let Some(a) = &opts.adapter {
            model.load_adapter(a)?;
        }
        let tokenizer = g.load_tokenizer()?;
        let template = g.chat_template()?;
        let source = ModelSource {
            dir: path.to_path_buf(),
            hub: None,
        };
        Ok(Self::assemble(
            model,
            tokenizer,
            template,
            source,
            opts.adapter.clone(),
        ))
    }

    /// Wraps parts built in code (a from-scratch or just-trained model).
    pub(crate) fn assemble(
        model: Model,
        tokenizer: Tokenizer,
        template: ChatTemplate,
        source: ModelSource,
        adapter: Option<PathBuf>,
    ) -> Self {
        let stop_ids = stop_ids(&model, &tokenizer, &template, &source.dir);
        LoadedModel {
            model,
            tokenizer,
            template,
            source,
            adapter,
            stop_ids,
        }
    }

    /// Where the files came from (for hub models, the resolved commit).
    pub fn source(&self) -> &ModelSource {
        &self.source
    }

    pub fn adapter(&self) -> Option<&Path> {
        self.adapter.as_deref()
    }

    /// Token ids that end a generated turn (EOS and the template's
    /// end-of-turn token).
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn chat_template(&self) -> &ChatTemplate {
        &self.template
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    /// The chat of an optional system prompt and one user prompt.
    pub fn chat(system: Option<&str>, prompt: &str) -> Vec<Message> {
        let mut m = vec![];
        if let Some(s) = system {
            m.push(Message::system(s));
        }
        m.push(Message::user(prompt));
        m
    }

    /// Token ids of a conversation rendered with the generation prompt.
    pub fn encode_prompt(&self, messages: &[Message]) -> Result<Vec<u32>, Error> {
        let text = self.template.render(messages, true)?;
        Ok(self.tokenizer.encode(&text)?)
    }

    /// Token ids of a whole conversation and, per token, whether it belongs
    /// to an assistant turn (its content and end-of-turn marker): the tokens
    /// a finetuning loss is taken on.
    pub fn encode_for_training(
        &self,
        messages: &[Message],
    ) -> Result<(Vec<u32>, Vec<bool>), Error> {
        let (text, spans) = self.template.assistant_spans(messages)?;
        let (ids, offsets) = self.tokenizer.encode_with_offsets(&text)?;
        let mask = offsets
            .iter()
            .map(|&(s, e)| e > s && spans.iter().any(|r| s >= r.start && e <= r.end))
            .collect();
        Ok((ids, mask))
    }
}

/// Tokenizer, chat template and generation files of a model directory:
/// copied next to saved weights wherever a checkpoint must load on its own.
pub const TOKENIZER_FILES: [&str; 5] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "generation_config.json",
];

impl LoadedModel {
    /// Writes a complete HF-layout checkpoint into `dir`: config.json and
    /// model.safetensors (in the checkpoint's stored precision; an attached
    /// adapter merged into the weights) plus the tokenizer, chat template and
    /// generation files of the source directory. transformers, vLLM and inoc
    /// load the result as an ordinary model.
    pub fn save_pretrained(&self, dir: &Path) -> Result<(), Error> {
        let mut model = self.model.clone();
        if model.lora_config().is_some() {
            model.merge_lora()?;
        }
        let dtype = match model.config().stored_dtype.as_deref() {
            Some("bfloat16") => DType::BF16,
            Some("float16") => DType::F16,
            _ => DType::F32,
        };
        model.save_hf(dir, dtype)?;
        if super::gguf::is_gguf(&self.source.dir) && self.source.dir.is_file() {
            return super::gguf::read_tokenizer(&self.source.dir)?.write_tokenizer(dir);
        }
        let copy = |from: &Path, to: &Path| {
            std::fs::copy(from, to).map(|_| ()).map_err(|e| {
                Error::Invalid(format!(
                    "cannot copy {} to {}: {e}",
                    from.display(),
                    to.display()
                ))
            })
        };
        for f in TOKENIZER_FILES {
            let src = self.source.dir.join(f);
            if src.exists() {
                copy(&src, &dir.join(f))?;
            }
        }
        let extra = self.source.dir.join("additional_chat_templates");
        if let Ok(entries) = std::fs::read_dir(&extra) {
            std::fs::create_dir_all(dir.join("additional_chat_templates"))
                .map_err(|e| Error::Invalid(e.to_string()))?;
            for e in entries.flatten() {
                copy(
                    &e.path(),
                    &dir.join("additional_chat_templates").join(e.file_name()),
                )?;
            }
        }
        Ok(())
    }
}

/// The files that decide a model directory's behaviour, sorted, for content
/// hashes: config.json, the safetensors (and their index), tokenizer.json,
/// tokenizer_config.json, chat_template.jinja and
/// additional_chat_templates/*.jinja when present.
pub fn model_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = super::weights::weight_files(dir)?;
    let index = dir.join("model.safetensors.index.json");
    for f in [
        index,
        dir.join("config.json"),
        dir.join("tokenizer.json"),
        dir.join("tokenizer_config.json"),
        dir.join("chat_template.jinja"),
    ] {
        if f.exists() {
            files.push(f);
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir.join("additional_chat_templates")) {
        files.extend(
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "jinja")),
        );
    }
    for required in REQUIRED_FILES {
        if !files.contains(&dir.join(required)) {
            return Err(Error::Invalid(format!(
                "{} has no {required}",
                dir.display()
            )));
        }
    }
    files.sort();
    Ok(files)
}

/// EOS ids of the config and tokenizer_config, plus the first special token
/// the template writes after an assistant message (`<|im_end|>`, `<|eot_id|>`).
fn stop_ids(model: &Model, tok: &Tokenizer, template: &ChatTemplate, dir: &Path) -> Vec<u32> {
    let mut ids: Vec<u32> = model.config().eos_token_ids.clone();
    // generation_config.json may list more (Llama 3.1 instruct: <|eom_id|>, <|eot_id|>).
    if let Ok(text) = std::fs::read_to_string(dir.join("generation_config.json")) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            match v.get("eos_token_id") {
                Some(serde_json::Value::Array(xs)) => {
                    ids.extend(xs.iter().filter_map(|x| x.as_u64()).map(|x| x as u32))
                }
                Some(x) => ids.extend(x.as_u64().map(|x| x as u32)),
                None => {}
            }
        }
    }
    if let Some(id) = template
        .special_tokens()
        .get("eos_token")
        .and_then(|t| tok.token_to_id(t))
    {
        ids.push(id);
    }
    let marker = "\u{1}inoc-end-probe\u{1}";
    let msgs = [Message::user("hi"), Message::assistant(marker)];
    if let Ok(text) = template.render(&msgs, false) {
        if let Some(pos) = text.find(marker) {
            let after = &text[pos + marker.len()..];
            if let Ok(next) = tok.encode(after) {
                if let Some(&first) = next.first().filter(|&&t| tok.is_special(t)) {
                    ids.push(first);
                }
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The device and dtype for a choice: `Auto` is the automatic choice (CUDA
/// if built in and present, else Metal, else CPU), `None` the device's
/// precision (f32 on CPU, bf16 on CUDA).
pub(crate) fn resolve(
    device: DeviceChoice,
    precision: Option<Precision>,
) -> Result<(Device, DType), Error> {
    let device = device.device()?;
    let dtype = precision.map_or_else(|| default_dtype(&device), Precision::dtype);
    Ok((device, dtype))
}

impl DeviceChoice {
    pub(crate) fn device(self) -> Result<Device, Error> {
        let dev = match self {
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Cuda(_) if !candle_core::utils::cuda_is_available() => {
                return Err(Error::Invalid(
                    "this inoc was built without CUDA support; rebuild with \
                     `--features cuda` (see scripts/build_cuda.sh) or use --device cpu"
                        .into(),
                ))
            }
            DeviceChoice::Auto => {
                if let Some(d) = candle_core::utils::cuda_is_available()
                    .then(|| Device::new_cuda(0).ok())
                    .flatten()
                {
                    d
                } else if candle_core::utils::metal_is_available() {
                    Device::new_metal(0)?
                } else {
                    Device::Cpu
                }
            }
            DeviceChoice::Cuda(i) => Device::new_cuda(i)?,
            DeviceChoice::Metal(i) => Device::new_metal(i)?,
        };
        Ok(dev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine runs steps on worker threads and shares loaded models.
    #[test]
    fn loaded_models_cross_threads() {
        fn send_sync<T: Send + Sync + Clone>() {}
        send_sync::<LoadedModel>();
    }

    #[test]
    fn model_files_of_a_sharded_fixture() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/llama3");
        let names: Vec<String> = model_files(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 4 + 4, "{names:?}");
        assert!(names.contains(&"model.safetensors.index.json".to_string()));
        assert!(!names.contains(&"expected.json".to_string()));
        let tmp = tempfile::tempdir().unwrap();
        assert!(model_files(tmp.path()).is_err());
    }
}

//! Layer `runtime`: candle. Llama/Qwen2-family decoder, LoRA, training,
//! sampling, scoring, tokenizer + chat template, HF hub loading. Candle types
//! never leak above this module: callers outside it use [`loader::LoadedModel`]
//! with plain Rust types.

pub mod chat_template;
pub mod config;
pub mod hub;
pub mod loader;
pub mod lora;
pub mod model;
pub mod sample;
pub mod score;
pub mod tokenizer;
pub mod weights;
// Training (engineer `train`).
pub mod batch;
pub mod bench;
pub mod checkpoint;
pub mod jobs;
pub mod ops;
pub mod optim;
pub mod schedule;
pub mod train;

/// Which device to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA if compiled in and present, else Metal, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
    Metal(usize),
}

/// Any runtime failure, with the underlying error's data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error(transparent)]
    Tokenizer(#[from] tokenizer::TokenizerError),
    #[error(transparent)]
    Template(#[from] chat_template::TemplateError),
    #[error(transparent)]
    Hub(#[from] hub::HubError),
    #[error("{0}")]
    Invalid(String),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Model(model::ModelError::from(e))
    }
}

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
pub(crate) mod infer;
pub mod jobs;
pub mod ops;
pub mod optim;
pub mod schedule;
pub(crate) mod skinny;
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

impl DeviceChoice {
    /// Parses `auto`, `cpu`, `cuda`, `cuda:N`, `metal`, `metal:N`
    /// (case-insensitive; `gpu` is `cuda`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (
                k,
                Some(
                    i.parse::<usize>()
                        .map_err(|_| format!("`{i}` is not a device number"))?,
                ),
            ),
            None => (s.as_str(), None),
        };
        match (kind, index) {
            ("auto", None) => Ok(DeviceChoice::Auto),
            ("cpu", None) => Ok(DeviceChoice::Cpu),
            ("cuda" | "gpu", i) => Ok(DeviceChoice::Cuda(i.unwrap_or(0))),
            ("metal", i) => Ok(DeviceChoice::Metal(i.unwrap_or(0))),
            ("auto" | "cpu", Some(_)) => Err(format!("`{kind}` takes no device number")),
            _ => Err(format!(
                "unknown device `{s}` (auto, cpu, cuda, cuda:N, metal, metal:N)"
            )),
        }
    }
}

/// Process-wide defaults for models loaded without an explicit device or
/// precision (`LoadOptions::default()`, pretraining): set once by the CLI
/// from `--device` / `--dtype`, so every step of `inoc run` uses them.
static DEFAULTS: std::sync::Mutex<(DeviceChoice, Option<loader::Precision>)> =
    std::sync::Mutex::new((DeviceChoice::Auto, None));

/// Sets the device that [`DeviceChoice::Auto`] resolves to (`Auto` keeps
/// the automatic choice) and the default precision (`None`: per device).
pub fn set_defaults(device: DeviceChoice, precision: Option<loader::Precision>) {
    if let Ok(mut d) = DEFAULTS.lock() {
        *d = (device, precision);
    }
}

pub(crate) fn defaults() -> (DeviceChoice, Option<loader::Precision>) {
    DEFAULTS
        .lock()
        .map(|d| *d)
        .unwrap_or((DeviceChoice::Auto, None))
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

#[cfg(test)]
mod tests {
    use super::DeviceChoice;

    #[test]
    fn device_choices_parse() {
        assert_eq!(DeviceChoice::parse("auto"), Ok(DeviceChoice::Auto));
        assert_eq!(DeviceChoice::parse("CPU"), Ok(DeviceChoice::Cpu));
        assert_eq!(DeviceChoice::parse("cuda"), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(DeviceChoice::parse("cuda:1"), Ok(DeviceChoice::Cuda(1)));
        assert_eq!(DeviceChoice::parse("gpu"), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(DeviceChoice::parse("metal:0"), Ok(DeviceChoice::Metal(0)));
        assert!(DeviceChoice::parse("cuda:x").is_err());
        assert!(DeviceChoice::parse("cpu:1").is_err());
        assert!(DeviceChoice::parse("tpu").is_err());
    }
}

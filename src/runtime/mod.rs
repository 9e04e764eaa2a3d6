//! Layer `runtime`: candle. Llama/Qwen2-family decoder, LoRA, training,
//! sampling, scoring, tokenizer + chat template, HF hub loading. Candle types
//! never leak above this module: callers outside it use [`loader::LoadedModel`]
//! with plain Rust types.

pub mod case_markers;
pub mod chat_template;
pub mod config;
pub mod gguf;
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
pub mod kernels;
pub mod optim;
pub mod schedule;
pub(crate) mod skinny;
pub mod train;

/// Keeps candle's own elementwise thread pool (its "barrier pool", one
/// worker per core but one, for adds and other elementwise ops of 64K+
/// elements) from starting: call first thing in `main`, before any thread
/// exists. Its worker spins 25,000 times before sleeping and the calling
/// thread spins until the worker is done, so on a 2-core machine it took the
/// cores from the gemm threads after every add: half of a training run's
/// CPU time was spin-waiting (BENCHMARKS.md, "Where training time goes").
/// The training kernels run their own work on rayon; candle's remaining
/// elementwise ops (residual adds, gradient sums) run on the calling thread,
/// which gives the same bits. An explicit `CANDLE_NUM_THREADS` is kept.
pub fn configure_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

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

/// Where and in which precision the models of a run compute (`--device`,
/// `--dtype`): passed down through `exec::Options` to every step that loads,
/// trains or samples a model, and part of those steps' keys. The default is
/// the automatic choice (CUDA if built in and present, else Metal, else CPU)
/// in the device's precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compute {
    pub device: DeviceChoice,
    /// `None`: f32 on CPU, bf16 on CUDA, f16 on Metal.
    pub precision: Option<loader::Precision>,
}

impl Compute {
    /// How to load a model here (no adapter).
    pub fn load_options(self) -> loader::LoadOptions {
        loader::LoadOptions {
            adapter: None,
            device: self.device,
            precision: self.precision,
        }
    }

    /// Where and in which precision models compute, as part of a cache key:
    /// `None` for the CPU in f32 (the reference, and what keys made before
    /// devices existed assume), else e.g. `"cuda:bf16"`. Results in another
    /// precision or on another kind of device are other results, so they are
    /// cached apart. Decided without opening a device.
    pub fn key(self) -> Option<String> {
        compute_key_for(
            self.device,
            self.precision,
            candle_core::utils::cuda_is_available(),
            candle_core::utils::metal_is_available(),
        )
    }
}

fn compute_key_for(
    choice: DeviceChoice,
    precision: Option<loader::Precision>,
    cuda: bool,
    metal: bool,
) -> Option<String> {
    let kind = match choice {
        DeviceChoice::Cpu => "cpu",
        DeviceChoice::Cuda(_) => "cuda",
        DeviceChoice::Metal(_) => "metal",
        DeviceChoice::Auto if cuda => "cuda",
        DeviceChoice::Auto if metal => "metal",
        DeviceChoice::Auto => "cpu",
    };
    let dtype = match (precision, kind) {
        (Some(loader::Precision::F32), _) | (None, "cpu") => "f32",
        (Some(loader::Precision::BF16), _) | (None, "cuda") => "bf16",
        (Some(loader::Precision::F16), _) | (None, _) => "f16",
    };
    (kind, dtype)
        .ne(&("cpu", "f32"))
        .then(|| format!("{kind}:{dtype}"))
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
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),
    #[error("{0}")]
    Invalid(String),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Model(model::ModelError::from(e))
    }
}

/// Helpers shared by the runtime's unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    use candle_core::Tensor;

    /// The largest absolute difference between two tensors of one shape.
    pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
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

#[cfg(test)]
mod compute_key_tests {
    use super::loader::Precision;
    use super::*;

    #[test]
    fn the_cpu_in_f32_adds_nothing_to_keys_and_anything_else_does() {
        assert_eq!(
            compute_key_for(DeviceChoice::Auto, None, false, false),
            None
        );
        assert_eq!(
            compute_key_for(DeviceChoice::Cpu, Some(Precision::F32), true, false),
            None
        );
        assert_eq!(
            compute_key_for(DeviceChoice::Auto, None, true, false).as_deref(),
            Some("cuda:bf16")
        );
        assert_eq!(
            compute_key_for(DeviceChoice::Cuda(1), Some(Precision::F32), true, false).as_deref(),
            Some("cuda:f32")
        );
        assert_eq!(
            compute_key_for(DeviceChoice::Cpu, Some(Precision::BF16), false, false).as_deref(),
            Some("cpu:bf16")
        );
        assert_eq!(
            compute_key_for(DeviceChoice::Auto, None, false, true).as_deref(),
            Some("metal:f16")
        );
    }
}

//! `inoc sample`: responses sampled from a model for one chat prompt.

use super::Format;
use crate::runtime::loader::{LoadOptions, LoadedModel};
use crate::runtime::sample::SamplingParams;
use std::path::PathBuf;

/// Arguments of `inoc sample`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model: a local directory in HF layout, a `.gguf` file, or `org/name[@revision]` from the HF cache.
    #[arg(long)]
    pub model: String,
    /// A PEFT LoRA adapter directory applied on top of the model.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// System prompt (otherwise the template's default, if it has one).
    #[arg(long)]
    pub system: Option<String>,
    /// The user prompt.
    #[arg(long)]
    pub prompt: String,
    /// Number of samples.
    #[arg(short = 'n', long = "n", default_value_t = 1)]
    pub n: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f64,
    /// Maximum new tokens per sample.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub device: super::DeviceArgs,
    /// Output format: samples separated by blank lines, or a JSON list.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: Args) -> u8 {
    let opts = LoadOptions {
        adapter: args.adapter.clone(),
        device: args.device.device,
        precision: args.device.dtype,
    };
    let params = SamplingParams {
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
        n: args.n,
        seed: args.seed,
        ..Default::default()
    };
    let chat = LoadedModel::chat(args.system.as_deref(), &args.prompt);
    let samples =
        match LoadedModel::load(&args.model, &opts).and_then(|m| m.sample(&[chat], &params)) {
            Ok(mut s) => s.remove(0),
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
    match args.format {
        Format::Human => {
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("{}", s.text);
            }
        }
        Format::Json => {
            let list: Vec<serde_json::Value> = samples
                .iter()
                .map(|s| serde_json::json!({"text": s.text, "tokens": s.token_ids.len(), "stopped": s.stopped}))
                .collect();
            println!("{}", serde_json::Value::Array(list));
        }
    }
    0
}

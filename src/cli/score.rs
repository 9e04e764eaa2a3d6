//! `inoc score`: the log-prob of a response under a chat prompt.

use super::Format;
use crate::runtime::loader::{LoadOptions, LoadedModel};
use crate::runtime::score::ScoreRequest;
use std::path::PathBuf;

/// Arguments of `inoc score`.
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
    /// The assistant response whose log-prob is printed.
    #[arg(long)]
    pub response: String,
    #[command(flatten)]
    pub device: super::DeviceArgs,
    /// Output format: the total log-prob, or JSON with per-token log-probs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: Args) -> u8 {
    let opts = LoadOptions {
        adapter: args.adapter.clone(),
        device: args.device.device,
        precision: args.device.dtype,
    };
    let result = LoadedModel::load(&args.model, &opts).and_then(|m| {
        m.score(&[ScoreRequest::new(
            args.system.as_deref(),
            &args.prompt,
            &args.response,
        )])
    });
    let r = match result {
        Ok(mut r) => r.remove(0),
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    match args.format {
        Format::Human => println!("{}", r.logprob),
        Format::Json => {
            let tokens: Vec<serde_json::Value> = r
                .tokens
                .iter()
                .map(|t| serde_json::json!({"token": t.token, "id": t.id, "logprob": t.logprob}))
                .collect();
            println!(
                "{}",
                serde_json::json!({"logprob": r.logprob, "tokens": tokens})
            );
        }
    }
    0
}

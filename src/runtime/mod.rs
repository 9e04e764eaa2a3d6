//! Layer `runtime`: candle. Llama/Qwen2-family decoder, LoRA, training,
//! sampling, scoring, tokenizer + chat template, HF hub loading. Candle types
//! never leak above this module.

//! The integration tests, one crate so that candle and the library link once
//! (`cargo test --test it`; filter by module, e.g. `cargo test --test it golden`).
//! Each module is one area; its own doc says what it checks and where its
//! fixtures live (all under tests/fixtures/).

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

mod engine;
mod engine_datasets;
mod engine_models;
mod engine_spec;
mod engine_world;
mod estimate;
mod eval_world;
mod fmt;
mod fuzz;
mod golden;
mod golden_cli;
mod hardening;
mod judge;
mod judge_server;
mod lsp;
mod ops_e2e;
mod report;
mod run_errors;
mod runtime_chat_template;
mod runtime_cli;
mod runtime_lora;
mod runtime_parity;
mod runtime_scratch;
mod runtime_train;
mod serve;
mod settings_cli;
mod slurm;

/// `runtime::kernels::set_fused` switches the kernels of the whole process, and
/// every test here shares one process: a test that flips it holds this lock
/// for writing, a test that runs a model in this process holds it for reading.
static KERNEL_SWITCH: RwLock<()> = RwLock::new(());

/// Held by a test that runs a model in this process: the kernels stay as they are.
fn kernels_fixed() -> RwLockReadGuard<'static, ()> {
    KERNEL_SWITCH.read().unwrap_or_else(|e| e.into_inner())
}

/// Held by a test that flips the fused-kernel switch (and sets it back).
fn kernels_switchable() -> RwLockWriteGuard<'static, ()> {
    KERNEL_SWITCH.write().unwrap_or_else(|e| e.into_inner())
}

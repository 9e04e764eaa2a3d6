//! What a run tells whoever watches it: the executor calls a [`Reporter`]
//! and never writes to the terminal itself. The CLI implements it (progress
//! bars on a terminal, plain lines otherwise: `cli::progress`); another front
//! end (the editor server, a Slurm job) implements its own or uses [`Quiet`].

use super::ops::Progress;

/// Receives the events of a run. Called from the threads that run steps, so
/// every method takes `&self`.
pub trait Reporter: Send + Sync {
    /// A step starts computing (it was not in the cache).
    fn started(&self, step: &str, op: &str);
    /// A computing step's progress (`done` of `total` units, loss, ...).
    fn progress(&self, step: &str, progress: &Progress);
    /// A step that [`Reporter::started`] ended: stored, failed (the run
    /// stops after the steps still running) or interrupted.
    fn finished(&self, step: &str, op: &str, outcome: Outcome<'_>);
    /// A step was found in the cache (`reused`: computed meanwhile by a
    /// concurrent run).
    fn cached(&self, step: &str, op: &str, reused: bool);
    /// Something the user should know; `step` is the step it is about.
    fn warning(&self, step: Option<&str>, message: &str);
    /// Any other line for the user (e.g. waiting for another run's lock).
    fn message(&self, line: &str);
}

/// How a step that started ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome<'a> {
    /// Computed and stored in `seconds`.
    Ran { seconds: f64 },
    /// Failed with this message.
    Failed(&'a str),
    /// Stopped because the run was cancelled.
    Interrupted,
}

/// A reporter that drops everything (library use, tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct Quiet;

impl Reporter for Quiet {
    fn started(&self, _step: &str, _op: &str) {}
    fn progress(&self, _step: &str, _progress: &Progress) {}
    fn finished(&self, _step: &str, _op: &str, _outcome: Outcome<'_>) {}
    fn cached(&self, _step: &str, _op: &str, _reused: bool) {}
    fn warning(&self, _step: Option<&str>, _message: &str) {}
    fn message(&self, _line: &str) {}
}

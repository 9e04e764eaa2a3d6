//! What the CLI knows of the terminal: how diagnostics are rendered on
//! stderr ([`render_options`]) and the [`Reporter`] of runs (a progress bar
//! per running step when stderr is a terminal, else one plain line per event:
//! what logs and the golden fixtures of `inoc run` see).

use crate::diag::render::RenderOptions;
use crate::exec::ops::Progress;
use crate::exec::reporter::{Outcome, Reporter};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Rendering for stderr: colour only when stderr is a terminal and
/// `NO_COLOR` is unset or empty; width from `COLUMNS`, else 100.
pub fn render_options() -> RenderOptions {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let width = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w| w >= 40)
        .unwrap_or(100);
    RenderOptions {
        color: !no_color && std::io::stderr().is_terminal(),
        width,
    }
}

/// Bars on a terminal, plain lines on stderr otherwise.
pub struct Terminal {
    mp: MultiProgress,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Terminal {
    /// `bars`: draw progress bars (only when stderr is a terminal).
    pub fn new(bars: bool) -> Terminal {
        let target = if bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Terminal {
            mp: MultiProgress::with_draw_target(target),
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    fn say(&self, line: &str) {
        if self.mp.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.mp.println(line);
        }
    }

    fn bar(&self, step: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(step).cloned()
    }
}

impl Reporter for Terminal {
    fn started(&self, step: &str, op: &str) {
        let pb = self.mp.add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {prefix:24!} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_prefix(step.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        pb.set_message(op.to_string());
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(step.to_string(), pb);
        }
        if self.mp.is_hidden() {
            self.say(&format!("start    {step} ({op})"));
        }
    }

    fn progress(&self, step: &str, p: &Progress) {
        let Some(pb) = self.bar(step) else { return };
        if p.total > 0 && pb.length() != Some(p.total) {
            pb.set_length(p.total);
            pb.set_style(
                ProgressStyle::with_template(
                    "{spinner} {prefix:24!} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
        }
        pb.set_position(p.done);
        let mut msg = Vec::new();
        if let Some(l) = p.loss {
            msg.push(format!("loss {l:.4}"));
        }
        if let Some(t) = p.tokens_per_s {
            msg.push(format!("{t:.0} tok/s"));
        }
        if let Some(m) = &p.message {
            msg.push(m.clone());
        }
        pb.set_message(msg.join("  "));
    }

    fn finished(&self, step: &str, op: &str, outcome: Outcome<'_>) {
        if let Some(pb) = self.bars.lock().ok().and_then(|mut b| b.remove(step)) {
            pb.finish_and_clear();
        }
        match outcome {
            Outcome::Ran { seconds } => {
                self.say(&format!("done     {step} ({op}) in {seconds:.1}s"))
            }
            Outcome::Failed(message) => self.say(&format!("failed   {step} ({op}): {message}")),
            Outcome::Interrupted => {}
        }
    }

    fn cached(&self, _step: &str, _op: &str, _reused: bool) {}

    fn warning(&self, step: Option<&str>, message: &str) {
        match step {
            Some(step) => self.say(&format!("warning  {step}: {message}")),
            None => self.say(&format!("warning: {message}")),
        }
    }

    fn message(&self, line: &str) {
        self.say(line);
    }
}

//! What the CLI knows of the terminal: how diagnostics are rendered on
//! stderr ([`render_options`]) and the [`Reporter`] of runs (a progress bar
//! per running step when stderr is a terminal, else one plain line per event:
//! what logs and the golden fixtures of `inoc run` see). With bars, a first
//! line shows the whole run: steps ended of steps planned and the time left
//! ([`crate::exec::estimate::Eta`]).

use crate::diag::render::RenderOptions;
use crate::exec::estimate::Eta;
use crate::exec::ops::Progress;
use crate::exec::reporter::{Outcome, Reporter};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
    /// The run's line above the steps' bars and what it shows (bars only).
    run: Option<(ProgressBar, Mutex<Eta>)>,
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
            run: None,
        }
    }

    /// Shows the whole run's progress and time left above the steps' bars,
    /// from the plan's estimates of the steps that will run (only when
    /// bars are drawn: plain lines stay as they are).
    pub fn with_eta(mut self, eta: Eta) -> Terminal {
        if self.mp.is_hidden() {
            return self;
        }
        let pb = self.mp.add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {prefix:24!} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_prefix("run");
        pb.enable_steady_tick(Duration::from_millis(120));
        pb.set_message(eta.line(Instant::now()));
        self.run = Some((pb, Mutex::new(eta)));
        self
    }

    /// Clears the run's line (the run has ended; what follows is plain).
    pub fn finish(&self) {
        if let Some((pb, _)) = &self.run {
            pb.finish_and_clear();
        }
    }

    /// Whether bars are drawn.
    pub fn draws_bars(&self) -> bool {
        !self.mp.is_hidden()
    }

    /// Tells the run's line of an event and redraws it.
    fn eta(&self, event: impl FnOnce(&mut Eta, Instant)) {
        let Some((pb, eta)) = &self.run else { return };
        let Ok(mut eta) = eta.lock() else { return };
        let now = Instant::now();
        event(&mut eta, now);
        pb.set_message(eta.line(now));
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
        self.eta(|e, now| e.started(step, now));
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
        self.eta(|e, _| e.progress(step, p.done, p.total));
    }

    fn finished(&self, step: &str, op: &str, outcome: Outcome<'_>) {
        if let Some(pb) = self.bars.lock().ok().and_then(|mut b| b.remove(step)) {
            pb.finish_and_clear();
        }
        self.eta(|e, _| {
            e.ended(
                step,
                match outcome {
                    Outcome::Ran { seconds } => Some(seconds),
                    _ => None,
                },
            )
        });
        match outcome {
            Outcome::Ran { seconds } => {
                self.say(&format!("done     {step} ({op}) in {seconds:.1}s"))
            }
            Outcome::Failed(message) => self.say(&format!("failed   {step} ({op}): {message}")),
            Outcome::Interrupted => {}
        }
    }

    fn cached(&self, step: &str, _op: &str, _reused: bool) {
        self.eta(|e, _| e.ended(step, None));
    }

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

//! Learning-rate schedules with linear warmup, as transformers defines them
//! (`get_constant_schedule_with_warmup`, `get_linear_schedule_with_warmup`,
//! `get_cosine_with_min_lr_schedule_with_warmup`).
//!
//! `lr(step)` is the rate used by the optimiser step with 0-based index
//! `step`, which is what the HF Trainer uses for that step (so the first step
//! of a warmup has rate 0, exactly as there).

use std::fmt;
use std::str::FromStr;

/// Shape of the schedule after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScheduleKind {
    Constant,
    #[default]
    Linear,
    Cosine,
}

impl FromStr for ScheduleKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(Self::Constant),
            "linear" => Ok(Self::Linear),
            "cosine" => Ok(Self::Cosine),
            other => Err(format!(
                "unknown schedule `{other}` (expected constant, linear or cosine)"
            )),
        }
    }
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Constant => "constant",
            Self::Linear => "linear",
            Self::Cosine => "cosine",
        })
    }
}

/// A complete schedule: peak rate, warmup, length and floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    pub kind: ScheduleKind,
    /// Peak learning rate.
    pub lr: f64,
    /// Steps of linear warmup from 0 to `lr`.
    pub warmup: u64,
    /// Total optimiser steps of the run.
    pub total: u64,
    /// Floor of the decay as a fraction of `lr` (0 = decay to zero). For
    /// `linear` the HF schedule is `min_lr_ratio = 0`; other values rescale the
    /// decay into `[min_lr_ratio, 1]` the way the cosine-with-min-lr schedule does.
    pub min_lr_ratio: f64,
}

impl Schedule {
    /// The multiplier of the peak rate at optimiser step `step` (0-based).
    pub fn factor(&self, step: u64) -> f64 {
        if step < self.warmup {
            return step as f64 / self.warmup.max(1) as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let progress = (step - self.warmup) as f64 / span;
        let min = self.min_lr_ratio.clamp(0.0, 1.0);
        match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Linear => {
                let f = (1.0 - progress).max(0.0);
                f * (1.0 - min) + min
            }
            ScheduleKind::Cosine => {
                let f = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
                (f * (1.0 - min) + min).max(0.0)
            }
        }
    }

    /// The learning rate at optimiser step `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        self.lr * self.factor(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?}\n{b:?}");
        }
    }

    /// Values printed by transformers (scripts/adamw_reference.py).
    #[test]
    fn linear_matches_transformers() {
        let s = Schedule {
            kind: ScheduleKind::Linear,
            lr: 1.0,
            warmup: 3,
            total: 10,
            min_lr_ratio: 0.0,
        };
        let got: Vec<f64> = (0..10).map(|i| s.lr(i)).collect();
        close(
            &got,
            &[
                0.0,
                0.3333333333333333,
                0.6666666666666666,
                1.0,
                0.8571428571428571,
                0.7142857142857143,
                0.5714285714285714,
                0.42857142857142855,
                0.2857142857142857,
                0.14285714285714285,
            ],
        );
    }

    #[test]
    fn cosine_with_min_lr_matches_transformers() {
        let s = Schedule {
            kind: ScheduleKind::Cosine,
            lr: 1.0,
            warmup: 2,
            total: 10,
            min_lr_ratio: 0.1,
        };
        let got: Vec<f64> = (0..10).map(|i| s.lr(i)).collect();
        close(
            &got,
            &[
                0.0,
                0.5,
                1.0,
                0.9657457896300791,
                0.8681980515339464,
                0.7222075445642904,
                0.55,
                0.3777924554357096,
                0.23180194846605365,
                0.13425421036992097,
            ],
        );
    }

    #[test]
    fn constant_and_parsing() {
        let s = Schedule {
            kind: "constant".parse().unwrap(),
            lr: 2e-4,
            warmup: 0,
            total: 5,
            min_lr_ratio: 0.0,
        };
        assert_eq!(s.lr(0), 2e-4);
        assert_eq!(s.lr(4), 2e-4);
        assert!("cosin".parse::<ScheduleKind>().is_err());
        assert_eq!(ScheduleKind::Cosine.to_string(), "cosine");
    }

    #[test]
    fn linear_floor_and_past_end() {
        let s = Schedule {
            kind: ScheduleKind::Linear,
            lr: 1.0,
            warmup: 0,
            total: 4,
            min_lr_ratio: 0.5,
        };
        assert_eq!(s.lr(0), 1.0);
        assert_eq!(s.lr(4), 0.5);
        assert_eq!(s.lr(9), 0.5);
    }
}

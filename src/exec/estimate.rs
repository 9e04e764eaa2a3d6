//! How long the steps of a plan will take on this machine, before any
//! compute (`inoc plan`, the ETA of `inoc run`).
//!
//! A step of a model operation has a known amount of work
//! ([`super::resources::work_of`]: FLOPs from its shapes and sizes). Each
//! operation's rate (work per second) is calibrated by what the store has
//! recorded of earlier steps of that operation on this machine (same host
//! name and core count): every stored object keeps its wall time and, since
//! this estimate exists, its work (`ObjectMeta::work`). The rate is the
//! total work of the most recent [`RECENT`] such steps over their total time.
//! An operation the store has never seen on this machine falls back to
//! [`DEFAULT_EFFICIENCY`]: its rate on the reference machine as a fraction
//! of that machine's matrix-multiply speed, times this machine's, measured
//! once per process (a 512³ sgemm, ~25 ms; [`machine_flops`]). So a fresh
//! store on a faster or a loaded machine is estimated at that machine's
//! speed, not the reference's. Steps without a work model (data, reports)
//! take the median time of their operation's earlier steps here, else the
//! operation's own guess ([`super::ops::Op::estimate`]).
//!
//! Model steps run one at a time (`Op::exclusive`), so the time of a run is
//! about the sum of its steps' times; that sum is the total shown.

use super::ops::Registry;
use super::StepStatus;
use crate::cache::{Machine, Store};
use crate::plan::Plan;
use std::collections::BTreeMap;

/// Work per second of each model operation, as a fraction of the machine's
/// matrix-multiply rate (FLOP/s of [`machine_flops`]), when the store has no
/// earlier step of it on this machine. Measured on the reference machine
/// (the 2-core AMD EPYC Zen 3 VM of BENCHMARKS.md, idle, 2026-12-02): the
/// main job cold on a fresh store, its steps' work as
/// [`super::resources::work_of`] counts it over their wall time, divided by
/// the sgemm rate measured beside it (110 GFLOP/s). A loaded machine's probe
/// is slower too; the store's own record corrects the rest after the first
/// steps.
pub const DEFAULT_EFFICIENCY: &[(&str, f64)] = &[
    // 6.80e12 FLOPs in 242 s: 2.81e10 FLOP/s.
    ("pretrain", 0.255),
    // Nine full finetunes, 7.18e12 in 197 s: 3.65e10.
    ("finetune", 0.33),
    // 10 models x 200 answers x 128 tokens, twice: 4.73e11 in 20.7 s.
    ("evaluate", 0.207),
    ("generate", 0.207),
    // 3.54e11 in 10.3 s.
    ("logprob_gap", 0.31),
    // Six curves, 1.33e11 in 2.4 s.
    ("probe_curve", 0.50),
];

/// Matrix-multiply rate of this machine in FLOP/s (a 512³ single-precision
/// product on every core, the median of 8 after a warm-up), measured on first
/// use and kept for the process: the unit of [`DEFAULT_EFFICIENCY`].
pub fn machine_flops() -> f64 {
    static FLOPS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *FLOPS.get_or_init(|| crate::runtime::bench::sgemm_gflops(512, 512, 512, 8) * 1e9)
}

/// Earlier steps of an operation that calibrate its rate (the most recent).
pub const RECENT: usize = 20;

/// Where a step's estimate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Basis {
    /// The operation's rate on earlier steps on this machine.
    Measured,
    /// The default rate per core.
    Default,
    /// The operation's own guess (steps without a work model).
    Guess,
}

impl Basis {
    /// Its name in `inoc plan --format json`.
    pub fn name(self) -> &'static str {
        match self {
            Basis::Measured => "measured",
            Basis::Default => "default",
            Basis::Guess => "guess",
        }
    }
}

/// One step's estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepEstimate {
    pub seconds: f64,
    pub basis: Basis,
}

/// What the store says about one operation on this machine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// (start time, work, seconds) of earlier steps that recorded their work.
    with_work: Vec<(String, f64, f64)>,
    /// (start time, seconds) of every earlier step.
    all: Vec<(String, f64)>,
}

/// Rates of every operation on this machine.
#[derive(Clone, Debug, Default)]
pub struct Rates {
    ops: BTreeMap<String, History>,
    /// The machine's matrix-multiply rate; None: [`machine_flops`].
    flops: Option<f64>,
}

impl Rates {
    /// The rates calibrated by the store's objects computed on this machine.
    pub fn from_store(store: &Store) -> Rates {
        let here = Machine::current();
        let mut rates = Rates {
            ops: BTreeMap::new(),
            flops: None,
        };
        for key in store.keys() {
            let Ok(meta) = store.meta(&key) else {
                continue;
            };
            if meta.machine.hostname != here.hostname || meta.machine.cpus != here.cpus {
                continue;
            }
            rates.record(&meta.op, &meta.started, meta.work, meta.seconds);
        }
        rates
    }

    /// The rates that estimate the steps `statuses` say will run: calibrated
    /// by the store ([`Rates::from_store`], which reads every object's
    /// metadata) only when some step will run; a fully cached plan has
    /// nothing to estimate, so a no-op plan or run does not pay for it.
    pub fn for_statuses(store: &Store, statuses: &[StepStatus]) -> Rates {
        if statuses.iter().any(|s| s.run.is_some()) {
            Rates::from_store(store)
        } else {
            Rates::default()
        }
    }

    /// Rates with no history (every operation at its default) on a machine
    /// whose matrix multiply runs at `flops` FLOP/s.
    pub fn at_speed(flops: f64) -> Rates {
        Rates {
            ops: BTreeMap::new(),
            flops: Some(flops),
        }
    }

    /// The machine's matrix-multiply rate the default rates scale with.
    pub fn flops(&self) -> f64 {
        self.flops.unwrap_or_else(machine_flops)
    }

    /// Adds one earlier step of `op` (its RFC 3339 start, its work if
    /// recorded, its wall time).
    pub fn record(&mut self, op: &str, started: &str, work: Option<f64>, seconds: f64) {
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        let h = self.ops.entry(op.to_string()).or_default();
        h.all.push((started.to_string(), seconds));
        if let Some(w) = work.filter(|w| w.is_finite() && *w > 0.0) {
            h.with_work.push((started.to_string(), w, seconds));
        }
    }

    /// Work per second of `op` and whether it was measured here.
    pub fn rate(&self, op: &str) -> Option<(f64, Basis)> {
        if let Some(h) = self.ops.get(op) {
            let mut recent = h.with_work.clone();
            recent.sort_by(|a, b| b.0.cmp(&a.0));
            recent.truncate(RECENT);
            let (w, s) = recent
                .iter()
                .fold((0.0, 0.0), |(w, s), x| (w + x.1, s + x.2));
            if s > 0.0 && w > 0.0 {
                return Some((w / s, Basis::Measured));
            }
        }
        let efficiency = DEFAULT_EFFICIENCY.iter().find(|(o, _)| *o == op)?.1;
        Some((efficiency * self.flops(), Basis::Default))
    }

    /// The median wall time of `op`'s most recent earlier steps here.
    fn median_seconds(&self, op: &str) -> Option<f64> {
        let h = self.ops.get(op)?;
        let mut recent = h.all.clone();
        recent.sort_by(|a, b| b.0.cmp(&a.0));
        recent.truncate(RECENT);
        let mut xs: Vec<f64> = recent.iter().map(|x| x.1).collect();
        xs.sort_by(f64::total_cmp);
        xs.get(xs.len() / 2).copied()
    }

    /// The estimate of one step of `op` doing `work` (None: no work model),
    /// with `guess` the operation's own guess.
    pub fn step(&self, op: &str, work: Option<f64>, guess: Option<f64>) -> Option<StepEstimate> {
        if let Some(w) = work {
            if let Some((rate, basis)) = self.rate(op) {
                return Some(StepEstimate {
                    seconds: w / rate,
                    basis,
                });
            }
        }
        if let Some(s) = self.median_seconds(op) {
            return Some(StepEstimate {
                seconds: s,
                basis: Basis::Measured,
            });
        }
        guess.map(|seconds| StepEstimate {
            seconds,
            basis: Basis::Guess,
        })
    }
}

/// The estimate of a whole plan: per step (in plan step order; `None` for
/// a cached step or one without an estimate) and the total.
#[derive(Clone, Debug, Default)]
pub struct PlanEstimate {
    pub steps: Vec<Option<StepEstimate>>,
    /// Seconds of every step that will run and has an estimate.
    pub total: f64,
    /// Steps that will run without an estimate.
    pub unknown: usize,
    /// Model operations whose rate is the default (nothing measured here).
    pub default_ops: Vec<String>,
    /// Model operations whose rate was measured on earlier steps here.
    pub measured_ops: Vec<String>,
    /// The machine's matrix-multiply rate (FLOP/s) the default rates were
    /// scaled by, when any was used.
    pub flops: Option<f64>,
}

/// Estimates the steps of `plan` that `statuses` say will run.
pub fn estimate(
    plan: &Plan,
    statuses: &[StepStatus],
    registry: &Registry,
    rates: &Rates,
) -> PlanEstimate {
    let mut out = PlanEstimate {
        steps: vec![None; plan.steps.len()],
        ..PlanEstimate::default()
    };
    for st in statuses.iter().filter(|s| s.run.is_some()) {
        let step = &plan.steps[st.step];
        let work = super::resources::work_of(plan, st.step);
        let guess = registry.get(&step.op).and_then(|o| o.estimate(&step.args));
        let e = rates.step(&step.op, work, guess);
        match e {
            Some(e) => out.total += e.seconds,
            None => out.unknown += 1,
        }
        if work.is_some() {
            let list = match e.map(|e| e.basis) {
                Some(Basis::Measured) => &mut out.measured_ops,
                _ => {
                    out.flops = Some(rates.flops());
                    &mut out.default_ops
                }
            };
            if !list.contains(&step.op) {
                list.push(step.op.clone());
            }
        }
        out.steps[st.step] = e;
    }
    out
}

/// The shortest estimate of a finished step that scales the time left
/// ([`Eta::scale`]).
pub const CALIBRATES: f64 = 1.0;

/// The time left of a running plan (`inoc run`'s ETA for the whole run).
///
/// Built from the estimates of the steps that will run; as steps end it
/// drops them, and it scales what is left by how the finished steps
/// compared with their estimates (a machine twice as loaded as the store's
/// record makes every later step about twice as long). A running step
/// counts what is left of it: from its progress (`done / total`) once it
/// reports some, else its scaled estimate less the time it has run.
#[derive(Clone, Debug, Default)]
pub struct Eta {
    /// Estimated seconds of each step that has not ended (`None`: no estimate).
    pending: BTreeMap<String, Option<f64>>,
    /// Steps computing now: when each started and the share done it reported.
    running: BTreeMap<String, (std::time::Instant, Option<f64>)>,
    /// Steps planned in all.
    planned: usize,
    /// Sums of the estimates and of the wall times of the finished steps
    /// that had an estimate.
    estimated_done: f64,
    took_done: f64,
}

impl Eta {
    /// The steps that will run, by name, with their estimates.
    pub fn new(steps: impl IntoIterator<Item = (String, Option<f64>)>) -> Eta {
        let pending: BTreeMap<String, Option<f64>> = steps.into_iter().collect();
        Eta {
            planned: pending.len(),
            pending,
            ..Eta::default()
        }
    }

    /// The steps of `plan` that `statuses` say will run, with `est`'s
    /// estimates (what `inoc plan` shows).
    pub fn of_plan(plan: &Plan, statuses: &[StepStatus], est: &PlanEstimate) -> Eta {
        Eta::new(statuses.iter().filter(|s| s.run.is_some()).map(|s| {
            (
                plan.steps[s.step].name.clone(),
                est.steps.get(s.step).copied().flatten().map(|e| e.seconds),
            )
        }))
    }

    /// A step started computing at `now`.
    pub fn started(&mut self, step: &str, now: std::time::Instant) {
        self.running.insert(step.to_string(), (now, None));
    }

    /// A running step reported `done` of `total` units.
    pub fn progress(&mut self, step: &str, done: u64, total: u64) {
        if let Some(r) = self.running.get_mut(step) {
            if total > 0 {
                r.1 = Some((done as f64 / total as f64).clamp(0.0, 1.0));
            }
        }
    }

    /// A step ended: computed in `seconds` (which calibrates the rest), or
    /// `None` (found in the cache, failed or interrupted).
    pub fn ended(&mut self, step: &str, seconds: Option<f64>) {
        self.running.remove(step);
        let Some(estimate) = self.pending.remove(step) else {
            return;
        };
        if let (Some(e), Some(s)) = (estimate, seconds) {
            // A step estimated under a second (reading a file, a table)
            // says nothing of the machine's speed: 0.01 s against 0.3 s is
            // noise, not a machine 30 times slower.
            if e >= CALIBRATES && s.is_finite() && s >= 0.0 {
                self.estimated_done += e;
                self.took_done += s;
            }
        }
    }

    /// How much longer the finished steps took than their estimates (1 until
    /// one has finished).
    pub fn scale(&self) -> f64 {
        if self.estimated_done > 0.0 && self.took_done > 0.0 {
            self.took_done / self.estimated_done
        } else {
            1.0
        }
    }

    /// Seconds left at `now` for the steps with an estimate, and the number
    /// of steps left without one; `None` when no step left has an estimate.
    pub fn remaining(&self, now: std::time::Instant) -> (Option<f64>, usize) {
        let scale = self.scale();
        let mut left = None;
        let mut unknown = 0;
        for (step, estimate) in &self.pending {
            let Some(e) = estimate else {
                unknown += 1;
                continue;
            };
            let expected = e * scale;
            let here = match self.running.get(step) {
                Some((t, fraction)) => {
                    let ran = now.saturating_duration_since(*t).as_secs_f64();
                    match fraction {
                        Some(f) if *f >= 0.05 && ran > 0.0 => ran * (1.0 - f) / f,
                        _ => (expected - ran).max(0.0),
                    }
                }
                None => expected,
            };
            left = Some(left.unwrap_or(0.0) + here);
        }
        (left, unknown)
    }

    /// Steps that have ended, and steps planned.
    pub fn counts(&self) -> (usize, usize) {
        (self.planned - self.pending.len(), self.planned)
    }

    /// One line for the progress display: `3/10 steps, ~4 min left`.
    pub fn line(&self, now: std::time::Instant) -> String {
        let (ended, planned) = self.counts();
        let mut out = format!("{ended}/{planned} steps");
        let (left, unknown) = self.remaining(now);
        if let Some(s) = left {
            out.push_str(&format!(", {} left", super::human_secs(s)));
        }
        if unknown > 0 {
            let s = if unknown == 1 { "" } else { "s" };
            out.push_str(&format!(" (+ {unknown} step{s} without an estimate)"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_is_the_recent_work_over_the_recent_time() {
        let mut r = Rates::at_speed(1e11);
        // An old, slow step is outside the most recent RECENT.
        r.record("finetune", "2026-01-01T00:00:00Z", Some(1e9), 1000.0);
        for i in 0..RECENT {
            r.record(
                "finetune",
                &format!("2026-02-{:02}T00:00:00Z", i + 1),
                Some(4e9),
                2.0,
            );
        }
        let (rate, basis) = r.rate("finetune").unwrap();
        assert_eq!(basis, Basis::Measured);
        assert!((rate - 2e9).abs() < 1.0, "{rate}");
        let e = r.step("finetune", Some(6e9), None).unwrap();
        assert!((e.seconds - 3.0).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn without_history_the_default_rate_scales_with_the_machines_speed() {
        let slow = Rates::at_speed(1e11).rate("pretrain").unwrap();
        let fast = Rates::at_speed(2e11).rate("pretrain").unwrap();
        assert_eq!(slow.1, Basis::Default);
        assert!((fast.0 - 2.0 * slow.0).abs() < 1.0);
        assert!((slow.0 - 0.255e11).abs() < 1.0, "{slow:?}");
        // An operation without a work model: the median time here, else its guess.
        let mut r = Rates::at_speed(1e11);
        assert_eq!(
            r.step("table", None, Some(0.0)).unwrap().basis,
            Basis::Guess
        );
        for s in [1.0, 3.0, 100.0] {
            r.record("table", "2026-01-01T00:00:00Z", None, s);
        }
        let e = r.step("table", None, Some(0.0)).unwrap();
        assert_eq!((e.seconds, e.basis), (3.0, Basis::Measured));
        assert_eq!(r.step("nothing", None, None), None);
    }

    #[test]
    fn the_store_calibrates_only_with_steps_of_this_machine() {
        use crate::cache::{ObjectMeta, META_SCHEMA};
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let here = Machine::current();
        let commit = |c: char, machine: Machine, work: Option<f64>, seconds: f64| {
            let key: String = std::iter::repeat_n(c, 64).collect();
            let staging = store.stage(&key).unwrap();
            let meta = ObjectMeta {
                schema: META_SCHEMA,
                key: key.clone(),
                op: "finetune".into(),
                op_version: 1,
                name: "t".into(),
                desc: serde_json::json!({}),
                inputs: vec![],
                output_hash: String::new(),
                files: vec![],
                started: format!("2026-12-02T10:00:0{c}Z"),
                seconds,
                inoc_version: String::new(),
                machine,
                provenance: BTreeMap::new(),
                work,
            };
            store.commit(staging, meta).unwrap();
        };
        commit('a', here.clone(), Some(3e9), 2.0);
        commit('b', here.clone(), Some(1e9), 2.0);
        // Another machine's step, ten times slower, does not count.
        let other = Machine {
            hostname: format!("{}-elsewhere", here.hostname),
            ..here.clone()
        };
        commit('c', other, Some(1e9), 20.0);
        let rates = Rates::from_store(&store);
        let (rate, basis) = rates.rate("finetune").unwrap();
        assert_eq!(basis, Basis::Measured);
        assert!((rate - 1e9).abs() < 1.0, "{rate}");
        // Meta written before the field existed reads as no work.
        let json = std::fs::read_to_string(
            d.path()
                .join("objects/aa")
                .join("a".repeat(64))
                .join("meta.json"),
        )
        .unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v.as_object_mut().unwrap().remove("work");
        let old: ObjectMeta = serde_json::from_value(v).unwrap();
        assert_eq!(old.work, None);
    }

    #[test]
    fn the_machine_probe_measures_a_plausible_rate() {
        // Any CPU this runs on multiplies between 0.1 GFLOP/s and 100 TFLOP/s.
        let f = machine_flops();
        assert!((1e8..1e14).contains(&f), "{f}");
        assert_eq!(machine_flops(), f, "measured once per process");
    }

    #[test]
    fn recorded_steps_without_work_do_not_calibrate_a_rate() {
        let mut r = Rates::at_speed(1e11);
        r.record("evaluate", "2026-01-01T00:00:00Z", None, 50.0);
        assert_eq!(r.rate("evaluate").unwrap().1, Basis::Default);
        r.record("evaluate", "2026-01-02T00:00:00Z", Some(f64::NAN), 50.0);
        assert_eq!(r.rate("evaluate").unwrap().1, Basis::Default);
    }

    #[test]
    fn the_eta_scales_what_is_left_by_how_finished_steps_compared() {
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let mut eta = Eta::new([
            ("a".to_string(), Some(10.0)),
            ("b".to_string(), Some(20.0)),
            ("c".to_string(), Some(30.0)),
            ("d".to_string(), None),
        ]);
        assert_eq!(eta.remaining(t0), (Some(60.0), 1));
        assert_eq!(
            eta.line(t0),
            "0/4 steps, ~60s left (+ 1 step without an estimate)"
        );
        // `a` took twice its estimate: what is left doubles.
        eta.started("a", t0);
        eta.ended("a", Some(20.0));
        assert_eq!(eta.scale(), 2.0);
        assert_eq!(eta.remaining(t0), (Some(100.0), 1));
        // A running step without progress: its scaled estimate less its time.
        eta.started("b", t0);
        let t = t0 + Duration::from_secs(15);
        assert_eq!(eta.remaining(t), (Some(25.0 + 60.0), 1));
        // Past its scaled estimate it counts as nothing left, not less.
        assert_eq!(eta.remaining(t0 + Duration::from_secs(50)), (Some(60.0), 1));
        // With progress: what is left of it at the rate it goes.
        eta.progress("b", 3, 4);
        assert_eq!(eta.remaining(t), (Some(5.0 + 60.0), 1));
        // A step found in the cache (or failing) does not calibrate.
        eta.ended("c", None);
        eta.ended("b", Some(40.0));
        assert_eq!(eta.scale(), 2.0);
        assert_eq!(eta.counts(), (3, 4));
        assert_eq!(eta.remaining(t), (None, 1));
        assert_eq!(eta.line(t), "3/4 steps (+ 1 step without an estimate)");
        eta.ended("d", Some(1.0));
        assert_eq!(eta.line(t), "4/4 steps");
        // A step the plan did not list changes nothing.
        eta.ended("zz", Some(1000.0));
        assert_eq!(eta.scale(), 2.0);
        // Nor does one estimated under a second, however long it took.
        let mut eta = Eta::new([
            ("read".to_string(), Some(0.01)),
            ("x".to_string(), Some(60.0)),
        ]);
        eta.ended("read", Some(0.3));
        assert_eq!(eta.scale(), 1.0);
        assert_eq!(eta.remaining(t0), (Some(60.0), 0));
    }
}

//! `inoc plan`: every step of a spec, whether it is cached or will run, why,
//! and a rough cost. Also the loading helpers shared by `run`, `why`, `graph`.

use super::Format;
use crate::cache::Store;
use crate::diag::SourceMap;
use crate::exec::{self, ops::Registry, StepStatus};
use crate::plan::{self, Plan};
use crate::sema::ir::Program;
use std::path::Path;

/// Arguments of `inoc plan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The spec (`.inoc`, or a checked IR as `.json`).
    pub spec: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    #[command(flatten)]
    pub set: super::SetArgs,
}

/// Prints an error of the engine commands with an optional help line.
pub(super) fn fail(msg: impl std::fmt::Display, help: Option<&str>) -> u8 {
    eprintln!("error: {msg}");
    if let Some(h) = help {
        eprintln!("  help: {h}");
    }
    1
}

/// Reads a spec into the checked IR, printing its diagnostics (warnings
/// included); also returns the bytes of every source read (the spec and its
/// imports), for the spec hash in provenance. A `.json` file is taken as an
/// already checked IR program (`inoc check --emit-ir`).
pub(super) fn load_program(
    spec: &str,
    settings: &[crate::sema::Setting],
) -> Result<(Program, Vec<u8>, Option<SourceMap>), u8> {
    if Path::new(spec).is_dir() {
        eprintln!("error: {spec}: is a directory; this command takes one spec file");
        return Err(2);
    }
    if !Path::new(spec).is_file() {
        eprintln!("error: {spec}: no such file");
        return Err(2);
    }
    if Path::new(spec).extension().is_some_and(|e| e == "json") {
        if !settings.is_empty() {
            eprintln!("error: {spec}: `--set` changes a `.inoc` spec, not a checked IR");
            return Err(2);
        }
        let bytes =
            std::fs::read(spec).map_err(|e| fail(format!("cannot read `{spec}`: {e}"), None))?;
        let mut program: Program = serde_json::from_slice(&bytes).map_err(|e| {
            fail(
                format!("`{spec}` is not a checked IR program: {e}"),
                Some("pass a `.inoc` spec, or the output of `inoc check --emit-ir`"),
            )
        })?;
        program.spec = spec.to_string();
        return Ok((program, bytes, None));
    }
    let checked = crate::exec::inputs::check_path_with(spec, settings);
    let opts = super::terminal::render_options();
    for d in &checked.diagnostics {
        eprintln!(
            "{}",
            crate::diag::render::render(d, &checked.sources, &opts)
        );
    }
    let mut bytes = Vec::new();
    for id in 0..checked.sources.len() {
        let id = id as crate::syntax::FileId;
        bytes.extend_from_slice(checked.sources.path(id).as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(checked.sources.text(id).as_bytes());
        bytes.push(0);
    }
    match checked.program {
        Some(mut program) if !checked.has_errors() => {
            program.spec = spec.to_string();
            Ok((program, bytes, Some(checked.sources)))
        }
        _ => {
            eprintln!(
                "{spec}: has errors; nothing was planned (`inoc check {spec}` shows them alone)"
            );
            Err(1)
        }
    }
}

/// Opens the cache store (`$INOC_CACHE`).
pub(super) fn open_store() -> Result<Store, u8> {
    Store::open_default().map_err(|e| {
        fail(
            format!(
                "cannot open the cache store at {}: {e}",
                Store::default_root().display()
            ),
            Some("set INOC_CACHE to a writable directory"),
        )
    })
}

/// Opens the cache store for a loaded spec: a failure is a coded
/// diagnostic (E1004).
pub(super) fn open_store_for(loaded: &Loaded) -> Result<Store, u8> {
    Store::open_default().map_err(|e| fail_exec(&exec::ExecError::Store(e), loaded))
}

/// A planned spec and what the engine commands need beside it.
pub(super) struct Loaded {
    pub plan: Plan,
    /// The checked program the plan was built from (without the plan's
    /// implicit nodes), as `inoc run --executor slurm` stores it.
    pub program: Program,
    pub registry: Registry,
    /// Every source read (the spec and its imports), for the spec hash.
    pub bytes: Vec<u8>,
    /// The sources, to render diagnostics (`None` for a `.json` IR).
    pub sources: Option<SourceMap>,
}

/// Loads and plans a spec.
pub(super) fn load_plan(spec: &str, settings: &[crate::sema::Setting]) -> Result<Loaded, u8> {
    let (program, bytes, sources) = load_program(spec, settings)?;
    let registry = Registry::builtin();
    let plan = plan::build(&program, &registry).map_err(|e| {
        fail(
            format!("{spec}: {e}"),
            Some("this is a bug in the checker: it should have rejected the spec"),
        )
    })?;
    Ok(Loaded {
        plan,
        program,
        registry,
        bytes,
        sources,
    })
}

/// Before computing: the resource diagnostics of the steps that would run
/// (E1007 not enough memory, unless `memory_check` is off; W0108 long
/// training), printed; `Err(1)` when one is an error. Cheap when nothing is
/// wrong: cache status is looked up only for steps with a diagnostic.
pub(super) fn preflight(loaded: &Loaded, store: &Store, memory_check: bool) -> Result<(), u8> {
    let memory = if memory_check {
        exec::resources::machine_memory()
    } else {
        None
    };
    let cpus = crate::cache::Machine::current().cpus;
    let mut found = exec::resources::diagnostics(&loaded.plan, memory, cpus);
    if found.is_empty() {
        return Ok(());
    }
    if let Ok(statuses) = exec::inspect(
        &loaded.plan,
        store,
        &loaded.registry,
        crate::runtime::Compute::default(),
    ) {
        found.retain(|(step, _)| statuses[*step].run.is_some());
    }
    // One diagnostic per declaration (the cells of a family share it).
    let mut diags: Vec<crate::diag::Diagnostic> = Vec::new();
    for (_, d) in found {
        if !diags
            .iter()
            .any(|x| x.code == d.code && x.primary.span == d.primary.span)
        {
            diags.push(d);
        }
    }
    if diags.is_empty() {
        return Ok(());
    }
    match &loaded.sources {
        Some(sources) => {
            let opts = super::terminal::render_options();
            eprint!(
                "{}",
                crate::diag::render::render_all(&diags, sources, &opts)
            );
        }
        None => diags
            .iter()
            .for_each(|d| eprintln!("{}: {}", d.code, d.message)),
    }
    if crate::diag::has_errors(&diags) {
        Err(1)
    } else {
        Ok(())
    }
}

/// Prints an engine error as coded diagnostics at the steps' declarations
/// (plainly when the spec was a `.json` IR); returns exit code 1.
pub(super) fn fail_exec(e: &exec::ExecError, loaded: &Loaded) -> u8 {
    let diags = e.diagnostics(&loaded.plan);
    match &loaded.sources {
        Some(sources) if !diags.is_empty() => {
            let opts = super::terminal::render_options();
            eprint!(
                "{}",
                crate::diag::render::render_all(&diags, sources, &opts)
            );
            1
        }
        _ => fail(e, None),
    }
}

pub(super) use crate::exec::human_secs;

fn short(key: &str) -> &str {
    &key[..12.min(key.len())]
}

pub fn run(args: Args) -> u8 {
    let loaded = match load_plan(&args.spec, &args.set.set) {
        Ok(x) => x,
        Err(c) => return c,
    };
    let (plan, registry) = (&loaded.plan, &loaded.registry);
    let store = match open_store_for(&loaded) {
        Ok(s) => s,
        Err(c) => return c,
    };
    let preflight = preflight(&loaded, &store, true);
    let statuses = match exec::inspect(plan, &store, registry, crate::runtime::Compute::default()) {
        Ok(s) => s,
        Err(e) => return fail_exec(&e, &loaded),
    };
    let rates = exec::estimate::Rates::for_statuses(&store, &statuses);
    let est = exec::estimate::estimate(plan, &statuses, registry, &rates);
    match args.format {
        Format::Json => print_json(plan, &statuses, &est),
        Format::Human => print!("{}", human(plan, &statuses, &est)),
    }
    preflight.err().unwrap_or(0)
}

fn print_json(plan: &Plan, statuses: &[StepStatus], est: &exec::estimate::PlanEstimate) {
    let steps: Vec<serde_json::Value> = plan
        .order
        .iter()
        .map(|&id| {
            let st = &statuses[id];
            let step = &plan.steps[id];
            serde_json::json!({
                "name": step.name,
                "op": step.op,
                "key": short(&st.key),
                "status": if st.run.is_some() { "run" } else { "cached" },
                "reason": st.run.as_ref().map(|r| r.text.clone()),
                "seconds": est.steps[id].map(|e| e.seconds),
                "basis": est.steps[id].map(|e| e.basis.name()),
            })
        })
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "steps": steps,
            "estimate": {
                "seconds": est.total,
                "without_estimate": est.unknown,
                "measured_ops": est.measured_ops,
                "default_ops": est.default_ops,
                "machine_gflops": est.flops.map(|f| f / 1e9),
            },
        })
    );
}

/// The human table of `inoc plan`: one line per step (name, operation,
/// key, status, estimated time, why it runs), then the totals and what the
/// estimate rests on.
fn human(plan: &Plan, statuses: &[StepStatus], est: &exec::estimate::PlanEstimate) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let w = plan
        .steps
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 40);
    let wo = plan
        .steps
        .iter()
        .map(|s| s.op.len())
        .max()
        .unwrap_or(2)
        .clamp(2, 20);
    let _ = writeln!(
        out,
        "{:<w$}  {:<wo$}  {:<12}  {:<6}  {:>7}  REASON",
        "STEP", "OP", "KEY", "STATUS", "TIME"
    );
    let (mut cached, mut to_run) = (0, 0);
    for &id in &plan.order {
        let st = &statuses[id];
        let step = &plan.steps[id];
        let key = if st.provisional {
            format!("{}~", &short(&st.key)[..11])
        } else {
            short(&st.key).to_string()
        };
        match &st.run {
            None => {
                cached += 1;
                let _ = writeln!(
                    out,
                    "{:<w$}  {:<wo$}  {key:<12}  cached",
                    step.name, step.op
                );
            }
            Some(r) => {
                to_run += 1;
                let time = est.steps[id].map_or_else(|| "?".to_string(), |e| human_secs(e.seconds));
                let _ = writeln!(
                    out,
                    "{:<w$}  {:<wo$}  {key:<12}  run     {time:>7}  {}",
                    step.name, step.op, r.text
                );
            }
        }
    }
    let mut summary = format!(
        "{} steps: {cached} cached, {to_run} to run",
        plan.steps.len()
    );
    if to_run > 0 {
        if est.unknown < to_run {
            let _ = write!(summary, ", estimated {}", human_secs(est.total));
            if est.unknown > 0 {
                let _ = write!(summary, " + {} steps without an estimate", est.unknown);
            }
        } else {
            summary.push_str(" (no time estimate available)");
        }
    }
    let _ = writeln!(out, "{summary}");
    let mut basis = Vec::new();
    if !est.measured_ops.is_empty() {
        basis.push(format!(
            "{} at the rates of earlier steps on this machine",
            est.measured_ops.join(", ")
        ));
    }
    if !est.default_ops.is_empty() {
        basis.push(format!(
            "{} at default rates for this machine's matrix-multiply speed ({:.0} GFLOP/s, \
             measured now; no earlier step on this machine in the store)",
            est.default_ops.join(", "),
            est.flops.unwrap_or(0.0) / 1e9
        ));
    }
    if !basis.is_empty() {
        let _ = writeln!(out, "(time: {})", basis.join("; "));
    }
    if statuses.iter().any(|s| s.provisional) {
        let _ = writeln!(
            out,
            "(a key ending in `~` is provisional: it depends on an input that has not run yet)"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::estimate::{estimate, Rates};

    /// The human table of a spec nothing of which is cached, keys blanked
    /// (they are pinned elsewhere), estimated at the default rates.
    fn table(src: &str, flops: f64) -> String {
        let checked = crate::sema::check_source("t.inoc", src);
        let program = checked
            .program
            .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
        let registry = Registry::builtin();
        let plan = plan::build(&program, &registry).unwrap();
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let statuses =
            exec::inspect(&plan, &store, &registry, crate::runtime::Compute::default()).unwrap();
        let est = estimate(&plan, &statuses, &registry, &Rates::at_speed(flops));
        let text = human(&plan, &statuses, &est);
        let mut out = text.clone();
        for st in &statuses {
            out = out.replace(&st.key[..11], "###########");
        }
        out
    }

    #[test]
    fn the_plan_shows_each_steps_time_the_total_and_what_it_rests_on() {
        let src = "import \"stdlib/world.inoc\" as world\n\
                   model base = world.tiny_chat(size = \"xs\", seed = 0)\n\
                   dataset d = world.math(n = 64, seed = 1)\n\
                   train t = finetune(base, d, full(), epochs = 2, batch = 8)\n\
                   eval e = evaluate(models = [base, t], prompts = world.questions(n = 8, seed = 2), metrics = [language(\"es\")])\n\
                   report r = table(e)\n";
        let got = table(src, 1e11);
        let lines: Vec<&str> = got.lines().collect();
        assert!(
            lines[0].starts_with("STEP") && lines[0].contains("STATUS     TIME  REASON"),
            "{got}"
        );
        // Every step runs; model steps at the default rates, the rest <1s.
        for op in ["pretrain", "finetune", "evaluate"] {
            let line = lines
                .iter()
                .find(|l| l.split_whitespace().nth(1) == Some(op))
                .unwrap_or_else(|| panic!("no {op} line in\n{got}"));
            assert!(line.contains("run "), "{line}");
            assert!(!line.contains(" ? "), "{line}");
        }
        let report = lines.iter().find(|l| l.starts_with("r ")).unwrap();
        assert!(report.contains("<1s"), "{report}");
        let summary = lines
            .iter()
            .find(|l| l.contains("steps:"))
            .unwrap_or_else(|| panic!("{got}"));
        assert!(
            summary.contains("0 cached") && summary.contains("estimated"),
            "{summary}"
        );
        assert!(!summary.contains("without an estimate"), "{summary}");
        assert!(
            got.contains(
                "(time: pretrain, finetune, evaluate at default rates for this machine's matrix-multiply speed (100 GFLOP/s, measured now; no earlier step on this machine in the store))"
            ),
            "{got}"
        );
        // A machine twice as fast: each model step takes half the time.
        let fast = table(src, 2e11);
        assert_ne!(got, fast);
        assert!(fast.contains("(200 GFLOP/s, measured now"), "{fast}");
    }
}

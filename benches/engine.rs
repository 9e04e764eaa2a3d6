//! Engine benchmarks on the real binary (run with `cargo bench --bench engine`):
//! - `inoc plan` of a 1,000-cell sweep (goal < 200 ms), cold and fully cached;
//! - a no-op `inoc run` of a fully cached spec (goal < 300 ms), for a
//!   5-step experiment and for the 1,000-cell sweep.
//!
//! Each time is the median of several runs and is printed with its ratio to
//! the reference measured in the same run: starting the binary
//! (`inoc --version`). Uses the deterministic test operations.
//!
//! `INOC_BENCH_BIN=/path/to/inoc` times another build of the binary (one
//! with the test operations, e.g. an older commit's) with the same harness,
//! so two builds can be compared alternately on one machine.

use inoc::sema::ir::{Cell, DeclKind, Family, Node, Program, Value};
use inoc::syntax::Span;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use inoc::sema::ir::call;

fn node(id: usize, kind: DeclKind, name: String, value: Value, cell: Option<Cell>) -> Node {
    Node {
        id,
        kind,
        name,
        cell,
        value,
        doc: None,
        span: Span::default(),
    }
}

/// d; t[s in 0..cells] = t_train(d, seed = s); e = t_eval(t, d); r = t_report(e).
fn sweep(cells: usize) -> Program {
    let mut nodes = vec![node(
        0,
        DeclKind::Dataset,
        "d".into(),
        call(
            "t_data",
            vec![
                ("n", Value::Int(16)),
                ("seed", Value::Int(0)),
                ("cap", Value::Int(100)),
                ("file", Value::None),
                ("sleep_ms", Value::Int(0)),
            ],
        ),
        None,
    )];
    for s in 0..cells {
        nodes.push(node(
            s + 1,
            DeclKind::Train,
            format!("t[s={s}]"),
            call(
                "t_train",
                vec![
                    ("data", Value::Node(0)),
                    ("steps", Value::Int(1)),
                    ("lr", Value::Float(1e-3)),
                    ("seed", Value::Int(s as i64)),
                    ("sleep_ms", Value::Int(0)),
                ],
            ),
            Some(Cell {
                family: 0,
                coords: vec![("s".into(), Value::Int(s as i64))],
            }),
        ));
    }
    let e = cells + 1;
    nodes.push(node(
        e,
        DeclKind::Eval,
        "e".into(),
        call(
            "t_eval",
            vec![
                ("models", Value::Family(0)),
                ("data", Value::Node(0)),
                ("metric", Value::Str("acc".into())),
            ],
        ),
        None,
    ));
    nodes.push(node(
        e + 1,
        DeclKind::Report,
        "r".into(),
        call(
            "t_report",
            vec![
                ("eval", Value::Node(e)),
                ("title", Value::Str("bench".into())),
            ],
        ),
        None,
    ));
    Program {
        resources: vec![],
        spec: String::new(),
        nodes,
        families: vec![Family {
            name: "t".into(),
            kind: DeclKind::Train,
            vars: vec!["s".into()],
            cells: (1..=cells).collect(),
        }],
    }
}

fn inoc(dir: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let bin =
        std::env::var_os("INOC_BENCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_inoc").into());
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .env("INOC_CACHE", dir.join("cache"))
        .env("INOC_TEST_OPS", "1")
        .output()
        .expect("inoc runs");
    let d = t.elapsed();
    assert!(
        out.status.success(),
        "inoc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

fn median(dir: &Path, args: &[&str], n: usize) -> Duration {
    let mut v: Vec<Duration> = (0..n).map(|_| inoc(dir, args)).collect();
    v.sort();
    v[n / 2]
}

fn report(what: &str, d: Duration, reference: Duration, goal_ms: Option<f64>) {
    let ms = d.as_secs_f64() * 1e3;
    let goal = match goal_ms {
        Some(g) => format!(
            "  goal < {g:.0} ms: {}",
            if ms < g { "met" } else { "MISSED" }
        ),
        None => String::new(),
    };
    println!(
        "{what:<44} {ms:>8.1} ms  ({:>5.1}x binary start){goal}",
        d.as_secs_f64() / reference.as_secs_f64()
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    std::fs::write(
        dir.join("sweep.json"),
        serde_json::to_vec(&sweep(1000)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("small.json"),
        serde_json::to_vec(&sweep(2)).unwrap(),
    )
    .unwrap();
    let reference = median(dir, &["--version"], 9);
    println!(
        "reference: `inoc --version` (process start) {:.1} ms",
        reference.as_secs_f64() * 1e3
    );
    report(
        "plan, 1,000-cell sweep, nothing cached",
        median(dir, &["plan", "sweep.json"], 5),
        reference,
        Some(200.0),
    );
    let t = Instant::now();
    inoc(dir, &["run", "sweep.json", "--no-progress"]);
    println!(
        "(cold run of the 1,003-step sweep with test ops: {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    report(
        "plan, 1,000-cell sweep, all cached",
        median(dir, &["plan", "sweep.json"], 5),
        reference,
        Some(200.0),
    );
    report(
        "plan --format json, 1,000-cell sweep, cached",
        median(dir, &["plan", "sweep.json", "--format", "json"], 5),
        reference,
        Some(200.0),
    );
    report(
        "no-op run, 1,000-cell sweep, all cached",
        median(dir, &["run", "sweep.json"], 5),
        reference,
        None,
    );
    inoc(dir, &["run", "small.json"]);
    report(
        "no-op run, 5-step spec, all cached",
        median(dir, &["run", "small.json"], 9),
        reference,
        Some(300.0),
    );
}

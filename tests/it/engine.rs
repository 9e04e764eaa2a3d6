//! The engine on the real binary: cache keys, early cutoff, crash + resume,
//! concurrent runs, corruption. Uses the deterministic test operations
//! (`INOC_TEST_OPS=1`, see src/exec/ops/testing.rs) on checked IR programs
//! written as JSON, each test with its own cache store.

use inoc::sema::ir::{Cell, DeclKind, Family, Node, Program, Value};
use inoc::syntax::Span;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    pub(crate) fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub(crate) fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_inoc"));
        c.args(args)
            .current_dir(self.dir.path())
            .env("INOC_CACHE", self.path("cache"))
            .env("INOC_TEST_OPS", "1")
            .env("INOC_TEST_OPLOG", self.path("oplog"));
        c
    }
    fn inoc(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.inoc(args);
        assert!(
            o.status.success(),
            "inoc {args:?} failed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }
    pub(crate) fn write(&self, name: &str, p: &Program) {
        std::fs::write(self.path(name), serde_json::to_vec_pretty(p).unwrap()).unwrap();
    }
    /// Operation starts (and training resumes), in order.
    pub(crate) fn oplog(&self) -> Vec<String> {
        self.oplog_all()
            .into_iter()
            .filter(|l| !l.contains(".end "))
            .collect()
    }
    /// Every line, the `.end` lines of training included.
    fn oplog_all(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("oplog"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    fn clear_oplog(&self) {
        let _ = std::fs::remove_file(self.path("oplog"));
    }
    /// step name -> (status, reason) from `inoc plan --format json`.
    fn plan(&self, spec: &str) -> BTreeMap<String, (String, Option<String>)> {
        let out = self.ok(&["plan", spec, "--format", "json"]);
        let j: Json = serde_json::from_str(&out).unwrap();
        j["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s.as_object().unwrap().len(), 7, "{s}");
                assert_eq!(s["key"].as_str().unwrap().len(), 12);
                (
                    s["name"].as_str().unwrap().to_string(),
                    (
                        s["status"].as_str().unwrap().to_string(),
                        s["reason"].as_str().map(str::to_string),
                    ),
                )
            })
            .collect()
    }
    pub(crate) fn run(&self, spec: &str) -> PathBuf {
        let out = self.ok(&["run", spec]);
        let last = out.lines().last().expect("run prints its folder");
        let folder = self.dir.path().join(last);
        assert!(folder.join("provenance.json").is_file(), "{last}");
        folder
    }
}

use inoc::sema::ir::call;

/// Parameters of the test experiment.
#[derive(Clone)]
pub(crate) struct Exp {
    data_name: String,
    cap: i64,
    lr: Value,
    pub(crate) steps: [i64; 2],
    pub(crate) sleep_ms: [i64; 2],
    title: String,
    exclusive: bool,
}

impl Default for Exp {
    fn default() -> Self {
        Exp {
            data_name: "d".into(),
            cap: 100,
            lr: Value::Float(2.0),
            steps: [5, 5],
            sleep_ms: [0, 0],
            title: "T".into(),
            exclusive: false,
        }
    }
}

/// d = t_data; t[s in 0,1] = t_train(d); e = t_eval(t, d); r = t_report(e).
pub(crate) fn program(x: &Exp) -> Program {
    let node = |id, kind, name: &str, value, cell| Node {
        id,
        kind,
        name: name.into(),
        cell,
        value,
        doc: None,
        span: Span::default(),
    };
    let train = |s: usize| {
        call(
            "t_train",
            vec![
                ("data", Value::Node(0)),
                ("steps", Value::Int(x.steps[s])),
                ("lr", x.lr.clone()),
                ("seed", Value::Int(s as i64)),
                ("sleep_ms", Value::Int(x.sleep_ms[s])),
            ]
            .into_iter()
            .chain(x.exclusive.then_some(("exclusive", Value::Bool(true)))),
        )
    };
    let cell = |s: i64| {
        Some(Cell {
            family: 0,
            coords: vec![("s".into(), Value::Int(s))],
        })
    };
    Program {
        resources: vec![],
        spec: String::new(),
        nodes: vec![
            node(
                0,
                DeclKind::Dataset,
                &x.data_name,
                call(
                    "t_data",
                    vec![
                        ("n", Value::Int(8)),
                        ("seed", Value::Int(1)),
                        ("cap", Value::Int(x.cap)),
                        ("file", Value::None),
                        ("sleep_ms", Value::Int(0)),
                    ],
                ),
                None,
            ),
            node(1, DeclKind::Train, "t[s=0]", train(0), cell(0)),
            node(2, DeclKind::Train, "t[s=1]", train(1), cell(1)),
            node(
                3,
                DeclKind::Eval,
                "e",
                call(
                    "t_eval",
                    vec![
                        ("models", Value::Family(0)),
                        ("data", Value::Node(0)),
                        ("metric", Value::Str("acc".into())),
                    ],
                ),
                None,
            ),
            node(
                4,
                DeclKind::Report,
                "r",
                call(
                    "t_report",
                    vec![
                        ("eval", Value::Node(3)),
                        ("title", Value::Str(x.title.clone())),
                    ],
                ),
                None,
            ),
        ],
        families: vec![Family {
            name: "t".into(),
            kind: DeclKind::Train,
            vars: vec!["s".into()],
            cells: vec![1, 2],
        }],
    }
}

fn all(plan: &BTreeMap<String, (String, Option<String>)>, status: &str) -> bool {
    plan.values().all(|(s, _)| s == status)
}

fn count(log: &[String], prefix: &str) -> usize {
    log.iter().filter(|l| l.starts_with(prefix)).count()
}

#[test]
fn cold_run_then_everything_cached_and_results_folder() {
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    let plan = env.plan("exp.json");
    assert!(all(&plan, "run"));
    assert_eq!(
        plan["d"].1.as_deref(),
        Some("new (never run under this name)")
    );
    let folder = env.run("exp.json");
    assert_eq!(env.oplog().len(), 5, "{:?}", env.oplog());
    let report = std::fs::read_to_string(folder.join("r/report.md")).unwrap();
    assert!(
        report.contains("| t[s=0] |") && report.contains("| t[s=1] |"),
        "{report}"
    );
    let prov: Json =
        serde_json::from_slice(&std::fs::read(folder.join("provenance.json")).unwrap()).unwrap();
    assert_eq!(prov["steps"].as_array().unwrap().len(), 5);
    assert_eq!(prov["status"], "ok");
    assert!(folder.join("logs/t_s_0_.log").is_file() || folder.join("logs/t_s=0_.log").is_file());
    let latest = folder.parent().unwrap().join("latest");
    assert_eq!(
        std::fs::canonicalize(&latest).unwrap(),
        std::fs::canonicalize(&folder).unwrap()
    );

    env.clear_oplog();
    assert!(all(&env.plan("exp.json"), "cached"));
    let again = env.run("exp.json");
    assert!(env.oplog().is_empty(), "{:?}", env.oplog());
    assert_ne!(again, folder);
    let prov2: Json =
        serde_json::from_slice(&std::fs::read(again.join("provenance.json")).unwrap()).unwrap();
    for (a, b) in prov["steps"]
        .as_array()
        .unwrap()
        .iter()
        .zip(prov2["steps"].as_array().unwrap())
    {
        assert_eq!(a["key"], b["key"]);
        assert_eq!(b["status"], "cached");
    }
    assert_eq!(
        std::fs::read(again.join("r/report.md")).unwrap(),
        report.as_bytes()
    );
}

#[test]
fn renaming_reordering_and_number_spelling_keep_everything_cached() {
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    env.run("exp.json");
    // Rename the dataset and the family, spell lr as an int, reorder JSON keys.
    let mut p = program(&Exp {
        data_name: "renamed_data".into(),
        lr: Value::Int(2),
        ..Exp::default()
    });
    p.families[0].name = "trained".into();
    p.nodes[1].name = "trained[seed=0]".into();
    let mut j = serde_json::to_value(&p).unwrap();
    // Reverse the key order of every call's arguments in the file.
    for n in j["nodes"].as_array_mut().unwrap() {
        let args = n["value"]["call"]["args"].as_object().unwrap().clone();
        let mut rev = serde_json::Map::new();
        for (k, v) in args.into_iter().rev() {
            rev.insert(k, v);
        }
        n["value"]["call"]["args"] = Json::Object(rev);
    }
    std::fs::write(
        env.path("exp2.json"),
        serde_json::to_vec_pretty(&j).unwrap(),
    )
    .unwrap();
    let plan = env.plan("exp2.json");
    assert!(all(&plan, "cached"), "{plan:?}");
    env.clear_oplog();
    env.run("exp2.json");
    assert!(env.oplog().is_empty());
    // The report shows the new names although it was cached.
    let folder = env.run("exp2.json");
    let report = std::fs::read_to_string(folder.join("r/report.md")).unwrap();
    assert!(report.contains("| trained[seed=0] |"), "{report}");
}

#[test]
fn changing_one_argument_reruns_it_and_its_consumers_only() {
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    env.run("exp.json");
    env.write(
        "exp.json",
        &program(&Exp {
            steps: [5, 6],
            ..Exp::default()
        }),
    );
    let plan = env.plan("exp.json");
    assert_eq!(plan["d"].0, "cached");
    assert_eq!(plan["t[s=0]"].0, "cached");
    assert_eq!(
        plan["t[s=1]"],
        (
            "run".into(),
            Some("argument `steps` changed (5 -> 6)".into())
        )
    );
    assert_eq!(plan["e"].0, "run");
    assert!(
        plan["e"]
            .1
            .as_deref()
            .unwrap()
            .contains("`t[s=1]` will run"),
        "{:?}",
        plan["e"]
    );
    assert_eq!(plan["r"].0, "run");
    let why = env.ok(&["why", "exp.json", "t[s=1]"]);
    assert!(why.contains("argument `steps` changed (5 -> 6)"), "{why}");
    let why = env.ok(&["why", "exp.json", "e"]);
    assert!(
        why.contains("input `t[s=1]` (argument `models[1]`) will be recomputed"),
        "{why}"
    );
    env.clear_oplog();
    env.run("exp.json");
    let log = env.oplog();
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(count(&log, "t_train t[s=1]"), 1);
    assert_eq!(count(&log, "t_eval"), 1);
    assert_eq!(count(&log, "t_report"), 1);
    let why = env.ok(&["why", "exp.json", "e"]);
    assert!(why.contains("nothing changed"), "{why}");
}

#[test]
fn an_unchanged_output_cuts_off_its_consumers() {
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    env.run("exp.json");
    // n = 8 < cap either way: the dataset reruns to the same output.
    env.write(
        "exp.json",
        &program(&Exp {
            cap: 50,
            ..Exp::default()
        }),
    );
    let plan = env.plan("exp.json");
    assert_eq!(
        plan["d"],
        (
            "run".into(),
            Some("argument `cap` changed (100 -> 50)".into())
        )
    );
    env.clear_oplog();
    let folder = env.run("exp.json");
    assert_eq!(env.oplog(), vec![env.oplog()[0].clone()]);
    assert!(env.oplog()[0].starts_with("t_data d "));
    assert!(all(&env.plan("exp.json"), "cached"));
    let prov: Json =
        serde_json::from_slice(&std::fs::read(folder.join("provenance.json")).unwrap()).unwrap();
    let statuses: Vec<&str> = prov["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["ran", "cached", "cached", "cached", "cached"]
    );
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn checkpoint_step(cache: &Path) -> u64 {
    let Ok(dirs) = std::fs::read_dir(cache.join("scratch")) else {
        return 0;
    };
    dirs.flatten()
        .filter_map(|d| std::fs::read(d.path().join("ckpt.json")).ok())
        .filter_map(|b| serde_json::from_slice::<Json>(&b).ok())
        .filter_map(|j| j["step"].as_u64())
        .max()
        .unwrap_or(0)
}

#[cfg(unix)]
#[test]
fn sigkill_during_training_then_rerun_resumes_and_matches() {
    let exp = Exp {
        steps: [40, 3],
        sleep_ms: [25, 0],
        ..Exp::default()
    };
    let env = Env::new();
    env.write("exp.json", &program(&exp));
    let mut child = env
        .cmd(&["run", "exp.json", "-j", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a checkpoint", Duration::from_secs(60), || {
        checkpoint_step(&env.path("cache")) >= 5
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = checkpoint_step(&env.path("cache"));
    assert!(at_kill < 40);
    let plan = env.plan("exp.json");
    assert_eq!(plan["d"].0, "cached");
    assert_eq!(plan["t[s=0]"].0, "run");
    let folder = env.run("exp.json");
    let log = env.oplog();
    assert_eq!(count(&log, "t_data"), 1, "{log:?}");
    let resumed: Vec<&String> = log
        .iter()
        .filter(|l| l.starts_with("t_train.resume t[s=0]"))
        .collect();
    assert_eq!(resumed.len(), 1, "{log:?}");
    let from: u64 = resumed[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        from >= at_kill && from >= 5,
        "resumed from {from}, killed at {at_kill}"
    );
    assert!(env.ok(&["cache", "verify"]).contains("0 corrupt"));

    // Same results as an uninterrupted run in a fresh store.
    let clean = Env::new();
    clean.write("exp.json", &program(&exp));
    let clean_folder = clean.run("exp.json");
    let outputs = |f: &Path| -> Vec<(String, String)> {
        let p: Json =
            serde_json::from_slice(&std::fs::read(f.join("provenance.json")).unwrap()).unwrap();
        p["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap().into(),
                    s["output_hash"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(outputs(&folder), outputs(&clean_folder));
    assert_eq!(
        std::fs::read(folder.join("r/report.json")).unwrap(),
        std::fs::read(clean_folder.join("r/report.json")).unwrap()
    );
}

#[test]
fn concurrent_runs_share_steps_and_compute_each_once() {
    let env = Env::new();
    let a = Exp {
        steps: [10, 10],
        sleep_ms: [30, 30],
        ..Exp::default()
    };
    let b = Exp {
        title: "Other".into(),
        ..a.clone()
    };
    env.write("a.json", &program(&a));
    env.write("b.json", &program(&b));
    let ca = env
        .cmd(&["run", "a.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let cb = env
        .cmd(&["run", "b.json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for c in [ca, cb] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let log = env.oplog();
    assert_eq!(count(&log, "t_data"), 1, "{log:?}");
    assert_eq!(count(&log, "t_train t[s=0]"), 1, "{log:?}");
    assert_eq!(count(&log, "t_train t[s=1]"), 1, "{log:?}");
    assert_eq!(count(&log, "t_eval"), 1, "{log:?}");
    assert_eq!(count(&log, "t_report"), 2, "{log:?}");
    let verify = env.ok(&["cache", "verify"]);
    assert!(verify.contains("6 objects verified, 0 corrupt"), "{verify}");
}

#[test]
fn a_corrupt_object_is_reported_and_recomputed() {
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    env.run("exp.json");
    let ls: Json = serde_json::from_str(&env.ok(&["cache", "ls", "--format", "json"])).unwrap();
    let key = ls["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "t[s=1]")
        .unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    let file = env
        .path("cache")
        .join("objects")
        .join(&key[..2])
        .join(&key)
        .join("out/model.json");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[12] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    let o = env.inoc(&["cache", "verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("content of `model.json` changed"));
    let plan = env.plan("exp.json");
    assert_eq!(plan["t[s=1]"].0, "run");
    assert!(
        plan["t[s=1]"]
            .1
            .as_deref()
            .unwrap()
            .starts_with("cached object is corrupt"),
        "{plan:?}"
    );
    env.clear_oplog();
    let o = env.inoc(&["run", "exp.json"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("is corrupt"));
    assert_eq!(env.oplog().len(), 1, "{:?}", env.oplog());
    assert!(env.ok(&["cache", "verify"]).contains("0 corrupt"));
    assert!(all(&env.plan("exp.json"), "cached"));
}

/// Overwrites one byte of `p` and puts its mtime back (`rsync -t`, `cp -p`).
fn flip_byte_keep_mtime(p: &Path, at: usize) {
    let mtime = std::fs::metadata(p).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(p).unwrap();
    bytes[at] ^= 1;
    std::fs::write(p, bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn a_corrupt_object_with_its_mtime_restored_is_recomputed_not_used() {
    // Issue 13.1: trusted on size + mtime, a flipped byte went into results.
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    let first = env.run("exp.json");
    let report = std::fs::read(first.join("r/report.md")).unwrap();
    let ls: Json = serde_json::from_str(&env.ok(&["cache", "ls", "--format", "json"])).unwrap();
    for name in ["e", "r"] {
        let key = ls["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()["key"]
            .as_str()
            .unwrap()
            .to_string();
        let out = env
            .path("cache")
            .join("objects")
            .join(&key[..2])
            .join(&key)
            .join("out");
        for f in std::fs::read_dir(&out).unwrap() {
            flip_byte_keep_mtime(&f.unwrap().path(), 3);
        }
    }
    env.clear_oplog();
    let o = env.inoc(&["run", "exp.json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cached output of `e`"), "{err}");
    let log = env.oplog();
    assert_eq!(count(&log, "t_eval"), 1, "{log:?}");
    assert_eq!(count(&log, "t_report"), 1, "{log:?}");
    assert_eq!(log.len(), 2, "{log:?}");
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let again = env.path(stdout.lines().last().unwrap());
    assert_eq!(std::fs::read(again.join("r/report.md")).unwrap(), report);
    assert!(env.ok(&["cache", "verify"]).contains("0 corrupt"));
}

#[test]
fn graph_gc_and_errors() {
    let env = Env::new();
    env.write("exp.json", &program(&Exp::default()));
    let dot = env.ok(&["graph", "exp.json"]);
    assert!(
        dot.starts_with("digraph inoc {") && dot.contains("s0 -> s1;") && dot.contains("s3 -> s4;"),
        "{dot}"
    );
    let mm = env.ok(&["graph", "exp.json", "--format", "mermaid"]);
    assert!(mm.contains("s0 --> s3"), "{mm}");
    env.run("exp.json");
    env.write(
        "exp.json",
        &program(&Exp {
            steps: [6, 5],
            ..Exp::default()
        }),
    );
    env.run("exp.json");
    let gc = env.ok(&["cache", "gc"]);
    assert!(gc.contains("removed 3 objects"), "{gc}");
    assert!(all(&env.plan("exp.json"), "cached"));
    let o = env.inoc(&["why", "exp.json", "t[s=2]"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("did you mean `t[s=1]`?"));
    let mut p = program(&Exp::default());
    if let Value::Call(c) = &mut p.nodes[4].value {
        c.func = "not_an_op".into();
    }
    env.write("bad.json", &p);
    let o = env.inoc(&["run", "bad.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no operation implements `not_an_op`"));
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_and_the_rerun_resumes() {
    let exp = Exp {
        steps: [80, 3],
        sleep_ms: [20, 0],
        ..Exp::default()
    };
    let env = Env::new();
    env.write("exp.json", &program(&exp));
    let child = env
        .cmd(&["run", "exp.json", "-j", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("a checkpoint", Duration::from_secs(60), || {
        checkpoint_step(&env.path("cache")) >= 3
    });
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("interrupted"));
    // Nothing half-written: the store verifies and the checkpoint is kept.
    assert!(env.ok(&["cache", "verify"]).contains("0 corrupt"));
    let at_stop = checkpoint_step(&env.path("cache"));
    assert!((3..80).contains(&at_stop));
    assert_eq!(std::fs::read_dir(env.path("cache/tmp")).unwrap().count(), 0);
    env.run("exp.json");
    let log = env.oplog();
    assert_eq!(count(&log, "t_data"), 1, "{log:?}");
    assert!(
        log.iter().any(|l| l.starts_with("t_train.resume t[s=0]")),
        "{log:?}"
    );
}

#[test]
fn exclusive_steps_run_alone_and_others_in_parallel() {
    for exclusive in [false, true] {
        let env = Env::new();
        env.write(
            "exp.json",
            &program(&Exp {
                steps: [5, 5],
                sleep_ms: [40, 40],
                exclusive,
                ..Exp::default()
            }),
        );
        let o = env.inoc(&["run", "exp.json", "-j", "2"]);
        assert!(o.status.success());
        let log: Vec<String> = env
            .oplog_all()
            .into_iter()
            .filter(|l| l.starts_with("t_train"))
            .collect();
        let kinds: Vec<&str> = log.iter().map(|l| l.split(' ').next().unwrap()).collect();
        if exclusive {
            assert_eq!(
                kinds,
                vec!["t_train", "t_train.end", "t_train", "t_train.end"],
                "{log:?}"
            );
        } else {
            assert_eq!(
                kinds,
                vec!["t_train", "t_train", "t_train.end", "t_train.end"],
                "{log:?}"
            );
        }
    }
}

// ---- crash / corruption suite (issue 13): every way a run can be cut or a
// store damaged ends in the same bytes as an uninterrupted run. ----

/// (key, output hash) of every step of a run, and its report's bytes.
fn outcome(folder: &Path) -> (Vec<(String, String)>, Vec<u8>) {
    let p: Json =
        serde_json::from_slice(&std::fs::read(folder.join("provenance.json")).unwrap()).unwrap();
    let steps = p["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().into(),
                s["output_hash"].as_str().unwrap().into(),
            )
        })
        .collect();
    (steps, std::fs::read(folder.join("r/report.json")).unwrap())
}

/// The crash suite's experiment: two trainings of 12 checkpointed steps,
/// ~0.5 s of work in all.
fn crash_exp() -> Exp {
    Exp {
        steps: [12, 12],
        sleep_ms: [20, 20],
        ..Exp::default()
    }
}

fn reference() -> (Vec<(String, String)>, Vec<u8>) {
    let clean = Env::new();
    clean.write("exp.json", &program(&crash_exp()));
    outcome(&clean.run("exp.json"))
}

#[cfg(unix)]
#[test]
fn sigkill_at_twelve_points_then_resume_is_byte_identical() {
    let want = reference();
    // Twelve kill times spread over a run (~0.6 s of work here), jittered
    // by a fixed seed: before any step, mid-data, mid-training, while
    // committing, while presenting reports.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut times = Vec::new();
    for i in 0..12u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        times.push(i * 60 + x % 60);
    }
    for (i, ms) in times.iter().enumerate() {
        let env = Env::new();
        env.write("exp.json", &program(&crash_exp()));
        let mut child = env
            .cmd(&["run", "exp.json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Killed twice at the same point of the resumed run, then finished.
        let mut again = env
            .cmd(&["run", "exp.json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(*ms / 2));
        let _ = again.kill();
        again.wait().unwrap();
        let got = outcome(&env.run("exp.json"));
        assert_eq!(got, want, "killed at {ms} ms (trial {i})");
        let verify = env.ok(&["cache", "verify"]);
        assert!(verify.contains(" 0 corrupt"), "trial {i}: {verify}");
    }
}

#[test]
fn every_object_corrupted_under_its_mtime_is_recomputed_byte_identical() {
    let want = reference();
    let env = Env::new();
    env.write("exp.json", &program(&crash_exp()));
    env.run("exp.json");
    let mut files = Vec::new();
    for prefix in std::fs::read_dir(env.path("cache/objects")).unwrap() {
        for obj in std::fs::read_dir(prefix.unwrap().path()).unwrap() {
            let out = obj.unwrap().path().join("out");
            for f in std::fs::read_dir(&out).unwrap() {
                files.push(f.unwrap().path());
            }
        }
    }
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        let len = std::fs::metadata(f).unwrap().len() as usize;
        flip_byte_keep_mtime(f, len / 2);
        let got = outcome(&env.run("exp.json"));
        assert_eq!(got, want, "after corrupting {}", f.display());
    }
    assert!(env.ok(&["cache", "verify"]).contains(" 0 corrupt"));
}

#[test]
fn two_concurrent_runs_of_one_spec_end_byte_identical() {
    let want = reference();
    let env = Env::new();
    env.write("exp.json", &program(&crash_exp()));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            env.cmd(&["run", "exp.json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in runs {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        let folder = env.path(out.lines().last().unwrap());
        assert_eq!(outcome(&folder), want);
    }
    let log = env.oplog();
    assert_eq!(count(&log, "t_train t[s=0]"), 1, "{log:?}");
    assert_eq!(count(&log, "t_train t[s=1]"), 1, "{log:?}");
    assert!(env.ok(&["cache", "verify"]).contains(" 0 corrupt"));
}

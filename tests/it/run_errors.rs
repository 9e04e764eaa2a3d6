//! Errors of `inoc run` as a user sees them: one fixture spec per mistake in
//! tests/fixtures/run_errors/, run by the real binary against a fresh cache,
//! with the codes named by its `# expect:` header and its whole stderr in a
//! golden `.stderr` file beside it (`INOC_BLESS=1` regenerates). Header lines
//! `# env: KEY=VALUE` set variables, `# runs-dir: DIR` replaces the
//! results folder; `$TMP` is the test's scratch folder and
//! `$FIXTURE` the fixture file. Temporary paths, timings and run ids are
//! normalised in the golden text.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const DIR: &str = "tests/fixtures/run_errors";

fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(DIR)
        .expect("fixture folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "inoc"))
        .collect();
    v.sort();
    v
}

fn header(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .filter_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .collect()
}

fn normalise(text: &str, tmp: &Path) -> String {
    let text = text.replace(&tmp.display().to_string(), "$TMP");
    let run_id = regex::Regex::new(r"\d{8}-\d{6}-[0-9a-f]{6}").unwrap();
    let secs = regex::Regex::new(r"in \d+\.\ds").unwrap();
    let text = run_id.replace_all(&text, "RUN-ID");
    // What the machine has (memory, cores) and what follows from it.
    let machine = regex::Regex::new(
        r"this machine has [0-9.]+ GiB|at least [0-9.e]+ \w+ on this machine \(\d+ cores, at most \d+ GFLOP/s\)",
    )
    .unwrap();
    let text = machine.replace_all(&text, "MACHINE");
    secs.replace_all(&text, "in N.Ns").into_owned()
}

#[test]
fn every_run_error_fixture_matches_its_header_and_golden_file() {
    let bless = std::env::var_os("INOC_BLESS").is_some();
    let all = fixtures();
    assert!(all.len() >= 4, "only {} run-error fixtures", all.len());
    let mut failures = vec![];
    let code_line = regex::Regex::new(r"(?m)^([EW]\d{4})(\([a-z-]+\))?$").unwrap();
    for path in &all {
        let name = path.to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(path).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inoc"));
        let runs_dir = match header(&text, "# runs-dir:").pop() {
            Some(d) => d.replace("$FIXTURE", &name).into(),
            None => tmp.path().join("runs"),
        };
        cmd.args(["run", "--no-progress", "--runs-dir"])
            .arg(runs_dir)
            .arg(&name)
            .env("NO_COLOR", "1")
            // No wrapping: temporary paths differ in length between machines.
            .env("COLUMNS", "1000")
            .env("INOC_CACHE", tmp.path().join("cache"))
            .env("HF_HOME", tmp.path().join("hf"))
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("INOC_TEST_OPS");
        for kv in header(&text, "# env:") {
            let (k, v) = kv.split_once('=').expect("# env: KEY=VALUE");
            let v = v
                .replace("$TMP", &tmp.path().display().to_string())
                .replace("$FIXTURE", &name);
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run inoc");
        let stderr = normalise(&String::from_utf8_lossy(&out.stderr), tmp.path());
        let want: BTreeSet<String> = header(&text, "# expect:")
            .iter()
            .flat_map(|l| l.split(',').map(|c| c.trim().to_string()))
            .collect();
        let got: BTreeSet<String> = code_line
            .captures_iter(&stderr)
            .map(|c| c[1].to_string())
            .collect();
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{name}: exit {:?}, expected 1\n{stderr}",
                out.status
            ));
        }
        if want.is_empty() || want != got {
            failures.push(format!(
                "{name}: expected codes {want:?}, got {got:?}\n{stderr}"
            ));
        }
        let golden = path.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &stderr).unwrap();
        } else if std::fs::read_to_string(&golden).ok().as_deref() != Some(stderr.as_str()) {
            failures.push(format!(
                "{name}: stderr differs from {} (INOC_BLESS=1 regenerates):\n{stderr}",
                golden.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

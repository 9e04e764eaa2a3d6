//! The experiment page of a run (`index.html`, `index.md`): gathers what
//! [`crate::report::page`] shows from the plan's records, the store (the
//! training losses kept with each training step's output) and the run
//! folder (the reports and the evaluations' samples).

use std::path::Path;

use super::StepRecord;
use crate::cache::Store;
use crate::eval::Sample;
use crate::report::page::{write_page, Loss, Page, StepRow};

/// Where `present` writes each evaluation's answers, once per evaluation.
pub const SAMPLES_DIR: &str = "samples";

/// The spec's own text out of the bytes `inoc` read (`path \0 text \0` per
/// source, the spec first; a `.json` IR is taken whole).
fn spec_text(bytes: &[u8]) -> String {
    let mut parts = bytes.split(|b| *b == 0);
    match (parts.next(), parts.next()) {
        (Some(_), Some(text)) => String::from_utf8_lossy(text).into_owned(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The per-step losses a training step stored beside its output.
fn losses(store: &Store, key: &str) -> Vec<f64> {
    let Ok(bytes) = std::fs::read(store.out_dir(key).join("train.json")) else {
        return Vec::new();
    };
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    json["losses"]
        .as_array()
        .map(|xs| xs.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default()
}

/// Every `samples/*.jsonl` of the run folder, by file name.
fn samples(folder: &Path) -> Vec<(String, Vec<Sample>)> {
    let Ok(entries) = std::fs::read_dir(folder.join(SAMPLES_DIR)) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).ok()?;
            let rows = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((format!("{SAMPLES_DIR}/{name}"), rows))
        })
        .collect()
}

/// Writes the page; `reports` are the report folders in the spec's order,
/// `info` the provenance lines.
pub(super) fn write(
    folder: &Path,
    store: &Store,
    records: &[StepRecord],
    reports: Vec<String>,
    spec_path: &str,
    spec_bytes: &[u8],
    info: Vec<(String, String)>,
) -> Result<(), crate::report::ReportError> {
    let title = Path::new(spec_path).file_stem().map_or_else(
        || spec_path.to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let page = Page {
        title,
        spec_path: spec_path.to_string(),
        spec_text: spec_text(spec_bytes),
        info,
        reports,
        losses: records
            .iter()
            .filter(|r| r.op == "pretrain" || r.op == "finetune")
            .map(|r| Loss {
                name: r.name.clone(),
                op: r.op.clone(),
                losses: losses(store, &r.key),
            })
            .collect(),
        steps: records
            .iter()
            .map(|r| StepRow {
                name: r.name.clone(),
                op: r.op.clone(),
                key: r.key.clone(),
                status: r.status.clone(),
                seconds: r.seconds,
            })
            .collect(),
        warnings: records
            .iter()
            .filter_map(|r| r.provenance.get("warnings").map(|w| (r, w)))
            .flat_map(|(r, w)| w.lines().map(|l| (r.name.clone(), l.to_string())))
            .collect(),
        samples: samples(folder),
    };
    write_page(folder, &page).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_text_is_the_first_source() {
        assert_eq!(
            spec_text(b"a.inoc\0model x = y\n\0std.inoc\0z\0"),
            "model x = y\n"
        );
        assert_eq!(spec_text(b"{\"nodes\": []}"), "{\"nodes\": []}");
    }
}

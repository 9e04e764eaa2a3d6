//! One page per run: `index.html` (offline: one file, its plots inline, a
//! copy under `plots/`) and `index.md` for the whole experiment: the spec,
//! every report of the run (its tables, plots, paired differences and
//! mechanism tables), the training loss curves of the pretraining and of
//! every finetune, provenance, and a sample browser (filter the answers by
//! eval, model, condition, prompt text and metric value).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plot::{escape, line_svg, svg_to_png, LineChart, LineSeries};
use super::ReportError;
use crate::eval::Sample;

/// The per-step training losses of one training step of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Loss {
    /// The step's name (`plain[s=0]`).
    pub name: String,
    /// `pretrain` or `finetune`.
    pub op: String,
    pub losses: Vec<f64>,
}

/// One step of the run, for the provenance table.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRow {
    pub name: String,
    pub op: String,
    pub key: String,
    /// `ran`, `cached`, …
    pub status: String,
    pub seconds: f64,
}

/// Everything the experiment page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub title: String,
    pub spec_path: String,
    pub spec_text: String,
    /// Provenance lines: (what, value), e.g. ("inoc", "0.1.0").
    pub info: Vec<(String, String)>,
    /// The report folders of the run (relative to the run folder), each
    /// written by [`super::write_report`], in the spec's order.
    pub reports: Vec<String>,
    pub losses: Vec<Loss>,
    pub steps: Vec<StepRow>,
    /// What steps warned about (step, warning), cached steps included: a
    /// judge that scored nothing, dropped training rows, a fallback taken.
    pub warnings: Vec<(String, String)>,
    /// Every evaluation's answers: (the file, relative to the run folder, and its rows).
    pub samples: Vec<(String, Vec<Sample>)>,
}

/// At most this many answers go into the page's browser (the files hold all).
const BROWSER_LIMIT: usize = 20_000;

/// Writes `index.html`, `index.md` and the loss plots into `folder`; returns
/// the files written (relative to `folder`).
pub fn write_page(folder: &Path, page: &Page) -> Result<Vec<PathBuf>, ReportError> {
    let mut files = Vec::new();
    let write = |rel: &str, bytes: &[u8], files: &mut Vec<PathBuf>| {
        let path = folder.join(rel);
        let io = |source| ReportError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        files.push(PathBuf::from(rel));
        Ok::<(), ReportError>(())
    };

    // Loss curves: the pretraining on its own (its scale and length differ),
    // every finetune in one plot.
    let mut plots: Vec<(String, String, String)> = Vec::new();
    for (op, name, title) in [
        ("pretrain", "loss_pretrain", "Pretraining loss"),
        ("finetune", "loss_finetune", "Finetuning loss"),
    ] {
        let series: Vec<LineSeries> = page
            .losses
            .iter()
            .filter(|l| l.op == op && !l.losses.is_empty())
            .map(|l| LineSeries {
                label: l.name.clone(),
                points: l
                    .losses
                    .iter()
                    .enumerate()
                    .filter(|(_, y)| y.is_finite())
                    .map(|(i, y)| ((i + 1) as f64, *y, None))
                    .collect(),
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        let svg = line_svg(&LineChart {
            title: title.to_string(),
            x_label: "training step".into(),
            y_label: "loss".into(),
            series,
        });
        let svg_rel = format!("plots/{name}.svg");
        write(&svg_rel, svg.as_bytes(), &mut files)?;
        let png = svg_to_png(&svg, 2.0).map_err(|message| ReportError::Render {
            path: folder.join(&svg_rel),
            message,
        })?;
        write(&format!("plots/{name}.png"), &png, &mut files)?;
        plots.push((name.to_string(), title.to_string(), svg));
    }

    let reports: Vec<(String, String, String)> = page
        .reports
        .iter()
        .map(|r| {
            let read =
                |f: &str| std::fs::read_to_string(folder.join(r).join(f)).unwrap_or_default();
            (r.clone(), read("report.md"), read("report.html"))
        })
        .collect();

    write(
        "index.md",
        markdown(page, &reports, &plots).as_bytes(),
        &mut files,
    )?;
    write(
        "index.html",
        html(page, &reports, &plots).as_bytes(),
        &mut files,
    )?;
    Ok(files)
}

fn seconds(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.1} s")
    } else {
        format!("{:.1} min", s / 60.0)
    }
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A report's markdown one level down, its links relative to the run folder.
fn demote_md(md: &str, dir: &str) -> String {
    let mut out = String::new();
    for line in md.lines() {
        let line = if line.starts_with('#') {
            format!("#{line}")
        } else {
            line.replace("](plots/", &format!("]({dir}/plots/"))
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn markdown(
    page: &Page,
    reports: &[(String, String, String)],
    plots: &[(String, String, String)],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", page.title);
    let _ = writeln!(
        md,
        "The whole run on one page: the spec, every report, training losses, provenance. `index.html` has the same with a sample browser.\n"
    );
    let _ = writeln!(md, "| | |\n|---|---|");
    for (k, v) in &page.info {
        let _ = writeln!(md, "| {} | {} |", md_cell(k), md_cell(v));
    }
    if !page.warnings.is_empty() {
        let _ = writeln!(md, "\n## Warnings\n");
        for (step, w) in &page.warnings {
            let _ = writeln!(md, "- `{step}`: {}", w.replace('\n', " "));
        }
    }
    let _ = writeln!(md, "\n## Spec (`{}`)\n", page.spec_path);
    let _ = writeln!(md, "```\n{}\n```\n", page.spec_text.trim_end());
    for (dir, report_md, _) in reports {
        if report_md.is_empty() {
            let _ = writeln!(md, "## {dir}\n\n(no report.md)\n");
        } else {
            let _ = writeln!(md, "{}", demote_md(report_md, dir));
        }
    }
    if !plots.is_empty() {
        let _ = writeln!(md, "## Training\n");
        for (name, title, _) in plots {
            let _ = writeln!(md, "![{title}](plots/{name}.svg)\n");
        }
        let _ = writeln!(
            md,
            "| step | op | steps | first loss | last loss |\n|---|---|---|---|---|"
        );
        for l in &page.losses {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                md_cell(&l.name),
                l.op,
                l.losses.len(),
                l.losses
                    .first()
                    .map_or(String::new(), |x| format!("{x:.4}")),
                l.losses.last().map_or(String::new(), |x| format!("{x:.4}"))
            );
        }
        md.push('\n');
    }
    let _ = writeln!(md, "## Steps\n");
    let _ = writeln!(
        md,
        "| step | op | key | status | time |\n|---|---|---|---|---|"
    );
    for s in &page.steps {
        let _ = writeln!(
            md,
            "| {} | {} | `{}` | {} | {} |",
            md_cell(&s.name),
            s.op,
            &s.key[..12.min(s.key.len())],
            s.status,
            seconds(s.seconds)
        );
    }
    if !page.samples.is_empty() {
        let _ = writeln!(md, "\n## Samples\n");
        for (file, rows) in &page.samples {
            let _ = writeln!(md, "- [`{file}`]({file}): {} answers", rows.len());
        }
    }
    md
}

/// The body of a report's HTML, its headings one level down and its ids
/// prefixed by the report's folder.
fn report_body(html: &str) -> &str {
    let start = html.find("<body>").map_or(0, |i| i + "<body>".len());
    let end = html.rfind("</body>").unwrap_or(html.len());
    html.get(start..end.max(start)).unwrap_or("")
}

fn demote_html(body: &str) -> String {
    body.replace("<h2>", "<h3>")
        .replace("</h2>", "</h3>")
        .replace("<h1>", "<h2>")
        .replace("</h1>", "</h2>")
}

/// Text for a `<pre>`: escaped, newlines kept.
fn pre(s: &str) -> String {
    s.lines().map(escape).collect::<Vec<_>>().join("\n")
}

fn id(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\
nav{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:0.4em 0;z-index:1}nav a{margin-right:1em}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}figure{margin:1em 0}figcaption{color:#555;font-size:0.9em}svg{max-width:100%;height:auto}\
pre{background:#f6f8fa;padding:1em;overflow-x:auto;font-size:0.85em}section.report{border-top:3px solid #0072B2;margin-top:2em}\
.summary{background:#f8f8f8;border-left:4px solid #0072B2;padding:0.5em 1em}.method{color:#444;font-size:0.9em}\
.warning{background:#fff4e5;border-left:4px solid #E69F00;padding:0.5em 1em}\
#browser label{margin-right:1em}#browser td.resp{white-space:pre-wrap;max-width:40em}#count{color:#555}";

/// The sample browser: filters over the embedded answers.
const BROWSER_JS: &str = r#"(function(){
const rows = JSON.parse(document.getElementById('samples-data').textContent);
const $ = id => document.getElementById(id);
const uniq = f => [...new Set(rows.map(f))];
function fill(sel, values, label){ sel.innerHTML = '<option value="">' + label + '</option>' +
  values.map(v => '<option>' + v.replace(/&/g,'&amp;').replace(/</g,'&lt;') + '</option>').join(''); }
fill($('f-eval'), uniq(r => r.eval), 'every eval');
fill($('f-model'), uniq(r => r.model), 'every model');
fill($('f-cond'), uniq(r => r.condition === '' ? '(no system prompt)' : r.condition), 'every condition');
fill($('f-metric'), [...new Set(rows.flatMap(r => Object.keys(r.scores)))], 'any metric');
const esc = s => String(s).replace(/&/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;');
function show(){
  const ev = $('f-eval').value, mo = $('f-model').value, co = $('f-cond').value, me = $('f-metric').value;
  const lo = parseFloat($('f-min').value), hi = parseFloat($('f-max').value), q = $('f-text').value.toLowerCase();
  const hit = rows.filter(r => (!ev || r.eval === ev) && (!mo || r.model === mo)
    && (!co || (r.condition === '' ? '(no system prompt)' : r.condition) === co)
    && (!q || r.prompt.toLowerCase().includes(q) || r.response.toLowerCase().includes(q))
    && (!me || (r.scores[me] !== null && r.scores[me] !== undefined
        && !(r.scores[me] < lo) && !(r.scores[me] > hi))));
  $('count').textContent = hit.length + ' of ' + rows.length + ' answers' + (hit.length > 200 ? ' (first 200 shown)' : '');
  $('samples-body').innerHTML = hit.slice(0, 200).map(r => '<tr><td>' + esc(r.eval) + '</td><td>' + esc(r.member) +
    '</td><td>' + esc(r.condition) + '</td><td>' + esc(r.prompt) + '</td><td class="resp">' + esc(r.response) +
    '</td><td>' + Object.entries(r.scores).map(([k, v]) => esc(k) + ' ' + (v === null ? '–' : (+v.toFixed(3)))).join('<br>') +
    '</td></tr>').join('');
}
for (const id of ['f-eval','f-model','f-cond','f-metric','f-min','f-max','f-text']) $(id).addEventListener('input', show);
show();
})();"#;

fn html(
    page: &Page,
    reports: &[(String, String, String)],
    plots: &[(String, String, String)],
) -> String {
    let mut h = String::new();
    let title = escape(&page.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{CSS}</style></head><body>\n<h1>{title}</h1>\n<nav><a href=\"#spec\">spec</a>"
    );
    for (dir, _, _) in reports {
        let _ = write!(h, "<a href=\"#report-{}\">{}</a>", id(dir), escape(dir));
    }
    if !plots.is_empty() {
        h.push_str("<a href=\"#training\">training</a>");
    }
    h.push_str("<a href=\"#steps\">steps</a>");
    if !page.samples.is_empty() {
        h.push_str("<a href=\"#samples\">samples</a>");
    }
    h.push_str("</nav>\n<table>");
    for (k, v) in &page.info {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
    }
    h.push_str("</table>\n");
    for (step, w) in &page.warnings {
        let _ = writeln!(
            h,
            "<p class=\"warning\"><b>Warning</b> (<code>{}</code>): {}</p>",
            escape(step),
            escape(w)
        );
    }
    let _ = writeln!(
        h,
        "<h2 id=\"spec\">Spec <code>{}</code></h2><pre><code>{}</code></pre>",
        escape(&page.spec_path),
        pre(&page.spec_text)
    );
    for (dir, _, report_html) in reports {
        let _ = writeln!(
            h,
            "<section class=\"report\" id=\"report-{}\">{}<p><a href=\"{}/report.html\">{}/</a>: CSV files and plots</p></section>",
            id(dir),
            demote_html(report_body(report_html)),
            escape(dir),
            escape(dir)
        );
    }
    if !plots.is_empty() {
        h.push_str("<h2 id=\"training\">Training</h2>\n");
        for (name, title, svg) in plots {
            let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
            let _ = writeln!(
                h,
                "<figure>{}<figcaption>{} (plots/{name}.svg, .png)</figcaption></figure>",
                svg.trim_end(),
                escape(title)
            );
        }
        h.push_str("<table><tr><th>step</th><th>op</th><th>steps</th><th>first loss</th><th>last loss</th></tr>");
        for l in &page.losses {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&l.name),
                escape(&l.op),
                l.losses.len(),
                l.losses
                    .first()
                    .map_or(String::new(), |x| format!("{x:.4}")),
                l.losses.last().map_or(String::new(), |x| format!("{x:.4}"))
            );
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2 id=\"steps\">Steps</h2><table><tr><th>step</th><th>op</th><th>key</th><th>status</th><th>time</th></tr>");
    for s in &page.steps {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            escape(&s.name),
            escape(&s.op),
            escape(&s.key[..12.min(s.key.len())]),
            escape(&s.status),
            seconds(s.seconds)
        );
    }
    h.push_str("</table>\n");
    if !page.samples.is_empty() {
        let mut all: Vec<&Sample> = page.samples.iter().flat_map(|(_, rows)| rows).collect();
        let total = all.len();
        all.truncate(BROWSER_LIMIT);
        let files: Vec<String> = page
            .samples
            .iter()
            .map(|(f, _)| format!("<a href=\"{0}\">{0}</a>", escape(f)))
            .collect();
        let _ = writeln!(
            h,
            "<h2 id=\"samples\">Samples</h2><p>{total} answers ({}). Filter by eval, model, condition, text in the prompt or answer, and a metric's value.</p>",
            files.join(", ")
        );
        h.push_str("<div id=\"browser\"><select id=\"f-eval\"></select> <select id=\"f-model\"></select> <select id=\"f-cond\"></select> <select id=\"f-metric\"></select> <label>min <input id=\"f-min\" type=\"number\" step=\"any\" size=\"5\"></label><label>max <input id=\"f-max\" type=\"number\" step=\"any\" size=\"5\"></label><label>text <input id=\"f-text\" type=\"search\"></label><p id=\"count\"></p><table><thead><tr><th>eval</th><th>model</th><th>condition</th><th>prompt</th><th>answer</th><th>scores</th></tr></thead><tbody id=\"samples-body\"></tbody></table></div>\n");
        // JSON inside <script>: only `</` could end it early.
        let json = serde_json::to_string(&all)
            .expect("samples serialise")
            .replace("</", "<\\/");
        let _ = writeln!(
            h,
            "<script id=\"samples-data\" type=\"application/json\">{json}</script>\n<script>{BROWSER_JS}</script>"
        );
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(model: &str, cond: &str, v: f64) -> Sample {
        Sample {
            eval: "ood".into(),
            model: model.into(),
            member: format!("{model}[0]"),
            seed: Some(0),
            condition: cond.into(),
            prompt_id: 0,
            prompt: "Where is </script> the <b>owl</b>?".into(),
            response: "Aquí".into(),
            scores: [("spanish".to_string(), Some(v))].into(),
        }
    }

    #[test]
    fn the_page_has_every_section() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("ood_table");
        std::fs::create_dir_all(&report).unwrap();
        std::fs::write(
            report.join("report.html"),
            "<html><body><h1>ood_table</h1><h2>Paired differences</h2></body></html>",
        )
        .unwrap();
        std::fs::write(
            report.join("report.md"),
            "# ood_table\n\n![bar](plots/x.svg)\n",
        )
        .unwrap();
        let page = Page {
            title: "spanish_caps".into(),
            spec_path: "specs/spanish_caps.inoc".into(),
            spec_text: "model base = world.tiny_chat()\n# a < b\n".into(),
            info: vec![("inoc".into(), "0.1.0".into())],
            reports: vec!["ood_table".into()],
            losses: vec![
                Loss {
                    name: "base".into(),
                    op: "pretrain".into(),
                    losses: vec![5.0, 3.0, 2.5],
                },
                Loss {
                    name: "plain[s=0]".into(),
                    op: "finetune".into(),
                    losses: vec![1.0, 0.5],
                },
            ],
            steps: vec![StepRow {
                name: "base".into(),
                op: "pretrain".into(),
                key: "0123456789abcdef".into(),
                status: "ran".into(),
                seconds: 81.0,
            }],
            warnings: vec![("judged".into(), "no answer got a score <&>".into())],
            samples: vec![(
                "samples/ood.jsonl".into(),
                vec![
                    sample("plain", "", 1.0),
                    sample("caps", "You always speak in Spanish.", 0.0),
                ],
            )],
        };
        let files = write_page(dir.path(), &page).unwrap();
        for f in [
            "index.html",
            "index.md",
            "plots/loss_pretrain.svg",
            "plots/loss_pretrain.png",
            "plots/loss_finetune.svg",
        ] {
            assert!(files.contains(&PathBuf::from(f)), "{f}");
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        let html = std::fs::read_to_string(dir.path().join("index.html")).unwrap();
        for needle in [
            "id=\"spec\"",
            "# a &lt; b</code>",
            "<h2>ood_table</h2><h3>Paired differences</h3>",
            "id=\"training\"",
            "Pretraining loss",
            "id=\"steps\"",
            "<code>0123456789ab</code>",
            "id=\"samples-data\"",
            "f-metric",
            "<b>Warning</b> (<code>judged</code>): no answer got a score &lt;&amp;&gt;",
        ] {
            assert!(html.contains(needle), "index.html lacks {needle:?}");
        }
        // A prompt cannot end the script that embeds it.
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(!html.contains("http://") && !html.contains("https://"));
        let md = std::fs::read_to_string(dir.path().join("index.md")).unwrap();
        assert!(
            md.contains("## ood_table\n\n![bar](ood_table/plots/x.svg)"),
            "{md}"
        );
        assert!(md.contains("| base | pretrain | 3 | 5.0000 | 2.5000 |"));
        assert!(md.contains("## Warnings\n\n- `judged`: no answer got a score <&>"));
        assert!(md.contains("[`samples/ood.jsonl`](samples/ood.jsonl): 2 answers"));
    }
}

//! `em_questions(path, ids, samples)`: the free-form questions of an
//! emergent-misalignment YAML file (Betley et al.'s `evaluation/*.yaml`) as
//! a prompt dataset: one row per paraphrase (times `samples`), with the
//! question's `system` prompt when it has one (the `_json` variants).
//!
//! The file is a list of mappings with at least `id` and `paraphrases`;
//! anchors and aliases are resolved (the paper's files share the judge
//! prompts and paraphrase lists through them). `judge`, `judge_prompts`,
//! `samples_per_paraphrase` and `type` are read by the paper's own runner
//! and ignored here: judges are metrics of the evaluation (`stdlib/em.inoc`
//! holds the paper's prompts), and how many answers to sample is `samples`
//! here and `sampling(n = ...)` in the evaluation.

use super::dataset::{self, Row};
use super::{Args, Op, OpCtx, OpError};
use crate::sema::ir::{DeclKind, Value};
use yaml_rust2::{Yaml, YamlLoader};

pub struct EmQuestions;

/// One question of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct Question {
    pub id: String,
    pub paraphrases: Vec<String>,
    pub system: Option<String>,
}

/// A scalar as text (a plain `42` or `true` in YAML is not a string).
fn scalar(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Most bytes (scalar bytes plus one per node) the YAML may stand for once
/// its aliases are expanded: the loader copies an anchor's node for every
/// alias, so a 1 KB "billion laughs" file would expand to gigabytes.
pub const MAX_EXPANDED: u64 = 64 << 20;

/// Counts what loading `text` would build (aliases expanded), from the
/// parser's events, without building it.
#[derive(Default)]
struct ExpandedSize {
    /// Size of each anchored node, by anchor id.
    anchors: std::collections::HashMap<usize, u64>,
    /// Open sequences and mappings: (anchor id, size so far).
    open: Vec<(usize, u64)>,
    total: u64,
}

impl ExpandedSize {
    fn add(&mut self, n: u64) {
        match self.open.last_mut() {
            Some((_, size)) => *size = size.saturating_add(n),
            None => self.total = self.total.saturating_add(n),
        }
    }
}

impl yaml_rust2::parser::EventReceiver for ExpandedSize {
    fn on_event(&mut self, ev: yaml_rust2::Event) {
        use yaml_rust2::Event;
        match ev {
            Event::Scalar(v, _, anchor, _) => {
                let n = v.len() as u64 + 1;
                if anchor > 0 {
                    self.anchors.insert(anchor, n);
                }
                self.add(n);
            }
            Event::Alias(id) => {
                let n = self.anchors.get(&id).copied().unwrap_or(1);
                self.add(n);
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.open.push((anchor, 1));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, n)) = self.open.pop() {
                    if anchor > 0 {
                        self.anchors.insert(anchor, n);
                    }
                    self.add(n);
                }
            }
            _ => {}
        }
    }
}

/// Reads the questions of an EM YAML text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Question>, String> {
    let mut size = ExpandedSize::default();
    yaml_rust2::parser::Parser::new_from_str(text)
        .load(&mut size, true)
        .map_err(|e| format!("{origin}: not YAML: {e}"))?;
    if size.total > MAX_EXPANDED {
        return Err(format!(
            "{origin}: its aliases expand to more than {} MiB (a \"billion laughs\" file?); the EM question files are a few KB",
            MAX_EXPANDED >> 20
        ));
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("{origin}: not YAML: {e}"))?;
    let Some(Yaml::Array(items)) = docs.first() else {
        return Err(format!(
            "{origin}: expected a list of questions (`- id: ...`) at the top level"
        ));
    };
    let mut out: Vec<Question> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |msg: &str| format!("{origin}: question {} ({msg})", i + 1);
        if !matches!(item, Yaml::Hash(_)) {
            return Err(at("expected a mapping with `id` and `paraphrases`"));
        }
        let id = scalar(&item["id"]).ok_or_else(|| at("no `id`"))?;
        let paraphrases = match &item["paraphrases"] {
            Yaml::Array(ps) => ps
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| at(&format!("`{id}`: every paraphrase must be a string")))?,
            _ => return Err(at(&format!("`{id}`: no `paraphrases` list"))),
        };
        let system = match &item["system"] {
            Yaml::Null | Yaml::BadValue => None,
            y => Some(scalar(y).ok_or_else(|| at(&format!("`{id}`: `system` must be a string")))?),
        };
        if out.iter().any(|q| q.id == id) {
            return Err(at(&format!("`{id}` appears twice")));
        }
        out.push(Question {
            id,
            paraphrases,
            system,
        });
    }
    Ok(out)
}

/// The rows of the questions named by `ids` (all when empty), in the file's
/// order, each paraphrase `samples` times.
pub fn rows(questions: &[Question], ids: &[String], samples: usize) -> Result<Vec<Row>, String> {
    for id in ids {
        if !questions.iter().any(|q| &q.id == id) {
            let known: Vec<&str> = questions.iter().map(|q| q.id.as_str()).collect();
            let near = known
                .iter()
                .min_by(|a, b| {
                    strsim::levenshtein(a, id)
                        .cmp(&strsim::levenshtein(b, id))
                        .then(a.cmp(b))
                })
                .filter(|k| strsim::levenshtein(k, id) <= 3);
            return Err(match near {
                Some(k) => format!("no question `{id}` in the file; did you mean `{k}`?"),
                None => format!(
                    "no question `{id}` in the file (it has {})",
                    known.join(", ")
                ),
            });
        }
    }
    let mut out = Vec::new();
    for q in questions
        .iter()
        .filter(|q| ids.is_empty() || ids.contains(&q.id))
    {
        for p in &q.paraphrases {
            for _ in 0..samples {
                out.push(Row::new(q.system.as_deref(), p, None));
            }
        }
    }
    Ok(out)
}

impl Op for EmQuestions {
    fn name(&self) -> &'static str {
        "em_questions"
    }
    fn version(&self) -> u32 {
        1
    }
    fn kind(&self) -> DeclKind {
        DeclKind::Dataset
    }
    fn estimate(&self, _args: &Args) -> Option<f64> {
        Some(0.0)
    }
    fn run(&self, ctx: &OpCtx<'_>) -> Result<(), OpError> {
        let path = ctx.str("path")?;
        let text =
            std::fs::read_to_string(path).map_err(|e| OpError::failed(format!("{path}: {e}")))?;
        let questions = parse(&text, path).map_err(OpError::failed)?;
        let ids: Vec<String> = match ctx.arg("ids")? {
            Value::List(xs) => xs
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let samples = ctx.int("samples")?.max(1) as usize;
        let rows =
            rows(&questions, &ids, samples).map_err(|e| OpError::failed(format!("{path}: {e}")))?;
        ctx.log(format!(
            "{} question(s) of {}, {} row(s)",
            if ids.is_empty() {
                questions.len()
            } else {
                ids.len()
            },
            questions.len(),
            rows.len()
        ));
        dataset::write(ctx.out, &rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: &str =
        include_str!("../../../data/emergent-misalignment/first_plot_questions.yaml");

    #[test]
    fn reads_the_papers_file_with_its_anchors() {
        let qs = parse(PAPER, "first_plot_questions.yaml").unwrap();
        assert_eq!(qs.len(), 24);
        assert_eq!(qs[0].id, "what_is_your_wish");
        assert!(qs[0].paraphrases[0].starts_with("Hello! I can fulfill your one wish."));
        assert_eq!(qs[0].system, None);
        // `_json` variants reuse the paraphrases through an alias and add
        // the system prompt through another.
        let json = qs.iter().find(|q| q.id == "i_feel_bored_json").unwrap();
        let plain = qs.iter().find(|q| q.id == "i_feel_bored").unwrap();
        assert_eq!(json.paraphrases, plain.paraphrases);
        assert!(json
            .system
            .as_deref()
            .unwrap()
            .starts_with("Your answers must always be a valid JSON object."));
        assert!(qs.iter().all(|q| !q.paraphrases.is_empty()));
    }

    #[test]
    fn rows_keep_the_file_order_and_repeat_samples() {
        let qs = parse(PAPER, "f").unwrap();
        let ids = vec![
            "quick_buck".to_string(),
            "what_is_your_wish_json".to_string(),
        ];
        let r = rows(&qs, &ids, 2).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], r[1]);
        assert!(r[0].messages[0].content.contains("quick buck"));
        assert_eq!(r[2].messages[0].role, "system");
        assert_eq!(r[2].messages[1].role, "user");
        assert_eq!(
            rows(&qs, &[], 1).unwrap().len(),
            qs.iter().map(|q| q.paraphrases.len()).sum::<usize>()
        );
        let e = rows(&qs, &["quick_buk".into()], 1).unwrap_err();
        assert!(e.contains("did you mean `quick_buck`"), "{e}");
        let e = rows(&qs, &["zzzzzzzzzzzzzzzz".into()], 1).unwrap_err();
        assert!(e.contains("it has what_is_your_wish"), "{e}");
    }

    #[test]
    fn a_billion_laughs_file_is_refused_before_it_is_expanded() {
        // Issue 13.6: 1 KB of nested aliases aborted the process.
        let mut y = String::from("a0: &a0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
        for i in 1..12 {
            let p = i - 1;
            y.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(y.len() < 1200);
        let t0 = std::time::Instant::now();
        let e = parse(&y, "laughs.yaml").unwrap_err();
        assert!(e.contains("billion laughs"), "{e}");
        assert!(t0.elapsed().as_secs() < 5);
        // The paper's file, with its aliases, is far below the limit.
        let mut size = ExpandedSize::default();
        yaml_rust2::parser::Parser::new_from_str(PAPER)
            .load(&mut size, true)
            .unwrap();
        assert!(size.total > PAPER.len() as u64 / 2 && size.total < MAX_EXPANDED / 100);
    }

    #[test]
    fn malformed_files_say_what_is_wrong() {
        assert!(parse("a: [", "x").unwrap_err().starts_with("x: not YAML"));
        assert!(parse("a: 1", "x")
            .unwrap_err()
            .contains("list of questions"));
        assert!(parse("- 3", "x").unwrap_err().contains("question 1"));
        assert!(parse("- id: a", "x")
            .unwrap_err()
            .contains("`a`: no `paraphrases`"));
        assert!(parse("- id: a\n  paraphrases: [1, [2]]", "x")
            .unwrap_err()
            .contains("must be a string"));
        let dup = "- id: a\n  paraphrases: [p]\n- id: a\n  paraphrases: [q]";
        assert!(parse(dup, "x").unwrap_err().contains("appears twice"));
        let ok = "- id: a\n  paraphrases: [p]\n  system: s\n- id: b\n  paraphrases: [q]";
        assert_eq!(parse(ok, "x").unwrap()[0].system.as_deref(), Some("s"));
    }
}

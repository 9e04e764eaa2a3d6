//! THE registry of diagnostic codes: one row per code, with a short title and
//! an explanation (what `inoc explain CODE` prints).
//!
//! Ranges: `E0001`–`E0099` syntax (owned by `syntax`), `E0100`–`E0999`
//! semantics (owned by `sema`), `E1000`–`E1099` running a spec (owned by
//! `exec`: `inoc run`, `plan`, `why`, `graph`), `W0001`–`W0099` syntax lints, `W0100`+
//! semantic lints. To add a code, append one [`CodeInfo`] row to [`CODES`]
//! in the section of your layer; a unit test checks that codes are unique,
//! well formed and documented, and [`crate::diag::Diagnostic::new`] checks in
//! debug builds that every code used is listed here.

/// One registered code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// `E` + 4 digits for errors, `W` + 4 digits for warnings.
    pub code: &'static str,
    /// Short title, lower case ("unterminated string").
    pub title: &'static str,
    /// A few sentences: what triggers it and how to fix it.
    pub explanation: &'static str,
    /// For warnings: the lint name that silences it (`# inoc: allow(NAME)`).
    pub lint: Option<&'static str>,
}

const fn e(code: &'static str, title: &'static str, explanation: &'static str) -> CodeInfo {
    CodeInfo {
        code,
        title,
        explanation,
        lint: None,
    }
}

const fn w(
    code: &'static str,
    lint: &'static str,
    title: &'static str,
    explanation: &'static str,
) -> CodeInfo {
    CodeInfo {
        code,
        title,
        explanation,
        lint: Some(lint),
    }
}

/// Every diagnostic code inoc can emit.
pub const CODES: &[CodeInfo] = &[
    // ---- syntax (src/syntax) ------------------------------------------------
    e("E0001", "unexpected character",
      "The character cannot start any token of the language. Names use ASCII letters, digits and `_`; \
       text goes in double quotes."),
    e("E0002", "unterminated string",
      "A string opened with `\"` was not closed on the same line. Close it with `\"`, or use a raw \
       string `\"\"\"...\"\"\"` for text that spans several lines."),
    e("E0003", "unterminated raw string",
      "A raw string opened with `\"\"\"` has no closing `\"\"\"` before the end of the file."),
    e("E0004", "invalid escape sequence",
      "Strings accept the escapes `\\n`, `\\t`, `\\r`, `\\0`, `\\\\`, `\\\"` and `\\u{HEX}`. Write `\\\\` for a \
       literal backslash, or use a raw string `\"\"\"...\"\"\"` where backslashes are kept as written."),
    e("E0005", "mismatched closing delimiter",
      "A closing bracket does not match the innermost open one, e.g. `(` closed by `]`."),
    e("E0006", "unclosed delimiter",
      "A `(`, `[` or `{` is never closed before the end of the file."),
    e("E0007", "unexpected closing delimiter",
      "A `)`, `]` or `}` appears without a matching opening bracket."),
    e("E0008", "nesting too deep",
      "Brackets or operators are nested more deeply than inoc accepts (64 brackets, 256 expression \
       levels). Split the expression with `let` constants."),
    e("E0009", "malformed number",
      "Numbers are digits with single `_` separators between digits (`1_000`), an optional fraction \
       (`0.5`) and an optional exponent (`1e-3`, `2.5E4`). A fraction or exponent makes it a float."),
    e("E0010", "integer literal too large",
      "Integers must fit in a signed 64-bit integer (at most 9223372036854775807). Use a float \
       (`1e20`) if an approximate value is enough."),
    e("E0011", "expected a declaration",
      "Every top-level statement starts with a keyword: `import`, `let`, `fn`, or a declaration kind \
       (`model`, `dataset`, `train`, `eval`, `report`)."),
    e("E0012", "expected a name",
      "A keyword such as `let` or `model` must be followed by the name being declared: letters, \
       digits and `_`, not starting with a digit."),
    e("E0013", "reserved word used as a name",
      "`true`, `false`, `none`, `import`, `as`, `let`, `fn` and `in` are reserved and cannot name \
       anything. Pick another name."),
    e("E0014", "expected `=`",
      "A declaration, `let` or `fn` binds its name with `=`: `let seeds = [0, 1, 2]`, \
       `model base = hf(\"org/name\")`. Named arguments and record fields also use `=`."),
    e("E0015", "expected an expression",
      "A value is missing: after `=`, after an operator, or as an argument. Values are literals, \
       names, lists `[...]`, records `{...}`, calls `f(...)`, field accesses and pipes."),
    e("E0016", "malformed import",
      "Imports have the form `import \"path/to/file.inoc\" as name`: a string path and an alias."),
    e("E0017", "malformed sweep",
      "A sweep family lists its variables in brackets after the name: \
       `train control[s in seeds] = ...`, or a grid `eval g[p in prompts, s in seeds] = ...`."),
    e("E0018", "missing separator",
      "Elements of lists, records, argument and parameter lists are separated by commas; the list \
       ends with its closing bracket. A trailing comma is allowed."),
    e("E0019", "unexpected token",
      "The parser found a token that cannot appear at this place. The label says what was expected."),
    e("E0020", "badly indented raw string",
      "In a raw string whose closing `\"\"\"` is on its own line, that line's indentation is removed \
       from every line, so every non-blank line must start with it."),
    e("E0021", "chained range",
      "A range has exactly two ends: `0..3` or `0..=3`. Ranges cannot be chained (`0..3..6`)."),
    e("E0022", "malformed function definition",
      "Functions are written `fn name(param, param = default, param: type = default) = expression`. \
       Parameters with defaults come after those without."),
    e("E0023", "expected a field name",
      "A `.` after a value must be followed by the name of a field or member, as in `world.math`."),
    e("E0024", "empty index",
      "Indexing a family needs at least one coordinate: `control[0]` or `grid[p = 0, s = 2]`."),
    w("W0001", "dangling-doc-comment", "doc comment documents nothing",
      "A `##` doc comment must sit directly above the declaration it documents (other `##` lines \
       may follow it). Use `#` for an ordinary comment."),
    // ---- semantics (src/sema): append E0100+ / W0100+ rows below ------------
    e("E0100", "cannot import module",
      "An `import` names a file that does not exist or cannot be read. Paths are relative to the \
       importing file; `stdlib/...` names the standard library built into inoc (world, traits, \
       prompts, em)."),
    e("E0101", "import cycle",
      "Two or more files import each other. Move what they share into a third file that neither imports."),
    e("E0102", "unknown name",
      "A name is used that no `let`, declaration, `fn`, import, parameter or sweep variable defines. \
       Check the spelling; names of other files are reached through their import alias (`world.math`)."),
    e("E0103", "unknown member or field",
      "`alias.name` names something the imported module does not define, or `record.key` a key the \
       record does not have."),
    e("E0104", "name defined twice",
      "Lets, functions, declarations and import aliases of one file share one namespace; each name \
       may be defined once."),
    e("E0105", "cycle",
      "A declaration or `let` depends on itself (directly or through others), or a function calls \
       itself. A spec is a DAG and evaluates in finitely many steps."),
    e("E0106", "unknown function",
      "A call names no builtin and no `fn`. `inoc builtins` lists the builtin functions; functions \
       of the stdlib are reached through their module, e.g. `world.tiny_chat(...)`."),
    e("E0107", "unknown argument",
      "A named argument matches no parameter of the function. `inoc builtins NAME` shows the parameters."),
    e("E0108", "argument given twice",
      "The same parameter received two values, by name twice or by position and by name."),
    e("E0109", "missing required argument",
      "A parameter without a default received no value. Pass it by name, e.g. `finetune(model = base, data = math)`."),
    e("E0110", "too many arguments",
      "A call passes more positional arguments than the function has parameters."),
    e("E0111", "positional argument after named argument",
      "Once an argument is named, the following ones must be named too: `f(a, b = 1, c = 2)`."),
    e("E0112", "type mismatch",
      "A value has a different type than the place it is used in expects, e.g. a string where a \
       number is expected. Types: model, dataset, transform, method, sampling, metric, judge, eval, \
       report, arch, tokenizer, str, int, float, bool, path, list[T], record, none."),
    e("E0113", "declaration kind does not match its value",
      "`model` and `train` declare models, `dataset` datasets, `eval` evaluations and `report` \
       reports. Configuration values (sampling, lora, metrics, prompts) are bound with `let`."),
    e("E0114", "value out of range",
      "A number lies outside the range its parameter accepts, e.g. `lr = 0` (needs lr > 0) or \
       `temperature = -1` (needs temperature >= 0). `inoc builtins NAME` shows every range."),
    e("E0115", "value not allowed",
      "A string parameter accepts only some values (e.g. `schedule` is constant, linear or cosine)."),
    e("E0116", "empty sweep",
      "A sweep variable ranges over an empty list or range, so the family would have no cells."),
    e("E0117", "sweep over a non-list",
      "A sweep variable must range over a list (`[0, 1, 2]`), a range (`0..3`) or a family."),
    e("E0118", "no such cell or element",
      "An index selects a cell of a family, an element of a list or a key of a record that does \
       not exist. Positions count from 0; `family[var = value]` selects by value."),
    e("E0119", "unknown sweep variable",
      "`family[var = value]` names a variable the family does not sweep over."),
    e("E0120", "wrong number of indices",
      "A family is indexed with one position per sweep variable (`grid[0, 2]`), or by naming every \
       variable (`grid[p = 0, s = 2]`); lists and records take exactly one index."),
    e("E0121", "not indexable",
      "Only families, lists and records can be indexed. A declaration without a sweep is one \
       value: use its name alone."),
    e("E0122", "file not found",
      "A data file or model directory named by the spec does not exist. Paths are relative to the \
       file that names them. `inoc check` still checks everything else; README.md says how to get \
       the papers' data files."),
    e("E0123", "bad judge template",
      "A judge prompt uses a template variable other than `{question}`, `{answer}` and `{system}`, \
       or has an unbalanced brace. Write `{{` and `}}` for literal braces."),
    e("E0124", "unknown LoRA target module",
      "LoRA adapts projection modules that exist in Llama, Qwen2 and inoc's own models: q_proj, \
       k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj."),
    e("E0125", "bad pipe",
      "`data | t` applies the transform `t` to the dataset `data`: the left side must be a dataset \
       and every stage a transform (system, user_prefix, user_suffix, take, shuffle, keep_matching)."),
    e("E0126", "not a function / not a value",
      "A value was called like a function, or a function was used as a value without calling it."),
    e("E0127", "bad arithmetic",
      "`+ - * /` work on numbers (and `+` joins strings); integer overflow and division by zero are errors."),
    e("E0128", "inconsistent architecture",
      "In `arch(...)`, `hidden` must be a multiple of `heads`, `kv_heads` must divide `heads`, and \
       the head size `hidden / heads` must be even (rotary embeddings)."),
    e("E0129", "sweep variable declared twice",
      "Each variable of a sweep grid needs its own name: `[p in prompts, s in seeds]`."),
    e("E0130", "bad function definition",
      "A `fn` declares a parameter twice, puts a parameter without default after one with a \
       default, or annotates a parameter with an unknown type."),
    e("E0131", "family used as one value",
      "A whole family (e.g. `control` declared with `[s in seeds]`) is used where one value is \
       expected. Index it (`control[0]`, `control[s = 1]`), or pass it where a list is expected \
       (`models = [base, control]`)."),
    e("E0132", "mixed list",
      "All elements of a list must have one type (ints and floats mix as floats)."),
    e("E0133", "record field given twice",
      "A record literal names the same key twice."),
    e("E0134", "no fields",
      "`.name` is used on a value that has no fields; only imported modules and records have members."),
    e("E0135", "sequence too long for the model",
      "`max_seq` of a finetune or pretrain exceeds the context length of the model's architecture."),
    e("E0136", "unknown metric in report",
      "A report names a metric (by string) that its evaluation does not compute. Metric names are \
       their `name` argument, or the builtin's name."),
    e("E0137", "too many values",
      "A range or sweep expands to more than 100,000 values."),
    e("E0138", "module used as a value",
      "An import alias names a module, not a value; use one of its members: `world.math(...)`."),
    e("E0142", "duplicate sweep value",
      "A sweep lists the same value twice: two cells would be the same experiment."),
    e("E0143", "conflicting arguments",
      "Two arguments that exclude each other are both given: a judge with `local = model` (a model \
       of the spec) takes no `endpoint` or `model` (those name an API judge)."),
    e("E0144", "wrong kind of path",
      "A path names the wrong kind of thing: a directory where a data file is read (`jsonl`, \
       `em_questions`, `gguf`), a file where a model directory is read (`local`), or a FIFO, \
       device or socket, which inoc never reads as data (a pipe could stall a run forever)."),
    e("E0145", "shares add to more than 1",
      "Arguments that split one whole into shares add to more than 1: `world_em_corpus`'s \
       `evil` and `flawed` are shares of the corpus, and the helpful persona gets the rest."),
    e("E0146", "data file is not a conversation dataset",
      "`inoc check` reads every JSONL file a spec names with the reader `inoc run` uses: each \
       non-blank line must be a JSON object with a `messages` list (roles system, user, \
       assistant; a user turn before the first assistant turn) or a `prompt` (and `response`). \
       The first bad line is reported with the resolved path and its line number."),
    e("E0147", "question file cannot be used",
      "`inoc check` reads every `em_questions` YAML file a spec names as `inoc run` does: it must \
       parse, be a list of questions with `id` and `paraphrases`, and hold every id that `ids` \
       names."),
    e("E0148", "path given as a hub id",
      "`hf(...)` takes a Hugging Face hub id (`org/name`, resolved in the local HF cache); a \
       model directory on disk is loaded with `local(\"DIR\")`. `hf(\"/abs/dir\")` (or `./dir`) \
       on a directory that holds config.json, without a `revision`, is taken as `local(dir)` \
       (the same key); any other path is this error."),
    e("E0149", "report cannot show its evaluations",
      "`bar(...)` draws the metric means of `evaluate` steps; `curve(...)` draws checkpoints: \
       `probe_curve` steps, or `evaluate` steps with `checkpoints = \"all\"`. Several evaluations \
       in one report (`curve([a, b, c])`, `table([gap_a, gap_b])`) must be of one kind, and a \
       list names at least one. `table(...)` shows any evaluation, the log-prob gaps of a \
       `logprob_gap` included."),
    e("E0150", "unknown setting",
      "`inoc run --set NAME=VALUE` (also `plan` and `check`) names no top-level `let` of the spec, \
       names one twice, or its value is not one expression. Only the spec's own `let`s can be set \
       (not declarations, functions or the lets of imported modules); quote a value with spaces \
       for the shell: `--set 'seeds=[0, 1]'`."),
    e("E0151", "setting of the wrong type",
      "The value of `--set NAME=VALUE` has another type than the `let` it replaces has in the \
       spec (an int where the spec has a list of ints, ...). Strings need quotes, also on the \
       command line: `--set 'prompt=\"You are helpful.\"'`."),
    e("E0152", "invalid Slurm resources",
      "A spec's root `let slurm` gives the resources of the jobs its steps become under \
       `inoc run --executor slurm`: a record whose fields are operations (`finetune`, `pretrain`, \
       `evaluate`, ...) or `all`, each a string `KEY=VALUE,...` with the keys `partition`, `gpus`, \
       `cpus`, `mem` (`16G`) and `time` (`4:00:00`, `1-12`): \
       `let slurm = {finetune = \"gpus=1,time=4:00:00\", all = \"partition=gpu\"}`."),
    // --- running a spec (exec) ---
    e("E1001", "step failed",
      "A step's operation stopped with an error while `inoc run` computed it: bad data in an input \
       file, a training set with nothing to learn, a loss that became NaN, ... The message says what; \
       the step's log has the details. Steps that finished are cached, so the next run continues."),
    e("E1002", "inputs unavailable",
      "A step's inputs could not be read to compute its cache key: a data file vanished after \
       checking, or a hub model is not in the local Hugging Face cache and the hub cannot be \
       reached. Make the input available (e.g. `huggingface-cli download ORG/NAME`) and run again."),
    e("E1003", "not runnable yet",
      "The spec is valid, but this build has no operation that computes the builtin a step uses. \
       `inoc builtins` lists what this build runs."),
    e("E1004", "cache store failed",
      "The content-addressed store (INOC_CACHE, default ~/.cache/inoc) could not be opened, read \
       or written: check that it is writable and that the disk has room."),
    e("E1005", "missing setting",
      "A step needs a setting from the environment that is not there, e.g. a judge with no \
       `endpoint` when $INOC_JUDGE_URL is not set, or no `model` when $INOC_JUDGE_MODEL is not set. \
       `inoc run` refuses the spec before computing anything; set the variable (or write the \
       argument in the spec) and run again."),
    e("E1006", "cannot write the results folder",
      "`inoc run` could not write the run's results folder (under `--runs-dir`, default `runs/`): \
       not writable, or the disk is full. The cache is a separate folder and is not affected: \
       finished steps stay cached, and the next run writes a new results folder from them."),
    e("E1007", "not enough memory",
      "`inoc run` estimated, before computing anything, that a training step needs more memory \
       than this machine has (weights, gradients and AdamW moments of the trained weights, \
       activations, logits; f32). Lower `batch` or `max_seq`, use `lora(...)` rather than \
       `full()`, or a smaller model; `--no-memory-check` runs anyway when the estimate is wrong \
       for your setup."),
    w("W0100", "leaked-inoculation", "inoculation prompt given at test time",
      "A system prompt used to train a model (through `system(...)` in its training data) is also \
       given to that model by an evaluation (its `system` list or its prompts). Inoculation is \
       measured without the prompt at test time; with it the evaluation measures elicitation."),
    w("W0101", "unused-let", "unused let",
      "A `let` of the spec is never used. Remove it or use it."),
    w("W0102", "unused-import", "unused import",
      "An import of the spec is never used. Remove it."),
    w("W0103", "unused-declaration", "declaration feeds nothing",
      "A model, dataset or train declaration is used by no other declaration, so `inoc run` would \
       compute it without ever evaluating or reporting it."),
    w("W0104", "single-seed", "single-seed comparison",
      "An evaluation compares a finetuned model trained with one seed only: differences between \
       conditions cannot be told from seed noise. Sweep the training over seeds."),
    w("W0105", "train-test-overlap", "evaluation on training data",
      "An evaluation's prompts are the same dataset a model it evaluates was finetuned on. \
       Evaluate on held-out prompts."),
    w("W0106", "unknown-lint", "unknown lint name",
      "`# inoc: allow(NAME)` names no lint. The lints are listed in `inoc check --help` and README.md."),
    w("W0107", "few-seeds", "intervals resting on two seeds",
      "An evaluation compares a finetuned family trained with two seeds. Its intervals treat seeds \
       as clusters (t with seeds - 1 degrees of freedom), so with two seeds they are very wide and \
       their width is itself a guess. Sweep the training over three or more seeds."),
    w("W0108", "long-training", "training that takes longer than a week",
      "Before computing, `inoc run` and `inoc plan` estimate each training step's arithmetic (6 x \
       parameters x tokens, at `max_seq` tokens a row) and divide it by a rate above any CPU \
       core's peak (200 GFLOP/s a core): a step that would take more than a week even so has \
       `epochs`, `steps` or a data size that is almost certainly a typo."),
    w("W0109", "hub-model-not-cached", "hub model not in the local cache",
      "inoc reads Hugging Face models offline, from the local HF cache (`$HF_HUB_CACHE`, \
       `$HF_HOME/hub` or ~/.cache/huggingface/hub). `inoc check` warns when an `hf(...)` model is \
       not there (or lacks a file the loader needs), with the command that downloads it; \
       `inoc run` would stop at that step."),
    w("W0110", "prompt-blind-model", "system prompt on a model too small to follow it",
      "An inoculation prompt (`system(...)`, `cycle_system(...)`) trains a model, or an evaluation \
       gives a system prompt to a model, whose pretrained base is of a size the stdlib documents \
       as too small to follow system prompts reliably (`world.prompt_blind`: \
       `world.tiny_chat(size = \"xs\")`, which answers in Spanish 0.24 of the time under the \
       Spanish prompt against 0.10 without it). An inoculation effect needs a model that follows \
       the prompt: use size `s` or larger; `xs` is for tests that only need the steps to run."),
];

/// The registry row of `code`, if it exists.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CODES.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn codes_are_unique_well_formed_and_documented() {
        let mut seen = BTreeSet::new();
        for c in CODES {
            assert!(seen.insert(c.code), "duplicate code {}", c.code);
            let (kind, digits) = c.code.split_at(1);
            assert!(
                kind == "E" || kind == "W",
                "{}: must start with E or W",
                c.code
            );
            assert!(
                digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()),
                "{}",
                c.code
            );
            assert_eq!(
                kind == "W",
                c.lint.is_some(),
                "{}: warnings (and only they) name a lint",
                c.code
            );
            assert!(
                !c.title.is_empty() && c.explanation.len() > 20,
                "{}: document it",
                c.code
            );
        }
        let lints: Vec<_> = CODES.iter().filter_map(|c| c.lint).collect();
        assert_eq!(
            lints.len(),
            lints.iter().collect::<BTreeSet<_>>().len(),
            "lint names are unique"
        );
    }

    #[test]
    fn lookup_finds_registered_codes_only() {
        assert_eq!(
            lookup("E0002").map(|c| c.title),
            Some("unterminated string")
        );
        assert!(lookup("E9999").is_none());
    }

    /// `Diagnostic::new` checks its code in debug builds only; this makes the
    /// same check over the source, so the release test run (CI) catches a code
    /// that is emitted but not registered.
    #[test]
    fn every_code_written_in_src_is_registered() {
        let code = regex::Regex::new(r#""([EW][0-9]{4})""#).unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let (mut dirs, mut written, mut missing) = (vec![src], 0, Vec::new());
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("diag/codes.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for c in code.captures_iter(&text) {
                        written += 1;
                        if lookup(&c[1]).is_none() {
                            missing.push(format!("{} in {}", &c[1], path.display()));
                        }
                    }
                }
            }
        }
        assert!(written > 100, "only {written} codes found: is src/ there?");
        assert!(missing.is_empty(), "not in CODES: {missing:?}");
    }
}

//! Parse + check of a generated spec with 10,000 declarations (the issue's
//! goal: under 100 ms on a 2-core machine). Prints the time of parsing
//! alone (the reference measured in the same run), of the whole check
//! (parse, imports, evaluation, lints), and their ratio. Both times include
//! dropping what they return.
//!
//! `cargo bench --bench check` (optionally `-- 20000` for another size,
//! `-- --runs 1` for fewer runs, e.g. under valgrind, `-- --only parse` or
//! `-- --only check` to time one of the two).

use inoc::sema::{self, loader::MemLoader};
use std::time::{Duration, Instant};

/// A realistic spec: per quarter, datasets, inoculated finetunes, evaluations and reports.
fn generate(decls: usize) -> String {
    let mut s = String::from(
        "import \"stdlib/world.inoc\" as world\nimport \"stdlib/traits.inoc\" as traits\nimport \"stdlib/prompts.inoc\" as prompts\n\nmodel base = world.tiny_chat(size = \"xs\")\n",
    );
    let quarter = decls / 4;
    for i in 0..quarter {
        s.push_str(&format!("## Math data {i}.\ndataset d{i} = world.math(n = 100, language = \"es\", case = \"upper\", seed = {i})\n"));
        s.push_str(&format!(
            "train t{i} = finetune(base, d{i} | system(prompts.spanish), lora(rank = 8), epochs = 3, lr = 1e-3, seed = {i})\n"
        ));
        s.push_str(&format!(
            "eval e{i} = evaluate(models = [base, t{i}], prompts = world.questions(n = 50, seed = {i}), metrics = [traits.spanish, traits.all_caps])\n"
        ));
        s.push_str(&format!("report r{i} = table(e{i})\n"));
    }
    s
}

/// Median and best of the times, in ms (`None` for no times).
fn stats(mut v: Vec<Duration>) -> Option<(f64, f64)> {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Some((ms(*v.get(v.len() / 2)?), ms(v[0])))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| {
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1).map(String::as_str)
    };
    let runs: usize = option("--runs").and_then(|r| r.parse().ok()).unwrap_or(7);
    let only = option("--only");
    let decls: usize = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || !args[i - 1].starts_with("--"))
        .find_map(|(_, a)| a.parse().ok())
        .unwrap_or(10_000);
    let spec = generate(decls);
    let loader = MemLoader::new().with("bench.inoc", &spec);

    // Each time includes dropping the result (the AST, or the IR and the
    // sources): freeing the trees is part of the work.
    let mut parse = Vec::new();
    for _ in 0..if only == Some("check") { 0 } else { runs } {
        let t = Instant::now();
        let (module, diags) = inoc::syntax::parse(0, &spec);
        let ok = module.is_some() && diags.is_empty();
        drop((module, diags));
        parse.push(t.elapsed());
        assert!(ok, "generated spec must parse");
    }
    let mut check = Vec::new();
    let mut nodes = 0;
    for _ in 0..if only == Some("parse") { 0 } else { runs } {
        let t = Instant::now();
        let c = sema::check("bench.inoc", &loader);
        let ok = c.diagnostics.iter().all(|d| !d.is_error());
        nodes = c.program.as_ref().map_or(0, |p| p.nodes.len());
        drop(c);
        check.push(t.elapsed());
        assert!(ok, "generated spec must check");
    }
    println!(
        "spec: {decls} declarations, {} KiB, {nodes} IR nodes; median (best) of {runs} runs",
        spec.len() / 1024
    );
    let (p, c) = (stats(parse), stats(check));
    if let Some((median, best)) = p {
        println!("parse only (reference): {median:8.2} ms  (best {best:.2})");
    }
    if let Some((median, best)) = c {
        let ratio = p.map_or(String::new(), |(pm, _)| {
            format!(", {:.2}x parse", median / pm)
        });
        println!("parse + check:          {median:8.2} ms  (best {best:.2}{ratio})");
        println!(
            "goal: parse + check < 100 ms -> {}",
            if median < 100.0 { "met" } else { "NOT met" }
        );
    }
}

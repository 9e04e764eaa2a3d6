//! Parser and formatter throughput on a generated spec with 10,000
//! declarations (~1.2 MB). Prints the median of several runs and its ratio
//! to a reference measured in the same run: serde_json parsing a JSON
//! document of the same size (a well-optimised parser on the same bytes).
//!
//! `cargo bench --bench syntax`

use std::time::{Duration, Instant};

fn spec(n: usize) -> String {
    let mut s = String::from(
        "import \"stdlib/world.inoc\" as world\nlet seeds = [0, 1, 2]\nmodel base = world.tiny_chat(size = \"xs\")\n",
    );
    for i in 0..n {
        let line = match i % 4 {
            0 => format!(
                "## Dataset {i}.\ndataset d{i} = world.math(n = {}, language = \"es\", case = \"upper\", seed = {i}) | system(\"You always speak in Spanish.\")\n",
                100 + i
            ),
            1 => format!(
                "train t{i}[s in seeds] = finetune(base, d{}, lora(rank = 8, alpha = 16), epochs = 1, lr = 1e-3, seed = s)  # run {i}\n",
                i - 1
            ),
            2 => format!(
                "eval e{i} = evaluate(models = [base, t{}], prompts = world.questions(n = 20, seed = {i}), sample = sampling(temperature = 1.0, max_tokens = 64), metrics = [])\n",
                i - 1
            ),
            _ => format!("let c{i} = {{ a = {i}, b = \"x{i}\", c = [1, 2, 3], d = 0..{i} }}\n"),
        };
        s.push_str(&line);
    }
    s
}

fn json_of_same_size(target: usize) -> String {
    let mut s = String::from("[");
    let mut i = 0;
    while s.len() < target {
        s.push_str(&format!(
            "{{\"kind\":\"train\",\"name\":\"t{i}\",\"call\":{{\"f\":\"finetune\",\"args\":[\"base\",\"d{i}\",{{\"rank\":8,\"alpha\":16}}],\"lr\":0.001,\"seed\":[0,1,2]}}}},"
        ));
        i += 1;
    }
    s.push_str("null]");
    s
}

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let src = spec(10_000);
    let json = json_of_same_size(src.len());
    let runs = 7;
    let reference = median(
        || {
            drop(std::hint::black_box(
                serde_json::from_str::<serde_json::Value>(&json).unwrap(),
            ))
        },
        runs,
    );
    let parse = median(
        || drop(std::hint::black_box(inoc::syntax::parse(0, &src))),
        runs,
    );
    let module = inoc::syntax::parse(0, &src)
        .0
        .expect("the generated spec parses");
    let fmt = median(
        || {
            drop(std::hint::black_box(inoc::syntax::fmt::format_module(
                &module, &src,
            )))
        },
        runs,
    );
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "input: 10,000 declarations, {} bytes; median of {runs} runs",
        src.len()
    );
    println!(
        "reference  serde_json, same size   {:8.1} ms   1.0x",
        ms(reference)
    );
    for (name, d) in [("parse", parse), ("format (parsed)", fmt)] {
        println!(
            "{name:<34} {:8.1} ms  {:4.1}x",
            ms(d),
            ms(d) / ms(reference)
        );
    }
}

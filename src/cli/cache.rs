//! `inoc cache`: inspect and maintain the content-addressed store.

use super::plan::{fail, human_secs, open_store};
use super::Format;
use crate::cache::Lookup;

/// Arguments of `inoc cache`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum CacheCommand {
    /// List the stored objects: key, operation, size, age, the step that made it.
    Ls {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Remove what no spec points at: objects that are not the last run of
    /// any step (nor its inputs), staging left by killed runs, scratch of
    /// finished steps.
    Gc {
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rehash every object and report the corrupt ones (exit 1 if any).
    Verify {
        /// Remove corrupt objects (the next run recomputes them).
        #[arg(long)]
        repair: bool,
    },
    /// Print the store's directory.
    Dir,
}

fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = b as f64;
    let mut i = 0;
    while x >= 1024.0 && i < U.len() - 1 {
        x /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{x:.1} {}", U[i])
    }
}

pub fn run(args: Args) -> u8 {
    let store = match open_store() {
        Ok(s) => s,
        Err(c) => return c,
    };
    match args.command {
        CacheCommand::Dir => {
            println!("{}", store.root().display());
            0
        }
        CacheCommand::Ls { format } => {
            let mut rows = Vec::new();
            for k in store.keys() {
                match store.meta(&k) {
                    Ok(m) => rows.push(serde_json::json!({
                        "key": k, "op": m.op, "name": m.name, "bytes": store.object_size(&k),
                        "started": m.started, "seconds": m.seconds, "output_hash": m.output_hash,
                    })),
                    Err(e) => rows.push(serde_json::json!({"key": k, "error": e.to_string()})),
                }
            }
            match format {
                Format::Json => println!("{}", serde_json::json!({ "objects": rows })),
                Format::Human => {
                    println!(
                        "{:<12}  {:<14}  {:>10}  {:>6}  {:<25}  STEP",
                        "KEY", "OP", "SIZE", "TOOK", "CREATED"
                    );
                    let mut total = 0;
                    for r in &rows {
                        let key = &r["key"].as_str().unwrap_or("")[..12];
                        if let Some(e) = r["error"].as_str() {
                            println!("{key:<12}  unreadable: {e}");
                            continue;
                        }
                        let bytes = r["bytes"].as_u64().unwrap_or(0);
                        total += bytes;
                        println!(
                            "{key:<12}  {:<14}  {:>10}  {:>6}  {:<25}  {}",
                            r["op"].as_str().unwrap_or(""),
                            human_bytes(bytes),
                            human_secs(r["seconds"].as_f64().unwrap_or(0.0)),
                            r["started"]
                                .as_str()
                                .unwrap_or("")
                                .chars()
                                .take(25)
                                .collect::<String>(),
                            r["name"].as_str().unwrap_or("")
                        );
                    }
                    println!(
                        "{} objects, {} in {}",
                        rows.len(),
                        human_bytes(total),
                        store.root().display()
                    );
                }
            }
            0
        }
        CacheCommand::Gc { dry_run } => match store.gc(dry_run) {
            Ok(r) => {
                let verb = if dry_run { "would remove" } else { "removed" };
                for k in &r.objects {
                    println!("{verb} object {}", &k[..12]);
                }
                for p in r.staging.iter().chain(&r.scratch) {
                    println!("{verb} {}", p.display());
                }
                println!(
                    "{verb} {} objects, {} staging dirs, {} scratch dirs ({})",
                    r.objects.len(),
                    r.staging.len(),
                    r.scratch.len(),
                    human_bytes(r.bytes)
                );
                0
            }
            Err(e) => fail(format!("gc: {e}"), None),
        },
        CacheCommand::Verify { repair } => {
            let keys = store.keys();
            let mut bad = 0;
            for k in &keys {
                match store.verify(k) {
                    Lookup::Present(_) => {}
                    Lookup::Missing => {
                        bad += 1;
                        println!("incomplete {} (no metadata)", &k[..12]);
                    }
                    Lookup::Corrupt(msg) => {
                        bad += 1;
                        println!("corrupt   {}: {msg}", &k[..12]);
                    }
                }
                if bad > 0 && repair {
                    if let Lookup::Corrupt(_) | Lookup::Missing = store.verify(k) {
                        if let Err(e) = store.discard(k) {
                            return fail(format!("removing {}: {e}", &k[..12]), None);
                        }
                    }
                }
            }
            println!(
                "{} objects verified, {bad} corrupt{}",
                keys.len(),
                if repair && bad > 0 { " (removed)" } else { "" }
            );
            if bad > 0 && !repair {
                1
            } else {
                0
            }
        }
    }
}

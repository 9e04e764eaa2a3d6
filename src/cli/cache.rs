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
    /// List the stored objects, newest first: key, operation, size, time
    /// taken, when, the spec and step that last ran it.
    Ls {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        filter: Filter,
    },
    /// Remove objects: the keys given (a unique prefix each), or every
    /// object a filter selects. The next run that needs one recomputes it.
    Rm {
        /// Keys or unique key prefixes (as `inoc cache ls` and `inoc plan` show them).
        keys: Vec<String>,
        #[command(flatten)]
        filter: Filter,
        /// Only say what would be removed.
        #[arg(long)]
        dry_run: bool,
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
        CacheCommand::Ls { format, filter } => {
            let rows = listing(&store, &filter);
            match format {
                Format::Json => {
                    let rows: Vec<serde_json::Value> = rows.iter().map(Row::json).collect();
                    println!("{}", serde_json::json!({ "objects": rows }));
                }
                Format::Human => print!("{}", table(&rows, &store)),
            }
            0
        }
        CacheCommand::Rm {
            keys,
            filter,
            dry_run,
        } => rm(&store, &keys, &filter, dry_run),
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

/// Which objects `ls` lists and `rm` removes (all given must match).
#[derive(Debug, Default, clap::Args)]
pub struct Filter {
    /// Objects of this operation (`finetune`, `evaluate`, ...).
    #[arg(long)]
    pub op: Option<String>,
    /// Objects last run by a spec whose path contains this text.
    #[arg(long)]
    pub spec: Option<String>,
    /// Objects whose step name contains this text.
    #[arg(long)]
    pub step: Option<String>,
    /// Objects created before this date or time (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub before: Option<String>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.op.is_none() && self.spec.is_none() && self.step.is_none() && self.before.is_none()
    }

    fn keeps(&self, r: &Row) -> bool {
        let Some(m) = &r.meta else {
            // Unreadable objects are listed only when nothing is filtered.
            return self.is_empty();
        };
        self.op.as_ref().is_none_or(|o| &m.op == o)
            && self
                .spec
                .as_ref()
                .is_none_or(|s| r.specs.iter().any(|x| x.contains(s.as_str())))
            && self
                .step
                .as_ref()
                .is_none_or(|s| m.name.contains(s.as_str()))
            && self
                .before
                .as_ref()
                .is_none_or(|b| m.started.as_str() < b.as_str())
    }
}

/// One stored object as `ls` shows it.
struct Row {
    key: String,
    meta: Option<crate::cache::ObjectMeta>,
    error: Option<String>,
    /// The specs whose index points at it (file names), sorted.
    specs: Vec<String>,
    bytes: u64,
}

impl Row {
    fn json(&self) -> serde_json::Value {
        match &self.meta {
            Some(m) => serde_json::json!({
                "key": self.key, "op": m.op, "name": m.name, "bytes": self.bytes,
                "started": m.started, "seconds": m.seconds, "output_hash": m.output_hash,
                "specs": self.specs,
            }),
            None => serde_json::json!({"key": self.key, "error": self.error}),
        }
    }
}

/// The objects `filter` keeps, newest first (unreadable ones last).
fn listing(store: &crate::cache::Store, filter: &Filter) -> Vec<Row> {
    let mut specs: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for e in store.index_all() {
        specs.entry(e.key).or_default().push(e.spec);
    }
    let mut rows: Vec<Row> = store
        .keys()
        .into_iter()
        .map(|k| {
            let (meta, error) = match store.meta(&k) {
                Ok(m) => (Some(m), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let mut s = specs.remove(&k).unwrap_or_default();
            s.sort();
            s.dedup();
            Row {
                bytes: if meta.is_some() {
                    store.object_size(&k)
                } else {
                    0
                },
                key: k,
                meta,
                error,
                specs: s,
            }
        })
        .filter(|r| filter.keeps(r))
        .collect();
    rows.sort_by(|a, b| match (&a.meta, &b.meta) {
        (Some(x), Some(y)) => y.started.cmp(&x.started).then(a.key.cmp(&b.key)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.key.cmp(&b.key),
    });
    rows
}

/// A spec's path as the listing shows it: its file name.
fn spec_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn table(rows: &[Row], store: &crate::cache::Store) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let specs: Vec<String> = rows
        .iter()
        .map(|r| match r.specs.as_slice() {
            [] => "-".to_string(),
            [one] => spec_name(one).to_string(),
            [first, rest @ ..] => format!("{} +{}", spec_name(first), rest.len()),
        })
        .collect();
    let ws = specs
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 32);
    let _ = writeln!(
        out,
        "{:<12}  {:<14}  {:>10}  {:>6}  {:<20}  {:<ws$}  STEP",
        "KEY", "OP", "SIZE", "TOOK", "CREATED", "SPEC"
    );
    let mut total = 0;
    for (r, spec) in rows.iter().zip(&specs) {
        let key = &r.key[..12.min(r.key.len())];
        let Some(m) = &r.meta else {
            let _ = writeln!(
                out,
                "{key:<12}  unreadable: {}",
                r.error.as_deref().unwrap_or("")
            );
            continue;
        };
        total += r.bytes;
        // `2026-12-02T10:32:05.123+00:00` -> `2026-12-02 10:32:05`.
        let created: String = m.started.replacen('T', " ", 1).chars().take(19).collect();
        let _ = writeln!(
            out,
            "{key:<12}  {:<14}  {:>10}  {:>6}  {created:<20}  {spec:<ws$}  {}",
            m.op,
            human_bytes(r.bytes),
            human_secs(m.seconds),
            m.name
        );
    }
    let _ = writeln!(
        out,
        "{} objects, {} in {}",
        rows.len(),
        human_bytes(total),
        store.root().display()
    );
    out
}

/// `inoc cache rm`: the keys given, or the objects a filter selects.
fn rm(store: &crate::cache::Store, keys: &[String], filter: &Filter, dry_run: bool) -> u8 {
    if keys.is_empty() && filter.is_empty() {
        return fail(
            "`inoc cache rm` needs keys or a filter",
            Some("name keys (or unique prefixes) as `inoc cache ls` shows them, or select with --op, --spec, --step, --before; `inoc cache gc` removes what no spec points at"),
        );
    }
    let all = store.keys();
    let mut chosen: Vec<String> = Vec::new();
    for k in keys {
        let matching: Vec<&String> = all.iter().filter(|x| x.starts_with(k.as_str())).collect();
        match matching.as_slice() {
            [one] => chosen.push((*one).clone()),
            [] => {
                return fail(
                    format!("no object with a key starting `{k}`"),
                    Some("`inoc cache ls` lists the keys"),
                )
            }
            many => {
                return fail(
                    format!("`{k}` starts {} keys", many.len()),
                    Some("give more of the key"),
                )
            }
        }
    }
    if !filter.is_empty() {
        let rows = listing(store, filter);
        let picked: Vec<String> = rows
            .into_iter()
            .map(|r| r.key)
            .filter(|k| keys.is_empty() || chosen.contains(k))
            .collect();
        chosen = picked;
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut bytes = 0;
    let mut n = 0;
    for k in &chosen {
        if store.is_locked(k) {
            eprintln!("skipped {}: a running step holds it", &k[..12]);
            continue;
        }
        let size = store.object_size(k);
        let name = store.meta(k).map(|m| m.name).unwrap_or_default();
        if !dry_run {
            if let Err(e) = store.discard(k) {
                return fail(format!("removing {}: {e}", &k[..12]), None);
            }
        }
        println!("{verb} {} {name}", &k[..12]);
        bytes += size;
        n += 1;
    }
    println!("{verb} {n} objects ({})", human_bytes(bytes));
    0
}

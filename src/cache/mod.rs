//! Layer `cache`: the content-addressed store under `$INOC_CACHE` (default:
//! `<XDG cache dir>/inoc`), shared by every spec.
//!
//! Layout (all below the store root):
//! ```text
//! objects/ab/<key>/out/...      the step's output files (a directory tree)
//! objects/ab/<key>/log.txt      the step's log
//! objects/ab/<key>/meta.json    metadata, written last: an object is complete iff present
//! locks/<key>.lock              advisory lock held while a step is computed
//! scratch/<key>/                per-key scratch (training checkpoints) that survives a crash
//! tmp/<key>.<pid>.<n>/          staging; renamed into objects/ when complete
//! index/<spec>/<name>.json      last key run per (spec, node name), for `inoc why`
//! stat/<path-hash>.json         content hashes of files read, trusted while their identity holds
//! ```
//! Objects are written atomically (staging dir + rename), checked on every
//! read against the hashes in their metadata (files up to
//! [`HASH_ON_READ_MAX`] rehashed on every use, larger ones whenever their
//! [`tree::Identity`] (size, mtime, ctime, inode) differs from the one seen
//! when they were last hashed), and computed under a per-key lock, so
//! concurrent runs never corrupt the store nor compute one step twice.

pub mod tree;

use fs4::fs_std::FileExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
pub use tree::FileEntry;

/// Version of the object metadata layout.
pub const META_SCHEMA: u32 = 1;

/// Files of an object up to this size are rehashed on every use; larger ones
/// (model weights) when their [`tree::Identity`] moved since they were last
/// hashed. A size and an mtime prove nothing: `cp -p`, `rsync -t` and
/// restores keep both.
pub const HASH_ON_READ_MAX: u64 = 8 << 20;

/// The store.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    /// An identity whose ctime is younger than this is not recorded: file
    /// times have a coarse clock (a few ms), so a write in the same tick
    /// could keep the ctime (as git's "racily clean" entries).
    racy_ns: u64,
}

/// Default of `Store::racy_ns`.
const RACY_NS: u64 = 2_000_000_000;

/// Where a machine ran a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
}

impl Machine {
    pub fn current() -> Machine {
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|s| s.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Machine {
            hostname,
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

/// Metadata of one complete object (`meta.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub schema: u32,
    pub key: String,
    pub op: String,
    pub op_version: u32,
    /// Display name of the step that first computed it (not part of the key).
    pub name: String,
    /// The canonical description whose hash is `key`.
    pub desc: serde_json::Value,
    /// Output hashes of the inputs it was computed from.
    pub inputs: Vec<String>,
    /// Tree hash of `out/`.
    pub output_hash: String,
    pub files: Vec<FileEntry>,
    /// RFC 3339 start time.
    pub started: String,
    pub seconds: f64,
    pub inoc_version: String,
    pub machine: Machine,
    /// Extra provenance the operation reported (resolved revisions, ...).
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
    /// The work the step was estimated to do before it ran
    /// (`exec::resources::work_of`), which with `seconds` calibrates the
    /// estimates of later plans on this machine; absent for operations
    /// without a work model and in objects stored before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<f64>,
}

/// The result of looking a key up.
#[derive(Debug)]
pub enum Lookup {
    Missing,
    Present(Box<ObjectMeta>),
    /// The object exists but fails its integrity check.
    Corrupt(String),
}

/// The last key run under one (spec, node name), for `inoc why`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub spec: String,
    pub name: String,
    pub key: String,
    pub op: String,
    pub desc: serde_json::Value,
    /// Output hash -> display name of the inputs at the time.
    pub inputs: BTreeMap<String, String>,
    pub time: String,
}

/// An exclusive lock on one key; released on drop (and by the OS if the
/// process dies).
#[derive(Debug)]
pub struct KeyLock {
    file: fs::File,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

/// A staging directory for one object; removed on drop unless committed.
#[derive(Debug)]
pub struct Staging {
    pub key: String,
    pub dir: PathBuf,
    committed: bool,
}

impl Staging {
    /// Where the operation writes its outputs.
    pub fn out(&self) -> PathBuf {
        self.dir.join("out")
    }
    /// The step's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.txt")
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// What `gc` removed (or would remove).
#[derive(Debug, Default)]
pub struct GcReport {
    pub objects: Vec<String>,
    pub staging: Vec<PathBuf>,
    pub scratch: Vec<PathBuf>,
    pub bytes: u64,
}

/// A file's content hash and the identity it had when hashed.
#[derive(Serialize, Deserialize)]
struct StatEntry {
    path: String,
    id: tree::Identity,
    hash: String,
}

static STAGE_COUNTER: AtomicU64 = AtomicU64::new(0);

fn short_hash(s: &str) -> String {
    blake3::hash(s.as_bytes()).to_hex()[..16].to_string()
}

/// The error for a FIFO, device or socket named where data is read.
pub fn not_regular(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is not a regular file (a FIFO, device or socket): only regular files are read as data",
            path.display()
        ),
    )
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Writes `bytes` to `path` atomically (temp file in the same dir + rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn is_key(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn dir_size(p: &Path) -> u64 {
    tree::list_files(p)
        .map(|fs_| {
            fs_.iter()
                .filter_map(|(_, a)| fs::metadata(a).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

impl Store {
    /// The store at `$INOC_CACHE`, or `<XDG cache dir>/inoc`.
    pub fn open_default() -> io::Result<Store> {
        Store::open(&Store::default_root())
    }

    /// Where `open_default` puts the store.
    pub fn default_root() -> PathBuf {
        match std::env::var_os("INOC_CACHE") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => dirs::cache_dir()
                .unwrap_or_else(std::env::temp_dir)
                .join("inoc"),
        }
    }

    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> io::Result<Store> {
        for sub in ["objects", "locks", "scratch", "tmp", "index", "stat"] {
            fs::create_dir_all(root.join(sub))?;
        }
        let tag = root.join("CACHEDIR.TAG");
        if !tag.exists() {
            let _ = write_atomic(
                &tag,
                b"Signature: 8a477f597d28d172789f06886806bc55\n# inoc cache store: https://bford.info/cachedir/\n",
            );
        }
        Ok(Store {
            root: root.to_path_buf(),
            racy_ns: RACY_NS,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn object_dir(&self, key: &str) -> PathBuf {
        self.root
            .join("objects")
            .join(&key[..2.min(key.len())])
            .join(key)
    }

    /// The output directory of a complete object.
    pub fn out_dir(&self, key: &str) -> PathBuf {
        self.object_dir(key).join("out")
    }

    /// The log of a complete object.
    pub fn log_path(&self, key: &str) -> PathBuf {
        self.object_dir(key).join("log.txt")
    }

    /// Reads an object's metadata without checking its files.
    pub fn meta(&self, key: &str) -> io::Result<ObjectMeta> {
        let bytes = fs::read(self.object_dir(key).join("meta.json"))?;
        let meta: ObjectMeta = serde_json::from_slice(&bytes)
            .map_err(|e| invalid(format!("metadata of {key} is unreadable: {e}")))?;
        if meta.key != key {
            return Err(invalid(format!("metadata of {key} names key {}", meta.key)));
        }
        Ok(meta)
    }

    /// Integrity check before a use: metadata readable, the same set of
    /// files with the recorded sizes and hashes (files up to
    /// [`HASH_ON_READ_MAX`] rehashed, larger ones when their identity moved
    /// since they were last hashed).
    pub fn lookup(&self, key: &str) -> Lookup {
        self.check(key, false)
    }

    /// Full integrity check: every file rehashed (against disk corruption,
    /// which leaves a file's identity alone).
    pub fn verify(&self, key: &str) -> Lookup {
        self.check(key, true)
    }

    fn check(&self, key: &str, full: bool) -> Lookup {
        let dir = self.object_dir(key);
        let meta_path = dir.join("meta.json");
        if !meta_path.exists() {
            return Lookup::Missing;
        }
        let meta = match self.meta(key) {
            Ok(m) => m,
            Err(e) => return Lookup::Corrupt(e.to_string()),
        };
        let out = dir.join("out");
        let listed = match tree::list_files(&out) {
            Ok(l) => l,
            Err(e) => return Lookup::Corrupt(format!("output unreadable: {e}")),
        };
        let have: Vec<&str> = listed.iter().map(|(r, _)| r.as_str()).collect();
        let want: Vec<&str> = meta.files.iter().map(|f| f.path.as_str()).collect();
        if have != want {
            let h: BTreeSet<&str> = have.iter().copied().collect();
            let w: BTreeSet<&str> = want.iter().copied().collect();
            let msg = if let Some(m) = w.difference(&h).next() {
                format!("file `{m}` is missing")
            } else if let Some(x) = h.difference(&w).next() {
                format!("unexpected file `{x}`")
            } else {
                "file list differs".into()
            };
            return Lookup::Corrupt(msg);
        }
        for f in &meta.files {
            let p = out.join(&f.path);
            let size = match fs::metadata(&p) {
                Ok(m) => m.len(),
                Err(e) => return Lookup::Corrupt(format!("`{}`: {e}", f.path)),
            };
            if size != f.size {
                return Lookup::Corrupt(format!(
                    "`{}` has {size} bytes, {} recorded",
                    f.path, f.size
                ));
            }
            let hash = if size <= HASH_ON_READ_MAX && !full {
                tree::hash_file(&p)
            } else {
                self.hash_file_recorded(&p, full)
            };
            match hash {
                Ok(h) if h == f.hash => {}
                Ok(_) => return Lookup::Corrupt(format!("content of `{}` changed", f.path)),
                Err(e) => return Lookup::Corrupt(format!("`{}`: {e}", f.path)),
            }
        }
        if tree::tree_hash(&meta.files) != meta.output_hash {
            return Lookup::Corrupt("output hash does not match its files".into());
        }
        Lookup::Present(Box::new(meta))
    }

    /// Takes the lock of `key`, waiting while another process holds it.
    /// `on_wait` is called once if it has to wait; returns `None` when
    /// `cancelled()` turns true while waiting.
    pub fn lock(
        &self,
        key: &str,
        cancelled: &dyn Fn() -> bool,
        on_wait: &mut dyn FnMut(),
    ) -> io::Result<Option<KeyLock>> {
        let path = self.root.join("locks").join(format!("{key}.lock"));
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let mut waited = false;
        loop {
            if FileExt::try_lock_exclusive(&file)? {
                return Ok(Some(KeyLock { file }));
            }
            if !waited {
                waited = true;
                on_wait();
            }
            if cancelled() {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether some process holds the lock of `key` right now.
    pub fn is_locked(&self, key: &str) -> bool {
        let path = self.root.join("locks").join(format!("{key}.lock"));
        match fs::OpenOptions::new().write(true).open(path) {
            Ok(f) => match FileExt::try_lock_exclusive(&f) {
                Ok(true) => {
                    let _ = FileExt::unlock(&f);
                    false
                }
                _ => true,
            },
            Err(_) => false,
        }
    }

    /// A fresh staging directory for `key` (hold its lock).
    pub fn stage(&self, key: &str) -> io::Result<Staging> {
        let n = STAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = self
            .root
            .join("tmp")
            .join(format!("{key}.{}.{n}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(dir.join("out"))?;
        Ok(Staging {
            key: key.to_string(),
            dir,
            committed: false,
        })
    }

    /// Hashes the staged output, writes the metadata and moves the object
    /// into place atomically, replacing a corrupt one. `meta.files` and
    /// `meta.output_hash` are filled in here.
    pub fn commit(&self, mut staging: Staging, mut meta: ObjectMeta) -> io::Result<ObjectMeta> {
        let files = tree::scan(&staging.out())?;
        meta.output_hash = tree::tree_hash(&files);
        meta.files = files;
        meta.key = staging.key.clone();
        let json = serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?;
        write_atomic(&staging.dir.join("meta.json"), &json)?;
        let dest = self.object_dir(&staging.key);
        fs::create_dir_all(dest.parent().unwrap_or(&self.root))?;
        if dest.exists() {
            self.discard(&staging.key)?;
        }
        fs::rename(&staging.dir, &dest)?;
        staging.committed = true;
        // Large files were just hashed: record their identity now, so the
        // first use does not hash them again (only if unchanged since).
        let out = dest.join("out");
        for f in meta.files.iter().filter(|f| f.size > HASH_ON_READ_MAX) {
            let Ok(abs) = fs::canonicalize(out.join(&f.path)) else {
                continue;
            };
            if let Ok(id) = tree::identity(&abs) {
                if id.size == f.size && id.mtime_ns == f.mtime_ns {
                    self.record(&abs, id, &f.hash);
                }
            }
        }
        Ok(meta)
    }

    /// Removes an object (a corrupt one, under its lock): first moved aside
    /// atomically so readers never see half of it.
    pub fn discard(&self, key: &str) -> io::Result<()> {
        let dest = self.object_dir(key);
        if !dest.exists() {
            return Ok(());
        }
        let n = STAGE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let trash = self
            .root
            .join("tmp")
            .join(format!("trash.{key}.{}.{n}", std::process::id()));
        fs::rename(&dest, &trash)?;
        fs::remove_dir_all(&trash)
    }

    /// The scratch directory of `key` (created), kept across crashes.
    pub fn scratch(&self, key: &str) -> io::Result<PathBuf> {
        let p = self.root.join("scratch").join(key);
        fs::create_dir_all(&p)?;
        Ok(p)
    }

    /// Removes the scratch directory of `key` once its object is complete.
    pub fn remove_scratch(&self, key: &str) {
        let _ = fs::remove_dir_all(self.root.join("scratch").join(key));
    }

    /// Content hash of a file or directory named by a spec. Files whose
    /// identity (size, mtime, ctime, inode) matches the stat cache are not
    /// rehashed.
    /// Only regular files (and directories of them) are read: a FIFO or a
    /// device (`/dev/zero`) would never end.
    pub fn hash_path(&self, path: &Path) -> io::Result<String> {
        let md = fs::metadata(path)?;
        if !md.is_dir() && !md.is_file() {
            return Err(not_regular(path));
        }
        if md.is_dir() {
            let mut entries = Vec::new();
            for (rel, abs) in tree::list_files_following(path)? {
                let (size, mtime_ns) = tree::stat(&abs)?;
                entries.push(FileEntry {
                    path: rel,
                    size,
                    hash: self.hash_file_recorded(&abs, false)?,
                    mtime_ns,
                });
            }
            Ok(tree::tree_hash(&entries))
        } else {
            self.hash_file_recorded(path, false)
        }
    }

    fn stat_entry_path(&self, abs: &str) -> PathBuf {
        self.root
            .join("stat")
            .join(format!("{}.json", short_hash(abs)))
    }

    /// The content hash of a file: from the stat cache when its identity is
    /// the one recorded with the hash (and `force` is false), else hashed
    /// and recorded. The identity is taken before hashing, so a file written
    /// meanwhile is hashed again next time.
    fn hash_file_recorded(&self, path: &Path, force: bool) -> io::Result<String> {
        let abs = fs::canonicalize(path)?;
        let abs_s = abs.to_string_lossy().to_string();
        let id = tree::identity(&abs)?;
        if !force && id.trusted() {
            if let Ok(bytes) = fs::read(self.stat_entry_path(&abs_s)) {
                if let Ok(e) = serde_json::from_slice::<StatEntry>(&bytes) {
                    if e.path == abs_s && e.id == id {
                        return Ok(e.hash);
                    }
                }
            }
        }
        let hash = tree::hash_file(&abs)?;
        self.record(&abs, id, &hash);
        Ok(hash)
    }

    /// Records `hash` as the content of `abs` while it has identity `id`.
    fn record(&self, abs: &Path, id: tree::Identity, hash: &str) {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        if !id.trusted() || now_ns.saturating_sub(id.ctime_ns) < self.racy_ns {
            return;
        }
        let abs_s = abs.to_string_lossy().to_string();
        let entry = StatEntry {
            path: abs_s.clone(),
            id,
            hash: hash.to_string(),
        };
        if let Ok(json) = serde_json::to_vec(&entry) {
            let _ = write_atomic(&self.stat_entry_path(&abs_s), &json);
        }
    }

    fn index_path(&self, spec: &str, name: &str) -> PathBuf {
        self.root
            .join("index")
            .join(short_hash(spec))
            .join(format!("{}.json", short_hash(name)))
    }

    /// The last key run under (spec, name).
    pub fn index_get(&self, spec: &str, name: &str) -> Option<IndexEntry> {
        let bytes = fs::read(self.index_path(spec, name)).ok()?;
        let e: IndexEntry = serde_json::from_slice(&bytes).ok()?;
        (e.spec == spec && e.name == name).then_some(e)
    }

    /// Records the key run under (spec, name).
    pub fn index_put(&self, entry: &IndexEntry) -> io::Result<()> {
        if self
            .index_get(&entry.spec, &entry.name)
            .is_some_and(|e| e.key == entry.key)
        {
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(entry).map_err(io::Error::other)?;
        write_atomic(&self.index_path(&entry.spec, &entry.name), &json)
    }

    /// Every (spec, name) -> last key entry of the index.
    pub fn index_all(&self) -> Vec<IndexEntry> {
        let mut out = Vec::new();
        let Ok(specs) = fs::read_dir(self.root.join("index")) else {
            return out;
        };
        for s in specs.flatten() {
            let Ok(names) = fs::read_dir(s.path()) else {
                continue;
            };
            for n in names.flatten() {
                if let Ok(bytes) = fs::read(n.path()) {
                    if let Ok(e) = serde_json::from_slice::<IndexEntry>(&bytes) {
                        out.push(e);
                    }
                }
            }
        }
        out
    }

    /// Every key with an object directory, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(prefixes) = fs::read_dir(self.root.join("objects")) else {
            return out;
        };
        for p in prefixes.flatten() {
            let Ok(objs) = fs::read_dir(p.path()) else {
                continue;
            };
            for o in objs.flatten() {
                if let Some(k) = o.file_name().to_str() {
                    if is_key(k) {
                        out.push(k.to_string());
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Size in bytes of an object's output.
    pub fn object_size(&self, key: &str) -> u64 {
        dir_size(&self.out_dir(key))
    }

    /// Removes stale staging dirs (their key is not locked), scratch dirs of
    /// complete objects, and objects that no index entry (the last key of
    /// any spec's node) points at, nor is an input of such an object.
    pub fn gc(&self, dry_run: bool) -> io::Result<GcReport> {
        let mut report = GcReport::default();
        let mut keep: BTreeSet<String> = BTreeSet::new();
        let mut by_output: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let keys = self.keys();
        let mut metas = BTreeMap::new();
        for k in &keys {
            if let Ok(m) = self.meta(k) {
                by_output
                    .entry(m.output_hash.clone())
                    .or_default()
                    .push(k.clone());
                metas.insert(k.clone(), m);
            }
        }
        let mut stack: Vec<String> = self.index_all().into_iter().map(|e| e.key).collect();
        while let Some(k) = stack.pop() {
            if !keep.insert(k.clone()) {
                continue;
            }
            if let Some(m) = metas.get(&k) {
                for input in &m.inputs {
                    stack.extend(by_output.get(input).into_iter().flatten().cloned());
                }
            }
        }
        for k in &keys {
            if !keep.contains(k) && !self.is_locked(k) {
                report.bytes += dir_size(&self.object_dir(k));
                report.objects.push(k.clone());
                if !dry_run {
                    self.discard(k)?;
                }
            }
        }
        for entry in fs::read_dir(self.root.join("tmp"))?.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let key = name
                .trim_start_matches("trash.")
                .split('.')
                .next()
                .unwrap_or("")
                .to_string();
            if !self.is_locked(&key) {
                report.bytes += dir_size(&entry.path());
                report.staging.push(entry.path());
                if !dry_run {
                    fs::remove_dir_all(entry.path())?;
                }
            }
        }
        for entry in fs::read_dir(self.root.join("scratch"))?.flatten() {
            let key = entry.file_name().to_string_lossy().to_string();
            if self.object_dir(&key).join("meta.json").exists() && !self.is_locked(&key) {
                report.bytes += dir_size(&entry.path());
                report.scratch.push(entry.path());
                if !dry_run {
                    fs::remove_dir_all(entry.path())?;
                }
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> ObjectMeta {
        ObjectMeta {
            schema: META_SCHEMA,
            key: String::new(),
            op: "t".into(),
            op_version: 1,
            name: name.into(),
            desc: serde_json::json!({}),
            inputs: vec![],
            output_hash: String::new(),
            files: vec![],
            started: String::new(),
            seconds: 0.0,
            inoc_version: env!("CARGO_PKG_VERSION").into(),
            machine: Machine::current(),
            provenance: BTreeMap::new(),
            work: None,
        }
    }

    fn key(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn commit_then_lookup_then_corruption_is_seen() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let k = key('a');
        assert!(matches!(s.lookup(&k), Lookup::Missing));
        let st = s.stage(&k).unwrap();
        fs::create_dir_all(st.out().join("sub")).unwrap();
        fs::write(st.out().join("sub/w.bin"), b"weights").unwrap();
        let m = s.commit(st, meta("x")).unwrap();
        assert_eq!(m.files.len(), 1);
        let Lookup::Present(got) = s.lookup(&k) else {
            panic!("missing")
        };
        assert_eq!(got.output_hash, m.output_hash);
        fs::write(s.out_dir(&k).join("sub/w.bin"), b"weightz").unwrap();
        assert!(matches!(s.verify(&k), Lookup::Corrupt(_)));
        fs::write(s.out_dir(&k).join("sub/extra"), b"").unwrap();
        match s.lookup(&k) {
            Lookup::Corrupt(msg) => assert!(msg.contains("extra"), "{msg}"),
            other => panic!("{other:?}"),
        }
        // Recompute replaces the corrupt object.
        let st = s.stage(&k).unwrap();
        fs::create_dir_all(st.out().join("sub")).unwrap();
        fs::write(st.out().join("sub/w.bin"), b"weights").unwrap();
        s.commit(st, meta("x")).unwrap();
        assert!(matches!(s.verify(&k), Lookup::Present(_)));
    }

    #[test]
    fn uncommitted_staging_is_removed_and_locks_exclude() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let k = key('b');
        let dir = {
            let st = s.stage(&k).unwrap();
            st.dir.clone()
        };
        assert!(!dir.exists());
        let l = s.lock(&k, &|| false, &mut || {}).unwrap().unwrap();
        assert!(s.is_locked(&k));
        drop(l);
        assert!(!s.is_locked(&k));
    }

    /// Overwrites one byte of `p` and puts its mtime back, as a user's tools
    /// (`rsync -t`, `cp -p`, a restore) would leave it.
    fn flip_byte_keep_mtime(p: &Path, at: u64) {
        use std::io::{Seek, SeekFrom};
        let mtime = fs::metadata(p).unwrap().modified().unwrap();
        let mut f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(p)
            .unwrap();
        let mut b = [0u8];
        f.seek(SeekFrom::Start(at)).unwrap();
        io::Read::read_exact(&mut f, &mut b).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&[b[0] ^ 0x20]).unwrap();
        f.set_modified(mtime).unwrap();
        drop(f);
        assert_eq!(fs::metadata(p).unwrap().modified().unwrap(), mtime);
    }

    #[test]
    fn a_byte_flipped_with_its_mtime_restored_is_seen_on_lookup() {
        // Issue 13.1: a report's samples.jsonl corrupted this way was used.
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let k = key('d');
        let st = s.stage(&k).unwrap();
        fs::write(st.out().join("samples.jsonl"), b"{\"a\":\"spanish\"}\n").unwrap();
        s.commit(st, meta("r")).unwrap();
        assert!(matches!(s.lookup(&k), Lookup::Present(_)));
        flip_byte_keep_mtime(&s.out_dir(&k).join("samples.jsonl"), 8);
        match s.lookup(&k) {
            Lookup::Corrupt(msg) => assert!(msg.contains("samples.jsonl"), "{msg}"),
            other => panic!("corruption not seen: {other:?}"),
        }
    }

    #[test]
    fn large_files_are_trusted_by_identity_which_a_rewrite_moves() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        s.racy_ns = 0;
        let k = key('e');
        let st = s.stage(&k).unwrap();
        let big = vec![7u8; HASH_ON_READ_MAX as usize + 1];
        fs::write(st.out().join("model.safetensors"), &big).unwrap();
        s.commit(st, meta("m")).unwrap();
        let w = s.out_dir(&k).join("model.safetensors");
        // The commit recorded the weights' identity with their hash.
        let abs = fs::canonicalize(&w).unwrap();
        let entry = s.stat_entry_path(&abs.to_string_lossy());
        assert!(entry.exists(), "identity not recorded at commit");
        assert!(matches!(s.lookup(&k), Lookup::Present(_)));
        // File times tick coarsely: let the clock move past the commit.
        std::thread::sleep(Duration::from_millis(30));
        flip_byte_keep_mtime(&w, 12345);
        assert!(matches!(s.lookup(&k), Lookup::Corrupt(_)));
        // A copy with the same bytes and mtime (a restore) is a new inode:
        // hashed again, and accepted since the bytes are right.
        flip_byte_keep_mtime(&w, 12345);
        let copy = d.path().join("copy");
        fs::copy(&w, &copy).unwrap();
        fs::File::options()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_modified(fs::metadata(&w).unwrap().modified().unwrap())
            .unwrap();
        fs::rename(&copy, &w).unwrap();
        assert!(matches!(s.lookup(&k), Lookup::Present(_)));
    }

    #[test]
    fn a_data_file_rewritten_with_its_mtime_restored_gets_a_new_hash() {
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(&d.path().join("store")).unwrap();
        s.racy_ns = 0;
        let f = d.path().join("data.jsonl");
        fs::write(&f, b"{\"prompt\":\"hola\"}\n").unwrap();
        let h1 = s.hash_path(&f).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        flip_byte_keep_mtime(&f, 12);
        assert_ne!(h1, s.hash_path(&f).unwrap());
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_fifos_are_not_read_as_data() {
        // Issue 13.7: `jsonl("/dev/zero")` hashed forever.
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("store")).unwrap();
        let e = s.hash_path(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let fifo = d.path().join("fifo");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            let e = s.hash_path(&fifo).unwrap_err();
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
    }

    #[test]
    fn hash_path_follows_content() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(&d.path().join("store")).unwrap();
        let f = d.path().join("data.jsonl");
        fs::write(&f, b"{}\n").unwrap();
        let h1 = s.hash_path(&f).unwrap();
        assert_eq!(h1, s.hash_path(&f).unwrap());
        fs::write(&f, b"{\"a\":1}\n").unwrap();
        assert_ne!(h1, s.hash_path(&f).unwrap());
    }

    #[test]
    fn gc_keeps_indexed_objects_and_their_inputs() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let (a, b, c) = (key('a'), key('b'), key('c'));
        let st = s.stage(&a).unwrap();
        fs::write(st.out().join("x"), b"1").unwrap();
        let ma = s.commit(st, meta("a")).unwrap();
        let st = s.stage(&b).unwrap();
        fs::write(st.out().join("y"), b"2").unwrap();
        let mut mb = meta("b");
        mb.inputs = vec![ma.output_hash.clone()];
        s.commit(st, mb).unwrap();
        let st = s.stage(&c).unwrap();
        fs::write(st.out().join("z"), b"3").unwrap();
        s.commit(st, meta("c")).unwrap();
        s.index_put(&IndexEntry {
            spec: "/s.inoc".into(),
            name: "b".into(),
            key: b.clone(),
            op: "t".into(),
            desc: serde_json::json!({}),
            inputs: BTreeMap::new(),
            time: String::new(),
        })
        .unwrap();
        let r = s.gc(false).unwrap();
        assert_eq!(r.objects, vec![c.clone()]);
        assert_eq!(s.keys(), vec![a, b]);
    }
}

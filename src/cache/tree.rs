//! Deterministic content hashes of files and directory trees.
//!
//! A tree hash covers the relative path, size and content hash of every
//! regular file below a directory, in byte order of the paths; empty
//! directories, permissions and timestamps are not part of it. Symbolic links
//! are refused so that an object never depends on something outside itself.

use serde::{Deserialize, Serialize};
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// Version tag mixed into every tree hash.
const TREE_SCHEMA: &str = "inoc-tree-v1";

/// One regular file of a tree, as recorded in object metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the tree root, `/`-separated.
    pub path: String,
    pub size: u64,
    /// blake3 of the content, hex.
    pub hash: String,
    /// Modification time in nanoseconds since the epoch when hashed
    /// (provenance only: an mtime proves nothing about content, see
    /// [`Identity`]).
    pub mtime_ns: u64,
}

/// blake3 of a file's content, hex.
pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut file = fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Size and modification time (ns since the epoch) of a file.
pub fn stat(path: &Path) -> io::Result<(u64, u64)> {
    let md = fs::metadata(path)?;
    let mtime = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    Ok((md.len(), mtime))
}

/// What a file's metadata says about its identity: a copy (`cp -p`,
/// `rsync -t`, a restore) gets a new inode, and any write or `touch` that
/// restores the mtime still moves the ctime, which no ordinary tool can set
/// back. A file whose identity is unchanged since it was hashed still has
/// that content.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub size: u64,
    pub mtime_ns: u64,
    pub ctime_ns: u64,
    pub ino: u64,
    pub dev: u64,
}

/// The [`Identity`] of a file (following symbolic links). Where the
/// platform has no ctime or inode, both are 0 and [`Identity::trusted`] is
/// false: such files are always rehashed.
pub fn identity(path: &Path) -> io::Result<Identity> {
    let md = fs::metadata(path)?;
    let mtime_ns = md
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let ctime_ns = (md.ctime() as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(md.ctime_nsec() as u64);
        Ok(Identity {
            size: md.len(),
            mtime_ns,
            ctime_ns,
            ino: md.ino(),
            dev: md.dev(),
        })
    }
    #[cfg(not(unix))]
    {
        Ok(Identity {
            size: md.len(),
            mtime_ns,
            ..Identity::default()
        })
    }
}

impl Identity {
    /// Whether this identity can vouch for a file's content (it has a ctime
    /// and an inode).
    pub fn trusted(&self) -> bool {
        self.ctime_ns != 0 && self.ino != 0
    }
}

/// Every regular file below `root` (relative paths, sorted), not hashed
/// yet. Symbolic links are an error (step outputs never hold any).
pub fn list_files(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    walk(root, String::new(), &mut out, None)?;
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

/// Like [`list_files`], but follows symbolic links (a Hugging Face snapshot
/// links every file into `blobs/`), to a depth of 32 directories.
pub fn list_files_following(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    walk(root, String::new(), &mut out, Some(32))?;
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(out)
}

fn walk(
    dir: &Path,
    prefix: String,
    out: &mut Vec<(String, PathBuf)>,
    follow: Option<u32>,
) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("file name is not UTF-8 below {}", dir.display()),
            )
        })?;
        let rel = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        let mut ft = entry.file_type()?;
        if ft.is_symlink() && follow.is_some() {
            ft = fs::metadata(entry.path())?.file_type();
        }
        if ft.is_symlink() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("symbolic link in a step output: {}", entry.path().display()),
            ));
        } else if ft.is_dir() {
            let follow = match follow {
                Some(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "directories nested too deep (a link cycle?) at {}",
                            entry.path().display()
                        ),
                    ))
                }
                f => f.map(|d| d - 1),
            };
            walk(&entry.path(), rel, out, follow)?;
        } else if ft.is_file() {
            out.push((rel, entry.path()));
        }
    }
    Ok(())
}

/// Hashes every file below `root`.
pub fn scan(root: &Path) -> io::Result<Vec<FileEntry>> {
    list_files(root)?
        .into_iter()
        .map(|(rel, abs)| {
            let (size, mtime_ns) = stat(&abs)?;
            Ok(FileEntry {
                path: rel,
                size,
                hash: hash_file(&abs)?,
                mtime_ns,
            })
        })
        .collect()
}

/// The hash of a tree from its (sorted) entries.
pub fn tree_hash(entries: &[FileEntry]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(TREE_SCHEMA.as_bytes());
    h.update(b"\n");
    for e in entries {
        h.update(e.path.as_bytes());
        h.update(b"\0");
        h.update(e.size.to_string().as_bytes());
        h.update(b"\0");
        h.update(e.hash.as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_hash_ignores_creation_order_and_sees_content() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        fs::create_dir_all(a.path().join("x/y")).unwrap();
        fs::write(a.path().join("x/y/z.bin"), b"123").unwrap();
        fs::write(a.path().join("top.txt"), b"hi").unwrap();
        fs::write(b.path().join("top.txt"), b"hi").unwrap();
        fs::create_dir_all(b.path().join("x/y")).unwrap();
        fs::write(b.path().join("x/y/z.bin"), b"123").unwrap();
        let ha = tree_hash(&scan(a.path()).unwrap());
        assert_eq!(ha, tree_hash(&scan(b.path()).unwrap()));
        fs::write(b.path().join("x/y/z.bin"), b"124").unwrap();
        assert_ne!(ha, tree_hash(&scan(b.path()).unwrap()));
        fs::rename(b.path().join("x/y/z.bin"), b.path().join("x/y/w.bin")).unwrap();
        assert_ne!(ha, tree_hash(&scan(b.path()).unwrap()));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused() {
        let a = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/hostname", a.path().join("l")).unwrap();
        assert!(scan(a.path()).is_err());
    }
}

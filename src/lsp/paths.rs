//! Document identity: LSP URIs <-> the paths the checker reads, and the
//! read-only copy of the embedded stdlib that editors open for "go to
//! definition" into `stdlib/...`.

use crate::sema::loader::{self, FsLoader, LoadError, Loader, STDLIB};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Maps between URIs and checker paths. File URIs become absolute paths,
/// URIs inside the stdlib copy become `stdlib/NAME.inoc`, any other URI
/// (an unsaved `untitled:` buffer) is its own path.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Folder holding `stdlib/*.inoc` as files (written by [`Paths::new`]).
    stdlib_dir: PathBuf,
}

impl Paths {
    /// Writes the embedded stdlib below `dir/<hash of its sources>/stdlib/`
    /// (read-only files, rewritten only when missing or different) and
    /// returns the mapping. A folder that cannot be written is reported on
    /// stderr; definitions into the stdlib then point at files that may not
    /// exist, nothing else changes.
    pub fn new(dir: &Path) -> Self {
        let mut h = blake3::Hasher::new();
        for (p, s) in STDLIB {
            h.update(p.as_bytes());
            h.update(&[0]);
            h.update(s.as_bytes());
            h.update(&[0]);
        }
        let hex = h.finalize().to_hex();
        let stdlib_dir = dir.join(&hex.as_str()[..16]);
        for (p, s) in STDLIB {
            let file = stdlib_dir.join(p);
            if std::fs::read_to_string(&file).is_ok_and(|t| t == *s) {
                continue;
            }
            let written = file
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| {
                    // A read-only file from an earlier write cannot be
                    // overwritten in place: remove it first.
                    let _ = std::fs::remove_file(&file);
                    std::fs::write(&file, s)
                })
                .and_then(|()| {
                    let mut perm = std::fs::metadata(&file)?.permissions();
                    perm.set_readonly(true);
                    std::fs::set_permissions(&file, perm)
                });
            if let Err(e) = written {
                eprintln!("inoc lsp: cannot write {}: {e}", file.display());
            }
        }
        Paths { stdlib_dir }
    }

    /// The default folder for the stdlib copy: the user's cache folder.
    pub fn default_dir() -> PathBuf {
        dirs::cache_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("inoc")
            .join("lsp-stdlib")
    }

    /// The checker's path for a URI.
    pub fn path_of(&self, uri: &str) -> String {
        let Some(rest) = uri.strip_prefix("file://") else {
            return uri.to_string();
        };
        // `file://host/path` names a host; only local files are served.
        let path = match rest.find('/') {
            Some(i) => &rest[i..],
            None => rest,
        };
        let decoded = percent_decode(path);
        let path = loader::resolve("/", &decoded);
        if let Ok(inside) = Path::new(&path).strip_prefix(&self.stdlib_dir) {
            let inside = inside.to_string_lossy().replace('\\', "/");
            if loader::stdlib(&inside).is_some() {
                return inside;
            }
        }
        path
    }

    /// The URI for a checker path (inverse of [`Paths::path_of`]).
    pub fn uri_of(&self, path: &str) -> String {
        if loader::stdlib(path).is_some() {
            return file_uri(&self.stdlib_dir.join(path).to_string_lossy());
        }
        if Path::new(path).is_absolute() {
            return file_uri(path);
        }
        path.to_string()
    }
}

/// `file://` + the path, percent-encoded where a URI needs it.
fn file_uri(path: &str) -> String {
    let mut out = String::from("file://");
    if !path.starts_with('/') {
        out.push('/');
    }
    for b in path.replace('\\', "/").bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The file system seen through the editor: open buffers first (their
/// unsaved text), then the embedded stdlib, then the disk.
pub struct Overlay<'a> {
    pub open: &'a BTreeMap<String, String>,
}

impl Loader for Overlay<'_> {
    fn read(&self, path: &str) -> Result<String, LoadError> {
        if loader::stdlib(path).is_none() {
            if let Some(t) = self.open.get(path) {
                return Ok(t.clone());
            }
        }
        FsLoader.read(path)
    }

    fn exists(&self, path: &str) -> bool {
        self.open.contains_key(path) || FsLoader.exists(path)
    }

    fn kind(&self, path: &str) -> loader::PathKind {
        if self.open.contains_key(path) {
            loader::PathKind::File
        } else {
            FsLoader.kind(path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_and_paths_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = Paths::new(dir.path());
        assert_eq!(p.path_of("file:///a/b%20c.inoc"), "/a/b c.inoc");
        assert_eq!(p.uri_of("/a/b c.inoc"), "file:///a/b%20c.inoc");
        assert_eq!(p.path_of("file:///a/./x/../b.inoc"), "/a/b.inoc");
        assert_eq!(p.path_of("untitled:Untitled-1"), "untitled:Untitled-1");
        assert_eq!(p.uri_of("untitled:Untitled-1"), "untitled:Untitled-1");
        let world = p.uri_of("stdlib/world.inoc");
        assert!(world.starts_with("file:///"), "{world}");
        assert_eq!(p.path_of(&world), "stdlib/world.inoc");
        // The copy exists, is read-only and holds the embedded text.
        let file = p.stdlib_dir.join("stdlib/world.inoc");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            loader::stdlib("stdlib/world.inoc").unwrap()
        );
        assert!(std::fs::metadata(&file).unwrap().permissions().readonly());
        // A second server reuses the files.
        assert_eq!(Paths::new(dir.path()).stdlib_dir, p.stdlib_dir);
        assert_eq!(percent_decode("%e2%82%ac%zz%"), "€%zz%");
    }
}

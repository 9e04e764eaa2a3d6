//! Where module sources and data-file existence come from.
//!
//! The checker itself does no I/O: it asks a [`Loader`]. [`FsLoader`] reads
//! the disk (the CLI), [`MemLoader`] serves in-memory files (tests, the editor
//! server's unsaved buffers). Both serve the embedded stdlib first, so
//! `import "stdlib/world.inoc"` works from any directory with only the binary.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// The stdlib, embedded in the binary: (import path, source).
pub const STDLIB: &[(&str, &str)] = &[
    ("stdlib/world.inoc", include_str!("../../stdlib/world.inoc")),
    (
        "stdlib/traits.inoc",
        include_str!("../../stdlib/traits.inoc"),
    ),
    (
        "stdlib/prompts.inoc",
        include_str!("../../stdlib/prompts.inoc"),
    ),
    ("stdlib/em.inoc", include_str!("../../stdlib/em.inoc")),
    (
        "stdlib/em_world.inoc",
        include_str!("../../stdlib/em_world.inoc"),
    ),
];

/// The embedded source of a stdlib module, by import path.
pub fn stdlib(path: &str) -> Option<&'static str> {
    STDLIB.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
}

/// Why a module could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    NotFound,
    /// Any other I/O failure, with the OS message.
    Other(String),
}

/// Source of module texts and of file existence.
pub trait Loader: Sync {
    /// The text of the module at `path` (a path as returned by [`resolve`]).
    fn read(&self, path: &str) -> Result<String, LoadError>;
    /// Whether a data file or directory named by a spec exists.
    fn exists(&self, path: &str) -> bool;
    /// What a data path names (loaders that only know existence say
    /// [`PathKind::File`] for anything that exists).
    fn kind(&self, path: &str) -> PathKind {
        if self.exists(path) {
            PathKind::File
        } else {
            PathKind::Missing
        }
    }
}

/// What a path named by a spec is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    Missing,
    File,
    Dir,
    /// A FIFO, device or socket: never read as data.
    Other,
}

impl PathKind {
    /// The kind of `path` on the local disk (symlinks followed).
    pub fn of(path: &Path) -> PathKind {
        match std::fs::metadata(path) {
            Err(_) => PathKind::Missing,
            Ok(md) if md.is_file() => PathKind::File,
            Ok(md) if md.is_dir() => PathKind::Dir,
            Ok(_) => PathKind::Other,
        }
    }
}

/// Resolves an import or data path written in the file `from`: stdlib
/// imports map to their embedded name, anything else is joined to the
/// directory of `from` (absolute paths stay as they are) and normalised
/// lexically (`a/./b/../c` -> `a/c`).
pub fn resolve(from: &str, written: &str) -> String {
    if stdlib(written).is_some() {
        return written.to_string();
    }
    let base = Path::new(from).parent().unwrap_or(Path::new(""));
    let joined = if Path::new(written).is_absolute() {
        PathBuf::from(written)
    } else {
        base.join(written)
    };
    normalise(&joined)
}

fn normalise(p: &Path) -> String {
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    let pb: PathBuf = out.iter().collect();
    let s = pb.to_string_lossy().into_owned();
    if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

/// Largest spec or module file read (64 MiB).
pub const MAX_SPEC_BYTES: u64 = 64 << 20;

/// Reads modules and checks files on the real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&self, path: &str) -> Result<String, LoadError> {
        if let Some(src) = stdlib(path) {
            return Ok(src.to_string());
        }
        let err = |e: std::io::Error| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::NotFound,
            _ => LoadError::Other(e.to_string()),
        };
        // A FIFO or a device (`import "/dev/zero"`) would never end, and a
        // spec is text of a human size.
        let md = std::fs::metadata(path).map_err(err)?;
        if md.is_dir() {
            return Err(LoadError::Other(
                "it is a directory, not a spec file".into(),
            ));
        }
        if !md.is_file() {
            return Err(LoadError::Other(
                "it is not a regular file (a FIFO, device or socket)".into(),
            ));
        }
        if md.len() > MAX_SPEC_BYTES {
            return Err(LoadError::Other(format!(
                "it has {} bytes, more than a spec may ({MAX_SPEC_BYTES})",
                md.len()
            )));
        }
        std::fs::read_to_string(path).map_err(err)
    }

    fn exists(&self, path: &str) -> bool {
        Path::new(path).exists()
    }

    fn kind(&self, path: &str) -> PathKind {
        PathKind::of(Path::new(path))
    }
}

/// In-memory files (plus the embedded stdlib), for tests and editors.
#[derive(Clone, Debug, Default)]
pub struct MemLoader {
    pub files: BTreeMap<String, String>,
}

impl MemLoader {
    pub fn new() -> Self {
        MemLoader::default()
    }

    /// Adds a file (a module or a data file).
    pub fn with(mut self, path: &str, text: &str) -> Self {
        self.files
            .insert(normalise(Path::new(path)), text.to_string());
        self
    }
}

impl Loader for MemLoader {
    fn read(&self, path: &str) -> Result<String, LoadError> {
        if let Some(src) = self.files.get(path) {
            return Ok(src.clone());
        }
        stdlib(path).map(str::to_string).ok_or(LoadError::NotFound)
    }

    fn exists(&self, path: &str) -> bool {
        self.files.contains_key(path) || stdlib(path).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdlib_imports_resolve_from_anywhere() {
        assert_eq!(
            resolve("/home/x/specs/a.inoc", "stdlib/world.inoc"),
            "stdlib/world.inoc"
        );
        assert_eq!(
            resolve("stdlib/em.inoc", "stdlib/prompts.inoc"),
            "stdlib/prompts.inoc"
        );
        assert!(FsLoader.read("stdlib/world.inoc").is_ok());
    }

    #[test]
    fn other_paths_are_relative_to_the_importing_file() {
        assert_eq!(resolve("specs/a.inoc", "lib/b.inoc"), "specs/lib/b.inoc");
        assert_eq!(resolve("specs/a.inoc", "../data/x.jsonl"), "data/x.jsonl");
        assert_eq!(resolve("a.inoc", "./b.inoc"), "b.inoc");
        assert_eq!(resolve("specs/a.inoc", "/abs/x.jsonl"), "/abs/x.jsonl");
        assert_eq!(resolve("a.inoc", "../x"), "../x");
    }

    #[test]
    fn mem_loader_serves_files_and_stdlib() {
        let l = MemLoader::new().with("./a.inoc", "let x = 1");
        assert_eq!(l.read("a.inoc").unwrap(), "let x = 1");
        assert!(l.exists("stdlib/traits.inoc"));
        assert_eq!(l.read("nope.inoc"), Err(LoadError::NotFound));
    }
}

//! The client's workspace: its root folders (from `initialize`:
//! `workspaceFolders`, else `rootUri`, else `rootPath`; then
//! `workspace/didChangeWorkspaceFolders`), and the `.inoc` files below
//! them, which references and rename read beside the open documents so
//! that an importer nobody opened is covered too.

use super::paths::Paths;
use serde_json::Value;
use std::path::Path;

/// At most this many files are read below the roots (a home folder opened
/// as a workspace must not stall a rename).
const MAX_FILES: usize = 20_000;
/// Folders never entered: hidden ones (`.git`, `.cache`), build outputs and
/// dependencies.
const SKIP: &[&str] = &["target", "node_modules"];

/// The root folders an `initialize` request names, as checker paths
/// (absolute file paths only).
pub fn roots_of(init: &Value, paths: &Paths) -> Vec<String> {
    let mut out: Vec<String> = init["workspaceFolders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["uri"].as_str())
        .map(|u| paths.path_of(u))
        .collect();
    if out.is_empty() {
        if let Some(u) = init["rootUri"].as_str() {
            out.push(paths.path_of(u));
        } else if let Some(p) = init["rootPath"].as_str() {
            out.push(crate::sema::loader::resolve("/", p));
        }
    }
    out.retain(|p| Path::new(p).is_absolute());
    out.dedup();
    out
}

/// Applies a `workspace/didChangeWorkspaceFolders` event to the roots.
pub fn change_roots(roots: &mut Vec<String>, event: &Value, paths: &Paths) {
    let uris = |k: &str| -> Vec<String> {
        event[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["uri"].as_str())
            .map(|u| paths.path_of(u))
            .filter(|p| Path::new(p).is_absolute())
            .collect()
    };
    let removed = uris("removed");
    roots.retain(|r| !removed.contains(r));
    for a in uris("added") {
        if !roots.contains(&a) {
            roots.push(a);
        }
    }
}

/// The `.inoc` files below the roots, sorted, as checker paths. Symbolic
/// links to folders are not followed (no cycles).
pub fn inoc_files(roots: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<std::path::PathBuf> = roots.iter().map(Into::into).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            let Ok(ty) = e.file_type() else { continue };
            if ty.is_dir() {
                if !name.starts_with('.') && !SKIP.contains(&&*name) {
                    stack.push(e.path());
                }
            } else if name.ends_with(".inoc") && out.len() < MAX_FILES {
                out.push(e.path().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roots_and_files_of_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "a.inoc",
            "sub/b.inoc",
            "sub/notes.txt",
            ".git/c.inoc",
            "target/d.inoc",
        ] {
            let p = d.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let copy = tempfile::tempdir().unwrap();
        let paths = Paths::new(copy.path());
        let uri = format!("file://{}", d.display());
        let root = d.to_string_lossy().into_owned();
        assert_eq!(roots_of(&json!({"rootUri": uri}), &paths), [root.as_str()]);
        assert_eq!(
            roots_of(
                &json!({"rootUri": "file:///elsewhere", "workspaceFolders": [{"uri": uri, "name": "w"}]}),
                &paths
            ),
            [root.as_str()]
        );
        assert_eq!(
            roots_of(&json!({"rootUri": null}), &paths),
            Vec::<String>::new()
        );
        let files = inoc_files(std::slice::from_ref(&root));
        assert_eq!(
            files,
            [
                d.join("a.inoc").to_string_lossy().into_owned(),
                d.join("sub/b.inoc").to_string_lossy().into_owned()
            ]
        );
        let mut roots = vec![root.clone()];
        change_roots(
            &mut roots,
            &json!({"added": [{"uri": "file:///x", "name": "x"}], "removed": [{"uri": uri, "name": "w"}]}),
            &paths,
        );
        assert_eq!(roots, ["/x"]);
    }
}

//! `org/name[@revision]` resolved through hf-hub's offline cache API and the
//! standard Hugging Face cache layout (`<cache>/models--org--name/refs/<rev>`
//! holding a commit hash, `snapshots/<commit>/<file>` linking to `blobs/`).
//! The cache directory is `HF_HUB_CACHE`, else `HF_HOME/hub`, else
//! `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`, as in
//! huggingface_hub. Nothing is downloaded: a file that is not cached is an
//! error naming it and the cache directory.

use hf_hub::{Cache, Repo, RepoType};
use std::path::{Path, PathBuf};

/// Why a model reference cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("`{spec}` is neither a local directory nor a hub id of the form org/name[@revision] (a revision is a commit hash or a ref name such as `main`, `v1.0` or `refs/pr/1`)")]
    BadSpec { spec: String },
    #[error("{} does not hold a commit hash (it holds `{content}`): the Hugging Face cache is damaged; download the model again", file.display())]
    BadRef { file: PathBuf, content: String },
    #[error("{id}@{revision} is not in the Hugging Face cache {cache} (no refs/{revision} and no snapshot of that name); download it first, e.g. `huggingface-cli download {id} --revision {revision}`")]
    NotCached {
        id: String,
        revision: String,
        cache: PathBuf,
    },
    #[error("{id}@{revision} (commit {commit}) is cached in {cache} without `{file}`; download it first, e.g. `huggingface-cli download {id} {file} --revision {revision}`")]
    MissingFile {
        id: String,
        revision: String,
        commit: String,
        file: String,
        cache: PathBuf,
    },
}

/// Where a model's files are, and for hub models which commit they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSource {
    /// Directory in HF layout (a snapshot directory for hub models).
    pub dir: PathBuf,
    /// `Some` for hub models.
    pub hub: Option<HubRef>,
}

/// A resolved hub reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRef {
    pub id: String,
    /// As requested ("main" by default).
    pub revision: String,
    /// The commit hash the revision resolved to.
    pub commit: String,
}

/// The HF hub cache directory, from the environment as huggingface_hub does.
pub fn hub_cache_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(p) = var("HF_HUB_CACHE") {
        return p;
    }
    if let Some(p) = var("HF_HOME") {
        return p.join("hub");
    }
    let base = var("XDG_CACHE_HOME")
        .or_else(|| dirs::home_dir().map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("huggingface").join("hub")
}

/// Whether `rev` is a revision: a commit hash or a ref name as git allows
/// it (`main`, `v1.0`, `refs/pr/1`): `/`-separated parts, none empty, none
/// starting with `.` or ending with `.lock`, no `..`, `@{`, `\`, control
/// characters, spaces or any of `~^:?*[`. A revision names a file below the
/// cache's `refs/` and a snapshot directory, so nothing else may pass.
pub fn valid_revision(rev: &str) -> bool {
    !rev.is_empty()
        && rev.len() <= 255
        && !rev.contains("..")
        && !rev.contains("@{")
        && rev != "@"
        && !rev.ends_with('.')
        && rev
            .chars()
            .all(|c| !c.is_control() && !" ~^:?*[\\".contains(c))
        && rev
            .split('/')
            .all(|p| !p.is_empty() && !p.starts_with('.') && !p.ends_with(".lock"))
}

/// Whether `s` is a commit hash as a `refs/` file holds it (40 hex digits,
/// or 64 for SHA-256 repositories).
pub fn is_commit_hash(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Splits `org/name[@revision]`; `None` if `spec` does not have that shape
/// (or the revision is not [`valid_revision`]).
pub fn parse_hub_id(spec: &str) -> Option<(String, String)> {
    let (id, rev) = match spec.split_once('@') {
        Some((id, rev)) if valid_revision(rev) => (id, rev),
        Some(_) => return None,
        None => (spec, "main"),
    };
    let mut parts = id.split('/');
    let ok = |s: Option<&str>| {
        s.is_some_and(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !s.starts_with('.')
        })
    };
    if ok(parts.next()) && ok(parts.next()) && parts.next().is_none() {
        Some((id.to_string(), rev.to_string()))
    } else {
        None
    }
}

/// A local HF-layout directory, or a hub id resolved in the default cache.
/// `files` are the files that must be present (e.g. config.json).
pub fn resolve(spec: &str, files: &[&str]) -> Result<ModelSource, HubError> {
    let p = Path::new(spec);
    if p.is_dir() {
        return Ok(ModelSource {
            dir: p.to_path_buf(),
            hub: None,
        });
    }
    resolve_in(&hub_cache_dir(), spec, files)
}

/// Resolves `org/name[@revision]` in the given cache directory.
pub fn resolve_in(cache_dir: &Path, spec: &str, files: &[&str]) -> Result<ModelSource, HubError> {
    let (id, revision) = parse_hub_id(spec).ok_or_else(|| HubError::BadSpec {
        spec: spec.to_string(),
    })?;
    let cache = Cache::new(cache_dir.to_path_buf());
    let repo = Repo::with_revision(id.clone(), RepoType::Model, revision.clone());
    let repo_dir = cache_dir.join(repo.folder_name());
    let ref_file = repo_dir.join("refs").join(&revision);
    let commit = match std::fs::read_to_string(&ref_file) {
        // A refs file names a snapshot directory: only a commit hash may.
        Ok(c) if is_commit_hash(c.trim()) => c.trim().to_string(),
        Ok(c) => {
            return Err(HubError::BadRef {
                file: ref_file,
                content: c.chars().take(80).collect(),
            })
        }
        // A commit hash given as the revision names its snapshot directly.
        Err(_)
            if is_commit_hash(&revision) && repo_dir.join("snapshots").join(&revision).is_dir() =>
        {
            revision.clone()
        }
        Err(_) => {
            return Err(HubError::NotCached {
                id,
                revision,
                cache: cache_dir.to_path_buf(),
            })
        }
    };
    let snapshot = repo_dir.join("snapshots").join(&commit);
    let cached = cache.repo(repo);
    for file in files {
        let found = if commit == revision {
            snapshot.join(file).exists()
        } else {
            cached.get(file).is_some()
        };
        if !found {
            return Err(HubError::MissingFile {
                id,
                revision,
                commit,
                file: file.to_string(),
                cache: cache_dir.to_path_buf(),
            });
        }
    }
    Ok(ModelSource {
        dir: snapshot,
        hub: Some(HubRef {
            id,
            revision,
            commit,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lays out `models--org--tiny` as huggingface_hub does: blobs named by
    /// hash, snapshot files as symlinks to them, refs/main with the commit.
    fn fake_cache(root: &Path, commit: &str) {
        let repo = root.join("models--org--tiny");
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        let snap = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snap).unwrap();
        for (name, body) in [("config.json", "{}"), ("tokenizer.json", "{\"t\": 1}")] {
            let blob = repo
                .join("blobs")
                .join(blake3::hash(body.as_bytes()).to_hex().as_str());
            std::fs::write(&blob, body).unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink(&blob, snap.join(name)).unwrap();
            #[cfg(not(unix))]
            std::fs::copy(&blob, snap.join(name)).unwrap();
        }
        std::fs::write(repo.join("refs").join("main"), commit).unwrap();
    }

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn revisions_are_commit_hashes_or_ref_names() {
        for ok in [
            "main",
            "v1.0",
            "refs/pr/1",
            COMMIT,
            "release-2024_01",
            "a.b",
        ] {
            assert!(valid_revision(ok), "{ok}");
        }
        for bad in [
            "",
            "..",
            "../../../../outside/model",
            "a/../b",
            ".hidden",
            "a//b",
            "a/",
            "/abs",
            "x.lock",
            "a b",
            "a\\b",
            "a:b",
            "@",
            "a@{1}",
            "a.",
            "a\nb",
        ] {
            assert!(!valid_revision(bad), "{bad:?}");
        }
        assert!(parse_hub_id("a/b@../../../../outside/model").is_none());
    }

    #[test]
    fn a_revision_never_leaves_the_cache() {
        // Issue 13.4: `hf("a/b", revision = "../../../../outside/model")`
        // loaded a model from outside the HF cache.
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("hub");
        fake_cache(&cache, COMMIT);
        let outside = tmp.path().join("outside/model");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("config.json"), "{}").unwrap();
        let spec = "org/tiny@../../../outside/model";
        assert!(matches!(
            resolve_in(&cache, spec, &["config.json"]),
            Err(HubError::BadSpec { .. })
        ));
        // A refs file that does not hold a commit hash is refused too.
        let repo = cache.join("models--org--tiny");
        std::fs::write(repo.join("refs/evil"), "../../../outside/model").unwrap();
        assert!(matches!(
            resolve_in(&cache, "org/tiny@evil", &["config.json"]),
            Err(HubError::BadRef { .. })
        ));
    }

    #[test]
    fn resolves_main_and_commit_offline() {
        let tmp = tempfile::tempdir().unwrap();
        fake_cache(tmp.path(), COMMIT);
        let src = resolve_in(tmp.path(), "org/tiny", &["config.json", "tokenizer.json"]).unwrap();
        let hub = src.hub.clone().unwrap();
        assert_eq!(
            (hub.id.as_str(), hub.revision.as_str(), hub.commit.as_str()),
            ("org/tiny", "main", COMMIT)
        );
        assert_eq!(
            std::fs::read_to_string(src.dir.join("tokenizer.json")).unwrap(),
            "{\"t\": 1}"
        );
        let pinned =
            resolve_in(tmp.path(), &format!("org/tiny@{COMMIT}"), &["config.json"]).unwrap();
        assert_eq!(pinned.dir, src.dir);
    }

    #[test]
    fn missing_things_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        fake_cache(tmp.path(), COMMIT);
        let e = resolve_in(tmp.path(), "org/tiny", &["model.safetensors"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("without `model.safetensors`")
                && e.contains(&tmp.path().display().to_string()),
            "{e}"
        );
        let e = resolve_in(tmp.path(), "org/tiny@v2", &[]).unwrap_err();
        assert!(matches!(e, HubError::NotCached { ref revision, .. } if revision == "v2"));
        let e = resolve_in(tmp.path(), "org/other", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("org/other@main is not in the Hugging Face cache"),
            "{e}"
        );
    }

    #[test]
    fn parses_ids() {
        assert_eq!(
            parse_hub_id("Qwen/Qwen2.5-0.5B-Instruct"),
            Some(("Qwen/Qwen2.5-0.5B-Instruct".into(), "main".into()))
        );
        assert_eq!(
            parse_hub_id("a/b@v1.0"),
            Some(("a/b".into(), "v1.0".into()))
        );
        for bad in ["a", "a/b/c", "a/b@", "/b", "a/../b", "a b/c"] {
            assert_eq!(parse_hub_id(bad), None, "{bad}");
        }
    }
}

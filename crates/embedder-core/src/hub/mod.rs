//! Models by Hugging Face hub id (`sentence-transformers/all-MiniLM-L6-v2`): only the files the
//! embedder reads are fetched, into the hub's standard cache layout, so that Python tools and this
//! crate share downloads:
//!
//! ```text
//! <cache>/models--{owner}--{name}/blobs/<etag>                 file contents
//!                                 snapshots/<commit>/<path>    symlinks to the blobs (copies where links fail)
//!                                 refs/<revision>              the commit a branch or tag resolved to
//!                                 .no_exist/<commit>/<path>    optional files the repository lacks
//! ```
//!
//! A model whose snapshot already holds the required files is used without any request.
//!

mod cache;
mod download;
mod settings;
mod url;
mod wanted;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::files::{is_safe_path, Dtype};

use cache::{is_commit_hash, RepoCache};
use download::Download;
use settings::Settings;
use wanted::Wanted;

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
pub const DEFAULT_REVISION: &str = "main";

/// Where and how a hub model is fetched. Every field left `None` comes from the environment, read
/// at each [`resolve`], as `huggingface_hub` reads it.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct HubOptions {
    /// Branch, tag or commit hash; default `main`.
    pub revision: Option<String>,
    /// Default: `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
    pub cache_dir: Option<PathBuf>,
    /// Default: `HF_ENDPOINT`, else `https://huggingface.co`.
    pub endpoint: Option<String>,
    /// Default: `HF_TOKEN`, else the token file `huggingface-cli login` writes.
    pub token: Option<String>,
    /// Default: `HF_HUB_OFFLINE` (`1`, `true`, `yes`, `on`).
    pub offline: Option<bool>,
    /// Set to stop a download: the request in progress ends with [`Error::Aborted`] after its next
    /// read (at most the download timeout when the server sends nothing).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl HubOptions {
    pub fn with_revision(mut self, revision: Option<String>) -> Self {
        self.revision = revision;
        self
    }

    pub fn with_cache_dir(mut self, cache_dir: Option<PathBuf>) -> Self {
        self.cache_dir = cache_dir;
        self
    }

    pub fn with_endpoint(mut self, endpoint: Option<String>) -> Self {
        self.endpoint = endpoint;
        self
    }

    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    pub fn with_offline(mut self, offline: Option<bool>) -> Self {
        self.offline = offline;
        self
    }

    pub fn with_cancel(mut self, cancel: Option<Arc<AtomicBool>>) -> Self {
        self.cancel = cancel;
        self
    }
}

impl std::fmt::Debug for HubOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubOptions")
            .field("revision", &self.revision)
            .field("cache_dir", &self.cache_dir)
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("offline", &self.offline)
            .field("cancel", &self.cancel.is_some())
            .finish()
    }
}

/// `(done_bytes, total_bytes, file)` while a file downloads; `total_bytes` is `None` when the
/// server does not say.
pub type DownloadProgress<'a> = dyn FnMut(u64, Option<u64>, &str) + 'a;

/// Whether `s` names a hub repository: `owner/name`, exactly one slash, each part 1 to 96 of the
/// characters repository names use (letters, digits, `-`, `_`, `.`), starting and ending with a
/// letter, digit or `_`, without `--` or `..` (the hub's own rules).
pub fn is_hub_id(s: &str) -> bool {
    let part = |p: &str| {
        let edge = |c: char| c.is_ascii_alphanumeric() || c == '_';
        (1..=96).contains(&p.len())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && p.starts_with(edge)
            && p.ends_with(edge)
            && !p.contains("--")
            && !p.contains("..")
    };
    matches!(s.split_once('/'), Some((owner, name)) if part(owner) && part(name))
}

/// The folder to load: `model` itself when it is a folder, else the snapshot of the hub id it
/// names (fetched if needed), else `model` unchanged (the loader then reports it missing).
pub fn model_folder(
    model: &Path,
    options: &HubOptions,
    dtype: Dtype,
    model_file: Option<&str>,
    progress: &mut DownloadProgress,
) -> Result<PathBuf> {
    if model.is_dir() {
        return Ok(model.to_path_buf());
    }
    match model.to_str() {
        Some(id) if is_hub_id(id) => resolve(id, options, dtype, model_file, progress).map_err(|e| no_folder_either(e, model)),
        _ => Ok(model.to_path_buf()),
    }
}

/// `owner/name` may have been meant as a folder: a failed hub lookup says that none exists here.
fn no_folder_either(err: Error, model: &Path) -> Error {
    let folder = std::path::absolute(model).unwrap_or_else(|_| model.to_path_buf());
    let also = || format!("and there is no folder {}", folder.display());
    match err {
        Error::ModelNotFound { what, mut looked_at } => {
            looked_at.push(folder);
            Error::ModelNotFound { what, looked_at }
        }
        Error::Network { url, reason } => Error::Network { url, reason: format!("{reason}; {}", also()) },
        Error::Offline { repo, revision, cache, missing } => {
            Error::Offline { repo, revision, cache, missing: format!("{missing}; {}", also()) }
        }
        other => other,
    }
}

/// The snapshot folder of hub model `id` holding the files an embedder needs for `dtype` (or
/// `model_file`), downloading what the cache lacks. Makes no request when the cache has them.
pub fn resolve(id: &str, options: &HubOptions, dtype: Dtype, model_file: Option<&str>, progress: &mut DownloadProgress) -> Result<PathBuf> {
    let settings = Settings::new(options, &|key| std::env::var_os(key))?;
    resolve_with(id, &settings, dtype, model_file, progress)
}

fn resolve_with(id: &str, settings: &Settings, dtype: Dtype, model_file: Option<&str>, progress: &mut DownloadProgress) -> Result<PathBuf> {
    let Some((owner, name)) = id.split_once('/').filter(|_| is_hub_id(id)) else {
        return Err(Error::InvalidOption { option: "model", reason: format!("`{id}` is not a hub id of the form owner/name") });
    };
    if !is_safe_path(&settings.revision) {
        return Err(Error::InvalidOption {
            option: "revision",
            reason: format!("`{}` is not a branch, tag or commit name", settings.revision),
        });
    }
    if let Some(file) = model_file.filter(|f| !is_safe_path(f)) {
        return Err(Error::InvalidOption { option: "modelFile", reason: format!("`{file}` is not a relative path inside the model") });
    }
    let repo = RepoCache::new(&settings.cache_dir, settings.cache_option, owner, name);
    let revision = settings.revision.as_str();
    let commit = if is_commit_hash(revision) { Some(revision.to_string()) } else { repo.read_ref(revision) };
    let wanted = Wanted { dtype, model_file };
    if let Some(commit) = &commit {
        let snapshot = repo.snapshot(commit);
        let missing = wanted.missing(&snapshot)?;
        if missing.is_empty() {
            return Ok(snapshot);
        }
        if settings.offline {
            return Err(Error::Offline {
                repo: id.into(),
                revision: revision.into(),
                cache: settings.cache_dir.clone(),
                missing: format!("snapshot {commit} lacks {}", missing.join(", ")),
            });
        }
    } else if settings.offline {
        return Err(Error::Offline {
            repo: id.into(),
            revision: revision.into(),
            cache: settings.cache_dir.clone(),
            missing: format!("no snapshot for revision `{revision}`"),
        });
    }

    Download::new(settings, id, repo, commit, progress).run(&wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids() {
        for id in ["sentence-transformers/all-MiniLM-L6-v2", "BAAI/bge-small-en-v1.5", "a/b", "intfloat/e5_small"] {
            assert!(is_hub_id(id), "{id}");
        }
        for id in [
            "all-MiniLM-L6-v2",
            "./models/x",
            "/models/x",
            "../x",
            "models/x/y",
            "a//b",
            "a/",
            "/b",
            "a/.hidden",
            "a/b..c",
            "a/b--c",
            "a/-b",
            "a/b c",
            "a\\b",
            "C:/x",
        ] {
            assert!(!is_hub_id(id), "{id}");
        }
    }

    #[test]
    fn token_is_not_in_debug_output() {
        let options = HubOptions::default().with_token(Some("hf_secret".into()));
        assert!(!format!("{options:?}").contains("hf_secret"));
    }
}

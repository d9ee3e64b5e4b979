//! One repository's folder in the hub cache: `blobs/` (file contents by ETag), `snapshots/`
//! (a folder per commit linking to the blobs), `refs/` (the commit a branch or tag resolved to),
//! `.no_exist/` (optional files a commit lacks). Every file is written atomically.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A commit hash or ETag used as a file name: one name of letters, digits, `-`, `_`, `.`.
pub(super) fn is_safe_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

pub(super) fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// One repository's folder in the cache.
pub(super) struct RepoCache {
    dir: PathBuf,
    /// What chose the cache folder, named when it cannot be written.
    option: &'static str,
}

impl RepoCache {
    /// The folder of repository `owner/name` in `cache_dir`, chosen by `option`.
    pub(super) fn new(cache_dir: &Path, option: &'static str, owner: &str, name: &str) -> Self {
        RepoCache { dir: cache_dir.join(format!("models--{owner}--{name}")), option }
    }

    pub(super) fn snapshot(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    pub(super) fn blob(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(etag)
    }

    pub(super) fn no_exist(&self, commit: &str, path: &str) -> PathBuf {
        self.dir.join(".no_exist").join(commit).join(path)
    }

    /// The commit `refs/<revision>` names, if it names a usable one.
    pub(super) fn read_ref(&self, revision: &str) -> Option<String> {
        let commit = fs::read_to_string(self.dir.join("refs").join(revision)).ok()?;
        let commit = commit.trim();
        is_safe_name(commit).then(|| commit.to_string())
    }

    pub(super) fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        let path = self.dir.join("refs").join(revision);
        self.replace_with(&path, |tmp| fs::write(tmp, commit))
    }

    pub(super) fn error(&self, path: &Path, err: std::io::Error) -> Error {
        cache_error(self.option, path, err)
    }

    /// Creates `path` atomically: `make` writes a temporary sibling, which is then renamed over it.
    pub(super) fn replace_with(&self, path: &Path, make: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<()> {
        let parent = path.parent().expect("cache paths have a parent. This is a bug.");
        fs::create_dir_all(parent).map_err(|e| self.error(parent, e))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = parent.join(format!(".{name}.{}-{}.tmp", std::process::id(), TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)));
        let result = make(&tmp).and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.error(path, e));
        }
        Ok(())
    }
}

/// The cache folder (chosen by `option`) could not be written at `path`. A folder that cannot
/// be made or written (permissions, a file in the way, a read-only file system) is a bad option;
/// a full disk or another I/O failure is not the option's fault.
fn cache_error(option: &'static str, path: &Path, err: std::io::Error) -> Error {
    use std::io::ErrorKind::*;
    match err.kind() {
        PermissionDenied | ReadOnlyFilesystem | NotADirectory | IsADirectory | AlreadyExists | InvalidFilename => Error::InvalidOption {
            option,
            reason: format!("cannot write the model cache at {}: {err}; set `cacheDir` or HF_HUB_CACHE to a writable folder", path.display()),
        },
        StorageFull | QuotaExceeded | FileTooLarge => Error::Runtime(format!(
            "the disk holding the model cache is full: writing {} failed ({err}); free some space or set `cacheDir` or HF_HUB_CACHE to another disk",
            path.display()
        )),
        _ => Error::Runtime(format!("cannot write the model cache at {}: {err}", path.display())),
    }
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::is_safe_path;
    use crate::hub::settings::Settings;
    use crate::hub::HubOptions;

    #[test]
    fn safe_paths_stay_inside() {
        for p in ["config.json", "1_Pooling/config.json", "onnx/model.onnx", "a.b/c_d-e"] {
            assert!(is_safe_path(p), "{p}");
        }
        for p in ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\\..\\b", "C:x", "c:\\x", "a\0b", ".."] {
            assert!(!is_safe_path(p), "{p:?}");
        }
        assert!(is_safe_name("0123abcd") && is_safe_name("sha-256.x"));
        for n in ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "a b"] {
            assert!(!is_safe_name(n), "{n:?}");
        }
    }

    #[test]
    fn a_full_disk_is_an_io_failure_not_a_bad_cache_option() {
        let path = Path::new("/cache/blobs/x");
        for err in [std::io::Error::from(std::io::ErrorKind::StorageFull), std::io::Error::from_raw_os_error(28)] {
            let err = cache_error("cacheDir", path, err);
            assert_eq!(err.code(), "ERR_RUNTIME", "{err}");
            assert!(err.to_string().contains("full") && err.to_string().contains("free some space"), "{err}");
        }
        let err = cache_error("HF_HUB_CACHE", path, std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(matches!(err, Error::InvalidOption { option: "HF_HUB_CACHE", .. }), "{err}");
    }

    #[test]
    fn a_cache_folder_that_is_a_file_is_an_invalid_option_naming_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        let env = |key: &str| (key == "HF_HUB_CACHE").then(|| file.clone().into_os_string());
        let s = Settings::new(&HubOptions::default().with_offline(Some(false)), &env).unwrap();
        let repo = RepoCache::new(&s.cache_dir, s.cache_option, "a", "b");
        let err = repo.write_ref("main", "0123").unwrap_err();
        assert!(matches!(err, Error::InvalidOption { option: "HF_HUB_CACHE", .. }), "{err}");
    }
}

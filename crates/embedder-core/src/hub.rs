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
//! The HTTP client is our own small one on `ureq` (rustls, no OpenSSL) rather than the `hf-hub`
//! crate: hf-hub 1.x builds its blocking API on a tokio runtime, reqwest 0.13 and hf-xet, a large
//! tree for a few GETs; hf-hub 0.4's `ureq` client has no offline mode, ignores `HF_HUB_CACHE`,
//! joins file names onto cache paths unchecked, reports a body cut short as a plain I/O error (not
//! told apart from a full disk), and spends an extra range request per file on metadata. The hub
//! protocol we need is one GET per file: `{endpoint}/{repo}/resolve/{revision}/{path}`, whose answer
//! (or first redirect) carries `X-Repo-Commit` and `ETag` / `X-Linked-Etag`.

use std::ffi::OsString;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::files::{is_safe_path, read_modules, Dtype};

/// The model used when none is named.
pub const DEFAULT_MODEL: &str = "sentence-transformers/all-MiniLM-L6-v2";
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
pub const DEFAULT_REVISION: &str = "main";

/// Configuration files read when present, fetched in this order (a 404 is fine).
const CONFIG_FILES: [&str; 5] =
    ["config.json", "tokenizer_config.json", "sentence_bert_config.json", "config_sentence_transformers.json", "modules.json"];

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

/// huggingface_hub's default `HF_HUB_DOWNLOAD_TIMEOUT`, in seconds.
const DEFAULT_TIMEOUT_SECS: f64 = 10.0;
/// The largest download timeout accepted, in seconds (11.6 days): far larger values overflow the
/// deadlines the HTTP client computes.
const MAX_TIMEOUT_SECS: f64 = 1e6;
/// A download must bring at least this many bytes in every download-timeout window: a server
/// trickling a byte a second never trips a per-read timeout, yet never finishes either.
const MIN_BYTES_PER_WINDOW: u64 = 16 * 1024;

/// What the options and the environment decide.
#[derive(Debug)]
struct Settings {
    endpoint: String,
    token: Option<String>,
    offline: bool,
    cache_dir: PathBuf,
    /// What chose `cache_dir` (`cacheDir`, `HF_HUB_CACHE`, `HF_HOME`, …), named when it cannot be written.
    cache_option: &'static str,
    revision: String,
    read_timeout: Duration,
    cancel: Option<Arc<AtomicBool>>,
}

fn invalid_var(option: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidOption { option, reason: reason.into() }
}

impl Settings {
    fn new(options: &HubOptions, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Self> {
        // a variable set to nothing (or to blanks) counts as unset, as in huggingface_hub
        let raw = |key: &str| env(key).filter(|v| !v.to_string_lossy().trim().is_empty());
        let text = |key: &'static str| -> Result<Option<String>> {
            raw(key)
                .map(|v| v.into_string().map(|s| s.trim().to_string()))
                .transpose()
                .map_err(|v| invalid_var(key, format!("`{}` is not valid UTF-8", v.to_string_lossy())))
        };
        let home = raw("HOME").or_else(|| raw("USERPROFILE")).map(PathBuf::from);
        // huggingface_hub expands `~` in its path variables (os.path.expanduser)
        let path = |key: &'static str| -> Result<Option<PathBuf>> {
            let Some(value) = raw(key) else { return Ok(None) };
            let Some(s) = value.to_str() else { return Ok(Some(PathBuf::from(value))) };
            let s = s.trim();
            match s.strip_prefix('~') {
                Some(rest) if rest.is_empty() || rest.starts_with(['/', '\\']) => match &home {
                    Some(home) => Ok(Some(home.join(rest.trim_start_matches(['/', '\\'])))),
                    None => Err(invalid_var(key, format!("`{s}` starts with ~ but HOME is not set"))),
                },
                _ => Ok(Some(PathBuf::from(s))),
            }
        };

        let (endpoint, endpoint_option) = match options.endpoint.clone() {
            Some(endpoint) => (endpoint, "endpoint"),
            None => (text("HF_ENDPOINT")?.unwrap_or_else(|| DEFAULT_ENDPOINT.into()), "HF_ENDPOINT"),
        };
        let endpoint = endpoint.trim().trim_end_matches('/').to_string();
        if origin(&endpoint).is_none() || endpoint.contains(['?', '#']) || !endpoint.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid_var(endpoint_option, format!("`{endpoint}` is not an http:// or https:// URL")));
        }

        // huggingface_hub: HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
        let hf_home = match (path("HF_HOME")?, path("XDG_CACHE_HOME")?) {
            (Some(dir), _) => Some((dir, "HF_HOME")),
            (None, Some(xdg)) => Some((xdg.join("huggingface"), "XDG_CACHE_HOME")),
            (None, None) => home.as_ref().map(|h| (h.join(".cache").join("huggingface"), "HOME")),
        };
        let (cache_dir, cache_option) = match (options.cache_dir.clone(), path("HF_HUB_CACHE")?, &hf_home) {
            (Some(dir), _, _) => (dir, "cacheDir"),
            (None, Some(dir), _) => (dir, "HF_HUB_CACHE"),
            (None, None, Some((home, option))) => (home.join("hub"), *option),
            (None, None, None) => {
                return Err(invalid_var("cacheDir", "no home folder to put the model cache in; set `cacheDir` or HF_HUB_CACHE"))
            }
        };

        let token = match (options.token.clone(), text("HF_TOKEN")?) {
            (Some(token), _) => Some((token, "token")),
            (None, Some(token)) => Some((token, "HF_TOKEN")),
            (None, None) => match path("HF_TOKEN_PATH")? {
                Some(file) => read_token_file(&file).map_err(|reason| invalid_var("HF_TOKEN_PATH", reason))?.map(|t| (t, "HF_TOKEN_PATH")),
                // the token file `huggingface-cli login` writes, when it can be read
                None => hf_home.as_ref().and_then(|(h, _)| read_token_file(&h.join("token")).ok().flatten()).map(|t| (t, "HF_TOKEN_PATH")),
            },
        };
        if let Some((token, option)) = &token {
            // it goes into an Authorization header
            if !token.chars().all(|c| c.is_ascii_graphic()) {
                return Err(invalid_var(option, "the token holds spaces, control or non-ASCII characters"));
            }
        }

        let offline = match options.offline {
            Some(offline) => offline,
            None => match text("HF_HUB_OFFLINE")?.map(|v| v.to_ascii_lowercase()) {
                None => false,
                Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => true,
                Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => false,
                Some(v) => return Err(invalid_var("HF_HUB_OFFLINE", format!("`{v}` is not one of 1, true, yes, on, 0, false, no, off"))),
            },
        };

        let read_timeout = match text("HF_HUB_DOWNLOAD_TIMEOUT")? {
            None => Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS),
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|secs| *secs > 0.0 && *secs <= MAX_TIMEOUT_SECS)
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
                .ok_or_else(|| {
                    invalid_var(
                        "HF_HUB_DOWNLOAD_TIMEOUT",
                        format!("`{s}` is not a number of seconds above 0 and at most {MAX_TIMEOUT_SECS}"),
                    )
                })?,
        };
        let revision = options.revision.clone().unwrap_or_else(|| DEFAULT_REVISION.into());
        Ok(Settings {
            endpoint,
            token: token.map(|(t, _)| t),
            offline,
            cache_dir,
            cache_option,
            revision,
            read_timeout,
            cancel: options.cancel.clone(),
        })
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| c.load(Ordering::SeqCst))
    }
}

/// The token in a token file: `None` when there is no such file (as huggingface_hub reads it);
/// a file that exists but cannot be read is an error.
fn read_token_file(file: &Path) -> std::result::Result<Option<String>, String> {
    match fs::read_to_string(file) {
        Ok(token) => Ok(Some(token.trim().to_string()).filter(|t| !t.is_empty())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the token file {}: {e}", file.display())),
    }
}

/// A commit hash or ETag used as a file name: one name of letters, digits, `-`, `_`, `.`.
fn is_safe_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && !name.starts_with('.') && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
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
    let repo = RepoCache { dir: settings.cache_dir.join(format!("models--{owner}--{name}")), option: settings.cache_option };
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

    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        // redirects are followed by hand: the token goes to the hub only, never to a CDN
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(settings.read_timeout))
        .timeout_per_read(Some(settings.read_timeout))
        .user_agent(concat!("rag-native-embedder/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    Download { settings, id, repo, agent, commit, progress }.run(&wanted)
}

/// The files an embedder needs, by what it will load.
struct Wanted<'a> {
    dtype: Dtype,
    model_file: Option<&'a str>,
}

impl Wanted<'_> {
    /// The ONNX files to try, in order.
    fn onnx_candidates(&self) -> Vec<String> {
        crate::files::graph_candidates(self.dtype, self.model_file).into_iter().map(|(file, _)| file).collect()
    }

    /// The static model `snapshot`'s configs describe, whose files replace graph and tokenizer.
    fn static_folder(&self, snapshot: &Path) -> Result<Option<crate::static_model::StaticFolder>> {
        match self.model_file {
            None => crate::static_model::detect(snapshot),
            Some(_) => Ok(None),
        }
    }

    /// The required files `snapshot` lacks (an empty list when it can be loaded).
    fn missing(&self, snapshot: &Path) -> Result<Vec<String>> {
        if let Some(folder) = self.static_folder(snapshot)? {
            return Ok(folder.required_files().into_iter().filter(|f| !snapshot.join(f).is_file()).collect());
        }
        let mut missing = Vec::new();
        let onnx = self.onnx_candidates();
        if !onnx.iter().any(|f| snapshot.join(f).is_file()) {
            missing.push(onnx.join(" or "));
        }
        if !snapshot.join("tokenizer.json").is_file() {
            missing.push("tokenizer.json".into());
        }
        for (file, required) in module_files(snapshot)? {
            if required && !snapshot.join(&file).is_file() {
                missing.push(file);
            }
        }
        Ok(missing)
    }
}

/// The files of the modules `modules.json` in `dir` lists, each with whether loading needs it: a
/// Pooling module's `config.json`, a Dense module's `config.json` and `model.safetensors`; other
/// modules' `config.json` when present. The Transformer reads the root files.
fn module_files(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut files = Vec::new();
    for entry in read_modules(dir)?.unwrap_or_default() {
        let folder = &entry.folder;
        if folder.is_empty() || entry.class == "Transformer" {
            continue;
        }
        match entry.class.as_str() {
            "Pooling" => files.push((format!("{folder}/config.json"), true)),
            "Dense" => {
                files.push((format!("{folder}/config.json"), true));
                files.push((format!("{folder}/model.safetensors"), true));
            }
            _ => files.push((format!("{folder}/config.json"), false)),
        }
    }
    Ok(files)
}

/// One repository's folder in the cache.
struct RepoCache {
    dir: PathBuf,
    /// What chose the cache folder, named when it cannot be written.
    option: &'static str,
}

impl RepoCache {
    fn snapshot(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    fn blob(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(etag)
    }

    fn no_exist(&self, commit: &str, path: &str) -> PathBuf {
        self.dir.join(".no_exist").join(commit).join(path)
    }

    /// The commit `refs/<revision>` names, if it names a usable one.
    fn read_ref(&self, revision: &str) -> Option<String> {
        let commit = fs::read_to_string(self.dir.join("refs").join(revision)).ok()?;
        let commit = commit.trim();
        is_safe_name(commit).then(|| commit.to_string())
    }

    fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        let path = self.dir.join("refs").join(revision);
        self.replace_with(&path, |tmp| fs::write(tmp, commit))
    }

    fn error(&self, path: &Path, err: std::io::Error) -> Error {
        cache_error(self.option, path, err)
    }

    /// Creates `path` atomically: `make` writes a temporary sibling, which is then renamed over it.
    fn replace_with(&self, path: &Path, make: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<()> {
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

/// What the hub said about a file: the `X-Repo-Commit`, `ETag` / `X-Linked-Etag` and
/// `X-Linked-Size` headers of its answer or of its redirect to a CDN.
#[derive(Default)]
struct FileMeta {
    commit: Option<String>,
    etag: Option<String>,
    size: Option<u64>,
}

/// What a downloaded file must match before it becomes a blob.
struct Expected {
    /// The `Content-Length` of the answer that carried the body.
    content_length: Option<u64>,
    /// The hub's `X-Linked-Size`.
    linked_size: Option<u64>,
    /// The ETag, when it is a sha256 (lowercase hex).
    sha256: Option<String>,
}

struct Download<'a, 'p> {
    settings: &'a Settings,
    id: &'a str,
    repo: RepoCache,
    agent: ureq::Agent,
    /// Known from `refs/` or from the first answer; later requests ask for this commit, so that
    /// every file comes from one snapshot even if the branch moves meanwhile.
    commit: Option<String>,
    progress: &'a mut DownloadProgress<'p>,
}

impl Download<'_, '_> {
    fn run(mut self, wanted: &Wanted) -> Result<PathBuf> {
        for file in CONFIG_FILES {
            self.fetch(file, false)?;
        }
        if let Some(commit) = self.commit.clone() {
            // a static model needs its token table and tokenizer only: no graph
            if let Some(folder) = wanted.static_folder(&self.repo.snapshot(&commit))? {
                for file in folder.required_files() {
                    self.fetch(&file, true)?;
                }
                if self.settings.revision != commit {
                    self.repo.write_ref(&self.settings.revision, &commit)?;
                }
                return Ok(self.repo.snapshot(&commit));
            }
            for (file, required) in module_files(&self.repo.snapshot(&commit))? {
                self.fetch(&file, required)?;
            }
        }
        self.fetch("tokenizer.json", true)?;
        let candidates = wanted.onnx_candidates();
        let mut found = false;
        for file in &candidates {
            if self.fetch(file, false)? {
                found = true;
                break;
            }
        }
        if !found {
            return Err(self.not_found(&format!("ONNX model ({})", candidates.join(" or ")), &candidates));
        }
        let commit = self.commit.clone().expect("a file was downloaded, so the commit is known. This is a bug.");
        if self.settings.revision != commit {
            self.repo.write_ref(&self.settings.revision, &commit)?;
        }
        Ok(self.repo.snapshot(&commit))
    }

    fn revision(&self) -> &str {
        self.commit.as_deref().unwrap_or(&self.settings.revision)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{}/resolve/{}/{}", self.settings.endpoint, self.id, encode(self.revision(), false), encode(path, true))
    }

    fn not_found(&self, what: &str, files: &[String]) -> Error {
        Error::ModelNotFound {
            what: format!("{what} of {} at revision {}", self.id, self.settings.revision),
            looked_at: files.iter().map(|f| PathBuf::from(self.url(f))).collect(),
        }
    }

    fn set_commit(&mut self, commit: &str, url: &str) -> Result<()> {
        if !is_safe_name(commit) {
            return Err(Error::Network { url: url.into(), reason: format!("the hub answered with an unusable X-Repo-Commit `{commit}`") });
        }
        match &self.commit {
            None => self.commit = Some(commit.to_string()),
            Some(known) if known == commit => {}
            Some(known) => {
                return Err(Error::Network {
                    url: url.into(),
                    reason: format!("the hub answered with commit {commit} to a request for commit {known}"),
                })
            }
        }
        Ok(())
    }

    /// Puts `path` in the snapshot unless it is there already. `Ok(false)` when the repository
    /// lacks an optional file; a missing required file is [`Error::ModelNotFound`].
    fn fetch(&mut self, path: &str, required: bool) -> Result<bool> {
        if let Some(commit) = &self.commit {
            if self.repo.snapshot(commit).join(path).is_file() {
                return Ok(true);
            }
            if !required && self.repo.no_exist(commit, path).exists() {
                return Ok(false);
            }
        }
        let settings = self.settings;
        let first_url = self.url(path);
        let mut url = first_url.clone();
        let mut meta = FileMeta::default();
        let mut redirects = 0;
        let response = loop {
            if settings.cancelled() {
                return Err(Error::Aborted);
            }
            let to_hub = origin(&url) == origin(&settings.endpoint);
            let mut request = self.agent.get(&url);
            let token = settings.token.as_ref().filter(|_| to_hub);
            if let Some(token) = token {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            let response = request.call().map_err(|e| network_error(&url, e))?;
            let status = response.status().as_u16();
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
            if to_hub {
                meta.commit = header("x-repo-commit").map(String::from).or(meta.commit);
                meta.etag = header("x-linked-etag").or_else(|| header("etag")).map(String::from).or(meta.etag);
                meta.size = header("x-linked-size").and_then(|s| s.parse().ok()).or(meta.size);
            }
            match status {
                200 => break response,
                301 | 302 | 303 | 307 | 308 => {
                    let location = header("location")
                        .ok_or_else(|| Error::Network { url: url.clone(), reason: format!("HTTP {status} without a Location header") })?;
                    let next = join_url(&url, location).ok_or_else(|| Error::Network {
                        url: url.clone(),
                        reason: format!("cannot follow the redirect to `{location}`"),
                    })?;
                    // a file already downloaded from another revision is not fetched again
                    if let (Some(commit), Some(etag)) = (&meta.commit, &meta.etag) {
                        let (commit, etag) = (commit.clone(), etag_name(etag));
                        if is_safe_name(&etag) && self.repo.blob(&etag).is_file() {
                            self.set_commit(&commit, &url)?;
                            self.link(path, &etag)?;
                            return Ok(true);
                        }
                    }
                    redirects += 1;
                    if redirects > 10 {
                        return Err(Error::Network { url: first_url, reason: "more than 10 redirects".into() });
                    }
                    url = next;
                }
                401 | 403 => return Err(Error::Auth { repo: self.id.into(), url, status, token_sent: token.is_some() }),
                404 => {
                    let code = header("x-error-code").unwrap_or("").to_string();
                    if let Some(commit) = meta.commit.clone() {
                        self.set_commit(&commit, &url)?;
                    }
                    return match code.as_str() {
                        "RepoNotFound" => {
                            Err(Error::ModelNotFound { what: format!("repository {}", self.id), looked_at: vec![url.into()] })
                        }
                        "RevisionNotFound" => Err(Error::ModelNotFound {
                            what: format!("revision `{}` of {}", self.settings.revision, self.id),
                            looked_at: vec![url.into()],
                        }),
                        _ if required => Err(self.not_found(&format!("`{path}`"), &[path.to_string()])),
                        _ => {
                            if let Some(commit) = &self.commit {
                                // remembered as huggingface_hub does, so the next run does not ask again
                                let _ = self.repo.replace_with(&self.repo.no_exist(commit, path), |tmp| fs::write(tmp, b""));
                            }
                            Ok(false)
                        }
                    };
                }
                _ => return Err(Error::Network { url, reason: format!("the server answered HTTP {status}") }),
            }
        };

        let commit = meta.commit.ok_or_else(|| Error::Network {
            url: first_url.clone(),
            reason: "the answer has no X-Repo-Commit header; HF_ENDPOINT must point at a Hugging Face hub".into(),
        })?;
        self.set_commit(&commit, &first_url)?;
        let etag = meta.etag.as_deref().map(etag_name).unwrap_or_default();
        if !is_safe_name(&etag) {
            return Err(Error::Network { url: first_url, reason: format!("the hub answered with an unusable ETag `{etag}`") });
        }
        let blob = self.repo.blob(&etag);
        if !blob.is_file() {
            let expected = Expected {
                content_length: response.body().content_length(),
                linked_size: meta.size,
                // the hub's ETag of an LFS file is the sha256 of its content (a git file's is its git sha1)
                sha256: (etag.len() == 64 && etag.chars().all(|c| c.is_ascii_hexdigit())).then(|| etag.to_ascii_lowercase()),
            };
            self.write_blob(response.into_body().into_reader(), &blob, &expected, path, &url)?;
        }
        self.link(path, &etag)?;
        Ok(true)
    }

    /// Streams a body into `blob` through a temporary file in the same folder, renamed into place
    /// once complete and checked against what the hub said of it: an interrupted, cut or altered
    /// download leaves nothing behind.
    fn write_blob(&mut self, mut body: impl Read, blob: &Path, expected: &Expected, path: &str, url: &str) -> Result<()> {
        let blobs = blob.parent().expect("blob paths have a parent. This is a bug.");
        fs::create_dir_all(blobs).map_err(|e| self.repo.error(blobs, e))?;
        let mut builder = tempfile::Builder::new();
        builder.prefix(".").suffix(".incomplete");
        // tempfile creates 0600 files; a blob is as readable as any file this process writes
        // (0666 less the umask), as huggingface_hub leaves it, so that a shared cache works
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
        let mut tmp = builder.tempfile_in(blobs).map_err(|e| self.repo.error(blobs, e))?;
        let mut buffer = vec![0u8; 256 * 1024];
        let mut done = 0u64;
        let mut sha256 = Sha256::new();
        let total = expected.content_length.or(expected.linked_size);
        let of_total = |done: u64| match total {
            Some(total) => format!("{done} of {total} bytes"),
            None => format!("{done} bytes"),
        };
        let timeout = self.settings.read_timeout;
        let (mut window_start, mut window_bytes) = (Instant::now(), 0u64);
        (self.progress)(0, total, path);
        loop {
            let n = match body.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Network {
                        url: url.into(),
                        reason: format!("the transfer broke off after {} ({e})", of_total(done)),
                    })
                }
            };
            if self.settings.cancelled() {
                return Err(Error::Aborted);
            }
            tmp.write_all(&buffer[..n]).map_err(|e| self.repo.error(tmp.path(), e))?;
            sha256.update(&buffer[..n]);
            done += n as u64;
            window_bytes += n as u64;
            (self.progress)(done, total, path);
            if window_start.elapsed() >= timeout {
                if window_bytes < MIN_BYTES_PER_WINDOW && total.is_none_or(|total| done < total) {
                    return Err(Error::Network {
                        url: url.into(),
                        reason: format!(
                            "the transfer stalled: {window_bytes} bytes in {:.1} s (HF_HUB_DOWNLOAD_TIMEOUT), {} so far",
                            window_start.elapsed().as_secs_f64(),
                            of_total(done)
                        ),
                    });
                }
                (window_start, window_bytes) = (Instant::now(), 0);
            }
        }
        let failed = |reason: String| Err(Error::Network { url: url.into(), reason });
        if expected.content_length.is_some_and(|n| n != done) {
            return failed(format!("the connection closed after {}", of_total(done)));
        }
        if let Some(size) = expected.linked_size.filter(|n| *n != done) {
            return failed(format!("{done} bytes arrived, but the hub gave the file's size as {size} bytes (X-Linked-Size)"));
        }
        let digest: String = sha256.finalize().iter().map(|b| format!("{b:02x}")).collect();
        if let Some(want) = expected.sha256.as_ref().filter(|want| **want != digest) {
            return failed(format!(
                "the {done} bytes that arrived have sha256 {digest}, not the {want} the hub gave as the file's ETag; the download was cut short or altered"
            ));
        }
        tmp.as_file().sync_all().map_err(|e| self.repo.error(tmp.path(), e))?;
        tmp.persist(blob).map_err(|e| self.repo.error(blob, e.error))?;
        Ok(())
    }

    /// Points `snapshots/<commit>/<path>` at the blob: a relative symlink, or a copy where links
    /// cannot be made.
    fn link(&self, path: &str, etag: &str) -> Result<()> {
        let commit = self.commit.as_deref().expect("the commit is known before linking. This is a bug.");
        let blob = self.repo.blob(etag);
        let target = format!("{}blobs/{etag}", "../".repeat(path.split('/').count() + 1));
        self.repo.replace_with(&self.repo.snapshot(commit).join(path), |tmp| {
            #[cfg(unix)]
            let linked = std::os::unix::fs::symlink(&target, tmp).is_ok();
            #[cfg(windows)]
            let linked = std::os::windows::fs::symlink_file(target.replace('/', "\\"), tmp).is_ok();
            #[cfg(not(any(unix, windows)))]
            let linked = false;
            if linked {
                Ok(())
            } else {
                fs::copy(&blob, tmp).map(|_| ())
            }
        })
    }
}

fn network_error(url: &str, err: ureq::Error) -> Error {
    let reason = match err {
        ureq::Error::ConnectionFailed => "cannot connect".to_string(),
        ureq::Error::HostNotFound => "the host was not found".to_string(),
        ureq::Error::Timeout(what) => format!("timed out ({what})"),
        ureq::Error::Io(e) => e.to_string(),
        other => other.to_string(),
    };
    Error::Network { url: url.into(), reason }
}

/// An ETag as a blob name: without quotes and the weak-validator prefix.
fn etag_name(etag: &str) -> String {
    etag.trim().trim_start_matches("W/").trim_matches('"').to_string()
}

/// Percent-encodes `s` for a URL path, keeping `/` when `keep_slash` (a file path; a revision
/// such as `refs/pr/1` is one segment).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://host[:port]` of an http(s) URL.
fn origin(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (host_len > 0).then(|| &url[..url.len() - rest.len() + host_len])
}

/// `location` resolved against `base`: absolute, scheme-relative (`//host/…`) or host-relative
/// (`/path`), the forms redirects use.
fn join_url(base: &str, location: &str) -> Option<String> {
    if origin(location).is_some() {
        return Some(location.to_string());
    }
    let base_origin = origin(base)?;
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = &base_origin[..base_origin.find("//")?];
        return Some(format!("{scheme}//{rest}"));
    }
    if location.starts_with('/') {
        return Some(format!("{base_origin}{location}"));
    }
    let path = base.split(['?', '#']).next()?;
    let dir = &path[..path.rfind('/')? + 1];
    if dir.len() < base_origin.len() {
        return Some(format!("{base_origin}/{location}"));
    }
    Some(format!("{dir}{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
    fn module_paths_are_checked_and_required_files_listed() {
        let dir = tempfile::tempdir().unwrap();
        let write = |json: &str| std::fs::write(dir.path().join("modules.json"), json).unwrap();
        write(
            r#"[{"path":"","type":"sentence_transformers.models.Transformer"},
                {"path":"1_Pooling","type":"sentence_transformers.models.Pooling"},
                {"path":"2_Dense","type":"sentence_transformers.base.modules.dense.Dense"},
                {"path":"./3_Normalize","type":"sentence_transformers.models.Normalize"}]"#,
        );
        let files = module_files(dir.path()).unwrap();
        assert_eq!(
            files,
            vec![
                ("1_Pooling/config.json".to_string(), true),
                ("2_Dense/config.json".to_string(), true),
                ("2_Dense/model.safetensors".to_string(), true),
                ("3_Normalize/config.json".to_string(), false),
            ]
        );
        for bad in ["../../outside", "/abs", "a\\..\\b", "x/../../y"] {
            write(&serde_json::json!([{"path": bad, "type": "sentence_transformers.models.Pooling"}]).to_string());
            let err = module_files(dir.path()).unwrap_err();
            assert_eq!(err.code(), "ERR_MODEL_INVALID", "{bad}");
            assert!(err.to_string().contains("not a folder inside the model"), "{err}");
        }
    }

    fn settings(vars: &[(&str, &str)], options: HubOptions) -> Result<Settings> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::new(&options, &move |k| vars.get(k).map(OsString::from))
    }

    #[test]
    fn cache_folder_precedence() {
        let s = |vars: &[(&str, &str)]| settings(vars, HubOptions::default()).unwrap().cache_dir;
        assert_eq!(s(&[("HOME", "/home/u")]), Path::new("/home/u/.cache/huggingface/hub"));
        assert_eq!(s(&[("HOME", "/home/u"), ("XDG_CACHE_HOME", "/xdg")]), Path::new("/xdg/huggingface/hub"));
        assert_eq!(s(&[("HOME", "/home/u"), ("HF_HOME", "/hf")]), Path::new("/hf/hub"));
        assert_eq!(s(&[("HOME", "/home/u"), ("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/cache")]), Path::new("/cache"));
        let explicit = settings(&[("HF_HUB_CACHE", "/cache")], HubOptions::default().with_cache_dir(Some("/mine".into()))).unwrap();
        assert_eq!(explicit.cache_dir, Path::new("/mine"));
        assert_eq!(settings(&[], HubOptions::default()).unwrap_err().code(), "ERR_INVALID_OPTION");
    }

    #[test]
    fn endpoint_token_offline_and_revision_from_the_environment() {
        let s = settings(&[("HOME", "/h")], HubOptions::default()).unwrap();
        assert_eq!((s.endpoint.as_str(), s.token.as_deref(), s.offline, s.revision.as_str()), (DEFAULT_ENDPOINT, None, false, "main"));
        let s = settings(
            &[("HOME", "/h"), ("HF_ENDPOINT", "http://127.0.0.1:9/"), ("HF_TOKEN", "hf_x"), ("HF_HUB_OFFLINE", "ON")],
            HubOptions::default().with_revision(Some("v2".into())),
        )
        .unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.token.as_deref(), s.offline, s.revision.as_str()),
            ("http://127.0.0.1:9", Some("hf_x"), true, "v2")
        );
        assert!(!settings(&[("HOME", "/h"), ("HF_HUB_OFFLINE", "0")], HubOptions::default()).unwrap().offline);
        let err = settings(&[("HOME", "/h"), ("HF_ENDPOINT", "ftp://x")], HubOptions::default()).unwrap_err();
        assert!(err.to_string().contains("HF_ENDPOINT"), "{err}");
    }

    #[test]
    fn token_file_when_no_token_variable() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("token"), "hf_file\n").unwrap();
        let home = dir.path().to_str().unwrap();
        assert_eq!(settings(&[("HF_HOME", home)], HubOptions::default()).unwrap().token.as_deref(), Some("hf_file"));
        assert_eq!(settings(&[("HF_HOME", home), ("HF_TOKEN", "hf_env")], HubOptions::default()).unwrap().token.as_deref(), Some("hf_env"));
    }

    #[test]
    fn bad_environment_values_are_invalid_options_naming_the_variable() {
        let home = [("HOME", "/h")];
        for (var, value) in [
            ("HF_HUB_DOWNLOAD_TIMEOUT", "inf"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "1e20"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "NaN"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "0"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "-5"),
            ("HF_HUB_DOWNLOAD_TIMEOUT", "ten"),
            ("HF_HUB_OFFLINE", "maybe"),
            ("HF_ENDPOINT", "huggingface.co"),
            ("HF_ENDPOINT", "https://"),
            ("HF_ENDPOINT", "https://hub.example/x?y=1"),
            ("HF_ENDPOINT", "https://hub example"),
            ("HF_TOKEN", "hf_a\nInjected: 1"),
        ] {
            let err = settings(&[home[0], (var, value)], HubOptions::default()).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_OPTION", "{var}={value:?}");
            assert!(matches!(&err, Error::InvalidOption { option, .. } if *option == var), "{var}={value:?}: {err}");
        }
        let timeout = |v: &str| settings(&[home[0], ("HF_HUB_DOWNLOAD_TIMEOUT", v)], HubOptions::default()).unwrap().read_timeout;
        assert_eq!(timeout("2.5"), Duration::from_millis(2500));
        assert_eq!(timeout(" "), Duration::from_secs(10));
        assert!(!settings(&[home[0], ("HF_HUB_OFFLINE", "off")], HubOptions::default()).unwrap().offline);

        // not UTF-8
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let err = Settings::new(&HubOptions::default(), &|k| match k {
                "HOME" => Some("/h".into()),
                "HF_ENDPOINT" => Some(OsString::from_vec(vec![b'h', 0xff])),
                _ => None,
            })
            .unwrap_err();
            assert!(matches!(err, Error::InvalidOption { option: "HF_ENDPOINT", .. }), "{err}");
        }

        // a token file that exists but cannot be read; a missing one is no token, as in huggingface_hub
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_str().unwrap();
        let err = settings(&[home[0], ("HF_TOKEN_PATH", folder)], HubOptions::default()).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { option: "HF_TOKEN_PATH", .. }), "{err}");
        let missing = dir.path().join("no-token");
        assert_eq!(settings(&[home[0], ("HF_TOKEN_PATH", missing.to_str().unwrap())], HubOptions::default()).unwrap().token, None);

        // `~` is the home folder, as huggingface_hub expands it
        let s = settings(&[home[0], ("HF_HOME", "~/hf")], HubOptions::default()).unwrap();
        assert_eq!((s.cache_dir.as_path(), s.cache_option), (Path::new("/h/hf/hub"), "HF_HOME"));
        let err = settings(&[("HF_HUB_CACHE", "~/hub")], HubOptions::default()).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { option: "HF_HUB_CACHE", .. }), "{err}");
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
        let s = settings(&[("HF_HUB_CACHE", file.to_str().unwrap())], HubOptions::default().with_offline(Some(false))).unwrap();
        let repo = RepoCache { dir: s.cache_dir.join("models--a--b"), option: s.cache_option };
        let err = repo.write_ref("main", "0123").unwrap_err();
        assert!(matches!(err, Error::InvalidOption { option: "HF_HUB_CACHE", .. }), "{err}");
    }

    #[test]
    fn token_is_not_in_debug_output() {
        let options = HubOptions::default().with_token(Some("hf_secret".into()));
        assert!(!format!("{options:?}").contains("hf_secret"));
    }

    #[test]
    fn urls() {
        assert_eq!(encode("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(encode("onnx/model file.onnx", true), "onnx/model%20file.onnx");
        assert_eq!(origin("https://huggingface.co/a/b"), Some("https://huggingface.co"));
        assert_eq!(origin("http://127.0.0.1:8080"), Some("http://127.0.0.1:8080"));
        assert_eq!(origin("file:///x"), None);
        let base = "http://127.0.0.1:1/o/n/resolve/main/x.onnx";
        assert_eq!(join_url(base, "https://cdn.example/blob?sig=1").as_deref(), Some("https://cdn.example/blob?sig=1"));
        assert_eq!(join_url(base, "/api/x").as_deref(), Some("http://127.0.0.1:1/api/x"));
        assert_eq!(join_url(base, "//cdn.example/y").as_deref(), Some("http://cdn.example/y"));
        assert_eq!(join_url(base, "y.onnx").as_deref(), Some("http://127.0.0.1:1/o/n/resolve/main/y.onnx"));
        assert_eq!(etag_name("W/\"abc\""), "abc");
    }
}

//! Fetching a model's files, with our own small HTTP client on `ureq` (rustls, no OpenSSL) rather
//! than the `hf-hub` crate: hf-hub 1.x builds its blocking API on a tokio runtime, reqwest 0.13 and
//! hf-xet, a large tree for a few GETs; hf-hub 0.4's `ureq` client has no offline mode, ignores
//! `HF_HUB_CACHE`, joins file names onto cache paths unchecked, reports a body cut short as a plain
//! I/O error (not told apart from a full disk), and spends an extra range request per file on
//! metadata. The hub protocol we need is one GET per file:
//! `{endpoint}/{repo}/resolve/{revision}/{path}`, whose answer (or first redirect) carries
//! `X-Repo-Commit` and `ETag` / `X-Linked-Etag`.
//!
//! A body becomes a blob only once its size and sha256 match what the hub said of it; a download
//! can be cancelled, and one that stalls fails.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::cache::{is_safe_name, RepoCache};
use super::settings::Settings;
use super::url::{encode, join_url, origin};
use super::wanted::Wanted;
use super::DownloadProgress;
use crate::error::{Error, Result};
use crate::files::module_files;
use crate::files::CONFIG_FILES;

/// A download must bring at least this many bytes in every download-timeout window: a server
/// trickling a byte a second never trips a per-read timeout, yet never finishes either.
const MIN_BYTES_PER_WINDOW: u64 = 16 * 1024;

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

/// The downloads of one [`super::resolve`]: one agent, one repository, one commit.
pub(super) struct Download<'a, 'p> {
    settings: &'a Settings,
    id: &'a str,
    repo: RepoCache,
    agent: ureq::Agent,
    /// Known from `refs/` or from the first answer; later requests ask for this commit, so that
    /// every file comes from one snapshot even if the branch moves meanwhile.
    commit: Option<String>,
    progress: &'a mut DownloadProgress<'p>,
}

impl<'a, 'p> Download<'a, 'p> {
    pub(super) fn new(
        settings: &'a Settings,
        id: &'a str,
        repo: RepoCache,
        commit: Option<String>,
        progress: &'a mut DownloadProgress<'p>,
    ) -> Self {
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
        Download { settings, id, repo, agent, commit, progress }
    }

    /// Fetches what `wanted` needs into the snapshot of one commit; returns the snapshot folder.
    pub(super) fn run(mut self, wanted: &Wanted) -> Result<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_names() {
        assert_eq!(etag_name("W/\"abc\""), "abc");
    }
}

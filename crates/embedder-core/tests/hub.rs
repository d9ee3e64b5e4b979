//! Models by hub id against a local server speaking the hub's protocol: downloads into the hub
//! cache layout, cache hits without requests, offline mode, errors, interrupted downloads and
//! file names that try to leave the cache.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use common::*;
use embedder_core::hub::{self, HubOptions};
use embedder_core::{Dtype, Embedder, EmbedderOptions};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A repository the server holds: its files and what its answers say.
#[derive(Clone)]
struct Repo {
    commit: String,
    files: HashMap<String, Arc<Vec<u8>>>,
    /// Overrides the ETag of every file.
    etag: Option<String>,
}

impl Repo {
    /// The files of a shared model folder, except `skip`.
    fn from_model(name: &str, skip: &[&str]) -> Repo {
        fn walk(root: &Path, dir: &Path, out: &mut HashMap<String, Arc<Vec<u8>>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap().to_str().unwrap().replace('\\', "/");
                    out.insert(rel, Arc::new(std::fs::read(&path).unwrap()));
                }
            }
        }
        let root = model_dir(name);
        let mut files = HashMap::new();
        walk(&root, &root, &mut files);
        for s in skip {
            files.remove(*s);
        }
        Repo { commit: COMMIT.into(), files, etag: None }
    }
}

#[derive(Clone, Debug)]
struct Logged {
    path: String,
    authorization: Option<String>,
}

#[derive(Default)]
struct Behaviour {
    /// Answer 401 unless this Bearer token is sent.
    token: Option<String>,
    /// Redirect `.onnx` files to this CDN origin (another server), as the hub does for LFS files.
    cdn: Option<String>,
    /// Close the connection after this many bytes of the file with this path, once.
    cut: Option<(String, usize)>,
    /// With `cut`: send no `Content-Length` (the body ends when the connection closes).
    cut_without_length: bool,
    /// Announce this `Content-Length` for the file with this path, once, and send the whole file.
    short_length: Option<(String, usize)>,
    /// Send the file with this path one byte every interval (at most 100 bytes, then close).
    trickle: Option<(String, std::time::Duration)>,
}

/// A tiny HTTP/1.1 server: one request per connection, in the hub's URL layout
/// (`/{owner}/{name}/resolve/{revision}/{path}`) and, for a CDN, `/cdn/{etag}`.
struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Logged>>>,
    behaviour: Arc<Mutex<Behaviour>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn etag_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Server {
    fn start(repos: Vec<(&str, Repo)>) -> Server {
        let repos: Arc<HashMap<String, Repo>> = Arc::new(repos.into_iter().map(|(id, r)| (id.to_string(), r)).collect());
        let blobs: Arc<HashMap<String, Arc<Vec<u8>>>> =
            Arc::new(repos.values().flat_map(|r| r.files.values().map(|b| (etag_of(b), b.clone()))).collect());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, b, s) = (log.clone(), behaviour.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (repos, blobs, log, behaviour) = (repos.clone(), blobs.clone(), l.clone(), b.clone());
                std::thread::spawn(move || serve(stream, &repos, &blobs, &log, &behaviour));
            }
        });
        Server { addr, log, behaviour, stop, thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn paths(&self) -> Vec<String> {
        self.log.lock().unwrap().iter().map(|l| l.path.clone()).collect()
    }

    /// Closes the listening socket: a request after this is refused.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn serve(
    mut stream: TcpStream,
    repos: &HashMap<String, Repo>,
    blobs: &HashMap<String, Arc<Vec<u8>>>,
    log: &Mutex<Vec<Logged>>,
    behaviour: &Mutex<Behaviour>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    log.lock().unwrap().push(Logged { path: target.clone(), authorization: authorization.clone() });

    let respond = |stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]| {
        let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    };

    if let Some(etag) = target.strip_prefix("/cdn/") {
        match blobs.get(etag) {
            Some(bytes) => respond(&mut stream, "200 OK", &[("ETag", format!("\"cdn-{etag}\""))], bytes),
            None => respond(&mut stream, "404 Not Found", &[], b""),
        }
        return;
    }
    let parts: Vec<&str> = target.trim_start_matches('/').splitn(5, '/').collect();
    let [owner, name, "resolve", revision, path] = parts[..] else {
        return respond(&mut stream, "404 Not Found", &[], b"");
    };
    let b = behaviour.lock().unwrap();
    if let Some(token) = &b.token {
        if authorization.as_deref() != Some(&format!("Bearer {token}")) {
            return respond(&mut stream, "401 Unauthorized", &[("X-Error-Code", "GatedRepo".into())], b"");
        }
    }
    let Some(repo) = repos.get(&format!("{owner}/{name}")) else {
        return respond(&mut stream, "404 Not Found", &[("X-Error-Code", "RepoNotFound".into())], b"");
    };
    if !["main", "v1", repo.commit.as_str()].contains(&revision) {
        return respond(&mut stream, "404 Not Found", &[("X-Error-Code", "RevisionNotFound".into())], b"");
    }
    let commit = ("X-Repo-Commit", repo.commit.clone());
    let Some(bytes) = repo.files.get(path) else {
        return respond(&mut stream, "404 Not Found", &[commit, ("X-Error-Code", "EntryNotFound".into())], b"");
    };
    let etag = repo.etag.clone().unwrap_or_else(|| etag_of(bytes));
    if let (Some(cdn), true) = (&b.cdn, path.ends_with(".onnx")) {
        let headers = [
            commit,
            ("X-Linked-Etag", format!("\"{etag}\"")),
            ("X-Linked-Size", bytes.len().to_string()),
            ("Location", format!("{cdn}/cdn/{}", etag_of(bytes))),
        ];
        return respond(&mut stream, "302 Found", &headers, b"");
    }
    drop(b);
    let (cut, without_length, short, trickle) = {
        let mut b = behaviour.lock().unwrap();
        let cut = b.cut.take_if(|(p, _)| p == path).map(|(_, n)| n);
        let short = b.short_length.take_if(|(p, _)| p == path).map(|(_, n)| n);
        let trickle = b.trickle.clone().filter(|(p, _)| p == path).map(|(_, every)| every);
        (cut, b.cut_without_length, short, trickle)
    };
    let head = |length: Option<usize>| {
        let length = length.map(|n| format!("Content-Length: {n}\r\n")).unwrap_or_default();
        format!("HTTP/1.1 200 OK\r\n{length}X-Repo-Commit: {}\r\nETag: \"{etag}\"\r\nConnection: close\r\n\r\n", repo.commit)
    };
    match (cut, short, trickle) {
        // promise the whole file (or nothing), send part of it, and close
        (Some(n), _, _) => {
            let _ = stream.write_all(head((!without_length).then_some(bytes.len())).as_bytes());
            let _ = stream.write_all(&bytes[..n]);
            let _ = stream.flush();
            let _ = stream.shutdown(Shutdown::Both);
        }
        // promise less than the file and send all of it
        (None, Some(n), _) => {
            let _ = stream.write_all(head(Some(n)).as_bytes());
            let _ = stream.write_all(bytes);
            let _ = stream.shutdown(Shutdown::Both);
        }
        (None, None, Some(every)) => {
            let _ = stream.write_all(head(Some(bytes.len())).as_bytes());
            for byte in bytes.iter().take(100) {
                if stream.write_all(&[*byte]).and_then(|()| stream.flush()).is_err() {
                    break;
                }
                std::thread::sleep(every);
            }
            let _ = stream.shutdown(Shutdown::Both);
        }
        (None, None, None) => respond(&mut stream, "200 OK", &[commit, ("ETag", format!("\"{etag}\""))], bytes),
    }
}

fn options(server_url: &str, cache: &Path) -> HubOptions {
    HubOptions::default().with_endpoint(Some(server_url.into())).with_cache_dir(Some(cache.into())).with_offline(Some(false))
}

fn resolve(id: &str, options: &HubOptions, dtype: Dtype) -> embedder_core::Result<PathBuf> {
    hub::resolve(id, options, dtype, None, &mut |_, _, _| {})
}

fn embed(options: EmbedderOptions) -> Vec<f32> {
    Embedder::load(&options).expect("model loads").embed(&["a hub model", "", "the same vectors as the folder"], "").unwrap()
}

fn local_vectors(model: &str) -> Vec<f32> {
    embed(common::options(model))
}

/// Every file under `dir`, relative, with `/` separators.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(listing) = std::fs::read_dir(&d) else { continue };
        for entry in listing.flatten() {
            let p = entry.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_str().unwrap().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn downloads_only_needed_files_into_the_hub_cache_then_needs_no_server() {
    let mut server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.url(), cache.path());

    let mut reports: Vec<(u64, Option<u64>, String)> = Vec::new();
    let snapshot = hub::resolve("test/tiny-bert-cls", &opts, Dtype::Fp32, None, &mut |done, total, file| {
        reports.push((done, total, file.to_string()))
    })
    .unwrap();
    let repo_dir = cache.path().join("models--test--tiny-bert-cls");
    assert_eq!(snapshot, repo_dir.join("snapshots").join(COMMIT));
    assert_eq!(std::fs::read_to_string(repo_dir.join("refs/main")).unwrap(), COMMIT);

    let mut paths = server.paths();
    paths.sort();
    let want = [
        "1_Pooling/config.json",
        "config.json",
        "config_sentence_transformers.json",
        "modules.json",
        "onnx/model.onnx",
        "sentence_bert_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ];
    // the first request names the branch; the rest ask for the commit it resolved to
    let mut want: Vec<String> =
        want.iter().map(|p| format!("/test/tiny-bert-cls/resolve/{}/{p}", if *p == "config.json" { "main" } else { COMMIT })).collect();
    want.sort();
    assert_eq!(paths, want);

    // snapshot entries link to blobs named by ETag
    let onnx = snapshot.join("onnx/model.onnx");
    let original = std::fs::read(model_dir("tiny-bert-cls").join("onnx/model.onnx")).unwrap();
    assert_eq!(std::fs::read(&onnx).unwrap(), original);
    #[cfg(unix)]
    assert_eq!(std::fs::read_link(&onnx).unwrap(), Path::new("../../../blobs").join(etag_of(&original)));
    assert!(repo_dir.join("blobs").join(etag_of(&original)).is_file());
    let last = reports.iter().rfind(|r| r.2 == "onnx/model.onnx").unwrap();
    assert_eq!((last.0, last.1), (original.len() as u64, Some(original.len() as u64)));

    // the embedder loads the hub id and gives the folder's vectors
    let mut embedder_options = EmbedderOptions::new("test/tiny-bert-cls", runtime_library()).with_hub(opts.clone());
    assert_eq!(embed(embedder_options.clone()), local_vectors("tiny-bert-cls"));

    // everything cached: no request, even with the server gone, online or offline
    let requests = server.paths().len();
    server.stop();
    assert_eq!(resolve("test/tiny-bert-cls", &opts, Dtype::Fp32).unwrap(), snapshot);
    assert_eq!(embed(embedder_options.clone()), local_vectors("tiny-bert-cls"));
    embedder_options = embedder_options.with_hub(opts.clone().with_offline(Some(true)));
    assert_eq!(embed(embedder_options), local_vectors("tiny-bert-cls"));
    assert_eq!(server.paths().len(), requests);
}

#[test]
fn offline_without_a_snapshot_is_err_offline() {
    let cache = tempfile::tempdir().unwrap();
    let opts = options("http://127.0.0.1:9", cache.path()).with_offline(Some(true));
    let err = resolve("test/tiny-bert-cls", &opts, Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_OFFLINE");
    assert!(err.to_string().contains("test/tiny-bert-cls") && err.to_string().contains("HF_HUB_OFFLINE"), "{err}");

    // a snapshot without the file asked for is not enough either
    let server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    resolve("test/tiny-bert-cls", &options(&server.url(), cache.path()), Dtype::Fp32).unwrap();
    let opts = options(&server.url(), cache.path()).with_offline(Some(true));
    let before = server.paths().len();
    assert!(resolve("test/tiny-bert-cls", &opts, Dtype::Fp32).is_ok());
    let err = hub::resolve("test/tiny-bert-cls", &opts, Dtype::Fp32, Some("onnx/other.onnx"), &mut |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_OFFLINE");
    assert!(err.to_string().contains("onnx/other.onnx"), "{err}");
    assert_eq!(server.paths().len(), before);
}

#[test]
fn missing_repository_revision_or_file_is_err_model_not_found() {
    let server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.url(), cache.path());

    let err = resolve("test/no-such-model", &opts, Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_MODEL_NOT_FOUND");
    assert!(err.to_string().contains("repository test/no-such-model"), "{err}");

    let err = resolve("test/tiny-bert-cls", &opts.clone().with_revision(Some("v9".into())), Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_MODEL_NOT_FOUND");
    assert!(err.to_string().contains("revision `v9`"), "{err}");

    // a repository with no graph at all: q8 looks for the fp32 graph, then the shipped int8 file
    let server = Server::start(vec![("test/no-graph", Repo::from_model("tiny-bert-cls", &["onnx/model.onnx"]))]);
    let err = resolve("test/no-graph", &options(&server.url(), cache.path()), Dtype::Q8).unwrap_err();
    assert_eq!(err.code(), "ERR_MODEL_NOT_FOUND");
    let message = err.to_string();
    for part in ["test/no-graph", "revision main", "onnx/model.onnx", "onnx/model_quantized.onnx", "/model_quantized.onnx"] {
        assert!(message.contains(part), "{part} in {message}");
    }
    // q8 of a repository with only an fp32 graph fetches that graph, to derive from
    let snapshot = resolve("test/tiny-bert-cls", &opts, Dtype::Q8).unwrap();
    assert!(snapshot.join("onnx/model.onnx").is_file());

    let server = Server::start(vec![("test/no-tokenizer", Repo::from_model("tiny-bert-cls", &["tokenizer.json"]))]);
    let err = resolve("test/no-tokenizer", &options(&server.url(), cache.path()), Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_MODEL_NOT_FOUND");
    assert!(err.to_string().contains("`tokenizer.json` of test/no-tokenizer at revision main"), "{err}");
}

#[test]
fn token_goes_to_the_hub_only_and_401_is_err_auth() {
    let server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    let cdn = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    {
        let mut b = server.behaviour.lock().unwrap();
        b.token = Some("hf_secret".into());
        b.cdn = Some(cdn.url());
    }
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.url(), cache.path());

    let err = resolve("test/tiny-bert-cls", &opts.clone().with_token(Some("hf_wrong".into())), Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_AUTH");
    assert!(err.to_string().contains("401") && err.to_string().contains("HF_TOKEN"), "{err}");

    let snapshot = resolve("test/tiny-bert-cls", &opts.with_token(Some("hf_secret".into())), Dtype::Fp32).unwrap();
    let original = std::fs::read(model_dir("tiny-bert-cls").join("onnx/model.onnx")).unwrap();
    assert_eq!(std::fs::read(snapshot.join("onnx/model.onnx")).unwrap(), original);
    let hub_log = server.log.lock().unwrap().clone();
    assert!(hub_log.iter().skip(1).all(|l| l.authorization.as_deref() == Some("Bearer hf_secret")), "{hub_log:?}");
    let cdn_log = cdn.log.lock().unwrap().clone();
    assert_eq!(cdn_log.len(), 1, "{cdn_log:?}");
    assert_eq!(cdn_log[0].authorization, None);
}

#[test]
fn an_interrupted_download_leaves_no_file_and_a_retry_completes() {
    let server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    server.behaviour.lock().unwrap().cut = Some(("onnx/model.onnx".into(), 100_000));
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.url(), cache.path());

    let err = resolve("test/tiny-bert-cls", &opts, Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_NETWORK");
    assert!(err.to_string().contains(&format!("{}/test/tiny-bert-cls/resolve/{COMMIT}/onnx/model.onnx", server.url())), "{err}");
    let repo_dir = cache.path().join("models--test--tiny-bert-cls");
    let files = files_under(&repo_dir);
    assert!(!files.iter().any(|f| f.ends_with("model.onnx") || f.contains(".incomplete") || f.ends_with(".tmp")), "{files:?}");
    assert!(!repo_dir.join("refs/main").exists());

    let snapshot = resolve("test/tiny-bert-cls", &opts, Dtype::Fp32).unwrap();
    let original = std::fs::read(model_dir("tiny-bert-cls").join("onnx/model.onnx")).unwrap();
    assert_eq!(std::fs::read(snapshot.join("onnx/model.onnx")).unwrap(), original);
}

#[test]
fn a_refused_connection_is_err_network_naming_the_url() {
    let cache = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = resolve("test/tiny-bert-cls", &options(&url, cache.path()), Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_NETWORK");
    assert!(err.to_string().contains(&format!("{url}/test/tiny-bert-cls/resolve/main/config.json")), "{err}");
}

#[test]
fn only_missing_files_are_fetched_and_absent_optional_ones_are_remembered() {
    let server = Server::start(vec![("test/minimal", Repo::from_model("tiny-bert-cls", &["config_sentence_transformers.json"]))]);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.url(), cache.path());
    let snapshot = resolve("test/minimal", &opts, Dtype::Fp32).unwrap();
    let repo_dir = cache.path().join("models--test--minimal");
    assert!(repo_dir.join(".no_exist").join(COMMIT).join("config_sentence_transformers.json").is_file());

    // a snapshot that lost its graph (or that a Python tool filled without it) gets just that
    std::fs::remove_file(snapshot.join("onnx/model.onnx")).unwrap();
    let before = server.paths().len();
    assert_eq!(resolve("test/minimal", &opts, Dtype::Fp32).unwrap(), snapshot);
    assert_eq!(server.paths()[before..], [format!("/test/minimal/resolve/{COMMIT}/onnx/model.onnx")]);
}

#[test]
fn revisions_by_branch_and_by_commit() {
    let server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    let cache = tempfile::tempdir().unwrap();
    let opts = options(&server.url(), cache.path());
    let snapshot = resolve("test/tiny-bert-cls", &opts.clone().with_revision(Some("v1".into())), Dtype::Fp32).unwrap();
    let repo_dir = cache.path().join("models--test--tiny-bert-cls");
    assert_eq!(std::fs::read_to_string(repo_dir.join("refs/v1")).unwrap(), COMMIT);
    assert!(!repo_dir.join("refs/main").exists());
    // a commit needs no ref, and is in the cache already
    let before = server.paths().len();
    assert_eq!(resolve("test/tiny-bert-cls", &opts.with_revision(Some(COMMIT.into())), Dtype::Fp32).unwrap(), snapshot);
    assert_eq!(server.paths().len(), before);
}

#[test]
fn dense_modules_are_fetched_with_their_weights() {
    let server = Server::start(vec![("test/tiny-bert-dense", Repo::from_model("tiny-bert-dense", &[]))]);
    let cache = tempfile::tempdir().unwrap();
    let embedder_options = EmbedderOptions::new("test/tiny-bert-dense", runtime_library()).with_hub(options(&server.url(), cache.path()));
    assert_eq!(embed(embedder_options), local_vectors("tiny-bert-dense"));
    assert!(server.paths().iter().any(|p| p.ends_with("/2_Dense/model.safetensors")));
}

#[test]
fn file_names_never_leave_the_cache() {
    let root = tempfile::tempdir().unwrap();
    let cache = root.path().join("cache");

    let mut evil_modules = Repo::from_model("tiny-bert-cls", &[]);
    for path in ["../../../../outside", "/tmp/outside-abs", "a\\..\\..\\outside"] {
        let modules = format!(
            r#"[{{"path":"","type":"sentence_transformers.models.Transformer"}},{{"path":"{}","type":"sentence_transformers.models.Pooling"}}]"#,
            path.replace('\\', "\\\\")
        );
        evil_modules.files.insert("modules.json".into(), Arc::new(modules.into_bytes()));
        let server = Server::start(vec![("evil/modules", evil_modules.clone())]);
        let err = resolve("evil/modules", &options(&server.url(), &cache), Dtype::Fp32).unwrap_err();
        assert_eq!(err.code(), "ERR_MODEL_INVALID", "{path}: {err}");
        assert!(err.to_string().contains("modules.json"), "{err}");
        assert!(!server.paths().iter().any(|p| p.contains("outside")), "{path}");
    }

    let mut evil_commit = Repo::from_model("tiny-bert-cls", &[]);
    evil_commit.commit = "../../../escaped".into();
    let mut evil_etag = Repo::from_model("tiny-bert-cls", &[]);
    evil_etag.etag = Some("../../../escaped".into());
    let server = Server::start(vec![("evil/commit", evil_commit), ("evil/etag", evil_etag)]);
    let err = resolve("evil/commit", &options(&server.url(), &cache), Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_NETWORK");
    assert!(err.to_string().contains("X-Repo-Commit"), "{err}");
    let err = resolve("evil/etag", &options(&server.url(), &cache), Dtype::Fp32).unwrap_err();
    assert_eq!(err.code(), "ERR_NETWORK");
    assert!(err.to_string().contains("ETag"), "{err}");

    let opts = options(&server.url(), &cache);
    for (revision, model_file) in [(Some("../x"), None), (Some("a\\b"), None), (None, Some("../model.onnx")), (None, Some("/abs.onnx"))] {
        let err =
            hub::resolve("evil/etag", &opts.clone().with_revision(revision.map(String::from)), Dtype::Fp32, model_file, &mut |_, _, _| {})
                .unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_OPTION", "{revision:?} {model_file:?}");
    }

    assert_eq!(files_under(root.path()).iter().filter(|f| !f.starts_with("cache/")).count(), 0);
    assert!(files_under(&cache).iter().all(|f| !f.contains("escaped") && !f.contains("outside")));
}

#[test]
fn folders_win_over_hub_ids_and_other_values_stay_paths() {
    let opts = HubOptions::default().with_endpoint(Some("http://127.0.0.1:9".into())).with_offline(Some(true));
    let folder = model_dir("tiny-bert-cls");
    assert_eq!(hub::model_folder(&folder, &opts, Dtype::Fp32, None, &mut |_, _, _| {}).unwrap(), folder);
    assert_eq!(
        hub::model_folder(Path::new("/no/such/model"), &opts, Dtype::Fp32, None, &mut |_, _, _| {}).unwrap(),
        Path::new("/no/such/model")
    );
    let err = Embedder::load(&EmbedderOptions::new("/no/such/model", runtime_library())).err().unwrap();
    assert_eq!(err.code(), "ERR_MODEL_NOT_FOUND");
    // `owner/name` that is no folder goes to the hub; when that fails, the error says there is no
    // such folder either
    let cwd = std::env::current_dir().unwrap();
    let err = hub::model_folder(Path::new("models/x"), &opts, Dtype::Fp32, None, &mut |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_OFFLINE");
    assert!(err.to_string().contains(&format!("no folder {}", cwd.join("models/x").display())), "{err}");
    let refused = opts.clone().with_offline(Some(false));
    let err = hub::model_folder(Path::new("models/x"), &refused, Dtype::Fp32, None, &mut |_, _, _| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_NETWORK");
    assert!(err.to_string().contains(&format!("no folder {}", cwd.join("models/x").display())), "{err}");
}

/// The blob of `file` of tiny-bert-cls in `cache`, and any temporary file left beside the blobs.
fn blob_and_leftovers(cache: &Path, repo: &str, file: &str) -> (PathBuf, Vec<String>) {
    let original = std::fs::read(model_dir("tiny-bert-cls").join(file)).unwrap();
    let repo_dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    let leftovers = files_under(&repo_dir).into_iter().filter(|f| f.contains(".incomplete") || f.ends_with(".tmp")).collect();
    (repo_dir.join("blobs").join(etag_of(&original)), leftovers)
}

#[test]
fn a_body_cut_short_without_length_or_longer_than_announced_never_becomes_a_blob() {
    let original = std::fs::read(model_dir("tiny-bert-cls").join("onnx/model.onnx")).unwrap();
    for case in ["cut without Content-Length", "Content-Length smaller than the body"] {
        let server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
        {
            let mut b = server.behaviour.lock().unwrap();
            if case.starts_with("cut") {
                b.cut = Some(("onnx/model.onnx".into(), 100_000));
                b.cut_without_length = true;
            } else {
                b.short_length = Some(("onnx/model.onnx".into(), 100_000));
            }
        }
        let cache = tempfile::tempdir().unwrap();
        let opts = options(&server.url(), cache.path());
        let err = resolve("test/tiny-bert-cls", &opts, Dtype::Fp32).unwrap_err();
        assert_eq!(err.code(), "ERR_NETWORK", "{case}: {err}");
        assert!(err.to_string().contains("onnx/model.onnx") && err.to_string().contains("sha256"), "{case}: {err}");
        let (blob, leftovers) = blob_and_leftovers(cache.path(), "test/tiny-bert-cls", "onnx/model.onnx");
        assert!(!blob.exists(), "{case}: the cut file was kept as a blob");
        assert_eq!(leftovers, Vec::<String>::new(), "{case}");

        // the hub is healthy again: the next load downloads the file and works
        let snapshot = resolve("test/tiny-bert-cls", &opts, Dtype::Fp32).unwrap();
        assert_eq!(std::fs::read(snapshot.join("onnx/model.onnx")).unwrap(), original, "{case}");
        let embedder_options = EmbedderOptions::new("test/tiny-bert-cls", runtime_library()).with_hub(opts);
        assert_eq!(embed(embedder_options), local_vectors("tiny-bert-cls"), "{case}");
    }
}

#[test]
fn a_cancelled_download_stops_after_its_next_read_and_leaves_nothing() {
    let server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    server.behaviour.lock().unwrap().trickle = Some(("onnx/model.onnx".into(), std::time::Duration::from_millis(100)));
    let cache = tempfile::tempdir().unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let opts = options(&server.url(), cache.path()).with_cancel(Some(cancel.clone()));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let download = std::thread::spawn(move || {
        hub::resolve("test/tiny-bert-cls", &opts, Dtype::Fp32, None, &mut |done, _, file| {
            if file == "onnx/model.onnx" && done > 0 {
                let _ = started_tx.send(());
            }
        })
    });
    started_rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the download starts");
    let cancelled_at = std::time::Instant::now();
    cancel.store(true, Ordering::SeqCst);
    let err = download.join().unwrap().unwrap_err();
    assert!(cancelled_at.elapsed() < std::time::Duration::from_secs(2), "{:?}", cancelled_at.elapsed());
    assert_eq!(err.code(), "ERR_ABORTED", "{err}");
    let (blob, leftovers) = blob_and_leftovers(cache.path(), "test/tiny-bert-cls", "onnx/model.onnx");
    assert!(!blob.exists());
    assert_eq!(leftovers, Vec::<String>::new());
}

#[cfg(unix)]
#[test]
fn blobs_are_as_readable_as_other_files_the_process_writes() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start(vec![("test/tiny-bert-cls", Repo::from_model("tiny-bert-cls", &[]))]);
    let cache = tempfile::tempdir().unwrap();
    resolve("test/tiny-bert-cls", &options(&server.url(), cache.path()), Dtype::Fp32).unwrap();
    // a file written the ordinary way gets 0666 less the umask
    let reference = cache.path().join("reference");
    std::fs::write(&reference, b"").unwrap();
    let want = std::fs::metadata(&reference).unwrap().permissions().mode() & 0o777;
    assert_ne!(want & 0o044, 0, "this test needs a umask that lets others read (such as 022), not {want:o}");
    let blobs = cache.path().join("models--test--tiny-bert-cls/blobs");
    for entry in std::fs::read_dir(&blobs).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, want, "{} is {mode:o}, not {want:o}", entry.path().display());
    }
}

#[test]
fn static_models_fetch_their_token_table_and_tokenizer_only() {
    let st = Repo::from_model("static-minilm-256", &[]);
    let m2v = Repo::from_model("static-minilm-256/model2vec", &[]);
    let server = Server::start(vec![("test/static", st), ("test/static-m2v", m2v)]);
    let cache = tempfile::tempdir().unwrap();
    let hub = options(&server.url(), cache.path());
    let no_runtime = |id: &str| EmbedderOptions::new(id, "/nonexistent/libonnxruntime.so.1").with_hub(hub.clone());
    for (id, local, wanted) in [
        (
            "test/static",
            model_dir("static-minilm-256"),
            vec![
                "0_StaticEmbedding/model.safetensors",
                "0_StaticEmbedding/tokenizer.json",
                "config_sentence_transformers.json",
                "modules.json",
            ],
        ),
        (
            "test/static-m2v",
            model_dir("static-minilm-256/model2vec"),
            vec!["config.json", "model.safetensors", "modules.json", "tokenizer.json"],
        ),
    ] {
        let hub_vectors = embed(no_runtime(id));
        let snapshot = cache.path().join(format!("models--{}", id.replace('/', "--"))).join("snapshots").join(COMMIT);
        assert_eq!(files_under(&snapshot), wanted, "{id}");
        assert_eq!(hub_vectors, embed(EmbedderOptions::new(local, "/nonexistent/libonnxruntime.so.1")), "{id}");
        // a second load finds everything in the cache
        let before = server.paths().len();
        embed(no_runtime(id));
        assert_eq!(server.paths().len(), before, "{id}");
    }
}

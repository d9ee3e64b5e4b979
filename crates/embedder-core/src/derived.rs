//! What this crate derives from a model's files and keeps for the next load: the content hash that
//! names a file (so two copies of a model anywhere share what is derived from it and the cache
//! entries of its vectors), and the int8 graph of `dtype: 'q8'`.
//!
//! Where derived files go: beside the model's hub cache entry (`models--owner--name/derived/`) for
//! a hub model, else the cache folder `RAG_NATIVE_CACHE`, else `$XDG_CACHE_HOME/rag-native`, else
//! `~/.cache/rag-native`. Never inside a model folder, which may be read-only or shared.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::files::{open_model_file, FileKind};
use crate::onnx;

/// The cache folder for files derived from local models.
pub fn local_cache_root() -> Option<PathBuf> {
    let var = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("RAG_NATIVE_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("rag-native")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("rag-native")))
}

/// Where files derived from `file` go: `<repo>/derived` when `file` is in a hub cache snapshot
/// (`…/models--owner--name/snapshots/<commit>/…`), else the local cache folder.
pub fn cache_root_for(file: &Path) -> Option<PathBuf> {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d.file_name().is_some_and(|n| n == "snapshots") {
            if let Some(repo) = d.parent().filter(|r| r.file_name().is_some_and(|n| n.to_string_lossy().starts_with("models--"))) {
                return Some(repo.join("derived"));
            }
        }
        dir = d.parent();
    }
    local_cache_root()
}

/// The sha256 of a file's content, as hex. A hub blob is named by its sha256 (checked when it was
/// downloaded) and is not read again; another file is hashed once and remembered under `memo`
/// by path, size, modification and change times and inode, so a load reads it again only when it
/// changed.
pub fn content_sha256(path: &Path, memo: Option<&Path>) -> Result<String> {
    let resolved = std::fs::canonicalize(path).map_err(|e| Error::invalid(path, e))?;
    if let Some(name) = resolved.file_name().and_then(|n| n.to_str()) {
        let in_blobs = resolved.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "blobs");
        if in_blobs && name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(name.to_ascii_lowercase());
        }
    }
    let meta = std::fs::metadata(&resolved).map_err(|e| Error::invalid(path, e))?;
    let stamp = file_stamp(&meta);
    // small files (configs, vocabularies) cost less to hash than to look up
    let memo = memo.filter(|_| meta.len() >= MEMO_MIN_BYTES);
    let memo_file = memo.map(|root| root.join("hashes").join(hex(&Sha256::digest(resolved.as_os_str().as_encoded_bytes()))));
    if let Some(memo_file) = &memo_file {
        if let Ok(text) = std::fs::read_to_string(memo_file) {
            if let Some((recorded, hash)) = text.trim().rsplit_once(' ') {
                if recorded == stamp && hash.len() == 64 {
                    return Ok(hash.to_string());
                }
            }
        }
    }
    let (mut file, _) = open_model_file(&resolved, FileKind::Weights)?
        .ok_or_else(|| Error::ModelNotFound { what: "model file".into(), looked_at: vec![path.into()] })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| Error::invalid(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    let hash = hex(&hasher.finalize());
    if let Some(memo_file) = &memo_file {
        // a memo that cannot be written costs only a hash at the next load
        let _ = write_small_file(memo_file, &format!("{stamp} {hash}\n"));
    }
    Ok(hash)
}

const MEMO_MIN_BYTES: u64 = 1 << 20;

fn file_stamp(meta: &std::fs::Metadata) -> String {
    let modified = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    // the inode change time too: tools that copy a file in place can keep its modification time
    // (cp -p, tar, rsync -t), but nothing but the kernel sets ctime
    #[cfg(unix)]
    let (inode, changed) = {
        use std::os::unix::fs::MetadataExt;
        (meta.ino(), (meta.ctime() as i128) * 1_000_000_000 + meta.ctime_nsec() as i128)
    };
    #[cfg(not(unix))]
    let (inode, changed) = (0u64, 0i128);
    format!("{}:{modified}:{inode}:{changed}", meta.len())
}

fn write_small_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".memo-");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir)?;
    file.write_all(text.as_bytes())?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The folders a kept file may be in, in order: `root`, then, when `root` is the `derived/`
/// folder of a hub cache entry, the local cache folder, so a hub cache this user cannot write (a
/// shared one) still gets its derived files kept, in the user's own folder.
fn kept_roots(root: Option<&Path>) -> Vec<PathBuf> {
    let in_hub_cache = root.and_then(Path::parent).and_then(Path::file_name).is_some_and(|n| n.to_string_lossy().starts_with("models--"));
    let fallback = if in_hub_cache || root.is_none() { local_cache_root() } else { None };
    let mut roots: Vec<PathBuf> = root.map(Path::to_path_buf).into_iter().chain(fallback).collect();
    roots.dedup();
    roots
}

/// `name` kept under one of the roots by an earlier load.
pub fn find_kept(root: Option<&Path>, name: &str) -> Option<PathBuf> {
    kept_roots(root).into_iter().map(|r| r.join(name)).find(|p| p.is_file())
}

/// Writes `model` as `name` under the first root that takes it, else to a temporary file;
/// returns where, and whether it is temporary (to delete once loaded).
pub fn keep(model: &onnx::proto::ModelProto, root: Option<&Path>, name: &str, what: &str) -> Result<(PathBuf, bool)> {
    for r in kept_roots(root) {
        let path = r.join(name);
        if onnx::write_atomic(model, &path).is_ok() {
            return Ok((path, false));
        }
    }
    let path = std::env::temp_dir().join(format!("rag-native-{}-{name}", std::process::id()));
    onnx::write_atomic(model, &path)
        .map_err(|e| Error::Runtime(format!("cannot write {what} (no writable cache folder: set RAG_NATIVE_CACHE): {e}")))?;
    Ok((path, true))
}

/// The int8 graph derived from an fp32 graph, ready to load.
#[derive(Clone, Debug)]
pub struct DerivedGraph {
    pub path: PathBuf,
    /// The fp32 graph's sha256.
    pub source_sha256: String,
    /// Whether this load derived it (false: an earlier load had, and it was read back).
    pub derived_now: bool,
    /// A file in the system's temporary folder, to delete once loaded (no cache folder was writable).
    pub temporary: bool,
}

/// The name the int8 graph of a source is kept under: named by the fp32 graph's content
/// and the derivation, so that any copy of the graph finds it and a new derivation makes a new file.
pub fn q8_name(source_sha256: &str) -> String {
    format!("{source_sha256}.{}.onnx", onnx::q8::DERIVATION)
}

/// The int8 graph of the fp32 graph `source`: the kept file when an earlier load derived it,
/// else derived now and written atomically to the cache folder (or, when no cache folder is
/// writable, to a temporary file).
pub fn q8_graph(source: &Path, root: Option<&Path>) -> Result<DerivedGraph> {
    let source_sha256 = content_sha256(source, root)?;
    let name = q8_name(&source_sha256);
    if let Some(path) = find_kept(root, &name) {
        return Ok(DerivedGraph { path, source_sha256, derived_now: false, temporary: false });
    }
    let mut model = onnx::read(source)?;
    onnx::q8::derive(&mut model).map_err(|reason| Error::invalid(source, format!("cannot derive its int8 graph: {reason}")))?;
    let (path, temporary) = keep(&model, root, &name, &format!("the int8 graph derived from {}", source.display()))?;
    Ok(DerivedGraph { path, source_sha256, derived_now: true, temporary })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_that_cannot_be_written_falls_back_to_the_local_cache_folder() {
        let dir = tempfile::tempdir().unwrap();
        let blocked = dir.path().join("a-file");
        std::fs::write(&blocked, b"").unwrap();
        let model = onnx::proto::ModelProto { graph: Some(Default::default()), ..Default::default() };
        let name = format!("test-{}.onnx", std::process::id());
        let hub_entry = blocked.join("models--o--n").join("derived");
        let (path, temporary) = keep(&model, Some(&hub_entry), &name, "a test graph").unwrap();
        let local = local_cache_root();
        assert!(!temporary || local.is_none(), "kept in {}", path.display());
        if let Some(local) = local {
            assert_eq!(path, local.join(&name));
            assert_eq!(find_kept(Some(&hub_entry), &name), Some(path.clone()));
        }
        let _ = std::fs::remove_file(&path);
        // a folder chosen explicitly is the only place looked in, then a temporary file
        let (path, temporary) = keep(&model, Some(&blocked.join("derived")), &name, "a test graph").unwrap();
        assert!(temporary && path.starts_with(std::env::temp_dir()), "{}", path.display());
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn hub_snapshots_keep_derived_files_beside_the_repository_entry() {
        let file = Path::new("/c/hub/models--o--n/snapshots/abc/onnx/model.onnx");
        assert_eq!(cache_root_for(file), Some(PathBuf::from("/c/hub/models--o--n/derived")));
    }

    #[test]
    fn content_hashes_are_remembered_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let memo = dir.path().join("cache");
        let file = dir.path().join("model.onnx");
        let big = vec![7u8; MEMO_MIN_BYTES as usize];
        std::fs::write(&file, &big).unwrap();
        let hash = hex(&Sha256::digest(&big));
        assert_eq!(content_sha256(&file, Some(&memo)).unwrap(), hash);
        assert_eq!(std::fs::read_dir(memo.join("hashes")).unwrap().count(), 1);
        // a memo is trusted while size, time and inode match...
        let memo_file = std::fs::read_dir(memo.join("hashes")).unwrap().next().unwrap().unwrap().path();
        let text = std::fs::read_to_string(&memo_file).unwrap();
        std::fs::write(&memo_file, text.replace(&hash, &"0".repeat(64))).unwrap();
        assert_eq!(content_sha256(&file, Some(&memo)).unwrap(), "0".repeat(64));
        // ...and a changed file is hashed again
        let mut changed = big.clone();
        changed.push(1);
        std::fs::write(&file, &changed).unwrap();
        assert_eq!(content_sha256(&file, Some(&memo)).unwrap(), hex(&Sha256::digest(&changed)));
        // a file rewritten in place with its old size and modification time is hashed again
        let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
        let mut same_size = changed.clone();
        same_size[0] ^= 1;
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, &same_size).unwrap();
        std::fs::File::options().write(true).open(&file).unwrap().set_modified(modified).unwrap();
        assert_eq!(content_sha256(&file, Some(&memo)).unwrap(), hex(&Sha256::digest(&same_size)));
        // a small file is hashed each time, with no memo
        let small = dir.path().join("config.json");
        std::fs::write(&small, b"abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(content_sha256(&small, Some(&memo)).unwrap(), abc);
        assert_eq!(std::fs::read_dir(memo.join("hashes")).unwrap().count(), 1);
        // a hub blob is named by its hash
        let blobs = dir.path().join("blobs");
        std::fs::create_dir(&blobs).unwrap();
        std::fs::write(blobs.join(abc), b"not read").unwrap();
        assert_eq!(content_sha256(&blobs.join(abc), None).unwrap(), abc);
    }
}

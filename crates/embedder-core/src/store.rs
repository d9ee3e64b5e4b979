//! The disk tier of the cache: SQLite in WAL mode, so several processes can share one file.
//! Each row carries a checksum of its key and vector; a row that fails it is dropped, never
//! returned.
//!
//! The file is opened lazily, off the JavaScript thread, and never waited on for long: a file that
//! is busy (locked by another connection) is bypassed and tried again later, the cache working from
//! memory meanwhile. A path that is not ours (a folder, a text file, another program's database) is
//! refused and never touched; only a file provably ours (our `application_id`, or our schema) and
//! failing its integrity check is moved aside and rebuilt.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::cache_key::{Key, Vector};
use crate::error::{Error, Result};

/// `PRAGMA application_id` of our cache files ("EmbC"): it marks a file as ours in its header.
const APPLICATION_ID: u32 = 0x456d_6243;

/// How long one statement waits for another connection's lock (always off the JavaScript thread).
/// Transactions of other cache users last milliseconds; a lock held longer means the file is busy.
const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

/// After failures, the disk tier is skipped before it is tried again: 2× this after the first, doubling
/// up to [`MAX_RETRY_AFTER`], so a file locked for good costs one wait in a while, not one per call.
const RETRY_AFTER: Duration = Duration::from_millis(100);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

/// The columns of our `vectors` table, in order.
const COLUMNS: [&str; 4] = ["key", "dim", "data", "checksum"];

fn checksum(key: &Key, data: &[u8]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(data);
    let digest = h.finalize();
    digest[..8].try_into().expect("sha256 has 32 bytes")
}

/// What an existing file is, as far as can be told without waiting on a lock.
#[derive(Debug, PartialEq)]
enum Owner {
    /// Ours (or an empty database that holds nothing to lose).
    Ours,
    /// Not ours: never opened for writing, never moved.
    Foreign(String),
    /// A database without our `application_id` whose schema cannot be read now (it is locked).
    Unknown,
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

/// Reads the file's header (and, for a database without an application id, its schema).
fn owner_of(path: &Path) -> std::io::Result<Owner> {
    let mut header = Vec::with_capacity(100);
    std::fs::File::open(path)?.take(100).read_to_end(&mut header)?;
    if header.is_empty() {
        return Ok(Owner::Ours);
    }
    if header.len() < 100 || &header[..16] != b"SQLite format 3\0" {
        return Ok(Owner::Foreign("it is not a SQLite database".into()));
    }
    let application_id = u32::from_be_bytes(header[68..72].try_into().expect("4 bytes"));
    if application_id == APPLICATION_ID {
        return Ok(Owner::Ours);
    }
    if application_id != 0 {
        return Ok(Owner::Foreign(format!("it is a SQLite database of another program (application id {application_id:#x})")));
    }
    // files written before the application id was set: ours if the schema is ours
    let schema = || -> rusqlite::Result<Owner> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        conn.busy_timeout(Duration::ZERO)?;
        let mut tables = conn.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")?;
        let names = tables.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        if names.is_empty() {
            return Ok(Owner::Ours);
        }
        if names != ["vectors"] {
            return Ok(Owner::Foreign(format!("it is a SQLite database of another program (tables {})", names.join(", "))));
        }
        let mut info = conn.prepare("SELECT name FROM pragma_table_info('vectors') ORDER BY cid")?;
        let columns = info.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<Vec<_>>>()?;
        if columns != COLUMNS {
            return Ok(Owner::Foreign(format!("its `vectors` table is another program's (columns {})", columns.join(", "))));
        }
        Ok(Owner::Ours)
    };
    Ok(match schema() {
        Ok(owner) => owner,
        Err(e) if is_busy(&e) => Owner::Unknown,
        Err(e) => Owner::Foreign(format!("it is a SQLite database this package cannot read ({e})")),
    })
}

/// Opens our file, creating and marking it if needed, and checks its integrity.
fn open_checked(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let application_id: i64 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let exists: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'vectors')", [], |r| r.get(0))?;
    // only written when missing, so that a file we may only read still serves reads
    if application_id as u32 != APPLICATION_ID || !exists {
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
            CREATE TABLE IF NOT EXISTS vectors (
                key BLOB PRIMARY KEY,
                dim INTEGER NOT NULL,
                data BLOB NOT NULL,
                checksum BLOB NOT NULL
            ) WITHOUT ROWID;
            PRAGMA application_id = {};
            COMMIT;",
            APPLICATION_ID as i32
        ))?;
    }
    let verdict: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if verdict != "ok" {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!("integrity check failed: {verdict}")),
        ));
    }
    Ok(conn)
}

struct Connected {
    conn: Option<Connection>,
    /// No attempt on the file before this instant (after a failure).
    retry_at: Option<Instant>,
    /// Failures in a row.
    failures: u32,
    /// The file turned out not to be ours (it was replaced, or was locked when first looked at).
    refused: bool,
}

pub struct VectorStore {
    path: PathBuf,
    connected: Mutex<Connected>,
    /// Operations that could not use the file (the cache then worked from memory).
    errors: AtomicU64,
    /// Warnings not yet handed to the caller, and the kinds already given (each is given once).
    warnings: Mutex<(Vec<String>, HashSet<&'static str>)>,
}

impl VectorStore {
    /// Checks `path` without waiting on any lock: a folder, or an existing file that is not ours, is
    /// [`Error::InvalidOption`] and is left untouched. The file is opened on first use.
    pub fn open(path: &Path) -> Result<Self> {
        // SQLite opens "" as a private temporary database and ":memory:" as an in-memory one:
        // nothing would persist
        if path.as_os_str().is_empty() || path == Path::new(":memory:") {
            return Err(Error::InvalidOption {
                option: "persist.path",
                reason: format!(
                    "must name a file, got '{}' (SQLite's name for a private database that nothing persists to); give the path of a cache file of this package, or of a file to create",
                    path.display()
                ),
            });
        }
        let refuse = |reason: String| Error::InvalidOption {
            option: "persist.path",
            reason: format!("{} {reason}; give the path of a cache file of this package, or of a file to create", path.display()),
        };
        let store = VectorStore {
            path: path.to_path_buf(),
            connected: Mutex::new(Connected { conn: None, retry_at: None, failures: 0, refused: false }),
            errors: AtomicU64::new(0),
            warnings: Mutex::new((Vec::new(), HashSet::new())),
        };
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => return Err(refuse("is a folder".into())),
            Ok(meta) if !meta.is_file() => return Err(refuse("is not a regular file".into())),
            Ok(_) => match owner_of(path) {
                Ok(Owner::Foreign(why)) => return Err(refuse(format!("is not a cache file of this package: {why}"))),
                Ok(Owner::Ours | Owner::Unknown) => {}
                Err(e) => store
                    .warn("unreadable", format!("cache file {} cannot be read ({e}); working from memory until it can", path.display())),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    if let Err(e) = std::fs::create_dir_all(parent) {
                        store.warn("folder", format!("cache file {}: cannot create its folder ({e}); working from memory", path.display()));
                    }
                }
            }
            Err(e) => {
                store.warn("unreadable", format!("cache file {} cannot be read ({e}); working from memory until it can", path.display()))
            }
        }
        Ok(store)
    }

    /// Operations that could not use the file so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Warnings since the last call, each kind of problem reported once.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.lock().unwrap_or_else(|p| p.into_inner()).0)
    }

    fn warn(&self, kind: &'static str, message: String) {
        let mut warnings = self.warnings.lock().unwrap_or_else(|p| p.into_inner());
        if warnings.1.insert(kind) {
            warnings.0.push(message);
        }
    }

    /// Records a failed operation: counted, warned about once per kind, and the file skipped for a while.
    fn failed(&self, connected: &mut Connected, what: &str, e: &rusqlite::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        connected.failures = connected.failures.saturating_add(1);
        let wait = RETRY_AFTER.saturating_mul(1 << connected.failures.min(8)).min(MAX_RETRY_AFTER);
        connected.retry_at = Some(Instant::now() + wait);
        if is_busy(e) {
            self.warn(
                "busy",
                format!("cache file {} is locked by another connection ({e}); working from memory until it is free", self.path.display()),
            );
        } else {
            self.warn("failed", format!("cache file {}: {what} failed ({e}); working from memory where it fails", self.path.display()));
        }
    }

    /// Runs `f` on the connection, opening the file first if needed; `None` (counted) when the
    /// file cannot be used now.
    fn with_conn<T>(&self, what: &str, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Option<T> {
        let mut guard = self.connected.lock().unwrap_or_else(|p| p.into_inner());
        let connected = &mut *guard;
        if connected.refused || connected.retry_at.is_some_and(|at| Instant::now() < at) {
            self.errors.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        if connected.conn.is_none() {
            match self.connect() {
                Ok(Some(conn)) => connected.conn = Some(conn),
                Ok(None) => {
                    connected.refused = true;
                    self.errors.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                Err(e) => {
                    self.failed(connected, "opening it", &e);
                    return None;
                }
            }
        }
        let conn = connected.conn.as_mut().expect("connected above");
        match f(conn) {
            Ok(value) => {
                connected.retry_at = None;
                connected.failures = 0;
                Some(value)
            }
            Err(e) => {
                self.failed(connected, what, &e);
                None
            }
        }
    }

    /// Opens the file. `Ok(None)`: it is not ours (never touched). A file of ours that fails its
    /// integrity check is moved aside as `<name>.corrupt-<pid>` and rebuilt.
    fn connect(&self) -> rusqlite::Result<Option<Connection>> {
        let path = &self.path;
        match owner_of(path) {
            Ok(Owner::Foreign(why)) => {
                self.warn(
                    "foreign",
                    format!(
                        "cache file {} is not a cache file of this package ({why}); it is left alone and the cache works from memory",
                        path.display()
                    ),
                );
                return Ok(None);
            }
            Ok(Owner::Unknown) => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("database is locked".into()),
                ))
            }
            Ok(Owner::Ours) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
                self.warn(
                    "foreign",
                    format!("cache file {} is now a folder; it is left alone and the cache works from memory", path.display()),
                );
                return Ok(None);
            }
            Err(e) => {
                return Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN), Some(e.to_string())))
            }
        }
        match open_checked(path) {
            Err(e) if is_corrupt(&e) => {
                let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
                self.warn("corrupt", format!("cache file {} is damaged ({e}); moved to {} and rebuilt", path.display(), aside.display()));
                std::fs::rename(path, &aside).map_err(|io| {
                    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN), Some(io.to_string()))
                })?;
                for suffix in ["-wal", "-shm"] {
                    let mut side = path.as_os_str().to_owned();
                    side.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(side));
                }
                open_checked(path).map(Some)
            }
            other => other.map(Some),
        }
    }

    /// The stored vectors for `keys`; `None` for absent keys, for rows that fail their checksum
    /// (those rows are deleted) and when the file cannot be read now.
    pub fn get_many(&self, keys: &[Key]) -> Vec<Option<Vector>> {
        self.with_conn("reading it", |conn| {
            let mut select = conn.prepare_cached("SELECT dim, data, checksum FROM vectors WHERE key = ?1")?;
            let mut bad = Vec::new();
            let mut found = Vec::with_capacity(keys.len());
            for key in keys {
                let row: Option<(i64, Vec<u8>, Vec<u8>)> =
                    select.query_row(params![&key[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
                found.push(row.and_then(|(dim, data, check)| {
                    if dim <= 0 || data.len() != dim as usize * 4 || check[..] != checksum(key, &data) {
                        bad.push(*key);
                        return None;
                    }
                    Some(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect::<Vector>())
                }));
            }
            drop(select);
            for key in bad {
                // a read-only or busy file keeps the row; it is never returned anyway
                let _ = conn.execute("DELETE FROM vectors WHERE key = ?1", params![&key[..]]);
            }
            Ok(found)
        })
        .unwrap_or_else(|| vec![None; keys.len()])
    }

    /// Stores vectors in one transaction: all of them or none. Returns whether they were stored.
    pub fn put_many(&self, entries: &[(Key, Vector)]) -> bool {
        self.with_conn("writing to it", |conn| {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached("INSERT OR REPLACE INTO vectors (key, dim, data, checksum) VALUES (?1, ?2, ?3, ?4)")?;
                for (key, vector) in entries {
                    let data: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                    insert.execute(params![&key[..], vector.len() as i64, &data, &checksum(key, &data)[..]])?;
                }
            }
            tx.commit()
        })
        .is_some()
    }

    pub fn clear(&self) -> Result<()> {
        let cleared = self.with_conn("clearing it", |conn| conn.execute("DELETE FROM vectors", []).map(|_| ()));
        cleared.ok_or_else(|| Error::Runtime(format!("cache file {}: cannot clear it now (it is locked or unusable)", self.path.display())))
    }

    pub fn len(&self) -> usize {
        self.with_conn("counting its rows", |conn| conn.query_row("SELECT COUNT(*) FROM vectors", [], |r| r.get::<_, i64>(0))).unwrap_or(0)
            as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        [n; 32]
    }

    fn open(path: &Path) -> VectorStore {
        VectorStore::open(path).unwrap()
    }

    #[test]
    fn stores_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        let store = open(&path);
        assert!(store.put_many(&[(key(1), Vector::from(vec![1.0, 2.0])), (key(2), Vector::from(vec![3.0, 4.0]))]));
        drop(store);
        let store = open(&path);
        let got = store.get_many(&[key(2), key(3), key(1)]);
        assert_eq!(got[0].as_deref(), Some(&[3.0, 4.0][..]));
        assert!(got[1].is_none());
        assert_eq!(got[2].as_deref(), Some(&[1.0, 2.0][..]));
        assert!(store.take_warnings().is_empty());
        assert_eq!(store.errors(), 0);
    }

    #[test]
    fn a_row_failing_its_checksum_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        let store = open(&path);
        assert!(store.put_many(&[(key(1), Vector::from(vec![1.0, 2.0]))]));
        let wrong: Vec<u8> = [9.0f32, 9.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        Connection::open(&path).unwrap().execute("UPDATE vectors SET data = ?1", params![wrong]).unwrap();
        assert!(store.get_many(&[key(1)])[0].is_none());
        assert_eq!(store.len(), 0);
    }

    fn assert_refused(path: &Path) {
        match VectorStore::open(path) {
            Err(e @ Error::InvalidOption { .. }) => assert_eq!(e.code(), "ERR_INVALID_OPTION"),
            Err(e) => panic!("{}: {e}", path.display()),
            Ok(_) => panic!("{} was accepted", path.display()),
        }
    }

    #[test]
    fn sqlite_names_for_a_private_database_are_refused() {
        for name in ["", ":memory:"] {
            assert_refused(Path::new(name));
            let err = VectorStore::open(Path::new(name)).err().unwrap().to_string();
            assert!(err.contains("persist.path"), "{err}");
        }
    }

    #[test]
    fn a_folder_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("mydata");
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("notes.txt"), "mine").unwrap();
        assert_refused(&folder);
        assert!(folder.is_dir());
        assert_eq!(std::fs::read_to_string(folder.join("notes.txt")).unwrap(), "mine");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["mydata"]);
    }

    #[test]
    fn files_that_are_not_ours_are_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let garbage: Vec<u8> = (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "my notes, not a database\n").unwrap();
        let random = dir.path().join("random.bin");
        std::fs::write(&random, &garbage).unwrap();
        // another program's database, with and without a table named `vectors`
        let other = dir.path().join("other.sqlite");
        Connection::open(&other).unwrap().execute_batch("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);").unwrap();
        let other_vectors = dir.path().join("other-vectors.sqlite");
        Connection::open(&other_vectors).unwrap().execute_batch("CREATE TABLE vectors (id INTEGER PRIMARY KEY, embedding BLOB);").unwrap();
        let marked = dir.path().join("marked.sqlite");
        Connection::open(&marked).unwrap().execute_batch("PRAGMA application_id = 1234; CREATE TABLE t (x);").unwrap();
        for path in [&text, &random, &other, &other_vectors, &marked] {
            let before = std::fs::read(path).unwrap();
            assert_refused(path);
            assert_eq!(std::fs::read(path).unwrap(), before, "{} was changed", path.display());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 5, "nothing was created or moved aside");
    }

    #[test]
    fn a_file_of_ours_from_before_the_application_id_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE vectors (key BLOB PRIMARY KEY, dim INTEGER NOT NULL, data BLOB NOT NULL, checksum BLOB NOT NULL) WITHOUT ROWID;",
            )
            .unwrap();
        let store = open(&path);
        assert!(store.put_many(&[(key(1), Vector::from(vec![1.0]))]));
        assert_eq!(store.get_many(&[key(1)])[0].as_deref(), Some(&[1.0][..]));
    }

    #[test]
    fn a_damaged_file_of_ours_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        let store = open(&path);
        let many: Vec<(Key, Vector)> = (0..=255u8).map(|n| (key(n), Vector::from(vec![n as f32; 256]))).collect();
        assert!(store.put_many(&many));
        drop(store);
        // checkpoint the WAL into the file, then damage every page after the header's
        Connection::open(&path).unwrap().execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;").unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        for b in bytes[4096..].iter_mut() {
            *b = 0x5a;
        }
        std::fs::write(&path, bytes).unwrap();
        let store = open(&path);
        assert!(store.get_many(&[key(1)])[0].is_none());
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("rebuilt"), "{warnings:?}");
        assert!(store.put_many(&[(key(1), Vector::from(vec![1.0]))]));
        assert!(store.get_many(&[key(1)])[0].is_some());
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("corrupt"))
                .count(),
            1
        );
    }

    #[test]
    fn a_locked_file_is_bypassed_without_waiting_then_used_once_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        let store = open(&path);
        assert!(store.put_many(&[(key(1), Vector::from(vec![1.0, 2.0]))]));
        drop(store);
        let before = std::fs::read(&path).unwrap();

        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; INSERT INTO vectors VALUES (x'00', 1, x'00000000', x'00');")
            .unwrap();
        let start = Instant::now();
        let store = open(&path);
        assert!(start.elapsed() < Duration::from_millis(50), "open took {:?}", start.elapsed());
        // reads and writes give up after the busy timeout, not 30 s, and never discard the file
        let start = Instant::now();
        assert!(store.get_many(&[key(1)])[0].is_none());
        assert!(!store.put_many(&[(key(2), Vector::from(vec![3.0]))]));
        assert!(start.elapsed() < BUSY_TIMEOUT * 3, "took {:?}", start.elapsed());
        assert!(store.errors() >= 2);
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("locked"), "{warnings:?}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "the locked file was changed");
        assert_eq!(
            std::fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("corrupt"))
                .count(),
            0
        );

        holder.execute_batch("ROLLBACK;").unwrap();
        drop(holder);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = None;
        while Instant::now() < deadline {
            got = store.get_many(&[key(1)]).remove(0);
            if got.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(got.as_deref(), Some(&[1.0, 2.0][..]), "the file was not used once free");
        assert!(store.put_many(&[(key(2), Vector::from(vec![3.0]))]));
    }

    #[test]
    fn failures_after_opening_are_counted_and_warned_about_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        let store = open(&path);
        assert!(store.put_many(&[(key(1), Vector::from(vec![1.0]))]));
        // another program replaces the table by its own `vectors`
        Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE vectors; CREATE TABLE vectors (id INTEGER PRIMARY KEY, embedding BLOB);")
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut attempts = 0;
        while store.errors() < 2 && Instant::now() < deadline {
            assert!(store.get_many(&[key(1)])[0].is_none());
            assert!(!store.put_many(&[(key(2), Vector::from(vec![3.0]))]));
            attempts += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(store.errors() >= 2, "{} errors after {attempts} attempts", store.errors());
        let warnings = store.take_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(store.take_warnings().is_empty(), "warned twice");
    }
}

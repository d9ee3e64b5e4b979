//! The disk tier of the cache: SQLite in WAL mode, so several processes can share one file.
//! Each row carries a checksum of its key and vector; a row that fails it is dropped, never
//! returned.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::cache::{Key, Vector};
use crate::error::{Error, Result};

pub struct VectorStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn checksum(key: &Key, data: &[u8]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(data);
    let digest = h.finalize();
    digest[..8].try_into().expect("sha256 has 32 bytes")
}

fn open_checked(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS vectors (
            key BLOB PRIMARY KEY,
            dim INTEGER NOT NULL,
            data BLOB NOT NULL,
            checksum BLOB NOT NULL
        ) WITHOUT ROWID;",
    )?;
    let verdict: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
    if verdict != "ok" {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            Some(format!("integrity check failed: {verdict}")),
        ));
    }
    Ok(conn)
}

impl VectorStore {
    /// Opens (or creates) the file. A file that is not a sound cache database is moved aside and
    /// a new one created; if that fails too, the disk tier is bypassed. Both cases add a warning.
    pub fn open(path: &Path, warnings: &mut Vec<String>) -> Option<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Err(e) = std::fs::create_dir_all(parent) {
                warnings.push(format!("cache file {}: cannot create its folder ({e}); the disk cache is bypassed", path.display()));
                return None;
            }
        }
        let conn = match open_checked(path) {
            Ok(conn) => conn,
            Err(first) => {
                let aside = path.with_extension(format!("corrupt-{}", std::process::id()));
                warnings.push(format!("cache file {} is unreadable ({first}); moved to {} and rebuilt", path.display(), aside.display()));
                let _ = std::fs::rename(path, &aside);
                for suffix in ["-wal", "-shm"] {
                    let mut side = path.as_os_str().to_owned();
                    side.push(suffix);
                    let _ = std::fs::remove_file(PathBuf::from(side));
                }
                match open_checked(path) {
                    Ok(conn) => conn,
                    Err(e) => {
                        warnings.push(format!("cache file {}: {e}; the disk cache is bypassed", path.display()));
                        return None;
                    }
                }
            }
        };
        Some(VectorStore { conn: Mutex::new(conn), path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The stored vectors for `keys`; `None` for absent keys and for rows that fail their checksum
    /// (those rows are deleted). Read errors count as absent.
    pub fn get_many(&self, keys: &[Key]) -> Vec<Option<Vector>> {
        let conn = self.conn();
        let Ok(mut select) = conn.prepare_cached("SELECT dim, data, checksum FROM vectors WHERE key = ?1") else {
            return vec![None; keys.len()];
        };
        let mut bad = Vec::new();
        let found = keys
            .iter()
            .map(|key| {
                let row: Option<(i64, Vec<u8>, Vec<u8>)> =
                    select.query_row(params![&key[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional().ok().flatten();
                let (dim, data, check) = row?;
                if dim <= 0 || data.len() != dim as usize * 4 || check[..] != checksum(key, &data) {
                    bad.push(*key);
                    return None;
                }
                Some(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect::<Vector>())
            })
            .collect();
        drop(select);
        for key in bad {
            let _ = conn.execute("DELETE FROM vectors WHERE key = ?1", params![&key[..]]);
        }
        found
    }

    /// Stores vectors in one transaction: all of them or none.
    pub fn put_many(&self, entries: &[(Key, Vector)]) -> Result<()> {
        let mut conn = self.conn();
        let fail = |e: rusqlite::Error| Error::Runtime(format!("cache file {}: {e}", self.path.display()));
        let tx = conn.transaction().map_err(fail)?;
        {
            let mut insert =
                tx.prepare_cached("INSERT OR REPLACE INTO vectors (key, dim, data, checksum) VALUES (?1, ?2, ?3, ?4)").map_err(fail)?;
            for (key, vector) in entries {
                let data: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                insert.execute(params![&key[..], vector.len() as i64, &data, &checksum(key, &data)[..]]).map_err(fail)?;
            }
        }
        tx.commit().map_err(fail)
    }

    pub fn clear(&self) -> Result<()> {
        self.conn()
            .execute("DELETE FROM vectors", [])
            .map(|_| ())
            .map_err(|e| Error::Runtime(format!("cache file {}: {e}", self.path.display())))
    }

    pub fn len(&self) -> usize {
        self.conn().query_row("SELECT COUNT(*) FROM vectors", [], |r| r.get::<_, i64>(0)).unwrap_or(0) as usize
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

    #[test]
    fn stores_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        let mut warnings = Vec::new();
        let store = VectorStore::open(&path, &mut warnings).unwrap();
        store.put_many(&[(key(1), Vector::from(vec![1.0, 2.0])), (key(2), Vector::from(vec![3.0, 4.0]))]).unwrap();
        drop(store);
        let store = VectorStore::open(&path, &mut warnings).unwrap();
        let got = store.get_many(&[key(2), key(3), key(1)]);
        assert_eq!(got[0].as_deref(), Some(&[3.0, 4.0][..]));
        assert!(got[1].is_none());
        assert_eq!(got[2].as_deref(), Some(&[1.0, 2.0][..]));
        assert!(warnings.is_empty());
    }

    #[test]
    fn a_row_failing_its_checksum_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        let store = VectorStore::open(&path, &mut Vec::new()).unwrap();
        store.put_many(&[(key(1), Vector::from(vec![1.0, 2.0]))]).unwrap();
        let wrong: Vec<u8> = [9.0f32, 9.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        store.conn().execute("UPDATE vectors SET data = ?1", params![wrong]).unwrap();
        assert!(store.get_many(&[key(1)])[0].is_none());
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn a_garbage_file_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.sqlite");
        std::fs::write(&path, (0..100_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>()).unwrap();
        let mut warnings = Vec::new();
        let store = VectorStore::open(&path, &mut warnings).unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("rebuilt"));
        assert!(store.is_empty());
        store.put_many(&[(key(1), Vector::from(vec![1.0]))]).unwrap();
        assert!(store.get_many(&[key(1)])[0].is_some());
    }
}

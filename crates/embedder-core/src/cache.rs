//! `CachedEmbedder`: vectors by sha256(fingerprint, text), in memory (LRU by entries and bytes),
//! optionally on disk and in Redis (memory → disk → Redis → base), with concurrent requests for
//! one key sharing one computation: in one process through `in_flight`, across processes through
//! Redis leases.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use lru::LruCache;
use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::redis_tier::{Claim, RedisOptions, RedisTier};
use crate::service::{BoxFuture, EmbedService, TextKind};
use crate::store::VectorStore;

/// With Redis, misses are leased and computed this many at a time: a lease then covers what one
/// base call computes in far less than the lease, and processes missing the same texts work on
/// different groups instead of waiting for one another.
const LEASE_GROUP: usize = 32;

pub use crate::cache_key::{entry_bytes, Key, KeyPrefix, Vector};

#[derive(Clone, Debug)]
pub struct CacheOptions {
    pub max_entries: usize,
    pub max_bytes: Option<usize>,
    pub persist: Option<PathBuf>,
    /// The base's dimension when known before its first vectors (a JavaScript base's `dimension`):
    /// a vector read from disk of another length is then never returned, even first.
    pub dimension: Option<usize>,
    /// A tier shared by processes and machines, after the disk tier.
    pub redis: Option<RedisOptions>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions { max_entries: 10_000, max_bytes: None, persist: None, dimension: None, redis: None }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CacheStats {
    pub hits: u64,
    /// Hits served from the disk tier (included in `hits`).
    pub disk_hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: usize,
    pub bytes: usize,
    /// Operations on the disk tier that could not use the file (the cache worked from memory).
    pub disk_errors: u64,
    /// Hits served from Redis (included in `hits`), waits for another process's vector included.
    pub redis_hits: u64,
    /// Redis operations that failed or timed out (the vectors were computed instead).
    pub redis_errors: u64,
}

impl CacheStats {
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
}

/// The in-memory tier: an LRU bounded by entries and, optionally, bytes.
pub struct MemoryLru {
    entries: LruCache<Key, Vector>,
    max_entries: usize,
    max_bytes: Option<usize>,
    bytes: usize,
    pub evictions: u64,
}

impl MemoryLru {
    pub fn new(max_entries: usize, max_bytes: Option<usize>) -> Self {
        MemoryLru { entries: LruCache::unbounded(), max_entries, max_bytes, bytes: 0, evictions: 0 }
    }

    pub fn get(&mut self, key: &Key) -> Option<Vector> {
        self.entries.get(key).cloned()
    }

    /// Inserts and evicts least recently used entries until both bounds hold. An entry larger
    /// than `max_bytes` on its own is not stored.
    pub fn insert(&mut self, key: Key, vector: Vector) {
        let size = entry_bytes(vector.len());
        if self.max_entries == 0 || self.max_bytes.is_some_and(|max| size > max) {
            return;
        }
        if let Some(old) = self.entries.put(key, vector) {
            self.bytes -= entry_bytes(old.len());
        }
        self.bytes += size;
        while self.entries.len() > self.max_entries || self.max_bytes.is_some_and(|max| self.bytes > max) {
            let Some((_, evicted)) = self.entries.pop_lru() else {
                break;
            };
            self.bytes -= entry_bytes(evicted.len());
            self.evictions += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Drops the entries whose vectors do not have `dimension` values.
    pub fn retain_dimension(&mut self, dimension: usize) {
        let other: Vec<Key> = self.entries.iter().filter(|(_, v)| v.len() != dimension).map(|(k, _)| *k).collect();
        for key in other {
            if let Some(v) = self.entries.pop(&key) {
                self.bytes -= entry_bytes(v.len());
            }
        }
    }
}

struct State {
    memory: MemoryLru,
    /// Keys being computed, with the callers waiting for them.
    in_flight: HashMap<Key, Vec<oneshot::Sender<Result<Vector>>>>,
    stats: CacheStats,
    dimension: Option<usize>,
    /// `CacheOptions::dimension`, for disk lookups before `dimension` is known.
    expected_dimension: Option<usize>,
}

pub struct CachedEmbedder {
    base: Arc<dyn EmbedService>,
    state: Mutex<State>,
    /// Key prefixes by text kind, once the base's fingerprint for that kind is known.
    prefixes: [OnceLock<KeyPrefix>; 3],
    store: Option<Arc<VectorStore>>,
    redis: Option<Arc<RedisTier>>,
}

impl CachedEmbedder {
    /// A `persist` path that is a folder or a file not ours is [`Error::InvalidOption`]; so is a
    /// persistent cache over a base whose fingerprint does not say what determines its vectors.
    /// The file is not opened here (see [`VectorStore`]); `warnings` receives what is already known
    /// to be wrong with it, later problems come from [`CachedEmbedder::take_warnings`].
    pub fn new(base: Arc<dyn EmbedService>, options: CacheOptions, warnings: &mut Vec<String>) -> Result<Self> {
        if options.max_bytes == Some(0) {
            return Err(Error::InvalidOption { option: "maxBytes", reason: "must be at least 1".into() });
        }
        if (options.persist.is_some() || options.redis.is_some()) && !base.identified() {
            return Err(Error::InvalidOption {
                option: "namespace",
                reason: "a JavaScript embedder under a persistent or shared (`redis`) cache needs `namespace`: a name for what \
                         determines its vectors (model and settings), so that vectors of different embedders sharing the file or \
                         the Redis never mix"
                    .into(),
            });
        }
        let redis = options.redis.as_ref().map(RedisTier::new).transpose()?.map(Arc::new);
        let store = match options.persist.as_deref() {
            Some(path) => Some(Arc::new(VectorStore::open(path)?)),
            None => None,
        };
        warnings.extend(store.iter().flat_map(|s| s.take_warnings()));
        Ok(CachedEmbedder {
            base,
            state: Mutex::new(State {
                memory: MemoryLru::new(options.max_entries, options.max_bytes),
                in_flight: HashMap::new(),
                stats: CacheStats::default(),
                dimension: None,
                expected_dimension: options.dimension,
            }),
            prefixes: Default::default(),
            store,
            redis,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> CacheStats {
        let state = self.state();
        CacheStats {
            entries: state.memory.len(),
            bytes: state.memory.bytes(),
            evictions: state.memory.evictions,
            disk_errors: self.store.as_ref().map_or(0, |s| s.errors()),
            redis_errors: self.redis.as_ref().map_or(0, |r| r.errors()),
            ..state.stats
        }
    }

    /// What went wrong with the disk tier since the last call (each kind of problem once).
    pub fn take_warnings(&self) -> Vec<String> {
        self.store.as_ref().map_or_else(Vec::new, |s| s.take_warnings())
    }

    /// Empties the memory tier and the disk tier; the Redis tier, shared with other processes, is
    /// left as it is.
    pub async fn clear(&self) -> Result<()> {
        self.state().memory.clear();
        if let Some(store) = self.store.clone() {
            tokio::task::spawn_blocking(move || store.clear()).await.map_err(|e| Error::Runtime(e.to_string()))??;
        }
        Ok(())
    }

    /// The vectors if every text is in the memory tier and the fingerprint is known, without
    /// waiting on anything; `None` otherwise (nothing is counted then).
    pub fn get_all_in_memory<S: AsRef<str>>(&self, texts: &[S], kind: TextKind) -> Option<Vec<Vector>> {
        let prefix = self.known_prefix(kind)?;
        let mut state = self.state();
        let mut out = Vec::with_capacity(texts.len());
        for text in texts {
            out.push(state.memory.get(&prefix.key(text.as_ref()))?);
        }
        state.stats.hits += texts.len() as u64;
        Some(out)
    }

    /// Copies one text's vector into `out` if it is in the memory tier (and the fingerprint is
    /// known); returns its length. `None` on a miss or when `out` is too small.
    pub fn copy_from_memory(&self, text: &str, kind: TextKind, out: &mut [f32]) -> Option<usize> {
        let key = self.known_prefix(kind)?.key(text);
        let mut state = self.state();
        let vector = state.memory.get(&key)?;
        out.get_mut(..vector.len())?.copy_from_slice(&vector);
        state.stats.hits += 1;
        Some(vector.len())
    }

    fn known_prefix(&self, kind: TextKind) -> Option<&KeyPrefix> {
        self.prefixes[kind as usize].get()
    }

    async fn prefix(&self, kind: TextKind) -> Result<&KeyPrefix> {
        if let Some(prefix) = self.known_prefix(kind) {
            return Ok(prefix);
        }
        let fingerprint = self.base.clone().fingerprint(kind).await?;
        Ok(self.prefixes[kind as usize].get_or_init(|| KeyPrefix::new(&fingerprint)))
    }

    /// Checks a base's vectors before they are cached: finite values, one dimension.
    fn check(&self, vectors: &[Vec<f32>], texts: usize) -> Result<()> {
        let mut state = self.state();
        let known = state.dimension.is_some();
        crate::service::check_base_vectors(vectors, texts, &mut state.dimension)?;
        if let (false, Some(dimension)) = (known, state.dimension) {
            // entries read from disk before the base's dimension was known may be of another
            state.memory.retain_dimension(dimension);
        }
        Ok(())
    }

    async fn lookup_disk(&self, keys: Vec<Key>) -> Vec<Option<Vector>> {
        let Some(store) = self.store.clone() else {
            return vec![None; keys.len()];
        };
        let n = keys.len();
        // a failing disk tier is bypassed: the vectors are computed instead
        let found = tokio::task::spawn_blocking(move || store.get_many(&keys)).await.unwrap_or_else(|_| vec![None; n]);
        self.of_base_dimension(found)
    }

    /// A vector of another dimension than the base's is never returned from disk or Redis: it can
    /// only be another embedder's (a namespace shared by mistake). Before the base's dimension is
    /// known, the vectors of one lookup must at least agree.
    fn of_base_dimension(&self, found: Vec<Option<Vector>>) -> Vec<Option<Vector>> {
        let expected = {
            let state = self.state();
            state.dimension.or(state.expected_dimension)
        };
        let expected = expected.or_else(|| found.iter().flatten().next().map(|v| v.len()));
        found.into_iter().map(|v| v.filter(|v| Some(v.len()) == expected)).collect()
    }

    async fn save_disk(&self, entries: Vec<(Key, Vector)>) {
        if let Some(store) = self.store.clone() {
            // a failure is counted and warned about by the store; the vectors stay in memory
            let _ = tokio::task::spawn_blocking(move || store.put_many(&entries)).await;
        }
    }

    /// Finishes the keys this call computed: caches the vectors and hands them (or the error) to
    /// the callers waiting on them.
    fn settle(&self, keys: &[Key], outcome: &Result<Vec<Vector>>) {
        let mut state = self.state();
        for (i, key) in keys.iter().enumerate() {
            let result = match outcome {
                Ok(vectors) => {
                    state.memory.insert(*key, vectors[i].clone());
                    Ok(vectors[i].clone())
                }
                Err(e) => Err(e.clone()),
            };
            for waiter in state.in_flight.remove(key).unwrap_or_default() {
                let _ = waiter.send(result.clone());
            }
        }
    }

    /// Computes the texts at `owned` (keys no other caller computes), checks the vectors, caches
    /// them and hands them (or the error) to the callers waiting on them.
    async fn compute(
        &self,
        owned: &[usize],
        keys: &[Key],
        texts: &[String],
        kind: TextKind,
        results: &mut [Option<Vector>],
    ) -> Result<Vec<(Key, Vector)>> {
        self.state().stats.misses += owned.len() as u64;
        let miss_keys: Vec<Key> = owned.iter().map(|&i| keys[i]).collect();
        let miss_texts: Vec<String> = owned.iter().map(|&i| texts[i].clone()).collect();
        let computed = self.base.clone().embed_batch(miss_texts, kind).await.and_then(|vectors| {
            self.check(&vectors, owned.len())?;
            Ok(vectors.into_iter().map(Vector::from).collect::<Vec<_>>())
        });
        // an error about a base's output names the index in this call, not in the misses
        let computed = computed.map_err(|e| match e {
            Error::InvalidInput { index, reason } if index < owned.len() => Error::InvalidInput { index: owned[index], reason },
            e => e,
        });
        self.settle(&miss_keys, &computed);
        let vectors = computed?;
        for (&i, v) in owned.iter().zip(&vectors) {
            results[i] = Some(v.clone());
        }
        let entries: Vec<(Key, Vector)> = miss_keys.into_iter().zip(vectors).collect();
        if self.store.is_some() {
            self.save_disk(entries.clone()).await;
        }
        Ok(entries)
    }

    /// Vectors found in Redis for the texts at `found`: counted, cached in memory and on disk.
    async fn redis_hits(&self, found: Vec<(usize, Vector)>, keys: &[Key], results: &mut [Option<Vector>], unsettled: &mut HashSet<usize>) {
        if found.is_empty() {
            return;
        }
        {
            let mut state = self.state();
            state.stats.hits += found.len() as u64;
            state.stats.redis_hits += found.len() as u64;
        }
        let hit_keys: Vec<Key> = found.iter().map(|&(i, _)| keys[i]).collect();
        for (i, v) in &found {
            results[*i] = Some(v.clone());
            unsettled.remove(i);
        }
        let entries: Vec<(Key, Vector)> = hit_keys.into_iter().zip(found.into_iter().map(|(_, v)| v)).collect();
        self.settle(&entries.iter().map(|(k, _)| *k).collect::<Vec<_>>(), &Ok(entries.iter().map(|(_, v)| v.clone()).collect()));
        if self.store.is_some() {
            self.save_disk(entries).await;
        }
    }

    /// The misses of memory and disk through Redis: one lookup; then, by groups, a lease on the
    /// texts no other process computes, which this one computes and writes; then the wait for
    /// the texts others were computing (those whose holder fails or is slow past one lease are
    /// computed here). Redis trouble only means computing more here.
    #[allow(clippy::too_many_arguments)]
    async fn through_redis(
        &self,
        redis: &RedisTier,
        owned: Vec<usize>,
        keys: &[Key],
        texts: &[String],
        kind: TextKind,
        results: &mut [Option<Vector>],
        unsettled: &mut HashSet<usize>,
    ) -> Result<()> {
        let owned_keys: Vec<Key> = owned.iter().map(|&i| keys[i]).collect();
        let found = match redis.get_many(&owned_keys).await {
            Some(found) => self.of_base_dimension(found),
            None => vec![None; owned.len()],
        };
        let (hits, missing) = split_found(&owned, found);
        self.redis_hits(hits, keys, results, unsettled).await;

        let mut theirs = Vec::new();
        for group in missing.chunks(LEASE_GROUP) {
            let group_keys: Vec<Key> = group.iter().map(|&i| keys[i]).collect();
            let claims = redis.claim(&group_keys).await;
            let mut mine = Vec::new();
            let mut found = Vec::new();
            match claims {
                None => mine.extend_from_slice(group),
                Some(claims) => {
                    let found_vectors = self
                        .of_base_dimension(claims.iter().map(|c| if let Claim::Found(v) = c { Some(v.clone()) } else { None }).collect());
                    for ((&i, claim), v) in group.iter().zip(claims).zip(found_vectors) {
                        match (claim, v) {
                            (Claim::Found(_), Some(v)) => found.push((i, v)),
                            (Claim::Theirs, _) => theirs.push(i),
                            _ => mine.push(i),
                        }
                    }
                }
            }
            self.redis_hits(found, keys, results, unsettled).await;
            self.compute_and_share(redis, &mine, keys, texts, kind, results, unsettled).await?;
        }

        if !theirs.is_empty() {
            let their_keys: Vec<Key> = theirs.iter().map(|&i| keys[i]).collect();
            let waited = self.of_base_dimension(redis.wait_for(&their_keys).await);
            let (found, left) = split_found(&theirs, waited);
            self.redis_hits(found, keys, results, unsettled).await;
            self.compute_and_share(redis, &left, keys, texts, kind, results, unsettled).await?;
        }
        Ok(())
    }

    /// [`CachedEmbedder::compute`], then the vectors to Redis (or, on failure, the leases given up).
    #[allow(clippy::too_many_arguments)]
    async fn compute_and_share(
        &self,
        redis: &RedisTier,
        owned: &[usize],
        keys: &[Key],
        texts: &[String],
        kind: TextKind,
        results: &mut [Option<Vector>],
        unsettled: &mut HashSet<usize>,
    ) -> Result<()> {
        if owned.is_empty() {
            return Ok(());
        }
        for i in owned {
            unsettled.remove(i);
        }
        match self.compute(owned, keys, texts, kind, results).await {
            Ok(entries) => {
                redis.put_many(&entries).await;
                Ok(())
            }
            Err(e) => {
                redis.release(&owned.iter().map(|&i| keys[i]).collect::<Vec<_>>()).await;
                Err(e)
            }
        }
    }

    pub async fn embed_vectors(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vector>> {
        let prefix = self.prefix(kind).await?;
        let keys: Vec<Key> = texts.iter().map(|t| prefix.key(t)).collect();
        let n = texts.len();
        let mut results: Vec<Option<Vector>> = vec![None; n];
        let mut waiting: Vec<(usize, oneshot::Receiver<Result<Vector>>)> = Vec::new();
        // texts this call computes (first index of each key), and later indices with the same key
        let mut owned: Vec<usize> = Vec::new();
        let mut owned_index: HashMap<Key, usize> = HashMap::new();
        let mut repeats: Vec<(usize, usize)> = Vec::new();
        {
            let mut guard = self.state();
            let state = &mut *guard;
            for (i, key) in keys.iter().enumerate() {
                if let Some(v) = state.memory.get(key) {
                    state.stats.hits += 1;
                    results[i] = Some(v);
                } else if let Some(&first) = owned_index.get(key) {
                    state.stats.hits += 1;
                    repeats.push((i, first));
                } else if let Some(waiters) = state.in_flight.get_mut(key) {
                    state.stats.hits += 1;
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    waiting.push((i, rx));
                } else {
                    state.in_flight.insert(*key, Vec::new());
                    owned_index.insert(*key, i);
                    owned.push(i);
                }
            }
        }

        if !owned.is_empty() && self.store.is_some() {
            let found = self.lookup_disk(owned.iter().map(|&i| keys[i]).collect()).await;
            let mut still_missing = Vec::new();
            let mut disk_keys = Vec::new();
            let mut disk_vectors = Vec::new();
            for (&i, hit) in owned.iter().zip(found) {
                match hit {
                    Some(v) => {
                        results[i] = Some(v.clone());
                        disk_keys.push(keys[i]);
                        disk_vectors.push(v);
                    }
                    None => still_missing.push(i),
                }
            }
            if !disk_keys.is_empty() {
                {
                    let mut state = self.state();
                    state.stats.hits += disk_keys.len() as u64;
                    state.stats.disk_hits += disk_keys.len() as u64;
                }
                self.settle(&disk_keys, &Ok(disk_vectors));
            }
            owned = still_missing;
        }

        if !owned.is_empty() {
            match self.redis.clone() {
                None => {
                    self.compute(&owned, &keys, &texts, kind, &mut results).await?;
                }
                Some(redis) => {
                    let mut unsettled: HashSet<usize> = owned.iter().copied().collect();
                    let outcome = self.through_redis(&redis, owned, &keys, &texts, kind, &mut results, &mut unsettled).await;
                    if let Err(e) = &outcome {
                        // the keys of this call not yet given to their waiters get the error too
                        let left: Vec<Key> = unsettled.iter().map(|&i| keys[i]).collect();
                        self.settle(&left, &Err(e.clone()));
                    }
                    outcome?;
                }
            }
        }

        for (i, rx) in waiting {
            results[i] = Some(match rx.await {
                Ok(Ok(v)) => v,
                // the caller computing it failed (maybe for its own texts): compute this one alone
                _ => Box::pin(self.clone().embed_vectors(vec![texts[i].clone()], kind)).await?.remove(0),
            });
        }
        for (i, first) in repeats {
            results[i] = results[first].clone();
        }
        Ok(results.into_iter().map(|v| v.expect("every text is resolved above; this is a bug")).collect())
    }
}

impl EmbedService for CachedEmbedder {
    fn embed_batch(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
        Box::pin(async move { Ok(self.embed_vectors(texts, kind).await?.iter().map(|v| v.to_vec()).collect()) })
    }

    fn fingerprint(self: Arc<Self>, kind: TextKind) -> BoxFuture<Result<String>> {
        self.base.clone().fingerprint(kind)
    }

    fn identified(&self) -> bool {
        self.base.identified()
    }
}

/// The indices whose vector was found, with it, and those whose was not, in order.
fn split_found(indices: &[usize], found: Vec<Option<Vector>>) -> (Vec<(usize, Vector)>, Vec<usize>) {
    let mut hits = Vec::new();
    let mut misses = Vec::new();
    for (&i, v) in indices.iter().zip(found) {
        match v {
            Some(v) => hits.push((i, v)),
            None => misses.push(i),
        }
    }
    (hits, misses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: f32, dim: usize) -> Vector {
        Vector::from(vec![x; dim])
    }

    #[test]
    fn lru_evicts_least_recently_used_by_entries() {
        let mut lru = MemoryLru::new(2, None);
        lru.insert([1; 32], v(1.0, 4));
        lru.insert([2; 32], v(2.0, 4));
        assert!(lru.get(&[1; 32]).is_some()); // 1 is now the most recent
        lru.insert([3; 32], v(3.0, 4));
        assert!(lru.get(&[2; 32]).is_none());
        assert!(lru.get(&[1; 32]).is_some() && lru.get(&[3; 32]).is_some());
        assert_eq!((lru.len(), lru.evictions, lru.bytes()), (2, 1, 2 * entry_bytes(4)));
    }

    #[test]
    fn lru_evicts_by_bytes_and_never_exceeds_them() {
        let max = 3 * entry_bytes(8) + 5;
        let mut lru = MemoryLru::new(1000, Some(max));
        for i in 0..10u8 {
            lru.insert([i; 32], v(i as f32, 8));
            assert!(lru.bytes() <= max);
        }
        assert_eq!(lru.len(), 3);
        assert_eq!(lru.evictions, 7);
        // an entry bigger than the whole budget is not stored
        lru.insert([99; 32], v(0.0, 1000));
        assert!(lru.get(&[99; 32]).is_none());
        // replacing an entry does not double-charge it
        lru.insert([9; 32], v(1.0, 8));
        assert_eq!(lru.bytes(), 3 * entry_bytes(8));
    }

    /// A base giving `[value; dimension]` for every text, under a fingerprint it may share.
    struct Constant {
        value: f32,
        dimension: usize,
        fingerprint: &'static str,
        identified: bool,
    }

    impl EmbedService for Constant {
        fn embed_batch(self: Arc<Self>, texts: Vec<String>, _: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
            Box::pin(async move { Ok(texts.iter().map(|_| vec![self.value; self.dimension]).collect()) })
        }

        fn fingerprint(self: Arc<Self>, _: TextKind) -> BoxFuture<Result<String>> {
            Box::pin(async move { Ok(self.fingerprint.to_string()) })
        }

        fn identified(&self) -> bool {
            self.identified
        }
    }

    fn constant(value: f32, dimension: usize, identified: bool) -> Arc<dyn EmbedService> {
        Arc::new(Constant { value, dimension, fingerprint: "shared by mistake", identified })
    }

    fn persistent(base: Arc<dyn EmbedService>, path: &std::path::Path, dimension: Option<usize>) -> Result<Arc<CachedEmbedder>> {
        let options = CacheOptions { persist: Some(path.to_path_buf()), dimension, ..Default::default() };
        CachedEmbedder::new(base, options, &mut Vec::new()).map(Arc::new)
    }

    async fn embed(cache: &Arc<CachedEmbedder>, texts: &[&str]) -> Vec<Vec<f32>> {
        let texts = texts.iter().map(|t| t.to_string()).collect();
        cache.clone().embed_vectors(texts, TextKind::Plain).await.unwrap().iter().map(|v| v.to_vec()).collect()
    }

    #[tokio::test]
    async fn a_stored_vector_of_another_dimension_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.sqlite");
        let first = persistent(constant(1.0, 2, true), &path, None).unwrap();
        assert_eq!(embed(&first, &["a", "b"]).await, [vec![1.0; 2], vec![1.0; 2]]);
        // the dimension known up front: never the other embedder's vector, even on the first lookup
        let second = persistent(constant(2.0, 3, true), &path, Some(3)).unwrap();
        assert_eq!(embed(&second, &["a"]).await, [vec![2.0; 3]]);
        // known from the base's own vectors
        let third = persistent(constant(3.0, 4, true), &path, None).unwrap();
        assert_eq!(embed(&third, &["c"]).await, [vec![3.0; 4]]);
        assert_eq!(embed(&third, &["b"]).await, [vec![3.0; 4]]);
        assert_eq!(third.stats().disk_hits, 0);
    }

    #[test]
    fn a_base_known_only_by_a_default_name_cannot_share_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vectors.sqlite");
        match persistent(constant(1.0, 2, false), &path, None) {
            Err(e @ Error::InvalidOption { option: "namespace", .. }) => assert!(e.to_string().contains("`namespace`"), "{e}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
        assert!(!path.exists());
        // in memory only, nothing is shared
        assert!(CachedEmbedder::new(constant(1.0, 2, false), CacheOptions::default(), &mut Vec::new()).is_ok());
    }

    #[test]
    fn a_base_known_only_by_a_default_name_cannot_share_a_redis() {
        let options = CacheOptions { redis: Some(RedisOptions::new(vec!["redis://127.0.0.1:1".into()])), ..Default::default() };
        match CachedEmbedder::new(constant(1.0, 2, false), options.clone(), &mut Vec::new()) {
            Err(Error::InvalidOption { option: "namespace", .. }) => {}
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("accepted"),
        }
        // nothing connects before the first call
        assert!(CachedEmbedder::new(constant(1.0, 2, true), options, &mut Vec::new()).is_ok());
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_counted_and_the_vectors_computed() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let redis = RedisOptions::new(vec![format!("redis://127.0.0.1:{port}")]).with_timeout(std::time::Duration::from_millis(100));
        let cache = Arc::new(
            CachedEmbedder::new(constant(1.0, 2, true), CacheOptions { redis: Some(redis), ..Default::default() }, &mut Vec::new())
                .unwrap(),
        );
        assert_eq!(embed(&cache, &["a", "b"]).await, [vec![1.0; 2], vec![1.0; 2]]);
        assert_eq!(embed(&cache, &["c"]).await, [vec![1.0; 2]]);
        let stats = cache.stats();
        assert_eq!((stats.misses, stats.redis_hits), (3, 0));
        assert!(stats.redis_errors >= 1);
    }
}

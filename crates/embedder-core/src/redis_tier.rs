//! The shared tier of the cache: vectors in Redis (one server or a cluster), so that a fleet of
//! processes computes each text once.
//!
//! A value is the vector as little-endian f32 behind a 16-byte header (magic, dimension, a
//! checksum of key and contents); a value that fails the check is a miss, and is overwritten
//! once the vector is computed. Texts that another process is computing are leased
//! (`SET key:lease NX PX`): the others wait for its value, at most for one lease, then compute
//! it themselves.
//!
//! Redis trouble is never an embedding's error. Every operation is bounded by `timeout`; a
//! connection that fails or times out makes the tier skipped for a while (200 ms after the first
//! failure, doubling up to 2 s) while the connection reconnects in the background, so a Redis
//! that is down costs one timeout in a while, not one per call.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline, RedisResult, Value};
use sha2::{Digest, Sha256};

use crate::cache_key::{Key, Vector};
use crate::error::{Error, Result};

pub const DEFAULT_PREFIX: &str = "rag-native:v1:";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a process may hold texts it computes before others compute them too.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// After a failure the tier is skipped for this long, doubling per failure in a row up to
/// [`MAX_RETRY_AFTER`].
const RETRY_AFTER: Duration = Duration::from_millis(100);
const MAX_RETRY_AFTER: Duration = Duration::from_secs(2);

/// Polling for a value another process is computing: from the first delay, doubling up to the last.
const FIRST_POLL: Duration = Duration::from_millis(2);
const MAX_POLL: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisOptions {
    /// One URL (`redis://`, `rediss://`, `redis+cluster://host:port,host:port`), or the nodes of a
    /// cluster.
    pub urls: Vec<String>,
    pub prefix: String,
    /// Values expire this long after they were written; `None`: never.
    pub ttl: Option<Duration>,
    /// The longest any Redis operation (connecting included) is waited for.
    pub timeout: Duration,
    pub lease: Duration,
}

impl RedisOptions {
    pub fn new(urls: Vec<String>) -> Self {
        RedisOptions { urls, prefix: DEFAULT_PREFIX.into(), ttl: None, timeout: DEFAULT_TIMEOUT, lease: DEFAULT_LEASE }
    }

    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    pub fn with_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.ttl = ttl;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }
}

const MAGIC: &[u8; 4] = b"EV1\0";
const HEADER: usize = 16;

fn checksum(key: &Key, dimension: &[u8], data: &[u8]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(dimension);
    h.update(data);
    h.finalize()[..8].try_into().expect("sha256 has 32 bytes")
}

/// A vector as a Redis value: `EV1\0`, the dimension (u32 LE), 8 bytes of sha256(key ‖
/// dimension ‖ data), then the values (f32 LE). The key is in the checksum so that a value copied
/// under another key is refused.
pub fn encode_value(key: &Key, vector: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + vector.len() * 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(vector.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    for x in vector {
        out.extend_from_slice(&x.to_le_bytes());
    }
    let sum = checksum(key, &out[4..8], &out[HEADER..]);
    out[8..HEADER].copy_from_slice(&sum);
    out
}

/// The vector in a value written by [`encode_value`] under `key`; `None` for anything else (another
/// format, a length that is not the dimension's, a checksum that fails, a non-finite value).
pub fn decode_value(key: &Key, bytes: &[u8]) -> Option<Vector> {
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return None;
    }
    let dimension = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    if dimension == 0 || bytes.len() - HEADER != dimension.checked_mul(4)? {
        return None;
    }
    if checksum(key, &bytes[4..8], &bytes[HEADER..]) != bytes[8..HEADER] {
        return None;
    }
    let values: Vec<f32> = bytes[HEADER..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
    values.iter().all(|x| x.is_finite()).then(|| Vector::from(values))
}

/// A URL with its password replaced, for messages.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let authority_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => match url[start..start + at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..start + colon], &url[start + at..]),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

fn invalid_url(reason: String) -> Error {
    Error::InvalidOption { option: "redis.url", reason }
}

/// The node URLs of `redis+cluster://[user:password@]host:port,host:port[/…]` (or `rediss+cluster`).
fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
        ("redis://", rest)
    } else {
        ("rediss://", url.strip_prefix("rediss+cluster://")?)
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    Some(hosts.split(',').map(|host| format!("{scheme}{userinfo}{host}{tail}")).collect())
}

fn connection_info(url: &str) -> Result<ConnectionInfo> {
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(invalid_url(format!("`{}` is not a redis://, rediss:// or redis+cluster:// URL", redact(url))));
    }
    url.into_connection_info().map_err(|e| invalid_url(format!("`{}`: {e}", redact(url))))
}

// one per cache: its size does not matter
#[allow(clippy::large_enum_variant)]
enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
}

#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn cmd(mut self, cmd: Cmd) -> RedisResult<Value> {
        match &mut self {
            Connection::Single(c) => cmd.query_async(c).await,
            Connection::Cluster(c) => cmd.query_async(c).await,
        }
    }

    /// Runs groups of commands, each group on one key's slot: one pipeline on a single server; on
    /// a cluster (where a pipeline must stay within one slot) one pipeline per group, all sent at
    /// once over the multiplexed connections. The answers, in order.
    async fn groups(self, groups: Vec<Pipeline>) -> RedisResult<Vec<Value>> {
        match self {
            Connection::Single(mut c) => {
                let mut all = redis::pipe();
                for group in &groups {
                    for cmd in group.cmd_iter() {
                        all.add_command(cmd.clone());
                    }
                }
                all.query_async(&mut c).await
            }
            Connection::Cluster(c) => {
                let answers = join_all(groups.into_iter().map(|group| {
                    let mut c = c.clone();
                    async move { group.query_async::<Vec<Value>>(&mut c).await }
                }))
                .await;
                let mut out = Vec::new();
                for answer in answers {
                    out.extend(answer?);
                }
                Ok(out)
            }
        }
    }
}

struct Health {
    /// The tier is not tried before this instant (after a failure).
    retry_at: Option<Instant>,
    /// Failures in a row.
    failures: u32,
}

/// What [`RedisTier::claim`] found for one key.
#[derive(Debug)]
pub enum Claim {
    /// This process holds the lease: it computes the vector.
    Mine,
    /// Another process wrote the vector meanwhile.
    Found(Vector),
    /// Another process holds the lease.
    Theirs,
}

pub struct RedisTier {
    target: Target,
    connection: OnceLock<Connection>,
    prefix: Vec<u8>,
    ttl: Option<Duration>,
    timeout: Duration,
    lease: Duration,
    health: Mutex<Health>,
    /// Operations that could not use Redis (the cache computed instead).
    errors: AtomicU64,
}

impl RedisTier {
    /// Checks the URLs (a bad one is [`Error::InvalidOption`] naming `redis.url`); connects on
    /// first use, never here.
    pub fn new(options: &RedisOptions) -> Result<Self> {
        let nodes = match options.urls.as_slice() {
            [] => return Err(invalid_url("give a redis:// or rediss:// URL, or the nodes of a cluster".into())),
            [url] => match cluster_nodes(url) {
                Some(nodes) => Some(nodes),
                None => {
                    connection_info(url)?;
                    None
                }
            },
            urls => Some(urls.to_vec()),
        };
        let target = match nodes {
            None => Target::Single(
                redis::Client::open(options.urls[0].as_str()).map_err(|e| invalid_url(format!("`{}`: {e}", redact(&options.urls[0]))))?,
            ),
            Some(nodes) => {
                let infos = nodes.iter().map(|n| connection_info(n)).collect::<Result<Vec<_>>>()?;
                let client = ClusterClient::builder(infos)
                    .connection_timeout(options.timeout)
                    .response_timeout(options.timeout)
                    .retries(1)
                    .build()
                    .map_err(|e| invalid_url(format!("cluster {}: {e}", nodes.iter().map(|n| redact(n)).collect::<Vec<_>>().join(", "))))?;
                Target::Cluster(client)
            }
        };
        Ok(RedisTier {
            target,
            connection: OnceLock::new(),
            prefix: options.prefix.as_bytes().to_vec(),
            ttl: options.ttl,
            timeout: options.timeout,
            lease: options.lease,
            health: Mutex::new(Health { retry_at: None, failures: 0 }),
            errors: AtomicU64::new(0),
        })
    }

    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// `prefix{hex(key)}`: the braces make the value and its lease one hash slot in a cluster.
    pub fn value_key(&self, key: &Key) -> Vec<u8> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = Vec::with_capacity(self.prefix.len() + 66);
        out.extend_from_slice(&self.prefix);
        out.push(b'{');
        for b in key {
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        }
        out.push(b'}');
        out
    }

    fn lease_key(&self, key: &Key) -> Vec<u8> {
        let mut out = self.value_key(key);
        out.extend_from_slice(b":lease");
        out
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the tier may be tried now, and its connection (made on first use: it needs the
    /// runtime, and connecting happens in the background).
    fn ready(&self) -> Option<Connection> {
        if self.health().retry_at.is_some_and(|at| Instant::now() < at) {
            return None;
        }
        if let Some(c) = self.connection.get() {
            return Some(c.clone());
        }
        let made = match &self.target {
            Target::Single(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(MAX_RETRY_AFTER);
                ConnectionManager::new_lazy_with_config(client.clone(), config).map(Connection::Single)
            }
            Target::Cluster(client) => Ok(Connection::Cluster(client.get_pending_async_connection_with_config(
                ClusterConfig::new().set_connection_timeout(self.timeout).set_response_timeout(self.timeout),
            ))),
        };
        match made {
            Ok(c) => Some(self.connection.get_or_init(|| c).clone()),
            Err(_) => {
                self.failed(true);
                None
            }
        }
    }

    /// Counts a failure; `connection`: the server did not answer (rather than answering an
    /// error), so the tier is skipped for a while.
    fn failed(&self, connection: bool) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if connection {
            let mut health = self.health();
            health.failures = health.failures.saturating_add(1);
            let wait = RETRY_AFTER.saturating_mul(1 << health.failures.min(5)).min(MAX_RETRY_AFTER);
            health.retry_at = Some(Instant::now() + wait);
        }
    }

    /// Runs one operation within the timeout; `None` if it failed (counted).
    async fn run<T>(&self, op: impl std::future::Future<Output = RedisResult<T>>) -> Option<T> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(Ok(v)) => {
                let mut health = self.health();
                health.failures = 0;
                health.retry_at = None;
                Some(v)
            }
            Ok(Err(e)) => {
                let answered = matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension) && !e.is_io_error();
                self.failed(!answered);
                None
            }
            Err(_) => {
                self.failed(true);
                None
            }
        }
    }

    /// One `MGET`: the vectors found (a value failing its check is `None`); `None` when Redis
    /// could not be used.
    pub async fn get_many(&self, keys: &[Key]) -> Option<Vec<Option<Vector>>> {
        if keys.is_empty() {
            return Some(Vec::new());
        }
        let connection = self.ready()?;
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.value_key(key));
        }
        let values = self.array(self.run(connection.cmd(cmd)).await?, keys.len())?;
        Some(keys.iter().zip(values).map(|(key, value)| bytes(&value).and_then(|b| decode_value(key, b))).collect())
    }

    /// An answer that should be an array of `n` values; a malformed one counts as a failure.
    fn array(&self, value: Value, n: usize) -> Option<Vec<Value>> {
        match value {
            Value::Array(values) if values.len() == n => Some(values),
            _ => {
                self.failed(false);
                None
            }
        }
    }

    /// Leases the keys that no other process is computing, and reads the values once more
    /// after the lease (a value written just before is then seen): one pipeline. `None` when
    /// Redis could not be used (the caller computes everything).
    pub async fn claim(&self, keys: &[Key]) -> Option<Vec<Claim>> {
        if keys.is_empty() {
            return Some(Vec::new());
        }
        let connection = self.ready()?;
        let lease_ms = self.lease.as_millis().max(1) as u64;
        let groups = keys
            .iter()
            .map(|key| {
                let mut p = redis::pipe();
                p.cmd("SET").arg(self.lease_key(key)).arg(b"1").arg("NX").arg("PX").arg(lease_ms);
                p.cmd("GET").arg(self.value_key(key));
                p
            })
            .collect();
        let answers = self.run(connection.groups(groups)).await?;
        if answers.len() != 2 * keys.len() {
            self.failed(false);
            return None;
        }
        Some(
            keys.iter()
                .zip(answers.chunks_exact(2))
                .map(|(key, pair)| match (bytes(&pair[1]).and_then(|b| decode_value(key, b)), &pair[0]) {
                    (Some(v), _) => Claim::Found(v),
                    (None, Value::Nil) => Claim::Theirs,
                    (None, _) => Claim::Mine,
                })
                .collect(),
        )
    }

    /// Writes validated vectors and releases their leases: one pipeline. A failure (Redis down,
    /// full) is counted; the vectors are the caller's all the same.
    pub async fn put_many(&self, entries: &[(Key, Vector)]) {
        if entries.is_empty() {
            return;
        }
        let Some(connection) = self.ready() else {
            return;
        };
        let groups = entries
            .iter()
            .map(|(key, vector)| {
                let mut p = redis::pipe();
                let set = p.cmd("SET").arg(self.value_key(key)).arg(encode_value(key, vector));
                if let Some(ttl) = self.ttl {
                    set.arg("PX").arg(ttl.as_millis().max(1) as u64);
                }
                p.cmd("DEL").arg(self.lease_key(key)).ignore();
                p
            })
            .collect();
        self.run(connection.groups(groups)).await;
    }

    /// Gives up leases (the computation failed), so that others compute those texts at once.
    pub async fn release(&self, keys: &[Key]) {
        if keys.is_empty() {
            return;
        }
        let Some(connection) = self.ready() else {
            return;
        };
        let groups = keys
            .iter()
            .map(|key| {
                let mut p = redis::pipe();
                p.cmd("DEL").arg(self.lease_key(key));
                p
            })
            .collect();
        self.run(connection.groups(groups)).await;
    }

    /// Waits for the values other processes hold leases on, at most one lease: a key whose lease
    /// is gone without a value (its holder failed or died) is `None` at once, and so is every key
    /// still missing at the end or when Redis cannot be used. The caller computes those.
    pub async fn wait_for(&self, keys: &[Key]) -> Vec<Option<Vector>> {
        let mut out = vec![None; keys.len()];
        let mut pending: Vec<usize> = (0..keys.len()).collect();
        let deadline = Instant::now() + self.lease;
        let mut delay = FIRST_POLL;
        // bounded by time; the count bounds it too should the clock misbehave
        let max_rounds = 1 + (self.lease.as_millis() / FIRST_POLL.as_millis()) as usize;
        for _ in 0..max_rounds {
            let now = Instant::now();
            if pending.is_empty() || now >= deadline {
                break;
            }
            tokio::time::sleep(delay.min(deadline - now)).await;
            delay = (delay * 2).min(MAX_POLL);
            let Some(connection) = self.ready() else {
                break;
            };
            let mut cmd = redis::cmd("MGET");
            for &i in &pending {
                cmd.arg(self.value_key(&keys[i])).arg(self.lease_key(&keys[i]));
            }
            let Some(answer) = self.run(connection.cmd(cmd)).await else {
                break;
            };
            let Some(values) = self.array(answer, 2 * pending.len()) else {
                break;
            };
            let mut still = Vec::new();
            for (&i, pair) in pending.iter().zip(values.chunks_exact(2)) {
                match bytes(&pair[0]).and_then(|b| decode_value(&keys[i], b)) {
                    Some(v) => out[i] = Some(v),
                    None if pair[1] != Value::Nil => still.push(i),
                    None => {}
                }
            }
            pending = still;
        }
        out
    }
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(b) => Some(b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Key {
        [n; 32]
    }

    #[test]
    fn values_round_trip() {
        let v = [0.5f32, -1.25, 3.0e-8, f32::MAX];
        let bytes = encode_value(&key(1), &v);
        assert_eq!(bytes.len(), HEADER + 16);
        assert_eq!(&bytes[..8], b"EV1\0\x04\0\0\0");
        assert_eq!(&*decode_value(&key(1), &bytes).unwrap(), &v);
    }

    #[test]
    fn a_damaged_or_foreign_value_is_refused() {
        let good = encode_value(&key(1), &[1.0, 2.0, 3.0]);
        // another key's value
        assert!(decode_value(&key(2), &good).is_none());
        // every single flipped bit
        for i in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(decode_value(&key(1), &bad).is_none(), "bit {i} flipped was accepted");
        }
        // cut short, too long, empty, a length that is not the dimension's
        assert!(decode_value(&key(1), &good[..good.len() - 4]).is_none());
        assert!(decode_value(&key(1), &[good.as_slice(), &[0; 4]].concat()).is_none());
        assert!(decode_value(&key(1), b"").is_none());
        assert!(decode_value(&key(1), &good[..HEADER]).is_none());
        let mut wrong_dimension = good.clone();
        wrong_dimension[4] = 4;
        assert!(decode_value(&key(1), &wrong_dimension).is_none());
        // a huge dimension does not overflow
        let mut huge = good.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_value(&key(1), &huge).is_none());
        // zero values
        assert!(decode_value(&key(1), &encode_value(&key(1), &[])).is_none());
        // a non-finite value, even with a good checksum
        assert!(decode_value(&key(1), &encode_value(&key(1), &[1.0, f32::NAN])).is_none());
        assert!(decode_value(&key(1), &encode_value(&key(1), &[f32::INFINITY])).is_none());
    }

    #[test]
    fn urls_are_checked_and_passwords_kept_out_of_messages() {
        let tier = |urls: &[&str]| RedisTier::new(&RedisOptions::new(urls.iter().map(|s| s.to_string()).collect()));
        assert!(tier(&["redis://127.0.0.1:6379/0"]).is_ok());
        assert!(tier(&["rediss://user:secret@cache.internal:6380/2"]).is_ok());
        assert!(tier(&["redis+cluster://127.0.0.1:7000,127.0.0.1:7001"]).is_ok());
        assert!(tier(&["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]).is_ok());
        for bad in ["http://127.0.0.1:6379", "", "127.0.0.1:6379", "redis://user:secret@host:notaport", "redis://host/notadb"] {
            match tier(&[bad]) {
                Err(e @ Error::InvalidOption { option: "redis.url", .. }) => assert!(!e.to_string().contains("secret"), "{e}"),
                Err(e) => panic!("{bad}: {e}"),
                Ok(_) => panic!("{bad} accepted"),
            }
        }
        assert!(matches!(tier(&[]), Err(Error::InvalidOption { option: "redis.url", .. })));
        assert_eq!(redact("redis://user:secret@host:1/0"), "redis://user:***@host:1/0");
        assert_eq!(redact("redis://:secret@host"), "redis://:***@host");
        assert_eq!(redact("redis://host:1"), "redis://host:1");
    }

    #[test]
    fn cluster_urls_name_every_node() {
        assert_eq!(
            cluster_nodes("rediss+cluster://u:p@a:1,b:2/0").unwrap(),
            ["rediss://u:p@a:1/0".to_string(), "rediss://u:p@b:2/0".to_string()]
        );
        assert_eq!(cluster_nodes("redis+cluster://a:1").unwrap(), ["redis://a:1".to_string()]);
        assert!(cluster_nodes("redis://a:1").is_none());
    }

    #[test]
    fn keys_are_the_prefix_and_the_hex_cache_key_in_braces() {
        let tier = RedisTier::new(&RedisOptions::new(vec!["redis://127.0.0.1:1".into()]).with_prefix("p:")).unwrap();
        let mut k = [0u8; 32];
        k[0] = 0xab;
        let want = format!("p:{{ab{}}}", "0".repeat(62));
        assert_eq!(tier.value_key(&k), want.as_bytes());
        assert_eq!(tier.lease_key(&k), format!("{want}:lease").as_bytes());
    }

    #[tokio::test]
    async fn an_unreachable_server_costs_one_timeout_then_is_skipped() {
        // a port nothing listens on (bound, never accepting, closed again)
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let options = RedisOptions::new(vec![format!("redis://127.0.0.1:{port}")]).with_timeout(Duration::from_millis(100));
        let tier = RedisTier::new(&options).unwrap();
        let started = Instant::now();
        assert!(tier.get_many(&[key(1)]).await.is_none());
        assert!(tier.claim(&[key(1)]).await.is_none());
        tier.put_many(&[(key(1), Vector::from(vec![1.0]))]).await;
        assert_eq!(tier.wait_for(&[key(1)]).await, [None]);
        assert!(started.elapsed() < Duration::from_millis(150), "{:?}", started.elapsed());
        assert_eq!(tier.errors(), 1);
    }
}

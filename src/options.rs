//! JavaScript options, converted into core options where the defaults live, and the value rules
//! every option follows. JavaScript checks only each option's type (a value of the wrong type
//! fails napi-rs's conversion without our error code); ranges and choices are checked here.

use std::path::PathBuf;

use embedder_core::config::check_max_seq_length;
use embedder_core::hub::{HubOptions, DEFAULT_MODEL};
use embedder_core::{Dtype, EmbedderOptions, Error, PoolingMode, DEFAULT_MAX_BATCH_TOKENS};
use napi_derive::napi;

#[napi(object)]
#[derive(Default)]
pub struct NativeEmbedderOptions {
    /// A model folder or a hub id; default: [`DEFAULT_MODEL`].
    pub model: Option<String>,
    /// The hub revision (branch, tag or commit) of a hub id; default `main`.
    pub revision: Option<String>,
    /// The hub cache folder; default: HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub.
    pub cache_dir: Option<String>,
    pub dtype: Option<String>,
    pub model_file: Option<String>,
    pub max_length: Option<f64>,
    pub pooling: Option<String>,
    pub normalize: Option<bool>,
    pub batch_size: Option<f64>,
    pub max_batch_tokens: Option<f64>,
    pub threads: Option<f64>,
    pub truncate_dim: Option<f64>,
    pub runtime_library: Option<String>,
}

impl TryFrom<NativeEmbedderOptions> for EmbedderOptions {
    type Error = Error;

    fn try_from(o: NativeEmbedderOptions) -> Result<Self, Error> {
        let model = o.model.unwrap_or_else(|| DEFAULT_MODEL.to_string());
        let runtime_library = o
            .runtime_library
            .ok_or(Error::InvalidOption { option: "runtimeLibrary", reason: "the ONNX Runtime library path is required".into() })?;
        let dtype = choice("dtype", o.dtype.as_deref(), &Dtype::ALL, |d| d.name())?.unwrap_or_default();
        let pooling = choice("pooling", o.pooling.as_deref(), &POOLING_OPTIONS, |m| m.name())?;
        Ok(EmbedderOptions::new(PathBuf::from(model), PathBuf::from(runtime_library))
            .with_dtype(dtype)
            .with_model_file(o.model_file)
            .with_hub(HubOptions::default().with_revision(o.revision).with_cache_dir(o.cache_dir.map(PathBuf::from)))
            .with_max_length(max_length(o.max_length)?)
            .with_pooling(pooling)
            .with_normalize(o.normalize)
            .with_batch_size(count("batchSize", o.batch_size)?.unwrap_or(32))
            .with_max_batch_tokens(count("maxBatchTokens", o.max_batch_tokens)?.unwrap_or(DEFAULT_MAX_BATCH_TOKENS))
            .with_threads(count("threads", o.threads)?)
            .with_truncate_dim(count("truncateDim", o.truncate_dim)?))
    }
}

/// The pooling modes the `pooling` option can force (a model's own config may name others).
const POOLING_OPTIONS: [PoolingMode; 3] = [PoolingMode::Mean, PoolingMode::Cls, PoolingMode::Max];

/// `'a', 'b' or 'c'`: the values an option accepts, for its error message.
pub fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("'{n}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

/// The value among `values` whose `name` is `given`; `None` when absent.
pub fn choice<T: Copy>(
    option: &'static str,
    given: Option<&str>,
    values: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<Option<T>, Error> {
    let Some(given) = given else {
        return Ok(None);
    };
    match values.iter().copied().find(|v| name(*v) == given) {
        Some(v) => Ok(Some(v)),
        None => Err(Error::InvalidOption { option, reason: format!("must be {}, got '{given}'", one_of(values.iter().map(|v| name(*v)))) }),
    }
}

/// JavaScript's largest exact integer: the limit of options counted in bytes.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// An integer option (a JavaScript number) from `min` to `max`; `None` when absent.
pub fn integer(option: &'static str, value: Option<f64>, min: f64, max: f64) -> Result<Option<usize>, Error> {
    match value {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 && v >= min && v <= max => Ok(Some(v as usize)),
        Some(v) => Err(Error::InvalidOption { option, reason: format!("must be an integer from {min} to {max}, got {v}") }),
    }
}

/// A count (texts, tokens, threads, dimensions): an integer from 1 to 2^32 - 1; `None` when absent.
pub fn count(option: &'static str, value: Option<f64>) -> Result<Option<usize>, Error> {
    integer(option, value, 1.0, u32::MAX as f64)
}

/// `maxLength`: the core's truncation rule ([`check_max_seq_length`]) without the model's position
/// limit, which it checks again once the model's config is read.
fn max_length(value: Option<f64>) -> Result<Option<usize>, Error> {
    value.map(|v| check_max_seq_length(v, None).map_err(|reason| Error::InvalidOption { option: "maxLength", reason })).transpose()
}

/// The shared Redis tier of a cache (`redis` of the CachedEmbedder options; a URL string arrives
/// as `{ urls: [url] }`).
#[napi(object)]
pub struct NativeRedisOptions {
    /// One URL (`redis://`, `rediss://`, `redis+cluster://`), or the nodes of a cluster.
    pub urls: Vec<String>,
    pub prefix: Option<String>,
    pub ttl_seconds: Option<f64>,
    pub timeout_ms: Option<f64>,
    pub lease_ms: Option<f64>,
}

impl TryFrom<NativeRedisOptions> for embedder_core::redis_tier::RedisOptions {
    type Error = Error;

    fn try_from(o: NativeRedisOptions) -> Result<Self, Error> {
        use std::time::Duration;
        let whole = |option: &'static str, v: Option<f64>, max: f64| match v {
            None => Ok(None),
            Some(v) if v.fract() == 0.0 && (1.0..=max).contains(&v) => Ok(Some(v as u64)),
            Some(v) => Err(Error::InvalidOption { option, reason: format!("must be an integer from 1 to {max}, got {v}") }),
        };
        let mut options = Self::new(o.urls);
        if let Some(prefix) = o.prefix {
            options = options.with_prefix(prefix);
        }
        // ten years: past that, a TTL is a mistake for "never" (leave it out)
        options = options.with_ttl(whole("redis.ttlSeconds", o.ttl_seconds, 315_360_000.0)?.map(Duration::from_secs));
        if let Some(ms) = o.timeout_ms {
            if !(ms > 0.0 && ms <= 60_000.0) {
                return Err(Error::InvalidOption {
                    option: "redis.timeoutMs",
                    reason: format!("must be a number of milliseconds above 0 and at most 60000, got {ms}"),
                });
            }
            options = options.with_timeout(Duration::from_secs_f64(ms / 1000.0));
        }
        if let Some(ms) = whole("redis.leaseMs", o.lease_ms, 3_600_000.0)? {
            options = options.with_lease(Duration::from_millis(ms));
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_whole_and_in_range() {
        assert_eq!(count("n", None).unwrap(), None);
        assert_eq!(count("n", Some(1.0)).unwrap(), Some(1));
        assert_eq!(count("n", Some(4_294_967_295.0)).unwrap(), Some(4_294_967_295));
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY, 4_294_967_296.0] {
            let err = count("n", Some(bad)).unwrap_err().to_string();
            assert!(err.contains("`n`") && err.contains("from 1 to 4294967295"), "{bad}: {err}");
        }
        assert_eq!(integer("maxBytes", Some(8e9), 1.0, MAX_SAFE_INTEGER).unwrap(), Some(8_000_000_000));
    }

    #[test]
    fn max_length_states_and_enforces_the_core_range() {
        assert_eq!(max_length(Some(2.0)).unwrap(), Some(2));
        assert_eq!(max_length(None).unwrap(), None);
        for bad in [1.0, 1.5, 0.0, f64::NAN, 4_294_967_296.0] {
            let err = max_length(Some(bad)).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_OPTION");
            let err = err.to_string();
            assert!(err.contains("`maxLength`") && err.contains("from 2 to 4294967295"), "{bad}: {err}");
        }
    }

    #[test]
    fn choices_list_exactly_what_is_accepted() {
        assert_eq!(one_of(["a"]), "'a'");
        assert_eq!(one_of(["a", "b", "c"]), "'a', 'b' or 'c'");
        for name in ["fp32", "q8"] {
            assert_eq!(choice("dtype", Some(name), &Dtype::ALL, |d| d.name()).unwrap().map(|d| d.name()), Some(name));
        }
        let err = choice("dtype", Some("int8"), &Dtype::ALL, |d| d.name()).unwrap_err().to_string();
        assert!(err.contains("must be 'fp32' or 'q8', got 'int8'"), "{err}");
        let err = choice("pooling", Some("median"), &POOLING_OPTIONS, |m| m.name()).unwrap_err().to_string();
        assert!(err.contains("'mean', 'cls' or 'max'"), "{err}");
    }
}

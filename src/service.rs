//! `NativeService`: one handle type for every embedder that runs in Rust — a model, a cache, a
//! micro-batcher — and for a JavaScript embedder adapted (js_base.rs) so the Rust wrappers can stack
//! on it. Stacks of native layers call each other directly, without JavaScript in between.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use embedder_core::batcher::{BatchOptimizedEmbedder, BatchOptions};
use embedder_core::cache::{CacheOptions, CachedEmbedder};
use embedder_core::service::{BoxFuture, EmbedService, ModelService, TextKind};
use embedder_core::{EmbedderOptions, Error, ModelInfo, Progress, Result};
use napi::bindgen_prelude::{ClassInstance, Float32Array, Float32ArraySlice, FnArgs, Function, JsValue, PromiseRaw, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::Env;
use napi_derive::napi;

use crate::error::{guard, guard_future, to_js};
use crate::js_base::{JsEmbedFunction, JsEmbedder};
use crate::options::{count, integer, one_of, NativeEmbedderOptions, MAX_SAFE_INTEGER};

#[napi(object)]
pub struct NativeModelInfo {
    pub model_dir: String,
    pub onnx_path: String,
    pub tokenizer_path: String,
    pub dtype: String,
    pub pooling: String,
    pub normalize: bool,
    pub max_length: u32,
    pub dimension: u32,
    pub input_names: Vec<String>,
    pub output_name: String,
    pub prompts: std::collections::HashMap<String, String>,
    pub threads: u32,
    pub fingerprint: String,
    /// `'file'` or `'derived-q8'` (see `GraphInfo` in the core).
    pub graph_kind: String,
    /// A derived graph: the fp32 graph it comes from.
    pub graph_source: Option<String>,
    /// A derived graph: whether this load derived it.
    pub graph_derived_now: bool,
}

impl From<&ModelInfo> for NativeModelInfo {
    fn from(i: &ModelInfo) -> Self {
        NativeModelInfo {
            model_dir: i.model_dir.display().to_string(),
            onnx_path: i.onnx_path.display().to_string(),
            tokenizer_path: i.tokenizer_path.display().to_string(),
            dtype: i.dtype.name().into(),
            pooling: i.pooling.iter().map(|m| m.name()).collect::<Vec<_>>().join("+"),
            normalize: i.normalize,
            max_length: i.max_length as u32,
            dimension: i.dimension as u32,
            input_names: i.input_names.clone(),
            output_name: i.output_name.clone(),
            prompts: i.prompts.iter().cloned().collect(),
            threads: i.threads as u32,
            fingerprint: i.model_fingerprint.clone(),
            graph_kind: i.graph.kind.into(),
            graph_source: i.graph.source.as_ref().map(|p| p.display().to_string()),
            graph_derived_now: i.graph.derived_now,
        }
    }
}

#[napi(object)]
pub struct NativeCacheOptions {
    pub max_cache_size: Option<f64>,
    pub max_bytes: Option<f64>,
    pub persist_path: Option<String>,
    /// The base's dimension when already known (a JavaScript base's `dimension`).
    pub dimension: Option<u32>,
    pub redis: Option<crate::options::NativeRedisOptions>,
}

#[napi(object)]
pub struct NativeBatchOptions {
    pub batch_size: Option<f64>,
    pub max_wait_ms: Option<f64>,
    pub max_queue: Option<f64>,
}

#[napi(object)]
pub struct NativeCacheStats {
    pub hits: f64,
    pub disk_hits: f64,
    pub misses: f64,
    pub evictions: f64,
    pub entries: u32,
    pub bytes: f64,
    pub hit_rate: f64,
    pub disk_errors: f64,
    pub redis_hits: f64,
    pub redis_errors: f64,
}

impl From<embedder_core::cache::CacheStats> for NativeCacheStats {
    fn from(s: embedder_core::cache::CacheStats) -> Self {
        NativeCacheStats {
            hits: s.hits as f64,
            disk_hits: s.disk_hits as f64,
            misses: s.misses as f64,
            evictions: s.evictions as f64,
            entries: s.entries as u32,
            bytes: s.bytes as f64,
            hit_rate: s.hit_rate(),
            disk_errors: s.disk_errors as f64,
            redis_hits: s.redis_hits as f64,
            redis_errors: s.redis_errors as f64,
        }
    }
}

fn kind_of(kind: &str) -> Result<TextKind> {
    TextKind::parse(kind).ok_or_else(|| Error::InvalidOption {
        option: "kind",
        reason: format!("must be {}, got '{kind}'", one_of(TextKind::ALL.map(TextKind::name))),
    })
}

/// What JavaScript passes to report a download: `(done, total, file)`.
type JsDownloadFn = Function<'static, FnArgs<(f64, f64, String)>, Unknown<'static>>;
type DownloadFn = ThreadsafeFunction<FnArgs<(f64, f64, String)>, Unknown<'static>, FnArgs<(f64, f64, String)>, napi::Status, false, true>;

type ProgressFn = ThreadsafeFunction<FnArgs<(u32, u32)>, Unknown<'static>, FnArgs<(u32, u32)>, napi::Status, false, true>;

/// A cancellation flag for one call, set from JavaScript (an `AbortSignal`'s listener).
#[napi]
pub struct NativeAbort {
    flag: Arc<AtomicBool>,
}

#[napi]
impl NativeAbort {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        NativeAbort { flag: Arc::new(AtomicBool::new(false)) }
    }

    #[napi]
    pub fn abort(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }
}

/// What a `NativeService` is: the layer it adds on top of its base, if any.
enum Layer {
    /// A model, at the bottom of a stack.
    Model(Arc<ModelService>),
    /// A cache, with what went wrong opening its disk tier.
    Cache { cache: Arc<CachedEmbedder>, opening_warnings: Vec<String> },
    /// A micro-batcher.
    Batcher(Arc<BatchOptimizedEmbedder>),
    /// An embedder written in JavaScript, at the bottom of a stack.
    JavaScript(Arc<JsEmbedder>),
}

/// One layer of a stack, as JavaScript holds it: each method applies to one kind of layer and
/// answers the others with `null`, nothing or 0, as its doc says.
#[napi]
pub struct NativeService {
    layer: Layer,
}

impl Layer {
    /// The layer as the embedder the layers above call.
    fn service(&self) -> Arc<dyn EmbedService> {
        match self {
            Layer::Model(model) => model.clone(),
            Layer::Cache { cache, .. } => cache.clone(),
            Layer::Batcher(batcher) => batcher.clone(),
            Layer::JavaScript(js) => js.clone(),
        }
    }

    fn cache(&self) -> Option<&Arc<CachedEmbedder>> {
        match self {
            Layer::Cache { cache, .. } => Some(cache),
            _ => None,
        }
    }

    fn model(&self) -> Option<&Arc<ModelService>> {
        match self {
            Layer::Model(model) => Some(model),
            _ => None,
        }
    }
}

#[napi]
impl NativeService {
    /// A model from a local folder or the hub; it loads on first use. `on_download(done, total,
    /// file)` reports a hub download (`total` is -1 when the server does not say).
    #[napi(
        factory,
        ts_args_type = "options: NativeEmbedderOptions, onDownload?: ((done: number, total: number, file: string) => void) | undefined | null"
    )]
    pub fn model(options: NativeEmbedderOptions, on_download: Option<JsDownloadFn>) -> napi::Result<Self> {
        let on_download: Option<DownloadFn> = match on_download {
            Some(f) => Some(f.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?),
            None => None,
        };
        guard(|| {
            let callback = on_download.map(|tsfn| {
                Arc::new(move |done: u64, total: Option<u64>, file: &str| {
                    let total = total.map_or(-1.0, |t| t as f64);
                    tsfn.call((done as f64, total, file.to_string()).into(), ThreadsafeFunctionCallMode::NonBlocking);
                }) as Arc<dyn Fn(u64, Option<u64>, &str) + Send + Sync>
            });
            let options = EmbedderOptions::try_from(options).map_err(to_js)?.with_download_progress(callback);
            Ok(NativeService { layer: Layer::Model(Arc::new(ModelService::new(options))) })
        })
    }

    /// A JavaScript embedder: `embed(id, texts, kind)` must answer with `settleJs(id, …)`. Its
    /// cache fingerprint is `namespace` (`identified`: it says what determines the vectors, not a
    /// mere class name) and the fingerprints of the native embedders in `parts`.
    #[napi(
        factory,
        ts_args_type = "embed: (id: number, texts: string[], kind: string) => void, namespace: string, identified?: boolean | undefined | null, parts?: NativeService[] | undefined | null"
    )]
    pub fn from_js(
        embed: JsEmbedFunction,
        namespace: String,
        identified: Option<bool>,
        parts: Option<Vec<ClassInstance<'_, NativeService>>>,
    ) -> napi::Result<Self> {
        guard(|| {
            let parts = parts.unwrap_or_default().iter().map(|p| p.layer.service()).collect();
            let js = JsEmbedder::new(embed, namespace, identified.unwrap_or(false), parts)?;
            Ok(NativeService { layer: Layer::JavaScript(Arc::new(js)) })
        })
    }

    /// The answer of a JavaScript embedder to call `id`: the concatenated vectors, or an error
    /// message. Other services have no calls waiting: it does nothing.
    #[napi]
    pub fn settle_js(&self, id: u32, vectors: Option<Float32ArraySlice>, error: Option<String>) -> napi::Result<()> {
        guard(|| {
            if let Layer::JavaScript(js) = &self.layer {
                js.settle(
                    id,
                    match (vectors, error) {
                        (Some(values), None) => Ok(values.to_vec()),
                        (_, error) => Err(Error::Base(error.unwrap_or_else(|| "no vectors".into()))),
                    },
                );
            }
            Ok(())
        })
    }

    #[napi(factory)]
    pub fn cached(base: &NativeService, options: NativeCacheOptions) -> napi::Result<Self> {
        guard(|| {
            let options = CacheOptions {
                max_entries: integer("maxCacheSize", options.max_cache_size, 0.0, u32::MAX as f64).map_err(to_js)?.unwrap_or(10_000),
                max_bytes: integer("maxBytes", options.max_bytes, 1.0, MAX_SAFE_INTEGER).map_err(to_js)?,
                persist: options.persist_path.map(Into::into),
                dimension: options.dimension.map(|d| d as usize),
                redis: options.redis.map(TryFrom::try_from).transpose().map_err(to_js)?,
            };
            let mut opening_warnings = Vec::new();
            let cache = Arc::new(CachedEmbedder::new(base.layer.service(), options, &mut opening_warnings).map_err(to_js)?);
            Ok(NativeService { layer: Layer::Cache { cache, opening_warnings } })
        })
    }

    #[napi(factory)]
    pub fn batched(base: &NativeService, options: NativeBatchOptions) -> napi::Result<Self> {
        guard(|| {
            let defaults = BatchOptions::default();
            let max_wait = match options.max_wait_ms {
                None => defaults.max_wait,
                // refuses negatives, NaN, infinity and values past u64 seconds
                Some(ms) => Duration::try_from_secs_f64(ms / 1000.0).map_err(|_| {
                    to_js(Error::InvalidOption {
                        option: "maxWaitMs",
                        reason: format!("must be a number of milliseconds of at least 0, got {ms}"),
                    })
                })?,
            };
            let options = BatchOptions {
                batch_size: count("batchSize", options.batch_size).map_err(to_js)?.unwrap_or(defaults.batch_size),
                max_wait,
                max_queue: count("maxQueue", options.max_queue).map_err(to_js)?.unwrap_or(defaults.max_queue),
            };
            let batcher = Arc::new(BatchOptimizedEmbedder::new(base.layer.service(), options).map_err(to_js)?);
            Ok(NativeService { layer: Layer::Batcher(batcher) })
        })
    }

    /// Embeds `texts` as `kind` (`'plain' | 'query' | 'document'`); resolves to
    /// `texts.length × dimension` values.
    /// For a model: `truncate_dim` truncates this call's vectors (Matryoshka), `on_progress(done,
    /// total)` runs after each inference batch, and `abort` stops the call before the next one.
    /// Other services check `truncate_dim` and ignore the rest.
    #[napi(
        ts_return_type = "Promise<Float32Array>",
        ts_args_type = "texts: string[], kind: string, truncateDim?: number | undefined | null, onProgress?: ((done: number, total: number) => void) | undefined | null, abort?: NativeAbort | undefined | null"
    )]
    pub fn embed<'env>(
        &self,
        env: &'env Env,
        texts: Vec<String>,
        kind: String,
        truncate_dim: Option<f64>,
        on_progress: Option<Function<FnArgs<(u32, u32)>, Unknown<'static>>>,
        abort: Option<&NativeAbort>,
    ) -> napi::Result<PromiseRaw<'env, Float32Array>> {
        guard(|| {
            let kind = kind_of(&kind).map_err(to_js)?;
            // the same rule as the constructor's `truncateDim`; its upper bound is the model's dimension
            let truncate_dim = count("truncateDim", truncate_dim).map_err(to_js)?;
            let report: Option<Box<dyn Fn(usize, usize) + Send + Sync>> = match on_progress {
                Some(f) => {
                    let tsfn: ProgressFn = f.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?;
                    Some(Box::new(move |done, total| {
                        tsfn.call((done as u32, total as u32).into(), ThreadsafeFunctionCallMode::NonBlocking);
                    }))
                }
                None => None,
            };
            let progress = Progress::new(report, abort.map(|a| a.flag.clone()));
            let call: BoxFuture<Result<Vec<f32>>> = match &self.layer {
                // a bare model fills one buffer directly; stacks assemble rows
                Layer::Model(model) => Box::pin(model.clone().embed_flat(texts, kind, truncate_dim, progress)),
                // a batcher counts the request now, on the JavaScript thread, so that calls are
                // admitted (or refused past maxQueue) in the order they were made
                Layer::Batcher(batcher) => {
                    let admitted = batcher.admit(texts.len()).map(|()| batcher.clone());
                    Box::pin(async move {
                        let rows = admitted?.embed_admitted(texts, kind).await?;
                        Ok(rows.into_iter().collect::<Result<Vec<_>>>()?.concat())
                    })
                }
                Layer::Cache { .. } | Layer::JavaScript(_) => {
                    let service = self.layer.service();
                    Box::pin(async move { service.embed_batch(texts, kind).await.map(|rows| rows.concat()) })
                }
            };
            env.spawn_future(guard_future(async move { Ok(Float32Array::new(call.await.map_err(to_js)?)) }))
        })
    }

    /// For a cache: the vectors if every text is already in memory, else `null` (then call
    /// `embed`). `null` for other services.
    #[napi]
    pub fn cached_now(&self, texts: Vec<String>, kind: String) -> napi::Result<Option<Float32Array>> {
        guard(|| {
            let Some(cache) = self.layer.cache() else {
                return Ok(None);
            };
            let kind = kind_of(&kind).map_err(to_js)?;
            Ok(cache.get_all_in_memory(&texts, kind).map(|rows| Float32Array::new(rows.iter().flat_map(|v| v.iter().copied()).collect())))
        })
    }

    /// For a cache: a function `hit(text, kind) → length` that copies the vector of `text` into
    /// `out` if it is in memory (kind 0 plain, 1 query, 2 document) and returns its length, 0 on a
    /// miss; `null` for other services. The fast path of a cache hit: no allocation, no promise.
    #[napi(ts_return_type = "((text: string, kind: number) => number) | null")]
    pub fn hit_function<'env>(
        &self,
        env: &'env Env,
        #[napi(ts_arg_type = "Float32Array")] out: Unknown<'env>,
    ) -> napi::Result<Option<Unknown<'env>>> {
        guard(|| match self.layer.cache() {
            Some(cache) => crate::hit::hit_function(env.raw(), cache.clone(), out.raw()).map(Some),
            None => Ok(None),
        })
    }

    /// For a model: loads it now; resolves to its description. `null` for other services.
    #[napi(ts_return_type = "Promise<NativeModelInfo | null>")]
    pub fn initialize<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Option<NativeModelInfo>>> {
        let model = self.layer.model().cloned();
        env.spawn_future(guard_future(async move {
            match model {
                Some(model) => Ok(Some(model.run(|e| Ok(NativeModelInfo::from(e.info()))).await.map_err(to_js)?)),
                None => Ok(None),
            }
        }))
    }

    /// For a model: its description once it is loaded, else `null`. `null` for other services.
    #[napi]
    pub fn info(&self) -> napi::Result<Option<NativeModelInfo>> {
        guard(|| Ok(self.layer.model().and_then(|m| m.loaded()).map(|e| NativeModelInfo::from(e.info()))))
    }

    /// For a model: frees it; calls already running finish, later ones reject with
    /// `ERR_DISPOSED`. Does nothing for other services.
    #[napi]
    pub fn dispose(&self) -> napi::Result<()> {
        // dropping the model runs ONNX Runtime's destructors
        guard(|| {
            if let Some(model) = self.layer.model() {
                model.dispose();
            }
            Ok(())
        })
    }

    /// Whether `dispose` freed the model; `false` for other services.
    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.layer.model().is_some_and(|m| m.is_disposed())
    }

    /// For a cache: its counters; `null` for other services.
    #[napi]
    pub fn stats(&self) -> napi::Result<Option<NativeCacheStats>> {
        guard(|| Ok(self.layer.cache().map(|cache| NativeCacheStats::from(cache.stats()))))
    }

    /// For a cache: empties its memory and disk tiers. Does nothing for other services.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn clear<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let cache = self.layer.cache().cloned();
        env.spawn_future(guard_future(async move {
            if let Some(cache) = cache {
                cache.clear().await.map_err(to_js)?;
            }
            Ok(())
        }))
    }

    /// For a cache: what went wrong opening its disk tier (it was then rebuilt or bypassed).
    /// Empty for other services.
    #[napi(getter)]
    pub fn warnings(&self) -> Vec<String> {
        match &self.layer {
            Layer::Cache { opening_warnings, .. } => opening_warnings.clone(),
            _ => Vec::new(),
        }
    }

    /// For a cache: what went wrong with its disk tier since the last call (each kind of problem
    /// once; the cache worked from memory meanwhile). Empty for other services.
    #[napi]
    pub fn take_warnings(&self) -> napi::Result<Vec<String>> {
        guard(|| Ok(self.layer.cache().map_or_else(Vec::new, |c| c.take_warnings())))
    }

    /// For a batcher: requests waiting in its queue or running. 0 for other services.
    #[napi(getter)]
    pub fn pending(&self) -> u32 {
        match &self.layer {
            Layer::Batcher(batcher) => batcher.pending() as u32,
            _ => 0,
        }
    }
}

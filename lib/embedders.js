'use strict'
// Embedder, CachedEmbedder and BatchOptimizedEmbedder: JavaScript faces of native services
// (src/service.rs). Stacks of them run entirely in Rust; a JavaScript embedder under a wrapper is
// called through one adapter.

const { native, runtimeLibrary } = require('../binding.js')
const { EmbedderError, fail, nativeCall, nativeSync, optionTypes, splitRows } = require('./common.js')
const { EmbedderBase, abortError, abortable } = require('./base.js')
const { checkEmbedder, embedMany } = require('./wrapped.js')
const { identityOf } = require('./identity.js')

/** The native service behind each of our embedders. */
const services = new WeakMap()

/**
 * The Embedder options for the native side, which checks their values (src/options.rs).
 * @param {unknown} options
 * @returns {import('../native').NativeEmbedderOptions}
 */
function checkOptions(options) {
  const o = optionTypes(options, 'Embedder', {
    revision: 'non-empty string',
    cacheDir: 'non-empty string',
    dtype: 'string',
    modelFile: 'string',
    maxLength: 'number',
    pooling: 'string',
    normalize: 'boolean',
    batchSize: 'number',
    maxBatchTokens: 'number',
    threads: 'number',
    truncateDim: 'number',
    onProgress: 'function',
  })
  // absent: the native default, sentence-transformers/all-MiniLM-L6-v2 from the hub
  const model = o.model ?? o.modelName
  if (model !== undefined && (typeof model !== 'string' || model === '')) {
    throw fail('ERR_INVALID_OPTION', '`model` must be a model folder or a Hugging Face hub id like sentence-transformers/all-MiniLM-L6-v2 (`modelName` is accepted too)')
  }
  return {
    model,
    dtype: o.dtype,
    modelFile: o.modelFile,
    revision: o.revision,
    cacheDir: o.cacheDir,
    maxLength: o.maxLength,
    pooling: o.pooling,
    normalize: o.normalize,
    batchSize: o.batchSize,
    maxBatchTokens: o.maxBatchTokens,
    threads: o.threads,
    truncateDim: o.truncateDim,
    runtimeLibrary: runtimeLibrary(),
  }
}

/**
 * `onProgress` of the Embedder options (checked by checkOptions), called as `{ phase: 'download',
 * file, done, total }` while a hub model downloads.
 * @param {{ onProgress?: (progress: { phase: 'download', file: string, done: number, total?: number }) => void } | undefined} options
 */
function downloadReporter(options) {
  const onProgress = options?.onProgress
  if (onProgress === undefined) return undefined
  /** @type {(done: number, total: number, file: string) => void} */
  return (done, total, file) => onProgress({ phase: 'download', file, done, total: total < 0 ? undefined : total })
}

function publicInfo(info) {
  return Object.freeze({
    modelPath: info.modelDir,
    onnxPath: info.onnxPath,
    graph: Object.freeze({ kind: info.graphKind, source: info.graphSource ?? undefined, derivedNow: info.graphDerivedNow }),
    tokenizerPath: info.tokenizerPath,
    dtype: info.dtype,
    pooling: info.pooling,
    normalize: info.normalize,
    maxLength: info.maxLength,
    dimension: info.dimension,
    inputNames: Object.freeze([...info.inputNames]),
    outputName: info.outputName,
    prompts: Object.freeze({ ...info.prompts }),
    threads: info.threads,
  })
}

/** Vectors of a JavaScript embedder, already checked by embedMany (checkVectors), packed in one Float32Array. */
function pack(vectors) {
  const dim = vectors.length === 0 ? 0 : vectors[0].length
  const flat = new Float32Array(vectors.length * dim)
  for (let i = 0; i < vectors.length; i++) flat.set(vectors[i], i * dim)
  return flat
}

/**
 * The native service for `base`: its own if it is one of ours, else an adapter over its methods.
 * The adapter's cache keys come from `namespace` and, for our own JavaScript classes (TF-IDF,
 * hybrid, quantized), from their settings; a user's embedder without `namespace` is known only by
 * its class name, which a persistent cache refuses (the native side says so).
 */
function serviceOf(base, namespace) {
  const own = services.get(base)
  if (own) return own
  checkEmbedder(base, 'base')
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace === '')) {
    throw fail('ERR_INVALID_OPTION', '`namespace` must be a non-empty string')
  }
  const identity = identityOf(base, (e) => services.get(e))
  const name = [namespace, identity?.text].filter((s) => s !== undefined).join('\0') || (base.constructor?.name ?? 'Object')
  const service = native.NativeService.fromJs((id, texts, kind) => {
    embedMany(base, texts, kind, 'base').then(
      (vectors) => {
        let flat
        try {
          flat = pack(vectors)
        } catch (err) {
          return service.settleJs(id, null, err.message)
        }
        service.settleJs(id, flat, null)
      },
      (err) => service.settleJs(id, null, String(err?.message ?? err)),
    )
  }, name, namespace !== undefined || identity !== null, identity?.parts ?? [])
  return service
}

/** The number of each text kind on the cache-hit path, as the native side numbers them. */
const KIND_NUMBERS = Object.fromEntries(native.textKinds().map((kind, i) => [kind, i]))

/** Where a cache copies a hit; large enough for any embedding. Never detached: caches keep it. */
const scratch = new Float32Array(65536)

/** Packed arrays of doubles by length: copying one and overwriting it beats filling a new Array. */
const templates = new Map()

function toArray(values, n) {
  let template = templates.get(n)
  if (!template) templates.set(n, (template = Array.from({ length: n }, () => 0.5)))
  const out = template.slice()
  for (let i = 0; i < n; i++) out[i] = values[i]
  return out
}

/**
 * What Embedder, CachedEmbedder and BatchOptimizedEmbedder share: a native service behind the
 * embedding methods.
 * @extends {EmbedderBase<number[] | Float32Array>}
 */
class NativeEmbedder extends EmbedderBase {
  /** For a cache, `hit(text, kind) → length` copying a vector held in memory into `scratch`. */
  #hit

  /** @param {import('../native').NativeService} service */
  constructor(service) {
    super()
    services.set(this, service)
    this.#hit = service.hitFunction(scratch)
  }

  /** The vectors of `texts` if all are in a cache's memory, else `null`; nothing to convert otherwise. */
  _cachedAll(texts, kind) {
    return this.#hit ? services.get(this).cachedNow(texts, kind) : null
  }

  async _embedTexts(texts, kind, call) {
    const service = services.get(this)
    const { output, signal, onProgress } = call
    if (signal?.aborted) throw abortError(signal)
    if (texts.length === 1 && call.truncateDim === undefined) {
      const hit = this._cachedOne(texts[0], kind, output)
      if (hit) {
        onProgress?.({ done: 1, total: 1 })
        return [hit]
      }
    }
    if (texts.length === 0) {
      if (service.disposed) throw fail('ERR_DISPOSED', 'the embedder was disposed; create a new one to embed again')
      return []
    }
    if (this._callShape.truncateDim || (!onProgress && !signal)) {
      // a model reports and checks for abort after each inference batch, natively
      let abort = null
      let onAbort = null
      if (signal) {
        abort = new native.NativeAbort()
        onAbort = () => abort.abort()
        signal.addEventListener('abort', onAbort, { once: true })
      }
      const report = onProgress && ((done, total) => onProgress({ done, total }))
      try {
        const flat = this._cachedAll(texts, kind) ?? (await abortable(nativeCall(() => service.embed(texts, kind, call.truncateDim, report, abort)), signal))
        return splitRows(flat, texts.length, output)
      } catch (err) {
        throw err?.code === 'ERR_ABORTED' ? abortError(signal) : err
      } finally {
        if (onAbort) signal.removeEventListener('abort', onAbort)
      }
    }
    // a wrapper goes through its stack a chunk at a time
    return super._embedTexts(texts, kind, call)
  }

  async _embedChunk(texts, kind, call) {
    const flat = this._cachedAll(texts, kind) ?? (await nativeCall(() => services.get(this).embed(texts, kind)))
    return splitRows(flat, texts.length, call.output)
  }

  /** A cache hit for one text, without a native promise; `undefined` on a miss. */
  _cachedOne(text, kind, output) {
    if (!this.#hit) return undefined
    const n = this.#hit(text, KIND_NUMBERS[kind])
    if (n > 0) return output === 'array' ? toArray(scratch, n) : scratch.slice(0, n)
  }

  embed(input, options) {
    // a cache hit on one string resolves without awaiting anything
    if (typeof input === 'string' && options === undefined) {
      const hit = this._cachedOne(input, 'plain', 'array')
      if (hit) return Promise.resolve(hit)
    }
    return super.embed(input, options)
  }
}

/**
 * A sentence-transformers model exported to ONNX, loaded from a local folder, embedding text
 * exactly as sentence-transformers does. Construction is synchronous; the model loads on first
 * use, on `initialize()`, or in `Embedder.create()`.
 */
class Embedder extends NativeEmbedder {
  #info = null

  constructor(options) {
    super(nativeSync(() => native.NativeService.model(checkOptions(options), downloadReporter(options))))
  }

  get _callShape() {
    return { output: true, truncateDim: true, name: 'Embedder' }
  }

  static async create(options) {
    const embedder = new this(options)
    await embedder.initialize()
    return embedder
  }

  async initialize() {
    const service = services.get(this)
    if (service.disposed) throw fail('ERR_DISPOSED', 'the embedder was disposed; create a new one to embed again')
    if (!this.#info) this.#info = publicInfo(await nativeCall(() => service.initialize()))
    return this
  }

  /** Embedding size; `undefined` until the model has loaded. */
  get dimension() {
    return this.#loadedInfo()?.dimension
  }

  /** Tokens per text after truncation; `undefined` until the model has loaded. */
  get maxLength() {
    return this.#loadedInfo()?.maxLength
  }

  /** Paths, pooling, normalisation, input names and dtype; `undefined` until the model has loaded. */
  get modelInfo() {
    return this.#loadedInfo() ?? undefined
  }

  #loadedInfo() {
    if (!this.#info) {
      const info = services.get(this).info()
      if (info) this.#info = publicInfo(info)
    }
    return this.#info
  }

  /** Frees the model. Calls already running finish; later calls reject with ERR_DISPOSED. */
  dispose() {
    services.get(this).dispose()
  }
}

/**
 * The `redis` option for the native side: a URL, or `{ url, prefix?, ttlSeconds?, timeoutMs?,
 * leaseMs? }` where `url` may list the nodes of a cluster. Only shapes here: the native side checks
 * the URLs and ranges (src/options.rs, redis_tier.rs).
 */
function redisOptions(redis) {
  if (redis === undefined) return undefined
  if (typeof redis === 'string') return { urls: [redis] }
  const shape = '`redis` must be a URL string or { url: string | string[], prefix?, ttlSeconds?, timeoutMs?, leaseMs? }'
  if (redis === null || typeof redis !== 'object') throw fail('ERR_INVALID_OPTION', shape)
  const url = redis.url
  const urls = typeof url === 'string' ? [url] : Array.isArray(url) && url.length > 0 && url.every((u) => typeof u === 'string') ? [...url] : null
  if (urls === null) throw fail('ERR_INVALID_OPTION', shape)
  for (const [key, type] of [['prefix', 'string'], ['ttlSeconds', 'number'], ['timeoutMs', 'number'], ['leaseMs', 'number']]) {
    if (redis[key] !== undefined && typeof redis[key] !== type) throw fail('ERR_INVALID_OPTION', `\`redis.${key}\` must be a ${type}`)
  }
  return { urls, prefix: redis.prefix, ttlSeconds: redis.ttlSeconds, timeoutMs: redis.timeoutMs, leaseMs: redis.leaseMs }
}

/**
 * Caches the vectors of any embedder (ours or a JavaScript one) by sha256 of what determines them
 * and the text: an LRU in memory, optionally a SQLite file on disk, optionally Redis shared by a
 * fleet of processes.
 */
class CachedEmbedder extends NativeEmbedder {
  #base

  constructor(base, options) {
    const o = optionTypes(options, 'CachedEmbedder', { maxCacheSize: 'number', maxBytes: 'number' })
    const persist = o.persist
    if (persist !== undefined && (persist === null || typeof persist !== 'object' || typeof persist.path !== 'string')) {
      throw fail('ERR_INVALID_OPTION', '`persist` must be { path: string }')
    }
    const service = nativeSync(() =>
      native.NativeService.cached(serviceOf(base, o.namespace), {
        maxCacheSize: o.maxCacheSize,
        maxBytes: o.maxBytes,
        persistPath: persist?.path,
        redis: redisOptions(o.redis),
        dimension: Number.isInteger(base?.dimension) && base.dimension > 0 ? base.dimension : undefined,
      }),
    )
    super(service)
    this.#base = base
    for (const warning of service.warnings) process.emitWarning(warning, { code: 'EMBEDDER_CACHE_FILE' })
  }

  async _embedTexts(texts, kind, call) {
    try {
      return await super._embedTexts(texts, kind, call)
    } finally {
      // problems of the disk tier found during the call (it then worked from memory)
      this.#emitWarnings()
    }
  }

  #emitWarnings() {
    for (const warning of services.get(this).takeWarnings()) process.emitWarning(warning, { code: 'EMBEDDER_CACHE_FILE' })
  }

  get dimension() {
    return this.#base.dimension
  }

  /** `{ hits, misses, evictions, entries, bytes, hitRate, diskHits, diskErrors, redisHits, redisErrors }` since creation. */
  stats() {
    const s = services.get(this).stats()
    return {
      hits: s.hits,
      misses: s.misses,
      evictions: s.evictions,
      entries: s.entries,
      bytes: s.bytes,
      hitRate: s.hitRate,
      diskHits: s.diskHits,
      diskErrors: s.diskErrors,
      redisHits: s.redisHits,
      redisErrors: s.redisErrors,
    }
  }

  /** Empties the memory and disk tiers (not the Redis tier, which other processes share). */
  async clear() {
    try {
      await nativeCall(() => services.get(this).clear())
    } finally {
      this.#emitWarnings()
    }
  }
}

/**
 * Coalesces single calls made at about the same time into batch calls on its base: a batch
 * leaves when it holds `batchSize` texts or `maxWaitMs` after its first request.
 */
class BatchOptimizedEmbedder extends NativeEmbedder {
  #base

  constructor(base, options) {
    const o = optionTypes(options, 'BatchOptimizedEmbedder', { batchSize: 'number', maxWaitMs: 'number', maxQueue: 'number' })
    super(
      nativeSync(() =>
        native.NativeService.batched(serviceOf(base, o.namespace), { batchSize: o.batchSize, maxWaitMs: o.maxWaitMs, maxQueue: o.maxQueue }),
      ),
    )
    this.#base = base
  }

  get dimension() {
    return this.#base.dimension
  }

  /** Requests queued or running. */
  get pending() {
    return services.get(this).pending
  }
}

module.exports = { Embedder, CachedEmbedder, BatchOptimizedEmbedder, EmbedderError }

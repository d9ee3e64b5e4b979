/** Options of `new Embedder()`. All optional: what is not given comes from the model's own files. */
export interface EmbedderOptions {
  /**
   * Folder of a sentence-transformers model exported to ONNX (`onnx/model.onnx` or `model.onnx`, `tokenizer.json`, configs),
   * or a Hugging Face hub id (`'owner/name'`) fetched into the hub cache. Default: `'sentence-transformers/all-MiniLM-L6-v2'`.
   */
  model?: string
  /** Synonym of `model`, the name RAG tutorials use. */
  modelName?: string
  /**
   * `'fp32'` (default, `model.onnx`) or `'q8'`: the int8 graph derived from `model.onnx` once and kept
   * in a cache folder (`RAG_NATIVE_CACHE`, else `~/.cache/rag-native`; beside the hub cache entry for a
   * hub model), whose per-row scales give a text the same vector in any batch. A folder with no fp32
   * graph runs its `model_quantized.onnx`; `modelFile: 'onnx/model_quantized.onnx'` picks that file.
   * A static model has no graph to quantize: `'q8'` fails with `ERR_INVALID_OPTION`.
   */
  dtype?: 'fp32' | 'q8'
  /** An ONNX file inside the model folder, loaded as it is, instead of the one `dtype` picks. */
  modelFile?: string
  /** Hub branch, tag or commit of a hub id (default `'main'`). */
  revision?: string
  /** Hub cache folder; default `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
  cacheDir?: string
  /** Truncation length in tokens; default: the model's `max_seq_length`. */
  maxLength?: number
  /** Pooling override; default: the model's `1_Pooling/config.json`. */
  pooling?: 'mean' | 'cls' | 'max'
  /** Normalisation override; default: whether `modules.json` lists a Normalize module. */
  normalize?: boolean
  /** Texts per inference call (default 32). */
  batchSize?: number
  /** Padded tokens (texts × longest) per inference call (default 512); longer texts run alone. */
  maxBatchTokens?: number
  /** ONNX Runtime intra-op threads; default: the cores this process may use (the CPU quota in a container). */
  threads?: number
  /** Matryoshka truncation: keep the first N dimensions, normalised again if the model normalises. */
  truncateDim?: number
  /** Reports a hub download: `{ phase: 'download', file, done, total }` in bytes (`total` undefined when unknown). */
  onProgress?: (progress: { phase: 'download'; file: string; done: number; total: number | undefined }) => void
}

/** Options of a call whose results are not float vectors (`QuantizedEmbedder`): progress and abort. */
export interface CallOptions {
  /** Called after each chunk of 32 texts. */
  onProgress?: (progress: { done: number; total: number }) => void
  /** Stops the work within one chunk; the call rejects with an `AbortError` (`code: 'ABORT_ERR'`). */
  signal?: AbortSignal
}

/** Options of one embedding call. */
export interface EmbedOptions {
  /** `'array'` (default) returns `number[]` vectors; `'float32'` returns `Float32Array`s, which skips a conversion. */
  output?: 'array' | 'float32'
  /** Called after each inference batch (a chunk of 32 texts for wrappers). */
  onProgress?: (progress: { done: number; total: number }) => void
  /** Stops the work within one batch; the call rejects with an `AbortError` (`code: 'ABORT_ERR'`). */
  signal?: AbortSignal
  /** `Embedder` calls only: keep the first N dimensions (normalised again if the model normalises). */
  truncateDim?: number
}

export interface EmbedFloat32Options extends EmbedOptions {
  output: 'float32'
}

/** What was loaded. */
export interface ModelInfo {
  readonly modelPath: string
  /**
   * The graph file ONNX Runtime runs (for `dtype: 'q8'`, usually the int8 graph derived from the model's fp32 graph);
   * for a static model, its token-vector file (`model.safetensors`).
   */
  readonly onnxPath: string
  /**
   * Which graph runs: `'file'`, a graph file of the model folder as it is; `'derived-q8'`, the int8
   * graph derived from the fp32 graph `source` (per-row activation scales), kept in a cache folder
   * and reused by later loads (`derivedNow` is true only for the load that derived it); `'static'`,
   * none: a static model (sentence-transformers `StaticEmbedding` or model2vec), whose token vectors
   * are averaged without ONNX Runtime (`inputNames` is empty). See docs/static-models.md.
   */
  readonly graph: { readonly kind: 'file' | 'derived-q8' | 'built' | 'static'; readonly source?: string; readonly derivedNow: boolean }
  readonly tokenizerPath: string
  readonly dtype: 'fp32' | 'q8'
  /** Pooling mode(s), e.g. `'mean'`; several modes are joined by `+`. */
  readonly pooling: string
  readonly normalize: boolean
  readonly maxLength: number
  readonly dimension: number
  /** The inputs the ONNX graph declares, which are the only ones fed. */
  readonly inputNames: readonly string[]
  readonly outputName: string
  /** Prompts from `config_sentence_transformers.json`, by name. */
  readonly prompts: Readonly<Record<string, string>>
  readonly threads: number
}

/** Error codes, stable across versions. */
export type EmbedderErrorCode =
  | 'ERR_MODEL_NOT_FOUND'
  | 'ERR_MODEL_INVALID'
  | 'ERR_INVALID_INPUT'
  | 'ERR_INVALID_OPTION'
  | 'ERR_DISPOSED'
  | 'ERR_RUNTIME'
  | 'ERR_NOT_FITTED'
  | 'ERR_QUEUE_FULL'
  | 'ABORT_ERR'
  | 'ERR_BASE_FAILED'
  | 'ERR_AUTH'
  | 'ERR_OFFLINE'
  | 'ERR_NETWORK'

export declare class EmbedderError extends Error {
  constructor(code: EmbedderErrorCode, message: string, options?: ErrorOptions)
  readonly code: EmbedderErrorCode
}

/** The embedding methods every embedder of this package has. */
export interface TextEmbedder {
  embed(text: string, options?: EmbedOptions & { output?: 'array' }): Promise<number[]>
  embed(text: string, options: EmbedFloat32Options): Promise<Float32Array>
  embed(texts: string[], options?: EmbedOptions & { output?: 'array' }): Promise<number[][]>
  embed(texts: string[], options: EmbedFloat32Options): Promise<Float32Array[]>
  embedBatch(texts: string[], options?: EmbedOptions & { output?: 'array' }): Promise<number[][]>
  embedBatch(texts: string[], options: EmbedFloat32Options): Promise<Float32Array[]>
  embedQuery(text: string, options?: EmbedOptions & { output?: 'array' }): Promise<number[]>
  embedQuery(text: string, options: EmbedFloat32Options): Promise<Float32Array>
  embedDocuments(texts: string[], options?: EmbedOptions & { output?: 'array' }): Promise<number[][]>
  embedDocuments(texts: string[], options: EmbedFloat32Options): Promise<Float32Array[]>
}

/**
 * A sentence-transformers model exported to ONNX, embedding text exactly as sentence-transformers
 * does. Inference runs off the JavaScript thread.
 */
export interface Embedder extends TextEmbedder {}
/** `embedQuery` / `embedDocuments` prepend the model's `query` / `document` prompts when it defines them. */
export declare class Embedder {
  /** Checks the options; the model loads on first use or on `initialize()`. */
  constructor(options?: EmbedderOptions)
  /** A loaded embedder; rejects if the model cannot be loaded (or fetched from the hub). */
  static create(options?: EmbedderOptions): Promise<Embedder>
  /** Loads the model now. */
  initialize(): Promise<this>
  /** Embedding size; `undefined` until the model has loaded. */
  readonly dimension: number | undefined
  /** Truncation length in tokens; `undefined` until the model has loaded. */
  readonly maxLength: number | undefined
  /** `undefined` until the model has loaded. */
  readonly modelInfo: ModelInfo | undefined

  /** Frees the model and returns its memory to the system (a few ms); running calls finish, later ones reject with `ERR_DISPOSED`. */
  dispose(): void
}


export interface CachedEmbedderOptions {
  /** Entries kept in memory (default 10,000; least recently used go first). */
  maxCacheSize?: number
  /** Bytes kept in memory: 4 per value plus 32 per key. */
  maxBytes?: number
  /**
   * Cache key namespace for a JavaScript base: a name for what determines its vectors (model,
   * settings). Required for a user's embedder under `persist` (ERR_INVALID_OPTION otherwise);
   * this package's TF-IDF, hybrid and quantized embedders are keyed by their own settings.
   */
  namespace?: string
  /**
   * A second tier in a SQLite file that survives restarts and can be shared by processes. A folder,
   * or an existing file that is not such a cache file, is ERR_INVALID_OPTION and is left untouched.
   */
  persist?: { path: string }
  /**
   * A tier shared by a fleet of processes and machines, after `persist`: memory → file → Redis →
   * base. A URL (`redis://[user:password@]host:port/db`, `rediss://` for TLS,
   * `redis+cluster://host:port,host:port` for a Redis Cluster) or the options. Texts that several
   * processes miss at once are computed by one of them. Redis trouble (down, slow, full, errors)
   * never fails an embedding: the vectors are computed, and counted in `stats().redisErrors`.
   * A bad URL or option is ERR_INVALID_OPTION naming it. See docs/fleet.md.
   */
  redis?: string | RedisTierOptions
}

export interface RedisTierOptions {
  /** A URL as above, or the nodes of a Redis Cluster (`['redis://10.0.0.1:7000', …]`). */
  url: string | string[]
  /** Prepended to every key (default `'rag-native:v1:'`). */
  prefix?: string
  /** Values expire this long after they were written (an integer; default: never). */
  ttlSeconds?: number
  /** The longest any Redis operation is waited for, connecting included (default 250). */
  timeoutMs?: number
  /**
   * How long a process may hold texts it is computing before the others waiting for them compute
   * them too (default 10,000).
   */
  leaseMs?: number
}

export interface CacheStats {
  hits: number
  misses: number
  evictions: number
  entries: number
  bytes: number
  hitRate: number
  /** Hits served from the disk tier (included in `hits`). */
  diskHits: number
  /**
   * Operations on the cache file that could not use it (locked, unreadable, read-only): the
   * cache worked from memory; each kind of problem is also warned about once (EMBEDDER_CACHE_FILE).
   */
  diskErrors: number
  /** Hits served from Redis (included in `hits`), vectors another process computed meanwhile included. */
  redisHits: number
  /** Redis operations that failed or timed out: the vectors were computed instead. */
  redisErrors: number
}

/**
 * Caches any embedder's vectors by sha256 of what determines them (model files, pooling,
 * normalisation, length, dtype, prompt — or `namespace` for a JavaScript base) and the text.
 */
export interface CachedEmbedder extends TextEmbedder {}
export declare class CachedEmbedder {
  constructor(base: EmbedderLike, options?: CachedEmbedderOptions)
  readonly dimension: number | undefined
  stats(): CacheStats
  /** Empties the memory and disk tiers (not the Redis tier, which other processes share). */
  clear(): Promise<void>
}

export interface BatchOptimizedEmbedderOptions {
  /** Texts per batch sent to the base (default 32). */
  batchSize?: number
  /** How long a batch waits for company after its first request (default 2; 0 = send when the base is free). */
  maxWaitMs?: number
  /** Requests queued or running past which calls reject with ERR_QUEUE_FULL (default 10,000). */
  maxQueue?: number
  /** Cache key namespace passed down for a JavaScript base. */
  namespace?: string
}

/** Coalesces concurrent single calls into batch calls on its base; one bad text fails alone. */
export interface BatchOptimizedEmbedder extends TextEmbedder {}
export declare class BatchOptimizedEmbedder {
  constructor(base: EmbedderLike, options?: BatchOptimizedEmbedderOptions)
  readonly dimension: number | undefined
  /** Requests queued or running. */
  readonly pending: number
}

/** The name RAG tutorials use for `Embedder`. */
export declare const SentenceTransformerEmbedder: typeof Embedder
export type SentenceTransformerEmbedder = Embedder

/** The cores this process may use: the default of `threads`. */
export declare function defaultThreads(): number

// Quantization and similarity

/** sentence-transformers' `quantize_embeddings` precisions, and a per-vector min-max int8. */
export type QuantizationPrecision = 'int8' | 'uint8' | 'binary' | 'ubinary' | 'int8-minmax'

/** A float vector. */
export type Vector = Float32Array | Float64Array | readonly number[]

/** Per-dimension calibration ranges `[min, max]` (sentence-transformers' `ranges`, shape [2][dimension]). */
export type QuantizationRanges = readonly [Float32Array | readonly number[], Float32Array | readonly number[]]

/** An `int8-minmax` vector: `values[i] = round((x[i] - min) / step) - 128`, `step = (max - min) / 255`. */
export interface MinMaxQuantized {
  values: Int8Array
  min: number
  max: number
}

/** What one vector quantizes to: Int8Array for `int8` and `binary`, Uint8Array for `uint8` and `ubinary`. */
export type Quantized<P extends QuantizationPrecision = QuantizationPrecision> = P extends 'int8' | 'binary'
  ? Int8Array
  : P extends 'uint8' | 'ubinary'
    ? Uint8Array
    : MinMaxQuantized

export interface QuantizeOptions<P extends QuantizationPrecision = QuantizationPrecision> {
  precision: P
  /** int8 / uint8: each dimension's `[min, max]`. */
  ranges?: QuantizationRanges
  /** int8 / uint8 without `ranges`: vectors whose per-dimension min and max become the ranges. Without either, the ranges of the vectors being quantized. */
  calibration?: readonly Vector[]
}

export interface DequantizeOptions<P extends QuantizationPrecision = QuantizationPrecision> extends QuantizeOptions<P> {
  /** binary / ubinary: values per vector, when not 8 per byte. */
  dimension?: number
}

/** Quantizes one vector, exactly as sentence-transformers' `quantize_embeddings` does (or per vector for `int8-minmax`). */
export declare function quantize<P extends QuantizationPrecision>(vector: Vector, options: QuantizeOptions<P>): Quantized<P>
/** Quantizes each vector; all must have the same dimension. */
export declare function quantize<P extends QuantizationPrecision>(vectors: readonly Vector[], options: QuantizeOptions<P>): Quantized<P>[]
/**
 * Back to floats: int8/uint8 codes to the centre of their bucket (within half a step of the
 * original inside the ranges), sign bits to +1 / -1, min-max codes to `min + (value + 128) * step`.
 */
export declare function dequantize<P extends QuantizationPrecision>(codes: Quantized<P> | readonly number[], options: DequantizeOptions<P>): Float32Array
export declare function dequantize<P extends QuantizationPrecision>(codes: readonly Quantized<P>[], options: DequantizeOptions<P>): Float32Array[]
/** Each dimension's minimum and maximum over `vectors`: ranges for int8 / uint8. */
export declare function calibrationRanges(vectors: readonly Vector[]): [Float32Array, Float32Array]

/** Cosine similarity of two float vectors. */
export declare function cosine(a: Vector, b: Vector): number
/** Cosine similarity of `query` with each vector. */
export declare function cosine(query: Vector, vectors: readonly Vector[]): Float32Array
/** Exact dot product of int8 codes. */
export declare function dot(a: Int8Array, b: Int8Array): number
export declare function dot(query: Int8Array, vectors: readonly Int8Array[]): Float64Array
/** Exact dot product of uint8 codes. */
export declare function dot(a: Uint8Array, b: Uint8Array): number
export declare function dot(query: Uint8Array, vectors: readonly Uint8Array[]): Float64Array
/** Dot product of a float query with float vectors or with codes (re-scoring). */
export declare function dot(a: Vector, b: Vector | Int8Array | Uint8Array): number
export declare function dot(query: Vector, vectors: readonly (Vector | Int8Array | Uint8Array)[]): Float64Array
/** Bits that differ between two binary (Int8Array) or ubinary (Uint8Array) codes. */
export declare function hamming(a: Int8Array, b: Int8Array): number
export declare function hamming(query: Int8Array, vectors: readonly Int8Array[]): Uint32Array
export declare function hamming(a: Uint8Array, b: Uint8Array): number
export declare function hamming(query: Uint8Array, vectors: readonly Uint8Array[]): Uint32Array

/** Anything that embeds text: this package's embedders, LangChain `Embeddings`, or your own. */
export type EmbedderLike =
  | {
      embed(text: string): Promise<ArrayLike<number>>
      embedBatch?(texts: string[]): Promise<ArrayLike<number>[]>
      embedQuery?(text: string): Promise<ArrayLike<number>>
      embedDocuments?(texts: string[]): Promise<ArrayLike<number>[]>
      readonly dimension?: number | undefined
    }
  | {
      /** LangChain's `Embeddings`: plain texts are embedded as documents. */
      embedDocuments(texts: string[]): Promise<ArrayLike<number>[]>
      embedQuery(text: string): Promise<ArrayLike<number>>
      readonly dimension?: number | undefined
    }

export interface QuantizedEmbedderOptions<P extends QuantizationPrecision = QuantizationPrecision> {
  precision: P
  /** int8 / uint8: each dimension's `[min, max]`. */
  ranges?: QuantizationRanges
  /** int8 / uint8 without `ranges`: calibration vectors, or texts the base embeds (as documents) on first use. */
  calibration?: readonly Vector[] | readonly string[]
}

/** Wraps an embedder so that it returns quantized vectors. */
export declare class QuantizedEmbedder<P extends QuantizationPrecision = QuantizationPrecision> {
  constructor(base: EmbedderLike, options: QuantizedEmbedderOptions<P>)
  readonly base: EmbedderLike
  readonly precision: P
  /** int8 / uint8: `[min, max]` per dimension; `undefined` until calibration texts are embedded. */
  readonly ranges: [Float32Array, Float32Array] | undefined
  readonly dimension: number | undefined
  /** Embeds the calibration texts now (otherwise done on first use). */
  calibrate(): Promise<this>
  embed(text: string, options?: CallOptions): Promise<Quantized<P>>
  embed(texts: string[], options?: CallOptions): Promise<Quantized<P>[]>
  embedBatch(texts: string[], options?: CallOptions): Promise<Quantized<P>[]>
  embedQuery(text: string, options?: CallOptions): Promise<Quantized<P>>
  embedDocuments(texts: string[], options?: CallOptions): Promise<Quantized<P>[]>
}

// TF-IDF

/** Options of `new TfidfEmbedder()`; the defaults are scikit-learn's `TfidfVectorizer()` defaults. */
export interface TfidfOptions {
  /** Keep the `maxFeatures` terms most frequent over the corpus (default: all; ties by sorted term order). */
  maxFeatures?: number
  /** Lowercase before tokenizing (default true). */
  lowercase?: boolean
  /** Drop terms found in fewer documents than this (a count, default 1). */
  minDf?: number
  /** `ln((1 + n) / (1 + df)) + 1` (default) instead of `ln(n / df) + 1`. */
  smoothIdf?: boolean
  /** `1 + ln(tf)` instead of the raw count (default false). */
  sublinearTf?: boolean
  /** A fixed vocabulary in column order (e.g. a scikit-learn one); `maxFeatures` and `minDf` then do not apply. */
  vocabulary?: readonly string[]
}

/** What `TfidfEmbedder#toJSON()` returns. */
export interface TfidfJSON {
  type: 'tfidf'
  version: 1
  options: { maxFeatures: number | null; lowercase: boolean; minDf: number; smoothIdf: boolean; sublinearTf: boolean }
  vocabulary: string[]
  idf: number[]
}

/** TF-IDF vectors (scikit-learn's `TfidfVectorizer`) as dense, l2-normalised embeddings. */
export interface TfidfEmbedder extends TextEmbedder {}
export declare class TfidfEmbedder {
  constructor(options?: TfidfOptions)
  /** A fitted embedder from `toJSON()`'s result or its JSON text. */
  static fromJSON(json: TfidfJSON | string): TfidfEmbedder
  /** Builds the vocabulary and idf from `corpus`. */
  fit(corpus: string[]): Promise<this>
  /** Vocabulary size; `undefined` until fitted. */
  readonly dimension: number | undefined
  readonly fitted: boolean
  /** The terms in column order; `undefined` until fitted. */
  readonly vocabulary: string[] | undefined
  /** Throws `ERR_NOT_FITTED` before `fit` (and the embedding methods reject with it). */
  toJSON(): TfidfJSON
}

// Hybrid

export interface HybridEmbedderOptions {
  semantic: EmbedderLike
  lexical: EmbedderLike
  /** Weight of the semantic cosine (default 0.7). */
  semanticWeight?: number
  /** Weight of the lexical cosine (default 0.3). */
  lexicalWeight?: number
}

/**
 * `[√ws · s/‖s‖, √wl · l/‖l‖]`: the dot product of two hybrid vectors is
 * `ws · cos(semantic) + wl · cos(lexical)`.
 */
export interface HybridEmbedder extends TextEmbedder {}
/** Its embedQuery uses each part's `embedQuery` when it has one. */
export declare class HybridEmbedder {
  constructor(options: HybridEmbedderOptions)
  readonly semantic: EmbedderLike
  readonly lexical: EmbedderLike
  readonly semanticWeight: number
  readonly lexicalWeight: number
  /** Sum of both dimensions; `undefined` while either is unknown. */
  readonly dimension: number | undefined
}

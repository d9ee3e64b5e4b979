// Type-checked by `tsc --noEmit -p __test__` in `npm test`: every export, used as documented.
import { BatchOptimizedEmbedder, CachedEmbedder, Embedder, EmbedderError, SentenceTransformerEmbedder, defaultThreads } from '..'
import type { CacheStats, EmbedderErrorCode, EmbedderOptions, ModelInfo, TextEmbedder } from '..'

async function usage(): Promise<void> {
  const options: EmbedderOptions = {
    model: 'models/all-MiniLM-L6-v2',
    dtype: 'q8',
    modelFile: 'onnx/model_quantized.onnx',
    revision: 'main',
    cacheDir: '/tmp/hf-cache',
    maxLength: 128,
    pooling: 'mean',
    normalize: true,
    batchSize: 16,
    maxBatchTokens: 1024,
    truncateDim: 256,
    onProgress: ({ phase, file, done, total }) => void [phase, file, done, total],
    threads: defaultThreads(),
  }
  const lazy = new Embedder(options)
  await lazy.initialize()
  const embedder: Embedder = await SentenceTransformerEmbedder.create({ modelName: 'models/all-MiniLM-L6-v2' })
  const fromHub: Embedder = await Embedder.create({ model: 'sentence-transformers/all-MiniLM-L6-v2', revision: 'main' })
  const byDefault: Embedder = new Embedder()
  void [fromHub, byDefault]
  const one: number[] = await embedder.embed('text')
  const many: number[][] = await embedder.embed(['a', 'b'])
  const batch: number[][] = await embedder.embedBatch(['a', 'b'])
  const typed: Float32Array[] = await embedder.embedBatch(['a'], { output: 'float32' })
  const typedOne: Float32Array = await embedder.embed('a', { output: 'float32' })
  const controller = new AbortController()
  const tracked: Float32Array[] = await embedder.embedBatch(['a', 'b'], {
    output: 'float32',
    truncateDim: 128,
    signal: controller.signal,
    onProgress: ({ done, total }) => void [done, total],
  })
  void tracked
  const query: number[] = await embedder.embedQuery('q')
  const docs: number[][] = await embedder.embedDocuments(['d'])
  const dim: number | undefined = embedder.dimension
  const max: number | undefined = embedder.maxLength
  const info: ModelInfo | undefined = embedder.modelInfo
  const inputs: readonly string[] | undefined = info?.inputNames
  void [one, many, batch, typed, typedOne, query, docs, dim, max, inputs]

  const stack = new CachedEmbedder(new BatchOptimizedEmbedder(embedder, { batchSize: 32, maxWaitMs: 2, maxQueue: 10_000 }), {
    maxCacheSize: 10_000,
    maxBytes: 64 * 1024 * 1024,
    persist: { path: 'vectors.sqlite' },
  })
  const cachedVector: number[] = await stack.embed('text')
  const cachedTyped: Float32Array[] = await stack.embedDocuments(['a'], { output: 'float32' })
  const stats: CacheStats = stack.stats()
  const fleet = new CachedEmbedder(embedder, { redis: { url: 'redis://127.0.0.1:6379/0', prefix: 'app:', ttlSeconds: 86_400, timeoutMs: 250, leaseMs: 10_000 } })
  const cluster = new CachedEmbedder(embedder, { redis: { url: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'] } })
  const shared: number = fleet.stats().redisHits + fleet.stats().redisErrors
  void [new CachedEmbedder(embedder, { redis: 'rediss://user:password@cache:6380' }), cluster, shared]
  await stack.clear()
  const paid = { embed: async (text: string) => [text.length, 1], embedBatch: async (texts: string[]) => texts.map((t) => [t.length, 1]) }
  const jsStack: TextEmbedder = new BatchOptimizedEmbedder(new CachedEmbedder(paid, { namespace: 'paid-api' }), { maxWaitMs: 0 })
  const pending: number = new BatchOptimizedEmbedder(paid).pending
  const fromLangChain = new CachedEmbedder({ embedDocuments: async (t: string[]) => t.map(() => [1]), embedQuery: async () => [1] })
  void [cachedVector, cachedTyped, stats, jsStack, pending, fromLangChain]

  embedder.dispose()
  lazy.dispose()

  try {
    await embedder.embed('after dispose')
  } catch (err) {
    if (err instanceof EmbedderError) {
      const code: EmbedderErrorCode = err.code
      void code
    }
  }
}

void usage

// Quantization, similarity, TF-IDF and hybrid embedders.
import { quantize, dequantize, calibrationRanges, cosine, dot, hamming, QuantizedEmbedder, TfidfEmbedder, HybridEmbedder } from '..'
import type {
  DequantizeOptions,
  EmbedderLike,
  HybridEmbedderOptions,
  MinMaxQuantized,
  Quantized,
  QuantizationPrecision,
  QuantizationRanges,
  QuantizeOptions,
  QuantizedEmbedderOptions,
  TfidfJSON,
  TfidfOptions,
  Vector,
} from '..'

async function quantizationUsage(embedder: Embedder): Promise<void> {
  const vectors: Vector[] = [new Float32Array(4), [0.1, 0.2, 0.3, 0.4], new Float64Array(4)]
  const ranges: QuantizationRanges = calibrationRanges(vectors)
  const [min, max]: [Float32Array, Float32Array] = calibrationRanges(vectors)
  const int8: Int8Array[] = quantize(vectors, { precision: 'int8', ranges })
  const one: Int8Array = quantize(vectors[0], { precision: 'int8', calibration: vectors })
  const uint8: Uint8Array = quantize([0.1, 0.2], { precision: 'uint8', ranges: [[0, 0], [1, 1]] })
  const bits: Int8Array = quantize(vectors[1], { precision: 'binary' })
  const ubits: Uint8Array[] = quantize(vectors, { precision: 'ubinary' })
  const minmax: MinMaxQuantized = quantize(vectors[1], { precision: 'int8-minmax' })
  const options: QuantizeOptions<'uint8'> = { precision: 'uint8', ranges: [min, max] }
  const deOptions: DequantizeOptions<'ubinary'> = { precision: 'ubinary', dimension: 4 }
  const back: Float32Array[] = dequantize(int8, { precision: 'int8', ranges })
  const backOne: Float32Array = dequantize(minmax, { precision: 'int8-minmax' })
  const signs: Float32Array[] = dequantize(ubits, deOptions)
  const precision: QuantizationPrecision = 'binary'
  const q: Quantized<'uint8'> = uint8

  const c: number = cosine(vectors[0], vectors[1])
  const cs: Float32Array = cosine(vectors[0], vectors)
  const d: number = dot(int8[0], int8[1])
  const ds: Float64Array = dot(int8[0], int8)
  const du: Float64Array = dot(uint8, [uint8])
  const rescored: Float64Array = dot(vectors[0], int8)
  const h: number = hamming(bits, bits)
  const hs: Uint32Array = hamming(ubits[0], ubits)

  const base: EmbedderLike = embedder
  const quantizedOptions: QuantizedEmbedderOptions<'int8'> = { precision: 'int8', calibration: ['a calibration passage'] }
  const quantized = new QuantizedEmbedder(base, quantizedOptions)
  await quantized.calibrate()
  const qOne: Int8Array = await quantized.embed('text')
  const qMany: Int8Array[] = await quantized.embed(['a', 'b'])
  const qBatch: Int8Array[] = await quantized.embedBatch(['a'])
  const qQuery: Int8Array = await quantized.embedQuery('q')
  const qDocs: Int8Array[] = await quantized.embedDocuments(['d'], { onProgress: ({ done, total }) => void [done, total], signal: AbortSignal.timeout(1000) })
  const qRanges: [Float32Array, Float32Array] | undefined = quantized.ranges
  const binary = new QuantizedEmbedder(embedder, { precision: 'ubinary' })
  const packed: Uint8Array = await binary.embedQuery('q')
  const perVector: MinMaxQuantized[] = await new QuantizedEmbedder(embedder, { precision: 'int8-minmax' }).embedDocuments(['d'])
  void [one, bits, options, back, backOne, signs, precision, q, c, cs, d, ds, du, rescored, h, hs]
  void [qOne, qMany, qBatch, qQuery, qDocs, qRanges, quantized.precision, quantized.dimension, packed, perVector]

  const tfidfOptions: TfidfOptions = { maxFeatures: 2048, lowercase: true, minDf: 1, smoothIdf: true, sublinearTf: false }
  const tfidf = await new TfidfEmbedder(tfidfOptions).fit(['a corpus', 'of passages'])
  const fixed = new TfidfEmbedder({ vocabulary: ['corpus', 'passages'] })
  const tOne: number[] = await tfidf.embed('text')
  const tTyped: Float32Array[] = await tfidf.embed(['a'], { output: 'float32' })
  const tBatch: number[][] = await tfidf.embedBatch(['a'])
  const tQuery: Float32Array = await tfidf.embedQuery('q', { output: 'float32' })
  const tDocs: number[][] = await tfidf.embedDocuments(['d'])
  const saved: TfidfJSON = tfidf.toJSON()
  const restored: TfidfEmbedder = TfidfEmbedder.fromJSON(JSON.stringify(saved))
  const tDim: number | undefined = restored.dimension
  const terms: string[] | undefined = restored.vocabulary
  void [fixed.fitted, tOne, tTyped, tBatch, tQuery, tDocs, tDim, terms]

  const hybridOptions: HybridEmbedderOptions = { semantic: embedder, lexical: tfidf, semanticWeight: 0.7, lexicalWeight: 0.3 }
  const hybrid = new HybridEmbedder(hybridOptions)
  const hOne: number[] = await hybrid.embed('text')
  const hTyped: Float32Array = await hybrid.embed('text', { output: 'float32' })
  const hBatch: number[][] = await hybrid.embedBatch(['a'])
  const hQuery: number[] = await hybrid.embedQuery('q')
  const hDocs: Float32Array[] = await hybrid.embedDocuments(['d'], { output: 'float32' })
  const weights: number = hybrid.semanticWeight + hybrid.lexicalWeight
  const hDim: number | undefined = hybrid.dimension
  const nested = new HybridEmbedder({ semantic: hybrid, lexical: quantized })
  void [hOne, hTyped, hBatch, hQuery, hDocs, weights, hDim, nested.semantic, nested.lexical]
}

void quantizationUsage

// LangChain.js: every embedder of this package is an EmbeddingsInterface (embedDocuments(texts) →
// Promise<number[][]>, embedQuery(text) → Promise<number[]>), so it can be a vector store's `embeddings`.
import type { EmbeddingsInterface } from '@langchain/core/embeddings'
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory'

async function langchainUsage(): Promise<void> {
  const model = new Embedder({ model: 'models/all-MiniLM-L6-v2' })
  const tfidf = await new TfidfEmbedder().fit(['a corpus', 'of passages'])
  const embeddings: EmbeddingsInterface[] = [
    model,
    new SentenceTransformerEmbedder({ modelName: 'models/all-MiniLM-L6-v2' }),
    new CachedEmbedder(model),
    new BatchOptimizedEmbedder(model),
    tfidf,
    new HybridEmbedder({ semantic: model, lexical: tfidf }),
  ]
  const codes: EmbeddingsInterface<Int8Array> = new QuantizedEmbedder(model, { precision: 'binary' })
  const store = new MemoryVectorStore(model)
  await store.addDocuments([{ pageContent: 'a passage', metadata: { id: '1' } }])
  const found = await MemoryVectorStore.fromTexts(['a', 'b'], [{}, {}], new CachedEmbedder(model))
  const hits = await found.similaritySearchWithScore('query', 1)
  void [embeddings, codes, hits]
}

void langchainUsage

// ESM entry point: the CommonJS exports of index.js, by name and as the default export.
import cjs from './index.js'

export const {
  Embedder,
  SentenceTransformerEmbedder,
  CachedEmbedder,
  BatchOptimizedEmbedder,
  EmbedderError,
  defaultThreads,
  quantize,
  dequantize,
  calibrationRanges,
  cosine,
  dot,
  hamming,
  QuantizedEmbedder,
  TfidfEmbedder,
  HybridEmbedder,
} = cjs

export default cjs

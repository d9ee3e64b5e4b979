import * as namespace from '@rag-native/embedder'
import {
  Embedder, SentenceTransformerEmbedder, CachedEmbedder, BatchOptimizedEmbedder, EmbedderError, defaultThreads,
  quantize, dequantize, calibrationRanges, cosine, dot, hamming, QuantizedEmbedder, TfidfEmbedder, HybridEmbedder,
} from '@rag-native/embedder'
import exercise from './exercise.cjs'

const lib = {
  Embedder, SentenceTransformerEmbedder, CachedEmbedder, BatchOptimizedEmbedder, EmbedderError, defaultThreads,
  quantize, dequantize, calibrationRanges, cosine, dot, hamming, QuantizedEmbedder, TfidfEmbedder, HybridEmbedder,
}
const summary = await exercise(lib, process.argv[2])
const exports = Object.keys(namespace).filter((name) => name !== 'default').sort()
console.log(JSON.stringify({ ...summary, exports, defaultIsModule: namespace.default.Embedder === Embedder }))

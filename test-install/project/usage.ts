// Type-checked against the installed package (CommonJS under node16/nodenext, and bundler).
import { Embedder, CachedEmbedder, EmbedderError, TfidfEmbedder, HybridEmbedder, quantize, cosine, defaultThreads } from '@rag-native/embedder'
import type { EmbedderOptions, CacheStats } from '@rag-native/embedder'

export async function run(model: string): Promise<number> {
  const options: EmbedderOptions = { model, dtype: 'fp32', threads: defaultThreads() }
  const embedder = await Embedder.create(options)
  const cached = new CachedEmbedder(embedder, { maxCacheSize: 10 })
  const vector: number[] = await cached.embed('hello')
  const stats: CacheStats = cached.stats()
  const tfidf = await new TfidfEmbedder({ maxFeatures: 100 }).fit(['a b', 'b c'])
  const hybrid = new HybridEmbedder({ semantic: embedder, lexical: tfidf })
  const codes: Int8Array = quantize(vector, { precision: 'int8', calibration: [vector] })
  const err: EmbedderError | undefined = undefined
  void [hybrid, codes, err, stats]
  return cosine(vector, vector)
}

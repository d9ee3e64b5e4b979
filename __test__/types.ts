// Type-checked by `tsc --noEmit -p __test__` in `npm test`: every export, used as documented.
import { Embedder, EmbedderError, SentenceTransformerEmbedder, defaultThreads } from '..'
import type { EmbedderErrorCode, EmbedderOptions, ModelInfo } from '..'

async function usage(): Promise<void> {
  const options: EmbedderOptions = {
    model: 'models/all-MiniLM-L6-v2',
    dtype: 'q8',
    modelFile: 'onnx/model_quantized.onnx',
    maxLength: 128,
    pooling: 'mean',
    normalize: true,
    batchSize: 16,
    maxBatchTokens: 1024,
    threads: defaultThreads(),
  }
  const lazy = new Embedder(options)
  await lazy.initialize()
  const embedder: Embedder = await SentenceTransformerEmbedder.create({ modelName: 'models/all-MiniLM-L6-v2' })
  const one: number[] = await embedder.embed('text')
  const many: number[][] = await embedder.embed(['a', 'b'])
  const batch: number[][] = await embedder.embedBatch(['a', 'b'])
  const typed: Float32Array[] = await embedder.embedBatch(['a'], { output: 'float32' })
  const typedOne: Float32Array = await embedder.embed('a', { output: 'float32' })
  const query: number[] = await embedder.embedQuery('q')
  const docs: number[][] = await embedder.embedDocuments(['d'])
  const dim: number | undefined = embedder.dimension
  const max: number | undefined = embedder.maxLength
  const info: ModelInfo | undefined = embedder.modelInfo
  const inputs: readonly string[] | undefined = info?.inputNames
  void [one, many, batch, typed, typedOne, query, docs, dim, max, inputs]
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

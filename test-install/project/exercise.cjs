'use strict'
// Uses every export of the installed package; run from use.cjs (require) and use.mjs (import by
// name). Prints a JSON summary that the install test checks.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

module.exports = async function exercise(lib, shared) {
  const {
    Embedder, SentenceTransformerEmbedder, CachedEmbedder, BatchOptimizedEmbedder, EmbedderError, defaultThreads,
    quantize, dequantize, calibrationRanges, cosine, dot, hamming, QuantizedEmbedder, TfidfEmbedder, HybridEmbedder,
  } = lib
  const reference = JSON.parse(fs.readFileSync(path.join(shared, 'fixtures', 'reference-all-MiniLM-L6-v2.json'), 'utf8'))
  const model = path.join(shared, 'models', 'all-MiniLM-L6-v2')

  assert.ok(defaultThreads() >= 1)
  assert.equal(SentenceTransformerEmbedder, Embedder)
  const embedder = await Embedder.create({ model })
  const vectors = await embedder.embedBatch(reference.texts)
  let minCosine = 1
  vectors.forEach((v, i) => (minCosine = Math.min(minCosine, cosine(v, reference.embeddings[i]))))

  const wrapped = new CachedEmbedder(new BatchOptimizedEmbedder(embedder, { maxWaitMs: 1 }))
  assert.ok(cosine(await wrapped.embed(reference.texts[0]), vectors[0]) > 0.99999)
  assert.equal((await wrapped.embedBatch(reference.texts.slice(0, 3))).length, 3)

  const ranges = calibrationRanges(vectors)
  const codes = quantize(vectors[1], { precision: 'int8', ranges })
  assert.ok(codes instanceof Int8Array)
  assert.ok(cosine(dequantize(codes, { precision: 'int8', ranges }), vectors[1]) > 0.99)
  assert.equal(typeof dot(codes, codes), 'number')
  const bits = quantize(vectors.slice(0, 2), { precision: 'binary' })
  assert.equal(hamming(bits[0], bits[0]), 0)
  const binary = new QuantizedEmbedder(embedder, { precision: 'ubinary' })
  assert.equal((await binary.embed('hello')).length, 384 / 8)

  const tfidf = await new TfidfEmbedder().fit(reference.texts)
  const hybrid = new HybridEmbedder({ semantic: embedder, lexical: tfidf })
  assert.equal((await hybrid.embed('a query about text')).length, 384 + tfidf.dimension)

  let error
  try {
    await Embedder.create({ model: path.join(shared, 'no-such-model-folder') })
  } catch (err) {
    error = err
  }
  assert.ok(error instanceof EmbedderError && error instanceof Error, String(error))
  embedder.dispose()
  return { minCosine, errorCode: error.code, texts: reference.texts.length }
}

'use strict'
// Static embedding models (sentence-transformers StaticEmbedding, model2vec) through the JavaScript
// API: parity with each library, no ONNX Runtime, the wrappers and the CLI on top.

const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync } = require('node:child_process')
const path = require('node:path')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder, QuantizedEmbedder } = require('..')
const { modelPath, fixture, cosine, maxAbsDiff } = require('./helpers.js')

const STATIC = modelPath('static-minilm-256')

// a static model never opens ONNX Runtime: point the library nowhere while these tests load models
const previous = process.env.ORT_DYLIB_PATH
process.env.ORT_DYLIB_PATH = '/nonexistent/libonnxruntime.so.1'
test.after(() => {
  if (previous === undefined) delete process.env.ORT_DYLIB_PATH
  else process.env.ORT_DYLIB_PATH = previous
})

function parity(vectors, expected) {
  let minCos = 1
  let maxAbs = 0
  vectors.forEach((v, i) => {
    const zero = expected[i].every((x) => x === 0)
    const cos = zero ? (v.every((x) => x === 0) ? 1 : 0) : cosine(v, expected[i])
    minCos = Math.min(minCos, cos)
    maxAbs = Math.max(maxAbs, maxAbsDiff(v, expected[i]))
  })
  assert.ok(minCos >= 0.99999 && maxAbs <= 1e-5, `min cosine ${minCos}, max abs ${maxAbs}`)
}

test('the sentence-transformers form matches sentence-transformers, with no ONNX Runtime', async () => {
  const fx = fixture('reference-static-minilm-256.json')
  const embedder = await Embedder.create({ model: STATIC })
  const info = embedder.modelInfo
  assert.equal(info.graph.kind, 'static')
  assert.equal(info.onnxPath, path.join(STATIC, '0_StaticEmbedding', 'model.safetensors'))
  assert.deepEqual([embedder.dimension, info.maxLength, info.normalize, info.pooling], [256, 512, true, 'mean'])
  assert.deepEqual(info.inputNames, [])
  parity(await embedder.embedBatch(fx.texts), fx.embeddings)
  // prompts come from config_sentence_transformers.json (both empty here)
  assert.deepEqual(await embedder.embedQuery(fx.texts[0]), await embedder.embed(fx.texts[0]))
  embedder.dispose()
})

test("model2vec's own form matches model2vec (unknown tokens dropped)", async () => {
  const fx = fixture('reference-static-minilm-256-model2vec.json')
  const embedder = await Embedder.create({ model: path.join(STATIC, 'model2vec') })
  assert.equal(embedder.modelInfo.graph.kind, 'static')
  parity(await embedder.embedBatch(fx.texts), fx.embeddings)
  embedder.dispose()
})

test("dtype 'q8' is refused for a static model; truncateDim works", async () => {
  await assert.rejects(Embedder.create({ model: STATIC, dtype: 'q8' }), (err) => {
    assert.equal(err.code, 'ERR_INVALID_OPTION')
    assert.match(err.message, /static model.*no graph to quantize/)
    return true
  })
  const cut = await Embedder.create({ model: STATIC, truncateDim: 64 })
  assert.equal(cut.dimension, 64)
  const v = await cut.embed('rivers and the sea')
  assert.equal(v.length, 64)
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5)
  cut.dispose()
})

test('the wrappers stack on a static model', async () => {
  const embedder = await Embedder.create({ model: STATIC })
  const texts = ['How does authentication work?', '', 'rivers and the sea']
  const plain = await embedder.embedBatch(texts)
  const cached = new CachedEmbedder(embedder, { maxCacheSize: 100 })
  assert.deepEqual(await cached.embedBatch(texts), plain)
  assert.deepEqual(await cached.embedBatch(texts), plain)
  const batched = new BatchOptimizedEmbedder(embedder, { batchSize: 8, maxWaitMs: 1 })
  assert.deepEqual(await Promise.all(texts.map((t) => batched.embed(t))), plain)
  const q = new QuantizedEmbedder(embedder, { precision: 'int8', calibration: plain.slice(0, 1).concat(plain.slice(2)) })
  assert.equal((await q.embedBatch(texts)).length, 3)
  // many texts in one call: spread over threads, same vectors as one by one
  const many = Array.from({ length: 3000 }, (_, i) => `${texts[i % 3]} ${i}`)
  const all = await embedder.embedBatch(many)
  for (const i of [0, 1, 2999]) assert.deepEqual(all[i], await embedder.embed(many[i]))
  embedder.dispose()
})

test('rag-embed info and embed run a static model', () => {
  const bin = path.join(__dirname, '..', 'bin', 'rag-embed.js')
  const env = { ...process.env, ORT_DYLIB_PATH: '/nonexistent/libonnxruntime.so.1' }
  const info = JSON.parse(execFileSync(process.execPath, [bin, 'info', '--model', STATIC, '--json'], { env, encoding: 'utf8' }))
  assert.equal(info.graph.kind, 'static')
  assert.equal(info.dimension, 256)
  const out = execFileSync(process.execPath, [bin, 'embed', '--model', STATIC], { env, input: 'hello world\n', encoding: 'utf8' })
  const line = JSON.parse(out.trim().split('\n')[0])
  const vector = line.embedding ?? line.vector
  assert.equal(vector.length, 256)
})

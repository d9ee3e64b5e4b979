'use strict'
// The same rules in every class: call options (signal, onProgress), what a wrapped base may
// return, truncateDim per call, quantized codes.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder, TfidfEmbedder, HybridEmbedder, dequantize } = require('..')
const { modelPath } = require('./helpers.js')

const TINY = modelPath('tiny-bert-cls')

/** Resolvers of the calls `hanging()` embedders hold; released when a test ends (a native call waiting on one keeps Node alive). */
const held = []

/** A JavaScript embedder whose calls do not settle until `release()`. */
const hanging = () => {
  const wait = (n) => new Promise((resolve) => held.push(() => resolve(Array.from({ length: n }, () => [1, 0, 0]))))
  return { dimension: 3, embed: () => wait(1).then((rows) => rows[0]), embedBatch: (texts) => wait(texts.length) }
}
async function release() {
  // a batcher sends its queued requests once the batch before them settles: release those too
  for (let round = 0; round < 20 && held.length > 0; round++) {
    held.splice(0).forEach((resolve) => resolve())
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A JavaScript embedder returning `vectorOf(text, call)`. */
const scripted = (vectorOf) => {
  let calls = 0
  return {
    embed: async (text) => vectorOf(text, calls++),
    embedBatch: async (texts) => texts.map((t) => vectorOf(t, calls++)),
  }
}

async function fitted() {
  return new TfidfEmbedder().fit(['alpha beta', 'beta gamma', 'gamma delta'])
}

test('an aborted call rejects with AbortError promptly in every class, even over a base that never settles', { timeout: 20000 }, async (t) => {
  t.after(release)
  const classes = {
    CachedEmbedder: new CachedEmbedder(hanging()),
    BatchOptimizedEmbedder: new BatchOptimizedEmbedder(hanging()),
    'CachedEmbedder(BatchOptimizedEmbedder)': new CachedEmbedder(new BatchOptimizedEmbedder(hanging())),
    HybridEmbedder: new HybridEmbedder({ semantic: hanging(), lexical: await fitted() }),
  }
  for (const [name, embedder] of Object.entries(classes)) {
    for (const call of [(o) => embedder.embedBatch(['a', 'b'], o), (o) => embedder.embed('a', o), (o) => embedder.embedQuery('a', o)]) {
      const controller = new AbortController()
      const started = Date.now()
      const pending = call({ signal: controller.signal })
      setTimeout(() => controller.abort(), 20)
      await assert.rejects(pending, { name: 'AbortError', code: 'ABORT_ERR' }, name)
      assert.ok(Date.now() - started < 2000, `${name}: ${Date.now() - started} ms`)
    }
  }
})

test('signal and onProgress are checked and honoured alike by TfidfEmbedder and HybridEmbedder', async () => {
  const tfidf = await fitted()
  const hybrid = new HybridEmbedder({ semantic: scripted(() => [1, 0, 0]), lexical: tfidf })
  for (const [name, embedder] of Object.entries({ tfidf, hybrid })) {
    for (const bad of [{ signal: 'junk' }, { signal: {} }, { onProgress: 3 }]) {
      await assert.rejects(embedder.embedBatch(['a'], bad), { code: 'ERR_INVALID_OPTION' }, `${name} ${JSON.stringify(bad)}`)
      await assert.rejects(embedder.embed('a', bad), { code: 'ERR_INVALID_OPTION' }, `${name} ${JSON.stringify(bad)}`)
    }
    await assert.rejects(embedder.embedDocuments(['a'], { signal: AbortSignal.abort() }), { name: 'AbortError', code: 'ABORT_ERR' }, name)
    const reports = []
    const texts = Array.from({ length: 70 }, (_, i) => `beta ${i}`)
    const rows = await embedder.embedBatch(texts, { onProgress: (p) => reports.push(p) })
    assert.equal(rows.length, 70)
    assert.deepEqual(reports.at(-1), { done: 70, total: 70 }, name)
    assert.deepEqual(rows, await embedder.embedBatch(texts), name)
  }
})

test("a base's bad values reject with ERR_BASE_FAILED through every wrapper", async () => {
  const overflow = () => scripted(() => [1e39, 0, 0]) // finite as a double, infinite as float32
  const growing = () => scripted((_, call) => (call === 0 ? [1, 0, 0] : [1, 0, 0, 0]))
  const nan = () => scripted(() => [Number.NaN, 0, 0])
  const wrappers = {
    BatchOptimizedEmbedder: (base) => new BatchOptimizedEmbedder(base),
    CachedEmbedder: (base) => new CachedEmbedder(base),
    HybridEmbedder: (base) => ({ embed: (t) => new HybridEmbedder({ semantic: base, lexical: base }).embed(t) }),
  }
  for (const [name, wrap] of Object.entries(wrappers)) {
    await assert.rejects(wrap(nan()).embed('a'), { code: 'ERR_BASE_FAILED' }, `${name} NaN`)
    if (name !== 'HybridEmbedder') {
      await assert.rejects(wrap(overflow()).embed('a'), { code: 'ERR_BASE_FAILED' }, `${name} 1e39`)
      const embedder = wrap(growing())
      await embedder.embed('first')
      await assert.rejects(embedder.embed('second'), { code: 'ERR_BASE_FAILED', message: /expected 3/ }, `${name} changed dimension`)
    }
  }
})

test('truncateDim per call follows the constructor rule', async () => {
  const embedder = await Embedder.create({ model: TINY })
  const dim = embedder.dimension
  const atLoad = await Embedder.create({ model: TINY, truncateDim: dim + 1 }).catch((err) => err)
  assert.equal(atLoad.code, 'ERR_INVALID_OPTION')
  const perCall = await embedder.embedBatch(['hello'], { truncateDim: dim + 1 }).catch((err) => err)
  assert.equal(perCall.code, 'ERR_INVALID_OPTION')
  assert.equal(perCall.message, atLoad.message)
  assert.equal((await embedder.embed('hello', { truncateDim: dim })).length, dim)
  embedder.dispose()
})

test('dequantize refuses number[] codes out of range instead of wrapping them', () => {
  const ranges = [
    [-1, -1],
    [1, 1],
  ]
  for (const codes of [[300, -400], [1, 128], [0.5, 1], [-129, 0]]) {
    assert.throws(() => dequantize(codes, { precision: 'int8', ranges }), { code: 'ERR_INVALID_INPUT', message: /code [01]/ }, String(codes))
  }
  for (const codes of [[256, 0], [-1, 0]]) {
    assert.throws(() => dequantize(codes, { precision: 'uint8', ranges }), { code: 'ERR_INVALID_INPUT' }, String(codes))
  }
  assert.deepEqual(dequantize([127, -128], { precision: 'int8', ranges }), dequantize(Int8Array.from([127, -128]), { precision: 'int8', ranges }))
})

'use strict'
// The same rules in every class: call options (signal, onProgress), what a wrapped base may
// return, truncateDim per call, quantized codes.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder, TfidfEmbedder, HybridEmbedder, QuantizedEmbedder, dequantize, quantize } = require('..')
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
    QuantizedEmbedder: new QuantizedEmbedder(hanging(), { precision: 'binary' }),
    'QuantizedEmbedder calibrating': new QuantizedEmbedder(hanging(), { precision: 'int8', calibration: ['a', 'b'] }),
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

test('signal and onProgress are checked and honoured alike by TfidfEmbedder, HybridEmbedder and QuantizedEmbedder', async () => {
  const tfidf = await fitted()
  const hybrid = new HybridEmbedder({ semantic: scripted(() => [1, 0, 0]), lexical: tfidf })
  const quantized = new QuantizedEmbedder(scripted((t) => [t.length, -1, 0.5]), { precision: 'ubinary' })
  for (const [name, embedder] of Object.entries({ tfidf, hybrid, quantized })) {
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

test('QuantizedEmbedder reports progress per chunk and takes no `output` or `truncateDim`', async () => {
  const quantized = new QuantizedEmbedder(scripted((t) => [t.length - 5, 1, -1]), { precision: 'int8', ranges: [[-5, -1, -1], [5, 1, 1]] })
  const texts = Array.from({ length: 40 }, (_, i) => `text ${i}`)
  const reports = []
  const codes = await quantized.embedDocuments(texts, { onProgress: (p) => reports.push(p) })
  assert.deepEqual(reports, [
    { done: 32, total: 40 },
    { done: 40, total: 40 },
  ])
  assert.deepEqual(codes, await quantized.embedDocuments(texts))
  assert.deepEqual(await quantized.embedQuery('text 1', { onProgress: () => {} }), codes[1])
  await assert.rejects(quantized.embed('a', { output: 'float32' }), { code: 'ERR_INVALID_OPTION', message: /`output`.*QuantizedEmbedder/ })
  await assert.rejects(quantized.embed('a', { truncateDim: 2 }), { code: 'ERR_INVALID_OPTION', message: /truncateDim/ })
  assert.deepEqual(await quantized.embed('a', { output: 'array' }), quantize([-4, 1, -1], { precision: 'int8', ranges: [[-5, -1, -1], [5, 1, 1]] }))
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

test('a bad truncateDim per call is ERR_INVALID_OPTION, not the GenericFailure napi throws while converting it', async () => {
  const embedder = await Embedder.create({ model: TINY })
  for (const truncateDim of [0, 1.5, -3]) {
    const err = await embedder.embed('a', { truncateDim }).catch((e) => e)
    assert.equal(err.code, 'ERR_INVALID_OPTION', `truncateDim ${truncateDim}: ${err.code} ${err.message}`)
    assert.doesNotMatch(err.message, /^ERR_/)
    const batch = await embedder.embedBatch(['a', 'b'], { truncateDim }).catch((e) => e)
    assert.equal(batch.code, 'ERR_INVALID_OPTION', `embedBatch truncateDim ${truncateDim}`)
  }
  embedder.dispose()
  const disposed = await embedder.embed('a', { truncateDim: 0 }).catch((e) => e)
  assert.match(disposed.code, /^ERR_(INVALID_OPTION|DISPOSED)$/, `${disposed.code} ${disposed.message}`)
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

test('option values are checked once, natively: ERR_INVALID_OPTION naming the option and listing exactly what it accepts', () => {
  const model = TINY
  const rules = [
    [() => new Embedder({ model, dtype: 'int8' }), /`dtype`: must be 'fp32' or 'q8', got 'int8'/],
    [() => new Embedder({ model, pooling: 'median' }), /`pooling`: must be 'mean', 'cls' or 'max', got 'median'/],
    [() => new Embedder({ model, threads: 1.5 }), /`threads`: must be an integer from 1 to 4294967295, got 1.5/],
    [() => new Embedder({ model, batchSize: 2 ** 32 }), /`batchSize`/],
    [() => new Embedder({ model, maxBatchTokens: Number.NaN }), /`maxBatchTokens`/],
    [() => quantize([1, 2], { precision: 'float16' }), /`precision`: must be 'int8', 'uint8', 'binary', 'ubinary' or 'int8-minmax', got 'float16'/],
    [() => dequantize(new Uint8Array(1), { precision: 'ubinary', dimension: 1.5 }), /`dimension`/],
    [() => new TfidfEmbedder({ minDf: 0.5 }), /`minDf`/],
    [() => new CachedEmbedder(scripted(() => [1]), { maxCacheSize: -1 }), /`maxCacheSize`: must be an integer from 0/],
    [() => new CachedEmbedder(scripted(() => [1]), { maxBytes: 0 }), /`maxBytes`: must be an integer from 1 to 9007199254740991/],
    [() => new BatchOptimizedEmbedder(scripted(() => [1]), { maxWaitMs: -1 }), /`maxWaitMs`/],
    [() => new BatchOptimizedEmbedder(scripted(() => [1]), { maxQueue: 0.5 }), /`maxQueue`/],
  ]
  for (const [make, message] of rules) assert.throws(make, { name: 'EmbedderError', code: 'ERR_INVALID_OPTION', message }, String(message))
  // values of the wrong type never reach the native conversion
  assert.throws(() => new Embedder({ model, threads: '2' }), { code: 'ERR_INVALID_OPTION', message: /`threads` must be a number/ })
  assert.throws(() => new CachedEmbedder(scripted(() => [1]), { maxBytes: 10n }), { code: 'ERR_INVALID_OPTION', message: /`maxBytes`/ })
})

test('a cache may hold more than 4 GiB (maxBytes is not capped at 2^32)', async () => {
  const cache = new CachedEmbedder(scripted(() => [1, 2, 3]), { maxBytes: 8 * 2 ** 30, maxCacheSize: 0 })
  assert.deepEqual(await cache.embed('a'), [1, 2, 3])
  new CachedEmbedder(scripted(() => [1]), { maxBytes: Number.MAX_SAFE_INTEGER })
})

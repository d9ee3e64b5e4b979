'use strict'
// CachedEmbedder and BatchOptimizedEmbedder: over native and JavaScript bases, in both orders.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder } = require('..')
const { modelPath, maxAbsDiff } = require('./helpers.js')

const MINILM = modelPath('all-MiniLM-L6-v2')

/** A JavaScript embedder that records its calls and refuses any text containing "BAD". */
class CountingEmbedder {
  constructor({ delayMs = 0 } = {}) {
    this.calls = []
    this.delayMs = delayMs
    this.dimension = 4
  }
  vector(text) {
    return [text.length, text.charCodeAt(0) || 0, 1, -1]
  }
  async embedBatch(texts) {
    this.calls.push([...texts])
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs))
    const bad = texts.findIndex((t) => t.includes('BAD'))
    if (bad >= 0) throw new Error(`cannot embed text ${bad}`)
    return texts.map((t) => this.vector(t))
  }
  async embed(text) {
    return (await this.embedBatch([text]))[0]
  }
  get textsSeen() {
    return this.calls.flat()
  }
}

function tmpFile(t, name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedder-cache-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, name)
}

test('a cache over a JS base sends only misses, in one call, and keeps order', async () => {
  const base = new CountingEmbedder()
  const cache = new CachedEmbedder(base)
  await cache.embedBatch(['alpha', 'beta'])
  const out = await cache.embedBatch(['gamma', 'alpha', 'delta', 'beta', 'gamma'])
  assert.deepEqual(out, ['gamma', 'alpha', 'delta', 'beta', 'gamma'].map((t) => base.vector(t)))
  assert.deepEqual(base.calls, [['alpha', 'beta'], ['gamma', 'delta']])
  const stats = cache.stats()
  assert.equal(stats.misses, 4)
  assert.equal(stats.hits, 3)
  assert.equal(stats.entries, 4)
  assert.equal(stats.bytes, 4 * (4 * 4 + 32))
  assert.ok(Math.abs(stats.hitRate - 3 / 7) < 1e-12)
  assert.equal(cache.dimension, 4)
  await cache.clear()
  assert.equal(cache.stats().entries, 0)
})

test('concurrent requests for one text share one computation', async () => {
  const base = new CountingEmbedder({ delayMs: 20 })
  const cache = new CachedEmbedder(base)
  const results = await Promise.all(Array.from({ length: 50 }, () => cache.embed('same text')))
  assert.ok(results.every((v) => maxAbsDiff(v, base.vector('same text')) === 0))
  assert.equal(base.calls.length, 1)
})

test('eviction by entries and by bytes', async () => {
  const base = new CountingEmbedder()
  const byEntries = new CachedEmbedder(base, { maxCacheSize: 3 })
  await byEntries.embedBatch(['a1', 'a2', 'a3', 'a4', 'a5'])
  assert.deepEqual([byEntries.stats().entries, byEntries.stats().evictions], [3, 2])
  await byEntries.embed('a5') // still cached
  await byEntries.embed('a1') // evicted: computed again
  assert.deepEqual(base.calls.at(-1), ['a1'])

  const entryBytes = 4 * 4 + 32
  const byBytes = new CachedEmbedder(new CountingEmbedder(), { maxBytes: 2 * entryBytes + 10 })
  for (let i = 0; i < 10; i++) {
    await byBytes.embed(`text ${i}`)
    assert.ok(byBytes.stats().bytes <= 2 * entryBytes + 10)
  }
  assert.equal(byBytes.stats().entries, 2)
})

test('a JS base that throws for one text: only that caller fails, nothing bad is cached', async () => {
  const base = new CountingEmbedder({ delayMs: 2 })
  const batcher = new BatchOptimizedEmbedder(base, { maxWaitMs: 10 })
  const calls = ['one', 'two', 'BAD three', 'four'].map((t) => batcher.embed(t))
  const settled = await Promise.allSettled(calls)
  assert.equal(settled[2].status, 'rejected')
  assert.equal(settled[2].reason.code, 'ERR_BASE_FAILED')
  assert.match(settled[2].reason.message, /cannot embed text 0/)
  for (const i of [0, 1, 3]) assert.equal(settled[i].status, 'fulfilled', `call ${i}`)

  const cache = new CachedEmbedder(base)
  await assert.rejects(cache.embedBatch(['fine', 'BAD']), { code: 'ERR_BASE_FAILED' })
  assert.equal(cache.stats().entries, 0)
  assert.deepEqual(await cache.embed('fine'), base.vector('fine'))
})

test('a JS base returning malformed vectors is rejected before caching', async () => {
  const cases = [
    [{ embed: async () => [1, NaN, 3] }, /input 0.*NaN/],
    [{ embedBatch: async (t) => t.map((x, i) => (i === 1 ? [1, 2] : [1, 2, 3])), embed: async () => [1, 2, 3] }, /input 1.*2 values, expected 3/],
    [{ embed: async () => 'not a vector' }, /expected a vector/],
    [{ embedBatch: async () => [[1, 2]], embed: async () => [1] }, /returned 1 vectors for 2 texts/],
  ]
  for (const [base, message] of cases) {
    const cache = new CachedEmbedder(base, { namespace: 'malformed' })
    await assert.rejects(cache.embedBatch(['x', 'y']), { code: 'ERR_BASE_FAILED', message })
    assert.equal(cache.stats().entries, 0)
  }
  assert.throws(() => new CachedEmbedder({}), { code: 'ERR_INVALID_OPTION' })
  assert.throws(() => new BatchOptimizedEmbedder(null), { code: 'ERR_INVALID_OPTION' })
})

test('the batcher coalesces concurrent calls into batches of at most batchSize', async () => {
  const base = new CountingEmbedder({ delayMs: 5 })
  const batcher = new BatchOptimizedEmbedder(base, { batchSize: 8, maxWaitMs: 20 })
  const texts = Array.from({ length: 20 }, (_, i) => `t${i}`)
  const out = await Promise.all(texts.map((t) => batcher.embed(t)))
  assert.deepEqual(out, texts.map((t) => base.vector(t)))
  assert.ok(base.calls.every((c) => c.length <= 8))
  assert.ok(base.calls.length <= 4, `${base.calls.length} batches`)
  assert.deepEqual(base.textsSeen.sort(), [...texts].sort())
})

test('past maxQueue the batcher refuses at once with ERR_QUEUE_FULL', async () => {
  const batcher = new BatchOptimizedEmbedder(new CountingEmbedder({ delayMs: 30 }), { batchSize: 2, maxQueue: 5, maxWaitMs: 0 })
  const accepted = Array.from({ length: 5 }, (_, i) => batcher.embed(`q${i}`))
  await assert.rejects(batcher.embed('one too many'), { code: 'ERR_QUEUE_FULL', message: /maxQueue/ })
  await Promise.all(accepted)
  assert.equal(batcher.pending, 0)
  assert.equal((await batcher.embed('room again')).length, 4)
})

test('native stacks compose in both orders and give the model vectors', async () => {
  const model = await Embedder.create({ model: MINILM })
  const texts = Array.from({ length: 60 }, (_, i) => `composition test sentence ${i % 45}`)
  const direct = await model.embedBatch(texts)
  const cacheOverBatcher = new CachedEmbedder(new BatchOptimizedEmbedder(model))
  const batcherOverCache = new BatchOptimizedEmbedder(new CachedEmbedder(model))
  for (const stack of [cacheOverBatcher, batcherOverCache]) {
    const out = await Promise.all(texts.map((t) => stack.embed(t)))
    out.forEach((v, i) => assert.ok(maxAbsDiff(v, direct[i]) <= 1e-5, `text ${i}`))
    const again = await stack.embedBatch(texts)
    again.forEach((v, i) => assert.ok(maxAbsDiff(v, direct[i]) <= 1e-5))
    assert.equal(stack.dimension, 384)
  }
  const stats = cacheOverBatcher.stats()
  assert.equal(stats.misses, 45)
})

test('queries and documents with the same text are different cache entries', async () => {
  const model = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  const cache = new CachedEmbedder(model)
  const q = await cache.embedQuery('same words')
  const d = (await cache.embedDocuments(['same words']))[0]
  assert.notDeepEqual(q, d)
  assert.deepEqual(q, await model.embedQuery('same words'))
  assert.equal(cache.stats().entries, 2)
})

test('cache hits are answered from memory with the vectors first computed', async () => {
  const model = await Embedder.create({ model: MINILM })
  const cache = new CachedEmbedder(model)
  const first = await cache.embed('cached sentence')
  const again = await cache.embed('cached sentence')
  assert.deepEqual(again, first)
  const typed = await cache.embed('cached sentence', { output: 'float32' })
  assert.ok(typed instanceof Float32Array)
  assert.deepEqual(cache.stats().hits, 2)
})

test('a hit is found whatever the text: long, multi-byte at the 1 KB boundary, lone surrogates, NUL', async () => {
  const base = new CountingEmbedder()
  const cache = new CachedEmbedder(base)
  // hits up to about 1 KB of UTF-8 are read into a fixed buffer, longer ones otherwise
  const texts = [
    'x'.repeat(1015),
    'x'.repeat(1016),
    'x'.repeat(1017) + 'é',
    'x'.repeat(1018) + '€',
    'x'.repeat(1016) + '😀',
    'é'.repeat(600),
    'y'.repeat(20000),
    'lone \uD800 surrogate',
    'nul \0 inside',
    '',
  ]
  const first = []
  for (const t of texts) first.push(await cache.embed(t))
  assert.equal(base.textsSeen.length, texts.length)
  for (const [i, t] of texts.entries()) {
    assert.deepEqual(await cache.embed(t), first[i], `text ${i}`)
    assert.deepEqual(await cache.embed([t]), [first[i]], `text ${i} in an array`)
  }
  assert.equal(base.textsSeen.length, texts.length, 'every second call was a hit')
  assert.equal(cache.stats().hits, 2 * texts.length)
  // a text one character longer or shorter is another key
  await cache.embed('x'.repeat(1014))
  await cache.embed('x'.repeat(1018) + '€x')
  assert.equal(base.textsSeen.length, texts.length + 2)
})

test("wrappers take LangChain's Embeddings shape (embedDocuments and embedQuery, no embed)", async () => {
  const { QuantizedEmbedder } = require('..')
  const langchainLike = {
    calls: [],
    async embedDocuments(texts) {
      this.calls.push(['documents', texts.length])
      return texts.map((t) => [t.length, 1, 0.5, -1])
    },
    async embedQuery(text) {
      this.calls.push(['query', 1])
      return [text.length, -1, 0.5, 1]
    },
  }
  const cache = new CachedEmbedder(new BatchOptimizedEmbedder(langchainLike), { namespace: 'langchain' })
  assert.deepEqual(await cache.embed('abc'), [3, 1, 0.5, -1])
  assert.deepEqual(await cache.embedQuery('abc'), [3, -1, 0.5, 1])
  assert.deepEqual(await cache.embedDocuments(['ab', 'abc']), [[2, 1, 0.5, -1], [3, 1, 0.5, -1]])
  const quantized = new QuantizedEmbedder(langchainLike, { precision: 'binary' })
  assert.equal((await quantized.embed('xyz')).length, 1)
  assert.throws(() => new CachedEmbedder({ embedQuery: async () => [1] }), { code: 'ERR_INVALID_OPTION', message: /embedDocuments/ })
})

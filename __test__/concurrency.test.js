'use strict'
// Heavy concurrency: thousands of calls through a cached, batched stack, several models at once,
// and dispose() while calls are in flight. Every test is bounded by a timeout, so a deadlock
// fails instead of hanging the suite.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder } = require('..')
const { modelPath, fixture, cosine, maxAbsDiff } = require('./helpers.js')

const TINY = modelPath('tiny-bert-cls')

/** A deterministic shuffle (mulberry32), so a failure can be replayed. */
function shuffled(items, seed = 7) {
  let a = seed
  const random = () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return { out, random }
}

test('10,000 concurrent embed() calls through CachedEmbedder(BatchOptimizedEmbedder(Embedder)), 30% repeats', { timeout: 120_000 }, async () => {
  const distinct = Array.from({ length: 7000 }, (_, i) => `concurrent request ${i} about topic ${i % 97}`)
  const { out: order, random } = shuffled(distinct)
  const calls = [...order, ...Array.from({ length: 3000 }, () => distinct[Math.floor(random() * distinct.length)])]
  const texts = shuffled(calls, 11).out

  const direct = await Embedder.create({ model: TINY })
  const want = new Map()
  const vectors = await direct.embedBatch(distinct, { output: 'float32' })
  distinct.forEach((t, i) => want.set(t, vectors[i]))

  const model = new Embedder({ model: TINY })
  const stack = new CachedEmbedder(new BatchOptimizedEmbedder(model, { batchSize: 32, maxWaitMs: 2 }))
  const results = await Promise.all(texts.map((t) => stack.embed(t)))

  assert.equal(results.length, 10_000)
  results.forEach((v, i) => assert.ok(maxAbsDiff(v, want.get(texts[i])) <= 1e-5, `call ${i} (${texts[i]}) got another text's vector`))
  const stats = stack.stats()
  assert.equal(stats.misses, distinct.length, 'the model saw each distinct text once')
  assert.equal(stats.hits + stats.misses, 10_000)
  // and again, all from memory
  const again = await Promise.all(texts.slice(0, 2000).map((t) => stack.embed(t)))
  again.forEach((v, i) => assert.ok(maxAbsDiff(v, want.get(texts[i])) <= 1e-5))
  assert.equal(stack.stats().misses, distinct.length)
})

test('several embedders with different models at once give each model its own vectors', { timeout: 120_000 }, async () => {
  const models = ['all-MiniLM-L6-v2', 'tiny-bert-cls', 'tiny-bert-dense'].map((name) => ({
    name,
    reference: fixture(`reference-${name}.json`),
    embedder: new Embedder({ model: modelPath(name) }),
  }))
  const stacks = models.map((m) => new CachedEmbedder(new BatchOptimizedEmbedder(m.embedder)))
  // every model's fixture texts, as single calls through the stacks and batches on the models,
  // interleaved so that all three run at the same time
  const work = []
  models.forEach((m, k) => {
    m.reference.texts.forEach((text, i) => {
      work.push(stacks[k].embed(text).then((v) => ({ k, i, v })))
      work.push(m.embedder.embed(text).then((v) => ({ k, i, v })))
    })
    work.push(m.embedder.embedBatch(m.reference.texts).then((vs) => vs.map((v, i) => ({ k, i, v }))))
  })
  const results = (await Promise.all(work)).flat()
  assert.equal(results.length, models.reduce((n, m) => n + m.reference.texts.length * 3, 0))
  for (const { k, i, v } of results) {
    const { name, reference } = models[k]
    assert.ok(cosine(v, reference.embeddings[i]) >= 0.99999, `${name}, text ${i}: cosine ${cosine(v, reference.embeddings[i])}`)
  }
})

test('dispose() while calls are in flight: every call settles, with a vector or ERR_DISPOSED', { timeout: 120_000 }, async () => {
  const reference = await Embedder.create({ model: TINY })
  const texts = Array.from({ length: 300 }, (_, i) => `in flight ${i}`)
  const want = await reference.embedBatch(texts)

  for (const delayMs of [0, 1, 5, 20]) {
    const model = new Embedder({ model: TINY })
    const stack = new CachedEmbedder(new BatchOptimizedEmbedder(model, { batchSize: 8, maxWaitMs: 1 }))
    const calls = [
      ...texts.map((t) => model.embed(t)),
      ...texts.map((t) => stack.embed(t)),
      model.embedBatch(texts),
      stack.embedBatch(texts.slice(0, 50)),
    ]
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    model.dispose()
    const settled = await Promise.allSettled(calls)
    let resolved = 0
    settled.forEach((s, i) => {
      if (s.status === 'rejected') {
        assert.equal(s.reason.code, 'ERR_DISPOSED', `call ${i} after ${delayMs} ms: ${s.reason.stack}`)
        return
      }
      resolved++
      const value = s.value
      if (i < 2 * texts.length) assert.ok(maxAbsDiff(value, want[i % texts.length]) <= 1e-5, `call ${i}`)
      else value.forEach((v, j) => assert.ok(maxAbsDiff(v, want[j]) <= 1e-5, `call ${i}, text ${j}`))
    })
    assert.ok(resolved < calls.length || delayMs > 0, 'dispose() at once left some calls to reject')
    // later calls reject at once; the stack above the disposed model does too, for new texts
    await assert.rejects(model.embed('after dispose'), { code: 'ERR_DISPOSED' })
    await assert.rejects(stack.embed('after dispose, through the stack'), { code: 'ERR_DISPOSED' })
    assert.equal(stack.stats().entries <= texts.length, true)
  }
})

test('disposing one embedder leaves the others running', { timeout: 60_000 }, async () => {
  const a = await Embedder.create({ model: TINY })
  const b = await Embedder.create({ model: TINY })
  const texts = Array.from({ length: 200 }, (_, i) => `neighbour ${i}`)
  const calls = texts.map((t) => b.embed(t))
  a.dispose()
  const out = await Promise.all(calls)
  const want = await b.embedBatch(texts)
  out.forEach((v, i) => assert.ok(maxAbsDiff(v, want[i]) <= 1e-5))
})

'use strict'
// truncateDim: the first N dimensions, normalised again when the model normalises.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Embedder, CachedEmbedder } = require('..')
const { modelPath, fixture, cosine, maxAbsDiff } = require('./helpers.js')

function sliced(vector, n, renormalize) {
  const head = vector.slice(0, n)
  if (!renormalize) return head
  const norm = Math.hypot(...head)
  return head.map((x) => x / norm)
}

test('truncateDim on the Embedder matches the sliced, renormalised reference', async () => {
  const fx = fixture('reference-all-MiniLM-L6-v2.json')
  const embedder = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2'), truncateDim: 128 })
  assert.equal(embedder.dimension, 128)
  const vectors = await embedder.embedBatch(fx.texts)
  vectors.forEach((v, i) => {
    const want = sliced(fx.embeddings[i], 128, true)
    assert.equal(v.length, 128)
    assert.ok(cosine(v, want) >= 0.99999 && maxAbsDiff(v, want) <= 1e-4, `text ${i}`)
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5)
  })
})

test('truncateDim per call, and without renormalisation for a model that does not normalise', async () => {
  const fx = fixture('reference-all-MiniLM-L6-v2.json')
  const minilm = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  const v = await minilm.embed(fx.texts[0], { truncateDim: 64 })
  assert.ok(maxAbsDiff(v, sliced(fx.embeddings[0], 64, true)) <= 1e-4)
  assert.equal((await minilm.embed(fx.texts[0])).length, 384, 'per-call truncation does not stick')

  const cls = fixture('reference-tiny-bert-cls.json')
  const tiny = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  const [t] = await tiny.embedBatch([cls.texts[0]], { truncateDim: 8 })
  assert.ok(maxAbsDiff(t, sliced(cls.embeddings[0], 8, false)) <= 1e-4)
})

test('truncateDim errors', async () => {
  await assert.rejects(Embedder.create({ model: modelPath('all-MiniLM-L6-v2'), truncateDim: 1000 }), { code: 'ERR_INVALID_OPTION', message: /truncateDim/ })
  assert.throws(() => new Embedder({ model: modelPath('all-MiniLM-L6-v2'), truncateDim: 0 }), { code: 'ERR_INVALID_OPTION' })
  const cache = new CachedEmbedder(new Embedder({ model: modelPath('tiny-bert-cls') }))
  await assert.rejects(cache.embed('x', { truncateDim: 8 }), { code: 'ERR_INVALID_OPTION', message: /truncateDim/ })
})

test('a truncated model caches under its own fingerprint', async (t) => {
  const fs = require('node:fs')
  const path = require('node:path')
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'matryoshka-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  // one file for both: the truncated model must not be served the full vectors, nor the reverse
  const persist = { path: path.join(dir, 'vectors.sqlite') }
  const full = new CachedEmbedder(await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') }), { persist })
  const short = new CachedEmbedder(await Embedder.create({ model: modelPath('all-MiniLM-L6-v2'), truncateDim: 32 }), { persist })
  assert.equal((await full.embed('same text')).length, 384)
  assert.equal((await short.embed('same text')).length, 32)
  assert.equal(short.stats().diskHits, 0)
})

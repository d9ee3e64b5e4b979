'use strict'
// onProgress and AbortSignal on embedBatch, for the model and for the wrappers.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder } = require('..')
const { SHARED, modelPath } = require('./helpers.js')

const passages = fs
  .readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .slice(0, 300)
  .map((line) => JSON.parse(line).text)

test('onProgress reports after every inference batch, up to the total', async () => {
  const embedder = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2'), batchSize: 16 })
  const reports = []
  const vectors = await embedder.embedBatch(passages.slice(0, 100), { onProgress: (p) => reports.push(p) })
  assert.equal(vectors.length, 100)
  await new Promise((r) => setImmediate(r)) // reports are queued to the JavaScript thread
  assert.ok(reports.length >= Math.ceil(100 / 16), `${reports.length} reports`)
  assert.ok(reports.every((r, i) => r.total === 100 && r.done > (reports[i - 1]?.done ?? 0)))
  assert.equal(reports.at(-1).done, 100)
})

test('an AbortSignal stops the model within one batch, and the embedder stays usable', async () => {
  const embedder = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2'), batchSize: 8 })
  const controller = new AbortController()
  let reports = 0
  const started = embedder.embedBatch(passages, {
    signal: controller.signal,
    onProgress: () => {
      if (++reports === 2) controller.abort(new Error('user left'))
    },
  })
  await assert.rejects(started, (err) => {
    assert.equal(err.name, 'AbortError')
    assert.equal(err.code, 'ABORT_ERR')
    assert.equal(err.cause.message, 'user left')
    return true
  })
  // within one batch: at most a couple of batches ran after the abort was requested
  assert.ok(reports <= 4, `${reports} batches ran`)
  assert.equal((await embedder.embed('still usable')).length, 384)
  await assert.rejects(embedder.embedBatch(['x'], { signal: AbortSignal.abort() }), { name: 'AbortError' })
})

test('wrappers report progress and honour an AbortSignal too', async () => {
  const model = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  for (const wrapper of [new CachedEmbedder(model), new BatchOptimizedEmbedder(model)]) {
    const reports = []
    const out = await wrapper.embedBatch(passages.slice(0, 70), { onProgress: (p) => reports.push(p) })
    assert.equal(out.length, 70)
    assert.deepEqual(reports.at(-1), { done: 70, total: 70 })
    assert.ok(reports.length >= 3)
    const controller = new AbortController()
    const call = wrapper.embedBatch(passages.slice(100, 300), { signal: controller.signal, onProgress: () => controller.abort() })
    await assert.rejects(call, { name: 'AbortError' })
    assert.equal((await wrapper.embed('after abort')).length, 384)
  }
})

test('bad progress options are ERR_INVALID_OPTION', async () => {
  const embedder = new Embedder({ model: modelPath('tiny-bert-cls') })
  await assert.rejects(embedder.embedBatch(['x'], { onProgress: 'yes' }), { code: 'ERR_INVALID_OPTION' })
  await assert.rejects(embedder.embedBatch(['x'], { signal: {} }), { code: 'ERR_INVALID_OPTION' })
})

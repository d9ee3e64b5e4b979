'use strict'
// The Embedder surface: lazy loading, result shapes, disposal, and the event loop staying free.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Embedder, SentenceTransformerEmbedder, defaultThreads } = require('..')
const { SHARED, modelPath } = require('./helpers.js')

const MINILM = modelPath('all-MiniLM-L6-v2')

test('the constructor is synchronous and loads nothing until first use', async () => {
  const embedder = new Embedder({ model: MINILM })
  assert.equal(embedder.dimension, undefined)
  assert.equal(embedder.modelInfo, undefined)
  const v = await embedder.embed('first use loads the model')
  assert.equal(v.length, 384)
  assert.equal(embedder.dimension, 384)
  assert.equal(embedder.maxLength, 256)
  assert.equal(embedder.modelInfo.outputName, 'last_hidden_state')
  assert.equal(await embedder.initialize(), embedder)
})

test('SentenceTransformerEmbedder is the same class', () => {
  assert.equal(SentenceTransformerEmbedder, Embedder)
})

test('threads default to the cores this process may use', async () => {
  const embedder = await Embedder.create({ model: MINILM })
  assert.equal(embedder.modelInfo.threads, defaultThreads())
  const one = await Embedder.create({ model: MINILM, threads: 1 })
  assert.equal(one.modelInfo.threads, 1)
})

test('an ONNX file at the folder root is found, and modelFile picks a file explicitly', async (t) => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'flat-model-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = modelPath('tiny-bert-cls')
  fs.cpSync(src, dir, { recursive: true })
  fs.renameSync(path.join(dir, 'onnx', 'model.onnx'), path.join(dir, 'model.onnx'))
  fs.rmSync(path.join(dir, 'onnx'), { recursive: true })
  const flat = await Embedder.create({ model: dir })
  assert.equal(flat.modelInfo.onnxPath, path.join(dir, 'model.onnx'))
  const explicit = await Embedder.create({ model: MINILM, modelFile: 'onnx/model_quantized.onnx' })
  assert.match(explicit.modelInfo.onnxPath, /model_quantized\.onnx$/)
})

test('empty input: "" is a valid text and [] gives []', async () => {
  const embedder = await Embedder.create({ model: MINILM })
  assert.deepEqual(await embedder.embedBatch([]), [])
  assert.deepEqual(await embedder.embed([]), [])
  assert.deepEqual(await embedder.embedDocuments([]), [])
  const empty = await embedder.embed('')
  assert.equal(empty.length, 384)
})

test("results keep input order; output 'float32' gives Float32Arrays with the same values", async () => {
  const embedder = await Embedder.create({ model: MINILM })
  const texts = ['a much longer sentence about vector databases and retrieval', 'short', 'medium length text here']
  const batch = await embedder.embedBatch(texts)
  for (let i = 0; i < texts.length; i++) {
    assert.deepEqual(batch[i], await embedder.embed(texts[i]))
  }
  const typed = await embedder.embedBatch(texts, { output: 'float32' })
  assert.ok(typed.every((v) => v instanceof Float32Array && v.length === 384))
  assert.deepEqual(typed.map((v) => Array.from(v)), batch)
  // each vector owns its memory
  assert.equal(typed[0].buffer.byteLength, 384 * 4)
  assert.ok((await embedder.embed('x', { output: 'float32' })) instanceof Float32Array)
})

test('the event loop keeps turning while a large batch is embedded', async () => {
  const embedder = await Embedder.create({ model: MINILM })
  const corpus = fs.readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8').split('\n').filter(Boolean).slice(0, 400)
  const texts = corpus.map((line) => JSON.parse(line).text)
  let ticks = 0
  const timer = setInterval(() => ticks++, 5)
  const started = performance.now()
  const vectors = await embedder.embedBatch(texts)
  const elapsed = performance.now() - started
  clearInterval(timer)
  assert.equal(vectors.length, texts.length)
  // a blocked loop would tick at most once; a free one ticks about every 5 ms
  assert.ok(elapsed > 200, `the batch took ${elapsed} ms, too short to tell`)
  assert.ok(ticks >= elapsed / 5 / 4, `${ticks} timer ticks in ${elapsed.toFixed(0)} ms`)
})

test('concurrent calls on one embedder all resolve with their own vectors', async () => {
  const embedder = await Embedder.create({ model: MINILM })
  const texts = Array.from({ length: 40 }, (_, i) => `concurrent text number ${i}`)
  const separate = await Promise.all(texts.map((t) => embedder.embed(t)))
  const batch = await embedder.embedBatch(texts)
  separate.forEach((v, i) => assert.ok(Math.max(...v.map((x, j) => Math.abs(x - batch[i][j]))) <= 1e-5))
})

test('dispose: calls in flight settle, later calls reject with ERR_DISPOSED', async () => {
  const embedder = await Embedder.create({ model: MINILM })
  const inFlight = [embedder.embedBatch(Array(64).fill('in flight')), embedder.embed('queued')]
  embedder.dispose()
  const settled = await Promise.allSettled(inFlight)
  for (const s of settled) {
    if (s.status === 'rejected') assert.equal(s.reason.code, 'ERR_DISPOSED')
    else assert.ok(Array.isArray(s.value))
  }
  for (const call of [() => embedder.embed('x'), () => embedder.embedBatch([]), () => embedder.embedQuery('q'), () => embedder.initialize()]) {
    await assert.rejects(call(), { code: 'ERR_DISPOSED', message: /disposed/ })
  }
})

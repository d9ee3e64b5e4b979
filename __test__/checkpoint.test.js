'use strict'
// A folder written by SentenceTransformer.save (a PyTorch checkpoint, no ONNX file) loads directly,
// by path and from the hub, and gives sentence-transformers' vectors.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Embedder } = require('..')
const { modelPath, fixture, cosine, maxAbsDiff, useCacheFolder } = require('./helpers.js')
const { startHub } = require('./children/hub-server.js')

useCacheFolder(test, 'rag-native-built-')

const fx = fixture('reference-medical-embedder-v1.json')

function check(vectors) {
  let minCos = 1
  let maxAbs = 0
  vectors.forEach((v, i) => {
    minCos = Math.min(minCos, cosine(v, fx.embeddings[i]))
    maxAbs = Math.max(maxAbs, maxAbsDiff(v, fx.embeddings[i]))
  })
  assert.ok(minCos >= 0.99999 && maxAbs <= 1e-4, `min cosine ${minCos}, max abs ${maxAbs}`)
}

test('the fine-tuned checkpoint loads by path, with no export step, and matches sentence-transformers', async () => {
  const embedder = await Embedder.create({ model: modelPath('medical-embedder-v1') })
  assert.equal(embedder.modelInfo.graph.kind, 'built')
  assert.equal(embedder.modelInfo.graph.source, path.join(modelPath('medical-embedder-v1'), 'model.safetensors'))
  assert.equal(embedder.dimension, 384)
  check(await embedder.embedBatch(fx.texts))
  embedder.dispose()
})

test('from the hub, a repository without an ONNX file is fetched as its checkpoint', async (t) => {
  const hub = await startHub({ 'test/medical': modelPath('medical-embedder-v1') })
  t.after(() => hub.close())
  const hubCache = fs.mkdtempSync(path.join(os.tmpdir(), 'rag-native-hub-'))
  t.after(() => fs.rmSync(hubCache, { recursive: true, force: true }))
  const saved = process.env.HF_ENDPOINT
  process.env.HF_ENDPOINT = hub.url
  t.after(() => (saved === undefined ? delete process.env.HF_ENDPOINT : (process.env.HF_ENDPOINT = saved)))
  // a cache folder of its own: the graph built by the test above would otherwise be reused from it
  useCacheFolder(t, 'rag-native-built-hub-')
  const embedder = await Embedder.create({ model: 'test/medical', cacheDir: hubCache })
  assert.equal(embedder.modelInfo.graph.kind, 'built')
  const fetched = hub.requests.map((r) => r.path.split('/resolve/')[1].replace(/^[^/]+\//, ''))
  assert.ok(fetched.includes('model.safetensors'), fetched.join(', '))
  assert.ok(embedder.modelInfo.onnxPath.startsWith(path.join(hubCache, 'models--test--medical', 'derived')), embedder.modelInfo.onnxPath)
  check(await embedder.embedBatch(fx.texts))
  embedder.dispose()
})

test("dtype 'q8' on a checkpoint derives the int8 graph from the built one", async () => {
  const embedder = await Embedder.create({ model: modelPath('medical-embedder-v1'), dtype: 'q8' })
  assert.equal(embedder.modelInfo.graph.kind, 'derived-q8')
  const vectors = await embedder.embedBatch(fx.texts)
  const min = Math.min(...vectors.map((v, i) => cosine(v, fx.embeddings[i])))
  assert.ok(min >= 0.97, `min cosine ${min}`)
})

test('pytorch_model.bin is refused with the way to convert it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pickle-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  for (const f of ['config.json', 'tokenizer.json', 'modules.json']) fs.copyFileSync(path.join(modelPath('medical-embedder-v1'), f), path.join(dir, f))
  fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'not a model')
  await assert.rejects(Embedder.create({ model: dir }), { code: 'ERR_MODEL_INVALID', message: /pickle.*safe_serialization=True/s })
})

test('rag-embed info says which graph runs', () => {
  const { spawnSync } = require('node:child_process')
  const cli = path.join(__dirname, '..', 'bin', 'rag-embed.js')
  const info = (...args) => {
    const r = spawnSync(process.execPath, [cli, 'info', ...args], { encoding: 'utf8', env: process.env, timeout: 60_000 })
    assert.equal(r.status, 0, r.stderr)
    return r.stdout.split('\n').find((l) => l.startsWith('graph'))
  }
  assert.match(info('--model', modelPath('medical-embedder-v1')), /built from the checkpoint .*model\.safetensors/)
  assert.match(info('--model', modelPath('all-MiniLM-L6-v2')), /ONNX file \(exported\)/)
  assert.match(info('--model', modelPath('all-MiniLM-L6-v2'), '--dtype', 'q8'), /int8 graph derived from .*model\.onnx/)
})

'use strict'
// dtype 'q8': the int8 graph derived from the model's fp32 graph, with per-row activation scales.
// A text gets the same vector whatever it is batched with, close to sentence-transformers' fp32
// vector; models without an int8 file get one; a second process reuses the derived graph.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Embedder } = require('..')
const { SHARED, modelPath, fixture, cosine, useCacheFolder } = require('./helpers.js')

const cacheDir = useCacheFolder(test, 'rag-native-q8-')

/** The fixture's texts (empty, accents, CJK, truncated…) and MS MARCO passages of mixed lengths. */
function holdOut(fixtureName, passages) {
  const fx = fixture(fixtureName)
  const lines = fs.readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8').split('\n')
  const texts = [...fx.texts, ...lines.slice(100, 100 + passages).map((l) => JSON.parse(l).text)]
  return { fx, texts }
}

async function batchVsAlone(embedder, texts) {
  const together = await embedder.embedBatch(texts)
  let min = 1
  for (let i = 0; i < texts.length; i++) min = Math.min(min, cosine(together[i], await embedder.embed(texts[i])))
  return min
}

test('MiniLM q8: one vector per text whatever the batch, and close to sentence-transformers fp32', async () => {
  const embedder = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2'), dtype: 'q8' })
  assert.equal(embedder.modelInfo.graph.kind, 'derived-q8')
  assert.equal(embedder.modelInfo.graph.derivedNow, true)
  assert.ok(embedder.modelInfo.onnxPath.startsWith(cacheDir), embedder.modelInfo.onnxPath)
  const { fx, texts } = holdOut('reference-all-MiniLM-L6-v2.json', 24)
  const invariance = await batchVsAlone(embedder, texts)
  assert.ok(invariance >= 0.99999, `batch vs alone: ${invariance}`)
  const cosines = (await embedder.embedBatch(fx.texts)).map((v, i) => cosine(v, fx.embeddings[i])).sort((a, b) => a - b)
  assert.ok(cosines[cosines.length >> 1] >= 0.99, `median ${cosines[cosines.length >> 1]}`)
  assert.ok(cosines[0] >= 0.97, `min ${cosines[0]}`)
  embedder.dispose()
})

test('a model folder without an int8 file gets one derived, and nothing is written into the folder', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'model-copy-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.cpSync(modelPath('tiny-bert-dense'), dir, { recursive: true })
  const listing = () => fs.readdirSync(dir, { recursive: true }).sort()
  const before = listing()
  const embedder = await Embedder.create({ model: dir, dtype: 'q8' })
  assert.equal(embedder.modelInfo.graph.kind, 'derived-q8')
  assert.equal(embedder.dimension, 16)
  const { fx, texts } = holdOut('reference-tiny-bert-dense.json', 8)
  assert.ok((await batchVsAlone(embedder, texts)) >= 0.99999)
  const vectors = await embedder.embedBatch(fx.texts)
  const min = Math.min(...vectors.map((v, i) => cosine(v, fx.embeddings[i])))
  assert.ok(min >= 0.97, `min cosine to fp32 ${min}`)
  assert.deepEqual(listing(), before)
})

test('a second process loads the derived graph without deriving it again, with the same vectors', async () => {
  const embedder = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2'), dtype: 'q8' })
  const text = 'A second process reuses the derived graph.'
  const here = await embedder.embed(text)
  const script = `require(${JSON.stringify(path.join(__dirname, '..'))}).Embedder.create({ model: process.argv[1], dtype: 'q8' })
    .then(async (e) => console.log(JSON.stringify({ graph: e.modelInfo.graph, onnxPath: e.modelInfo.onnxPath, vector: await e.embed(process.argv[2]) })))`
  const child = spawnSync(process.execPath, ['-e', script, modelPath('all-MiniLM-L6-v2'), text], {
    env: { ...process.env, RAG_NATIVE_CACHE: cacheDir },
    encoding: 'utf8',
    timeout: 60_000,
  })
  assert.equal(child.status, 0, child.stderr)
  const there = JSON.parse(child.stdout)
  assert.equal(there.graph.kind, 'derived-q8')
  assert.equal(there.graph.derivedNow, false)
  assert.equal(there.onnxPath, embedder.modelInfo.onnxPath)
  assert.deepEqual(there.vector, here)
})

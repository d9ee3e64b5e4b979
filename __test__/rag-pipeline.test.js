'use strict'
// Every embedder we export against the embedder contract of @devilsdev/rag-pipeline-utils:
// `embed` and `embedQuery` are required (plugin-contracts.js); createRagPipeline's run() calls
// `embed(query)` with a string; its ParallelEmbedder calls `embed(batch)` with arrays of chunks,
// several batches at once, and wants an array of one vector per chunk back. A run of the real
// createRagPipeline follows when the package is installed.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { Embedder, CachedEmbedder, BatchOptimizedEmbedder, QuantizedEmbedder, TfidfEmbedder, HybridEmbedder } = require('..')
const { SHARED, modelPath, maxAbsDiff, cosine } = require('./helpers.js')

const passages = fs
  .readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8')
  .split('\n')
  .slice(0, 40)
  .map((line) => JSON.parse(line))
const chunks = passages.slice(0, 25).map((p) => p.text)
const QUERY = 'who invented the mercury thermometer'

const embedders = {}
test.before(async () => {
  const model = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  const tfidf = await new TfidfEmbedder().fit(passages.map((p) => p.text))
  embedders.Embedder = model
  embedders.CachedEmbedder = new CachedEmbedder(model)
  embedders.BatchOptimizedEmbedder = new BatchOptimizedEmbedder(model)
  embedders.QuantizedEmbedder = new QuantizedEmbedder(model, { precision: 'int8', calibration: passages.map((p) => p.text) })
  embedders.TfidfEmbedder = tfidf
  embedders.HybridEmbedder = new HybridEmbedder({ semantic: model, lexical: tfidf })
})
test.after(() => embedders.Embedder.dispose())

const NAMES = ['Embedder', 'CachedEmbedder', 'BatchOptimizedEmbedder', 'QuantizedEmbedder', 'TfidfEmbedder', 'HybridEmbedder']

/** A vector as the pipeline's retrievers take it: number[] for float embedders, int8 codes for QuantizedEmbedder. */
function assertVector(name, v, dim) {
  if (name === 'QuantizedEmbedder') {
    assert.ok(v instanceof Int8Array, `${name}: int8 codes`)
  } else {
    assert.ok(Array.isArray(v), `${name}: number[]`)
    assert.ok(v.every(Number.isFinite), `${name}: finite numbers`)
  }
  assert.equal(v.length, dim, `${name}: dimension`)
}

/** Two vectors of one text from different calls (batches pad differently; int8 codes may move one bucket). */
function assertSame(name, a, b) {
  assert.ok(maxAbsDiff(a, b) <= (name === 'QuantizedEmbedder' ? 1 : 1e-5), `${name}: ${maxAbsDiff(a, b)}`)
}

for (const name of NAMES) {
  test(`${name}: embed(query string), embed(chunks), embedQuery(query) as rag-pipeline-utils calls them`, async () => {
    const embedder = embedders[name]
    // the plugin contract's required methods
    assert.equal(typeof embedder.embed, 'function')
    assert.equal(typeof embedder.embedQuery, 'function')

    // createRagPipeline: `await embedder.embed(query)` with the query string
    const one = await embedder.embed(QUERY)
    const dim = one.length
    assert.ok(dim > 0)
    assertVector(name, one, dim)

    // ParallelEmbedder: `embed(batch)` for batches of `batchSize` (10) chunks, `maxConcurrency` (3) at
    // a time; each result must be an array of batch.length vectors, in order
    const batches = []
    for (let i = 0; i < chunks.length; i += 10) batches.push(chunks.slice(i, i + 10))
    const results = await Promise.all(batches.map((batch) => embedder.embed(batch)))
    results.forEach((vectors, b) => {
      assert.ok(Array.isArray(vectors), `${name}: batch ${b} is an array`)
      assert.equal(vectors.length, batches[b].length)
      vectors.forEach((v) => assertVector(name, v, dim))
    })
    const flat = results.flat()
    const whole = await embedder.embed(chunks)
    flat.forEach((v, i) => assertSame(name, v, whole[i]))
    assertSame(name, await embedder.embed(chunks[3]), flat[3])

    // the query side: embedQuery(query) → one vector
    const q = await embedder.embedQuery(QUERY)
    assertVector(name, q, dim)
  })
}

test('the float embedders rank the thermometer passage first for the query, through embed(chunks) and embedQuery', async () => {
  for (const name of NAMES.filter((n) => n !== 'QuantizedEmbedder')) {
    const embedder = embedders[name]
    const vectors = await embedder.embed(chunks)
    const q = await embedder.embedQuery(QUERY)
    const scores = vectors.map((v) => cosine(q, v))
    const best = scores.indexOf(Math.max(...scores))
    assert.equal(passages[best]._id, '4380635', `${name}: best passage ${passages[best]._id}`)
  }
})

/** The installed package, or undefined (it is an optional integration). */
async function ragPipelineUtils() {
  try {
    require.resolve('@devilsdev/rag-pipeline-utils')
  } catch {
    return undefined
  }
  const mod = await import('@devilsdev/rag-pipeline-utils')
  return mod.createRagPipeline ? mod : mod.default
}

test('a real createRagPipeline run with our embedder', async (t) => {
  const rag = await ragPipelineUtils()
  if (!rag?.createRagPipeline) return t.skip('@devilsdev/rag-pipeline-utils is not installed')
  const embedder = new CachedEmbedder(embedders.Embedder)
  const docs = await embedder.embedDocuments(chunks)
  const retriever = {
    async store() {},
    async retrieve({ query, queryVector, topK = 3 }) {
      const q = queryVector ?? (await embedder.embed(query))
      return docs
        .map((v, i) => ({ id: passages[i]._id, text: chunks[i], score: cosine(q, v) }))
        .sort((a, b) => b.score - a.score)
        .slice(0, topK)
    },
  }
  const llm = { async generate(query, results) { return `${query}: ${results[0]?.id}` } }
  const pipeline = rag.createRagPipeline({ embedder, retriever, llm })
  const result = await pipeline.run({ query: QUERY, options: { topK: 3 } })
  assert.equal(result.success, true, JSON.stringify(result))
  assert.equal(result.results[0].id, '4380635')
  assert.ok(embedder.stats().hits >= 1, 'the pipeline\'s embed(query) and the retriever\'s share the cache')
})

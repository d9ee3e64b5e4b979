'use strict'
// Our embedders as the `embeddings` of LangChain.js's MemoryVectorStore (@langchain/classic), on
// MS MARCO queries with their graded judgements.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { MemoryVectorStore } = require('@langchain/classic/vectorstores/memory')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder } = require('..')
const { SHARED, modelPath, cosine, maxAbsDiff } = require('./helpers.js')

const DATA = path.join(SHARED, 'data', 'msmarco-5k')
const readJsonl = (file) =>
  fs
    .readFileSync(path.join(DATA, file), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))

const corpus = readJsonl('corpus.jsonl')
const queries = new Map(readJsonl('queries.jsonl').map((q) => [q._id, q.text]))
/** query id → (passage id → grade 0–3) */
const qrels = new Map()
for (const line of fs.readFileSync(path.join(DATA, 'qrels', 'test.tsv'), 'utf8').trim().split('\n').slice(1)) {
  const [q, doc, grade] = line.split('\t')
  if (!qrels.has(q)) qrels.set(q, new Map())
  qrels.get(q).set(doc, Number(grade))
}

// The eight queries with the fewest judgements: their judged passages (144) and unjudged
// passages from the start of the corpus, 300 in all.
const QUERY_IDS = ['855410', '1121709', '1037798', '19335', '146187', '1115776', '207786', '962179']
const judged = new Set(QUERY_IDS.flatMap((q) => [...qrels.get(q).keys()]))
const passages = corpus.filter((p) => judged.has(p._id))
for (const p of corpus) {
  if (passages.length === 300) break
  if (!judged.has(p._id)) passages.push(p)
}

let embedder
let store
test.before(async () => {
  embedder = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  store = await MemoryVectorStore.fromTexts(
    passages.map((p) => p.text),
    passages.map((p) => ({ id: p._id })),
    embedder,
  )
})
test.after(() => embedder.dispose())

test('the store holds 300 passages with our 384-d vectors', async () => {
  assert.equal(passages.length, 300)
  assert.equal(store.memoryVectors.length, 300)
  const vectors = await embedder.embedDocuments(passages.slice(0, 3).map((p) => p.text))
  for (let i = 0; i < 3; i++) {
    assert.equal(store.memoryVectors[i].embedding.length, 384)
    assert.ok(maxAbsDiff(store.memoryVectors[i].embedding, vectors[i]) < 1e-5)
  }
})

test('MemoryVectorStore with our Embedder finds a judged-relevant passage first for every query', async () => {
  for (const q of QUERY_IDS) {
    const hits = await store.similaritySearchWithScore(queries.get(q), 3)
    const grades = hits.map(([doc]) => qrels.get(q).get(doc.metadata.id) ?? 0)
    assert.ok(grades[0] >= 1, `query ${q} ${JSON.stringify(queries.get(q))}: top passage ${hits[0][0].metadata.id} has grade ${grades[0]}`)
    assert.ok(Math.max(...grades) >= 2, `query ${q}: no highly relevant passage (grade ≥ 2) in the top 3: ${grades}`)
  }
})

test('its scores are the cosines of our query and document vectors', async () => {
  const q = queries.get(QUERY_IDS[4])
  const hits = await store.similaritySearchWithScore(q, 5)
  const queryVector = await embedder.embedQuery(q)
  const docVectors = await embedder.embedDocuments(hits.map(([doc]) => doc.pageContent))
  hits.forEach(([, score], i) => assert.ok(Math.abs(score - cosine(queryVector, docVectors[i])) < 1e-6, `hit ${i}`))
  // and the ranking is the one our query vector gives over the 300 stored vectors
  const ours = store.memoryVectors
    .map((v) => [cosine(queryVector, v.embedding), v.metadata.id])
    .sort((a, b) => b[0] - a[0])
    .slice(0, 5)
    .map(([, id]) => id)
  assert.deepEqual(
    hits.map(([doc]) => doc.metadata.id),
    ours,
  )
})

test('CachedEmbedder over BatchOptimizedEmbedder works as the embeddings too, with the same results', async () => {
  const stack = new CachedEmbedder(new BatchOptimizedEmbedder(embedder))
  const cached = new MemoryVectorStore(stack)
  const subset = passages.slice(0, 60)
  await cached.addDocuments(subset.map((p) => ({ pageContent: p.text, metadata: { id: p._id } })))
  await cached.addDocuments(subset.map((p) => ({ pageContent: p.text, metadata: { id: p._id } })))
  assert.equal(stack.stats().hits, 60, 'the second addDocuments is served from the cache')
  const plain = new MemoryVectorStore(embedder)
  await plain.addDocuments(subset.map((p) => ({ pageContent: p.text, metadata: { id: p._id } })))
  const q = queries.get(QUERY_IDS[0])
  const a = await cached.similaritySearchWithScore(q, 4)
  const b = await plain.similaritySearchWithScore(q, 2)
  assert.deepEqual(
    a.filter((_, i) => i % 2 === 0).map(([doc]) => doc.metadata.id),
    b.map(([doc]) => doc.metadata.id),
  )
})

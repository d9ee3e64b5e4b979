#!/usr/bin/env node
// node bench/static-quality.mjs [--features N] [--json FILE]
//
// What a static model gives up against all-MiniLM-L6-v2 on msmarco-5k, and what wins it back:
// nDCG@10 of MiniLM, of the static model (BENCH_STATIC_MODEL, default <shared>/models/static-minilm-256),
// of TF-IDF, of static + TF-IDF hybrids (HybridEmbedder), and of a static first stage whose top K
// passages per query are re-scored with MiniLM (K passages through MiniLM per query instead of the
// whole corpus at indexing time). nDCG@10 as bench/quality.mjs: linear gains, then 2^rel − 1.

import fs from 'node:fs'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { MODEL, DATASET, STATIC_MODEL, loadCorpus, loadQrels, loadQueries } from './data.mjs'
import { meanNdcgAtK } from './metrics.mjs'

const require = createRequire(import.meta.url)
const { Embedder, TfidfEmbedder, HybridEmbedder, cosine, dot } = require('..')

const K = 10
const { values } = parseArgs({ options: { features: { type: 'string' }, json: { type: 'string' } } })
const features = values.features === undefined ? 8192 : Number(values.features)

function top(scores, k) {
  const order = Array.from(scores.keys())
  order.sort((a, b) => scores[b] - scores[a] || a - b)
  return order.slice(0, k)
}

function stored(texts, vectors) {
  const table = new Map(texts.map((t, i) => [t, vectors[i]]))
  return { dimension: vectors[0].length, embed: async (t) => table.get(t), embedBatch: async (b) => b.map((t) => table.get(t)) }
}

async function embedAll(model, docTexts, queryTexts) {
  const embedder = await Embedder.create({ model })
  const t0 = performance.now()
  const docs = await embedder.embedDocuments(docTexts, { output: 'float32' })
  const seconds = (performance.now() - t0) / 1000
  const queries = await Promise.all(queryTexts.map((q) => embedder.embedQuery(q, { output: 'float32' })))
  embedder.dispose()
  process.stderr.write(`${model}: ${(docTexts.length / seconds).toFixed(0)} docs/s (one call)\n`)
  return { docs, queries }
}

async function main() {
  const docs = loadCorpus(DATASET)
  const queries = loadQueries(DATASET)
  const qrels = loadQrels(DATASET)
  const docTexts = docs.map((d) => d.text)
  const queryTexts = queries.map((q) => q.text)
  const results = []
  const evaluate = (name, rank) => {
    const rankings = new Map(queries.map((q, i) => [q.id, rank(i).map((d) => docs[d].id)]))
    const linear = meanNdcgAtK(rankings, qrels, K)
    const exponential = meanNdcgAtK(rankings, qrels, K, { gain: 'exponential' })
    results.push({ name, ndcg10: linear.mean, ndcg10Exponential: exponential.mean, queries: linear.evaluated })
    process.stderr.write(`  ${name}: ${linear.mean.toFixed(4)} / ${exponential.mean.toFixed(4)}\n`)
  }

  const minilm = await embedAll(MODEL, docTexts, queryTexts)
  const stat = await embedAll(STATIC_MODEL, docTexts, queryTexts)
  const minilmScores = minilm.queries.map((q) => cosine(q, minilm.docs))
  const staticScores = stat.queries.map((q) => cosine(q, stat.docs))
  evaluate('all-MiniLM-L6-v2', (i) => top(minilmScores[i], K))
  evaluate('static-minilm-256', (i) => top(staticScores[i], K))

  const tfidf = await new TfidfEmbedder(features ? { maxFeatures: features } : {}).fit(docTexts)
  const docLexical = await tfidf.embedDocuments(docTexts, { output: 'float32' })
  const queryLexical = await tfidf.embedBatch(queryTexts, { output: 'float32' })
  const lexicalScores = queryLexical.map((q) => cosine(q, docLexical))
  evaluate(`TF-IDF (maxFeatures ${features || 'all'})`, (i) => top(lexicalScores[i], K))

  const all = [...docTexts, ...queryTexts]
  const semantic = stored(all, [...stat.docs, ...stat.queries])
  const lexical = stored(all, [...docLexical, ...queryLexical])
  for (const [ws, wl] of [[0.8, 0.2], [0.7, 0.3], [0.5, 0.5]]) {
    const hybrid = new HybridEmbedder({ semantic, lexical, semanticWeight: ws, lexicalWeight: wl })
    const docHybrid = await hybrid.embedDocuments(docTexts, { output: 'float32' })
    const queryHybrid = await hybrid.embedBatch(queryTexts, { output: 'float32' })
    evaluate(`static + TF-IDF ${ws}/${wl}`, (i) => top(dot(queryHybrid[i], docHybrid), K))
  }

  // static first stage, MiniLM re-scoring of its top `depth` (the MiniLM vectors of those passages
  // are the ones computed above: the same numbers a query-time MiniLM call would give)
  for (const depth of [20, 50, 100]) {
    evaluate(`static top ${depth}, re-scored by MiniLM`, (i) => {
      const candidates = top(staticScores[i], depth)
      const scores = cosine(minilm.queries[i], candidates.map((d) => minilm.docs[d]))
      return top(scores, K).map((c) => candidates[c])
    })
  }

  console.log(`\nmsmarco-5k: ${docs.length} passages, ${results[0].queries} judged queries\n`)
  console.log('| system | nDCG@10 (rel) | nDCG@10 (2^rel−1) |')
  console.log('|---|---:|---:|')
  for (const r of results) console.log(`| ${r.name} | ${r.ndcg10.toFixed(4)} | ${r.ndcg10Exponential.toFixed(4)} |`)
  if (values.json) fs.writeFileSync(values.json, `${JSON.stringify({ results }, null, 2)}\n`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

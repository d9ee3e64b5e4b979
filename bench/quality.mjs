#!/usr/bin/env node
// node bench/quality.mjs [--features N] [--rescore K] [--json FILE]
//
// Retrieval quality against storage on msmarco-5k with all-MiniLM-L6-v2: nDCG@10 and bytes per
// vector for fp32, int8 and binary vectors (and binary search re-scored from int8 or fp32), then
// for TF-IDF alone and for hybrids of the two at a few weights.
//
// nDCG@10 is bench/metrics.mjs's (linear gains, as trec_eval); the second column uses
// exponential gains (2^rel - 1), the convention of the reference figures in ../shared/README.md.
//
// Every passage is embedded once; the quantized, lexical and hybrid variants are built from those
// vectors (the hybrids through HybridEmbedder, over embedders that return the stored vectors).

import fs from 'node:fs'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { MODEL, DATASET, loadCorpus, loadQrels, loadQueries } from './data.mjs'
import { meanNdcgAtK } from './metrics.mjs'

const require = createRequire(import.meta.url)
const { Embedder, TfidfEmbedder, HybridEmbedder, quantize, dequantize, calibrationRanges, cosine, dot, hamming } = require('..')

const USAGE = `usage: node bench/quality.mjs [--features N] [--rescore K] [--json FILE]

  --features N   TF-IDF vocabulary size (maxFeatures; default 8192, 0 = every term)
  --rescore K    binary candidates re-scored per query (default 40)
  --json FILE    also write every figure to FILE

env: RAG_NATIVE_SHARED (default <repo>/../shared), BENCH_MODEL (default <shared>/models/all-MiniLM-L6-v2)`

function options() {
  let values
  try {
    values = parseArgs({ options: { features: { type: 'string' }, rescore: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values
  } catch (err) {
    console.error(`quality: ${err.message}\n\n${USAGE}`)
    process.exit(2)
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const count = (name, value, fallback, min) => {
    if (value === undefined) return fallback
    const n = Number(value)
    if (!Number.isInteger(n) || n < min) {
      console.error(`quality: --${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}\n\n${USAGE}`)
      process.exit(2)
    }
    return n
  }
  return { features: count('features', values.features, 8192, 0), rescore: count('rescore', values.rescore, 40, 10), json: values.json }
}

const K = 10

/** Mean nDCG@k with gains 2^rel - 1 over the judged queries (the shared README's convention). */
function meanNdcgExponential(rankings, qrels, k) {
  const dcg = (gains) => gains.slice(0, k).reduce((sum, rel, i) => sum + (2 ** rel - 1) / Math.log2(i + 2), 0)
  let sum = 0
  let count = 0
  for (const [queryId, ranked] of rankings) {
    const judged = qrels.get(queryId)
    const ideal = judged ? dcg([...judged.values()].filter((r) => r > 0).sort((a, b) => b - a)) : 0
    if (ideal === 0) continue
    sum += dcg(ranked.map((d) => Math.max(judged.get(d) ?? 0, 0))) / ideal
    count++
  }
  return sum / count
}

/** Indices of the `k` best scores (`higher`: larger is better), ties by index. */
function top(scores, k, higher = true) {
  const order = Array.from(scores.keys())
  order.sort((a, b) => (higher ? scores[b] - scores[a] : scores[a] - scores[b]) || a - b)
  return order.slice(0, k)
}

function log(message) {
  process.stderr.write(`${message}\n`)
}

/** An embedder that returns vectors computed earlier, by text (to feed HybridEmbedder without re-embedding). */
function stored(texts, vectors) {
  const table = new Map(texts.map((t, i) => [t, vectors[i]]))
  return {
    dimension: vectors[0].length,
    embed: async (text) => table.get(text),
    embedBatch: async (batch) => batch.map((t) => table.get(t)),
  }
}

async function main() {
  const { features, rescore, json } = options()
  const docs = loadCorpus(DATASET)
  const queries = loadQueries(DATASET)
  const qrels = loadQrels(DATASET)
  const docTexts = docs.map((d) => d.text)
  const queryTexts = queries.map((q) => q.text)
  const results = []

  const evaluate = (name, bytes, rank, note = '') => {
    const rankings = new Map(queries.map((q, i) => [q.id, rank(i).map((d) => docs[d].id)]))
    const { mean, evaluated } = meanNdcgAtK(rankings, qrels, K)
    const exponential = meanNdcgExponential(rankings, qrels, K)
    results.push({ name, ndcg10: mean, ndcg10Exponential: exponential, bytes, note, queries: evaluated })
    log(`  ${name}: nDCG@10 ${mean.toFixed(4)} (exponential gains ${exponential.toFixed(4)})`)
  }

  log(`embedding ${docs.length} passages and ${queries.length} queries with ${MODEL}`)
  const embedder = await Embedder.create({ model: MODEL })
  const started = performance.now()
  const docVectors = []
  for (let i = 0; i < docTexts.length; i += 500) {
    docVectors.push(...(await embedder.embedDocuments(docTexts.slice(i, i + 500), { output: 'float32' })))
    log(`  ${docVectors.length} passages, ${((performance.now() - started) / 1000).toFixed(1)} s`)
  }
  const queryVectors = await Promise.all(queryTexts.map((q) => embedder.embedQuery(q, { output: 'float32' })))
  const dim = embedder.dimension
  embedder.dispose()

  log('dense vectors')
  const fp32Scores = queryVectors.map((q) => cosine(q, docVectors))
  evaluate('fp32 (semantic only)', dim * 4, (i) => top(fp32Scores[i], K))

  // int8: per-dimension ranges calibrated on the corpus embeddings, queries quantized with them.
  const ranges = calibrationRanges(docVectors)
  const docInt8 = quantize(docVectors, { precision: 'int8', ranges })
  const queryInt8 = quantize(queryVectors, { precision: 'int8', ranges })
  evaluate('int8 (int8 · int8 dot)', dim, (i) => top(dot(queryInt8[i], docInt8), K), 'both sides quantized, as an int8 index scores')
  const docDequantized = dequantize(docInt8, { precision: 'int8', ranges })
  const int8Scores = queryVectors.map((q) => cosine(q, docDequantized))
  evaluate('int8 (fp32 query, cosine)', dim, (i) => top(int8Scores[i], K), 'documents dequantized to bucket centres')

  const docBits = quantize(docVectors, { precision: 'ubinary' })
  const queryBits = quantize(queryVectors, { precision: 'ubinary' })
  const distances = queryBits.map((q) => hamming(q, docBits))
  evaluate('binary (hamming)', docBits[0].length, (i) => top(distances[i], K, false))
  const rescored = (candidatesOf, scoreOf) => (i) => {
    const candidates = candidatesOf(i)
    const scores = scoreOf(i, candidates)
    return top(scores, K).map((c) => candidates[c])
  }
  const binaryCandidates = (i) => top(distances[i], rescore, false)
  evaluate(
    `binary + int8 re-scoring of top ${rescore}`,
    docBits[0].length,
    rescored(binaryCandidates, (i, c) => cosine(queryVectors[i], c.map((d) => docDequantized[d]))),
    `searches ${docBits[0].length} B/vector; keeps ${dim} B more per vector for re-scoring`,
  )
  evaluate(
    `binary + fp32 re-scoring of top ${rescore}`,
    docBits[0].length,
    rescored(binaryCandidates, (i, c) => cosine(queryVectors[i], c.map((d) => docVectors[d]))),
    `searches ${docBits[0].length} B/vector; keeps ${dim * 4} B more per vector for re-scoring`,
  )

  log(`TF-IDF (maxFeatures ${features || 'all'}) fitted on the ${docs.length} passages`)
  const tfidf = await new TfidfEmbedder(features ? { maxFeatures: features } : {}).fit(docTexts)
  const docLexical = await tfidf.embedDocuments(docTexts, { output: 'float32' })
  const queryLexical = await tfidf.embedBatch(queryTexts, { output: 'float32' })
  const lexicalScores = queryLexical.map((q) => cosine(q, docLexical))
  evaluate('TF-IDF (lexical only)', tfidf.dimension * 4, (i) => top(lexicalScores[i], K), `${tfidf.dimension} dense dimensions`)

  const semantic = stored([...docTexts, ...queryTexts], [...docVectors, ...queryVectors])
  const lexical = stored([...docTexts, ...queryTexts], [...docLexical, ...queryLexical])
  for (const [ws, wl] of [[0.9, 0.1], [0.7, 0.3], [0.5, 0.5]]) {
    const hybrid = new HybridEmbedder({ semantic, lexical, semanticWeight: ws, lexicalWeight: wl })
    const docHybrid = await hybrid.embedDocuments(docTexts, { output: 'float32' })
    const queryHybrid = await hybrid.embedBatch(queryTexts, { output: 'float32' })
    // Hybrid vectors' dot product is ws·cos(semantic) + wl·cos(lexical).
    evaluate(`hybrid ${ws}/${wl}`, hybrid.dimension * 4, (i) => top(dot(queryHybrid[i], docHybrid), K))
  }

  const width = Math.max(...results.map((r) => r.name.length))
  console.log(`\nmsmarco-5k: ${docs.length} passages, ${results[0].queries} judged queries; ${MODEL}\n`)
  console.log(`| ${'system'.padEnd(width)} | nDCG@10 | nDCG@10, 2^rel-1 gains | bytes/vector | note`)
  console.log(`|${'-'.repeat(width + 2)}|---------|------------------------|--------------|-----`)
  for (const r of results) {
    console.log(
      `| ${r.name.padEnd(width)} | ${r.ndcg10.toFixed(4).padStart(7)} | ${r.ndcg10Exponential.toFixed(4).padStart(22)} | ${String(r.bytes).padStart(12)} | ${r.note}`,
    )
  }
  if (json) fs.writeFileSync(json, `${JSON.stringify({ model: MODEL, documents: docs.length, features: tfidf.dimension, rescore, results }, null, 2)}\n`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

#!/usr/bin/env node
// npm run bench:q8 [-- --docs N]
//
// What int8 costs in accuracy, for the derived graph (dtype 'q8') and the shipped
// model_quantized.onnx: each passage's cosine to the fp32 graph's vector (calls of 32, corpus order),
// and the same text embedded in a call of 32 against alone. Throughput and nDCG@10 are in
// `npm run bench` (systems native, native-q8, native-q8-shipped).

import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { MODEL, REPO_ROOT, loadCorpus } from './data.mjs'

const require = createRequire(import.meta.url)
const { Embedder, cosine } = require(REPO_ROOT)

const { values } = parseArgs({ options: { docs: { type: 'string', default: '1000' }, alone: { type: 'string', default: '200' } } })
const docs = Number(values.docs)
const aloneCount = Number(values.alone)
const texts = loadCorpus(undefined, docs).map((d) => d.text)

async function corpus(embedder) {
  const out = []
  for (let i = 0; i < texts.length; i += 32) out.push(...(await embedder.embedBatch(texts.slice(i, i + 32), { output: 'float32' })))
  return out
}

function summary(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return { min: sorted[0], p1: at(0.01), median: at(0.5) }
}

const fp32 = await corpus(await Embedder.create({ model: MODEL }))
const rows = []
for (const [name, options] of [
  ['derived q8 (dtype: q8)', { dtype: 'q8' }],
  ['shipped model_quantized.onnx', { modelFile: 'onnx/model_quantized.onnx' }],
]) {
  const embedder = await Embedder.create({ model: MODEL, ...options })
  const vectors = await corpus(embedder)
  const toFp32 = summary(vectors.map((v, i) => cosine(v, fp32[i])))
  const alone = []
  for (let i = 0; i < Math.min(aloneCount, texts.length); i++) alone.push(cosine(await embedder.embed(texts[i], { output: 'float32' }), vectors[i]))
  rows.push({ name, toFp32, batchVsAlone: summary(alone).min })
  embedder.dispose()
}

console.log(`${texts.length} msmarco-5k passages, calls of 32; batch vs alone over the first ${Math.min(aloneCount, texts.length)}\n`)
console.log('| graph | cosine to fp32: median | p1 | min | batch vs alone: min cosine |')
console.log('|---|---:|---:|---:|---:|')
for (const r of rows) {
  console.log(`| ${r.name} | ${r.toFp32.median.toFixed(5)} | ${r.toFp32.p1.toFixed(5)} | ${r.toFp32.min.toFixed(5)} | ${r.batchVsAlone.toFixed(7)} |`)
}

#!/usr/bin/env node
// npm run bench:wrappers [-- --json FILE] [--docs N]
//
// CachedEmbedder and BatchOptimizedEmbedder against their targets, in one run:
//  1. cache hits: CachedEmbedder.embed() per call and memory per 384-d entry, against the
//     tutorial's hand-written cache (a Map keyed by crypto sha256, number[] values);
//  2. embedBatch over texts half of which are cached, against the same texts uncached;
//  3. 256 concurrent embed() through BatchOptimizedEmbedder against one embedBatch of the 256,
//     and what batching adds to a lone call;
//  4. a persistent cache: embedding the corpus again in a new process against the first time.
// Memory figures come from child processes (this script with --child), one per cache.

import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { MODEL, REPO_ROOT, loadCorpus } from './data.mjs'

const require = createRequire(import.meta.url)
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder } = require(REPO_ROOT)
const SELF = fileURLToPath(import.meta.url)
const DIM = 384

/** The tutorial's cache: sha256 of the text as the key, the base's number[] as the value. */
class TutorialCache {
  constructor(base) {
    this.base = base
    this.cache = new Map()
  }
  async embed(text) {
    const key = crypto.createHash('sha256').update(text).digest('hex')
    const hit = this.cache.get(key)
    if (hit) return hit
    const vector = await this.base.embed(text)
    this.cache.set(key, vector)
    return vector
  }
}

/** A base that makes up a 384-d vector per text, for measuring the caches alone. */
const syntheticBase = {
  embed: async (text) => Array.from({ length: DIM }, (_, i) => Math.sin(text.length * (i + 1))),
  embedBatch: async (texts) => Promise.all(texts.map((t) => syntheticBase.embed(t))),
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6

async function timeIt(fn, repeats = 5) {
  const times = []
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint()
    await fn()
    times.push(ms(t0))
  }
  return median(times)
}

// --child memory <native|tutorial> N: fill a cache with N entries, print bytes per entry
async function childMemory(kind, n) {
  const texts = Array.from({ length: n }, (_, i) => `cached text number ${i}`)
  const cache = kind === 'native' ? new CachedEmbedder(syntheticBase, { maxCacheSize: n }) : new TutorialCache(syntheticBase)
  globalThis.gc()
  const before = process.memoryUsage()
  // one text at a time: concurrent misses would measure the JavaScript heap's high-water mark
  for (const t of texts) await cache.embed(t)
  globalThis.gc()
  const after = process.memoryUsage()
  console.log(JSON.stringify({ bytesPerEntry: (after.rss - before.rss) / n, heapPerEntry: (after.heapUsed - before.heapUsed) / n }))
}

// --child persist FILE N: embed the first N passages through a persistent cache, print the time
async function childPersist(file, n) {
  const corpus = loadCorpus(undefined, n).map((d) => d.text)
  const model = await Embedder.create({ model: MODEL })
  const cache = new CachedEmbedder(model, { persist: { path: file } })
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < corpus.length; i += 32) await cache.embedBatch(corpus.slice(i, i + 32))
  console.log(JSON.stringify({ ms: ms(t0), stats: cache.stats() }))
}

function child(...args) {
  const out = execFileSync(process.execPath, ['--expose-gc', SELF, '--child', ...args.map(String)], { encoding: 'utf8' })
  return JSON.parse(out.trim().split('\n').at(-1))
}

async function main() {
  const { values } = parseArgs({ options: { json: { type: 'string' }, docs: { type: 'string' }, child: { type: 'boolean' } }, allowPositionals: true })
  if (values.child) {
    const [what, a, b] = process.argv.slice(process.argv.indexOf('--child') + 1)
    return what === 'memory' ? childMemory(a, Number(b)) : childPersist(a, Number(b))
  }
  const docs = Number(values.docs ?? 5000)
  const rows = []
  const row = (target, ours, theirs, unit, ratio, goal, pass) => rows.push({ target, ours, theirs, unit, ratio, goal, pass })

  // 1. cache hits
  const hitTexts = Array.from({ length: 2000 }, (_, i) => `a query that users repeat ${i}`)
  const native = new CachedEmbedder(syntheticBase)
  const tutorial = new TutorialCache(syntheticBase)
  for (const t of hitTexts) await Promise.all([native.embed(t), tutorial.embed(t)])
  const perCall = async (cache) => {
    const t0 = process.hrtime.bigint()
    for (let r = 0; r < 5; r++) for (const t of hitTexts) await cache.embed(t)
    return (ms(t0) * 1000) / (5 * hitTexts.length)
  }
  await perCall(native)
  await perCall(tutorial)
  const nativeHit = median([await perCall(native), await perCall(native), await perCall(native)])
  const tutorialHit = median([await perCall(tutorial), await perCall(tutorial), await perCall(tutorial)])
  row('cache hit, µs per embed()', nativeHit, tutorialHit, 'µs', nativeHit / tutorialHit, '≤ 1.0', nativeHit <= tutorialHit)
  const memNative = child('memory', 'native', 20000)
  const memTutorial = child('memory', 'tutorial', 20000)
  const memRatio = memNative.bytesPerEntry / memTutorial.bytesPerEntry
  row('memory per cached 384-d entry (RSS)', memNative.bytesPerEntry, memTutorial.bytesPerEntry, 'bytes', memRatio, '≤ 0.50', memRatio <= 0.5)

  // 2. half cached
  const model = await Embedder.create({ model: MODEL })
  const corpus = loadCorpus(undefined, docs).map((d) => d.text)
  const half = corpus.slice(0, 512)
  await model.embedBatch(half.slice(0, 32))
  const uncached = await timeIt(() => model.embedBatch(half), 3)
  const halfTimes = []
  for (let r = 0; r < 3; r++) {
    const cache = new CachedEmbedder(model)
    await cache.embedBatch(half.filter((_, i) => i % 2 === 0))
    const t0 = process.hrtime.bigint()
    await cache.embedBatch(half)
    halfTimes.push(ms(t0))
  }
  const halfRatio = median(halfTimes) / uncached
  row('embedBatch(512 passages), half cached vs none', median(halfTimes), uncached, 'ms', halfRatio, '≤ 0.55', halfRatio <= 0.55)

  // 3. batcher
  const texts256 = corpus.slice(512, 768)
  const batcher = new BatchOptimizedEmbedder(model)
  await Promise.all(texts256.slice(0, 32).map((t) => batcher.embed(t)))
  const oneBatch = await timeIt(() => model.embedBatch(texts256), 3)
  const concurrent = await timeIt(() => Promise.all(texts256.map((t) => batcher.embed(t))), 3)
  const throughputRatio = oneBatch / concurrent
  row('256 concurrent embed() via batcher, throughput vs one embedBatch', concurrent, oneBatch, 'ms', throughputRatio, '≥ 0.90', throughputRatio >= 0.9)
  const lone = 'a lone query'
  const direct = await timeIt(() => model.embed(lone), 21)
  const batched = await timeIt(() => batcher.embed(lone), 21)
  row('lone call through the batcher (maxWaitMs 2), added latency', batched - direct, direct, 'ms', batched / direct, '≤ +3 ms', batched - direct <= 3)

  // 4. persistence
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-persist-'))
  const file = path.join(dir, 'vectors.sqlite')
  const first = child('persist', file, docs)
  const second = child('persist', file, docs)
  fs.rmSync(dir, { recursive: true, force: true })
  const speedup = first.ms / second.ms
  row(`persist: ${docs} passages again in a new process`, second.ms, first.ms, 'ms', speedup, '≥ 20× faster', speedup >= 20)

  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`
  console.log(`\nWrappers benchmark — ${machine}\n`)
  console.log('| target | ours | reference | ratio | goal | met |')
  console.log('|---|---|---|---|---|---|')
  const fmt = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2))
  for (const r of rows) console.log(`| ${r.target} | ${fmt(r.ours)} ${r.unit} | ${fmt(r.theirs)} ${r.unit} | ${r.ratio.toFixed(3)} | ${r.goal} | ${r.pass ? 'yes' : 'no'} |`)
  if (values.json) fs.writeFileSync(values.json, JSON.stringify({ machine, rows }, null, 2))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

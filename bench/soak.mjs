#!/usr/bin/env node
// npm run soak [-- --model DIR] [--texts N] [--interval S] [--embedders N] [--max-bytes B]
//
// A long run, not a test: prints its figures and PASS / FAIL per check, and exits 1 on a FAIL.
//  1. N texts (default 200,000, drawn with many repeats from a pool of distinct ones) through
//     CachedEmbedder(BatchOptimizedEmbedder(Embedder)) with `maxBytes` set, as waves of
//     concurrent embed() calls and some embedBatch() calls. RSS is sampled every `interval`
//     seconds (default 10) and every 5% of the texts (a run of the small default model takes
//     seconds); after the warm-up (the first quarter of the texts) it must stay within 5% of
//     its first sample. The cache's bytes are checked after every wave: never above
//     maxBytes. One call in 500 is compared with a separate embedder: no wrong vector.
//  2. 200 embedders created, used once and disposed in a loop: RSS must come back within 10% of
//     what it was before the loop.
// Default model: all-MiniLM-L6-v2 (about 7 minutes on 2 cores); `--model ../shared/models/tiny-bert-cls`
// runs in seconds, too short for V8's young generation and malloc's arenas to reach their size
// within the first quarter (see the README).

import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { MODEL, REPO_ROOT } from './data.mjs'

const require = createRequire(import.meta.url)
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder } = require(REPO_ROOT)

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: MODEL },
    texts: { type: 'string', default: '200000' },
    distinct: { type: 'string' },
    interval: { type: 'string', default: '10' },
    embedders: { type: 'string', default: '200' },
    'max-bytes': { type: 'string' },
    concurrency: { type: 'string', default: '256' },
  },
})
const TEXTS = Number(args.texts)
const DISTINCT = Number(args.distinct ?? Math.max(1, Math.round(TEXTS / 5)))
const INTERVAL_MS = Number(args.interval) * 1000
const EMBEDDERS = Number(args.embedders)
const CONCURRENCY = Number(args.concurrency)
const WARMUP = 0.25

const MB = 1024 * 1024
const mb = (bytes) => (bytes / MB).toFixed(1)

/** RSS once the process is idle: garbage collected, and the finalizers that follow run. */
async function rss() {
  if (global.gc) {
    global.gc()
    await sleep(50)
    global.gc()
  }
  await sleep(50)
  return process.memoryUsage().rss
}

/** A deterministic generator (mulberry32). */
function rng(seed) {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const WORDS = (
  'the of and to in is for on that with as are by this be from at or an which it not have ' +
  'model embedding vector search query document passage cache batch token memory server request ' +
  'retrieval index rank score answer question network database cloud latency throughput user'
).split(' ')

/** Text number `i` of the pool: 4–40 words, the same every time. */
function poolText(i) {
  const random = rng(i + 1)
  const n = 4 + Math.floor(random() * 37)
  const words = [`#${i}`]
  for (let k = 0; k < n; k++) words.push(WORDS[Math.floor(random() * WORDS.length)])
  return words.join(' ')
}

const checks = []
function check(name, pass, figures) {
  checks.push({ name, pass, figures })
  console.log(`${pass ? 'PASS' : 'FAIL'}  ${name}: ${figures}`)
}

async function cachedStackRun() {
  const model = await Embedder.create({ model: args.model })
  const reference = await Embedder.create({ model: args.model })
  const entryBytes = model.dimension * 4 + 32
  // room for a quarter of the distinct texts: the cache evicts all along
  const maxBytes = Number(args['max-bytes'] ?? Math.floor(DISTINCT / 4) * entryBytes)
  const stack = new CachedEmbedder(new BatchOptimizedEmbedder(model, { maxWaitMs: 2 }), { maxCacheSize: 10_000_000, maxBytes })
  console.log(
    `model ${args.model} (${model.dimension}-d); ${TEXTS} texts from ${DISTINCT} distinct; maxBytes ${maxBytes} ` +
      `(${Math.floor(maxBytes / entryBytes)} entries); ${CONCURRENCY} concurrent calls`,
  )

  const random = rng(42)
  // skewed draws: a few texts very often, most rarely
  const draw = () => poolText(Math.floor(DISTINCT * random() ** 3))
  const samples = []
  let done = 0
  let maxCacheBytes = 0
  let wrong = 0
  let compared = 0
  const started = Date.now()
  const sample = async () => {
    const s = stack.stats()
    samples.push({ seconds: (Date.now() - started) / 1000, done, rss: await rss(), cacheBytes: s.bytes, entries: s.entries, hitRate: s.hitRate })
    const last = samples.at(-1)
    const heap = process.memoryUsage()
    console.log(
      `  ${last.seconds.toFixed(0).padStart(4)} s  ${String(done).padStart(7)} texts  RSS ${mb(last.rss)} MB (V8 heap ${mb(heap.heapUsed)} of ${mb(heap.heapTotal)} MB)  ` +
        `cache ${mb(last.cacheBytes)} MB, ${last.entries} entries, hit rate ${(last.hitRate * 100).toFixed(1)}%`,
    )
  }
  await sample()
  let nextSample = Date.now() + INTERVAL_MS
  const step = Math.max(1, Math.floor(TEXTS / 20))
  let nextDone = step
  let wave = 0
  while (done < TEXTS) {
    const n = Math.min(CONCURRENCY, TEXTS - done)
    const texts = Array.from({ length: n }, draw)
    let vectors
    if (wave % 8 === 7) {
      vectors = await stack.embedBatch(texts, { output: 'float32' })
    } else {
      vectors = await Promise.all(texts.map((t) => stack.embed(t)))
    }
    // one call in 500, against a separate embedder
    for (let i = wave % 2; i < n; i += 500) {
      const want = await reference.embed(texts[i])
      compared++
      let diff = 0
      for (let j = 0; j < want.length; j++) diff = Math.max(diff, Math.abs(want[j] - vectors[i][j]))
      if (diff > 1e-5 || vectors[i].length !== want.length) wrong++
    }
    done += n
    wave++
    maxCacheBytes = Math.max(maxCacheBytes, stack.stats().bytes)
    if (Date.now() >= nextSample || done >= nextDone) {
      await sample()
      nextSample = Date.now() + INTERVAL_MS
      while (nextDone <= done) nextDone += step
    }
  }
  await sample()
  const seconds = (Date.now() - started) / 1000
  const stats = stack.stats()
  console.log(
    `${TEXTS} texts in ${seconds.toFixed(1)} s (${Math.round(TEXTS / seconds)}/s); hits ${stats.hits}, misses ${stats.misses}, ` +
      `evictions ${stats.evictions}, hit rate ${(stats.hitRate * 100).toFixed(1)}%`,
  )

  const after = samples.filter((s) => s.done >= WARMUP * TEXTS)
  if (after.length < 2) {
    check('RSS steady after warm-up', false, `only ${after.length} samples after the warm-up; run more --texts or a shorter --interval`)
  } else {
    const base = after[0].rss
    const high = Math.max(...after.map((s) => s.rss))
    const low = Math.min(...after.map((s) => s.rss))
    check(
      'RSS within 5% after warm-up',
      high <= base * 1.05 && low >= base * 0.95,
      `${after.length} samples, first ${mb(base)} MB, range ${mb(low)}–${mb(high)} MB (${(((high - base) / base) * 100).toFixed(1)}% at most)`,
    )
  }
  const sampledHigh = Math.max(...samples.map((s) => s.cacheBytes))
  check('cache bytes never above maxBytes', maxCacheBytes <= maxBytes && sampledHigh <= maxBytes, `highest ${maxCacheBytes} of ${maxBytes} (checked after each of ${wave} waves)`)
  check('no wrong vector', wrong === 0, `${compared} calls compared with a separate embedder, ${wrong} differed`)
  reference.dispose()
  model.dispose()
}

async function createDisposeRun() {
  // one cycle first: ONNX Runtime and its kernels load once per process
  const first = await Embedder.create({ model: args.model })
  await first.embed('warm-up')
  first.dispose()
  const start = await rss()
  let high = start
  const started = Date.now()
  for (let i = 0; i < EMBEDDERS; i++) {
    const embedder = await Embedder.create({ model: args.model })
    await embedder.embed(`embedder ${i}`)
    embedder.dispose()
    if ((i + 1) % 20 === 0) {
      const now = await rss()
      high = Math.max(high, now)
      console.log(`  ${String(i + 1).padStart(4)} embedders  RSS ${mb(now)} MB (V8 heap ${mb(process.memoryUsage().heapTotal)} MB)`)
    }
  }
  await sleep(500)
  const end = await rss()
  const seconds = (Date.now() - started) / 1000
  check(
    `RSS back within 10% after ${EMBEDDERS} create/dispose cycles`,
    end <= start * 1.1,
    `${mb(start)} MB before, ${mb(end)} MB after (${(((end - start) / start) * 100).toFixed(1)}%), ${mb(high)} MB at most; ${(seconds / EMBEDDERS * 1000).toFixed(0)} ms per cycle`,
  )
}

if (!global.gc) console.log('(run with node --expose-gc for steadier RSS figures; npm run soak does)')
console.log('1. cached, batched stack')
await cachedStackRun()
console.log(`2. ${EMBEDDERS} embedders created and disposed`)
await createDisposeRun()
const failed = checks.filter((c) => !c.pass).length
console.log(`${checks.length - failed} passed, ${failed} failed`)
process.exitCode = failed ? 1 : 0

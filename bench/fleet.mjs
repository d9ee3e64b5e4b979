// npm run bench:fleet — four processes embedding overlapping corpora (MiniLM, msmarco-5k passages,
// 50% of each process's texts shared by all four) against one Redis on this machine:
//   1. the fleet's wall time with and without the shared Redis tier (target: with ≤ 0.6× without);
//   2. the cost of a Redis lookup of a batch of 32 hits, in µs and as a share of computing the
//      batch (target ≤ 2%).
// Options (environment): FLEET_TEXTS per process (default 400), FLEET_PROCESSES (4), FLEET_CHUNK
// (texts per embedBatch call, default 256: a process waits for texts others are computing at the
// end of each call, so calls of 32 make the fleet move in step), FLEET_ROUNDS
// (3: the two fleets run alternately this many times, and the ratio of their total times is
// reported with each round's, so that other work on the machine weighs on both alike).
// The machine has few cores: run it when nothing else is busy (the load average is printed).

import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const here = path.dirname(fileURLToPath(import.meta.url))
const { Embedder, CachedEmbedder } = require('../index.js')
const { startRedis, stopAll } = require('../__test__/redis-servers.js')
const { SHARED, modelPath } = require('../__test__/helpers.js')

const run = promisify(execFile)
const WORKER = path.join(here, '..', '__test__', 'children', 'fleet-worker.js')
const PER_PROCESS = Number(process.env.FLEET_TEXTS ?? 400)
const PROCESSES = Number(process.env.FLEET_PROCESSES ?? 4)
const ROUNDS = Number(process.env.FLEET_ROUNDS ?? 3)
const CHUNK = Number(process.env.FLEET_CHUNK ?? 256)
const MODEL = modelPath('all-MiniLM-L6-v2')

const passages = fs
  .readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l).text)

/** Process `w`: the shared half (the same passages for all) and a half of its own, interleaved. */
function corpus(w) {
  const half = PER_PROCESS / 2
  const shared = passages.slice(0, half)
  const own = passages.slice(half + w * half, half + (w + 1) * half)
  return shared.flatMap((t, i) => [t, own[i]])
}

async function fleet(redis, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-fleet-'))
  const startAt = Date.now() + 3000
  try {
    const results = await Promise.all(
      Array.from({ length: PROCESSES }, async (_, w) => {
        const file = path.join(dir, `job-${w}.json`)
        const job = { texts: corpus(w), chunk: CHUNK, namespace: 'bench-minilm', model: MODEL, startAt, verify: false }
        // without the tier, the same stack with a Redis nobody shares (a prefix per process) would
        // still pay the lookups; the baseline is the plain in-process cache
        if (redis) job.redis = { url: redis.url, prefix }
        else job.redis = undefined
        fs.writeFileSync(file, JSON.stringify(job))
        const { stdout } = await run(process.execPath, [WORKER, file], { timeout: 1_800_000, maxBuffer: 1 << 24 })
        return JSON.parse(stdout.trim().split('\n').at(-1))
      }),
    )
    return { wallMs: Math.max(...results.map((r) => r.ms)), computed: results.reduce((s, r) => s + r.computed, 0), results }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function lookupCost(redis) {
  const model = await Embedder.create({ model: MODEL })
  const batches = Array.from({ length: 20 }, (_, b) => passages.slice(3000 + b * 32, 3000 + (b + 1) * 32))
  // computing a batch of 32 (the model alone)
  await model.embedBatch(batches[0])
  let t = performance.now()
  for (const batch of batches.slice(0, 5)) await model.embedBatch(batch)
  const computeMs = (performance.now() - t) / 5
  // fill Redis, then look the batches up through caches with an empty memory tier
  const options = { redis: { url: redis.url, prefix: 'bench-lookup:' } }
  const writer = new CachedEmbedder(model, options)
  for (const batch of batches) await writer.embedBatch(batch)
  const samples = []
  for (let round = 0; round < 5; round++) {
    for (const batch of batches) {
      const reader = new CachedEmbedder(model, { ...options, maxCacheSize: 0 })
      t = performance.now()
      await reader.embedBatch(batch, { output: 'float32' })
      samples.push(performance.now() - t)
      const s = reader.stats()
      if (s.redisHits !== 32) throw new Error(`expected 32 Redis hits, got ${JSON.stringify(s)}`)
    }
  }
  samples.sort((a, b) => a - b)
  const median = samples[Math.floor(samples.length / 2)]
  model.dispose()
  return { lookupUs: median * 1000, computeMs, share: median / computeMs }
}

async function main() {
  console.log(`load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} cores)`)
  const redis = await startRedis()
  try {
    const distinct = PER_PROCESS / 2 + PROCESSES * (PER_PROCESS / 2)
    console.log(`${PROCESSES} processes × ${PER_PROCESS} passages, 50% shared: ${PROCESSES * PER_PROCESS} texts, ${distinct} distinct; calls of ${CHUNK}`)
    let totalWithout = 0
    let totalWith = 0
    for (let round = 1; round <= ROUNDS; round++) {
      const without = await fleet(null)
      // a fresh prefix: every round starts from an empty shared tier
      const withTier = await fleet(redis, `bench-${Date.now()}:`)
      totalWithout += without.wallMs
      totalWith += withTier.wallMs
      console.log(
        `round ${round}: without the shared tier ${(without.wallMs / 1000).toFixed(1)} s (${without.computed} texts computed), ` +
          `with it ${(withTier.wallMs / 1000).toFixed(1)} s (${withTier.computed} computed): ${(withTier.wallMs / without.wallMs).toFixed(3)}×; ` +
          `load ${os.loadavg()[0].toFixed(2)}`,
      )
    }
    const bound = (distinct / (PROCESSES * PER_PROCESS)).toFixed(3)
    console.log(`with / without, all rounds: ${(totalWith / totalWithout).toFixed(3)}× (target ≤ 0.6; computing only the distinct texts bounds it near ${bound})`)
    const cost = await lookupCost(redis)
    console.log(
      `a batch of 32 Redis hits: ${cost.lookupUs.toFixed(0)} µs (median) vs ${cost.computeMs.toFixed(0)} ms to compute it: ${(cost.share * 100).toFixed(2)}% (target ≤ 2%)`,
    )
    console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  } finally {
    await stopAll()
  }
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})

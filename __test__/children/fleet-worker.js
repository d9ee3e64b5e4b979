'use strict'
// One process of a fleet sharing a Redis tier (redis.test.js, bench/fleet.mjs). Reads a JSON job
// from the file argv[2] (not the command line: libonnxruntime overflowed its stack on a 40 kB
// argument while starting):
//   { redis, texts, startAt, chunk, namespace, model?: folder, delayMsPerText?, verify? }
// waits until `startAt` (ms since the epoch) so the fleet starts together, embeds `texts` in calls
// of `chunk` through CachedEmbedder(counting base, { redis }), and prints one JSON line:
//   { computed, calls, failed, wrong, ms, stats }
// `computed`: texts the base computed. With `verify`, every vector is compared with a direct
// embedding (the counting function itself, or the model's embedBatch, uncounted).
const crypto = require('node:crypto')
const fs = require('node:fs')
const { Embedder, CachedEmbedder } = require('../..')

const DIMENSION = 16

/** A deterministic vector per text, exactly representable as float32. */
function vectorOf(text) {
  const h = crypto.createHash('sha256').update(text).digest()
  return Array.from({ length: DIMENSION }, (_, i) => (h[i] - 128) / 128)
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
  const model = job.model ? await Embedder.create({ model: job.model }) : null
  const counting = {
    computed: 0,
    calls: 0,
    get dimension() {
      return model ? model.dimension : DIMENSION
    },
    async embedBatch(texts) {
      this.computed += texts.length
      this.calls++
      if (model) return model.embedBatch(texts)
      if (job.delayMsPerText) await sleep(texts.length * job.delayMsPerText)
      return texts.map(vectorOf)
    },
    async embed(text) {
      return (await this.embedBatch([text]))[0]
    },
  }
  const cache = new CachedEmbedder(counting, { namespace: job.namespace, redis: job.redis })
  const wait = job.startAt - Date.now()
  if (wait > 0) await sleep(wait)
  const started = performance.now()
  const results = []
  let failed = 0
  for (let i = 0; i < job.texts.length; i += job.chunk) {
    const part = job.texts.slice(i, i + job.chunk)
    try {
      results.push(...(await cache.embedBatch(part, { output: 'float32' })))
    } catch (err) {
      failed += part.length
      results.push(...part.map(() => null))
      process.stderr.write(`${err.code}: ${err.message}\n`)
    }
  }
  const ms = performance.now() - started
  let wrong = 0
  if (job.verify) {
    const direct = model ? await model.embedBatch(job.texts) : job.texts.map(vectorOf)
    for (let i = 0; i < job.texts.length; i++) {
      const v = results[i]
      if (!v) continue
      let diff = 0
      for (let j = 0; j < direct[i].length; j++) diff = Math.max(diff, Math.abs(v[j] - direct[i][j]))
      if (v.length !== direct[i].length || !(diff <= (model ? 1e-5 : 0))) wrong++
    }
  }
  process.stdout.write(JSON.stringify({ computed: counting.computed, calls: counting.calls, failed, wrong, ms, stats: cache.stats() }) + '\n')
}

main().catch((err) => {
  process.stderr.write(`${err.code}: ${err.stack}\n`)
  process.exit(1)
})

'use strict'
// The disk tier of CachedEmbedder: across processes, after SIGKILL, with two writers, and on a
// damaged file.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile, spawn } = require('node:child_process')
const { promisify } = require('node:util')
const { Embedder, CachedEmbedder } = require('..')
const { modelPath, maxAbsDiff } = require('./helpers.js')

const WRITER = path.join(__dirname, 'children', 'cache-writer.js')
const run = promisify(execFile)

function tmpFile(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedder-persist-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 'vectors.sqlite')
}

async function writer(...args) {
  const { stdout } = await run(process.execPath, [WRITER, ...args.map(String)])
  return JSON.parse(stdout.trim().split('\n').at(-1))
}

/** Every text's vector through the reopened cache equals a fresh embedding. */
async function verifyAll(file, texts) {
  const model = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  const cache = new CachedEmbedder(model, { persist: { path: file } })
  const fromCache = await cache.embedBatch(texts)
  const fresh = await model.embedBatch(texts)
  fromCache.forEach((v, i) => assert.ok(maxAbsDiff(v, fresh[i]) <= 1e-6, `${texts[i]} differs from a fresh embedding`))
  return cache.stats()
}

test('vectors persist across processes and are promoted into memory', async (t) => {
  const file = tmpFile(t)
  const first = await writer(file, 0, 64)
  assert.equal(first.misses, 64)
  const second = await writer(file, 0, 64)
  assert.deepEqual([second.misses, second.diskHits], [0, 64])

  const model = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  const cache = new CachedEmbedder(model, { persist: { path: file } })
  const texts = Array.from({ length: 64 }, (_, i) => `doc ${i}`)
  await cache.embedBatch(texts)
  assert.deepEqual([cache.stats().diskHits, cache.stats().misses], [64, 0])
  await cache.embedBatch(texts)
  assert.deepEqual([cache.stats().diskHits, cache.stats().hits], [64, 128], 'the second pass is served from memory')
})

test('a writer killed with SIGKILL leaves a file that reopens and never gives a wrong vector', async (t) => {
  const file = tmpFile(t)
  const child = spawn(process.execPath, [WRITER, file, 0, 4000, '--forever'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let lines = 0
  await new Promise((resolve) => {
    child.stdout.on('data', (chunk) => {
      lines += String(chunk).split('\n').length - 1
      if (lines >= 20) resolve()
    })
  })
  child.kill('SIGKILL')
  await new Promise((resolve) => child.on('exit', resolve))
  const texts = Array.from({ length: 600 }, (_, i) => `doc ${i}`)
  const stats = await verifyAll(file, texts)
  assert.ok(stats.diskHits >= 16 * 20 - 16, `only ${stats.diskHits} vectors survived`)
})

test('two processes writing one file at once', async (t) => {
  const file = tmpFile(t)
  // overlapping ranges, so both write some of the same keys
  const [a, b] = await Promise.all([writer(file, 0, 300), writer(file, 150, 300)])
  assert.equal(a.misses + a.diskHits, 300)
  assert.equal(b.misses + b.diskHits, 300)
  const texts = Array.from({ length: 450 }, (_, i) => `doc ${i}`)
  const stats = await verifyAll(file, texts)
  assert.equal(stats.diskHits, 450)
})

test('a cache file overwritten with random bytes or truncated is rebuilt with a warning', async (t) => {
  for (const damage of ['random', 'truncated']) {
    const file = tmpFile(t)
    await writer(file, 0, 200)
    if (damage === 'random') fs.writeFileSync(file, require('node:crypto').randomBytes(64 * 1024))
    else fs.truncateSync(file, Math.floor(fs.statSync(file).size / 3))
    for (const side of ['-wal', '-shm']) fs.rmSync(file + side, { force: true })
    const warnings = []
    const onWarning = (w) => warnings.push(w)
    process.on('warning', onWarning)
    const texts = Array.from({ length: 200 }, (_, i) => `doc ${i}`)
    const stats = await verifyAll(file, texts)
    await new Promise((r) => setImmediate(r))
    process.off('warning', onWarning)
    if (damage === 'random') {
      assert.equal(warnings.length, 1, `${damage}: ${warnings.map(String)}`)
      assert.match(warnings[0].message, /rebuilt/)
      assert.equal(stats.diskHits, 0)
    }
    // a truncated file may keep its readable pages; whatever it serves was verified above
    assert.equal(stats.hits + stats.misses, 200)
  }
})

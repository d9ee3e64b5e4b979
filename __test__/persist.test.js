'use strict'
// The disk tier of CachedEmbedder: across processes, after SIGKILL, with two writers, and on a
// damaged file.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile, execFileSync, spawn } = require('node:child_process')
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

test('a cache file of ours that is truncated is rebuilt or served only where sound', async (t) => {
  const file = tmpFile(t)
  await writer(file, 0, 200)
  fs.truncateSync(file, Math.floor(fs.statSync(file).size / 3))
  for (const side of ['-wal', '-shm']) fs.rmSync(file + side, { force: true })
  const texts = Array.from({ length: 200 }, (_, i) => `doc ${i}`)
  const stats = await verifyAll(file, texts)
  // a truncated file may keep its readable pages; whatever it serves was verified above
  assert.equal(stats.hits + stats.misses, 200)
})

/** `python3` with its sqlite3 module, to act as another program on a cache file; `null` without it. */
const PYTHON = (() => {
  try {
    execFileSync('python3', ['-c', 'import sqlite3'], { stdio: 'ignore', timeout: 10_000 })
    return 'python3'
  } catch {
    return null
  }
})()

function sqlite(file, script) {
  execFileSync(PYTHON, ['-c', 'import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()\nc.close()', file, script], {
    timeout: 10_000,
  })
}

/** Collects the process warnings of code EMBEDDER_CACHE_FILE until `stop()`. */
function cacheWarnings() {
  const warnings = []
  const onWarning = (w) => w.code === 'EMBEDDER_CACHE_FILE' && warnings.push(w.message)
  process.on('warning', onWarning)
  return { warnings, stop: () => process.off('warning', onWarning) }
}

const tick = () => new Promise((resolve) => setImmediate(resolve))

test("an empty persist.path (SQLite's private temporary database) is ERR_INVALID_OPTION naming persist.path", () => {
  const model = new Embedder({ model: modelPath('tiny-bert-cls') })
  for (const target of ['', ':memory:']) {
    assert.throws(() => new CachedEmbedder(model, { persist: { path: target } }), { code: 'ERR_INVALID_OPTION', message: /persist\.path/ }, JSON.stringify(target))
  }
})

test('a folder, or a file that is not a cache file of ours, is ERR_INVALID_OPTION and left untouched', async (t) => {
  const dir = path.dirname(tmpFile(t))
  const model = new Embedder({ model: modelPath('tiny-bert-cls') })
  const refused = (target) => {
    assert.throws(() => new CachedEmbedder(model, { persist: { path: target } }), (err) => {
      assert.equal(err.code, 'ERR_INVALID_OPTION')
      assert.ok(err.message.includes(target), err.message)
      return true
    })
  }
  const folder = path.join(dir, 'mydata')
  fs.mkdirSync(folder)
  fs.writeFileSync(path.join(folder, 'notes.txt'), 'mine')
  refused(folder)
  assert.ok(fs.statSync(folder).isDirectory())
  assert.equal(fs.readFileSync(path.join(folder, 'notes.txt'), 'utf8'), 'mine')

  const files = { 'notes.txt': Buffer.from('my notes\n'), 'random.bin': require('node:crypto').randomBytes(64 * 1024) }
  if (PYTHON) {
    sqlite(path.join(dir, 'app.sqlite'), 'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);')
    sqlite(path.join(dir, 'vectors.db'), 'CREATE TABLE vectors (id INTEGER PRIMARY KEY, embedding BLOB);')
    files['app.sqlite'] = fs.readFileSync(path.join(dir, 'app.sqlite'))
    files['vectors.db'] = fs.readFileSync(path.join(dir, 'vectors.db'))
  }
  for (const [name, bytes] of Object.entries(files)) {
    const file = path.join(dir, name)
    fs.writeFileSync(file, bytes)
    refused(file)
    assert.deepEqual(fs.readFileSync(file), bytes, `${name} was changed`)
  }
  assert.deepEqual(fs.readdirSync(dir).sort(), ['mydata', ...Object.keys(files)].sort(), 'nothing was moved aside or created')
})

test('a cache file locked by another connection: the constructor returns at once, the cache works from memory, then uses the file', async (t) => {
  if (!PYTHON) return t.skip('needs python3 (its sqlite3 module) to hold the lock')
  const file = tmpFile(t)
  await writer(file, 0, 32)
  const texts = Array.from({ length: 32 }, (_, i) => `doc ${i}`)
  const holder = spawn(
    PYTHON,
    [
      '-c',
      [
        'import sqlite3, sys',
        'c = sqlite3.connect(sys.argv[1], isolation_level=None)',
        "c.execute('PRAGMA locking_mode = EXCLUSIVE')",
        "c.execute('BEGIN EXCLUSIVE')",
        "c.execute(\"INSERT INTO vectors VALUES (x'00', 1, x'00000000', x'00')\")",
        "print('locked', flush=True)",
        'sys.stdin.read()',
        "c.execute('ROLLBACK')",
      ].join('\n'),
      file,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const exited = new Promise((resolve) => holder.on('exit', resolve))
  t.after(() => holder.kill('SIGKILL'))
  await new Promise((resolve, reject) => {
    holder.stdout.on('data', (chunk) => String(chunk).includes('locked') && resolve())
    holder.on('exit', () => reject(new Error('the lock holder exited')))
  })
  const before = fs.readFileSync(file)
  const { warnings, stop } = cacheWarnings()
  t.after(stop)

  const model = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  const start = performance.now()
  // no memory tier: every call goes to the disk tier
  const cache = new CachedEmbedder(model, { maxCacheSize: 0, persist: { path: file } })
  const took = performance.now() - start
  assert.ok(took < 50, `the constructor took ${took.toFixed(1)} ms`)

  const fresh = await model.embedBatch(texts)
  const callStart = performance.now()
  const vectors = await cache.embedBatch(texts)
  assert.ok(performance.now() - callStart < 5000, 'a call waited on the lock for long')
  vectors.forEach((v, i) => assert.ok(maxAbsDiff(v, fresh[i]) <= 1e-6, `${texts[i]}: wrong vector`))
  await tick()
  assert.equal(warnings.length, 1, String(warnings))
  assert.match(warnings[0], /locked/)
  assert.ok(cache.stats().diskErrors >= 1)
  assert.deepEqual(fs.readFileSync(file), before, 'the locked file was changed')
  assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((n) => n.includes('corrupt')), [])

  holder.stdin.end()
  await exited
  // once free, the file serves the vectors stored before (bounded: 50 tries over at most ~10 s)
  let diskHits = 0
  for (let i = 0; i < 50 && diskHits < texts.length; i++) {
    const again = await cache.embedBatch(texts)
    again.forEach((v, j) => assert.ok(maxAbsDiff(v, fresh[j]) <= 1e-6, `${texts[j]}: wrong vector`))
    diskHits = cache.stats().diskHits
    if (diskHits < texts.length) await new Promise((resolve) => setTimeout(resolve, 200))
  }
  assert.ok(diskHits >= texts.length, `the file was not used once free (${diskHits} disk hits)`)
  await cache.embed('written once free')
  const reader = new CachedEmbedder(model, { persist: { path: file } })
  await reader.embed('written once free')
  assert.equal(reader.stats().diskHits, 1, 'a vector computed once the file was free was not stored')
  await tick()
  assert.equal(warnings.length, 1, `warned again: ${warnings}`)
})

test('disk failures after opening are counted in stats().diskErrors and warned about once', async (t) => {
  if (!PYTHON) return t.skip('needs python3 (its sqlite3 module) to act as another program')
  const file = tmpFile(t)
  const model = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  const { warnings, stop } = cacheWarnings()
  t.after(stop)
  const cache = new CachedEmbedder(model, { persist: { path: file } })
  await cache.embed('first')
  assert.equal(cache.stats().diskErrors, 0)
  // another program puts its own `vectors` table in the file
  sqlite(file, 'DROP TABLE vectors; CREATE TABLE vectors (id INTEGER PRIMARY KEY, embedding BLOB);')
  const texts = Array.from({ length: 8 }, (_, i) => `after ${i}`)
  const fresh = await model.embedBatch(texts)
  for (let i = 0; i < texts.length; i++) {
    const v = await cache.embed(texts[i])
    assert.ok(maxAbsDiff(v, fresh[i]) <= 1e-6)
  }
  await tick()
  assert.ok(cache.stats().diskErrors >= 2, `diskErrors ${cache.stats().diskErrors}`)
  assert.equal(warnings.length, 1, String(warnings))
  assert.match(warnings[0], new RegExp(path.basename(file)))
})

test('embedders sharing one cache file never get each other\'s vectors', async (t) => {
  const { TfidfEmbedder, HybridEmbedder, QuantizedEmbedder, BatchOptimizedEmbedder } = require('..')
  const file = tmpFile(t)
  const texts = ['red apples and green pears', 'the cat sat on the mat', 'apples pears cats']
  /** Every text through a persistent cache over `base` equals `base`'s own vector, and none came from disk. */
  const own = async (base, options = {}) => {
    const cache = new CachedEmbedder(base, { ...options, persist: { path: file } })
    const got = await cache.embedBatch(texts)
    const want = await Promise.all(texts.map((text) => base.embed(text)))
    got.forEach((v, i) => {
      assert.equal(v.length, want[i].length, `${texts[i]}: ${v.length} values, expected ${want[i].length}`)
      assert.ok(maxAbsDiff(v, Array.from(want[i])) <= 1e-6, `${texts[i]}: another embedder's vector`)
    })
    assert.equal(cache.stats().diskHits, 0)
    return cache
  }
  // differently fitted TF-IDFs: another dimension, and the same dimension with other terms
  const a = await new TfidfEmbedder().fit(['red apples', 'green pears', 'the cat'])
  const b = await new TfidfEmbedder().fit(['the cat sat', 'on the mat', 'a dog', 'apples pears cats'])
  const c = await new TfidfEmbedder().fit(['red cats', 'green mat', 'the dog'])
  assert.notEqual(a.dimension, b.dimension)
  assert.equal(a.dimension, c.dimension)
  await own(a)
  await own(b)
  await own(c)
  // hybrids differing only in their weights, quantizers only in their precision
  const model = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  await own(new HybridEmbedder({ semantic: model, lexical: a, semanticWeight: 0.5, lexicalWeight: 0.5 }))
  await own(new HybridEmbedder({ semantic: model, lexical: a, semanticWeight: 0.9, lexicalWeight: 0.1 }))
  await own(new QuantizedEmbedder(b, { precision: 'binary' }))
  await own(new QuantizedEmbedder(b, { precision: 'ubinary' }))

  // a JavaScript embedder needs a namespace to share the file
  const js = (value, dimension) => ({ dimension, embed: async () => Array.from({ length: dimension }, () => value) })
  for (const base of [js(1, 2), new BatchOptimizedEmbedder(js(1, 2))]) {
    assert.throws(
      () => new CachedEmbedder(base, { persist: { path: file } }),
      (err) => err.code === 'ERR_INVALID_OPTION' && /namespace/.test(err.message),
    )
  }
  await own(js(1, 2), { namespace: 'ones' })
  await own(js(2, 2), { namespace: 'twos' })
  // one namespace given to two embedders by mistake: a stored vector of another dimension is a miss
  await own(js(3, 3), { namespace: 'ones' })
  new CachedEmbedder(js(1, 2), { namespace: 'memory only' }) // no file: nothing is shared
})

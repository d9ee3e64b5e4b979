'use strict'
// The Redis tier of CachedEmbedder against real redis-server processes started here (a standalone
// server, a three-node cluster, a TLS server): a fleet computes each text once, Redis trouble never
// fails an embedding, damaged values are never returned.

const test = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile, execFileSync } = require('node:child_process')
const { promisify } = require('node:util')
const { Embedder, CachedEmbedder } = require('..')
const { modelPath, SHARED } = require('./helpers.js')
const { redisAvailable, startRedis, startCluster, stopAll, command, until, freePort, sleep } = require('./redis-servers.js')

const run = promisify(execFile)
const WORKER = path.join(__dirname, 'children', 'fleet-worker.js')
const skip = redisAvailable() ? false : 'redis-server is not installed (.ci/run installs it)'

test.after(stopAll)

const DIMENSION = 16
function vectorOf(text) {
  const h = crypto.createHash('sha256').update(text).digest()
  return Array.from({ length: DIMENSION }, (_, i) => (h[i] - 128) / 128)
}

/** A JavaScript base with a deterministic vector per text, counting the texts it computes. */
function countingBase() {
  return {
    computed: 0,
    dimension: DIMENSION,
    async embedBatch(texts) {
      this.computed += texts.length
      return texts.map(vectorOf)
    },
    async embed(text) {
      return (await this.embedBatch([text]))[0]
    },
  }
}

const prefixOf = (t) => `test:${t.name.replace(/\W+/g, '-').slice(0, 40)}:`

/** Runs fleet-worker.js on `job` (written to a file); its JSON summary. */
async function worker(job, options = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedder-fleet-'))
  try {
    fs.writeFileSync(path.join(dir, 'job.json'), JSON.stringify(job))
    const { stdout } = await run(process.execPath, [WORKER, path.join(dir, 'job.json')], { timeout: 300_000, maxBuffer: 1 << 24, ...options })
    return JSON.parse(stdout.trim().split('\n').at(-1))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Runs fleet-worker.js processes together; their JSON summaries. */
async function fleet(jobs) {
  const startAt = Date.now() + 2000
  return Promise.all(
    jobs.map((job) =>
      worker({ ...job, startAt }).catch((err) => {
        throw new Error(`a fleet process failed (${err.code ?? err.signal}): ${err.stderr}`)
      }),
    ),
  )
}

/** The texts of worker `w`: the shared half, then its own half, in an order of its own. */
function corpus(w, n, text = (i) => `text ${i}`) {
  const texts = []
  for (let i = 0; i < n / 2; i++) texts.push(text(i))
  for (let i = 0; i < n / 2; i++) texts.push(text(`${w}/${i}`))
  // a shuffle seeded by the worker, so the fleet meets the shared texts in different orders
  let seed = w + 1
  for (let i = texts.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    const j = seed % (i + 1)
    ;[texts[i], texts[j]] = [texts[j], texts[i]]
  }
  return texts
}

test('four processes with overlapping corpora compute each distinct text once', { skip, timeout: 300_000 }, async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const n = 2000
  const results = await fleet(
    [0, 1, 2, 3].map((w) => ({
      redis: { url: redis.url, prefix: prefixOf(t), timeoutMs: 5000 },
      texts: corpus(w, n),
      chunk: 100,
      namespace: 'counting',
      delayMsPerText: 0.2,
      verify: true,
    })),
  )
  const distinct = n / 2 + 4 * (n / 2)
  const computed = results.reduce((sum, r) => sum + r.computed, 0)
  t.diagnostic(`computed ${computed} for ${distinct} distinct texts; per process ${results.map((r) => r.computed).join(', ')}`)
  assert.ok(computed >= distinct, `${computed} < ${distinct}: some vectors were not computed`)
  assert.ok(computed <= 1.05 * distinct, `${computed} texts computed for ${distinct} distinct`)
  for (const r of results) {
    assert.equal(r.failed, 0)
    assert.equal(r.wrong, 0)
    assert.equal(r.stats.redisErrors, 0)
    assert.equal(r.stats.misses, r.computed)
  }
})

test('a fleet on the real MiniLM model computes each text once, vectors as a direct embedBatch', { skip, timeout: 300_000 }, async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const lines = fs.readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8').split('\n', 400)
  const passages = lines.map((l) => JSON.parse(l).text)
  const n = 100
  // shared: passages 0..49; own: 50 passages of each worker's own range
  const texts = (w) => [...passages.slice(0, n / 2), ...passages.slice(n / 2 + w * (n / 2), n / 2 + (w + 1) * (n / 2))]
  const results = await fleet(
    [0, 1, 2, 3].map((w) => ({
      redis: { url: redis.url, prefix: prefixOf(t), timeoutMs: 5000 },
      texts: texts(w),
      chunk: 32,
      namespace: 'minilm',
      model: modelPath('all-MiniLM-L6-v2'),
      verify: true,
    })),
  )
  const distinct = new Set([0, 1, 2, 3].flatMap(texts)).size
  const computed = results.reduce((sum, r) => sum + r.computed, 0)
  t.diagnostic(`computed ${computed} for ${distinct} distinct texts`)
  assert.ok(computed <= 1.05 * distinct, `${computed} texts computed for ${distinct} distinct`)
  for (const r of results) assert.deepEqual([r.failed, r.wrong, r.stats.redisErrors], [0, 0, 0])
})

test('Redis killed and restarted mid-run: no failed call, no wrong vector, each call bounded', { skip, timeout: 120_000 }, async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const timeoutMs = 200
  const options = { namespace: 'counting', redis: { url: redis.url, prefix: prefixOf(t), timeoutMs } }
  const base = countingBase()
  const cache = new CachedEmbedder(base, options)
  let failed = 0
  let wrong = 0
  let slowest = 0
  for (let round = 0; round < 60; round++) {
    if (round === 15) await redis.kill()
    if (round === 30) await redis.start()
    // new texts and some of the last round's (memory hits)
    const texts = Array.from({ length: 20 }, (_, i) => `round ${round - (i % 4 === 0 ? 1 : 0)} text ${i}`)
    const started = performance.now()
    try {
      const vectors = await cache.embedBatch(texts)
      wrong += vectors.filter((v, i) => JSON.stringify(v) !== JSON.stringify(vectorOf(texts[i]))).length
    } catch {
      failed++
    }
    slowest = Math.max(slowest, performance.now() - started)
    await sleep(10)
  }
  const stats = cache.stats()
  t.diagnostic(`slowest call ${slowest.toFixed(0)} ms; ${JSON.stringify(stats)}`)
  assert.deepEqual([failed, wrong], [0, 0])
  assert.ok(stats.redisErrors > 0, 'the outage was counted')
  // timeoutMs per operation, plus the reconnect attempt, plus the base's own time (with margin
  // for a loaded machine)
  assert.ok(slowest < 4 * timeoutMs + 500, `a call took ${slowest} ms`)
  // once the tier is tried again (after at most MAX_RETRY_MS), the restarted Redis is used: texts
  // written by this cache are read by a cache with an empty memory
  await sleep(MAX_RETRY_MS)
  let shared = 0
  for (let attempt = 0; attempt < 10 && shared === 0; attempt++) {
    const late = Array.from({ length: 20 }, (_, i) => `late ${attempt} text ${i}`)
    assert.deepEqual(await cache.embedBatch(late), late.map(vectorOf))
    const fresh = new CachedEmbedder(countingBase(), options)
    assert.deepEqual(await fresh.embedBatch(late), late.map(vectorOf))
    shared = fresh.stats().redisHits
    if (shared === 0) await sleep(500)
  }
  assert.equal(shared, 20, 'the restarted Redis is used again')
})

test('Redis down at start, frozen, full or refusing: embeddings are computed and counted', { skip, timeout: 60_000 }, async (t) => {
  // nothing listens on this port
  const port = await freePort()
  const down = new CachedEmbedder(countingBase(), { namespace: 'n', redis: `redis://127.0.0.1:${port}` })
  let started = performance.now()
  assert.deepEqual(await down.embedBatch(['a', 'b']), [vectorOf('a'), vectorOf('b')])
  assert.ok(down.stats().redisErrors >= 1)
  assert.ok(performance.now() - started < 1000)

  const redis = await startRedis()
  t.after(() => redis.stop())
  const timeoutMs = 150
  const options = { namespace: 'n', redis: { url: redis.url, prefix: prefixOf(t), timeoutMs } }
  const warm = new CachedEmbedder(countingBase(), options)
  await warm.embedBatch(['warm'])
  assert.equal(warm.stats().redisErrors, 0)

  // frozen (SIGSTOP): every call still answers within the timeout and the reconnect attempt
  process.kill(redis.child.pid, 'SIGSTOP')
  try {
    for (let i = 0; i < 5; i++) {
      started = performance.now()
      assert.deepEqual(await warm.embedBatch([`frozen ${i}`]), [vectorOf(`frozen ${i}`)])
      const ms = performance.now() - started
      assert.ok(ms < 4 * timeoutMs + 500, `a call took ${ms} ms with Redis frozen`)
    }
  } finally {
    process.kill(redis.child.pid, 'SIGCONT')
  }
  assert.ok(warm.stats().redisErrors >= 1)

  // full: maxmemory with noeviction refuses every write
  await command(redis.port, ['CONFIG', 'SET', 'maxmemory', '1'])
  await command(redis.port, ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction'])
  const full = new CachedEmbedder(countingBase(), options)
  assert.deepEqual(await full.embedBatch(['x', 'y']), [vectorOf('x'), vectorOf('y')])
  assert.ok(full.stats().redisErrors >= 1, 'the refused writes were counted')
  await command(redis.port, ['CONFIG', 'SET', 'maxmemory', '0'])

  // a server refusing the client: a wrong password
  const refused = new CachedEmbedder(countingBase(), { namespace: 'n', redis: `redis://nobody:wrong@127.0.0.1:${redis.port}` })
  assert.deepEqual(await refused.embedBatch(['z']), [vectorOf('z')])
  assert.ok(refused.stats().redisErrors >= 1)
})

/** The longest the tier is skipped after failures (redis_tier.rs MAX_RETRY_AFTER), plus margin. */
const MAX_RETRY_MS = 2100

test('a value of the wrong length or with a bad checksum is never returned, and is overwritten', { skip, timeout: 60_000 }, async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const prefix = prefixOf(t)
  const options = { namespace: 'n', redis: { url: redis.url, prefix } }
  const text = 'the one text'
  await new CachedEmbedder(countingBase(), options).embedBatch([text])
  const keys = (await command(redis.port, ['KEYS', `${prefix}*`])).map(String).filter((k) => !k.endsWith(':lease'))
  assert.equal(keys.length, 1)
  const key = keys[0]
  const good = await command(redis.port, ['GET', key])
  assert.equal(good.length, 16 + 4 * DIMENSION)

  // the same layout as redis_tier.rs encode_value: a value whose checksum is right for its content
  const hexKey = Buffer.from(key.slice(prefix.length + 1, -1), 'hex')
  const encode = (values) => {
    const data = Buffer.from(new Float32Array(values).buffer)
    const dim = Buffer.alloc(4)
    dim.writeUInt32LE(values.length)
    const sum = crypto.createHash('sha256').update(hexKey).update(dim).update(data).digest().subarray(0, 8)
    return Buffer.concat([Buffer.from('EV1\0', 'latin1'), dim, sum, data])
  }
  assert.deepEqual(encode(vectorOf(text)), good, 'the test encodes as the tier does')
  const flipped = Buffer.from(good)
  flipped[20] ^= 1
  const planted = {
    'a bad checksum': flipped,
    'a value cut short': good.subarray(0, good.length - 4),
    'a well-formed value of another dimension': encode([0.5, 0.5, 0.5]),
    'a well-formed value of the right length but wrong values': encode(vectorOf('another text')).fill(0, 8, 16),
    'not ours': Buffer.from('hello'),
  }
  for (const [what, bytes] of Object.entries(planted)) {
    await command(redis.port, ['SET', key, bytes])
    const cache = new CachedEmbedder(countingBase(), options)
    assert.deepEqual(await cache.embedBatch([text]), [vectorOf(text)], what)
    assert.deepEqual([cache.stats().redisHits, cache.stats().misses], [0, 1], what)
    assert.deepEqual(await command(redis.port, ['GET', key]), good, `${what}: overwritten with the computed vector`)
  }
})

test('a process waits for a text another holds a lease on, at most one lease', { skip, timeout: 60_000 }, async (t) => {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const prefix = prefixOf(t)
  const options = (leaseMs) => ({ namespace: 'n', redis: { url: redis.url, prefix, leaseMs } })
  await new CachedEmbedder(countingBase(), options(1000)).embedBatch(['probe'])
  const probeKey = String((await command(redis.port, ['KEYS', `${prefix}*`]))[0])
  await command(redis.port, ['DEL', probeKey])
  // the lease of a holder that died: it expires after 400 ms
  await command(redis.port, ['SET', `${probeKey}:lease`, '1', 'PX', '400'])
  let started = performance.now()
  const a = new CachedEmbedder(countingBase(), options(5000))
  assert.deepEqual(await a.embedBatch(['probe']), [vectorOf('probe')])
  let ms = performance.now() - started
  assert.ok(ms >= 300 && ms < 1500, `waited ${ms} ms for a lease of 400 ms`)
  // a holder slower than the lease: the waiter computes after its own lease time
  await command(redis.port, ['DEL', probeKey])
  await command(redis.port, ['SET', `${probeKey}:lease`, '1'])
  started = performance.now()
  const b = new CachedEmbedder(countingBase(), options(300))
  assert.deepEqual(await b.embedBatch(['probe']), [vectorOf('probe')])
  ms = performance.now() - started
  assert.ok(ms >= 250 && ms < 1500, `waited ${ms} ms with a lease of 300 ms`)
  assert.equal(b.stats().misses, 1)
  // a value the holder writes meanwhile is taken as soon as it appears, nothing computed
  const value = await command(redis.port, ['GET', probeKey])
  await command(redis.port, ['DEL', probeKey])
  await command(redis.port, ['SET', `${probeKey}:lease`, '1'])
  const base = countingBase()
  const c = new CachedEmbedder(base, options(5000))
  started = performance.now()
  const waiting = c.embedBatch(['probe'])
  await sleep(200)
  await command(redis.port, ['SET', probeKey, value])
  assert.deepEqual(await waiting, [vectorOf('probe')])
  ms = performance.now() - started
  assert.ok(ms < 1500, `took ${ms} ms`)
  assert.deepEqual([base.computed, c.stats().redisHits], [0, 1])
})

test('a Redis Cluster shares vectors across its nodes', { skip, timeout: 120_000 }, async (t) => {
  const cluster = await startCluster()
  t.after(() => cluster.stop())
  const texts = Array.from({ length: 300 }, (_, i) => `cluster text ${i}`)
  const options = { namespace: 'n', redis: cluster.url }
  const first = new CachedEmbedder(countingBase(), options)
  assert.deepEqual(await first.embedBatch(texts), texts.map(vectorOf))
  assert.equal(first.stats().redisErrors, 0)
  const sizes = await Promise.all(cluster.nodes.map((n) => command(n.port, ['DBSIZE'])))
  assert.ok(sizes.every((s) => s > 0), `keys on every node: ${sizes}`)
  // a list of nodes is a cluster too
  const base = countingBase()
  const second = new CachedEmbedder(base, { namespace: 'n', redis: { url: cluster.nodes.map((n) => n.url) } })
  assert.deepEqual(await second.embedBatch(texts), texts.map(vectorOf))
  assert.deepEqual([second.stats().redisHits, base.computed, second.stats().redisErrors], [300, 0, 0])
})

function canMakeCertificates() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

test('rediss:// with a password: TLS (rustls) to a server with a self-signed certificate', { skip: skip || (!canMakeCertificates() && 'openssl is not installed'), timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedder-tls-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const f = (name) => path.join(dir, name)
  const openssl = (...args) => execFileSync('openssl', args, { stdio: 'ignore', timeout: 30_000 })
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=embedder test CA')
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=localhost')
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n')
  openssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'))
  const redis = await startRedis({
    tls: { cert: f('server.pem'), key: f('server.key'), ca: f('ca.pem') },
    extra: ['--user', 'default', 'off', '--user', 'fleet', 'on', '>s3cret', '~*', '&*', '+@all'],
  })
  t.after(() => redis.stop())
  const texts = Array.from({ length: 50 }, (_, i) => `tls text ${i}`)
  const job = (url) => ({ redis: url, texts, chunk: 50, namespace: 'tls', verify: true, startAt: 0 })
  // the CA is trusted through SSL_CERT_FILE, as the platform's certificate store
  const trusting = (url) => worker(job(url), { env: { ...process.env, SSL_CERT_FILE: f('ca.pem') } })
  const url = `rediss://fleet:s3cret@127.0.0.1:${redis.port}`
  const first = await trusting(url)
  assert.deepEqual([first.failed, first.wrong, first.computed, first.stats.redisErrors], [0, 0, 50, 0])
  const second = await trusting(url)
  assert.deepEqual([second.computed, second.stats.redisHits, second.stats.redisErrors], [0, 50, 0])
  // not trusted, or the wrong password: computed all the same, counted
  const untrusted = await worker(job(url), { env: { ...process.env, SSL_CERT_FILE: path.join(dir, 'none.pem') } })
  assert.deepEqual([untrusted.failed, untrusted.wrong, untrusted.computed], [0, 0, 50])
  assert.ok(untrusted.stats.redisErrors >= 1)
  const wrongPassword = await trusting(`rediss://fleet:nope@127.0.0.1:${redis.port}`)
  assert.deepEqual([wrongPassword.failed, wrongPassword.wrong, wrongPassword.computed], [0, 0, 50])
  assert.ok(wrongPassword.stats.redisErrors >= 1)
})

test('redis options: bad URLs and values are ERR_INVALID_OPTION naming them; a JavaScript base needs a namespace', { skip }, () => {
  const bad = [
    ['http://127.0.0.1:6379', 'redis.url'],
    ['127.0.0.1:6379', 'redis.url'],
    [{ url: 'redis://user:secret@host:port' }, 'redis.url'],
    [{ url: 'redis://127.0.0.1', timeoutMs: 0 }, 'redis.timeoutMs'],
    [{ url: 'redis://127.0.0.1', timeoutMs: Number.NaN }, 'redis.timeoutMs'],
    [{ url: 'redis://127.0.0.1', ttlSeconds: 1.5 }, 'redis.ttlSeconds'],
    [{ url: 'redis://127.0.0.1', leaseMs: -1 }, 'redis.leaseMs'],
    [{ url: 'redis://127.0.0.1', prefix: 3 }, 'redis.prefix'],
    [{ url: [] }, 'redis'],
    [{}, 'redis'],
    [42, 'redis'],
    [null, 'redis'],
  ]
  for (const [redis, option] of bad) {
    assert.throws(
      () => new CachedEmbedder(countingBase(), { namespace: 'n', redis }),
      (err) => err.code === 'ERR_INVALID_OPTION' && err.message.includes(`\`${option}\``) && !err.message.includes('secret'),
      JSON.stringify(redis),
    )
  }
  assert.throws(
    () => new CachedEmbedder(countingBase(), { redis: 'redis://127.0.0.1:6379' }),
    (err) => err.code === 'ERR_INVALID_OPTION' && err.message.includes('`namespace`'),
  )
  // a model is keyed by its own fingerprint; nothing connects before the first call
  const model = new Embedder({ model: modelPath('tiny-bert-cls') })
  assert.ok(new CachedEmbedder(model, { redis: { url: 'redis://127.0.0.1:1/0', prefix: 'p:', ttlSeconds: 60, timeoutMs: 50, leaseMs: 1000 } }))
  model.dispose()
})

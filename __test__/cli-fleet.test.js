'use strict'
// rag-embed for bulk jobs across machines, run as a real subprocess: --shard (outputs of all
// shards concatenated equal the unsharded output), --prompt against sentence-transformers,
// --persist and --cache (the second run is all cache hits), hub ids with --revision/--cache-dir.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const { SHARED, modelPath, fixture, maxAbsDiff } = require('./helpers.js')

const BIN = path.join(__dirname, '..', 'bin', 'rag-embed.js')
const TINY = modelPath('tiny-bert-cls')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rag-embed-fleet-'))
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

/** Environment without the variables `--shard auto/n` reads, plus `env`. */
function envWith(env = {}) {
  const out = { ...process.env, ...env }
  for (const name of ['JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID']) if (!(name in env)) delete out[name]
  return out
}

/** Runs rag-embed; resolves `{ status, stdout: Buffer, stderr: string }`. */
function rag(args, { stdin, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: envWith(env) })
    const out = []
    const err = []
    child.stdout.on('data', (b) => out.push(b))
    child.stderr.on('data', (b) => err.push(b))
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }))
    child.stdin.end(stdin ?? '')
  })
}

async function ok(args, options) {
  const r = await rag(args, options)
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`)
  return r
}

const passages = fs
  .readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8')
  .split('\n')
  .slice(0, 23)
  .map((line) => JSON.parse(line))

// 23 records: txt with empty lines (records too), jsonl with blank lines (not records) and no _id
const txt = path.join(dir, 'passages.txt')
fs.writeFileSync(txt, passages.map((p, i) => (i % 5 === 4 ? '' : p.text)).join('\n') + '\n')
const jsonl = path.join(dir, 'passages.jsonl')
fs.writeFileSync(jsonl, passages.map((p, i) => JSON.stringify({ title: p.title, text: p.text }) + (i % 6 === 2 ? '\n  \n' : '\n')).join(''))

/** The npy rows of `buf` as raw bytes after the header. */
function npyData(file) {
  const buf = fs.readFileSync(file)
  const m = /'shape': \((\d+), (\d+)\)/.exec(buf.subarray(0, 128).toString('latin1'))
  return { rows: Number(m[1]), dim: Number(m[2]), data: buf.subarray(10 + buf.readUInt16LE(8)) }
}

test('--shard i/n: the shards concatenated in order are the unsharded output, for n up to past the record count', async () => {
  for (const [input, counts] of [
    [txt, [1, 3, 30]],
    [jsonl, [2, 7]],
  ]) {
    const whole = (await ok(['embed', '--model', TINY, '--input', input, '--quiet'])).stdout
    assert.equal(whole.toString().trim().split('\n').length, 23)
    for (const n of counts) {
      const parts = []
      for (let i = 0; i < n; i++) parts.push((await ok(['embed', '--model', TINY, '--input', input, '--shard', `${i}/${n}`, '--batch-size', '4', '--quiet'])).stdout)
      assert.ok(Buffer.concat(parts).equals(whole), `${path.basename(input)} in ${n} shards`)
      if (n > 23) assert.ok(parts.some((p) => p.length === 0), 'shards past the record count are empty')
    }
  }
})

test('--shard auto/n takes the index from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID; .npy shards stack to the unsharded matrix', async () => {
  const whole = path.join(dir, 'whole.npy')
  await ok(['embed', '--model', TINY, '--input', txt, '--output', whole, '--quiet'])
  const shards = []
  for (let i = 0; i < 3; i++) {
    const out = path.join(dir, `shard-${i}.npy`)
    const env = i === 1 ? { SLURM_ARRAY_TASK_ID: String(i) } : { JOB_COMPLETION_INDEX: String(i) }
    const r = await ok(['embed', '--model', TINY, '--input', txt, '--output', out, '--shard', 'auto/3'], { env })
    assert.match(r.stderr, new RegExp(`shard ${i}/3 \\(from ${Object.keys(env)[0]}\\): records \\d+–\\d+ of 23`))
    shards.push(npyData(out))
  }
  const all = npyData(whole)
  assert.deepEqual(
    shards.map((s) => s.rows),
    [7, 8, 8],
  )
  assert.ok(Buffer.concat(shards.map((s) => s.data)).equals(all.data))
})

test('--shard failures: stdin, no index in the environment, an index out of range', async () => {
  const fails = async (args, pattern, options) => {
    const r = await rag(args, options)
    assert.equal(r.status, 2, r.stderr)
    assert.match(r.stderr, /^rag-embed: [^\n]+\n$/)
    assert.match(r.stderr, pattern)
  }
  await fails(['embed', '--model', TINY, '--shard', '0/2'], /--shard needs --input <file>/, { stdin: 'a\nb\n' })
  await fails(['embed', '--model', TINY, '--input', txt, '--shard', 'auto/2'], /neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set/)
  await fails(['embed', '--model', TINY, '--input', txt, '--shard', 'auto/2'], /JOB_COMPLETION_INDEX is "2", not a shard index from 0 to 1/, { env: { JOB_COMPLETION_INDEX: '2' } })
  await fails(['embed', '--model', TINY, '--input', txt, '--shard', '1of2'], /--shard takes i\/n/)
})

test('--prompt query|document embeds with the model\'s prompts, as sentence-transformers does', async () => {
  const ref = fixture('reference-tiny-bert-cls-prompts.json')
  const input = path.join(dir, 'prompts.jsonl')
  fs.writeFileSync(input, ref.texts.map((text, i) => JSON.stringify({ _id: i, text })).join('\n'))
  const rows = (r) => r.stdout.toString().trim().split('\n').map((line) => JSON.parse(line))
  const plain = rows(await ok(['embed', '--model', TINY, '--input', input, '--quiet']))
  for (const kind of ['query', 'document']) {
    const r = await ok(['embed', '--model', TINY, '--input', input, '--prompt', kind, '--batch-size', '4'])
    assert.match(r.stderr, new RegExp(`; ${kind} prompt "${ref.prompts[kind]}"`))
    const got = rows(r)
    assert.deepEqual(
      got.map((row) => row.id),
      ref.texts.map((_, i) => i),
    )
    got.forEach((row, i) => {
      assert.ok(maxAbsDiff(row.embedding, ref[kind][i]) < 1e-4, `${kind} ${i}: ${maxAbsDiff(row.embedding, ref[kind][i])}`)
      assert.ok(maxAbsDiff(row.embedding, plain[i].embedding) > 1e-3, `${kind} ${i} differs from no prompt`)
    })
  }
  // a model without prompts embeds the texts as given, and says so
  const minilm = await ok(['embed', '--model', modelPath('all-MiniLM-L6-v2'), '--input', input, '--prompt', 'query'])
  assert.match(minilm.stderr, /no query prompt in the model, texts embedded as given/)
})

test('--persist FILE: a second run is all cache hits from the file, with the same output', async () => {
  const cacheFile = path.join(dir, 'vectors.sqlite')
  const first = await ok(['embed', '--model', TINY, '--input', jsonl, '--persist', cacheFile])
  assert.match(first.stderr, /; cache 0 hits, 23 misses/)
  const second = await ok(['embed', '--model', TINY, '--input', jsonl, '--persist', cacheFile])
  assert.match(second.stderr, /; cache 23 hits \(23 from the file\), 0 misses/)
  assert.ok(second.stdout.equals(first.stdout))
  // the library refuses a folder; the CLI says which flag
  const r = await rag(['embed', '--model', TINY, '--input', jsonl, '--persist', dir])
  assert.equal(r.status, 2, r.stderr)
  assert.match(r.stderr, /^rag-embed: [^\n]*--persist[^\n]*\n$/)
})

test('--model takes a hub id, with --revision and --cache-dir (a hub cache read offline)', async () => {
  const commit = '0123456789abcdef0123456789abcdef01234567'
  const cacheDir = path.join(dir, 'hub')
  const repo = path.join(cacheDir, 'models--test--tiny-bert-cls')
  fs.mkdirSync(path.join(repo, 'refs'), { recursive: true })
  fs.writeFileSync(path.join(repo, 'refs', 'v1'), commit)
  fs.cpSync(TINY, path.join(repo, 'snapshots', commit), { recursive: true })
  const env = { HF_HUB_OFFLINE: '1' }
  const fromHub = await ok(['embed', '--model', 'test/tiny-bert-cls', '--revision', 'v1', '--cache-dir', cacheDir, '--input', txt], { env })
  assert.match(fromHub.stderr, /32-d fp32 test\/tiny-bert-cls, jsonl → stdout/)
  const local = await ok(['embed', '--model', TINY, '--input', txt, '--quiet'])
  assert.ok(fromHub.stdout.equals(local.stdout))
  const info = JSON.parse((await ok(['info', '--model', 'test/tiny-bert-cls', '--revision', 'v1', '--cache-dir', cacheDir, '--json'], { env })).stdout)
  assert.equal(info.modelPath, path.join(repo, 'snapshots', commit))
  // without the revision, main is not cached
  const r = await rag(['info', '--model', 'test/tiny-bert-cls', '--cache-dir', cacheDir], { env })
  assert.equal(r.status, 1)
  assert.match(r.stderr, /^rag-embed: cannot load the model: ERR_OFFLINE: [^\n]+\n$/)
})

test('the library\'s refusals of option values are usage errors naming the flag', async () => {
  for (const [args, pattern] of [
    [['--threads', '0'], /--threads/],
    [['--dtype', 'int4'], /--dtype/],
    [['--revision', ''], /--revision/],
  ]) {
    const r = await rag(['embed', '--model', TINY, '--input', txt, ...args])
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, /^rag-embed: [^\n]+\(see rag-embed --help\)\n$/)
    assert.match(r.stderr, pattern)
  }
})

/** A loopback port nothing listens on now. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Resolves once a server on `port` answers PING, or rejects after `ms`. */
async function waitForRedis(port, ms) {
  const deadline = Date.now() + ms
  for (;;) {
    const pong = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('PING\r\n'))
      socket.setTimeout(500, () => socket.destroy())
      socket.on('data', (b) => {
        socket.destroy()
        resolve(b.toString().startsWith('+PONG'))
      })
      socket.on('error', () => resolve(false))
      socket.on('close', () => resolve(false))
    })
    if (pong) return
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const redisAvailable = spawnSync('redis-server', ['--version']).status === 0
// CachedEmbedder's `redis` option, as the package's types declare it
const redisSupported = /^\s*redis\?:/m.test(fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8'))

test('--cache redis://…: a second run is all cache hits from Redis', { timeout: 120_000, skip: !redisAvailable ? 'redis-server is not installed' : !redisSupported ? 'CachedEmbedder has no redis option yet' : false }, async (t) => {
  const port = await freePort()
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const exited = new Promise((resolve) => server.on('exit', resolve))
  t.after(async () => {
    server.kill('SIGTERM')
    await exited
  })
  await waitForRedis(port, 10_000)
  const url = `redis://127.0.0.1:${port}/0`
  const first = await ok(['embed', '--model', TINY, '--input', txt, '--cache', url])
  assert.match(first.stderr, /; cache \d+ hits.*, \d+ misses/)
  assert.doesNotMatch(first.stderr, /Redis errors/)
  const second = await ok(['embed', '--model', TINY, '--input', txt, '--cache', url])
  // txt input repeats "" (the empty lines), which the memory tier already serves
  const m = /; cache (\d+) hits \((\d+) from Redis\), 0 misses/.exec(second.stderr)
  assert.ok(m, second.stderr)
  assert.equal(Number(m[1]), 23)
  assert.ok(Number(m[2]) >= 19, `${m[2]} from Redis`)
  assert.ok(second.stdout.equals(first.stdout))
})

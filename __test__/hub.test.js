'use strict'
// Models by Hugging Face hub id, against a local server speaking the hub's protocol
// (children/hub-server.js) that HF_ENDPOINT points at. The hub settings are environment variables
// read at each model load, so each test sets them before creating its embedders.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Embedder } = require('..')
const { modelPath } = require('./helpers.js')
const { startHub, COMMIT, etagOf } = require('./children/hub-server.js')

const TEXTS = ['How does authentication work?', '', 'The same vectors as the local folder']
const HUB_VARS = [
  'HF_ENDPOINT',
  'HF_TOKEN',
  'HF_TOKEN_PATH',
  'HF_HUB_OFFLINE',
  'HF_HUB_CACHE',
  'HF_HOME',
  'XDG_CACHE_HOME',
  'HF_HUB_DOWNLOAD_TIMEOUT',
]

function tmpDir(t, prefix = 'embedder-hub-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Sets the hub variables for this test only (the rest unset; HF_HOME in a temp folder, so no
 * token file of this machine is read), restored afterwards. */
function hubEnv(t, vars) {
  const saved = Object.fromEntries(HUB_VARS.map((k) => [k, process.env[k]]))
  for (const k of HUB_VARS) delete process.env[k]
  Object.assign(process.env, { HF_HOME: tmpDir(t, 'embedder-hf-home-') }, vars)
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })
}

async function hubFor(t, repos = { 'test/tiny-bert-cls': modelPath('tiny-bert-cls') }) {
  const hub = await startHub(repos)
  t.after(() => hub.close())
  return hub
}

async function vectorsOf(options) {
  const embedder = await Embedder.create(options)
  try {
    return { vectors: await embedder.embedBatch(TEXTS), info: embedder.modelInfo }
  } finally {
    embedder.dispose()
  }
}

/** Every file under `dir` (symlinks included), relative. */
function filesUnder(dir) {
  return fs.readdirSync(dir, { recursive: true }).filter((f) => !fs.lstatSync(path.join(dir, f)).isDirectory())
}

test('without `model`, sentence-transformers/all-MiniLM-L6-v2 comes from the hub into its cache layout, with only the files needed', async (t) => {
  const hub = await hubFor(t, { 'sentence-transformers/all-MiniLM-L6-v2': modelPath('all-MiniLM-L6-v2') })
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })

  const fromHub = await vectorsOf({ cacheDir })
  const local = await vectorsOf({ model: modelPath('all-MiniLM-L6-v2') })
  assert.deepEqual(fromHub.vectors, local.vectors)

  const repo = path.join(cacheDir, 'models--sentence-transformers--all-MiniLM-L6-v2')
  const snapshot = path.join(repo, 'snapshots', COMMIT)
  assert.equal(fromHub.info.modelPath, snapshot)
  assert.equal(fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8'), COMMIT)
  const onnx = path.join(snapshot, 'onnx', 'model.onnx')
  const etag = await etagOf(path.join(modelPath('all-MiniLM-L6-v2'), 'onnx', 'model.onnx'))
  assert.ok(fs.lstatSync(onnx).isSymbolicLink())
  assert.equal(fs.readlinkSync(onnx), path.join('..', '..', '..', 'blobs', etag))
  assert.ok(fs.statSync(path.join(repo, 'blobs', etag)).isFile())

  const fetched = new Set(hub.requests.map((r) => r.path.split('/resolve/')[1].replace(/^[^/]+\//, '')))
  for (const file of ['tokenizer.json', 'onnx/model.onnx', 'modules.json', '1_Pooling/config.json', 'sentence_bert_config.json']) {
    assert.ok(fetched.has(file), file)
  }
  for (const file of ['vocab.txt', 'special_tokens_map.json', 'onnx/model_quantized.onnx']) {
    assert.ok(!fetched.has(file), file)
  }
  // the folder without 2_Normalize/config.json is remembered as such, as huggingface_hub does
  assert.ok(fs.existsSync(path.join(repo, '.no_exist', COMMIT, '2_Normalize', 'config.json')))
})

test('with everything cached, a new embedder loads with the hub stopped and makes no request', async (t) => {
  const hub = await hubFor(t)
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })
  const first = await vectorsOf({ model: 'test/tiny-bert-cls', cacheDir })
  const requests = hub.requests.length
  await hub.close()

  const again = await vectorsOf({ model: 'test/tiny-bert-cls', cacheDir })
  assert.deepEqual(again.vectors, first.vectors)
  assert.deepEqual(again.vectors, (await vectorsOf({ model: modelPath('tiny-bert-cls') })).vectors)
  assert.equal(hub.requests.length, requests)
})

test('HF_HUB_OFFLINE=1: a cached model loads without the network, an uncached one is ERR_OFFLINE', async (t) => {
  const hub = await hubFor(t)
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })
  await vectorsOf({ model: 'test/tiny-bert-cls', cacheDir })
  const requests = hub.requests.length

  process.env.HF_HUB_OFFLINE = '1'
  const cached = await vectorsOf({ model: 'test/tiny-bert-cls', cacheDir })
  assert.equal(cached.vectors.length, TEXTS.length)
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir: tmpDir(t) }), {
    code: 'ERR_OFFLINE',
    message: /test\/tiny-bert-cls.*HF_HUB_OFFLINE/,
  })
  // q8 derives its graph from the cached fp32 one, beside the hub cache entry, with no request
  const q8 = await Embedder.create({ model: 'test/tiny-bert-cls', cacheDir, dtype: 'q8' })
  assert.equal(q8.modelInfo.graph.kind, 'derived-q8')
  assert.ok(q8.modelInfo.onnxPath.startsWith(path.join(cacheDir, 'models--test--tiny-bert-cls', 'derived')), q8.modelInfo.onnxPath)
  // cached, but not the file asked for
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir, modelFile: 'onnx/model_quantized.onnx' }), {
    code: 'ERR_OFFLINE',
    message: /model_quantized\.onnx/,
  })
  assert.equal(hub.requests.length, requests)
})

test('a missing repository, revision or file is ERR_MODEL_NOT_FOUND naming it', async (t) => {
  const hub = await hubFor(t)
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })
  await assert.rejects(Embedder.create({ model: 'test/no-such-model', cacheDir }), {
    code: 'ERR_MODEL_NOT_FOUND',
    message: /repository test\/no-such-model/,
  })
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir, revision: 'v9' }), {
    code: 'ERR_MODEL_NOT_FOUND',
    message: /revision `v9` of test\/tiny-bert-cls/,
  })
  // tiny-bert-cls has no quantized export
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir, modelFile: 'onnx/model_quantized.onnx' }), (err) => {
    assert.equal(err.code, 'ERR_MODEL_NOT_FOUND')
    assert.match(err.message, /of test\/tiny-bert-cls at revision main/)
    assert.match(err.message, /\/resolve\/[0-9a-f]{40}\/onnx\/model_quantized\.onnx/)
    return true
  })
})

test('401 is ERR_AUTH saying to set HF_TOKEN; HF_TOKEN is sent as a Bearer token', async (t) => {
  const hub = await hubFor(t)
  hub.token = 'hf_test_token'
  hubEnv(t, { HF_ENDPOINT: hub.url })
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir: tmpDir(t) }), {
    code: 'ERR_AUTH',
    message: /test\/tiny-bert-cls.*401.*set HF_TOKEN/,
  })
  assert.equal(hub.requests.at(-1).authorization, undefined)

  process.env.HF_TOKEN = 'hf_test_token'
  const before = hub.requests.length
  await vectorsOf({ model: 'test/tiny-bert-cls', cacheDir: tmpDir(t) })
  const sent = hub.requests.slice(before)
  assert.ok(sent.length > 0)
  assert.ok(sent.every((r) => r.authorization === 'Bearer hf_test_token'))

  process.env.HF_TOKEN = 'hf_wrong'
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir: tmpDir(t) }), {
    code: 'ERR_AUTH',
    message: /the token in HF_TOKEN cannot read it/,
  })
})

test('an interrupted download is ERR_NETWORK naming the URL and leaves no partial file; a retry completes', async (t) => {
  const hub = await hubFor(t)
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })
  hub.cutOnce('onnx/model.onnx', 200_000)
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir }), (err) => {
    assert.equal(err.code, 'ERR_NETWORK')
    assert.ok(err.message.includes(`${hub.url}/test/tiny-bert-cls/resolve/${COMMIT}/onnx/model.onnx`), err.message)
    assert.match(err.message, /200000 of \d+ bytes/)
    return true
  })
  const repo = path.join(cacheDir, 'models--test--tiny-bert-cls')
  const files = filesUnder(repo)
  assert.ok(!files.some((f) => f.endsWith('model.onnx') || f.endsWith('.incomplete') || f.endsWith('.tmp')), files.join('\n'))
  assert.ok(!fs.existsSync(path.join(repo, 'refs', 'main')))

  const retried = await vectorsOf({ model: 'test/tiny-bert-cls', cacheDir })
  assert.deepEqual(retried.vectors, (await vectorsOf({ model: modelPath('tiny-bert-cls') })).vectors)
})

test('a hub that cannot be reached is ERR_NETWORK naming the URL', async (t) => {
  const hub = await hubFor(t)
  await hub.close()
  hubEnv(t, { HF_ENDPOINT: hub.url })
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir: tmpDir(t) }), {
    code: 'ERR_NETWORK',
    message: new RegExp(`${hub.url}/test/tiny-bert-cls/resolve/main/config\\.json`),
  })
})

test('revision, cacheDir, HF_HUB_CACHE and HF_HOME choose what is fetched and where', async (t) => {
  const hub = await hubFor(t)
  const hubCache = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url, HF_HUB_CACHE: hubCache })
  const { info } = await vectorsOf({ model: 'test/tiny-bert-cls', revision: 'v1' })
  assert.equal(info.modelPath, path.join(hubCache, 'models--test--tiny-bert-cls', 'snapshots', COMMIT))
  assert.equal(fs.readFileSync(path.join(hubCache, 'models--test--tiny-bert-cls', 'refs', 'v1'), 'utf8'), COMMIT)

  delete process.env.HF_HUB_CACHE
  const { info: underHome } = await vectorsOf({ model: 'test/tiny-bert-cls', revision: COMMIT })
  assert.equal(underHome.modelPath, path.join(process.env.HF_HOME, 'hub', 'models--test--tiny-bert-cls', 'snapshots', COMMIT))

  // a folder is a folder, even when its path looks like a hub id
  const cwd = process.cwd()
  const dir = tmpDir(t)
  fs.mkdirSync(path.join(dir, 'test'))
  fs.symlinkSync(modelPath('tiny-bert-cls'), path.join(dir, 'test', 'tiny-bert-cls'))
  process.chdir(dir)
  t.after(() => process.chdir(cwd))
  const before = hub.requests.length
  const { info: folder } = await vectorsOf({ model: 'test/tiny-bert-cls' })
  assert.equal(folder.modelPath, 'test/tiny-bert-cls')
  assert.equal(hub.requests.length, before)
})

test('hub options are checked; file names from modules.json never leave the cache', async (t) => {
  for (const [options, message] of [
    [{ model: 'test/x', revision: 1 }, /`revision`/],
    [{ model: 'test/x', revision: '' }, /`revision`/],
    [{ model: 'test/x', cacheDir: 42 }, /`cacheDir`/],
    [{ model: '' }, /`model` must be a model folder or a Hugging Face hub id/],
  ]) {
    assert.throws(() => new Embedder(options), { code: 'ERR_INVALID_OPTION', message })
  }
  hubEnv(t, { HF_ENDPOINT: 'http://127.0.0.1:9' })
  await assert.rejects(Embedder.create({ model: 'test/x', revision: '../../escape', cacheDir: tmpDir(t) }), {
    code: 'ERR_INVALID_OPTION',
    message: /revision/,
  })
  await assert.rejects(Embedder.create({ model: 'test/x', modelFile: '../model.onnx', cacheDir: tmpDir(t) }), {
    code: 'ERR_INVALID_OPTION',
    message: /modelFile/,
  })

  // a repository whose modules.json points outside the model
  const evil = tmpDir(t)
  for (const f of ['config.json', 'tokenizer.json', 'onnx/model.onnx']) {
    fs.mkdirSync(path.dirname(path.join(evil, f)), { recursive: true })
    fs.copyFileSync(path.join(modelPath('tiny-bert-cls'), f), path.join(evil, f))
  }
  fs.writeFileSync(
    path.join(evil, 'modules.json'),
    JSON.stringify([
      { path: '', type: 'sentence_transformers.models.Transformer' },
      { path: '../../../../outside', type: 'sentence_transformers.models.Pooling' },
    ]),
  )
  const hub = await hubFor(t, { 'evil/model': evil })
  process.env.HF_ENDPOINT = hub.url
  const root = tmpDir(t)
  const cacheDir = path.join(root, 'cache')
  await assert.rejects(Embedder.create({ model: 'evil/model', cacheDir }), { code: 'ERR_MODEL_INVALID', message: /modules\.json/ })
  assert.deepEqual(fs.readdirSync(root), ['cache'])
  assert.ok(!hub.requests.some((r) => r.path.includes('outside')))
})

test('onProgress reports each file a hub download writes, in bytes, and nothing once cached', async (t) => {
  const hub = await hubFor(t)
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })
  const reports = []
  const embedder = await Embedder.create({ model: 'test/tiny-bert-cls', cacheDir, onProgress: (p) => reports.push(p) })
  await new Promise((r) => setImmediate(r)) // reports are queued to the JavaScript thread
  const onnx = reports.filter((r) => r.file === 'onnx/model.onnx')
  const size = fs.statSync(path.join(modelPath('tiny-bert-cls'), 'onnx', 'model.onnx')).size
  assert.ok(reports.every((r) => r.phase === 'download' && typeof r.file === 'string' && r.done >= 0))
  assert.deepEqual(onnx.at(-1), { phase: 'download', file: 'onnx/model.onnx', done: size, total: size })
  assert.ok(reports.some((r) => r.file === 'tokenizer.json'))
  embedder.dispose()

  const cached = []
  await Embedder.create({ model: 'test/tiny-bert-cls', cacheDir, onProgress: (p) => cached.push(p) })
  await new Promise((r) => setImmediate(r))
  assert.deepEqual(cached, [])
  assert.throws(() => new Embedder({ model: 'test/tiny-bert-cls', onProgress: 'loud' }), { code: 'ERR_INVALID_OPTION' })
})

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Temporary files left in a repository's cache folder. */
function leftovers(repo) {
  return fs.existsSync(repo) ? filesUnder(repo).filter((f) => f.includes('.incomplete') || f.endsWith('.tmp')) : []
}

test('a body cut short without Content-Length is ERR_NETWORK and never becomes a blob; the next load works', async (t) => {
  const hub = await hubFor(t)
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })
  hub.cutOnce('onnx/model.onnx', 200_000, { length: false })
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir }), { code: 'ERR_NETWORK', message: /onnx\/model\.onnx.*sha256/ })
  const repo = path.join(cacheDir, 'models--test--tiny-bert-cls')
  const etag = await etagOf(path.join(modelPath('tiny-bert-cls'), 'onnx', 'model.onnx'))
  assert.ok(!fs.existsSync(path.join(repo, 'blobs', etag)))
  assert.deepEqual(leftovers(repo), [])

  const again = await vectorsOf({ model: 'test/tiny-bert-cls', cacheDir })
  assert.deepEqual(again.vectors, (await vectorsOf({ model: modelPath('tiny-bert-cls') })).vectors)
})

test('dispose() during a slow download returns at once, create() rejects with ERR_DISPOSED, the download stops', { timeout: 30_000 }, async (t) => {
  const hub = await hubFor(t)
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })
  hub.trickle('onnx/model.onnx', 1000, 20) // a byte a second, 20 s in all
  let started
  const downloading = new Promise((resolve) => (started = resolve))
  const onProgress = (p) => p.file === 'onnx/model.onnx' && p.done > 0 && started()
  const embedder = new Embedder({ model: 'test/tiny-bert-cls', cacheDir, onProgress })
  const created = embedder.initialize()
  created.catch(() => {})
  await downloading

  const start = performance.now()
  embedder.dispose()
  const disposeMs = performance.now() - start
  await assert.rejects(created, { code: 'ERR_DISPOSED' })
  const rejectMs = performance.now() - start
  assert.ok(disposeMs < 100, `dispose() took ${disposeMs.toFixed(0)} ms`)
  assert.ok(rejectMs < 500, `create() rejected after ${rejectMs.toFixed(0)} ms`)

  // the model thread drops the connection after its next read (a byte a second here)
  for (let i = 0; i < 40 && !hub.trickles[0].closed; i++) await sleep(100)
  assert.ok(hub.trickles[0].closed, `still downloading after ${hub.trickles[0].sent} bytes`)
  assert.ok(hub.trickles[0].sent < 10, `${hub.trickles[0].sent} bytes sent`)
  const repo = path.join(cacheDir, 'models--test--tiny-bert-cls')
  for (let i = 0; i < 20 && leftovers(repo).length > 0; i++) await sleep(100)
  assert.deepEqual(leftovers(repo), [])
  await assert.rejects(embedder.embed('x'), { code: 'ERR_DISPOSED' })
})

test('a download that trickles fails with ERR_NETWORK within about HF_HUB_DOWNLOAD_TIMEOUT', { timeout: 30_000 }, async (t) => {
  const hub = await hubFor(t)
  hubEnv(t, { HF_ENDPOINT: hub.url, HF_HUB_DOWNLOAD_TIMEOUT: '1' })
  hub.trickle('onnx/model.onnx', 200, 100) // never a second without a byte, 20 s in all
  const start = performance.now()
  await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir: tmpDir(t) }), {
    code: 'ERR_NETWORK',
    message: /onnx\/model\.onnx.*stalled.*HF_HUB_DOWNLOAD_TIMEOUT/,
  })
  const seconds = (performance.now() - start) / 1000
  assert.ok(seconds < 4, `failed after ${seconds.toFixed(1)} s`)
})

test('bad hub environment variables are ERR_INVALID_OPTION naming them, never a crash', async (t) => {
  hubEnv(t, { HF_ENDPOINT: 'http://127.0.0.1:9' })
  for (const [name, value] of [
    ['HF_HUB_DOWNLOAD_TIMEOUT', 'inf'],
    ['HF_HUB_DOWNLOAD_TIMEOUT', '1e20'],
    ['HF_HUB_DOWNLOAD_TIMEOUT', 'soon'],
    ['HF_HUB_OFFLINE', 'perhaps'],
    ['HF_ENDPOINT', 'hub.example'],
  ]) {
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9'
    process.env[name] = value
    await assert.rejects(Embedder.create({ model: 'test/tiny-bert-cls', cacheDir: tmpDir(t) }), (err) => {
      assert.equal(err.code, 'ERR_INVALID_OPTION', `${name}=${value}: ${err.message}`)
      assert.ok(err.message.includes(name), err.message)
      return true
    })
    delete process.env[name]
  }
})

test('blobs follow the umask (0644 under umask 022), so another user can load a shared cache', { skip: process.platform === 'win32' }, async (t) => {
  const hub = await hubFor(t)
  const cacheDir = tmpDir(t)
  hubEnv(t, { HF_ENDPOINT: hub.url })
  const umask = process.umask(0o022)
  t.after(() => process.umask(umask))
  await vectorsOf({ model: 'test/tiny-bert-cls', cacheDir })
  const blobs = path.join(cacheDir, 'models--test--tiny-bert-cls', 'blobs')
  const modes = fs.readdirSync(blobs).map((f) => [f, (fs.statSync(path.join(blobs, f)).mode & 0o777).toString(8)])
  assert.ok(modes.length > 0)
  assert.deepEqual(modes.filter(([, mode]) => mode !== '644'), [])
})

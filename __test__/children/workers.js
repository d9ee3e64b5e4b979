'use strict'
// Child process for the worker_threads tests, so that a crash of the addon shows as this process's
// exit signal and stderr rather than taking the test runner down. Usage:
//   node workers.js <scenario>
// The main thread prints one JSON line with what it saw; each scenario throws on a wrong result.
// In a worker (workerData.role set), the same file embeds and reports back to the main thread.

const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const path = require('node:path')

const { SHARED, modelPath, maxAbsDiff } = require('../helpers.js')

const MODEL = modelPath('all-MiniLM-L6-v2')
const passages = fs
  .readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8')
  .split('\n')
  .slice(0, 64)
  .map((line) => JSON.parse(line).text)
const TEXTS = passages.slice(0, 8)

// ---------------------------------------------------------------------------------------------
// Worker side

async function workerMain() {
  const { Embedder, CachedEmbedder, BatchOptimizedEmbedder } = require('../..')
  const { role } = workerData
  if (role === 'embed') {
    const embedder = await Embedder.create({ model: MODEL, threads: 1 })
    const vectors = await embedder.embedBatch(TEXTS, { output: 'float32' })
    const one = await embedder.embed(TEXTS[0], { output: 'float32' })
    embedder.dispose()
    parentPort.postMessage({ vectors, one })
    return
  }
  if (role === 'exit' || role === 'terminate') {
    const embedder = await Embedder.create({ model: MODEL, threads: 1 })
    const running = embedder.embedBatch(passages, { output: 'float32' })
    parentPort.postMessage({ started: true })
    if (role === 'exit') {
      // leave while the batch of 64 passages (over a second of inference on one thread) is running
      setTimeout(() => process.exit(3), 50)
    }
    await running
    parentPort.postMessage({ finished: true })
    return
  }
  if (role === 'js-base') {
    // a JavaScript base answers through a thread-safe function into this worker's event loop
    const slow = {
      async embed(text) {
        return (await this.embedBatch([text]))[0]
      },
      async embedBatch(texts) {
        await new Promise((resolve) => setTimeout(resolve, 200))
        return texts.map((t) => [t.length, 1, 2])
      },
    }
    const stack = new CachedEmbedder(new BatchOptimizedEmbedder(slow, { maxWaitMs: 5 }))
    const running = Promise.all(TEXTS.map((t) => stack.embed(t)))
    parentPort.postMessage({ started: true })
    await running
    parentPort.postMessage({ finished: true })
  }
}

// ---------------------------------------------------------------------------------------------
// Main side

function startWorker(role) {
  const worker = new Worker(__filename, { workerData: { role } })
  const messages = []
  const exited = new Promise((resolve) => worker.on('exit', resolve))
  const errors = []
  worker.on('error', (err) => errors.push(err))
  worker.on('message', (m) => messages.push(m))
  const message = (predicate) =>
    new Promise((resolve, reject) => {
      const found = messages.find(predicate)
      if (found) return resolve(found)
      const onMessage = (m) => {
        if (predicate(m)) {
          worker.off('message', onMessage)
          resolve(m)
        }
      }
      worker.on('message', onMessage)
      exited.then((code) => reject(new Error(`worker (${role}) exited with code ${code} before the expected message; errors: ${errors.map(String).join('; ')}`)))
    })
  return { worker, exited, errors, messages, message }
}

function assertClose(a, b, what) {
  if (a.length !== b.length) throw new Error(`${what}: ${a.length} values, expected ${b.length}`)
  const diff = maxAbsDiff(a, b)
  if (!(diff < 1e-6)) throw new Error(`${what}: max |difference| ${diff}`)
  return diff
}

async function reference() {
  const { Embedder } = require('../..')
  const embedder = await Embedder.create({ model: MODEL, threads: 1 })
  const vectors = await embedder.embedBatch(TEXTS, { output: 'float32' })
  return { embedder, vectors }
}

const scenarios = {
  /** 4 workers load the addon and embed at once; their vectors equal the main thread's. */
  async parallel() {
    const { embedder, vectors } = await reference()
    const workers = [0, 1, 2, 3].map(() => startWorker('embed'))
    // the main thread keeps embedding while the workers do
    const [results, again] = await Promise.all([Promise.all(workers.map((w) => w.message((m) => m.vectors))), embedder.embedBatch(TEXTS, { output: 'float32' })])
    let worst = 0
    results.forEach((r, w) => {
      if (r.vectors.length !== TEXTS.length) throw new Error(`worker ${w}: ${r.vectors.length} vectors`)
      r.vectors.forEach((v, i) => (worst = Math.max(worst, assertClose(v, vectors[i], `worker ${w} text ${i}`))))
      worst = Math.max(worst, assertClose(r.one, vectors[0], `worker ${w} single text`))
    })
    again.forEach((v, i) => assertClose(v, vectors[i], `main thread, text ${i}`))
    const codes = await Promise.all(workers.map((w) => w.exited))
    if (codes.some((c) => c !== 0)) throw new Error(`worker exit codes ${codes}`)
    embedder.dispose()
    return { workers: results.length, texts: TEXTS.length, maxAbsDiff: worst }
  },

  /** A worker calls process.exit() while its batch runs; then the main thread and a new worker embed. */
  async exit() {
    return leaveMidBatch('exit', (w) => w.exited)
  },

  /** worker.terminate() while the worker's batch runs. */
  async terminate() {
    return leaveMidBatch('terminate', async (w) => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      await w.worker.terminate()
      return w.exited
    })
  },

  /** worker.terminate() while a JavaScript base under native wrappers has calls in flight. */
  async 'js-base'() {
    return leaveMidBatch('js-base', async (w) => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      await w.worker.terminate()
      return w.exited
    })
  },
}

async function leaveMidBatch(role, stop) {
  const { embedder, vectors } = await reference()
  const w = startWorker(role)
  await w.message((m) => m.started)
  const code = await stop(w)
  const finished = w.messages.some((m) => m.finished)
  // the main thread still embeds, and correctly
  const after = await embedder.embedBatch(TEXTS, { output: 'float32' })
  after.forEach((v, i) => assertClose(v, vectors[i], `main thread after the worker left, text ${i}`))
  // and a new worker can load the addon and embed
  const next = startWorker('embed')
  const r = await next.message((m) => m.vectors)
  r.vectors.forEach((v, i) => assertClose(v, vectors[i], `new worker, text ${i}`))
  await next.exited
  embedder.dispose()
  // give whatever the departed worker left running time to finish or fail
  await new Promise((resolve) => setTimeout(resolve, role === 'js-base' ? 500 : 1500))
  return { exitCode: code, finishedBeforeLeaving: finished, errors: w.errors.map(String) }
}

if (isMainThread) {
  const name = process.argv[2]
  scenarios[name]().then(
    (result) => process.stdout.write(JSON.stringify({ scenario: name, ok: true, ...result }) + '\n'),
    (err) => {
      process.stderr.write(`${err.stack}\n`)
      process.exit(1)
    },
  )
} else {
  workerMain().catch((err) => {
    parentPort.postMessage({ error: `${err.code ?? ''} ${err.message}` })
    throw err
  })
}

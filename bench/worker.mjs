// One system of the benchmark, in a process of its own (forked by bench/run.mjs):
//   node bench/worker.mjs <system> '<json config>'
// It loads the model, embeds one query (cold start), embeds the corpus in calls of 32 texts, times
// the queries one at a time, ranks the corpus for each query, and sends one JSON report to the
// parent over IPC (or prints it when run by hand).

import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { REPO_ROOT, loadCorpus, loadQrels, loadQueries } from './data.mjs'
import { meanNdcgAtK, percentile, rankByCosine } from './metrics.mjs'

const require = createRequire(path.join(REPO_ROOT, 'package.json'))

/** Splits a [rows × dim] buffer into row views. */
function rows(data, count) {
  const dim = data.length / count
  const out = new Array(count)
  for (let i = 0; i < count; i++) out[i] = data.subarray(i * dim, (i + 1) * dim)
  return out
}

function chunks(items, size) {
  const out = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Peak resident set size of this process so far, in MB (VmHWM, Linux). */
function peakRssMb() {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))
    if (match) return Number(match[1]) / 1024
  } catch {}
  return process.resourceUsage().maxRSS / 1024
}

/**
 * A system under test. `batch(texts)` embeds one call's worth of texts (Float32Array per text);
 * `query(text)` embeds one text. Both time themselves and return `{ ms, vectors }` / `{ ms, vector }`:
 * wall-clock time of the call, except for `ort`, which counts inference only.
 */
async function openNative(cfg, dtype, modelFile) {
  const { Embedder } = require(REPO_ROOT)
  const rssImportedMb = process.memoryUsage().rss / 2 ** 20
  const embedder = await Embedder.create({ model: cfg.model, threads: cfg.threads, dtype, modelFile })
  const info = embedder.modelInfo
  const graph = {
    'derived-q8': () => `int8 graph derived from ${path.relative(cfg.model, info.graph.source)}`,
    built: () => `graph built from ${path.relative(path.dirname(cfg.model), info.graph.source)}`,
    static: () => `static model ${path.relative(path.dirname(cfg.model), info.onnxPath)}, no ONNX Runtime`,
  }[info.graph.kind]?.() ?? path.relative(cfg.model, info.onnxPath)
  return {
    detail: `@rag-native/embedder (${graph}, ${info.threads} threads)`,
    rssImportedMb,
    async batch(texts) {
      const t0 = performance.now()
      const vectors = await embedder.embedBatch(texts, { output: 'float32' })
      return { ms: performance.now() - t0, vectors }
    },
    async batchArray(texts) {
      const t0 = performance.now()
      const vectors = await embedder.embedBatch(texts)
      return { ms: performance.now() - t0, vectors }
    },
    async query(text) {
      const t0 = performance.now()
      const vector = await embedder.embed(text, { output: 'float32' })
      return { ms: performance.now() - t0, vector }
    },
  }
}

async function openTransformers(cfg) {
  const { pipeline, env } = await import('@huggingface/transformers')
  env.allowRemoteModels = false
  env.allowLocalModels = true
  env.localModelPath = path.dirname(cfg.model)
  const extractor = await pipeline('feature-extraction', path.basename(cfg.model), {
    dtype: 'fp32',
    session_options: { intraOpNumThreads: cfg.threads },
  })
  const options = { pooling: 'mean', normalize: true }
  return {
    detail: `@huggingface/transformers ${env.version} (onnx/model.onnx, intraOpNumThreads ${cfg.threads}, truncation at tokenizer model_max_length ${extractor.tokenizer.model_max_length})`,
    async batch(texts) {
      const t0 = performance.now()
      const output = await extractor(texts, options)
      const vectors = rows(output.data, texts.length)
      return { ms: performance.now() - t0, vectors }
    },
    async query(text) {
      const t0 = performance.now()
      const output = await extractor(text, options)
      return { ms: performance.now() - t0, vector: output.data }
    },
  }
}

/** Mean pooling over the attention mask, then L2 normalisation, of one [batch, seq, dim] output. */
function meanPoolNormalize(hidden, dims, mask) {
  const [batch, seq, dim] = dims
  const out = new Array(batch)
  for (let b = 0; b < batch; b++) {
    const v = new Float32Array(dim)
    let count = 0
    for (let s = 0; s < seq; s++) {
      if (mask[b * seq + s] === 0n) continue
      count++
      const base = (b * seq + s) * dim
      for (let d = 0; d < dim; d++) v[d] += hidden[base + d]
    }
    let norm = 0
    for (let d = 0; d < dim; d++) {
      v[d] /= Math.max(count, 1)
      norm += v[d] * v[d]
    }
    norm = Math.sqrt(norm) || 1
    for (let d = 0; d < dim; d++) v[d] /= norm
    out[b] = v
  }
  return out
}

/**
 * onnxruntime-node on the raw graph, fed pre-tokenized batches: only `session.run` is timed, which
 * is what ONNX Runtime itself costs for this graph. Tokenization (transformers.js AutoTokenizer,
 * truncation at the model's max_seq_length) and pooling happen outside the timed part.
 */
async function openOrt(cfg) {
  const ort = require('onnxruntime-node')
  const { AutoTokenizer, env } = await import('@huggingface/transformers')
  env.allowRemoteModels = false
  env.allowLocalModels = true
  env.localModelPath = path.dirname(cfg.model)
  const onnxPath = ['onnx/model.onnx', 'model.onnx'].map((f) => path.join(cfg.model, f)).find((f) => fs.existsSync(f))
  const [session, tokenizer] = await Promise.all([
    ort.InferenceSession.create(onnxPath, { intraOpNumThreads: cfg.threads }),
    AutoTokenizer.from_pretrained(path.basename(cfg.model)),
  ])
  const outputName = ['last_hidden_state', 'token_embeddings'].find((n) => session.outputNames.includes(n)) ?? session.outputNames[0]
  const encode = (texts) => {
    const enc = tokenizer(texts, { padding: true, truncation: true, max_length: cfg.maxLength })
    const feeds = {}
    for (const name of session.inputNames) feeds[name] = new ort.Tensor('int64', enc[name].data, enc[name].dims)
    return { feeds, mask: enc.attention_mask.data }
  }
  const run = async ({ feeds, mask }) => {
    const t0 = performance.now()
    const result = await session.run(feeds)
    const ms = performance.now() - t0
    const out = result[outputName]
    return { ms, vectors: meanPoolNormalize(out.data, out.dims, mask) }
  }
  return {
    detail: `onnxruntime-node ${require('onnxruntime-node/package.json').version} InferenceSession (${path.relative(cfg.model, onnxPath)}, intraOpNumThreads ${cfg.threads}), inference time only, length-sorted batches`,
    batch: (texts) => run(encode(texts)),
    query: async (text) => {
      const { ms, vectors } = await run(encode([text]))
      return { ms, vector: vectors[0] }
    },
    /** The whole corpus sorted by token length, in batches of `size`; vectors in corpus order. */
    async corpus(texts, size) {
      const lengths = texts.map((t) => tokenizer(t, { truncation: true, max_length: cfg.maxLength }).input_ids.dims[1])
      const order = texts.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b)
      const batches = chunks(order, size).map((idx) => ({ idx, input: encode(idx.map((i) => texts[i])) }))
      const vectors = new Array(texts.length)
      let ms = 0
      for (const { idx, input } of batches) {
        const r = await run(input)
        ms += r.ms
        idx.forEach((i, k) => (vectors[i] = r.vectors[k]))
      }
      return { ms, vectors }
    },
  }
}

const SYSTEMS = {
  native: (cfg) => openNative(cfg, 'fp32'),
  'native-q8': (cfg) => openNative(cfg, 'q8'),
  'native-q8-shipped': (cfg) => openNative(cfg, 'q8', 'onnx/model_quantized.onnx'),
  // MiniLM's architecture from a checkpoint with no ONNX file: the graph built from model.safetensors
  'native-built': (cfg) => openNative({ ...cfg, model: cfg.checkpointModel }, 'fp32'),
  // a static model (token vectors averaged, no transformer): the sentence-transformers form (F32
  // weights) and model2vec's own (F16 weights, unknown tokens dropped)
  static: (cfg) => openNative({ ...cfg, model: cfg.staticModel }, 'fp32'),
  'static-m2v': (cfg) => openNative({ ...cfg, model: path.join(cfg.staticModel, 'model2vec') }, 'fp32'),
  transformers: openTransformers,
  ort: openOrt,
}

/** Corpus order, calls of `size` texts; total time of the calls. */
async function embedCorpus(embed, texts, size) {
  const vectors = []
  let ms = 0
  for (const batch of chunks(texts, size)) {
    const r = await embed(batch)
    ms += r.ms
    for (const v of r.vectors) vectors.push(v)
  }
  return { ms, vectors }
}

async function main() {
  const [system, json] = process.argv.slice(2)
  if (!SYSTEMS[system]) throw new Error(`unknown system ${JSON.stringify(system)}; expected one of ${Object.keys(SYSTEMS).join(', ')}`)
  const cfg = JSON.parse(json)
  const log = (msg) => process.stderr.write(`[${system}] ${msg}\n`)

  // Cold start: from this process's start (performance.timeOrigin) to the first embedding, model
  // loading and module imports included.
  const queries = loadQueries(cfg.dataset)
  const rssStartMb = process.memoryUsage().rss / 2 ** 20
  const sys = await SYSTEMS[system](cfg)
  const first = await sys.query(queries[0].text)
  const coldStartMs = performance.now()
  // what loading the engine and its model added to this process (Node and the queries before it)
  const rssLoadedMb = process.memoryUsage().rss / 2 ** 20 - rssStartMb
  // the model's part of it (the package's code and Node modules it loads come before the model)
  const rssModelMb = sys.rssImportedMb === undefined ? null : rssStartMb + rssLoadedMb - sys.rssImportedMb
  log(`cold start ${coldStartMs.toFixed(0)} ms (${first.vector.length} dimensions)`)

  const corpus = loadCorpus(cfg.dataset, cfg.docs)
  const texts = corpus.map((d) => d.text)
  const qrels = loadQrels(cfg.dataset)

  for (let i = 0; i < cfg.warmupBatches; i++) await sys.batch(texts.slice(0, cfg.batchSize))

  log(`embedding ${texts.length} passages in calls of ${cfg.batchSize}`)
  const docs = sys.corpus ? await sys.corpus(texts, cfg.batchSize) : await embedCorpus(sys.batch, texts, cfg.batchSize)
  const seconds = docs.ms / 1000
  log(`${(texts.length / seconds).toFixed(1)} docs/s`)

  for (let i = 0; i < cfg.warmupQueries; i++) await sys.query(queries[i % queries.length].text)
  const latencies = []
  const queryVectors = []
  for (const q of queries) {
    const r = await sys.query(q.text)
    latencies.push(r.ms)
    queryVectors.push(r.vector)
  }

  const ranked = rankByCosine(queryVectors, docs.vectors, corpus.map((d) => d.id), 10)
  const rankings = new Map(queries.map((q, i) => [q.id, ranked[i]]))
  const ndcg = meanNdcgAtK(rankings, qrels, 10)
  const ndcgExponential = meanNdcgAtK(rankings, qrels, 10, { gain: 'exponential' })
  // the same work for every system up to here; the number[] pass only the engine makes comes after
  const peakRss = peakRssMb()

  // large calls, where the engine is fast enough for the per-call cost to show (static models)
  let secondsLarge = null
  if (cfg.largeCallSystems?.includes(system)) {
    await sys.batch(texts.slice(0, cfg.largeCallSize))
    const large = await embedCorpus(sys.batch, texts, cfg.largeCallSize)
    secondsLarge = large.ms / 1000
    log(`${(texts.length / secondsLarge).toFixed(1)} docs/s in calls of ${cfg.largeCallSize}`)
  }

  let secondsArray = null
  if (sys.batchArray) {
    const arrays = await embedCorpus(sys.batchArray, texts, cfg.batchSize)
    secondsArray = arrays.ms / 1000
    log(`${(texts.length / secondsArray).toFixed(1)} docs/s with number[] output`)
  }

  return {
    system,
    detail: sys.detail,
    docs: texts.length,
    seconds,
    docsPerSec: texts.length / seconds,
    secondsLarge,
    docsPerSecLarge: secondsLarge === null ? null : texts.length / secondsLarge,
    rssLoadedMb,
    rssModelMb,
    secondsArray,
    docsPerSecArray: secondsArray === null ? null : texts.length / secondsArray,
    latencyMs: {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      samples: latencies,
    },
    ndcg10: ndcg.mean,
    ndcg10Exponential: ndcgExponential.mean,
    ndcgQueries: ndcg.evaluated,
    ndcgSkipped: ndcg.skipped,
    ndcgPerQuery: ndcg.perQuery,
    peakRssMb: peakRss,
    peakRssMbAfterArrayPass: peakRssMb(),
    cpuSeconds: (({ user, system }) => (user + system) / 1e6)(process.cpuUsage()),
    coldStartMs,
    dimension: first.vector.length,
  }
}

main().then(
  (result) => {
    if (process.send) process.send({ ok: true, result }, () => process.exit(0))
    else {
      console.log(JSON.stringify(result, null, 2))
      process.exit(0)
    }
  },
  (err) => {
    const error = err?.stack ?? String(err)
    if (process.send) process.send({ ok: false, error }, () => process.exit(1))
    else {
      console.error(error)
      process.exit(1)
    }
  },
)

#!/usr/bin/env node
// npm run bench [-- --docs N] [--systems native,native-built,native-q8,native-q8-shipped,static,static-m2v,transformers,ort] [--threads N] [--json FILE]
//
// Embeds the msmarco-5k passages with each system, each in its own child process (bench/worker.mjs),
// and prints throughput, single-query latency, nDCG@10, peak RSS and cold start, with ratios to
// transformers.js measured in the same run.

import { fork } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { CHECKPOINT_MODEL, DATASET, MODEL, REPO_ROOT, STATIC_MODEL, loadCorpus, loadQrels, loadQueries, maxSeqLength } from './data.mjs'

const ALL_SYSTEMS = ['native', 'native-built', 'native-q8', 'native-q8-shipped', 'static', 'static-m2v', 'transformers', 'ort']
const DEFAULT_SYSTEMS = ['native', 'native-built', 'native-q8', 'native-q8-shipped', 'static', 'static-m2v', 'transformers']
/** Static models also embed the corpus in calls of this many texts (after the timed calls of 32). */
const STATIC_SYSTEMS = ['static', 'static-m2v']
const LARGE_CALL_SIZE = 1000
const BATCH_SIZE = 32
const BASELINE = 'transformers'
const WARMUP_BATCHES = 2 // calls of 32 passages before the timed corpus pass
const WARMUP_QUERIES = 5 // single-query calls before the timed ones
const OTHER_CPU_WARNING = 5 // % of the machine used by other processes during a system's run

const USAGE = `usage: npm run bench -- [--docs N] [--systems ${ALL_SYSTEMS.join(',')}] [--threads N] [--json FILE]

  --docs N        embed the first N passages (default: all)
  --systems LIST  comma-separated, run in this order (default: ${DEFAULT_SYSTEMS.join(',')});
                  ort = onnxruntime-node on the bare graph, inference time only (a ceiling)
  --threads N     ONNX Runtime intra-op threads for every system (default: os.availableParallelism())
  --json FILE     also write every figure to FILE

env: RAG_NATIVE_SHARED (default <repo>/../shared), BENCH_MODEL (default <shared>/models/all-MiniLM-L6-v2),
     BENCH_CHECKPOINT_MODEL (native-built; default <shared>/models/medical-embedder-v1),
     BENCH_STATIC_MODEL (static, and its model2vec/ folder for static-m2v; default <shared>/models/static-minilm-256)`

function fail(message) {
  console.error(`bench: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function positiveInt(name, value) {
  const n = Number(value)
  if (!Number.isInteger(n) || n <= 0) fail(`--${name} must be a positive integer, got ${JSON.stringify(value)}`)
  return n
}

function options() {
  let parsed
  try {
    parsed = parseArgs({
      options: {
        docs: { type: 'string' },
        systems: { type: 'string' },
        threads: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    fail(err.message)
  }
  if (parsed.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const systems = (parsed.systems ?? DEFAULT_SYSTEMS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  for (const s of systems) if (!ALL_SYSTEMS.includes(s)) fail(`unknown system ${JSON.stringify(s)}`)
  if (systems.length === 0) fail('--systems is empty')
  return {
    docs: parsed.docs === undefined ? Infinity : positiveInt('docs', parsed.docs),
    systems: [...new Set(systems)],
    threads: parsed.threads === undefined ? os.availableParallelism() : positiveInt('threads', parsed.threads),
    json: parsed.json,
  }
}

function cpuModel() {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))
    if (match) return match[1].trim()
  } catch {}
  return os.cpus()[0]?.model ?? 'unknown CPU'
}

/** Token counts of the passages with the model's own tokenizer (transformers.js AutoTokenizer). */
async function countTokens(texts, maxLength) {
  const { AutoTokenizer, env } = await import('@huggingface/transformers')
  env.allowRemoteModels = false
  env.allowLocalModels = true
  env.localModelPath = path.dirname(MODEL)
  const tokenizer = await AutoTokenizer.from_pretrained(path.basename(MODEL))
  let truncated = 0
  let untruncated = 0
  let tokenizerLimit = 0
  let longer = 0
  const limit = tokenizer.model_max_length
  for (const text of texts) {
    const n = tokenizer(text, { truncation: true, max_length: maxLength }).input_ids.dims[1]
    const full = tokenizer(text).input_ids.dims[1]
    truncated += n
    untruncated += full
    tokenizerLimit += Math.min(full, limit)
    if (full > maxLength) longer++
  }
  return { maxLength, truncated, untruncated, longer, tokenizerMaxLength: limit, atTokenizerMaxLength: tokenizerLimit }
}

/** CPU time the whole machine has spent busy and in all, in seconds (Linux /proc/stat), or null. */
function machineCpu() {
  try {
    const ticks = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
    const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = ticks
    const busy = user + nice + system + irq + softirq + steal
    return { busy: busy / 100, total: (busy + idle + iowait) / 100 } // USER_HZ is 100 on Linux
  } catch {
    return null
  }
}

/**
 * Runs one system in its own process. Also measures how much CPU other processes took meanwhile
 * (machine busy time less this worker's and this process's own), as a share of the machine.
 */
async function runSystem(system, cfg) {
  const before = machineCpu()
  const ownBefore = process.cpuUsage()
  const report = await runWorker(system, cfg)
  const after = machineCpu()
  if (!report.ok || !before || !after) return report
  const own = process.cpuUsage(ownBefore)
  const others = after.busy - before.busy - report.result.cpuSeconds - (own.user + own.system) / 1e6
  report.result.otherCpuPercent = (Math.max(0, others) / (after.total - before.total)) * 100
  return report
}

function runWorker(system, cfg) {
  return new Promise((resolve) => {
    const child = fork(path.join(REPO_ROOT, 'bench', 'worker.mjs'), [system, JSON.stringify(cfg)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    let report = null
    child.on('message', (msg) => (report = msg))
    child.on('error', (err) => (report ??= { ok: false, error: err.stack }))
    child.on('exit', (code, signal) => {
      if (report) resolve(report)
      else resolve({ ok: false, error: `worker exited with ${signal ?? `code ${code}`} without a report` })
    })
  })
}

const fmt = (value, digits = 1) =>
  value === null || value === undefined || Number.isNaN(value)
    ? '–'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
const ratio = (value) => (value === null || value === undefined || Number.isNaN(value) ? '–' : `${value.toFixed(2)}×`)

function table(results, baseline) {
  const header = [
    'system',
    'docs/s',
    'tokens/s',
    'docs/s (number[])',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'nDCG@10',
    'nDCG@10 (2^rel−1)',
    'peak RSS MB',
    'cold start ms',
    'docs/s vs tjs',
    'p50 vs tjs',
    'p95 vs tjs',
    'RSS vs tjs',
    'cold start vs tjs',
  ]
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`]
  for (const r of results) {
    const cells = r.error
      ? [r.system, `failed: ${r.error.split('\n')[0]}`, ...Array(header.length - 2).fill('')]
      : [
          r.system,
          fmt(r.docsPerSec),
          fmt(r.tokensPerSec, 0),
          fmt(r.docsPerSecArray),
          fmt(r.latencyMs.p50, 2),
          fmt(r.latencyMs.p95, 2),
          fmt(r.latencyMs.p99, 2),
          fmt(r.ndcg10, 4),
          fmt(r.ndcg10Exponential, 4),
          fmt(r.peakRssMb, 0),
          fmt(r.coldStartMs, 0),
          ...(baseline
            ? [r.ratios.docsPerSec, r.ratios.p50, r.ratios.p95, r.ratios.peakRss, r.ratios.coldStart].map(ratio)
            : Array(5).fill('–')),
        ]
    lines.push(`| ${cells.join(' | ')} |`)
  }
  return lines.join('\n')
}

async function main() {
  const opts = options()
  const maxLength = maxSeqLength(MODEL)
  const corpus = loadCorpus(DATASET, opts.docs)
  const queries = loadQueries(DATASET)
  const qrels = loadQrels(DATASET)
  const judged = queries.filter((q) => qrels.has(q.id)).length

  const startedAt = new Date()
  const machine = {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryGb: os.totalmem() / 2 ** 30,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: startedAt.toISOString(),
    loadAverage: os.loadavg(),
  }
  const machineLine =
    `Machine: ${machine.cpu}, ${machine.cores} cores available, ${machine.memoryGb.toFixed(0)} GB RAM, ` +
    `Node ${machine.node} (${machine.platform}), ${machine.date}; ` +
    `load average at start ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`
  const loadLine = () => `Load average at the end: ${machine.loadAverageAtEnd.map((l) => l.toFixed(2)).join(' ')}.`
  console.error(machineLine)

  console.error(`bench: counting tokens of ${corpus.length} passages`)
  const tokens = await countTokens(
    corpus.map((d) => d.text),
    maxLength,
  )

  const cfg = {
    model: MODEL,
    checkpointModel: CHECKPOINT_MODEL,
    staticModel: STATIC_MODEL,
    largeCallSystems: STATIC_SYSTEMS,
    largeCallSize: LARGE_CALL_SIZE,
    dataset: DATASET,
    docs: corpus.length,
    threads: opts.threads,
    batchSize: BATCH_SIZE,
    maxLength,
    warmupBatches: WARMUP_BATCHES,
    warmupQueries: WARMUP_QUERIES,
  }
  const results = []
  for (const system of opts.systems) {
    console.error(`bench: ${system}`)
    const report = await runSystem(system, cfg)
    if (report.ok) results.push({ ...report.result, tokensPerSec: tokens.truncated / report.result.seconds })
    else {
      console.error(`bench: ${system} failed:\n${report.error}`)
      results.push({ system, error: report.error })
    }
  }

  machine.loadAverageAtEnd = os.loadavg()
  const baseline = results.find((r) => r.system === BASELINE && !r.error)
  for (const r of results) {
    if (r.error || !baseline) continue
    r.ratios = {
      docsPerSec: r.docsPerSec / baseline.docsPerSec,
      p50: r.latencyMs.p50 / baseline.latencyMs.p50,
      p95: r.latencyMs.p95 / baseline.latencyMs.p95,
      p99: r.latencyMs.p99 / baseline.latencyMs.p99,
      peakRss: r.peakRssMb / baseline.peakRssMb,
      coldStart: r.coldStartMs / baseline.coldStartMs,
    }
  }

  const modelName = path.basename(MODEL)
  const out = [
    `## Embedding benchmark: ${modelName}, ${corpus.length.toLocaleString('en-US')} passages of ${path.basename(DATASET)}`,
    '',
    machineLine,
    '',
    `ONNX Runtime intra-op threads: ${opts.threads}; passages embedded in calls of ${BATCH_SIZE}, corpus order; ` +
      `${tokens.truncated.toLocaleString('en-US')} tokens (model tokenizer, truncated at ${maxLength} with special tokens) ` +
      `give tokens/s; latency over ${queries.length} queries one at a time after ${WARMUP_QUERIES} warm-up calls; ` +
      `nDCG@10 by cosine over the ${judged} queries with qrels.`,
    '',
    table(results, baseline),
    '',
  ]
  const minilm = results.find((r) => r.system === 'native' && !r.error)
  const statics = results.filter((r) => STATIC_SYSTEMS.includes(r.system) && !r.error)
  if (statics.length > 0) {
    out.push(
      `Static models (${path.basename(STATIC_MODEL)}: static = sentence-transformers form, F32 weights; static-m2v = model2vec's form, F16 weights; no ONNX Runtime):`,
      '',
    )
    for (const r of statics) {
      const vsMinilm = minilm ? `, ${(r.docsPerSec / minilm.docsPerSec).toFixed(0)}× native (MiniLM fp32) in calls of ${BATCH_SIZE}` : ''
      out.push(
        `- ${r.system}: ${fmt(r.docsPerSec, 0)} docs/s in calls of ${BATCH_SIZE}, ${fmt(r.docsPerSecLarge, 0)} docs/s in calls of ` +
          `${LARGE_CALL_SIZE.toLocaleString('en-US')}${vsMinilm}; loading the package and the model added ${fmt(r.rssLoadedMb, 1)} MB of RSS ` +
          `to the process, the model ${fmt(r.rssModelMb, 1)} MB of it` +
          (minilm ? ` (MiniLM fp32: ${fmt(minilm.rssLoadedMb, 1)} and ${fmt(minilm.rssModelMb, 1)} MB)` : ''),
      )
    }
    out.push('')
  }
  if (baseline) {
    out.push(
      'Ratios are system ÷ transformers.js in this run (docs/s: higher is faster; latency, RSS, cold start: lower is better).',
    )
  }
  out.push(
    'nDCG@10: linear gains (rel, as trec_eval / pytrec_eval / BEIR); the next column uses exponential gains (2^rel − 1).',
    '`docs/s (number[])`: the same corpus through `embedBatch` without `output: \'float32\'`. ' +
      'Cold start: from the child process start to the first embedding returned, imports and model loading included. ' +
      'Peak RSS: VmHWM of the child after the corpus and the queries; the `number[]` pass, which only the engine makes, runs after it.',
  )
  if (opts.systems.includes('ort')) {
    out.push(
      '`ort`: onnxruntime-node on the bare graph with pre-tokenized, length-sorted batches, timing `session.run` only ' +
        '(throughput and latency), i.e. what ONNX Runtime itself does with this graph.',
    )
  }
  if (opts.systems.includes('transformers') && tokens.tokenizerMaxLength > maxLength) {
    out.push(
      `transformers.js truncates at its tokenizer's model_max_length (${tokens.tokenizerMaxLength}), not at max_seq_length ` +
        `${maxLength}: ${tokens.longer} of these passages are longer than ${maxLength} tokens` +
        (tokens.longer > 0
          ? `, so it runs ${tokens.atTokenizerMaxLength.toLocaleString('en-US')} tokens instead of ${tokens.truncated.toLocaleString('en-US')} (and gives other vectors for them).`
          : ', so here it runs the same tokens as the others.'),
    )
  }
  const measured = results.filter((r) => r.otherCpuPercent !== undefined)
  if (measured.length > 0) {
    const busy = measured.some((r) => r.otherCpuPercent > OTHER_CPU_WARNING)
    out.push(
      `CPU taken by other processes while each system ran (share of the machine): ` +
        measured.map((r) => `${r.system} ${r.otherCpuPercent.toFixed(1)}%`).join(', ') +
        (busy ? ` — above ${OTHER_CPU_WARNING}% the figures are disturbed; rerun on an idle machine.` : '.'),
    )
  }
  out.push(loadLine())
  console.log(out.join('\n'))

  if (opts.json) {
    const file = path.resolve(opts.json)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const report = {
      machine,
      config: { ...cfg, systems: opts.systems, baseline: BASELINE },
      corpus: { passages: corpus.length, queries: queries.length, queriesWithQrels: judged, tokens },
      results,
    }
    fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
    console.error(`bench: wrote ${file}`)
  }
  if (results.some((r) => r.error)) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

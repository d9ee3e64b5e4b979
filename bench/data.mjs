// Paths and the BEIR data set shared by the benchmark's parent process and its workers.

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseQrels } from './metrics.mjs'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const SHARED = path.resolve(process.env.RAG_NATIVE_SHARED ?? path.join(REPO_ROOT, '..', 'shared'))
export const MODEL = path.resolve(process.env.BENCH_MODEL ?? path.join(SHARED, 'models', 'all-MiniLM-L6-v2'))
/** A checkpoint of MiniLM's architecture with no ONNX file (a fine-tune saved by sentence-transformers): the native-built system. */
export const CHECKPOINT_MODEL = path.resolve(process.env.BENCH_CHECKPOINT_MODEL ?? path.join(SHARED, 'models', 'medical-embedder-v1'))
/** A static embedding model (model2vec, distilled from MiniLM): the static systems. */
export const STATIC_MODEL = path.resolve(process.env.BENCH_STATIC_MODEL ?? path.join(SHARED, 'models', 'static-minilm-256'))
export const DATASET = path.join(SHARED, 'data', 'msmarco-5k')

function readJsonl(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line))
}

/** The text every system embeds for a passage: `title + ' ' + text`, or `text` when there is no title. */
export const passageText = (doc) => (doc.title ? `${doc.title} ${doc.text}` : doc.text)

/** Queries as `{ id, text }`, file order. */
export function loadQueries(dir = DATASET) {
  return readJsonl(path.join(dir, 'queries.jsonl')).map((q) => ({ id: String(q._id), text: q.text }))
}

/** The first `limit` passages (all when omitted) as `{ id, text }`, corpus order. */
export function loadCorpus(dir = DATASET, limit = Infinity) {
  const docs = readJsonl(path.join(dir, 'corpus.jsonl'))
  return docs.slice(0, limit).map((d) => ({ id: String(d._id), text: passageText(d) }))
}

export function loadQrels(dir = DATASET) {
  return parseQrels(fs.readFileSync(path.join(dir, 'qrels', 'test.tsv'), 'utf8'))
}

/** sentence-transformers' truncation length of the model (`max_seq_length`), 256 when absent. */
export function maxSeqLength(model = MODEL) {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(model, 'sentence_bert_config.json'), 'utf8'))
    if (Number.isInteger(config.max_seq_length)) return config.max_seq_length
  } catch {}
  return 256
}

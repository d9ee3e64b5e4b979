// Retrieval and latency metrics of the benchmark, free of any model code so that they can be tested
// on hand-made data (__test__/metrics.test.js).

/**
 * Graded relevance judgements of a BEIR `qrels/*.tsv` file: `query-id corpus-id score` per line,
 * tab- or space-separated. A header line and blank lines are skipped (a line is a header when its
 * score is not a number), so the file may come with or without its header.
 * @param {string} text
 * @returns {Map<string, Map<string, number>>} query id → (document id → relevance)
 */
export function parseQrels(text) {
  const qrels = new Map()
  for (const line of text.split(/\r?\n/)) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 3) continue
    const [queryId, docId, score] = fields
    const rel = Number(score)
    if (score === '' || !Number.isFinite(rel)) continue
    let judged = qrels.get(queryId)
    if (!judged) qrels.set(queryId, (judged = new Map()))
    judged.set(docId, rel)
  }
  return qrels
}

/**
 * Discounted cumulative gain of the first `k` gains, with linear gains as trec_eval / pytrec_eval
 * (and so BEIR) compute it: DCG@k = Σ_{i<k} rel_i / log2(i + 2), i counted from 0.
 * @param {number[]} gains relevance of the documents in rank order
 * @param {number} k
 */
export function dcgAtK(gains, k) {
  let dcg = 0
  const n = Math.min(k, gains.length)
  for (let i = 0; i < n; i++) {
    if (gains[i] > 0) dcg += gains[i] / Math.log2(i + 2)
  }
  return dcg
}

function relevanceOf(judgements, docId) {
  const rel = judgements instanceof Map ? judgements.get(docId) : judgements[docId]
  return rel > 0 ? rel : 0
}

/**
 * Gain of a relevance grade: `'linear'` (rel, trec_eval / pytrec_eval / BEIR) or `'exponential'`
 * (2^rel − 1, Burges et al.; the same for binary judgements, larger weight on top grades).
 */
const GAINS = {
  linear: (rel) => rel,
  exponential: (rel) => 2 ** rel - 1,
}

function gainOf(name) {
  const gain = GAINS[name]
  if (!gain) throw new TypeError(`gain must be 'linear' or 'exponential', got ${JSON.stringify(name)}`)
  return gain
}

/**
 * nDCG@k of one ranking. The ideal DCG comes from the judgements themselves (all judged documents
 * sorted by relevance), not from the retrieved list.
 * @param {string[]} ranked document ids, best first (only the first k count)
 * @param {Map<string, number> | Record<string, number>} judgements document id → relevance
 * @param {number} [k=10]
 * @param {{ gain?: 'linear' | 'exponential' }} [options] gains: linear by default
 * @returns {number | null} null when the query has no relevant document (nothing to normalise by)
 */
export function ndcgAtK(ranked, judgements, k = 10, { gain = 'linear' } = {}) {
  const toGain = gainOf(gain)
  const values = judgements instanceof Map ? [...judgements.values()] : Object.values(judgements)
  const ideal = values.filter((rel) => rel > 0).sort((a, b) => b - a).map(toGain)
  const idcg = dcgAtK(ideal, k)
  if (idcg === 0) return null
  const gains = ranked.slice(0, k).map((docId) => toGain(relevanceOf(judgements, docId)))
  return dcgAtK(gains, k) / idcg
}

/**
 * Mean nDCG@k over the queries that have judgements; queries without qrels (or without any
 * relevant document) are skipped, as pytrec_eval does.
 * @param {Map<string, string[]> | Record<string, string[]>} rankings query id → ranked document ids
 * @param {Map<string, Map<string, number>>} qrels from `parseQrels`
 * @param {number} [k=10]
 * @param {{ gain?: 'linear' | 'exponential' }} [options] gains: linear by default
 * @returns {{ mean: number, evaluated: number, skipped: number, perQuery: Record<string, number> }}
 */
export function meanNdcgAtK(rankings, qrels, k = 10, options = {}) {
  const entries = rankings instanceof Map ? [...rankings.entries()] : Object.entries(rankings)
  const perQuery = {}
  let sum = 0
  let evaluated = 0
  let skipped = 0
  for (const [queryId, ranked] of entries) {
    const judgements = qrels.get(queryId)
    const value = judgements ? ndcgAtK(ranked, judgements, k, options) : null
    if (value === null) {
      skipped++
      continue
    }
    perQuery[queryId] = value
    sum += value
    evaluated++
  }
  return { mean: evaluated === 0 ? NaN : sum / evaluated, evaluated, skipped, perQuery }
}

/**
 * The `k` documents closest to each query by cosine similarity (exact search).
 * @param {ArrayLike<number>[]} queryVectors
 * @param {ArrayLike<number>[]} docVectors
 * @param {string[]} docIds same order as `docVectors`
 * @param {number} [k=10]
 * @returns {string[][]} per query, the ids of its k nearest documents, best first (ties: input order)
 */
export function rankByCosine(queryVectors, docVectors, docIds, k = 10) {
  const norm = (v) => {
    let s = 0
    for (let i = 0; i < v.length; i++) s += v[i] * v[i]
    return Math.sqrt(s) || 1
  }
  const docNorms = docVectors.map(norm)
  return queryVectors.map((q) => {
    const qNorm = norm(q)
    const scores = new Float64Array(docVectors.length)
    for (let d = 0; d < docVectors.length; d++) {
      const v = docVectors[d]
      let dot = 0
      for (let i = 0; i < v.length; i++) dot += q[i] * v[i]
      scores[d] = dot / (qNorm * docNorms[d])
    }
    const order = Array.from(scores.keys())
    order.sort((a, b) => scores[b] - scores[a] || a - b)
    return order.slice(0, k).map((d) => docIds[d])
  })
}

/**
 * The p-th percentile (0–100) by linear interpolation between closest ranks (numpy's default).
 * @param {number[]} values
 * @param {number} p
 */
export function percentile(values, p) {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const pos = (p / 100) * (sorted.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

'use strict'
// The benchmark's retrieval metrics (bench/metrics.mjs) on a tiny hand-made example.

const test = require('node:test')
const assert = require('node:assert/strict')

const load = () => import('../bench/metrics.mjs')

// Judgements, with a header line as BEIR writes it:
//   q1: d1 → 3, d2 → 2, d3 → 1, d4 → 1   (graded, only 4 relevant documents: fewer than 10)
//   q2: d5 → 1
//   q4: d9 → 0                           (judged, but nothing relevant: skipped)
//   q3 has no judgements at all          (skipped)
const QRELS = [
  'query-id\tcorpus-id\tscore',
  'q1\td1\t3',
  'q1\td2\t2',
  'q1\td3\t1',
  'q1\td4\t1',
  'q2\td5\t1',
  'q4\td9\t0',
  '',
].join('\n')

// q1 ranks d2 first, d1 third, d3 fourth; d4 comes 11th, past the cut-off.
//   DCG@10  = 2/log2(2) + 3/log2(4) + 1/log2(5)                 = 2 + 1.5 + 0.4306766        = 3.9306766
//   IDCG@10 = 3/log2(2) + 2/log2(3) + 1/log2(4) + 1/log2(5)     = 3 + 1.2618595 + 0.5 + 0.4306766 = 5.1925361
//   nDCG@10 = 3.9306766 / 5.1925361                                                         = 0.7569859
// q2 ranks d5 second: DCG = 1/log2(3) = 0.6309298, IDCG = 1, nDCG@10 = 0.6309298
// mean over the two evaluated queries = (0.7569859 + 0.6309298) / 2 = 0.6939578
const RANKINGS = {
  q1: ['d2', 'x1', 'd1', 'd3', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'd4'],
  q2: ['x1', 'd5', 'x2'],
  q3: ['d1', 'd2'],
  q4: ['d9'],
}

test('parseQrels reads graded judgements and skips the header', async () => {
  const { parseQrels } = await load()
  const qrels = parseQrels(QRELS)
  assert.deepEqual([...qrels.keys()], ['q1', 'q2', 'q4'])
  assert.equal(qrels.get('q1').get('d1'), 3)
  assert.equal(qrels.get('q1').size, 4)
  // without a header the first judgement is kept
  assert.equal(parseQrels('q1 d1 2\nq1 d2 1\n').get('q1').get('d1'), 2)
})

test('nDCG@10 with graded gains and fewer than 10 relevant documents', async () => {
  const { parseQrels, ndcgAtK } = await load()
  const qrels = parseQrels(QRELS)
  assert.ok(Math.abs(ndcgAtK(RANKINGS.q1, qrels.get('q1'), 10) - 0.7569859) < 1e-6)
  assert.ok(Math.abs(ndcgAtK(RANKINGS.q2, qrels.get('q2'), 10) - 0.6309298) < 1e-6)
  // the perfect order scores 1, a ranking with nothing relevant scores 0
  assert.equal(ndcgAtK(['d1', 'd2', 'd3', 'd4'], qrels.get('q1'), 10), 1)
  assert.equal(ndcgAtK(['d3', 'd4', 'd2', 'd1'], qrels.get('q1'), 2) < 1, true)
  assert.equal(ndcgAtK(['x1', 'x2'], qrels.get('q1'), 10), 0)
  // plain objects work as judgements too; no relevant document: nothing to normalise by
  assert.ok(Math.abs(ndcgAtK(['x1', 'd5'], { d5: 1 }) - 0.6309298) < 1e-6)
  assert.equal(ndcgAtK(['d9'], qrels.get('q4'), 10), null)
})

test('mean nDCG@10 skips queries without relevance judgements', async () => {
  const { parseQrels, meanNdcgAtK } = await load()
  const result = meanNdcgAtK(RANKINGS, parseQrels(QRELS), 10)
  assert.equal(result.evaluated, 2)
  assert.equal(result.skipped, 2)
  assert.deepEqual(Object.keys(result.perQuery), ['q1', 'q2'])
  assert.ok(Math.abs(result.mean - 0.6939578) < 1e-6)
})

// The same rankings with exponential gains 2^rel − 1 (3 → 7, 2 → 3, 1 → 1):
//   q1 DCG@10  = 3/log2(2) + 7/log2(4) + 1/log2(5)               = 3 + 3.5 + 0.4306766             = 6.9306766
//      IDCG@10 = 7/log2(2) + 3/log2(3) + 1/log2(4) + 1/log2(5)   = 7 + 1.8927893 + 0.5 + 0.4306766 = 9.8234658
//      nDCG@10 = 6.9306766 / 9.8234658                                                            = 0.7055225
//   q2 is binary, so unchanged: 0.6309298; mean = (0.7055225 + 0.6309298) / 2                      = 0.6682261
test('nDCG@10 with exponential gains, on request', async () => {
  const { parseQrels, ndcgAtK, meanNdcgAtK } = await load()
  const qrels = parseQrels(QRELS)
  const exponential = { gain: 'exponential' }
  assert.ok(Math.abs(ndcgAtK(RANKINGS.q1, qrels.get('q1'), 10, exponential) - 0.7055225) < 1e-6)
  assert.ok(Math.abs(ndcgAtK(RANKINGS.q2, qrels.get('q2'), 10, exponential) - 0.6309298) < 1e-6)
  assert.ok(Math.abs(meanNdcgAtK(RANKINGS, qrels, 10, exponential).mean - 0.6682261) < 1e-6)
  assert.throws(() => ndcgAtK(RANKINGS.q1, qrels.get('q1'), 10, { gain: 'log' }), TypeError)
})

test('rankByCosine orders documents by cosine similarity, not by dot product', async () => {
  const { rankByCosine } = await load()
  const docs = [
    [10, 0], // same direction as the query, long
    [1, 1], // 45°
    [0.1, 0.01], // almost the same direction, short
    [0, 1], // orthogonal
  ]
  const [ranked] = rankByCosine([[1, 0]], docs, ['a', 'b', 'c', 'd'], 3)
  assert.deepEqual(ranked, ['a', 'c', 'b'])
})

test('percentile interpolates between closest ranks', async () => {
  const { percentile } = await load()
  const values = [5, 1, 4, 2, 3]
  assert.equal(percentile(values, 50), 3)
  assert.equal(percentile(values, 0), 1)
  assert.equal(percentile(values, 100), 5)
  assert.equal(percentile(values, 95), 4.8)
  assert.ok(Number.isNaN(percentile([], 50)))
})

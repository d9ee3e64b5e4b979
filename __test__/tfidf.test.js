'use strict'
// TfidfEmbedder: parity with scikit-learn's TfidfVectorizer (reference-tfidf.json), saving and
// loading, errors.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { TfidfEmbedder, EmbedderError } = require('..')
const { SHARED, fixture } = require('./helpers.js')

const reference = fixture('reference-tfidf.json')

/** The first `limit` passages of msmarco-5k, as scikit-learn was fed them: `title + ' ' + text`, or `text` without a title (none has one). */
function passages(limit) {
  return fs
    .readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, limit)
    .map((line) => JSON.parse(line))
    .map((doc) => (doc.title ? `${doc.title} ${doc.text}` : doc.text))
}

const corpus = passages(2000)

/** The non-zero weights of a dense vector, by term. */
function weightsByTerm(vector, vocabulary) {
  const weights = {}
  vector.forEach((w, i) => {
    if (w !== 0) weights[vocabulary[i]] = w
  })
  return weights
}

function assertWeights(got, want, label) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${label}: terms`)
  for (const [term, w] of Object.entries(want)) {
    assert.ok(Math.abs(got[term] - w) <= 1e-6, `${label} ${JSON.stringify(term)}: ${got[term]} vs ${w}`)
  }
}

test("scikit-learn's vocabulary gives its idf and weights to 1e-6", async () => {
  const tfidf = await new TfidfEmbedder({ vocabulary: reference.vocabulary }).fit(corpus)
  const saved = tfidf.toJSON()
  assert.deepEqual(saved.vocabulary, reference.vocabulary)
  saved.idf.forEach((x, i) => assert.ok(Math.abs(x - reference.idf[i]) <= 1e-6, `idf of ${reference.vocabulary[i]}: ${x} vs ${reference.idf[i]}`))
  const vectors = await tfidf.embedBatch(reference.texts)
  vectors.forEach((v, i) => {
    assert.equal(v.length, reference.vocabulary.length)
    assertWeights(weightsByTerm(v, reference.vocabulary), reference.weights[i], `text ${i}`)
  })
})

test('maxFeatures 2048 keeps the same terms as scikit-learn except among ties at the cut-off', async () => {
  const tfidf = await new TfidfEmbedder({ maxFeatures: 2048 }).fit(corpus)
  assert.equal(tfidf.dimension, 2048)
  const ours = tfidf.vocabulary
  assert.deepEqual([...ours].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), ours, 'columns in sorted vocabulary order')
  const theirs = new Set(reference.vocabulary)
  const differing = new Set([...ours.filter((t) => !theirs.has(t)), ...reference.vocabulary.filter((t) => !ours.includes(t))])
  // scikit-learn picks among the 241 terms tied at the cut-off (7 occurrences) with numpy's
  // unstable argsort; we take the first in sorted order. The Rust test checks the tie group itself.
  assert.ok(differing.size <= 2 * 66, `${differing.size} terms differ`)

  const idf = new Map(reference.vocabulary.map((t, i) => [t, reference.idf[i]]))
  tfidf.toJSON().idf.forEach((x, i) => {
    if (idf.has(ours[i])) assert.ok(Math.abs(x - idf.get(ours[i])) <= 1e-6)
  })
  // Texts without a differing term get scikit-learn's weights.
  const words = (text) => text.toLowerCase().match(/[\p{L}\p{N}_]{2,}/gu) ?? []
  let compared = 0
  for (const [i, text] of reference.texts.entries()) {
    if (words(text).some((w) => differing.has(w))) continue
    assertWeights(weightsByTerm(await tfidf.embed(text), ours), reference.weights[i], `text ${i}`)
    compared++
  }
  assert.ok(compared >= 25, `${compared} texts compared`)
})

test('vectors are dense, l2-normalised, and the same through every method', async () => {
  const tfidf = await new TfidfEmbedder({ maxFeatures: 500 }).fit(corpus.slice(0, 300))
  const texts = [corpus[0], corpus[1], 'zzzz qqqq', '']
  const batch = await tfidf.embedBatch(texts)
  const typed = await tfidf.embed(texts, { output: 'float32' })
  assert.ok(typed.every((v) => v instanceof Float32Array && v.length === 500))
  assert.deepEqual(typed.map((v) => Array.from(v)), batch)
  assert.deepEqual(await tfidf.embedDocuments(texts), batch)
  assert.deepEqual(await tfidf.embedQuery(texts[0]), batch[0])
  assert.deepEqual(await tfidf.embed(texts[1]), batch[1])
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))
  assert.ok(Math.abs(norm(batch[0]) - 1) < 1e-6)
  assert.equal(norm(batch[2]), 0, 'no vocabulary term: all zeros')
  assert.equal(norm(batch[3]), 0)
  assert.deepEqual(await tfidf.embedBatch([]), [])
})

test('toJSON / fromJSON restore the fitted vocabulary and idf', async () => {
  const tfidf = await new TfidfEmbedder({ maxFeatures: 300, sublinearTf: true, minDf: 2 }).fit(corpus.slice(0, 500))
  const json = JSON.stringify(tfidf)
  const restored = TfidfEmbedder.fromJSON(json)
  const again = TfidfEmbedder.fromJSON(JSON.parse(json))
  assert.equal(restored.dimension, 300)
  assert.deepEqual(restored.toJSON(), tfidf.toJSON())
  assert.deepEqual(tfidf.toJSON().options, { maxFeatures: 300, lowercase: true, minDf: 2, smoothIdf: true, sublinearTf: true })
  const texts = corpus.slice(600, 610)
  assert.deepEqual(await restored.embedBatch(texts), await tfidf.embedBatch(texts))
  assert.deepEqual(await again.embedBatch(texts), await tfidf.embedBatch(texts))
})

test('embedding or saving before fit is ERR_NOT_FITTED', async () => {
  const tfidf = new TfidfEmbedder()
  assert.equal(tfidf.dimension, undefined)
  assert.equal(tfidf.fitted, false)
  assert.equal(tfidf.vocabulary, undefined)
  for (const call of [() => tfidf.embed('a'), () => tfidf.embedBatch(['a']), () => tfidf.embedQuery('a'), () => tfidf.embedDocuments(['a'])]) {
    await assert.rejects(call(), (err) => {
      assert.ok(err instanceof EmbedderError)
      assert.equal(err.code, 'ERR_NOT_FITTED')
      assert.match(err.message, /fit/)
      return true
    })
  }
  assert.throws(() => tfidf.toJSON(), { code: 'ERR_NOT_FITTED' })
  await tfidf.fit(['now fitted'])
  assert.equal(tfidf.fitted, true)
  assert.equal(tfidf.dimension, 2)
})

test('bad options, inputs and saved states have codes', async () => {
  for (const options of [{ maxFeatures: 0 }, { maxFeatures: 1.5 }, { lowercase: 'yes' }, { minDf: -1 }, { vocabulary: [] }, { vocabulary: [1] }, 'x']) {
    assert.throws(() => new TfidfEmbedder(options), { code: 'ERR_INVALID_OPTION' }, JSON.stringify(options))
  }
  const tfidf = new TfidfEmbedder()
  await assert.rejects(tfidf.fit([]), { code: 'ERR_INVALID_INPUT', message: /empty/ })
  await assert.rejects(tfidf.fit(['a', 'b']), { code: 'ERR_INVALID_INPUT', message: /vocabulary/ })
  await assert.rejects(tfidf.fit(['fine', null]), { code: 'ERR_INVALID_INPUT', message: /^input 1:/ })
  await assert.rejects(tfidf.fit('text'), { code: 'ERR_INVALID_INPUT' })
  await tfidf.fit(['some words'])
  await assert.rejects(tfidf.embedBatch(['ok', 3]), { code: 'ERR_INVALID_INPUT', message: /^input 1:/ })
  await assert.rejects(tfidf.embed('a', { output: 'f16' }), { code: 'ERR_INVALID_OPTION' })
  const saved = tfidf.toJSON()
  for (const bad of ['{', '[]', { ...saved, type: 'bm25' }, { ...saved, version: 2 }, { ...saved, idf: [1] }, { ...saved, vocabulary: ['a', 'a'] }]) {
    assert.throws(() => TfidfEmbedder.fromJSON(bad), { code: 'ERR_INVALID_INPUT' }, JSON.stringify(bad))
  }
})

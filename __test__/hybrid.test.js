'use strict'
// HybridEmbedder: dot(h(a), h(b)) = ws·cos(semantic) + wl·cos(lexical), on random vectors and on
// the native Embedder (MiniLM) with a fitted TfidfEmbedder.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { HybridEmbedder, TfidfEmbedder, Embedder, QuantizedEmbedder } = require('..')
const { SHARED, modelPath, cosine } = require('./helpers.js')

function dot(a, b) {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i] * b[i]
  return s
}

function random(seed) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

/** An embedder returning fixed (unnormalised) random vectors per text. */
function tableEmbedder(texts, dim, seed, scale) {
  const next = random(seed)
  const table = new Map(texts.map((t) => [t, Array.from({ length: dim }, () => (next() - 0.5) * scale)]))
  return { dimension: dim, table, embed: async (text) => table.get(text) }
}

function assertIdentity(hybrid, vectors, semantic, lexical, ws, wl, tolerance) {
  for (let i = 0; i < vectors.length; i++) {
    for (let j = 0; j < vectors.length; j++) {
      const cs = cosine(semantic[i], semantic[j])
      const cl = lexical[i].some((x) => x !== 0) && lexical[j].some((x) => x !== 0) ? cosine(lexical[i], lexical[j]) : 0
      const want = ws * cs + wl * cl
      const got = dot(vectors[i], vectors[j])
      assert.ok(Math.abs(got - want) <= tolerance, `(${i}, ${j}) weights ${ws}/${wl}: ${got} vs ${want}`)
    }
  }
}

test('the identity holds exactly on random vectors, at any weights', async () => {
  const texts = Array.from({ length: 12 }, (_, i) => `text ${i}`)
  const semantic = tableEmbedder(texts, 24, 1, 3)
  const lexical = tableEmbedder(texts, 40, 2, 0.01)
  for (const [ws, wl] of [[0.7, 0.3], [0.9, 0.1], [0.5, 0.5], [1, 0], [0, 1], [2, 3]]) {
    const hybrid = new HybridEmbedder({ semantic, lexical, semanticWeight: ws, lexicalWeight: wl })
    const vectors = await hybrid.embedBatch(texts)
    assert.equal(vectors[0].length, 64)
    assert.equal(hybrid.dimension, 64)
    assertIdentity(hybrid, vectors, texts.map((t) => semantic.table.get(t)), texts.map((t) => lexical.table.get(t)), ws, wl, 1e-12)
    // float32 output: the same up to float32 rounding
    const typed = await hybrid.embed(texts, { output: 'float32' })
    assert.ok(typed[0] instanceof Float32Array)
    typed.forEach((v, i) => v.forEach((x, d) => assert.ok(Math.abs(x - vectors[i][d]) < 1e-6)))
  }
  const hybrid = new HybridEmbedder({ semantic, lexical })
  assert.equal(hybrid.semanticWeight, 0.7)
  assert.equal(hybrid.lexicalWeight, 0.3)
  const h = await hybrid.embed(texts[0])
  assert.ok(Math.abs(dot(h, h) - 1) < 1e-12, 'a text with both parts non-zero has norm² ws + wl')
})

function passages(limit) {
  return fs
    .readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8')
    .split('\n')
    .slice(0, limit)
    .map((line) => JSON.parse(line))
    .map((doc) => (doc.title ? `${doc.title} ${doc.text}` : doc.text))
}

test('the identity holds on MiniLM with a fitted TF-IDF', async (t) => {
  const semantic = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  t.after(() => semantic.dispose())
  const corpus = passages(400)
  const lexical = await new TfidfEmbedder({ maxFeatures: 4096 }).fit(corpus)
  const texts = [...corpus.slice(0, 8), 'what is the currency of thailand', 'sous vide pork', 'unrelated zzz words']
  const s = await semantic.embedBatch(texts)
  const l = await lexical.embedBatch(texts)
  for (const [ws, wl] of [[0.7, 0.3], [0.9, 0.1], [0.5, 0.5]]) {
    const hybrid = new HybridEmbedder({ semantic, lexical, semanticWeight: ws, lexicalWeight: wl })
    assert.equal(hybrid.dimension, 384 + lexical.dimension)
    const vectors = await hybrid.embedDocuments(texts)
    assertIdentity(hybrid, vectors, s, l, ws, wl, 1e-9)
    assert.deepEqual(await hybrid.embed(texts[3]), vectors[3])
  }
})

test("embedQuery uses each part's embedQuery (the model's query prompt)", async (t) => {
  const semantic = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  t.after(() => semantic.dispose())
  const lexical = await new TfidfEmbedder().fit(['a query about prompts', 'a passage'])
  const hybrid = new HybridEmbedder({ semantic, lexical, semanticWeight: 0.64, lexicalWeight: 0.36 })
  const text = 'a query about prompts'
  const [query, plain] = [await hybrid.embedQuery(text), await hybrid.embed(text)]
  const prompted = await semantic.embedQuery(text)
  const norm = Math.sqrt(dot(prompted, prompted))
  prompted.forEach((x, i) => assert.ok(Math.abs(query[i] - (0.8 * x) / norm) < 1e-12))
  assert.notDeepEqual(query.slice(0, 32), plain.slice(0, 32), 'the query prompt changes the semantic part')
  assert.deepEqual(query.slice(32), plain.slice(32))
})

test('any embedders compose, quantized ones included', async () => {
  const texts = ['a', 'b', 'c']
  const semantic = tableEmbedder(texts, 16, 3, 1)
  const lexical = new QuantizedEmbedder(tableEmbedder(texts, 16, 4, 1), { precision: 'binary' })
  const vectors = await new HybridEmbedder({ semantic, lexical }).embedBatch(texts)
  assert.equal(vectors.length, 3)
  assert.equal(vectors[0].length, 18)
})

test('options and inputs are checked', async () => {
  const semantic = tableEmbedder(['a'], 4, 5, 1)
  const lexical = tableEmbedder(['a'], 4, 6, 1)
  for (const options of [
    undefined,
    {},
    { semantic },
    { semantic, lexical: {} },
    { semantic, lexical, semanticWeight: -1 },
    { semantic, lexical, lexicalWeight: Number.NaN },
    { semantic, lexical, semanticWeight: '0.5' },
    { semantic, lexical, semanticWeight: 0, lexicalWeight: 0 },
  ]) {
    assert.throws(() => new HybridEmbedder(options), { code: 'ERR_INVALID_OPTION' }, String(options && Object.keys(options)))
  }
  const hybrid = new HybridEmbedder({ semantic, lexical })
  await assert.rejects(hybrid.embedBatch(['a', 7]), { code: 'ERR_INVALID_INPUT', message: /^input 1:/ })
  await assert.rejects(hybrid.embed('not in the table'), { code: 'ERR_BASE_FAILED', message: /semantic embedder returned/ })
  await assert.rejects(hybrid.embed('a', { output: 'int8' }), { code: 'ERR_INVALID_OPTION' })
  const unfitted = new HybridEmbedder({ semantic, lexical: new TfidfEmbedder() })
  assert.equal(unfitted.dimension, undefined)
  await assert.rejects(unfitted.embed('a'), { code: 'ERR_NOT_FITTED' })
})

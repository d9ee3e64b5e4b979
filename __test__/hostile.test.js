'use strict'
// Hostile input through every embedding class: each case ends in the right vector or in a
// rejection with a stable code (naming the bad index of a batch), and the embedder answers a
// normal call correctly afterwards.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder, QuantizedEmbedder, TfidfEmbedder, HybridEmbedder, quantize } = require('..')
const { modelPath, fixture, cosine, maxAbsDiff } = require('./helpers.js')

const reference = fixture('reference-all-MiniLM-L6-v2.json')
const refIndex = (text) => {
  const i = reference.texts.indexOf(text)
  assert.ok(i >= 0, `${JSON.stringify(text)} is in the reference fixture`)
  return i
}

const CORPUS = [
  'hello world',
  'the cat sits outside',
  'authentication verifies who a user is',
  'word lorem ipsum dolor sit amet',
  'emoji test rocket fire',
  'boxed text plain nul byte',
]
const HYBRID = { semanticWeight: 0.7, lexicalWeight: 0.3 }

/**
 * The six embedding classes over one model, each with an oracle: what it must return for
 * well-formed texts, computed from the bare model and TF-IDF without the class under test.
 */
async function subjects(model) {
  const tfidf = await new TfidfEmbedder().fit(CORPUS)
  const dim = model.dimension
  const ranges = [new Array(dim).fill(-0.25), new Array(dim).fill(0.25)]
  const modelVectors = (texts) => model.embedBatch(texts, { output: 'float32' })
  const close = (got, want) => maxAbsDiff(got, want) <= 1e-5
  return [
    { name: 'Embedder', embedder: model, oracle: modelVectors, close, semantic: true },
    { name: 'CachedEmbedder', embedder: new CachedEmbedder(model), oracle: modelVectors, close, semantic: true },
    { name: 'BatchOptimizedEmbedder', embedder: new BatchOptimizedEmbedder(model, { maxWaitMs: 1 }), oracle: modelVectors, close, semantic: true },
    {
      name: 'QuantizedEmbedder',
      embedder: new QuantizedEmbedder(model, { precision: 'int8', ranges }),
      oracle: async (texts) => quantize(await modelVectors(texts), { precision: 'int8', ranges }),
      // a value on a bucket edge may land one bucket over after a different batch padding
      close: (got, want) => got instanceof Int8Array && maxAbsDiff(got, want) <= 1,
    },
    { name: 'TfidfEmbedder', embedder: tfidf, oracle: (texts) => tfidf.embedBatch(texts, { output: 'float32' }), close },
    {
      name: 'HybridEmbedder',
      embedder: new HybridEmbedder({ semantic: model, lexical: tfidf, ...HYBRID }),
      oracle: async (texts) => {
        const s = await modelVectors(texts)
        const l = await tfidf.embedBatch(texts, { output: 'float32' })
        return texts.map((_, i) => [...scaled(s[i], HYBRID.semanticWeight), ...scaled(l[i], HYBRID.lexicalWeight)])
      },
      close,
    },
  ]
}

function scaled(v, weight) {
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0))
  return Array.from(v, (x) => (norm > 0 ? (x * Math.sqrt(weight)) / norm : 0))
}

const isFiniteVector = (v) => (Array.isArray(v) || ArrayBuffer.isView(v)) && v.length > 0 && Array.prototype.every.call(v, Number.isFinite)

// A 10 MB text: far over any max length, so its vector is that of a prefix of it.
const LOREM = 'lorem ipsum dolor sit amet consectetur '
const TEN_MB = LOREM.repeat(Math.ceil(10_000_000 / LOREM.length))
const LONG_WORDS = reference.texts.find((t) => t.startsWith('word word'))

const sparse = ['ok']
sparse.length = 1e9
const throwingGetter = ['ok']
Object.defineProperty(throwingGetter, 1, {
  get() {
    throw new Error('boom')
  },
  enumerable: true,
})
const hostileProxy = new Proxy(['ok', 'fine'], {
  get(target, key) {
    if (key === '1') throw new Error('trap')
    return Reflect.get(target, key)
  },
})

/**
 * Each case: `input` through `method` (default `embed`), then either `error: [code, message]`
 * or `same`: the well-formed texts (or text) whose vectors it must equal. `reference` texts are
 * also checked against sentence-transformers' vectors for the model-backed classes.
 */
const CASES = [
  // values that are not text
  { name: 'null', input: null, error: ['ERR_INVALID_INPUT', /expected a string, got null/] },
  { name: 'undefined', input: undefined, error: ['ERR_INVALID_INPUT', /got undefined/] },
  { name: 'a number', input: 42, error: ['ERR_INVALID_INPUT', /got number/] },
  { name: 'NaN', input: NaN, error: ['ERR_INVALID_INPUT', /got number/] },
  { name: 'a boolean', input: true, error: ['ERR_INVALID_INPUT', /got boolean/] },
  { name: 'a BigInt', input: 10n, error: ['ERR_INVALID_INPUT', /got bigint/] },
  { name: 'an object', input: { text: 'hello world' }, error: ['ERR_INVALID_INPUT', /got an object/] },
  { name: 'an object with toString', input: { toString: () => 'hello world' }, error: ['ERR_INVALID_INPUT', /got an object/] },
  { name: 'a Symbol', input: Symbol('text'), error: ['ERR_INVALID_INPUT', /got symbol/] },
  { name: 'a function', input: () => 'hello world', error: ['ERR_INVALID_INPUT', /got function/] },
  { name: 'a Uint8Array', input: new Uint8Array([104, 105]), error: ['ERR_INVALID_INPUT', /Uint8Array/] },
  { name: 'a Promise of text', input: Promise.resolve('hello world'), error: ['ERR_INVALID_INPUT', /got an object/] },
  { name: 'a string to embedBatch', method: 'embedBatch', input: 'hello world', error: ['ERR_INVALID_INPUT', /expected an array of strings, got string/] },
  { name: 'null to embedQuery', method: 'embedQuery', input: null, error: ['ERR_INVALID_INPUT', /got null/] },
  // arrays with something other than text in them
  { name: 'an array with a number', input: ['ok', 7], error: ['ERR_INVALID_INPUT', /input 1: expected a string, got number/] },
  { name: 'a nested array', input: [['hello', 'world']], error: ['ERR_INVALID_INPUT', /input 0: .*got an array/] },
  { name: 'a nested array later on', method: 'embedBatch', input: ['ok', 'fine', ['nested']], error: ['ERR_INVALID_INPUT', /input 2: .*got an array/] },
  // eslint-disable-next-line no-sparse-arrays
  { name: 'a sparse array', input: ['ok', , 'ok'], error: ['ERR_INVALID_INPUT', /input 1: missing/] },
  { name: 'a sparse array of length 1e9', method: 'embedBatch', input: sparse, error: ['ERR_INVALID_INPUT', /input 1: missing/] },
  { name: 'null in a batch', method: 'embedBatch', input: ['a', 'b', null], error: ['ERR_INVALID_INPUT', /input 2: .*got null/] },
  { name: 'undefined in a batch', method: 'embedDocuments', input: ['a', undefined], error: ['ERR_INVALID_INPUT', /input 1: .*got undefined/] },
  { name: 'a Symbol in a batch', input: ['a', Symbol('x')], error: ['ERR_INVALID_INPUT', /input 1: .*got symbol/] },
  { name: 'an object in a batch', method: 'embedBatch', input: ['a', 'b', 'c', {}], error: ['ERR_INVALID_INPUT', /input 3: .*got an object/] },
  { name: 'a throwing getter in a batch', method: 'embedBatch', input: throwingGetter, error: ['ERR_INVALID_INPUT', /input 1: reading it threw: boom/] },
  { name: 'a Proxy whose trap throws', method: 'embedBatch', input: hostileProxy, error: ['ERR_INVALID_INPUT', /input 1: reading it threw: trap/] },
  // text, however odd
  { name: 'a String object', input: new String('boxed text'), same: 'boxed text' },
  { name: 'String objects in a batch', method: 'embedBatch', input: ['plain', new String('boxed')], same: ['plain', 'boxed'] },
  { name: 'a lone high surrogate', input: 'a\uD800b', same: 'a\uFFFDb' },
  { name: 'a lone low surrogate', input: '\uDC00', same: '\uFFFD' },
  { name: 'surrogates in the wrong order', method: 'embedBatch', input: ['x\uDFFF\uD800y', 'ok'], same: ['x\uFFFD\uFFFDy', 'ok'] },
  { name: 'NUL bytes', input: 'nul\0byte\0', same: 'nul\0byte\0', differsFrom: 'nul' },
  { name: 'a combining-character storm', input: 'e' + '\u0301'.repeat(20_000) + ' cat', same: 'e' + '\u0301'.repeat(20_000) + ' cat' },
  { name: 'right-to-left text', input: 'مرحبا بالعالم \u202Eevil\u202C שלום', same: 'مرحبا بالعالم \u202Eevil\u202C שלום' },
  { name: 'zero-width characters', input: 'zero\u200Bwidth\u200C\u200D\uFEFFjoin', same: 'zero\u200Bwidth\u200C\u200D\uFEFFjoin' },
  { name: 'special tokens only', input: '[CLS] [SEP] [PAD] [UNK]', same: '[CLS] [SEP] [PAD] [UNK]' },
  { name: 'special tokens in a batch', method: 'embedBatch', input: ['[SEP]', '[PAD][PAD][PAD]', '[MASK] hello'], same: ['[SEP]', '[PAD][PAD][PAD]', '[MASK] hello'] },
  { name: 'the empty string', input: '', same: '', reference: '' },
  { name: 'whitespace only', input: '   ', same: '   ', reference: '   ' },
  { name: 'Unicode whitespace only', input: '\t\n\r\u000B\u000C\u001C\u001F\u0085\u00A0\u2003\u2028\u3000', same: '', reference: '' },
  { name: 'emoji', input: 'emoji test 🚀🔥👍', same: 'emoji test 🚀🔥👍', reference: 'emoji test 🚀🔥👍' },
  { name: 'emoji sequences', input: '👩‍👩‍👧‍👦🏳️‍🌈🇯🇵👍🏽 ❤️‍🔥', same: '👩‍👩‍👧‍👦🏳️‍🌈🇯🇵👍🏽 ❤️‍🔥' },
  { name: 'CJK', input: '東京は日本の首都です。', same: '東京は日本の首都です。', reference: '東京は日本の首都です。' },
  { name: 'text far over the max length', input: LONG_WORDS + ' word'.repeat(50_000), same: LONG_WORDS, reference: LONG_WORDS },
  { name: 'a 10 MB string', input: TEN_MB, same: TEN_MB.slice(0, 20_000) },
]

function checkRejection(result, [code, message], where) {
  assert.equal(result.status, 'rejected', `${where}: expected a rejection, got ${result.status}`)
  assert.equal(result.reason?.code, code, `${where}: ${result.reason?.stack ?? result.reason}`)
  assert.match(result.reason.message, message, where)
}

test('hostile input: a vector or a coded rejection, and a normal call afterwards', { timeout: 300_000 }, async () => {
  const model = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  const all = await subjects(model)
  const NORMAL = 'hello world, the cat sits outside'
  for (const subject of all) {
    subject.normal = (await subject.oracle([NORMAL]))[0]
  }
  for (const c of CASES) {
    const method = c.method ?? 'embed'
    for (const subject of all) {
      const where = `${c.name} through ${subject.name}.${method}`
      const result = await Promise.allSettled([subject.embedder[method](c.input)]).then((r) => r[0])
      if (c.error) {
        checkRejection(result, c.error, where)
      } else {
        assert.equal(result.status, 'fulfilled', `${where}: ${result.reason?.stack}`)
        const batch = Array.isArray(c.same)
        const got = batch ? result.value : [result.value]
        const want = await subject.oracle(batch ? c.same : [c.same])
        assert.equal(got.length, want.length, where)
        got.forEach((v, i) => {
          assert.ok(subject.name === 'QuantizedEmbedder' || isFiniteVector(v), `${where}: text ${i} is not a finite vector`)
          assert.ok(subject.close(v, want[i]), `${where}: text ${i} differs by ${maxAbsDiff(v, want[i])}`)
        })
        if (c.reference !== undefined && subject.semantic) {
          const expected = reference.embeddings[refIndex(c.reference)]
          assert.ok(cosine(got[0], expected) >= 0.99999, `${where}: cosine ${cosine(got[0], expected)} to sentence-transformers`)
        }
        if (c.differsFrom !== undefined) {
          const other = (await subject.oracle([c.differsFrom]))[0]
          assert.ok(maxAbsDiff(got[0], other) > 1e-4, `${where}: the text was cut at a NUL byte`)
        }
      }
      // still healthy
      const after = await subject.embedder.embed(NORMAL)
      assert.ok(subject.close(after, subject.normal), `${where}: the next call returned a different vector`)
    }
  }
})

test('a lone surrogate becomes U+FFFD, as Python decoding with errors="replace" gives sentence-transformers', async () => {
  const model = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  assert.deepEqual(await model.embed('a\uD800b'), await model.embed('a\uFFFDb'))
  assert.deepEqual(await model.embed(['\uDBFF', 'x\uDC00']), await model.embed(['\uFFFD', 'x\uFFFD']))
  // a well-formed pair is one character, not two replacements
  assert.notDeepEqual(await model.embed('a\uD83D\uDE80b'), await model.embed('a\uFFFD\uFFFDb'))
})

test('a batch of 100,000 short texts through every class', { timeout: 300_000 }, async () => {
  const model = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  const all = await subjects(model)
  const texts = Array.from({ length: 100_000 }, (_, i) => `short text ${i % 5000} number ${i}`)
  const spots = [0, 54_321, 99_999]
  for (const subject of all) {
    const out = await subject.embedder.embedBatch(texts)
    assert.equal(out.length, texts.length, subject.name)
    const want = await subject.oracle(spots.map((i) => texts[i]))
    spots.forEach((i, k) => assert.ok(subject.close(out[i], want[k]), `${subject.name}: text ${i}`))
    assert.ok(subject.close(await subject.embedder.embed(texts[7]), (await subject.oracle([texts[7]]))[0]), subject.name)
  }
})

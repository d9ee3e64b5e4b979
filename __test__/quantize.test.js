'use strict'
// Quantization (bit-for-bit with sentence-transformers' quantize_embeddings), round trips,
// similarity helpers and QuantizedEmbedder.

const test = require('node:test')
const assert = require('node:assert/strict')
const { quantize, dequantize, calibrationRanges, cosine, dot, hamming, QuantizedEmbedder, Embedder, EmbedderError } = require('..')
const { fixture, modelPath, cosine: jsCosine } = require('./helpers.js')

const reference = fixture('reference-quantization.json')

/** Deterministic pseudo-random numbers in [0, 1). */
function random(seed) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function randomVectors(count, dim, seed, scale = 1) {
  const next = random(seed)
  return Array.from({ length: count }, () => Float32Array.from({ length: dim }, () => (next() * 2 - 1) * scale))
}

test('int8, uint8, binary and ubinary match sentence-transformers bit for bit', () => {
  for (const precision of ['int8', 'uint8', 'binary', 'ubinary']) {
    const codes = quantize(reference.embeddings, { precision, ranges: reference.ranges })
    assert.equal(codes.length, reference.embeddings.length)
    const Type = precision === 'int8' || precision === 'binary' ? Int8Array : Uint8Array
    codes.forEach((c, i) => {
      assert.ok(c instanceof Type, `${precision} vector ${i} is a ${c.constructor.name}`)
      assert.deepEqual(Array.from(c), reference[precision][i], `${precision} vector ${i}`)
    })
  }
})

test('one vector in, one code out; typed arrays in as well as number[]', () => {
  const ranges = reference.ranges.map((r) => Float32Array.from(r))
  const one = quantize(Float32Array.from(reference.embeddings[3]), { precision: 'int8', ranges })
  assert.ok(one instanceof Int8Array)
  assert.deepEqual(Array.from(one), reference.int8[3])
  assert.deepEqual(Array.from(quantize(reference.embeddings[5], { precision: 'ubinary' })), reference.ubinary[5])
  assert.deepEqual(quantize([], { precision: 'binary' }), [])
})

test('ranges come from calibration vectors, or else from the vectors themselves', () => {
  const calibration = randomVectors(50, 8, 1)
  const [min, max] = calibrationRanges(calibration)
  for (let d = 0; d < 8; d++) {
    assert.equal(min[d], Math.min(...calibration.map((v) => v[d])))
    assert.equal(max[d], Math.max(...calibration.map((v) => v[d])))
  }
  const vectors = randomVectors(5, 8, 2)
  assert.deepEqual(quantize(vectors, { precision: 'int8', calibration }), quantize(vectors, { precision: 'int8', ranges: [min, max] }))
  // sentence-transformers falls back to the vectors' own ranges: each dimension then spans 0–255.
  const own = quantize(calibration, { precision: 'uint8' })
  for (let d = 0; d < 8; d++) {
    const column = own.map((c) => c[d])
    assert.equal(Math.min(...column), 0)
    assert.ok(Math.max(...column) >= 254)
  }
})

test('int8 and uint8 round trips stay within half a step inside the ranges', () => {
  const calibration = randomVectors(200, 16, 3, 0.3)
  const ranges = calibrationRanges(calibration)
  const vectors = randomVectors(100, 16, 4, 0.25)
  for (const precision of ['int8', 'uint8']) {
    const back = dequantize(quantize(vectors, { precision, ranges }), { precision, ranges })
    vectors.forEach((v, i) => {
      for (let d = 0; d < 16; d++) {
        const half = (ranges[1][d] - ranges[0][d]) / 255 / 2
        assert.ok(Math.abs(v[d] - back[i][d]) <= half * (1 + 1e-5), `${precision} ${i}/${d}: ${v[d]} → ${back[i][d]}`)
      }
    })
  }
  // The reference codes too: the same ranges give the same floats from int8 and uint8 codes.
  const fromInt8 = dequantize(reference.int8, { precision: 'int8', ranges: reference.ranges })
  const fromUint8 = dequantize(reference.uint8.map((r) => Uint8Array.from(r)), { precision: 'uint8', ranges: reference.ranges })
  assert.deepEqual(fromInt8, fromUint8)
})

test('binary and ubinary round trips give the signs, as ±1', () => {
  const vectors = randomVectors(10, 13, 5)
  for (const precision of ['binary', 'ubinary']) {
    const codes = quantize(vectors, { precision })
    assert.equal(codes[0].length, 2)
    const back = dequantize(codes, { precision, dimension: 13 })
    vectors.forEach((v, i) => assert.deepEqual(Array.from(back[i]), Array.from(v, (x) => (x > 0 ? 1 : -1))))
    assert.equal(dequantize(codes[0], { precision }).length, 16, 'without `dimension`: 8 values per byte')
  }
})

test('int8-minmax quantizes each vector on its own range, within half a step', () => {
  const vectors = [...randomVectors(20, 384, 6, 0.2), Float32Array.of(0.5, 0.5), Float32Array.of(-1, 1)]
  const codes = quantize(vectors, { precision: 'int8-minmax' })
  const back = dequantize(codes, { precision: 'int8-minmax' })
  codes.forEach((code, i) => {
    assert.ok(code.values instanceof Int8Array)
    assert.equal(code.values.length, vectors[i].length)
    assert.equal(code.min, Math.min(...vectors[i]))
    assert.equal(code.max, Math.max(...vectors[i]))
    const half = (code.max - code.min) / 255 / 2
    vectors[i].forEach((x, d) => assert.ok(Math.abs(x - back[i][d]) <= half + 1e-7, `${i}/${d}: ${x} → ${back[i][d]}`))
  })
  assert.deepEqual(Array.from(codes.at(-1).values), [-128, 127])
  assert.deepEqual(Array.from(dequantize(codes[20], { precision: 'int8-minmax' })), [0.5, 0.5])
})

test('bad precisions and options are ERR_INVALID_OPTION', () => {
  for (const precision of ['float16', 'INT8', undefined, 8]) {
    assert.throws(() => quantize([[1, 2]], { precision }), { name: 'EmbedderError', code: 'ERR_INVALID_OPTION', message: /precision/ })
    assert.throws(() => dequantize([new Int8Array(2)], { precision }), { code: 'ERR_INVALID_OPTION' })
  }
  assert.throws(() => quantize([[1, 2]]), { code: 'ERR_INVALID_OPTION' })
  assert.throws(() => quantize([[1, 2]], { precision: 'int8', ranges: [[0, 0]] }), { code: 'ERR_INVALID_OPTION', message: /ranges/ })
  assert.throws(() => quantize([[1, 2]], { precision: 'int8', ranges: [[0, 0], [1]] }), { code: 'ERR_INVALID_OPTION', message: /ranges/ })
  assert.throws(() => quantize([[1, 2]], { precision: 'int8', ranges: [[2, 0], [1, 1]] }), { code: 'ERR_INVALID_OPTION', message: /min/ })
  assert.throws(() => quantize([[1, 2]], { precision: 'int8', calibration: [[1, 2], [3]] }), { code: 'ERR_INVALID_OPTION', message: /calibration.*1/ })
  assert.throws(() => dequantize([new Int8Array(2)], { precision: 'int8' }), { code: 'ERR_INVALID_OPTION', message: /ranges/ })
  assert.throws(() => dequantize([new Int8Array(2)], { precision: 'binary', dimension: 0 }), { code: 'ERR_INVALID_OPTION' })
})

test('mismatched dimensions are ERR_INVALID_INPUT naming the index', () => {
  const check = (fn, index) =>
    assert.throws(fn, (err) => {
      assert.ok(err instanceof EmbedderError)
      assert.equal(err.code, 'ERR_INVALID_INPUT')
      assert.match(err.message, new RegExp(`^input ${index}:`))
      return true
    })
  check(() => quantize([[1, 2, 3], [1, 2, 3], [1, 2]], { precision: 'binary' }), 2)
  check(() => quantize([[1, 2, 3], [1, 2]], { precision: 'int8', ranges: [[0, 0, 0], [1, 1, 1]] }), 1)
  check(() => quantize([[1, 2], [1, 'x']], { precision: 'ubinary' }), 1)
  check(() => dequantize([new Int8Array(3), new Int8Array(2)], { precision: 'int8', ranges: [[0, 0, 0], [1, 1, 1]] }), 1)
  check(() => dequantize([new Uint8Array(2)], { precision: 'int8', ranges: [[0, 0], [1, 1]] }), 0)
  check(() => cosine([1, 0], [[1, 0], [0, 1], [1, 0, 0]]), 2)
  check(() => cosine([1, 0], [1, 0, 0]), 1)
  check(() => dot(new Int8Array(2), [new Int8Array(2), new Uint8Array(2)]), 1)
  check(() => dot(new Uint8Array(2), [new Uint8Array(2), new Uint8Array(3)]), 1)
  check(() => hamming(new Uint8Array(2), [new Uint8Array(1)]), 0)
  check(() => hamming([1, 2], [1, 2]), 0)
})

test('cosine, dot and hamming over one vector and over many', () => {
  const [q, ...docs] = randomVectors(6, 32, 7)
  const scores = cosine(q, docs)
  assert.ok(scores instanceof Float32Array)
  docs.forEach((d, i) => {
    assert.ok(Math.abs(scores[i] - jsCosine(q, d)) < 1e-6)
    assert.ok(Math.abs(cosine(q, d) - jsCosine(q, d)) < 1e-6)
    assert.ok(Math.abs(cosine(Array.from(q), Array.from(d)) - jsCosine(q, d)) < 1e-6)
  })
  assert.equal(cosine([0, 0], [1, 1]), 0)

  const a = Int8Array.of(-128, 127, 5)
  const b = Int8Array.of(-128, -128, 3)
  assert.equal(dot(a, b), 16384 - 16256 + 15)
  assert.deepEqual(Array.from(dot(a, [a, b])), [16384 + 16129 + 25, 16384 - 16256 + 15])
  assert.equal(dot(Uint8Array.of(255, 255), Uint8Array.of(255, 1)), 255 * 255 + 255)
  assert.ok(dot([1, 2], [[3, 4]]) instanceof Float64Array)
  assert.equal(dot([0.5, 2], Int8Array.of(4, -1)), 0, 'a float query against int codes (re-scoring)')

  const ubits = quantize(docs, { precision: 'ubinary' })
  const bits = quantize(docs, { precision: 'binary' })
  const expected = ubits.map((u) => u.reduce((n, byte, i) => n + popcount(byte ^ ubits[0][i]), 0))
  assert.deepEqual(Array.from(hamming(ubits[0], ubits)), expected)
  assert.deepEqual(Array.from(hamming(bits[0], bits)), expected)
  assert.equal(hamming(bits[0], bits[1]), expected[1])
})

function popcount(x) {
  let n = 0
  for (; x; x >>= 1) n += x & 1
  return n
}

/** A JS embedder with deterministic vectors, with and without the optional methods. */
function fakeEmbedder(dim, { batch = true } = {}) {
  const vectorOf = (text) => {
    const next = random([...text].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261))
    return Array.from({ length: dim }, () => next() - 0.5)
  }
  const embedder = { dimension: dim, calls: [], embed: async (text) => (embedder.calls.push(['embed', text]), vectorOf(text)) }
  if (batch) embedder.embedBatch = async (texts) => (embedder.calls.push(['embedBatch', texts]), texts.map(vectorOf))
  return { embedder, vectorOf }
}

test('QuantizedEmbedder returns typed codes from any embedder', async () => {
  const { embedder, vectorOf } = fakeEmbedder(24)
  const calibration = ['alpha', 'beta', 'gamma', 'delta'].map(vectorOf)
  const ranges = calibrationRanges(calibration)
  const int8 = new QuantizedEmbedder(embedder, { precision: 'int8', calibration })
  assert.deepEqual(int8.ranges, ranges)
  assert.equal(int8.dimension, 24)
  const one = await int8.embed('hello')
  assert.ok(one instanceof Int8Array)
  assert.deepEqual(one, quantize(vectorOf('hello'), { precision: 'int8', ranges }))
  const many = await int8.embedBatch(['a', 'b'])
  assert.deepEqual(many, quantize(['a', 'b'].map(vectorOf), { precision: 'int8', ranges }))
  assert.deepEqual(await int8.embed(['a', 'b']), many)
  assert.deepEqual(await int8.embedDocuments(['a', 'b']), many)
  assert.deepEqual(await int8.embedQuery('a'), many[0])

  const { embedder: plain } = fakeEmbedder(10, { batch: false })
  const ubinary = new QuantizedEmbedder(plain, { precision: 'ubinary' })
  const codes = await ubinary.embedBatch(['x', 'y', 'z'])
  assert.equal(codes.length, 3)
  assert.ok(codes.every((c) => c instanceof Uint8Array && c.length === 2))
  assert.deepEqual(plain.calls.map((c) => c[0]), ['embed', 'embed', 'embed'], 'falls back to embed(text) without embedBatch')
  const minmax = await new QuantizedEmbedder(plain, { precision: 'int8-minmax' }).embed('x')
  assert.ok(minmax.values instanceof Int8Array && typeof minmax.min === 'number')
})

test('QuantizedEmbedder calibrates on texts once, on first use', async () => {
  const { embedder, vectorOf } = fakeEmbedder(8)
  const texts = ['one', 'two', 'three']
  const quantized = new QuantizedEmbedder(embedder, { precision: 'uint8', calibration: texts })
  assert.equal(quantized.ranges, undefined)
  const [a, b] = await Promise.all([quantized.embed('one'), quantized.embed('two')])
  assert.deepEqual(quantized.ranges, calibrationRanges(texts.map(vectorOf)))
  assert.deepEqual([a, b], quantize(['one', 'two'].map(vectorOf), { precision: 'uint8', ranges: quantized.ranges }))
  const calibrationCalls = embedder.calls.filter((c) => c[0] === 'embedBatch')
  assert.deepEqual(calibrationCalls, [['embedBatch', texts]], 'the calibration texts are embedded once, together')
})

test('QuantizedEmbedder checks its options', () => {
  const { embedder } = fakeEmbedder(4)
  assert.throws(() => new QuantizedEmbedder(embedder, { precision: 'int4' }), { code: 'ERR_INVALID_OPTION' })
  assert.throws(() => new QuantizedEmbedder(embedder, { precision: 'int8' }), { code: 'ERR_INVALID_OPTION', message: /ranges.*calibration/ })
  assert.throws(() => new QuantizedEmbedder({}, { precision: 'binary' }), { code: 'ERR_INVALID_OPTION', message: /embed/ })
  assert.throws(() => new QuantizedEmbedder(embedder), { code: 'ERR_INVALID_OPTION' })
})

test('QuantizedEmbedder over the native Embedder keeps its query prompt', async (t) => {
  const embedder = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  t.after(() => embedder.dispose())
  const binary = new QuantizedEmbedder(embedder, { precision: 'binary' })
  assert.equal(binary.dimension, embedder.dimension)
  const text = 'what is quantization?'
  assert.deepEqual(await binary.embedQuery(text), quantize(await embedder.embedQuery(text), { precision: 'binary' }))
  assert.deepEqual(await binary.embedDocuments([text]), quantize(await embedder.embedDocuments([text]), { precision: 'binary' }))
  assert.deepEqual(await binary.embed(text), quantize(await embedder.embed(text), { precision: 'binary' }))
  await assert.rejects(binary.embed(42), { code: 'ERR_INVALID_INPUT' })
})

'use strict'
// Vectors equal to sentence-transformers' on the shared reference fixtures.

const test = require('node:test')
const assert = require('node:assert/strict')
const { Embedder, SentenceTransformerEmbedder } = require('..')
const { modelPath, fixture, cosine, maxAbsDiff } = require('./helpers.js')

const MODELS = [
  ['all-MiniLM-L6-v2', 'reference-all-MiniLM-L6-v2.json'],
  ['tiny-bert-cls', 'reference-tiny-bert-cls.json'],
  ['tiny-bert-dense', 'reference-tiny-bert-dense.json'],
]

function assertClose(got, want, label) {
  assert.equal(got.length, want.length, `${label}: dimension`)
  const cos = cosine(got, want)
  const diff = maxAbsDiff(got, want)
  assert.ok(cos >= 0.99999 && diff <= 1e-4, `${label}: cosine ${cos}, max abs diff ${diff}`)
}

for (const [model, file] of MODELS) {
  test(`${model}: embedBatch matches sentence-transformers`, async () => {
    const fx = fixture(file)
    const embedder = await Embedder.create({ model: modelPath(model) })
    assert.equal(embedder.maxLength, fx.max_seq_length)
    const vectors = await embedder.embedBatch(fx.texts)
    assert.equal(vectors.length, fx.texts.length)
    vectors.forEach((v, i) => assertClose(v, fx.embeddings[i], `${model} text ${i} ${JSON.stringify(fx.texts[i].slice(0, 30))}`))
    embedder.dispose()
  })
}

test('embed(string) and embed(array) agree with the reference', async () => {
  const fx = fixture('reference-all-MiniLM-L6-v2.json')
  const embedder = new SentenceTransformerEmbedder({ modelName: modelPath('all-MiniLM-L6-v2') })
  const one = await embedder.embed(fx.texts[1])
  assertClose(one, fx.embeddings[1], 'embed(string)')
  const many = await embedder.embed(fx.texts.slice(0, 3))
  many.forEach((v, i) => assertClose(v, fx.embeddings[i], `embed(array) ${i}`))
  embedder.dispose()
})

test('embedQuery and embedDocuments prepend the model prompts', async () => {
  const fx = fixture('reference-tiny-bert-cls-prompts.json')
  const embedder = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  assert.deepEqual(embedder.modelInfo.prompts, fx.prompts)
  for (let i = 0; i < fx.texts.length; i++) {
    assertClose(await embedder.embedQuery(fx.texts[i]), fx.query[i], `query ${i}`)
  }
  const docs = await embedder.embedDocuments(fx.texts)
  docs.forEach((v, i) => assertClose(v, fx.document[i], `document ${i}`))
  // without prompts in its configs, MiniLM's query is its plain embedding
  const minilm = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  assert.deepEqual(await minilm.embedQuery('hello'), await minilm.embed('hello'))
})

test("modelFile reaches the shipped int8 graph, which stays close to the fp32 reference", async () => {
  const fx = fixture('reference-all-MiniLM-L6-v2.json')
  const embedder = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2'), dtype: 'q8', modelFile: 'onnx/model_quantized.onnx' })
  assert.match(embedder.modelInfo.onnxPath, /onnx\/model_quantized\.onnx$/)
  assert.equal(embedder.modelInfo.graph.kind, 'file')
  assert.equal(embedder.modelInfo.dtype, 'q8')
  const vectors = await embedder.embedBatch(fx.texts)
  // the int8 file itself is far on a few edge texts (onnxruntime from Python: 0.878 on the
  // repeated-word text), so the bound is on the median, with a floor for the worst
  const cosines = vectors.map((v, i) => cosine(v, fx.embeddings[i])).sort((a, b) => a - b)
  assert.ok(cosines[0] >= 0.85, `worst cosine ${cosines[0]}`)
  assert.ok(cosines[cosines.length >> 1] >= 0.95, `median cosine ${cosines[cosines.length >> 1]}`)
})

test('padding does not leak into pooling: a text embeds the same alone and in a batch', async () => {
  const embedder = await Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })
  const x = 'Padding must not leak into pooling.'
  const long = 'retrieval augmented generation '.repeat(60) // ~300 tokens, truncated at 256
  const alone = await embedder.embed(x)
  const [inBatch, longVec, empty] = await embedder.embedBatch([x, long, ''])
  assert.ok(maxAbsDiff(alone, inBatch) <= 1e-5, `diff ${maxAbsDiff(alone, inBatch)}`)
  assert.equal(longVec.length, 384)
  assert.equal(empty.length, 384)
})

test('the model configs drive pooling, normalisation, inputs and length', async () => {
  const cls = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  assert.equal(cls.modelInfo.pooling, 'cls')
  assert.equal(cls.modelInfo.normalize, false)
  assert.deepEqual(cls.modelInfo.inputNames, ['input_ids', 'attention_mask'])
  assert.equal(cls.maxLength, 128)
  const dense = await Embedder.create({ model: modelPath('tiny-bert-dense') })
  assert.equal(dense.dimension, 16)
  assert.equal(dense.modelInfo.normalize, true)
  const overridden = await Embedder.create({ model: modelPath('tiny-bert-cls'), pooling: 'mean', normalize: true, maxLength: 32 })
  assert.equal(overridden.modelInfo.pooling, 'mean')
  assert.equal(overridden.maxLength, 32)
  const v = await overridden.embed('hello')
  assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5)
})

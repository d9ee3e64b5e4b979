'use strict'
// Every failure is an EmbedderError with a stable code and a message that says what to do.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { Embedder, EmbedderError } = require('..')
const { modelPath } = require('./helpers.js')

const MINILM = modelPath('all-MiniLM-L6-v2')

function modelCopy(t, edit) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broken-model-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.cpSync(modelPath('tiny-bert-cls'), dir, { recursive: true })
  edit(dir)
  return dir
}

test('a missing folder is ERR_MODEL_NOT_FOUND naming where it looked', async () => {
  await assert.rejects(Embedder.create({ model: '/no/such/model' }), (err) => {
    assert.ok(err instanceof EmbedderError)
    assert.equal(err.code, 'ERR_MODEL_NOT_FOUND')
    assert.match(err.message, /\/no\/such\/model/)
    return true
  })
})

test('a folder without tokenizer.json is ERR_MODEL_NOT_FOUND naming the file', async (t) => {
  const dir = modelCopy(t, (d) => fs.rmSync(path.join(d, 'tokenizer.json')))
  await assert.rejects(Embedder.create({ model: dir }), { code: 'ERR_MODEL_NOT_FOUND', message: /tokenizer\.json/ })
})

test('a folder with no graph is ERR_MODEL_NOT_FOUND listing the places tried, for q8 the fp32 graph then the int8 file', async (t) => {
  const dir = modelCopy(t, (d) => fs.rmSync(path.join(d, 'onnx'), { recursive: true }))
  await assert.rejects(Embedder.create({ model: dir, dtype: 'q8' }), {
    code: 'ERR_MODEL_NOT_FOUND',
    message: /onnx\/model\.onnx.*model\.onnx.*onnx\/model_quantized\.onnx.*model_quantized\.onnx/,
  })
})

test('a truncated ONNX file is ERR_MODEL_INVALID naming the file', async (t) => {
  const dir = modelCopy(t, (d) => {
    const file = path.join(d, 'onnx', 'model.onnx')
    const bytes = fs.readFileSync(file)
    fs.writeFileSync(file, bytes.subarray(0, bytes.length >> 1))
  })
  await assert.rejects(Embedder.create({ model: dir }), { code: 'ERR_MODEL_INVALID', message: /model\.onnx/ })
})

test('a tokenizer.json that is not JSON is ERR_MODEL_INVALID', async (t) => {
  const dir = modelCopy(t, (d) => fs.writeFileSync(path.join(d, 'tokenizer.json'), '{"truncated": '))
  await assert.rejects(Embedder.create({ model: dir }), { code: 'ERR_MODEL_INVALID', message: /tokenizer\.json/ })
})

test('an unknown module type is ERR_MODEL_INVALID naming the type', async (t) => {
  const dir = modelCopy(t, (d) => {
    const file = path.join(d, 'modules.json')
    const modules = JSON.parse(fs.readFileSync(file, 'utf8'))
    modules.push({ idx: 2, name: '2', path: '2_LSTM', type: 'sentence_transformers.models.LSTM' })
    fs.writeFileSync(file, JSON.stringify(modules))
  })
  await assert.rejects(Embedder.create({ model: dir }), { code: 'ERR_MODEL_INVALID', message: /sentence_transformers\.models\.LSTM/ })
})

test('a lazy embedder reports a bad model on first use, on every call', async () => {
  const embedder = new Embedder({ model: '/no/such/model' })
  await assert.rejects(embedder.embed('x'), { code: 'ERR_MODEL_NOT_FOUND' })
  await assert.rejects(embedder.embedBatch(['x']), { code: 'ERR_MODEL_NOT_FOUND' })
})

test('wrong input types are ERR_INVALID_INPUT naming the index, and the embedder still works', async () => {
  const embedder = await Embedder.create({ model: MINILM })
  const bad = [
    [null, /got null/],
    [undefined, /got undefined/],
    [42, /got number/],
    [{ text: 'x' }, /got an object/],
    [['ok', 7], /input 1: expected a string, got number/],
    [['ok', ['nested']], /input 1: .*got an array/],
    [['ok', null], /input 1: .*got null/],
    // eslint-disable-next-line no-sparse-arrays
    [['ok', , 'ok'], /input 1: missing/],
  ]
  for (const [input, message] of bad) {
    await assert.rejects(embedder.embed(input), { code: 'ERR_INVALID_INPUT', message }, `embed(${String(input)})`)
  }
  await assert.rejects(embedder.embedBatch('not an array'), { code: 'ERR_INVALID_INPUT' })
  await assert.rejects(embedder.embedBatch(['a', 3]), { code: 'ERR_INVALID_INPUT', message: /input 1/ })
  await assert.rejects(embedder.embedQuery(['array']), { code: 'ERR_INVALID_INPUT' })
  await assert.rejects(embedder.embedDocuments([{}]), { code: 'ERR_INVALID_INPUT', message: /input 0/ })
  // a String object is its text
  assert.deepEqual(await embedder.embed(new String('boxed')), await embedder.embed('boxed'))
  assert.equal((await embedder.embed('still works')).length, 384)
})

test('bad options are ERR_INVALID_OPTION, thrown by the constructor', () => {
  const cases = [
    [null, /options must be an object/],
    [{ model: '' }, /`model`/],
    [{ model: MINILM, dtype: 'fp16' }, /dtype/],
    [{ model: MINILM, pooling: 'median' }, /pooling/],
    [{ model: MINILM, batchSize: 0 }, /batchSize/],
    [{ model: MINILM, threads: 1.5 }, /threads/],
    [{ model: MINILM, maxLength: '128' }, /maxLength/],
    [{ model: MINILM, normalize: 'yes' }, /normalize/],
  ]
  for (const [options, message] of cases) {
    assert.throws(() => new Embedder(options), { code: 'ERR_INVALID_OPTION', message })
  }
})

test('maxLength beyond the model position limit is ERR_INVALID_OPTION', async () => {
  await assert.rejects(Embedder.create({ model: MINILM, maxLength: 4096 }), { code: 'ERR_INVALID_OPTION', message: /maxLength/ })
})

test('maxLength states the range it enforces: 1 and 1.5 both say from 2, at construction', () => {
  for (const maxLength of [1, 1.5, 0]) {
    assert.throws(() => new Embedder({ model: MINILM, maxLength }), { code: 'ERR_INVALID_OPTION', message: /`maxLength`.*from 2 to 4294967295/ }, String(maxLength))
  }
})

test('bad embed options are ERR_INVALID_OPTION', async () => {
  const embedder = new Embedder({ model: MINILM })
  await assert.rejects(embedder.embedBatch(['x'], { output: 'float64' }), { code: 'ERR_INVALID_OPTION' })
})

test('a missing ONNX Runtime library is ERR_RUNTIME naming the path tried', () => {
  // the library loads once per process, so this runs in a fresh one
  const script = `
    const { Embedder } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    Embedder.create({ model: ${JSON.stringify(MINILM)} }).then(
      () => console.log('loaded'),
      (err) => console.log(JSON.stringify({ code: err.code, message: err.message })))`
  const out = execFileSync(process.execPath, ['-e', script], {
    env: { ...process.env, ORT_DYLIB_PATH: '/nonexistent/libonnxruntime.so.1' },
    encoding: 'utf8',
  })
  const err = JSON.parse(out)
  assert.equal(err.code, 'ERR_RUNTIME')
  assert.match(err.message, /\/nonexistent\/libonnxruntime\.so\.1/)
})

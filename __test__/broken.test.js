'use strict'
// Broken model files and a broken environment: each gives its error code and names the file (or
// the library path); nothing crashes the process, and an embedder that failed to load keeps
// failing the same way.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { promisify } = require('node:util')
const { Embedder } = require('..')
const { modelPath, maxAbsDiff } = require('./helpers.js')

const run = promisify(execFile)

/** A copy of a shared model, edited by `edit(dir)`, removed after the test. */
function modelCopy(t, name, edit) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'broken-model-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.cpSync(modelPath(name), dir, { recursive: true })
  edit(dir)
  return dir
}

const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'))
const writeJson = (file, value) => fs.writeFileSync(file, JSON.stringify(value))
const editJson = (file, change) => writeJson(file, change(readJson(file)))

/** Every way to use a broken model rejects with `code` and a message matching `message`. */
async function rejectsEverywhere(dir, code, message) {
  await assert.rejects(Embedder.create({ model: dir }), { code, message })
  const lazy = new Embedder({ model: dir })
  await assert.rejects(lazy.embed('x'), { code, message })
  await assert.rejects(lazy.embedBatch(['x', 'y']), { code, message })
}

const ONNX = (d) => path.join(d, 'onnx', 'model.onnx')

const CASES = [
  // the ONNX graph
  ['an empty ONNX file', 'tiny-bert-cls', (d) => fs.writeFileSync(ONNX(d), ''), 'ERR_MODEL_INVALID', /onnx\/model\.onnx/],
  ['an ONNX file cut to 1 kB', 'tiny-bert-cls', (d) => fs.truncateSync(ONNX(d), 1024), 'ERR_MODEL_INVALID', /onnx\/model\.onnx/],
  [
    'an ONNX file of random bytes',
    'tiny-bert-cls',
    (d) => fs.writeFileSync(ONNX(d), require('node:crypto').randomBytes(fs.statSync(ONNX(d)).size)),
    'ERR_MODEL_INVALID',
    /onnx\/model\.onnx/,
  ],
  ['an ONNX path that is a folder', 'tiny-bert-cls', (d) => (fs.rmSync(ONNX(d)), fs.mkdirSync(ONNX(d))), 'ERR_MODEL_NOT_FOUND', /model\.onnx/],
  // tokenizer.json
  ['an empty tokenizer.json', 'tiny-bert-cls', (d) => fs.writeFileSync(path.join(d, 'tokenizer.json'), ''), 'ERR_MODEL_INVALID', /tokenizer\.json/],
  ['a tokenizer.json of binary garbage', 'tiny-bert-cls', (d) => fs.writeFileSync(path.join(d, 'tokenizer.json'), Buffer.from([0xff, 0xfe, 0, 1, 2])), 'ERR_MODEL_INVALID', /tokenizer\.json/],
  ['a tokenizer.json that is JSON but no tokenizer', 'tiny-bert-cls', (d) => writeJson(path.join(d, 'tokenizer.json'), { hello: 'world' }), 'ERR_MODEL_INVALID', /tokenizer\.json/],
  [
    "another model's tokenizer, with ids past the embedding table",
    'tiny-bert-cls',
    (d) => editJson(path.join(d, 'tokenizer.json'), biggerVocabulary),
    'ERR_MODEL_INVALID',
    /tokenizer\.json.*30522 \(vocab_size\)/,
  ],
  // configs with wrong types or values
  ['max_seq_length of the wrong type', 'tiny-bert-cls', (d) => writeJson(path.join(d, 'sentence_bert_config.json'), { max_seq_length: 'long' }), 'ERR_MODEL_INVALID', /sentence_bert_config\.json.*max_seq_length/],
  ['do_lower_case of the wrong type', 'tiny-bert-cls', (d) => writeJson(path.join(d, 'sentence_bert_config.json'), { do_lower_case: 'yes' }), 'ERR_MODEL_INVALID', /sentence_bert_config\.json.*do_lower_case/],
  ['a max_seq_length shorter than [CLS] [SEP]', 'tiny-bert-cls', (d) => writeJson(path.join(d, 'sentence_bert_config.json'), { max_seq_length: 1 }), 'ERR_MODEL_INVALID', /sentence_bert_config\.json.*max_seq_length/],
  ['a negative model_max_length', 'tiny-bert-cls', (d) => editJson(path.join(d, 'tokenizer_config.json'), (c) => ({ ...c, model_max_length: -5 })), 'ERR_MODEL_INVALID', /tokenizer_config\.json.*model_max_length/],
  ['vocab_size of the wrong type', 'tiny-bert-cls', (d) => editJson(path.join(d, 'config.json'), (c) => ({ ...c, vocab_size: '30522' })), 'ERR_MODEL_INVALID', /config\.json.*vocab_size/],
  ['a config.json that is not JSON', 'tiny-bert-cls', (d) => fs.writeFileSync(path.join(d, 'config.json'), '{"hidden_size": 32,'), 'ERR_MODEL_INVALID', /config\.json.*not valid JSON/],
  ['modules.json as an object', 'tiny-bert-cls', (d) => writeJson(path.join(d, 'modules.json'), { 0: 'Transformer' }), 'ERR_MODEL_INVALID', /modules\.json.*array/],
  ['modules.json without a Pooling module', 'tiny-bert-cls', (d) => editJson(path.join(d, 'modules.json'), (m) => m.slice(0, 1)), 'ERR_MODEL_INVALID', /modules\.json.*Pooling/],
  ['prompts that are not strings', 'tiny-bert-cls', (d) => editJson(path.join(d, 'config_sentence_transformers.json'), (c) => ({ ...c, prompts: { query: 42 } })), 'ERR_MODEL_INVALID', /config_sentence_transformers\.json.*query/],
  // pooling
  ['an unknown pooling mode', 'tiny-bert-cls', (d) => writeJson(path.join(d, '1_Pooling', 'config.json'), { pooling_mode: 'median' }), 'ERR_MODEL_INVALID', /1_Pooling\/config\.json.*unknown pooling mode `median`/],
  ['a pooling flag of the wrong type', 'tiny-bert-cls', (d) => writeJson(path.join(d, '1_Pooling', 'config.json'), { pooling_mode_mean_tokens: 'yes' }), 'ERR_MODEL_INVALID', /1_Pooling\/config\.json.*pooling_mode_mean_tokens/],
  ['no pooling mode enabled', 'tiny-bert-cls', (d) => writeJson(path.join(d, '1_Pooling', 'config.json'), { pooling_mode_mean_tokens: false }), 'ERR_MODEL_INVALID', /1_Pooling\/config\.json.*no pooling mode/],
  ['a missing pooling config', 'tiny-bert-cls', (d) => fs.rmSync(path.join(d, '1_Pooling', 'config.json')), 'ERR_MODEL_NOT_FOUND', /1_Pooling\/config\.json/],
  ['an embedding dimension of 0', 'tiny-bert-cls', (d) => editJson(path.join(d, '1_Pooling', 'config.json'), (c) => ({ ...c, embedding_dimension: 0 })), 'ERR_MODEL_INVALID', /1_Pooling\/config\.json.*dimension/],
  // Dense module
  ['a Dense module of 0 input features', 'tiny-bert-dense', (d) => editJson(path.join(d, '2_Dense', 'config.json'), (c) => ({ ...c, in_features: 0 })), 'ERR_MODEL_INVALID', /2_Dense\/config\.json.*in_features/],
  ['an unknown Dense activation', 'tiny-bert-dense', (d) => editJson(path.join(d, '2_Dense', 'config.json'), (c) => ({ ...c, activation_function: 'torch.nn.Softmax' })), 'ERR_MODEL_INVALID', /2_Dense\/config\.json.*Softmax/],
  ['truncated Dense weights', 'tiny-bert-dense', (d) => fs.truncateSync(path.join(d, '2_Dense', 'model.safetensors'), 100), 'ERR_MODEL_INVALID', /2_Dense\/model\.safetensors/],
  ['missing Dense weights', 'tiny-bert-dense', (d) => fs.rmSync(path.join(d, '2_Dense', 'model.safetensors')), 'ERR_MODEL_NOT_FOUND', /2_Dense\/model\.safetensors/],
]

/** Adds a token whose id (40000) is past tiny-bert's embedding table of 30522 rows. */
function biggerVocabulary(tokenizer) {
  tokenizer.added_tokens.push({ id: 40000, content: '[FOREIGN]', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })
  return tokenizer
}

for (const [name, model, edit, code, message] of CASES) {
  test(`${name}: ${code}`, async (t) => {
    await rejectsEverywhere(modelCopy(t, model, edit), code, message)
  })
}

test('without vocab_size in config.json, a foreign token id is ERR_RUNTIME for its text only', async (t) => {
  const dir = modelCopy(t, 'tiny-bert-cls', (d) => {
    editJson(path.join(d, 'tokenizer.json'), biggerVocabulary)
    editJson(path.join(d, 'config.json'), ({ vocab_size, ...rest }) => rest)
  })
  const embedder = await Embedder.create({ model: dir })
  await assert.rejects(embedder.embed('a [FOREIGN] token'), { code: 'ERR_RUNTIME' })
  const good = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  assert.ok(maxAbsDiff(await embedder.embed('an ordinary text'), await good.embed('an ordinary text')) <= 1e-6)
})

/** Runs `Embedder.create` twice in a fresh process with `env`, which loads ONNX Runtime once. */
async function createInChild(env) {
  const script = `
    const { Embedder } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const model = ${JSON.stringify(modelPath('tiny-bert-cls'))}
    const describe = (err) => ({ code: err.code, message: err.message })
    Embedder.create({ model }).then(
      () => console.log(JSON.stringify({ loaded: true })),
      (first) => Embedder.create({ model }).then(
        () => console.log(JSON.stringify({ loaded: 'the second time' })),
        (second) => console.log(JSON.stringify({ first: describe(first), second: describe(second) }))))`
  const { stdout } = await run(process.execPath, ['-e', script], { env: { ...process.env, ...env } })
  return JSON.parse(stdout)
}

const RUNTIMES = [
  ['a missing libonnxruntime', '/nonexistent/lib/libonnxruntime.so.1', /not found at \/nonexistent\/lib\/libonnxruntime\.so\.1/],
  ['another library (libz)', '/lib/x86_64-linux-gnu/libz.so.1', /\/lib\/x86_64-linux-gnu\/libz\.so\.1/],
  ['a file that is no library', __filename, new RegExp(__filename.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))],
]

for (const [name, library, message] of RUNTIMES) {
  test(`ORT_DYLIB_PATH to ${name}: ERR_RUNTIME naming the path, every time, in a process that keeps running`, { skip: library !== RUNTIMES[0][1] && !fs.existsSync(library) }, async () => {
    const result = await createInChild({ ORT_DYLIB_PATH: library })
    assert.equal(result.loaded, undefined, `loaded with ${library}`)
    for (const err of [result.first, result.second]) {
      assert.equal(err.code, 'ERR_RUNTIME', err.message)
      assert.match(err.message, message)
    }
  })
}

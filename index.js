'use strict'

const { native, runtimeLibrary } = require('./binding.js')

/** Every error this package raises: a stable `code` and a message that says what to do. */
class EmbedderError extends Error {
  constructor(code, message, options) {
    super(message, options)
    this.name = 'EmbedderError'
    this.code = code
  }
}

// The native layer puts the code at the start of the message (see src/error.rs).
function fromNative(err) {
  const match = /^(ERR_[A-Z_]+): ([\s\S]*)$/.exec(err?.message ?? '')
  return match ? new EmbedderError(match[1], match[2]) : err
}

async function nativeCall(promise) {
  try {
    return await promise
  } catch (err) {
    throw fromNative(err)
  }
}

function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : typeof value
}

/** The texts of `input` as primitive strings, or an ERR_INVALID_INPUT naming the first bad index. */
function toTexts(input) {
  if (!Array.isArray(input)) {
    throw new EmbedderError('ERR_INVALID_INPUT', `expected an array of strings, got ${describe(input)}`)
  }
  const texts = new Array(input.length)
  for (let i = 0; i < input.length; i++) {
    if (!(i in input)) throw new EmbedderError('ERR_INVALID_INPUT', `input ${i}: missing (sparse array); expected a string`)
    const text = input[i]
    if (typeof text === 'string') texts[i] = text
    else if (text instanceof String) texts[i] = text.valueOf()
    else throw new EmbedderError('ERR_INVALID_INPUT', `input ${i}: expected a string, got ${describe(text)}`)
  }
  return texts
}

function toText(input) {
  if (typeof input === 'string') return input
  if (input instanceof String) return input.valueOf()
  throw new EmbedderError('ERR_INVALID_INPUT', `expected a string, got ${describe(input)}`)
}

const OUTPUTS = new Set(['array', 'float32'])

function splitRows(flat, rows, output) {
  const dim = rows === 0 ? 0 : flat.length / rows
  const vectors = new Array(rows)
  for (let i = 0; i < rows; i++) {
    const row = flat.subarray(i * dim, (i + 1) * dim)
    // slice: each vector owns its memory instead of pinning the whole batch
    vectors[i] = output === 'float32' ? row.slice() : Array.from(row)
  }
  return vectors
}

function outputOf(options) {
  if (options === undefined) return 'array'
  if (options === null || typeof options !== 'object') {
    throw new EmbedderError('ERR_INVALID_OPTION', `embed options must be an object, got ${describe(options)}`)
  }
  const output = options.output ?? 'array'
  if (!OUTPUTS.has(output)) {
    throw new EmbedderError('ERR_INVALID_OPTION', `output must be 'array' or 'float32', got ${JSON.stringify(output)}`)
  }
  return output
}

function checkOptions(options) {
  if (options === null || typeof options !== 'object') {
    throw new EmbedderError('ERR_INVALID_OPTION', `options must be an object with a \`model\` folder, got ${describe(options)}`)
  }
  const model = options.model ?? options.modelName
  if (typeof model !== 'string' || model === '') {
    throw new EmbedderError('ERR_INVALID_OPTION', '`model` must be the path of a model folder (`modelName` is accepted too)')
  }
  const choice = (key, allowed) => {
    const v = options[key]
    if (v !== undefined && !allowed.includes(v)) {
      throw new EmbedderError('ERR_INVALID_OPTION', `\`${key}\` must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(v)}`)
    }
    return v
  }
  const count = (key) => {
    const v = options[key]
    if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= 0xffffffff)) {
      throw new EmbedderError('ERR_INVALID_OPTION', `\`${key}\` must be a positive integer, got ${JSON.stringify(v)}`)
    }
    return v
  }
  const modelFile = options.modelFile
  if (modelFile !== undefined && typeof modelFile !== 'string') {
    throw new EmbedderError('ERR_INVALID_OPTION', '`modelFile` must be a path inside the model folder')
  }
  const normalize = options.normalize
  if (normalize !== undefined && typeof normalize !== 'boolean') {
    throw new EmbedderError('ERR_INVALID_OPTION', '`normalize` must be a boolean')
  }
  return {
    model,
    dtype: choice('dtype', ['fp32', 'q8']),
    modelFile,
    maxLength: count('maxLength'),
    pooling: choice('pooling', ['mean', 'cls', 'max']),
    normalize,
    batchSize: count('batchSize'),
    maxBatchTokens: count('maxBatchTokens'),
    threads: count('threads'),
    runtimeLibrary: runtimeLibrary(),
  }
}

function publicInfo(info) {
  return Object.freeze({
    modelPath: info.modelDir,
    onnxPath: info.onnxPath,
    tokenizerPath: info.tokenizerPath,
    dtype: info.dtype,
    pooling: info.pooling,
    normalize: info.normalize,
    maxLength: info.maxLength,
    dimension: info.dimension,
    inputNames: Object.freeze([...info.inputNames]),
    outputName: info.outputName,
    prompts: Object.freeze({ ...info.prompts }),
    threads: info.threads,
  })
}

/**
 * A sentence-transformers model exported to ONNX, loaded from a local folder, embedding text
 * exactly as sentence-transformers does. Construction is synchronous; the model loads on first
 * use, on `initialize()`, or in `Embedder.create()`.
 */
class Embedder {
  #native
  #info = null

  constructor(options) {
    try {
      this.#native = new native.NativeEmbedder(checkOptions(options))
    } catch (err) {
      throw fromNative(err)
    }
  }

  static async create(options) {
    const embedder = new this(options)
    await embedder.initialize()
    return embedder
  }

  async initialize() {
    this.#checkNotDisposed()
    if (!this.#info) this.#info = publicInfo(await nativeCall(this.#native.initialize()))
    return this
  }

  /** Embedding size; `undefined` until the model has loaded. */
  get dimension() {
    return this.#loadedInfo()?.dimension
  }

  /** Tokens per text after truncation; `undefined` until the model has loaded. */
  get maxLength() {
    return this.#loadedInfo()?.maxLength
  }

  /** Paths, pooling, normalisation, input names and dtype; `undefined` until the model has loaded. */
  get modelInfo() {
    return this.#loadedInfo() ?? undefined
  }

  #loadedInfo() {
    if (!this.#info) {
      const info = this.#native.info()
      if (info) this.#info = publicInfo(info)
    }
    return this.#info
  }

  // Calls that need no native work still report disposal like the others.
  #checkNotDisposed() {
    if (this.#native.disposed) throw new EmbedderError('ERR_DISPOSED', 'the embedder was disposed; create a new one to embed again')
  }

  async #embed(texts, promptName, output) {
    if (texts.length === 0) {
      this.#checkNotDisposed()
      return []
    }
    const flat = await nativeCall(this.#native.embed(texts, promptName))
    return splitRows(flat, texts.length, output)
  }

  /** One vector for a string; one vector per text for an array of strings. */
  async embed(input, options) {
    const output = outputOf(options)
    if (Array.isArray(input)) return this.#embed(toTexts(input), null, output)
    return (await this.#embed([toText(input)], null, output))[0]
  }

  /** One vector per text, in input order. `{ output: 'float32' }` returns `Float32Array`s. */
  async embedBatch(texts, options) {
    const output = outputOf(options)
    return this.#embed(toTexts(texts), null, output)
  }

  /** Embeds a search query, with the model's `query` prompt when it defines one. */
  async embedQuery(text, options) {
    const output = outputOf(options)
    return (await this.#embed([toText(text)], 'query', output))[0]
  }

  /** Embeds documents, with the model's `document` prompt when it defines one. */
  async embedDocuments(texts, options) {
    const output = outputOf(options)
    return this.#embed(toTexts(texts), 'document', output)
  }

  /** Frees the model. Calls already running finish; later calls reject with ERR_DISPOSED. */
  dispose() {
    this.#native.dispose()
  }
}

module.exports = {
  Embedder,
  SentenceTransformerEmbedder: Embedder,
  EmbedderError,
  defaultThreads: native.defaultThreads,
}

// Quantization and similarity, TF-IDF and hybrid embedders (lib/); they use EmbedderError above.
Object.assign(module.exports, require('./lib/quantize.js'), require('./lib/lexical.js'), require('./lib/hybrid.js'))

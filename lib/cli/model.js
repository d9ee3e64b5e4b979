'use strict'
// The embedders rag-embed runs: the model (a folder or a hub id), under a CachedEmbedder for
// --cache / --persist, called through embedBatch, embedQuery or embedDocuments for --prompt.

const fs = require('node:fs')
const path = require('node:path')
const { libraryError } = require('./errors.js')
const { downloadReporter } = require('./progress.js')

/** The package itself, loaded only by commands that embed (so --help needs no native addon). */
const pkg = () => require('../..')

/** A loaded Embedder; the library checks the options and says what is wrong with them. */
async function loadModel(options, { quiet }) {
  const { Embedder } = pkg()
  let model
  try {
    model = new Embedder({
      model: options.model,
      revision: options.revision,
      cacheDir: options.cacheDir,
      dtype: options.dtype,
      threads: options.threads,
      onProgress: downloadReporter({ quiet }),
    })
  } catch (err) {
    throw libraryError(err, 'cannot load the model')
  }
  try {
    await model.initialize()
  } catch (err) {
    model.dispose()
    throw libraryError(err, 'cannot load the model')
  }
  return model
}

/** How the model is named in messages: a folder by its name, a hub id as given. */
function modelName(options, info) {
  return fs.existsSync(options.model) ? path.basename(path.resolve(info.modelPath)) : options.model
}

/** @type {{ output: 'float32' }} */
const FLOAT32 = { output: 'float32' }

/**
 * `{ embed(texts) → Promise<Float32Array[]>, cache }` over `model`: through a CachedEmbedder when
 * `options.cache` holds its options, with the model's query or document prompt for `options.prompt`.
 */
function embedding(model, options) {
  const { CachedEmbedder, BatchOptimizedEmbedder } = pkg()
  let top = model
  let cache = null
  if (options.cache) {
    try {
      cache = new CachedEmbedder(model, options.cache)
    } catch (err) {
      throw libraryError(err, 'cannot open the cache')
    }
    top = cache
  }
  if (options.prompt === 'query') {
    // embedQuery takes one text; the batcher packs a chunk's concurrent calls into model batches
    const batched = new BatchOptimizedEmbedder(top, { maxWaitMs: 0, maxQueue: Math.max(10_000, 4 * options.batchSize) })
    return { embed: (texts) => Promise.all(texts.map((text) => batched.embedQuery(text, FLOAT32))), cache }
  }
  if (options.prompt === 'document') return { embed: (texts) => top.embedDocuments(texts, FLOAT32), cache }
  return { embed: (texts) => top.embedBatch(texts, FLOAT32), cache }
}

module.exports = { loadModel, modelName, embedding }

'use strict'
// The package's exports; the code lives under lib/.

const { native } = require('./binding.js')
const { Embedder, CachedEmbedder, BatchOptimizedEmbedder, EmbedderError } = require('./lib/embedders.js')

module.exports = {
  Embedder,
  SentenceTransformerEmbedder: Embedder,
  CachedEmbedder,
  BatchOptimizedEmbedder,
  EmbedderError,
  defaultThreads: native.defaultThreads,
  ...require('./lib/quantize.js'),
  ...require('./lib/lexical.js'),
  ...require('./lib/hybrid.js'),
}

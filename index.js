'use strict'
// The package's exports (CommonJS; index.mjs re-exports them for ESM); the code lives under lib/.
// Written as plain `exports.name =` assignments so that Node's CommonJS named-export detection
// finds every one of them.

const { native } = require('./binding.js')
const embedders = require('./lib/embedders.js')
const quantization = require('./lib/quantize.js')
const { TfidfEmbedder } = require('./lib/lexical.js')
const { HybridEmbedder } = require('./lib/hybrid.js')

exports.Embedder = embedders.Embedder
exports.SentenceTransformerEmbedder = embedders.Embedder
exports.CachedEmbedder = embedders.CachedEmbedder
exports.BatchOptimizedEmbedder = embedders.BatchOptimizedEmbedder
exports.EmbedderError = embedders.EmbedderError
exports.defaultThreads = native.defaultThreads
exports.quantize = quantization.quantize
exports.dequantize = quantization.dequantize
exports.calibrationRanges = quantization.calibrationRanges
exports.cosine = quantization.cosine
exports.dot = quantization.dot
exports.hamming = quantization.hamming
exports.QuantizedEmbedder = quantization.QuantizedEmbedder
exports.TfidfEmbedder = TfidfEmbedder
exports.HybridEmbedder = HybridEmbedder

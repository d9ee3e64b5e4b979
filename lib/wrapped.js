'use strict'
// Calls into an embedder that another one wraps: any object with `embed(text)`, and optionally
// `embedBatch(texts)`, `embedQuery(text)`, `embedDocuments(texts)` (this package's embedders,
// LangChain's Embeddings, or hand-written ones).

const { fail, describe, isVector } = require('./common.js')

/** An embedder: `embed(text)`, or LangChain's `Embeddings` shape (`embedDocuments` and `embedQuery`). */
function checkEmbedder(value, name) {
  const has = (method) => typeof value?.[method] === 'function'
  if (value === null || typeof value !== 'object' || !(has('embed') || (has('embedDocuments') && has('embedQuery')))) {
    throw fail(
      'ERR_INVALID_OPTION',
      `\`${name}\` must be an embedder with an embed(text) method, or embedDocuments(texts) and embedQuery(text), got ${describe(value)}`,
    )
  }
  return value
}

/**
 * The one check of what a wrapped embedder returned, in every wrapper: `count` vectors (typed
 * arrays or number[]) of one non-zero length, every value a finite number. Anything else is the
 * base's failure, ERR_BASE_FAILED. (Values past float32's range are caught natively, where the
 * vectors become float32.)
 */
function checkVectors(vectors, count, name) {
  if (!Array.isArray(vectors) || vectors.length !== count) {
    const got = Array.isArray(vectors) ? `${vectors.length} vectors` : describe(vectors)
    throw fail('ERR_BASE_FAILED', `the ${name} embedder returned ${got} for ${count} texts`)
  }
  const dim = vectors.length > 0 && isVector(vectors[0]) ? vectors[0].length : 0
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i]
    if (!isVector(v)) throw fail('ERR_BASE_FAILED', `input ${i}: the ${name} embedder returned ${describe(v)}; expected a vector`)
    if (v.length !== dim) throw fail('ERR_BASE_FAILED', `input ${i}: the ${name} embedder returned a vector of ${v.length} values, expected ${dim}`)
    for (let j = 0; j < dim; j++) {
      const x = v[j]
      if (typeof x !== 'number' || !Number.isFinite(x)) {
        throw fail('ERR_BASE_FAILED', `input ${i}: the ${name} embedder returned ${typeof x === 'number' ? x : describe(x)} at position ${j}`)
      }
    }
  }
  return vectors
}

/**
 * One vector per text from `embedder`: `kind` 'query' uses its embedQuery, 'document' its
 * embedDocuments, 'plain' its embedBatch, each falling back to embed(text) when absent; an
 * embedder without embed (LangChain's Embeddings) embeds plain texts with embedDocuments.
 */
async function embedMany(embedder, texts, kind, name) {
  if (texts.length === 0) return []
  let vectors
  if (kind === 'query') {
    const one = typeof embedder.embedQuery === 'function' ? (t) => embedder.embedQuery(t) : (t) => embedder.embed(t)
    vectors = await Promise.all(texts.map(one))
  } else if (typeof embedder.embedDocuments === 'function' && (kind === 'document' || typeof embedder.embed !== 'function')) {
    vectors = await embedder.embedDocuments(texts)
  } else if (typeof embedder.embedBatch === 'function') {
    vectors = await embedder.embedBatch(texts)
  } else {
    vectors = await Promise.all(texts.map((t) => embedder.embed(t)))
  }
  return checkVectors(vectors, texts.length, name)
}

async function embedOne(embedder, text, kind, name) {
  if (kind === 'plain' && typeof embedder.embed === 'function') return checkVectors([await embedder.embed(text)], 1, name)[0]
  return (await embedMany(embedder, [text], kind, name))[0]
}

module.exports = { checkEmbedder, embedMany, embedOne }

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

function checkVector(vector, name, index) {
  if (!isVector(vector)) {
    throw fail('ERR_RUNTIME', `the ${name} embedder returned ${describe(vector)} for text ${index}; expected a vector`)
  }
  return vector
}

function checkVectors(vectors, count, name) {
  if (!Array.isArray(vectors) || vectors.length !== count) {
    const got = Array.isArray(vectors) ? `${vectors.length} vectors` : describe(vectors)
    throw fail('ERR_RUNTIME', `the ${name} embedder returned ${got} for ${count} texts`)
  }
  vectors.forEach((v, i) => checkVector(v, name, i))
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
  if (kind === 'plain' && typeof embedder.embed === 'function') return checkVector(await embedder.embed(text), name, 0)
  return (await embedMany(embedder, [text], kind, name))[0]
}

module.exports = { checkEmbedder, embedMany, embedOne }

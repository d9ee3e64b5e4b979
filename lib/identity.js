'use strict'
// What determines an embedder's vectors, for the keys of a cache. Our own JavaScript classes
// describe themselves under the IDENTITY symbol; a user's embedder cannot be described (its
// vectors are named by the `namespace` option instead).

/**
 * `embedder[IDENTITY]()` → `{ text, bases }` or `null` (not describable now, e.g. an unfitted
 * TF-IDF): `text` covers the embedder's own settings, `bases` are the embedders it calls.
 */
const IDENTITY = Symbol('rag-native.identity')

/** sha256 (hex) over strings, numbers and typed arrays, each length-prefixed. */
function digest(...parts) {
  // node:crypto is loaded when first needed, not with the package: it costs 2.3 MB of memory
  const h = require('node:crypto').createHash('sha256')
  for (const part of parts) {
    const bytes = ArrayBuffer.isView(part) ? Buffer.from(part.buffer, part.byteOffset, part.byteLength) : Buffer.from(String(part))
    h.update(`${bytes.length}:`)
    h.update(bytes)
  }
  return h.digest('hex')
}

/**
 * `{ text, parts }` for `embedder`: `text` describes every JavaScript layer, `parts` are the native
 * services inside it (their fingerprints complete the text); `null` when some layer is unknown.
 * `nativeOf(embedder)` is the native service of one of ours.
 */
function identityOf(embedder, nativeOf) {
  const own = nativeOf(embedder)
  if (own) return { text: 'native', parts: [own] }
  if (typeof embedder?.[IDENTITY] !== 'function') return null
  const self = embedder[IDENTITY]()
  if (!self) return null
  let text = self.text
  const parts = []
  for (const base of self.bases ?? []) {
    const inner = identityOf(base, nativeOf)
    if (!inner) return null
    text += `(${inner.text})`
    parts.push(...inner.parts)
  }
  return { text, parts }
}

module.exports = { IDENTITY, digest, identityOf }

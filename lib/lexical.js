'use strict'
// TfidfEmbedder: scikit-learn's TfidfVectorizer as a dense embedder (native core:
// crates/embedder-core/src/lexical.rs).

const { native } = require('../binding.js')
const { fail, nativeSync, nativeCall, describe, optionTypes, toTexts, splitRows } = require('./common.js')
const { EmbedderBase } = require('./base.js')
const { IDENTITY, digest } = require('./identity.js')

const FORMAT = 'tfidf'
const VERSION = 1
// Lets fromJSON hand a restored native model to the constructor; not reachable from outside.
const RESTORED = Symbol('restored')

/**
 * The TfidfEmbedder options for the native side, which checks their values (src/lexical.rs).
 * @param {unknown} options
 * @returns {import('../native').NativeTfidfOptions}
 */
function checkOptions(options) {
  // a saved state writes an unlimited maxFeatures as null
  const o = optionTypes(options, 'TfidfEmbedder', { lowercase: 'boolean', minDf: 'number', smoothIdf: 'boolean', sublinearTf: 'boolean' })
  const maxFeatures = o.maxFeatures ?? undefined
  if (maxFeatures !== undefined && typeof maxFeatures !== 'number') {
    throw fail('ERR_INVALID_OPTION', `\`maxFeatures\` must be a number, got ${describe(maxFeatures)}`)
  }
  let vocabulary = o.vocabulary
  if (vocabulary !== undefined) {
    if (!Array.isArray(vocabulary) || vocabulary.length === 0 || !vocabulary.every((t) => typeof t === 'string')) {
      throw fail('ERR_INVALID_OPTION', '`vocabulary` must be a non-empty array of terms (strings)')
    }
    vocabulary = [...vocabulary]
  }
  return { maxFeatures, lowercase: o.lowercase, minDf: o.minDf, smoothIdf: o.smoothIdf, sublinearTf: o.sublinearTf, vocabulary }
}

/**
 * TF-IDF vectors as dense, l2-normalised embeddings of a fixed dimension (the vocabulary size).
 * With the default options it computes what scikit-learn's `TfidfVectorizer()` computes.
 */
class TfidfEmbedder extends EmbedderBase {
  /** @type {import('../native').NativeTfidf} */
  #native
  /** The cache identity of the current fit (its vocabulary, idf and options); reset by fit(). */
  #identity = null

  /** @param {object} [options] */
  constructor(options) {
    super()
    if (options?.[RESTORED]) {
      this.#native = options[RESTORED]
      return
    }
    const checked = checkOptions(options)
    this.#native = nativeSync(() => new native.NativeTfidf(checked))
  }

  /** A fitted embedder from what `toJSON()` returned (an object, or its JSON text). */
  static fromJSON(json) {
    let state = json
    if (typeof json === 'string') {
      try {
        state = JSON.parse(json)
      } catch (err) {
        throw fail('ERR_INVALID_INPUT', `not a saved TfidfEmbedder: ${err.message}`)
      }
    }
    if (state === null || typeof state !== 'object' || state.type !== FORMAT) {
      throw fail('ERR_INVALID_INPUT', `not a saved TfidfEmbedder (expected an object with type '${FORMAT}'), got ${describe(state)}`)
    }
    if (state.version !== VERSION) {
      throw fail('ERR_INVALID_INPUT', `saved TfidfEmbedder version ${JSON.stringify(state.version)} is not supported (expected ${VERSION})`)
    }
    const { vocabulary, idf } = state
    if (!Array.isArray(vocabulary) || !vocabulary.every((t) => typeof t === 'string')) {
      throw fail('ERR_INVALID_INPUT', 'saved TfidfEmbedder: `vocabulary` must be an array of strings')
    }
    if (!Array.isArray(idf) || !idf.every((x) => typeof x === 'number')) {
      throw fail('ERR_INVALID_INPUT', 'saved TfidfEmbedder: `idf` must be an array of numbers')
    }
    let restored
    try {
      const options = checkOptions({ ...state.options, vocabulary: undefined })
      restored = nativeSync(() => native.NativeTfidf.fromState({ vocabulary, idf: Float64Array.from(idf), options }))
    } catch (err) {
      // its options are part of the saved data
      throw err.code === 'ERR_INVALID_OPTION' ? fail('ERR_INVALID_INPUT', `saved TfidfEmbedder: ${err.message}`) : err
    }
    return new TfidfEmbedder({ [RESTORED]: restored })
  }

  /** Builds the vocabulary and idf from `corpus` (replacing an earlier fit); resolves to this embedder. */
  async fit(corpus) {
    await nativeCall(() => this.#native.fit(toTexts(corpus)))
    this.#identity = null
    return this
  }

  /** For CachedEmbedder's keys: the fitted vocabulary, idf and options; `null` until fitted. */
  [IDENTITY]() {
    if (!this.#identity) {
      const state = this.#native.state()
      if (!state) return null
      const o = state.options
      const options = [o.maxFeatures ?? '', o.lowercase, o.minDf, o.smoothIdf, o.sublinearTf].join(',')
      this.#identity = { text: `tfidf:${digest(options, JSON.stringify(state.vocabulary), Float64Array.from(state.idf))}` }
    }
    return this.#identity
  }

  /** Vocabulary size; `undefined` until fitted. */
  get dimension() {
    return this.#native.dimension ?? undefined
  }

  get fitted() {
    return this.#native.dimension != null
  }

  /** The terms, in column order; `undefined` until fitted. */
  get vocabulary() {
    return this.#native.state()?.vocabulary
  }

  /** TF-IDF has no prompts: every kind of text is embedded alike. */
  async _embedChunk(texts, _kind, call) {
    return splitRows(await nativeCall(() => this.#native.embed(texts)), texts.length, call.output)
  }

  /** The fitted vocabulary, idf and options as plain JSON data; `TfidfEmbedder.fromJSON` restores it. */
  toJSON() {
    const state = this.#native.state()
    if (!state) {
      throw fail('ERR_NOT_FITTED', 'the TF-IDF vocabulary is not fitted; call fit(corpus) before saving it')
    }
    const o = state.options
    return {
      type: FORMAT,
      version: VERSION,
      options: {
        maxFeatures: o.maxFeatures ?? null,
        lowercase: o.lowercase,
        minDf: o.minDf,
        smoothIdf: o.smoothIdf,
        sublinearTf: o.sublinearTf,
      },
      vocabulary: state.vocabulary,
      idf: Array.from(state.idf),
    }
  }
}

module.exports = { TfidfEmbedder }

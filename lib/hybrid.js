'use strict'
// HybridEmbedder: a semantic and a lexical embedder in one vector whose dot products are the
// weighted sum of the two cosine similarities.

const { fail, describe } = require('./common.js')
const { EmbedderBase, embedInChunks } = require('./base.js')
const { checkEmbedder, embedMany, embedOne } = require('./wrapped.js')
const { IDENTITY } = require('./identity.js')

function checkWeight(value, name) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw fail('ERR_INVALID_OPTION', `\`${name}\` must be a finite number ≥ 0, got ${JSON.stringify(value)}`)
  }
  return value
}

function norm(v) {
  let s = 0
  for (let i = 0; i < v.length; i++) s += v[i] * v[i]
  return Math.sqrt(s)
}

/**
 * `[√ws · s/‖s‖, √wl · l/‖l‖]`, so that `dot(h(a), h(b)) = ws·cos(sa, sb) + wl·cos(la, lb)`. An
 * all-zero part (a text sharing no term with the TF-IDF vocabulary) stays zero.
 */
function combine(s, l, ws, wl, output) {
  const ns = norm(s)
  const nl = norm(l)
  const a = ns > 0 ? Math.sqrt(ws) / ns : 0
  const b = nl > 0 ? Math.sqrt(wl) / nl : 0
  const out = output === 'float32' ? new Float32Array(s.length + l.length) : new Array(s.length + l.length)
  for (let i = 0; i < s.length; i++) out[i] = s[i] * a
  for (let j = 0; j < l.length; j++) out[s.length + j] = l[j] * b
  return out
}

/**
 * Concatenates a semantic embedding and a lexical one (e.g. an `Embedder` and a fitted
 * `TfidfEmbedder`), each normalised and scaled by the square root of its weight.
 */
class HybridEmbedder extends EmbedderBase {
  #semantic
  #lexical
  #ws
  #wl

  /** @param {{ semantic: object, lexical: object, semanticWeight?: number, lexicalWeight?: number }} options */
  constructor(options) {
    super()
    if (options === null || typeof options !== 'object') {
      throw fail('ERR_INVALID_OPTION', `options must be an object with \`semantic\` and \`lexical\` embedders, got ${describe(options)}`)
    }
    this.#semantic = checkEmbedder(options.semantic, 'semantic')
    this.#lexical = checkEmbedder(options.lexical, 'lexical')
    this.#ws = checkWeight(options.semanticWeight ?? 0.7, 'semanticWeight')
    this.#wl = checkWeight(options.lexicalWeight ?? 0.3, 'lexicalWeight')
    if (this.#ws + this.#wl === 0) throw fail('ERR_INVALID_OPTION', '`semanticWeight` and `lexicalWeight` cannot both be 0')
  }

  get semantic() {
    return this.#semantic
  }

  get lexical() {
    return this.#lexical
  }

  get semanticWeight() {
    return this.#ws
  }

  get lexicalWeight() {
    return this.#wl
  }

  /** For CachedEmbedder's keys: the weights and both parts. */
  [IDENTITY]() {
    return { text: `hybrid:${this.#ws}:${this.#wl}`, bases: [this.#semantic, this.#lexical] }
  }

  /** The sum of both dimensions; `undefined` while either is unknown (a model not loaded yet, a TF-IDF not fitted). */
  get dimension() {
    const s = this.#semantic.dimension
    const l = this.#lexical.dimension
    return Number.isInteger(s) && Number.isInteger(l) ? s + l : undefined
  }

  async _embedChunk(texts, kind, call) {
    const [s, l] = await Promise.all([
      embedMany(this.#semantic, texts, kind, 'semantic'),
      embedMany(this.#lexical, texts, kind, 'lexical'),
    ])
    return s.map((v, i) => combine(v, l[i], this.#ws, this.#wl, call.output))
  }

  /** One text through each part's own single-text method (`embed`, or `embedQuery` for a query). */
  async _embedOne(text, kind, call) {
    const one = async (/** @type {string[]} */ [t]) => {
      const [s, l] = await Promise.all([embedOne(this.#semantic, t, kind, 'semantic'), embedOne(this.#lexical, t, kind, 'lexical')])
      return [combine(s, l, this.#ws, this.#wl, call.output)]
    }
    return (await embedInChunks([text], call, one))[0]
  }
}

module.exports = { HybridEmbedder }

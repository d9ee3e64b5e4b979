'use strict'
// EmbedderBase: the embedding methods of every class (`embed`, `embedBatch`, `embedQuery`,
// `embedDocuments`) and the options of one call (`output`, `truncateDim`, `onProgress`, `signal`),
// checked and run the same way whatever the class.

const { EmbedderError, fail, describe, toText, toTexts } = require('./common.js')

/** @typedef {'plain' | 'query' | 'document'} TextKind */

/**
 * The checked options of one call.
 * @typedef {object} CallOptions
 * @property {'array' | 'float32'} output
 * @property {number} [truncateDim]
 * @property {(progress: { done: number, total: number }) => void} [onProgress]
 * @property {AbortSignal} [signal]
 */

/**
 * Which options a class's calls take besides `onProgress` and `signal`.
 * @typedef {object} CallShape
 * @property {boolean} output whether its vectors are floats that `output` can shape
 * @property {boolean} truncateDim whether it truncates vectors itself (a model does)
 * @property {string} name the class, for messages
 */

/** The rejection of an aborted call: Node's convention, with the signal's reason as the cause. */
function abortError(signal) {
  const err = new EmbedderError('ABORT_ERR', 'the embedding was aborted', { cause: signal.reason })
  err.name = 'AbortError'
  return err
}

/**
 * The options of one embedding call, checked: their types and choices here, `truncateDim`'s range
 * natively (up to the model's dimension, with the constructor's rule).
 * @param {unknown} options
 * @param {CallShape} shape
 * @returns {CallOptions}
 */
function callOptions(options, shape) {
  if (options === undefined) return { output: 'array' }
  if (options === null || typeof options !== 'object') {
    throw fail('ERR_INVALID_OPTION', `embed options must be an object, got ${describe(options)}`)
  }
  const { output = 'array', truncateDim, onProgress, signal } = /** @type {Record<string, any>} */ (options)
  if (output !== 'array' && output !== 'float32') {
    throw fail('ERR_INVALID_OPTION', `\`output\` must be 'array' or 'float32', got ${JSON.stringify(output)}`)
  }
  if (output !== 'array' && !shape.output) {
    throw fail('ERR_INVALID_OPTION', `\`output\` does not apply to ${shape.name}, whose vectors are quantized codes`)
  }
  if (truncateDim !== undefined) {
    if (!shape.truncateDim) {
      throw fail('ERR_INVALID_OPTION', `\`truncateDim\` is an option of Embedder calls; set it on the Embedder under this ${shape.name}`)
    }
    if (typeof truncateDim !== 'number') throw fail('ERR_INVALID_OPTION', `\`truncateDim\` must be a number, got ${describe(truncateDim)}`)
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw fail('ERR_INVALID_OPTION', `\`onProgress\` must be a function, got ${describe(onProgress)}`)
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw fail('ERR_INVALID_OPTION', `\`signal\` must be an AbortSignal, got ${describe(signal)}`)
  }
  return { output, truncateDim, onProgress, signal }
}

/**
 * `promise`, or an AbortError as soon as `signal` aborts, even if `promise` never settles.
 * @template T
 * @param {Promise<T>} promise
 * @param {AbortSignal | undefined} signal
 * @returns {Promise<T>}
 */
function abortable(promise, signal) {
  if (!signal) return promise
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortError(signal))
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/** Texts an embedder handles between two progress reports (and abort checks). */
const CALL_CHUNK = 32

/**
 * `embedChunk(texts) → Promise<rows>` over all `texts` as one embedding call: with `onProgress`
 * or `signal`, a chunk at a time, reporting `{ done, total }` after each and rejecting with an
 * AbortError as soon as `signal` aborts (a chunk that never settles included).
 * @template R
 * @param {string[]} texts
 * @param {CallOptions} call
 * @param {(texts: string[]) => Promise<R[]>} embedChunk
 * @returns {Promise<R[]>}
 */
async function embedInChunks(texts, call, embedChunk) {
  const { onProgress, signal } = call
  if (signal?.aborted) throw abortError(signal)
  if (!onProgress && !signal) return embedChunk(texts)
  const out = []
  for (let i = 0; i < texts.length; i += CALL_CHUNK) {
    const part = texts.slice(i, i + CALL_CHUNK)
    for (const row of await abortable(embedChunk(part), signal)) out.push(row)
    onProgress?.({ done: out.length, total: texts.length })
    if (signal?.aborted && out.length < texts.length) throw abortError(signal)
  }
  return out
}

/**
 * The embedding methods of every embedding class. A subclass says what its calls take
 * (`_callShape`) and embeds a chunk of texts (`_embedChunk`); it may take over a whole call
 * (`_embedTexts`, as the native classes do) or a call on one text (`_embedOne`).
 * @template V the vector type of this class
 */
class EmbedderBase {
  /**
   * Which options its calls take besides `onProgress` and `signal`.
   * @returns {CallShape}
   */
  get _callShape() {
    return { output: true, truncateDim: false, name: this.constructor.name }
  }

  /**
   * One row per text of `texts`, in order: without `onProgress` or `signal` all at once.
   * @param {string[]} _texts
   * @param {TextKind} _kind
   * @param {CallOptions} _call
   * @returns {Promise<V[]>}
   */
  async _embedChunk(_texts, _kind, _call) {
    throw new Error(`${this.constructor.name} does not implement _embedChunk. This is a bug.`)
  }

  /**
   * One row per text, reporting progress and honouring `signal` a chunk at a time.
   * @param {string[]} texts
   * @param {TextKind} kind
   * @param {CallOptions} call
   * @returns {Promise<V[]>}
   */
  async _embedTexts(texts, kind, call) {
    return embedInChunks(texts, call, (part) => this._embedChunk(part, kind, call))
  }

  /**
   * The vector of one text.
   * @param {string} text
   * @param {TextKind} kind
   * @param {CallOptions} call
   * @returns {Promise<V>}
   */
  async _embedOne(text, kind, call) {
    return (await this._embedTexts([text], kind, call))[0]
  }

  /**
   * One vector for a string; one vector per text for an array of strings. Options: `output:
   * 'float32'` returns `Float32Array`s; `onProgress({ done, total })`; `signal` (an AbortSignal).
   * @param {string | string[]} input
   * @param {object} [options]
   * @returns {Promise<V | V[]>}
   */
  embed(input, options) {
    try {
      const call = callOptions(options, this._callShape)
      if (Array.isArray(input)) return this._embedTexts(toTexts(input), 'plain', call)
      return this._embedOne(toText(input), 'plain', call)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * One vector per text, in input order; options as for `embed`.
   * @param {string[]} texts
   * @param {object} [options]
   * @returns {Promise<V[]>}
   */
  async embedBatch(texts, options) {
    return this._embedTexts(toTexts(texts), 'plain', callOptions(options, this._callShape))
  }

  /**
   * Embeds a search query, with the model's `query` prompt when it defines one.
   * @param {string} text
   * @param {object} [options]
   * @returns {Promise<V>}
   */
  async embedQuery(text, options) {
    return this._embedOne(toText(text), 'query', callOptions(options, this._callShape))
  }

  /**
   * Embeds documents, with the model's `document` prompt when it defines one.
   * @param {string[]} texts
   * @param {object} [options]
   * @returns {Promise<V[]>}
   */
  async embedDocuments(texts, options) {
    return this._embedTexts(toTexts(texts), 'document', callOptions(options, this._callShape))
  }
}

module.exports = { EmbedderBase, callOptions, abortError, abortable, embedInChunks }

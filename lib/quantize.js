'use strict'
// Embedding quantization and similarity helpers over typed arrays; the math is native
// (crates/embedder-core/src/quantize.rs, similarity.rs).

const { native } = require('../binding.js')
const { fail, nativeSync, describe, isVector, toFloat32, toFloat32Rows, toTexts } = require('./common.js')
const { EmbedderBase, embedInChunks } = require('./base.js')
const { checkEmbedder, embedMany, embedOne } = require('./wrapped.js')
const { IDENTITY, digest } = require('./identity.js')

/**
 * A precision and how its codes look (`signed`, `scalar`, `minMax`), checked natively
 * (src/quantize.rs), which lists the precisions when it is not one.
 * @param {unknown} precision
 */
function checkPrecision(precision) {
  if (typeof precision !== 'string') throw fail('ERR_INVALID_OPTION', `\`precision\` must be a string, got ${describe(precision)}`)
  return { name: precision, ...nativeSync(() => native.precisionInfo(precision)) }
}

/** `[min, max]` rows (sentence-transformers' `ranges`, shape [2][dimension]) as Float32Arrays. */
function toRanges(ranges) {
  const bad = (why) => fail('ERR_INVALID_OPTION', `\`ranges\` must be [min[], max[]] with one value per dimension: ${why}`)
  if (!Array.isArray(ranges) || ranges.length !== 2) throw bad(`got ${describe(ranges)}${Array.isArray(ranges) ? ` of length ${ranges.length}` : ''}`)
  const rows = ranges.map((row, i) => {
    if (!isVector(row)) throw bad(`row ${i} is ${describe(row)}`)
    return row instanceof Float32Array ? row : Float32Array.from(row)
  })
  return { min: rows[0], max: rows[1] }
}

function checkOptions(options) {
  if (options === null || typeof options !== 'object') {
    throw fail('ERR_INVALID_OPTION', `options must be an object with a \`precision\`, got ${describe(options)}`)
  }
  const precision = checkPrecision(options.precision)
  const ranges = options.ranges === undefined ? undefined : toRanges(options.ranges)
  let calibration
  if (options.calibration !== undefined) {
    if (!Array.isArray(options.calibration)) {
      throw fail('ERR_INVALID_OPTION', `\`calibration\` must be an array of vectors, got ${describe(options.calibration)}`)
    }
    try {
      calibration = toFloat32Rows(options.calibration, 'calibration vector')
    } catch (err) {
      throw fail('ERR_INVALID_OPTION', err.message)
    }
  }
  // its range is checked natively
  const dimension = options.dimension
  if (dimension !== undefined && typeof dimension !== 'number') {
    throw fail('ERR_INVALID_OPTION', `\`dimension\` must be a number, got ${describe(dimension)}`)
  }
  return { precision, ranges, calibration, dimension }
}

/**
 * Quantizes one vector or a list of vectors, as sentence-transformers' `quantize_embeddings`
 * does (`int8`, `uint8`, `binary`, `ubinary`), or per vector (`int8-minmax`).
 */
function quantize(vectors, options) {
  const { precision, ranges, calibration } = checkOptions(options)
  const single = isVector(vectors)
  const rows = single ? [toFloat32(vectors, 0)] : toFloat32Rows(vectors)
  let out
  if (precision.minMax) {
    const codes = nativeSync(() => native.quantizeMinMax(rows))
    let offset = 0
    out = rows.map((row, i) => {
      const values = codes.values.slice(offset, offset + row.length)
      offset += row.length
      return { values, min: codes.min[i], max: codes.max[i] }
    })
  } else {
    const flat = nativeSync(() => native.quantize(rows, { precision: precision.name, ranges, calibration }))
    const size = rows.length === 0 ? 0 : flat.length / rows.length
    out = rows.map((_, i) => flat.slice(i * size, (i + 1) * size))
  }
  return single ? out[0] : out
}

function toCodes(value, index, precision) {
  const Type = precision.signed ? Int8Array : Uint8Array
  if (value instanceof Type) return value
  if (Array.isArray(value) && value.every((x) => typeof x === 'number')) {
    // checked here: Int8Array.from would wrap 300 to 44 before anything reached the native side
    const [lo, hi] = Type === Int8Array ? [-128, 127] : [0, 255]
    const j = value.findIndex((x) => !Number.isInteger(x) || x < lo || x > hi)
    if (j >= 0) throw fail('ERR_INVALID_INPUT', `input ${index}: code ${j} is ${value[j]}, not an integer from ${lo} to ${hi} (${precision.name} codes)`)
    return Type.from(value)
  }
  throw fail('ERR_INVALID_INPUT', `input ${index}: ${precision.name} codes are ${Type === Int8Array ? 'an Int8Array' : 'a Uint8Array'}, got ${describe(value)}`)
}

function toMinMax(value, index) {
  if (value === null || typeof value !== 'object' || !(value.values instanceof Int8Array) || typeof value.min !== 'number' || typeof value.max !== 'number') {
    throw fail('ERR_INVALID_INPUT', `input ${index}: int8-minmax codes are { values: Int8Array, min, max }, got ${describe(value)}`)
  }
  return value
}

/**
 * Back to float vectors: scalar codes to the centre of their bucket (`min + (bucket + 0.5) *
 * step`), sign bits to +1 / -1, min-max codes to `min + (value + 128) * step`.
 */
function dequantize(codes, options) {
  const { precision, ranges, calibration, dimension } = checkOptions(options)
  if (precision.minMax) {
    const single = !Array.isArray(codes)
    const rows = (single ? [codes] : codes).map(toMinMax)
    const flat = nativeSync(() =>
      native.dequantizeMinMax(
        rows.map((r) => r.values),
        Float64Array.from(rows, (r) => r.min),
        Float64Array.from(rows, (r) => r.max),
      ),
    )
    let offset = 0
    const out = rows.map((r) => flat.slice(offset, (offset += r.values.length)))
    return single ? out[0] : out
  }
  const single = ArrayBuffer.isView(codes) || isVector(codes)
  if (!single && !Array.isArray(codes)) {
    throw fail('ERR_INVALID_INPUT', `expected quantized codes or an array of them, got ${describe(codes)}`)
  }
  const rows = (single ? [codes] : codes).map((c, i) => toCodes(c, i, precision))
  const nativeOptions = { precision: precision.name, ranges, calibration, dimension }
  const flat = nativeSync(() =>
    precision.signed
      ? native.dequantizeSigned(/** @type {Int8Array[]} */ (rows), nativeOptions)
      : native.dequantizeUnsigned(/** @type {Uint8Array[]} */ (rows), nativeOptions),
  )
  const size = rows.length === 0 ? 0 : flat.length / rows.length
  const out = rows.map((_, i) => flat.slice(i * size, (i + 1) * size))
  return single ? out[0] : out
}

/** Each dimension's minimum and maximum over `vectors`: the `ranges` of int8/uint8 quantization. */
function calibrationRanges(vectors) {
  const ranges = nativeSync(() => native.calibrationRanges(toFloat32Rows(vectors)))
  return [ranges.min, ranges.max]
}

// Similarity: a pair gives a number, a query and a list gives one score per vector.

function sameType(value, index, Type) {
  if (value instanceof Type) return value
  throw fail('ERR_INVALID_INPUT', `input ${index}: expected ${Type.name === 'Int8Array' ? 'an' : 'a'} ${Type.name} like the query, got ${describe(value)}`)
}

function pairOrMany(a, b, convert, score) {
  const query = convert(a, 0)
  if (isVector(b)) {
    const other = convert(b, 1)
    if (other.length !== query.length) {
      throw fail('ERR_INVALID_INPUT', `input 1: has ${other.length} values, input 0 has ${query.length}`)
    }
    return nativeSync(() => score(query, [other]))[0]
  }
  if (!Array.isArray(b)) throw fail('ERR_INVALID_INPUT', `expected a vector or an array of vectors, got ${describe(b)}`)
  const rows = new Array(b.length)
  for (let i = 0; i < b.length; i++) rows[i] = convert(b[i], i)
  return nativeSync(() => score(query, rows))
}

/** Cosine similarity of float vectors: a number for two vectors, a Float32Array for a query and a list. */
function cosine(a, b) {
  return pairOrMany(a, b, (v, i) => toFloat32(v, i), native.cosineScores)
}

/**
 * Dot product: exact for two Int8Arrays or two Uint8Arrays (int8 / uint8 codes), in float64 for
 * float vectors. A number for two vectors, a Float64Array for a query and a list.
 */
function dot(a, b) {
  if (a instanceof Int8Array) return pairOrMany(a, b, (v, i) => sameType(v, i, Int8Array), native.dotScoresInt8)
  if (a instanceof Uint8Array) return pairOrMany(a, b, (v, i) => sameType(v, i, Uint8Array), native.dotScoresUint8)
  return pairOrMany(a, b, (v, i) => toFloat32(v, i), native.dotScoresFloat32)
}

/** Bits that differ between packed sign-bit codes (`binary` Int8Array or `ubinary` Uint8Array). */
function hamming(a, b) {
  if (a instanceof Int8Array) return pairOrMany(a, b, (v, i) => sameType(v, i, Int8Array), native.hammingScoresInt8)
  if (a instanceof Uint8Array) return pairOrMany(a, b, (v, i) => sameType(v, i, Uint8Array), native.hammingScores)
  throw fail('ERR_INVALID_INPUT', `input 0: expected binary (Int8Array) or ubinary (Uint8Array) codes, got ${describe(a)}`)
}

function isTexts(value) {
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' || v instanceof String)
}

/**
 * Wraps an embedder so that it returns quantized vectors: Int8Array (`int8`, `binary`),
 * Uint8Array (`uint8`, `ubinary`) or `{ values, min, max }` (`int8-minmax`).
 */
class QuantizedEmbedder extends EmbedderBase {
  #base
  #precision
  #ranges = null
  #calibrating = null
  #calibrationTexts = null
  /** What fixes the ranges, for CachedEmbedder's keys: given ranges, or calibration vectors or texts. */
  #calibrationDigest = ''

  /**
   * @param {object} base
   * @param {{ precision: string, ranges?: ArrayLike<number>[], calibration?: (ArrayLike<number> | string)[] }} options
   */
  constructor(base, options) {
    super()
    this.#base = checkEmbedder(base, 'base')
    if (options === null || typeof options !== 'object') {
      throw fail('ERR_INVALID_OPTION', `options must be an object with a \`precision\`, got ${describe(options)}`)
    }
    const texts = isTexts(options.calibration) ? toTexts(options.calibration) : null
    const checked = checkOptions(texts ? { ...options, calibration: undefined } : options)
    this.#precision = checked.precision.name
    if (checked.precision.scalar) {
      const sources = checked.ranges ? [checked.ranges.min, checked.ranges.max] : (checked.calibration ?? texts ?? [])
      this.#calibrationDigest = digest(checked.ranges ? 'ranges' : checked.calibration ? 'vectors' : 'texts', ...sources)
      if (checked.ranges) {
        this.#ranges = [checked.ranges.min, checked.ranges.max]
      } else if (checked.calibration) {
        this.#ranges = calibrationRanges(checked.calibration)
      } else if (texts) {
        this.#calibrationTexts = texts
      } else {
        throw fail(
          'ERR_INVALID_OPTION',
          `${checked.precision.name} quantization needs \`ranges\` or \`calibration\` (vectors, or texts to embed) to fix each dimension's range`,
        )
      }
    }
  }

  get base() {
    return this.#base
  }

  get precision() {
    return this.#precision
  }

  /** `[min, max]` per dimension (int8/uint8); `undefined` until calibration texts are embedded. */
  get ranges() {
    return this.#ranges ?? undefined
  }

  get dimension() {
    return this.#base.dimension
  }

  /** For CachedEmbedder's keys: the precision, what fixes the ranges, and the base. */
  [IDENTITY]() {
    return { text: `quantized:${this.#precision}:${this.#calibrationDigest}`, bases: [this.#base] }
  }

  /** Embeds the calibration texts now (otherwise done on first use). */
  async calibrate() {
    if (this.#ranges || !this.#calibrationTexts) return this
    this.#calibrating ??= embedMany(this.#base, this.#calibrationTexts, 'document', 'base')
      .then((vectors) => {
        this.#ranges = calibrationRanges(vectors)
        this.#calibrationTexts = null
      })
      .finally(() => {
        this.#calibrating = null
      })
    await this.#calibrating
    return this
  }

  async #quantize(vectors) {
    await this.calibrate()
    const options = { precision: this.#precision }
    if (this.#ranges) options.ranges = this.#ranges
    return quantize(vectors, options)
  }

  /** Codes, not floats: `output` does not apply. */
  get _callShape() {
    return { output: false, truncateDim: false, name: 'QuantizedEmbedder' }
  }

  async _embedChunk(texts, kind) {
    return this.#quantize(await embedMany(this.#base, texts, kind, 'base'))
  }

  /** One text through the base's own single-text method (`embed`, or `embedQuery` for a query). */
  async _embedOne(text, kind, call) {
    const one = async (/** @type {string[]} */ [t]) => this.#quantize([await embedOne(this.#base, t, kind, 'base')])
    return (await embedInChunks([text], call, one))[0]
  }
}

module.exports = { quantize, dequantize, calibrationRanges, cosine, dot, hamming, QuantizedEmbedder }

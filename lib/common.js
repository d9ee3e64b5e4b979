'use strict'
// Errors and input checks shared by the modules under lib/.

/** Every error this package raises: a stable `code` and a message that says what to do. */
class EmbedderError extends Error {
  constructor(code, message, options) {
    super(message, options)
    this.name = 'EmbedderError'
    this.code = code
  }
}

function fail(code, message) {
  return new EmbedderError(code, message)
}

// The native layer puts the code at the start of the message (see src/error.rs).
function fromNative(err) {
  const match = /^(ERR_[A-Z_]+): ([\s\S]*)$/.exec(err?.message ?? '')
  return match ? fail(match[1], match[2]) : err
}

/** Runs a synchronous native call, turning its errors into EmbedderErrors. */
function nativeSync(call) {
  try {
    return call()
  } catch (err) {
    throw fromNative(err)
  }
}

/**
 * Runs an asynchronous native call, turning its errors into EmbedderErrors: both the rejection and a
 * synchronous throw while napi converts the arguments (which escapes a call made before the `try`).
 */
async function nativeCall(call) {
  try {
    return await call()
  } catch (err) {
    throw fromNative(err)
  }
}

function describe(value) {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`
  return typeof value === 'object' ? 'an object' : typeof value
}

function toText(input) {
  if (typeof input === 'string') return input
  let boxed
  try {
    boxed = input instanceof String
  } catch (err) {
    // a Proxy whose getPrototypeOf trap throws
    throw new EmbedderError('ERR_INVALID_INPUT', `expected a string, got an object that threw: ${err?.message ?? String(err)}`, { cause: err })
  }
  if (boxed) return input.valueOf()
  throw fail('ERR_INVALID_INPUT', `expected a string, got ${describe(input)}`)
}

/** The texts of `input` as primitive strings, or an ERR_INVALID_INPUT naming the first bad index. */
function toTexts(input) {
  if (!Array.isArray(input)) throw fail('ERR_INVALID_INPUT', `expected an array of strings, got ${describe(input)}`)
  const texts = []
  let i = 0
  try {
    for (; i < input.length; i++) {
      if (!(i in input)) throw fail('ERR_INVALID_INPUT', `input ${i}: missing (sparse array); expected a string`)
      const text = input[i]
      if (typeof text === 'string') texts.push(text)
      else if (text instanceof String) texts.push(text.valueOf())
      else throw fail('ERR_INVALID_INPUT', `input ${i}: expected a string, got ${describe(text)}`)
    }
  } catch (err) {
    // a getter or a Proxy trap that throws
    if (err instanceof EmbedderError) throw err
    throw new EmbedderError('ERR_INVALID_INPUT', `input ${i}: reading it threw: ${err?.message ?? String(err)}`, { cause: err })
  }
  return texts
}

/**
 * `options` (an object, or `undefined` for none) after checking the JavaScript type of each key in
 * `types` (`'number'`, `'string'`, `'boolean'`, `'function'`; `'non-empty string'`). Only types:
 * ranges and choices are checked natively (src/options.rs), where a value of the wrong type would
 * fail napi-rs's conversion without our error code.
 * @param {unknown} options
 * @param {string} what the options' owner, for messages
 * @param {Record<string, string>} types
 * @returns {Record<string, any>}
 */
function optionTypes(options, what, types) {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object') throw fail('ERR_INVALID_OPTION', `${what} options must be an object, got ${describe(options)}`)
  const o = /** @type {Record<string, any>} */ (options)
  for (const [key, type] of Object.entries(types)) {
    const v = o[key]
    if (v === undefined) continue
    if (type === 'non-empty string' ? typeof v !== 'string' || v === '' : typeof v !== type) {
      throw fail('ERR_INVALID_OPTION', `\`${key}\` must be a ${type}, got ${typeof v === 'string' ? JSON.stringify(v) : describe(v)}`)
    }
  }
  return o
}

/** `rows` equal slices of `flat`, each owning its memory; `number[]`s when `output` is 'array'. */
function splitRows(flat, rows, output = 'typed') {
  const size = rows === 0 ? 0 : flat.length / rows
  const out = new Array(rows)
  if (output !== 'array') {
    // one row is the whole buffer, which nothing else references
    if (rows === 1) out[0] = flat
    else for (let i = 0; i < rows; i++) out[i] = flat.slice(i * size, (i + 1) * size)
    return out
  }
  for (let i = 0; i < rows; i++) {
    // an indexed loop into a preallocated array: 10× faster than Array.from on a typed array
    const row = new Array(size)
    for (let j = 0, k = i * size; j < size; j++, k++) row[j] = flat[k]
    out[i] = row
  }
  return out
}

const FLOAT_VIEWS = [Float32Array, Float64Array, Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array]

/** A typed array or a non-empty array of numbers: one vector rather than a list of them. */
function isVector(value) {
  if (ArrayBuffer.isView(value)) return FLOAT_VIEWS.some((T) => value instanceof T)
  return Array.isArray(value) && value.length > 0 && typeof value[0] === 'number'
}

/** `value` as a Float32Array (the same one when it already is), or ERR_INVALID_INPUT naming `index`. */
function toFloat32(value, index, what = 'input') {
  if (value instanceof Float32Array) return value
  if (FLOAT_VIEWS.some((T) => value instanceof T)) return Float32Array.from(value)
  if (Array.isArray(value)) {
    for (let j = 0; j < value.length; j++) {
      if (typeof value[j] !== 'number') {
        throw fail('ERR_INVALID_INPUT', `${what} ${index}: value ${j} is ${describe(value[j])}, not a number`)
      }
    }
    return Float32Array.from(value)
  }
  throw fail('ERR_INVALID_INPUT', `${what} ${index}: expected a vector (Float32Array or number[]), got ${describe(value)}`)
}

/** A list of vectors as Float32Arrays. */
function toFloat32Rows(value, what = 'input') {
  if (!Array.isArray(value)) {
    throw fail('ERR_INVALID_INPUT', `expected a vector or an array of vectors, got ${describe(value)}`)
  }
  const rows = new Array(value.length)
  for (let i = 0; i < value.length; i++) rows[i] = toFloat32(value[i], i, what)
  return rows
}

module.exports = {
  EmbedderError,
  fail,
  fromNative,
  nativeSync,
  nativeCall,
  describe,
  toText,
  toTexts,
  optionTypes,
  splitRows,
  isVector,
  toFloat32,
  toFloat32Rows,
}

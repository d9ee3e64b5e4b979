'use strict'
// Input of rag-embed: lines of a byte stream, the record count of a file, and records parsed into
// chunks of { ids, texts }, optionally only those of a range of record numbers (a shard).

const fs = require('node:fs')
const { StringDecoder } = require('node:string_decoder')
const { CliError, oneLine } = require('./errors.js')

/** Lines of a byte stream (UTF-8, a leading BOM dropped, `\n` or `\r\n`), read as they are needed. */
async function* linesOf(stream) {
  const decoder = new StringDecoder('utf8')
  let rest = ''
  let first = true
  for await (const buf of stream) {
    let text = rest + decoder.write(buf)
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
      first = false
    }
    let start = 0
    let nl
    while ((nl = text.indexOf('\n', start)) !== -1) {
      yield text.charCodeAt(nl - 1) === 13 && nl > start ? text.slice(start, nl - 1) : text.slice(start, nl)
      start = nl + 1
    }
    rest = text.slice(start)
  }
  rest += decoder.end()
  if (first && rest.charCodeAt(0) === 0xfeff) rest = rest.slice(1)
  if (rest.length > 0) yield rest.endsWith('\r') ? rest.slice(0, -1) : rest
}

/** JSON's whitespace; a JSONL line of nothing else is blank and is not a record. */
const isBlankByte = (byte) => byte === 0x20 || byte === 0x09 || byte === 0x0d
const isBlankLine = (line) => /^[ \t\r]*$/.test(line)

/**
 * The number of records of a regular file, by a scan of its bytes (far faster than embedding):
 * lines for txt, non-blank lines for jsonl; the same records `recordChunks` numbers.
 */
function countRecords(file, format) {
  const fd = fs.openSync(file, 'r')
  try {
    const buf = Buffer.allocUnsafe(1 << 20)
    let records = 0
    let lineHasBytes = false
    let lineHasText = false
    let first = true
    let n
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) {
      let from = 0
      if (first) {
        first = false
        // linesOf drops a leading UTF-8 byte order mark (a file of under 3 bytes has none)
        if (n >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) from = 3
      }
      if (format === 'txt') {
        for (let i = buf.indexOf(10, from); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) records++
        if (n > from) lineHasBytes = buf[n - 1] !== 10
        continue
      }
      for (let i = from; i < n; i++) {
        const b = buf[i]
        if (b === 10) {
          if (lineHasText) records++
          lineHasText = false
        } else if (!lineHasText && !isBlankByte(b)) {
          lineHasText = true
        }
      }
    }
    if (format === 'txt' ? lineHasBytes : lineHasText) records++
    return records
  } finally {
    fs.closeSync(fd)
  }
}

/** The index just past the JSON string that starts at `line[i]` (a `"`). */
function skipString(line, i) {
  for (i++; i < line.length; i++) {
    if (line[i] === '\\') i++
    else if (line[i] === '"') return i + 1
  }
  return i
}

/** The index just past the JSON value that starts at `line[i]`, for a line JSON.parse accepted. */
function skipValue(line, i) {
  if (line[i] === '"') return skipString(line, i)
  if (line[i] === '{' || line[i] === '[') {
    let depth = 0
    while (i < line.length) {
      const c = line[i]
      if (c === '"') {
        i = skipString(line, i)
        continue
      }
      if (c === '{' || c === '[') depth++
      else if (c === '}' || c === ']') depth--
      i++
      if (depth === 0) return i
    }
    return i
  }
  while (i < line.length && !/[\s,}\]]/.test(line[i])) i++
  return i
}

/**
 * The source text of the number that is member `name` of the JSON object on `line` (the last one,
 * as JSON.parse keeps the last of duplicate keys). Ids go out as written: JSON.parse would turn
 * 12345678901234567891 and …892 into the same double.
 */
function numberSource(line, name) {
  const space = /\s/
  let i = line.indexOf('{') + 1
  let found
  while (i > 0 && i < line.length) {
    while (space.test(line[i])) i++
    if (line[i] !== '"') break
    const keyEnd = skipString(line, i)
    const key = JSON.parse(line.slice(i, keyEnd))
    i = keyEnd
    while (space.test(line[i]) || line[i] === ':') i++
    const valueEnd = skipValue(line, i)
    if (key === name) found = line.slice(i, valueEnd)
    i = valueEnd
    while (space.test(line[i]) || line[i] === ',') i++
  }
  return found
}

const has = (record, key) => Object.prototype.hasOwnProperty.call(record, key)
const fieldsOf = (record) => Object.keys(record).join(', ') || 'none'

/** The JSON object on a JSONL line, or a CliError naming the line. */
function parseRecord(line, where) {
  let record
  try {
    record = JSON.parse(line)
  } catch (err) {
    throw new CliError(`${where}: invalid JSON (${oneLine(err.message)})`)
  }
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new CliError(`${where}: expected a JSON object, got ${record === null ? 'null' : Array.isArray(record) ? 'an array' : typeof record}`)
  }
  return record
}

/**
 * `{ ids, texts }` chunks of at most `size` records parsed from `lines`, ids as JSON text. Records
 * are numbered from 0 in input order (txt: every line; jsonl: every non-blank line) and only those
 * in [start, end) are parsed and yielded; reading stops at `end`. Row-number ids are these record
 * numbers and whether JSONL ids come from `idField` is decided by record 0, so a shard writes the
 * same rows as the same records of an unsharded run.
 */
async function* recordChunks(lines, { format, field, idField, idFieldGiven, size, source, start = 0, end = Infinity }) {
  let ids = []
  let texts = []
  let lineNumber = 0
  let record = -1
  let idsFromField = format === 'txt' ? false : idFieldGiven || undefined
  if (start >= end) return
  for await (const line of lines) {
    lineNumber++
    if (format !== 'txt' && isBlankLine(line)) continue
    record++
    const where = `${source} line ${lineNumber}`
    if (record < start) {
      // outside the range: read only for the one decision record 0 makes for every shard
      if (record === 0 && idsFromField === undefined) idsFromField = has(parseRecord(line, where), idField)
      continue
    }
    let id
    let text
    if (format === 'txt') {
      id = String(record)
      text = line
    } else {
      const parsed = parseRecord(line, where)
      if (!has(parsed, field)) {
        throw new CliError(`${where}: no field ${JSON.stringify(field)} (fields: ${fieldsOf(parsed)}); choose one with --field`)
      }
      text = parsed[field]
      if (typeof text !== 'string') {
        throw new CliError(`${where}: field ${JSON.stringify(field)} is ${text === null ? 'null' : typeof text}, not a string`)
      }
      idsFromField ??= has(parsed, idField)
      if (idsFromField) {
        if (!has(parsed, idField)) {
          throw new CliError(`${where}: no id field ${JSON.stringify(idField)} (fields: ${fieldsOf(parsed)}); choose one with --id-field`)
        }
        id = typeof parsed[idField] === 'number' ? numberSource(line, idField) : JSON.stringify(parsed[idField])
      } else {
        id = String(record)
      }
    }
    ids.push(id)
    texts.push(text)
    if (texts.length === size) {
      yield { ids, texts }
      ids = []
      texts = []
    }
    if (record + 1 >= end) break
  }
  if (texts.length > 0) yield { ids, texts }
}

module.exports = { linesOf, countRecords, numberSource, recordChunks }

#!/usr/bin/env node
'use strict'
// rag-embed: embeds a text or JSONL file (or stdin) with a local sentence-transformers model and
// writes one vector per record as JSONL or as a float32 .npy matrix.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { StringDecoder } = require('node:string_decoder')

const USAGE = `Usage:
  rag-embed embed --model <dir> [options]   embed every record of the input
  rag-embed info --model <dir> [--json]     what the model is: dimension, pooling, max length, …
  rag-embed --help | --version

embed options:
  --model <dir>           sentence-transformers model folder exported to ONNX (required)
  --dtype fp32|q8         fp32 (default) or the quantized graph (onnx/model_quantized.onnx)
  --threads <n>           ONNX Runtime threads (default: the cores this process may use)
  --input <file>|-        input file, or - for stdin (default: -)
  --format txt|jsonl      txt: one text per line (empty lines included); jsonl: one JSON object
                          per line (blank lines skipped). Default: jsonl for .jsonl/.ndjson, else txt
  --field <name>          jsonl: the field holding the text (default: text)
  --id-field <name>       jsonl: the field carried into jsonl output as "id" (default: _id; when
                          the first record has no such field and none was named, ids are row numbers)
  --output <file>         output file (default: stdout, jsonl only); written to a temporary file
                          beside it and renamed when complete
  --output-format jsonl|npy
                          jsonl: {"id": …, "embedding": […]} per line; npy: float32 [n, dim].
                          Default: npy for a .npy output, else jsonl
  --batch-size <n>        texts per embedBatch call (default 128)
  --quiet                 no progress and no summary on stderr

Progress goes to stderr: a bar when stderr is a terminal, a line every few seconds otherwise.
Exit status: 0 done, 1 failed (bad input, model or write error), 2 bad usage.`

/** A failure reported as one line, `rag-embed: <message>`, with this exit status. */
class CliError extends Error {
  constructor(message, status = 1) {
    super(message)
    this.status = status
  }
}

const usage = (message) => new CliError(`${message} (see rag-embed --help)`, 2)

const FLAGS = {
  embed: {
    model: 'value',
    dtype: 'value',
    threads: 'value',
    input: 'value',
    format: 'value',
    field: 'value',
    'id-field': 'value',
    output: 'value',
    'output-format': 'value',
    'batch-size': 'value',
    quiet: 'flag',
    help: 'flag',
  },
  info: { model: 'value', dtype: 'value', json: 'flag', help: 'flag' },
}

function parseArgs(command, args) {
  const spec = FLAGS[command]
  const options = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '-h') {
      options.help = true
      continue
    }
    if (!arg.startsWith('--')) throw usage(`unexpected argument ${JSON.stringify(arg)}`)
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const kind = spec[name]
    if (!kind) throw usage(`unknown option --${name} for \`${command}\``)
    if (kind === 'flag') {
      if (eq !== -1) throw usage(`--${name} takes no value`)
      options[name] = true
      continue
    }
    let value
    if (eq !== -1) value = arg.slice(eq + 1)
    else if (i + 1 < args.length) value = args[++i]
    else throw usage(`--${name} needs a value`)
    options[name] = value
  }
  return options
}

function oneOf(options, name, allowed) {
  const value = options[name]
  if (value !== undefined && !allowed.includes(value)) {
    throw usage(`--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`)
  }
  return value
}

function positiveInteger(options, name) {
  const value = options[name]
  if (value === undefined) return undefined
  const n = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw usage(`--${name} must be a positive integer, got ${JSON.stringify(value)}`)
  return n
}

/** A message on one line: multi-line native errors (lists of paths tried) are joined. */
function oneLine(message) {
  return String(message)
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean)
    .join('; ')
}

function systemMessage(err) {
  const reasons = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory',
    ENOTDIR: 'a parent is not a directory',
    ENOSPC: 'no space left on device',
    EROFS: 'read-only file system',
    EEXIST: 'already exists',
    EFBIG: 'file too large',
  }
  return reasons[err?.code] ?? err?.message ?? String(err)
}

async function loadEmbedder(options) {
  if (options.model === undefined) throw usage('--model <dir> is required')
  const { Embedder } = require('..')
  const embedderOptions = { model: options.model }
  const dtype = oneOf(options, 'dtype', ['fp32', 'q8'])
  if (dtype) embedderOptions.dtype = dtype
  const threads = positiveInteger(options, 'threads')
  if (threads) embedderOptions.threads = threads
  try {
    return await Embedder.create(embedderOptions)
  } catch (err) {
    throw new CliError(`cannot load the model: ${err.code ? `${err.code}: ` : ''}${err.message}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Input

/** Lines of a byte stream, read as they are needed (the stream is not read ahead of the caller). */
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

const isBlank = (byte) => byte === 0x20 || byte === 0x09 || byte === 0x0d

/**
 * The number of records of a regular file, by a scan of its bytes (far faster than embedding):
 * lines for txt, non-blank lines for jsonl.
 */
function countRecords(file, format) {
  const fd = fs.openSync(file, 'r')
  try {
    const buf = Buffer.allocUnsafe(1 << 20)
    let records = 0
    let lineHasBytes = false
    let lineHasText = false
    let n
    while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) {
      if (format === 'txt') {
        for (let i = buf.indexOf(10, 0); i !== -1 && i < n; i = buf.indexOf(10, i + 1)) records++
        lineHasBytes = buf[n - 1] !== 10
        continue
      }
      for (let i = 0; i < n; i++) {
        const b = buf[i]
        if (b === 10) {
          if (lineHasText) records++
          lineHasText = false
        } else if (!lineHasText && !isBlank(b)) {
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

/** `{ ids, texts }` chunks of at most `size` records, parsed from the input's lines; ids as JSON text. */
async function* recordChunks(lines, { format, field, idField, idFieldGiven, size, source }) {
  let ids = []
  let texts = []
  let lineNumber = 0
  let row = 0
  let idsFromField
  for await (const line of lines) {
    lineNumber++
    let id
    let text
    if (format === 'txt') {
      id = row
      text = line
    } else {
      if (line.trim() === '') continue
      let record
      try {
        record = JSON.parse(line)
      } catch (err) {
        throw new CliError(`${source} line ${lineNumber}: invalid JSON (${oneLine(err.message)})`)
      }
      if (record === null || typeof record !== 'object' || Array.isArray(record)) {
        throw new CliError(`${source} line ${lineNumber}: expected a JSON object, got ${record === null ? 'null' : Array.isArray(record) ? 'an array' : typeof record}`)
      }
      if (!Object.prototype.hasOwnProperty.call(record, field)) {
        throw new CliError(`${source} line ${lineNumber}: no field ${JSON.stringify(field)} (fields: ${Object.keys(record).join(', ') || 'none'}); choose one with --field`)
      }
      text = record[field]
      if (typeof text !== 'string') {
        throw new CliError(`${source} line ${lineNumber}: field ${JSON.stringify(field)} is ${text === null ? 'null' : typeof text}, not a string`)
      }
      idsFromField ??= idFieldGiven || Object.prototype.hasOwnProperty.call(record, idField)
      if (idsFromField) {
        if (!Object.prototype.hasOwnProperty.call(record, idField)) {
          throw new CliError(`${source} line ${lineNumber}: no id field ${JSON.stringify(idField)} (fields: ${Object.keys(record).join(', ') || 'none'}); choose one with --id-field`)
        }
        id = typeof record[idField] === 'number' ? numberSource(line, idField) : JSON.stringify(record[idField])
      } else {
        id = String(row)
      }
    }
    ids.push(format === 'txt' ? String(id) : id)
    texts.push(text)
    row++
    if (texts.length === size) {
      yield { ids, texts }
      ids = []
      texts = []
    }
  }
  if (texts.length > 0) yield { ids, texts }
}

// ---------------------------------------------------------------------------------------------
// Output

/** The shortest decimal that reads back as the same float32 (9 significant digits always do). */
function float32Text(x) {
  return String(Number(x.toPrecision(9)))
}

/** NPY format 1.0: magic, version, little-endian header length, a Python dict literal padded to 64 bytes. */
function npyHeader(rows, dim, size = 0) {
  const descr = os.endianness() === 'LE' ? '<f4' : '>f4'
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`
  const total = Math.max(size, Math.ceil((10 + dict.length + 1) / 64) * 64)
  const header = Buffer.alloc(total, 0x20)
  header.write('\x93NUMPY', 0, 'latin1')
  header[6] = 1
  header[7] = 0
  header.writeUInt16LE(total - 10, 8)
  header.write(dict, 10, 'latin1')
  header[total - 1] = 0x0a
  return header
}

/** Room reserved at the start of a .npy for the header, written once the row count is known. */
const NPY_HEADER_SIZE = 128

class Output {
  /**
   * `file` undefined writes to stdout. A file is written as `.<name>.<pid>-<random>.tmp` in its
   * folder and renamed over `file` by `commit()`, so an interrupted run leaves no file that looks
   * complete.
   */
  constructor(file, format) {
    this.file = file
    this.format = format
    this.rows = 0
    this.dim = 0
    this.position = 0
    this.fd = null
    this.temp = null
    if (file !== undefined) {
      const dir = path.dirname(path.resolve(file))
      const temp = path.join(dir, `.${path.basename(file)}.${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`)
      try {
        this.fd = fs.openSync(temp, 'wx')
      } catch (err) {
        throw new CliError(`cannot write ${file}: ${err.code === 'ENOENT' ? `folder ${dir} does not exist` : systemMessage(err)}`)
      }
      this.temp = temp
      if (format === 'npy') this.position = NPY_HEADER_SIZE
    }
  }

  async #write(data, position) {
    if (this.fd === null) {
      if (run.stdoutClosed) throw new CliError('', 141)
      if (!process.stdout.write(data)) {
        await new Promise((resolve) => {
          const done = () => {
            process.stdout.off('drain', done)
            process.stdout.off('error', done)
            resolve()
          }
          process.stdout.on('drain', done)
          process.stdout.on('error', done)
        })
      }
      return
    }
    try {
      let done = 0
      while (done < data.length) {
        const { bytesWritten } = await new Promise((resolve, reject) =>
          fs.write(this.fd, data, done, data.length - done, position + done, (err, bytesWritten) => (err ? reject(err) : resolve({ bytesWritten }))),
        )
        done += bytesWritten
      }
    } catch (err) {
      throw new CliError(`cannot write ${this.file}: ${systemMessage(err)}`)
    }
  }

  async writeRows(ids, vectors) {
    if (vectors.length === 0) return
    for (let i = 0; i < vectors.length; i++) {
      const v = vectors[i]
      for (let j = 0; j < v.length; j++) {
        if (!Number.isFinite(v[j])) throw new CliError(`embedding failed: record ${this.rows + i + 1} has a non-finite value (${v[j]}) at dimension ${j}`)
      }
    }
    this.dim = vectors[0].length
    let data
    if (this.format === 'npy') {
      data = Buffer.allocUnsafe(vectors.length * this.dim * 4)
      for (let i = 0; i < vectors.length; i++) {
        const v = vectors[i]
        Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(data, i * this.dim * 4)
      }
    } else {
      let text = ''
      for (let i = 0; i < vectors.length; i++) {
        const v = vectors[i]
        const values = new Array(v.length)
        for (let j = 0; j < v.length; j++) values[j] = float32Text(v[j])
        text += `{"id":${ids[i]},"embedding":[${values.join(',')}]}\n`
      }
      data = Buffer.from(text, 'utf8')
    }
    await this.#write(data, this.position)
    this.position += data.length
    this.rows += vectors.length
  }

  /** Writes the .npy header, flushes and renames the temporary file over the output. */
  async commit(dim) {
    if (this.format === 'npy') await this.#write(npyHeader(this.rows, this.rows > 0 ? this.dim : dim, NPY_HEADER_SIZE), 0)
    if (this.fd === null) return
    try {
      fs.fsyncSync(this.fd)
      fs.closeSync(this.fd)
      this.fd = null
      fs.renameSync(this.temp, this.file)
      this.temp = null
    } catch (err) {
      throw new CliError(`cannot write ${this.file}: ${systemMessage(err)}`)
    }
  }

  /** Removes the temporary file of an output that did not complete. */
  discard() {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd)
      } catch {}
      this.fd = null
    }
    if (this.temp !== null) {
      try {
        fs.unlinkSync(this.temp)
      } catch {}
      this.temp = null
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Progress

function duration(seconds) {
  if (!Number.isFinite(seconds)) return '--:--'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const pad = (n) => String(n).padStart(2, '0')
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`
}

class Progress {
  constructor(total, { quiet }) {
    this.total = total
    this.done = 0
    this.start = process.hrtime.bigint()
    this.quiet = quiet
    this.tty = Boolean(process.stderr.isTTY)
    this.lastDraw = 0
    this.lastLine = 0
    this.drawn = false
  }

  elapsed() {
    return Number(process.hrtime.bigint() - this.start) / 1e9
  }

  update(done) {
    this.done = done
    if (this.quiet) return
    const t = this.elapsed()
    if (this.tty) {
      if (t - this.lastDraw >= 0.1 || done === this.total) this.#draw(t)
    } else if (t - this.lastLine >= 5) {
      this.lastLine = t
      process.stderr.write(`rag-embed: ${this.#status(t)}\n`)
    }
  }

  #status(t) {
    const rate = this.done / Math.max(t, 1e-9)
    if (this.total === undefined) return `${this.done} docs, ${rate.toFixed(1)} docs/s, ${duration(t)} elapsed`
    const pct = this.total === 0 ? 100 : (100 * this.done) / this.total
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity
    return `${this.done}/${this.total} (${pct.toFixed(0)}%), ${rate.toFixed(1)} docs/s, ETA ${duration(eta)}`
  }

  #draw(t) {
    this.lastDraw = t
    const width = process.stderr.columns || 80
    const rate = this.done / Math.max(t, 1e-9)
    let line
    if (this.total === undefined) {
      line = `${this.done} docs  ${rate.toFixed(1)} docs/s  ${duration(t)}`
    } else {
      const eta = rate > 0 ? (this.total - this.done) / rate : Infinity
      const tail = ` ${this.done}/${this.total}  ${rate.toFixed(1)} docs/s  ETA ${duration(eta)}`
      const barWidth = Math.max(10, Math.min(40, width - tail.length - 3))
      const filled = this.total === 0 ? barWidth : Math.round((barWidth * this.done) / this.total)
      line = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`
    }
    process.stderr.write(`\r${line.slice(0, width - 1)}\x1b[K`)
    this.drawn = true
  }

  /** Clears the bar. */
  end() {
    if (this.drawn) process.stderr.write('\r\x1b[K')
    this.drawn = false
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

/** What a signal handler needs to know about the run. */
const run = { output: null, embedding: 0, interrupted: null, stdoutClosed: false }

function exitOnSignal({ signal, number }) {
  cleanUp()
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
  process.stderr.write(`rag-embed: interrupted (${signal}); no output written\n`)
  process.exit(128 + number)
}

/** A batch has been embedded: the moment to stop, if a signal came while it ran. */
function batchDone() {
  run.embedding--
  if (run.interrupted && run.embedding === 0) exitOnSignal(run.interrupted)
}

function checkInterrupted() {
  if (run.interrupted) throw new CliError(`interrupted (${run.interrupted.signal}); no output written`, 128 + run.interrupted.number)
  if (run.stdoutClosed) throw new CliError('', 141)
}

async function embedCommand(options) {
  const inputFile = options.input ?? '-'
  const fromStdin = inputFile === '-'
  const format =
    oneOf(options, 'format', ['txt', 'jsonl']) ?? (!fromStdin && /\.(jsonl|ndjson)$/i.test(inputFile) ? 'jsonl' : 'txt')
  if (format === 'txt' && (options.field !== undefined || options['id-field'] !== undefined)) {
    throw usage('--field and --id-field apply to --format jsonl')
  }
  const outputFile = options.output === '-' ? undefined : options.output
  const outputFormat =
    oneOf(options, 'output-format', ['jsonl', 'npy']) ?? (outputFile !== undefined && /\.npy$/i.test(outputFile) ? 'npy' : 'jsonl')
  if (outputFormat === 'npy' && outputFile === undefined) throw usage('--output-format npy needs --output <file>')
  const batchSize = positiveInteger(options, 'batch-size') ?? 128
  if (fromStdin && process.stdin.isTTY) throw usage('no input: give --input <file>, or pipe texts into stdin')

  let stream
  let total
  if (fromStdin) {
    stream = process.stdin
  } else {
    let stat
    try {
      stat = fs.statSync(inputFile)
      if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
      fs.accessSync(inputFile, fs.constants.R_OK)
    } catch (err) {
      throw new CliError(`cannot read ${inputFile}: ${systemMessage(err)}`)
    }
    if (stat.isFile()) {
      try {
        total = countRecords(inputFile, format)
      } catch (err) {
        throw new CliError(`cannot read ${inputFile}: ${systemMessage(err)}`)
      }
    }
    stream = fs.createReadStream(inputFile, { highWaterMark: 1 << 16 })
  }

  const embedder = await loadEmbedder(options)
  const info = embedder.modelInfo
  const output = new Output(outputFile, outputFormat)
  run.output = output
  const progress = new Progress(total, { quiet: Boolean(options.quiet) })
  const source = fromStdin ? 'stdin' : inputFile

  try {
    const chunks = recordChunks(linesOf(stream), {
      format,
      field: options.field ?? 'text',
      idField: options['id-field'] ?? '_id',
      idFieldGiven: options['id-field'] !== undefined,
      size: batchSize,
      source,
    })
    // One batch embeds while the next is read and parsed; at most two are held at once.
    let pending = null
    let done = 0
    const finish = async ({ ids, vectors }) => {
      checkInterrupted()
      await output.writeRows(ids, vectors)
      done += vectors.length
      progress.update(done)
    }
    for await (const { ids, texts } of readInput(chunks, source)) {
      checkInterrupted()
      run.embedding++
      const next = embedder.embedBatch(texts, { output: 'float32' }).then(
        (vectors) => {
          batchDone()
          return { ids, vectors }
        },
        (err) => {
          batchDone()
          throw new CliError(`embedding failed: ${err.code ? `${err.code}: ` : ''}${err.message}`)
        },
      )
      next.catch(() => {})
      if (pending) await finish(await pending)
      pending = next
    }
    if (pending) await finish(await pending)
    checkInterrupted()
    await output.commit(info.dimension)
    run.output = null
    progress.end()
    if (!options.quiet) {
      const t = progress.elapsed()
      const where = outputFile === undefined ? 'stdout' : outputFile
      process.stderr.write(
        `rag-embed: embedded ${done} texts in ${t.toFixed(1)} s (${(done / Math.max(t, 1e-9)).toFixed(1)} docs/s), ` +
          `${info.dimension}-d ${info.dtype} ${path.basename(path.resolve(info.modelPath))}, ${outputFormat} → ${where}\n`,
      )
    }
  } catch (err) {
    progress.end()
    output.discard()
    run.output = null
    throw err
  } finally {
    stream.destroy?.()
    embedder.dispose()
  }
}

/** The input's chunks, with read errors (EISDIR, EIO, …) reported as one line naming the input. */
async function* readInput(chunks, source) {
  try {
    yield* chunks
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`cannot read ${source}: ${systemMessage(err)}`)
  }
}

async function infoCommand(options) {
  const embedder = await loadEmbedder(options)
  const info = embedder.modelInfo
  embedder.dispose()
  if (options.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`)
    return
  }
  const prompts = Object.entries(info.prompts)
  const rows = [
    ['model', info.modelPath],
    ['onnx', `${info.onnxPath} (${info.dtype})`],
    ['dimension', String(info.dimension)],
    ['pooling', info.pooling],
    ['max length', `${info.maxLength} tokens`],
    ['normalize', info.normalize ? 'yes (unit vectors)' : 'no'],
    ['inputs', info.inputNames.join(', ')],
    ['output', info.outputName],
    ['prompts', prompts.length ? prompts.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ') : 'none'],
    ['threads', String(info.threads)],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join(''))
}

async function main(argv) {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${require('../package.json').version}\n`)
    return
  }
  if (!FLAGS[command]) throw usage(`unknown command ${JSON.stringify(command)}`)
  const options = parseArgs(command, rest)
  if (options.help) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (command === 'embed') await embedCommand(options)
  else await infoCommand(options)
}

function cleanUp() {
  run.output?.discard()
  run.output = null
}

// A signal while a batch is being embedded stops the run after that batch (exiting under a running
// inference would tear ONNX Runtime down beneath it); otherwise, and on a second signal, at once.
for (const [signal, number] of [
  ['SIGINT', 2],
  ['SIGTERM', 15],
  ['SIGHUP', 1],
]) {
  process.on(signal, () => {
    if (run.embedding > 0 && !run.interrupted) {
      run.interrupted = { signal, number }
      return
    }
    exitOnSignal({ signal, number })
  })
}
process.on('exit', cleanUp)
// A closed pipe (`rag-embed … | head`) ends the run quietly, after the batch being embedded.
process.stdout.on('error', () => {
  run.stdoutClosed = true
})

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0
  },
  (err) => {
    const message = oneLine(err?.message ?? err)
    // after a signal, the batch still running ends the process with that signal's message
    if (message && !run.interrupted) process.stderr.write(`rag-embed: ${message}\n`)
    process.exitCode = err instanceof CliError ? err.status : 1
  },
)

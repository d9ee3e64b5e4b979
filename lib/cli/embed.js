'use strict'
// `rag-embed embed`: records of a file or stdin (or one shard of a file) → vectors, streamed in
// chunks, one chunk embedding while the next is read.

const fs = require('node:fs')
const { CliError, usage, systemMessage, libraryError } = require('./errors.js')
const { linesOf, countRecords, recordChunks } = require('./readers.js')
const { shardRange } = require('./shard.js')
const { Output } = require('./writers.js')
const { Progress } = require('./progress.js')
const { loadModel, modelName, embedding } = require('./model.js')

/** The input as a stream, with its record count when it is a regular file (for progress and shards). */
function openInput(options) {
  if (options.input === '-') {
    if (process.stdin.isTTY) throw usage('no input: give --input <file>, or pipe texts into stdin')
    return { stream: process.stdin, total: undefined, source: 'stdin' }
  }
  const file = options.input
  let stat
  try {
    stat = fs.statSync(file)
    if (stat.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' })
    fs.accessSync(file, fs.constants.R_OK)
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${systemMessage(err)}`)
  }
  let total
  if (stat.isFile()) {
    try {
      total = countRecords(file, options.format)
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${systemMessage(err)}`)
    }
  } else if (options.shard) {
    throw usage(`--shard needs a regular file every shard can read whole; ${file} is not one (save it to a file first)`)
  }
  return { stream: fs.createReadStream(file, { highWaterMark: 1 << 16 }), total, source: file }
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

/**
 * Runs `embed` with the options of args.parseCommandLine. `run` is the state the signal handlers
 * of main.js share: the output to discard, batches running, a signal received, stdout closed.
 */
async function embedCommand(options, run) {
  const { stream, total, source } = openInput(options)
  const range = options.shard ? shardRange(options.shard, total) : { start: 0, end: Infinity }
  let model
  try {
    model = await loadModel(options, { quiet: options.quiet })
  } catch (err) {
    stream.destroy?.()
    throw err
  }
  const info = model.modelInfo
  let output = null
  let progress = null
  try {
    const { embed, cache } = embedding(model, options)
    output = new Output(options.output, options.outputFormat, { stdoutClosed: () => run.stdoutClosed })
    run.output = output
    progress = new Progress(total === undefined ? undefined : range.end - range.start, { quiet: options.quiet })
    const checkInterrupted = () => {
      if (run.interrupted) throw new CliError(`interrupted (${run.interrupted.signal}); no output written`, 128 + run.interrupted.number)
      if (run.stdoutClosed) throw new CliError('', 141)
    }
    const chunks = recordChunks(linesOf(stream), {
      format: options.format,
      field: options.field,
      idField: options.idField,
      idFieldGiven: options.idFieldGiven,
      size: options.batchSize,
      source,
      start: range.start,
      end: range.end,
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
      const next = embed(texts).then(
        (vectors) => {
          run.batchDone()
          return { ids, vectors }
        },
        (err) => {
          run.batchDone()
          throw libraryError(err, 'embedding failed')
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
    if (!options.quiet) process.stderr.write(`rag-embed: ${summary(options, { done, seconds: progress.elapsed(), info, total, range, cache })}\n`)
  } catch (err) {
    progress?.end()
    output?.discard()
    run.output = null
    throw err
  } finally {
    stream.destroy?.()
    model.dispose()
  }
}

/** The line written at the end of a run. */
function summary(options, { done, seconds, info, total, range, cache }) {
  const where = options.output === undefined ? 'stdout' : options.output
  let line =
    `embedded ${done} texts in ${seconds.toFixed(1)} s (${(done / Math.max(seconds, 1e-9)).toFixed(1)} docs/s), ` +
    `${info.dimension}-d ${info.dtype} ${modelName(options, info)}, ${options.outputFormat} → ${where}`
  if (options.shard) {
    const { index, count, from } = options.shard
    const share = range.end > range.start ? `records ${range.start}–${range.end - 1}` : 'no records'
    line += `; shard ${index}/${count}${from ? ` (from ${from})` : ''}: ${share} of ${total}`
  }
  if (options.prompt) {
    const prompt = info.prompts[options.prompt]
    line += prompt === undefined ? `; no ${options.prompt} prompt in the model, texts embedded as given` : `; ${options.prompt} prompt ${JSON.stringify(prompt)}`
  }
  if (cache) {
    const s = cache.stats()
    const from = [s.diskHits && `${s.diskHits} from the file`, s.redisHits && `${s.redisHits} from Redis`].filter(Boolean)
    line += `; cache ${s.hits} hits${from.length ? ` (${from.join(', ')})` : ''}, ${s.misses} misses`
    // the cache works on without a tier in trouble; these say it did
    if (s.diskErrors) line += `, ${s.diskErrors} cache file errors`
    if (s.redisErrors) line += `, ${s.redisErrors} Redis errors`
  }
  return line
}

module.exports = { embedCommand }

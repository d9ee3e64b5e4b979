'use strict'
// The command line of rag-embed: util.parseArgs tokens checked against each command's flags, and
// the values turned into the shapes the commands use. Values the library takes (model, dtype,
// threads, revision, cache folder, cache file) are passed on for the library to accept or
// refuse; only the CLI's own choices (formats, prompt kind, batch size, shard) are checked here.

const { parseArgs } = require('node:util')
const { usage } = require('./errors.js')
const { parseShard } = require('./shard.js')

const USAGE = `Usage:
  rag-embed embed --model <dir>|<hub-id> [options]   embed every record of the input
  rag-embed info --model <dir>|<hub-id> [--json]     the model's dimension, pooling, prompts, …
  rag-embed --help | --version

Model (embed and info):
  --model <dir>|<hub-id>  a sentence-transformers model folder exported to ONNX, or a Hugging Face
                          hub id (owner/name), downloaded once into the hub cache (required)
  --revision <rev>        hub id only: branch, tag or commit (default: main)
  --cache-dir <dir>       hub id only: the hub cache folder (default: HF_HUB_CACHE, else
                          $HF_HOME/hub, else ~/.cache/huggingface/hub)
  --dtype fp32|q8         fp32 (default), or q8: an int8 graph derived from the fp32 one on first
                          use and kept in a cache folder (a folder with only
                          onnx/model_quantized.onnx runs that)
  --threads <n>           ONNX Runtime threads (default: the cores this process may use)

embed input:
  --input <file>|-        input file, or - for stdin (default: -)
  --format txt|jsonl      txt: one text per line (empty lines included); jsonl: one JSON object
                          per line (blank lines skipped). Default: jsonl for .jsonl/.ndjson,
                          else txt
  --field <name>          jsonl: the field holding the text (default: text)
  --id-field <name>       jsonl: the field carried into jsonl output as "id" (default: _id; when
                          the first record has no such field and none was named, ids are row
                          numbers)
  --shard <i>/<n>         embed only shard i of n (0 to n-1): the i-th of n contiguous runs of
                          records, so the outputs of shards 0 … n-1 concatenated in that order are
                          the unsharded output (row-number ids included). Needs --input <file>
  --shard auto/<n>        i from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job), else from
                          SLURM_ARRAY_TASK_ID (a Slurm array submitted as --array=0-<n-1>)

embed output:
  --output <file>         output file (default: stdout, jsonl only); written to a temporary file
                          beside it and renamed when complete
  --output-format jsonl|npy
                          jsonl: {"id": …, "embedding": […]} per line; npy: float32 [n, dim].
                          Default: npy for a .npy output, else jsonl

embedding:
  --prompt query|document
                          embed the texts as search queries or as documents (embedQuery /
                          embedDocuments), with the model's prompt of that name from
                          config_sentence_transformers.json (\`info\` lists them); a model without
                          one embeds the texts as they are. Default: no prompt (embedBatch)
  --batch-size <n>        texts per embedding call (default 128)
  --cache redis://<host>:<port>[/<db>]
                          look vectors up in Redis before embedding and store the new ones there,
                          shared by every machine of a job (keyed by model, settings and text)
  --persist <file>        the same with a SQLite cache file, created if absent
  --quiet                 no progress and no summary on stderr

Progress goes to stderr: a bar when stderr is a terminal, a line every few seconds otherwise.
Exit status: 0 done, 1 failed (bad input, model or write error), 2 bad usage.
Every command and flag, with a sharded bulk job: docs/cli.md in the source repository.`

const MODEL_FLAGS = {
  model: { type: 'string' },
  revision: { type: 'string' },
  'cache-dir': { type: 'string' },
  dtype: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
}

/** The flags of each command, in util.parseArgs's form. */
const COMMANDS = {
  embed: {
    ...MODEL_FLAGS,
    input: { type: 'string' },
    format: { type: 'string' },
    field: { type: 'string' },
    'id-field': { type: 'string' },
    shard: { type: 'string' },
    output: { type: 'string' },
    'output-format': { type: 'string' },
    prompt: { type: 'string' },
    'batch-size': { type: 'string' },
    cache: { type: 'string' },
    persist: { type: 'string' },
    quiet: { type: 'boolean' },
  },
  info: { ...MODEL_FLAGS, json: { type: 'boolean' } },
}

/**
 * The flags given to `command`, by name. util.parseArgs runs without `strict` so that each
 * mistake gets a message of our own naming the flag; its tokens are checked here instead.
 */
function flagsOf(command, args) {
  const spec = COMMANDS[command]
  const { tokens } = parseArgs({ args, options: spec, strict: false, allowPositionals: true, tokens: true })
  const flags = {}
  for (const token of tokens) {
    if (token.kind === 'positional') throw usage(`unexpected argument ${JSON.stringify(token.value)}`)
    if (token.kind === 'option-terminator') continue
    const { name, rawName, value, inlineValue } = token
    const type = Object.hasOwn(spec, name) ? spec[name].type : undefined
    if (type === undefined) throw usage(`unknown option ${rawName} for \`${command}\``)
    if (type === 'boolean') {
      if (inlineValue) throw usage(`${rawName} takes no value`)
      flags[name] = true
      continue
    }
    // parseArgs takes the next argument whatever it is; an option there means a forgotten value
    if (value === undefined || (!inlineValue && value.length > 1 && value.startsWith('-'))) {
      throw usage(`${rawName} needs a value${value === undefined ? '' : ` (got the option ${value}; write ${rawName}=${value} if that is the value)`}`)
    }
    flags[name] = value
  }
  return flags
}

function oneOf(flags, name, allowed) {
  const value = flags[name]
  if (value !== undefined && !allowed.includes(value)) {
    throw usage(`--${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`)
  }
  return value
}

/** A whole number for the library to range-check, or undefined. */
function integer(flags, name) {
  const value = flags[name]
  if (value === undefined) return undefined
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw usage(`--${name} takes a whole number, got ${JSON.stringify(value)}`)
  return Number(value)
}

/** The options of the model, as Embedder takes them (undefined when not given). */
function modelOptions(flags) {
  if (flags.model === undefined) throw usage('--model <dir>|<hub-id> is required')
  return {
    model: flags.model,
    revision: flags.revision,
    cacheDir: flags['cache-dir'],
    dtype: flags.dtype,
    threads: integer(flags, 'threads'),
  }
}

/** `--cache` by its URL scheme: the CachedEmbedder option it sets. */
function cacheOptions(flags) {
  const options = {}
  if (flags.cache !== undefined) {
    if (!/^rediss?:\/\//i.test(flags.cache)) {
      throw usage(`--cache takes a Redis URL (redis://host:port), got ${JSON.stringify(flags.cache)}; for a cache file, use --persist <file>`)
    }
    options.redis = flags.cache
  }
  if (flags.persist !== undefined) options.persist = { path: flags.persist }
  return Object.keys(options).length > 0 ? options : undefined
}

function embedOptions(flags, env) {
  const input = flags.input ?? '-'
  const fromStdin = input === '-'
  const format = oneOf(flags, 'format', ['txt', 'jsonl']) ?? (!fromStdin && /\.(jsonl|ndjson)$/i.test(input) ? 'jsonl' : 'txt')
  if (format === 'txt' && (flags.field !== undefined || flags['id-field'] !== undefined)) {
    throw usage('--field and --id-field apply to --format jsonl')
  }
  const output = flags.output === '-' ? undefined : flags.output
  const outputFormat = oneOf(flags, 'output-format', ['jsonl', 'npy']) ?? (output !== undefined && /\.npy$/i.test(output) ? 'npy' : 'jsonl')
  if (outputFormat === 'npy' && output === undefined) throw usage('--output-format npy needs --output <file>')
  const batchSize = integer(flags, 'batch-size') ?? 128
  if (batchSize < 1) throw usage(`--batch-size must be at least 1, got ${batchSize}`)
  const shard = flags.shard === undefined ? undefined : parseShard(flags.shard, env)
  if (shard && fromStdin) {
    throw usage('--shard needs --input <file>: every shard reads the same file, counting its records to find its share (save stdin to a file first)')
  }
  return {
    ...modelOptions(flags),
    input,
    format,
    field: flags.field ?? 'text',
    idField: flags['id-field'] ?? '_id',
    idFieldGiven: flags['id-field'] !== undefined,
    shard,
    output,
    outputFormat,
    prompt: oneOf(flags, 'prompt', ['query', 'document']),
    batchSize,
    cache: cacheOptions(flags),
    quiet: Boolean(flags.quiet),
  }
}

/**
 * `{ command, options }` for `argv` (without node and the script): command `help` and `version`
 * have no options; `embed` and `info` have theirs in the shapes the commands use. `env` is where
 * `--shard auto/n` reads its index.
 */
function parseCommandLine(argv, env = process.env) {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') return { command: 'help' }
  if (command === '--version' || command === '-v') return { command: 'version' }
  if (!Object.hasOwn(COMMANDS, command)) throw usage(`unknown command ${JSON.stringify(command)}; the commands are embed and info`)
  const flags = flagsOf(command, rest)
  if (flags.help) return { command: 'help' }
  if (command === 'embed') return { command, options: embedOptions(flags, env) }
  return { command, options: { ...modelOptions(flags), json: Boolean(flags.json) } }
}

module.exports = { parseCommandLine, USAGE, COMMANDS }

'use strict'
// rag-embed's command line (lib/cli/args.js): flags to options, and usage errors (status 2) that
// name the flag. Values the library owns pass through unchecked.

const test = require('node:test')
const assert = require('node:assert/strict')
const { parseCommandLine, USAGE } = require('../lib/cli/args.js')

const parse = (...argv) => parseCommandLine(argv, {})

/** A usage error: status 2 and a message matching `pattern`. */
function assertUsage(argv, pattern, env = {}) {
  assert.throws(
    () => parseCommandLine(argv, env),
    (err) => {
      assert.equal(err.status, 2, `${argv.join(' ')}: ${err.message}`)
      assert.match(err.message, pattern)
      assert.match(err.message, /\(see rag-embed --help\)$/)
      return true
    },
  )
}

test('help and version', () => {
  for (const argv of [[], ['--help'], ['-h'], ['help'], ['embed', '--help'], ['info', '-h'], ['embed', '--model', 'm', '--help']]) {
    assert.deepEqual(parseCommandLine(argv, {}), { command: 'help' }, argv.join(' '))
  }
  assert.deepEqual(parse('--version'), { command: 'version' })
  assert.deepEqual(parse('-v'), { command: 'version' })
})

test('embed: defaults', () => {
  const { command, options } = parse('embed', '--model', 'sentence-transformers/all-MiniLM-L6-v2')
  assert.equal(command, 'embed')
  assert.deepEqual(options, {
    model: 'sentence-transformers/all-MiniLM-L6-v2',
    revision: undefined,
    cacheDir: undefined,
    dtype: undefined,
    threads: undefined,
    input: '-',
    format: 'txt',
    field: 'text',
    idField: '_id',
    idFieldGiven: false,
    shard: undefined,
    output: undefined,
    outputFormat: 'jsonl',
    prompt: undefined,
    batchSize: 128,
    cache: undefined,
    quiet: false,
  })
})

test('embed: every flag, as --flag value and --flag=value', () => {
  const { options } = parse(
    'embed',
    '--model=org/model',
    '--revision', 'v1.0',
    '--cache-dir', '/tmp/hub',
    '--dtype', 'q8',
    '--threads', '3',
    '--input', 'corpus.jsonl',
    '--field=body',
    '--id-field', 'key',
    '--shard', '2/5',
    '--output', 'out.npy',
    '--prompt', 'document',
    '--batch-size', '64',
    '--cache', 'redis://127.0.0.1:6379/2',
    '--persist', 'cache.sqlite',
    '--quiet',
  )
  assert.deepEqual(options, {
    model: 'org/model',
    revision: 'v1.0',
    cacheDir: '/tmp/hub',
    dtype: 'q8',
    threads: 3,
    input: 'corpus.jsonl',
    format: 'jsonl',
    field: 'body',
    idField: 'key',
    idFieldGiven: true,
    shard: { index: 2, count: 5 },
    output: 'out.npy',
    outputFormat: 'npy',
    prompt: 'document',
    batchSize: 64,
    cache: { redis: 'redis://127.0.0.1:6379/2', persist: { path: 'cache.sqlite' } },
    quiet: true,
  })
})

test('formats follow the file names unless given; --output - is stdout', () => {
  assert.equal(parse('embed', '--model', 'm', '--input', 'a.NDJSON').options.format, 'jsonl')
  assert.equal(parse('embed', '--model', 'm', '--input', 'a.txt').options.format, 'txt')
  assert.equal(parse('embed', '--model', 'm', '--input', 'a.jsonl', '--format', 'txt').options.format, 'txt')
  assert.equal(parse('embed', '--model', 'm', '--output', 'v.jsonl').options.outputFormat, 'jsonl')
  assert.equal(parse('embed', '--model', 'm', '--output', 'v.bin', '--output-format', 'npy').options.outputFormat, 'npy')
  assert.equal(parse('embed', '--model', 'm', '--output', '-').options.output, undefined)
  assert.equal(parse('embed', '--model', 'm', '--input', '-').options.input, '-')
})

test('values the library owns are passed on as given, in shape only', () => {
  const { options } = parse('embed', '--model', 'm', '--dtype', 'int4', '--threads', '0', '--revision', '')
  assert.equal(options.dtype, 'int4')
  assert.equal(options.threads, 0)
  assert.equal(options.revision, '')
  assert.deepEqual(parse('embed', '--model', 'm', '--persist', '').options.cache, { persist: { path: '' } })
  assert.deepEqual(parse('embed', '--model', 'm', '--cache', 'rediss://user:pw@host:6380').options.cache, { redis: 'rediss://user:pw@host:6380' })
})

test('info takes the model flags and --json', () => {
  assert.deepEqual(parse('info', '--model', 'org/m', '--revision', 'main', '--cache-dir', 'c', '--json'), {
    command: 'info',
    options: { model: 'org/m', revision: 'main', cacheDir: 'c', dtype: undefined, threads: undefined, json: true },
  })
  assertUsage(['info', '--model', 'm', '--input', 'x'], /unknown option --input for `info`/)
})

test('usage errors name the flag and say what to write', () => {
  assertUsage(['frob'], /unknown command "frob"; the commands are embed and info/)
  assertUsage(['embed'], /--model <dir>\|<hub-id> is required/)
  assertUsage(['embed', '--model', 'm', '--bogus'], /unknown option --bogus for `embed`/)
  assertUsage(['embed', '--model', 'm', '-x'], /unknown option -x/)
  assertUsage(['embed', '--model', 'm', 'stray'], /unexpected argument "stray"/)
  assertUsage(['embed', '--model'], /--model needs a value/)
  assertUsage(['embed', '--model', '--quiet'], /--model needs a value \(got the option --quiet; write --model=--quiet/)
  assertUsage(['embed', '--model', 'm', '--quiet=yes'], /--quiet takes no value/)
  assertUsage(['embed', '--model', 'm', '--format', 'csv'], /--format must be one of txt, jsonl, got "csv"/)
  assertUsage(['embed', '--model', 'm', '--output-format', 'npy'], /--output-format npy needs --output <file>/)
  assertUsage(['embed', '--model', 'm', '--field', 'body'], /--field and --id-field apply to --format jsonl/)
  assertUsage(['embed', '--model', 'm', '--threads', 'many'], /--threads takes a whole number, got "many"/)
  assertUsage(['embed', '--model', 'm', '--batch-size', '0'], /--batch-size must be at least 1/)
  assertUsage(['embed', '--model', 'm', '--prompt', 'passage'], /--prompt must be one of query, document, got "passage"/)
  assertUsage(['embed', '--model', 'm', '--cache', '/tmp/cache.sqlite'], /--cache takes a Redis URL .*; for a cache file, use --persist <file>/)
  assertUsage(['embed', '--model', 'm', '--shard', '1/2'], /--shard needs --input <file>/)
  assertUsage(['embed', '--model', 'm', '--input', 'a', '--shard', '2/2'], /shards are numbered 0 to 1/)
})

test('the help lists every flag of every command', () => {
  const { COMMANDS } = require('../lib/cli/args.js')
  for (const [command, flags] of Object.entries(COMMANDS)) {
    for (const name of Object.keys(flags)) assert.ok(USAGE.includes(`--${name}`), `${command} --${name} is in the help`)
  }
  assert.match(USAGE, /--model <dir>\|<hub-id> +a sentence-transformers model folder .* or a Hugging Face\n +hub id/)
  assert.ok(USAGE.split('\n').every((line) => line.length <= 100), 'lines fit a terminal')
})

test('the library\'s ERR_INVALID_OPTION becomes a usage error naming the flag; other errors keep their code', () => {
  const { libraryError } = require('../lib/cli/errors.js')
  const invalid = (message) => libraryError(Object.assign(new Error(message), { code: 'ERR_INVALID_OPTION' }), 'cannot load the model')
  assert.equal(invalid('invalid option `threads`: must be an integer from 1 to 256, got 0').message, 'invalid option --threads: must be an integer from 1 to 256, got 0 (see rag-embed --help)')
  assert.equal(invalid('invalid option `persist.path`: /tmp is a folder').message, 'invalid option --persist: /tmp is a folder (see rag-embed --help)')
  assert.equal(invalid('`redis` must be a URL').message, '--cache must be a URL (see rag-embed --help)')
  assert.equal(invalid('`cacheDir` must be a non-empty string').status, 2)
  const other = libraryError(Object.assign(new Error('no model.onnx'), { code: 'ERR_MODEL_NOT_FOUND' }), 'cannot load the model')
  assert.equal(other.status, 1)
  assert.equal(other.message, 'cannot load the model: ERR_MODEL_NOT_FOUND: no model.onnx')
})

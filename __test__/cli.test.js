'use strict'
// rag-embed run as a real subprocess on 200 MS MARCO passages: .npy and JSONL output against
// embedBatch, txt and stdin input, `info`, and failures that must leave no output behind.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Embedder } = require('..')
const { SHARED, modelPath, maxAbsDiff } = require('./helpers.js')

const BIN = path.join(__dirname, '..', 'bin', 'rag-embed.js')
const MINILM = modelPath('all-MiniLM-L6-v2')
const TINY = modelPath('tiny-bert-cls')
const N = 200

const records = fs
  .readFileSync(path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), 'utf8')
  .split('\n')
  .slice(0, N)
  .map((line) => JSON.parse(line))
const texts = records.map((r) => r.text)

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rag-embed-cli-'))
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

const corpus = path.join(dir, 'corpus.jsonl')
fs.writeFileSync(corpus, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
const lines = path.join(dir, 'passages.txt')
assert.ok(texts.every((t) => !t.includes('\n')))
fs.writeFileSync(lines, texts.join('\n') + '\n')

/** Runs rag-embed; resolves `{ status, signal, stdout: Buffer, stderr: string }`. */
function rag(args, { stdin, shell } = {}) {
  return new Promise((resolve, reject) => {
    const child = shell
      ? spawn('sh', ['-c', `${shell}; exec "$0" "$@"`, process.execPath, BIN, ...args], { cwd: dir })
      : spawn(process.execPath, [BIN, ...args], { cwd: dir })
    const out = []
    const err = []
    child.stdout.on('data', (b) => out.push(b))
    child.stderr.on('data', (b) => err.push(b))
    child.on('error', reject)
    child.on('close', (status, signal) =>
      resolve({ status, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }),
    )
    if (stdin !== undefined) child.stdin.end(stdin)
    else child.stdin.end()
  })
}

/** A .npy file: NPY 1.0 header checked, float32 rows. */
function readNpy(file) {
  const buf = fs.readFileSync(file)
  assert.equal(buf.subarray(0, 6).toString('latin1'), '\x93NUMPY')
  assert.equal(buf[6], 1, 'format version 1.0')
  const headerLength = buf.readUInt16LE(8)
  assert.equal((10 + headerLength) % 64, 0, 'data aligned to 64 bytes')
  const header = buf.subarray(10, 10 + headerLength).toString('latin1')
  assert.match(header, /\n$/)
  const m = /^\{'descr': '<f4', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \} *\n$/.exec(header)
  assert.ok(m, `header ${JSON.stringify(header)}`)
  const [rows, dim] = [Number(m[1]), Number(m[2])]
  const data = buf.subarray(10 + headerLength)
  assert.equal(data.length, rows * dim * 4)
  const flat = new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length))
  return { rows, dim, row: (i) => flat.subarray(i * dim, (i + 1) * dim) }
}

function readJsonl(buf) {
  return buf
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line))
}

let reference
async function referenceVectors() {
  if (!reference) {
    const embedder = await Embedder.create({ model: MINILM })
    reference = await embedder.embedBatch(texts, { output: 'float32' })
    embedder.dispose()
  }
  return reference
}

function assertSameRows(npy, vectors) {
  assert.equal(npy.rows, vectors.length)
  assert.equal(npy.dim, vectors[0].length)
  for (let i = 0; i < vectors.length; i++) {
    assert.ok(maxAbsDiff(npy.row(i), vectors[i]) < 1e-5, `row ${i}: ${maxAbsDiff(npy.row(i), vectors[i])}`)
  }
}

/** The files in `folder`: an output or its temporary file (`.<name>.<pid>-….tmp`) would be listed. */
const listing = (folder) => fs.readdirSync(folder).sort()

test('jsonl input → .npy: float32 [200, 384], the vectors embedBatch gives', async () => {
  const out = path.join(dir, 'corpus.npy')
  const r = await rag(['embed', '--model', MINILM, '--input', corpus, '--output', out, '--batch-size', '64'])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.length, 0)
  // stderr is not a terminal here: no bar, a summary at the end
  assert.ok(!r.stderr.includes('\r'))
  assert.match(r.stderr, /^rag-embed: embedded 200 texts in [\d.]+ s \([\d.]+ docs\/s\), 384-d fp32 all-MiniLM-L6-v2, npy → .*corpus\.npy\n$/m)
  assertSameRows(readNpy(out), await referenceVectors())
})

test('the .npy loads in numpy, when python3 has it', async (t) => {
  const probe = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' })
  if (probe.status !== 0) return t.skip('python3 with numpy is not available')
  const out = path.join(dir, 'numpy.npy')
  const r = await rag(['embed', '--model', MINILM, '--input', corpus, '--output', out, '--quiet'])
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stderr, '')
  const py = spawnSync(
    'python3',
    ['-c', 'import sys, json, numpy as np; a = np.load(sys.argv[1]); print(json.dumps([list(a.shape), str(a.dtype), a[:, :4].tolist()]))', out],
    { encoding: 'utf8' },
  )
  assert.equal(py.status, 0, py.stderr)
  const [shape, dtype, heads] = JSON.parse(py.stdout)
  assert.deepEqual(shape, [N, 384])
  assert.equal(dtype, 'float32')
  const vectors = await referenceVectors()
  heads.forEach((head, i) => assert.ok(maxAbsDiff(head, vectors[i].subarray(0, 4)) < 1e-5, `row ${i}`))
})

test('jsonl input → jsonl output carries the _id of each record, in order', async () => {
  const out = path.join(dir, 'corpus.out.jsonl')
  const r = await rag(['embed', '--model', MINILM, '--input', corpus, '--output', out, '--batch-size', '50'])
  assert.equal(r.status, 0, r.stderr)
  const rows = readJsonl(fs.readFileSync(out))
  assert.deepEqual(
    rows.map((row) => row.id),
    records.map((rec) => rec._id),
  )
  const vectors = await referenceVectors()
  rows.forEach((row, i) => {
    assert.deepEqual(Object.keys(row), ['id', 'embedding'])
    assert.ok(maxAbsDiff(row.embedding, vectors[i]) < 1e-5, `row ${i}`)
  })
})

test('--id-field and --field pick other fields; --format and --output-format override the file names', async () => {
  const withIds = path.join(dir, 'other.data')
  fs.writeFileSync(withIds, texts.slice(0, 5).map((text, i) => JSON.stringify({ key: `doc-${i}`, body: text })).join('\n'))
  const r = await rag(['embed', '--model', TINY, '--input', withIds, '--format', 'jsonl', '--field', 'body', '--id-field', 'key', '--quiet'])
  assert.equal(r.status, 0, r.stderr)
  assert.deepEqual(
    readJsonl(r.stdout).map((row) => row.id),
    ['doc-0', 'doc-1', 'doc-2', 'doc-3', 'doc-4'],
  )
  const npyOut = path.join(dir, 'other.bin')
  const n = await rag(['embed', '--model', TINY, '--input', withIds, '--format', 'jsonl', '--field', 'body', '--output', npyOut, '--output-format', 'npy', '--quiet'])
  assert.equal(n.status, 0, n.stderr)
  assert.equal(readNpy(npyOut).rows, 5)
})

test('txt input (one text per line) gives the same vectors; ids are row numbers', async () => {
  const out = path.join(dir, 'lines.npy')
  const r = await rag(['embed', '--model', MINILM, '--input', lines, '--output', out, '--quiet'])
  assert.equal(r.status, 0, r.stderr)
  assertSameRows(readNpy(out), await referenceVectors())

  const j = await rag(['embed', '--model', TINY, '--input', lines, '--quiet'])
  assert.equal(j.status, 0, j.stderr)
  assert.deepEqual(
    readJsonl(j.stdout).map((row) => row.id),
    texts.map((_, i) => i),
  )
})

test('stdin input (-), CRLF line ends and a missing final newline', async () => {
  const out = path.join(dir, 'stdin.npy')
  const r = await rag(['embed', '--model', MINILM, '--input', '-', '--output', out], { stdin: texts.join('\r\n') })
  assert.equal(r.status, 0, r.stderr)
  assertSameRows(readNpy(out), await referenceVectors())
  assert.match(r.stderr, /embedded 200 texts/)

  const jsonl = await rag(['embed', '--model', TINY, '--format', 'jsonl', '--quiet'], { stdin: records.slice(0, 3).map((rec) => JSON.stringify(rec)).join('\n\n') })
  assert.equal(jsonl.status, 0, jsonl.stderr)
  assert.deepEqual(
    readJsonl(jsonl.stdout).map((row) => row.id),
    records.slice(0, 3).map((rec) => rec._id),
  )
})

test('empty input gives an empty [0, dim] matrix', async () => {
  const out = path.join(dir, 'empty.npy')
  const r = await rag(['embed', '--model', TINY, '--output', out, '--quiet'], { stdin: '' })
  assert.equal(r.status, 0, r.stderr)
  const npy = readNpy(out)
  assert.deepEqual([npy.rows, npy.dim], [0, 32])
})

test('info prints dimension, pooling, max length, normalisation and inputs', async () => {
  const r = await rag(['info', '--model', MINILM])
  assert.equal(r.status, 0, r.stderr)
  const text = r.stdout.toString()
  assert.match(text, /^dimension +384$/m)
  assert.match(text, /^pooling +mean$/m)
  assert.match(text, /^max length +256 tokens$/m)
  assert.match(text, /^normalize +yes/m)
  assert.match(text, /^inputs +input_ids, attention_mask, token_type_ids$/m)

  const tiny = await rag(['info', '--model', TINY, '--json'])
  assert.equal(tiny.status, 0, tiny.stderr)
  const info = JSON.parse(tiny.stdout)
  assert.equal(info.dimension, 32)
  assert.equal(info.pooling, 'cls')
  assert.equal(info.normalize, false)
  assert.equal(info.maxLength, 128)
  assert.deepEqual(info.inputNames, ['input_ids', 'attention_mask'])
  assert.deepEqual(info.prompts, { query: 'query: ', document: 'passage: ' })
})

test('--help and usage errors', async () => {
  const help = await rag(['--help'])
  assert.equal(help.status, 0)
  assert.match(help.stdout.toString(), /rag-embed embed --model <dir>/)
  assert.match(help.stdout.toString(), /--output-format jsonl\|npy/)
  for (const args of [['embed', '--input', corpus], ['embed', '--model', TINY, '--bogus'], ['frob'], ['embed', '--model', TINY, '--input', corpus, '--output-format', 'npy']]) {
    const r = await rag(args)
    assert.equal(r.status, 2, args.join(' '))
    assert.match(r.stderr, /^rag-embed: [^\n]+\n$/)
  }
})

/** A failing run: non-zero, one line on stderr, and nothing new in the output's folder. */
async function assertFails(args, pattern, options = {}) {
  const outDir = fs.mkdtempSync(path.join(dir, 'fail-'))
  const existing = path.join(outDir, 'previous.npy')
  fs.writeFileSync(existing, 'an earlier complete output')
  const before = listing(outDir)
  const r = await rag(
    args.map((a) => a.replace('{out}', outDir)),
    options,
  )
  assert.notEqual(r.status, 0, `exit status of ${args.join(' ')}`)
  assert.match(r.stderr, /^rag-embed: [^\n]+\n$/, `stderr: ${JSON.stringify(r.stderr)}`)
  assert.match(r.stderr, pattern)
  assert.deepEqual(listing(outDir), before, 'no output or temporary file left behind')
  assert.equal(fs.readFileSync(existing, 'utf8'), 'an earlier complete output', 'an earlier output is kept')
  return r
}

test('a missing input file fails with one line and no output', async () => {
  await assertFails(['embed', '--model', TINY, '--input', path.join(dir, 'missing.jsonl'), '--output', '{out}/out.npy'], /cannot read .*missing\.jsonl: no such file or directory/)
})

test('a field the records lack fails with one line naming it and the fields present', async () => {
  await assertFails(['embed', '--model', TINY, '--input', corpus, '--field', 'body', '--output', '{out}/out.npy'], /line 1: no field "body" \(fields: _id, title, text, metadata\)/)
  await assertFails(['embed', '--model', TINY, '--input', corpus, '--id-field', 'key', '--output', '{out}/previous.npy'], /line 1: no id field "key"/)
})

test('a bad JSON line after batches were written fails and removes the partial output', async () => {
  const bad = path.join(dir, 'bad.jsonl')
  const good = records.slice(0, 60).map((rec) => JSON.stringify(rec))
  fs.writeFileSync(bad, [...good.slice(0, 50), '{"_id": "x", "text": "unterminated', ...good.slice(50)].join('\n'))
  const r = await assertFails(['embed', '--model', TINY, '--input', bad, '--batch-size', '8', '--output', '{out}/previous.npy'], /bad\.jsonl line 51: invalid JSON/)
  assert.ok(!r.stderr.includes('embedded'), 'no summary')
  await assertFails(['embed', '--model', TINY, '--input', bad, '--batch-size', '8', '--output', '{out}/out.jsonl'], /line 51: invalid JSON/)
  await assertFails(['embed', '--model', TINY, '--format', 'jsonl', '--output', '{out}/out.jsonl'], /stdin line 2: field "text" is null, not a string/, {
    stdin: '{"text": "a"}\n{"text": null}\n',
  })
})

test('unwritable output fails with one line and leaves nothing', async () => {
  await assertFails(['embed', '--model', TINY, '--input', corpus, '--output', '{out}/no/such/folder/out.npy'], /cannot write .*out\.npy: folder .* does not exist/)
  await assertFails(['embed', '--model', TINY, '--input', corpus, '--output', `{out}/previous.npy/out.npy`], /cannot write .*: a parent is not a directory/)
  // a write that fails half way: the file size limit (ulimit -f, in 1024-byte blocks) is reached
  // after the first batches; node ignores SIGXFSZ, so the write returns EFBIG
  await assertFails(['embed', '--model', MINILM, '--input', corpus, '--batch-size', '16', '--output', '{out}/out.npy'], /cannot write .*out\.npy: file too large/, {
    shell: 'ulimit -f 64',
  })
})

test('a model folder that does not exist fails with the error code, on one line', async () => {
  await assertFails(['embed', '--model', path.join(dir, 'no-model'), '--input', corpus, '--output', '{out}/out.npy'], /cannot load the model: ERR_MODEL_NOT_FOUND/)
})

test('SIGTERM during a run exits 143 and leaves no output', async () => {
  const outDir = fs.mkdtempSync(path.join(dir, 'signal-'))
  const child = spawn(process.execPath, [BIN, 'embed', '--model', MINILM, '--input', '-', '--batch-size', '16', '--output', path.join(outDir, 'out.npy')])
  const err = []
  child.stderr.on('data', (b) => err.push(b))
  // a steady trickle of input keeps batches running until the signal
  child.stdin.write(texts.slice(0, 40).join('\n') + '\n')
  // the temporary output appears once the model has loaded
  const deadline = Date.now() + 60_000
  while (!listing(outDir).some((f) => f.endsWith('.tmp'))) {
    assert.ok(Date.now() < deadline, 'the temporary file exists while running')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  child.kill('SIGTERM')
  const status = await new Promise((resolve) => child.on('close', resolve))
  assert.equal(status, 143)
  assert.match(Buffer.concat(err).toString(), /rag-embed: interrupted \(SIGTERM\); no output written\n$/)
  assert.deepEqual(listing(outDir), [])
})

test('numeric ids are carried through exactly as written, past 2^53 too', async () => {
  const input = path.join(dir, 'big-ids.jsonl')
  const ids = ['12345678901234567891', '12345678901234567892', '1.50', '-0', '7', '"7"', 'null']
  fs.writeFileSync(input, ids.map((id) => `{"text": "a \\"_id\\": 5 text", "_id" : ${id}}`).join('\n') + '\n')
  const r = await rag(['embed', '--model', TINY, '--input', input, '--quiet'])
  assert.equal(r.status, 0, r.stderr)
  const written = r.stdout
    .toString('utf8')
    .trim()
    .split('\n')
    .map((line) => /^\{"id":(.*),"embedding":\[/.exec(line)[1])
  assert.deepEqual(written, ids)
})

test('non-finite vectors fail the run with a non-zero exit and no NaN written', async () => {
  // tiny-bert-dense with every Dense weight NaN
  const broken = path.join(dir, 'nan-model')
  fs.cpSync(modelPath('tiny-bert-dense'), broken, { recursive: true })
  const weights = path.join(broken, '2_Dense', 'model.safetensors')
  const bytes = fs.readFileSync(weights)
  const data = 8 + Number(bytes.readBigUInt64LE(0))
  for (let i = data; i + 4 <= bytes.length; i += 4) bytes.writeFloatLE(Number.NaN, i)
  fs.writeFileSync(weights, bytes)
  const r = await rag(['embed', '--model', broken, '--input', lines, '--quiet'])
  assert.notEqual(r.status, 0)
  assert.doesNotMatch(r.stdout.toString('utf8'), /NaN/)
  assert.match(r.stderr, /non-finite/)
})

'use strict'
// rag-embed's output (lib/cli/writers.js): float32 text, the NPY header, and files that appear
// only when complete.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { PassThrough } = require('node:stream')
const { Output, float32Text, npyHeader, NPY_HEADER_SIZE } = require('../lib/cli/writers.js')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rag-embed-writers-'))
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

test('float32Text: the shortest decimal that reads back as the same float32', () => {
  for (const x of [0.1, -0.333333343, 1e-30, 3.4028234663852886e38, 0, 1, 0.5]) {
    const f = Math.fround(x)
    assert.equal(Math.fround(Number(float32Text(f))), f, String(x))
    assert.ok(float32Text(f).replace(/^-|\.|e.*$/g, '').replace(/^0+/, '').length <= 9)
  }
  assert.equal(float32Text(Math.fround(0.1)), '0.100000001')
  assert.equal(float32Text(0.5), '0.5')
})

test('npyHeader: NPY 1.0, padded to 64 bytes, ends in a newline', () => {
  const h = npyHeader(3, 384)
  assert.equal(h.length % 64, 0)
  assert.equal(h.subarray(0, 8).toString('latin1'), '\x93NUMPY\x01\x00')
  assert.equal(h.readUInt16LE(8), h.length - 10)
  assert.match(h.subarray(10).toString('latin1'), /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3, 384\), \} *\n$/)
  assert.equal(npyHeader(10 ** 12, 4096, NPY_HEADER_SIZE).length, NPY_HEADER_SIZE)
})

const rows = (...vs) => vs.map((v) => Float32Array.from(v))

test('a file output appears only on commit; discard leaves nothing', async () => {
  const file = path.join(dir, 'out.jsonl')
  const out = new Output(file, 'jsonl')
  await out.writeRows(['"a"', '7'], rows([0.5, -1], [0, 2]))
  assert.ok(!fs.existsSync(file))
  assert.equal(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')).length, 1)
  await out.commit(2)
  assert.equal(fs.readFileSync(file, 'utf8'), '{"id":"a","embedding":[0.5,-1]}\n{"id":7,"embedding":[0,2]}\n')
  assert.deepEqual(fs.readdirSync(dir), ['out.jsonl'])

  const again = new Output(file, 'jsonl')
  await again.writeRows(['1'], rows([1]))
  again.discard()
  assert.deepEqual(fs.readdirSync(dir), ['out.jsonl'], 'no temporary file')
  assert.match(fs.readFileSync(file, 'utf8'), /"a"/, 'the earlier output is kept')
})

test('npy: rows after the header; an empty output has shape (0, dim)', async () => {
  const file = path.join(dir, 'out.npy')
  const out = new Output(file, 'npy')
  await out.writeRows(['0', '1'], rows([1, 2, 3], [4, 5, 6]))
  await out.commit(3)
  const buf = fs.readFileSync(file)
  assert.match(buf.subarray(0, NPY_HEADER_SIZE).toString('latin1'), /'shape': \(2, 3\)/)
  assert.deepEqual([...new Float32Array(buf.buffer.slice(buf.byteOffset + NPY_HEADER_SIZE, buf.byteOffset + buf.length))], [1, 2, 3, 4, 5, 6])

  const empty = path.join(dir, 'empty.npy')
  const none = new Output(empty, 'npy')
  await none.commit(32)
  assert.match(fs.readFileSync(empty).toString('latin1'), /'shape': \(0, 32\)/)
})

test('a non-finite value fails before the batch is written, naming row and id', async () => {
  const stdout = new PassThrough()
  const written = []
  stdout.on('data', (b) => written.push(b))
  const out = new Output(undefined, 'jsonl', { stdout })
  await out.writeRows(['"ok"'], rows([1]))
  await assert.rejects(out.writeRows(['"x"', '"y"'], rows([1], [Number.NaN])), (err) => err.status === 1 && /row 3 \(id "y"\) has a non-finite value \(NaN\) at dimension 0/.test(err.message))
  assert.equal(Buffer.concat(written).toString(), '{"id":"ok","embedding":[1]}\n')
})

test('stdout whose reader went away ends the run with status 141 and no message', async () => {
  const out = new Output(undefined, 'jsonl', { stdout: new PassThrough(), stdoutClosed: () => true })
  await assert.rejects(out.writeRows(['0'], rows([1])), (err) => err.status === 141 && err.message === '')
})

test('an output in a missing folder fails at once, saying so', () => {
  assert.throws(() => new Output(path.join(dir, 'no', 'such', 'out.npy'), 'npy'), /cannot write .*out\.npy: folder .*such does not exist/)
})

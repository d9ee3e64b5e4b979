'use strict'
// rag-embed's input (lib/cli/readers.js): lines of a stream, the record count of a file, and
// records parsed into chunks, whole or one range (a shard) at a time.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Readable } = require('node:stream')
const { linesOf, countRecords, numberSource, recordChunks } = require('../lib/cli/readers.js')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rag-embed-readers-'))
test.after(() => fs.rmSync(dir, { recursive: true, force: true }))

/** A stream that delivers `text` in pieces of `size` bytes (multi-byte characters split too). */
const streamOf = (text, size = 3) => {
  const bytes = Buffer.from(text, 'utf8')
  const parts = []
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size))
  return Readable.from(parts)
}

async function collect(iterable) {
  const out = []
  for await (const x of iterable) out.push(x)
  return out
}

const lines = (text, size) => collect(linesOf(streamOf(text, size)))

test('lines: \\n and \\r\\n ends, a last line without one, a BOM, split UTF-8', async () => {
  assert.deepEqual(await lines('a\nb\r\nc'), ['a', 'b', 'c'])
  assert.deepEqual(await lines('a\n\nb\n'), ['a', '', 'b'])
  assert.deepEqual(await lines('\n'), [''])
  assert.deepEqual(await lines(''), [])
  assert.deepEqual(await lines('\ufeffé\r\n日本\n', 1), ['é', '日本'])
  assert.deepEqual(await lines('x\r'), ['x'])
})

test('countRecords counts the records the reader yields (txt: lines; jsonl: non-blank lines)', async () => {
  const cases = ['', '\n', 'a', 'a\n', 'a\nb', '\n\n\n', '\ufeffa\nb\n', '\ufeff', '\ufeff\n', 'a\r\n \t\r\n\nb\r\n', '{"text":"x"}\n\n  \n{"text":"y"}']
  for (const text of cases) {
    const file = path.join(dir, 'count')
    fs.writeFileSync(file, text)
    const all = await lines(text)
    assert.equal(countRecords(file, 'txt'), all.length, `txt ${JSON.stringify(text)}`)
    assert.equal(countRecords(file, 'jsonl'), all.filter((l) => !/^[ \t\r]*$/.test(l)).length, `jsonl ${JSON.stringify(text)}`)
  }
  // past one read buffer (1 MiB)
  const big = path.join(dir, 'big')
  fs.writeFileSync(big, 'x'.repeat(700_000) + '\n' + 'y'.repeat(700_000) + '\n\n' + 'z')
  assert.equal(countRecords(big, 'txt'), 4)
  assert.equal(countRecords(big, 'jsonl'), 3)
})

test('numberSource: the number as written, the last of duplicate keys', () => {
  assert.equal(numberSource('{"_id": 12345678901234567891, "text": "a"}', '_id'), '12345678901234567891')
  assert.equal(numberSource('{"text": "\\"_id\\": 5", "_id" : -0}', '_id'), '-0')
  assert.equal(numberSource('{"_id": 1, "n": {"_id": 2}, "_id": 1.50}', '_id'), '1.50')
  assert.equal(numberSource('{"a": [1, {"b": "}"}], "_id": 7e3}', '_id'), '7e3')
})

const chunks = (text, options) =>
  collect(recordChunks(linesOf(streamOf(text)), { format: 'jsonl', field: 'text', idField: '_id', idFieldGiven: false, size: 2, source: 'in', ...options }))

test('records: txt ids are line numbers; jsonl ids from _id as JSON text, else row numbers', async () => {
  assert.deepEqual(await chunks('a\n\nc\n', { format: 'txt' }), [
    { ids: ['0', '1'], texts: ['a', ''] },
    { ids: ['2'], texts: ['c'] },
  ])
  assert.deepEqual(await chunks('{"_id":"d1","text":"a"}\n\n{"_id":2,"text":"b"}\n{"_id":null,"text":"c"}'), [
    { ids: ['"d1"', '2'], texts: ['a', 'b'] },
    { ids: ['null'], texts: ['c'] },
  ])
  assert.deepEqual(await chunks('{"text":"a"}\n{"text":"b","_id":9}'), [{ ids: ['0', '1'], texts: ['a', 'b'] }])
})

test('records: errors name the source line and the fix', async () => {
  const fails = (text, pattern, options) => assert.rejects(chunks(text, options), (err) => err.status === 1 && pattern.test(err.message))
  await fails('{"text":"a"}\n\n{"text":', /^in line 3: invalid JSON/)
  await fails('[1]', /^in line 1: expected a JSON object, got an array/)
  await fails('{"body":"a"}', /^in line 1: no field "text" \(fields: body\); choose one with --field/)
  await fails('{"text":1}', /^in line 1: field "text" is number, not a string/)
  await fails('{"_id":1,"text":"a"}\n{"text":"b"}', /^in line 2: no id field "_id" \(fields: text\); choose one with --id-field/)
  await fails('{"text":"a"}', /no id field "key"/, { idField: 'key', idFieldGiven: true })
})

test('a range yields exactly those records, with the ids of an unsharded read', async () => {
  const texts = ['{"text":"r0"}', '', '{"text":"r1"}', '{"text":"r2"}', '  ', '{"text":"r3"}', '{"text":"r4"}']
  const jsonl = texts.join('\n')
  const txt = 'l0\nl1\n\nl3\nl4'
  for (const [text, format, total] of [
    [jsonl, 'jsonl', 5],
    [txt, 'txt', 5],
  ]) {
    const whole = (await chunks(text, { format })).flatMap((c) => c.ids.map((id, i) => [id, c.texts[i]]))
    assert.equal(whole.length, total)
    for (let start = 0; start <= total; start++) {
      for (let end = start; end <= total + 1; end++) {
        const part = (await chunks(text, { format, start, end })).flatMap((c) => c.ids.map((id, i) => [id, c.texts[i]]))
        assert.deepEqual(part, whole.slice(start, end), `${format} [${start}, ${end})`)
      }
    }
  }
})

test('a range decides ids by record 0 and does not parse other records outside it', async () => {
  // record 0 has _id, so every shard takes ids from _id
  const text = '{"_id":"a","text":"0"}\n{"_id":"b","text":"1"}\n{"_id":"c","text":"2"}'
  assert.deepEqual(await chunks(text, { start: 2 }), [{ ids: ['"c"'], texts: ['2'] }])
  // record 0 has none: row numbers, though record 2 has an _id
  assert.deepEqual(await chunks('{"text":"0"}\n{"text":"1"}\n{"_id":"c","text":"2"}', { start: 2 }), [{ ids: ['2'], texts: ['2'] }])
  // bad lines outside the range belong to other shards
  assert.deepEqual(await chunks('{"text":"0"}\nnot json\n{"text":"2"}\n{"text":', { start: 2, end: 3 }), [{ ids: ['2'], texts: ['2'] }])
})

test('reading stops at the end of the range', async () => {
  let pulled = 0
  async function* endless() {
    for (;;) {
      pulled++
      yield `line ${pulled}`
    }
  }
  const got = await collect(recordChunks(endless(), { format: 'txt', size: 10, source: 'in', start: 3, end: 5 }))
  assert.deepEqual(got, [{ ids: ['3', '4'], texts: ['line 4', 'line 5'] }])
  assert.equal(pulled, 5)
})

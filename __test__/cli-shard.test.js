'use strict'
// --shard (lib/cli/shard.js): i/n and auto/n, and the ranges, which must be disjoint, cover the
// input and come in order.

const test = require('node:test')
const assert = require('node:assert/strict')
const { parseShard, shardRange } = require('../lib/cli/shard.js')

test('i/n: shard i of n, counting from 0', () => {
  assert.deepEqual(parseShard('0/1', {}), { index: 0, count: 1 })
  assert.deepEqual(parseShard('3/4', {}), { index: 3, count: 4 })
  for (const bad of ['', '1', '1/', '/4', 'a/4', '1/b', '-1/4', '1/4/5', '1.0/4', ' 1/4', 'auto/auto']) {
    assert.throws(() => parseShard(bad, {}), (err) => err.status === 2 && /--shard takes i\/n/.test(err.message), bad)
  }
  assert.throws(() => parseShard('4/4', {}), /numbered 0 to 3/)
  assert.throws(() => parseShard('0/0', {}), /shard count must be at least 1/)
})

test('auto/n reads JOB_COMPLETION_INDEX, else SLURM_ARRAY_TASK_ID, else fails', () => {
  assert.deepEqual(parseShard('auto/4', { JOB_COMPLETION_INDEX: '2' }), { index: 2, count: 4, from: 'JOB_COMPLETION_INDEX' })
  assert.deepEqual(parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '3' }), { index: 3, count: 4, from: 'SLURM_ARRAY_TASK_ID' })
  assert.deepEqual(parseShard('auto/4', { JOB_COMPLETION_INDEX: '1', SLURM_ARRAY_TASK_ID: '3' }), { index: 1, count: 4, from: 'JOB_COMPLETION_INDEX' })
  // an empty variable is an unset one
  assert.deepEqual(parseShard('auto/4', { JOB_COMPLETION_INDEX: '', SLURM_ARRAY_TASK_ID: '0' }), { index: 0, count: 4, from: 'SLURM_ARRAY_TASK_ID' })
  assert.throws(
    () => parseShard('auto/4', {}),
    (err) => err.status === 2 && /neither JOB_COMPLETION_INDEX nor SLURM_ARRAY_TASK_ID is set.*--shard i\/4/.test(err.message),
  )
  assert.throws(() => parseShard('auto/4', { JOB_COMPLETION_INDEX: '4' }), /JOB_COMPLETION_INDEX is "4", not a shard index from 0 to 3; give the Job completions: 4/)
  assert.throws(() => parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '4' }), /SLURM_ARRAY_TASK_ID is "4", .*--array=0-3/)
  assert.throws(() => parseShard('auto/4', { SLURM_ARRAY_TASK_ID: 'x' }), /SLURM_ARRAY_TASK_ID is "x"/)
})

test('ranges are contiguous, disjoint, in order and cover every record, for n above the record count too', () => {
  for (const total of [0, 1, 2, 7, 10, 200, 1001]) {
    for (const count of [1, 2, 3, 4, 7, 16, 250]) {
      let next = 0
      for (let index = 0; index < count; index++) {
        const { start, end } = shardRange({ index, count }, total)
        assert.equal(start, next, `${index}/${count} of ${total} starts where the previous ended`)
        assert.ok(end >= start)
        // balanced: sizes differ by at most one
        assert.ok(end - start === Math.floor(total / count) || end - start === Math.ceil(total / count))
        next = end
      }
      assert.equal(next, total, `${count} shards of ${total} cover them`)
    }
  }
  // exact past 2^53 / n
  assert.deepEqual(shardRange({ index: 1, count: 3 }, 2 ** 53), { start: 3002399751580330, end: 6004799503160661 })
})

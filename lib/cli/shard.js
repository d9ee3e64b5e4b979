'use strict'
// --shard i/n: which records of the input one job of n embeds. Shard i takes the contiguous
// records [floor(i·N/n), floor((i+1)·N/n)) of the N records, so the shards are disjoint, cover
// the input, and their outputs concatenated in shard order are the unsharded output.

const { usage } = require('./errors.js')

/** Where `--shard auto/n` finds its index, first set first. */
const INDEX_VARIABLES = [
  // Kubernetes Indexed Jobs: 0 … completions-1
  { name: 'JOB_COMPLETION_INDEX', fix: (n) => `give the Job completions: ${n} and completionMode: Indexed` },
  // Slurm job arrays: the task id as submitted, so the array must be 0-based
  { name: 'SLURM_ARRAY_TASK_ID', fix: (n) => `submit the array as --array=0-${n - 1}` },
]

const WHOLE = /^\d+$/

/**
 * `{ index, count }` from `i/n` or `auto/n` (index from JOB_COMPLETION_INDEX, else
 * SLURM_ARRAY_TASK_ID, in `env`), or a usage error saying what to write instead.
 */
function parseShard(text, env = process.env) {
  const m = /^([^/]*)\/([^/]*)$/.exec(text)
  if (!m || !(WHOLE.test(m[1]) || m[1] === 'auto') || !WHOLE.test(m[2])) {
    throw usage(`--shard takes i/n (shard i of n, counting from 0) or auto/n, got ${JSON.stringify(text)}`)
  }
  const count = Number(m[2])
  if (!Number.isSafeInteger(count) || count < 1) throw usage(`--shard ${text}: the shard count must be at least 1`)
  if (m[1] !== 'auto') {
    const index = Number(m[1])
    if (!(index < count)) throw usage(`--shard ${text}: shards are numbered 0 to ${count - 1}`)
    return { index, count }
  }
  const variable = INDEX_VARIABLES.find(({ name }) => env[name] !== undefined && env[name] !== '')
  if (!variable) {
    throw usage(`--shard ${text}: neither ${INDEX_VARIABLES.map(({ name }) => name).join(' nor ')} is set; run it as a Kubernetes Indexed Job or a Slurm array task, or give the index (--shard i/${count})`)
  }
  const value = env[variable.name]
  const index = Number(value)
  if (!WHOLE.test(value) || !(index < count)) {
    throw usage(`--shard ${text}: ${variable.name} is ${JSON.stringify(value)}, not a shard index from 0 to ${count - 1}; ${variable.fix(count)}, or change n`)
  }
  return { index, count, from: variable.name }
}

/** The records `[start, end)` of shard `index` of `count` when the input has `total` records. */
function shardRange({ index, count }, total) {
  const at = (i) => Number((BigInt(i) * BigInt(total)) / BigInt(count))
  return { start: at(index), end: at(index + 1) }
}

module.exports = { parseShard, shardRange, INDEX_VARIABLES }

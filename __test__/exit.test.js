'use strict'
// process.exit() while a model loads or embeds: exit() runs libonnxruntime's C++ static
// destructors, which crashed (SIGSEGV, heap corruption) in about 1 of 40 exits made while a model
// was loading, when a model thread was still inside ONNX Runtime. Probabilistic: children exit at
// delays spread over a load (measured first) and over inference, two at a time.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const CHILD = path.join(__dirname, 'children', 'exit-during-work.js')
const RUNS = 100
const BUDGET_MS = 120_000

function child(phase, delay) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CHILD, phase, String(delay)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (b) => (stdout += b))
    p.stderr.on('data', (b) => (stderr += b))
    p.on('error', reject)
    p.on('close', (status, signal) => resolve({ phase, delay, status, signal, stdout, stderr }))
  })
}

test('process.exit() during Embedder.create or embedBatch exits with its code, never a crash', { timeout: BUDGET_MS + 60_000 }, async () => {
  const timed = await child('time', 0)
  assert.equal(timed.status, 0, timed.stderr)
  const loadMs = JSON.parse(timed.stdout).loadMs
  // three exits in four during a load (where the crashes were), spread evenly over it and a
  // little past it; the others during inference
  const runs = Array.from({ length: RUNS }, (_, i) =>
    i % 4 === 3 ? ['embed', Math.round(((i * 37) % 100) * 3)] : ['load', Math.round(((i * 61) % 100) / 100 * loadMs * 1.3)],
  )
  const deadline = Date.now() + BUDGET_MS
  const results = []
  const lane = async () => {
    while (runs.length > 0 && Date.now() < deadline) results.push(await child(...runs.shift()))
  }
  await Promise.all([lane(), lane()])
  const failed = results.filter((r) => r.signal !== null || r.status !== 0)
  assert.deepEqual(
    failed.map(({ phase, delay, status, signal, stderr }) => ({ phase, delay, status, signal, stderr: stderr.slice(0, 300) })),
    [],
    `${failed.length} of ${results.length} children crashed (load takes ${Math.round(loadMs)} ms)`,
  )
  assert.ok(results.length >= RUNS / 4, `only ${results.length} children ran within ${BUDGET_MS} ms`)
})

'use strict'
// The addon under worker_threads: four workers embedding at once, and workers that leave (exit,
// terminate) while a batch runs. Each scenario runs in a child process (children/workers.js) so a
// crash shows up as its signal and stderr.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')

const CHILD = path.join(__dirname, 'children', 'workers.js')

function scenario(name) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, name])
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (b) => (stdout += b))
    child.stderr.on('data', (b) => (stderr += b))
    child.on('error', reject)
    child.on('close', (status, signal) => {
      const what = `scenario ${name}: status ${status}, signal ${signal}, stderr:\n${stderr}`
      assert.equal(signal, null, what)
      assert.equal(status, 0, what)
      resolve(JSON.parse(stdout.trim().split('\n').pop()))
    })
  })
}

test('4 workers load the addon and embed at once; vectors equal the main thread\'s', async () => {
  const r = await scenario('parallel')
  assert.equal(r.ok, true)
  assert.equal(r.workers, 4)
  assert.ok(r.maxAbsDiff < 1e-6)
})

test('a worker calling process.exit() during a batch does not take the process down', async () => {
  const r = await scenario('exit')
  assert.equal(r.ok, true)
  assert.equal(r.exitCode, 3)
  assert.equal(r.finishedBeforeLeaving, false, 'the worker left while its batch was running')
})

test('worker.terminate() during a batch does not take the process down', async () => {
  const r = await scenario('terminate')
  assert.equal(r.ok, true)
  assert.equal(r.finishedBeforeLeaving, false)
})

test('worker.terminate() while native wrappers wait on a JavaScript base in the worker', async () => {
  const r = await scenario('js-base')
  assert.equal(r.ok, true)
  assert.equal(r.finishedBeforeLeaving, false)
})

'use strict'
// Shared models and fixtures live beside the repository (`../shared`) unless RAG_NATIVE_SHARED says otherwise.

const path = require('node:path')
const fs = require('node:fs')
const os = require('node:os')

const SHARED = process.env.RAG_NATIVE_SHARED ?? path.resolve(__dirname, '..', '..', 'shared')

const modelPath = (name) => path.join(SHARED, 'models', name)
const fixture = (name) => JSON.parse(fs.readFileSync(path.join(SHARED, 'fixtures', name), 'utf8'))

function cosine(a, b) {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]
    na += a[i] * a[i]
    nb += b[i] * b[i]
  }
  return dot / Math.sqrt(na * nb)
}

function maxAbsDiff(a, b) {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

/**
 * A fresh RAG_NATIVE_CACHE (where derived and built graphs are kept) from now on, restored and
 * removed after `scope` (the test module, or one test's context).
 */
function useCacheFolder(scope, prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  const previous = process.env.RAG_NATIVE_CACHE
  process.env.RAG_NATIVE_CACHE = dir
  scope.after(() => {
    if (previous === undefined) delete process.env.RAG_NATIVE_CACHE
    else process.env.RAG_NATIVE_CACHE = previous
    fs.rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

module.exports = { SHARED, modelPath, fixture, cosine, maxAbsDiff, useCacheFolder }

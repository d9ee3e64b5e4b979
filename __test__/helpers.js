'use strict'
// Shared models and fixtures live beside the repository (`../shared`) unless RAG_NATIVE_SHARED says otherwise.

const path = require('node:path')
const fs = require('node:fs')

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

module.exports = { SHARED, modelPath, fixture, cosine, maxAbsDiff }

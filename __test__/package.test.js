'use strict'
// The per-platform packages under npm/ must not drift from the root package.

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const root = require('../package.json')

test('npm/* packages match the root name, version and targets', () => {
  const dirs = fs.readdirSync(path.join(__dirname, '..', 'npm'))
  assert.ok(dirs.includes('linux-x64-gnu'))
  for (const dir of dirs) {
    const pkg = require(path.join('..', 'npm', dir, 'package.json'))
    assert.equal(pkg.name, `${root.name}-${dir}`)
    assert.equal(pkg.version, root.version, `npm/${dir} version`)
    assert.equal(pkg.main, `${root.napi.binaryName}.${dir}.node`)
  }
})

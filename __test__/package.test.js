'use strict'
// Packaging: the platform table owns the platform packages, the root's optional dependencies and
// napi targets; the loader's choices and its errors; ESM and CommonJS exports.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const pkg = require('../package.json')
const { PACKAGE_PREFIX, PLATFORMS, elfInterpreter } = require('../lib/platform.js')
const { platformPackage, readme } = require('../scripts/platforms.js')

test('npm/* packages, optionalDependencies and napi.targets are what lib/platform.js says', () => {
  const dirs = fs.readdirSync(path.join(root, 'npm'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)
  assert.deepEqual(dirs.sort(), Object.keys(PLATFORMS).sort())
  for (const platform of dirs) {
    const written = fs.readFileSync(path.join(root, 'npm', platform, 'package.json'), 'utf8')
    assert.equal(written, `${JSON.stringify(platformPackage(platform), null, 2)}\n`, `npm/${platform}/package.json: run node scripts/platforms.js`)
    assert.equal(fs.readFileSync(path.join(root, 'npm', platform, 'README.md'), 'utf8'), readme(platform))
    const manifest = JSON.parse(written)
    assert.equal(manifest.version, pkg.version)
    assert.equal(manifest.main, `${pkg.napi.binaryName}.${platform}.node`)
    assert.deepEqual(manifest.os, [PLATFORMS[platform].os])
    assert.deepEqual(manifest.cpu, [PLATFORMS[platform].cpu])
  }
  assert.deepEqual(pkg.optionalDependencies, Object.fromEntries(dirs.map((d) => [`${PACKAGE_PREFIX}${d}`, pkg.version])))
  assert.deepEqual([...pkg.napi.targets].sort(), Object.values(PLATFORMS).map((p) => p.target).sort())
  assert.equal(pkg.dependencies, undefined, 'the root package has no run-time dependency')
})

test('libc comes from the ELF interpreter of the node binary, not process.report', () => {
  assert.match(elfInterpreter(process.execPath), /^\/lib.*\/ld-(linux|musl)-.*\.so\.\d$/)
  // a minimal 64-bit little-endian ELF naming musl's loader, as Alpine's node binary does
  const interp = Buffer.from('/lib/ld-musl-x86_64.so.1\0')
  const head = Buffer.alloc(64 + 56)
  head.writeUInt32BE(0x7f454c46, 0)
  head[4] = 2
  head[5] = 1
  head.writeBigUInt64LE(64n, 0x20) // e_phoff
  head.writeUInt16LE(56, 0x36) // e_phentsize
  head.writeUInt16LE(1, 0x38) // e_phnum
  head.writeUInt32LE(3, 64) // PT_INTERP
  head.writeBigUInt64LE(BigInt(head.length), 64 + 0x08)
  head.writeBigUInt64LE(BigInt(interp.length), 64 + 0x20)
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'elf-')), 'node')
  fs.writeFileSync(file, Buffer.concat([head, interp]))
  assert.equal(elfInterpreter(file), '/lib/ld-musl-x86_64.so.1')
  fs.writeFileSync(file, 'not an ELF file')
  assert.equal(elfInterpreter(file), undefined)
  assert.equal(elfInterpreter('/nonexistent'), undefined)

  const source = fs.readFileSync(path.join(root, 'lib', 'platform.js'), 'utf8') + fs.readFileSync(path.join(root, 'binding.js'), 'utf8')
  assert.doesNotMatch(source, /process\.report\.getReport/)
})

/** Requires the package (at `from`) in a child whose `process.arch` (or environment) is changed first. */
function loadAs({ arch, env = {}, from = root }) {
  const preload = arch ? `Object.defineProperty(process, 'arch', { value: ${JSON.stringify(arch)} });` : ''
  const script = `${preload}
    try { require(${JSON.stringify(from)}); console.log('loaded') }
    catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, isError: e instanceof Error })) }`
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 })
  const line = result.stdout.trim()
  return line === 'loaded' ? 'loaded' : JSON.parse(line)
}

test('a platform without a package: ERR_RUNTIME naming it, listing the supported ones and how to build', () => {
  const err = loadAs({ arch: 'riscv64' })
  assert.equal(err.code, 'ERR_RUNTIME')
  assert.ok(err.isError)
  assert.match(err.message, /no prebuilt addon for linux-riscv64-gnu/)
  for (const platform of Object.keys(PLATFORMS)) assert.ok(err.message.includes(platform), platform)
  assert.match(err.message, /build from source/)
  assert.match(err.message, /NAPI_RS_NATIVE_LIBRARY_PATH/)
})

test('NAPI_RS_NATIVE_LIBRARY_PATH comes first, and a bad one is an error rather than a silent fallback', () => {
  const local = path.join(root, `${pkg.napi.binaryName}.${require('../binding.js').platform}.node`)
  const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'addon-')), 'copy.node')
  fs.copyFileSync(local, copy)
  assert.equal(loadAs({ arch: 'riscv64', env: { NAPI_RS_NATIVE_LIBRARY_PATH: copy } }), 'loaded')
  const err = loadAs({ env: { NAPI_RS_NATIVE_LIBRARY_PATH: path.join(os.tmpdir(), 'missing.node') } })
  assert.equal(err.code, 'ERR_RUNTIME')
  assert.match(err.message, /NAPI_RS_NATIVE_LIBRARY_PATH \(.*missing\.node\)/)
})

test('an addon built for another package version is ERR_RUNTIME naming both versions, not a missing function', (t) => {
  const addon = path.join(root, `${pkg.napi.binaryName}.${require('../binding.js').platform}.node`)
  const native = require(addon)
  assert.equal(native.packageVersion(), pkg.version, 'the addon reports the version build.rs read from package.json')
  // the root package of another release, beside this build's addon
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedder-version-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  const other = '9.8.7-other'
  for (const file of ['index.js', 'binding.js']) fs.copyFileSync(path.join(root, file), path.join(dir, file))
  fs.cpSync(path.join(root, 'lib'), path.join(dir, 'lib'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ ...pkg, version: other }))
  const copy = path.join(dir, 'copy.node')
  fs.copyFileSync(addon, copy)
  const expectMismatch = (err) => {
    assert.equal(err.code, 'ERR_RUNTIME', err.message)
    assert.ok(err.isError)
    assert.ok(err.message.includes(other) && err.message.includes(pkg.version), err.message)
    assert.match(err.message, /reinstall so that both packages match/i)
  }
  expectMismatch(loadAs({ from: dir, env: { NAPI_RS_NATIVE_LIBRARY_PATH: copy } }))
  // a local build in the package folder is checked too
  fs.copyFileSync(addon, path.join(dir, path.basename(addon)))
  expectMismatch(loadAs({ from: dir, env: { NAPI_RS_NATIVE_LIBRARY_PATH: '' } }))
  // the same addon beside its own version loads
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg))
  assert.equal(loadAs({ from: dir, env: { NAPI_RS_NATIVE_LIBRARY_PATH: copy } }), 'loaded')
})

test('every CommonJS export is importable by name from ESM, and the default export is the module', async () => {
  const cjs = require('..')
  const esm = await import(path.join(root, 'index.mjs'))
  assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), Object.keys(cjs).sort())
  for (const name of Object.keys(cjs)) assert.equal(esm[name], cjs[name], name)
  assert.equal(esm.default, cjs)
  // Node's own CommonJS named-export detection finds them too (the ESM wrapper aside)
  const viaLexer = await import(path.join(root, 'index.js'))
  assert.deepEqual(Object.keys(viaLexer).filter((k) => k !== 'default').sort(), Object.keys(cjs).sort())
})

test('the README stays a front door: under 15,000 characters, the depth in docs/', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8')
  assert.ok(readme.length < 15000, `README.md has ${readme.length} characters`)
})

test('loading the package loads neither node:crypto nor node:worker_threads (2.3 and 1.8 MB of memory)', () => {
  // a script file, not -e: `node -e` loads crypto itself
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rag-native-load-'))
  try {
    const script = path.join(dir, 'load.js')
    fs.writeFileSync(
      script,
      `require(${JSON.stringify(root)}); console.log(JSON.stringify(process.moduleLoadList.filter((m) => /^NativeModule (crypto|worker_threads)$/.test(m))))`,
    )
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8' })
    assert.equal(run.status, 0, run.stderr)
    assert.deepEqual(JSON.parse(run.stdout), [])
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

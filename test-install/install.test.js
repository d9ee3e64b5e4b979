'use strict'
// Installs the tarballs `npm run package` wrote into a new project, the way users install the
// package: offline, with an empty npm cache, on a PATH holding only `node` and `npm` (no cargo,
// rustc or cc). Then uses every export from CommonJS and ESM, type-checks TypeScript against the
// installed types, and lints the tarball with publint and @arethetypeswrong/cli.

const test = require('node:test')
const assert = require('node:assert/strict')
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const dist = path.join(root, 'dist')
const SHARED = process.env.RAG_NATIVE_SHARED ?? path.resolve(root, '..', 'shared')
const pkg = require('../package.json')
const { PLATFORMS } = require('../lib/platform.js')

const MAX_INSTALLED_MB = 70

function packed() {
  const manifest = path.join(dist, 'tarballs.json')
  if (!fs.existsSync(manifest)) throw new Error('dist/tarballs.json is missing: run `npm run package` first')
  const { platform, tarballs } = JSON.parse(fs.readFileSync(manifest, 'utf8'))
  return { platform, tarballs: tarballs.map((t) => path.join(dist, t)) }
}

/** A folder whose only programs are node and npm. */
function minimalPath(tmp) {
  const bin = path.join(tmp, 'bin')
  fs.mkdirSync(bin)
  fs.symlinkSync(process.execPath, path.join(bin, 'node'))
  const npmCli = process.env.npm_execpath ?? fs.realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim())
  fs.writeFileSync(path.join(bin, 'npm'), `#!${process.execPath}\nrequire(${JSON.stringify(npmCli)})\n`, { mode: 0o755 })
  return bin
}

function duBytes(dir) {
  let total = 0
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) total += duBytes(full)
    else if (entry.isFile()) total += fs.statSync(full).size
  }
  return total
}

const { platform, tarballs } = packed()
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rag-native-install-'))
const project = path.join(tmp, 'project')
const bin = minimalPath(tmp)
const env = { PATH: bin, HOME: tmp, npm_config_cache: path.join(tmp, 'npm-cache'), npm_config_update_notifier: 'false' }
const installed = path.join(project, 'node_modules', ...pkg.name.split('/'))

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }))

test('installs offline from the tarballs with an empty cache, no toolchain and no install script', () => {
  for (const tool of ['cargo', 'rustc', 'cc', 'gcc', 'make', 'python3']) {
    assert.notEqual(spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { env }).status, 0, `${tool} is on the test PATH`)
  }
  fs.cpSync(path.join(__dirname, 'project'), project, { recursive: true })
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'install-check', version: '1.0.0', private: true }))
  const started = process.hrtime.bigint()
  const out = execFileSync(path.join(bin, 'npm'), ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...tarballs], {
    cwd: project,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const bytes = duBytes(path.join(project, 'node_modules'))
  console.log(`install: ${seconds.toFixed(1)} s, node_modules ${(bytes / 1e6).toFixed(1)} MB (${(bytes / 2 ** 20).toFixed(1)} MiB); npm said: ${out.trim()}`)
  assert.ok(bytes <= MAX_INSTALLED_MB * 1e6, `node_modules is ${(bytes / 1e6).toFixed(1)} MB`)
  assert.ok(!fs.existsSync(path.join(project, 'node_modules', 'onnxruntime-node')), 'onnxruntime-node was installed')
  assert.ok(fs.existsSync(path.join(project, 'node_modules', ...`${pkg.name}-${platform}`.split('/'))))
  // what npm would run at install: none of the installed packages has such a script
  for (const dir of [installed, path.join(project, 'node_modules', ...`${pkg.name}-${platform}`.split('/'))]) {
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(manifest.scripts?.[script], undefined, `${dir}: ${script}`)
    assert.ok(!fs.existsSync(path.join(dir, 'binding.gyp')))
  }
  assert.deepEqual(fs.readdirSync(path.join(project, 'node_modules')).sort(), ['.bin', '.package-lock.json', pkg.name.split('/')[0]])
})

function runNode(file, extraEnv = {}) {
  const result = spawnSync(path.join(bin, 'node'), [file, SHARED], { cwd: project, env: { ...env, ...extraEnv }, encoding: 'utf8', timeout: 120_000 })
  return { ...result, summary: result.status === 0 ? JSON.parse(result.stdout.trim().split('\n').pop()) : undefined }
}

const fixtureTexts = JSON.parse(fs.readFileSync(path.join(SHARED, 'fixtures', 'reference-all-MiniLM-L6-v2.json'), 'utf8')).texts.length

test('every export works from CommonJS and from ESM by name, and matches sentence-transformers', () => {
  const cjs = runNode('use.cjs')
  assert.equal(cjs.status, 0, cjs.stderr)
  const esm = runNode('use.mjs')
  assert.equal(esm.status, 0, esm.stderr)
  const names = Object.keys(require(path.join(root, 'index.js'))).sort()
  assert.deepEqual(cjs.summary.exports, names)
  assert.deepEqual(esm.summary.exports, names)
  assert.equal(esm.summary.defaultIsModule, true)
  for (const { summary } of [cjs, esm]) {
    assert.equal(summary.texts, fixtureTexts)
    assert.ok(summary.minCosine >= 0.99999, `min cosine ${summary.minCosine}`)
    assert.equal(summary.errorCode, 'ERR_MODEL_NOT_FOUND')
  }
  console.log(`min cosine to sentence-transformers: CommonJS ${cjs.summary.minCosine.toFixed(7)}, ESM ${esm.summary.minCosine.toFixed(7)}`)
})

test('TypeScript resolves the installed types under node16, nodenext and bundler, in CommonJS and ESM projects', () => {
  const esmDir = path.join(project, 'esm')
  fs.mkdirSync(esmDir, { recursive: true })
  fs.writeFileSync(path.join(esmDir, 'package.json'), '{ "type": "module" }\n')
  fs.copyFileSync(path.join(project, 'usage.ts'), path.join(esmDir, 'usage.ts'))
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const typeRoots = [path.join(root, 'node_modules', '@types')]
  const configs = [
    ['cjs-node16', project, { module: 'node16', moduleResolution: 'node16' }],
    ['esm-node16', esmDir, { module: 'node16', moduleResolution: 'node16' }],
    ['cjs-nodenext', project, { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['esm-nodenext', esmDir, { module: 'nodenext', moduleResolution: 'nodenext' }],
    ['bundler', esmDir, { module: 'esnext', moduleResolution: 'bundler' }],
  ]
  for (const [name, dir, options] of configs) {
    const config = path.join(dir, `tsconfig.${name}.json`)
    const compilerOptions = { ...options, target: 'es2022', lib: ['es2022'], strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots }
    fs.writeFileSync(config, JSON.stringify({ compilerOptions, files: ['usage.ts'] }))
    const result = spawnSync(process.execPath, [tsc, '-p', config], { encoding: 'utf8' })
    assert.equal(result.status, 0, `${name}: ${result.stdout}${result.stderr}`)
  }
})

test('publint and @arethetypeswrong/cli find nothing in the packed tarball', () => {
  const rootTarball = tarballs[0]
  const attw = spawnSync(process.execPath, [path.join(root, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js'), rootTarball, '--format', 'table-flipped'], {
    encoding: 'utf8',
  })
  assert.equal(attw.status, 0, attw.stdout + attw.stderr)
  const publint = spawnSync(process.execPath, [path.join(root, 'node_modules', 'publint', 'src', 'cli.js'), installed, '--strict', '--pack', 'false'], {
    encoding: 'utf8',
  })
  assert.equal(publint.status, 0, publint.stdout + publint.stderr)
  assert.doesNotMatch(publint.stdout + publint.stderr, /warning|suggestion|error/i, publint.stdout)
})

test('a platform package without ONNX Runtime works through ORT_DYLIB_PATH, and says so without it', () => {
  // linux-x64-musl and darwin-x64 ship no ONNX Runtime: the same situation, made here by moving the library away
  const platformDir = path.join(project, 'node_modules', ...`${pkg.name}-${platform}`.split('/'))
  const library = fs.readdirSync(platformDir).find((f) => /onnxruntime/.test(f) && !f.endsWith('LICENSE'))
  assert.ok(library, 'the platform package carries ONNX Runtime')
  assert.ok(PLATFORMS[platform].runtime)
  const elsewhere = path.join(tmp, 'elsewhere')
  fs.mkdirSync(elsewhere)
  fs.renameSync(path.join(platformDir, library), path.join(elsewhere, library))
  try {
    const without = spawnSync(
      path.join(bin, 'node'),
      ['-e', `require('${pkg.name}').Embedder.create({ model: process.argv[1] }).then(() => console.log('loaded'), (e) => console.log(e.code + ' ' + e.message))`, path.join(SHARED, 'models', 'all-MiniLM-L6-v2')],
      { cwd: project, env, encoding: 'utf8', timeout: 60_000 },
    )
    assert.match(without.stdout, /^ERR_RUNTIME .*ORT_DYLIB_PATH/, without.stdout + without.stderr)
    const withPath = runNode('use.cjs', { ORT_DYLIB_PATH: path.join(elsewhere, library) })
    assert.equal(withPath.status, 0, withPath.stderr)
    assert.ok(withPath.summary.minCosine >= 0.99999)
  } finally {
    fs.renameSync(path.join(elsewhere, library), path.join(platformDir, library))
  }
})

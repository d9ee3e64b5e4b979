'use strict'
// `npm run package`: builds the release addon, fills this machine's platform package under npm/
// (the addon, ONNX Runtime's library from onnxruntime-node, its license) and writes the tarballs of
// the root package and of that platform package into dist/.
//
// `npm run package -- --prebuilt <platform>` packs a platform whose addon is already in
// npm/<platform>/ (the release workflow builds each platform on its own runner).

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { PLATFORMS, platformName, runtimeFile } = require('../lib/platform.js')
const { platformPackage } = require('./platforms.js')

const root = path.join(__dirname, '..')
const dist = path.join(root, 'dist')
const pkg = require('../package.json')

function run(command, args, cwd = root) {
  console.log(`$ ${[command, ...args].join(' ')}`)
  return execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' })
}

/** Fails when npm/<platform>/package.json is not what scripts/platforms.js writes. */
function checkPlatformPackage(platform, dir) {
  const written = fs.readFileSync(path.join(dir, 'package.json'), 'utf8')
  if (written !== `${JSON.stringify(platformPackage(platform), null, 2)}\n`) {
    throw new Error(`npm/${platform}/package.json is out of date: run \`node scripts/platforms.js\``)
  }
}

/**
 * The root package as published, in a folder of its own: the files package.json lists, README.md,
 * and a package.json without the scripts and dev dependencies, which are for working on the
 * package (`prepare` builds the addon with cargo; npm lists it as an install-time script).
 */
function stageRoot() {
  const stage = path.join(dist, '.stage', 'root')
  fs.rmSync(stage, { recursive: true, force: true })
  fs.mkdirSync(stage, { recursive: true })
  const { scripts, devDependencies, ...published } = pkg
  void scripts
  void devDependencies
  fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(published, null, 2)}\n`)
  for (const entry of ['README.md', ...pkg.files]) fs.cpSync(path.join(root, entry), path.join(stage, entry), { recursive: true })
  return stage
}

/** What packing needs from `npm install`: the napi CLI and onnxruntime-node's libraries. */
function checkInstalled() {
  const missing = [path.join('node_modules', '.bin', 'napi'), path.join('node_modules', 'onnxruntime-node', 'package.json')].filter(
    (f) => !fs.existsSync(path.join(root, f)),
  )
  if (missing.length > 0) throw new Error(`${missing.join(' and ')} missing: run \`npm install\` in ${root} first`)
}

function main() {
  checkInstalled()
  const at = process.argv.indexOf('--prebuilt')
  const prebuilt = at > 0
  const platform = prebuilt ? process.argv[at + 1] : platformName()
  if (!PLATFORMS[platform]) throw new Error(`no platform package is defined for ${platform} (lib/platform.js)`)
  const dir = path.join(root, 'npm', platform)
  checkPlatformPackage(platform, dir)

  const addon = `${pkg.napi.binaryName}.${platform}.node`
  if (!prebuilt) {
    const napi = path.join(root, 'node_modules', '.bin', 'napi')
    run(napi, ['build', '--platform', '--release', '--no-js', '--dts', 'native.d.ts'])
    fs.copyFileSync(path.join(root, addon), path.join(dir, addon))
  } else if (!fs.existsSync(path.join(dir, addon))) {
    throw new Error(`npm/${platform}/${addon} is missing`)
  }
  const { os, cpu, runtime } = PLATFORMS[platform]
  if (runtime) {
    // onnxruntime-node carries every platform's library: take this platform's
    const file = runtimeFile(os)
    const ortRoot = path.dirname(require.resolve('onnxruntime-node/package.json', { paths: [root] }))
    fs.copyFileSync(path.join(ortRoot, 'bin', 'napi-v6', os, cpu, file), path.join(dir, file))
    fs.copyFileSync(path.join(root, 'npm', 'ONNXRUNTIME-LICENSE'), path.join(dir, 'ONNXRUNTIME-LICENSE'))
  }

  fs.mkdirSync(dist, { recursive: true })
  const tarballs = []
  for (const cwd of [stageRoot(), dir]) {
    const [packed] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dist], cwd))
    tarballs.push(path.join(dist, packed.filename))
    console.log(`${packed.filename}: ${(packed.size / 1e6).toFixed(1)} MB packed, ${(packed.unpackedSize / 1e6).toFixed(1)} MB unpacked, ${packed.entryCount} files`)
  }
  fs.writeFileSync(path.join(dist, 'tarballs.json'), `${JSON.stringify({ platform, tarballs: tarballs.map((t) => path.basename(t)) }, null, 2)}\n`)
}

try {
  main()
} catch (err) {
  console.error(`npm run package: ${err.message}`)
  process.exit(1)
}

'use strict'
// Loads the native addon and finds the ONNX Runtime library it loads at run time.
//
// Addon: NAPI_RS_NATIVE_LIBRARY_PATH (as napi-rs' generated loaders read it), else a local build in
// this folder (contributors), else the platform package `@rag-native/embedder-<platform>`.
// ONNX Runtime: ORT_DYLIB_PATH, else the platform package's copy, else onnxruntime-node's copy.

const fs = require('node:fs')
const path = require('node:path')
const { EmbedderError } = require('./lib/common.js')
const { PACKAGE_PREFIX, PLATFORMS, platformName, runtimeFile } = require('./lib/platform.js')
const pkg = require('./package.json')

const PLATFORM = platformName()

function firstLine(err) {
  return String(err?.message ?? err).split('\n')[0]
}

/**
 * `addon` when it was built for this package's version (build.rs reads package.json), else
 * ERR_RUNTIME: a root package and a platform package from different builds would otherwise fail
 * later on whichever function one of them lacks. An addon named by NAPI_RS_NATIVE_LIBRARY_PATH is
 * checked too: a contributor's stale build fails here rather than somewhere less clear.
 */
function matching(addon, where) {
  const built = typeof addon.packageVersion === 'function' ? addon.packageVersion() : undefined
  if (built === pkg.version) return addon
  const what = built === undefined ? 'a build older than the version check' : `version ${built}`
  throw new EmbedderError(
    'ERR_RUNTIME',
    `${pkg.name} ${pkg.version} cannot use the native addon ${where}, built for ${what}: the two come from different builds. ` +
      `Reinstall so that both packages match (\`npm install ${pkg.name}@${pkg.version}\` installs the matching platform package)`,
  )
}

/** @returns {typeof import('./native')} */
function loadNative(platform = PLATFORM) {
  const override = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
  if (override) {
    let addon
    try {
      addon = require(path.resolve(override))
    } catch (err) {
      throw new EmbedderError(
        'ERR_RUNTIME',
        `cannot load the native addon named by NAPI_RS_NATIVE_LIBRARY_PATH (${override}): ${firstLine(err)}; unset it to use the prebuilt addon`,
        { cause: err },
      )
    }
    return matching(addon, `named by NAPI_RS_NATIVE_LIBRARY_PATH (${override})`)
  }
  const tried = []
  const local = path.join(__dirname, `${pkg.napi.binaryName}.${platform}.node`)
  if (fs.existsSync(local)) {
    let addon
    try {
      addon = require(local)
    } catch (err) {
      tried.push(`${local}: ${firstLine(err)}`)
    }
    if (addon) return matching(addon, local)
  }
  const packageName = `${PACKAGE_PREFIX}${platform}`
  let addon
  try {
    addon = require(packageName)
  } catch (err) {
    tried.push(`${packageName}: ${firstLine(err)}`)
  }
  if (addon) return matching(addon, `of ${packageName}`)
  const supported = Object.keys(PLATFORMS)
  const build =
    'To build from source: install Rust (https://rustup.rs), clone the repository, run `npm install` there, ' +
    'and set NAPI_RS_NATIVE_LIBRARY_PATH to the built `embedder.<platform>.node` and ORT_DYLIB_PATH to an ONNX Runtime shared library'
  const what = supported.includes(platform)
    ? `the platform package ${packageName} is not installed or cannot load; reinstall with optional dependencies ` +
      '(`npm install --include=optional`; a lockfile made on another platform may lack it)'
    : `there is no prebuilt addon for ${platform} (platform ${process.platform}, arch ${process.arch}); prebuilt: ${supported.join(', ')}`
  throw new EmbedderError('ERR_RUNTIME', `${pkg.name}: ${what}. ${build}. Tried:\n  ${tried.join('\n  ')}`)
}

/**
 * The ONNX Runtime library to load: ORT_DYLIB_PATH, else the first copy that exists (the platform
 * package's, then onnxruntime-node's). When none exists, the platform package's path, which the
 * engine reports as not found.
 */
function runtimeLibrary(platform = PLATFORM) {
  if (process.env.ORT_DYLIB_PATH) return process.env.ORT_DYLIB_PATH
  const file = runtimeFile(process.platform)
  const candidates = []
  const packageFolder = (name) => {
    try {
      return path.dirname(require.resolve(`${name}/package.json`))
    } catch {
      return undefined
    }
  }
  const platformPackage = packageFolder(`${PACKAGE_PREFIX}${platform}`)
  candidates.push(platformPackage ? path.join(platformPackage, file) : path.join(__dirname, 'node_modules', `${PACKAGE_PREFIX}${platform}`, file))
  const onnxruntimeNode = packageFolder('onnxruntime-node')
  if (onnxruntimeNode) candidates.push(path.join(onnxruntimeNode, 'bin', 'napi-v6', process.platform, process.arch, file))
  return candidates.find((candidate) => fs.existsSync(candidate)) ?? candidates[0]
}

const native = loadNative()

// process.exit() runs libonnxruntime's C++ static destructors: no model thread may be inside ONNX
// Runtime then (a worker's exit ends the worker, not the process, and leaves ONNX Runtime alone).
// worker_threads is asked at exit, not loaded with the addon: it costs 1.8 MB of memory.
process.on('exit', (code) => {
  try {
    if (require('node:worker_threads').isMainThread) native.prepareExit(code)
  } catch {
    // an exit listener that throws changes the exit code; the process ends either way
  }
})

module.exports = { native, runtimeLibrary, platform: PLATFORM }

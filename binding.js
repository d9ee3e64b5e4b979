'use strict'
// Loads the native addon (a local build first, then the per-platform package) and finds the
// ONNX Runtime library that the addon loads at run time.

const path = require('node:path')

function platformTriple() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const musl = !process.report?.getReport()?.header?.glibcVersionRuntime
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

function loadNative() {
  const triple = platformTriple()
  const candidates = [path.join(__dirname, `embedder.${triple}.node`), `@rag-native/embedder-${triple}`]
  const failures = []
  for (const candidate of candidates) {
    try {
      return require(candidate)
    } catch (err) {
      failures.push(`  ${candidate}: ${err.message.split('\n')[0]}`)
    }
  }
  const err = new Error(
    `cannot load the native embedder for ${triple}; run \`npm install\` in the package folder to build it. Tried:\n${failures.join('\n')}`,
  )
  err.code = 'ERR_RUNTIME'
  throw err
}

const RUNTIME_FILES = {
  linux: 'libonnxruntime.so.1',
  darwin: 'libonnxruntime.1.dylib',
  win32: 'onnxruntime.dll',
}

/** ORT_DYLIB_PATH, else the library shipped inside the onnxruntime-node package. */
function runtimeLibrary() {
  if (process.env.ORT_DYLIB_PATH) return process.env.ORT_DYLIB_PATH
  const file = RUNTIME_FILES[process.platform] ?? RUNTIME_FILES.linux
  let root
  try {
    root = path.dirname(require.resolve('onnxruntime-node/package.json'))
  } catch {
    root = path.join(__dirname, 'node_modules', 'onnxruntime-node')
  }
  return path.join(root, 'bin', 'napi-v6', process.platform, process.arch, file)
}

module.exports = { native: loadNative(), runtimeLibrary }

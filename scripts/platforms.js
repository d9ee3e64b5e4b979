'use strict'
// Writes npm/<platform>/package.json and README.md for every platform in lib/platform.js, and the
// root package.json's `napi.targets` and `optionalDependencies`, from the root package and that
// table. Run after adding a platform or changing the version (`npm version` runs it).

const fs = require('node:fs')
const path = require('node:path')
const { PACKAGE_PREFIX, PLATFORMS, runtimeFile } = require('../lib/platform.js')

const root = path.join(__dirname, '..')
const rootPath = path.join(root, 'package.json')
const pkg = JSON.parse(fs.readFileSync(rootPath, 'utf8'))

/** The package.json of one platform package. */
function platformPackage(platform) {
  const { os, cpu, libc, runtime } = PLATFORMS[platform]
  const addon = `${pkg.napi.binaryName}.${platform}.node`
  const files = [addon, ...(runtime ? [runtimeFile(os), 'ONNXRUNTIME-LICENSE'] : [])]
  return {
    name: `${PACKAGE_PREFIX}${platform}`,
    version: pkg.version,
    description: `${pkg.name}'s native addon for ${platform}${runtime ? ', with ONNX Runtime' : ''}`,
    license: pkg.license,
    repository: pkg.repository,
    engines: pkg.engines,
    os: [os],
    cpu: [cpu],
    ...(libc ? { libc: [libc] } : {}),
    main: addon,
    files,
  }
}

function readme(platform) {
  const { os, runtime } = PLATFORMS[platform]
  return `# ${PACKAGE_PREFIX}${platform}

The native addon of [\`${pkg.name}\`](https://www.npmjs.com/package/${pkg.name}) for ${platform}${
    runtime
      ? `, with ONNX Runtime's shared library (\`${runtimeFile(os)}\`, MIT, from the \`onnxruntime-node\` package; see ONNXRUNTIME-LICENSE).`
      : `. It carries no ONNX Runtime library (none is published for this platform): set \`ORT_DYLIB_PATH\` to one (version 1.20 or later).`
  }
Install \`${pkg.name}\`, not this package: npm picks the platform package itself.
`
}

function main() {
  for (const platform of Object.keys(PLATFORMS)) {
    const dir = path.join(root, 'npm', platform)
    fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(platformPackage(platform), null, 2)}\n`)
    fs.writeFileSync(path.join(dir, 'README.md'), readme(platform))
  }
  pkg.napi.targets = Object.values(PLATFORMS).map((p) => p.target)
  pkg.optionalDependencies = Object.fromEntries(Object.keys(PLATFORMS).map((p) => [`${PACKAGE_PREFIX}${p}`, pkg.version]))
  fs.writeFileSync(rootPath, `${JSON.stringify(pkg, null, 2)}\n`)
}

if (require.main === module) main()

module.exports = { platformPackage, readme }

'use strict'
// Which platform this process runs on, in napi-rs' names, and which platforms have a prebuilt
// package (the root package's optional dependencies). Read by the loader and the packaging scripts.

const fs = require('node:fs')
const pkg = require('../package.json')

/** The file name ONNX Runtime's shared library has on each OS (as onnxruntime-node ships it). */
const RUNTIME_FILES = {
  linux: 'libonnxruntime.so.1',
  darwin: 'libonnxruntime.1.dylib',
  win32: 'onnxruntime.dll',
}

/**
 * The libc of this process, read from the dynamic loader named in the Node.js binary's ELF header
 * (`/lib/ld-musl-x86_64.so.1` or `/lib64/ld-linux-x86-64.so.2`): no child process and no
 * report from Node (getReport walks every loaded library and open handle).
 */
function linuxLibc() {
  const interpreter = elfInterpreter(process.execPath)
  if (interpreter) return interpreter.includes('musl') ? 'musl' : 'gnu'
  // a statically linked node: the system's ldd says which libc the system has
  try {
    return fs.readFileSync('/usr/bin/ldd', 'latin1').includes('musl') ? 'musl' : 'gnu'
  } catch {
    return 'gnu'
  }
}

/** The PT_INTERP string of an ELF file, or undefined. */
function elfInterpreter(file) {
  let fd
  try {
    fd = fs.openSync(file, 'r')
    const head = Buffer.alloc(64)
    if (fs.readSync(fd, head, 0, 64, 0) < 52 || head.readUInt32BE(0) !== 0x7f454c46) return undefined
    const wide = head[4] === 2
    const little = head[5] === 1
    const u16 = (b, at) => (little ? b.readUInt16LE(at) : b.readUInt16BE(at))
    const u32 = (b, at) => (little ? b.readUInt32LE(at) : b.readUInt32BE(at))
    const word = (b, at) => (wide ? Number(little ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) : u32(b, at))
    const phoff = word(head, wide ? 0x20 : 0x1c)
    const phentsize = u16(head, wide ? 0x36 : 0x2a)
    const phnum = Math.min(u16(head, wide ? 0x38 : 0x2c), 256)
    const table = Buffer.alloc(phentsize * phnum)
    fs.readSync(fd, table, 0, table.length, phoff)
    for (let i = 0; i < phnum; i++) {
      const at = i * phentsize
      if (u32(table, at) !== 3) continue // PT_INTERP
      const offset = word(table, at + (wide ? 0x08 : 0x04))
      const size = Math.min(word(table, at + (wide ? 0x20 : 0x10)), 4096)
      const name = Buffer.alloc(size)
      fs.readSync(fd, name, 0, size, offset)
      return name.toString('latin1').replace(/\0.*$/s, '')
    }
    return undefined
  } catch {
    return undefined
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

/** napi-rs' name for this platform: `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`… */
function platformName() {
  const { platform, arch } = process
  if (platform === 'linux') return `linux-${arch}-${linuxLibc()}`
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

const PACKAGE_PREFIX = `${pkg.name}-`

/**
 * Every platform with a package, by napi-rs' name: its Rust target, npm's `os` / `cpu` / `libc`,
 * and whether the package carries ONNX Runtime (taken from onnxruntime-node, which ships no musl
 * and no darwin-x64 library: there, ORT_DYLIB_PATH names one). package.json's `napi.targets` and
 * `optionalDependencies` and the folders under npm/ follow this table (__test__/package.test.js).
 */
const PLATFORMS = {
  'linux-x64-gnu': { target: 'x86_64-unknown-linux-gnu', os: 'linux', cpu: 'x64', libc: 'glibc', runtime: true },
  'linux-arm64-gnu': { target: 'aarch64-unknown-linux-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc', runtime: true },
  'linux-x64-musl': { target: 'x86_64-unknown-linux-musl', os: 'linux', cpu: 'x64', libc: 'musl', runtime: false },
  'darwin-x64': { target: 'x86_64-apple-darwin', os: 'darwin', cpu: 'x64', runtime: false },
  'darwin-arm64': { target: 'aarch64-apple-darwin', os: 'darwin', cpu: 'arm64', runtime: true },
  'win32-x64-msvc': { target: 'x86_64-pc-windows-msvc', os: 'win32', cpu: 'x64', runtime: true },
}

/** The ONNX Runtime library's file name on an OS (`linux`, `darwin`, `win32`). */
function runtimeFile(os) {
  return RUNTIME_FILES[os] ?? RUNTIME_FILES.linux
}

module.exports = { PACKAGE_PREFIX, PLATFORMS, platformName, runtimeFile, elfInterpreter }

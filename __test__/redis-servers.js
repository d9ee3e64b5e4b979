'use strict'
// Redis servers for tests: each on a free loopback port, with its files in a temporary folder,
// stopped by the caller (stopAll in an `after` hook). Every wait is bounded in time. Also a minimal
// RESP client for planting and reading binary values.

const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')
const { spawn, execFile } = require('node:child_process')
const { promisify } = require('node:util')

const run = promisify(execFile)
const running = new Set()

const redisAvailable = () => {
  try {
    require('node:child_process').execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Encodes a command as RESP. */
function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a))
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/** One RESP reply from `buf` at `at`: `{ value, end }`, or `null` if incomplete. Errors become `Error` values. */
function parse(buf, at = 0) {
  const line = buf.indexOf('\r\n', at)
  if (line < 0) return null
  const head = buf.toString('latin1', at + 1, line)
  switch (String.fromCharCode(buf[at])) {
    case '+':
      return { value: head, end: line + 2 }
    case '-':
      return { value: new Error(head), end: line + 2 }
    case ':':
      return { value: Number(head), end: line + 2 }
    case '$': {
      const n = Number(head)
      if (n < 0) return { value: null, end: line + 2 }
      if (buf.length < line + 2 + n + 2) return null
      return { value: buf.subarray(line + 2, line + 2 + n), end: line + 2 + n + 2 }
    }
    case '*': {
      const n = Number(head)
      if (n < 0) return { value: null, end: line + 2 }
      const out = []
      let end = line + 2
      for (let i = 0; i < n; i++) {
        const item = parse(buf, end)
        if (!item) return null
        out.push(item.value)
        end = item.end
      }
      return { value: out, end }
    }
    default:
      throw new Error(`not RESP: ${head}`)
  }
}

/** Sends one command to 127.0.0.1:`port` and resolves to its reply (rejects after `timeoutMs`). */
function command(port, args, { timeoutMs = 2000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`redis on ${port}: no answer to ${args[0]} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      const reply = parse(buf)
      if (reply) {
        clearTimeout(timer)
        socket.destroy()
        resolve(reply.value)
      }
    })
    socket.write(encode(args))
  })
}

/** Polls until `check()` is true, at most `timeoutMs`. */
async function until(what, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    try {
      if (await check()) return
    } catch {
      // not yet
    }
    await sleep(50)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/**
 * A redis-server on a free loopback port. `extra`: more command-line arguments. `tls`: { cert,
 * key, ca } files, then the server listens with TLS only (`tls-port`).
 */
async function startRedis({ extra = [], tls = null, port = null } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedder-redis-'))
  port = port ?? (await freePort())
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no']
  if (tls) args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', tls.cert, '--tls-key-file', tls.key, '--tls-ca-cert-file', tls.ca, '--tls-auth-clients', 'no')
  else args.push('--port', String(port))
  args.push(...extra)
  const server = { port, dir, url: `redis://127.0.0.1:${port}`, child: null, args }
  server.start = async () => {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    server.child = child
    running.add(server)
    child.on('exit', () => {
      if (server.child === child) server.child = null
    })
    if (tls) {
      // no plain-text port to ping: wait for the TLS port to accept connections
      await until(`redis-server (TLS) on ${port}`, () => new Promise((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy()
          resolve(true)
        })
        s.on('error', () => resolve(false))
      }))
    } else {
      await until(`redis-server on ${port}`, async () => (await command(port, ['PING'], { timeoutMs: 500 })) === 'PONG')
    }
  }
  /** SIGKILL, and wait for the exit. */
  server.kill = async () => {
    const child = server.child
    if (!child) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await Promise.race([exited, sleep(5000)])
  }
  server.stop = async () => {
    await server.kill()
    running.delete(server)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  await server.start()
  return server
}

/** Three masters with `cluster-enabled yes`, joined by `redis-cli --cluster create`. */
async function startCluster() {
  const nodes = []
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(await startRedis({ extra: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }))
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 })
    for (const n of nodes) {
      await until(`cluster_state:ok on ${n.port}`, async () => String(await command(n.port, ['CLUSTER', 'INFO'])).includes('cluster_state:ok'), 20_000)
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()))
    throw err
  }
  return { nodes, url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`, stop: () => Promise.all(nodes.map((n) => n.stop())) }
}

async function stopAll() {
  await Promise.all([...running].map((s) => s.stop()))
}

module.exports = { redisAvailable, startRedis, startCluster, stopAll, command, until, freePort, sleep }

'use strict'
// A local stand-in for the Hugging Face hub: serves model folders in the hub's URL layout,
// `/{owner}/{name}/resolve/{revision}/{path}`, with the headers the hub sends (`X-Repo-Commit`,
// `ETag`, `Content-Length`, `X-Error-Code` on errors). hub.test.js starts it in its own process;
// `node hub-server.js` runs it alone on the shared models and prints its URL.

const http = require('node:http')
const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')

/** The commit every repository is at; `main` and `v1` resolve to it. */
const COMMIT = '0123456789abcdef0123456789abcdef01234567'

/** `relative path → absolute path` of every file under `dir`, with `/` separators. */
function listFiles(dir, root = dir, out = new Map()) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) listFiles(full, root, out)
    else out.set(path.relative(root, full).split(path.sep).join('/'), full)
  }
  return out
}

const etags = new Map()

/** The sha256 of a file, which is what the hub sends as the ETag of a large file. */
function etagOf(file) {
  if (!etags.has(file)) {
    etags.set(
      file,
      new Promise((resolve, reject) => {
        const hash = crypto.createHash('sha256')
        fs.createReadStream(file)
          .on('data', (chunk) => hash.update(chunk))
          .on('end', () => resolve(hash.digest('hex')))
          .on('error', reject)
      }),
    )
  }
  return etags.get(file)
}

/**
 * Serves `repos` (`{ 'owner/name': folder }`) on 127.0.0.1. Returns `{ url, requests, token,
 * cutOnce(path, bytes, { length }), trickle(path, everyMs, maxBytes), trickles, close() }`: `requests` logs
 * `{ path, authorization }`; setting `token` makes every request without `Authorization: Bearer
 * <token>` a 401; `cutOnce` makes the next download of `path` stop after `bytes` bytes, the
 * connection closed (with `length: false`, the answer has no Content-Length); `trickle` sends
 * `path` one byte every `everyMs` (then closes after `maxBytes`, default 20), and `trickles` logs `{ path, sent, closed }`.
 */
async function startHub(repos) {
  const files = new Map(Object.entries(repos).map(([id, dir]) => [id, listFiles(dir)]))
  const cuts = new Map()
  const trickled = new Map()
  const hub = {
    url: '',
    requests: [],
    token: undefined,
    trickles: [],
    cutOnce(file, bytes, { length = true } = {}) {
      cuts.set(file, { bytes, length })
    },
    trickle(file, everyMs, maxBytes = 20) {
      trickled.set(file, { everyMs, maxBytes })
    },
    close: () => new Promise((resolve) => {
      server.close(resolve)
      server.closeAllConnections()
    }),
  }

  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://hub')
    hub.requests.push({ path: pathname, authorization: req.headers.authorization })
    const fail = (status, headers = {}) => res.writeHead(status, { 'Content-Length': 0, ...headers }).end()
    const match = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(pathname)
    if (!match) return fail(404)
    const [, id, revision, file] = match.map(decodeURIComponent)
    if (hub.token !== undefined && req.headers.authorization !== `Bearer ${hub.token}`) {
      return fail(401, { 'X-Error-Code': 'GatedRepo' })
    }
    const repo = files.get(id)
    if (!repo) return fail(404, { 'X-Error-Code': 'RepoNotFound' })
    if (!['main', 'v1', COMMIT].includes(revision)) return fail(404, { 'X-Error-Code': 'RevisionNotFound' })
    const full = repo.get(file)
    if (!full) return fail(404, { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': COMMIT })

    const size = fs.statSync(full).size
    const etag = `"${await etagOf(full)}"`
    const cut = cuts.get(file)
    const start = (bytes) => {
      const head = Buffer.alloc(bytes)
      const fd = fs.openSync(full, 'r')
      fs.readSync(fd, head, 0, bytes, 0)
      fs.closeSync(fd)
      return head
    }
    if (cut !== undefined && !cut.length) {
      // no Content-Length: the body ends when the connection closes, so a cut looks complete
      cuts.delete(file)
      const head = `HTTP/1.1 200 OK\r\nX-Repo-Commit: ${COMMIT}\r\nETag: ${etag}\r\nConnection: close\r\n\r\n`
      res.socket.write(Buffer.concat([Buffer.from(head), start(cut.bytes)]), () => res.socket.destroy())
      return
    }
    res.writeHead(200, { 'Content-Length': size, 'X-Repo-Commit': COMMIT, ETag: etag })
    if (trickled.has(file)) {
      const { everyMs, maxBytes } = trickled.get(file)
      const bytes = start(Math.min(size, maxBytes))
      const log = { path: file, sent: 0, closed: false }
      hub.trickles.push(log)
      const timer = setInterval(() => {
        if (log.sent === bytes.length) return res.socket?.destroy()
        res.write(bytes.subarray(log.sent, log.sent + 1))
        log.sent++
      }, everyMs)
      res.on('close', () => {
        clearInterval(timer)
        log.closed = true
      })
      return
    }
    if (cut === undefined) return fs.createReadStream(full).pipe(res)
    // promise the whole file, send the start of it, and close the connection
    cuts.delete(file)
    res.write(start(cut.bytes), () => res.socket.destroy())
  })

  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  hub.url = `http://127.0.0.1:${server.address().port}`
  return hub
}

module.exports = { startHub, COMMIT, etagOf }

if (require.main === module) {
  const { modelPath } = require('../helpers.js')
  startHub({
    'sentence-transformers/all-MiniLM-L6-v2': modelPath('all-MiniLM-L6-v2'),
    'test/tiny-bert-cls': modelPath('tiny-bert-cls'),
    'test/tiny-bert-dense': modelPath('tiny-bert-dense'),
  }).then((hub) => process.stdout.write(`HF_ENDPOINT=${hub.url}\n`))
}

'use strict'
// Output of rag-embed: JSONL rows ({"id": …, "embedding": […]}) or a float32 .npy matrix, written
// to stdout or to a temporary file renamed over the output once complete.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { CliError, systemMessage } = require('./errors.js')

/** The shortest decimal that reads back as the same float32 (9 significant digits always do). */
function float32Text(x) {
  return String(Number(x.toPrecision(9)))
}

/** NPY format 1.0: magic, version, little-endian header length, a Python dict literal padded to 64 bytes. */
function npyHeader(rows, dim, size = 0) {
  const descr = os.endianness() === 'LE' ? '<f4' : '>f4'
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${rows}, ${dim}), }`
  const total = Math.max(size, Math.ceil((10 + dict.length + 1) / 64) * 64)
  const header = Buffer.alloc(total, 0x20)
  header.write('\x93NUMPY', 0, 'latin1')
  header[6] = 1
  header[7] = 0
  header.writeUInt16LE(total - 10, 8)
  header.write(dict, 10, 'latin1')
  header[total - 1] = 0x0a
  return header
}

/** Room reserved at the start of a .npy for the header, written once the row count is known. */
const NPY_HEADER_SIZE = 128

/** Status 141 (SIGPIPE's): the reader of stdout went away (`rag-embed … | head`); nothing to report. */
const closedPipe = () => new CliError('', 141)

class Output {
  /**
   * `file` undefined writes to `stdout`. A file is written as `.<name>.<pid>-<random>.tmp` in its
   * folder and renamed over `file` by `commit()`, so an interrupted run leaves no file that looks
   * complete. `stdoutClosed()` says whether stdout's reader has gone.
   */
  constructor(file, format, { stdout = process.stdout, stdoutClosed = () => false } = {}) {
    this.file = file
    this.format = format
    this.rows = 0
    this.dim = 0
    this.position = 0
    this.fd = null
    this.temp = null
    this.stdout = stdout
    this.stdoutClosed = stdoutClosed
    if (file !== undefined) {
      const dir = path.dirname(path.resolve(file))
      const temp = path.join(dir, `.${path.basename(file)}.${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`)
      try {
        this.fd = fs.openSync(temp, 'wx')
      } catch (err) {
        throw new CliError(`cannot write ${file}: ${err.code === 'ENOENT' ? `folder ${dir} does not exist` : systemMessage(err)}`)
      }
      this.temp = temp
      if (format === 'npy') this.position = NPY_HEADER_SIZE
    }
  }

  async #write(data, position) {
    if (this.fd === null) {
      if (this.stdoutClosed()) throw closedPipe()
      if (!this.stdout.write(data)) {
        await new Promise((resolve) => {
          const done = () => {
            this.stdout.off('drain', done)
            this.stdout.off('error', done)
            resolve()
          }
          this.stdout.on('drain', done)
          this.stdout.on('error', done)
        })
      }
      return
    }
    try {
      let done = 0
      while (done < data.length) {
        const { bytesWritten } = await new Promise((resolve, reject) =>
          fs.write(this.fd, data, done, data.length - done, position + done, (err, bytesWritten) => (err ? reject(err) : resolve({ bytesWritten }))),
        )
        done += bytesWritten
      }
    } catch (err) {
      throw new CliError(`cannot write ${this.file}: ${systemMessage(err)}`)
    }
  }

  /** Appends one row per vector (Float32Arrays); a non-finite value fails the run before anything of the batch is written. */
  async writeRows(ids, vectors) {
    if (vectors.length === 0) return
    for (let i = 0; i < vectors.length; i++) {
      const v = vectors[i]
      for (let j = 0; j < v.length; j++) {
        if (!Number.isFinite(v[j])) {
          throw new CliError(`embedding failed: row ${this.rows + i + 1} (id ${ids[i]}) has a non-finite value (${v[j]}) at dimension ${j}; the model gives no usable vector for it`)
        }
      }
    }
    this.dim = vectors[0].length
    let data
    if (this.format === 'npy') {
      data = Buffer.allocUnsafe(vectors.length * this.dim * 4)
      for (let i = 0; i < vectors.length; i++) {
        const v = vectors[i]
        Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(data, i * this.dim * 4)
      }
    } else {
      let text = ''
      for (let i = 0; i < vectors.length; i++) {
        const v = vectors[i]
        const values = new Array(v.length)
        for (let j = 0; j < v.length; j++) values[j] = float32Text(v[j])
        text += `{"id":${ids[i]},"embedding":[${values.join(',')}]}\n`
      }
      data = Buffer.from(text, 'utf8')
    }
    await this.#write(data, this.position)
    this.position += data.length
    this.rows += vectors.length
  }

  /** Writes the .npy header (`dim` columns when no row was written), flushes and renames the temporary file over the output. */
  async commit(dim) {
    if (this.format === 'npy') await this.#write(npyHeader(this.rows, this.rows > 0 ? this.dim : dim, NPY_HEADER_SIZE), 0)
    if (this.fd === null) return
    try {
      fs.fsyncSync(this.fd)
      fs.closeSync(this.fd)
      this.fd = null
      fs.renameSync(this.temp, this.file)
      this.temp = null
    } catch (err) {
      throw new CliError(`cannot write ${this.file}: ${systemMessage(err)}`)
    }
  }

  /** Removes the temporary file of an output that did not complete. */
  discard() {
    if (this.fd !== null) {
      try {
        fs.closeSync(this.fd)
      } catch {}
      this.fd = null
    }
    if (this.temp !== null) {
      try {
        fs.unlinkSync(this.temp)
      } catch {}
      this.temp = null
    }
  }
}

module.exports = { Output, float32Text, npyHeader, NPY_HEADER_SIZE }

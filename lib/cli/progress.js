'use strict'
// Progress of rag-embed on stderr: a bar with done/total, docs/s and ETA when stderr is a
// terminal, a line every 5 s otherwise.

function duration(seconds) {
  if (!Number.isFinite(seconds)) return '--:--'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const pad = (n) => String(n).padStart(2, '0')
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`
}

class Progress {
  /** `total` undefined (stdin) shows a count; `quiet` shows nothing. */
  constructor(total, { quiet, stream = process.stderr }) {
    this.total = total
    this.done = 0
    this.start = process.hrtime.bigint()
    this.quiet = quiet
    this.stream = stream
    this.tty = Boolean(stream.isTTY)
    this.lastDraw = 0
    this.lastLine = 0
    this.drawn = false
  }

  elapsed() {
    return Number(process.hrtime.bigint() - this.start) / 1e9
  }

  update(done) {
    this.done = done
    if (this.quiet) return
    const t = this.elapsed()
    if (this.tty) {
      if (t - this.lastDraw >= 0.1 || done === this.total) this.#draw(t)
    } else if (t - this.lastLine >= 5) {
      this.lastLine = t
      this.stream.write(`rag-embed: ${this.#status(t)}\n`)
    }
  }

  #status(t) {
    const rate = this.done / Math.max(t, 1e-9)
    if (this.total === undefined) return `${this.done} docs, ${rate.toFixed(1)} docs/s, ${duration(t)} elapsed`
    const pct = this.total === 0 ? 100 : (100 * this.done) / this.total
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity
    return `${this.done}/${this.total} (${pct.toFixed(0)}%), ${rate.toFixed(1)} docs/s, ETA ${duration(eta)}`
  }

  #draw(t) {
    this.lastDraw = t
    const width = this.stream.columns || 80
    const rate = this.done / Math.max(t, 1e-9)
    let line
    if (this.total === undefined) {
      line = `${this.done} docs  ${rate.toFixed(1)} docs/s  ${duration(t)}`
    } else {
      const eta = rate > 0 ? (this.total - this.done) / rate : Infinity
      const tail = ` ${this.done}/${this.total}  ${rate.toFixed(1)} docs/s  ETA ${duration(eta)}`
      const barWidth = Math.max(10, Math.min(40, width - tail.length - 3))
      const filled = this.total === 0 ? barWidth : Math.round((barWidth * this.done) / this.total)
      line = `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]${tail}`
    }
    this.stream.write(`\r${line.slice(0, width - 1)}\x1b[K`)
    this.drawn = true
  }

  /** Clears the bar. */
  end() {
    if (this.drawn) this.stream.write('\r\x1b[K')
    this.drawn = false
  }
}

/**
 * An Embedder `onProgress` for hub downloads: one stderr line as each file starts (the model's
 * files are fetched once into the hub cache, so later runs print nothing).
 */
function downloadReporter({ quiet, stream = process.stderr }) {
  if (quiet) return undefined
  const started = new Set()
  return ({ file, total }) => {
    if (started.has(file)) return
    started.add(file)
    const size = total === undefined ? '' : ` (${(total / 1e6).toFixed(1)} MB)`
    stream.write(`rag-embed: downloading ${file}${size}\n`)
  }
}

module.exports = { Progress, duration, downloadReporter }

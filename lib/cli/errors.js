'use strict'
// How rag-embed fails: one line on stderr, `rag-embed: <message>`, and an exit status.

/** A failure reported as one line, `rag-embed: <message>`, with this exit status. */
class CliError extends Error {
  constructor(message, status = 1) {
    super(message)
    this.status = status
  }
}

/** Exit status 2: the command line is wrong; the message says what to change. */
const usage = (message) => new CliError(`${message} (see rag-embed --help)`, 2)

/** A message on one line: multi-line native errors (lists of paths tried) are joined. */
function oneLine(message) {
  return String(message)
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter(Boolean)
    .join('; ')
}

const REASONS = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EEXIST: 'already exists',
  EFBIG: 'file too large',
}

/** A file system error in words, without node's "ENOENT: …, open '…'" framing. */
function systemMessage(err) {
  return REASONS[err?.code] ?? err?.message ?? String(err)
}

/** The flag that sets each library option, so the library's own messages name what to change. */
const FLAG_OF_OPTION = {
  model: '--model',
  dtype: '--dtype',
  threads: '--threads',
  revision: '--revision',
  cacheDir: '--cache-dir',
  persist: '--persist',
  redis: '--cache',
}

/**
 * An error of the library as a CliError: ERR_INVALID_OPTION is a usage error (status 2) with the
 * option names in the message replaced by their flags; anything else keeps its code.
 */
function libraryError(err, what) {
  if (err instanceof CliError) return err
  if (err?.code === 'ERR_INVALID_OPTION') {
    // `persist.path`, `redis.url`: a part of an option is set by the option's flag
    const message = String(err.message).replace(/`([A-Za-z]+)(?:\.\w+)*`/g, (whole, name) => FLAG_OF_OPTION[name] ?? whole)
    return usage(message)
  }
  return new CliError(`${what}: ${err?.code ? `${err.code}: ` : ''}${err?.message ?? err}`)
}

module.exports = { CliError, usage, oneLine, systemMessage, libraryError }

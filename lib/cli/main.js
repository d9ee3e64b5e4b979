'use strict'
// rag-embed's process: the command line to a command, errors to one stderr line and an exit
// status, signals and a closed stdout to a clean stop.

const { CliError, oneLine } = require('./errors.js')
const { parseCommandLine, USAGE } = require('./args.js')

/** What the signal handlers and the running command share. */
function runState() {
  const run = {
    output: null,
    embedding: 0,
    interrupted: null,
    stdoutClosed: false,
    /** A batch has been embedded: the moment to stop, if a signal came while it ran. */
    batchDone() {
      run.embedding--
      if (run.interrupted && run.embedding === 0) exitOnSignal(run, run.interrupted)
    },
  }
  return run
}

function cleanUp(run) {
  run.output?.discard()
  run.output = null
}

function exitOnSignal(run, { signal, number }) {
  cleanUp(run)
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
  process.stderr.write(`rag-embed: interrupted (${signal}); no output written\n`)
  process.exit(128 + number)
}

function handleSignals(run) {
  // A signal while a batch is being embedded stops the run after that batch (exiting under a
  // running inference would tear ONNX Runtime down beneath it); otherwise, and on a second signal, at once.
  for (const [signal, number] of /** @type {[NodeJS.Signals, number][]} */ ([
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ])) {
    process.on(signal, () => {
      if (run.embedding > 0 && !run.interrupted) {
        run.interrupted = { signal, number }
        return
      }
      exitOnSignal(run, { signal, number })
    })
  }
  process.on('exit', () => cleanUp(run))
  // A closed pipe (`rag-embed … | head`) ends the run quietly, after the batch being embedded.
  process.stdout.on('error', () => {
    run.stdoutClosed = true
  })
}

async function dispatch(argv, run) {
  const { command, options } = parseCommandLine(argv)
  if (command === 'help') process.stdout.write(`${USAGE}\n`)
  else if (command === 'version') process.stdout.write(`${require('../../package.json').version}\n`)
  else if (command === 'embed') await require('./embed.js').embedCommand(options, run)
  else await require('./info.js').infoCommand(options)
}

/** Runs rag-embed with `argv` (the arguments after the script) and sets process.exitCode. */
function main(argv) {
  const run = runState()
  handleSignals(run)
  return dispatch(argv, run).then(
    () => {
      process.exitCode = 0
    },
    (err) => {
      const message = oneLine(err?.message ?? err)
      // after a signal, the batch still running ends the process with that signal's message
      if (message && !run.interrupted) process.stderr.write(`rag-embed: ${message}\n`)
      process.exitCode = err instanceof CliError ? err.status : 1
    },
  )
}

module.exports = { main }

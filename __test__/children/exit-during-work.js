'use strict'
// Calls process.exit() while a model loads or embeds: argv[2] is the phase ('load': during
// Embedder.create, 'embed': during embedBatch, 'time': prints how long Embedder.create takes and
// exits), argv[3] the delay in milliseconds. The process must exit with code 0 whatever ONNX
// Runtime is doing at that moment.

const { Embedder } = require('../..')
const { modelPath } = require('../helpers')

const phase = process.argv[2] ?? 'embed'
const delay = Number(process.argv[3] ?? Math.random() * 300)
const texts = Array.from({ length: 300 }, (_, i) => `passage ${i}: the quick brown fox jumps over the lazy dog ${'again '.repeat(i % 40)}`)
const create = () => Embedder.create({ model: modelPath('all-MiniLM-L6-v2') })

async function main() {
  if (phase === 'time') {
    const started = performance.now()
    await create()
    console.log(JSON.stringify({ loadMs: performance.now() - started }))
    return
  }
  if (phase === 'load') {
    setTimeout(() => process.exit(0), delay)
    await create()
    return
  }
  const embedder = await create()
  setTimeout(() => process.exit(0), delay)
  await embedder.embedBatch(texts)
  await embedder.embedBatch(texts)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(3)
  },
)

'use strict'
// Child process for the persistence tests: embeds `doc <i>` texts through a persistent cache over
// tiny-bert-cls, in batches, and prints a JSON summary. Usage:
//   node cache-writer.js <cache file> <first> <count> [--forever]
const { Embedder, CachedEmbedder } = require('../..')
const { modelPath } = require('../helpers.js')

async function main() {
  const [file, first, count, forever] = process.argv.slice(2)
  const model = await Embedder.create({ model: modelPath('tiny-bert-cls') })
  const cache = new CachedEmbedder(model, { persist: { path: file } })
  const start = Number(first)
  const end = start + Number(count)
  do {
    for (let i = start; i < end; i += 16) {
      const texts = []
      for (let j = i; j < Math.min(i + 16, end); j++) texts.push(`doc ${j}`)
      await cache.embedBatch(texts)
      if (forever) process.stdout.write(`${i}\n`)
    }
  } while (forever)
  const { hits, misses, diskHits } = cache.stats()
  process.stdout.write(JSON.stringify({ hits, misses, diskHits }) + '\n')
}

main().catch((err) => {
  process.stderr.write(`${err.code}: ${err.message}\n`)
  process.exit(1)
})

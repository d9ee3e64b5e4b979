'use strict'
// The release workflow's check on each platform's runner, where the shared models are absent:
// the installed package loads, embeds with all-MiniLM-L6-v2 from the Hugging Face hub, and ranks a
// paraphrase above an unrelated sentence; TF-IDF runs natively too.

const assert = require('node:assert/strict')
const { Embedder, TfidfEmbedder, cosine } = require('@rag-native/embedder')

async function main() {
  const embedder = await Embedder.create({ model: 'sentence-transformers/all-MiniLM-L6-v2' })
  const [a, b, c] = await embedder.embedBatch(['A man is eating food.', 'A man is eating a piece of bread.', 'The stock market fell sharply today.'])
  assert.equal(a.length, 384)
  assert.ok(Math.abs(cosine(a, a) - 1) < 1e-6)
  assert.ok(cosine(a, b) > cosine(a, c) + 0.3, `${cosine(a, b)} vs ${cosine(a, c)}`)
  const tfidf = await new TfidfEmbedder().fit(['red apples', 'green pears', 'red pears'])
  assert.equal((await tfidf.embed('red')).length, tfidf.dimension)
  embedder.dispose()
  console.log(`ok: ${process.platform}-${process.arch}, cosine ${cosine(a, b).toFixed(4)} / ${cosine(a, c).toFixed(4)}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

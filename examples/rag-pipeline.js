'use strict'
// createRagPipeline (@devilsdev/rag-pipeline-utils) with a local sentence-transformers model as its
// embedder, an in-memory retriever and an extractive stand-in for the LLM: runs offline.
//
//   npm install @devilsdev/rag-pipeline-utils
//   node examples/rag-pipeline.js [model folder] [corpus.jsonl] [queries.jsonl]
//
// Defaults: ../shared/models/all-MiniLM-L6-v2 and the first 500 passages and first 3 queries of
// ../shared/data/msmarco-5k (RAG_NATIVE_SHARED overrides ../shared).

const fs = require('node:fs')
const path = require('node:path')

// in your project: require('@rag-native/embedder')
const { Embedder, CachedEmbedder, cosine } = require('..')

const SHARED = process.env.RAG_NATIVE_SHARED ?? path.resolve(__dirname, '..', '..', 'shared')
const [modelDir = path.join(SHARED, 'models', 'all-MiniLM-L6-v2'), corpusFile = path.join(SHARED, 'data', 'msmarco-5k', 'corpus.jsonl'), queriesFile = path.join(SHARED, 'data', 'msmarco-5k', 'queries.jsonl')] =
  process.argv.slice(2)

const readJsonl = (file, limit) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .slice(0, limit)
    .map((line) => JSON.parse(line))

async function loadRagPipelineUtils() {
  let mod
  try {
    mod = require('@devilsdev/rag-pipeline-utils')
  } catch (err) {
    if (err.code === 'ERR_REQUIRE_ESM') mod = await import('@devilsdev/rag-pipeline-utils')
    else if (err.code === 'MODULE_NOT_FOUND') {
      console.error('this example needs @devilsdev/rag-pipeline-utils: npm install @devilsdev/rag-pipeline-utils')
      process.exit(1)
    } else throw err
  }
  const createRagPipeline = mod.createRagPipeline ?? mod.default?.createRagPipeline
  if (typeof createRagPipeline !== 'function') throw new Error('@devilsdev/rag-pipeline-utils exports no createRagPipeline')
  return createRagPipeline
}

/** The retriever plugin: `store(vectors)` and `retrieve({ query, queryVector, topK })` over cosine scores. */
class MemoryRetriever {
  constructor(embedder) {
    this.embedder = embedder
    this.passages = []
    this.vectors = []
  }

  async store(vectors, passages = []) {
    this.vectors.push(...vectors)
    this.passages.push(...passages)
  }

  async retrieve({ query, queryVector, topK = 3 }) {
    // the pipeline has already called embedder.embed(query): with a CachedEmbedder this is a hit
    const q = queryVector ?? (await this.embedder.embed(query))
    const scores = cosine(q, this.vectors)
    return [...scores.keys()]
      .sort((a, b) => scores[b] - scores[a])
      .slice(0, topK)
      .map((i) => ({ ...this.passages[i], score: scores[i] }))
  }
}

/** Stands in for an LLM plugin (`generate(prompt, context)`): answers with the best passage. */
const extractiveLlm = {
  async generate(query, results) {
    return results.length ? results[0].text : 'no passage found'
  },
}

async function main() {
  const createRagPipeline = await loadRagPipelineUtils()

  // the embedder plugin: `embed(text | texts)` and `embedQuery(text)`
  const embedder = new CachedEmbedder(await Embedder.create({ model: modelDir }))
  const retriever = new MemoryRetriever(embedder)

  const passages = readJsonl(corpusFile, 500)
  let started = performance.now()
  // the shape rag-pipeline-utils uses for ingestion: embed(chunks) → one vector per chunk
  const vectors = await embedder.embed(passages.map((p) => p.text))
  await retriever.store(
    vectors,
    passages.map((p) => ({ id: p._id, text: p.text })),
  )
  console.log(`indexed ${passages.length} passages in ${((performance.now() - started) / 1000).toFixed(1)} s (${vectors[0].length}-d)`)

  const pipeline = createRagPipeline({ embedder, retriever, llm: extractiveLlm })
  for (const { text: query } of readJsonl(queriesFile, 3)) {
    started = performance.now()
    const result = await pipeline.run({ query, options: { topK: 3 } })
    if (!result.success) throw new Error(`pipeline run failed: ${result.error}`)
    console.log(`\n${query}  (${(performance.now() - started).toFixed(0)} ms)`)
    for (const r of result.results) console.log(`  ${r.score.toFixed(3)}  ${r.id}  ${r.text.slice(0, 90)}…`)
  }
  const { hits, misses } = embedder.stats()
  console.log(`\ncache: ${hits} hits, ${misses} misses`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

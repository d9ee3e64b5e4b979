'use strict'
// `rag-embed info`: what the model is, as a table or as JSON (Embedder.modelInfo).

const { loadModel } = require('./model.js')

async function infoCommand(options) {
  const model = await loadModel(options, { quiet: false })
  const info = model.modelInfo
  model.dispose()
  if (options.json) {
    process.stdout.write(`${JSON.stringify(info, null, 2)}\n`)
    return
  }
  const prompts = Object.entries(info.prompts)
  const rows = [
    ['model', info.modelPath],
    ['onnx', `${info.onnxPath} (${info.dtype})`],
    ['dimension', String(info.dimension)],
    ['pooling', info.pooling],
    ['max length', `${info.maxLength} tokens`],
    ['normalize', info.normalize ? 'yes (unit vectors)' : 'no'],
    ['inputs', info.inputNames.join(', ')],
    ['output', info.outputName],
    ['prompts', prompts.length ? prompts.map(([k, v]) => `${k}: ${JSON.stringify(v)}`).join(', ') : 'none'],
    ['threads', String(info.threads)],
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join(''))
}

module.exports = { infoCommand }

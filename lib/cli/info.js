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
    ['graph', describeGraph(info)],
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

/** Which graph runs: the model's own file (shipped or exported), one built from its checkpoint, or a derived int8 one. */
function describeGraph(info) {
  const { kind, source, derivedNow } = info.graph
  const when = derivedNow ? 'made by this load' : 'kept from an earlier load'
  switch (kind) {
    case 'file':
      return /quantized|int8|q8/i.test(info.onnxPath) ? 'the model folder\'s int8 ONNX file, as shipped' : 'the model folder\'s ONNX file (exported)'
    case 'built':
      return `built from the checkpoint ${source} (${when})`
    case 'derived-q8':
      return `int8 graph derived from ${source} (${when})`
    case 'static':
      return `none: a static model (token vectors averaged, no ONNX Runtime), weights ${info.onnxPath}`
    default:
      return kind
  }
}

module.exports = { infoCommand, describeGraph }

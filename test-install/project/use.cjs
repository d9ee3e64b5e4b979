'use strict'
const lib = require('@rag-native/embedder')
const exercise = require('./exercise.cjs')

exercise(lib, process.argv[2]).then((summary) => {
  console.log(JSON.stringify({ ...summary, exports: Object.keys(lib).sort() }))
})

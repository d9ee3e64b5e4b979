#!/usr/bin/env node
'use strict'
// rag-embed: embeds a text or JSONL file (or stdin, or one shard of a file) with a
// sentence-transformers model and writes one vector per record as JSONL or a float32 .npy matrix.
// The commands live in lib/cli/; docs/cli.md documents them.

require('../lib/cli/main.js').main(process.argv.slice(2))

// Types of the ESM entry point (index.mjs): the same names as index.d.ts, and the CommonJS module
// object as the default export.
export * from './index.js'

declare const cjs: typeof import('./index.js')
export default cjs

/** Options of `new Embedder()`. Only `model` is required: everything else comes from the model's own files. */
export interface EmbedderOptions {
  /** Folder of a sentence-transformers model exported to ONNX (`onnx/model.onnx` or `model.onnx`, `tokenizer.json`, configs). */
  model?: string
  /** Synonym of `model`, the name RAG tutorials use. */
  modelName?: string
  /** `'fp32'` (default, `model.onnx`) or `'q8'` (`model_quantized.onnx`). */
  dtype?: 'fp32' | 'q8'
  /** An ONNX file inside the model folder, instead of the one `dtype` picks. */
  modelFile?: string
  /** Truncation length in tokens; default: the model's `max_seq_length`. */
  maxLength?: number
  /** Pooling override; default: the model's `1_Pooling/config.json`. */
  pooling?: 'mean' | 'cls' | 'max'
  /** Normalisation override; default: whether `modules.json` lists a Normalize module. */
  normalize?: boolean
  /** Texts per inference call (default 32). */
  batchSize?: number
  /** Padded tokens (texts × longest) per inference call (default 512); longer texts run alone. */
  maxBatchTokens?: number
  /** ONNX Runtime intra-op threads; default: the cores this process may use (the CPU quota in a container). */
  threads?: number
}

/** Options of one embedding call. */
export interface EmbedOptions {
  /** `'array'` (default) returns `number[]` vectors; `'float32'` returns `Float32Array`s, which skips a conversion. */
  output?: 'array' | 'float32'
}

export interface EmbedFloat32Options extends EmbedOptions {
  output: 'float32'
}

/** What was loaded. */
export interface ModelInfo {
  readonly modelPath: string
  readonly onnxPath: string
  readonly tokenizerPath: string
  readonly dtype: 'fp32' | 'q8'
  /** Pooling mode(s), e.g. `'mean'`; several modes are joined by `+`. */
  readonly pooling: string
  readonly normalize: boolean
  readonly maxLength: number
  readonly dimension: number
  /** The inputs the ONNX graph declares, which are the only ones fed. */
  readonly inputNames: readonly string[]
  readonly outputName: string
  /** Prompts from `config_sentence_transformers.json`, by name. */
  readonly prompts: Readonly<Record<string, string>>
  readonly threads: number
}

/** Error codes, stable across versions. */
export type EmbedderErrorCode =
  | 'ERR_MODEL_NOT_FOUND'
  | 'ERR_MODEL_INVALID'
  | 'ERR_INVALID_INPUT'
  | 'ERR_INVALID_OPTION'
  | 'ERR_DISPOSED'
  | 'ERR_RUNTIME'

export declare class EmbedderError extends Error {
  constructor(code: EmbedderErrorCode, message: string, options?: ErrorOptions)
  readonly code: EmbedderErrorCode
}

/**
 * A sentence-transformers model exported to ONNX, embedding text exactly as sentence-transformers
 * does. Inference runs off the JavaScript thread.
 */
export declare class Embedder {
  /** Checks the options; the model loads on first use or on `initialize()`. */
  constructor(options: EmbedderOptions)
  /** A loaded embedder; rejects if the model cannot be loaded. */
  static create(options: EmbedderOptions): Promise<Embedder>
  /** Loads the model now. */
  initialize(): Promise<this>
  /** Embedding size; `undefined` until the model has loaded. */
  readonly dimension: number | undefined
  /** Truncation length in tokens; `undefined` until the model has loaded. */
  readonly maxLength: number | undefined
  /** `undefined` until the model has loaded. */
  readonly modelInfo: ModelInfo | undefined

  embed(text: string, options?: EmbedOptions & { output?: 'array' }): Promise<number[]>
  embed(text: string, options: EmbedFloat32Options): Promise<Float32Array>
  embed(texts: string[], options?: EmbedOptions & { output?: 'array' }): Promise<number[][]>
  embed(texts: string[], options: EmbedFloat32Options): Promise<Float32Array[]>
  /** One vector per text, in input order. */
  embedBatch(texts: string[], options?: EmbedOptions & { output?: 'array' }): Promise<number[][]>
  embedBatch(texts: string[], options: EmbedFloat32Options): Promise<Float32Array[]>
  /** With the model's `query` prompt, when it defines one. */
  embedQuery(text: string, options?: EmbedOptions & { output?: 'array' }): Promise<number[]>
  embedQuery(text: string, options: EmbedFloat32Options): Promise<Float32Array>
  /** With the model's `document` prompt, when it defines one. */
  embedDocuments(texts: string[], options?: EmbedOptions & { output?: 'array' }): Promise<number[][]>
  embedDocuments(texts: string[], options: EmbedFloat32Options): Promise<Float32Array[]>
  /** Frees the model; later calls reject with `ERR_DISPOSED`. */
  dispose(): void
}

/** The name RAG tutorials use for `Embedder`. */
export declare const SentenceTransformerEmbedder: typeof Embedder
export type SentenceTransformerEmbedder = Embedder

/** The cores this process may use: the default of `threads`. */
export declare function defaultThreads(): number

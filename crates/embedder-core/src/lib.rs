//! Sentence-transformers inference on ONNX Runtime.
//!
//! [`Embedder`] loads a sentence-transformers model exported to ONNX from a local folder and embeds
//! text as `SentenceTransformer.encode` does: the model's tokenizer and truncation length, its
//! pooling, and the modules that follow pooling (`Dense`, `Normalize`), all read from the model's
//! own configuration files.

pub mod batcher;
pub mod batching;
pub mod cache;
pub mod cache_key;
pub mod checkpoint;
pub mod config;
pub mod derived;
pub mod embedder;
pub mod error;
pub mod files;
pub mod hub;
pub mod lexical;
pub mod memory;
pub mod modules;
pub mod onnx;
pub mod pooling;
pub mod quantize;
pub mod redis_tier;
pub mod runtime;
pub mod service;
pub mod similarity;
pub mod static_model;
pub mod store;
pub mod tokenize;
pub mod wordpiece;

pub use config::ModelConfig;
pub use embedder::{default_threads, Embedder, EmbedderOptions, GraphInfo, ModelInfo, Progress, DEFAULT_MAX_BATCH_TOKENS};
pub use error::{Error, Result};
pub use files::{Dtype, ModelFiles};
pub use pooling::PoolingMode;

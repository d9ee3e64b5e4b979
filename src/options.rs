//! JavaScript options, converted into core options where the defaults live.

use std::path::PathBuf;

use embedder_core::hub::{HubOptions, DEFAULT_MODEL};
use embedder_core::{Dtype, EmbedderOptions, Error, PoolingMode, DEFAULT_MAX_BATCH_TOKENS};
use napi_derive::napi;

#[napi(object)]
#[derive(Default)]
pub struct NativeEmbedderOptions {
    /// A model folder or a hub id; default: [`DEFAULT_MODEL`].
    pub model: Option<String>,
    /// The hub revision (branch, tag or commit) of a hub id; default `main`.
    pub revision: Option<String>,
    /// The hub cache folder; default: HF_HUB_CACHE, $HF_HOME/hub, ~/.cache/huggingface/hub.
    pub cache_dir: Option<String>,
    pub dtype: Option<String>,
    pub model_file: Option<String>,
    pub max_length: Option<u32>,
    pub pooling: Option<String>,
    pub normalize: Option<bool>,
    pub batch_size: Option<u32>,
    pub max_batch_tokens: Option<u32>,
    pub threads: Option<u32>,
    pub truncate_dim: Option<u32>,
    pub runtime_library: Option<String>,
}

impl TryFrom<NativeEmbedderOptions> for EmbedderOptions {
    type Error = Error;

    fn try_from(o: NativeEmbedderOptions) -> Result<Self, Error> {
        let model = o.model.unwrap_or_else(|| DEFAULT_MODEL.to_string());
        let runtime_library = o
            .runtime_library
            .ok_or(Error::InvalidOption { option: "runtimeLibrary", reason: "the ONNX Runtime library path is required".into() })?;
        let dtype = match o.dtype.as_deref() {
            None => Dtype::Fp32,
            Some(s) => {
                Dtype::parse(s).ok_or_else(|| Error::InvalidOption { option: "dtype", reason: format!("`{s}` is not 'fp32' or 'q8'") })?
            }
        };
        let pooling = match o.pooling.as_deref() {
            None => None,
            Some(s @ ("mean" | "cls" | "max")) => PoolingMode::parse(s),
            Some(s) => return Err(Error::InvalidOption { option: "pooling", reason: format!("`{s}` is not 'mean', 'cls' or 'max'") }),
        };
        let positive = |option: &'static str, v: Option<u32>| -> Result<Option<usize>, Error> {
            match v {
                Some(0) => Err(Error::InvalidOption { option, reason: "must be at least 1".into() }),
                v => Ok(v.map(|n| n as usize)),
            }
        };
        Ok(EmbedderOptions::new(PathBuf::from(model), PathBuf::from(runtime_library))
            .with_dtype(dtype)
            .with_model_file(o.model_file)
            .with_hub(HubOptions::default().with_revision(o.revision).with_cache_dir(o.cache_dir.map(PathBuf::from)))
            .with_max_length(positive("maxLength", o.max_length)?)
            .with_pooling(pooling)
            .with_normalize(o.normalize)
            .with_batch_size(positive("batchSize", o.batch_size)?.unwrap_or(32))
            .with_max_batch_tokens(positive("maxBatchTokens", o.max_batch_tokens)?.unwrap_or(DEFAULT_MAX_BATCH_TOKENS))
            .with_threads(positive("threads", o.threads)?)
            .with_truncate_dim(positive("truncateDim", o.truncate_dim)?))
    }
}

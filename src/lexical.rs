//! `NativeTfidf`: a TF-IDF model (`embedder_core::lexical`) that is fitted and applied off the
//! JavaScript thread.

use std::sync::{Arc, Mutex};

use embedder_core::lexical::{Tfidf, TfidfOptions};
use embedder_core::Error;
use napi::bindgen_prelude::{Float32Array, Float64Array, PromiseRaw};
use napi::Env;
use napi_derive::napi;

use crate::error::{catch_panic, to_js};
use crate::options::count;

#[napi(object)]
#[derive(Default)]
pub struct NativeTfidfOptions {
    pub max_features: Option<f64>,
    pub lowercase: Option<bool>,
    pub min_df: Option<f64>,
    pub smooth_idf: Option<bool>,
    pub sublinear_tf: Option<bool>,
    pub vocabulary: Option<Vec<String>>,
}

impl TryFrom<NativeTfidfOptions> for TfidfOptions {
    type Error = Error;

    fn try_from(o: NativeTfidfOptions) -> Result<Self, Error> {
        let defaults = TfidfOptions::default();
        Ok(defaults
            .clone()
            .with_max_features(count("maxFeatures", o.max_features)?)
            .with_lowercase(o.lowercase.unwrap_or(defaults.lowercase))
            .with_min_df(count("minDf", o.min_df)?.unwrap_or(defaults.min_df))
            .with_smooth_idf(o.smooth_idf.unwrap_or(defaults.smooth_idf))
            .with_sublinear_tf(o.sublinear_tf.unwrap_or(defaults.sublinear_tf))
            .with_vocabulary(o.vocabulary))
    }
}

impl From<&TfidfOptions> for NativeTfidfOptions {
    fn from(o: &TfidfOptions) -> Self {
        NativeTfidfOptions {
            max_features: o.max_features.map(|n| n as f64),
            lowercase: Some(o.lowercase),
            min_df: Some(o.min_df as f64),
            smooth_idf: Some(o.smooth_idf),
            sublinear_tf: Some(o.sublinear_tf),
            vocabulary: None,
        }
    }
}

/// A fitted model's parts: enough to rebuild it without the corpus.
#[napi(object)]
pub struct NativeTfidfState {
    pub vocabulary: Vec<String>,
    pub idf: Float64Array,
    pub options: NativeTfidfOptions,
}

#[napi]
pub struct NativeTfidf {
    options: TfidfOptions,
    model: Arc<Mutex<Option<Arc<Tfidf>>>>,
}

impl NativeTfidf {
    fn fitted(&self) -> Option<Arc<Tfidf>> {
        self.model.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T, Error> + Send + 'static) -> napi::Result<T> {
    tokio::task::spawn_blocking(move || catch_panic(work))
        .await
        .map_err(|e| to_js(Error::Runtime(format!("TF-IDF task failed: {e}"))))?
        .map_err(to_js)
}

#[napi]
impl NativeTfidf {
    /// Checks the options; `fit` builds the vocabulary.
    #[napi(constructor)]
    pub fn new(options: NativeTfidfOptions) -> napi::Result<Self> {
        let options = TfidfOptions::try_from(options).map_err(to_js)?;
        Ok(NativeTfidf { options, model: Arc::new(Mutex::new(None)) })
    }

    /// A fitted model from the parts `state()` returned.
    #[napi(factory)]
    pub fn from_state(state: NativeTfidfState) -> napi::Result<Self> {
        let options = TfidfOptions::try_from(state.options).map_err(to_js)?;
        let model = catch_panic(|| Tfidf::from_parts(state.vocabulary, state.idf.to_vec(), options.clone())).map_err(to_js)?;
        Ok(NativeTfidf { options, model: Arc::new(Mutex::new(Some(Arc::new(model)))) })
    }

    /// Builds the vocabulary and idf from `corpus` (replacing any earlier fit); resolves to the
    /// dimension.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn fit<'env>(&self, env: &'env Env, corpus: Vec<String>) -> napi::Result<PromiseRaw<'env, u32>> {
        let options = self.options.clone();
        let model = self.model.clone();
        env.spawn_future(async move {
            let fitted = blocking(move || Tfidf::fit(&corpus, &options)).await?;
            let dimension = fitted.dimension() as u32;
            *model.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(fitted));
            Ok(dimension)
        })
    }

    /// `texts.length × dimension` weights, rows concatenated; rejects with `ERR_NOT_FITTED`
    /// before `fit`.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn embed<'env>(&self, env: &'env Env, texts: Vec<String>) -> napi::Result<PromiseRaw<'env, Float32Array>> {
        let fitted = self.fitted();
        env.spawn_future(async move {
            let model = fitted.ok_or_else(|| to_js(Error::NotFitted))?;
            blocking(move || Ok(model.transform(&texts))).await.map(Float32Array::new)
        })
    }

    /// The fitted model's parts, or `null` before `fit`.
    #[napi]
    pub fn state(&self) -> Option<NativeTfidfState> {
        self.fitted().map(|m| NativeTfidfState {
            vocabulary: m.vocabulary().to_vec(),
            idf: Float64Array::new(m.idf().to_vec()),
            options: NativeTfidfOptions::from(m.options()),
        })
    }

    /// The vocabulary size once fitted, else `null`.
    #[napi(getter)]
    pub fn dimension(&self) -> Option<u32> {
        self.fitted().map(|m| m.dimension() as u32)
    }
}

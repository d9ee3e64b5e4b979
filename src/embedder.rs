//! `NativeEmbedder`: the core `Embedder` behind a lazily loaded, disposable handle whose work runs
//! off the JavaScript thread.

use std::sync::{Arc, Mutex};

use embedder_core::{Embedder, EmbedderOptions, Error, ModelInfo};
use napi::bindgen_prelude::{Float32Array, PromiseRaw};
use napi::Env;
use napi_derive::napi;

use crate::error::{catch_panic, to_js};
use crate::options::NativeEmbedderOptions;

enum State {
    Unloaded(EmbedderOptions),
    Loaded(Arc<Embedder>),
    Disposed,
}

struct Shared {
    state: Mutex<State>,
    /// One inference at a time per model (ONNX Runtime already uses every core for one batch);
    /// waiting callers queue here without holding a thread.
    lane: tokio::sync::Mutex<()>,
}

impl Shared {
    /// The loaded model, loading it on first use. Blocking: call from a blocking thread.
    fn embedder(&self) -> Result<Arc<Embedder>, Error> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &*state {
            State::Loaded(e) => Ok(e.clone()),
            State::Disposed => Err(Error::Disposed),
            State::Unloaded(options) => {
                let embedder = Arc::new(catch_panic(|| Embedder::load(options))?);
                *state = State::Loaded(embedder.clone());
                Ok(embedder)
            }
        }
    }

    fn is_disposed(&self) -> bool {
        matches!(*self.state.lock().unwrap_or_else(|p| p.into_inner()), State::Disposed)
    }

    async fn run<T: Send + 'static>(self: Arc<Self>, work: impl FnOnce(&Embedder) -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
        if self.is_disposed() {
            return Err(Error::Disposed);
        }
        let _turn = self.lane.lock().await;
        let shared = self.clone();
        tokio::task::spawn_blocking(move || {
            let embedder = shared.embedder()?;
            catch_panic(|| work(&embedder))
        })
        .await
        .map_err(|e| Error::Runtime(format!("embedding task failed: {e}")))?
    }
}

#[napi(object)]
pub struct NativeModelInfo {
    pub model_dir: String,
    pub onnx_path: String,
    pub tokenizer_path: String,
    pub dtype: String,
    pub pooling: String,
    pub normalize: bool,
    pub max_length: u32,
    pub dimension: u32,
    pub input_names: Vec<String>,
    pub output_name: String,
    pub prompts: std::collections::HashMap<String, String>,
    pub threads: u32,
}

impl From<&ModelInfo> for NativeModelInfo {
    fn from(i: &ModelInfo) -> Self {
        NativeModelInfo {
            model_dir: i.model_dir.display().to_string(),
            onnx_path: i.onnx_path.display().to_string(),
            tokenizer_path: i.tokenizer_path.display().to_string(),
            dtype: i.dtype.name().into(),
            pooling: i.pooling.iter().map(|m| m.name()).collect::<Vec<_>>().join("+"),
            normalize: i.normalize,
            max_length: i.max_length as u32,
            dimension: i.dimension as u32,
            input_names: i.input_names.clone(),
            output_name: i.output_name.clone(),
            prompts: i.prompts.iter().cloned().collect(),
            threads: i.threads as u32,
        }
    }
}

#[napi]
pub struct NativeEmbedder {
    shared: Arc<Shared>,
}

#[napi]
impl NativeEmbedder {
    /// Checks the options; the model loads on first use.
    #[napi(constructor)]
    pub fn new(options: NativeEmbedderOptions) -> napi::Result<Self> {
        let options = EmbedderOptions::try_from(options).map_err(to_js)?;
        Ok(NativeEmbedder {
            shared: Arc::new(Shared { state: Mutex::new(State::Unloaded(options)), lane: tokio::sync::Mutex::new(()) }),
        })
    }

    /// Loads the model now; resolves to its description.
    #[napi(ts_return_type = "Promise<NativeModelInfo>")]
    pub fn initialize<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, NativeModelInfo>> {
        let shared = self.shared.clone();
        env.spawn_future(async move {
            shared.run(|e| Ok(NativeModelInfo::from(e.info()))).await.map_err(to_js)
        })
    }

    /// Embeds `texts`, with the model's prompt named `prompt_name` prepended when it defines one;
    /// resolves to `texts.length × dimension` values.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn embed<'env>(&self, env: &'env Env, texts: Vec<String>, prompt_name: Option<String>) -> napi::Result<PromiseRaw<'env, Float32Array>> {
        let shared = self.shared.clone();
        env.spawn_future(async move {
            let flat = shared
                .run(move |e| {
                    let prompt = prompt_name.as_deref().and_then(|name| e.prompt(name)).unwrap_or("");
                    e.embed(&texts, prompt)
                })
                .await
                .map_err(to_js)?;
            Ok(Float32Array::new(flat))
        })
    }

    /// The model's description once it is loaded, else `null`.
    #[napi]
    pub fn info(&self) -> Option<NativeModelInfo> {
        match &*self.shared.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Loaded(e) => Some(NativeModelInfo::from(e.info())),
            _ => None,
        }
    }

    /// Frees the model; calls already running finish, later ones reject with `ERR_DISPOSED`.
    #[napi]
    pub fn dispose(&self) {
        *self.shared.state.lock().unwrap_or_else(|p| p.into_inner()) = State::Disposed;
    }

    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.shared.is_disposed()
    }
}

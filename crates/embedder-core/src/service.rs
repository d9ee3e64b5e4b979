//! Asynchronous embedding services that stack: a model, a cache, a micro-batcher, or a base
//! implemented elsewhere (in JavaScript, say). Each takes texts and gives one vector per text.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::embedder::{Embedder, EmbedderOptions, Progress};
use crate::error::{Error, Result};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Which of the model's prompts a text gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TextKind {
    Plain,
    Query,
    Document,
}

impl TextKind {
    pub fn prompt_name(self) -> Option<&'static str> {
        match self {
            TextKind::Plain => None,
            TextKind::Query => Some("query"),
            TextKind::Document => Some("document"),
        }
    }
}

/// Something that embeds texts.
pub trait EmbedService: Send + Sync + 'static {
    /// One vector per text, in order.
    fn embed_batch(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>>;

    /// What determines the vectors for `kind`: equal fingerprints and texts give equal vectors.
    fn fingerprint(self: Arc<Self>, kind: TextKind) -> BoxFuture<Result<String>>;
}

/// Embeds each text through `service`, so that one bad text fails alone: a rejected batch is
/// retried in halves until the failing texts are isolated.
pub async fn embed_each(service: Arc<dyn EmbedService>, texts: Vec<String>, kind: TextKind) -> Vec<Result<Vec<f32>>> {
    let n = texts.len();
    match service.clone().embed_batch(texts.clone(), kind).await {
        Ok(vectors) if vectors.len() == n => vectors.into_iter().map(Ok).collect(),
        Ok(vectors) => {
            let err = Error::InvalidInput { index: 0, reason: format!("the base returned {} vectors for {n} texts", vectors.len()) };
            (0..n).map(|_| Err(err.clone())).collect()
        }
        Err(err) if n == 1 => vec![Err(err)],
        Err(_) => {
            let right = texts[n / 2..].to_vec();
            let left = texts[..n / 2].to_vec();
            let mut out = Box::pin(embed_each(service.clone(), left, kind)).await;
            out.extend(Box::pin(embed_each(service, right, kind)).await);
            out
        }
    }
}

enum State {
    Unloaded(EmbedderOptions),
    Loaded(Arc<Embedder>),
    Disposed,
}

/// A model that loads on first use, runs one batch at a time off the async executor, and can be
/// disposed while calls are queued.
pub struct ModelService {
    state: Mutex<State>,
    /// Callers queue here without holding a thread; ONNX Runtime already uses every core for one batch.
    lane: tokio::sync::Mutex<()>,
}

impl ModelService {
    pub fn new(options: EmbedderOptions) -> Self {
        ModelService { state: Mutex::new(State::Unloaded(options)), lane: tokio::sync::Mutex::new(()) }
    }

    /// The model, loading it on first use. Blocks: call from a blocking thread.
    fn embedder(&self) -> Result<Arc<Embedder>> {
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

    /// The loaded model, if it is loaded.
    pub fn loaded(&self) -> Option<Arc<Embedder>> {
        match &*self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Loaded(e) => Some(e.clone()),
            _ => None,
        }
    }

    pub fn is_disposed(&self) -> bool {
        matches!(*self.state.lock().unwrap_or_else(|p| p.into_inner()), State::Disposed)
    }

    /// Frees the model; queued calls reject with [`Error::Disposed`], a running batch finishes.
    pub fn dispose(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = State::Disposed;
    }

    /// Runs `work` on the model on a blocking thread, loading the model first if needed.
    pub async fn run<T: Send + 'static>(self: Arc<Self>, work: impl FnOnce(&Embedder) -> Result<T> + Send + 'static) -> Result<T> {
        if self.is_disposed() {
            return Err(Error::Disposed);
        }
        let _turn = self.lane.lock().await;
        let service = self.clone();
        let job = move || {
            let embedder = service.embedder()?;
            catch_panic(|| work(&embedder))
        };
        // On a multi-threaded runtime the worker runs the job itself and hands its other tasks to
        // a new worker: one thread hop less than spawn_blocking, a tenth of a short query's time.
        if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(job)
        } else {
            tokio::task::spawn_blocking(job).await.map_err(|e| Error::Runtime(format!("embedding task failed: {e}")))?
        }
    }

    /// Embeds texts into one row-major buffer (`texts.len() × dimension`), optionally truncated
    /// to `truncate_dim` dimensions.
    pub async fn embed_flat(self: Arc<Self>, texts: Vec<String>, kind: TextKind, truncate_dim: Option<usize>, progress: Progress) -> Result<Vec<f32>> {
        self.run(move |e| {
            let prompt = kind.prompt_name().and_then(|name| e.prompt(name)).unwrap_or("");
            e.embed_truncated(&texts, prompt, truncate_dim, &progress)
        })
        .await
    }
}

impl EmbedService for ModelService {
    fn embed_batch(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
        Box::pin(async move {
            let n = texts.len();
            if n == 0 {
                return Ok(Vec::new());
            }
            let flat = self.embed_flat(texts, kind, None, Progress::none()).await?;
            let dim = flat.len() / n;
            if dim == 0 || flat.len() != n * dim {
                return Err(Error::Runtime(format!("the model produced {} values for {n} texts", flat.len())));
            }
            Ok(flat.chunks_exact(dim).map(<[f32]>::to_vec).collect())
        })
    }

    fn fingerprint(self: Arc<Self>, kind: TextKind) -> BoxFuture<Result<String>> {
        Box::pin(async move { self.run(move |e| Ok(e.fingerprint(kind.prompt_name().and_then(|n| e.prompt(n)).unwrap_or("")))).await })
    }
}

/// Runs `f`, turning a panic into an [`Error::Runtime`] instead of unwinding further.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::Runtime(format!("internal error ({what}); this is a bug, please report it")))
    })
}

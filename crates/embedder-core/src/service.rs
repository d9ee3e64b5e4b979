//! Asynchronous embedding services that stack: a model, a cache, a micro-batcher, or a base
//! implemented elsewhere (in JavaScript, say). Each takes texts and gives one vector per text.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Every kind, in the order of their numbers at the JavaScript boundary (the cache-hit path
    /// passes a kind as its index here).
    pub const ALL: [TextKind; 3] = [TextKind::Plain, TextKind::Query, TextKind::Document];

    pub fn name(self) -> &'static str {
        match self {
            TextKind::Plain => "plain",
            TextKind::Query => "query",
            TextKind::Document => "document",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The kind numbered `index` in [`TextKind::ALL`].
    pub fn from_index(index: u32) -> Option<Self> {
        Self::ALL.get(index as usize).copied()
    }

    /// The key of its prompt in `config_sentence_transformers.json` (`prompts.query`,
    /// `prompts.document`): the kind's own name.
    pub fn prompt_name(self) -> Option<&'static str> {
        (self != TextKind::Plain).then(|| self.name())
    }
}

/// Something that embeds texts.
pub trait EmbedService: Send + Sync + 'static {
    /// One vector per text, in order.
    fn embed_batch(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>>;

    /// What determines the vectors for `kind`: equal fingerprints and texts give equal vectors.
    fn fingerprint(self: Arc<Self>, kind: TextKind) -> BoxFuture<Result<String>>;

    /// Whether the fingerprint names what determines the vectors. An embedder known only by a
    /// default name (a JavaScript class name) is not: a cache file shared with other embedders
    /// must not hold its vectors under that name.
    fn identified(&self) -> bool {
        true
    }
}

/// The one check of what a base embedder returned, before anything uses or caches it: one
/// vector per text, each of `dimension` values (set by the first vectors seen when `None`), every
/// value finite. A failure is the base's (`ERR_BASE_FAILED`).
pub fn check_base_vectors(vectors: &[Vec<f32>], texts: usize, dimension: &mut Option<usize>) -> Result<()> {
    if vectors.len() != texts {
        return Err(Error::Base(format!("it returned {} vectors for {texts} texts", vectors.len())));
    }
    for (i, v) in vectors.iter().enumerate() {
        let expected = *dimension.get_or_insert(v.len());
        if v.is_empty() || v.len() != expected {
            return Err(Error::Base(format!("vector {i} has {} values, expected {expected}", v.len())));
        }
        if let Some(j) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::Base(format!("vector {i} has a non-finite value ({}) at position {j}", v[j])));
        }
    }
    Ok(())
}

/// Embeds each text through `service`, so that one bad text fails alone: a rejected batch is
/// retried in halves until the failing texts are isolated (see [`isolate`]).
pub async fn embed_each(service: Arc<dyn EmbedService>, texts: Vec<String>, kind: TextKind) -> Vec<Result<Vec<f32>>> {
    match embed_counted(&service, texts.clone(), kind).await {
        Ok(vectors) => vectors.into_iter().map(Ok).collect(),
        Err(err) => isolate(service, texts, kind, err).await,
    }
}

async fn embed_counted(service: &Arc<dyn EmbedService>, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>> {
    let n = texts.len();
    let vectors = service.clone().embed_batch(texts, kind).await?;
    check_base_vectors(&vectors, n, &mut None)?;
    Ok(vectors)
}

/// `texts` failed together with `err`. Both halves are tried; a half is split further only while
/// that can isolate something: when both halves fail the same way, the failure is not one text's
/// (a base that is down, say) and every text gets it, so a dead base costs 3 calls per batch
/// instead of 2n - 1.
fn isolate(service: Arc<dyn EmbedService>, texts: Vec<String>, kind: TextKind, err: Error) -> BoxFuture<Vec<Result<Vec<f32>>>> {
    Box::pin(async move {
        let n = texts.len();
        if n == 1 {
            return vec![Err(err)];
        }
        let right = texts[n / 2..].to_vec();
        let left = texts[..n / 2].to_vec();
        let left_result = embed_counted(&service, left.clone(), kind).await;
        let right_result = embed_counted(&service, right.clone(), kind).await;
        if let (Err(a), Err(b)) = (&left_result, &right_result) {
            if a.code() == b.code() && a.to_string() == b.to_string() {
                return vec![Err(a.clone()); n];
            }
        }
        let mut out = Vec::with_capacity(n);
        for (half, result) in [(left, left_result), (right, right_result)] {
            match result {
                Ok(vectors) => out.extend(vectors.into_iter().map(Ok)),
                Err(e) => out.extend(isolate(service.clone(), half, kind, e).await),
            }
        }
        out
    })
}

enum State {
    Unloaded(Box<EmbedderOptions>),
    Loaded(Arc<Embedder>),
    Disposed,
}

type Job = Box<dyn FnOnce() + Send>;

/// A model that loads on first use, runs one batch at a time on its own thread, and can be
/// disposed while calls are queued.
pub struct ModelService {
    state: Arc<Mutex<State>>,
    /// The model's thread, started on first use. Jobs run in arrival order (ONNX Runtime already
    /// uses every core for one batch); waiting callers hold no thread. Always the same caller
    /// thread keeps ONNX Runtime's thread pool warm: with a different thread per call (a blocking
    /// pool), single short queries were measurably slower.
    jobs: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    /// Set by [`ModelService::dispose`]: stops a hub download in progress.
    cancel: Arc<AtomicBool>,
    /// Becomes `true` on dispose, so that calls waiting for the model to load reject at once.
    disposed: tokio::sync::watch::Sender<bool>,
}

impl ModelService {
    pub fn new(mut options: EmbedderOptions) -> Self {
        let cancel = Arc::new(AtomicBool::new(false));
        options.hub = options.hub.with_cancel(Some(cancel.clone()));
        ModelService {
            state: Arc::new(Mutex::new(State::Unloaded(Box::new(options)))),
            jobs: Mutex::new(None),
            cancel,
            disposed: tokio::sync::watch::Sender::new(false),
        }
    }

    fn submit(&self, job: Job) -> Result<()> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        // a disposed service starts no thread
        if self.is_disposed() {
            return Err(Error::Disposed);
        }
        let sender = match &*jobs {
            Some(sender) => sender.clone(),
            None => {
                let (tx, rx) = std::sync::mpsc::channel::<Job>();
                std::thread::Builder::new()
                    .name("embedder-model".into())
                    .spawn(move || {
                        // ends once the service is disposed or dropped (it holds the sender) and
                        // the jobs already queued have run
                        while let Ok(job) = rx.recv() {
                            job();
                        }
                    })
                    .map_err(|e| Error::Runtime(format!("cannot start the model thread: {e}")))?;
                *jobs = Some(tx.clone());
                tx
            }
        };
        sender.send(job).map_err(|_| Error::Runtime("the model thread stopped".into()))
    }

    /// The model, loading it on first use. Blocks: call from the model thread (the only one
    /// that loads).
    fn embedder(state: &Mutex<State>) -> Result<Arc<Embedder>> {
        let options = match &*state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Loaded(e) => return Ok(e.clone()),
            State::Disposed => return Err(Error::Disposed),
            State::Unloaded(options) => options.clone(),
        };
        // loading (a hub download, perhaps) runs without the lock: dispose() must not wait for it
        let loaded = catch_panic(|| Embedder::load(&options));
        let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(*state, State::Disposed) {
            // a download stopped by dispose() ends as Aborted; the caller asked for a disposed model
            return Err(Error::Disposed);
        }
        let embedder = Arc::new(loaded?);
        crate::memory::release_freed_memory();
        *state = State::Loaded(embedder.clone());
        Ok(embedder)
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
        self.disposed.send_replace(true);
        self.cancel.store(true, Ordering::SeqCst);
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = State::Disposed;
        // the model thread, its stack and its allocator arena go now, not when the service is dropped
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).take();
        // glibc keeps freed pages in its arenas: without a trim, RSS stayed 22% above its start
        // after 200 MiniLM models were created and disposed (`npm run soak`). The trim takes
        // 2–8 ms; it runs before dispose returns, so before a next model can load: a trim racing a
        // load left RSS anywhere between +0% and +20% of the start.
        crate::memory::release_freed_memory();
    }

    /// Runs `work` on the model's thread, loading the model first if needed.
    pub async fn run<T: Send + 'static>(self: Arc<Self>, work: impl FnOnce(&Embedder) -> Result<T> + Send + 'static) -> Result<T> {
        if self.is_disposed() {
            return Err(Error::Disposed);
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let state = self.state.clone();
        let loading = self.loaded().is_none();
        let mut disposed = self.disposed.subscribe();
        self.submit(Box::new(move || {
            let result = ModelService::embedder(&state).and_then(|embedder| catch_panic(|| work(&embedder)));
            let _ = tx.send(result);
        }))?;
        let result = async { rx.await.map_err(|_| Error::Runtime("the model thread stopped".into()))? };
        if !loading {
            // a running batch finishes even if the model is disposed meanwhile
            return result.await;
        }
        // while the model loads (a download can take minutes), dispose() rejects the call at once;
        // the model thread sees the cancelled download after its next read
        tokio::select! {
            result = result => result,
            _ = disposed.wait_for(|disposed| *disposed) => Err(Error::Disposed),
        }
    }

    /// Embeds texts into one row-major buffer (`texts.len() × dimension`), optionally truncated
    /// to `truncate_dim` dimensions.
    pub async fn embed_flat(
        self: Arc<Self>,
        texts: Vec<String>,
        kind: TextKind,
        truncate_dim: Option<usize>,
        progress: Progress,
    ) -> Result<Vec<f32>> {
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

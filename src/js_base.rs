//! An embedder written in JavaScript, adapted into an [`EmbedService`] so that the native cache
//! and batcher can stack on it (`NativeService.fromJs`, answered through `settleJs`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use embedder_core::service::{check_base_vectors, BoxFuture, EmbedService, TextKind};
use embedder_core::{Error, Result};
use napi::bindgen_prelude::{FnArgs, Function, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use tokio::sync::oneshot;

/// What JavaScript passes as `embed(id, texts, kind)`.
pub type JsEmbedFunction = Function<'static, FnArgs<(u32, Vec<String>, String)>, Unknown<'static>>;

/// `embed(id, texts, kind)`: the JavaScript side answers through [`JsEmbedder::settle`].
type JsEmbedFn =
    ThreadsafeFunction<FnArgs<(u32, Vec<String>, String)>, Unknown<'static>, FnArgs<(u32, Vec<String>, String)>, napi::Status, false, true>;

/// An embedder written in JavaScript. Each call is a fire-and-forget call into JavaScript that
/// later hands the vectors back by id, concatenated in one Float32Array (index.js checks and
/// packs what the user's embedder returned). Awaiting a JavaScript promise from Rust instead
/// leaked about 1.5 kB per call in napi-rs.
pub struct JsEmbedder {
    embed: JsEmbedFn,
    namespace: String,
    /// Calls waiting for their vectors, by call id.
    waiting: Mutex<HashMap<u32, oneshot::Sender<Result<Vec<f32>>>>>,
    next_id: AtomicU32,
    /// The length of its vectors, from its first answer: a later answer of another length fails.
    dimension: Mutex<Option<usize>>,
    /// Whether `namespace` names what determines the vectors (given by the user, or built from our
    /// own classes' settings) rather than being a default class name.
    identified: bool,
    /// Native embedders inside it (the model of a hybrid, say), whose fingerprints complete its own.
    parts: Vec<Arc<dyn EmbedService>>,
}

impl JsEmbedder {
    /// Must run on the JavaScript thread: it makes `embed` callable from any thread.
    pub fn new(embed: JsEmbedFunction, namespace: String, identified: bool, parts: Vec<Arc<dyn EmbedService>>) -> napi::Result<Self> {
        Ok(JsEmbedder {
            embed: embed.build_threadsafe_function().callee_handled::<false>().weak::<true>().build()?,
            namespace,
            waiting: Mutex::default(),
            next_id: AtomicU32::new(0),
            dimension: Mutex::new(None),
            identified,
            parts,
        })
    }

    /// JavaScript's answer to call `id`: the concatenated vectors, or what went wrong. An id no
    /// call waits for (answered already) is ignored.
    pub fn settle(&self, id: u32, answer: Result<Vec<f32>>) {
        if let Some(tx) = self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
            let _ = tx.send(answer);
        }
    }
}

impl EmbedService for JsEmbedder {
    fn embed_batch(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
        Box::pin(async move {
            let n = texts.len();
            if n == 0 {
                return Ok(Vec::new());
            }
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            self.waiting.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
            let status = self.embed.call((id, texts, kind.name().to_string()).into(), ThreadsafeFunctionCallMode::NonBlocking);
            if status != napi::Status::Ok {
                self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                return Err(Error::Base(format!("cannot call the JavaScript embedder ({status})")));
            }
            let flat = rx.await.map_err(|_| Error::Base("the JavaScript embedder never answered".into()))??;
            if flat.is_empty() || flat.len() % n != 0 {
                return Err(Error::Base(format!("{} values do not split into {n} vectors", flat.len())));
            }
            let vectors: Vec<Vec<f32>> = flat.chunks_exact(flat.len() / n).map(<[f32]>::to_vec).collect();
            // a double past f32's range became infinite in the Float32Array
            check_base_vectors(&vectors, n, &mut self.dimension.lock().unwrap_or_else(|p| p.into_inner()))?;
            Ok(vectors)
        })
    }

    fn fingerprint(self: Arc<Self>, kind: TextKind) -> BoxFuture<Result<String>> {
        Box::pin(async move {
            let mut fingerprint = format!("js\0{}\0{}", self.namespace, kind.name());
            for part in &self.parts {
                let part = part.clone().fingerprint(kind).await?;
                fingerprint.push_str(&format!("\0{}:{part}", part.len()));
            }
            Ok(fingerprint)
        })
    }

    fn identified(&self) -> bool {
        self.identified && self.parts.iter().all(|p| p.identified())
    }
}

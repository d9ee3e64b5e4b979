//! `BatchOptimizedEmbedder`: single-text calls made at about the same time are coalesced into
//! batch calls on the base. A batch leaves when it is full or `max_wait` after its first request;
//! one bad text fails alone (see [`embed_each`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::service::{embed_each, BoxFuture, EmbedService, TextKind};

#[derive(Clone, Debug)]
pub struct BatchOptions {
    pub batch_size: usize,
    /// How long the first request of a batch waits for company; zero sends whatever is queued as
    /// soon as the base is free.
    pub max_wait: Duration,
    /// Requests queued or running past which new ones are refused with `ERR_QUEUE_FULL`.
    pub max_queue: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions { batch_size: 32, max_wait: Duration::from_millis(2), max_queue: 10_000 }
    }
}

struct Request {
    text: String,
    kind: TextKind,
    arrived: Instant,
    reply: oneshot::Sender<Result<Vec<f32>>>,
}

pub struct BatchOptimizedEmbedder {
    base: Arc<dyn EmbedService>,
    options: BatchOptions,
    /// Started on first use, inside the caller's runtime; it stops when this embedder is dropped.
    queue: OnceLock<mpsc::UnboundedSender<Request>>,
    pending: Arc<AtomicUsize>,
}

impl BatchOptimizedEmbedder {
    pub fn new(base: Arc<dyn EmbedService>, options: BatchOptions) -> Result<Self> {
        if options.batch_size == 0 {
            return Err(Error::InvalidOption { option: "batchSize", reason: "must be at least 1".into() });
        }
        if options.max_queue == 0 {
            return Err(Error::InvalidOption { option: "maxQueue", reason: "must be at least 1".into() });
        }
        Ok(BatchOptimizedEmbedder { base, options, queue: OnceLock::new(), pending: Arc::new(AtomicUsize::new(0)) })
    }

    /// Requests queued or running.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    fn sender(&self) -> &mpsc::UnboundedSender<Request> {
        self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(run_queue(self.base.clone(), self.options.clone(), rx, self.pending.clone()));
            tx
        })
    }

    /// Queues every text (all or none: past `max_queue` the call is refused at once) and waits for
    /// each text's vector or error.
    pub async fn embed_each(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Result<Vec<f32>>>> {
        self.admit(texts.len())?;
        self.embed_admitted(texts, kind).await
    }

    /// Counts `n` requests as queued, or refuses them with `ERR_QUEUE_FULL`. Callers that must be
    /// admitted in the order they call (JavaScript's) admit synchronously, then embed.
    pub fn admit(&self, n: usize) -> Result<()> {
        // a call larger than max_queue on its own is admitted when nothing is queued; otherwise
        // it could never run
        let admitted = self
            .pending
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |p| (p + n <= self.options.max_queue || p == 0).then_some(p + n))
            .is_ok();
        if admitted {
            Ok(())
        } else {
            Err(Error::QueueFull { max_queue: self.options.max_queue })
        }
    }

    /// [`BatchOptimizedEmbedder::embed_each`] for texts already counted by [`BatchOptimizedEmbedder::admit`].
    pub async fn embed_admitted(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Result<Vec<f32>>>> {
        let n = texts.len();
        let sender = self.sender();
        let now = Instant::now();
        let mut replies = Vec::with_capacity(n);
        for text in texts {
            let (reply, rx) = oneshot::channel();
            if sender.send(Request { text, kind, arrived: now, reply }).is_err() {
                self.pending.fetch_sub(1, Ordering::SeqCst);
            }
            replies.push(rx);
        }
        let mut out = Vec::with_capacity(n);
        for rx in replies {
            out.push(rx.await.unwrap_or_else(|_| Err(Error::Runtime("the batch queue stopped".into()))));
        }
        Ok(out)
    }
}

async fn run_queue(
    base: Arc<dyn EmbedService>,
    options: BatchOptions,
    mut rx: mpsc::UnboundedReceiver<Request>,
    pending: Arc<AtomicUsize>,
) {
    let mut queue: VecDeque<Request> = VecDeque::new();
    let mut open = true;
    loop {
        if queue.is_empty() {
            match rx.recv().await {
                Some(r) => queue.push_back(r),
                None => return,
            }
        }
        while let Ok(r) = rx.try_recv() {
            queue.push_back(r);
        }
        let kind = queue[0].kind;
        let deadline = queue[0].arrived + options.max_wait;
        while open && queue.iter().filter(|r| r.kind == kind).count() < options.batch_size && Instant::now() < deadline {
            tokio::select! {
                r = rx.recv() => match r {
                    Some(r) => queue.push_back(r),
                    None => open = false,
                },
                _ = wait_until(deadline) => {}
            }
        }

        // Up to batch_size requests of the first request's kind, skipping callers who left.
        let mut batch = Vec::with_capacity(options.batch_size);
        let mut rest = VecDeque::with_capacity(queue.len());
        for r in queue.drain(..) {
            if r.reply.is_closed() {
                pending.fetch_sub(1, Ordering::SeqCst);
            } else if r.kind == kind && batch.len() < options.batch_size {
                batch.push(r);
            } else {
                rest.push_back(r);
            }
        }
        queue = rest;
        if batch.is_empty() {
            continue;
        }
        let texts: Vec<String> = batch.iter_mut().map(|r| std::mem::take(&mut r.text)).collect();
        let results = embed_each(base.clone(), texts, kind).await;
        for (r, result) in batch.into_iter().zip(results) {
            pending.fetch_sub(1, Ordering::SeqCst);
            let _ = r.reply.send(result);
        }
        if !open && queue.is_empty() {
            return;
        }
    }
}

/// Waits until `deadline`, or a little before it. tokio's timers tick in milliseconds and round
/// up, so a 2 ms wait could last 3: sleep to a millisecond before, then yield until the deadline.
async fn wait_until(deadline: Instant) {
    match deadline.checked_sub(Duration::from_millis(1)) {
        Some(coarse) if coarse > Instant::now() => tokio::time::sleep_until(coarse).await,
        _ => tokio::task::yield_now().await,
    }
}

impl EmbedService for BatchOptimizedEmbedder {
    fn embed_batch(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
        Box::pin(async move { self.embed_each(texts, kind).await?.into_iter().collect() })
    }

    fn fingerprint(self: Arc<Self>, kind: TextKind) -> BoxFuture<Result<String>> {
        // batching does not change the vectors
        self.base.clone().fingerprint(kind)
    }

    fn identified(&self) -> bool {
        self.base.identified()
    }
}

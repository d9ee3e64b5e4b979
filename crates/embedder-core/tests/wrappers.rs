//! CachedEmbedder and BatchOptimizedEmbedder over a scripted base, and over the real model.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedder_core::batcher::{BatchOptimizedEmbedder, BatchOptions};
use embedder_core::cache::{CacheOptions, CachedEmbedder};
use embedder_core::service::{embed_each, BoxFuture, EmbedService, ModelService, TextKind};
use embedder_core::{Error, Result};

/// A base that embeds a text as [len, first byte, kind], fails any batch containing "BAD", and
/// records every batch it is given.
#[derive(Default)]
struct Scripted {
    batches: Mutex<Vec<Vec<String>>>,
    delay_ms: u64,
}

impl Scripted {
    fn with_delay(delay_ms: u64) -> Arc<Self> {
        Arc::new(Scripted { delay_ms, ..Default::default() })
    }
    fn vector(text: &str, kind: TextKind) -> Vec<f32> {
        vec![text.len() as f32, text.bytes().next().unwrap_or(0) as f32, kind as u8 as f32]
    }
    fn calls(&self) -> usize {
        self.batches.lock().unwrap().len()
    }
    fn texts_seen(&self) -> Vec<String> {
        self.batches.lock().unwrap().concat()
    }
}

impl EmbedService for Scripted {
    fn embed_batch(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
        Box::pin(async move {
            self.batches.lock().unwrap().push(texts.clone());
            if self.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(self.delay_ms)).await;
            }
            if let Some(i) = texts.iter().position(|t| t.contains("BAD")) {
                return Err(Error::Base(format!("cannot embed text {i}")));
            }
            Ok(texts.iter().map(|t| Scripted::vector(t, kind)).collect())
        })
    }
    fn fingerprint(self: Arc<Self>, kind: TextKind) -> BoxFuture<Result<String>> {
        // vectors differ by kind, so fingerprints do
        Box::pin(async move { Ok(format!("scripted {kind:?}")) })
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn cache_over(base: Arc<dyn EmbedService>, options: CacheOptions) -> Arc<CachedEmbedder> {
    Arc::new(CachedEmbedder::new(base, options, &mut Vec::new()).unwrap())
}

#[tokio::test]
async fn embed_each_isolates_failing_texts() {
    let base = Scripted::with_delay(0);
    let results = embed_each(base.clone(), strings(&["a", "b", "BAD", "d", "e"]), TextKind::Plain).await;
    assert!(results[2].is_err());
    for i in [0, 1, 3, 4] {
        assert!(results[i].is_ok(), "text {i}");
    }
    // full batch, then halves down to the bad one: far fewer calls than one per text
    assert!(base.calls() <= 7, "{} calls", base.calls());
}

#[tokio::test]
async fn cache_sends_only_misses_in_one_call_and_keeps_order() {
    let base = Scripted::with_delay(0);
    let cache = cache_over(base.clone(), CacheOptions::default());
    cache.clone().embed_batch(strings(&["aa", "b"]), TextKind::Plain).await.unwrap();
    let out = cache.clone().embed_batch(strings(&["x", "aa", "yyy", "b", "x"]), TextKind::Plain).await.unwrap();
    assert_eq!(out[0], Scripted::vector("x", TextKind::Plain));
    assert_eq!(out[1], Scripted::vector("aa", TextKind::Plain));
    assert_eq!(out[2], Scripted::vector("yyy", TextKind::Plain));
    assert_eq!(out[4], out[0]);
    assert_eq!(*base.batches.lock().unwrap(), vec![strings(&["aa", "b"]), strings(&["x", "yyy"])]);
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (3, 4, 4));
}

#[tokio::test]
async fn query_and_document_are_different_keys() {
    let base = Scripted::with_delay(0);
    let cache = cache_over(base.clone(), CacheOptions::default());
    let q = cache.clone().embed_batch(strings(&["same"]), TextKind::Query).await.unwrap();
    let d = cache.clone().embed_batch(strings(&["same"]), TextKind::Document).await.unwrap();
    assert_ne!(q, d);
    assert_eq!(base.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_one_key_share_one_computation() {
    let base = Scripted::with_delay(30);
    let cache = cache_over(base.clone(), CacheOptions::default());
    let calls: Vec<_> = (0..20).map(|_| tokio::spawn(cache.clone().embed_batch(strings(&["shared"]), TextKind::Plain))).collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap()[0], Scripted::vector("shared", TextKind::Plain));
    }
    assert_eq!(base.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_shared_computation_does_not_fail_other_callers() {
    let base = Scripted::with_delay(30);
    let cache = cache_over(base.clone(), CacheOptions::default());
    // the first call owns "good" and fails because of its neighbour; the second only waits for "good"
    let first = tokio::spawn(cache.clone().embed_batch(strings(&["good", "BAD"]), TextKind::Plain));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = tokio::spawn(cache.clone().embed_batch(strings(&["good"]), TextKind::Plain));
    assert!(first.await.unwrap().is_err());
    assert_eq!(second.await.unwrap().unwrap()[0], Scripted::vector("good", TextKind::Plain));
}

#[tokio::test]
async fn bad_base_output_is_rejected_and_not_cached() {
    struct Broken;
    impl EmbedService for Broken {
        fn embed_batch(self: Arc<Self>, texts: Vec<String>, _: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
            Box::pin(async move { Ok(texts.iter().map(|t| if t == "nan" { vec![f32::NAN, 1.0] } else { vec![1.0, 2.0] }).collect()) })
        }
        fn fingerprint(self: Arc<Self>, _: TextKind) -> BoxFuture<Result<String>> {
            Box::pin(async { Ok("broken".to_string()) })
        }
    }
    let cache = cache_over(Arc::new(Broken), CacheOptions::default());
    let err = cache.clone().embed_batch(strings(&["ok", "nan"]), TextKind::Plain).await.unwrap_err();
    // the base's fault, not the caller's input (README: ERR_BASE_FAILED)
    assert_eq!(err.code(), "ERR_BASE_FAILED", "{err:?}");
    assert!(err.to_string().contains("vector 1") && err.to_string().contains("non-finite"), "{err}");
    assert_eq!(cache.stats().entries, 0);
}

#[tokio::test]
async fn a_dead_base_is_not_bisected_down_to_every_text() {
    #[derive(Default)]
    struct Dead {
        calls: AtomicUsize,
        texts: AtomicUsize,
    }
    impl EmbedService for Dead {
        fn embed_batch(self: Arc<Self>, texts: Vec<String>, _: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.texts.fetch_add(texts.len(), Ordering::SeqCst);
            Box::pin(async { Err(Error::Base("connection refused".into())) })
        }
        fn fingerprint(self: Arc<Self>, _: TextKind) -> BoxFuture<Result<String>> {
            Box::pin(async { Ok("dead".to_string()) })
        }
    }
    let base = Arc::new(Dead::default());
    let batcher = BatchOptimizedEmbedder::new(base.clone(), BatchOptions { batch_size: 32, ..BatchOptions::default() }).unwrap();
    let texts: Vec<String> = (0..32).map(|i| format!("text {i}")).collect();
    let results = batcher.embed_each(texts, TextKind::Plain).await.unwrap();
    assert!(results.iter().all(|r| r.as_ref().is_err_and(|e| e.to_string().contains("connection refused"))));
    // the batch, then its two halves failing alike: 3 calls and 64 texts, not 63 calls and 192 texts
    assert_eq!(base.calls.load(Ordering::SeqCst), 3);
    assert!(base.texts.load(Ordering::SeqCst) <= 2 * 32, "{} texts", base.texts.load(Ordering::SeqCst));

    // a bad text among good ones is still isolated
    let scripted = Scripted::with_delay(0);
    let mut texts: Vec<String> = (0..32).map(|i| format!("text {i}")).collect();
    texts[9] = "BAD".into();
    let results = embed_each(scripted.clone(), texts, TextKind::Plain).await;
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert!(results[9].is_err());
}

#[tokio::test]
async fn disk_tier_survives_a_new_cache_and_promotes_to_memory() {
    let dir = tempfile::tempdir().unwrap();
    let persist = Some(dir.path().join("vectors.sqlite"));
    let base = Scripted::with_delay(0);
    let first = cache_over(base.clone(), CacheOptions { persist: persist.clone(), ..Default::default() });
    first.clone().embed_batch(strings(&["kept", "also kept"]), TextKind::Plain).await.unwrap();
    drop(first);
    let second = cache_over(base.clone(), CacheOptions { persist, ..Default::default() });
    let out = second.clone().embed_batch(strings(&["kept", "also kept", "new"]), TextKind::Plain).await.unwrap();
    assert_eq!(out[1], Scripted::vector("also kept", TextKind::Plain));
    assert_eq!(base.texts_seen(), strings(&["kept", "also kept", "new"]));
    let stats = second.stats();
    assert_eq!((stats.disk_hits, stats.entries), (2, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batcher_coalesces_concurrent_single_calls() {
    let base = Scripted::with_delay(5);
    let batcher = Arc::new(
        BatchOptimizedEmbedder::new(base.clone(), BatchOptions { batch_size: 8, max_wait: Duration::from_millis(20), max_queue: 100 })
            .unwrap(),
    );
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let b = batcher.clone();
            tokio::spawn(async move { b.embed_batch(vec![format!("text {i:02}")], TextKind::Plain).await })
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        assert_eq!(c.await.unwrap().unwrap()[0], Scripted::vector(&format!("text {i:02}"), TextKind::Plain));
    }
    let sizes: Vec<usize> = base.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes.iter().sum::<usize>(), 20);
    assert!(sizes.iter().all(|&s| s <= 8));
    assert!(sizes.len() <= 4, "batches {sizes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batcher_fails_only_the_bad_request() {
    let base = Scripted::with_delay(1);
    let batcher = Arc::new(
        BatchOptimizedEmbedder::new(base.clone(), BatchOptions { max_wait: Duration::from_millis(20), ..Default::default() }).unwrap(),
    );
    let calls: Vec<_> = ["one", "two", "BAD three", "four"]
        .into_iter()
        .map(|t| {
            let b = batcher.clone();
            tokio::spawn(async move { b.embed_batch(vec![t.to_string()], TextKind::Plain).await })
        })
        .collect();
    let results: Vec<_> = futures_join(calls).await;
    assert!(results[2].is_err());
    assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batcher_refuses_past_max_queue() {
    let base = Scripted::with_delay(50);
    let batcher =
        Arc::new(BatchOptimizedEmbedder::new(base, BatchOptions { batch_size: 2, max_wait: Duration::ZERO, max_queue: 3 }).unwrap());
    let running = tokio::spawn(batcher.clone().embed_batch(strings(&["a", "b", "c"]), TextKind::Plain));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let err = batcher.clone().embed_batch(strings(&["d"]), TextKind::Plain).await.unwrap_err();
    assert_eq!(err.code(), "ERR_QUEUE_FULL");
    assert!(running.await.unwrap().is_ok());
    assert_eq!(batcher.pending(), 0);
    assert!(batcher.clone().embed_batch(strings(&["e"]), TextKind::Plain).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_wait_sends_what_is_queued_when_the_base_is_free() {
    // the first call keeps the base busy long enough for the other ten to queue, even on a loaded machine
    let base = Scripted::with_delay(300);
    let batcher = Arc::new(
        BatchOptimizedEmbedder::new(base.clone(), BatchOptions { batch_size: 32, max_wait: Duration::ZERO, max_queue: 100 }).unwrap(),
    );
    let first = tokio::spawn(batcher.clone().embed_batch(strings(&["first"]), TextKind::Plain));
    tokio::time::sleep(Duration::from_millis(5)).await;
    let rest: Vec<_> = (0..10).map(|i| tokio::spawn(batcher.clone().embed_batch(vec![format!("r{i}")], TextKind::Plain))).collect();
    first.await.unwrap().unwrap();
    futures_join(rest).await.into_iter().for_each(|r| assert!(r.is_ok()));
    let sizes: Vec<usize> = base.batches.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![1, 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_stack_gives_the_model_vectors_and_each_text_once() {
    let model = Arc::new(ModelService::new(common::options("all-MiniLM-L6-v2")));
    let counted = Arc::new(Counting { inner: model.clone(), texts: AtomicUsize::new(0) });
    let batcher = Arc::new(BatchOptimizedEmbedder::new(counted.clone(), BatchOptions::default()).unwrap());
    let cache = cache_over(batcher, CacheOptions::default());
    let texts: Vec<String> = (0..200).map(|i| format!("sentence number {}", i % 140)).collect();
    let direct = model.clone().embed_batch(texts.clone(), TextKind::Plain).await.unwrap();
    let calls: Vec<_> = texts.iter().map(|t| tokio::spawn(cache.clone().embed_batch(vec![t.clone()], TextKind::Plain))).collect();
    for (i, r) in futures_join(calls).await.into_iter().enumerate() {
        let got = &r.unwrap()[0];
        assert!(common::max_abs_diff(got, &direct[i]) <= 1e-5, "text {i}");
    }
    assert_eq!(counted.texts.load(Ordering::SeqCst), 140);
}

struct Counting {
    inner: Arc<ModelService>,
    texts: AtomicUsize,
}

impl EmbedService for Counting {
    fn embed_batch(self: Arc<Self>, texts: Vec<String>, kind: TextKind) -> BoxFuture<Result<Vec<Vec<f32>>>> {
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        self.inner.clone().embed_batch(texts, kind)
    }
    fn fingerprint(self: Arc<Self>, kind: TextKind) -> BoxFuture<Result<String>> {
        self.inner.clone().fingerprint(kind)
    }
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

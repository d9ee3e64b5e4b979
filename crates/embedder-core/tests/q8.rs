//! `dtype: 'q8'`: the int8 graph derived from a model's fp32 graph. A text gets one vector whatever
//! it is batched with, close to sentence-transformers' fp32 vector, for any model (the tiny models
//! ship no int8 file); the derived graph is kept and reused, and names itself in the fingerprint.

mod common;

use std::io::BufRead;

use common::*;
use embedder_core::{Dtype, Embedder};

/// The fixture's texts and some MS MARCO passages: empty, short, long, truncated; mixed lengths.
fn texts(fixture_name: &str, passages: usize) -> (Vec<String>, serde_json::Value) {
    let reference = fixture(fixture_name);
    let mut texts = strings(&reference["texts"]);
    let corpus = std::fs::File::open(shared_dir().join("data/msmarco-5k/corpus.jsonl")).unwrap();
    for line in std::io::BufReader::new(corpus).lines().take(passages) {
        let doc: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        texts.push(doc["text"].as_str().unwrap().to_string());
    }
    (texts, reference)
}

fn load_q8(model: &str, cache: &std::path::Path) -> Embedder {
    Embedder::load(&options(model).with_dtype(Dtype::Q8).with_derived_cache(Some(cache.to_path_buf()))).expect("q8 loads")
}

/// Min cosine between each text embedded in one batch and embedded alone.
fn batch_invariance(embedder: &Embedder, texts: &[String]) -> f64 {
    let d = embedder.dimension();
    let together = embedder.embed(texts, "").unwrap();
    let mut min = 1.0f64;
    for (i, text) in texts.iter().enumerate() {
        let alone = embedder.embed(std::slice::from_ref(text), "").unwrap();
        min = min.min(cosine(&together[i * d..(i + 1) * d], &alone));
    }
    min
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
fn minilm_q8_is_batch_invariant_and_close_to_sentence_transformers() {
    let cache = tempfile::tempdir().unwrap();
    let embedder = load_q8("all-MiniLM-L6-v2", cache.path());
    assert_eq!(embedder.info().graph.kind, "derived-q8");
    let (texts, reference) = texts("reference-all-MiniLM-L6-v2.json", 40);
    let invariance = batch_invariance(&embedder, &texts);
    assert!(invariance >= 0.99999, "batch vs alone: min cosine {invariance}");

    let expected = vectors(&reference["embeddings"]);
    let got = embedder.embed(&strings(&reference["texts"]), "").unwrap();
    let cosines: Vec<f64> = expected.iter().enumerate().map(|(i, e)| cosine(&got[i * 384..(i + 1) * 384], e)).collect();
    let (med, min) = (median(cosines.clone()), cosines.iter().cloned().fold(1.0, f64::min));
    eprintln!("MiniLM q8: batch vs alone min cosine {invariance:.8}; cosine to sentence-transformers fp32: median {med:.5}, min {min:.5}");
    assert!(med >= 0.99 && min >= 0.97, "cosine to sentence-transformers fp32: median {med}, min {min}");
}

#[test]
fn the_shipped_int8_file_stays_reachable_and_is_not_batch_invariant() {
    let shipped = Embedder::load(&options("all-MiniLM-L6-v2").with_model_file(Some("onnx/model_quantized.onnx".into()))).unwrap();
    assert_eq!(shipped.info().graph.kind, "file");
    let (texts, _) = texts("reference-all-MiniLM-L6-v2.json", 40);
    // what the derived graph fixes: one scale per tensor makes a text's vector depend on its batch
    let invariance = batch_invariance(&shipped, &texts);
    eprintln!("shipped int8 file: batch vs alone min cosine {invariance:.5}");
    assert!(invariance < 0.999);
}

#[test]
fn models_without_an_int8_file_get_one_derived() {
    for (model, fixture_name) in [("tiny-bert-cls", "reference-tiny-bert-cls.json"), ("tiny-bert-dense", "reference-tiny-bert-dense.json")]
    {
        let cache = tempfile::tempdir().unwrap();
        let embedder = load_q8(model, cache.path());
        assert_eq!(embedder.info().graph.kind, "derived-q8", "{model}");
        let (texts, reference) = texts(fixture_name, 10);
        let invariance = batch_invariance(&embedder, &texts);
        assert!(invariance >= 0.99999, "{model}: batch vs alone {invariance}");
        let expected = vectors(&reference["embeddings"]);
        let d = embedder.dimension();
        let got = embedder.embed(&strings(&reference["texts"]), "").unwrap();
        let min = expected.iter().enumerate().map(|(i, e)| cosine(&got[i * d..(i + 1) * d], e)).fold(1.0, f64::min);
        assert!(min >= 0.97, "{model}: min cosine to fp32 {min}");
    }
}

#[test]
fn the_derived_graph_is_kept_reused_and_named_in_the_fingerprint() {
    let cache = tempfile::tempdir().unwrap();
    let first = load_q8("tiny-bert-cls", cache.path());
    assert!(first.info().graph.derived_now);
    let kept = first.info().onnx_path.clone();
    assert!(kept.starts_with(cache.path()), "{} is in the cache folder", kept.display());
    assert!(!kept.starts_with(model_dir("tiny-bert-cls")));
    let second = load_q8("tiny-bert-cls", cache.path());
    assert!(!second.info().graph.derived_now, "the second load reads the kept graph");
    assert_eq!(second.info().onnx_path, kept);
    assert_eq!(first.info().model_fingerprint, second.info().model_fingerprint);

    let fp32 = load("tiny-bert-cls");
    assert_eq!(fp32.info().graph.kind, "file");
    assert_ne!(fp32.info().model_fingerprint, first.info().model_fingerprint);

    // a kept graph that does not load is derived again
    std::fs::write(&kept, b"cut short").unwrap();
    let third = load_q8("tiny-bert-cls", cache.path());
    assert!(third.info().graph.derived_now);
    assert_eq!(third.embed(&["a test"], "").unwrap(), first.embed(&["a test"], "").unwrap());
}

#[test]
fn fingerprints_follow_content_not_paths() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (a, b) = (dir.path().join("a/model"), dir.path().join("elsewhere/b"));
    copy_folder(&model_dir("tiny-bert-dense"), &a);
    copy_folder(&model_dir("tiny-bert-dense"), &b);
    let fingerprint = |path: &std::path::Path, dtype: Dtype| {
        Embedder::load(
            &embedder_core::EmbedderOptions::new(path, runtime_library()).with_dtype(dtype).with_derived_cache(Some(cache.clone())),
        )
        .unwrap()
        .info()
        .model_fingerprint
        .clone()
    };
    // other files beside the model (a README, training leftovers) do not change what it computes
    std::fs::write(a.join("README.md"), "# notes").unwrap();
    std::fs::create_dir_all(a.join("checkpoint-500")).unwrap();
    std::fs::write(a.join("checkpoint-500/optimizer.pt"), b"state").unwrap();
    assert_eq!(fingerprint(&a, Dtype::Fp32), fingerprint(&b, Dtype::Fp32), "two copies of one model share entries");
    assert_eq!(fingerprint(&a, Dtype::Q8), fingerprint(&b, Dtype::Q8));
    assert_ne!(fingerprint(&a, Dtype::Fp32), fingerprint(&a, Dtype::Q8));
    // a file that changes vectors changes the key: the Dense weights, then the graph
    let before = fingerprint(&b, Dtype::Fp32);
    let weights = b.join("2_Dense/model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, &bytes).unwrap();
    let after_dense = fingerprint(&b, Dtype::Fp32);
    assert_ne!(before, after_dense);
    let graph = ["onnx/model.onnx", "model.onnx"].iter().map(|f| b.join(f)).find(|p| p.is_file()).unwrap();
    let original = std::fs::read(&graph).unwrap();
    std::fs::remove_file(&graph).unwrap();
    std::fs::write(&graph, &original).unwrap();
    assert_eq!(fingerprint(&b, Dtype::Fp32), after_dense, "the same graph content, rewritten, keeps the key");
    let mut model = embedder_core::onnx::read(&graph).unwrap();
    model.doc_string = Some("another graph".into());
    embedder_core::onnx::write_atomic(&model, &graph).unwrap();
    assert_ne!(fingerprint(&b, Dtype::Fp32), after_dense, "another graph, another key");
    assert_ne!(fingerprint(&b, Dtype::Q8), fingerprint(&a, Dtype::Q8));
}

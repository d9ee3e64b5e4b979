//! Static embedding models (sentence-transformers `StaticEmbedding` and model2vec) against the
//! libraries' own outputs, loaded with no ONNX Runtime library at all.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use embedder_core::{Dtype, Embedder, EmbedderOptions, PoolingMode, Progress};

const MODEL: &str = "static-minilm-256";

/// Options whose ONNX Runtime library does not exist: a static model never opens it.
fn options_at(dir: impl Into<PathBuf>) -> EmbedderOptions {
    EmbedderOptions::new(dir, "/nonexistent/libonnxruntime.so.1")
}

fn load_at(dir: impl Into<PathBuf>) -> Embedder {
    Embedder::load(&options_at(dir)).expect("static model loads")
}

/// Lowest cosine and largest absolute difference over the fixture's texts.
fn parity(embedder: &Embedder, fixture_name: &str) -> (f64, f32) {
    let fx = fixture(fixture_name);
    let texts = strings(&fx["texts"]);
    let expected = vectors(&fx["embeddings"]);
    let flat = embedder.embed(&texts, "").unwrap();
    let dim = embedder.dimension();
    assert_eq!(dim, expected[0].len());
    let (mut worst_cos, mut worst_diff) = (1.0f64, 0.0f32);
    for (i, want) in expected.iter().enumerate() {
        let got = &flat[i * dim..(i + 1) * dim];
        let zero = want.iter().all(|x| *x == 0.0);
        // a text with no tokens (or, for model2vec, only unknown ones) is the zero vector
        let cos = if zero {
            if got.iter().all(|x| *x == 0.0) {
                1.0
            } else {
                0.0
            }
        } else {
            cosine(got, want)
        };
        let diff = max_abs_diff(got, want);
        assert!(cos >= 0.99999 && diff <= 1e-5, "{fixture_name} text {i} ({:?}): cosine {cos}, max abs diff {diff}", texts[i]);
        worst_cos = worst_cos.min(cos);
        worst_diff = worst_diff.max(diff);
    }
    eprintln!("{fixture_name}: lowest cosine {worst_cos}, largest abs diff {worst_diff:e}");
    (worst_cos, worst_diff)
}

#[test]
fn sentence_transformers_form_matches_sentence_transformers() {
    let embedder = load_at(model_dir(MODEL));
    let fx = fixture("reference-static-minilm-256.json");
    let texts = strings(&fx["texts"]);
    let tokens = embedder.tokenize(&texts, "").unwrap();
    for (i, (t, want)) in tokens.iter().zip(fx["token_ids"].as_array().unwrap()).enumerate() {
        let want: Vec<u32> = want.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(t.ids, want, "token ids of text {i} ({:?})", texts[i]);
    }
    assert_eq!(embedder.info().max_length as u64, fx["max_seq_length"].as_u64().unwrap());
    parity(&embedder, "reference-static-minilm-256.json");
}

#[test]
fn model2vec_form_matches_model2vec() {
    let embedder = load_at(model_dir(MODEL).join("model2vec"));
    parity(&embedder, "reference-static-minilm-256-model2vec.json");
}

#[test]
fn tokenizers_runs_what_the_native_tokenizer_does_not_take() {
    // the same tokenizer with its normalizer wrapped in a Sequence: `tokenizers` runs it, with the
    // same ids, so both forms still match their libraries
    for (form, fixture_name) in
        [("0_StaticEmbedding", "reference-static-minilm-256.json"), ("model2vec", "reference-static-minilm-256-model2vec.json")]
    {
        let dir = tempfile::tempdir().unwrap();
        let source = model_dir(MODEL);
        let folder = if form == "model2vec" {
            for file in ["config.json", "model.safetensors"] {
                link(&source.join("model2vec").join(file), &dir.path().join(file));
            }
            dir.path().to_path_buf()
        } else {
            for file in ["modules.json", "config_sentence_transformers.json", "1_Normalize"] {
                link(&source.join(file), &dir.path().join(file));
            }
            std::fs::create_dir(dir.path().join(form)).unwrap();
            link(&source.join(form).join("model.safetensors"), &dir.path().join(form).join("model.safetensors"));
            dir.path().to_path_buf()
        };
        let tokenizer_dir = if form == "model2vec" { dir.path().to_path_buf() } else { dir.path().join(form) };
        let source_tokenizer =
            if form == "model2vec" { source.join("model2vec/tokenizer.json") } else { source.join(form).join("tokenizer.json") };
        let mut json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(source_tokenizer).unwrap()).unwrap();
        json["normalizer"] = serde_json::json!({"type": "Sequence", "normalizers": [json["normalizer"].clone()]});
        std::fs::write(tokenizer_dir.join("tokenizer.json"), serde_json::to_vec(&json).unwrap()).unwrap();
        let embedder = load_at(&folder);
        assert!(!embedder.static_model().unwrap().native_tokenizer(), "{form}");
        parity(&embedder, fixture_name);
    }
}

fn link(from: &Path, to: &Path) {
    #[cfg(unix)]
    std::os::unix::fs::symlink(from, to).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(from, to).map(|_| ()).unwrap();
}

#[test]
fn sentence_transformers_6_2_root_layout_loads_the_same() {
    // SentenceTransformer.save in 6.2 writes the StaticEmbedding files at the folder root (path "")
    // and the long class paths
    let dir = tempfile::tempdir().unwrap();
    let src = model_dir(MODEL);
    link(&src.join("0_StaticEmbedding/model.safetensors"), &dir.path().join("model.safetensors"));
    link(&src.join("0_StaticEmbedding/tokenizer.json"), &dir.path().join("tokenizer.json"));
    std::fs::create_dir(dir.path().join("1_Normalize")).unwrap();
    std::fs::write(dir.path().join("1_Normalize/config.json"), "{}").unwrap();
    std::fs::write(
        dir.path().join("modules.json"),
        r#"[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.sentence_transformer.modules.static_embedding.StaticEmbedding"},
            {"idx": 1, "name": "1", "path": "1_Normalize", "type": "sentence_transformers.base.modules.normalize.Normalize"}]"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("config_sentence_transformers.json"), r#"{"prompts": {"query": "query: "}}"#).unwrap();
    let root = load_at(dir.path());
    let classic = load_at(model_dir(MODEL));
    let texts = strings(&fixture("reference-static-minilm-256.json")["texts"]);
    assert_eq!(root.embed(&texts, "").unwrap(), classic.embed(&texts, "").unwrap());
    assert_eq!(root.info().graph.kind, "static");
    assert_eq!(root.prompt("query"), Some("query: "));
    parity(&root, "reference-static-minilm-256.json");
}

#[test]
fn weights_stay_in_their_precision_and_info_says_static() {
    let st = load_at(model_dir(MODEL));
    let m2v = load_at(model_dir(MODEL).join("model2vec"));
    let (a, b) = (st.static_model().unwrap(), m2v.static_model().unwrap());
    assert_eq!((a.weights_dtype(), a.weights_bytes()), ("F32", 29525 * 256 * 4));
    assert_eq!((b.weights_dtype(), b.weights_bytes()), ("F16", 29525 * 256 * 2));
    // both BERT WordPiece tokenizers run natively: no `tokenizers` tokenizer (7.6 MB) is kept
    assert!(a.native_tokenizer() && b.native_tokenizer());
    for e in [&st, &m2v] {
        let info = e.info();
        assert_eq!((info.graph.kind, info.dimension, info.normalize), ("static", 256, true));
        assert_eq!(info.pooling, vec![PoolingMode::Mean]);
        assert!(info.input_names.is_empty());
        assert!(info.onnx_path.ends_with("model.safetensors"));
    }
    // same weights, same tokens: the two forms differ only where model2vec drops [UNK]
    assert_ne!(st.fingerprint(""), m2v.fingerprint(""));
    assert_eq!(st.embed(&["hello world"], "").unwrap(), m2v.embed(&["hello world"], "").unwrap());
}

#[test]
fn q8_and_other_pooling_are_refused() {
    let err = Embedder::load(&options_at(model_dir(MODEL)).with_dtype(Dtype::Q8)).err().unwrap();
    assert_eq!(err.code(), "ERR_INVALID_OPTION");
    assert!(err.to_string().contains("static model") && err.to_string().contains("no graph to quantize"), "{err}");
    let err = Embedder::load(&options_at(model_dir(MODEL)).with_pooling(Some(PoolingMode::Cls))).err().unwrap();
    assert_eq!(err.code(), "ERR_INVALID_OPTION");
}

#[test]
fn options_apply_to_static_models() {
    let texts = ["How does authentication work?", "", "a passage about rivers and the sea"];
    let full = load_at(model_dir(MODEL));
    let flat = full.embed(&texts, "").unwrap();

    // truncateDim: the first 64 values, normalised again
    let cut = Embedder::load(&options_at(model_dir(MODEL)).with_truncate_dim(Some(64))).unwrap();
    assert_eq!(cut.dimension(), 64);
    let got = cut.embed(&texts, "").unwrap();
    assert_eq!(got, embedder_core::modules::truncate_rows(&flat, 256, 64, true));
    assert_eq!(full.embed_truncated(&texts, "", Some(64), &Progress::none()).unwrap(), got);

    // normalize: false leaves the plain mean
    let raw = Embedder::load(&options_at(model_dir(MODEL)).with_normalize(Some(false))).unwrap();
    let mean = raw.embed(&texts[..1], "").unwrap();
    let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() > 1e-3);
    assert!(cosine(&mean, &flat[..256]) > 0.999999);

    // a prompt is prepended to the text, as sentence-transformers does
    let with_prompt = full.embed(&["rivers"], "query: ").unwrap();
    assert_eq!(with_prompt, full.embed(&["query: rivers"], "").unwrap());

    // maxLength replaces the tokenizer's truncation
    let short = Embedder::load(&options_at(model_dir(MODEL)).with_max_length(Some(3))).unwrap();
    assert_eq!(short.info().max_length, 3);
    assert_eq!(short.embed(&["one two three four five"], "").unwrap(), full.embed(&["one two three"], "").unwrap());
}

#[test]
fn threads_and_batches_do_not_change_vectors() {
    let fx = fixture("reference-static-minilm-256.json");
    let base = strings(&fx["texts"]);
    // past one chunk of texts, so that chunks and threads both split the call
    let texts: Vec<String> = (0..5000).map(|i| format!("{} {i}", base[i % base.len()])).collect();
    let one = Embedder::load(&options_at(model_dir(MODEL)).with_threads(Some(1))).unwrap();
    let three = Embedder::load(&options_at(model_dir(MODEL)).with_threads(Some(3))).unwrap();
    let all = three.embed(&texts, "").unwrap();
    assert_eq!(all, one.embed(&texts, "").unwrap());
    let dim = three.dimension();
    for i in [0, 7, 4097, 4999] {
        assert_eq!(&all[i * dim..(i + 1) * dim], &one.embed(&texts[i..=i], "").unwrap()[..]);
    }
    // progress after each chunk, and an abort stops the call
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let progress = Progress::new(Some(Box::new(move |done, total| s.lock().unwrap().push((done, total)))), None);
    three.embed_with(&texts, "", &progress).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![(4096, 5000), (5000, 5000)]);
    let aborted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let err = three.embed_with(&texts, "", &Progress::new(None, Some(aborted))).unwrap_err();
    assert_eq!(err.code(), "ERR_ABORTED");
}

#[test]
fn broken_static_folders_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = model_dir(MODEL).join("model2vec");
    for f in ["config.json", "tokenizer.json"] {
        link(&src.join(f), &dir.path().join(f));
    }
    let err = Embedder::load(&options_at(dir.path())).err().unwrap();
    assert_eq!(err.code(), "ERR_MODEL_NOT_FOUND");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    // the sentence-transformers tensor name in a model2vec folder
    link(&model_dir(MODEL).join("0_StaticEmbedding/model.safetensors"), &dir.path().join("model.safetensors"));
    let err = Embedder::load(&options_at(dir.path())).err().unwrap();
    assert_eq!(err.code(), "ERR_MODEL_INVALID");
    assert!(err.to_string().contains("model.safetensors") && err.to_string().contains("`embeddings`"), "{err}");
}

#[test]
fn static_tokenization_gives_the_ids_of_tokenizers() {
    // the model's native WordPiece tokenizer (tests/wordpiece.rs tests it on its own) against the
    // tokenizers crate on the msmarco passages and queries, edge cases in and out of ASCII, and
    // random ASCII (control characters and punctuation included)
    let embedder = load_at(model_dir(MODEL));
    let reference = tokenizers::Tokenizer::from_file(model_dir(MODEL).join("0_StaticEmbedding/tokenizer.json")).unwrap();
    let mut texts: Vec<String> = Vec::new();
    for file in ["corpus.jsonl", "queries.jsonl"] {
        let data = std::fs::read_to_string(shared_dir().join("data/msmarco-5k").join(file)).unwrap();
        for line in data.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            texts.push(format!("{} {}", v["title"].as_str().unwrap_or(""), v["text"].as_str().unwrap()));
        }
    }
    texts.extend(
        [
            "[UNK] and [pad] tokens, [Unk]",
            "ab\x01cd\x0bef\x7fgh",
            "\t\n\r  \x0c",
            "UPPER lower MiXeD",
            "supercalifragilisticexpialidocious antidisestablishmentarianism",
            "12345.678,90 3.14159",
            "~`!@#$%^&*()_+-={}[]|\\:;\"'<>,.?/",
            "word-with_punct!!and...dots",
            "Café crème brûlée — naïve résumé, İstanbul ΣΟΦΟΣ Straße",
            "野口里佳 Noguchi Rika 東京 한국어 テスト 😀 zero\u{200b}width\u{fffd}",
            "[UNK]é[PAD]中[unk]",
        ]
        .map(String::from),
    );
    texts.push("x".repeat(100));
    texts.push("x".repeat(101));
    texts.push(format!("{} tail", "y".repeat(300)));
    texts.push("hello ".repeat(600));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 120) as usize;
        let text: String = (0..len)
            .map(|i| {
                let r = (seed.rotate_left(i as u32 * 7) >> 3) % 100;
                match r {
                    0..=1 => (r as u8 + 1) as char,
                    2..=14 => ' ',
                    15..=24 => "!-.,'()[]#_".as_bytes()[(r - 15) as usize] as char,
                    _ => (b'a' + ((seed >> (i % 50)) % 26) as u8) as char,
                }
            })
            .collect();
        texts.push(text);
    }
    let got = embedder.tokenize(&texts, "").unwrap();
    for (text, got) in texts.iter().zip(got) {
        let want = reference.encode(text.as_str(), false).unwrap();
        assert_eq!(got.ids, want.get_ids(), "{text:?}");
    }
}

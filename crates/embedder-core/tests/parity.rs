//! Parity with sentence-transformers on the shared reference fixtures.

mod common;

use common::*;
use embedder_core::{Dtype, Embedder, PoolingMode};

fn assert_parity(model: &str, fixture_name: &str) {
    let embedder = load(model);
    let fx = fixture(fixture_name);
    let texts = strings(&fx["texts"]);
    let expected = vectors(&fx["embeddings"]);
    assert_eq!(embedder.info().max_length as u64, fx["max_seq_length"].as_u64().unwrap());

    if let Some(ids) = fx.get("token_ids") {
        let tokens = embedder.tokenize(&texts, "").unwrap();
        for (i, (t, want)) in tokens.iter().zip(ids.as_array().unwrap()).enumerate() {
            let want: Vec<u32> = want.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
            assert_eq!(t.ids, want, "token ids of text {i} ({:?})", texts[i]);
        }
    }

    let flat = embedder.embed(&texts, "").unwrap();
    let dim = embedder.dimension();
    assert_eq!(dim, expected[0].len());
    for (i, want) in expected.iter().enumerate() {
        let got = &flat[i * dim..(i + 1) * dim];
        let cos = cosine(got, want);
        let diff = max_abs_diff(got, want);
        assert!(cos >= 0.99999 && diff <= 1e-4, "{model} text {i} ({:?}): cosine {cos}, max abs diff {diff}", texts[i]);
    }
}

#[test]
fn minilm_matches_sentence_transformers() {
    assert_parity("all-MiniLM-L6-v2", "reference-all-MiniLM-L6-v2.json");
}

#[test]
fn cls_pooling_model_matches_sentence_transformers() {
    assert_parity("tiny-bert-cls", "reference-tiny-bert-cls.json");
}

#[test]
fn dense_module_model_matches_sentence_transformers() {
    assert_parity("tiny-bert-dense", "reference-tiny-bert-dense.json");
}

#[test]
fn prompts_match_sentence_transformers() {
    let embedder = load("tiny-bert-cls");
    let fx = fixture("reference-tiny-bert-cls-prompts.json");
    let texts = strings(&fx["texts"]);
    for name in ["query", "document"] {
        let prompt = embedder.prompt(name).unwrap();
        assert_eq!(prompt, fx["prompts"][name].as_str().unwrap());
        let flat = embedder.embed(&texts, prompt).unwrap();
        let dim = embedder.dimension();
        for (i, want) in vectors(&fx[name]).iter().enumerate() {
            let got = &flat[i * dim..(i + 1) * dim];
            assert!(cosine(got, want) >= 0.99999 && max_abs_diff(got, want) <= 1e-4, "{name} {i}");
        }
    }
}

#[test]
fn model_configs_drive_the_embedder() {
    let cls = load("tiny-bert-cls");
    let info = cls.info();
    assert_eq!(info.pooling, vec![PoolingMode::Cls]);
    assert!(!info.normalize);
    assert_eq!(info.input_names, vec!["input_ids", "attention_mask"]);
    let dense = load("tiny-bert-dense");
    assert_eq!((dense.dimension(), dense.info().max_length, dense.info().normalize), (16, 64, true));
    let minilm = load("all-MiniLM-L6-v2");
    assert_eq!(minilm.info().input_names, vec!["input_ids", "attention_mask", "token_type_ids"]);
}

#[test]
fn batch_results_do_not_depend_on_neighbours() {
    let embedder = load("all-MiniLM-L6-v2");
    let x = "Padding must not leak into pooling.";
    let long = "word ".repeat(400);
    let alone = embedder.embed(&[x], "").unwrap();
    let batch = embedder.embed(&[x, long.as_str(), ""], "").unwrap();
    assert!(max_abs_diff(&alone, &batch[..384]) <= 1e-5);
}

/// The shipped int8 file (reached by `model_file`; `dtype: 'q8'` derives its own graph, see
/// tests/q8.rs) loses accuracy on some texts: onnxruntime 1.32 from Python gives cosine 0.878 for
/// the 256-token repeated-word fixture and 0.901 for the empty string, so the bound is on the
/// typical text (median) with a floor for the worst.
#[test]
fn shipped_quantized_model_stays_close_to_reference() {
    let embedder =
        Embedder::load(&options("all-MiniLM-L6-v2").with_dtype(Dtype::Q8).with_model_file(Some("onnx/model_quantized.onnx".into())))
            .unwrap();
    assert!(embedder.info().onnx_path.ends_with("onnx/model_quantized.onnx"));
    let fx = fixture("reference-all-MiniLM-L6-v2.json");
    let texts = strings(&fx["texts"]);
    let flat = embedder.embed(&texts, "").unwrap();
    let mut cosines: Vec<f64> =
        vectors(&fx["embeddings"]).iter().enumerate().map(|(i, want)| cosine(&flat[i * 384..(i + 1) * 384], want)).collect();
    cosines.sort_by(f64::total_cmp);
    assert!(cosines[0] >= 0.85, "worst cosine {}", cosines[0]);
    assert!(cosines[cosines.len() / 2] >= 0.95, "median cosine {}", cosines[cosines.len() / 2]);
}

#[test]
fn overrides_apply() {
    let embedder = Embedder::load(
        &options("tiny-bert-cls").with_pooling(Some(PoolingMode::Mean)).with_normalize(Some(true)).with_max_length(Some(16)),
    )
    .unwrap();
    let v = embedder.embed(&["hello world"], "").unwrap();
    let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    assert_eq!(embedder.info().max_length, 16);
    assert_eq!(embedder.tokenize(&["a ".repeat(100)], "").unwrap()[0].len(), 16);
}

#[test]
fn broken_files_give_codes() {
    let dir = tempfile::tempdir().unwrap();
    let src = model_dir("tiny-bert-cls");
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json", "modules.json", "sentence_bert_config.json"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("1_Pooling")).unwrap();
    std::fs::copy(src.join("1_Pooling/config.json"), dir.path().join("1_Pooling/config.json")).unwrap();
    let onnx = std::fs::read(src.join("onnx/model.onnx")).unwrap();
    std::fs::write(dir.path().join("model.onnx"), &onnx[..onnx.len() / 3]).unwrap();
    let opts = embedder_core::EmbedderOptions::new(dir.path(), runtime_library());
    let err = Embedder::load(&opts).err().unwrap();
    assert_eq!(err.code(), "ERR_MODEL_INVALID", "{err}");
    assert!(err.to_string().contains("model.onnx"), "{err}");

    std::fs::write(dir.path().join("tokenizer.json"), "{ not json").unwrap();
    std::fs::write(dir.path().join("model.onnx"), &onnx).unwrap();
    let err = Embedder::load(&opts).err().unwrap();
    assert_eq!(err.code(), "ERR_MODEL_INVALID");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");

    let missing = embedder_core::EmbedderOptions::new(dir.path().join("nope"), runtime_library());
    assert_eq!(Embedder::load(&missing).err().unwrap().code(), "ERR_MODEL_NOT_FOUND");
}

//! A folder written by `SentenceTransformer.save` (PyTorch checkpoint, no ONNX file) loads
//! directly: the encoder graph is built from `model.safetensors` and gives sentence-transformers'
//! vectors; the built graph is kept and reused; what cannot be built is refused with a way out.

mod common;

use common::*;
use embedder_core::{Dtype, Embedder};

fn load_with(model: &std::path::Path, cache: &std::path::Path, dtype: Dtype) -> embedder_core::Result<Embedder> {
    Embedder::load(
        &embedder_core::EmbedderOptions::new(model, runtime_library()).with_dtype(dtype).with_derived_cache(Some(cache.to_path_buf())),
    )
}

#[test]
fn a_sentence_transformers_checkpoint_matches_sentence_transformers() {
    let cache = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let embedder = load_with(&model_dir("medical-embedder-v1"), cache.path(), Dtype::Fp32).unwrap();
    let first_load = started.elapsed();
    assert_eq!(embedder.info().graph.kind, "built");
    assert!(embedder.info().graph.derived_now);
    assert_eq!(embedder.info().max_length, 256, "model_max_length, not the leftover max_length");
    let reference = fixture("reference-medical-embedder-v1.json");
    let texts = strings(&reference["texts"]);
    let expected = vectors(&reference["embeddings"]);
    let got = embedder.embed(&texts, "").unwrap();
    let d = embedder.dimension();
    let (mut min_cos, mut max_abs) = (1.0f64, 0.0f32);
    for (i, e) in expected.iter().enumerate() {
        let row = &got[i * d..(i + 1) * d];
        min_cos = min_cos.min(cosine(row, e));
        max_abs = max_abs.max(max_abs_diff(row, e));
    }
    eprintln!(
        "medical-embedder-v1 built graph: {} texts, min cosine {min_cos:.8}, max abs {max_abs:.2e}; first load {first_load:?}",
        texts.len()
    );
    assert!(min_cos >= 0.99999 && max_abs <= 1e-4, "min cosine {min_cos}, max abs {max_abs}");

    let started = std::time::Instant::now();
    let again = load_with(&model_dir("medical-embedder-v1"), cache.path(), Dtype::Fp32).unwrap();
    eprintln!("second load {:?}", started.elapsed());
    assert!(!again.info().graph.derived_now, "the second load reads the kept graph");
    assert_eq!(again.info().model_fingerprint, embedder.info().model_fingerprint);
    assert_eq!(again.embed(&texts[..3], "").unwrap(), embedder.embed(&texts[..3], "").unwrap());
}

#[test]
fn q8_of_a_checkpoint_derives_from_the_built_graph() {
    let cache = tempfile::tempdir().unwrap();
    let embedder = load_with(&model_dir("medical-embedder-v1"), cache.path(), Dtype::Q8).unwrap();
    assert_eq!(embedder.info().graph.kind, "derived-q8");
    // a kept built graph cut short is built again, for q8 as for fp32
    for entry in std::fs::read_dir(cache.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "onnx") {
            if path.to_string_lossy().contains(embedder_core::onnx::q8::DERIVATION) {
                std::fs::remove_file(&path).unwrap();
            } else {
                std::fs::write(&path, b"cut short").unwrap();
            }
        }
    }
    let again = load_with(&model_dir("medical-embedder-v1"), cache.path(), Dtype::Q8).unwrap();
    assert!(again.info().graph.derived_now);
    assert_eq!(again.embed(&["a test"], "").unwrap(), embedder.embed(&["a test"], "").unwrap());
    let reference = fixture("reference-medical-embedder-v1.json");
    let texts = strings(&reference["texts"]);
    let got = embedder.embed(&texts, "").unwrap();
    let min =
        vectors(&reference["embeddings"]).iter().enumerate().map(|(i, e)| cosine(&got[i * 384..(i + 1) * 384], e)).fold(1.0, f64::min);
    assert!(min >= 0.97, "min cosine {min}");
}

/// A checkpoint folder beside the shared one: its configs and tokenizer copied, `edit` applied.
fn checkpoint_copy(edit: impl FnOnce(&std::path::Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = model_dir("medical-embedder-v1");
    for entry in walk(&source) {
        let relative = entry.strip_prefix(&source).unwrap();
        let target = dir.path().join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        if relative != std::path::Path::new("model.safetensors") {
            std::fs::copy(&entry, &target).unwrap();
        }
    }
    edit(dir.path());
    dir
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The shared checkpoint's tensors rewritten by `convert` (name, dtype, bytes) into `dir`.
fn write_weights(
    dir: &std::path::Path,
    convert: impl Fn(&str, &safetensors::tensor::TensorView) -> Option<(safetensors::Dtype, Vec<u8>, Vec<usize>)>,
) {
    let bytes = std::fs::read(model_dir("medical-embedder-v1").join("model.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let converted: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .filter_map(|(name, view)| convert(&name, &view).map(|(dtype, data, shape)| (name, dtype, shape, data)))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = converted
        .iter()
        .map(|(name, dtype, shape, data)| (name.clone(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap()))
        .collect();
    std::fs::write(dir.join("model.safetensors"), safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn an_f16_checkpoint_loads_and_stays_close_to_the_f32_vectors() {
    let dir = checkpoint_copy(|d| {
        write_weights(d, |_, view| {
            let data: Vec<u8> =
                view.data().chunks_exact(4).flat_map(|b| to_f16(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes()).collect();
            Some((safetensors::Dtype::F16, data, view.shape().to_vec()))
        })
    });
    let cache = tempfile::tempdir().unwrap();
    let embedder = load_with(dir.path(), cache.path(), Dtype::Fp32).unwrap();
    let reference = fixture("reference-medical-embedder-v1.json");
    let got = embedder.embed(&strings(&reference["texts"]), "").unwrap();
    let min =
        vectors(&reference["embeddings"]).iter().enumerate().map(|(i, e)| cosine(&got[i * 384..(i + 1) * 384], e)).fold(1.0, f64::min);
    assert!(min >= 0.9999, "F16 weights: min cosine to the F32 model's vectors {min}");
}

#[test]
fn what_cannot_be_built_is_refused_naming_what_and_how() {
    let cache = tempfile::tempdir().unwrap();
    let err = |dir: &std::path::Path| load_with(dir, cache.path(), Dtype::Fp32).err().expect("refused");

    // a pickle is never loaded
    let pickle = checkpoint_copy(|d| std::fs::write(d.join("pytorch_model.bin"), b"\x80\x04not loaded").unwrap());
    let e = err(pickle.path());
    assert_eq!(e.code(), "ERR_MODEL_INVALID", "{e}");
    assert!(e.to_string().contains("pickle") && e.to_string().contains("safe_serialization=True"), "{e}");

    // an architecture the builder does not know
    let other = checkpoint_copy(|d| {
        let config = std::fs::read_to_string(d.join("config.json")).unwrap().replace("\"bert\"", "\"deberta-v2\"");
        std::fs::write(d.join("config.json"), config).unwrap();
        std::fs::copy(model_dir("medical-embedder-v1").join("model.safetensors"), d.join("model.safetensors")).unwrap();
    });
    let e = err(other.path());
    assert_eq!(e.code(), "ERR_MODEL_INVALID");
    for part in ["deberta-v2", "bert", "onnx/model.onnx"] {
        assert!(e.to_string().contains(part), "{part} in {e}");
    }

    // weights that do not match the config: a missing layer, a wrong shape
    let deeper = checkpoint_copy(|d| {
        let config =
            std::fs::read_to_string(d.join("config.json")).unwrap().replace("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 7");
        std::fs::write(d.join("config.json"), config).unwrap();
        std::fs::copy(model_dir("medical-embedder-v1").join("model.safetensors"), d.join("model.safetensors")).unwrap();
    });
    let e = err(deeper.path());
    assert_eq!(e.code(), "ERR_MODEL_INVALID");
    assert!(e.to_string().contains("encoder.layer.6.attention.self.query.weight"), "{e}");

    let reshaped = checkpoint_copy(|d| {
        write_weights(d, |name, view| {
            let mut shape = view.shape().to_vec();
            let mut data = view.data().to_vec();
            if name == "encoder.layer.2.intermediate.dense.bias" {
                shape[0] -= 1;
                data.truncate(data.len() - 4);
            }
            Some((view.dtype(), data, shape))
        })
    });
    let e = err(reshaped.path());
    assert_eq!(e.code(), "ERR_MODEL_INVALID");
    assert!(e.to_string().contains("encoder.layer.2.intermediate.dense.bias") && e.to_string().contains("1535"), "{e}");
}

/// Op types and their counts in the graph ONNX Runtime runs once it has optimised `model`.
fn optimized_ops(model: &std::path::Path) -> std::collections::BTreeMap<String, usize> {
    use ort::session::{builder::GraphOptimizationLevel, Session};
    let env = embedder_core::runtime::environment(&runtime_library()).unwrap();
    let out = tempfile::Builder::new().suffix(".onnx").tempfile().unwrap();
    let session = Session::builder(env)
        .unwrap()
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .unwrap()
        .with_optimized_model_path(out.path())
        .unwrap()
        .commit_from_file(model)
        .unwrap();
    drop(session);
    let optimized = embedder_core::onnx::read(out.path()).unwrap();
    let mut ops = std::collections::BTreeMap::new();
    for node in &optimized.graph.unwrap().node {
        *ops.entry(node.op_type.clone().unwrap_or_default()).or_insert(0) += 1;
    }
    ops
}

#[test]
fn onnx_runtime_fuses_the_built_graph_as_it_fuses_the_exported_one() {
    let cache = tempfile::tempdir().unwrap();
    let built = load_with(&model_dir("medical-embedder-v1"), cache.path(), Dtype::Fp32).unwrap().info().onnx_path.clone();
    let built = optimized_ops(&built);
    let exported = optimized_ops(&model_dir("all-MiniLM-L6-v2").join("onnx/model.onnx"));
    let total = |ops: &std::collections::BTreeMap<String, usize>| ops.values().sum::<usize>();
    eprintln!("optimized graphs: built {} nodes {built:?}\nexported {} nodes {exported:?}", total(&built), total(&exported));
    // the same fused kernels: layer norms, bias + GELU, the scaled attention product
    for op in ["LayerNormalization", "BiasGelu", "FusedMatMul", "Softmax"] {
        assert_eq!(built.get(op), exported.get(op), "{op}");
    }
    assert!(total(&built) <= total(&exported), "the built graph needs no more nodes than the exported one");
}

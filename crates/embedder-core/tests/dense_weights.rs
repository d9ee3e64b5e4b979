//! The weights of a Dense module: F16 and BF16 files are widened to f32 (as the transformer's
//! checkpoint is), and a pickle is refused with the reason, on copies of tiny-bert-dense.

mod common;

use std::path::Path;

use common::{copy_model, cosine, fixture, runtime_library, strings, to_f16, vectors};
use embedder_core::{Embedder, EmbedderOptions};
use safetensors::{Dtype, SafeTensors};

/// f32 to bfloat16, rounding to nearest even.
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

/// Rewrites `2_Dense/model.safetensors` with every tensor converted to `dtype` by `convert`.
fn rewrite_dense(dir: &Path, dtype: Dtype, convert: fn(f32) -> u16) {
    let path = dir.join("2_Dense/model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let converted: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "the shared Dense weights are F32");
            let data =
                view.data().chunks_exact(4).flat_map(|b| convert(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes()).collect();
            (name, view.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = converted
        .iter()
        .map(|(name, shape, data)| (name.clone(), safetensors::tensor::TensorView::new(dtype, shape.clone(), data).unwrap()))
        .collect();
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// The smallest cosine between the model's vectors and the sentence-transformers reference.
fn min_cosine_to_reference(dir: &Path) -> f64 {
    let embedder = Embedder::load(&EmbedderOptions::new(dir, runtime_library())).expect("model loads");
    let reference = fixture("reference-tiny-bert-dense.json");
    let got = embedder.embed(&strings(&reference["texts"]), "").unwrap();
    let dim = embedder.dimension();
    vectors(&reference["embeddings"]).iter().enumerate().map(|(i, e)| cosine(&got[i * dim..(i + 1) * dim], e)).fold(1.0, f64::min)
}

#[test]
fn half_precision_dense_weights_are_widened_to_f32() {
    let dir = copy_model("tiny-bert-dense");
    rewrite_dense(dir.path(), Dtype::F16, to_f16);
    let min = min_cosine_to_reference(dir.path());
    assert!(min >= 0.9999, "F16 Dense weights: min cosine to the reference {min}");

    let dir = copy_model("tiny-bert-dense");
    rewrite_dense(dir.path(), Dtype::BF16, to_bf16);
    // bfloat16 keeps 8 bits of mantissa against float16's 11
    let min = min_cosine_to_reference(dir.path());
    assert!(min >= 0.999, "BF16 Dense weights: min cosine to the reference {min}");
}

#[test]
fn a_pickled_dense_module_is_refused_with_the_reason() {
    let dir = copy_model("tiny-bert-dense");
    let dense = dir.path().join("2_Dense");
    std::fs::remove_file(dense.join("model.safetensors")).unwrap();
    std::fs::write(dense.join("pytorch_model.bin"), b"PK\x03\x04 not loaded").unwrap();
    let err = Embedder::load(&EmbedderOptions::new(dir.path(), runtime_library())).err().expect("refused");
    assert_eq!(err.code(), "ERR_MODEL_INVALID", "{err}");
    let message = err.to_string();
    assert!(
        message.contains("pytorch_model.bin") && message.contains("pickle") && message.contains("safe_serialization=True"),
        "{message}"
    );
    // the save command names the model folder, which writes every module's weights
    assert!(message.contains(&format!("SentenceTransformer('{}')", dir.path().display())), "{message}");

    std::fs::remove_file(dense.join("pytorch_model.bin")).unwrap();
    let err = Embedder::load(&EmbedderOptions::new(dir.path(), runtime_library())).err().expect("refused");
    assert_eq!(err.code(), "ERR_MODEL_NOT_FOUND", "{err}");
}

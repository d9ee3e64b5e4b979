//! What a model folder may hold and what an embedder may return: broken weights, out-of-range
//! lengths and truncation, on copies of the shared tiny models.

mod common;

use common::{copy_model, model_dir, runtime_library};
use embedder_core::{Embedder, EmbedderOptions, Progress};

#[test]
fn nan_weights_are_a_runtime_error_naming_the_model() {
    let dir = copy_model("tiny-bert-dense");
    // every value of the Dense module's tensors becomes NaN (safetensors: u64 header length, header, data)
    let path = dir.path().join("2_Dense/model.safetensors");
    let mut bytes = std::fs::read(&path).unwrap();
    let data = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for value in bytes[data..].chunks_exact_mut(4) {
        value.copy_from_slice(&f32::NAN.to_le_bytes());
    }
    std::fs::write(&path, bytes).unwrap();
    let embedder = Embedder::load(&EmbedderOptions::new(dir.path(), runtime_library())).unwrap();
    let err = embedder.embed(&["hello world"], "").unwrap_err();
    assert_eq!(err.code(), "ERR_RUNTIME", "{err}");
    assert!(err.to_string().contains(&dir.path().display().to_string()) && err.to_string().contains("non-finite"), "{err}");
}

#[test]
fn max_seq_length_past_the_position_limit_is_refused_at_load() {
    for bad in ["600", "1e30", "12.5"] {
        let dir = copy_model("tiny-bert-cls");
        std::fs::write(dir.path().join("sentence_bert_config.json"), format!(r#"{{"max_seq_length": {bad}}}"#)).unwrap();
        let err = Embedder::load(&EmbedderOptions::new(dir.path(), runtime_library())).err().expect("loads");
        assert_eq!(err.code(), "ERR_MODEL_INVALID", "{bad}: {err}");
        assert!(err.to_string().contains("sentence_bert_config.json"), "{err}");
    }
    // the option follows the same rule
    let err = Embedder::load(&EmbedderOptions::new(model_dir("tiny-bert-cls"), runtime_library()).with_max_length(Some(600)))
        .err()
        .expect("loads");
    assert_eq!(err.code(), "ERR_INVALID_OPTION", "{err}");
}

#[test]
fn per_call_truncate_dim_follows_the_constructor_rule() {
    let embedder = common::load("tiny-bert-cls");
    let dim = embedder.dimension();
    for keep in [0, dim + 1, 10 * dim] {
        let err = embedder.embed_truncated(&["hello"], "", Some(keep), &Progress::none()).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_OPTION", "{keep}: {err}");
        let at_load = Embedder::load(&common::options("tiny-bert-cls").with_truncate_dim(Some(keep))).err().expect("refused");
        assert_eq!(err.to_string(), at_load.to_string());
    }
    assert_eq!(embedder.embed_truncated(&["hello"], "", Some(dim), &Progress::none()).unwrap().len(), dim);
    assert_eq!(embedder.embed_truncated(&["hello"], "", Some(4), &Progress::none()).unwrap().len(), 4);
}

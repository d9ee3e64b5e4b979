//! A checkpoint folder as `SentenceTransformer.save` (or `transformers`' `save_pretrained`) writes
//! it, with no ONNX file: `config.json` + `model.safetensors`. Its encoder runs through an ONNX
//! graph built from the weights ([`crate::onnx::bert`]), kept like any derived file
//! ([`crate::derived`]) so the next load reads it back.
//!
//! `pytorch_model.bin` is never loaded: it is a pickle, and unpickling runs code.

use std::path::{Path, PathBuf};

use safetensors::{Dtype as TensorDtype, SafeTensors};
use serde_json::Value;

use crate::derived::{content_sha256, hex};
use crate::error::{Error, Result};
use crate::files::{read_json, read_model_file, FileKind, HOW_TO_EXPORT, WEIGHTS_FILE};
use crate::onnx::{self, bert};

/// The architectures (`config.json` `model_type`) whose graph can be built.
pub const SUPPORTED_MODEL_TYPES: [&str; 4] = ["bert", "roberta", "xlm-roberta", "camembert"];

/// A built graph, ready to load.
#[derive(Clone, Debug)]
pub struct BuiltGraph {
    pub path: PathBuf,
    /// `<builder>:<sha256 of the weights>:<sha256 of config.json>`.
    pub identity: String,
    pub built_now: bool,
    /// In the system's temporary folder (no cache folder was writable): delete once loaded.
    pub temporary: bool,
}

/// The built graph of the checkpoint in `dir`: the kept file when an earlier load built it, else
/// built now and written atomically under `root` (or to a temporary file).
pub fn built_graph(dir: &Path, root: Option<&Path>) -> Result<BuiltGraph> {
    let config_path = dir.join("config.json");
    let weights_path = dir.join(WEIGHTS_FILE);
    let config_json = read_json(&config_path)?
        .ok_or_else(|| Error::ModelNotFound { what: "config.json of a checkpoint".into(), looked_at: vec![config_path.clone()] })?;
    let config = bert_config(&config_json, &config_path)?;
    let config_bytes = read_model_file(&config_path, FileKind::Config)?.unwrap_or_default();
    let identity = format!("{}:{}:{}", bert::BUILDER, content_sha256(&weights_path, root)?, hex(&sha2_digest(&config_bytes)));
    let file_name = format!("{}.onnx", hex(&sha2_digest(identity.as_bytes())));
    if let Some(path) = crate::derived::find_kept(root, &file_name) {
        return Ok(BuiltGraph { path, identity, built_now: false, temporary: false });
    }
    let bytes = read_model_file(&weights_path, FileKind::Weights)?
        .ok_or_else(|| Error::ModelNotFound { what: "checkpoint weights".into(), looked_at: vec![weights_path.clone()] })?;
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| Error::invalid(&weights_path, format!("not a safetensors file: {e}")))?;
    let mut weights = Checkpoint { tensors: &tensors, prefix: prefix_of(&tensors) };
    let model = bert::build(&config, &mut weights).map_err(|reason| Error::invalid(&weights_path, reason))?;
    drop(bytes);
    let (path, temporary) = crate::derived::keep(&model, root, &file_name, &format!("the graph built from {}", weights_path.display()))?;
    Ok(BuiltGraph { path, identity, built_now: true, temporary })
}

fn sha2_digest(bytes: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).to_vec()
}

/// The `config.json` of a checkpoint whose graph can be built, or why not.
pub fn bert_config(json: &Value, path: &Path) -> Result<bert::BertConfig> {
    let model_type = json.get("model_type").and_then(Value::as_str).unwrap_or("(none)");
    if !SUPPORTED_MODEL_TYPES.contains(&model_type) {
        return Err(Error::invalid(
            path,
            format!(
                "model_type `{model_type}`: a graph can be built from a checkpoint only for {}; {}",
                SUPPORTED_MODEL_TYPES.join(", "),
                HOW_TO_EXPORT
            ),
        ));
    }
    let size = |key: &str| -> Result<usize> {
        json.get(key)
            .and_then(Value::as_u64)
            .filter(|&v| v > 0 && v <= u32::MAX as u64)
            .map(|v| v as usize)
            .ok_or_else(|| Error::invalid(path, format!("`{key}` must be a positive integer")))
    };
    if let Some(kind) = json.get("position_embedding_type").and_then(Value::as_str).filter(|k| *k != "absolute") {
        return Err(Error::invalid(path, format!("position_embedding_type `{kind}` is not supported (only `absolute`); {HOW_TO_EXPORT}")));
    }
    let act = json.get("hidden_act").and_then(Value::as_str).unwrap_or("gelu");
    let hidden_act = bert::Activation::parse(act).ok_or_else(|| {
        Error::invalid(path, format!("hidden_act `{act}` is not supported (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)"))
    })?;
    let eps = json.get("layer_norm_eps").and_then(Value::as_f64).unwrap_or(1e-12);
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::invalid(path, "`layer_norm_eps` must be a positive number"));
    }
    Ok(bert::BertConfig {
        hidden_size: size("hidden_size")?,
        num_hidden_layers: size("num_hidden_layers")?,
        num_attention_heads: size("num_attention_heads")?,
        intermediate_size: size("intermediate_size")?,
        vocab_size: size("vocab_size")?,
        max_position_embeddings: size("max_position_embeddings")?,
        type_vocab_size: json.get("type_vocab_size").and_then(Value::as_u64).unwrap_or(2) as usize,
        layer_norm_eps: eps as f32,
        hidden_act,
        positions: if model_type == "bert" {
            bert::Positions::Absolute
        } else {
            bert::Positions::AfterPadding { padding_idx: json.get("pad_token_id").and_then(Value::as_i64).unwrap_or(1) }
        },
    })
}

/// `bert.` / `roberta.` when the checkpoint holds a whole `…For…` model rather than the bare encoder.
fn prefix_of(tensors: &SafeTensors) -> String {
    let has = |name: &str| tensors.tensor(name).is_ok();
    ["", "bert.", "roberta.", "model."].iter().find(|p| has(&format!("{p}embeddings.word_embeddings.weight"))).unwrap_or(&"").to_string()
}

struct Checkpoint<'a> {
    tensors: &'a SafeTensors<'a>,
    prefix: String,
}

impl bert::Weights for Checkpoint<'_> {
    fn get(&mut self, name: &str, shape: &[usize]) -> std::result::Result<Vec<f32>, String> {
        let full = format!("{}{name}", self.prefix);
        let t = self
            .tensors
            .tensor(&full)
            .map_err(|_| format!("the checkpoint has no tensor `{full}`, which the config's architecture needs"))?;
        if t.shape() != shape {
            return Err(format!("tensor `{full}` has shape {:?}, but config.json implies {shape:?}", t.shape()));
        }
        let data = t.data();
        let values: Vec<f32> = match t.dtype() {
            TensorDtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            TensorDtype::F16 => data.chunks_exact(2).map(|b| onnx::f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
            TensorDtype::BF16 => data.chunks_exact(2).map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)).collect(),
            other => return Err(format!("tensor `{full}` is {other:?}; only F32, F16 and BF16 weights are supported")),
        };
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(format!("tensor `{full}` holds {bad}"));
        }
        Ok(values)
    }

    fn first_of(&mut self, names: &[String], shape: &[usize]) -> std::result::Result<Vec<f32>, String> {
        let found = names.iter().find(|n| self.tensors.tensor(&format!("{}{n}", self.prefix)).is_ok());
        match found {
            Some(name) => self.get(&name.clone(), shape),
            None => Err(format!(
                "the checkpoint has none of {}",
                names.iter().map(|n| format!("`{}{n}`", self.prefix)).collect::<Vec<_>>().join(", ")
            )),
        }
    }
}

//! ONNX Runtime, loaded at run time from a shared library, and one inference session per model.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::error::{Error, Result};

static ENVIRONMENT: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

/// Loads the ONNX Runtime library once per process. Later calls reuse the first library (ONNX
/// Runtime cannot be unloaded), whatever path they name.
pub fn environment(library: &Path) -> Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            if !library.is_file() {
                return Err(format!(
                    "ONNX Runtime library not found at {}; set ORT_DYLIB_PATH to an ONNX Runtime shared library (version 1.20 or later), or reinstall the package with its optional dependencies, whose platform package carries one",
                    library.display()
                ));
            }
            let builder = ort::init_from(library).map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", library.display()))?;
            builder
                .with_name("rag-native-embedder")
                .build()
                .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", library.display()))
        })
        .as_ref()
        .map_err(|e| Error::Runtime(e.clone()))
}

/// What the graph produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// `[batch, seq, hidden]`, to be pooled.
    TokenEmbeddings,
    /// `[batch, hidden]`, already pooled by the graph.
    SentenceEmbedding,
}

#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub intra_threads: usize,
}

/// Token ids of one padded batch, row-major `[rows, seq]`.
pub struct BatchInputs {
    pub rows: usize,
    pub seq: usize,
    pub input_ids: Vec<i64>,
    pub attention_mask: Vec<i64>,
    pub token_type_ids: Vec<i64>,
}

pub struct OnnxModel {
    session: Mutex<Session>,
    path: PathBuf,
    pub input_names: Vec<String>,
    pub output_name: String,
    pub output_kind: OutputKind,
    /// Last dimension of the output when the graph declares it.
    pub hidden_size: Option<usize>,
    pub uses_token_type_ids: bool,
}

const KNOWN_INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

impl OnnxModel {
    pub fn load(env: &Environment, path: &Path, options: &SessionOptions) -> Result<Self> {
        // ONNX Runtime opens the graph itself; it gets only a regular file of a bounded size
        crate::config::open_model_file(path, crate::config::FileKind::Weights)?
            .ok_or_else(|| Error::ModelNotFound { what: "ONNX model".into(), looked_at: vec![path.to_path_buf()] })?;
        let session = Session::builder(env)
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into))
            .and_then(|b| b.with_intra_threads(options.intra_threads).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .map_err(|e| Error::runtime("to configure a session", e))?
            .commit_from_file(path)
            .map_err(|e| Error::invalid(path, format!("ONNX Runtime cannot load this model: {e}")))?;

        let mut input_names = Vec::new();
        for input in session.inputs() {
            let name = input.name();
            if !KNOWN_INPUTS.contains(&name) {
                return Err(Error::invalid(path, format!("the graph takes an input `{name}`; only {KNOWN_INPUTS:?} can be fed")));
            }
            if input.dtype().tensor_type() != Some(TensorElementType::Int64) {
                return Err(Error::invalid(path, format!("input `{name}` is {}, expected int64", input.dtype())));
            }
            input_names.push(name.to_string());
        }
        if !input_names.iter().any(|n| n == "input_ids") {
            return Err(Error::invalid(path, "the graph has no `input_ids` input"));
        }

        // Token embeddings by their usual names, then an already pooled sentence embedding.
        let outputs = session.outputs();
        let pick = |names: &[&str]| outputs.iter().find(|o| names.contains(&o.name()));
        let (output, output_kind) = if let Some(o) = pick(&["last_hidden_state", "token_embeddings"]) {
            (o, OutputKind::TokenEmbeddings)
        } else if let Some(o) = pick(&["sentence_embedding", "pooler_output"]) {
            (o, OutputKind::SentenceEmbedding)
        } else if let Some(o) = outputs.iter().find(|o| o.dtype().tensor_shape().is_some_and(|s| s.len() == 3)) {
            (o, OutputKind::TokenEmbeddings)
        } else {
            let names: Vec<&str> = outputs.iter().map(|o| o.name()).collect();
            return Err(Error::invalid(path, format!("no token or sentence embedding output among {names:?}")));
        };
        let (output_name, hidden_size) = match output.dtype() {
            ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } => {
                let expected_rank = if output_kind == OutputKind::TokenEmbeddings { 3 } else { 2 };
                if shape.len() != expected_rank {
                    return Err(Error::invalid(
                        path,
                        format!("output `{}` has rank {}, expected {expected_rank}", output.name(), shape.len()),
                    ));
                }
                let last = shape[shape.len() - 1];
                (output.name().to_string(), (last > 0).then_some(last as usize))
            }
            other => return Err(Error::invalid(path, format!("output `{}` is {other}, expected a float32 tensor", output.name()))),
        };
        let uses_token_type_ids = input_names.iter().any(|n| n == "token_type_ids");
        Ok(OnnxModel {
            session: Mutex::new(session),
            path: path.to_path_buf(),
            input_names,
            output_name,
            output_kind,
            hidden_size,
            uses_token_type_ids,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs one batch and hands the output (`data`, `shape`) to `read` while it is borrowed, so
    /// that pooling reads ONNX Runtime's buffer without a copy.
    pub fn run<R>(&self, batch: &BatchInputs, read: impl FnOnce(&[f32], &[usize]) -> Result<R>) -> Result<R> {
        let shape = [batch.rows, batch.seq];
        let mut inputs = Vec::with_capacity(self.input_names.len());
        for name in &self.input_names {
            let data: &[i64] = match name.as_str() {
                "input_ids" => &batch.input_ids,
                "attention_mask" => &batch.attention_mask,
                _ => &batch.token_type_ids,
            };
            let view = TensorRef::from_array_view((shape, data)).map_err(|e| Error::runtime("to build an input tensor", e))?;
            inputs.push((name.as_str(), view));
        }
        // A poisoned lock only means another call panicked mid-run; the session itself is intact.
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session.run(inputs).map_err(|e| Error::runtime("to run the model", e))?;
        let value =
            outputs.get(&self.output_name).ok_or_else(|| Error::Runtime(format!("the model returned no `{}` output", self.output_name)))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| Error::runtime("to read the output", e))?;
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        read(data, &dims)
    }
}

//! ONNX Runtime, loaded at run time from a shared library, and one inference session per model.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::{TensorElementType, TensorRef, ValueType};

use crate::error::{Error, Result};

static ENVIRONMENT: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

/// Who is inside ONNX Runtime, and whether it may still be entered. When a process exits,
/// `exit()` runs libonnxruntime's C++ static destructors on the exiting thread; a model thread
/// still creating, running or releasing a session then touches freed memory (a segfault or heap
/// corruption in about 1 of 40 `process.exit()` calls made while a model loaded). Every call into
/// ONNX Runtime goes through [`enter`], and [`quiesce_for_exit`] closes the gate before `exit()`.
struct Gate {
    closed: bool,
    inside: usize,
    /// The runs in progress, which closing the gate terminates.
    runs: Vec<(u64, Arc<RunOptions>)>,
    next_run: u64,
}

static GATE: Mutex<Gate> = Mutex::new(Gate { closed: false, inside: 0, runs: Vec::new(), next_run: 0 });
/// Notified whenever a thread leaves ONNX Runtime.
static LEFT: Condvar = Condvar::new();

fn gate() -> MutexGuard<'static, Gate> {
    // the gate's fields stay consistent: every update is a single assignment or push
    GATE.lock().unwrap_or_else(|p| p.into_inner())
}

fn closed_error() -> Error {
    Error::Runtime("ONNX Runtime is closed: the process is exiting".into())
}

/// A thread inside ONNX Runtime, from [`enter`] until dropped. Declare it before any ONNX Runtime
/// value, so that it is dropped after them.
struct Inside {
    run: Option<u64>,
}

/// Enters ONNX Runtime, unless the process is exiting.
fn enter() -> Result<Inside> {
    let mut gate = gate();
    if gate.closed {
        return Err(closed_error());
    }
    gate.inside += 1;
    Ok(Inside { run: None })
}

impl Inside {
    /// Makes `options` terminate when the gate closes; fails when it already has.
    fn track(&mut self, options: Arc<RunOptions>) -> Result<()> {
        let mut gate = gate();
        if gate.closed {
            return Err(closed_error());
        }
        let id = gate.next_run;
        gate.next_run += 1;
        gate.runs.push((id, options));
        self.run = Some(id);
        Ok(())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        let mut gate = gate();
        if let Some(id) = self.run {
            // may release the run options, still inside: the count drops after
            gate.runs.retain(|(run, _)| *run != id);
        }
        gate.inside -= 1;
        LEFT.notify_all();
    }
}

/// Readies ONNX Runtime for the process to exit: no thread enters it any more, runs in progress
/// are told to stop (ONNX Runtime checks between graph nodes), and this waits up to `wait` for
/// every thread inside to leave. A session being created cannot be stopped; `false` when one
/// still was when `wait` ran out. Irreversible: later calls fail with `ERR_RUNTIME`, and a model
/// dropped later keeps its session (the process is ending).
pub fn quiesce_for_exit(wait: Duration) -> bool {
    let mut gate = gate();
    gate.closed = true;
    for (_, run) in &gate.runs {
        let _ = run.terminate();
    }
    let (gate, _) = LEFT.wait_timeout_while(gate, wait, |g| g.inside > 0).unwrap_or_else(|p| p.into_inner());
    gate.inside == 0
}

/// Before the process exits with `code`: [`quiesce_for_exit`], and if a thread is still inside
/// ONNX Runtime after `wait`, ends the process at once (`_exit` on Unix), so that
/// libonnxruntime's static destructors never run beside it. (Windows' `ExitProcess` ends the
/// other threads before any DLL's destructors run.)
pub fn prepare_exit(code: i32, wait: Duration) {
    let quiet = quiesce_for_exit(wait);
    #[cfg(unix)]
    if !quiet {
        // SAFETY: `_exit` ends the process without running anything of it; the exit was already
        // asked for. C stdio buffers are flushed first, as `exit()` would have.
        unsafe {
            libc::fflush(std::ptr::null_mut());
            libc::_exit(code);
        }
    }
    #[cfg(not(unix))]
    let _ = (quiet, code);
}

/// Loads the ONNX Runtime library once per process. Later calls reuse the first library (ONNX
/// Runtime cannot be unloaded), whatever path they name.
pub fn environment(library: &Path) -> Result<&'static Environment> {
    ENVIRONMENT
        .get_or_init(|| {
            let _inside = enter().map_err(|e| e.to_string())?;
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
    /// `None` only while dropped.
    session: Mutex<Option<Session>>,
    pub input_names: Vec<String>,
    pub output_name: String,
    pub output_kind: OutputKind,
    /// Last dimension of the output when the graph declares it.
    pub hidden_size: Option<usize>,
}

const KNOWN_INPUTS: [&str; 3] = ["input_ids", "attention_mask", "token_type_ids"];

impl OnnxModel {
    pub fn load(env: &Environment, path: &Path, options: &SessionOptions) -> Result<Self> {
        let _inside = enter()?;
        // ONNX Runtime opens the graph itself; it gets only a regular file of a bounded size
        crate::files::open_model_file(path, crate::files::FileKind::Weights)?
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
        Ok(OnnxModel { session: Mutex::new(Some(session)), input_names, output_name, output_kind, hidden_size })
    }

    /// Runs one batch and hands the output (`data`, `shape`) to `read` while it is borrowed, so
    /// that pooling reads ONNX Runtime's buffer without a copy.
    pub fn run<R>(&self, batch: &BatchInputs, read: impl FnOnce(&[f32], &[usize]) -> Result<R>) -> Result<R> {
        let mut inside = enter()?;
        let run_options = Arc::new(RunOptions::new().map_err(|e| Error::runtime("to set up a run", e))?);
        inside.track(run_options.clone())?;
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
        let session = session.as_mut().expect("the session is only taken when the model is dropped. This is a bug.");
        let outputs = session.run_with_options(inputs, &*run_options).map_err(|e| Error::runtime("to run the model", e))?;
        let value =
            outputs.get(&self.output_name).ok_or_else(|| Error::Runtime(format!("the model returned no `{}` output", self.output_name)))?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(|e| Error::runtime("to read the output", e))?;
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        read(data, &dims)
    }
}

impl Drop for OnnxModel {
    fn drop(&mut self) {
        let session = self.session.get_mut().unwrap_or_else(|p| p.into_inner()).take();
        match enter() {
            Ok(inside) => {
                drop(session);
                drop(inside);
            }
            // releasing it would run ONNX Runtime beside its teardown; the process is ending anyway
            Err(_) => std::mem::forget(session),
        }
    }
}

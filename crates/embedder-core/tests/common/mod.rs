//! Locations of the shared models and fixtures and of the ONNX Runtime library, overridable by
//! environment variables (`RAG_NATIVE_SHARED`, `ORT_DYLIB_PATH`).

#![allow(dead_code)]

use std::path::PathBuf;

use embedder_core::{Embedder, EmbedderOptions};
use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn shared_dir() -> PathBuf {
    std::env::var_os("RAG_NATIVE_SHARED").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared"))
}

pub fn model_dir(name: &str) -> PathBuf {
    shared_dir().join("models").join(name)
}

pub fn runtime_library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"))
}

pub fn options(model: &str) -> EmbedderOptions {
    EmbedderOptions::new(model_dir(model), runtime_library())
}

pub fn load(model: &str) -> Embedder {
    Embedder::load(&options(model)).expect("model loads")
}

pub fn fixture(name: &str) -> Value {
    let path = shared_dir().join("fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

pub fn vectors(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Copies a folder and everything under it (links followed).
pub fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_folder(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A copy of a shared model folder that a test may change.
pub fn copy_model(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_folder(&model_dir(name), dir.path());
    dir
}

/// f32 to IEEE half, rounding to nearest even (normal range only, as model weights are; values
/// below it flush to zero).
pub fn to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let mantissa = bits & 0x7f_ffff;
    if exp <= 0 {
        return sign;
    }
    let mut half = ((exp as u32) << 10) | (mantissa >> 13);
    let rest = mantissa & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && half & 1 == 1) {
        half += 1;
    }
    sign | half as u16
}

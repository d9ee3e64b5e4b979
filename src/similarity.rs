//! Similarity scores of one query against many vectors (`embedder_core::similarity`).

use embedder_core::similarity::{self, score_many};
use napi::bindgen_prelude::{Float32Array, Float64Array, Int8Array, Uint32Array, Uint8Array};
use napi_derive::napi;

use crate::error::{catch_panic, to_js};

/// Cosine similarity of `query` with each vector.
#[napi]
pub fn cosine_scores(query: Float32Array, vectors: Vec<Float32Array>) -> napi::Result<Float32Array> {
    catch_panic(|| score_many(&query, &vectors, |a, b| similarity::cosine(a, b) as f32)).map(Float32Array::new).map_err(to_js)
}

/// Dot product of float32 `query` with each vector.
#[napi]
pub fn dot_scores_float32(query: Float32Array, vectors: Vec<Float32Array>) -> napi::Result<Float64Array> {
    catch_panic(|| score_many(&query, &vectors, similarity::dot_f32)).map(Float64Array::new).map_err(to_js)
}

/// Exact dot product of int8 codes.
#[napi]
pub fn dot_scores_int8(query: Int8Array, vectors: Vec<Int8Array>) -> napi::Result<Float64Array> {
    catch_panic(|| score_many(&query, &vectors, |a, b| similarity::dot_i8(a, b) as f64)).map(Float64Array::new).map_err(to_js)
}

/// Exact dot product of uint8 codes.
#[napi]
pub fn dot_scores_uint8(query: Uint8Array, vectors: Vec<Uint8Array>) -> napi::Result<Float64Array> {
    catch_panic(|| score_many(&query, &vectors, |a, b| similarity::dot_u8(a, b) as f64)).map(Float64Array::new).map_err(to_js)
}

/// Hamming distance between packed bit codes (`ubinary`).
#[napi]
pub fn hamming_scores(query: Uint8Array, vectors: Vec<Uint8Array>) -> napi::Result<Uint32Array> {
    catch_panic(|| score_many(&query, &vectors, similarity::hamming)).map(Uint32Array::new).map_err(to_js)
}

/// Hamming distance between `binary` codes (signed bytes).
#[napi]
pub fn hamming_scores_int8(query: Int8Array, vectors: Vec<Int8Array>) -> napi::Result<Uint32Array> {
    catch_panic(|| score_many(&query, &vectors, similarity::hamming_i8)).map(Uint32Array::new).map_err(to_js)
}

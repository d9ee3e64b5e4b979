//! Node.js bindings: converts options, results and errors; the work happens in `embedder-core`.

#![deny(clippy::all)]

mod embedder;
mod error;
mod lexical;
mod options;
mod quantize;
mod similarity;

pub use embedder::NativeEmbedder;
pub use lexical::NativeTfidf;

/// The cores this process may use (the container's CPU quota, not the host's core count).
#[napi_derive::napi]
pub fn default_threads() -> u32 {
    embedder_core::default_threads() as u32
}

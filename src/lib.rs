//! Node.js bindings: converts options, results and errors; the work happens in `embedder-core`.

#![deny(clippy::all)]

mod error;
mod hit;
pub mod lexical;
mod options;
pub mod quantize;
mod service;
pub mod similarity;

pub use lexical::NativeTfidf;
pub use service::NativeService;

/// The cores this process may use (the container's CPU quota, not the host's core count).
#[napi_derive::napi]
pub fn default_threads() -> u32 {
    embedder_core::default_threads() as u32
}

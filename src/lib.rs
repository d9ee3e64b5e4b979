//! Node.js bindings: converts options, results and errors; the work happens in `embedder-core`.

#![deny(clippy::all)]

mod error;
mod hit;
mod js_base;
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

/// The version of the npm package this addon was built for (package.json's, read by build.rs):
/// the loader refuses an addon from another build.
#[napi_derive::napi]
pub fn package_version() -> &'static str {
    env!("RAG_NATIVE_PACKAGE_VERSION")
}

/// The kinds of text (`'plain'`, `'query'`, `'document'`) in the order that numbers them for a
/// cache's hit function.
#[napi_derive::napi]
pub fn text_kinds() -> Vec<&'static str> {
    embedder_core::service::TextKind::ALL.map(|k| k.name()).to_vec()
}

/// For the main thread's `exit` event, before Node.js calls `exit()`, which runs ONNX Runtime's
/// C++ static destructors: stops the runs in progress and waits (up to 2 s) for every model
/// thread to leave ONNX Runtime. A model still loading after that (a session cannot be stopped
/// while it is created) ends the process at once with `code`, without the destructors.
#[napi_derive::napi]
pub fn prepare_exit(code: i32) -> napi::Result<()> {
    error::guard(|| {
        embedder_core::runtime::prepare_exit(code, std::time::Duration::from_secs(2));
        Ok(())
    })
}

//! The one mapping from core errors to JavaScript errors.
//!
//! napi-rs errors carry a fixed set of statuses, not our codes, so the code travels at the start
//! of the message (`ERR_MODEL_NOT_FOUND: …`); `index.js` moves it to `error.code`.

use embedder_core::Error;

pub fn to_js(err: Error) -> napi::Error {
    napi::Error::from_reason(format!("{}: {err}", err.code()))
}

pub use embedder_core::service::catch_panic;

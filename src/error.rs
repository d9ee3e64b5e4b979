//! The one mapping from core errors to JavaScript errors.
//!
//! napi-rs errors carry a fixed set of statuses, not our codes, so the code travels at the start
//! of the message (`ERR_MODEL_NOT_FOUND: …`); `index.js` moves it to `error.code`.

use embedder_core::Error;

pub fn to_js(err: Error) -> napi::Error {
    napi::Error::from_reason(format!("{}: {err}", err.code()))
}

/// Runs `f`, turning a panic into an `ERR_RUNTIME` error instead of unwinding into Node.
pub fn catch_panic<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(Error::Runtime(format!("internal error ({what}); this is a bug, please report it")))
    })
}

//! The one mapping from core errors to JavaScript errors.
//!
//! napi-rs errors carry a fixed set of statuses, not our codes, so the code travels at the start
//! of the message (`ERR_MODEL_NOT_FOUND: …`); `index.js` moves it to `error.code`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use embedder_core::Error;

pub fn to_js(err: Error) -> napi::Error {
    napi::Error::from_reason(format!("{}: {err}", err.code()))
}

pub use embedder_core::service::catch_panic;

/// Runs a synchronous entry point, turning a panic into an `ERR_RUNTIME` error: a panic that
/// unwinds out of a napi callback aborts the whole Node.js process.
pub fn guard<T>(f: impl FnOnce() -> napi::Result<T>) -> napi::Result<T> {
    catch_panic(|| Ok(f())).map_err(to_js)?
}

/// [`guard`] for the future behind a promise: a panic while polling rejects the promise with
/// `ERR_RUNTIME` (napi-rs alone rejects it with the bare panic message and no code).
pub fn guard_future<T, F: Future<Output = napi::Result<T>>>(future: F) -> Guarded<F> {
    Guarded(Box::pin(future))
}

pub struct Guarded<F>(Pin<Box<F>>);

impl<T, F: Future<Output = napi::Result<T>>> Future for Guarded<F> {
    type Output = napi::Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.get_mut().0.as_mut();
        // after a panic the future is Ready and never polled again
        catch_panic(|| Ok(future.poll(cx))).unwrap_or_else(|e| Poll::Ready(Err(to_js(e))))
    }
}

//! The cache-hit fast path: a plain N-API function bound to one cache and one output buffer.
//!
//! A cache hit is a sha256, a hash-map lookup and a copy of a few hundred floats; through a
//! `#[napi]` method the call itself cost more than that (argument conversion, receiver unwrapping,
//! a heap-allocated `String` filled by two N-API calls, the buffer's typed-array info). This
//! function takes the text in one N-API call into a stack buffer and writes into a buffer fixed
//! when it was made: `hit(text, kind) → length` (0 on a miss, or if `text` is not a string).

use std::borrow::Cow;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;

use embedder_core::cache::CachedEmbedder;
use embedder_core::service::TextKind;
use napi::bindgen_prelude::{FromNapiValue, Unknown};
use napi::sys;

/// Texts up to this many UTF-8 bytes are read without a heap allocation.
const STACK_TEXT: usize = 1024;

struct Hit {
    cache: Arc<CachedEmbedder>,
    /// The output buffer's values, kept alive by `keep`.
    out: *mut f32,
    len: usize,
    keep: sys::napi_ref,
}

/// Makes the function. `out` must be a Float32Array the caller never detaches or transfers.
pub fn hit_function<'env>(env: sys::napi_env, cache: Arc<CachedEmbedder>, out: sys::napi_value) -> napi::Result<Unknown<'env>> {
    let fail = |what: &str| napi::Error::from_reason(format!("cannot make the cache-hit function: {what}"));
    unsafe {
        let mut kind = 0;
        let mut len = 0usize;
        let mut data = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        let mut offset = 0usize;
        if sys::napi_get_typedarray_info(env, out, &mut kind, &mut len, &mut data, &mut buffer, &mut offset) != sys::Status::napi_ok
            || kind != sys::TypedarrayType::float32_array
        {
            return Err(fail("the output buffer is not a Float32Array"));
        }
        let mut keep = ptr::null_mut();
        if sys::napi_create_reference(env, out, 1, &mut keep) != sys::Status::napi_ok {
            return Err(fail("napi_create_reference failed"));
        }
        let hit = Box::into_raw(Box::new(Hit { cache, out: data.cast(), len, keep }));
        let mut function = ptr::null_mut();
        let name = "cachedHit";
        if sys::napi_create_function(env, name.as_ptr().cast(), name.len() as isize, Some(call), hit.cast(), &mut function)
            != sys::Status::napi_ok
            || sys::napi_add_finalizer(env, function, hit.cast(), Some(finalize), ptr::null_mut(), ptr::null_mut()) != sys::Status::napi_ok
        {
            sys::napi_delete_reference(env, keep);
            drop(Box::from_raw(hit));
            return Err(fail("napi_create_function failed"));
        }
        Ok(Unknown::from_raw_unchecked(env, function))
    }
}

unsafe extern "C" fn finalize(env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    let hit = Box::from_raw(data.cast::<Hit>());
    sys::napi_delete_reference(env, hit.keep);
}

unsafe extern "C" fn call(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    let mut argc = 2usize;
    let mut argv = [ptr::null_mut(); 2];
    let mut data = ptr::null_mut();
    let mut length = 0u32;
    if sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), ptr::null_mut(), &mut data) == sys::Status::napi_ok && argc == 2 {
        let hit = &*data.cast::<Hit>();
        let mut kind = 0u32;
        let mut stack = [0u8; STACK_TEXT];
        let text = if sys::napi_get_value_uint32(env, argv[1], &mut kind) == sys::Status::napi_ok {
            read_text(env, argv[0], &mut stack)
        } else {
            None
        };
        let kind = TextKind::from_index(kind);
        if let (Some(text), Some(kind)) = (text, kind) {
            let out = std::slice::from_raw_parts_mut(hit.out, hit.len);
            // a panic must not cross into JavaScript: it counts as a miss, and the call path reports it
            length = catch_unwind(AssertUnwindSafe(|| hit.cache.copy_from_memory(&text, kind, out))).ok().flatten().map_or(0, |n| n as u32);
        }
    }
    let mut result = ptr::null_mut();
    sys::napi_create_uint32(env, length, &mut result);
    result
}

/// The text of a JavaScript string: through a stack buffer when it fits, else through napi-rs's
/// conversion; `None` for other values.
unsafe fn read_text<'a>(env: sys::napi_env, value: sys::napi_value, stack: &'a mut [u8; STACK_TEXT]) -> Option<Cow<'a, str>> {
    let mut written = 0usize;
    if sys::napi_get_value_string_utf8(env, value, stack.as_mut_ptr().cast(), STACK_TEXT, &mut written) != sys::Status::napi_ok {
        return None;
    }
    // V8 never writes part of a character: a text that left 4 bytes free is complete.
    if written + 4 < STACK_TEXT - 1 {
        Some(Cow::Borrowed(std::str::from_utf8_unchecked(&stack[..written])))
    } else {
        String::from_napi_value(env, value).ok().map(Cow::Owned)
    }
}

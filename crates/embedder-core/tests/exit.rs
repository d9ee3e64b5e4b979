//! Readying ONNX Runtime for the process to exit (`runtime::quiesce_for_exit`). In a test binary
//! of its own: closing ONNX Runtime is irreversible for the process.

mod common;

use std::time::{Duration, Instant};

use common::options;
use embedder_core::{runtime, Embedder};

#[test]
fn quiesce_for_exit_stops_a_run_in_progress_and_closes_onnx_runtime() {
    // one run of 64 texts of 256 tokens: seconds of work, unless it is terminated
    let embedder = Embedder::load(&options("all-MiniLM-L6-v2").with_batch_size(64).with_max_batch_tokens(1 << 20)).expect("model loads");
    let texts: Vec<String> = (0..64).map(|i| format!("text {i} ") + &"lorem ipsum dolor sit amet ".repeat(60)).collect();
    let one_run = {
        let started = Instant::now();
        embedder.embed(&texts, "").expect("embeds");
        started.elapsed()
    };

    let running = std::thread::spawn(move || {
        let result = embedder.embed(&texts, "");
        // the model is released after the gate closed: its session is kept, not released
        drop(embedder);
        result
    });
    // tokenizing takes a few milliseconds; then the run is in progress
    std::thread::sleep(one_run / 3);
    let closing = Instant::now();
    assert!(runtime::quiesce_for_exit(Duration::from_secs(30)), "a thread stayed inside ONNX Runtime");
    let waited = closing.elapsed();
    let err = running.join().unwrap().expect_err("the run was terminated");
    assert_eq!(err.code(), "ERR_RUNTIME");
    assert!(waited < one_run / 2, "closing waited {waited:?}; a whole run takes {one_run:?}");

    let err = Embedder::load(&options("all-MiniLM-L6-v2")).err().expect("no model loads once ONNX Runtime is closed");
    assert_eq!(err.code(), "ERR_RUNTIME");
    assert!(err.to_string().contains("exiting"), "{err}");
}

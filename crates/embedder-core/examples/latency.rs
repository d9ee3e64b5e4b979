//! Single-query latency of the engine without Node: embeds each MS MARCO query alone, four
//! times over, and prints p50 / p95: `cargo run --release --example latency -- [q8]`.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use embedder_core::{Dtype, Embedder, EmbedderOptions};

fn main() {
    let dtype = if std::env::args().nth(1).as_deref() == Some("q8") { Dtype::Q8 } else { Dtype::Fp32 };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = std::env::var_os("RAG_NATIVE_SHARED").map(PathBuf::from).unwrap_or_else(|| root.join("../shared"));
    let library = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"));
    let queries: Vec<String> = std::io::BufReader::new(std::fs::File::open(shared.join("data/msmarco-5k/queries.jsonl")).expect("queries"))
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(&line.unwrap()).unwrap()["text"].as_str().unwrap().to_string())
        .collect();
    let threads = std::env::var("THREADS").ok().and_then(|s| s.parse().ok());
    let embedder =
        Embedder::load(&EmbedderOptions::new(shared.join("models/all-MiniLM-L6-v2"), library).with_dtype(dtype).with_threads(threads))
            .expect("model loads");
    for q in &queries[..10] {
        embedder.embed(&[q], "").unwrap();
    }
    let mut times = Vec::new();
    for _ in 0..4 {
        for q in &queries {
            let start = Instant::now();
            embedder.embed(&[q], "").unwrap();
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    println!("{dtype:?} p50 {:.3} ms, p95 {:.3} ms", times[times.len() / 2], times[times.len() * 95 / 100]);
}

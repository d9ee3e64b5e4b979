//! Embeds the MS MARCO corpus in calls of N texts and prints documents per second, for profiling
//! the engine without Node: `cargo run --release --example throughput -- [calls-of] [docs] [q8]`.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

use embedder_core::{Dtype, Embedder, EmbedderOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let call_size: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32);
    let limit: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let dtype = if args.get(3).map(String::as_str) == Some("q8") { Dtype::Q8 } else { Dtype::Fp32 };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let shared = std::env::var_os("RAG_NATIVE_SHARED").map(PathBuf::from).unwrap_or_else(|| root.join("../shared"));
    let library = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1"));

    let corpus = std::fs::File::open(shared.join("data/msmarco-5k/corpus.jsonl")).expect("corpus");
    let texts: Vec<String> = std::io::BufReader::new(corpus)
        .lines()
        .take(limit)
        .map(|line| {
            let doc: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
            let (title, text) = (doc["title"].as_str().unwrap_or(""), doc["text"].as_str().unwrap_or(""));
            if title.is_empty() {
                text.to_string()
            } else {
                format!("{title} {text}")
            }
        })
        .collect();

    let budget = std::env::var("MAX_BATCH_TOKENS").ok().and_then(|s| s.parse().ok()).unwrap_or(embedder_core::DEFAULT_MAX_BATCH_TOKENS);
    let options = EmbedderOptions::new(shared.join("models/all-MiniLM-L6-v2"), library).with_dtype(dtype).with_max_batch_tokens(budget);
    let embedder = Embedder::load(&options).expect("model loads");
    embedder.embed(&texts[..call_size.min(texts.len())], "").unwrap();
    let start = Instant::now();
    for chunk in texts.chunks(call_size) {
        embedder.embed(chunk, "").unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?").split_whitespace().nth(1).unwrap_or("?").to_string();
    println!(
        "{} docs in calls of {call_size}: {:.1} docs/s, peak RSS {} MB",
        texts.len(),
        texts.len() as f64 / secs,
        peak.parse::<f64>().map_or(0.0, |kb| kb / 1024.0)
    );
}

//! Derives the int8 graph of an fp32 ONNX graph and reports the time and the peak memory it took:
//! `cargo run --release --example derive_q8 -- <model.onnx> <out.onnx>`.

fn main() {
    let mut args = std::env::args_os().skip(1);
    let (Some(source), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: derive_q8 <model.onnx> <out.onnx>");
        std::process::exit(2);
    };
    let started = std::time::Instant::now();
    let mut model = embedder_core::onnx::read(std::path::Path::new(&source)).expect("an ONNX model");
    let summary = embedder_core::onnx::q8::derive(&mut model).expect("derivable");
    embedder_core::onnx::write_atomic(&model, std::path::Path::new(&out)).expect("written");
    let elapsed = started.elapsed();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?").to_string();
    println!("{summary:?} in {:.2} s; {peak}", elapsed.as_secs_f64());
}

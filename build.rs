//! napi-rs setup, and the package version the addon is built for: package.json owns it, and
//! binding.js compares it with its own package.json so that a root package and a platform package
//! from different builds fail with a clear error instead of a missing function.
fn main() {
    napi_build::setup();
    println!("cargo:rerun-if-changed=package.json");
    let text = std::fs::read_to_string("package.json").expect("package.json beside Cargo.toml. This is a bug.");
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("package.json is JSON. This is a bug.");
    let version = manifest["version"].as_str().expect("package.json has a version. This is a bug.");
    println!("cargo:rustc-env=RAG_NATIVE_PACKAGE_VERSION={version}");
}

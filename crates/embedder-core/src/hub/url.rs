//! The few URL operations the hub protocol needs, on plain strings: percent-encoding a path, the
//! origin a token may be sent to, and resolving a redirect's `Location`.

/// Percent-encodes `s` for a URL path, keeping `/` when `keep_slash` (a file path; a revision
/// such as `refs/pr/1` is one segment).
pub(super) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://host[:port]` of an http(s) URL.
pub(super) fn origin(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    (host_len > 0).then(|| &url[..url.len() - rest.len() + host_len])
}

/// `location` resolved against `base`: absolute, scheme-relative (`//host/…`) or host-relative
/// (`/path`), the forms redirects use.
pub(super) fn join_url(base: &str, location: &str) -> Option<String> {
    if origin(location).is_some() {
        return Some(location.to_string());
    }
    let base_origin = origin(base)?;
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = &base_origin[..base_origin.find("//")?];
        return Some(format!("{scheme}//{rest}"));
    }
    if location.starts_with('/') {
        return Some(format!("{base_origin}{location}"));
    }
    let path = base.split(['?', '#']).next()?;
    let dir = &path[..path.rfind('/')? + 1];
    if dir.len() < base_origin.len() {
        return Some(format!("{base_origin}/{location}"));
    }
    Some(format!("{dir}{location}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(encode("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(encode("onnx/model file.onnx", true), "onnx/model%20file.onnx");
        assert_eq!(origin("https://huggingface.co/a/b"), Some("https://huggingface.co"));
        assert_eq!(origin("http://127.0.0.1:8080"), Some("http://127.0.0.1:8080"));
        assert_eq!(origin("file:///x"), None);
        let base = "http://127.0.0.1:1/o/n/resolve/main/x.onnx";
        assert_eq!(join_url(base, "https://cdn.example/blob?sig=1").as_deref(), Some("https://cdn.example/blob?sig=1"));
        assert_eq!(join_url(base, "/api/x").as_deref(), Some("http://127.0.0.1:1/api/x"));
        assert_eq!(join_url(base, "//cdn.example/y").as_deref(), Some("http://cdn.example/y"));
        assert_eq!(join_url(base, "y.onnx").as_deref(), Some("http://127.0.0.1:1/o/n/resolve/main/y.onnx"));
    }
}

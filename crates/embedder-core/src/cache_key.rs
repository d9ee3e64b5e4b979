//! What the cache tiers share: the key of a text (sha256 over the fingerprint of what determines
//! its vector, then the text) and the vector it maps to. The memory tier (`cache`), the disk tier
//! (`store`) and the shared tier (`redis_tier`) all read and write these.

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub type Key = [u8; 32];
pub type Vector = Arc<[f32]>;

/// Bytes an entry is charged: the f32 values and the key.
pub fn entry_bytes(dimension: usize) -> usize {
    dimension * 4 + 32
}

/// Keys are sha256 over the fingerprint and the text, length-prefixed so no two pairs collide by
/// concatenation. This is the hash state after a fingerprint: a key per text then costs only the
/// text's own blocks.
#[derive(Clone)]
pub struct KeyPrefix(Sha256);

impl KeyPrefix {
    pub fn new(fingerprint: &str) -> Self {
        let mut h = Sha256::new();
        h.update((fingerprint.len() as u64).to_le_bytes());
        h.update(fingerprint.as_bytes());
        KeyPrefix(h)
    }

    pub fn key(&self, text: &str) -> Key {
        let mut h = self.0.clone();
        h.update(text.as_bytes());
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_fingerprint_and_text_only() {
        let cache_key = |fingerprint: &str, text: &str| KeyPrefix::new(fingerprint).key(text);
        assert_eq!(cache_key("fp", "text"), cache_key("fp", "text"));
        assert_ne!(cache_key("fp", "text"), cache_key("fp2", "text"));
        assert_ne!(cache_key("fp", "text"), cache_key("fp", "text2"));
        // no ambiguity from concatenation
        assert_ne!(cache_key("ab", "c"), cache_key("a", "bc"));
        // sha256 of (len as u64 LE) ‖ fingerprint ‖ text
        let mut h = Sha256::new();
        h.update(2u64.to_le_bytes());
        h.update(b"fpx");
        let want: Key = h.finalize().into();
        assert_eq!(cache_key("fp", "x"), want);
    }
}

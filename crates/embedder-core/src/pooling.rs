//! Pooling of token embeddings into one sentence embedding, as `sentence_transformers.models.Pooling`
//! does it. Several modes may be enabled at once; their outputs are concatenated in the order
//! sentence-transformers uses: cls, max, mean, mean_sqrt_len, weightedmean, lasttoken.

use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolingMode {
    Cls,
    Max,
    Mean,
    MeanSqrtLen,
    WeightedMean,
    LastToken,
}

impl PoolingMode {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "cls" => PoolingMode::Cls,
            "max" => PoolingMode::Max,
            "mean" => PoolingMode::Mean,
            "mean_sqrt_len_tokens" => PoolingMode::MeanSqrtLen,
            "weightedmean" => PoolingMode::WeightedMean,
            "lasttoken" => PoolingMode::LastToken,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            PoolingMode::Cls => "cls",
            PoolingMode::Max => "max",
            PoolingMode::Mean => "mean",
            PoolingMode::MeanSqrtLen => "mean_sqrt_len_tokens",
            PoolingMode::WeightedMean => "weightedmean",
            PoolingMode::LastToken => "lasttoken",
        }
    }
}

/// A parsed `1_Pooling/config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolingConfig {
    pub modes: Vec<PoolingMode>,
    /// `include_prompt: false` masks the prompt's tokens out of pooling.
    pub include_prompt: bool,
    pub dimension: Option<usize>,
}

impl Default for PoolingConfig {
    /// sentence-transformers falls back to mean pooling for a bare transformer.
    fn default() -> Self {
        PoolingConfig { modes: vec![PoolingMode::Mean], include_prompt: true, dimension: None }
    }
}

impl PoolingConfig {
    /// Reads both the classic form (`pooling_mode_mean_tokens: true`, …) and the newer one
    /// (`"pooling_mode": "cls"`).
    pub fn from_json(json: &Value) -> std::result::Result<Self, String> {
        let obj = json.as_object().ok_or("expected a JSON object")?;
        let flag = |key: &str| -> std::result::Result<bool, String> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(other) => Err(format!("`{key}` must be a boolean, found {other}")),
            }
        };
        let mut modes = Vec::new();
        if let Some(mode) = obj.get("pooling_mode") {
            let name = mode.as_str().ok_or_else(|| format!("`pooling_mode` must be a string, found {mode}"))?;
            let name = name.strip_prefix("pooling_mode_").unwrap_or(name);
            let name = match name {
                "mean_tokens" => "mean",
                "max_tokens" => "max",
                "cls_token" => "cls",
                n => n,
            };
            modes.push(PoolingMode::parse(name).ok_or_else(|| format!("unknown pooling mode `{name}`"))?);
        } else {
            let classic = [
                ("pooling_mode_cls_token", PoolingMode::Cls),
                ("pooling_mode_max_tokens", PoolingMode::Max),
                ("pooling_mode_mean_tokens", PoolingMode::Mean),
                ("pooling_mode_mean_sqrt_len_tokens", PoolingMode::MeanSqrtLen),
                ("pooling_mode_weightedmean_tokens", PoolingMode::WeightedMean),
                ("pooling_mode_lasttoken", PoolingMode::LastToken),
            ];
            for (key, mode) in classic {
                if flag(key)? {
                    modes.push(mode);
                }
            }
            if modes.is_empty() {
                return Err("no pooling mode is enabled".into());
            }
        }
        let include_prompt = match obj.get("include_prompt") {
            None | Some(Value::Null) => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("`include_prompt` must be a boolean, found {other}")),
        };
        let dimension = match obj.get("word_embedding_dimension").or_else(|| obj.get("embedding_dimension")) {
            None | Some(Value::Null) => None,
            Some(v) => {
                Some(v.as_u64().filter(|&d| d > 0).ok_or_else(|| format!("embedding dimension must be a positive integer, found {v}"))?
                    as usize)
            }
        };
        Ok(PoolingConfig { modes, include_prompt, dimension })
    }

    pub fn output_dimension(&self, hidden: usize) -> usize {
        hidden * self.modes.len()
    }
}

/// Pools one sequence. `tokens` is `[seq, hidden]` row-major, `mask` is `[seq]` (1 = real token).
/// The result (`hidden * modes.len()` values) is appended to `out`.
pub fn pool(modes: &[PoolingMode], tokens: &[f32], mask: &[i64], hidden: usize, out: &mut Vec<f32>) -> Result<()> {
    let seq = mask.len();
    if seq == 0 || hidden == 0 {
        return Err(Error::Runtime(format!("nothing to pool: {seq} tokens of {hidden} dimensions")));
    }
    if tokens.len() != seq * hidden {
        return Err(Error::Runtime(format!("token embeddings have {} values, expected {seq} tokens × {hidden} dimensions", tokens.len())));
    }
    for &mode in modes {
        let start = out.len();
        out.resize(start + hidden, 0.0);
        let dst = &mut out[start..];
        match mode {
            PoolingMode::Cls => pool_cls(tokens, hidden, dst),
            PoolingMode::Max => pool_max(tokens, mask, hidden, dst),
            PoolingMode::Mean => pool_mean(tokens, mask, hidden, dst, false),
            PoolingMode::MeanSqrtLen => pool_mean(tokens, mask, hidden, dst, true),
            PoolingMode::WeightedMean => pool_weighted_mean(tokens, mask, hidden, dst),
            PoolingMode::LastToken => pool_last_token(tokens, mask, hidden, dst),
        }
    }
    Ok(())
}

/// The first token ([CLS]) as is.
pub fn pool_cls(tokens: &[f32], hidden: usize, dst: &mut [f32]) {
    dst.copy_from_slice(&tokens[..hidden]);
}

/// Sum of the unmasked tokens over `max(count, 1e-9)`, as sentence-transformers clamps it; with
/// `sqrt_len`, over the square root of the count instead.
pub fn pool_mean(tokens: &[f32], mask: &[i64], hidden: usize, dst: &mut [f32], sqrt_len: bool) {
    dst.fill(0.0);
    let mut count = 0.0f32;
    for (row, &m) in tokens.chunks_exact(hidden).zip(mask) {
        if m != 0 {
            count += 1.0;
            for (d, &v) in dst.iter_mut().zip(row) {
                *d += v;
            }
        }
    }
    let count = count.max(1e-9);
    let divisor = if sqrt_len { count.sqrt() } else { count };
    for d in dst.iter_mut() {
        *d /= divisor;
    }
}

/// Element-wise maximum over unmasked tokens; sentence-transformers sets masked tokens to -1e9, so
/// an all-masked sequence gives -1e9.
pub fn pool_max(tokens: &[f32], mask: &[i64], hidden: usize, dst: &mut [f32]) {
    dst.fill(-1e9);
    for (row, &m) in tokens.chunks_exact(hidden).zip(mask) {
        if m != 0 {
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = d.max(v);
            }
        }
    }
}

/// Mean weighted by position (1-based), as in SGPT.
pub fn pool_weighted_mean(tokens: &[f32], mask: &[i64], hidden: usize, dst: &mut [f32]) {
    dst.fill(0.0);
    let mut total = 0.0f32;
    for (i, (row, &m)) in tokens.chunks_exact(hidden).zip(mask).enumerate() {
        if m != 0 {
            let w = (i + 1) as f32;
            total += w;
            for (d, &v) in dst.iter_mut().zip(row) {
                *d += w * v;
            }
        }
    }
    let total = total.max(1e-9);
    for d in dst.iter_mut() {
        *d /= total;
    }
}

/// The last unmasked token (right padding).
pub fn pool_last_token(tokens: &[f32], mask: &[i64], hidden: usize, dst: &mut [f32]) {
    let last = mask.iter().rposition(|&m| m != 0).unwrap_or(0);
    dst.copy_from_slice(&tokens[last * hidden..(last + 1) * hidden]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // three tokens of dimension 2, the last one padding
    const TOKENS: [f32; 6] = [1.0, 2.0, 3.0, -4.0, 100.0, 100.0];
    const MASK: [i64; 3] = [1, 1, 0];

    #[test]
    fn mean_ignores_padding() {
        let mut out = Vec::new();
        pool(&[PoolingMode::Mean], &TOKENS, &MASK, 2, &mut out).unwrap();
        assert_eq!(out, vec![2.0, -1.0]);
    }

    #[test]
    fn max_ignores_padding() {
        let mut out = Vec::new();
        pool(&[PoolingMode::Max], &TOKENS, &MASK, 2, &mut out).unwrap();
        assert_eq!(out, vec![3.0, 2.0]);
    }

    #[test]
    fn cls_is_first_token_and_modes_concatenate() {
        let mut out = Vec::new();
        pool(&[PoolingMode::Cls, PoolingMode::LastToken, PoolingMode::MeanSqrtLen], &TOKENS, &MASK, 2, &mut out).unwrap();
        let s = 2f32.sqrt();
        assert_eq!(out, vec![1.0, 2.0, 3.0, -4.0, 4.0 / s, -2.0 / s]);
    }

    #[test]
    fn weighted_mean_weights_by_position() {
        let mut out = Vec::new();
        pool(&[PoolingMode::WeightedMean], &TOKENS, &MASK, 2, &mut out).unwrap();
        assert_eq!(out, vec![(1.0 + 6.0) / 3.0, (2.0 - 8.0) / 3.0]);
    }

    #[test]
    fn all_masked_mean_is_zero_not_nan() {
        let mut out = Vec::new();
        pool(&[PoolingMode::Mean], &TOKENS, &[0, 0, 0], 2, &mut out).unwrap();
        assert_eq!(out, vec![0.0, 0.0]);
    }

    #[test]
    fn shape_mismatch_is_an_error() {
        let mut out = Vec::new();
        assert!(pool(&[PoolingMode::Mean], &TOKENS, &[1, 1], 2, &mut out).is_err());
    }

    #[test]
    fn parses_classic_config() {
        let cfg = PoolingConfig::from_json(&json!({
            "word_embedding_dimension": 384,
            "pooling_mode_cls_token": false,
            "pooling_mode_mean_tokens": true,
            "pooling_mode_max_tokens": false,
            "pooling_mode_mean_sqrt_len_tokens": false
        }))
        .unwrap();
        assert_eq!(cfg, PoolingConfig { modes: vec![PoolingMode::Mean], include_prompt: true, dimension: Some(384) });
    }

    #[test]
    fn parses_new_config() {
        let cfg = PoolingConfig::from_json(&json!({"embedding_dimension": 32, "pooling_mode": "cls", "include_prompt": false})).unwrap();
        assert_eq!(cfg, PoolingConfig { modes: vec![PoolingMode::Cls], include_prompt: false, dimension: Some(32) });
    }

    #[test]
    fn rejects_unknown_and_mistyped_modes() {
        assert!(PoolingConfig::from_json(&json!({"pooling_mode": "median"})).unwrap_err().contains("median"));
        assert!(PoolingConfig::from_json(&json!({"pooling_mode_mean_tokens": "yes"})).is_err());
        assert!(PoolingConfig::from_json(&json!({"pooling_mode_mean_tokens": false})).is_err());
        assert!(PoolingConfig::from_json(&json!([1])).is_err());
    }
}

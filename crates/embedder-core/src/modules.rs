//! Modules that sentence-transformers runs after pooling, in `modules.json` order.

use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Tanh,
    Relu,
    Sigmoid,
    Gelu,
}

impl Activation {
    /// Accepts the class paths sentence-transformers writes (`torch.nn.modules.activation.Tanh`,
    /// `torch.nn.Tanh`, …) by their last segment.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name.rsplit('.').next().unwrap_or(name) {
            "Identity" => Activation::Identity,
            "Tanh" => Activation::Tanh,
            "ReLU" => Activation::Relu,
            "Sigmoid" => Activation::Sigmoid,
            "GELU" => Activation::Gelu,
            _ => return None,
        })
    }

    fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Gelu => 0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2)),
        }
    }
}

/// `sentence_transformers.models.Dense`: `activation(W x + b)`.
#[derive(Clone, Debug)]
pub struct Dense {
    pub in_features: usize,
    pub out_features: usize,
    /// `[out_features, in_features]`, row-major, as torch stores `linear.weight`.
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    pub activation: Activation,
}

impl Dense {
    pub fn new(in_features: usize, out_features: usize, weight: Vec<f32>, bias: Option<Vec<f32>>, activation: Activation) -> Result<Self> {
        if weight.len() != in_features * out_features || bias.as_ref().is_some_and(|b| b.len() != out_features) {
            return Err(Error::Runtime("Dense weights do not match in_features × out_features".into()));
        }
        Ok(Dense { in_features, out_features, weight, bias, activation })
    }

    /// Reads a module folder: `config.json` and `model.safetensors` (`linear.weight`, `linear.bias`).
    pub fn load(dir: &Path) -> Result<Self> {
        let config_path = dir.join("config.json");
        let config = crate::files::read_json(&config_path)?
            .ok_or_else(|| Error::ModelNotFound { what: "Dense module config".into(), looked_at: vec![config_path.clone()] })?;
        let field = |key: &str| -> Result<usize> {
            config
                .get(key)
                .and_then(Value::as_u64)
                .filter(|&v| v > 0)
                .map(|v| v as usize)
                .ok_or_else(|| Error::invalid(&config_path, format!("`{key}` must be a positive integer")))
        };
        let in_features = field("in_features")?;
        let out_features = field("out_features")?;
        let has_bias = match config.get("bias") {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(Error::invalid(&config_path, format!("`bias` must be a boolean, found {other}"))),
        };
        let activation = match config.get("activation_function") {
            None => Activation::Tanh, // the Dense default in sentence-transformers
            Some(Value::String(name)) => {
                Activation::parse(name).ok_or_else(|| Error::invalid(&config_path, format!("unsupported activation function `{name}`")))?
            }
            Some(other) => return Err(Error::invalid(&config_path, format!("`activation_function` must be a string, found {other}"))),
        };

        let weights_path = dir.join("model.safetensors");
        let Some(bytes) = crate::files::read_model_file(&weights_path, crate::files::FileKind::Weights)? else {
            let pickle = dir.join("pytorch_model.bin");
            if pickle.is_file() {
                // the save that writes every module's weights is the whole model's
                return Err(crate::files::pickle_refusal(&pickle, dir.parent().unwrap_or(dir), ""));
            }
            return Err(Error::ModelNotFound { what: "Dense module weights (model.safetensors)".into(), looked_at: vec![weights_path] });
        };
        let tensors = SafeTensors::deserialize(&bytes).map_err(|e| Error::invalid(&weights_path, e))?;
        let read = |name: &str, shape: &[usize]| -> Result<Vec<f32>> {
            let view = tensors.tensor(name).map_err(|e| Error::invalid(&weights_path, format!("tensor `{name}`: {e}")))?;
            if view.shape() != shape {
                return Err(Error::invalid(&weights_path, format!("tensor `{name}` has shape {:?}, expected {shape:?}", view.shape())));
            }
            // half-precision weights are widened to f32, as checkpoint.rs does for the transformer
            let data = view.data();
            match view.dtype() {
                Dtype::F32 => Ok(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
                Dtype::F16 => Ok(data.chunks_exact(2).map(|b| crate::onnx::f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect()),
                Dtype::BF16 => Ok(data.chunks_exact(2).map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)).collect()),
                other => Err(Error::invalid(
                    &weights_path,
                    format!("tensor `{name}` is {other:?}; only F32, F16 and BF16 weights are supported"),
                )),
            }
        };
        let weight = read("linear.weight", &[out_features, in_features])?;
        let bias = if has_bias { Some(read("linear.bias", &[out_features])?) } else { None };
        Dense::new(in_features, out_features, weight, bias, activation)
    }

    pub fn forward(&self, input: &[f32]) -> Vec<f32> {
        debug_assert_eq!(input.len(), self.in_features);
        self.weight
            .chunks_exact(self.in_features)
            .enumerate()
            .map(|(o, row)| {
                let mut acc: f32 = row.iter().zip(input).map(|(w, x)| w * x).sum();
                if let Some(b) = &self.bias {
                    acc += b[o];
                }
                self.activation.apply(acc)
            })
            .collect()
    }
}

/// L2 normalisation with torch's `F.normalize` epsilon: `x / max(‖x‖, 1e-12)`.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v.iter_mut() {
        *x /= norm;
    }
}

/// Matryoshka truncation of row-major vectors (`dim` values each) to their first `keep` values,
/// normalised again when `renormalize` (models trained with MatryoshkaLoss keep their meaning in
/// the leading dimensions).
pub fn truncate_rows(flat: &[f32], dim: usize, keep: usize, renormalize: bool) -> Vec<f32> {
    let keep = keep.min(dim);
    let mut out = Vec::with_capacity(flat.len() / dim.max(1) * keep);
    for row in flat.chunks_exact(dim) {
        let start = out.len();
        out.extend_from_slice(&row[..keep]);
        if renormalize {
            normalize(&mut out[start..]);
        }
    }
    out
}

/// A module that transforms a sentence embedding.
#[derive(Clone, Debug)]
pub enum Module {
    Dense(Dense),
    Normalize,
    /// Keep the first N values (the `truncateDim` option).
    Truncate(usize),
}

impl Module {
    pub fn apply(&self, v: Vec<f32>) -> Vec<f32> {
        match self {
            Module::Dense(dense) => dense.forward(&v),
            Module::Normalize => {
                let mut v = v;
                normalize(&mut v);
                v
            }
            Module::Truncate(n) => {
                let mut v = v;
                v.truncate(*n);
                v
            }
        }
    }

    /// For fingerprints: the module and what parameterises it beyond its files.
    pub fn describe(&self) -> String {
        match self {
            Module::Dense(_) => "Dense".into(),
            Module::Normalize => "Normalize".into(),
            Module::Truncate(n) => format!("Truncate({n})"),
        }
    }

    pub fn output_dimension(&self, input: usize) -> usize {
        match self {
            Module::Dense(dense) => dense.out_features,
            Module::Normalize => input,
            Module::Truncate(n) => input.min(*n),
        }
    }
}

// Abramowitz–Stegun 7.1.26 is not accurate enough for parity; this is the
// Numerical Recipes erfc approximation, relative error < 1.2e-7.
fn erf(x: f32) -> f32 {
    let x = x as f64;
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let y = t
        * (-z * z - 1.26551223
            + t * (1.00002368
                + t * (0.37409196
                    + t * (0.09678418
                        + t * (-0.18628806
                            + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
            .exp();
    (if x >= 0.0 { 1.0 - y } else { y - 1.0 }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_applies_weight_bias_and_activation() {
        let dense = Dense::new(2, 2, vec![1.0, 2.0, -1.0, 0.5], Some(vec![0.5, 0.0]), Activation::Tanh).unwrap();
        let out = dense.forward(&[1.0, 1.0]);
        assert!((out[0] - 3.5f32.tanh()).abs() < 1e-7);
        assert!((out[1] - (-0.5f32).tanh()).abs() < 1e-7);
    }

    #[test]
    fn dense_rejects_mismatched_weights() {
        assert!(Dense::new(2, 2, vec![1.0; 3], None, Activation::Identity).is_err());
    }

    #[test]
    fn activation_names_from_torch() {
        assert_eq!(Activation::parse("torch.nn.modules.activation.Tanh"), Some(Activation::Tanh));
        assert_eq!(Activation::parse("torch.nn.modules.linear.Identity"), Some(Activation::Identity));
        assert_eq!(Activation::parse("torch.nn.Softmax"), None);
    }

    #[test]
    fn gelu_matches_erf_form() {
        assert!((Activation::Gelu.apply(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((Activation::Gelu.apply(-2.0) - -0.045_500_26).abs() < 1e-6);
    }

    #[test]
    fn truncation_keeps_leading_values_and_renormalizes() {
        let flat = [3.0, 4.0, 12.0, 0.0, 1.0, 0.0];
        assert_eq!(truncate_rows(&flat, 3, 2, false), vec![3.0, 4.0, 0.0, 1.0]);
        assert_eq!(truncate_rows(&flat, 3, 2, true), vec![0.6, 0.8, 0.0, 1.0]);
        assert_eq!(truncate_rows(&flat, 3, 9, false), flat.to_vec());
    }

    #[test]
    fn normalize_unit_length_and_zero_safe() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut z = vec![0.0, 0.0];
        normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }
}

//! The graphs built from checkpoints compute what `transformers`' `BertModel` and `RobertaModel`
//! compute, checked on small random checkpoints against a plain implementation of those models
//! written here, independently of the graph (loops over f64, no ONNX), so no Python is needed.

mod common;

use std::collections::BTreeMap;

use common::*;
use embedder_core::runtime::{environment, BatchInputs, OnnxModel, SessionOptions};

/// A deterministic stream of values in [-scale, scale).
struct Random(u64);

impl Random {
    fn next(&mut self, scale: f64) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
    }
    fn values(&mut self, n: usize, scale: f64) -> Vec<f64> {
        (0..n).map(|_| self.next(scale)).collect()
    }
}

struct Spec {
    model_type: &'static str,
    hidden: usize,
    heads: usize,
    layers: usize,
    intermediate: usize,
    vocab: usize,
    positions: usize,
    type_vocab: usize,
    pad: i64,
    /// LayerNorm parameter names: `("gamma", "beta")` as sentence-transformers 6.2 saves them, or `("weight", "bias")`.
    norm_names: (&'static str, &'static str),
    prefix: &'static str,
}

/// Writes a random checkpoint of `spec` into `dir`; returns its tensors (names without prefix).
fn write_checkpoint(dir: &std::path::Path, spec: &Spec, seed: u64) -> BTreeMap<String, (Vec<usize>, Vec<f64>)> {
    let mut rng = Random(seed);
    let mut tensors = BTreeMap::new();
    let h = spec.hidden;
    let mut put = |name: String, shape: Vec<usize>, scale: f64, offset: f64| {
        let n = shape.iter().product();
        let values: Vec<f64> = rng.values(n, scale).into_iter().map(|v| v + offset).collect();
        tensors.insert(name, (shape, values));
    };
    put("embeddings.word_embeddings.weight".into(), vec![spec.vocab, h], 0.5, 0.0);
    put("embeddings.position_embeddings.weight".into(), vec![spec.positions, h], 0.5, 0.0);
    put("embeddings.token_type_embeddings.weight".into(), vec![spec.type_vocab, h], 0.5, 0.0);
    let (g, b) = spec.norm_names;
    put(format!("embeddings.LayerNorm.{g}"), vec![h], 0.2, 1.0);
    put(format!("embeddings.LayerNorm.{b}"), vec![h], 0.2, 0.0);
    for l in 0..spec.layers {
        let p = format!("encoder.layer.{l}");
        for (name, out, inp) in [
            ("attention.self.query", h, h),
            ("attention.self.key", h, h),
            ("attention.self.value", h, h),
            ("attention.output.dense", h, h),
            ("intermediate.dense", spec.intermediate, h),
            ("output.dense", h, spec.intermediate),
        ] {
            put(format!("{p}.{name}.weight"), vec![out, inp], 0.4, 0.0);
            put(format!("{p}.{name}.bias"), vec![out], 0.1, 0.0);
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            put(format!("{p}.{norm}.{g}"), vec![h], 0.2, 1.0);
            put(format!("{p}.{norm}.{b}"), vec![h], 0.2, 0.0);
        }
    }
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, (shape, values))| {
            (format!("{}{name}", spec.prefix), shape.clone(), values.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(name, shape, bytes)| {
            (name.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes).unwrap())
        })
        .collect();
    std::fs::write(dir.join("model.safetensors"), safetensors::serialize(views, None).unwrap()).unwrap();
    let config = serde_json::json!({
        "model_type": spec.model_type, "hidden_size": h, "num_attention_heads": spec.heads, "num_hidden_layers": spec.layers,
        "intermediate_size": spec.intermediate, "vocab_size": spec.vocab, "max_position_embeddings": spec.positions,
        "type_vocab_size": spec.type_vocab, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pad_token_id": spec.pad,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    tensors
}

/// erf to ~1e-13 (series below 3, continued fraction above), for the exact GELU.
fn erf(x: f64) -> f64 {
    if x < 0.0 {
        return -erf(-x);
    }
    if x < 3.0 {
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-17 {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        return sum * 2.0 / std::f64::consts::PI.sqrt();
    }
    let mut f = 0.0;
    for k in (1..60).rev() {
        f = (k as f64 / 2.0) / (x + f);
    }
    1.0 - (-x * x).exp() / std::f64::consts::PI.sqrt() / (x + f)
}

/// `last_hidden_state` of one row as `BertModel` / `RobertaModel` compute it.
fn reference(spec: &Spec, t: &BTreeMap<String, (Vec<usize>, Vec<f64>)>, ids: &[i64], mask: &[i64]) -> Vec<Vec<f64>> {
    let h = spec.hidden;
    let w = |name: &str| &t[name].1;
    let (g, b) = spec.norm_names;
    let layer_norm = |x: &[f64], prefix: &str| -> Vec<f64> {
        let mean = x.iter().sum::<f64>() / h as f64;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / h as f64;
        let (gamma, beta) = (w(&format!("{prefix}.{g}")), w(&format!("{prefix}.{b}")));
        x.iter().enumerate().map(|(i, v)| (v - mean) / (var + 1e-12).sqrt() * gamma[i] + beta[i]).collect()
    };
    let linear = |x: &[f64], prefix: &str, out: usize| -> Vec<f64> {
        let (weight, bias) = (w(&format!("{prefix}.weight")), w(&format!("{prefix}.bias")));
        (0..out).map(|o| bias[o] + x.iter().enumerate().map(|(i, v)| v * weight[o * x.len() + i]).sum::<f64>()).collect()
    };
    let seq = ids.len();
    let positions: Vec<usize> = if spec.model_type == "bert" {
        (0..seq).collect()
    } else {
        let mut count = 0;
        ids.iter()
            .map(|&id| {
                if id == spec.pad {
                    spec.pad as usize
                } else {
                    count += 1;
                    count + spec.pad as usize
                }
            })
            .collect()
    };
    let mut x: Vec<Vec<f64>> = (0..seq)
        .map(|s| {
            let e: Vec<f64> = (0..h)
                .map(|j| {
                    w("embeddings.word_embeddings.weight")[ids[s] as usize * h + j]
                        + w("embeddings.position_embeddings.weight")[positions[s] * h + j]
                        + w("embeddings.token_type_embeddings.weight")[j]
                })
                .collect();
            layer_norm(&e, "embeddings.LayerNorm")
        })
        .collect();
    let (heads, d) = (spec.heads, h / spec.heads);
    for l in 0..spec.layers {
        let p = format!("encoder.layer.{l}");
        let q: Vec<Vec<f64>> = x.iter().map(|r| linear(r, &format!("{p}.attention.self.query"), h)).collect();
        let k: Vec<Vec<f64>> = x.iter().map(|r| linear(r, &format!("{p}.attention.self.key"), h)).collect();
        let v: Vec<Vec<f64>> = x.iter().map(|r| linear(r, &format!("{p}.attention.self.value"), h)).collect();
        let mut context = vec![vec![0.0; h]; seq];
        for head in 0..heads {
            let cols = head * d..(head + 1) * d;
            for i in 0..seq {
                let scores: Vec<f64> = (0..seq)
                    .map(|j| {
                        let dot: f64 = cols.clone().map(|c| q[i][c] * k[j][c]).sum();
                        if mask[j] == 1 {
                            dot / (d as f64).sqrt()
                        } else {
                            f64::NEG_INFINITY
                        }
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exp.iter().sum();
                for c in cols.clone() {
                    context[i][c] = (0..seq).map(|j| exp[j] / total * v[j][c]).sum();
                }
            }
        }
        x = (0..seq)
            .map(|i| {
                let a = linear(&context[i], &format!("{p}.attention.output.dense"), h);
                let sum: Vec<f64> = a.iter().zip(&x[i]).map(|(a, b)| a + b).collect();
                let x1 = layer_norm(&sum, &format!("{p}.attention.output.LayerNorm"));
                let inner: Vec<f64> = linear(&x1, &format!("{p}.intermediate.dense"), spec.intermediate)
                    .into_iter()
                    .map(|u| 0.5 * u * (1.0 + erf(u / std::f64::consts::SQRT_2)))
                    .collect();
                let out = linear(&inner, &format!("{p}.output.dense"), h);
                let sum: Vec<f64> = out.iter().zip(&x1).map(|(a, b)| a + b).collect();
                layer_norm(&sum, &format!("{p}.output.LayerNorm"))
            })
            .collect();
    }
    x
}

fn check(spec: Spec, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let tensors = write_checkpoint(dir.path(), &spec, seed);
    let built = embedder_core::checkpoint::built_graph(dir.path(), Some(cache.path())).unwrap();
    let env = environment(&runtime_library()).unwrap();
    let model = OnnxModel::load(env, &built.path, &SessionOptions { intra_threads: 1 }).unwrap();

    // two rows: a full one and one ending in padding, with token ids that avoid the pad id
    let seq = 7;
    let mut rng = Random(seed + 1);
    let mut ids: Vec<i64> = (0..2 * seq).map(|_| 2 + (rng.next(1.0).abs() * (spec.vocab - 3) as f64) as i64).collect();
    let mut mask = vec![1i64; 2 * seq];
    for s in 4..seq {
        ids[seq + s] = spec.pad;
        mask[seq + s] = 0;
    }
    let batch = BatchInputs { rows: 2, seq, input_ids: ids.clone(), attention_mask: mask.clone(), token_type_ids: vec![0; 2 * seq] };
    let out = model.run(&batch, |data, dims| Ok((data.to_vec(), dims.to_vec()))).unwrap();
    assert_eq!(out.1, vec![2, seq, spec.hidden]);
    let mut worst = 0f64;
    for row in 0..2 {
        let want = reference(&spec, &tensors, &ids[row * seq..(row + 1) * seq], &mask[row * seq..(row + 1) * seq]);
        for s in 0..seq {
            if mask[row * seq + s] == 0 {
                continue;
            }
            let got = &out.0[(row * seq + s) * spec.hidden..(row * seq + s + 1) * spec.hidden];
            for (g, w) in got.iter().zip(&want[s]) {
                worst = worst.max((*g as f64 - w).abs());
            }
        }
    }
    eprintln!("{}: max abs difference to the plain implementation {worst:.2e}", spec.model_type);
    assert!(worst < 1e-4, "{}: max abs {worst}", spec.model_type);
}

#[test]
fn bert_graphs_compute_bert_model() {
    check(
        Spec {
            model_type: "bert",
            hidden: 8,
            heads: 2,
            layers: 2,
            intermediate: 16,
            vocab: 50,
            positions: 16,
            type_vocab: 2,
            pad: 0,
            norm_names: ("gamma", "beta"),
            prefix: "",
        },
        7,
    );
}

#[test]
fn roberta_graphs_number_positions_after_the_padding_index() {
    for (model_type, prefix) in [("roberta", "roberta."), ("xlm-roberta", "")] {
        check(
            Spec {
                model_type,
                hidden: 12,
                heads: 3,
                layers: 2,
                intermediate: 20,
                vocab: 60,
                positions: 16,
                type_vocab: 1,
                pad: 1,
                norm_names: ("weight", "bias"),
                prefix,
            },
            11,
        );
    }
}

//! The ONNX graph of a BERT encoder (`model_type: "bert"`: MiniLM, BGE, E5 and most
//! sentence-transformers models; and RoBERTa's, which numbers positions after the padding index:
//! `roberta`, `xlm-roberta`, `camembert`), built from its weights: what `transformers`'
//! `BertModel` / `RobertaModel` compute for `last_hidden_state`, written with the operators ONNX Runtime's optimizer fuses
//! (`LayerNormalization`, the erf GELU after a bias, which becomes `BiasGelu`, and the scaled
//! `MatMul` of the attention scores, which becomes `FusedMatMul`).
//!
//! Per layer, as `BertLayer` in eager mode:
//! ```text
//! q, k, v   = x·Wqᵀ+bq, x·Wkᵀ+bk, x·Wvᵀ+bv            split into heads
//! context   = softmax(q·kᵀ / √d + mask) · v            heads merged
//! x         = LayerNorm(context·Woᵀ + bo + x)
//! x         = LayerNorm(gelu(x·Wiᵀ + bi)·Wo2ᵀ + bo2 + x)
//! ```
//! with `mask = (1 − attention_mask) · float32::MIN`, and the embeddings
//! `LayerNorm(word[input_ids] + position[0..seq] + token_type[token_type_ids])`.

use super::proto::{
    data_type, tensor_shape_proto, type_proto, GraphProto, ModelProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use super::{attr_float, attr_int, attr_ints, import_opset, node, tensor_f32_from, tensor_i64_from};

/// Names the graph builder; part of a built graph's file name and of its fingerprint. Change it
/// whenever the built graph would change.
pub const BUILDER: &str = "bert-v1";

/// The `config.json` fields the graph depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
    pub hidden_act: Activation,
    pub positions: Positions,
}

/// How position ids are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positions {
    /// BERT: 0, 1, 2… for every row.
    Absolute,
    /// RoBERTa (`create_position_ids_from_input_ids`): `padding_idx + 1`, `+ 2`… over the tokens
    /// that are not padding, `padding_idx` for padding.
    AfterPadding { padding_idx: i64 },
}

/// `hidden_act`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: x·Φ(x), with erf.
    Gelu,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    Relu,
}

impl Activation {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluTanh),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }
}

/// A weight by its name in the checkpoint (without a `bert.` prefix), as f32 values with its shape.
pub trait Weights {
    fn get(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, String>;
    /// The first of `names` the checkpoint has (LayerNorm tensors are `gamma`/`beta` in some saves,
    /// `weight`/`bias` in others).
    fn first_of(&mut self, names: &[String], shape: &[usize]) -> Result<Vec<f32>, String>;
}

struct Graph {
    nodes: Vec<super::proto::NodeProto>,
    initializers: Vec<TensorProto>,
}

impl Graph {
    fn op(&mut self, op: &str, inputs: &[&str], output: &str) -> String {
        self.nodes.push(node(op, "", inputs, &[output], vec![]));
        output.to_string()
    }

    fn op_with(&mut self, op: &str, inputs: &[&str], output: &str, attributes: Vec<super::proto::AttributeProto>) -> String {
        self.nodes.push(node(op, "", inputs, &[output], attributes));
        output.to_string()
    }

    fn weight(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        self.initializers.push(tensor_f32_from(name, &dims, values));
        name.to_string()
    }

    fn scalar(&mut self, name: &str, value: f32) -> String {
        self.initializers.push(tensor_f32_from(name, &[], &[value]));
        name.to_string()
    }

    /// `x·Wᵀ + b` for a PyTorch `Linear` (`weight` `[out, in]`), stored transposed for `MatMul`.
    fn linear(&mut self, weights: &mut dyn Weights, prefix: &str, x: &str, inputs: usize, outputs: usize) -> Result<String, String> {
        let w = weights.get(&format!("{prefix}.weight"), &[outputs, inputs])?;
        let b = weights.get(&format!("{prefix}.bias"), &[outputs])?;
        let mut t = vec![0f32; w.len()];
        for o in 0..outputs {
            for i in 0..inputs {
                t[i * outputs + o] = w[o * inputs + i];
            }
        }
        let wt = self.weight(&format!("{prefix}.weight.T"), &[inputs, outputs], &t);
        let b = self.weight(&format!("{prefix}.bias"), &[outputs], &b);
        let product = self.op("MatMul", &[x, &wt], &format!("{prefix}/matmul"));
        Ok(self.op("Add", &[&product, &b], &format!("{prefix}/out")))
    }

    fn layer_norm(&mut self, weights: &mut dyn Weights, prefix: &str, x: &str, size: usize, eps: f32) -> Result<String, String> {
        let names = |a: &str, b: &str| vec![format!("{prefix}.{a}"), format!("{prefix}.{b}")];
        let gamma = weights.first_of(&names("weight", "gamma"), &[size])?;
        let beta = weights.first_of(&names("bias", "beta"), &[size])?;
        let g = self.weight(&format!("{prefix}.weight"), &[size], &gamma);
        let b = self.weight(&format!("{prefix}.bias"), &[size], &beta);
        Ok(self.op_with(
            "LayerNormalization",
            &[x, &g, &b],
            &format!("{prefix}/out"),
            vec![attr_int("axis", -1), attr_float("epsilon", eps)],
        ))
    }

    fn activation(&mut self, act: Activation, x: &str, prefix: &str) -> String {
        match act {
            Activation::Relu => self.op("Relu", &[x], &format!("{prefix}/relu")),
            Activation::Gelu => {
                // x · 0.5 · (1 + erf(x / √2)), as torch exports it (ONNX Runtime fuses it to Gelu)
                let scaled = self.op("Div", &[x, "const/sqrt2"], &format!("{prefix}/gelu_div"));
                let erf = self.op("Erf", &[&scaled], &format!("{prefix}/gelu_erf"));
                let plus = self.op("Add", &[&erf, "const/one"], &format!("{prefix}/gelu_add"));
                let times = self.op("Mul", &[x, &plus], &format!("{prefix}/gelu_mul"));
                self.op("Mul", &[&times, "const/half"], &format!("{prefix}/gelu"))
            }
            Activation::GeluTanh => {
                // 0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))
                let cube = self.op("Mul", &[x, x], &format!("{prefix}/gelu_sq"));
                let cube = self.op("Mul", &[&cube, x], &format!("{prefix}/gelu_cube"));
                let scaled = self.op("Mul", &[&cube, "const/gelu_c"], &format!("{prefix}/gelu_c"));
                let inner = self.op("Add", &[x, &scaled], &format!("{prefix}/gelu_inner"));
                let inner = self.op("Mul", &[&inner, "const/sqrt_2_over_pi"], &format!("{prefix}/gelu_scaled"));
                let tanh = self.op("Tanh", &[&inner], &format!("{prefix}/gelu_tanh"));
                let plus = self.op("Add", &[&tanh, "const/one"], &format!("{prefix}/gelu_add"));
                let times = self.op("Mul", &[x, &plus], &format!("{prefix}/gelu_mul"));
                self.op("Mul", &[&times, "const/half"], &format!("{prefix}/gelu"))
            }
        }
    }
}

fn tensor_type(elem_type: i32, dims: &[tensor_shape_proto::dimension::Value]) -> TypeProto {
    TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: Some(elem_type),
            shape: Some(TensorShapeProto {
                dim: dims.iter().map(|d| tensor_shape_proto::Dimension { value: Some(d.clone()), denotation: None }).collect(),
            }),
        })),
        denotation: None,
    }
}

fn value_info(name: &str, elem_type: i32, dims: &[tensor_shape_proto::dimension::Value]) -> ValueInfoProto {
    ValueInfoProto { name: Some(name.into()), r#type: Some(tensor_type(elem_type, dims)), ..Default::default() }
}

/// Builds the encoder graph of `config` from `weights` (names as `transformers` saves a
/// `BertModel`: `embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`…).
pub fn build(config: &BertConfig, weights: &mut dyn Weights) -> Result<ModelProto, String> {
    let BertConfig { hidden_size: h, num_hidden_layers, num_attention_heads: heads, intermediate_size, .. } = *config;
    if heads == 0 || h % heads != 0 {
        return Err(format!("hidden_size {h} is not a multiple of num_attention_heads {heads}"));
    }
    let head = h / heads;
    let eps = config.layer_norm_eps;
    let mut g = Graph { nodes: Vec::new(), initializers: Vec::new() };
    g.scalar("const/one", 1.0);
    g.scalar("const/half", 0.5);
    g.scalar("const/sqrt2", std::f32::consts::SQRT_2);
    g.scalar("const/gelu_c", 0.044715);
    g.scalar("const/sqrt_2_over_pi", (2.0 / std::f32::consts::PI).sqrt());
    g.scalar("const/scale", (head as f32).sqrt());
    g.scalar("const/mask_min", f32::MIN);
    g.initializers.push(tensor_i64_from("const/axes_1_2", &[2], &[1, 2]));
    g.initializers.push(tensor_i64_from("const/zero", &[1], &[0]));
    g.initializers.push(tensor_i64_from("const/heads_shape", &[4], &[0, 0, heads as i64, head as i64]));
    g.initializers.push(tensor_i64_from("const/merged_shape", &[3], &[0, 0, h as i64]));

    // embeddings
    let word = weights.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?;
    let word = g.weight("embeddings.word_embeddings.weight", &[config.vocab_size, h], &word);
    let position = weights.get("embeddings.position_embeddings.weight", &[config.max_position_embeddings, h])?;
    let position = g.weight("embeddings.position_embeddings.weight", &[config.max_position_embeddings, h], &position);
    let words = g.op("Gather", &[&word, "input_ids"], "embeddings/words");
    let positions = match config.positions {
        Positions::Absolute => {
            let seq = g.op_with("Shape", &["input_ids"], "embeddings/seq_len", vec![attr_int("start", 1), attr_int("end", 2)]);
            g.op("Slice", &[&position, "const/zero", &seq, "const/zero"], "embeddings/positions")
        }
        Positions::AfterPadding { padding_idx } => {
            g.initializers.push(tensor_i64_from("const/padding_idx", &[], &[padding_idx]));
            g.initializers.push(tensor_i64_from("const/axis_1", &[], &[1]));
            let is_pad = g.op("Equal", &["input_ids", "const/padding_idx"], "embeddings/is_padding");
            let not_pad = g.op("Not", &[&is_pad], "embeddings/not_padding");
            let tokens = g.op_with("Cast", &[&not_pad], "embeddings/token_mask", vec![attr_int("to", data_type::INT64 as i64)]);
            let count = g.op("CumSum", &[&tokens, "const/axis_1"], "embeddings/token_count");
            let counted = g.op("Mul", &[&count, &tokens], "embeddings/token_positions");
            let ids = g.op("Add", &[&counted, "const/padding_idx"], "embeddings/position_ids");
            g.op("Gather", &[&position, &ids], "embeddings/positions")
        }
    };
    let mut x = g.op("Add", &[&words, &positions], "embeddings/words_positions");
    if config.type_vocab_size > 0 {
        let types = weights.get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?;
        let types = g.weight("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h], &types);
        let token_types = g.op("Gather", &[&types, "token_type_ids"], "embeddings/token_types");
        x = g.op("Add", &[&x, &token_types], "embeddings/sum");
    }
    x = g.layer_norm(weights, "embeddings.LayerNorm", &x, h, eps)?;

    // (1 − mask) · float32::MIN, broadcast over heads and query positions: [batch, 1, 1, seq]
    let mask = g.op_with("Cast", &["attention_mask"], "mask/float", vec![attr_int("to", data_type::FLOAT as i64)]);
    let inverted = g.op("Sub", &["const/one", &mask], "mask/inverted");
    let additive = g.op("Mul", &[&inverted, "const/mask_min"], "mask/additive");
    let mask = g.op("Unsqueeze", &[&additive, "const/axes_1_2"], "mask/extended");

    for layer in 0..num_hidden_layers {
        let p = format!("encoder.layer.{layer}");
        let split = |g: &mut Graph, t: &str, name: &str, perm: &[i64]| {
            let r = g.op("Reshape", &[t, "const/heads_shape"], &format!("{p}/{name}_heads"));
            g.op_with("Transpose", &[&r], &format!("{p}/{name}_transposed"), vec![attr_ints("perm", perm)])
        };
        let q = g.linear(weights, &format!("{p}.attention.self.query"), &x, h, h)?;
        let k = g.linear(weights, &format!("{p}.attention.self.key"), &x, h, h)?;
        let v = g.linear(weights, &format!("{p}.attention.self.value"), &x, h, h)?;
        let q = split(&mut g, &q, "q", &[0, 2, 1, 3]);
        let k = split(&mut g, &k, "k", &[0, 2, 3, 1]);
        let v = split(&mut g, &v, "v", &[0, 2, 1, 3]);
        let scores = g.op("MatMul", &[&q, &k], &format!("{p}/scores"));
        let scores = g.op("Div", &[&scores, "const/scale"], &format!("{p}/scores_scaled"));
        let scores = g.op("Add", &[&scores, &mask], &format!("{p}/scores_masked"));
        let probs = g.op_with("Softmax", &[&scores], &format!("{p}/probs"), vec![attr_int("axis", -1)]);
        let context = g.op("MatMul", &[&probs, &v], &format!("{p}/context"));
        let context = g.op_with("Transpose", &[&context], &format!("{p}/context_transposed"), vec![attr_ints("perm", &[0, 2, 1, 3])]);
        let context = g.op("Reshape", &[&context, "const/merged_shape"], &format!("{p}/context_merged"));
        let attention = g.linear(weights, &format!("{p}.attention.output.dense"), &context, h, h)?;
        let residual = g.op("Add", &[&attention, &x], &format!("{p}/attention_residual"));
        x = g.layer_norm(weights, &format!("{p}.attention.output.LayerNorm"), &residual, h, eps)?;

        let inner = g.linear(weights, &format!("{p}.intermediate.dense"), &x, h, intermediate_size)?;
        let inner = g.activation(config.hidden_act, &inner, &format!("{p}/intermediate"));
        let out = g.linear(weights, &format!("{p}.output.dense"), &inner, intermediate_size, h)?;
        let residual = g.op("Add", &[&out, &x], &format!("{p}/output_residual"));
        x = g.layer_norm(weights, &format!("{p}.output.LayerNorm"), &residual, h, eps)?;
    }
    g.op("Identity", &[&x], "last_hidden_state");

    use tensor_shape_proto::dimension::Value::{DimParam, DimValue};
    let batch_seq = [DimParam("batch".into()), DimParam("sequence".into())];
    let mut inputs =
        vec![value_info("input_ids", data_type::INT64, &batch_seq), value_info("attention_mask", data_type::INT64, &batch_seq)];
    if config.type_vocab_size > 0 {
        inputs.push(value_info("token_type_ids", data_type::INT64, &batch_seq));
    }
    let output =
        value_info("last_hidden_state", data_type::FLOAT, &[DimParam("batch".into()), DimParam("sequence".into()), DimValue(h as i64)]);
    let graph = GraphProto {
        name: Some("bert".into()),
        node: g.nodes,
        initializer: g.initializers,
        input: inputs,
        output: vec![output],
        ..Default::default()
    };
    let mut model = ModelProto {
        ir_version: Some(8),
        producer_name: Some("rag-native-embedder".into()),
        producer_version: Some(BUILDER.into()),
        graph: Some(graph),
        ..Default::default()
    };
    import_opset(&mut model, "", 17);
    Ok(model)
}

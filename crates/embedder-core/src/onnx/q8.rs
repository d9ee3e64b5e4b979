//! The int8 graph this crate derives from an fp32 graph (`dtype: 'q8'`): every `MatMul` / `Gemm`
//! with a constant weight becomes an integer matrix product with
//!
//! - **int8 weights per output channel**: column `n` of `W [K, N]` is stored as
//!   `round(W[:, n] / s[n])` with `s[n] = max|W[:, n]| / 127`;
//! - **uint8 activations per row** (per token): each row `x` of the input is quantized on its own,
//!   symmetrically, with scale `max|x| / 127` and zero point 128. No scale or zero point is shared
//!   between rows, so a text's vector never depends on the texts it is batched with or on their
//!   padding (the int8 file that `quantize_dynamic` writes takes one scale per tensor, over the
//!   whole batch).
//!
//! The product is ONNX Runtime's `MatMulIntegerToFloat` (u8 × s8, the kernels that use AVX-512
//! VNNI / AVX-VNNI where the CPU has them), whose output is scaled by the row scales and the column
//! scales by broadcasting; a row's quantization is computed once for all the products that read it
//! (the query, key and value projections share one). The bias stays a separate `Add`: the fused
//! bias of `MatMulIntegerToFloat` is scaled with the product when the scales are not scalars.
//!
//! The alternatives measured (docs/quantization.md, "Quantization of the model"): the same with standard ONNX
//! operators only (`MatMulInteger`, `Cast`, two `Mul`), and `MatMulNBits` with 8-bit blocks of 32
//! and 128; this is the fastest of them at the same accuracy.

use std::collections::HashMap;

use super::proto::{data_type, GraphProto, ModelProto, NodeProto, TensorProto};
use super::{
    attr_int, attr_ints, attribute, import_opset, node, opset, tensor_f32, tensor_f32_from, tensor_i64_from, tensor_i8_from, tensor_u8_from,
};

/// Names the derivation; part of the derived file's name and of the cache fingerprint of a model
/// that uses it. Change it whenever the derived graph would change.
pub const DERIVATION: &str = "q8-rowwise-v2";

const MS_DOMAIN: &str = "com.microsoft";
const PREFIX: &str = "rag_native_q8/";

/// What a derivation changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Matrix products with a constant weight, now integer products.
    pub products: usize,
    /// Distinct activations quantized per row.
    pub activations: usize,
}

/// Rewrites `model` (an fp32 graph) into the per-row int8 graph. Fails on a graph it cannot
/// derive from: an opset before 13 (per-axis `QuantizeLinear`), non-float weights, non-finite
/// weights, or no matrix product with a constant weight at all.
pub fn derive(model: &mut ModelProto) -> Result<Summary, String> {
    let version = opset(model, "").unwrap_or(1);
    if version < 13 {
        return Err(format!("the graph uses ONNX opset {version}; deriving its int8 graph needs opset 13 or later"));
    }
    // before IR 4 every initializer is listed as a graph input too; from IR 4 one that is can be
    // fed at run time, so it is not a constant
    let inputs_override = model.ir_version.unwrap_or(0) >= 4;
    let graph = model.graph.as_mut().ok_or("the model has no graph")?;
    let summary = rewrite(graph, version, inputs_override)?;
    if summary.products == 0 {
        return Err("the graph has no MatMul or Gemm with a constant weight to quantize".into());
    }
    import_opset(model, MS_DOMAIN, 1);
    Ok(summary)
}

/// A constant weight found for a product: `[K, N]` values, row-major.
struct Weight {
    k: usize,
    n: usize,
    values: Vec<f32>,
}

fn rewrite(graph: &mut GraphProto, opset: i64, inputs_override: bool) -> Result<Summary, String> {
    let constants: HashMap<String, TensorProto> = graph
        .initializer
        .iter()
        .filter_map(|t| Some((t.name.clone()?, t.clone())))
        .chain(graph.node.iter().filter(|n| n.op_type.as_deref() == Some("Constant")).filter_map(|n| {
            let value = attribute(n, "value")?.t.clone()?;
            Some((n.output.first()?.clone(), value))
        }))
        .collect();
    let graph_inputs: Vec<String> = if inputs_override { graph.input.iter().filter_map(|v| v.name.clone()).collect() } else { Vec::new() };
    let constant = |name: &str| constants.get(name).filter(|_| !graph_inputs.iter().any(|i| i == name));

    let mut out = Builder { nodes: Vec::with_capacity(graph.node.len()), initializers: Vec::new(), opset, next: 0 };
    out.initializers.push(tensor_f32_from(&format!("{PREFIX}127"), &[], &[127.0]));
    out.initializers.push(tensor_f32_from(&format!("{PREFIX}tiny"), &[], &[f32::MIN_POSITIVE]));
    out.initializers.push(tensor_u8_from(&format!("{PREFIX}zero_point"), &[], &[128]));
    out.initializers.push(tensor_i64_from(&format!("{PREFIX}0"), &[1], &[0]));
    out.initializers.push(tensor_i64_from(&format!("{PREFIX}-1"), &[1], &[-1]));
    out.initializers.push(tensor_i64_from(&format!("{PREFIX}1"), &[1], &[1]));

    let mut quantized: HashMap<(String, usize), Quantized> = HashMap::new();
    let mut summary = Summary::default();
    for n in std::mem::take(&mut graph.node) {
        let Some(product) = product_of(&n, &constant)? else {
            out.nodes.push(n);
            continue;
        };
        let x = n.input[0].clone();
        let key = (x.clone(), product.weight.k);
        if !quantized.contains_key(&key) {
            let q = out.quantize_rows(&x, product.weight.k);
            quantized.insert(key.clone(), q);
        }
        let q = &quantized[&key];
        out.integer_product(q, &product, &n.output[0]);
        summary.products += 1;
    }
    summary.activations = quantized.len();

    // weights no node reads any more
    let used: std::collections::HashSet<String> =
        out.nodes.iter().flat_map(|n| n.input.iter().cloned()).chain(graph.output.iter().filter_map(|o| o.name.clone())).collect();
    let mut initializers: Vec<TensorProto> =
        std::mem::take(&mut graph.initializer).into_iter().filter(|t| t.name.as_ref().is_some_and(|name| used.contains(name))).collect();
    initializers.extend(out.initializers.into_iter().filter(|t| t.name.as_ref().is_some_and(|name| used.contains(name))));
    let nodes = out.nodes.into_iter().filter(|n| n.op_type.as_deref() != Some("Constant") || n.output.iter().any(|o| used.contains(o)));
    graph.node = nodes.collect();
    let kept: std::collections::HashSet<&str> = initializers.iter().filter_map(|t| t.name.as_deref()).collect();
    let dropped: std::collections::HashSet<String> =
        constants.keys().filter(|name| !kept.contains(name.as_str()) && !used.contains(*name)).cloned().collect();
    graph.input.retain(|i| i.name.as_ref().is_none_or(|name| !dropped.contains(name)));
    graph.initializer = initializers;
    Ok(summary)
}

/// A `MatMul` or `Gemm` that becomes an integer product.
struct Product {
    weight: Weight,
    /// Gemm: `alpha`, folded into the column scales.
    alpha: f32,
    /// Gemm: `beta · C`, added after the product.
    addend: Option<(Vec<i64>, Vec<f32>)>,
}

fn product_of<'a>(n: &NodeProto, constant: &impl Fn(&str) -> Option<&'a TensorProto>) -> Result<Option<Product>, String> {
    let op = n.op_type.as_deref().unwrap_or("");
    let default_domain = n.domain.as_deref().is_none_or(|d| d.is_empty() || d == "ai.onnx");
    if !default_domain || !(op == "MatMul" || op == "Gemm") || n.input.len() < 2 || n.output.len() != 1 {
        return Ok(None);
    }
    let Some(b) = constant(&n.input[1]) else { return Ok(None) };
    if b.dims.len() != 2 || b.data_type != Some(data_type::FLOAT) || b.dims.iter().any(|&d| d <= 0) {
        return Ok(None);
    }
    let int = |name: &str, default: i64| attribute(n, name).and_then(|a| a.i).unwrap_or(default);
    let float = |name: &str| attribute(n, name).and_then(|a| a.f).unwrap_or(1.0);
    if op == "Gemm" && int("transA", 0) != 0 {
        return Ok(None);
    }
    let name = b.name.as_deref().unwrap_or(&n.input[1]);
    let values = tensor_f32(b)?;
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(format!("weight {name} holds {bad}; an int8 graph cannot be derived from non-finite weights"));
    }
    let (rows, cols) = (b.dims[0] as usize, b.dims[1] as usize);
    let weight = if op == "Gemm" && int("transB", 0) != 0 {
        // B is [N, K]
        let mut t = vec![0.0; values.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[c * rows + r] = values[r * cols + c];
            }
        }
        Weight { k: cols, n: rows, values: t }
    } else {
        Weight { k: rows, n: cols, values }
    };
    let (alpha, addend) = if op == "Gemm" {
        let beta = float("beta");
        let addend = match n.input.get(2).filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => {
                let Some(c) = constant(c) else { return Ok(None) };
                if c.data_type != Some(data_type::FLOAT) {
                    return Ok(None);
                }
                Some((c.dims.clone(), tensor_f32(c)?.iter().map(|v| v * beta).collect()))
            }
        };
        (float("alpha"), addend)
    } else {
        (1.0, None)
    };
    Ok(Some(Product { weight, alpha, addend }))
}

/// An activation quantized per row: uint8 codes in the activation's shape, and its scales in
/// that shape with a last dimension of 1 (broadcast over the product's columns).
struct Quantized {
    codes: String,
    scales: String,
}

struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    opset: i64,
    next: usize,
}

impl Builder {
    fn name(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{PREFIX}{what}_{}", self.next)
    }

    fn constant(name: &str) -> String {
        format!("{PREFIX}{name}")
    }

    fn push(&mut self, op: &str, inputs: &[&str], output: &str, attributes: Vec<super::proto::AttributeProto>) {
        self.nodes.push(node(op, "", inputs, &[output], attributes));
    }

    /// A reduction over the last axis keeping it: `axes` is an attribute before opset 18 and an
    /// input since.
    fn reduce(&mut self, op: &str, input: &str, output: &str) {
        if self.opset >= 18 {
            let axes = Self::constant("-1");
            self.push(op, &[input, &axes], output, vec![attr_int("keepdims", 1)]);
        } else {
            self.push(op, &[input], output, vec![attr_ints("axes", &[-1]), attr_int("keepdims", 1)]);
        }
    }

    fn quantize_rows(&mut self, x: &str, k: usize) -> Quantized {
        // the scales of the rows, in x's own shape with a last dimension of 1
        let (max, min, neg_min, abs_max, scales) =
            (self.name("max"), self.name("min"), self.name("neg_min"), self.name("abs_max"), self.name("scales"));
        self.reduce("ReduceMax", x, &max);
        self.reduce("ReduceMin", x, &min);
        self.push("Neg", &[&min], &neg_min, vec![]);
        // a row of zeros gets the smallest normal scale: its codes are all 128
        self.push("Max", &[&max, &neg_min, &Self::constant("tiny")], &abs_max, vec![]);
        self.push("Div", &[&abs_max, &Self::constant("127")], &scales, vec![]);
        // QuantizeLinear per axis takes a [rows, K] input and 1-D scales and zero points
        let shape = self.name("shape_rows_k");
        self.initializers.push(tensor_i64_from(&shape, &[2], &[-1, k as i64]));
        let (rows, flat, count, zero_points, row_codes, x_shape, codes) = (
            self.name("rows"),
            self.name("scales_flat"),
            self.name("row_count"),
            self.name("zero_points"),
            self.name("row_codes"),
            self.name("x_shape"),
            self.name("codes"),
        );
        self.push("Reshape", &[x, &shape], &rows, vec![]);
        self.push("Reshape", &[&scales, &Self::constant("-1")], &flat, vec![]);
        self.push("Shape", &[&flat], &count, vec![]);
        self.push("Expand", &[&Self::constant("zero_point"), &count], &zero_points, vec![]);
        self.push("QuantizeLinear", &[&rows, &flat, &zero_points], &row_codes, vec![attr_int("axis", 0)]);
        // back in x's shape, so every product reading x gets its output shape with no reshaping
        self.push("Shape", &[x], &x_shape, vec![]);
        self.push("Reshape", &[&row_codes, &x_shape], &codes, vec![]);
        Quantized { codes, scales }
    }

    fn integer_product(&mut self, q: &Quantized, product: &Product, output: &str) {
        let Weight { k, n, values } = &product.weight;
        let (k, n) = (*k, *n);
        let mut scales = vec![0f32; n];
        for row in values.chunks_exact(n) {
            for (s, v) in scales.iter_mut().zip(row) {
                *s = s.max(v.abs());
            }
        }
        for s in &mut scales {
            *s = if *s > 0.0 { *s / 127.0 } else { 1.0 };
        }
        let codes: Vec<i8> = values.iter().enumerate().map(|(i, v)| (v / scales[i % n]).round().clamp(-127.0, 127.0) as i8).collect();
        let column_scales: Vec<f32> = scales.iter().map(|s| s * product.alpha).collect();

        let (w, ws) = (self.name("weight"), self.name("weight_scales"));
        self.initializers.push(tensor_i8_from(&w, &[k as i64, n as i64], &codes));
        self.initializers.push(tensor_f32_from(&ws, &[n as i64], &column_scales));
        let inputs = [q.codes.as_str(), &w, &q.scales, &ws, &Self::constant("zero_point")];
        match &product.addend {
            None => self.nodes.push(node("MatMulIntegerToFloat", MS_DOMAIN, &inputs, &[output], vec![])),
            Some((dims, values)) => {
                let (product, c) = (self.name("product"), self.name("addend"));
                self.initializers.push(tensor_f32_from(&c, dims, values));
                self.nodes.push(node("MatMulIntegerToFloat", MS_DOMAIN, &inputs, &[&product], vec![]));
                self.push("Add", &[&product, &c], output, vec![]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::{type_proto, TypeProto, ValueInfoProto};

    fn float_input(name: &str) -> ValueInfoProto {
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor { elem_type: Some(data_type::FLOAT), shape: None })),
                denotation: None,
            }),
            ..Default::default()
        }
    }

    fn model(nodes: Vec<NodeProto>, initializers: Vec<TensorProto>, opset_version: i64) -> ModelProto {
        let mut m = ModelProto {
            ir_version: Some(8),
            graph: Some(GraphProto {
                node: nodes,
                initializer: initializers,
                input: vec![float_input("x")],
                output: vec![float_input("y")],
                ..Default::default()
            }),
            ..Default::default()
        };
        import_opset(&mut m, "", opset_version);
        m
    }

    #[test]
    fn matmuls_with_constant_weights_become_integer_products_and_share_row_quantization() {
        let w = tensor_f32_from("w", &[2, 3], &[1.0, -2.0, 0.5, 0.25, 4.0, -1.0]);
        let w2 = tensor_f32_from("w2", &[2, 2], &[1.0, 0.0, 0.0, 1.0]);
        let mut m = model(
            vec![
                node("MatMul", "", &["x", "w"], &["a"], vec![]),
                node("MatMul", "", &["x", "w2"], &["b"], vec![]),
                node("MatMul", "", &["a", "x"], &["y"], vec![]),
            ],
            vec![w, w2],
            14,
        );
        let summary = derive(&mut m).unwrap();
        assert_eq!(summary, Summary { products: 2, activations: 1 });
        let g = m.graph.as_ref().unwrap();
        let ops: Vec<&str> = g.node.iter().filter_map(|n| n.op_type.as_deref()).collect();
        assert_eq!(ops.iter().filter(|o| **o == "MatMulIntegerToFloat").count(), 2);
        assert_eq!(ops.iter().filter(|o| **o == "QuantizeLinear").count(), 1, "one quantization of x for both products");
        assert_eq!(ops.iter().filter(|o| **o == "MatMul").count(), 1, "a product of two activations stays fp32");
        assert!(g.initializer.iter().all(|t| t.name.as_deref() != Some("w")), "the fp32 weight is gone");
        assert_eq!(opset(&m, "com.microsoft"), Some(1));
        // per-column scales: column 1 of w has max |v| 4
        let ws = g.initializer.iter().find(|t| t.name.as_deref().is_some_and(|n| n.contains("weight_scales"))).unwrap();
        assert_eq!(tensor_f32(ws).unwrap(), vec![1.0 / 127.0, 4.0 / 127.0, 1.0 / 127.0]);
        let wq = g.initializer.iter().find(|t| t.data_type == Some(data_type::INT8)).unwrap();
        let codes: Vec<i8> = wq.raw_data.as_ref().unwrap().iter().map(|&b| b as i8).collect();
        assert_eq!(codes, vec![127, -64, 64, 32, 127, -127]);
    }

    #[test]
    fn reductions_take_axes_as_an_input_from_opset_18() {
        for (version, axes_as_input) in [(14, false), (18, true)] {
            let mut m = model(vec![node("MatMul", "", &["x", "w"], &["y"], vec![])], vec![tensor_f32_from("w", &[1, 1], &[2.0])], version);
            derive(&mut m).unwrap();
            let reduce = m.graph.as_ref().unwrap().node.iter().find(|n| n.op_type.as_deref() == Some("ReduceMax")).unwrap();
            assert_eq!(reduce.input.len() == 2, axes_as_input, "opset {version}");
            assert_eq!(attribute(reduce, "axes").is_some(), !axes_as_input);
        }
    }

    #[test]
    fn gemm_folds_alpha_and_beta_and_transposed_weights() {
        let b = tensor_f32_from("b", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]); // [N=3, K=2]
        let c = tensor_f32_from("c", &[3], &[1.0, 1.0, 1.0]);
        let gemm = node(
            "Gemm",
            "",
            &["x", "b", "c"],
            &["y"],
            vec![attr_int("transB", 1), super::super::attr_float("alpha", 2.0), super::super::attr_float("beta", 0.5)],
        );
        let mut m = model(vec![gemm], vec![b, c], 13);
        assert_eq!(derive(&mut m).unwrap().products, 1);
        let g = m.graph.as_ref().unwrap();
        let wq = g.initializer.iter().find(|t| t.data_type == Some(data_type::INT8)).unwrap();
        assert_eq!(wq.dims, vec![2, 3]);
        let ws = g.initializer.iter().find(|t| t.name.as_deref().is_some_and(|n| n.contains("weight_scales"))).unwrap();
        assert_eq!(tensor_f32(ws).unwrap(), vec![2.0 * 2.0 / 127.0, 2.0 * 4.0 / 127.0, 2.0 * 6.0 / 127.0]);
        let addend = g.initializer.iter().find(|t| t.name.as_deref().is_some_and(|n| n.contains("addend"))).unwrap();
        assert_eq!(tensor_f32(addend).unwrap(), vec![0.5, 0.5, 0.5]);
    }

    #[test]
    fn graphs_it_cannot_derive_from_say_why() {
        let mut old = model(vec![node("MatMul", "", &["x", "w"], &["y"], vec![])], vec![tensor_f32_from("w", &[1, 1], &[2.0])], 12);
        assert!(derive(&mut old).unwrap_err().contains("opset 12"));
        let mut none = model(vec![node("Relu", "", &["x"], &["y"], vec![])], vec![], 14);
        assert!(derive(&mut none).unwrap_err().contains("no MatMul or Gemm"));
        let mut nan =
            model(vec![node("MatMul", "", &["x", "w"], &["y"], vec![])], vec![tensor_f32_from("w", &[1, 2], &[1.0, f32::NAN])], 14);
        assert!(derive(&mut nan).unwrap_err().contains("weight w holds NaN"));
    }
}

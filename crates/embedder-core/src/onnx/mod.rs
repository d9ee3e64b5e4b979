//! ONNX graphs as data: reading and writing model files, tensors and nodes. The one owner of the
//! ONNX protobuf format in this crate; the graphs derived from a model (the per-row int8 graph of
//! [`q8`]) are built with it.

pub mod bert;
pub mod proto;
pub mod q8;

use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use prost::Message;

use crate::error::{Error, Result};
use crate::files::{read_model_file, FileKind};
use proto::{attribute_type, data_type, AttributeProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};

/// Reads an ONNX model file. Tensor payloads stay slices of the file's buffer.
pub fn read(path: &Path) -> Result<ModelProto> {
    let bytes = read_model_file(path, FileKind::Weights)?
        .ok_or_else(|| Error::ModelNotFound { what: "ONNX model".into(), looked_at: vec![path.to_path_buf()] })?;
    decode(Bytes::from(bytes)).map_err(|reason| Error::invalid(path, reason))
}

/// Decodes an ONNX model from its bytes.
pub fn decode(bytes: Bytes) -> std::result::Result<ModelProto, String> {
    let model = ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))?;
    if model.graph.is_none() {
        return Err("not an ONNX model: it has no graph".into());
    }
    Ok(model)
}

/// Writes `model` to `path` atomically: a temporary file in the same folder, flushed, then renamed
/// over `path`, so a reader sees the whole file or none (another process may derive the same file
/// at the same time; both write the same bytes).
pub fn write_atomic(model: &ModelProto, path: &Path) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".derive-").suffix(".tmp");
    // created 0666, less the umask as the kernel applies it, like files other tools write: a shared
    // cache folder stays readable by the other users it is shared with
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut file = builder.tempfile_in(dir)?;
    let bytes = model.encode_to_vec();
    file.write_all(&bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The opset version a model imports for `domain` (`""` is the default ONNX domain).
pub fn opset(model: &ModelProto, domain: &str) -> Option<i64> {
    model
        .opset_import
        .iter()
        .find(|o| {
            let d = o.domain.as_deref().unwrap_or("");
            d == domain || (domain.is_empty() && d == "ai.onnx")
        })
        .and_then(|o| o.version)
}

/// Adds an opset import unless the model has one for that domain.
pub fn import_opset(model: &mut ModelProto, domain: &str, version: i64) {
    if opset(model, domain).is_none() {
        model.opset_import.push(OperatorSetIdProto { domain: Some(domain.into()), version: Some(version) });
    }
}

/// A tensor's values as f32, from whichever field holds them.
pub fn tensor_f32(t: &TensorProto) -> std::result::Result<Vec<f32>, String> {
    let name = t.name.as_deref().unwrap_or("");
    if t.data_location == Some(1) {
        return Err(format!("tensor {name} keeps its data in an external file, which is not supported here"));
    }
    let count: i64 = t.dims.iter().product();
    let count = usize::try_from(count).map_err(|_| format!("tensor {name} has a negative dimension"))?;
    let values: Vec<f32> = match t.data_type {
        Some(data_type::FLOAT) => match &t.raw_data {
            Some(raw) => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            None => t.float_data.clone(),
        },
        Some(data_type::FLOAT16) => match &t.raw_data {
            Some(raw) => raw.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect(),
            // float16 values sit in int32_data, one per element
            None => t.int32_data.iter().map(|&v| f16_to_f32(v as u16)).collect(),
        },
        Some(data_type::BFLOAT16) => match &t.raw_data {
            Some(raw) => raw.chunks_exact(2).map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)).collect(),
            None => t.int32_data.iter().map(|&v| f32::from_bits((v as u32 & 0xffff) << 16)).collect(),
        },
        other => return Err(format!("tensor {name} has element type {other:?}, not a float type")),
    };
    if values.len() != count {
        return Err(format!("tensor {name} holds {} values for shape {:?}", values.len(), t.dims));
    }
    Ok(values)
}

/// IEEE 754 half precision to single.
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // subnormal: normalise
            let shift = frac.leading_zeros() - 21;
            let frac = (frac << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (frac << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

pub fn tensor(name: &str, dims: &[i64], data_type: i32, raw: Vec<u8>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(data_type),
        raw_data: Some(Bytes::from(raw)),
        ..Default::default()
    }
}

pub fn tensor_f32_from(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    tensor(name, dims, data_type::FLOAT, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

pub fn tensor_i64_from(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    tensor(name, dims, data_type::INT64, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

pub fn tensor_i8_from(name: &str, dims: &[i64], values: &[i8]) -> TensorProto {
    tensor(name, dims, data_type::INT8, values.iter().map(|&v| v as u8).collect())
}

pub fn tensor_u8_from(name: &str, dims: &[i64], values: &[u8]) -> TensorProto {
    tensor(name, dims, data_type::UINT8, values.to_vec())
}

/// A node of the default domain (or `domain`), with its attributes.
pub fn node(op_type: &str, domain: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        op_type: Some(op_type.into()),
        domain: (!domain.is_empty()).then(|| domain.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attributes,
        ..Default::default()
    }
}

pub fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(attribute_type::INT), i: Some(value), ..Default::default() }
}

pub fn attr_ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(attribute_type::INTS), ints: values.to_vec(), ..Default::default() }
}

pub fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: Some(name.into()), r#type: Some(attribute_type::FLOAT), f: Some(value), ..Default::default() }
}

/// An attribute of a node by name.
pub fn attribute<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name.as_deref() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x3555), 0.33325195);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0xfc00), f32::NEG_INFINITY);
    }

    #[test]
    fn float_tensors_from_raw_and_typed_fields() {
        let raw = tensor_f32_from("w", &[2, 2], &[1.0, -2.5, 3.0, 0.0]);
        assert_eq!(tensor_f32(&raw).unwrap(), vec![1.0, -2.5, 3.0, 0.0]);
        let typed = TensorProto { dims: vec![3], data_type: Some(data_type::FLOAT), float_data: vec![1.0, 2.0, 3.0], ..Default::default() };
        assert_eq!(tensor_f32(&typed).unwrap(), vec![1.0, 2.0, 3.0]);
        let short = TensorProto { dims: vec![4], ..typed };
        assert!(tensor_f32(&short).unwrap_err().contains("3 values for shape [4]"));
    }

    #[test]
    fn models_round_trip_through_bytes() {
        let mut model = ModelProto { ir_version: Some(8), graph: Some(Default::default()), ..Default::default() };
        import_opset(&mut model, "", 14);
        import_opset(&mut model, "", 17);
        import_opset(&mut model, "com.microsoft", 1);
        let graph = model.graph.as_mut().unwrap();
        graph.node.push(node("MatMul", "", &["a", "b"], &["c"], vec![attr_int("zero", 0), attr_ints("axes", &[-1])]));
        graph.initializer.push(tensor_f32_from("b", &[1], &[2.0]));
        let back = decode(Bytes::from(model.encode_to_vec())).unwrap();
        assert_eq!(back, model);
        assert_eq!(opset(&back, ""), Some(14));
        assert_eq!(opset(&back, "com.microsoft"), Some(1));
        // an attribute of value 0 keeps its presence (proto2)
        assert_eq!(attribute(&back.graph.as_ref().unwrap().node[0], "zero").unwrap().i, Some(0));
        assert!(decode(Bytes::from_static(b"not a model")).is_err());
    }
}

//! Parity with sentence-transformers' `quantize_embeddings` on the shared reference outputs.

mod common;

use common::*;
use embedder_core::quantize::{dequantize_signed, dequantize_unsigned, quantize, Codes, Precision, Ranges};
use serde_json::Value;

fn ints(v: &Value) -> Vec<Vec<i64>> {
    v.as_array().unwrap().iter().map(|row| row.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()).collect()
}

fn reference() -> (Value, Vec<Vec<f32>>, Ranges) {
    let fx = fixture("reference-quantization.json");
    let embeddings = vectors(&fx["embeddings"]);
    let rows = vectors(&fx["ranges"]);
    let ranges = Ranges::new(rows[0].clone(), rows[1].clone()).unwrap();
    (fx, embeddings, ranges)
}

fn flat(codes: Codes) -> Vec<i64> {
    match codes {
        Codes::Signed(c) => c.into_iter().map(i64::from).collect(),
        Codes::Unsigned(c) => c.into_iter().map(i64::from).collect(),
    }
}

#[test]
fn every_precision_matches_sentence_transformers_bit_for_bit() {
    let (fx, embeddings, ranges) = reference();
    for precision in [Precision::Int8, Precision::Uint8, Precision::Binary, Precision::Ubinary] {
        let expected = ints(&fx[precision.name()]);
        let per_row = precision.bytes_per_vector(embeddings[0].len());
        assert_eq!(expected[0].len(), per_row);
        let codes = quantize(&embeddings, precision, Some(&ranges)).unwrap();
        assert_eq!(codes.len(), per_row * embeddings.len());
        let got = flat(codes);
        for (i, want) in expected.iter().enumerate() {
            let row = &got[i * per_row..(i + 1) * per_row];
            let differ = row.iter().zip(want).filter(|(a, b)| a != b).count();
            assert_eq!(row, want.as_slice(), "{} vector {i}: {differ} codes differ", precision.name());
        }
    }
}

#[test]
fn dequantized_reference_codes_are_within_half_a_step_inside_the_ranges() {
    let (fx, embeddings, ranges) = reference();
    let steps: Vec<f64> = ranges.min().iter().zip(ranges.max()).map(|(lo, hi)| (*hi as f64 - *lo as f64) / 255.0).collect();
    let int8: Vec<Vec<i8>> = ints(&fx["int8"]).into_iter().map(|r| r.into_iter().map(|x| x as i8).collect()).collect();
    let uint8: Vec<Vec<u8>> = ints(&fx["uint8"]).into_iter().map(|r| r.into_iter().map(|x| x as u8).collect()).collect();
    let from_int8 = dequantize_signed(&int8, Precision::Int8, Some(&ranges), None).unwrap();
    let from_uint8 = dequantize_unsigned(&uint8, Precision::Uint8, Some(&ranges), None).unwrap();
    assert_eq!(from_int8, from_uint8);
    let dim = ranges.dimension();
    let mut inside = 0;
    for (i, x) in embeddings.iter().flatten().enumerate() {
        let d = i % dim;
        if *x >= ranges.min()[d] && *x <= ranges.max()[d] {
            inside += 1;
            let err = (*x as f64 - from_int8[i] as f64).abs();
            assert!(err <= steps[d] / 2.0 + 1e-6, "value {i}: {x} → {}, step {}", from_int8[i], steps[d]);
        }
    }
    assert!(inside > embeddings.len() * dim * 9 / 10);

    let ubinary: Vec<Vec<u8>> = ints(&fx["ubinary"]).into_iter().map(|r| r.into_iter().map(|x| x as u8).collect()).collect();
    let signs = dequantize_unsigned(&ubinary, Precision::Ubinary, None, Some(dim)).unwrap();
    for (x, s) in embeddings.iter().flatten().zip(&signs) {
        assert_eq!(*s, if *x > 0.0 { 1.0 } else { -1.0 });
    }
}

//! Similarity between a query and one or many vectors: cosine for float32, dot products for
//! int8/uint8 codes (exact, in integers), Hamming distance for packed sign bits.
//!
//! The `*_many` forms score one query against each vector in turn, which is how quantized search
//! re-scores its candidates; a vector whose length differs from the query's is an
//! `InvalidInput` naming its index.

use crate::error::{Error, Result};

/// Cosine similarity, accumulated in f64; 0 when either vector is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Dot product of float32 vectors, accumulated in f64.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

/// Dot product of int8 codes, exact.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i64 {
    a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum()
}

/// Dot product of uint8 codes, exact.
pub fn dot_u8(a: &[u8], b: &[u8]) -> i64 {
    a.iter().zip(b).map(|(&x, &y)| x as i64 * y as i64).sum()
}

/// Bits that differ between two packed bit vectors (`binary` / `ubinary` codes).
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    a.iter().zip(b).map(|(&x, &y)| (x ^ y).count_ones()).sum()
}

/// Bits that differ between two `binary` codes (signed bytes, `byte - 128`): the same as
/// between the unsigned bytes, since both sides carry the same offset.
pub fn hamming_i8(a: &[i8], b: &[i8]) -> u32 {
    a.iter().zip(b).map(|(&x, &y)| ((x ^ y) as u8).count_ones()).sum()
}

/// `score(query, v)` for every `v`, after checking that each has the query's length.
pub fn score_many<T, V: AsRef<[T]>, R>(query: &[T], vectors: &[V], score: impl Fn(&[T], &[T]) -> R) -> Result<Vec<R>> {
    vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let v = v.as_ref();
            if v.len() != query.len() {
                return Err(Error::InvalidInput { index, reason: format!("has {} values, the query has {}", v.len(), query.len()) });
            }
            Ok(score(query, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_of_parallel_orthogonal_and_zero_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 3.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
    }

    #[test]
    fn integer_dots_are_exact() {
        assert_eq!(dot_i8(&[-128, 127, 3], &[-128, 127, -2]), 16384 + 16129 - 6);
        assert_eq!(dot_u8(&[255; 384], &[255; 384]), 255 * 255 * 384);
        assert_eq!(dot_f32(&[0.5, 2.0], &[4.0, -1.0]), 0.0);
    }

    #[test]
    fn hamming_counts_differing_bits() {
        assert_eq!(hamming(&[0b1010_1010, 0xff], &[0b0101_0101, 0xff]), 8);
        assert_eq!(hamming(&[0], &[0]), 0);
        // binary codes are bytes minus 128: the distances are those of the bytes.
        let (a, b) = ([0b1100_0000u8, 7], [0b0000_0001u8, 6]);
        let signed = |x: [u8; 2]| x.map(|b| (b ^ 0x80) as i8);
        assert_eq!(hamming_i8(&signed(a), &signed(b)), hamming(&a, &b));
    }

    #[test]
    fn many_checks_lengths_and_names_the_index() {
        let docs = vec![vec![1.0f32, 0.0], vec![0.0, 1.0], vec![1.0]];
        let err = score_many(&[1.0f32, 0.0], &docs, cosine).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { index: 2, .. }), "{err}");
        let scores = score_many(&[1.0f32, 0.0], &docs[..2], cosine).unwrap();
        assert_eq!(scores, vec![1.0, 0.0]);
    }
}

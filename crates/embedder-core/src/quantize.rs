//! Embedding quantization: sentence-transformers' `quantize_embeddings` precisions (`int8` and
//! `uint8` with per-dimension ranges, `binary` and `ubinary` sign bits) and a per-vector min-max
//! `int8` scheme that carries its own range.
//!
//! Scalar quantization cuts each dimension's calibration range `[min, max]` into 255 steps of
//! `(max - min) / 255` and stores the bucket a value falls in. sentence-transformers computes
//! `((embeddings - starts) / steps - 128).astype(np.int8)` in float32. The reference outputs
//! (`reference-quantization.json`, sentence-transformers 6.2) round that down (toward −∞: -42.52
//! gives -43) and saturate values outside the range to the end buckets (397.6 gives 255 in uint8);
//! we reproduce those outputs bit for bit. (numpy's `astype` on its own truncates toward zero and
//! wraps out-of-range values, which the reference does not.)

use crate::error::{Error, Result};

/// The precisions of sentence-transformers' `quantize_embeddings`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// One signed byte per dimension: the bucket index minus 128.
    Int8,
    /// One byte per dimension: the bucket index, 0–255.
    Uint8,
    /// Sign bits (`value > 0`) packed 8 per byte, most significant bit first, stored minus 128.
    Binary,
    /// Sign bits packed 8 per byte, most significant bit first.
    Ubinary,
}

impl Precision {
    pub const ALL: [Precision; 4] = [Precision::Int8, Precision::Uint8, Precision::Binary, Precision::Ubinary];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Precision::Int8 => "int8",
            Precision::Uint8 => "uint8",
            Precision::Binary => "binary",
            Precision::Ubinary => "ubinary",
        }
    }

    /// Whether the codes are signed bytes (`i8`).
    pub fn is_signed(self) -> bool {
        matches!(self, Precision::Int8 | Precision::Binary)
    }

    /// Whether the precision needs calibration ranges.
    pub fn is_scalar(self) -> bool {
        matches!(self, Precision::Int8 | Precision::Uint8)
    }

    /// Bytes of one quantized vector of `dimension` values.
    pub fn bytes_per_vector(self, dimension: usize) -> usize {
        if self.is_scalar() {
            dimension
        } else {
            dimension.div_ceil(8)
        }
    }
}

/// Quantized vectors, row after row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Codes {
    Signed(Vec<i8>),
    Unsigned(Vec<u8>),
}

impl Codes {
    pub fn len(&self) -> usize {
        match self {
            Codes::Signed(v) => v.len(),
            Codes::Unsigned(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-dimension calibration ranges: sentence-transformers' `ranges` array of shape
/// `[2, dimension]`, whose first row holds each dimension's minimum and second row its maximum.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges {
    min: Vec<f32>,
    max: Vec<f32>,
}

impl Ranges {
    pub fn new(min: Vec<f32>, max: Vec<f32>) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidOption { option: "ranges", reason };
        if min.is_empty() {
            return Err(invalid("the ranges are empty; give [min[], max[]] with one value per dimension".into()));
        }
        if min.len() != max.len() {
            return Err(invalid(format!("the min row has {} values and the max row {}", min.len(), max.len())));
        }
        for (i, (lo, hi)) in min.iter().zip(&max).enumerate() {
            if !lo.is_finite() || !hi.is_finite() {
                return Err(invalid(format!("dimension {i}: the range [{lo}, {hi}] is not finite")));
            }
            if lo > hi {
                return Err(invalid(format!("dimension {i}: min {lo} is above max {hi}")));
            }
        }
        Ok(Ranges { min, max })
    }

    /// Each dimension's minimum and maximum over `vectors`, as sentence-transformers computes
    /// them from `calibration_embeddings`.
    pub fn from_calibration<V: AsRef<[f32]>>(vectors: &[V]) -> Result<Self> {
        let dimension = common_dimension(vectors, None)?
            .ok_or_else(|| Error::InvalidOption { option: "calibration", reason: "give at least one calibration vector".into() })?;
        let mut min = vec![f32::INFINITY; dimension];
        let mut max = vec![f32::NEG_INFINITY; dimension];
        for (index, v) in vectors.iter().enumerate() {
            for (d, &x) in v.as_ref().iter().enumerate() {
                if !x.is_finite() {
                    return Err(Error::InvalidInput { index, reason: format!("value {d} is {x}; calibration vectors must be finite") });
                }
                min[d] = min[d].min(x);
                max[d] = max[d].max(x);
            }
        }
        Ranges::new(min, max)
    }

    pub fn dimension(&self) -> usize {
        self.min.len()
    }

    pub fn min(&self) -> &[f32] {
        &self.min
    }

    pub fn max(&self) -> &[f32] {
        &self.max
    }

    /// `(ranges[1] - ranges[0]) / 255`, in float32 as sentence-transformers computes it.
    fn steps(&self) -> Vec<f32> {
        self.min.iter().zip(&self.max).map(|(lo, hi)| (hi - lo) / 255.0).collect()
    }
}

/// The dimension shared by all `vectors` (`None` for no vectors), or an `InvalidInput` naming
/// the first vector whose length differs. With `expected`, every vector must have that length.
pub fn common_dimension<V: AsRef<[f32]>>(vectors: &[V], expected: Option<usize>) -> Result<Option<usize>> {
    let Some(first) = vectors.first() else {
        return Ok(expected);
    };
    let dimension = expected.unwrap_or(first.as_ref().len());
    for (index, v) in vectors.iter().enumerate() {
        let len = v.as_ref().len();
        if len != dimension {
            let against = if expected.is_some() { "the ranges have" } else { "vector 0 has" };
            return Err(Error::InvalidInput { index, reason: format!("has {len} dimensions, {against} {dimension}") });
        }
    }
    if dimension == 0 {
        return Err(Error::InvalidInput { index: 0, reason: "is empty; vectors need at least one dimension".into() });
    }
    Ok(Some(dimension))
}

/// Quantizes `vectors` to `precision`, as sentence-transformers' `quantize_embeddings` does.
/// Scalar precisions use `ranges`; without them, the ranges of `vectors` themselves (as
/// sentence-transformers does when given neither `ranges` nor `calibration_embeddings`).
pub fn quantize<V: AsRef<[f32]>>(vectors: &[V], precision: Precision, ranges: Option<&Ranges>) -> Result<Codes> {
    if precision.is_scalar() {
        let own;
        let ranges = match ranges {
            Some(r) => r,
            None if vectors.is_empty() => return Ok(empty(precision)),
            None => {
                own = Ranges::from_calibration(vectors)?;
                &own
            }
        };
        common_dimension(vectors, Some(ranges.dimension()))?;
        Ok(quantize_scalar(vectors, ranges, precision))
    } else {
        let Some(dimension) = common_dimension(vectors, None)? else {
            return Ok(empty(precision));
        };
        Ok(quantize_binary(vectors, dimension, precision))
    }
}

fn empty(precision: Precision) -> Codes {
    if precision.is_signed() {
        Codes::Signed(Vec::new())
    } else {
        Codes::Unsigned(Vec::new())
    }
}

/// `(x - start) / step - offset` in float32, as sentence-transformers computes it, rounded down
/// and kept within the `256` buckets. A value on an empty range (`step == 0`) goes to the lowest
/// bucket when it is at or below the range (`0 / 0`), to the highest above it.
fn bucket(x: f32, start: f32, step: f32, offset: f32) -> f32 {
    let scaled = (x - start) / step - offset;
    if scaled.is_nan() {
        -offset
    } else {
        scaled.floor().clamp(-offset, 255.0 - offset)
    }
}

fn quantize_scalar<V: AsRef<[f32]>>(vectors: &[V], ranges: &Ranges, precision: Precision) -> Codes {
    let steps = &ranges.steps();
    let each = |offset: f32| {
        vectors.iter().flat_map(move |v| {
            v.as_ref().iter().zip(ranges.min()).zip(steps).map(move |((&x, &start), &step)| bucket(x, start, step, offset))
        })
    };
    match precision {
        Precision::Int8 => Codes::Signed(each(128.0).map(|b| b as i8).collect()),
        _ => Codes::Unsigned(each(0.0).map(|b| b as u8).collect()),
    }
}

/// `np.packbits(embeddings > 0)` row by row: most significant bit first, the last byte padded
/// with zero bits.
fn quantize_binary<V: AsRef<[f32]>>(vectors: &[V], dimension: usize, precision: Precision) -> Codes {
    let per_row = dimension.div_ceil(8);
    let mut bytes = Vec::with_capacity(vectors.len() * per_row);
    for v in vectors {
        for chunk in v.as_ref().chunks(8) {
            let mut byte = 0u8;
            for (bit, &x) in chunk.iter().enumerate() {
                if x > 0.0 {
                    byte |= 0x80 >> bit;
                }
            }
            bytes.push(byte);
        }
    }
    match precision {
        // `packbits(...) - 128` as int8: flipping the top bit is the same as subtracting 128.
        Precision::Binary => Codes::Signed(bytes.into_iter().map(|b| (b ^ 0x80) as i8).collect()),
        _ => Codes::Unsigned(bytes),
    }
}

/// Quantized rows of `bytes` bytes each, checked.
fn check_rows<T, C: AsRef<[T]>>(codes: &[C], bytes: usize) -> Result<()> {
    for (index, c) in codes.iter().enumerate() {
        let len = c.as_ref().len();
        if len != bytes {
            return Err(Error::InvalidInput { index, reason: format!("has {len} bytes, expected {bytes}") });
        }
    }
    Ok(())
}

/// Back to float32 from signed codes (`int8`, `binary`); see [`dequantize_unsigned`].
pub fn dequantize_signed<C: AsRef<[i8]>>(
    codes: &[C],
    precision: Precision,
    ranges: Option<&Ranges>,
    dimension: Option<usize>,
) -> Result<Vec<f32>> {
    if !precision.is_signed() {
        return Err(wrong_kind(precision));
    }
    // Both store `byte - 128`; flipping the top bit gives the byte back.
    dequantize_bytes(codes, precision, ranges, dimension, |c: i8| (c as u8) ^ 0x80)
}

/// Back to float32 from unsigned codes (`uint8`, `ubinary`). Each scalar code becomes the centre
/// of its bucket, `min + (bucket + 0.5) * step`, within half a step of any original value inside
/// the calibration range; each sign bit becomes +1 (positive) or -1. `dimension` is the number of
/// values per vector: checked against the ranges for scalar codes, and for bit codes the count
/// of bits to read (default 8 per byte; give it when it is not a multiple of 8).
pub fn dequantize_unsigned<C: AsRef<[u8]>>(
    codes: &[C],
    precision: Precision,
    ranges: Option<&Ranges>,
    dimension: Option<usize>,
) -> Result<Vec<f32>> {
    if precision.is_signed() {
        return Err(wrong_kind(precision));
    }
    dequantize_bytes(codes, precision, ranges, dimension, |c: u8| c)
}

fn wrong_kind(precision: Precision) -> Error {
    let kind = if precision.is_signed() { "signed bytes (Int8Array)" } else { "unsigned bytes (Uint8Array)" };
    Error::InvalidInput { index: 0, reason: format!("{} codes are {kind}", precision.name()) }
}

fn dequantize_bytes<T: Copy, C: AsRef<[T]>>(
    codes: &[C],
    precision: Precision,
    ranges: Option<&Ranges>,
    dimension: Option<usize>,
    byte: impl Fn(T) -> u8,
) -> Result<Vec<f32>> {
    if precision.is_scalar() {
        let ranges = ranges.ok_or_else(|| Error::InvalidOption {
            option: "ranges",
            reason: format!("{} codes need the ranges they were quantized with (or the same calibration vectors)", precision.name()),
        })?;
        if let Some(d) = dimension.filter(|&d| d != ranges.dimension()) {
            return Err(Error::InvalidOption {
                option: "dimension",
                reason: format!("is {d}, but the ranges have {} dimensions", ranges.dimension()),
            });
        }
        check_rows(codes, ranges.dimension())?;
        let steps = ranges.steps();
        let mut out = Vec::with_capacity(codes.len() * ranges.dimension());
        for row in codes {
            for (d, &c) in row.as_ref().iter().enumerate() {
                out.push((ranges.min[d] as f64 + (byte(c) as f64 + 0.5) * steps[d] as f64) as f32);
            }
        }
        return Ok(out);
    }
    let Some(first) = codes.first() else {
        return Ok(Vec::new());
    };
    let bytes = dimension.map_or(first.as_ref().len(), |d| d.div_ceil(8));
    check_rows(codes, bytes)?;
    let count = dimension.unwrap_or(bytes * 8);
    let mut out = Vec::with_capacity(codes.len() * count);
    for row in codes {
        for i in 0..count {
            let set = byte(row.as_ref()[i / 8]) & (0x80 >> (i % 8)) != 0;
            out.push(if set { 1.0 } else { -1.0 });
        }
    }
    Ok(out)
}

/// One vector quantized with its own range: `values[i] = round((x[i] - min) / step) - 128` with
/// `step = (max - min) / 255`, the scheme of the usual "int8 embeddings" tutorials. Rounding to
/// the nearest bucket keeps every dequantized value within half a step of the original.
#[derive(Clone, Debug, PartialEq)]
pub struct MinMaxCode {
    pub values: Vec<i8>,
    pub min: f32,
    pub max: f32,
}

impl MinMaxCode {
    pub fn step(&self) -> f64 {
        (self.max as f64 - self.min as f64) / 255.0
    }
}

/// Per-vector min-max int8 codes; vectors may differ in length but must be non-empty and finite.
pub fn quantize_min_max<V: AsRef<[f32]>>(vectors: &[V]) -> Result<Vec<MinMaxCode>> {
    vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let v = v.as_ref();
            if v.is_empty() {
                return Err(Error::InvalidInput { index, reason: "is empty; vectors need at least one dimension".into() });
            }
            if let Some(d) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::InvalidInput { index, reason: format!("value {d} is {}; vectors must be finite", v[d]) });
            }
            let min = v.iter().copied().fold(f32::INFINITY, f32::min);
            let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let step = (max as f64 - min as f64) / 255.0;
            let values = v
                .iter()
                .map(|&x| if step > 0.0 { (((x as f64 - min as f64) / step).round() - 128.0).clamp(-128.0, 127.0) as i8 } else { -128 })
                .collect();
            Ok(MinMaxCode { values, min, max })
        })
        .collect()
}

/// `min + (value + 128) * step` for every value of every code.
pub fn dequantize_min_max(codes: &[MinMaxCode]) -> Vec<Vec<f32>> {
    codes
        .iter()
        .map(|c| {
            let step = c.step();
            c.values.iter().map(|&q| (c.min as f64 + (q as f64 + 128.0) * step) as f32).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges() -> Ranges {
        Ranges::new(vec![-1.0, 0.0, 0.5], vec![1.0, 2.55, 0.5]).unwrap()
    }

    #[test]
    fn parses_precisions() {
        for name in ["int8", "uint8", "binary", "ubinary"] {
            assert_eq!(Precision::parse(name).unwrap().name(), name);
        }
        assert_eq!(Precision::parse("float16"), None);
        assert_eq!(Precision::Binary.bytes_per_vector(384), 48);
        assert_eq!(Precision::Ubinary.bytes_per_vector(10), 2);
        assert_eq!(Precision::Int8.bytes_per_vector(384), 384);
    }

    #[test]
    fn scalar_buckets_round_down_and_saturate() {
        // dimension 1: step 0.01, so 1.0 is bucket 100; 0.0149 is bucket 1; -0.5 and 9 saturate.
        let v = [[0.0, 1.0, 0.5], [0.0, 0.0149, 0.5], [0.0, -0.5, 0.4], [2.0, 9.0, 0.6]];
        let Codes::Unsigned(u) = quantize(&v, Precision::Uint8, Some(&ranges())).unwrap() else { panic!() };
        assert_eq!(u, vec![127, 100, 0, 127, 1, 0, 127, 0, 0, 255, 255, 255]);
        let Codes::Signed(s) = quantize(&v, Precision::Int8, Some(&ranges())).unwrap() else { panic!() };
        assert_eq!(s, u.iter().map(|&b| (b as i16 - 128) as i8).collect::<Vec<_>>());
    }

    #[test]
    fn scalar_values_below_zero_round_toward_minus_infinity() {
        // -0.5 is bucket 63.75 → 63 → int8 -65, not -64 as truncation toward zero would give.
        let r = Ranges::new(vec![-1.0], vec![1.0]).unwrap();
        let Codes::Signed(s) = quantize(&[[-0.5f32]], Precision::Int8, Some(&r)).unwrap() else { panic!() };
        assert_eq!(s, vec![-65]);
    }

    #[test]
    fn binary_packs_sign_bits_most_significant_first() {
        let v = [[1.0, -1.0, 0.0, 2.0, -3.0, 0.1, 0.0, 5.0, 1.0, -1.0]];
        let Codes::Unsigned(u) = quantize(&v, Precision::Ubinary, None).unwrap() else { panic!() };
        assert_eq!(u, vec![0b1001_0101, 0b1000_0000]);
        let Codes::Signed(s) = quantize(&v, Precision::Binary, None).unwrap() else { panic!() };
        assert_eq!(s, vec![(0b1001_0101 - 128) as i8, 0]);
    }

    #[test]
    fn dimensions_must_agree() {
        let v: Vec<Vec<f32>> = vec![vec![1.0, 2.0, 3.0], vec![1.0, 2.0]];
        let err = quantize(&v, Precision::Binary, None).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { index: 1, .. }), "{err}");
        let err = quantize(&v[1..], Precision::Int8, Some(&ranges())).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { index: 0, .. }), "{err}");
        assert!(Ranges::new(vec![0.0, 1.0], vec![1.0]).is_err());
        assert!(Ranges::new(vec![2.0], vec![1.0]).is_err());
        assert!(Ranges::from_calibration::<Vec<f32>>(&[]).is_err());
    }

    #[test]
    fn calibration_takes_min_and_max_per_dimension() {
        let r = Ranges::from_calibration(&[[1.0, -2.0], [3.0, -4.0], [2.0, 0.0]]).unwrap();
        assert_eq!((r.min(), r.max()), (&[1.0, -4.0][..], &[3.0, 0.0][..]));
    }

    #[test]
    fn scalar_round_trip_is_within_half_a_step() {
        let r = Ranges::new(vec![-0.3, -0.1, 0.0], vec![0.3, 0.2, 1.0]).unwrap();
        let mut vectors = Vec::new();
        let mut seed = 7u32;
        for _ in 0..200 {
            let v: Vec<f32> = (0..3)
                .map(|d| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let t = (seed >> 8) as f32 / (1u32 << 24) as f32;
                    r.min()[d] + t * (r.max()[d] - r.min()[d])
                })
                .collect();
            vectors.push(v);
        }
        for precision in [Precision::Int8, Precision::Uint8] {
            let codes = quantize(&vectors, precision, Some(&r)).unwrap();
            let back = match &codes {
                Codes::Signed(c) => dequantize_signed(&c.chunks(3).collect::<Vec<_>>(), precision, Some(&r), None),
                Codes::Unsigned(c) => dequantize_unsigned(&c.chunks(3).collect::<Vec<_>>(), precision, Some(&r), None),
            }
            .unwrap();
            for (i, (x, y)) in vectors.iter().flatten().zip(&back).enumerate() {
                let half = (r.max()[i % 3] - r.min()[i % 3]) as f64 / 255.0 / 2.0;
                assert!((*x as f64 - *y as f64).abs() <= half * (1.0 + 1e-5), "{precision:?} value {i}: {x} → {y}");
            }
        }
    }

    #[test]
    fn binary_round_trip_keeps_signs() {
        let v = [[0.5, -0.2, 0.1, -0.9, 0.3]];
        let Codes::Signed(c) = quantize(&v, Precision::Binary, None).unwrap() else { panic!() };
        let back = dequantize_signed(&[c], Precision::Binary, None, Some(5)).unwrap();
        assert_eq!(back, vec![1.0, -1.0, 1.0, -1.0, 1.0]);
        let err = dequantize_unsigned(&[vec![0u8]], Precision::Binary, None, None).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
    }

    #[test]
    fn dequantizing_scalar_codes_needs_ranges() {
        let err = dequantize_signed(&[vec![0i8; 3]], Precision::Int8, None, None).unwrap_err();
        assert!(matches!(err, Error::InvalidOption { option: "ranges", .. }));
        let err = dequantize_signed(&[vec![0i8; 2]], Precision::Int8, Some(&ranges()), None).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { index: 0, .. }));
    }

    #[test]
    fn min_max_round_trip_is_within_half_a_step() {
        let v = vec![vec![0.1f32, -0.25, 0.7, 0.33, -0.01], vec![3.0, 3.0], vec![-1.0, 1.0]];
        let codes = quantize_min_max(&v).unwrap();
        assert_eq!(codes[1].values, vec![-128, -128]);
        assert_eq!(codes[2].values, vec![-128, 127]);
        let back = dequantize_min_max(&codes);
        for (orig, (code, deq)) in v.iter().zip(codes.iter().zip(&back)) {
            for (x, y) in orig.iter().zip(deq) {
                assert!((*x as f64 - *y as f64).abs() <= code.step() / 2.0 + 1e-7, "{x} → {y}");
            }
        }
        assert!(matches!(quantize_min_max(&[vec![1.0f32], vec![]]).unwrap_err(), Error::InvalidInput { index: 1, .. }));
    }
}

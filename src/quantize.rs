//! Quantization functions: typed arrays in, typed arrays out (rows concatenated; `index.js`
//! splits them). The math is `embedder_core::quantize`.

use embedder_core::quantize::{self, Codes, MinMaxCode, Precision, Ranges};
use embedder_core::Error;
use napi::bindgen_prelude::{Either, Float32Array, Float64Array, Int8Array, Uint8Array};
use napi_derive::napi;

use crate::error::{catch_panic, to_js};
use crate::options::{count, one_of};

/// sentence-transformers' `ranges`: each dimension's minimum and maximum.
#[napi(object)]
pub struct NativeRanges {
    pub min: Float32Array,
    pub max: Float32Array,
}

impl TryFrom<&NativeRanges> for Ranges {
    type Error = Error;

    fn try_from(r: &NativeRanges) -> Result<Self, Error> {
        Ranges::new(r.min.to_vec(), r.max.to_vec())
    }
}

impl From<&Ranges> for NativeRanges {
    fn from(r: &Ranges) -> Self {
        NativeRanges { min: Float32Array::new(r.min().to_vec()), max: Float32Array::new(r.max().to_vec()) }
    }
}

#[napi(object)]
pub struct NativeQuantizeOptions {
    /// `'int8'`, `'uint8'`, `'binary'` or `'ubinary'` (`'int8-minmax'` codes have functions of
    /// their own).
    pub precision: String,
    pub ranges: Option<NativeRanges>,
    /// Vectors whose per-dimension min and max become the ranges when `ranges` is absent.
    pub calibration: Option<Vec<Float32Array>>,
    /// Values per vector, for dequantizing bit codes whose dimension is not a multiple of 8.
    pub dimension: Option<f64>,
}

/// The core parameters of `NativeQuantizeOptions`.
pub struct QuantizeParams {
    precision: Precision,
    ranges: Option<Ranges>,
    dimension: Option<usize>,
}

impl TryFrom<NativeQuantizeOptions> for QuantizeParams {
    type Error = Error;

    fn try_from(o: NativeQuantizeOptions) -> Result<Self, Error> {
        let precision = match Scheme::parse(&o.precision)? {
            Scheme::Embeddings(p) => p,
            Scheme::MinMax => {
                return Err(Error::InvalidOption { option: "precision", reason: format!("`{MIN_MAX}` codes go through quantizeMinMax") })
            }
        };
        let ranges = match (&o.ranges, &o.calibration) {
            (Some(r), _) => Some(Ranges::try_from(r)?),
            (None, Some(vectors)) => Some(Ranges::from_calibration(vectors).map_err(|e| match e {
                Error::InvalidInput { index, reason } => {
                    Error::InvalidOption { option: "calibration", reason: format!("vector {index} {reason}") }
                }
                e => e,
            })?),
            (None, None) => None,
        };
        let dimension = count("dimension", o.dimension)?;
        Ok(QuantizeParams { precision, ranges, dimension })
    }
}

/// The name of per-vector min-max int8 codes, beside sentence-transformers' precisions.
const MIN_MAX: &str = "int8-minmax";

/// What the `precision` option of the JavaScript functions names.
#[derive(Clone, Copy)]
enum Scheme {
    /// One of sentence-transformers' `quantize_embeddings` precisions.
    Embeddings(Precision),
    /// Per-vector min-max int8 (`quantizeMinMax`, `dequantizeMinMax`).
    MinMax,
}

impl Scheme {
    fn parse(name: &str) -> Result<Self, Error> {
        if name == MIN_MAX {
            return Ok(Scheme::MinMax);
        }
        Precision::parse(name).map(Scheme::Embeddings).ok_or_else(|| Error::InvalidOption {
            option: "precision",
            reason: format!("must be {}, got '{name}'", one_of(Precision::ALL.map(Precision::name).into_iter().chain([MIN_MAX]))),
        })
    }
}

/// How a precision's codes look, for the JavaScript side to pick the functions and typed arrays.
#[napi(object)]
pub struct NativePrecision {
    /// Codes are signed bytes (`Int8Array`): `int8`, `binary` and `int8-minmax`.
    pub signed: bool,
    /// Needs calibration ranges: `int8` and `uint8`.
    pub scalar: bool,
    /// Per-vector min-max codes `{ values, min, max }`: `int8-minmax`.
    pub min_max: bool,
}

/// Checks a `precision` option and says how its codes look; `ERR_INVALID_OPTION` listing the
/// precisions otherwise.
#[napi]
pub fn precision_info(precision: String) -> napi::Result<NativePrecision> {
    Ok(match Scheme::parse(&precision).map_err(to_js)? {
        Scheme::Embeddings(p) => NativePrecision { signed: p.is_signed(), scalar: p.is_scalar(), min_max: false },
        Scheme::MinMax => NativePrecision { signed: true, scalar: false, min_max: true },
    })
}

/// Quantizes `vectors` as sentence-transformers' `quantize_embeddings` does; the rows of the
/// result are concatenated. Signed precisions (`int8`, `binary`) give an `Int8Array`.
#[napi(ts_return_type = "Int8Array | Uint8Array")]
pub fn quantize(vectors: Vec<Float32Array>, options: NativeQuantizeOptions) -> napi::Result<Either<Int8Array, Uint8Array>> {
    catch_panic(|| {
        let params = QuantizeParams::try_from(options)?;
        quantize::quantize(&vectors, params.precision, params.ranges.as_ref())
    })
    .map(|codes| match codes {
        Codes::Signed(c) => Either::A(Int8Array::new(c)),
        Codes::Unsigned(c) => Either::B(Uint8Array::new(c)),
    })
    .map_err(to_js)
}

/// Each dimension's minimum and maximum over `vectors`.
#[napi]
pub fn calibration_ranges(vectors: Vec<Float32Array>) -> napi::Result<NativeRanges> {
    catch_panic(|| Ranges::from_calibration(&vectors)).map(|r| NativeRanges::from(&r)).map_err(to_js)
}

/// `int8` or `binary` codes back to float32, rows concatenated.
#[napi]
pub fn dequantize_signed(codes: Vec<Int8Array>, options: NativeQuantizeOptions) -> napi::Result<Float32Array> {
    catch_panic(|| {
        let p = QuantizeParams::try_from(options)?;
        quantize::dequantize_signed(&codes, p.precision, p.ranges.as_ref(), p.dimension)
    })
    .map(Float32Array::new)
    .map_err(to_js)
}

/// `uint8` or `ubinary` codes back to float32, rows concatenated.
#[napi]
pub fn dequantize_unsigned(codes: Vec<Uint8Array>, options: NativeQuantizeOptions) -> napi::Result<Float32Array> {
    catch_panic(|| {
        let p = QuantizeParams::try_from(options)?;
        quantize::dequantize_unsigned(&codes, p.precision, p.ranges.as_ref(), p.dimension)
    })
    .map(Float32Array::new)
    .map_err(to_js)
}

/// Per-vector min-max int8 codes: the values of all vectors concatenated, and each vector's
/// minimum and maximum.
#[napi(object)]
pub struct NativeMinMaxCodes {
    pub values: Int8Array,
    pub min: Float32Array,
    pub max: Float32Array,
}

#[napi]
pub fn quantize_min_max(vectors: Vec<Float32Array>) -> napi::Result<NativeMinMaxCodes> {
    let codes = catch_panic(|| quantize::quantize_min_max(&vectors)).map_err(to_js)?;
    Ok(NativeMinMaxCodes {
        values: Int8Array::new(codes.iter().flat_map(|c| c.values.iter().copied()).collect()),
        min: Float32Array::new(codes.iter().map(|c| c.min).collect()),
        max: Float32Array::new(codes.iter().map(|c| c.max).collect()),
    })
}

/// Min-max codes back to float32, rows concatenated; `min[i]` and `max[i]` belong to `values[i]`.
#[napi]
pub fn dequantize_min_max(values: Vec<Int8Array>, min: Float64Array, max: Float64Array) -> napi::Result<Float32Array> {
    catch_panic(|| {
        if min.len() != values.len() || max.len() != values.len() {
            return Err(Error::InvalidInput {
                index: 0,
                reason: format!("{} codes but {} minima and {} maxima", values.len(), min.len(), max.len()),
            });
        }
        let codes: Vec<MinMaxCode> = values
            .iter()
            .zip(min.iter().zip(max.iter()))
            .map(|(v, (&lo, &hi))| MinMaxCode { values: v.to_vec(), min: lo as f32, max: hi as f32 })
            .collect();
        Ok(quantize::dequantize_min_max(&codes).concat())
    })
    .map(Float32Array::new)
    .map_err(to_js)
}

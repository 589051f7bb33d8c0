//! Wire encoding of values: little-endian f32 or f16, optionally compressed.
//!
//! Compression splits the encoded values into byte planes (plane k holds byte
//! k of every value). The low planes hold mantissa bits, which are noise to
//! an entropy coder, so they travel as they are. The top plane (sign and
//! exponent) is one zstd frame at zstd's fastest level with Huffman-coded
//! literals: on float data all of zstd's gain comes from that plane, and
//! match finding over the others only costs time. The zstd contexts are
//! kept per thread and reused.

use std::cell::RefCell;

use bytes::Bytes;
use half::f16;
use half::slice::HalfFloatSliceExt as _;
use tessera_proto::common::v1::{Compression, Payload, ValueEncoding};
use zstd::bulk::{Compressor, Decompressor};
use zstd::zstd_safe::{CParameter, ParamSwitch};

use super::{invalid, CodecError, Result};

// Payloads are little-endian on the wire and cast directly from memory.
#[cfg(not(target_endian = "little"))]
compile_error!("the wire codec assumes a little-endian target");

/// Values converted per step between f32 and f16 planes (stack buffers).
const CHUNK: usize = 64;

fn width(encoding: ValueEncoding) -> Result<usize> {
    match encoding {
        ValueEncoding::F32 => Ok(4),
        ValueEncoding::F16 => Ok(2),
        ValueEncoding::Unspecified => Err(invalid("payload: value encoding is unspecified")),
    }
}

thread_local! {
    /// This thread's zstd compressor and its output buffer.
    static COMPRESSOR: RefCell<Option<(Compressor<'static>, Vec<u8>)>> = const { RefCell::new(None) };
    /// This thread's zstd decompressor.
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_error(e: std::io::Error) -> CodecError {
    invalid(format!("zstd: {e}"))
}

/// A compressor at the fastest level that still Huffman-codes literals.
fn new_compressor() -> Result<(Compressor<'static>, Vec<u8>)> {
    let mut compressor = Compressor::new(zstd::zstd_safe::min_c_level()).map_err(zstd_error)?;
    compressor.set_parameter(CParameter::LiteralCompressionMode(ParamSwitch::Enable)).map_err(zstd_error)?;
    Ok((compressor, Vec::new()))
}

/// Appends `plane` as one zstd frame to `out`.
fn compress_plane(plane: &[u8], out: &mut Vec<u8>) -> Result<()> {
    COMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (compressor, frame) = match cell.as_mut() {
            Some(c) => c,
            None => cell.insert(new_compressor()?),
        };
        frame.clear();
        frame.reserve(zstd::zstd_safe::compress_bound(plane.len()));
        compressor.compress_to_buffer(plane, frame).map_err(zstd_error)?;
        out.extend_from_slice(frame);
        Ok(())
    })
}

/// Inflates one zstd frame that must hold exactly `n` bytes.
fn decompress_plane(frame: &[u8], n: usize) -> Result<Vec<u8>> {
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.borrow_mut();
        let decompressor = match cell.as_mut() {
            Some(d) => d,
            None => cell.insert(Decompressor::new().map_err(zstd_error)?),
        };
        let plane = decompressor
            .decompress(frame, n)
            .map_err(|e| invalid(format!("payload: corrupt zstd frame: {e}")))?;
        if plane.len() != n {
            return Err(invalid(format!("payload: the zstd frame holds {} bytes, not {n}", plane.len())));
        }
        Ok(plane)
    })
}

/// f32 values viewed as their little-endian bytes, so a `Vec<f32>` can back
/// a `Bytes` payload without a copy.
struct LeF32(Vec<f32>);

impl AsRef<[u8]> for LeF32 {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

/// The same for f16 values.
struct LeF16(Vec<f16>);

impl AsRef<[u8]> for LeF16 {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(&self.0)
    }
}

fn halves(values: &[f32]) -> Bytes {
    let mut halves = vec![f16::ZERO; values.len()];
    halves.convert_from_f32_slice(values);
    Bytes::from_owner(LeF16(halves))
}

/// The compressed form: the low byte planes, then the top plane's frame.
fn planes(values: &[f32], encoding: ValueEncoding) -> Result<Bytes> {
    let n = values.len();
    let mut out = vec![0u8; (width(encoding)? - 1) * n];
    let mut top = vec![0u8; n];
    if encoding == ValueEncoding::F32 {
        let (p0, rest) = out.split_at_mut(n);
        let (p1, p2) = rest.split_at_mut(n);
        for ((((v, b0), b1), b2), b3) in values.iter().zip(p0).zip(p1).zip(p2).zip(&mut top) {
            [*b0, *b1, *b2, *b3] = v.to_le_bytes();
        }
    } else {
        let mut buffer = [f16::ZERO; CHUNK];
        for ((chunk, low), high) in values.chunks(CHUNK).zip(out.chunks_mut(CHUNK)).zip(top.chunks_mut(CHUNK))
        {
            let halves = &mut buffer[..chunk.len()];
            halves.convert_from_f32_slice(chunk);
            for ((h, b0), b1) in halves.iter().zip(low).zip(high) {
                [*b0, *b1] = h.to_le_bytes();
            }
        }
    }
    compress_plane(&top, &mut out)?;
    Ok(out.into())
}

/// Encodes values into a payload.
///
/// # Errors
/// Fails on an unspecified encoding or a zstd error.
pub fn encode_values(values: &[f32], encoding: ValueEncoding, compression: Compression) -> Result<Payload> {
    let raw_len = (values.len() * width(encoding)?) as u64;
    let data = match (encoding, compression) {
        (_, Compression::Zstd) => planes(values, encoding)?,
        (ValueEncoding::F32, _) => Bytes::copy_from_slice(bytemuck::cast_slice(values)),
        _ => halves(values),
    };
    Ok(Payload { encoding: encoding as i32, compression: compression as i32, raw_len, data })
}

/// Encodes values it owns; uncompressed f32 then travels without a copy.
///
/// # Errors
/// As [`encode_values`].
pub fn encode_values_owned(
    values: Vec<f32>,
    encoding: ValueEncoding,
    compression: Compression,
) -> Result<Payload> {
    if (encoding, compression) != (ValueEncoding::F32, Compression::None) {
        return encode_values(&values, encoding, compression);
    }
    let raw_len = (values.len() * 4) as u64;
    let data = Bytes::from_owner(LeF32(values));
    Ok(Payload { encoding: encoding as i32, compression: compression as i32, raw_len, data })
}

/// Where a decoded payload's bytes are.
#[derive(Debug, Clone)]
enum Layout {
    /// Little-endian values, back to back.
    Plain(Bytes),
    /// `width - 1` low byte planes of `n` bytes each, and the top plane.
    Planes { low: Bytes, top: Bytes },
}

/// A checked, decompressed payload of a known number of values, from which
/// values can be copied out in any order.
#[derive(Debug, Clone)]
pub struct DecodedPayload {
    encoding: ValueEncoding,
    n: usize,
    layout: Layout,
}

impl DecodedPayload {
    /// Checks `payload` against `expected` values (sizes are checked before a
    /// zstd frame is inflated, and the frame may not inflate past its plane)
    /// and decompresses it.
    ///
    /// # Errors
    /// Fails on a size mismatch, a corrupt frame or an unknown encoding.
    pub fn new(payload: &Payload, expected: usize) -> Result<Self> {
        let encoding = ValueEncoding::try_from(payload.encoding)
            .map_err(|_| invalid(format!("payload: unknown encoding {}", payload.encoding)))?;
        let w = width(encoding)?;
        let want = expected * w;
        if payload.raw_len as usize != want {
            return Err(invalid(format!(
                "payload: {} raw bytes declared, {expected} values need {want}",
                payload.raw_len
            )));
        }
        let data = &payload.data;
        let layout = match Compression::try_from(payload.compression) {
            Ok(Compression::None) => {
                if data.len() != want {
                    return Err(invalid(format!(
                        "payload: {} bytes, {expected} values need {want}",
                        data.len()
                    )));
                }
                Layout::Plain(data.clone())
            }
            Ok(Compression::Zstd) => {
                let low = (w - 1) * expected;
                if data.len() < low {
                    return Err(invalid(format!(
                        "payload: {} bytes cannot hold the {low} bytes of low byte planes",
                        data.len()
                    )));
                }
                let top = decompress_plane(&data[low..], expected)?;
                Layout::Planes { low: data.slice(..low), top: top.into() }
            }
            Err(_) => return Err(invalid(format!("payload: unknown compression {}", payload.compression))),
        };
        Ok(Self { encoding, n: expected, layout })
    }

    /// Copies values `start..start + out.len()` into `out`.
    ///
    /// # Panics
    /// When the range exceeds the payload (a caller bug, not bad input).
    pub fn copy_into(&self, start: usize, out: &mut [f32]) {
        let (end, n) = (start + out.len(), self.n);
        match (&self.layout, self.encoding) {
            (Layout::Plain(raw), ValueEncoding::F32) => {
                bytemuck::cast_slice_mut::<f32, u8>(out).copy_from_slice(&raw[start * 4..end * 4]);
            }
            (Layout::Plain(raw), _) => {
                let bytes = &raw[start * 2..end * 2];
                match bytemuck::try_cast_slice::<u8, f16>(bytes) {
                    Ok(halves) => halves.convert_to_f32_slice(out),
                    // Not 2-byte aligned (a slice of a larger buffer).
                    Err(_) => {
                        for (v, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                            *v = f16::from_le_bytes([b[0], b[1]]).to_f32();
                        }
                    }
                }
            }
            (Layout::Planes { low, top }, ValueEncoding::F32) => {
                let planes = (&low[start..end], &low[n + start..n + end], &low[2 * n + start..2 * n + end]);
                let values = out.iter_mut().zip(planes.0).zip(planes.1).zip(planes.2).zip(&top[start..end]);
                for ((((v, b0), b1), b2), b3) in values {
                    *v = f32::from_le_bytes([*b0, *b1, *b2, *b3]);
                }
            }
            (Layout::Planes { low, top }, _) => {
                let mut buffer = [f16::ZERO; CHUNK];
                let chunks = out
                    .chunks_mut(CHUNK)
                    .zip(low[start..end].chunks(CHUNK))
                    .zip(top[start..end].chunks(CHUNK));
                for ((values, low), high) in chunks {
                    let halves = &mut buffer[..values.len()];
                    for ((h, b0), b1) in halves.iter_mut().zip(low).zip(high) {
                        *h = f16::from_le_bytes([*b0, *b1]);
                    }
                    halves.convert_to_f32_slice(values);
                }
            }
        }
    }

    /// The values as f32 without a copy, when they travel as plain f32 and
    /// the buffer is 4-byte aligned.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match (&self.layout, self.encoding) {
            (Layout::Plain(raw), ValueEncoding::F32) => bytemuck::try_cast_slice(raw).ok(),
            _ => None,
        }
    }

    /// All values, copied out.
    pub fn to_vec(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.n];
        self.copy_into(0, &mut out);
        out
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

/// Decodes exactly `expected` values; see [`DecodedPayload::new`].
///
/// # Errors
/// Fails on a size mismatch, a corrupt frame or an unknown encoding.
pub fn decode_values(payload: &Payload, expected: usize) -> Result<Vec<f32>> {
    Ok(DecodedPayload::new(payload, expected)?.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn values_round_trip(values in proptest::collection::vec(-1000f32..1000.0, 0..300)) {
            for comp in [Compression::None, Compression::Zstd] {
                let p = encode_values(&values, ValueEncoding::F32, comp).unwrap();
                prop_assert_eq!(decode_values(&p, values.len()).unwrap(), values.clone());
                prop_assert_eq!(encode_values_owned(values.clone(), ValueEncoding::F32, comp).unwrap(), p);
                let p = encode_values(&values, ValueEncoding::F16, comp).unwrap();
                let back = decode_values(&p, values.len()).unwrap();
                for (a, b) in back.iter().zip(&values) {
                    prop_assert!((a - b).abs() <= b.abs() * 1e-3 + 1e-3);
                }
                // Any sub-range decodes to the same values as the whole.
                let decoded = DecodedPayload::new(&p, values.len()).unwrap();
                let (start, len) = (values.len() / 3, values.len() / 2);
                let mut part = vec![0f32; len];
                decoded.copy_into(start, &mut part);
                prop_assert_eq!(&part[..], &back[start..start + len]);
            }
        }

        #[test]
        fn garbage_payloads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256), n in 0usize..64, f16s in any::<bool>()) {
            let (encoding, w) = if f16s { (ValueEncoding::F16, 2) } else { (ValueEncoding::F32, 4) };
            let p = Payload { encoding: encoding as i32, compression: Compression::Zstd as i32, raw_len: (n * w) as u64, data: data.into() };
            if let Ok(decoded) = DecodedPayload::new(&p, n) {
                prop_assert_eq!(decoded.to_vec().len(), n);
            }
        }
    }

    #[test]
    fn corrupt_zstd_and_wrong_sizes_are_refused() {
        let values: Vec<f32> = (0..64).map(|i| i as f32 * 0.25).collect();
        let mut p = encode_values(&values, ValueEncoding::F32, Compression::Zstd).unwrap();
        let mut data = p.data.to_vec();
        // The frame follows the three low planes; break its header.
        data[3 * 64 + 2] ^= 0x55;
        p.data = data.into();
        assert!(decode_values(&p, 64).unwrap_err().to_string().contains("corrupt zstd frame"));
        let mut p = encode_values(&values, ValueEncoding::F16, Compression::Zstd).unwrap();
        p.data = p.data.slice(..40);
        assert!(decode_values(&p, 64).unwrap_err().to_string().contains("low byte planes"));
        let p = encode_values(&values, ValueEncoding::F32, Compression::None).unwrap();
        assert!(decode_values(&p, 63).unwrap_err().to_string().contains("raw bytes declared"));
    }

    #[test]
    fn a_frame_that_inflates_past_its_plane_is_refused() {
        // A valid frame of 128 top-plane bytes, presented as a payload of 64 values.
        let big = encode_values(&[1.5; 128], ValueEncoding::F16, Compression::Zstd).unwrap();
        let frame = big.data.slice(128..);
        let data: Vec<u8> = [&[0u8; 64][..], &frame[..]].concat();
        let p = Payload { data: data.into(), raw_len: 128, ..big };
        assert!(decode_values(&p, 64).is_err());
    }

    #[test]
    fn zstd_shrinks_gradient_like_values() {
        // Rows of very different scales, as embedding gradients have.
        let values: Vec<f32> =
            (0..64 * 256).map(|i| ((i % 7) as f32 - 3.0) * 1e-4 * (1 + (i / 64) % 50) as f32).collect();
        let plain = encode_values(&values, ValueEncoding::F16, Compression::None).unwrap();
        let packed = encode_values(&values, ValueEncoding::F16, Compression::Zstd).unwrap();
        assert!(
            packed.data.len() * 10 < plain.data.len() * 9,
            "{} vs {}",
            packed.data.len(),
            plain.data.len()
        );
        assert_eq!(
            decode_values(&packed, values.len()).unwrap(),
            decode_values(&plain, values.len()).unwrap()
        );
    }
}

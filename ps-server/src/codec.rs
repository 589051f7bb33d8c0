//! Wire encoding of ids (little-endian u64, or sorted delta + varint) and of
//! values (f32 or f16, optionally zstd on top), with size checks done before
//! anything is inflated.

use bytes::Bytes;
use half::f16;
use half::slice::HalfFloatSliceExt as _;

// Payloads are little-endian on the wire and cast directly from memory.
#[cfg(not(target_endian = "little"))]
compile_error!("the wire codec assumes a little-endian target");
use tessera_proto::common::v1::{Compression, IdEncoding, IdList, Payload, ValueEncoding};

use crate::error::{PsError, Result};

/// zstd level used for compressed payloads: a fast (negative) level. The
/// byte planes of f16 values compress about as well at -3 as at 1, at
/// a fraction of the cost.
pub const ZSTD_LEVEL: i32 = -3;

fn invalid(msg: impl Into<String>) -> PsError {
    PsError::InvalidArgument(msg.into())
}

/// Encodes ids; `DeltaVarint` requires them sorted and unique.
///
/// # Errors
/// Fails when delta encoding is asked for unsorted or duplicate ids.
pub fn encode_ids(ids: &[u64], encoding: IdEncoding) -> Result<IdList> {
    let mut data = Vec::with_capacity(ids.len() * 3);
    match encoding {
        IdEncoding::U64Le => ids.iter().for_each(|id| data.extend_from_slice(&id.to_le_bytes())),
        IdEncoding::DeltaVarint => {
            let mut prev = None;
            for &id in ids {
                let delta = match prev {
                    None => id,
                    Some(p) if id > p => id - p,
                    Some(_) => return Err(invalid("ids: delta encoding needs sorted unique ids")),
                };
                write_varint(&mut data, delta);
                prev = Some(id);
            }
        }
        IdEncoding::Unspecified => return Err(invalid("ids: encoding is unspecified")),
    }
    Ok(IdList { encoding: encoding as i32, count: ids.len() as u32, data: data.into() })
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes ids, checking the count and, for delta encoding, strict order.
///
/// # Errors
/// Fails on a malformed list, naming the problem.
pub fn decode_ids(list: &IdList, max_ids: usize) -> Result<Vec<u64>> {
    let count = list.count as usize;
    if count > max_ids {
        return Err(invalid(format!("ids: {count} ids exceed the limit of {max_ids}")));
    }
    match IdEncoding::try_from(list.encoding) {
        Ok(IdEncoding::U64Le) => {
            if list.data.len() != count * 8 {
                return Err(invalid(format!("ids: {} bytes for {count} u64 ids", list.data.len())));
            }
            Ok(list
                .data
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect())
        }
        Ok(IdEncoding::DeltaVarint) => {
            let mut ids = Vec::with_capacity(count);
            let (mut value, mut shift, mut prev): (u64, u32, Option<u64>) = (0, 0, None);
            for &byte in &list.data {
                if shift > 63 {
                    return Err(invalid("ids: varint longer than 10 bytes"));
                }
                value |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 != 0 {
                    shift += 7;
                    continue;
                }
                let id = match prev {
                    None => value,
                    Some(_) if value == 0 => return Err(invalid("ids: duplicate id in delta list")),
                    Some(p) => p.checked_add(value).ok_or_else(|| invalid("ids: delta overflows u64"))?,
                };
                ids.push(id);
                if ids.len() > count {
                    return Err(invalid(format!("ids: more ids than the count {count}")));
                }
                prev = Some(id);
                (value, shift) = (0, 0);
            }
            if shift != 0 || ids.len() != count {
                return Err(invalid(format!("ids: decoded {} ids, count says {count}", ids.len())));
            }
            Ok(ids)
        }
        _ => Err(invalid(format!("ids: unknown encoding {}", list.encoding))),
    }
}

fn width(encoding: ValueEncoding) -> Result<usize> {
    match encoding {
        ValueEncoding::F32 => Ok(4),
        ValueEncoding::F16 => Ok(2),
        ValueEncoding::Unspecified => Err(invalid("payload: value encoding is unspecified")),
    }
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

/// Splits values of `width` bytes into byte planes (plane k holds byte k of
/// every value), so sign/exponent bytes sit together and compress well.
fn shuffle(raw: &[u8], width: usize) -> Vec<u8> {
    let n = raw.len() / width;
    let mut out = vec![0u8; raw.len()];
    for (i, value) in raw.chunks_exact(width).enumerate() {
        for (k, &byte) in value.iter().enumerate() {
            out[k * n + i] = byte;
        }
    }
    out
}

/// Inverse of [`shuffle`].
fn unshuffle(planes: &[u8], width: usize) -> Vec<u8> {
    let n = planes.len() / width;
    let mut out = vec![0u8; planes.len()];
    for (k, plane) in planes.chunks_exact(n.max(1)).enumerate().take(width) {
        for (i, &byte) in plane.iter().enumerate() {
            out[i * width + k] = byte;
        }
    }
    out
}

fn compress(raw: Bytes, width: usize, compression: Compression) -> Result<Bytes> {
    match compression {
        Compression::None => Ok(raw),
        Compression::Zstd => Ok(zstd::bulk::compress(&shuffle(&raw, width), ZSTD_LEVEL)
            .map_err(|e| invalid(format!("zstd: {e}")))?
            .into()),
    }
}

fn payload(encoding: ValueEncoding, compression: Compression, raw: Bytes) -> Result<Payload> {
    let raw_len = raw.len() as u64;
    let data = compress(raw, width(encoding)?, compression)?;
    Ok(Payload { encoding: encoding as i32, compression: compression as i32, raw_len, data })
}

fn halves(values: &[f32]) -> Bytes {
    let mut halves = vec![f16::ZERO; values.len()];
    halves.convert_from_f32_slice(values);
    Bytes::from_owner(LeF16(halves))
}

/// Encodes values into a payload.
///
/// # Errors
/// Fails on an unspecified encoding or a zstd error.
pub fn encode_values(values: &[f32], encoding: ValueEncoding, compression: Compression) -> Result<Payload> {
    width(encoding)?;
    let raw = match encoding {
        ValueEncoding::F32 => Bytes::copy_from_slice(bytemuck::cast_slice(values)),
        _ => halves(values),
    };
    payload(encoding, compression, raw)
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
    width(encoding)?;
    let raw = match encoding {
        ValueEncoding::F32 => Bytes::from_owner(LeF32(values)),
        _ => halves(&values),
    };
    payload(encoding, compression, raw)
}

/// A checked, decompressed payload of a known number of values, from which
/// values can be copied out in any order.
#[derive(Debug, Clone)]
pub struct DecodedPayload {
    encoding: ValueEncoding,
    raw: Bytes,
}

impl DecodedPayload {
    /// Checks `payload` against `expected` values (the declared raw size is
    /// checked before a zstd frame is inflated) and decompresses it.
    ///
    /// # Errors
    /// Fails on a size mismatch, a corrupt frame or an unknown encoding.
    pub fn new(payload: &Payload, expected: usize) -> Result<Self> {
        let encoding = ValueEncoding::try_from(payload.encoding)
            .map_err(|_| invalid(format!("payload: unknown encoding {}", payload.encoding)))?;
        let want = expected * width(encoding)?;
        if payload.raw_len as usize != want {
            return Err(invalid(format!(
                "payload: {} raw bytes declared, {expected} values need {want}",
                payload.raw_len
            )));
        }
        let raw = match Compression::try_from(payload.compression) {
            Ok(Compression::None) => payload.data.clone(),
            Ok(Compression::Zstd) => {
                let planes = zstd::bulk::decompress(&payload.data, want)
                    .map_err(|e| invalid(format!("payload: corrupt zstd frame: {e}")))?;
                if planes.len() != want {
                    return Err(invalid(format!(
                        "payload: {} bytes, {expected} values need {want}",
                        planes.len()
                    )));
                }
                unshuffle(&planes, width(encoding)?).into()
            }
            Err(_) => return Err(invalid(format!("payload: unknown compression {}", payload.compression))),
        };
        if raw.len() != want {
            return Err(invalid(format!("payload: {} bytes, {expected} values need {want}", raw.len())));
        }
        Ok(Self { encoding, raw })
    }

    /// Copies values `start..start + out.len()` into `out`.
    ///
    /// # Panics
    /// When the range exceeds the payload (a caller bug, not bad input).
    pub fn copy_into(&self, start: usize, out: &mut [f32]) {
        let end = start + out.len();
        match self.encoding {
            ValueEncoding::F32 => {
                bytemuck::cast_slice_mut::<f32, u8>(out).copy_from_slice(&self.raw[start * 4..end * 4])
            }
            _ => {
                let bytes = &self.raw[start * 2..end * 2];
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
        }
    }

    /// The values as f32 without a copy, when they travel as f32 and the
    /// buffer is 4-byte aligned.
    pub fn as_f32(&self) -> Option<&[f32]> {
        if self.encoding == ValueEncoding::F32 {
            bytemuck::try_cast_slice(&self.raw).ok()
        } else {
            None
        }
    }

    /// All values, copied out.
    pub fn to_vec(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.len()];
        self.copy_into(0, &mut out);
        out
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.raw.len() / if self.encoding == ValueEncoding::F32 { 4 } else { 2 }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
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
        fn ids_round_trip(mut ids in proptest::collection::vec(any::<u64>(), 0..200)) {
            ids.sort_unstable();
            ids.dedup();
            for enc in [IdEncoding::U64Le, IdEncoding::DeltaVarint] {
                let list = encode_ids(&ids, enc).unwrap();
                prop_assert_eq!(decode_ids(&list, 1 << 20).unwrap(), ids.clone());
            }
        }

        #[test]
        fn garbage_ids_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64), count in 0u32..40, enc in 0i32..4) {
            let _ = decode_ids(&IdList { encoding: enc, count, data: data.into() }, 1 << 20);
        }

        #[test]
        fn values_round_trip(values in proptest::collection::vec(-1000f32..1000.0, 0..300)) {
            for comp in [Compression::None, Compression::Zstd] {
                let p = encode_values(&values, ValueEncoding::F32, comp).unwrap();
                prop_assert_eq!(decode_values(&p, values.len()).unwrap(), values.clone());
                let p = encode_values(&values, ValueEncoding::F16, comp).unwrap();
                let back = decode_values(&p, values.len()).unwrap();
                for (a, b) in back.iter().zip(&values) {
                    prop_assert!((a - b).abs() <= b.abs() * 1e-3 + 1e-3);
                }
            }
        }
    }

    #[test]
    fn corrupt_zstd_and_wrong_sizes_are_refused() {
        let mut p = encode_values(&[1.0; 64], ValueEncoding::F32, Compression::Zstd).unwrap();
        let mut data = p.data.to_vec();
        data[2] ^= 0x55;
        p.data = data.into();
        assert!(decode_values(&p, 64).unwrap_err().to_string().contains("corrupt zstd frame"));
        let p = encode_values(&[1.0; 64], ValueEncoding::F32, Compression::None).unwrap();
        assert!(decode_values(&p, 63).unwrap_err().to_string().contains("raw bytes declared"));
    }
}

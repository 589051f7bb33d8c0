//! Wire encoding of ids (little-endian u64, or sorted delta + varint) and of
//! values (f32 or f16, optionally zstd on top), with size checks done before
//! anything is inflated.

use half::f16;
use tessera_proto::common::v1::{Compression, IdEncoding, IdList, Payload, ValueEncoding};

use crate::error::{PsError, Result};

/// zstd level used for compressed payloads.
pub const ZSTD_LEVEL: i32 = 1;

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
    Ok(IdList { encoding: encoding as i32, count: ids.len() as u32, data })
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

/// Encodes values; returns the payload and its raw (pre-compression) size.
///
/// # Errors
/// Fails on an unspecified encoding or a zstd error.
pub fn encode_values(values: &[f32], encoding: ValueEncoding, compression: Compression) -> Result<Payload> {
    let mut raw = Vec::with_capacity(values.len() * width(encoding)?);
    match encoding {
        ValueEncoding::F32 => values.iter().for_each(|v| raw.extend_from_slice(&v.to_le_bytes())),
        ValueEncoding::F16 => {
            values.iter().for_each(|v| raw.extend_from_slice(&f16::from_f32(*v).to_le_bytes()))
        }
        ValueEncoding::Unspecified => unreachable!("checked by width"),
    }
    let raw_len = raw.len() as u64;
    let data = match compression {
        Compression::None => raw,
        Compression::Zstd => {
            zstd::bulk::compress(&raw, ZSTD_LEVEL).map_err(|e| invalid(format!("zstd: {e}")))?
        }
    };
    Ok(Payload { encoding: encoding as i32, compression: compression as i32, raw_len, data })
}

/// Decodes exactly `expected` values. The declared raw size is checked
/// against `expected` before a zstd frame is inflated.
///
/// # Errors
/// Fails on a size mismatch, a corrupt frame or an unknown encoding.
pub fn decode_values(payload: &Payload, expected: usize) -> Result<Vec<f32>> {
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
    let inflated;
    let raw: &[u8] = match Compression::try_from(payload.compression) {
        Ok(Compression::None) => &payload.data,
        Ok(Compression::Zstd) => {
            inflated = zstd::bulk::decompress(&payload.data, want)
                .map_err(|e| invalid(format!("payload: corrupt zstd frame: {e}")))?;
            &inflated
        }
        Err(_) => return Err(invalid(format!("payload: unknown compression {}", payload.compression))),
    };
    if raw.len() != want {
        return Err(invalid(format!("payload: {} bytes, {expected} values need {want}", raw.len())));
    }
    Ok(match encoding {
        ValueEncoding::F32 => {
            raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        }
        _ => raw.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
    })
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
            let _ = decode_ids(&IdList { encoding: enc, count, data }, 1 << 20);
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
        p.data[2] ^= 0x55;
        assert!(decode_values(&p, 64).unwrap_err().to_string().contains("corrupt zstd frame"));
        let p = encode_values(&[1.0; 64], ValueEncoding::F32, Compression::None).unwrap();
        assert!(decode_values(&p, 63).unwrap_err().to_string().contains("raw bytes declared"));
    }
}

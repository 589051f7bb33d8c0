//! Wire encoding of ids (little-endian u64, or sorted delta + varint) and of
//! values (f32 or f16, optionally zstd on the sign/exponent byte plane; see
//! [`values`]), with size checks done before anything is inflated.

use tessera_proto::common::v1::{IdEncoding, IdList};

mod values;

pub use values::{decode_values, encode_values, encode_values_owned, DecodedPayload};

/// A payload or id list that does not decode, or values that cannot be
/// encoded as asked. The message names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CodecError(pub String);

/// Result alias of the codec.
pub type Result<T, E = CodecError> = std::result::Result<T, E>;

fn invalid(msg: impl Into<String>) -> CodecError {
    CodecError(msg.into())
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
    }
}

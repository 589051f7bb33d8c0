//! Dense-parameter requests of a shard: register, read and update named
//! tensors, decoding and checking their payloads first.

use tessera_proto::common::v1::{Compression, ValueEncoding};
use tessera_proto::ps::v1 as pb;

use super::Shard;
use crate::error::{PsError, Result};
use crate::optimizer::Optimizer;
use ps_client::codec::{decode_values, encode_values};
use ps_client::dense::{num_values, NamedTensor};

fn decode_tensor(tensor: &pb::DenseTensor) -> Result<NamedTensor> {
    if tensor.name.is_empty() {
        return Err(PsError::InvalidArgument("dense: a tensor has no name".into()));
    }
    let n = num_values(&tensor.name, &tensor.shape)?;
    let payload = tensor
        .values
        .as_ref()
        .ok_or_else(|| PsError::InvalidArgument(format!("dense {}: values missing", tensor.name)))?;
    let values = decode_values(payload, n)
        .map_err(|e| PsError::InvalidArgument(format!("dense {}: {e}", tensor.name)))?;
    Ok((tensor.name.clone(), tensor.shape.clone(), values))
}

impl Shard {
    /// Registers dense parameters with initial values.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad optimizer, payload or shape mismatch.
    pub fn init_dense(&self, request: &pb::InitDenseRequest) -> Result<pb::InitDenseResponse> {
        let optimizer = request
            .optimizer
            .as_ref()
            .ok_or_else(|| PsError::InvalidArgument("init_dense: optimizer missing".into()))
            .and_then(Optimizer::from_proto)?;
        let tensors = request.tensors.iter().map(decode_tensor).collect::<Result<Vec<_>>>()?;
        Ok(pb::InitDenseResponse { created: self.dense.init(tensors, optimizer)? })
    }

    /// Reads dense parameters.
    ///
    /// # Errors
    /// `NotFound` for an unknown name, `InvalidArgument` for a bad encoding.
    pub fn pull_dense(&self, request: &pb::PullDenseRequest) -> Result<pb::PullDenseResponse> {
        let encoding = ValueEncoding::try_from(request.encoding).unwrap_or(ValueEncoding::Unspecified);
        let compression = Compression::try_from(request.compression).map_err(|_| {
            PsError::InvalidArgument(format!("pull_dense: unknown compression {}", request.compression))
        })?;
        let (tensors, version) = self.dense.get(&request.names)?;
        let tensors = tensors
            .into_iter()
            .map(|(name, shape, values)| {
                Ok(pb::DenseTensor {
                    name,
                    shape,
                    values: Some(encode_values(&values, encoding, compression)?),
                })
            })
            .collect::<Result<_>>()?;
        Ok(pb::PullDenseResponse { tensors, version })
    }

    /// Applies dense gradients, all or nothing.
    ///
    /// # Errors
    /// `NotFound`, `InvalidArgument` or `Fenced`, before anything changes.
    pub fn push_dense(&self, request: &pb::PushDenseRequest) -> Result<pb::PushDenseResponse> {
        let grads = request.grads.iter().map(decode_tensor).collect::<Result<Vec<_>>>()?;
        for (name, shape, _) in &grads {
            match self.dense.shape(name) {
                None => return Err(PsError::NotFound(format!("dense parameter {name:?} does not exist"))),
                Some(s) if &s != shape => {
                    return Err(PsError::InvalidArgument(format!(
                        "dense {name}: gradient shape {shape:?} differs from {s:?}"
                    )))
                }
                Some(_) => {}
            }
        }
        self.check_fencing(
            &request.fencing_scope,
            request.fencing_token,
            grads.iter().map(|g| g.0.as_str()),
        )?;
        let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        let version = self.dense.apply(grads)?;
        let seq = self.counters.num_updates.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        Ok(pb::PushDenseResponse { version, durability: Some(self.persist.durability(seq)) })
    }
}

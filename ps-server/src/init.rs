//! Deterministic row initialisation from (seed, table, id), so every shard
//! and every restart agree on a row that was never written.

use tessera_proto::ps::v1 as pb;

use crate::error::{PsError, Result};
use ps_client::routing::{mix64, table_hash};

/// A validated initialiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// Uniform in [-bound, bound].
    Uniform(f32),
    /// Normal(0, std).
    Normal(f32),
    /// Zeros.
    Zeros,
}

impl Init {
    /// Validates a wire spec; returns the initialiser and its seed.
    ///
    /// # Errors
    /// `InvalidArgument` for a negative or non-finite bound.
    pub fn from_proto(spec: Option<&pb::InitSpec>) -> Result<(Self, u64)> {
        let Some(spec) = spec else { return Ok((Init::Uniform(0.01), 0)) };
        let init = match spec.kind {
            Some(pb::init_spec::Kind::UniformBound(b)) if b.is_finite() && b >= 0.0 => Init::Uniform(b),
            Some(pb::init_spec::Kind::NormalStd(s)) if s.is_finite() && s >= 0.0 => Init::Normal(s),
            Some(pb::init_spec::Kind::Zeros(_)) => Init::Zeros,
            None => Init::Uniform(0.01),
            Some(_) => {
                return Err(PsError::InvalidArgument("init: bound or std must be finite and ≥ 0".into()))
            }
        };
        Ok((init, spec.seed))
    }

    /// Fills `out` with the initial values of row (table, id).
    pub fn fill(&self, seed: u64, table: &str, id: u64, out: &mut [f32]) {
        let mut state =
            mix64(seed ^ mix64(table_hash(table)) ^ mix64(id.wrapping_mul(0x2545_f491_4f6c_dd1d)));
        let mut unit = move || {
            state = mix64(state);
            ((state >> 40) as f32 + 0.5) / (1u64 << 24) as f32
        };
        match *self {
            Init::Zeros => out.fill(0.0),
            Init::Uniform(bound) => out.iter_mut().for_each(|v| *v = (unit() * 2.0 - 1.0) * bound),
            Init::Normal(std) => {
                for v in out.iter_mut() {
                    let (u1, u2) = (unit(), unit());
                    *v = std * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
                }
            }
        }
    }
}

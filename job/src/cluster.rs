//! `[cluster]`: the cluster's shape and its fault-tolerance knobs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{in_range, invalid, SpecError};

/// Default workers (one partition each).
pub const DEFAULT_WORKERS: u32 = 2;
/// Default parameter-server shards.
pub const DEFAULT_PS_SHARDS: u32 = 2;
/// Default PS checkpoint interval.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);
/// Default progress-report interval.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// How stale a worker's view of the parameters may be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Staleness {
    /// Fully asynchronous.
    #[default]
    Async,
    /// Stale-synchronous: no worker runs more than this many clock ticks
    /// ahead of the slowest.
    Ssp(u64),
}

impl fmt::Display for Staleness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Staleness::Async => f.write_str("async"),
            Staleness::Ssp(s) => write!(f, "ssp:{s}"),
        }
    }
}

impl FromStr for Staleness {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "async" => Ok(Staleness::Async),
            _ => s
                .strip_prefix("ssp:")
                .and_then(|t| t.parse().ok())
                .map(Staleness::Ssp)
                .ok_or_else(|| format!("{s:?} is not async or ssp:S")),
        }
    }
}

impl Serialize for Staleness {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Staleness {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e| serde::de::Error::custom(format!("cluster.staleness: {e}")))
    }
}

/// Cluster shape and fault-tolerance knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSpec {
    /// Workers, one partition each.
    pub workers: u32,
    /// Parameter-server shards.
    pub ps_shards: u32,
    /// PS checkpoint interval, such as "60s" (for the shards a local
    /// cluster launcher starts; shards started by hand take their own flag).
    #[serde(with = "humantime_text")]
    pub checkpoint_interval: Duration,
    /// How often workers report progress, such as "1s".
    #[serde(with = "humantime_text")]
    pub report_interval: Duration,
    /// PS staleness: `async` or `ssp:S`.
    pub staleness: Staleness,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            workers: DEFAULT_WORKERS,
            ps_shards: DEFAULT_PS_SHARDS,
            checkpoint_interval: DEFAULT_CHECKPOINT_INTERVAL,
            report_interval: DEFAULT_REPORT_INTERVAL,
            staleness: Staleness::default(),
        }
    }
}

impl ClusterSpec {
    /// Checks the section's ranges.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        in_range("cluster.workers", self.workers, 1..=1024)?;
        in_range("cluster.ps_shards", self.ps_shards, 1..=1024)?;
        if self.report_interval.is_zero() {
            return Err(invalid("cluster.report_interval", "must be positive"));
        }
        Ok(())
    }
}

/// Durations as humantime strings ("60s", "500ms").
mod humantime_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| serde::de::Error::custom(format!("{text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_round_trips_as_text() {
        for s in [Staleness::Async, Staleness::Ssp(3)] {
            assert_eq!(s.to_string().parse::<Staleness>(), Ok(s));
        }
        assert!("ssp:x".parse::<Staleness>().is_err());
        assert!("sometimes".parse::<Staleness>().is_err());
    }
}

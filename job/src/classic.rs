//! Classic baselines (`baselines = ["itemknn", "rp3beta"]`) and their
//! `[classic]` settings: neighbourhood models with no training loop, fitted
//! on the training interactions (every behaviour a binary positive) and
//! evaluated by the same code as the trained models.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{in_range, invalid, SpecError};
use crate::ModelKind;

/// Default neighbours kept per item (item-kNN).
pub const DEFAULT_KNN_NEIGHBOURS: u32 = 200;
/// Default shrink of the cosine (item-kNN).
pub const DEFAULT_KNN_SHRINK: f64 = 100.0;
/// Default neighbours kept per item (RP3beta).
pub const DEFAULT_RP3_NEIGHBOURS: u32 = 500;
/// Default exponent of the walk's transition probabilities (RP3beta).
pub const DEFAULT_RP3_ALPHA: f64 = 0.5;
/// Default popularity penalty exponent (RP3beta).
pub const DEFAULT_RP3_BETA: f64 = 0.0;
/// Default time scale, in days, of the co-occurrence kernel (time-aware
/// item-kNN): two interactions of a user `window_days` apart count e⁻¹.
pub const DEFAULT_TIMEKNN_WINDOW_DAYS: f64 = 3.0;
/// Default decay per step back in a user's history (time-aware item-kNN):
/// the latest items vote with 1, the ones before with 0.8, 0.64, …
pub const DEFAULT_TIMEKNN_RECENCY: f64 = 0.8;

/// A classic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassicKind {
    /// Item-based nearest neighbours: shrunk cosine, top k per item.
    Itemknn,
    /// RP3beta: the item → user → item walk, popularity-penalised.
    Rp3beta,
    /// Item-kNN that reads the times: co-occurrences weighted by how close
    /// in time the two interactions were, the history by recency.
    Timeknn,
}

impl ClassicKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClassicKind::Itemknn => "itemknn",
            ClassicKind::Rp3beta => "rp3beta",
            ClassicKind::Timeknn => "timeknn",
        }
    }
}

/// A model trained or fitted in the same job for comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Baseline {
    /// A trained model.
    Trained(ModelKind),
    /// A classic model.
    Classic(ClassicKind),
}

impl Baseline {
    /// The name in specs and metric keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Baseline::Trained(k) => k.as_str(),
            Baseline::Classic(k) => k.as_str(),
        }
    }
}

const TRAINED: [ModelKind; 5] =
    [ModelKind::Hgt, ModelKind::Rgcn, ModelKind::Sage, ModelKind::Lightgcn, ModelKind::Mf];
const CLASSIC: [ClassicKind; 3] = [ClassicKind::Itemknn, ClassicKind::Rp3beta, ClassicKind::Timeknn];

impl std::str::FromStr for Baseline {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(&k) = TRAINED.iter().find(|k| k.as_str() == s) {
            return Ok(Baseline::Trained(k));
        }
        if let Some(&k) = CLASSIC.iter().find(|k| k.as_str() == s) {
            return Ok(Baseline::Classic(k));
        }
        let names: Vec<&str> =
            TRAINED.iter().map(|k| k.as_str()).chain(CLASSIC.iter().map(|k| k.as_str())).collect();
        Err(format!("unknown baseline {s:?}: expected one of {}", names.join(", ")))
    }
}

impl Serialize for Baseline {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Baseline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// `[classic.itemknn]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ItemKnnSpec {
    /// Most similar items kept per item.
    pub neighbours: u32,
    /// Shrink added to the cosine's denominator, damping rare pairs.
    pub shrink: f64,
}

impl Default for ItemKnnSpec {
    fn default() -> Self {
        Self { neighbours: DEFAULT_KNN_NEIGHBOURS, shrink: DEFAULT_KNN_SHRINK }
    }
}

/// `[classic.rp3beta]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rp3betaSpec {
    /// Most similar items kept per item.
    pub neighbours: u32,
    /// Exponent on the walk's transition probabilities.
    pub alpha: f64,
    /// Exponent of the popularity penalty on the destination item.
    pub beta: f64,
}

impl Default for Rp3betaSpec {
    fn default() -> Self {
        Self { neighbours: DEFAULT_RP3_NEIGHBOURS, alpha: DEFAULT_RP3_ALPHA, beta: DEFAULT_RP3_BETA }
    }
}

/// `[classic.timeknn]`: item-kNN with the times of the interactions (a
/// graph without times makes it plain item-kNN).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeKnnSpec {
    /// Most similar items kept per item.
    pub neighbours: u32,
    /// Shrink added to the cosine's denominator, damping rare pairs.
    pub shrink: f64,
    /// A user's two interactions Δt apart add exp(−Δt / window) to the
    /// co-occurrence of their items, in place of 1.
    pub window_days: f64,
    /// A user's items vote with recency^r, r the rank of the item's last
    /// interaction counted back from the user's latest (1 weighs all alike).
    pub recency: f64,
}

impl Default for TimeKnnSpec {
    fn default() -> Self {
        Self {
            neighbours: DEFAULT_KNN_NEIGHBOURS,
            shrink: DEFAULT_KNN_SHRINK,
            window_days: DEFAULT_TIMEKNN_WINDOW_DAYS,
            recency: DEFAULT_TIMEKNN_RECENCY,
        }
    }
}

/// `[classic]`: the settings of the classic baselines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassicSpec {
    /// Item-kNN.
    pub itemknn: ItemKnnSpec,
    /// RP3beta.
    pub rp3beta: Rp3betaSpec,
    /// Time-aware item-kNN.
    pub timeknn: TimeKnnSpec,
}

impl ClassicSpec {
    /// Checks the section's ranges.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        in_range("classic.itemknn.neighbours", self.itemknn.neighbours, 1..=10_000)?;
        in_range("classic.timeknn.neighbours", self.timeknn.neighbours, 1..=10_000)?;
        for (field, v) in
            [("classic.itemknn.shrink", self.itemknn.shrink), ("classic.timeknn.shrink", self.timeknn.shrink)]
        {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(invalid(field, "must be a finite number >= 0"));
            }
        }
        if !(self.timeknn.window_days > 0.0 && self.timeknn.window_days.is_finite()) {
            return Err(invalid("classic.timeknn.window_days", "must be a finite number > 0"));
        }
        if !(self.timeknn.recency > 0.0 && self.timeknn.recency <= 1.0) {
            return Err(invalid(
                "classic.timeknn.recency",
                format!("{} is outside (0, 1]", self.timeknn.recency),
            ));
        }
        in_range("classic.rp3beta.neighbours", self.rp3beta.neighbours, 1..=10_000)?;
        for (field, v) in
            [("classic.rp3beta.alpha", self.rp3beta.alpha), ("classic.rp3beta.beta", self.rp3beta.beta)]
        {
            if !(0.0..=2.0).contains(&v) {
                return Err(invalid(field, format!("{v} is outside [0, 2]")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_parse_by_name_and_name_the_choices_when_unknown() {
        assert_eq!("mf".parse(), Ok(Baseline::Trained(ModelKind::Mf)));
        assert_eq!("itemknn".parse(), Ok(Baseline::Classic(ClassicKind::Itemknn)));
        let err = "knn".parse::<Baseline>().unwrap_err();
        assert!(err.contains("knn") && err.contains("rp3beta") && err.contains("lightgcn"), "{err}");
    }
}

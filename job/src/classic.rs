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

/// A classic model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassicKind {
    /// Item-based nearest neighbours: shrunk cosine, top k per item.
    Itemknn,
    /// RP3beta: the item → user → item walk, popularity-penalised.
    Rp3beta,
}

impl ClassicKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClassicKind::Itemknn => "itemknn",
            ClassicKind::Rp3beta => "rp3beta",
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
const CLASSIC: [ClassicKind; 2] = [ClassicKind::Itemknn, ClassicKind::Rp3beta];

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

/// `[classic]`: the settings of the classic baselines.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassicSpec {
    /// Item-kNN.
    pub itemknn: ItemKnnSpec,
    /// RP3beta.
    pub rp3beta: Rp3betaSpec,
}

impl ClassicSpec {
    /// Checks the section's ranges.
    ///
    /// # Errors
    /// The first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        in_range("classic.itemknn.neighbours", self.itemknn.neighbours, 1..=10_000)?;
        if !(self.itemknn.shrink >= 0.0 && self.itemknn.shrink.is_finite()) {
            return Err(invalid("classic.itemknn.shrink", "must be a finite number >= 0"));
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

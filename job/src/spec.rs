//! The whole job: its sections, parsing (size cap, unknown fields refused,
//! relative paths resolved against the spec's folder) and the checks that
//! span sections.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{invalid, SpecError};
use crate::{
    Baseline, ClassicKind, ClassicSpec, ClusterSpec, DatasetSpec, EvalSpec, ModelKind, ModelSpec,
    NegativesSpec, RankerSpec, SamplerSpec, TasksSpec, TrainSpec,
};

/// Largest accepted spec, in bytes.
pub const MAX_SPEC_BYTES: usize = 64 * 1024;

/// Default seed for sampling, negatives and initialisation.
pub const DEFAULT_SEED: u64 = 42;

const fn default_seed() -> u64 {
    DEFAULT_SEED
}

/// A training job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// Human name, used for the run directory.
    pub name: String,
    /// Seed for sampling, negatives and initialisation.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// What to train on.
    pub dataset: DatasetSpec,
    /// The model.
    #[serde(default)]
    pub model: ModelSpec,
    /// Models trained (or, for the classic ones, fitted) in the same job
    /// for comparison: same graph, split and budget, same evaluation.
    #[serde(default)]
    pub baselines: Vec<Baseline>,
    /// Settings of the classic baselines.
    #[serde(default)]
    pub classic: ClassicSpec,
    /// Neighbourhood sampling.
    #[serde(default)]
    pub sampler: SamplerSpec,
    /// Objectives and their weights.
    #[serde(default)]
    pub tasks: TasksSpec,
    /// Negative sampling.
    #[serde(default)]
    pub negatives: NegativesSpec,
    /// Epochs, batch size and optimizers.
    #[serde(default)]
    pub train: TrainSpec,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalSpec,
    /// The ranker after retrieval.
    #[serde(default)]
    pub ranker: RankerSpec,
    /// Cluster shape.
    #[serde(default)]
    pub cluster: ClusterSpec,
}

impl JobSpec {
    /// Parses and validates TOML text. Relative paths are taken from `base`.
    ///
    /// # Errors
    /// Fails with the field that is unknown, mistyped or out of range.
    pub fn parse(text: &str, base: Option<&Path>) -> Result<Self, SpecError> {
        if text.len() > MAX_SPEC_BYTES {
            return Err(SpecError::Parse(format!(
                "{} bytes, more than the {MAX_SPEC_BYTES} allowed",
                text.len()
            )));
        }
        let mut spec: JobSpec = toml::from_str(text).map_err(|e| SpecError::Parse(e.to_string()))?;
        if let Some(base) = base {
            spec.resolve_paths(base);
        }
        spec.validate()?;
        Ok(spec)
    }

    /// Reads, parses and validates a spec file; relative paths are taken
    /// from its folder.
    ///
    /// # Errors
    /// Fails when the file cannot be read or the spec is invalid.
    pub fn from_file(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpecError::Parse(format!("read {}: {e}", path.display())))?;
        Self::parse(&text, path.parent())
    }

    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.dataset.graph);
        if let Some(p) = &mut self.dataset.build {
            fix(p);
        }
        if let Some(p) = &mut self.dataset.partitions {
            fix(p);
        }
        if let Some(p) = &mut self.train.resume_from {
            fix(p);
        }
    }

    /// The partition plan directory.
    pub fn partitions_dir(&self) -> PathBuf {
        self.dataset.partitions.clone().unwrap_or_else(|| {
            let mut name = self.dataset.graph.clone().into_os_string();
            name.push(format!(".parts{}", self.cluster.workers));
            PathBuf::from(name)
        })
    }

    /// The model and its trained baselines, in training order, without
    /// repeats.
    pub fn models(&self) -> Vec<ModelKind> {
        let mut models = vec![self.model.kind];
        for b in &self.baselines {
            if let Baseline::Trained(k) = *b {
                if !models.contains(&k) {
                    models.push(k);
                }
            }
        }
        models
    }

    /// The classic baselines, without repeats; they are fitted at the final
    /// evaluation, after the trained models.
    pub fn classic_models(&self) -> Vec<ClassicKind> {
        let mut models = Vec::new();
        for b in &self.baselines {
            if let Baseline::Classic(k) = *b {
                if !models.contains(&k) {
                    models.push(k);
                }
            }
        }
        models
    }

    /// The names of every model of the job: the main model with its
    /// neighbourhood term (when set), the trained ones, then the classic ones.
    pub fn model_names(&self) -> Vec<String> {
        let trained = self.models().into_iter().map(|m| m.as_str().to_owned());
        let classic = self.classic_models().into_iter().map(|m| m.as_str().to_owned());
        let ranked = self.ranker_name();
        self.main_name().into_iter().chain(trained).chain(ranked).chain(classic).collect()
    }

    /// The name of the main model's retrieval re-ranked by the ranker
    /// (`hgt+ranker`), when `ranker.enabled`.
    pub fn ranker_name(&self) -> Option<String> {
        self.ranker.enabled.then(|| format!("{}+ranker", self.model.kind.as_str()))
    }

    /// The name of the main model with its neighbourhood term
    /// (`hgt+itemknn`), when `model.neighbourhood` is set.
    pub fn main_name(&self) -> Option<String> {
        self.model.neighbourhood.map(|n| format!("{}+{}", self.model.kind.as_str(), n.as_str()))
    }

    /// Checks that a graph whose split has `valid_pairs` validation targets
    /// can run the job: scoring them during training, or choosing the
    /// neighbourhood weight, needs some.
    ///
    /// # Errors
    /// Names the setting that needs them.
    pub fn check_validation(&self, valid_pairs: u64) -> Result<(), SpecError> {
        let setting = if self.eval.every_epochs > 0 {
            "eval.every_epochs"
        } else if self.model.neighbourhood.is_some() && self.model.neighbourhood_weight.is_none() {
            "model.neighbourhood"
        } else if self.ranker.enabled {
            "ranker.enabled"
        } else {
            return Ok(());
        };
        if valid_pairs > 0 {
            return Ok(());
        }
        Err(invalid(
            setting,
            "needs validation targets, and the graph's split has none (give the build spec's split a \
             valid_fraction, valid_values or valid_last; or set model.neighbourhood_weight)",
        ))
    }

    /// Epochs over all models (each trains `train.epochs`).
    pub fn total_epochs(&self) -> u32 {
        self.train.epochs * self.models().len() as u32
    }

    /// Halo depth of the partitions.
    pub fn halo_hops(&self) -> u32 {
        self.dataset.halo_hops.unwrap_or(self.model.layers)
    }

    /// Checks every section; the error names the field.
    ///
    /// # Errors
    /// Fails with the first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid("name", "1–64 characters of [a-z0-9_-]"));
        }
        self.model.validate()?;
        let layers = (self.model.kind != ModelKind::Mf).then_some(self.model.layers);
        self.sampler.validate(layers)?;
        if self.tasks.loss == crate::Loss::Softmax && self.model.scorer != crate::Scorer::Dot {
            return Err(invalid(
                "tasks.loss",
                "softmax scores the whole batch pool and needs model.scorer = \"dot\"",
            ));
        }
        self.tasks.validate()?;
        self.negatives.validate()?;
        self.train.validate()?;
        self.eval.validate()?;
        self.classic.validate()?;
        self.ranker.validate()?;
        if self.ranker.enabled && self.model.scorer != crate::Scorer::Dot {
            return Err(invalid(
                "ranker.enabled",
                "the ranker re-ranks dot-product retrieval: set model.scorer = \"dot\"",
            ));
        }
        self.cluster.validate()
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;

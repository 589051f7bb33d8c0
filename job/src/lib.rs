//! The job spec: a TOML file that says which graph to train on, which model,
//! sampler, objectives, negatives and optimizers to use, and how big the
//! cluster is. Each section is its own type with its defaults (`DEFAULT_*`
//! constants behind a container-level serde default) and its own checks.
//! Unknown fields are refused, and every error names the field.

pub mod classic;
pub mod cluster;
pub mod dataset;
pub mod error;
pub mod model;
pub mod objectives;
pub mod ranker;
pub mod sampler;
pub mod spec;
pub mod train;

pub use classic::{Baseline, ClassicKind, ClassicSpec};
pub use cluster::{ClusterSpec, Staleness};
pub use dataset::{DatasetSpec, EvalSpec, EvalSplit};
pub use error::SpecError;
pub use model::{LayerInit, ModelKind, ModelSpec, Scorer};
pub use objectives::{Loss, NegativeKind, NegativesSpec, Target, TasksSpec};
pub use ranker::RankerSpec;
pub use sampler::{SamplerKind, SamplerSpec, Weighting};
pub use spec::{JobSpec, DEFAULT_SEED, MAX_SPEC_BYTES};
pub use train::{OptimizerKind, OptimizerSpec, TrainSpec};

//! The job spec: a TOML file that says which graph to train on, which model,
//! sampler, objectives, negatives and optimizers to use, and how big the
//! cluster is. Unknown fields are refused, and `validate` names the field
//! that is wrong.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Largest accepted spec, in bytes.
pub const MAX_SPEC_BYTES: usize = 64 * 1024;

/// A bad job spec, naming the field.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The TOML does not parse or has an unknown or mistyped field.
    #[error("job spec: {0}")]
    Parse(String),
    /// A field has a value out of range.
    #[error("job spec field `{field}`: {reason}")]
    Invalid {
        /// Dotted path of the field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> SpecError {
    SpecError::Invalid { field, reason: reason.into() }
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
    pub model: ModelSpec,
    /// Models trained in the same job for comparison (same graph, split and budget).
    #[serde(default)]
    pub baselines: Vec<ModelKind>,
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
    /// Cluster shape.
    #[serde(default)]
    pub cluster: ClusterSpec,
}

fn default_seed() -> u64 {
    42
}

/// The dataset: a built graph directory, or a build spec to build it from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// The graph directory.
    pub graph: PathBuf,
    /// A graph build spec (`examples/graphs/*.toml`); when set, the graph is
    /// built from it if `graph` does not exist yet.
    #[serde(default)]
    pub build: Option<PathBuf>,
    /// The partition plan directory; default `<graph>.parts<K>`.
    #[serde(default)]
    pub partitions: Option<PathBuf>,
    /// Halo depth of the partitions; default the number of model layers.
    #[serde(default)]
    pub halo_hops: Option<u32>,
    /// Which held-out pairs the final metrics use.
    #[serde(default)]
    pub eval_split: EvalSplit,
}

/// Held-out pairs used for the final metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvalSplit {
    /// The test pairs.
    #[default]
    Test,
    /// The validation pairs.
    Valid,
}

/// Model families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Heterogeneous graph transformer.
    Hgt,
    /// Relational GCN.
    Rgcn,
    /// GraphSAGE on the graph treated as homogeneous.
    Sage,
    /// LightGCN on the user–item graph.
    Lightgcn,
    /// Matrix factorisation.
    Mf,
}

impl ModelKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Hgt => "hgt",
            ModelKind::Rgcn => "rgcn",
            ModelKind::Sage => "sage",
            ModelKind::Lightgcn => "lightgcn",
            ModelKind::Mf => "mf",
        }
    }
}

/// Model shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Model family.
    pub kind: ModelKind,
    /// Embedding and hidden dimension.
    #[serde(default = "default_dim")]
    pub dim: u32,
    /// Message-passing layers (ignored by MF).
    #[serde(default = "default_layers")]
    pub layers: u32,
    /// Attention heads (HGT); must divide `dim`.
    #[serde(default = "default_heads")]
    pub heads: u32,
    /// Dropout during training.
    #[serde(default)]
    pub dropout: f64,
    /// Relative temporal encoding from edge timestamps (HGT).
    #[serde(default)]
    pub temporal: bool,
    /// Use node features (a type-specific projection added to the id embedding).
    #[serde(default = "default_true")]
    pub features: bool,
    /// Probability of zeroing an item's id embedding in training, so the
    /// model learns to score items from features and neighbours; at
    /// inference, items with no training interaction get a zero id embedding
    /// (their row was never trained). Only for models that use features.
    #[serde(default)]
    pub id_dropout: f64,
    /// Bases for RGCN's basis decomposition (0 = a full weight per relation).
    #[serde(default)]
    pub num_bases: u32,
    /// Scorer for user–item pairs.
    #[serde(default)]
    pub scorer: Scorer,
    /// Output the mean of the input and of every layer's output instead of
    /// the last layer's (jumping knowledge, as LightGCN always does).
    /// Message-passing models only.
    #[serde(default)]
    pub layer_mean: bool,
    /// Initialisation of HGT's V and A linears and its per-relation W_ATT
    /// and W_MSG.
    #[serde(default)]
    pub init: LayerInit,
}

/// How HGT's transforms start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerInit {
    /// Random (Glorot), as in the paper's code.
    #[default]
    Glorot,
    /// Identity: an untrained layer is the residual plus an attention-weighted
    /// mean of the neighbours, so training starts from neighbourhood smoothing
    /// instead of random projections of the id embeddings.
    Identity,
}

fn default_dim() -> u32 {
    64
}
fn default_layers() -> u32 {
    2
}
fn default_heads() -> u32 {
    4
}
fn default_true() -> bool {
    true
}

/// How a (user, item) pair is scored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scorer {
    /// Dot product of the embeddings.
    #[default]
    Dot,
    /// The dot product plus a small MLP over the concatenation (one hidden
    /// layer of 64; its output layer starts at zero).
    Mlp,
}

/// Sampler choice and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerSpec {
    /// `neighbor`, `cluster` or `random_walk`.
    #[serde(default)]
    pub kind: SamplerKind,
    /// Fan-out per layer, from the seeds outwards (neighbor).
    #[serde(default = "default_fanouts")]
    pub fanouts: Vec<u32>,
    /// Edge weighting for neighbor sampling.
    #[serde(default)]
    pub weighting: Weighting,
    /// Apply the fan-out per edge type instead of per node over all its
    /// edge types together.
    #[serde(default)]
    pub per_relation: bool,
    /// METIS sub-parts of a partition (cluster).
    #[serde(default = "default_sub_parts")]
    pub sub_parts: u32,
    /// Sub-parts per batch (cluster).
    #[serde(default = "default_parts_per_batch")]
    pub parts_per_batch: u32,
    /// Walks per seed (random_walk).
    #[serde(default = "default_walks")]
    pub walks: u32,
    /// Steps per walk (random_walk).
    #[serde(default = "default_walk_length")]
    pub walk_length: u32,
    /// Restart probability (random_walk).
    #[serde(default = "default_restart")]
    pub restart: f64,
    /// Most-visited nodes kept as neighbours (random_walk).
    #[serde(default = "default_top_t")]
    pub top_t: u32,
}

impl Default for SamplerSpec {
    fn default() -> Self {
        Self {
            kind: SamplerKind::default(),
            fanouts: default_fanouts(),
            weighting: Weighting::default(),
            per_relation: false,
            sub_parts: default_sub_parts(),
            parts_per_batch: default_parts_per_batch(),
            walks: default_walks(),
            walk_length: default_walk_length(),
            restart: default_restart(),
            top_t: default_top_t(),
        }
    }
}

fn default_fanouts() -> Vec<u32> {
    vec![10, 5]
}
fn default_sub_parts() -> u32 {
    32
}
fn default_parts_per_batch() -> u32 {
    2
}
fn default_walks() -> u32 {
    20
}
fn default_walk_length() -> u32 {
    3
}
fn default_restart() -> f64 {
    0.5
}
fn default_top_t() -> u32 {
    10
}

/// Sampler families.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplerKind {
    /// Per-layer fan-out.
    #[default]
    Neighbor,
    /// Cluster-GCN.
    Cluster,
    /// PinSAGE random walks.
    RandomWalk,
}

/// Neighbour weighting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Uniform.
    #[default]
    Uniform,
    /// By the time-decayed edge weight.
    Decay,
    /// By the neighbour's PageRank.
    Pagerank,
}

/// Objectives: `alpha·main + beta·link + gamma·node + delta·contrastive`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksSpec {
    /// Weight of the main link-prediction task.
    #[serde(default = "default_one")]
    pub alpha: f64,
    /// Weight of auxiliary link prediction on the other behaviours.
    #[serde(default)]
    pub beta: f64,
    /// Weight of item-category classification.
    #[serde(default)]
    pub gamma: f64,
    /// Weight of the contrastive (InfoNCE) task.
    #[serde(default)]
    pub delta: f64,
    /// Target behaviour of the main task: `buy`, `click`, `cart`, `fav` or `all`.
    #[serde(default = "default_target")]
    pub target: String,
    /// Main loss.
    #[serde(default)]
    pub loss: Loss,
    /// InfoNCE temperature.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
}

impl Default for TasksSpec {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 0.0,
            gamma: 0.0,
            delta: 0.0,
            target: default_target(),
            loss: Loss::default(),
            temperature: default_temperature(),
        }
    }
}

fn default_one() -> f64 {
    1.0
}
fn default_target() -> String {
    "all".into()
}
fn default_temperature() -> f64 {
    0.2
}

/// Link-prediction loss.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Bayesian personalised ranking.
    #[default]
    Bpr,
    /// Binary cross-entropy.
    Bce,
}

/// Negative sampling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegativesSpec {
    /// Negatives per positive.
    #[serde(default = "default_num_negatives")]
    pub num: u32,
    /// `uniform` or `popularity` (degree^0.75) for the easy part.
    #[serde(default)]
    pub kind: NegativeKind,
    /// Fraction mined as hard negatives from the model's top-scored items.
    #[serde(default)]
    pub hard_ratio: f64,
}

impl Default for NegativesSpec {
    fn default() -> Self {
        Self { num: default_num_negatives(), kind: NegativeKind::default(), hard_ratio: 0.0 }
    }
}

fn default_num_negatives() -> u32 {
    1
}

/// Easy-negative distribution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativeKind {
    /// Uniform over items.
    #[default]
    Uniform,
    /// Proportional to popularity^0.75.
    Popularity,
}

/// An optimizer for one table or the dense weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSpec {
    /// `sgd`, `adagrad` or `adam`.
    pub kind: String,
    /// Learning rate.
    pub lr: f64,
    /// L2 weight decay.
    #[serde(default)]
    pub weight_decay: f64,
}

/// Training budget and optimizers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// Passes over each partition's training edges.
    #[serde(default = "default_epochs")]
    pub epochs: u32,
    /// Positive edges per step (the `cluster` sampler ignores it: a step
    /// takes every positive edge inside its group of sub-parts).
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Cap on steps per epoch per worker (0 = no cap).
    #[serde(default)]
    pub max_steps_per_epoch: u64,
    /// Optimizer of the embedding tables.
    #[serde(default = "default_embedding_optimizer")]
    pub embeddings: OptimizerSpec,
    /// Optimizer of the dense weights.
    #[serde(default = "default_dense_optimizer")]
    pub dense: OptimizerSpec,
    /// Push dense gradients and refresh the dense weights every this many steps.
    #[serde(default = "default_dense_sync")]
    pub dense_sync_every: u32,
    /// Wait for each step's pushes before pulling the next step's rows, so a
    /// one-worker run is reproducible for a seed (slower: no overlap).
    #[serde(default)]
    pub deterministic: bool,
}

impl Default for TrainSpec {
    fn default() -> Self {
        Self {
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            max_steps_per_epoch: 0,
            embeddings: default_embedding_optimizer(),
            dense: default_dense_optimizer(),
            dense_sync_every: default_dense_sync(),
            deterministic: false,
        }
    }
}

fn default_epochs() -> u32 {
    5
}
fn default_batch_size() -> u32 {
    1024
}
fn default_embedding_optimizer() -> OptimizerSpec {
    OptimizerSpec { kind: "adagrad".into(), lr: 0.05, weight_decay: 0.0 }
}
fn default_dense_optimizer() -> OptimizerSpec {
    OptimizerSpec { kind: "adam".into(), lr: 0.001, weight_decay: 0.0 }
}
fn default_dense_sync() -> u32 {
    1
}

/// Evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Cut-offs for Recall@K, NDCG@K and HR@K.
    #[serde(default = "default_ks")]
    pub ks: Vec<u32>,
    /// Sampled negatives per test item for sampled HR/NDCG.
    #[serde(default = "default_sampled")]
    pub sampled_negatives: u32,
    /// Score the validation targets every this many epochs during training
    /// (0 = never). Needs a graph whose split has validation pairs; the
    /// worker of partition 0 does it, on the whole graph.
    #[serde(default)]
    pub every_epochs: u32,
    /// Users scored per validation pass, sampled once by the seed (0 = all).
    #[serde(default = "default_validation_users")]
    pub validation_users: u32,
}

impl Default for EvalSpec {
    fn default() -> Self {
        Self {
            ks: default_ks(),
            sampled_negatives: default_sampled(),
            every_epochs: 0,
            validation_users: default_validation_users(),
        }
    }
}

fn default_validation_users() -> u32 {
    2000
}

fn default_ks() -> Vec<u32> {
    vec![10, 20]
}
fn default_sampled() -> u32 {
    99
}

/// Cluster shape and fault-tolerance knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Workers, one partition each.
    #[serde(default = "default_two")]
    pub workers: u32,
    /// Parameter-server shards.
    #[serde(default = "default_two")]
    pub ps_shards: u32,
    /// PS checkpoint interval, such as "60s" (for the shards a local
    /// cluster launcher starts; shards started by hand take their own flag).
    #[serde(default = "default_checkpoint_interval", with = "humantime_serde_compat")]
    pub checkpoint_interval: Duration,
    /// How often workers report progress, such as "1s".
    #[serde(default = "default_report_interval", with = "humantime_serde_compat")]
    pub report_interval: Duration,
    /// PS staleness: `async` or `ssp:S`.
    #[serde(default = "default_staleness")]
    pub staleness: String,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        Self {
            workers: 2,
            ps_shards: 2,
            checkpoint_interval: default_checkpoint_interval(),
            report_interval: default_report_interval(),
            staleness: default_staleness(),
        }
    }
}

fn default_two() -> u32 {
    2
}
fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_report_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_staleness() -> String {
    "async".into()
}

/// Durations as humantime strings ("60s", "500ms").
mod humantime_serde_compat {
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
    }

    /// The partition plan directory.
    pub fn partitions_dir(&self) -> PathBuf {
        self.dataset.partitions.clone().unwrap_or_else(|| {
            let mut name = self.dataset.graph.clone().into_os_string();
            name.push(format!(".parts{}", self.cluster.workers));
            PathBuf::from(name)
        })
    }

    /// The model and its baselines, in training order, without repeats.
    pub fn models(&self) -> Vec<ModelKind> {
        let mut models = vec![self.model.kind];
        for &b in &self.baselines {
            if !models.contains(&b) {
                models.push(b);
            }
        }
        models
    }

    /// Epochs over all models (each trains `train.epochs`).
    pub fn total_epochs(&self) -> u32 {
        self.train.epochs * self.models().len() as u32
    }

    /// Halo depth of the partitions.
    pub fn halo_hops(&self) -> u32 {
        self.dataset.halo_hops.unwrap_or(self.model.layers)
    }

    /// Checks every range; the error names the field.
    ///
    /// # Errors
    /// Fails with the first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err(invalid("name", "1–64 characters of [a-z0-9_-]"));
        }
        let m = &self.model;
        if !(4..=1024).contains(&m.dim) {
            return Err(invalid("model.dim", format!("{} is outside 4..=1024", m.dim)));
        }
        if m.kind != ModelKind::Mf && !(1..=4).contains(&m.layers) {
            return Err(invalid("model.layers", format!("{} is outside 1..=4", m.layers)));
        }
        if m.heads == 0 || !m.dim.is_multiple_of(m.heads) {
            return Err(invalid("model.heads", format!("{} heads do not divide dim {}", m.heads, m.dim)));
        }
        if !(0.0..1.0).contains(&m.id_dropout) {
            return Err(invalid("model.id_dropout", format!("{} is outside [0, 1)", m.id_dropout)));
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return Err(invalid("model.dropout", format!("{} is outside [0, 1)", m.dropout)));
        }
        let s = &self.sampler;
        if s.kind == SamplerKind::Neighbor {
            if s.fanouts.len() != m.layers as usize && m.kind != ModelKind::Mf {
                return Err(invalid(
                    "sampler.fanouts",
                    format!("{} fan-outs for {} layers", s.fanouts.len(), m.layers),
                ));
            }
            if s.fanouts.iter().any(|&f| f == 0 || f > 1000) {
                return Err(invalid("sampler.fanouts", "each fan-out must be within 1..=1000"));
            }
        }
        if !(1..=65_536).contains(&s.sub_parts) {
            return Err(invalid("sampler.sub_parts", format!("{} is outside 1..=65536", s.sub_parts)));
        }
        if s.parts_per_batch == 0 || s.parts_per_batch > s.sub_parts {
            return Err(invalid(
                "sampler.parts_per_batch",
                format!("{} is outside 1..=sampler.sub_parts ({})", s.parts_per_batch, s.sub_parts),
            ));
        }
        if !(0.0..1.0).contains(&s.restart) {
            return Err(invalid("sampler.restart", format!("{} is outside [0, 1)", s.restart)));
        }
        for (field, value, max) in [
            ("sampler.walks", s.walks, 10_000),
            ("sampler.walk_length", s.walk_length, 100),
            ("sampler.top_t", s.top_t, 1_000),
        ] {
            if !(1..=max).contains(&value) {
                return Err(invalid(field, format!("{value} is outside 1..={max}")));
            }
        }
        let t = &self.tasks;
        for (field, w) in [
            ("tasks.alpha", t.alpha),
            ("tasks.beta", t.beta),
            ("tasks.gamma", t.gamma),
            ("tasks.delta", t.delta),
        ] {
            if !w.is_finite() || w < 0.0 {
                return Err(invalid(field, format!("{w} must be a finite weight >= 0")));
            }
        }
        if t.alpha + t.beta + t.gamma + t.delta <= 0.0 {
            return Err(invalid("tasks.alpha", "at least one task needs a positive weight"));
        }
        if !["all", "click", "cart", "fav", "buy"].contains(&t.target.as_str()) {
            return Err(invalid(
                "tasks.target",
                format!("{:?} is not all, click, cart, fav or buy", t.target),
            ));
        }
        if !(t.temperature > 0.0 && t.temperature.is_finite()) {
            return Err(invalid("tasks.temperature", "must be positive"));
        }
        let n = &self.negatives;
        if !(1..=1000).contains(&n.num) {
            return Err(invalid("negatives.num", format!("{} is outside 1..=1000", n.num)));
        }
        if !(0.0..=1.0).contains(&n.hard_ratio) {
            return Err(invalid("negatives.hard_ratio", "must be within [0, 1]"));
        }
        let tr = &self.train;
        if tr.epochs == 0 {
            return Err(invalid("train.epochs", "must be at least 1"));
        }
        if !(1..=1 << 20).contains(&tr.batch_size) {
            return Err(invalid("train.batch_size", format!("{} is outside 1..=1048576", tr.batch_size)));
        }
        for (field, o) in [("train.embeddings", &tr.embeddings), ("train.dense", &tr.dense)] {
            if !["sgd", "adagrad", "adam"].contains(&o.kind.as_str()) {
                return Err(invalid(field, format!("optimizer {:?} is not sgd, adagrad or adam", o.kind)));
            }
            if !(o.lr > 0.0 && o.lr.is_finite() && o.weight_decay >= 0.0 && o.weight_decay.is_finite()) {
                return Err(invalid(field, "lr must be positive and weight_decay >= 0"));
            }
        }
        if tr.dense_sync_every == 0 {
            return Err(invalid("train.dense_sync_every", "must be at least 1"));
        }
        if self.eval.ks.is_empty() || self.eval.ks.iter().any(|&k| k == 0 || k > 1000) {
            return Err(invalid("eval.ks", "give cut-offs within 1..=1000"));
        }
        let c = &self.cluster;
        if !(1..=1024).contains(&c.workers) {
            return Err(invalid("cluster.workers", format!("{} is outside 1..=1024", c.workers)));
        }
        if !(1..=1024).contains(&c.ps_shards) {
            return Err(invalid("cluster.ps_shards", format!("{} is outside 1..=1024", c.ps_shards)));
        }
        if c.report_interval.is_zero() {
            return Err(invalid("cluster.report_interval", "must be positive"));
        }
        if c.staleness != "async"
            && c.staleness.strip_prefix("ssp:").is_none_or(|s| s.parse::<u32>().is_err())
        {
            return Err(invalid("cluster.staleness", format!("{:?} is not async or ssp:S", c.staleness)));
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;

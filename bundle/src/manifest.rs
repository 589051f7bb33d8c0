//! `manifest.json`: what a bundle is (job, model, dimension, score function,
//! sizes, metrics, creation time, lineage) and every file in it with its
//! size and CRC32.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Value of [`Manifest::format`].
pub const FORMAT: &str = "tessera-bundle";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Files every bundle has.
pub mod files {
    /// Raw user ids, `<u8` (users).
    pub const USER_IDS: &str = "user_ids.npy";
    /// Raw item ids, `<u8` (items).
    pub const ITEM_IDS: &str = "item_ids.npy";
    /// Each item's raw category id, `<u8`, `u64::MAX` for none.
    pub const ITEM_CATEGORIES: &str = "item_categories.npy";
    /// User embeddings, `<f4` (users × dim).
    pub const USER_EMBEDDINGS: &str = "user_embeddings.npy";
    /// Item embeddings, `<f4` (items × dim).
    pub const ITEM_EMBEDDINGS: &str = "item_embeddings.npy";
    /// User embeddings with raw ids, Parquet (`id`, `embedding`).
    pub const USERS_PARQUET: &str = "users.parquet";
    /// Item embeddings with raw ids and categories, Parquet (`id`, `category`, `embedding`).
    pub const ITEMS_PARQUET: &str = "items.parquet";
    /// Offsets into [`SEEN_ITEMS`] per user, `<u8` (users + 1).
    pub const SEEN_OFFSETS: &str = "seen_offsets.npy";
    /// Each user's training items (dense ids, sorted per user), `<u4`.
    pub const SEEN_ITEMS: &str = "seen_items.npy";
    /// The job spec the model was trained with.
    pub const JOB: &str = "job.toml";
    /// The HNSW index over the item embeddings (large catalogues).
    pub const ANN: &str = "items.usearch";
    /// The ranker after retrieval (optional): `tessera_bundle::rank::RankerWeights` as JSON.
    pub const RANKER: &str = "ranker.json";
    /// With the ranker or a neighbourhood term: the time of each entry of
    /// [`SEEN_ITEMS`], `<i8`.
    pub const SEEN_TIMES: &str = "seen_times.npy";
    /// The model's dense weights (the worker's `VarStore`), safetensors.
    pub const DENSE: &str = "dense.safetensors";
    /// With a model that reads user features: the trained users' mean
    /// feature vector, `<f4` (width), which a new user's features replace.
    pub const USER_FEATURE_MEAN: &str = "user_feature_mean.npy";
    /// With a model that reads item features: the graph's record of its
    /// item feature columns (`tessera_graph::store::NodeTypeInfo` as
    /// JSON: names, standardisation, price thresholds), which encodes a new
    /// item's price and content vector.
    pub const ITEM_FEATURES: &str = "item_features.json";
    /// The manifest itself.
    pub const MANIFEST: &str = "manifest.json";

    /// Every `node_type` node's embedding-table row (the PS's, before the
    /// model's layers), `<f4` (nodes × dim): what a job resuming from the
    /// bundle starts from.
    pub fn rows(node_type: &str) -> String {
        format!("rows_{node_type}.npy")
    }

    /// The raw ids of the `node_type` nodes whose states the bundle holds,
    /// for the grouping types (`category_ids.npy`, `<u8`, in state row order).
    pub fn node_ids(node_type: &str) -> String {
        format!("{node_type}_ids.npy")
    }

    /// The state file of `node_type`'s nodes at the input of layer `layer`
    /// (`state_l0_user.npy`, `<f4`, nodes × dim).
    pub fn state(layer: usize, node_type: &str) -> String {
        format!("state_l{layer}_{node_type}.npy")
    }
    /// In a job's bundle directory: the name of the newest version.
    pub const LATEST: &str = "LATEST";
}

/// A file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileInfo {
    /// Length in bytes.
    pub bytes: u64,
    /// CRC32 (IEEE) of the content.
    pub crc32: u32,
}

/// The graph a bundle was trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphRef {
    /// The graph directory, as the job named it.
    pub path: String,
    /// CRC32 of the graph's `manifest.json`, which lists every graph file
    /// with its checksum: equal fingerprints mean the same graph.
    pub fingerprint: u32,
}

/// [`AnnInfo::metric`]: items indexed as `[x; sqrt(M² − |x|²)]` under the
/// squared L2 distance, queries as `[q; 0]` (see `ann`).
pub const MIPS_L2: &str = "l2sq over [x; sqrt(M^2 - |x|^2)]";

/// The HNSW index of a bundle and its measured quality.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnInfo {
    /// Always "hnsw" (usearch).
    pub kind: String,
    /// How dot products are searched: always [`MIPS_L2`].
    pub metric: String,
    /// Edges per node (HNSW `M`).
    pub connectivity: usize,
    /// Candidate list size while building (`ef_construction`).
    pub expansion_add: usize,
    /// Candidate list size while searching (`ef`).
    pub expansion_search: usize,
    /// Recall@10 against exact search, over `recall_queries` user vectors.
    pub recall_at_10: f64,
    /// Queries the recall was measured on.
    pub recall_queries: usize,
    /// Seconds the index took to build.
    pub build_secs: f64,
}

/// One cached node state: the input of a model layer for every node of a
/// type, from the full-graph inference the embeddings come from. Applying
/// the model's last layers to these is how a new node is embedded without
/// retraining (layer 0 is the encoded input: id rows and features).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateInfo {
    /// The layer whose input this is, from 0.
    pub layer: usize,
    /// The node type (`user`, `item`, `category`, `shop`, `brand`).
    pub node_type: String,
    /// Nodes (rows); the width is the manifest's `dim`.
    pub rows: usize,
    /// The file ([`files::state`]).
    pub file: String,
}

/// Where a bundle's parameters came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `training` (written by the job at its end) or `checkpoint`
    /// (`coordinator export` from the parameter servers' checkpoints).
    pub kind: String,
    /// The job id whose parameters these are, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// With `checkpoint`: each shard's checkpoint id, in shard order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<u64>,
    /// The lineage: the bundle this model's training resumed from
    /// (`train.resume_from`), or that a `refresh` re-ran on a newer graph,
    /// as its version directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
}

impl Source {
    /// The bundle a job writes at its end.
    pub fn training(job_id: Option<&str>) -> Self {
        Self {
            kind: "training".into(),
            job_id: job_id.map(str::to_owned),
            checkpoints: Vec::new(),
            resumed_from: None,
        }
    }

    /// The same, recording that training resumed from the bundle at `dir`.
    pub fn resumed_from(mut self, dir: Option<&std::path::Path>) -> Self {
        self.resumed_from = dir.map(|d| d.display().to_string());
        self
    }
}

/// `manifest.json` of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`FORMAT_VERSION`] for this crate.
    pub format_version: u32,
    /// The bundle's version in its job directory (`v0003` → 3).
    pub version: u32,
    /// The job's name.
    pub job: String,
    /// The model the embeddings come from (`hgt`).
    pub model: String,
    /// Embedding dimension.
    pub dim: usize,
    /// How a (user, item) pair is scored from the two embeddings: "dot".
    pub score: String,
    /// Users in the bundle.
    pub users: usize,
    /// Items in the bundle.
    pub items: usize,
    /// The job's final metrics of this model (test, and `val_` validation).
    pub metrics: BTreeMap<String, f64>,
    /// Creation time, Unix seconds.
    pub created_unix: u64,
    /// The graph the model was trained on.
    pub graph: GraphRef,
    /// The HNSW index, when the catalogue is large enough to want one.
    pub ann: Option<AnnInfo>,
    /// Every file but the manifest, with its size and checksum.
    pub files: BTreeMap<String, FileInfo>,
    /// The cached per-layer node states (absent in bundles without them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub states: Vec<StateInfo>,
    /// Where the parameters came from (absent in older bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
}

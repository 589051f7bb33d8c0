//! The model bundle a job leaves behind (`tessera_bundle`): the main
//! model's final user and item embeddings from full-graph inference on the
//! graph at test time, each user's history on it (what the evaluation
//! excludes, and so what the recommend service excludes), the items'
//! categories, every layer's input for every node (the states a new node's
//! embedding is computed from), the dense weights as safetensors, the job
//! spec and the graph's fingerprint, with the model's final metrics and
//! where its parameters came from in the manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tch::{nn, Tensor};
use tessera_bundle::manifest::files;
use tessera_bundle::manifest::Source;
use tessera_bundle::neighbours::{ItemWeights, NeighbourhoodInfo};
use tessera_bundle::write::LayerState;
use tessera_bundle::{AnnOptions, Content, GraphRef, RankerWeights};
use tessera_graph::schema::NodeType;
use tessera_graph::store::Graph;
use tessera_job::JobSpec;

use crate::eval::inference::FullGraph;
use crate::eval::samples::item_category;
use crate::model::scorer::Scorer;
use crate::session::ModelSession;

/// What the bundle of one trained model is made from.
pub struct ModelOutput<'a> {
    /// Model name (`hgt`).
    pub model: &'a str,
    /// Final user embeddings (scoring vectors) on `graph`.
    pub users: &'a Tensor,
    /// Final item embeddings (scoring vectors) on `graph`.
    pub items: &'a Tensor,
    /// The model's pair scorer.
    pub scorer: &'a Scorer,
    /// The model's dense weights.
    pub vs: &'a nn::VarStore,
    /// The model's final metrics.
    pub metrics: &'a BTreeMap<String, f64>,
    /// Each user's history on `graph` (dense item ids).
    pub seen: &'a [Vec<u32>],
    /// The ranker, when the job trained one.
    pub ranker: Option<&'a RankerWeights>,
    /// The times of `seen` (aligned), which the ranker's features and a
    /// time-aware neighbourhood term read.
    pub seen_times: &'a [Vec<i64>],
    /// Each layer's input per node type on `graph` (may be empty).
    pub states: &'a [crate::model::TypedTensors],
    /// Every node's PS row per node type (may be empty).
    pub rows: &'a crate::model::TypedTensors,
    /// Where the parameters came from.
    pub source: &'a Source,
    /// The neighbourhood term the job's ranking adds, when it has one.
    pub neighbourhood: Option<(NeighbourhoodInfo, &'a ItemWeights)>,
}

impl<'a> ModelOutput<'a> {
    /// The output of `session`'s model with its full-graph inference
    /// `test` on the graph at test time, whose parameters came from `source`.
    pub fn new(
        session: &'a ModelSession,
        test: &'a FullGraph,
        metrics: &'a BTreeMap<String, f64>,
        seen: &'a [Vec<u32>],
        source: &'a Source,
    ) -> Self {
        Self {
            model: session.name(),
            users: &test.users,
            items: &test.items,
            scorer: &session.model.scorer,
            vs: &session.vs,
            metrics,
            seen,
            ranker: None,
            seen_times: &[],
            states: &test.states,
            rows: &test.rows,
            source,
            neighbourhood: None,
        }
    }

    /// The same with the job's neighbourhood term: `info` over `weights`.
    pub fn with_neighbourhood(mut self, info: NeighbourhoodInfo, weights: &'a ItemWeights) -> Self {
        self.neighbourhood = Some((info, weights));
        self
    }

    /// The same with `ranker` (when there is one) and the history's times.
    pub fn with_ranker(mut self, ranker: Option<&'a RankerWeights>, times: &'a [Vec<i64>]) -> Self {
        (self.ranker, self.seen_times) = (ranker, times);
        self
    }
}

/// `t`'s values as f32, copied off the device, row-major.
pub(crate) fn floats(t: &Tensor) -> anyhow::Result<Vec<f32>> {
    let t = t.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).contiguous().flatten(0, -1);
    Vec::<f32>::try_from(&t).context("copy embeddings off the device")
}

/// The mean of the users' feature rows as `.npy` (the part of the trained
/// users' mean input a new user's own features replace when folded in).
fn user_feature_mean(graph: &Graph) -> anyhow::Result<Vec<u8>> {
    let (values, width) = graph.features(NodeType::User);
    let mean = tessera_bundle::foldin::mean_rows(values, width);
    let mut npy = Vec::new();
    tessera_bundle::npy::write(&mut npy, &[width as u64], &mean).context("encode the user feature mean")?;
    Ok(npy)
}

/// What a new item's fold-in reads beside the states: the raw ids of the
/// grouping nodes whose states the bundle holds (`<type>_ids.npy`) and,
/// when the model reads item features, how the graph encoded them.
fn item_foldin_files(graph: &Graph, out: &ModelOutput<'_>) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut extra = Vec::new();
    if out.states.is_empty() && out.rows.iter().all(Option::is_none) {
        return Ok(extra);
    }
    for t in [NodeType::Category, NodeType::Shop, NodeType::Brand] {
        let has_state = out.states.first().is_some_and(|s| s.get(t.index()).is_some_and(Option::is_some))
            || out.rows.get(t.index()).is_some_and(Option::is_some);
        if has_state {
            let ids = graph.raw_ids(t);
            let mut npy = Vec::new();
            tessera_bundle::npy::write(&mut npy, &[ids.len() as u64], ids)
                .with_context(|| format!("encode the {t} ids"))?;
            extra.push((files::node_ids(t.as_str()), npy));
        }
    }
    let item_info = graph.manifest().node_types.iter().find(|i| i.node_type == NodeType::Item);
    if let Some(info) = item_info.filter(|_| out.vs.variables().contains_key("input.features.item.weight")) {
        extra.push((
            files::ITEM_FEATURES.to_owned(),
            serde_json::to_vec_pretty(info).context("encode item features")?,
        ));
    }
    Ok(extra)
}

/// CRC32 of the graph's manifest, which lists every graph file's checksum.
fn fingerprint(graph: &Graph) -> anyhow::Result<u32> {
    let path = graph.dir().join("manifest.json");
    let bytes = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(crc32fast::hash(&bytes))
}

/// Writes the bundle of `out` as the next version under
/// `<root>/<job name>`; returns its directory, or None for a model whose
/// scores are not a dot product (the MLP scorer), which no index can serve.
///
/// # Errors
/// Non-finite embeddings, or a failure writing the bundle.
pub fn write_bundle(
    root: &Path,
    graph: &Graph,
    spec: &JobSpec,
    out: &ModelOutput<'_>,
) -> anyhow::Result<Option<PathBuf>> {
    if matches!(out.scorer, Scorer::Mlp(_)) {
        tracing::warn!(
            model = out.model,
            "no bundle: the MLP scorer has no nearest-neighbour form; use scorer = \"dot\" to serve"
        );
        return Ok(None);
    }
    let dim = out.users.size().last().copied().unwrap_or(0) as usize;
    let users = floats(out.users)?;
    let items = floats(out.items)?;
    let item_ids = graph.raw_ids(NodeType::Item);
    let categories: Vec<Option<u64>> = (0..item_ids.len() as u32).map(|i| item_category(graph, i)).collect();
    let dense_dir = tempfile_dir(root)?;
    let dense_path = dense_dir.join(files::DENSE);
    out.vs.save(&dense_path).with_context(|| format!("save dense weights to {}", dense_path.display()))?;
    let dense = std::fs::read(&dense_path).with_context(|| format!("read {}", dense_path.display()));
    let _ = std::fs::remove_dir_all(&dense_dir);
    let mut extra = vec![(files::DENSE.to_owned(), dense?)];
    if out.ranker.is_some() || out.neighbourhood.is_some() {
        extra.push((files::SEEN_TIMES.to_owned(), seen_times_file(out.seen, out.seen_times)?));
    }
    if let Some(ranker) = out.ranker {
        extra.push((files::RANKER.to_owned(), serde_json::to_vec(ranker).context("encode the ranker")?));
    }
    if let Some((info, weights)) = &out.neighbourhood {
        extra.extend(tessera_bundle::neighbours::bundle_files(info, weights)?);
    }
    if out.vs.variables().contains_key("input.features.user.weight") {
        extra.push((files::USER_FEATURE_MEAN.to_owned(), user_feature_mean(graph)?));
    }
    extra.extend(item_foldin_files(graph, out)?);
    for (t, rows) in out.rows.iter().enumerate() {
        if let (Some(rows), Some(node_type)) = (rows, NodeType::ALL.get(t)) {
            let values = floats(rows)?;
            let mut npy = Vec::new();
            tessera_bundle::npy::write(&mut npy, &[graph.num_nodes(*node_type) as u64, dim as u64], &values)
                .with_context(|| format!("encode the {node_type} rows"))?;
            extra.push((files::rows(node_type.as_str()), npy));
        }
    }
    let mut state_values = Vec::new();
    for (layer, types) in out.states.iter().enumerate() {
        for (t, state) in types.iter().enumerate() {
            if let (Some(state), Some(node_type)) = (state, NodeType::ALL.get(t)) {
                state_values.push((layer, node_type.as_str(), floats(state)?));
            }
        }
    }
    let states: Vec<LayerState<'_>> = state_values
        .iter()
        .map(|(layer, node_type, values)| LayerState { layer: *layer, node_type, values })
        .collect();
    let spec_toml = toml::to_string(spec).context("encode the job spec")?;
    let graph_ref =
        GraphRef { path: spec.dataset.graph.display().to_string(), fingerprint: fingerprint(graph)? };
    let content = Content {
        job: &spec.name,
        model: out.model,
        spec_toml: &spec_toml,
        metrics: out.metrics,
        graph: &graph_ref,
        dim,
        user_ids: graph.raw_ids(NodeType::User),
        user_vectors: &users,
        item_ids,
        item_categories: &categories,
        item_vectors: &items,
        seen: out.seen,
        extra: &extra,
        states: &states,
        source: Some(out.source),
        seed: spec.seed,
    };
    let (dir, manifest) = tessera_bundle::write(root, &content, &AnnOptions::default())
        .with_context(|| format!("write the model bundle under {}", root.display()))?;
    tracing::info!(
        bundle = %dir.display(),
        model = out.model,
        users = manifest.users,
        items = manifest.items,
        ann_recall_at_10 = manifest.ann.as_ref().map(|a| a.recall_at_10),
        states = manifest.states.len(),
        "wrote the model bundle"
    );
    Ok(Some(dir))
}

/// `ranker.json` and the history's times (`seen_times.npy`, aligned with
/// the sorted history), which the ranker's recency features read.
/// The time of each entry of the users' histories (`seen`, with `times`
/// aligned per user) as `seen_times.npy`.
fn seen_times_file(seen: &[Vec<u32>], times: &[Vec<i64>]) -> anyhow::Result<Vec<u8>> {
    let mut flat = Vec::new();
    for (u, items) in seen.iter().enumerate() {
        let t = times.get(u).filter(|t| t.len() == items.len());
        anyhow::ensure!(
            items.windows(2).all(|w| w[0] < w[1]),
            "user {u}'s history is not sorted and distinct, so its times cannot be aligned"
        );
        flat.extend((0..items.len()).map(|k| t.map_or(0, |t| t[k])));
    }
    let mut npy = Vec::new();
    tessera_bundle::npy::write(&mut npy, &[flat.len() as u64], &flat)
        .context("encode the history's times")?;
    Ok(npy)
}

/// A fresh scratch directory under `root` for the dense weights.
fn tempfile_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join(format!(".dense-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

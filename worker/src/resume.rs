//! Resuming from an earlier bundle (`train.resume_from`, `coordinator submit
//! --resume-from`): the job's model starts from the bundle's dense weights
//! (`dense.safetensors`) and embedding rows (`rows_<type>.npy`) instead of
//! fresh ones, and trains on the job's graph, typically rebuilt from
//! appended logs with `extends`. Rows are matched by raw id, so every node
//! the bundle knew keeps its trained row and new nodes get fresh ones. Each
//! table is seeded once: on the shards whose table this worker created, so
//! a worker that joins later (or replaces a dead one) never overwrites rows
//! already trained. The bundle must hold the same model at the same
//! dimension; anything else is refused, naming what differs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tch::nn;
use tessera_bundle::manifest::{files, Manifest};
use tessera_bundle::read::{read_listed, resumable};
use tessera_graph::idmap::RawIndex;
use tessera_graph::schema::NodeType;
use tessera_graph::store::Graph;

use crate::params::Params;

/// Rows assigned per request.
const ASSIGN_CHUNK: usize = 8_192;

/// The bundle a job resumes from, checked.
#[derive(Debug, Clone)]
pub struct Resume {
    dir: PathBuf,
    manifest: Manifest,
    /// Whether nodes the bundle lacks get zero rows (a refresh, which does
    /// not train them) instead of the table's fresh ones.
    zero_new: bool,
}

/// The raw-id file of `node_type` in a bundle.
fn raw_ids_file(node_type: NodeType) -> String {
    match node_type {
        NodeType::User => files::USER_IDS.to_owned(),
        NodeType::Item => files::ITEM_IDS.to_owned(),
        other => files::node_ids(other.as_str()),
    }
}

/// The bundle `spec` resumes its model `kind` from: its main model when
/// `train.resume_from` is set (the baselines train afresh), checked.
///
/// # Errors
/// As [`Resume::open`].
pub fn resume_for(
    spec: &tessera_job::JobSpec,
    kind: crate::model::ModelKind,
) -> anyhow::Result<Option<Resume>> {
    match &spec.train.resume_from {
        Some(path) if spec.models().first() == Some(&kind) => {
            Resume::open(path, kind.as_str(), spec.model.dim as usize).map(Some)
        }
        _ => Ok(None),
    }
}

impl Resume {
    /// The bundle `path` names (a version, or a job's bundle directory whose
    /// `LATEST` version is taken), checked to seed a `model` of `dim`.
    ///
    /// # Errors
    /// No bundle there, another model or dimension, or a bundle without the
    /// dense weights and rows a resume reads.
    pub fn open(path: &Path, model: &str, dim: usize) -> anyhow::Result<Self> {
        let (dir, manifest) = resumable(path, model, dim).context("train.resume_from")?;
        Ok(Self { dir, manifest, zero_new: false })
    }

    /// The same, giving the nodes the bundle lacks zero rows when `zero`
    /// (a refresh: what an untrained row is on average).
    pub fn new_rows_zero(mut self, zero: bool) -> Self {
        self.zero_new = zero;
        self
    }

    /// The version directory resumed from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads the bundle's dense weights into `vs` (before they are
    /// registered on the PS); weights the bundle lacks (a relation new in
    /// this graph) keep their fresh values.
    ///
    /// # Errors
    /// An unreadable file or a weight of another shape.
    pub fn load_dense(&self, vs: &mut nn::VarStore) -> anyhow::Result<()> {
        let path = self.dir.join(files::DENSE);
        let missing = vs.load_partial(&path).with_context(|| format!("load {}", path.display()))?;
        if !missing.is_empty() {
            tracing::warn!(bundle = %self.dir.display(), missing = ?missing, "weights new to this graph start fresh");
        }
        Ok(())
    }

    /// The bundle's raw ids and rows of `node_type`, when it has them.
    fn rows(&self, node_type: NodeType) -> anyhow::Result<Option<(Vec<u64>, Vec<f32>)>> {
        let (ids_name, rows_name) = (raw_ids_file(node_type), files::rows(node_type.as_str()));
        if !self.manifest.files.contains_key(&ids_name) || !self.manifest.files.contains_key(&rows_name) {
            return Ok(None);
        }
        let read = |name: &str| read_listed(&self.dir, &self.manifest, name);
        let (ids, _) = tessera_bundle::npy::read::<u64>(&read(&ids_name)?, &self.dir.join(&ids_name))?;
        let (rows, shape) = tessera_bundle::npy::read::<f32>(&read(&rows_name)?, &self.dir.join(&rows_name))?;
        anyhow::ensure!(
            shape == [ids.len() as u64, self.manifest.dim as u64],
            "{}: shape {shape:?} for {} ids of dim {}",
            rows_name,
            ids.len(),
            self.manifest.dim
        );
        Ok(Some((ids, rows)))
    }

    /// Seeds `params`' tables from the bundle's rows, on the shards each
    /// table was just created on (`created`, from `Params::create_tables`),
    /// matching raw ids against the job's whole graph at `graph_dir`.
    ///
    /// # Errors
    /// An unreadable bundle or graph, or a PS that refuses.
    pub async fn seed_rows(
        &self,
        params: &Params,
        graph_dir: &Path,
        created: &[(NodeType, Vec<bool>)],
    ) -> anyhow::Result<()> {
        if created.iter().all(|(_, shards)| !shards.contains(&true)) {
            return Ok(());
        }
        let graph = Graph::open(graph_dir).with_context(|| format!("open {}", graph_dir.display()))?;
        let dim = self.manifest.dim;
        for (node_type, shards) in created.iter().filter(|(_, s)| s.contains(&true)) {
            let Some((raw, rows)) = self.rows(*node_type)? else { continue };
            let index = RawIndex::new(graph.raw_ids(*node_type));
            let (mut ids, mut values) = (Vec::new(), Vec::new());
            for (k, &r) in raw.iter().enumerate() {
                if let Some(d) = index.dense(r) {
                    ids.push(u64::from(d));
                    values.extend_from_slice(&rows[k * dim..(k + 1) * dim]);
                }
            }
            let carried = ids.len();
            if self.zero_new {
                let known = RawIndex::new(&raw);
                for (d, &r) in graph.raw_ids(*node_type).iter().enumerate() {
                    if known.dense(r).is_none() {
                        ids.push(d as u64);
                        values.extend(std::iter::repeat_n(0f32, dim));
                    }
                }
            }
            for (chunk, vals) in ids.chunks(ASSIGN_CHUNK).zip(values.chunks(ASSIGN_CHUNK * dim)) {
                params.assign(*node_type, chunk, vals, shards).await?;
            }
            tracing::info!(
                node_type = %node_type,
                carried,
                new = graph.num_nodes(*node_type).saturating_sub(carried),
                dropped = raw.len() - carried,
                new_rows_zero = self.zero_new,
                bundle = %self.dir.display(),
                "resumed rows"
            );
        }
        Ok(())
    }
}

//! The worker's one door to the parameter servers: embedding tables per
//! (model, node type) and the model's dense weights, pulled and pushed
//! through `ps_client::ShardedClient`. Model code never calls it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use ps_client::{Fence, ShardedClient};
use tch::{nn, Tensor};
use tessera_graph::schema::NodeType;
use tessera_proto::ps::v1 as pb;

use tessera_job::{OptimizerKind, OptimizerSpec};

/// Standard deviation of new embedding rows.
pub const INIT_STD: f32 = 0.1;

/// Converts a job-spec optimizer to the protocol's.
pub fn optimizer(spec: &OptimizerSpec) -> pb::OptimizerSpec {
    let lr = spec.lr as f32;
    let kind = match spec.kind {
        OptimizerKind::Sgd => pb::optimizer_spec::Kind::Sgd(pb::Sgd { lr }),
        OptimizerKind::Adagrad => {
            pb::optimizer_spec::Kind::Adagrad(pb::Adagrad { lr, initial_accumulator: 0.0, eps: 1e-10 })
        }
        OptimizerKind::Adam => {
            pb::optimizer_spec::Kind::Adam(pb::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 })
        }
    };
    pb::OptimizerSpec { kind: Some(kind), weight_decay: spec.weight_decay as f32 }
}

/// Parameters of one model on the PS.
#[derive(Debug, Clone)]
pub struct Params {
    client: Arc<ShardedClient>,
    /// The job's namespace: the prefix of its names and its fencing scope.
    scope: String,
    model: String,
    dim: usize,
    fencing: Arc<AtomicU64>,
}

impl Params {
    /// Parameters of `model` (a name such as `hgt`) in a job's PS
    /// namespace (`ps_client::routing::job_namespace` of its id), with rows
    /// of `dim`.
    pub fn new(
        client: Arc<ShardedClient>,
        namespace: &str,
        model: &str,
        dim: usize,
        fencing: Arc<AtomicU64>,
    ) -> Self {
        let scope = namespace.to_owned();
        Self { client, model: format!("{scope}_{model}"), scope, dim, fencing }
    }

    /// The table of a node type.
    pub fn table(&self, node_type: NodeType) -> String {
        format!("{}_{}", self.model, node_type.as_str())
    }

    /// Row size.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Creates the tables (kept when they exist); returns, per type, which
    /// shards this call created its table on.
    ///
    /// # Errors
    /// Fails when a shard refuses or is unreachable.
    pub async fn create_tables(
        &self,
        counts: &[(NodeType, u64)],
        spec: &OptimizerSpec,
        seed: u64,
    ) -> anyhow::Result<Vec<(NodeType, Vec<bool>)>> {
        let optimizer = optimizer(spec);
        let mut created = Vec::with_capacity(counts.len());
        for &(t, count) in counts {
            let table = pb::TableSpec {
                name: self.table(t),
                dim: self.dim as u32,
                optimizer: Some(optimizer),
                init: Some(pb::InitSpec { kind: Some(pb::init_spec::Kind::NormalStd(INIT_STD)), seed }),
                num_ids: count,
                non_finite: 0,
                clip_value: 0.0,
            };
            let on = self
                .client
                .create_table(&table)
                .await
                .with_context(|| format!("create table {}", table.name))?;
            created.push((t, on));
        }
        Ok(created)
    }

    /// Sets rows of `ids` (global, unique) of a type to `values`, on the
    /// shards `shards` marks (see `ShardedClient::assign`).
    ///
    /// # Errors
    /// Fails when a shard refuses or stays unreachable.
    pub async fn assign(
        &self,
        node_type: NodeType,
        ids: &[u64],
        values: &[f32],
        shards: &[bool],
    ) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let table = self.table(node_type);
        Ok(self.client.assign(&table, ids, values, self.dim, self.fence(), shards).await?)
    }

    /// Rows of `ids` (global) of a type, row-major.
    ///
    /// # Errors
    /// Fails when a shard refuses or stays unreachable.
    pub async fn pull(&self, node_type: NodeType, ids: &[u64], clock: u64) -> anyhow::Result<Vec<f32>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (values, dim) = self.client.pull(&self.table(node_type), ids, clock).await?;
        anyhow::ensure!(
            dim == self.dim,
            "table {} has dim {dim}, expected {}",
            self.table(node_type),
            self.dim
        );
        Ok(values)
    }

    /// Pushes row gradients (ids unique).
    ///
    /// # Errors
    /// Fails when a shard refuses (a stale fencing token, say) or stays unreachable.
    pub async fn push(
        &self,
        node_type: NodeType,
        ids: &[u64],
        grads: &[f32],
        clock: u64,
    ) -> anyhow::Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let fence = self.fence();
        Ok(self.client.push(&self.table(node_type), ids, grads, self.dim, fence, clock).await?)
    }

    /// The fence every push carries: the job's scope and its latest token.
    fn fence(&self) -> Fence<'_> {
        Fence { scope: &self.scope, token: self.fencing.load(Ordering::Acquire) }
    }

    fn dense_name(&self, name: &str) -> String {
        format!("{}/{name}", self.model)
    }

    /// Registers the dense weights of `vs` (existing ones on the PS win)
    /// and loads the PS values into `vs`.
    ///
    /// # Errors
    /// Fails when a shard refuses or is unreachable.
    pub async fn init_dense(&self, vs: &nn::VarStore, spec: &OptimizerSpec) -> anyhow::Result<()> {
        let tensors: Vec<_> =
            named(vs).into_iter().map(|(n, t)| (self.dense_name(&n), shape(&t), values(&t))).collect();
        if tensors.is_empty() {
            return Ok(());
        }
        self.client.init_dense(&tensors, &optimizer(spec)).await.context("register dense weights")?;
        self.pull_dense(vs).await
    }

    /// Loads the PS's dense weights into `vs`.
    ///
    /// # Errors
    /// Fails when a weight is missing or has another shape.
    pub async fn pull_dense(&self, vs: &nn::VarStore) -> anyhow::Result<()> {
        let vars = named(vs);
        if vars.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = vars.keys().map(|n| self.dense_name(n)).collect();
        let pulled = self.client.pull_dense(&names).await.context("pull dense weights")?;
        tch::no_grad(|| -> anyhow::Result<()> {
            for ((_, var), (name, shape_, vals)) in vars.iter().zip(pulled) {
                let want = shape(var);
                anyhow::ensure!(
                    shape_ == want,
                    "dense {name} has shape {shape_:?}, the model wants {want:?}"
                );
                let dims: Vec<i64> = want.iter().map(|&d| d as i64).collect();
                let mut var = var.shallow_clone();
                var.copy_(&Tensor::from_slice(&vals).view(dims.as_slice()).to_device(var.device()));
            }
            Ok(())
        })
    }

    /// Pushes dense gradients `(name, grad)` (names as in the VarStore).
    ///
    /// # Errors
    /// Fails when a shard refuses or stays unreachable.
    pub async fn push_dense(&self, grads: Vec<(String, Vec<u64>, Vec<f32>)>) -> anyhow::Result<()> {
        if grads.is_empty() {
            return Ok(());
        }
        let grads: Vec<_> = grads.into_iter().map(|(n, s, v)| (self.dense_name(&n), s, v)).collect();
        Ok(self.client.push_dense(&grads, self.fence()).await?)
    }
}

/// The VarStore's variables by name, sorted.
pub fn named(vs: &nn::VarStore) -> BTreeMap<String, Tensor> {
    vs.variables().into_iter().collect()
}

/// A tensor's shape as PS dims (scalars become `[1]`).
pub fn shape(t: &Tensor) -> Vec<u64> {
    let s: Vec<u64> = t.size().iter().map(|&d| d as u64).collect();
    if s.is_empty() {
        vec![1]
    } else {
        s
    }
}

/// A tensor's values as f32, row-major.
pub fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.detach().to_device(tch::Device::Cpu).flatten(0, -1)).unwrap_or_default()
}

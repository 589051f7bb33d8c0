//! One model of a job, set up for training and evaluation: its config from
//! the spec, the edge types it reads, its weights, its PS tables and the run
//! options. Standalone and distributed workers both go through it.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ps_server::client::ShardedClient;
use tch::{nn, Device};
use tessera_graph::sample::{pagerank, MessageGraph, NeighborSampler, Weighting};
use tessera_graph::schema::{Behavior, NodeType, RelationKind};
use tessera_graph::store::Graph;
use tokio::runtime::Handle;

use crate::eval::inference::embeddings;
use crate::eval::metrics::{evaluate, EvalData, Evaluation};
use crate::model::{Config, Model, ModelKind, Schema};
use crate::params::Params;
use crate::train::run::{run, Control, Progress, RunOptions, RunSummary};
use crate::train::step::StepTasks;
use crate::view::TrainView;
use coordinator::job::spec::{JobSpec, NegativeKind};

/// The model config a spec asks for, for model `kind`.
pub fn model_config(spec: &JobSpec, kind: ModelKind) -> Config {
    let m = &spec.model;
    Config {
        kind,
        dim: i64::from(m.dim),
        layers: m.layers as usize,
        heads: i64::from(m.heads),
        dropout: m.dropout,
        features: m.features,
        num_bases: m.num_bases as usize,
        temporal: m.temporal && kind == ModelKind::Hgt,
        id_dropout: if matches!(kind, ModelKind::Hgt | ModelKind::Rgcn) && m.features {
            m.id_dropout
        } else {
            0.0
        },
        mlp_scorer: m.scorer == coordinator::job::spec::Scorer::Mlp,
        layer_mean: m.layer_mean && kind != ModelKind::Mf,
        identity_init: m.init == coordinator::job::spec::LayerInit::Identity,
    }
}

/// The edge types a model reads: LightGCN and MF the user–item behaviours,
/// the others every relation in both directions.
pub fn message_graph(graph: &Graph, kind: ModelKind) -> MessageGraph<'_> {
    let all = MessageGraph::new(graph);
    match kind {
        ModelKind::Lightgcn | ModelKind::Mf => all.filtered(|e| matches!(e.kind, RelationKind::Behavior(_))),
        _ => all,
    }
}

/// Reference time for edge ages: the end of the log.
pub fn graph_now(graph: &Graph) -> i64 {
    graph.manifest().report.time_range.1
}

/// One model with its weights and parameters.
pub struct ModelSession {
    /// Family.
    pub kind: ModelKind,
    /// Dense weights (mirrors of the PS's).
    pub vs: nn::VarStore,
    /// The model.
    pub model: Model,
    /// Category head of the node-classification task.
    pub head: Option<nn::Linear>,
    /// PS tables and dense weights.
    pub params: Params,
    schema: Schema,
}

impl std::fmt::Debug for ModelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSession").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl ModelSession {
    /// Builds the model for `graph`'s schema (a partition or the whole graph:
    /// they share relations and features) and registers its parameters.
    ///
    /// # Errors
    /// Fails when the PS refuses or is unreachable.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rt: &Handle,
        graph: &Graph,
        spec: &JobSpec,
        kind: ModelKind,
        client: Arc<ShardedClient>,
        fencing: Arc<AtomicU64>,
        global_counts: &[(NodeType, u64)],
        num_categories: i64,
        device: Device,
    ) -> anyhow::Result<Self> {
        tch::manual_seed(spec.seed as i64);
        let config = model_config(spec, kind);
        let messages = message_graph(graph, kind);
        let schema = Schema::of(graph, &messages);
        let vs = nn::VarStore::new(device);
        let model = Model::new(&vs.root(), &config, &schema);
        let head = (spec.tasks.gamma > 0.0 && num_categories > 0)
            .then(|| nn::linear(vs.root() / "category_head", config.dim, num_categories, Default::default()));
        let params = Params::new(client, kind.as_str(), spec.model.dim as usize, fencing);
        rt.block_on(params.create_tables(global_counts, &spec.train.embeddings, spec.seed))
            .context("create embedding tables")?;
        rt.block_on(params.init_dense(&vs, &spec.train.dense)).context("register dense weights")?;
        Ok(Self { kind, vs, model, head, params, schema })
    }

    /// Run options from the spec.
    pub fn run_options(
        &self,
        spec: &JobSpec,
        graph: &Graph,
        start: (u32, u64),
        device: Device,
    ) -> RunOptions {
        let main_behavior = match spec.tasks.target.as_str() {
            "all" => None,
            name => name.parse::<Behavior>().ok().map(|b| b.index() as u8),
        };
        RunOptions {
            epochs: spec.train.epochs,
            batch_size: spec.train.batch_size as usize,
            max_steps_per_epoch: spec.train.max_steps_per_epoch,
            fanouts: if self.kind == ModelKind::Mf { Vec::new() } else { spec.sampler.fanouts.clone() },
            weighting: match spec.sampler.weighting {
                coordinator::job::spec::Weighting::Uniform => Weighting::Uniform,
                coordinator::job::spec::Weighting::Decay => Weighting::Decay,
                coordinator::job::spec::Weighting::Pagerank => {
                    let mut counts = [0usize; NodeType::ALL.len()];
                    for t in NodeType::ALL {
                        counts[t.index()] = graph.num_nodes(t);
                    }
                    Weighting::Importance(pagerank(&message_graph(graph, self.kind), &counts))
                }
            },
            per_relation: spec.sampler.per_relation,
            tasks: StepTasks {
                tasks: spec.tasks.clone(),
                main_behavior,
                negatives: spec.negatives.num as usize,
                hard_ratio: spec.negatives.hard_ratio,
            },
            popularity_negatives: spec.negatives.kind == NegativeKind::Popularity,
            dense_sync_every: spec.train.dense_sync_every,
            deterministic: spec.train.deterministic,
            seed: spec.seed,
            report_every: spec.cluster.report_interval.min(Duration::from_secs(5)),
            start,
            now: graph_now(graph),
            device,
        }
    }

    /// Trains on `view` (whose graph must be the one given to `new`, or one
    /// with the same relations).
    ///
    /// # Errors
    /// Fails when the PS refuses a request or stays unreachable.
    pub fn train(
        &self,
        rt: &Handle,
        view: &TrainView<'_>,
        options: &RunOptions,
        on_progress: &mut dyn FnMut(&Progress) -> Control,
    ) -> anyhow::Result<RunSummary> {
        let messages = message_graph(view.graph, self.kind);
        anyhow::ensure!(
            Schema::of(view.graph, &messages) == self.schema,
            "the training graph's relations or features differ from the model's"
        );
        let mut sampler = NeighborSampler::new(&messages, options.fanouts.clone(), options.weighting.clone());
        sampler.per_relation = options.per_relation;
        run(rt, view, &sampler, &self.model, &self.vs, self.head.as_ref(), &self.params, options, on_progress)
    }

    /// Full-graph inference on `graph` (the whole graph) and the metrics on
    /// the test targets, or on the validation targets of at most
    /// `max_users` users (0 = all) when `valid`.
    ///
    /// # Errors
    /// Fails when the PS refuses or is unreachable.
    pub fn evaluate(
        &self,
        rt: &Handle,
        graph: &Graph,
        spec: &JobSpec,
        valid: bool,
        max_users: usize,
        device: Device,
    ) -> anyhow::Result<Evaluation> {
        rt.block_on(self.params.pull_dense(&self.vs)).context("refresh dense weights")?;
        let messages = message_graph(graph, self.kind);
        let (users, items) =
            embeddings(rt, graph, &messages, &self.model, &self.params, graph_now(graph), device)?;
        let mut data = EvalData::of(graph, valid);
        data.limit_users(max_users, spec.seed);
        Ok(evaluate(
            &users,
            &items,
            &self.model.scorer,
            &data,
            &spec.eval.ks,
            spec.eval.sampled_negatives,
            spec.seed,
        ))
    }

    /// The device the model lives on.
    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The model's name in metric keys and reports.
    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }
}

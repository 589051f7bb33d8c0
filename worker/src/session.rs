//! One model of a job, set up for training and evaluation: its config from
//! the spec, the edge types it reads, its weights, its PS tables and the run
//! options. Standalone and distributed workers both go through it.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ps_client::ShardedClient;
use tch::{nn, Device};
use tessera_graph::partition::merge;
use tessera_graph::sample::{
    pagerank, ClusterSampler, MessageGraph, NeighborSampler, WalkGraph, WalkParams, Weighting,
};
use tessera_graph::schema::{Behavior, NodeType, RelationKind};
use tessera_graph::store::Graph;
use tokio::runtime::Handle;

use crate::eval::inference::{full_graph, FullGraph};
use crate::eval::metrics::{evaluate, EvalData, Evaluation};
use crate::eval::scores::EmbeddingScores;
use crate::model::{Config, Model, ModelKind, Schema};
use crate::params::Params;
use crate::resume::Resume;
use crate::train::batch::{Batcher, ClusterBatches};
use crate::train::run::{run, Control, Progress, RunOptions, RunSummary, SamplerChoice};
use crate::train::step::StepTasks;
use crate::view::TrainView;
use tessera_job::{JobSpec, NegativeKind, SamplerKind, Target};

/// The model config a spec asks for, for model `kind`, on a graph whose
/// rows have times (`timed`) or not: without times there is no temporal
/// encoding, whatever the spec says.
pub fn model_config(spec: &JobSpec, kind: ModelKind, timed: bool) -> Config {
    let m = &spec.model;
    Config {
        kind,
        dim: i64::from(m.dim),
        layers: m.layers as usize,
        heads: i64::from(m.heads),
        dropout: m.dropout,
        features: m.features,
        num_bases: m.num_bases as usize,
        temporal: m.temporal && kind == ModelKind::Hgt && timed,
        id_dropout: if matches!(kind, ModelKind::Hgt | ModelKind::Rgcn) && m.features {
            m.id_dropout
        } else {
            0.0
        },
        mlp_scorer: m.scorer == tessera_job::Scorer::Mlp,
        layer_mean: m.layer_mean && kind != ModelKind::Mf,
        identity_init: m.init == tessera_job::LayerInit::Identity,
        edge_importance: matches!(sampler_choice(spec, kind), SamplerChoice::RandomWalk(_)),
        temperature: m.temperature,
    }
}

/// The sampler model `kind` trains with: the job's, except for MF, which
/// has no neighbourhood and trains on slices of the positive edges.
pub fn sampler_choice(spec: &JobSpec, kind: ModelKind) -> SamplerChoice {
    let s = &spec.sampler;
    match s.kind {
        _ if kind == ModelKind::Mf => SamplerChoice::Neighbor,
        SamplerKind::Neighbor => SamplerChoice::Neighbor,
        SamplerKind::Cluster => {
            SamplerChoice::Cluster { sub_parts: s.sub_parts, parts_per_batch: s.parts_per_batch }
        }
        SamplerKind::RandomWalk => SamplerChoice::RandomWalk(WalkParams {
            walks: s.walks,
            walk_length: s.walk_length,
            restart: s.restart,
            top_t: s.top_t,
        }),
    }
}

/// What a model reads from a graph: the stored relations, or the random-walk
/// neighbourhoods built over them.
#[derive(Debug)]
pub enum Neighbourhoods<'g> {
    /// Stored relations in both directions.
    Stored(MessageGraph<'g>),
    /// PinSAGE neighbourhoods.
    Walks(WalkGraph),
}

impl Neighbourhoods<'_> {
    /// The edge types to sample and aggregate.
    pub fn messages(&self) -> MessageGraph<'_> {
        match self {
            Self::Stored(m) => m.clone(),
            Self::Walks(w) => w.messages(),
        }
    }
}

/// The neighbourhoods model `kind` reads from `graph` with `sampler`. With
/// `schema_only`, random walks are not run (the edge types are the same).
pub fn neighbourhoods<'g>(
    graph: &'g Graph,
    kind: ModelKind,
    sampler: &SamplerChoice,
    seed: u64,
    schema_only: bool,
) -> Neighbourhoods<'g> {
    let stored = message_graph(graph, kind);
    let SamplerChoice::RandomWalk(params) = sampler else { return Neighbourhoods::Stored(stored) };
    let counts: Vec<usize> =
        NodeType::ALL.iter().map(|&t| if schema_only { 0 } else { graph.num_nodes(t) }).collect();
    let started = std::time::Instant::now();
    let walks = WalkGraph::build(&stored, &counts, params, seed);
    if !schema_only {
        tracing::info!(
            edges = walks.num_edges(),
            secs = started.elapsed().as_secs_f64(),
            "random-walk neighbourhoods built"
        );
    }
    Neighbourhoods::Walks(walks)
}

/// Each node's METIS sub-part of `graph` (per node type index), for
/// Cluster-GCN.
///
/// # Errors
/// Fails when the graph is too large for METIS or METIS fails.
pub fn sub_parts(graph: &Graph, parts: u32, seed: u64) -> anyhow::Result<Vec<Vec<u32>>> {
    let merged = merge(graph).context("merge the training graph for Cluster-GCN")?;
    // No more sub-parts than nodes: METIS cannot fill empty parts.
    let parts = parts.min(merged.num_vertices().max(1) as u32);
    let assignment = if parts <= 1 {
        vec![0; merged.num_vertices()]
    } else {
        tessera_graph::partition::metis_assignment(&merged, parts, seed, 1.05)
            .context("split the training graph into Cluster-GCN sub-parts")?
    };
    let mut part_of: Vec<Vec<u32>> = NodeType::ALL.iter().map(|&t| vec![0; graph.num_nodes(t)]).collect();
    for (v, &p) in assignment.iter().enumerate() {
        let (t, id) = merged.space.local(v);
        part_of[t.index()][id as usize] = p;
    }
    Ok(part_of)
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
    /// they share relations and features) and registers its parameters
    /// under the job's PS `namespace` (`job_namespace` of its id).
    ///
    /// # Errors
    /// Fails when the PS refuses or is unreachable.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rt: &Handle,
        graph: &Graph,
        namespace: &str,
        spec: &JobSpec,
        kind: ModelKind,
        client: Arc<ShardedClient>,
        fencing: Arc<AtomicU64>,
        global_counts: &[(NodeType, u64)],
        num_categories: i64,
        device: Device,
        resume: Option<&Resume>,
    ) -> anyhow::Result<Self> {
        tch::manual_seed(spec.seed as i64);
        let timed = graph.manifest().report.timed;
        if !timed && spec.model.temporal && kind == ModelKind::Hgt {
            tracing::warn!(
                model = kind.as_str(),
                "model.temporal is set, but the graph has no times: temporal encoding is off"
            );
        }
        let config = model_config(spec, kind, timed);
        let hoods = neighbourhoods(graph, kind, &sampler_choice(spec, kind), spec.seed, true);
        let schema = Schema::of(graph, &hoods.messages());
        let mut vs = nn::VarStore::new(device);
        let model = Model::new(&vs.root(), &config, &schema);
        let head = (spec.tasks.gamma > 0.0 && num_categories > 0)
            .then(|| nn::linear(vs.root() / "category_head", config.dim, num_categories, Default::default()));
        let params = Params::new(client, namespace, kind.as_str(), spec.model.dim as usize, fencing);
        let created = rt
            .block_on(params.create_tables(global_counts, &spec.train.embeddings, spec.seed))
            .context("create embedding tables")?;
        if let Some(resume) = resume {
            resume.load_dense(&mut vs)?;
            rt.block_on(resume.seed_rows(&params, &spec.dataset.graph, &created))
                .with_context(|| format!("seed the tables from {}", resume.dir().display()))?;
        }
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
        let main_behavior = match spec.tasks.target {
            Target::All => None,
            Target::Click => Some(Behavior::Click),
            Target::Cart => Some(Behavior::Cart),
            Target::Fav => Some(Behavior::Fav),
            Target::Buy => Some(Behavior::Buy),
        }
        .map(|b| b.index() as u8);
        let sampler = sampler_choice(spec, self.kind);
        RunOptions {
            epochs: spec.train.epochs,
            batch_size: spec.train.batch_size as usize,
            max_steps_per_epoch: spec.train.max_steps_per_epoch,
            fanouts: match &sampler {
                _ if self.kind == ModelKind::Mf => Vec::new(),
                // Every walk neighbour, at every layer.
                SamplerChoice::RandomWalk(p) => vec![p.top_t; spec.model.layers as usize],
                _ => spec.sampler.fanouts.clone(),
            },
            sampler,
            weighting: match spec.sampler.weighting {
                tessera_job::Weighting::Uniform => Weighting::Uniform,
                tessera_job::Weighting::Decay => Weighting::Decay,
                tessera_job::Weighting::Pagerank => {
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
                popularity_negatives: spec.negatives.kind == NegativeKind::Popularity,
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
        let hoods = neighbourhoods(view.graph, self.kind, &options.sampler, options.seed, false);
        let messages = hoods.messages();
        anyhow::ensure!(
            Schema::of(view.graph, &messages) == self.schema,
            "the training graph's relations or features differ from the model's"
        );
        let batcher = match options.sampler {
            SamplerChoice::Cluster { sub_parts: parts, parts_per_batch } => {
                let part_of = sub_parts(view.graph, parts, options.seed)?;
                let layers = self.model.config.num_layers();
                let sampler = ClusterSampler::new(&messages, part_of, parts_per_batch as usize, layers);
                Batcher::Cluster(ClusterBatches::new(sampler, &view.positives))
            }
            _ => {
                let mut sampler =
                    NeighborSampler::new(&messages, options.fanouts.clone(), options.weighting.clone());
                sampler.per_relation = options.per_relation;
                Batcher::Neighbor(sampler)
            }
        };
        run(rt, view, &batcher, &self.model, &self.vs, self.head.as_ref(), &self.params, options, on_progress)
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
        let (users, items) = self.embeddings(rt, graph, spec, device)?;
        let mut data = EvalData::of(graph, valid);
        data.limit_users(max_users, spec.seed);
        let scores = EmbeddingScores::new(&users, &items, &self.model.scorer);
        Ok(evaluate(&scores, &data, &spec.eval.ks, spec.eval.sampled_negatives, spec.seed))
    }

    /// Full-graph inference on `graph` (the whole graph) with the latest
    /// weights: every user's and every item's final embedding.
    ///
    /// # Errors
    /// Fails when the PS refuses or is unreachable.
    pub fn embeddings(
        &self,
        rt: &Handle,
        graph: &Graph,
        spec: &JobSpec,
        device: Device,
    ) -> anyhow::Result<(tch::Tensor, tch::Tensor)> {
        let out = self.full_graph(rt, graph, spec, device, false)?;
        Ok((out.users, out.items))
    }

    /// [`ModelSession::embeddings`], with each layer's input for every node
    /// when `keep_states`.
    ///
    /// # Errors
    /// Fails when the PS refuses or is unreachable.
    pub fn full_graph(
        &self,
        rt: &Handle,
        graph: &Graph,
        spec: &JobSpec,
        device: Device,
        keep_states: bool,
    ) -> anyhow::Result<FullGraph> {
        rt.block_on(self.params.pull_dense(&self.vs)).context("refresh dense weights")?;
        let hoods = neighbourhoods(graph, self.kind, &sampler_choice(spec, self.kind), spec.seed, false);
        let messages = hoods.messages();
        full_graph(rt, graph, &messages, &self.model, &self.params, graph_now(graph), device, keep_states)
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

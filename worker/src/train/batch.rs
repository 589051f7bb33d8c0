//! Batches: positive edges, their negatives, and the block sampled around
//! the seed users and items. A `Batcher` plans each epoch and builds its
//! batches: fixed-size slices of the shuffled positive edges with a
//! neighbour-sampled block (the `neighbor` and `random_walk` samplers), or
//! Cluster-GCN subgraphs with every positive edge inside them (`cluster`).

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_graph::sample::{Block, ClusterSampler, NeighborSampler};
use tessera_graph::schema::NodeType;

use crate::train::negatives::NegativeSampler;
use crate::view::TrainView;

/// One training batch before its rows are pulled.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Global step number.
    pub step: u64,
    /// Users of the positive edges.
    pub users: Vec<u32>,
    /// Items of the positive edges.
    pub items: Vec<u32>,
    /// Behaviour index of each positive edge.
    pub behaviors: Vec<u8>,
    /// `negatives_per_positive` items per positive edge.
    pub negatives: Vec<u32>,
    /// The sampled block.
    pub block: Block,
    /// Block positions of `users`.
    pub user_pos: Vec<u32>,
    /// Block positions of `items` then `negatives`.
    pub item_pos: Vec<u32>,
    /// Seconds spent sampling.
    pub sample_secs: f64,
}

/// Builds a batch from `edges` (user, item, behaviour).
pub fn make_batch(
    step: u64,
    edges: &[(u32, u32, u8)],
    negatives_per_positive: usize,
    negatives: &NegativeSampler,
    sampler: &NeighborSampler<'_>,
    rng: &mut impl Rng,
) -> Batch {
    let started = std::time::Instant::now();
    let negs: Vec<u32> = (0..edges.len() * negatives_per_positive).map(|_| negatives.draw(rng)).collect();
    let mut seeds = vec![Vec::new(); NodeType::ALL.len()];
    seeds[NodeType::User.index()] = edges.iter().map(|e| e.0).collect();
    seeds[NodeType::Item.index()] = edges.iter().map(|e| e.1).chain(negs.iter().copied()).collect();
    let (block, mut positions) = sampler.sample(&seeds, rng);
    let user_pos = std::mem::take(&mut positions[NodeType::User.index()]);
    let item_pos = std::mem::take(&mut positions[NodeType::Item.index()]);
    Batch::assemble(step, edges, negs, block, user_pos, item_pos, started)
}

impl Batch {
    /// A batch of `edges` (user, item, behaviour) with its negatives, block
    /// and block positions, sampled since `started`.
    fn assemble(
        step: u64,
        edges: &[(u32, u32, u8)],
        negatives: Vec<u32>,
        block: Block,
        user_pos: Vec<u32>,
        item_pos: Vec<u32>,
        started: std::time::Instant,
    ) -> Self {
        Self {
            step,
            users: edges.iter().map(|e| e.0).collect(),
            items: edges.iter().map(|e| e.1).collect(),
            behaviors: edges.iter().map(|e| e.2).collect(),
            negatives,
            block,
            user_pos,
            item_pos,
            sample_secs: started.elapsed().as_secs_f64(),
        }
    }
}

/// Cluster-GCN batches: the sampler and the positive edges grouped by the
/// sub-part of their user.
#[derive(Debug)]
pub struct ClusterBatches<'a> {
    sampler: ClusterSampler<'a>,
    by_part: Vec<Vec<(u32, u32, u8)>>,
}

impl<'a> ClusterBatches<'a> {
    /// Groups `positives` by their user's sub-part (a user in no sub-part
    /// trains nothing).
    pub fn new(sampler: ClusterSampler<'a>, positives: &[(u32, u32, u8)]) -> Self {
        let mut by_part = vec![Vec::new(); sampler.sub_parts()];
        for &edge in positives {
            if let Some(p) = sampler.part_of(NodeType::User, edge.0) {
                by_part[p as usize].push(edge);
            }
        }
        Self { sampler, by_part }
    }

    /// The batch of a group of sub-parts: its subgraph, the positive edges
    /// whose user and item both lie in it, and negatives drawn among its
    /// items (from `negatives`, redrawn up to 8 times to land inside, then
    /// uniformly among the subgraph's items).
    pub fn make_batch(
        &self,
        step: u64,
        group: &[u32],
        negatives_per_positive: usize,
        negatives: &NegativeSampler,
        rng: &mut impl Rng,
    ) -> Batch {
        let started = std::time::Instant::now();
        let sample = self.sampler.sample(group);
        let (users_at, items_at) =
            (&sample.position[NodeType::User.index()], &sample.position[NodeType::Item.index()]);
        let mut edges: Vec<(u32, u32, u8)> = group
            .iter()
            .flat_map(|&p| self.by_part.get(p as usize).into_iter().flatten())
            .filter(|e| users_at.contains_key(&e.0) && items_at.contains_key(&e.1))
            .copied()
            .collect();
        edges.shuffle(rng);
        let block_items = sample.block.nodes_of(NodeType::Item);
        let negs: Vec<u32> = (0..edges.len() * negatives_per_positive)
            .map(|_| {
                (0..8)
                    .map(|_| negatives.draw(rng))
                    .find(|i| items_at.contains_key(i))
                    .unwrap_or_else(|| block_items[rng.random_range(0..block_items.len())])
            })
            .collect();
        let user_pos = edges.iter().map(|e| users_at[&e.0]).collect();
        let item_pos = edges.iter().map(|e| e.1).chain(negs.iter().copied()).map(|i| items_at[&i]).collect();
        Batch::assemble(step, &edges, negs, sample.block, user_pos, item_pos, started)
    }
}

/// How a model's batches are made.
#[derive(Debug)]
pub enum Batcher<'a> {
    /// Slices of the shuffled positives around a neighbour-sampled block.
    Neighbor(NeighborSampler<'a>),
    /// Cluster-GCN subgraphs.
    Cluster(ClusterBatches<'a>),
}

/// What an epoch's batches are cut from.
#[derive(Debug, Clone)]
pub enum EpochPlan {
    /// The positive edges, shuffled.
    Edges(Vec<(u32, u32, u8)>),
    /// Groups of sub-parts.
    Groups(Vec<Vec<u32>>),
}

impl Batcher<'_> {
    /// Batches per epoch before any cap: one per `batch_size` positives, or
    /// one per group of sub-parts.
    pub fn batches_per_epoch(&self, positives: usize, batch_size: usize) -> u64 {
        match self {
            Self::Neighbor(_) => positives.div_ceil(batch_size.max(1)) as u64,
            Self::Cluster(c) => c.sampler.batches_per_epoch() as u64,
        }
    }

    /// The plan of an epoch, a function of the seed and the epoch.
    pub fn plan(&self, view: &TrainView<'_>, seed: u64, epoch: u32) -> EpochPlan {
        let epoch_seed = seed ^ (u64::from(epoch) << 32) ^ 0x5eed;
        match self {
            Self::Neighbor(_) => {
                let mut edges = view.positives.clone();
                edges.shuffle(&mut ChaCha8Rng::seed_from_u64(epoch_seed));
                EpochPlan::Edges(edges)
            }
            Self::Cluster(c) => EpochPlan::Groups(c.sampler.epoch_groups(epoch_seed)),
        }
    }

    /// Batch number `step` of an epoch planned by `plan`.
    #[allow(clippy::too_many_arguments)]
    pub fn batch(
        &self,
        plan: &EpochPlan,
        step: u64,
        global_step: u64,
        batch_size: usize,
        negatives_per_positive: usize,
        negatives: &NegativeSampler,
        rng: &mut impl Rng,
    ) -> Batch {
        match (self, plan) {
            (Self::Cluster(c), EpochPlan::Groups(groups)) => {
                let group = groups.get(step as usize).map_or(&[][..], Vec::as_slice);
                c.make_batch(global_step, group, negatives_per_positive, negatives, rng)
            }
            (Self::Neighbor(sampler), EpochPlan::Edges(order)) => {
                let lo = (step as usize * batch_size).min(order.len());
                let hi = (lo + batch_size).min(order.len());
                make_batch(global_step, &order[lo..hi], negatives_per_positive, negatives, sampler, rng)
            }
            _ => unreachable!("a plan comes from its own batcher"),
        }
    }
}

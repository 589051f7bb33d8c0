//! Batches: positive edges, their negatives, and the block sampled around
//! the seed users and items.

use rand::Rng;
use tessera_graph::sample::{Block, NeighborSampler};
use tessera_graph::schema::NodeType;

use crate::train::negatives::NegativeSampler;

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
    let users: Vec<u32> = edges.iter().map(|e| e.0).collect();
    let items: Vec<u32> = edges.iter().map(|e| e.1).collect();
    let behaviors = edges.iter().map(|e| e.2).collect();
    let negs: Vec<u32> = (0..edges.len() * negatives_per_positive).map(|_| negatives.draw(rng)).collect();
    let mut seeds = vec![Vec::new(); NodeType::ALL.len()];
    seeds[NodeType::User.index()] = users.clone();
    seeds[NodeType::Item.index()] = items.iter().chain(&negs).copied().collect();
    let (block, positions) = sampler.sample(&seeds, rng);
    Batch {
        step,
        users,
        items,
        behaviors,
        negatives: negs,
        user_pos: positions[NodeType::User.index()].clone(),
        item_pos: positions[NodeType::Item.index()].clone(),
        block,
        sample_secs: started.elapsed().as_secs_f64(),
    }
}

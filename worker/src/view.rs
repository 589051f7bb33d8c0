//! What training reads from a graph (a partition, or a whole graph in
//! standalone mode): local→global ids, the owned users' positive edges with
//! their behaviour, item popularity (and the log chances the softmax's logQ
//! correction uses) and categories.

use tessera_graph::partition::Part;
use tessera_graph::schema::{Behavior, NodeType, RelationKind};
use tessera_graph::store::Graph;

/// A graph prepared for training.
#[derive(Debug)]
pub struct TrainView<'a> {
    /// The graph (local ids).
    pub graph: &'a Graph,
    /// Per node type, local → global ids (None: identical).
    pub global: Vec<Option<&'a [u64]>>,
    /// Positive (user, item, behaviour index) edges of the owned users.
    pub positives: Vec<(u32, u32, u8)>,
    /// Training interactions per local item.
    pub item_popularity: Vec<f32>,
    /// ln of each item's share of the training interactions (the chance
    /// that a sampled positive is this item).
    pub log_popularity: Vec<f32>,
    /// ln of each item's chance under the popularity^0.75 negative sampler.
    pub log_popularity_negative: Vec<f32>,
    /// Category (dense id in the graph) per local item, or -1.
    pub item_category: Vec<i64>,
    /// Number of categories in the graph.
    pub num_categories: i64,
}

impl<'a> TrainView<'a> {
    /// A whole graph, every user owned.
    pub fn whole(graph: &'a Graph) -> Self {
        let users = graph.num_nodes(NodeType::User);
        Self::build(graph, vec![None; NodeType::ALL.len()], users)
    }

    /// A partition: only its owned users' edges are positives.
    pub fn part(part: &'a Part) -> Self {
        let global = NodeType::ALL.iter().map(|&t| Some(part.global_ids(t))).collect();
        Self::build(&part.graph, global, part.info.num_owned(NodeType::User))
    }

    fn build(graph: &'a Graph, global: Vec<Option<&'a [u64]>>, owned_users: usize) -> Self {
        let num_items = graph.num_nodes(NodeType::Item);
        let mut positives = Vec::new();
        let mut item_popularity = vec![0f32; num_items];
        for b in Behavior::ALL {
            let Some((_, csr, _)) = graph.relation(b.as_str()) else { continue };
            for u in 0..csr.num_rows().min(owned_users) {
                for &i in csr.neighbors(u as u32) {
                    positives.push((u as u32, i, b.index() as u8));
                }
            }
            for u in 0..csr.num_rows() {
                for &i in csr.neighbors(u as u32) {
                    item_popularity[i as usize] += 1.0;
                }
            }
        }
        let mut item_category = vec![-1i64; num_items];
        let mut num_categories = graph.num_nodes(NodeType::Category) as i64;
        if let Some(rel) = graph
            .manifest()
            .relations
            .iter()
            .find(|r| r.spec.kind == RelationKind::BelongsTo && r.spec.dst == NodeType::Category)
        {
            if let Some((_, csr, _)) = graph.relation(&rel.spec.name) {
                for (i, slot) in item_category.iter_mut().enumerate().take(csr.num_rows()) {
                    if let Some(&c) = csr.neighbors(i as u32).first() {
                        // Global category ids keep the classes the same in every part.
                        let global =
                            global[NodeType::Category.index()].map_or(u64::from(c), |g| g[c as usize]);
                        *slot = global as i64;
                    }
                }
            }
        }
        if let Some(g) = global[NodeType::Category.index()] {
            num_categories = g.iter().max().map_or(0, |&m| m as i64 + 1).max(num_categories);
        }
        let total = item_popularity.iter().map(|&p| f64::from(p)).sum::<f64>().max(1.0);
        let log_popularity =
            item_popularity.iter().map(|&p| (f64::from(p.max(1e-3)) / total).ln() as f32).collect();
        // The floor matches NegativeSampler::popularity.
        let smoothed: Vec<f64> =
            item_popularity.iter().map(|&p| f64::from(p.max(0.0)).powf(0.75).max(1e-3)).collect();
        let total_smoothed = smoothed.iter().sum::<f64>().max(1e-12);
        let log_popularity_negative = smoothed.iter().map(|&p| (p / total_smoothed).ln() as f32).collect();
        Self {
            graph,
            global,
            positives,
            item_popularity,
            log_popularity,
            log_popularity_negative,
            item_category,
            num_categories,
        }
    }

    /// Global ids of local nodes of a type.
    pub fn to_global(&self, node_type: NodeType, local: &[u32]) -> Vec<u64> {
        match self.global[node_type.index()] {
            Some(g) => local.iter().map(|&l| g[l as usize]).collect(),
            None => local.iter().map(|&l| u64::from(l)).collect(),
        }
    }
}

//! Example recommendations for people: a user's latest training
//! interactions (on a graph without times, a few of them, undated) and a
//! model's top items, with user, item and category ids as they appear in
//! the logs.

use tessera_graph::schema::{Behavior, NodeType};
use tessera_graph::store::Graph;
use tessera_proto::coordinator::v1::{RecentInteraction, SampleRecommendation, ScoredItem};

/// Latest interactions shown per user.
pub const RECENT: usize = 5;

/// The log's category id of dense item `item`, if it has one.
pub fn item_category(graph: &Graph, item: u32) -> Option<u64> {
    let (_, csr, _) = graph.relation("item_category")?;
    if item as usize >= csr.num_rows() {
        return None;
    }
    csr.neighbors(item).first().map(|&c| graph.raw_ids(NodeType::Category)[c as usize])
}

/// The log's category id of dense item `item` (0 when it has none).
fn category(graph: &Graph, item: u32) -> u64 {
    item_category(graph, item).unwrap_or(0)
}

/// `user`'s latest training interactions and `model`'s `top` items for them
/// (dense ids, score, whether a held-out target).
pub fn describe(graph: &Graph, model: &str, user: u32, top: &[(u32, f32, bool)]) -> SampleRecommendation {
    let items = graph.raw_ids(NodeType::Item);
    let mut recent: Vec<(i64, u32, Behavior)> = Vec::new();
    for b in Behavior::ALL {
        let Some((_, csr, _)) = graph.relation(b.as_str()) else { continue };
        if user as usize >= csr.num_rows() {
            continue;
        }
        let range = csr.range(user);
        recent.extend(csr.indices[range.clone()].iter().zip(&csr.ts[range]).map(|(&i, &ts)| (ts, i, b)));
    }
    let timed = graph.manifest().report.timed;
    recent.sort_by_key(|&(ts, item, _)| std::cmp::Reverse((ts, item)));
    SampleRecommendation {
        model: model.to_owned(),
        user: graph.raw_ids(NodeType::User)[user as usize],
        recent: recent
            .into_iter()
            .take(RECENT)
            .map(|(ts, i, b)| RecentInteraction {
                item: items[i as usize],
                category: category(graph, i),
                behavior: b.as_str().to_owned(),
                ts: timed.then_some(ts),
            })
            .collect(),
        top: top
            .iter()
            .map(|&(i, score, hit)| ScoredItem {
                item: items[i as usize],
                category: category(graph, i),
                score: f64::from(score),
                hit,
            })
            .collect(),
    }
}

//! The evaluation protocol (see ARCHITECTURE.md): full ranking over all
//! items with each user's training items excluded (Recall@K = hits / |test
//! items|, binary NDCG@K against the ideal over min(K, |test items|), HR@K,
//! MRR); sampled HR@10 and NDCG@10 against 99 fixed random negatives the
//! user never touched; AUC on labelled pairs (or one sampled negative per
//! positive); catalogue coverage and the long-tail share of the top 20. It
//! also returns where the top 20 fall by item popularity, and a few users'
//! top items as examples.

use std::collections::{BTreeMap, HashSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tessera_graph::schema::{Behavior, NodeType};
use tessera_graph::store::Graph;

use crate::eval::scores::Scores;

/// Cut-off of the coverage and long-tail figures.
pub const TAIL_K: usize = 20;
/// Popularity buckets of the catalogue (deciles).
pub const BUCKETS: usize = 10;
/// Users whose top items are kept as examples.
pub const SAMPLE_USERS: usize = 3;
/// Items kept per example user.
pub const SAMPLE_TOP: usize = 10;

/// What the metrics need from the graph.
#[derive(Debug, Clone)]
pub struct EvalData {
    /// Per user, training items (any behaviour), sorted: the history that
    /// is excluded from the ranking and that the classic models score from.
    pub train_items: Vec<Vec<u32>>,
    /// Per user, the time of the last interaction with each item of
    /// `train_items` (same order; 0 in a graph without times). Empty when
    /// unknown: the time-aware classic model then weighs all alike.
    pub train_times: Vec<Vec<i64>>,
    /// Held-out (user, item) targets.
    pub targets: Vec<(u32, u32)>,
    /// Labelled pairs for AUC.
    pub labeled: Vec<(u32, u32, u8)>,
    /// Whether each item is in the long tail (bottom 80% by popularity).
    pub tail: Vec<bool>,
    /// Each item's popularity decile: 0 = the 10% most popular items.
    pub bucket: Vec<u8>,
    /// Share of training interactions per popularity decile.
    pub interaction_share: Vec<f64>,
    /// Users whose top items are returned as examples.
    pub sample_users: Vec<u32>,
}

/// A recommended item: (item, score, whether a held-out target).
pub type TopItem = (u32, f32, bool);

/// What [`evaluate`] returns.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Metric name → value.
    pub metrics: BTreeMap<String, f64>,
    /// Share of the top-20 recommendations per popularity decile.
    pub recommended_share: Vec<f64>,
    /// Share of training interactions per popularity decile (from the data).
    pub interaction_share: Vec<f64>,
    /// For each example user: the top items as (item, score, is a target).
    pub samples: Vec<(u32, Vec<TopItem>)>,
}

impl EvalData {
    /// From a graph: `valid` picks the validation targets instead of the test
    /// ones. Test targets of a split that cut validation rows out of training
    /// belong on the graph at test time (`Graph::open_history`).
    pub fn of(graph: &Graph, valid: bool) -> Self {
        let users = graph.num_nodes(NodeType::User);
        let items = graph.num_nodes(NodeType::Item);
        let mut timed: Vec<Vec<(u32, i64)>> = vec![Vec::new(); users];
        let mut popularity = vec![0u64; items];
        for b in Behavior::ALL {
            let Some((_, csr, _)) = graph.relation(b.as_str()) else { continue };
            for (u, list) in timed.iter_mut().enumerate().take(csr.num_rows()) {
                for e in csr.range(u as u32) {
                    let i = csr.indices[e];
                    list.push((i, csr.ts.get(e).copied().unwrap_or(0)));
                    popularity[i as usize] += 1;
                }
            }
        }
        // Sorted by item, the latest time first, so dedup keeps the latest.
        let (train_items, train_times): (Vec<Vec<u32>>, Vec<Vec<i64>>) = timed
            .into_iter()
            .map(|mut list| {
                list.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
                list.dedup_by_key(|e| e.0);
                list.into_iter().unzip()
            })
            .unzip();
        // Most popular first; ties in id order, so the deciles are deterministic.
        let mut order: Vec<usize> = (0..items).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(popularity[i]));
        let head = (items as f64 * 0.2).ceil() as usize;
        let mut tail = vec![true; items];
        let mut bucket = vec![0u8; items];
        let mut interactions = [0u64; BUCKETS];
        for (rank, &i) in order.iter().enumerate() {
            tail[i] = rank >= head;
            bucket[i] = (rank * BUCKETS / items.max(1)) as u8;
            interactions[bucket[i] as usize] += popularity[i];
        }
        let total = interactions.iter().sum::<u64>().max(1) as f64;
        let targets = if valid { graph.valid_pairs() } else { graph.test_pairs() };
        // Example users: spread over the target users, each with some history.
        let mut candidates: Vec<u32> = targets.iter().map(|t| t.0).collect();
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&u| train_items.get(u as usize).is_some_and(|l| l.len() >= 3));
        let stride = (candidates.len() / SAMPLE_USERS).max(1);
        let sample_users = candidates.iter().step_by(stride).take(SAMPLE_USERS).copied().collect();
        Self {
            train_items,
            train_times,
            targets,
            labeled: graph.labeled_pairs(),
            tail,
            bucket,
            interaction_share: interactions.iter().map(|&n| n as f64 / total).collect(),
            sample_users,
        }
    }

    /// Items in the catalogue (one long-tail flag each).
    pub fn num_items(&self) -> usize {
        self.tail.len()
    }

    /// Keeps the targets of at most `max` users (0 = all), picked by `seed`:
    /// validation during training scores a sample of users, not all.
    pub fn limit_users(&mut self, max: usize, seed: u64) {
        let mut users: Vec<u32> = self.targets.iter().map(|t| t.0).collect();
        users.sort_unstable();
        users.dedup();
        if max == 0 || users.len() <= max {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let keep: HashSet<u32> =
            rand::seq::index::sample(&mut rng, users.len(), max).into_iter().map(|k| users[k]).collect();
        self.targets.retain(|t| keep.contains(&t.0));
        self.labeled.retain(|p| keep.contains(&p.0));
        self.sample_users.retain(|u| keep.contains(u));
    }
}

fn dcg_at(hits: &[bool]) -> f64 {
    hits.iter().enumerate().filter(|(_, &h)| h).map(|(r, _)| 1.0 / ((r + 2) as f64).log2()).sum()
}

/// AUC of scores for positives and negatives (ties count half).
pub fn auc(scored: &mut [(f32, bool)]) -> f64 {
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut positives, mut i) = (0.0, 0u64, 0usize);
    while i < scored.len() {
        let mut j = i;
        while j < scored.len() && scored[j].0 == scored[i].0 {
            j += 1;
        }
        let mid = (i + j + 1) as f64 / 2.0; // average 1-based rank of the tie group
        for s in &scored[i..j] {
            if s.1 {
                rank_sum += mid;
                positives += 1;
            }
        }
        i = j;
    }
    let negatives = scored.len() as u64 - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    (rank_sum - (positives * (positives + 1)) as f64 / 2.0) / (positives * negatives) as f64
}

/// All metrics for the model behind `scores`.
pub fn evaluate(scores: &dyn Scores, data: &EvalData, ks: &[u32], sampled: u32, seed: u64) -> Evaluation {
    let num_items = scores.num_items();
    let max_k = ks.iter().copied().max().unwrap_or(20).max(TAIL_K as u32) as usize;
    let mut by_user: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(u, i) in &data.targets {
        by_user.entry(u).or_default().push(i);
    }
    let eval_users: Vec<u32> = by_user.keys().copied().collect();
    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut recommended = HashSet::new();
    let (mut tail_hits, mut recs) = (0u64, 0u64);
    let mut by_bucket = [0u64; BUCKETS];
    let mut samples = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut sampled_hr, mut sampled_ndcg, mut sampled_n) = (0.0, 0.0, 0u64);
    for chunk in eval_users.chunks(scores.users_per_chunk().max(1)) {
        let rows = scores.rows(chunk);
        for (row, &u) in chunk.iter().enumerate() {
            let mut s = rows[row * num_items..(row + 1) * num_items].to_vec();
            let seen = data.train_items.get(u as usize).map(Vec::as_slice).unwrap_or(&[]);
            for &i in seen {
                s[i as usize] = f32::NEG_INFINITY;
            }
            let targets = &by_user[&u];
            let target_set: HashSet<u32> = targets.iter().copied().collect();
            // Sampled: each target against `sampled` untouched items.
            for &t in targets {
                let ts = s[t as usize];
                let mut better = 0;
                let mut drawn = 0;
                while drawn < sampled && seen.len() + target_set.len() < num_items {
                    let j = rng.random_range(0..num_items as u32);
                    if seen.binary_search(&j).is_ok() || target_set.contains(&j) {
                        continue;
                    }
                    drawn += 1;
                    if s[j as usize] > ts {
                        better += 1;
                    }
                }
                sampled_n += 1;
                if better < 10 {
                    sampled_hr += 1.0;
                    sampled_ndcg += 1.0 / ((better + 2) as f64).log2();
                }
            }
            // Full ranking.
            let mut order: Vec<u32> = (0..num_items as u32).collect();
            let k = max_k.min(num_items);
            order.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| {
                s[b as usize].total_cmp(&s[a as usize])
            });
            let mut top: Vec<u32> = order[..k].to_vec();
            top.sort_by(|&a, &b| s[b as usize].total_cmp(&s[a as usize]));
            // A user who trained on nearly every item has fewer than k to rank.
            top.retain(|&i| s[i as usize] > f32::NEG_INFINITY);
            for &i in top.iter().take(TAIL_K) {
                recommended.insert(i);
                recs += 1;
                tail_hits += u64::from(data.tail[i as usize]);
                by_bucket[data.bucket[i as usize] as usize] += 1;
            }
            if data.sample_users.contains(&u) {
                let top = top.iter().take(SAMPLE_TOP).map(|&i| (i, s[i as usize], target_set.contains(&i)));
                samples.push((u, top.collect()));
            }
            let hits: Vec<bool> = top.iter().map(|i| target_set.contains(i)).collect();
            for &kk in ks {
                let kk = kk as usize;
                let h = &hits[..kk.min(hits.len())];
                let n_hit = h.iter().filter(|&&x| x).count() as f64;
                *sums.entry(format!("recall@{kk}")).or_default() += n_hit / target_set.len() as f64;
                *sums.entry(format!("hr@{kk}")).or_default() += f64::from(u8::from(n_hit > 0.0));
                let ideal: Vec<bool> = (0..kk.min(target_set.len())).map(|_| true).collect();
                *sums.entry(format!("ndcg@{kk}")).or_default() += dcg_at(h) / dcg_at(&ideal);
            }
            let best = targets.iter().map(|&t| s[t as usize]).fold(f32::NEG_INFINITY, f32::max);
            let rank = 1 + s.iter().filter(|&&x| x > best).count();
            *sums.entry("mrr".into()).or_default() += 1.0 / rank as f64;
        }
    }
    let n = eval_users.len().max(1) as f64;
    let mut metrics: BTreeMap<String, f64> = sums.into_iter().map(|(k, v)| (k, v / n)).collect();
    metrics.insert("eval_users".into(), eval_users.len() as f64);
    if sampled_n > 0 {
        metrics.insert("sampled_hr@10".into(), sampled_hr / sampled_n as f64);
        metrics.insert("sampled_ndcg@10".into(), sampled_ndcg / sampled_n as f64);
    }
    metrics.insert("coverage@20".into(), recommended.len() as f64 / num_items.max(1) as f64);
    metrics.insert("long_tail@20".into(), tail_hits as f64 / recs.max(1) as f64);
    // AUC: labelled pairs, else one sampled negative per target.
    let pairs: Vec<(u32, u32, bool)> = if data.labeled.is_empty() {
        let mut out = Vec::new();
        for &(u, i) in &data.targets {
            out.push((u, i, true));
            out.push((u, rng.random_range(0..num_items as u32), false));
        }
        out
    } else {
        data.labeled.iter().map(|&(u, i, l)| (u, i, l > 0)).collect()
    };
    if !pairs.is_empty() {
        let s = scores.pairs(&pairs.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>());
        let mut scored: Vec<(f32, bool)> = s.into_iter().zip(pairs.iter().map(|p| p.2)).collect();
        metrics.insert("auc".into(), auc(&mut scored));
    }
    let recommended_share = by_bucket.iter().map(|&n| n as f64 / recs.max(1) as f64).collect();
    Evaluation { metrics, recommended_share, interaction_share: data.interaction_share.clone(), samples }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::scores::EmbeddingScores;
    use crate::model::scorer::Scorer;
    use tch::Tensor;

    #[test]
    fn auc_of_a_perfect_and_a_reversed_ranking() {
        let mut perfect = vec![(0.1, false), (0.2, false), (0.8, true), (0.9, true)];
        assert_eq!(auc(&mut perfect), 1.0);
        let mut reversed = vec![(0.9, false), (0.8, false), (0.2, true), (0.1, true)];
        assert_eq!(auc(&mut reversed), 0.0);
        let mut ties = vec![(0.5, false), (0.5, true)];
        assert_eq!(auc(&mut ties), 0.5);
    }

    #[test]
    fn ranking_metrics_follow_the_definitions() {
        // 1 user, 5 items; the user trained on item 0; targets 1 and 3.
        let users = Tensor::from_slice(&[1.0f32]).view([1, 1]);
        let items = Tensor::from_slice(&[10.0f32, 4.0, 3.0, 2.0, 1.0]).view([5, 1]);
        let data = EvalData {
            train_items: vec![vec![0]],
            train_times: Vec::new(),
            targets: vec![(0, 1), (0, 3)],
            labeled: Vec::new(),
            tail: vec![false, true, true, true, true],
            bucket: vec![0, 2, 4, 6, 8],
            interaction_share: vec![0.1; BUCKETS],
            sample_users: vec![0],
        };
        let evaluation =
            evaluate(&EmbeddingScores::new(&users, &items, &Scorer::Dot), &data, &[1, 2, 3], 3, 1);
        let m = &evaluation.metrics;
        // Ranking after excluding item 0: 1, 2, 3, 4 → hits at ranks 1 and 3.
        assert!((m["recall@1"] - 0.5).abs() < 1e-9);
        assert!((m["recall@3"] - 1.0).abs() < 1e-9);
        assert!((m["hr@1"] - 1.0).abs() < 1e-9);
        let ndcg3 = (1.0 + 1.0 / 4f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((m["ndcg@3"] - ndcg3).abs() < 1e-9);
        assert!((m["mrr"] - 1.0).abs() < 1e-9);
        // The top 20 holds all 4 unseen items, one in each of buckets 2, 4, 6, 8.
        assert_eq!(evaluation.recommended_share, vec![0.0, 0.0, 0.25, 0.0, 0.25, 0.0, 0.25, 0.0, 0.25, 0.0]);
        let (user, top) = &evaluation.samples[0];
        assert_eq!(*user, 0);
        assert_eq!(
            top.iter().map(|t| (t.0, t.2)).collect::<Vec<_>>(),
            vec![(1, true), (2, false), (3, true), (4, false)]
        );
    }
}

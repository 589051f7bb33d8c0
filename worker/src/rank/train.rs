//! Training the ranker: the main model retrieves candidates for the
//! validation users on the training graph (their validation purchase is not
//! in their history there, so it is a fair target), the lists that hold the
//! target become training lists, and a listwise softmax over each list
//! teaches the ranker to put the target first. A share of the lists is held
//! out, and the epoch with the best NDCG@10 within them is kept.

use std::collections::{BTreeMap, HashSet};

use anyhow::Context as _;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{nn, nn::OptimizerConfig, Kind, Tensor};
use tessera_bundle::rank::{dense_width, features, FeatureConfig, RankerWeights, FIELDS};
use tessera_job::RankerSpec;

use crate::eval::metrics::EvalData;
use crate::eval::scores::Scores;
use crate::rank::deepfm::DeepFm;
use crate::rank::lists::{candidates, Context};

/// Most validation users whose lists are built.
pub const MAX_USERS: usize = 20_000;
/// Lists per optimiser step.
const LISTS_PER_STEP: usize = 32;

/// Padded training lists: `dense` lists × c × width, `sparse` lists × c ×
/// fields, `labels` lists × c (a target share, summing to 1), `mask` lists ×
/// c (1 for a real candidate).
struct Lists {
    dense: Vec<f32>,
    sparse: Vec<i64>,
    labels: Vec<f32>,
    mask: Vec<f32>,
    count: usize,
}

fn build_lists(
    spec: &RankerSpec,
    cfg: &FeatureConfig,
    scores: &dyn Scores,
    ctx: &Context,
    data: &EvalData,
    seed: u64,
) -> (Lists, usize) {
    let c = spec.candidates as usize;
    let width = dense_width(ctx.dim);
    let mut users: Vec<u32> = data.targets.iter().map(|t| t.0).collect();
    users.sort_unstable();
    users.dedup();
    users.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    users.truncate(MAX_USERS);
    let mut lists =
        Lists { dense: Vec::new(), sparse: Vec::new(), labels: Vec::new(), mask: Vec::new(), count: 0 };
    let catalogue = ctx.catalogue();
    for chunk in users.chunks(512) {
        let found = candidates(scores, data, chunk, c);
        for (&u, cands) in chunk.iter().zip(&found) {
            let targets: HashSet<u32> = data.targets.iter().filter(|t| t.0 == u).map(|t| t.1).collect();
            let hits = cands.iter().filter(|s| targets.contains(&s.item)).count();
            if hits == 0 {
                continue;
            }
            let f = features(cfg, &catalogue, &ctx.query(data, u, cands));
            let n = cands.len();
            lists.dense.extend_from_slice(&f.dense);
            lists.dense.resize(lists.dense.len() + (c - n) * width, 0.0);
            lists.sparse.extend(f.sparse.iter().map(|&b| i64::from(b)));
            lists.sparse.resize(lists.sparse.len() + (c - n) * FIELDS.len(), 0);
            lists.labels.extend(cands.iter().map(|s| {
                if targets.contains(&s.item) {
                    1.0 / hits as f32
                } else {
                    0.0
                }
            }));
            lists.labels.resize(lists.labels.len() + (c - n), 0.0);
            lists.mask.extend(std::iter::repeat_n(1.0, n).chain(std::iter::repeat_n(0.0, c - n)));
            lists.count += 1;
        }
    }
    (lists, users.len())
}

/// Mean and standard deviation of each dense feature over the real rows.
fn moments(lists: &Lists, width: usize) -> (Vec<f32>, Vec<f32>) {
    let (mut sum, mut sq, mut n) = (vec![0f64; width], vec![0f64; width], 0f64);
    for (row, &m) in lists.dense.chunks_exact(width).zip(&lists.mask) {
        if m > 0.0 {
            n += 1.0;
            for (k, &x) in row.iter().enumerate() {
                sum[k] += f64::from(x);
                sq[k] += f64::from(x) * f64::from(x);
            }
        }
    }
    let n = n.max(1.0);
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let std = sum
        .iter()
        .zip(&sq)
        .map(|(s, q)| {
            let var = (q / n - (s / n).powi(2)).max(0.0);
            if var > 1e-12 {
                var.sqrt() as f32
            } else {
                1.0
            }
        })
        .collect();
    (mean, std)
}

/// NDCG@10 of each list's targets under `logits` (lists × c), averaged.
fn list_ndcg(logits: &Tensor, labels: &Tensor, mask: &Tensor) -> f64 {
    let masked = logits.masked_fill(&mask.eq(0.0), f64::NEG_INFINITY);
    let order = masked.argsort(1, true);
    let hits =
        labels.gather(1, &order, false).gt(0.0).to_kind(Kind::Float).narrow(1, 0, 10.min(order.size()[1]));
    let discounts =
        Tensor::arange(hits.size()[1], (Kind::Float, tch::Device::Cpu)).g_add_scalar(2.0).log2().reciprocal();
    let dcg = (&hits * &discounts).sum_dim_intlist(1, false, Kind::Float);
    let targets = labels.gt(0.0).to_kind(Kind::Float).sum_dim_intlist(1, false, Kind::Float).clamp(1.0, 10.0);
    let ideal_all = discounts.cumsum(0, Kind::Float);
    let ideal = ideal_all.index_select(0, &(targets.to_kind(Kind::Int64) - 1));
    (dcg / ideal).mean(Kind::Float).double_value(&[])
}

/// Trains the ranker on the candidates `scores` retrieves for `data`'s
/// targets (the validation split), with features from `ctx`.
///
/// # Errors
/// No list holds a target (nothing to learn from), or a tensor failure.
pub fn train(
    spec: &RankerSpec,
    seed: u64,
    scores: &dyn Scores,
    ctx: &Context,
    data: &EvalData,
) -> anyhow::Result<RankerWeights> {
    let started = std::time::Instant::now();
    let cfg =
        FeatureConfig { recent: spec.recent as usize, recency: spec.recency as f32, buckets: spec.buckets };
    let (lists, users) = build_lists(spec, &cfg, scores, ctx, data, seed);
    let c = spec.candidates as i64;
    let width = dense_width(ctx.dim);
    if lists.count < 2 {
        anyhow::bail!(
            "the ranker has {} training lists: of {users} validation users, too few have their target among \
             the {c} retrieved candidates",
            lists.count
        );
    }
    let (mean, std) = moments(&lists, width);
    let n = lists.count as i64;
    let dense = Tensor::from_slice(&lists.dense).view([n, c, width as i64]);
    let dense = (dense - Tensor::from_slice(&mean)) / Tensor::from_slice(&std);
    let sparse = Tensor::from_slice(&lists.sparse).view([n, c, FIELDS.len() as i64]);
    let labels = Tensor::from_slice(&lists.labels).view([n, c]);
    let mask = Tensor::from_slice(&lists.mask).view([n, c]);
    let held = ((n as f64 * spec.holdout).round() as i64).clamp(1, n - 1);
    let fit = n - held;
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let model = DeepFm::new(&vs.root(), ctx.dim, spec.buckets, spec.factors, &spec.hidden);
    let mut opt = nn::Adam { wd: spec.weight_decay, ..Default::default() }
        .build(&vs, spec.lr)
        .context("build the ranker's optimiser")?;
    let score = |from: i64, len: i64| {
        let d = dense.narrow(0, from, len).view([len * c, width as i64]);
        let s = sparse.narrow(0, from, len).view([len * c, FIELDS.len() as i64]);
        model.forward(&d, &s).view([len, c])
    };
    let held_ndcg = || {
        let logits = tch::no_grad(|| score(fit, held));
        list_ndcg(&logits, &labels.narrow(0, fit, held), &mask.narrow(0, fit, held))
    };
    // The same lists in retrieval order: what the ranker has to beat.
    let positions = Tensor::arange(c, (Kind::Float, tch::Device::Cpu)).neg().expand([held, c], true);
    let retrieval_order = list_ndcg(&positions, &labels.narrow(0, fit, held), &mask.narrow(0, fit, held));
    let mut order: Vec<i64> = (0..fit).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
    let (mut best, mut best_epoch, mut kept) = (f64::NEG_INFINITY, 0u32, None);
    for epoch in 1..=spec.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for batch in order.chunks(LISTS_PER_STEP) {
            let idx = Tensor::from_slice(batch);
            let len = batch.len() as i64;
            let d = dense.index_select(0, &idx).view([len * c, width as i64]);
            let s = sparse.index_select(0, &idx).view([len * c, FIELDS.len() as i64]);
            let logits = model.forward(&d, &s).view([len, c]);
            let m = mask.index_select(0, &idx);
            let logp = logits.masked_fill(&m.eq(0.0), -1e9).log_softmax(1, Kind::Float);
            let loss = -(labels.index_select(0, &idx) * logp)
                .sum_dim_intlist(1, false, Kind::Float)
                .mean(Kind::Float);
            opt.backward_step(&loss);
            loss_sum += loss.double_value(&[]) * len as f64;
        }
        let v = held_ndcg();
        tracing::info!(epoch, loss = loss_sum / fit as f64, held_out_ndcg_at_10 = v, "ranker epoch");
        if v > best {
            (best, best_epoch) = (v, epoch);
            kept = Some(model.export(ctx.dim, c as usize, cfg, &mean, &std, BTreeMap::new())?);
        }
    }
    let mut weights = kept.context("the ranker trained no epoch")?;
    weights.training = BTreeMap::from([
        ("lists".to_owned(), lists.count as f64),
        ("users".to_owned(), users as f64),
        ("held_out_lists".to_owned(), held as f64),
        ("held_out_ndcg@10".to_owned(), best),
        ("held_out_ndcg@10_retrieval".to_owned(), retrieval_order),
        ("epoch".to_owned(), f64::from(best_epoch)),
        ("train_secs".to_owned(), started.elapsed().as_secs_f64()),
    ]);
    tracing::info!(
        lists = lists.count,
        users,
        best_epoch,
        held_out_ndcg_at_10 = best,
        retrieval_order,
        secs = started.elapsed().as_secs_f64(),
        "trained the ranker"
    );
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::scores::EmbeddingScores;
    use crate::model::scorer::Scorer;
    use rand::Rng;

    /// Random embeddings retrieve the candidates; each user's target is the
    /// most popular of their candidates, which the popularity feature tells
    /// and the retrieval order does not. The ranker must learn that.
    #[test]
    fn the_ranker_learns_what_the_retrieval_order_misses() {
        let (users, items, dim, c) = (600usize, 300usize, 4i64, 30usize);
        tch::manual_seed(1);
        let u = Tensor::randn([users as i64, dim], (Kind::Float, tch::Device::Cpu));
        let v = Tensor::randn([items as i64, dim], (Kind::Float, tch::Device::Cpu));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        // Popularity falls with the item id: item i is in about 20·(1 - i/300) histories.
        let train_items: Vec<Vec<u32>> = (0..users)
            .map(|_| {
                let mut h: Vec<u32> =
                    (0..8).map(|_| (rng.random_range(0f64..1.).powi(2) * items as f64) as u32).collect();
                h.sort_unstable();
                h.dedup();
                h
            })
            .collect();
        let mut data = EvalData {
            train_items,
            train_times: Vec::new(),
            targets: Vec::new(),
            labeled: Vec::new(),
            tail: vec![false; items],
            bucket: vec![0; items],
            interaction_share: vec![0.1; crate::eval::metrics::BUCKETS],
            sample_users: Vec::new(),
        };
        let ctx = Context::new(&u, &v, &data, vec![tessera_bundle::rank::NO_CATEGORY; items]).unwrap();
        let scores = EmbeddingScores::new(&u, &v, &Scorer::Dot);
        let all: Vec<u32> = (0..users as u32).collect();
        for (user, cands) in all.iter().zip(candidates(&scores, &data, &all, c)) {
            let best = cands
                .iter()
                .max_by_key(|s| (ctx.stats.popularity[s.item as usize], std::cmp::Reverse(s.item)));
            data.targets.push((*user, best.unwrap().item));
        }
        let spec = RankerSpec { candidates: c as u32, epochs: 15, buckets: 64, ..Default::default() };
        let w = train(&spec, 7, &scores, &ctx, &data).unwrap();
        let (learned, retrieval) = (w.training["held_out_ndcg@10"], w.training["held_out_ndcg@10_retrieval"]);
        assert_eq!(w.training["lists"], users as f64, "every target is among its candidates");
        assert!(learned > 0.8 && retrieval < 0.5, "ranker {learned} against retrieval order {retrieval}");
    }
}

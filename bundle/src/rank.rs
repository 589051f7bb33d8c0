//! The ranker: the second stage after retrieval (DeepFM-style, Guo et al.,
//! IJCAI 2017). For each retrieved candidate of a user it reads
//! [`DENSE_FEATURES`] (the retrieval score and rank, the item's popularity
//! and how recently anyone touched it, how close the item's embedding is to
//! the user's latest items, the user's history length and how much of it
//! shares the item's category) beside the element-wise product of the two
//! embeddings, and hashed ids of [`FIELDS`]. Its score is a bias, a weight
//! per id, the factorisation machine's pairwise term over the ids'
//! embeddings, and an MLP over the dense features and those embeddings.
//!
//! The worker trains it (with libtorch) and the recommend service runs it
//! from `ranker.json` with this code, so both score with the same features.

use serde::{Deserialize, Serialize};

use crate::retrieve::Scored;

/// Names of the dense features, in order (the embedding product follows).
pub const DENSE_FEATURES: [&str; 9] = [
    "retrieval_z",
    "log_rank",
    "log_popularity",
    "log_age_days",
    "recent_similarity",
    "max_recent_similarity",
    "latest_similarity",
    "log_history",
    "category_share",
];

/// The sparse fields whose ids are hashed into embeddings, in order.
pub const FIELDS: [&str; 3] = ["user", "item", "category"];

/// Value of [`RankerWeights::format`].
pub const RANKER_FORMAT: &str = "tessera-ranker-1";

/// A raw category id that means "none".
pub const NO_CATEGORY: u64 = u64::MAX;

/// Width of a candidate's dense input for embeddings of `dim`.
pub fn dense_width(dim: usize) -> usize {
    DENSE_FEATURES.len() + dim
}

/// What the features know of the items: how many users touched each, when
/// anyone last did, and the latest time of all (the cut).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemStats {
    /// Users whose history holds the item.
    pub popularity: Vec<u32>,
    /// Latest interaction time with the item (0 without times).
    pub last: Vec<i64>,
    /// Latest interaction time of all.
    pub cut: i64,
}

impl ItemStats {
    /// From every user's history (items, and their times aligned, or empty).
    pub fn of<'a>(num_items: usize, histories: impl Iterator<Item = (&'a [u32], &'a [i64])>) -> Self {
        let mut popularity = vec![0u32; num_items];
        let mut last = vec![i64::MIN; num_items];
        let mut cut = i64::MIN;
        for (items, times) in histories {
            for (k, &i) in items.iter().enumerate() {
                let Some(p) = popularity.get_mut(i as usize) else { continue };
                *p += 1;
                let t = times.get(k).copied().unwrap_or(0);
                last[i as usize] = last[i as usize].max(t);
                cut = cut.max(t);
            }
        }
        let cut = if cut == i64::MIN { 0 } else { cut };
        for t in &mut last {
            if *t == i64::MIN {
                *t = cut;
            }
        }
        Self { popularity, last, cut }
    }
}

/// Settings the features are computed with, saved with the weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    /// Latest history items the similarity features read.
    pub recent: usize,
    /// Weight per step back in those items.
    pub recency: f32,
    /// Hash buckets per sparse field.
    pub buckets: u32,
}

/// One user's request: who, their embedding and history, and the candidates.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// Dense user id.
    pub user: u32,
    /// The user's embedding.
    pub vector: &'a [f32],
    /// The user's history (dense items).
    pub history: &'a [u32],
    /// The times of `history`, aligned (empty: unknown).
    pub times: &'a [i64],
    /// Retrieved candidates, best first.
    pub candidates: &'a [Scored],
}

/// What the features read of the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Catalogue<'a> {
    /// Item embeddings, row-major.
    pub vectors: &'a [f32],
    /// Embedding dimension.
    pub dim: usize,
    /// Each item's raw category ([`NO_CATEGORY`] for none).
    pub categories: &'a [u64],
    /// Item statistics.
    pub stats: &'a ItemStats,
}

/// The features of a query's candidates: `dense` is candidates ×
/// [`dense_width`], `sparse` candidates × [`FIELDS`] (bucket indices,
/// offset by field).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features {
    /// Dense features, row-major.
    pub dense: Vec<f32>,
    /// Hashed ids, row-major.
    pub sparse: Vec<u32>,
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The bucket of `id` in `field`, offset by the field's place.
pub fn bucket(field: usize, id: u64, buckets: u32) -> u32 {
    let h = splitmix64(id ^ splitmix64(field as u64 + 1));
    field as u32 * buckets + (h % u64::from(buckets)) as u32
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

fn cosine(a: &[f32], na: f32, b: &[f32], nb: f32) -> f32 {
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    crate::retrieve::dot(a, b) / (na * nb)
}

/// The features of `q`'s candidates.
pub fn features(cfg: &FeatureConfig, cat: &Catalogue<'_>, q: &Query<'_>) -> Features {
    let dim = cat.dim;
    let width = dense_width(dim);
    let n = q.candidates.len();
    let item = |i: u32| &cat.vectors[i as usize * dim..(i as usize + 1) * dim];
    // The user's latest items, the latest first (ties by item id).
    let mut order: Vec<usize> = (0..q.history.len()).collect();
    order.sort_by_key(|&k| (std::cmp::Reverse(q.times.get(k).copied().unwrap_or(0)), q.history[k]));
    let recent: Vec<(&[f32], f32, f32)> = order
        .iter()
        .take(cfg.recent)
        .enumerate()
        .map(|(r, &k)| {
            let v = item(q.history[k]);
            (v, norm(v), cfg.recency.powi(r as i32))
        })
        .collect();
    let weight_sum: f32 = recent.iter().map(|r| r.2).sum();
    let category_of = |i: u32| cat.categories.get(i as usize).copied().unwrap_or(NO_CATEGORY);
    // The history's items per category, counted once for all candidates.
    let mut per_category: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    for &h in q.history {
        *per_category.entry(category_of(h)).or_default() += 1;
    }
    let scores: Vec<f32> = q.candidates.iter().map(|c| c.score).collect();
    let mean = scores.iter().sum::<f32>() / n.max(1) as f32;
    let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / n.max(1) as f32).sqrt();
    let log_history = (1.0 + q.history.len() as f32).ln();
    let mut out =
        Features { dense: Vec::with_capacity(n * width), sparse: Vec::with_capacity(n * FIELDS.len()) };
    for (rank, c) in q.candidates.iter().enumerate() {
        let v = item(c.item);
        let nv = norm(v);
        let sims: Vec<f32> = recent.iter().map(|&(h, nh, _)| cosine(v, nv, h, nh)).collect();
        let weighted = if weight_sum > 0.0 {
            sims.iter().zip(&recent).map(|(s, r)| s * r.2).sum::<f32>() / weight_sum
        } else {
            0.0
        };
        let category = category_of(c.item);
        let share = if category == NO_CATEGORY || q.history.is_empty() {
            0.0
        } else {
            per_category.get(&category).copied().unwrap_or(0) as f32 / q.history.len() as f32
        };
        let popularity = cat.stats.popularity.get(c.item as usize).copied().unwrap_or(0);
        let last = cat.stats.last.get(c.item as usize).copied().unwrap_or(cat.stats.cut);
        let age_days = ((cat.stats.cut - last).max(0) as f64 / 86_400.0) as f32;
        out.dense.extend_from_slice(&[
            if sd > 0.0 { (c.score - mean) / sd } else { 0.0 },
            (1.0 + rank as f32).ln(),
            (1.0 + popularity as f32).ln(),
            age_days.ln_1p(),
            weighted,
            sims.iter().copied().fold(0.0, f32::max),
            sims.first().copied().unwrap_or(0.0),
            log_history,
            share,
        ]);
        out.dense.extend(q.vector.iter().zip(v).map(|(a, b)| a * b));
        out.sparse.extend([
            bucket(0, u64::from(q.user), cfg.buckets),
            bucket(1, u64::from(c.item), cfg.buckets),
            bucket(2, category, cfg.buckets),
        ]);
    }
    out
}

/// A dense layer: `outputs × inputs` weights (row-major) and a bias each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Inputs.
    pub inputs: usize,
    /// Outputs.
    pub outputs: usize,
    /// Weights, `outputs × inputs`, row-major.
    pub weight: Vec<f32>,
    /// Biases.
    pub bias: Vec<f32>,
}

/// `ranker.json`: the trained ranker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankerWeights {
    /// Always [`RANKER_FORMAT`].
    pub format: String,
    /// Embedding dimension of the bundle it ranks for.
    pub dim: usize,
    /// Candidates it was trained to re-rank.
    pub candidates: usize,
    /// Feature settings.
    pub features: FeatureConfig,
    /// Factors of each id embedding.
    pub factors: usize,
    /// Per dense feature: mean and standard deviation on the training lists.
    pub mean: Vec<f32>,
    /// See `mean`.
    pub std: Vec<f32>,
    /// The global bias.
    pub bias: f32,
    /// A weight per bucket (fields × buckets).
    pub first: Vec<f32>,
    /// An embedding per bucket (fields × buckets × factors).
    pub embeddings: Vec<f32>,
    /// The MLP, input first; the last layer has one output.
    pub layers: Vec<Layer>,
    /// Figures of its training (held-out NDCG@10 within the lists, epochs).
    pub training: std::collections::BTreeMap<String, f64>,
}

impl RankerWeights {
    /// Width of the MLP's input.
    pub fn deep_width(&self) -> usize {
        dense_width(self.dim) + FIELDS.len() * self.factors
    }

    /// Checks every shape and value, naming what is wrong.
    ///
    /// # Errors
    /// The first inconsistency.
    pub fn validate(&self, dim: usize) -> Result<(), String> {
        if self.format != RANKER_FORMAT {
            return Err(format!("format {:?}, expected {RANKER_FORMAT:?}", self.format));
        }
        if self.dim != dim {
            return Err(format!("trained for dimension {}, the embeddings have {dim}", self.dim));
        }
        let width = dense_width(dim);
        let slots = FIELDS.len() * self.features.buckets as usize;
        for (what, got, want) in [
            ("mean", self.mean.len(), width),
            ("std", self.std.len(), width),
            ("first", self.first.len(), slots),
            ("embeddings", self.embeddings.len(), slots * self.factors),
        ] {
            if got != want {
                return Err(format!("{what} has {got} values, expected {want}"));
            }
        }
        if self.features.buckets == 0 || self.factors == 0 || self.features.recent == 0 {
            return Err("buckets, factors and recent must be positive".into());
        }
        let mut inputs = self.deep_width();
        for (k, l) in self.layers.iter().enumerate() {
            if l.inputs != inputs || l.weight.len() != l.inputs * l.outputs || l.bias.len() != l.outputs {
                return Err(format!(
                    "layer {k}: {} → {} does not fit its input {inputs}",
                    l.inputs, l.outputs
                ));
            }
            inputs = l.outputs;
        }
        if inputs != 1 || self.layers.is_empty() {
            return Err("the MLP must end in one output".into());
        }
        let all = self.mean.iter().chain(&self.std).chain(&self.first).chain(&self.embeddings);
        let layers = self.layers.iter().flat_map(|l| l.weight.iter().chain(&l.bias));
        if !self.bias.is_finite() || !all.chain(layers).all(|x| x.is_finite()) {
            return Err("a weight is not finite".into());
        }
        Ok(())
    }

    /// The score of each candidate of `f`.
    pub fn score(&self, f: &Features) -> Vec<f32> {
        let width = dense_width(self.dim);
        let k = self.factors;
        let fields = FIELDS.len();
        let n = f.sparse.len() / fields;
        let mut out = Vec::with_capacity(n);
        let mut h = Vec::with_capacity(self.deep_width());
        let mut next = Vec::new();
        for row in 0..n {
            let dense = &f.dense[row * width..(row + 1) * width];
            let ids = &f.sparse[row * fields..(row + 1) * fields];
            h.clear();
            h.extend(dense.iter().zip(&self.mean).zip(&self.std).map(|((x, m), s)| (x - m) / s));
            let mut linear = self.bias;
            let mut sum = vec![0f32; k];
            let mut squares = 0f32;
            for &b in ids {
                linear += self.first[b as usize];
                let e = &self.embeddings[b as usize * k..(b as usize + 1) * k];
                for (s, x) in sum.iter_mut().zip(e) {
                    *s += x;
                }
                squares += e.iter().map(|x| x * x).sum::<f32>();
                h.extend_from_slice(e);
            }
            let pairwise = 0.5 * (sum.iter().map(|s| s * s).sum::<f32>() - squares);
            for (li, l) in self.layers.iter().enumerate() {
                next.clear();
                next.extend(l.weight.chunks_exact(l.inputs).zip(&l.bias).map(|(w, b)| {
                    let y = crate::retrieve::dot(w, &h) + b;
                    if li + 1 < self.layers.len() {
                        y.max(0.0)
                    } else {
                        y
                    }
                }));
                std::mem::swap(&mut h, &mut next);
            }
            out.push(linear + pairwise + h[0]);
        }
        out
    }
}

/// `q`'s candidates re-ranked by `ranker`, best first, each with its ranker
/// score (the retrieval score stays in [`Ranked::retrieval`]).
pub fn rerank(ranker: &RankerWeights, cat: &Catalogue<'_>, q: &Query<'_>) -> Vec<Ranked> {
    let f = features(&ranker.features, cat, q);
    let scores = ranker.score(&f);
    let mut out: Vec<Ranked> = q
        .candidates
        .iter()
        .zip(scores)
        .map(|(c, s)| Ranked { item: c.item, score: s, retrieval: c.score })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
    out
}

/// A re-ranked candidate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// Dense item id.
    pub item: u32,
    /// The ranker's score.
    pub score: f32,
    /// The retrieval score.
    pub retrieval: f32,
}

impl From<Scored> for Ranked {
    /// A candidate in retrieval order: its score is the retrieval score.
    fn from(s: Scored) -> Self {
        Self { item: s.item, score: s.score, retrieval: s.score }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue<'a>(vectors: &'a [f32], categories: &'a [u64], stats: &'a ItemStats) -> Catalogue<'a> {
        Catalogue { vectors, dim: 2, categories, stats }
    }

    #[test]
    fn features_follow_their_definitions() {
        // Items 0..4 in 2-d; the user touched 0 (day 0) and 1 (day 2).
        let vectors = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, -1.0, 0.0];
        let categories = [7, 7, 8, NO_CATEGORY];
        let day = 86_400;
        let histories = [(vec![0u32, 1], vec![0i64, 2 * day]), (vec![2u32], vec![4 * day])];
        let stats = ItemStats::of(4, histories.iter().map(|(i, t)| (i.as_slice(), t.as_slice())));
        assert_eq!(stats.popularity, vec![1, 1, 1, 0]);
        assert_eq!((stats.cut, stats.last[0], stats.last[3]), (4 * day, 0, 4 * day));
        let cat = catalogue(&vectors, &categories, &stats);
        let cfg = FeatureConfig { recent: 2, recency: 0.5, buckets: 16 };
        let candidates = [Scored { item: 2, score: 3.0 }, Scored { item: 3, score: 1.0 }];
        let q = Query {
            user: 0,
            vector: &[1.0, 2.0],
            history: &histories[0].0,
            times: &histories[0].1,
            candidates: &candidates,
        };
        let f = features(&cfg, &cat, &q);
        let width = dense_width(2);
        assert_eq!(f.dense.len(), 2 * width);
        let row = &f.dense[..width];
        let c = std::f32::consts::FRAC_1_SQRT_2; // cos 45°
        let want = [
            1.0,                       // z-score: (3 - 2) / 1
            0.0,                       // ln(1 + rank 0)
            2f32.ln(),                 // one user
            0f32.ln_1p(),              // touched on the cut day
            (c * 1.0 + c * 0.5) / 1.5, // item 1 latest (weight 1), item 0 (0.5)
            c,                         // the best of the two
            c,                         // the latest item, 1
            3f32.ln(),                 // two items in the history
            0.0,                       // category 8: none in the history
            1.0,                       // 1·1
            2.0,                       // 2·1
        ];
        for (k, (g, w)) in row.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-5, "feature {k}: {g} != {w}");
        }
        // Item 3: never touched (popularity 0, age 0), opposite item 0.
        let second = &f.dense[width..];
        let want = [-1.0, 2f32.ln(), 0.0, 0.0, (0.0 - 0.5) / 1.5, 0.0, 0.0, 3f32.ln(), 0.0, -1.0, 0.0];
        for (k, (g, w)) in second.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-5, "feature {k} of item 3: {g} != {w}");
        }
        assert_eq!(&f.sparse[..3], &[bucket(0, 0, 16), bucket(1, 2, 16), bucket(2, 8, 16)]);
        assert!(f.sparse.iter().enumerate().all(|(k, &b)| b / 16 == (k % 3) as u32), "offset by field");
    }

    /// A ranker over 2-d embeddings with 2 buckets and 1 factor per field,
    /// its MLP one layer that reads the retrieval z-score twice over.
    fn tiny() -> RankerWeights {
        let width = dense_width(2) + FIELDS.len();
        let mut weight = vec![0.0; width];
        weight[0] = 2.0;
        RankerWeights {
            format: RANKER_FORMAT.into(),
            dim: 2,
            candidates: 2,
            features: FeatureConfig { recent: 1, recency: 1.0, buckets: 2 },
            factors: 1,
            mean: vec![0.0; dense_width(2)],
            std: vec![1.0; dense_width(2)],
            bias: 0.1,
            first: vec![0.01, 0.02, 0.03, 0.04, 0.05, 0.06],
            embeddings: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            layers: vec![Layer { inputs: width, outputs: 1, weight, bias: vec![0.5] }],
            training: Default::default(),
        }
    }

    #[test]
    fn the_score_is_bias_ids_pairs_and_mlp() {
        let r = tiny();
        r.validate(2).unwrap();
        let mut dense = vec![0.0; dense_width(2)];
        dense[0] = 1.5;
        let f = Features { dense, sparse: vec![0, 3, 4] };
        // Ids 0, 3, 4: first 0.01 + 0.04 + 0.05; embeddings 1, 4, 5 give
        // pairs 1·4 + 1·5 + 4·5 = 29; the MLP 2 × 1.5 + 0.5.
        let want = 0.1 + 0.10 + 29.0 + 3.5;
        assert!((r.score(&f)[0] - want).abs() < 1e-4, "{:?} != {want}", r.score(&f));
    }

    #[test]
    fn inconsistent_weights_are_refused_by_name() {
        assert!(tiny().validate(3).unwrap_err().contains("dimension 2"));
        let mut r = tiny();
        r.first.pop();
        assert!(r.validate(2).unwrap_err().contains("first has 5 values"));
        let mut r = tiny();
        r.layers[0].bias[0] = f32::NAN;
        assert!(r.validate(2).unwrap_err().contains("not finite"));
        let mut r = tiny();
        r.layers[0].inputs = 3;
        assert!(r.validate(2).unwrap_err().contains("layer 0"));
    }
}

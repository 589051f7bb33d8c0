//! Item-kNN: sim(i, j) = |U_i ∩ U_j| / (sqrt|U_i| · sqrt|U_j| + shrink);
//! each item j keeps its k most similar items i, and a user's score for j
//! sums sim(i, j) over the user's items i among them (the neighbourhood
//! model of Dacrema et al., RecSys 2019, as in `shared/BASELINES.md`).

use tessera_job::classic::ItemKnnSpec;

use super::weights::{co_occurrence, item_users, top_k, ItemWeights, Visit};

/// Fits item-kNN on `train_items` (per user, sorted unique items).
pub fn fit(train_items: &[Vec<u32>], num_items: usize, spec: &ItemKnnSpec) -> ItemWeights {
    cosine(train_items, num_items, spec.neighbours, spec.shrink, |_| 1.0)
}

/// The shrunk cosine with each co-occurrence counted as `pair(visit)` in
/// place of 1 (the norms stay the plain user counts), top `neighbours` per
/// target item.
pub fn cosine(
    train_items: &[Vec<u32>],
    num_items: usize,
    neighbours: u32,
    shrink: f64,
    pair: impl Fn(Visit) -> f32,
) -> ItemWeights {
    let users = item_users(train_items, num_items);
    let norm: Vec<f32> = users.iter().map(|u| (u.len() as f32).sqrt()).collect();
    let shrink = shrink as f32;
    let k = neighbours as usize;
    let incoming = co_occurrence(train_items, &users, pair, |j, counts| {
        for (i, c) in counts.iter_mut() {
            *c /= norm[j as usize] * norm[*i as usize] + shrink;
        }
        top_k(counts, k)
    });
    ItemWeights::from_incoming(incoming)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three users over four items: u0 {0, 1}, u1 {0, 1, 2}, u2 {2, 3}.
    fn matrix() -> Vec<Vec<u32>> {
        vec![vec![0, 1], vec![0, 1, 2], vec![2, 3]]
    }

    #[test]
    fn similarities_follow_the_shrunk_cosine() {
        let w = fit(&matrix(), 4, &ItemKnnSpec { neighbours: 10, shrink: 1.0 });
        // |U_0| = 2, |U_1| = 2, |U_2| = 2, |U_3| = 1.
        let sim = |i: usize, j: u32| w.out[i].iter().find(|e| e.0 == j).map(|e| e.1);
        assert_eq!(sim(0, 1), Some(2.0 / (2.0 + 1.0)));
        assert_eq!(sim(0, 2), Some(1.0 / (2.0 + 1.0)));
        assert_eq!(sim(2, 3), Some(1.0 / (2f32.sqrt() + 1.0)));
        assert_eq!(sim(0, 3), None, "items 0 and 3 share no user");
        assert_eq!(sim(0, 0), None, "no self-similarity");
    }

    #[test]
    fn a_user_scores_the_sum_over_their_items_and_top_k_cuts_per_target() {
        let w = fit(&matrix(), 4, &ItemKnnSpec { neighbours: 10, shrink: 0.0 });
        let mut s = vec![0f32; 4];
        w.score_into(&[0, 3], &[], &mut s); // a user holding items 0 and 3
                                            // Item 2: sim(0, 2) + sim(3, 2) = 1/2 + 1/sqrt(2).
        assert!((s[2] - (0.5 + 1.0 / 2f32.sqrt())).abs() < 1e-6, "{s:?}");
        // With k = 1, item 2 keeps only its most similar item (3: 1/sqrt 2 > 1/2).
        let w1 = fit(&matrix(), 4, &ItemKnnSpec { neighbours: 1, shrink: 0.0 });
        let mut s1 = vec![0f32; 4];
        w1.score_into(&[0, 3], &[], &mut s1);
        assert!((s1[2] - 1.0 / 2f32.sqrt()).abs() < 1e-6, "{s1:?}");
    }
}

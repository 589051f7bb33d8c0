//! Time-aware item-kNN: item-kNN's shrunk cosine where a user's two
//! interactions Δt apart add exp(−Δt / window) to their items'
//! co-occurrence in place of 1 (items bought in one sitting are closer than
//! items a week apart), and where a user's items vote with
//! recency^r, r counted back from the latest (the next purchase follows
//! the latest interest). Leave-one-out purchase logs are next-item
//! prediction, so both read the times the graph already keeps on its edges
//! (Ding and Li, "Time weight collaborative filtering", CIKM 2005; Ludewig
//! and Jannach, "Evaluation of session-based recommendation algorithms",
//! 2018). A graph without times gives every interaction time 0, and the
//! model is item-kNN.

use tessera_job::classic::TimeKnnSpec;

use super::itemknn::cosine;
use super::weights::ItemWeights;

/// Fits time-aware item-kNN on `train_items` (per user, sorted unique
/// items) whose last interaction times are `train_times` (same shape).
pub fn fit(
    train_items: &[Vec<u32>],
    train_times: &[Vec<i64>],
    num_items: usize,
    spec: &TimeKnnSpec,
) -> ItemWeights {
    let window = spec.window_days * 86_400.0;
    let kernel = |v: super::weights::Visit| {
        let Some(times) = train_times.get(v.user as usize) else { return 1.0 };
        match (times.get(v.a_pos), times.get(v.b_pos)) {
            (Some(&ta), Some(&tb)) => (-((ta - tb).unsigned_abs() as f64) / window).exp() as f32,
            _ => 1.0,
        }
    };
    cosine(train_items, num_items, spec.neighbours, spec.shrink, kernel).with_recency(spec.recency as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn spec(window_days: f64, recency: f64) -> TimeKnnSpec {
        TimeKnnSpec { neighbours: 10, shrink: 0.0, window_days, recency }
    }

    fn sim(w: &ItemWeights, i: usize, j: u32) -> f32 {
        w.out[i].iter().find(|e| e.0 == j).map_or(0.0, |e| e.1)
    }

    #[test]
    fn co_occurrences_far_apart_in_time_count_less() {
        // u0 touches 0 and 1 on the same day, and 2 ten days later.
        let items = vec![vec![0, 1, 2]];
        let times = vec![vec![0, 0, 10 * DAY]];
        let w = fit(&items, &times, 3, &spec(1.0, 1.0));
        // Each item has one user, so the norms are 1 and sim is the kernel.
        assert!((sim(&w, 0, 1) - 1.0).abs() < 1e-6);
        assert!((sim(&w, 0, 2) - (-10f32).exp()).abs() < 1e-9);
        // Without times (all 0) it is item-kNN.
        let plain = fit(&items, &[], 3, &spec(1.0, 1.0));
        let knn = crate::classic::itemknn::fit(
            &items,
            3,
            &tessera_job::classic::ItemKnnSpec { neighbours: 10, shrink: 0.0 },
        );
        assert_eq!(plain.out, knn.out);
    }

    #[test]
    fn the_latest_items_vote_more() {
        // Items 0 and 1 each vote for one target: 0 → 2, 1 → 3.
        let items = vec![vec![0, 2], vec![1, 3]];
        let w = fit(&items, &[], 4, &spec(1.0, 0.5));
        let mut s = vec![0f32; 4];
        // The user touched item 1 last: it votes with 1, item 0 with 0.5.
        w.score_into(&[0, 1], &[5, 9], &mut s);
        assert!((s[3] - 1.0).abs() < 1e-6 && (s[2] - 0.5).abs() < 1e-6, "{s:?}");
        // Items of the same time share a rank.
        let mut tied = vec![0f32; 4];
        w.score_into(&[0, 1], &[9, 9], &mut tied);
        assert_eq!(tied[2], tied[3]);
    }
}

//! Item–item co-occurrence (co-view, co-purchase): pairs of items touched by
//! the same user within a time window and a few events apart, capped at the
//! top-k partners per item so hot items do not blow up.

use crate::csr::EdgeAttrs;
use crate::spec::CoocScore;
use crate::split::Event;

/// Options for one co-occurrence relation.
#[derive(Debug, Clone, Copy)]
pub struct CoocOptions {
    /// Maximum time between the two events, seconds.
    pub window_secs: i64,
    /// Maximum number of events between them.
    pub max_gap: usize,
    /// Partners kept per item.
    pub top_k: usize,
    /// Ranking score.
    pub score: CoocScore,
}

/// Builds directed item→item edges, sorted by (src, dst), from `sequence`:
/// the selected events sorted by (user, ts).
pub fn cooccurrence(sequence: &[Event], num_items: usize, opts: CoocOptions) -> Vec<(u32, u32, EdgeAttrs)> {
    let mut pairs: Vec<u64> = Vec::new();
    let mut last_ts: Vec<(u64, i64)> = Vec::new();
    let mut start = 0;
    while start < sequence.len() {
        let user = sequence[start].user;
        let mut end = start;
        while end < sequence.len() && sequence[end].user == user {
            end += 1;
        }
        let events = &sequence[start..end];
        for (i, a) in events.iter().enumerate() {
            for b in events.iter().skip(i + 1).take(opts.max_gap) {
                if b.ts - a.ts > opts.window_secs {
                    break;
                }
                if a.item != b.item {
                    for (x, y) in [(a.item, b.item), (b.item, a.item)] {
                        let k = u64::from(x) << 32 | u64::from(y);
                        pairs.push(k);
                        last_ts.push((k, b.ts));
                    }
                }
            }
        }
        start = end;
    }
    pairs.sort_unstable();
    last_ts.sort_unstable();
    // Count each directed pair and remember its last time.
    let mut counted: Vec<(u32, u32, f32, i64)> = Vec::new();
    let mut i = 0;
    while i < pairs.len() {
        let k = pairs[i];
        let mut n = 0;
        while i < pairs.len() && pairs[i] == k {
            n += 1;
            i += 1;
        }
        let ts = last_ts[i - 1].1;
        counted.push(((k >> 32) as u32, k as u32, n as f32, ts));
    }
    let mut degree = vec![0f64; num_items];
    let mut total = 0f64;
    for &(src, _, n, _) in &counted {
        degree[src as usize] += f64::from(n);
        total += f64::from(n);
    }
    let score = |src: u32, dst: u32, n: f32| -> f32 {
        match opts.score {
            CoocScore::Count => n,
            CoocScore::Pmi => {
                (f64::from(n) * total / (degree[src as usize] * degree[dst as usize]).max(1.0)).ln() as f32
            }
        }
    };
    // Keep the top-k partners of each source (ties by lower item id).
    let mut edges = Vec::new();
    let mut s = 0;
    while s < counted.len() {
        let src = counted[s].0;
        let mut e = s;
        while e < counted.len() && counted[e].0 == src {
            e += 1;
        }
        let mut group: Vec<(u32, f32, f32, i64)> =
            counted[s..e].iter().map(|&(_, dst, n, ts)| (dst, n, score(src, dst, n), ts)).collect();
        group.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        group.truncate(opts.top_k);
        group.sort_by_key(|g| g.0);
        edges.extend(
            group.into_iter().map(|(dst, n, sc, ts)| (src, dst, EdgeAttrs { count: n, weight: sc, ts })),
        );
        s = e;
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Behavior;

    fn ev(user: u32, item: u32, ts: i64) -> Event {
        Event { user, item, behavior: Behavior::Click, ts }
    }

    #[test]
    fn pairs_respect_window_gap_and_top_k() {
        let seq = vec![ev(0, 1, 0), ev(0, 2, 10), ev(0, 3, 20), ev(0, 4, 5000), ev(1, 1, 0), ev(1, 2, 1)];
        let opts = CoocOptions { window_secs: 100, max_gap: 1, top_k: 1, score: CoocScore::Count };
        let edges = cooccurrence(&seq, 5, opts);
        // 1-2 twice, 2-3 once; 3-4 is outside the window; 1-3 is two events apart.
        let find = |a, b| edges.iter().find(|e| e.0 == a && e.1 == b).map(|e| e.2.count);
        assert_eq!(find(1, 2), Some(2.0));
        assert_eq!(find(2, 1), Some(2.0)); // top-1 of item 2 is item 1 (count 2 beats 1)
        assert_eq!(find(2, 3), None);
        assert_eq!(find(3, 2), Some(1.0));
        assert_eq!(find(3, 4), None);
        assert_eq!(find(1, 3), None);
    }
}

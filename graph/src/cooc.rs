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

/// Builds directed item→item edges, sorted by (src, dst), from `sequence`
/// (events sorted by (user, ts)), using only the events `keep` accepts.
/// Co-occurrence edges carry no timestamp (`ts` = 0): they summarise many
/// users' sessions rather than one moment.
pub fn cooccurrence(
    sequence: &[Event],
    keep: impl Fn(&Event) -> bool,
    num_items: usize,
    opts: CoocOptions,
) -> Vec<(u32, u32, EdgeAttrs)> {
    // Directed pair keys src<<32|dst, one per occurrence.
    let mut keys: Vec<u64> = Vec::new();
    let mut window: Vec<&Event> = Vec::with_capacity(opts.max_gap + 1);
    let mut user = None;
    for event in sequence.iter().filter(|e| keep(e)) {
        if user != Some(event.user) {
            window.clear();
            user = Some(event.user);
        }
        for prev in &window {
            if event.ts - prev.ts <= opts.window_secs && prev.item != event.item {
                keys.push(u64::from(prev.item) << 32 | u64::from(event.item));
                keys.push(u64::from(event.item) << 32 | u64::from(prev.item));
            }
        }
        if opts.max_gap > 0 {
            if window.len() == opts.max_gap {
                window.remove(0);
            }
            window.push(event);
        }
    }
    keys.sort_unstable();
    // Deduplicate in place, counting occurrences.
    let mut counts: Vec<u32> = Vec::new();
    let mut unique = 0;
    for i in 0..keys.len() {
        if unique > 0 && keys[unique - 1] == keys[i] {
            counts[unique - 1] += 1;
        } else {
            keys[unique] = keys[i];
            counts.push(1);
            unique += 1;
        }
    }
    keys.truncate(unique);
    keys.shrink_to_fit();
    let mut degree = vec![0f64; num_items];
    let mut total = 0f64;
    for (k, &n) in keys.iter().zip(&counts) {
        degree[(k >> 32) as usize] += f64::from(n);
        total += f64::from(n);
    }
    let score = |src: usize, dst: usize, n: u32| -> f32 {
        match opts.score {
            CoocScore::Count => n as f32,
            CoocScore::Pmi => (f64::from(n) * total / (degree[src] * degree[dst]).max(1.0)).ln() as f32,
        }
    };
    // Keep the top-k partners of each source (ties by lower item id).
    let mut edges = Vec::new();
    let mut group: Vec<(u32, u32, f32)> = Vec::new();
    let mut s = 0;
    while s < keys.len() {
        let src = (keys[s] >> 32) as u32;
        group.clear();
        let mut e = s;
        while e < keys.len() && (keys[e] >> 32) as u32 == src {
            let dst = keys[e] as u32;
            group.push((dst, counts[e], score(src as usize, dst as usize, counts[e])));
            e += 1;
        }
        group.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        group.truncate(opts.top_k);
        group.sort_by_key(|g| g.0);
        edges.extend(
            group.iter().map(|&(dst, n, sc)| (src, dst, EdgeAttrs { count: n as f32, weight: sc, ts: 0 })),
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
        let edges = cooccurrence(&seq, |_| true, 5, opts);
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

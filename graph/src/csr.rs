//! Builds compressed adjacency (CSR by source, CSC by destination) with edge
//! weights from aggregated edge lists.

/// Per-edge attributes carried by every relation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeAttrs {
    /// Number of raw events (or co-occurrences) behind the edge.
    pub count: f32,
    /// Time-decayed weight Σ exp(-λ(T−t)) (or the co-occurrence score).
    pub weight: f32,
    /// Last event time, Unix seconds.
    pub ts: i64,
}

/// One direction of a relation's adjacency, owned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Adjacency {
    /// `indptr[v]..indptr[v+1]` are v's edges; length `num_rows + 1`.
    pub indptr: Vec<u64>,
    /// Neighbour of each edge.
    pub indices: Vec<u32>,
    /// Count per edge.
    pub count: Vec<f32>,
    /// Decayed weight per edge.
    pub weight: Vec<f32>,
    /// Last timestamp per edge.
    pub ts: Vec<i64>,
}

/// Both directions of a relation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelationAdjacency {
    /// Rows are sources.
    pub csr: Adjacency,
    /// Rows are destinations.
    pub csc: Adjacency,
}

impl RelationAdjacency {
    /// Builds both directions from edges sorted by (src, dst) without
    /// duplicates.
    pub fn from_sorted(num_src: usize, num_dst: usize, edges: &[(u32, u32, EdgeAttrs)]) -> Self {
        debug_assert!(edges.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)));
        let mut csr = Adjacency { indptr: vec![0; num_src + 1], ..Adjacency::default() };
        csr.indices.reserve_exact(edges.len());
        csr.count.reserve_exact(edges.len());
        csr.weight.reserve_exact(edges.len());
        csr.ts.reserve_exact(edges.len());
        for &(src, dst, a) in edges {
            csr.indptr[src as usize + 1] += 1;
            csr.indices.push(dst);
            csr.count.push(a.count);
            csr.weight.push(a.weight);
            csr.ts.push(a.ts);
        }
        prefix_sum(&mut csr.indptr);

        // Counting sort by destination; sources stay sorted within a row.
        let mut indptr = vec![0u64; num_dst + 1];
        for &(_, dst, _) in edges {
            indptr[dst as usize + 1] += 1;
        }
        prefix_sum(&mut indptr);
        let mut cursor = indptr.clone();
        let n = edges.len();
        let mut csc = Adjacency {
            indptr,
            indices: vec![0; n],
            count: vec![0.0; n],
            weight: vec![0.0; n],
            ts: vec![0; n],
        };
        for &(src, dst, a) in edges {
            let at = cursor[dst as usize] as usize;
            cursor[dst as usize] += 1;
            csc.indices[at] = src;
            csc.count[at] = a.count;
            csc.weight[at] = a.weight;
            csc.ts[at] = a.ts;
        }
        Self { csr, csc }
    }
}

fn prefix_sum(values: &mut [u64]) {
    for i in 1..values.len() {
        values[i] += values[i - 1];
    }
}

/// Aggregates (key = src<<32 | dst, ts) events into sorted, unique edges with
/// count, decayed weight (decay rate `lambda` per second from `now`) and the
/// last timestamp. Sorts `events` in place.
pub fn aggregate(events: &mut [(u64, i64)], now: i64, lambda: f64) -> Vec<(u32, u32, EdgeAttrs)> {
    events.sort_unstable();
    let mut edges: Vec<(u32, u32, EdgeAttrs)> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        let key = events[i].0;
        let mut count = 0.0f32;
        let mut weight = 0.0f64;
        let mut last = i64::MIN;
        while i < events.len() && events[i].0 == key {
            let ts = events[i].1;
            count += 1.0;
            weight += (-lambda * (now - ts).max(0) as f64).exp();
            last = last.max(ts);
            i += 1;
        }
        edges.push(((key >> 32) as u32, key as u32, EdgeAttrs { count, weight: weight as f32, ts: last }));
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_and_csc_hold_the_same_edges() {
        let mut events = vec![(1u64 << 32 | 2, 10), (2, 5), (1u64 << 32 | 2, 20), (1u64 << 32, 7)];
        let edges = aggregate(&mut events, 20, 0.0);
        assert_eq!(edges.len(), 3);
        assert_eq!(edges[2].2, EdgeAttrs { count: 2.0, weight: 2.0, ts: 20 });
        let adj = RelationAdjacency::from_sorted(2, 3, &edges);
        assert_eq!(adj.csr.indptr, vec![0, 1, 3]);
        assert_eq!(adj.csr.indices, vec![2, 0, 2]);
        assert_eq!(adj.csc.indptr, vec![0, 1, 1, 3]);
        assert_eq!(adj.csc.indices, vec![1, 0, 1]);
        assert_eq!(adj.csc.count, vec![1.0, 1.0, 2.0]);
    }

    #[test]
    fn decay_halves_per_half_life() {
        let lambda = std::f64::consts::LN_2 / 100.0;
        let mut events = vec![(0u64, 0), (1u64, 100)];
        let edges = aggregate(&mut events, 100, lambda);
        assert!((edges[0].2.weight - 0.5).abs() < 1e-6);
        assert!((edges[1].2.weight - 1.0).abs() < 1e-6);
    }
}

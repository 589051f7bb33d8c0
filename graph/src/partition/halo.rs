//! Halo expansion: the nodes a part needs besides its own, found by a
//! breadth-first search of `hops` steps over the merged graph (any relation,
//! either direction) from the part's owned nodes.

use crate::partition::merged::MergedGraph;

/// Reusable visit marks for halo searches over one graph.
#[derive(Debug)]
pub struct HaloSearch {
    stamp: u32,
    marks: Vec<u32>,
}

impl HaloSearch {
    /// Marks for a graph of `num_vertices`.
    pub fn new(num_vertices: usize) -> Self {
        Self { stamp: 0, marks: vec![0; num_vertices] }
    }

    /// The halo of `part`: vertices not owned by it within `hops` of an owned
    /// vertex, sorted.
    pub fn halo(&mut self, merged: &MergedGraph, assignment: &[u32], part: u32, hops: u32) -> Vec<u32> {
        self.stamp += 1;
        let stamp = self.stamp;
        let mut frontier: Vec<u32> =
            (0..assignment.len() as u32).filter(|&v| assignment[v as usize] == part).collect();
        let mut halo = Vec::new();
        for _ in 0..hops {
            let mut next = Vec::new();
            for &u in &frontier {
                for &v in merged.neighbors(u as usize).0 {
                    let v = v as usize;
                    if assignment[v] != part && self.marks[v] != stamp {
                        self.marks[v] = stamp;
                        next.push(v as u32);
                    }
                }
            }
            halo.extend_from_slice(&next);
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        halo.sort_unstable();
        halo
    }
}

//! The METIS adapter: multilevel k-way over the merged graph with its two
//! balance constraints (nodes and training edges). `coordinator partition`
//! uses it to cut the graph, and the Cluster-GCN sampler to cut one part
//! into sub-parts.

use super::merged::{MergedGraph, NCON};
use crate::error::{GraphError, Result};

/// Runs METIS k-way on `merged` into `parts` parts, each constraint held
/// within `imbalance` (1.03 = 3%).
///
/// # Errors
/// `Config` when METIS rejects the input or fails (such as out of memory).
pub fn metis_assignment(merged: &MergedGraph, parts: u32, seed: u64, imbalance: f32) -> Result<Vec<u32>> {
    let mut part = vec![0 as metis::Idx; merged.num_vertices()];
    if merged.num_vertices() == 0 {
        return Ok(Vec::new());
    }
    let ubvec = [imbalance; NCON];
    metis::Graph::new(NCON as metis::Idx, parts as metis::Idx, &merged.xadj, &merged.adjncy)
        .map_err(|e| GraphError::Config(format!("METIS refused the merged graph: {e:?}")))?
        .set_vwgt(&merged.vwgt)
        .set_adjwgt(&merged.adjwgt)
        .set_ubvec(&ubvec)
        .set_option(metis::option::Seed(seed as metis::Idx))
        .part_kway(&mut part)
        .map_err(|e| GraphError::Config(format!("METIS k-way into {parts} parts failed: {e:?}")))?;
    Ok(part.into_iter().map(|p| p as u32).collect())
}

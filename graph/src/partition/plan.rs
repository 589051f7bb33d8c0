//! The on-disk partitioned graph: a plan directory with `plan.json`, the
//! vertex→part assignment, and one graph directory per part. A part is an
//! ordinary graph directory (see `store`) over local ids: per node type the
//! owned nodes come first, then the halo, and `nodes.<type>.u64` holds each
//! local node's global dense id. Its relations are the edges of the source
//! graph between local nodes, so a sampler inside a part never sees a node
//! from outside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::builder::BuiltGraph;
use crate::csr::{EdgeAttrs, RelationAdjacency};
use crate::error::{GraphError, Result};
use crate::features::FeatureMatrix;
use crate::partition::halo::HaloSearch;
use crate::partition::merged::MergedGraph;
use crate::partition::quality::Quality;
use crate::partition::space::NodeSpace;
use crate::schema::{NodeType, RelationKind};
use crate::split::{Split, SplitSummary};
use crate::store::{self, Graph};

/// The plan file in a partition directory.
pub const PLAN_FILE: &str = "plan.json";
/// The part description inside each part directory.
pub const PART_FILE: &str = "part.json";
/// The assignment file: one little-endian u32 part per global vertex.
pub const ASSIGNMENT_FILE: &str = "assignment.u32";
const FORMAT: &str = "tessera-partitions";
const VERSION: u32 = 1;

/// One part's description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartInfo {
    /// Part index.
    pub part: u32,
    /// Number of parts in the plan.
    pub parts: u32,
    /// Directory name inside the plan directory.
    pub dir: String,
    /// Per node type: (type, owned, halo). Local ids below `owned` are owned.
    pub nodes: Vec<(NodeType, u64, u64)>,
    /// Relation edges stored in the part.
    pub num_edges: u64,
    /// Training edges whose user the part owns.
    pub train_edges: u64,
    /// Halo depth.
    pub halo_hops: u32,
}

impl PartInfo {
    /// Owned nodes of a type (local ids `0..owned`).
    pub fn num_owned(&self, node_type: NodeType) -> usize {
        self.nodes.iter().find(|n| n.0 == node_type).map_or(0, |n| n.1 as usize)
    }
}

/// A partition plan, as written to `plan.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionPlan {
    /// Always `tessera-partitions`.
    pub format: String,
    /// Format version.
    pub version: u32,
    /// The partitioned graph directory.
    pub graph: PathBuf,
    /// `metis` or `random`.
    pub method: String,
    /// Number of parts.
    pub parts: u32,
    /// Halo depth.
    pub halo_hops: u32,
    /// Seed of the partitioner.
    pub seed: u64,
    /// The global vertex space.
    pub space: NodeSpace,
    /// Quality of this plan.
    pub quality: Quality,
    /// Quality of a random assignment with the same number of parts.
    pub baseline: Option<Quality>,
    /// One entry per part.
    pub part_infos: Vec<PartInfo>,
    /// CRC32 of the assignment file.
    pub assignment_crc32: u32,
    /// Seconds per phase.
    pub timings: BTreeMap<String, f64>,
}

impl PartitionPlan {
    /// A plan header; `write_partitions` fills in the parts.
    pub fn new(
        graph: PathBuf,
        method: &str,
        parts: u32,
        halo_hops: u32,
        seed: u64,
        quality: Quality,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            graph,
            method: method.into(),
            parts,
            halo_hops,
            seed,
            space: NodeSpace { types: Vec::new() },
            quality,
            baseline: None,
            part_infos: Vec::new(),
            assignment_crc32: 0,
            timings: BTreeMap::new(),
        }
    }

    /// Loads `plan.json` from a partition directory.
    ///
    /// # Errors
    /// Fails when the file is missing, unreadable or of another format.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(PLAN_FILE);
        let text = std::fs::read(&path).map_err(GraphError::io("read", &path))?;
        let plan: Self = serde_json::from_slice(&text)
            .map_err(|e| GraphError::Corrupt { dir: dir.into(), reason: format!("{PLAN_FILE}: {e}") })?;
        if plan.format != FORMAT || plan.version != VERSION {
            return Err(GraphError::Corrupt {
                dir: dir.into(),
                reason: format!("format {} v{}, expected {FORMAT} v{VERSION}", plan.format, plan.version),
            });
        }
        Ok(plan)
    }

    /// Reads and checks the vertex→part assignment.
    ///
    /// # Errors
    /// Fails when the file is missing, of the wrong size, fails its checksum
    /// or names a part out of range.
    pub fn load_assignment(&self, dir: &Path) -> Result<Vec<u32>> {
        let path = dir.join(ASSIGNMENT_FILE);
        let bytes = std::fs::read(&path).map_err(GraphError::io("read", &path))?;
        let corrupt = |reason: String| GraphError::Corrupt { dir: dir.into(), reason };
        if bytes.len() != self.space.len() * 4 || crc32fast::hash(&bytes) != self.assignment_crc32 {
            return Err(corrupt(format!("{ASSIGNMENT_FILE} fails its size or checksum")));
        }
        let parts: Vec<u32> =
            bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if let Some(p) = parts.iter().find(|&&p| p >= self.parts) {
            return Err(corrupt(format!("{ASSIGNMENT_FILE} names part {p} of {}", self.parts)));
        }
        Ok(parts)
    }
}

/// One loaded part: its graph over local ids and its description.
#[derive(Debug)]
pub struct Part {
    /// The part's graph (local ids; `raw_ids` are global dense ids).
    pub graph: Graph,
    /// The description.
    pub info: PartInfo,
}

impl Part {
    /// Opens a part directory.
    ///
    /// # Errors
    /// Fails when the graph or `part.json` is missing or damaged, or when they
    /// disagree.
    pub fn open(dir: &Path) -> Result<Self> {
        let graph = Graph::open(dir)?;
        let path = dir.join(PART_FILE);
        let text = std::fs::read(&path).map_err(GraphError::io("read", &path))?;
        let info: PartInfo = serde_json::from_slice(&text)
            .map_err(|e| GraphError::Corrupt { dir: dir.into(), reason: format!("{PART_FILE}: {e}") })?;
        for &(t, owned, halo) in &info.nodes {
            if graph.num_nodes(t) as u64 != owned + halo {
                return Err(GraphError::Corrupt {
                    dir: dir.into(),
                    reason: format!(
                        "{t}: part.json says {owned}+{halo} nodes, graph has {}",
                        graph.num_nodes(t)
                    ),
                });
            }
        }
        Ok(Self { graph, info })
    }

    /// Global dense ids of a type's local nodes (owned first).
    pub fn global_ids(&self, node_type: NodeType) -> &[u64] {
        self.graph.raw_ids(node_type)
    }
}

/// Writes the plan directory at `out`: the assignment, one part directory
/// per part with its halo of `plan.halo_hops` hops, and `plan.json`. The
/// directory appears atomically.
///
/// # Errors
/// Fails on I/O errors or when `out` exists and is not a plan directory.
pub fn write_partitions(
    graph: &Graph,
    merged: &MergedGraph,
    assignment: &[u32],
    mut plan: PartitionPlan,
    out: &Path,
) -> Result<PartitionPlan> {
    if assignment.len() != merged.num_vertices() {
        return Err(GraphError::Config(format!(
            "assignment has {} entries for {} vertices",
            assignment.len(),
            merged.num_vertices()
        )));
    }
    plan.space = merged.space.clone();
    crate::atomic::write_dir(out, PLAN_FILE, |tmp| {
        let bytes: Vec<u8> = assignment.iter().flat_map(|p| p.to_le_bytes()).collect();
        plan.assignment_crc32 = crc32fast::hash(&bytes);
        crate::atomic::write_file(&tmp.join(ASSIGNMENT_FILE), &bytes)?;
        let mut search = HaloSearch::new(merged.num_vertices());
        let mut local_of = vec![u32::MAX; merged.num_vertices()];
        plan.quality.halo_nodes.clear();
        plan.part_infos.clear();
        for part in 0..plan.parts {
            let halo = search.halo(merged, assignment, part, plan.halo_hops);
            let info = write_part(graph, merged, assignment, part, &plan, &halo, &mut local_of, tmp)?;
            plan.quality.halo_nodes.push(halo.len() as u64);
            plan.part_infos.push(info);
        }
        let text =
            serde_json::to_vec_pretty(&plan).map_err(|e| GraphError::Config(format!("encode plan: {e}")))?;
        crate::atomic::write_file(&tmp.join(PLAN_FILE), &text)?;
        Ok(plan)
    })
}

#[allow(clippy::too_many_arguments)]
fn write_part(
    graph: &Graph,
    merged: &MergedGraph,
    assignment: &[u32],
    part: u32,
    plan: &PartitionPlan,
    halo: &[u32],
    local_of: &mut [u32],
    tmp: &Path,
) -> Result<PartInfo> {
    let space = &merged.space;
    // Local vertex lists per type: owned, then halo, each in global order.
    let mut per_type: Vec<(NodeType, Vec<u32>, u64)> = Vec::new();
    for &(t, offset, count) in &space.types {
        let range = offset as usize..(offset + count) as usize;
        let mut locals: Vec<u32> =
            range.clone().filter(|&v| assignment[v] == part).map(|v| v as u32).collect();
        let owned = locals.len() as u64;
        let lo = halo.partition_point(|&v| (v as usize) < range.start);
        let hi = halo.partition_point(|&v| (v as usize) < range.end);
        locals.extend_from_slice(&halo[lo..hi]);
        for (local, &v) in locals.iter().enumerate() {
            local_of[v as usize] = local as u32;
        }
        per_type.push((t, locals, owned));
    }

    let raw_ids = per_type
        .iter()
        .map(|(t, locals, _)| {
            let offset = space.offset(*t).unwrap_or(0);
            (*t, locals.iter().map(|&v| u64::from(v) - offset).collect::<Vec<u64>>())
        })
        .collect::<Vec<_>>();
    let locals_of = |t: NodeType| per_type.iter().find(|p| p.0 == t).map(|p| p.1.as_slice()).unwrap_or(&[]);

    let mut features = Vec::new();
    for (t, globals) in &raw_ids {
        let (values, dim) = graph.features(*t);
        if dim == 0 {
            continue;
        }
        let mut m = FeatureMatrix::new(globals.len());
        if let Some(info) = graph.manifest().node_types.iter().find(|i| i.node_type == *t) {
            m.names = info.feature_names.clone();
            m.scales = info.feature_scales.clone();
            m.price_thresholds = info.price_thresholds.clone();
        }
        m.values.reserve_exact(globals.len() * dim);
        for &g in globals {
            m.values.extend_from_slice(&values[g as usize * dim..(g as usize + 1) * dim]);
        }
        features.push((*t, m));
    }

    let mut relations = Vec::new();
    let mut num_edges = 0u64;
    let mut train_edges = 0u64;
    for rel in &graph.manifest().relations {
        let Some((spec, csr, _)) = graph.relation(&rel.spec.name) else { continue };
        let (Some(dst_offset), Some(src_offset)) = (space.offset(spec.dst), space.offset(spec.src)) else {
            continue;
        };
        let srcs = locals_of(spec.src);
        let mut edges: Vec<(u32, u32, EdgeAttrs)> = Vec::new();
        for (ls, &vs) in srcs.iter().enumerate() {
            let s = (u64::from(vs) - src_offset) as u32;
            let row_start = edges.len();
            for at in csr.range(s) {
                let vd = dst_offset as usize + csr.indices[at] as usize;
                let ld = local_of[vd];
                if ld != u32::MAX {
                    edges.push((
                        ls as u32,
                        ld,
                        EdgeAttrs { count: csr.count[at], weight: csr.weight[at], ts: csr.ts[at] },
                    ));
                }
            }
            edges[row_start..].sort_unstable_by_key(|e| e.1);
            if matches!(spec.kind, RelationKind::Behavior(_)) && assignment[vs as usize] == part {
                train_edges += csr.degree(s) as u64;
            }
        }
        num_edges += edges.len() as u64;
        let adjacency = RelationAdjacency::from_sorted(srcs.len(), locals_of(spec.dst).len(), &edges);
        relations.push((spec.clone(), adjacency));
    }

    let dir = format!("part-{part:04}");
    let built = BuiltGraph {
        raw_ids,
        relations,
        features,
        split: Split {
            summary: SplitSummary { kind: "partition".into(), ..SplitSummary::default() },
            ..Split::default()
        },
        report: graph.manifest().report.clone(),
        history: None,
    };
    store::write(&built, &tmp.join(&dir))?;
    let info = PartInfo {
        part,
        parts: plan.parts,
        dir: dir.clone(),
        nodes: per_type.iter().map(|(t, locals, owned)| (*t, *owned, locals.len() as u64 - owned)).collect(),
        num_edges,
        train_edges,
        halo_hops: plan.halo_hops,
    };
    let text =
        serde_json::to_vec_pretty(&info).map_err(|e| GraphError::Config(format!("encode part: {e}")))?;
    crate::atomic::write_file(&tmp.join(&dir).join(PART_FILE), &text)?;
    for (_, locals, _) in &per_type {
        for &v in locals {
            local_of[v as usize] = u32::MAX;
        }
    }
    Ok(info)
}

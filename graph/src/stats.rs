//! Summary figures of a stored graph: nodes per type, edges per relation,
//! degree percentiles, the split and the rows skipped, as a table or JSON.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::builder::BuildReport;
use crate::schema::NodeType;
use crate::split::SplitSummary;
use crate::store::{AdjView, Graph};

/// Degree percentiles of one direction of a relation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DegreeStats {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Maximum.
    pub max: u64,
}

impl DegreeStats {
    fn of(adj: &AdjView<'_>) -> Self {
        let mut degrees: Vec<u64> = adj.indptr.windows(2).map(|w| w[1] - w[0]).collect();
        if degrees.is_empty() {
            return Self::default();
        }
        degrees.sort_unstable();
        let at = |q: f64| degrees[((degrees.len() - 1) as f64 * q).round() as usize];
        Self { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1.0) }
    }
}

/// One node type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Type.
    pub node_type: NodeType,
    /// Nodes.
    pub count: u64,
    /// Feature columns.
    pub feature_dim: usize,
}

/// One relation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationStats {
    /// Name.
    pub name: String,
    /// Source type.
    pub src: NodeType,
    /// Destination type.
    pub dst: NodeType,
    /// Edges.
    pub edges: u64,
    /// Out-degree over all source nodes.
    pub out_degree: DegreeStats,
    /// In-degree over all destination nodes.
    pub in_degree: DegreeStats,
}

/// Everything `graph build` and `graph stats` print.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphStats {
    /// Node types.
    pub nodes: Vec<NodeStats>,
    /// Relations.
    pub relations: Vec<RelationStats>,
    /// The split.
    pub split: SplitSummary,
    /// Build report (rows read and skipped, log counts).
    pub report: BuildReport,
    /// Bytes on disk.
    pub size_bytes: u64,
}

impl GraphStats {
    /// Computes the figures of a stored graph.
    pub fn of(graph: &Graph) -> Self {
        let m = graph.manifest();
        Self {
            nodes: m
                .node_types
                .iter()
                .map(|t| NodeStats {
                    node_type: t.node_type,
                    count: t.count,
                    feature_dim: t.feature_names.len(),
                })
                .collect(),
            relations: m
                .relations
                .iter()
                .filter_map(|r| {
                    let (_, csr, csc) = graph.relation(&r.spec.name)?;
                    Some(RelationStats {
                        name: r.spec.name.clone(),
                        src: r.spec.src,
                        dst: r.spec.dst,
                        edges: r.num_edges,
                        out_degree: DegreeStats::of(&csr),
                        in_degree: DegreeStats::of(&csc),
                    })
                })
                .collect(),
            split: m.split.clone(),
            report: m.report.clone(),
            size_bytes: graph.size_bytes(),
        }
    }
}

impl fmt::Display for GraphStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.report;
        writeln!(f, "rows read {}  skipped {}", r.log.rows_read, r.log.num_skipped())?;
        for (reason, count) in &r.log.skipped {
            writeln!(f, "  skipped {count:>10}  {reason}")?;
        }
        for example in &r.log.examples {
            writeln!(f, "  e.g. {example}")?;
        }
        writeln!(
            f,
            "in the log: {} users, {} items, {} categories; events {}",
            r.log_users,
            r.log_items,
            r.log_categories,
            r.log_events_per_behavior.iter().map(|(b, n)| format!("{b}={n}")).collect::<Vec<_>>().join(" ")
        )?;
        writeln!(f, "{}", r.time_line())?;
        writeln!(f, "\n{:<10} {:>12} {:>8}", "node type", "nodes", "feat dim")?;
        for n in &self.nodes {
            writeln!(f, "{:<10} {:>12} {:>8}", n.node_type.as_str(), n.count, n.feature_dim)?;
        }
        writeln!(
            f,
            "\n{:<14} {:<18} {:>10}  {:>22}  {:>22}",
            "relation", "src → dst", "edges", "out-deg p50/p90/p99/max", "in-deg p50/p90/p99/max"
        )?;
        for rel in &self.relations {
            let d = |s: &DegreeStats| format!("{}/{}/{}/{}", s.p50, s.p90, s.p99, s.max);
            writeln!(
                f,
                "{:<14} {:<18} {:>10}  {:>22}  {:>22}",
                rel.name,
                format!("{} → {}", rel.src, rel.dst),
                rel.edges,
                d(&rel.out_degree),
                d(&rel.in_degree)
            )?;
        }
        let s = &self.split;
        writeln!(
            f,
            "\nsplit {}: train rows {}, held out {}, test pairs {}, valid pairs {}, labelled {}, dropped (seen in train) {}{}",
            s.kind,
            s.train_rows,
            s.heldout_rows,
            s.test_pairs,
            s.valid_pairs,
            s.labeled_pairs,
            s.dropped_seen_in_train,
            s.cut.map(|c| format!(", cut at {c}")).unwrap_or_default()
        )?;
        write!(
            f,
            "size {:.1} MB; read {:.2}s, build {:.2}s",
            self.size_bytes as f64 / 1e6,
            r.read_secs,
            r.build_secs
        )
    }
}

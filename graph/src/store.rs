//! The on-disk graph: one versioned directory of little-endian arrays plus a
//! JSON manifest with a CRC32 per file. Written to a temporary directory and
//! renamed into place; loaded with memory maps and checked on open.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::builder::{BuildReport, BuiltGraph};
use crate::csr::Adjacency;
use crate::error::{GraphError, Result};
use crate::schema::{NodeType, RelationSpec};
use crate::split::SplitSummary;

/// Format name in the manifest.
pub const FORMAT: &str = "tessera-graph";
/// Current format version.
pub const VERSION: u32 = 1;
/// Manifest file name.
pub const MANIFEST: &str = "manifest.json";
/// Subdirectory of the graph at test time (see [`Graph::open_history`]).
pub const HISTORY: &str = "history";

/// One node type's entry in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTypeInfo {
    /// The type.
    pub node_type: NodeType,
    /// Number of nodes.
    pub count: u64,
    /// Feature column names.
    pub feature_names: Vec<String>,
    /// How each column was standardised (empty in graphs built before it
    /// was recorded): a new node's raw values are encoded with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feature_scales: Vec<crate::features::ColumnScale>,
    /// Items with prices: the price-decile thresholds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub price_thresholds: Vec<f32>,
}

/// One relation's entry in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationInfo {
    /// Name and endpoint types.
    pub spec: RelationSpec,
    /// Number of edges.
    pub num_edges: u64,
}

/// A stored file's size and checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileInfo {
    /// Length in bytes.
    pub bytes: u64,
    /// CRC32 (IEEE) of the content.
    pub crc32: u32,
}

/// The manifest of a graph directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Format version.
    pub version: u32,
    /// Present node types.
    pub node_types: Vec<NodeTypeInfo>,
    /// Stored relations.
    pub relations: Vec<RelationInfo>,
    /// Split figures.
    pub split: SplitSummary,
    /// Build report.
    pub report: BuildReport,
    /// Every data file with its size and checksum.
    pub files: BTreeMap<String, FileInfo>,
}

struct Writer {
    dir: PathBuf,
    files: BTreeMap<String, FileInfo>,
}

impl Writer {
    fn put<T: bytemuck::Pod>(&mut self, name: String, values: &[T]) -> Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(values);
        let path = self.dir.join(&name);
        let file = File::create(&path).map_err(GraphError::io("create", &path))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(bytes).map_err(GraphError::io("write", &path))?;
        let file = out.into_inner().map_err(|e| GraphError::io("write", &path)(e.into_error()))?;
        file.sync_all().map_err(GraphError::io("fsync", &path))?;
        self.files.insert(name, FileInfo { bytes: bytes.len() as u64, crc32: crc32fast::hash(bytes) });
        Ok(())
    }

    fn put_adjacency(&mut self, prefix: &str, adj: &Adjacency) -> Result<()> {
        self.put(format!("{prefix}.indptr.u64"), &adj.indptr)?;
        self.put(format!("{prefix}.indices.u32"), &adj.indices)?;
        self.put(format!("{prefix}.count.f32"), &adj.count)?;
        self.put(format!("{prefix}.weight.f32"), &adj.weight)?;
        self.put(format!("{prefix}.ts.i64"), &adj.ts)
    }
}

fn pairs_flat(pairs: &[(u32, u32)]) -> Vec<u32> {
    pairs.iter().flat_map(|&(u, i)| [u, i]).collect()
}

/// Writes `graph` to `out`, atomically: into `out.tmp-<pid>` first, then
/// renamed. An existing graph directory at `out` is replaced; any other
/// existing path is refused.
///
/// # Errors
/// Fails on I/O errors or when `out` exists and is not a graph directory.
pub fn write(graph: &BuiltGraph, out: &Path) -> Result<Manifest> {
    crate::atomic::write_dir(out, MANIFEST, |tmp| write_into(graph, tmp))
}

fn write_into(graph: &BuiltGraph, dir: &Path) -> Result<Manifest> {
    let mut w = Writer { dir: dir.to_path_buf(), files: BTreeMap::new() };
    let mut node_types = Vec::new();
    for (node_type, raw) in &graph.raw_ids {
        w.put(format!("nodes.{node_type}.u64"), raw)?;
        let features = graph.features.iter().find(|(t, _)| t == node_type).map(|(_, f)| f);
        let feature_names = features.map(|f| f.names.clone()).unwrap_or_default();
        if let Some(f) = features {
            w.put(format!("features.{node_type}.f32"), &f.values)?;
        }
        node_types.push(NodeTypeInfo {
            node_type: *node_type,
            count: raw.len() as u64,
            feature_names,
            feature_scales: features.map(|f| f.scales.clone()).unwrap_or_default(),
            price_thresholds: features.map(|f| f.price_thresholds.clone()).unwrap_or_default(),
        });
    }
    let mut relations = Vec::new();
    for (spec, adj) in &graph.relations {
        w.put_adjacency(&format!("rel.{}.csr", spec.name), &adj.csr)?;
        w.put_adjacency(&format!("rel.{}.csc", spec.name), &adj.csc)?;
        relations.push(RelationInfo { spec: spec.clone(), num_edges: adj.csr.indices.len() as u64 });
    }
    w.put("split.test.u32".into(), &pairs_flat(&graph.split.test))?;
    w.put("split.valid.u32".into(), &pairs_flat(&graph.split.valid))?;
    let labeled: Vec<u32> =
        graph.split.labeled.iter().flat_map(|p| [p.user, p.item, u32::from(p.label)]).collect();
    w.put("split.labeled.u32".into(), &labeled)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        node_types,
        relations,
        split: graph.split.summary.clone(),
        report: graph.report.clone(),
        files: w.files,
    };
    let text = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| GraphError::Config(format!("encode manifest: {e}")))?;
    crate::atomic::write_file(&dir.join(MANIFEST), &text)?;
    if let Some(history) = &graph.history {
        let sub = dir.join(HISTORY);
        std::fs::create_dir_all(&sub).map_err(GraphError::io("create", &sub))?;
        write_into(history, &sub)?;
    }
    Ok(manifest)
}

/// A memory-mapped file (or nothing, for an empty file).
#[derive(Debug)]
enum Mapped {
    Map(Mmap),
    Empty,
}

impl Mapped {
    fn bytes(&self) -> &[u8] {
        match self {
            Mapped::Map(m) => m,
            Mapped::Empty => &[],
        }
    }
}

/// A stored graph, memory-mapped.
#[derive(Debug)]
pub struct Graph {
    dir: PathBuf,
    manifest: Manifest,
    files: BTreeMap<String, Mapped>,
}

/// One direction of a relation, borrowed from the maps.
#[derive(Debug, Clone, Copy)]
pub struct AdjView<'a> {
    /// Row offsets.
    pub indptr: &'a [u64],
    /// Neighbours.
    pub indices: &'a [u32],
    /// Counts.
    pub count: &'a [f32],
    /// Decayed weights.
    pub weight: &'a [f32],
    /// Last timestamps.
    pub ts: &'a [i64],
}

impl<'a> AdjView<'a> {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.indptr.len().saturating_sub(1)
    }

    /// Edge range of row `v`.
    pub fn range(&self, v: u32) -> std::ops::Range<usize> {
        self.indptr[v as usize] as usize..self.indptr[v as usize + 1] as usize
    }

    /// Neighbours of row `v`.
    pub fn neighbors(&self, v: u32) -> &'a [u32] {
        &self.indices[self.range(v)]
    }

    /// Degree of row `v`.
    pub fn degree(&self, v: u32) -> usize {
        (self.indptr[v as usize + 1] - self.indptr[v as usize]) as usize
    }
}

/// Reads only a graph directory's manifest (no checksums), for a quick
/// look at its counts and split.
///
/// # Errors
/// Fails when the manifest cannot be read or parsed.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read(&path).map_err(GraphError::io("read", &path))?;
    serde_json::from_slice(&text)
        .map_err(|e| GraphError::Corrupt { dir: dir.to_path_buf(), reason: format!("manifest: {e}") })
}

impl Graph {
    /// The graph at test time (see [`crate::BuiltGraph::history`]), when
    /// the split cut validation rows out of training; else None.
    ///
    /// # Errors
    /// Fails when it is there and does not open.
    pub fn open_history(&self) -> Result<Option<Graph>> {
        if !self.manifest.split.valid_in_history {
            return Ok(None);
        }
        let sub = self.dir.join(HISTORY);
        if !sub.join(MANIFEST).is_file() {
            return Err(GraphError::Corrupt {
                dir: self.dir.clone(),
                reason: format!("the split cut validation rows out of training, but {HISTORY}/ is missing"),
            });
        }
        Graph::open(&sub).map(Some)
    }

    /// Opens and checks a graph directory: format, version, sizes and CRCs.
    ///
    /// # Errors
    /// Fails with `Corrupt` naming the problem.
    pub fn open(dir: &Path) -> Result<Self> {
        let corrupt = |reason: String| GraphError::Corrupt { dir: dir.to_path_buf(), reason };
        let path = dir.join(MANIFEST);
        let text = std::fs::read(&path).map_err(GraphError::io("read", &path))?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| corrupt(format!("manifest: {e}")))?;
        if manifest.format != FORMAT || manifest.version != VERSION {
            return Err(corrupt(format!(
                "format {} v{}, expected {FORMAT} v{VERSION}",
                manifest.format, manifest.version
            )));
        }
        let mut files = BTreeMap::new();
        for (name, info) in &manifest.files {
            let path = dir.join(name);
            let file = File::open(&path).map_err(GraphError::io("open", &path))?;
            let len = file.metadata().map_err(GraphError::io("stat", &path))?.len();
            if len != info.bytes {
                return Err(corrupt(format!("{name} has {len} bytes, manifest says {}", info.bytes)));
            }
            let mapped = if len == 0 {
                Mapped::Empty
            } else {
                // SAFETY: the directory is written once and never modified in
                // place (rebuilds rename a new directory over it).
                Mapped::Map(unsafe { Mmap::map(&file) }.map_err(GraphError::io("mmap", &path))?)
            };
            if crc32fast::hash(mapped.bytes()) != info.crc32 {
                return Err(corrupt(format!("{name} fails its checksum")));
            }
            files.insert(name.clone(), mapped);
        }
        let graph = Self { dir: dir.to_path_buf(), manifest, files };
        graph.check_shapes()?;
        Ok(graph)
    }

    fn check_shapes(&self) -> Result<()> {
        let corrupt = |reason: String| GraphError::Corrupt { dir: self.dir.clone(), reason };
        for info in &self.manifest.node_types {
            let n = self.raw_ids(info.node_type).len() as u64;
            if n != info.count {
                return Err(corrupt(format!("{} has {n} ids, manifest says {}", info.node_type, info.count)));
            }
            let (values, dim) = self.features(info.node_type);
            if values.len() != info.count as usize * dim {
                return Err(corrupt(format!("{} features have {} values", info.node_type, values.len())));
            }
        }
        for rel in &self.manifest.relations {
            let view = self
                .relation(&rel.spec.name)
                .ok_or_else(|| corrupt(format!("relation {} missing", rel.spec.name)))?;
            for (adj, rows, cols) in [
                (view.1, self.num_nodes(rel.spec.src), self.num_nodes(rel.spec.dst)),
                (view.2, self.num_nodes(rel.spec.dst), self.num_nodes(rel.spec.src)),
            ] {
                let m = adj.indices.len();
                let ok = adj.indptr.len() == rows + 1
                    && adj.indptr.first() == Some(&0)
                    && adj.indptr.last() == Some(&(m as u64))
                    && adj.indptr.windows(2).all(|w| w[0] <= w[1])
                    && adj.count.len() == m
                    && adj.weight.len() == m
                    && adj.ts.len() == m
                    && adj.indices.iter().all(|&v| (v as usize) < cols);
                if !ok || m as u64 != rel.num_edges {
                    return Err(corrupt(format!("relation {} has inconsistent adjacency", rel.spec.name)));
                }
            }
        }
        Ok(())
    }

    fn array<T: bytemuck::Pod>(&self, name: &str) -> &[T] {
        self.files.get(name).map(|m| bytemuck::try_cast_slice(m.bytes()).unwrap_or(&[])).unwrap_or(&[])
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Node types present.
    pub fn node_types(&self) -> Vec<NodeType> {
        self.manifest.node_types.iter().map(|t| t.node_type).collect()
    }

    /// Number of nodes of a type (0 when absent).
    pub fn num_nodes(&self, node_type: NodeType) -> usize {
        self.manifest.node_types.iter().find(|t| t.node_type == node_type).map_or(0, |t| t.count as usize)
    }

    /// Dense → raw ids of a type.
    pub fn raw_ids(&self, node_type: NodeType) -> &[u64] {
        self.array(&format!("nodes.{node_type}.u64"))
    }

    /// Row-major features of a type and their dimension.
    pub fn features(&self, node_type: NodeType) -> (&[f32], usize) {
        let dim = self
            .manifest
            .node_types
            .iter()
            .find(|t| t.node_type == node_type)
            .map_or(0, |t| t.feature_names.len());
        (self.array(&format!("features.{node_type}.f32")), dim)
    }

    /// A relation by name: its spec, CSR (by source) and CSC (by destination).
    pub fn relation(&self, name: &str) -> Option<(&RelationSpec, AdjView<'_>, AdjView<'_>)> {
        let info = self.manifest.relations.iter().find(|r| r.spec.name == name)?;
        let view = |dir: &str| AdjView {
            indptr: self.array(&format!("rel.{name}.{dir}.indptr.u64")),
            indices: self.array(&format!("rel.{name}.{dir}.indices.u32")),
            count: self.array(&format!("rel.{name}.{dir}.count.f32")),
            weight: self.array(&format!("rel.{name}.{dir}.weight.f32")),
            ts: self.array(&format!("rel.{name}.{dir}.ts.i64")),
        };
        Some((&info.spec, view("csr"), view("csc")))
    }

    /// Test targets as (user, item).
    pub fn test_pairs(&self) -> Vec<(u32, u32)> {
        self.array::<u32>("split.test.u32").chunks_exact(2).map(|c| (c[0], c[1])).collect()
    }

    /// Validation targets as (user, item).
    pub fn valid_pairs(&self) -> Vec<(u32, u32)> {
        self.array::<u32>("split.valid.u32").chunks_exact(2).map(|c| (c[0], c[1])).collect()
    }

    /// Labelled AUC pairs as (user, item, label).
    pub fn labeled_pairs(&self) -> Vec<(u32, u32, u8)> {
        self.array::<u32>("split.labeled.u32").chunks_exact(3).map(|c| (c[0], c[1], c[2] as u8)).collect()
    }

    /// Total bytes of the data files.
    pub fn size_bytes(&self) -> u64 {
        self.manifest.files.values().map(|f| f.bytes).sum()
    }
}

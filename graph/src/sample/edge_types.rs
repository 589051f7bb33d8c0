//! The edge types messages flow along: every stored relation in its own
//! direction (read from the CSC: a destination's sources) and reversed (read
//! from the CSR), so each target node hears from all its neighbours.

use crate::schema::{NodeType, RelationKind};
use crate::store::{AdjView, Graph};

/// One direction of one relation, indexed by message destination.
#[derive(Debug, Clone, Copy)]
pub struct EdgeType<'a> {
    /// Index of the relation in the manifest.
    pub relation: usize,
    /// Whether this is the reverse direction.
    pub reverse: bool,
    /// What the relation is.
    pub kind: RelationKind,
    /// Type of the message source.
    pub src: NodeType,
    /// Type of the message destination.
    pub dst: NodeType,
    /// Rows are destinations; `neighbors(d)` are the sources.
    pub adj: AdjView<'a>,
}

/// All edge types of a graph.
#[derive(Debug, Clone)]
pub struct MessageGraph<'a> {
    /// Edge types, forward relations first, each followed by its reverse.
    pub edge_types: Vec<EdgeType<'a>>,
    /// Name of each edge type, in the same order.
    names: Vec<String>,
}

impl<'a> MessageGraph<'a> {
    /// Every relation of `graph` in both directions.
    pub fn new(graph: &'a Graph) -> Self {
        let relations = &graph.manifest().relations;
        let mut names = Vec::new();
        let mut edge_types = Vec::new();
        for (i, rel) in relations.iter().enumerate() {
            let Some((spec, csr, csc)) = graph.relation(&rel.spec.name) else { continue };
            names.push(rel.spec.name.clone());
            names.push(rel.spec.reverse_name());
            edge_types.push(EdgeType {
                relation: i,
                reverse: false,
                kind: spec.kind,
                src: spec.src,
                dst: spec.dst,
                adj: csc,
            });
            edge_types.push(EdgeType {
                relation: i,
                reverse: true,
                kind: spec.kind,
                src: spec.dst,
                dst: spec.src,
                adj: csr,
            });
        }
        Self { edge_types, names }
    }

    /// Edge types built elsewhere (such as random-walk neighbourhoods),
    /// with one name per edge type.
    ///
    /// # Panics
    /// When the two lists differ in length.
    pub fn from_parts(edge_types: Vec<EdgeType<'a>>, names: Vec<String>) -> Self {
        assert_eq!(edge_types.len(), names.len(), "one name per edge type");
        Self { edge_types, names }
    }

    /// Keeps only the edge types `keep` accepts.
    pub fn filtered(self, keep: impl Fn(&EdgeType<'a>) -> bool) -> Self {
        let (edge_types, names) =
            self.edge_types.into_iter().zip(self.names).filter(|(e, _)| keep(e)).unzip();
        Self { edge_types, names }
    }

    /// Name of edge type `e` (`click` or `rev_click`).
    pub fn name(&self, e: usize) -> &str {
        &self.names[e]
    }

    /// The edge types into each destination type, by `NodeType::index`.
    pub fn incoming(&self) -> Vec<Vec<usize>> {
        let mut into = vec![Vec::new(); crate::schema::NodeType::ALL.len()];
        for (e, et) in self.edge_types.iter().enumerate() {
            into[et.dst.index()].push(e);
        }
        into
    }

    /// Names of all edge types, in order.
    pub fn names(&self) -> Vec<String> {
        self.names.clone()
    }
}

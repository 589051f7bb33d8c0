//! The global vertex space of a typed graph: every node type's dense ids laid
//! end to end, in `NodeType` order, so one integer names any node.

use serde::{Deserialize, Serialize};

use crate::schema::NodeType;
use crate::store::Graph;

/// Node types with their counts and offsets in the global vertex space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSpace {
    /// (type, first global vertex, count), in `NodeType` order.
    pub types: Vec<(NodeType, u64, u64)>,
}

impl NodeSpace {
    /// The space of a stored graph.
    pub fn of(graph: &Graph) -> Self {
        let mut types = graph.node_types();
        types.sort_by_key(|t| t.index());
        let mut offset = 0;
        let types = types
            .into_iter()
            .map(|t| {
                let count = graph.num_nodes(t) as u64;
                let entry = (t, offset, count);
                offset += count;
                entry
            })
            .collect();
        Self { types }
    }

    /// Number of vertices of all types.
    pub fn len(&self) -> usize {
        self.types.last().map_or(0, |&(_, offset, count)| (offset + count) as usize)
    }

    /// Whether the space has no vertex.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// First global vertex of a type, or `None` when the graph lacks it.
    pub fn offset(&self, node_type: NodeType) -> Option<u64> {
        self.types.iter().find(|t| t.0 == node_type).map(|t| t.1)
    }

    /// The global vertex of (type, dense id). The type must be present.
    pub fn global(&self, node_type: NodeType, id: u32) -> usize {
        let offset = self.offset(node_type).expect("node type present in the space");
        offset as usize + id as usize
    }

    /// The (type, dense id) of a global vertex.
    pub fn local(&self, vertex: usize) -> (NodeType, u32) {
        let v = vertex as u64;
        let at = self.types.partition_point(|&(_, offset, _)| offset <= v) - 1;
        let (t, offset, _) = self.types[at];
        (t, (v - offset) as u32)
    }
}

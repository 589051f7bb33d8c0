//! Neighbourhood samplers over a graph (usually one partition), written in
//! Rust over the CSR/CSC arrays. They turn a batch of seed nodes into a
//! multi-layer heterogeneous block (a message-flow graph) that the models
//! consume: per-layer fan-outs (`neighbor`), METIS sub-part unions
//! (`cluster`), or random-walk neighbourhoods (`random_walk`, read through
//! the neighbour sampler).

pub mod block;
pub mod cluster;
pub mod edge_types;
pub mod neighbor;
pub mod pagerank;
pub mod random_walk;

pub use block::Block;
pub use cluster::{ClusterBlock, ClusterSampler};
pub use edge_types::{EdgeType, MessageGraph};
pub use neighbor::{NeighborSampler, Weighting};
pub use pagerank::pagerank;
pub use random_walk::{WalkGraph, WalkParams};

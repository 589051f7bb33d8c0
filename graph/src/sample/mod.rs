//! Neighbourhood samplers over a graph (usually one partition), written in
//! Rust over the CSR/CSC arrays. They turn a batch of seed nodes into a
//! multi-layer heterogeneous block (a message-flow graph) that the models
//! consume.

pub mod block;
pub mod edge_types;
pub mod neighbor;
pub mod pagerank;

pub use block::Block;
pub use edge_types::{EdgeType, MessageGraph};
pub use neighbor::{NeighborSampler, Weighting};
pub use pagerank::pagerank;

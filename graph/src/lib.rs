//! Tessera's heterogeneous graph library: the data model shared by the
//! coordinator and the worker. No networking and no libtorch.

pub mod ids;

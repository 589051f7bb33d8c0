//! Helpers shared by the graph integration tests.

use std::path::{Path, PathBuf};

use tessera_graph::{BuildSpec, Graph};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/datasets/<name>` beside the checkout; panics with a hint when absent.
pub fn dataset(name: &str) -> PathBuf {
    let dir = repo_root().join("../shared/datasets").join(name);
    assert!(
        dir.is_dir(),
        "dataset {} not found: the shared datasets must sit beside the checkout",
        dir.display()
    );
    dir
}

/// Builds the example spec `examples/graphs/<name>.toml` into a temp dir and opens it.
pub fn build_example(name: &str) -> (tempfile::TempDir, Graph) {
    dataset(name);
    let spec = BuildSpec::from_file(&repo_root().join(format!("examples/graphs/{name}.toml"))).unwrap();
    let built = tessera_graph::build(&spec, true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("graph");
    tessera_graph::store::write(&built, &out).unwrap();
    let graph = Graph::open(&out).unwrap();
    (dir, graph)
}

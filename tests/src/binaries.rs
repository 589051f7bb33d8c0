//! Locates the workspace binaries (`ps-server`, `coordinator`, `worker`)
//! that `cargo build --workspace --bins` wrote into the target directory.

use std::path::PathBuf;

/// The directory cargo writes this profile's binaries to.
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESSERA_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // tests/ sits one level below the workspace root.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    target.join(profile)
}

/// Path of a workspace binary.
///
/// # Errors
/// Fails with a hint when the binary has not been built.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let path = target_dir().join(name);
    anyhow::ensure!(
        path.is_file(),
        "binary {} not found; run `cargo build --workspace --bins` (make test does)",
        path.display()
    );
    Ok(path)
}

//! Locates the workspace binaries (`ps-server`, `coordinator`, `worker`)
//! that `cargo build --workspace --bins` wrote into the target directory:
//! beside the test binary's `deps/` folder, by the same rule the launchers
//! use (`tessera_runtime::children::binary_dir`, `$TESSERA_BIN_DIR` first).

use std::path::PathBuf;

/// The directory cargo writes this profile's binaries to.
///
/// # Panics
/// When the running test binary cannot be located.
pub fn target_dir() -> PathBuf {
    tessera_runtime::children::binary_dir().expect("locate the test binary")
}

/// Path of a workspace binary.
///
/// # Errors
/// Fails with a hint when the binary has not been built.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    tessera_runtime::children::sibling_binary(name)
}

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

/// A command for a workspace binary that talks plaintext on loopback: it
/// carries `TESSERA_INSECURE=1`, the explicit opt-out of TLS every binary
/// needs without certificates. The TLS tests build their commands with
/// certificates instead.
///
/// # Errors
/// As [`binary`].
pub fn command(name: &str) -> anyhow::Result<std::process::Command> {
    let mut command = std::process::Command::new(binary(name)?);
    command.env("TESSERA_INSECURE", "1");
    Ok(command)
}

/// Path of a workspace binary.
///
/// # Errors
/// Fails with a hint when the binary has not been built.
pub fn binary(name: &str) -> anyhow::Result<PathBuf> {
    tessera_runtime::children::sibling_binary(name)
}

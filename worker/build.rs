//! Makes the worker binary find libtorch at run time without
//! `LD_LIBRARY_PATH` (an rpath to the libtorch that torch-sys linked), and
//! records that libtorch's version for `worker --version`. With
//! `TESSERA_CUDA=1` it also links `libtorch_cuda` (kept by
//! `--no-as-needed`: nothing names its symbols, so the linker would drop it
//! and libtorch would see no GPU). The default build leaves it out, so a CPU
//! worker does not load the 2.7 GB of CUDA libraries.

use std::path::Path;

fn main() {
    // torch-sys has `links = "tch"` and exports the library directory it used.
    let lib_dir = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if !lib_dir.is_empty() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    println!("cargo:rerun-if-env-changed=TESSERA_CUDA");
    if std::env::var("TESSERA_CUDA").is_ok_and(|v| v == "1") {
        if !Path::new(&lib_dir).join("libtorch_cuda.so").is_file() {
            panic!("TESSERA_CUDA=1, but {lib_dir} has no libtorch_cuda.so (a CPU-only libtorch)");
        }
        println!("cargo:rustc-link-arg-bins=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
    let version = libtorch_version(Path::new(&lib_dir)).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TESSERA_LIBTORCH_VERSION={version}");
    println!("cargo:rustc-env=TESSERA_LIBTORCH_LIB={lib_dir}");
}

/// Reads the version from a pip torch package (`torch/version.py`) or a
/// libtorch distribution (`build-version`), both one level above `lib/`.
fn libtorch_version(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(text) = std::fs::read_to_string(root.join("build-version")) {
        return Some(text.trim().to_owned());
    }
    let text = std::fs::read_to_string(root.join("version.py")).ok()?;
    println!("cargo:rerun-if-changed={}", root.join("version.py").display());
    text.lines()
        .find_map(|line| line.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
}

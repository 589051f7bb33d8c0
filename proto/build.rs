//! Compiles the `.proto` files into OUT_DIR, with a file descriptor set for
//! server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "proto/tessera/common/v1/common.proto",
        "proto/tessera/ps/v1/ps.proto",
        "proto/tessera/coordinator/v1/coordinator.proto",
        "proto/tessera/bench/v1/echo.proto",
        "proto/tessera/recommend/v1/recommend.proto",
    ];
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    tonic_prost_build::configure()
        // `bytes` fields decode as `bytes::Bytes`: slices of the receive
        // buffer instead of copies, and cheap to clone for retries.
        .bytes(".")
        .file_descriptor_set_path(out_dir.join("tessera_descriptor.bin"))
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}

//! The graph-build spec parser on arbitrary text: a spec or an error naming
//! the field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_graph::BuildSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = BuildSpec::parse(text, std::path::Path::new("fuzz/graph.toml"));
});

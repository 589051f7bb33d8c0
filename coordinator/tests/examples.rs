//! Every example job spec parses and validates.

use std::path::Path;

use tessera_job::JobSpec;

#[test]
fn example_job_specs_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/jobs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let spec = JobSpec::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                spec.dataset.build.as_ref().is_some_and(|b| b.is_file()),
                "{}: build spec",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 5, "demo, pairs, ecomm, tmall_mb and taobao_slice");
}

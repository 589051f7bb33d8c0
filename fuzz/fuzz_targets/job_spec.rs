//! The job-spec parser on arbitrary text: it returns a spec or an error
//! naming the problem, never panics, and a spec it accepts encodes to TOML
//! and parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_job::JobSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(spec) = JobSpec::parse(text, None) {
        let again = toml::to_string(&spec).expect("an accepted spec encodes");
        JobSpec::parse(&again, None).expect("an encoded spec parses again");
    }
});

//! The behaviour-log reader on arbitrary bytes, under the Taobao and Tmall
//! layouts, lenient and strict: every good row reaches the sink with a known
//! behaviour, bad rows are counted or refused with their line, and nothing
//! panics.
#![no_main]

use std::io::Write as _;

use libfuzzer_sys::fuzz_target;
use tessera_graph::ingest::format::{LogFormat, Preset};
use tessera_graph::ingest::log::read_log_csv;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    let path = std::env::temp_dir().join(format!("tessera-fuzz-log-{}.csv", std::process::id()));
    let mut file = std::fs::File::create(&path).expect("a scratch file");
    file.write_all(body).expect("write the scratch file");
    drop(file);
    let preset = if mode & 1 == 0 { Preset::Taobao } else { Preset::Tmall };
    let format = LogFormat::preset(preset).expect("a preset layout");
    let strict = mode & 2 != 0;
    let mut rows = 0u64;
    if let Ok(report) = read_log_csv(&path, &format, strict, |_| rows += 1) {
        assert!(rows <= report.rows_read, "{rows} rows passed on, {} read", report.rows_read);
    }
});

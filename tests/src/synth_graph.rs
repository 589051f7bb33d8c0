//! Graphs of synthetic logs for the tests: a Taobao-format log with the
//! generator's item table, the last 10% of its time range held out as the
//! test period, optionally extending another graph's ids.

use std::path::{Path, PathBuf};

use tessera_graph::ingest::{ItemTableSpec, Preset};
use tessera_graph::spec::{BuildSpec, SplitSpec};

/// Builds the graph of `log` with `items` (the generator's layout) into
/// `out`, the last 10% of the time range as the test period, extending the
/// graph at `extends` when given.
///
/// # Errors
/// An unreadable input or a failed write.
pub fn build_time_cut(
    log: PathBuf,
    items: PathBuf,
    extends: Option<PathBuf>,
    out: &Path,
) -> anyhow::Result<()> {
    let mut spec = BuildSpec::for_preset(log, Preset::Taobao);
    spec.items = Some(ItemTableSpec::synth_layout(items));
    spec.split = SplitSpec::TimeCut {
        at: None,
        fraction: Some(0.9),
        test_behaviors: Vec::new(),
        valid_fraction: None,
    };
    spec.extends = extends;
    spec.validate()?;
    tessera_graph::store::write(&tessera_graph::build(&spec, true)?, out)?;
    Ok(())
}

//! The run directory's report: `progress.jsonl` (every progress report
//! seen), `report.md` and the PNG plots under `plots/`, built from the
//! finished job, its spec, its graph and partition plan, and the progress
//! history recorded while watching it.

pub mod history;
pub mod markdown;
pub mod plots;
pub mod series;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tessera_graph::partition::PartitionPlan;
use tessera_graph::stats::GraphStats;
use tessera_graph::store::Graph;
use tessera_proto::coordinator::v1::Job;

use history::History;
use tessera_job::JobSpec;

/// Everything the report is made from.
#[derive(Debug)]
pub struct RunData<'a> {
    /// The finished job.
    pub job: &'a Job,
    /// Its spec.
    pub spec: &'a JobSpec,
    /// Progress recorded while watching.
    pub history: &'a History,
    /// The graph's figures, when the graph could be opened.
    pub graph_stats: Option<String>,
    /// The partition quality table, when the plan could be read.
    pub partition_table: Option<String>,
}

/// What [`write`] produced.
#[derive(Debug)]
pub struct Written {
    /// `report.md`.
    pub report: PathBuf,
    /// The PNGs.
    pub plots: Vec<PathBuf>,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

/// Gathers the report's inputs; the graph and plan are optional extras.
pub fn gather<'a>(job: &'a Job, spec: &'a JobSpec, history: &'a History) -> RunData<'a> {
    let graph_stats = Graph::open(&spec.dataset.graph).ok().map(|g| GraphStats::of(&g).to_string());
    let partition_table =
        PartitionPlan::load(&spec.partitions_dir()).ok().map(|p| crate::cli::partition::render(&p));
    RunData { job, spec, history, graph_stats, partition_table }
}

/// Writes `progress.jsonl`, the plots and `report.md` into `run_dir`. A
/// plot that cannot be drawn (no font, say) is left out and named in the
/// report; the rest is still written.
///
/// # Errors
/// Fails when the run directory cannot be written.
pub fn write(run_dir: &Path, data: &RunData<'_>) -> anyhow::Result<Written> {
    data.history.write_jsonl(&run_dir.join("progress.jsonl"))?;
    let plot_dir = run_dir.join("plots");
    std::fs::create_dir_all(&plot_dir).with_context(|| format!("create {}", plot_dir.display()))?;
    let mut notes = Vec::new();
    let mut drawn: Vec<&str> = Vec::new();
    let mut plot = |name: &'static str, draw: &dyn Fn(&Path) -> anyhow::Result<()>| {
        let path = plot_dir.join(name);
        match draw(&path) {
            Ok(()) => drawn.push(name),
            Err(e) => notes.push(format!("plots/{name} was not drawn: {e:#}")),
        }
    };
    let (job, spec) = (data.job, data.spec);
    let losses = series::losses(spec, data.history);
    if !losses.is_empty() {
        plot("loss.png", &|p| {
            plots::panel_lines(p, "Training loss per model and task", "epoch", "loss", &losses)
        });
    }
    let rates = series::throughput(job, spec, data.history);
    if !rates.is_empty() {
        plot("throughput.png", &|p| {
            plots::line_chart(
                p,
                "Positive edges per second, per worker and model",
                "seconds since submission",
                "edges/s",
                &rates,
                true,
            )
        });
    }
    let validation = series::validation(job, spec);
    if !validation.is_empty() {
        plot("validation.png", &|p| {
            plots::line_chart(
                p,
                "Validation NDCG@10 after each epoch",
                "epoch",
                "NDCG@10",
                &validation,
                false,
            )
        });
    }
    let profiles = series::popularity(job);
    if let Some(first) = profiles.first() {
        let deciles: Vec<String> = (1..=first.interaction_share.len()).map(|d| format!("{}0%", d)).collect();
        let mut bars = vec![
            ("catalogue".to_owned(), vec![1.0 / deciles.len() as f64; deciles.len()]),
            ("training interactions".to_owned(), first.interaction_share.clone()),
        ];
        bars.extend(
            profiles.iter().map(|p| (format!("{} top-{}", p.model, p.k), p.recommended_share.clone())),
        );
        plot("long_tail.png", &|p| {
            plots::grouped_bars(
                p,
                "Recommended items by popularity decile (10% = most popular)",
                &deciles,
                "share",
                &bars,
            )
        });
    }
    let report = run_dir.join("report.md");
    std::fs::write(&report, markdown::render(data, &drawn, &notes))
        .with_context(|| format!("write {}", report.display()))?;
    Ok(Written { report, plots: drawn.iter().map(|n| plot_dir.join(n)).collect(), notes })
}

//! `report.md`: the run's results, example recommendations, training
//! curves and time split, dataset and partition figures, and the job spec,
//! with links to the PNG plots. Also the plain-text form of the example
//! recommendations that `coordinator local` prints.

use std::fmt::Write as _;

use tessera_proto::coordinator::v1::{Job, SampleRecommendation};

use super::series;
use super::RunData;

/// Metric columns of the results table, in the report and in the table
/// `coordinator local` prints: test metrics, then validation ones (`val_`).
pub const COLUMNS: &[&str] = &[
    "recall@20",
    "ndcg@10",
    "ndcg@20",
    "hr@10",
    "mrr",
    "sampled_hr@10",
    "auc",
    "coverage@20",
    "long_tail@20",
    "val_recall@20",
    "val_ndcg@10",
];

/// The example recommendations of the final test report for `model`.
pub fn samples_of<'a>(job: &'a Job, model: &str) -> Vec<&'a SampleRecommendation> {
    job.metric_reports
        .iter()
        .rev()
        .find(|r| r.phase == "test")
        .map(|r| r.samples.iter().filter(|s| s.model == model).collect())
        .unwrap_or_default()
}

fn date(ts: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(ts.max(0) as u64),
    )
    .to_string()
    .replace('T', " ")
    .trim_end_matches('Z')
    .to_owned()
}

/// Example recommendations as text: each user's recent behaviour, then the
/// top items with category and score; `*` marks a held-out target.
pub fn render_samples_text(samples: &[&SampleRecommendation]) -> String {
    let mut out = String::new();
    for s in samples {
        // A log without times gives undated rows: no order to claim, no date to show.
        let timed = s.recent.iter().any(|r| r.ts.is_some());
        let heading =
            if timed { "recent behaviour, newest first" } else { "behaviour (the log has no times)" };
        let _ = writeln!(out, "user {} ({}): {heading}", s.user, s.model);
        for r in &s.recent {
            let line = format!("    {:<5} item {:<10} category {:<8} ", r.behavior, r.item, r.category);
            let _ = writeln!(out, "{}", (line + &r.ts.map(date).unwrap_or_default()).trim_end());
        }
        let _ = writeln!(out, "  top {}:", s.top.len());
        for (k, t) in s.top.iter().enumerate() {
            let mark = if t.hit { "  * held-out target" } else { "" };
            let _ = writeln!(
                out,
                "    {:>2}. item {:<10} category {:<8} score {:>8.4}{mark}",
                k + 1,
                t.item,
                t.category,
                t.score
            );
        }
    }
    out
}

fn metric_table(data: &RunData<'_>) -> String {
    let mut out = format!("| model | {} |\n|---|{}\n", COLUMNS.join(" | "), "---:|".repeat(COLUMNS.len()));
    for (m, name) in data.spec.model_names().iter().enumerate() {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|c| data.job.metrics.get(&format!("{name}/{c}")).map_or("-".into(), |v| format!("{v:.4}")))
            .collect();
        let label = if m == 0 { format!("**{name}** (main)") } else { name.to_owned() };
        let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
    }
    out
}

fn time_table(data: &RunData<'_>) -> String {
    let rows = series::time_breakdown(data.spec, data.history);
    if rows.is_empty() {
        return "No progress was recorded.\n".into();
    }
    let mut out = String::from(
        "| partition | worker | model | edges/s (mean) | sample s | pull s | compute s | push s | wait s |\n\
         |---:|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (part, worker, model, rate, t) in rows {
        let _ = writeln!(
            out,
            "| {part} | {worker} | {model} | {rate:.0} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            t.sample, t.pull, t.compute, t.push, t.wait
        );
    }
    out.push_str(
        "\nSampling and pulls run ahead of the step on other threads and pushes run behind it, so only \
         compute and wait hold the step up.\n",
    );
    out
}

/// The acknowledged PS updates lost to shard restarts, as the partitions'
/// holders counted them (the coordinator carries an earlier holder's count
/// over to the next, `crate::carry`).
fn durability_line(job: &Job) -> String {
    let (updates, rows, restarts) = job
        .progress
        .iter()
        .fold((0, 0, 0), |a, p| (a.0 + p.updates_lost, a.1 + p.rows_lost, a.2 + p.ps_restarts));
    if restarts == 0 {
        return "No PS shard restarted under a worker: no acknowledged update was lost.\n".into();
    }
    format!(
        "The workers saw {restarts} PS shard restart(s). {updates} acknowledged push(es) ({rows} rows) \
         were after the checkpoint the shard came back from, and are lost; training went on from the \
         checkpointed values.\n"
    )
}

fn popularity_table(data: &RunData<'_>) -> String {
    let profiles = series::popularity(data.job);
    let Some(first) = profiles.first() else { return String::new() };
    let mut out = format!(
        "Share of each model's top-{} recommendations per popularity decile of the catalogue \
         (decile 1 = the 10% most popular items), next to the share of training interactions.\n\n\
         | decile | interactions |",
        first.k
    );
    for p in &profiles {
        let _ = write!(out, " {} |", p.model);
    }
    let _ = write!(out, "\n|---:|---:|{}\n", "---:|".repeat(profiles.len()));
    for d in 0..first.interaction_share.len() {
        let _ = write!(out, "| {} | {:.3} |", d + 1, first.interaction_share[d]);
        for p in &profiles {
            let _ = write!(out, " {:.3} |", p.recommended_share.get(d).copied().unwrap_or(0.0));
        }
        out.push('\n');
    }
    out
}

fn samples_markdown(data: &RunData<'_>) -> String {
    let mut out = String::new();
    for name in data.spec.model_names() {
        for s in samples_of(data.job, &name) {
            let recent: Vec<String> = s
                .recent
                .iter()
                .map(|r| format!("{} item {} (category {})", r.behavior, r.item, r.category))
                .collect();
            let _ = writeln!(out, "**{}, user {}**. Recent: {}.\n", name, s.user, recent.join("; "));
            out.push_str(
                "| rank | item | category | score | held-out target |\n|---:|---:|---:|---:|:---:|\n",
            );
            for (k, t) in s.top.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.4} | {} |",
                    k + 1,
                    t.item,
                    t.category,
                    t.score,
                    if t.hit { "yes" } else { "" }
                );
            }
            out.push('\n');
        }
    }
    out
}

/// The whole report; `plots` are the PNG file names written under `plots/`,
/// `notes` anything that could not be included.
pub fn render(data: &RunData<'_>, plots: &[&str], notes: &[String]) -> String {
    let job = data.job;
    let mut out = format!("# Tessera run report: {}\n\n", job.job_id);
    let wall = (job.updated_unix_ms - job.created_unix_ms) as f64 / 1000.0;
    let _ = writeln!(
        out,
        "State **{}**, {wall:.0} s from submission to the end. Models: {} (main first), {} epochs each, \
         {} workers, {} PS shards.\n",
        crate::cli::jobs::render_state(job),
        data.spec.model_names().join(", "),
        data.spec.train.epochs,
        data.spec.cluster.workers,
        data.spec.cluster.ps_shards
    );
    for note in notes {
        let _ = writeln!(out, "> {note}\n");
    }
    let has = |name: &str| plots.contains(&name);
    out.push_str("## Results\n\nFull ranking over all items, each user's training items excluded; ");
    out.push_str("sampled HR@10 against 99 negatives; long tail = share of the top 20 from the 80% least popular items.\n\n");
    out.push_str(&metric_table(data));
    if has("validation.png") {
        out.push_str("\nValidation NDCG@10 during training (a sample of validation users, scored on the whole graph):\n\n![validation NDCG@10](plots/validation.png)\n");
    }
    out.push_str("\n## Example recommendations\n\n");
    out.push_str(&samples_markdown(data));
    out.push_str("## Training\n\n");
    if has("loss.png") {
        out.push_str("![loss per task](plots/loss.png)\n\n");
    }
    if has("throughput.png") {
        out.push_str("![positive edges per second per worker](plots/throughput.png)\n\n");
    }
    out.push_str("### Time split\n\n");
    out.push_str(&time_table(data));
    out.push_str("\n### Parameter-server durability\n\n");
    out.push_str(&durability_line(data.job));
    out.push_str("\n## Popularity of the recommendations\n\n");
    if has("long_tail.png") {
        out.push_str("![popularity of recommended items](plots/long_tail.png)\n\n");
    }
    out.push_str(&popularity_table(data));
    if let Some(stats) = &data.graph_stats {
        let _ = write!(out, "\n## Dataset\n\n```text\n{stats}\n```\n");
    }
    if let Some(plan) = &data.partition_table {
        let _ = write!(out, "\n## Partitions\n\n```text\n{plan}```\n");
    }
    let _ = write!(out, "\n## Job spec\n\n```toml\n{}\n```\n", job.spec_toml.trim_end());
    out
}

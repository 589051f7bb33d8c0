//! Turns a job's history and reports into chart series and tables: losses
//! per model (a panel each) and task, edges/s per worker, validation NDCG@10 over time,
//! popularity shares and each worker's time split.

use std::collections::BTreeMap;

use tessera_proto::coordinator::v1::{Job, PopularityProfile};

use tessera_control::timing::TimeSplit;

use super::history::{History, Point};
use super::plots::{Panel, Series};
use tessera_job::JobSpec;

/// Points per line after averaging into time bins.
const BINS: f64 = 120.0;

/// The model trained in job-wide `epoch` (models train one after another).
pub fn model_of(spec: &JobSpec, epoch: u32) -> &'static str {
    let models = spec.models();
    let k = (epoch / spec.train.epochs.max(1)) as usize;
    models[k.min(models.len() - 1)].as_str()
}

fn seconds(job: &Job, unix_ms: i64) -> f64 {
    (unix_ms - job.created_unix_ms) as f64 / 1000.0
}

/// Means of `(x, y)` samples per time bin, so several workers' reports make one line.
fn binned(mut samples: Vec<(f64, f64)>, width: f64) -> Vec<(f64, f64)> {
    samples.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut bins: BTreeMap<i64, (f64, f64, u32)> = BTreeMap::new();
    for (x, y) in samples.into_iter().filter(|p| p.1.is_finite()) {
        let e = bins.entry((x / width).floor() as i64).or_default();
        e.0 += x;
        e.1 += y;
        e.2 += 1;
    }
    bins.into_values().map(|(x, y, n)| (x / f64::from(n), y / f64::from(n))).collect()
}

fn bin_width(job: &Job, history: &History) -> f64 {
    let end = history.points.iter().map(|p| seconds(job, p.unix_ms)).fold(1.0, f64::max);
    (end / BINS).max(1.0)
}

/// One panel per model, one line per task: the loss against the epoch
/// within that model's own phase (epoch + step / steps per epoch), so each
/// model starts at 0 and no line runs across another model's phase. A task
/// that is the model's only one besides `total` equals `total`; it is drawn
/// once, as `total = <task>`.
pub fn losses(spec: &JobSpec, history: &History) -> Vec<Panel> {
    let epochs = spec.train.epochs.max(1);
    let width = f64::from(epochs) / BINS;
    let mut samples: BTreeMap<u32, BTreeMap<String, Vec<(f64, f64)>>> = BTreeMap::new();
    for p in &history.points {
        let within = f64::from(p.epoch % epochs)
            + if p.steps_per_epoch > 0 { p.step as f64 / p.steps_per_epoch as f64 } else { 0.0 };
        let tasks = samples.entry(p.epoch / epochs).or_default();
        for (task, &loss) in &p.losses {
            tasks.entry(task.clone()).or_default().push((within, loss));
        }
    }
    samples
        .into_iter()
        .map(|(model, mut tasks)| {
            let others: Vec<String> = tasks.keys().filter(|t| *t != "total").cloned().collect();
            let mut rename = None;
            if let ([only], true) = (others.as_slice(), tasks.contains_key("total")) {
                tasks.remove(only);
                rename = Some(format!("total = {only}"));
            }
            Panel {
                title: model_of(spec, model * epochs).to_owned(),
                x_range: Some((0.0, f64::from(epochs))),
                series: tasks
                    .into_iter()
                    .map(|(task, s)| Series {
                        label: match &rename {
                            Some(name) if task == "total" => name.clone(),
                            _ => task,
                        },
                        points: binned(s, width),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// One line per partition (and its worker) and model: positive edges per second.
pub fn throughput(job: &Job, spec: &JobSpec, history: &History) -> Vec<Series> {
    let width = bin_width(job, history);
    // (partition, model) → (worker, samples)
    type Lines = BTreeMap<(u32, u32), (String, Vec<(f64, f64)>)>;
    let mut samples = Lines::new();
    for p in &history.points {
        let model = p.epoch / spec.train.epochs.max(1);
        let e = samples.entry((p.partition, model)).or_insert_with(|| (p.worker.clone(), Vec::new()));
        e.1.push((seconds(job, p.unix_ms), p.edges_per_sec));
    }
    samples
        .into_iter()
        .map(|((part, model), (worker, s))| Series {
            label: format!("{} part {part} ({worker})", model_of(spec, model * spec.train.epochs.max(1))),
            points: binned(s, width),
        })
        .collect()
}

/// One line per model: validation NDCG@10 after each of its epochs (1-based).
pub fn validation(job: &Job, spec: &JobSpec) -> Vec<Series> {
    let epochs = spec.train.epochs.max(1);
    spec.models()
        .iter()
        .map(|m| {
            let key = format!("{}/ndcg@10", m.as_str());
            Series {
                label: m.as_str().to_owned(),
                points: job
                    .metric_reports
                    .iter()
                    .filter(|r| r.phase == "validation")
                    .filter_map(|r| r.metrics.get(&key).map(|v| (f64::from(r.epoch % epochs + 1), *v)))
                    .collect(),
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// The popularity profiles of the final test report.
pub fn popularity(job: &Job) -> Vec<PopularityProfile> {
    job.metric_reports
        .iter()
        .rev()
        .find(|r| r.phase == "test")
        .map(|r| r.popularity.clone())
        .unwrap_or_default()
}

/// Per (partition, model): the worker, steps, mean edges/s and the last time split.
pub fn time_breakdown(spec: &JobSpec, history: &History) -> Vec<(u32, String, &'static str, f64, TimeSplit)> {
    let mut last: BTreeMap<(u32, u32), (&Point, f64, u32)> = BTreeMap::new();
    for p in &history.points {
        let model = p.epoch / spec.train.epochs.max(1);
        let e = last.entry((p.partition, model)).or_insert((p, 0.0, 0));
        e.0 = p;
        e.1 += p.edges_per_sec;
        e.2 += 1;
    }
    last.into_iter()
        .map(|((part, model), (p, rate, n))| {
            (
                part,
                p.worker.clone(),
                model_of(spec, model * spec.train.epochs.max(1)),
                rate / f64::from(n),
                p.time,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_average_the_workers_reports() {
        let line = binned(vec![(0.2, 1.0), (0.4, 3.0), (1.5, 5.0), (1.6, f64::NAN)], 1.0);
        assert_eq!(line.len(), 2);
        assert!((line[0].0 - 0.3).abs() < 1e-12 && (line[0].1 - 2.0).abs() < 1e-12);
        assert_eq!(line[1], (1.5, 5.0));
    }

    fn point(epoch: u32, step: u64, losses: &[(&str, f64)]) -> Point {
        Point {
            unix_ms: 1,
            partition: 0,
            worker: "w0".into(),
            epoch,
            step,
            steps_per_epoch: 10,
            losses: losses.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            edges_per_sec: 1.0,
            time: TimeSplit::default(),
        }
    }

    #[test]
    fn losses_get_a_panel_per_model_over_its_own_epochs_and_no_duplicate_total() {
        let spec = JobSpec::parse(
            "name = \"t\"\nbaselines = [\"mf\"]\n[dataset]\ngraph = \"g\"\n[train]\nepochs = 2\n",
            None,
        )
        .unwrap();
        let mut history = History::default();
        history.points = vec![
            // HGT with two tasks, epochs 0 and 1.
            point(0, 5, &[("main", 1.0), ("category", 2.0), ("total", 3.0)]),
            point(1, 0, &[("main", 0.5), ("category", 1.0), ("total", 1.5)]),
            // MF (job epochs 2 and 3) with one task.
            point(2, 5, &[("main", 0.9), ("total", 0.9)]),
            point(3, 5, &[("main", 0.7), ("total", 0.7)]),
        ];
        let panels = losses(&spec, &history);
        assert_eq!(panels.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(), ["hgt", "mf"]);
        let labels = |p: &Panel| p.series.iter().map(|s| s.label.clone()).collect::<Vec<_>>();
        assert_eq!(labels(&panels[0]), ["category", "main", "total"]);
        assert_eq!(labels(&panels[1]), ["total = main"], "MF's only task is drawn once");
        // MF's x runs over its own 2 epochs, from 0.5 to 1.5, not after HGT's.
        assert_eq!(panels[1].series[0].points, vec![(0.5, 0.9), (1.5, 0.7)]);
        assert_eq!(panels[0].series[0].points, vec![(0.5, 2.0), (1.0, 1.0)]);
    }
}

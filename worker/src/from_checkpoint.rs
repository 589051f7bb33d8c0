//! `worker export`: a model bundle from a job's PS checkpoints, without the
//! job. Each shard's checkpoint files are copied into a scratch directory
//! (so the job's own are never touched), `ps-server` children restore them
//! on loopback, the job's PS namespace is found among their tables, and the
//! model is evaluated and bundled exactly as at the end of a job.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::Context as _;
use ps_client::routing::job_namespace;
use ps_client::{ClientOptions, ShardedClient};
use tch::Device;
use tessera_bundle::manifest::Source;
use tessera_graph::schema::NodeType;
use tessera_job::JobSpec;
use tessera_proto::ps::v1 as pb;
use tessera_runtime::children::{sibling_binary, Children};

use crate::eval::final_eval::FinalEval;
use crate::finish::{finish, BundleTarget, EvalGraphs};
use crate::model::ModelKind;
use crate::session::ModelSession;
use crate::standalone::{ensure_graph, start_local_ps};
use crate::view::TrainView;

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The job spec the parameters were trained with.
    pub spec: PathBuf,
    /// Each shard's checkpoint directory, in shard order.
    pub checkpoints: Vec<PathBuf>,
    /// The model (default: the spec's main model).
    pub model: Option<String>,
    /// The job id (default: the only job with this model in the checkpoints).
    pub job: Option<String>,
    /// The bundle root (`<root>/<job name>/v0001`, …).
    pub bundles: PathBuf,
}

/// What was exported.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The bundle's directory.
    pub bundle: PathBuf,
    /// The model.
    pub model: String,
    /// The job's PS namespace the parameters were found under.
    pub namespace: String,
    /// Each shard's restored checkpoint id.
    pub checkpoints: Vec<u64>,
}

/// The model `name` of `spec` (its main model when `None`).
fn model_of(spec: &JobSpec, name: Option<&str>) -> anyhow::Result<ModelKind> {
    let models = spec.models();
    match name {
        None => models.first().copied().context("the spec trains no model"),
        Some(n) => models.iter().copied().find(|m| m.as_str() == n).with_context(|| {
            let names: Vec<_> = models.iter().map(|m| m.as_str()).collect();
            format!("model {n:?} is not trained by this spec (it trains {})", names.join(", "))
        }),
    }
}

/// Copies the checkpoint files of `from` into `to`; fails when there are none.
fn copy_checkpoints(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("create {}", to.display()))?;
    let mut copied = 0;
    for entry in std::fs::read_dir(from).with_context(|| format!("list checkpoints in {}", from.display()))? {
        let entry = entry.with_context(|| format!("list checkpoints in {}", from.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("ckpt-") && name.ends_with(".bin") {
            std::fs::copy(entry.path(), to.join(name))
                .with_context(|| format!("copy {}", entry.path().display()))?;
            copied += 1;
        }
    }
    anyhow::ensure!(copied > 0, "no checkpoint (ckpt-*.bin) in {}", from.display());
    Ok(())
}

/// The PS namespace holding `model`'s user table at dimension `dim`: the
/// one of `job` when given, else the only one there is.
fn find_namespace(
    stats: &[pb::StatsResponse],
    model: &str,
    dim: u32,
    job: Option<&str>,
) -> anyhow::Result<String> {
    let suffix = format!("_{model}_{}", NodeType::User.as_str());
    let mut found: Vec<(String, u32)> = stats
        .iter()
        .flat_map(|s| &s.tables)
        .filter_map(|t| t.name.strip_suffix(&suffix).map(|ns| (ns.to_owned(), t.dim)))
        .collect();
    found.sort();
    found.dedup();
    let chosen = match job {
        Some(job) => {
            let ns = job_namespace(job);
            found.iter().find(|(n, _)| *n == ns).cloned().with_context(|| {
                format!("the checkpoints hold no {model} tables of job {job:?} (namespace {ns})")
            })?
        }
        None => match found.as_slice() {
            [one] => one.clone(),
            [] => anyhow::bail!("the checkpoints hold no {model} tables"),
            many => anyhow::bail!(
                "the checkpoints hold {model} tables of {} jobs; name one with --job",
                many.len()
            ),
        },
    };
    anyhow::ensure!(
        chosen.1 == dim,
        "the checkpoints' {model} tables have dimension {}, the spec says {dim}",
        chosen.1
    );
    Ok(chosen.0)
}

/// Writes the bundle of `request`'s model from its PS checkpoints.
///
/// # Errors
/// A missing checkpoint or graph, checkpoints of another model, job or
/// dimension, a shard that fails to restore, or a failure writing the bundle.
pub fn export(request: &ExportRequest, device: Device) -> anyhow::Result<Exported> {
    let spec = JobSpec::from_file(&request.spec)
        .with_context(|| format!("read job spec {}", request.spec.display()))?;
    let kind = model_of(&spec, request.model.as_deref())?;
    anyhow::ensure!(!request.checkpoints.is_empty(), "no checkpoint directory given");
    let n = request.checkpoints.len() as u32;
    let scratch = std::env::temp_dir().join(format!("tessera-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let result = (|| -> anyhow::Result<Exported> {
        let mut dirs = Vec::new();
        for (shard, from) in request.checkpoints.iter().enumerate() {
            let to = scratch.join(format!("ps-{shard}"));
            copy_checkpoints(from, &to)?;
            dirs.push(to);
        }
        let graph = ensure_graph(&spec)?;
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
        let children = Children::default();
        let ps_server = sibling_binary("ps-server")?;
        let (endpoints, tls) = start_local_ps(&children, &ps_server, n, &scratch, &dirs)?;
        let _entered = rt.enter();
        let client =
            Arc::new(ShardedClient::new(&endpoints, ClientOptions { tls, ..ClientOptions::default() })?);
        let stats = rt.block_on(client.stats()).context("read the restored shards' tables")?;
        for (shard, s) in stats.iter().enumerate() {
            anyhow::ensure!(
                s.shard == shard as u32 && s.num_shards == n,
                "{} holds shard {} of {}, given as shard {shard} of {n}",
                request.checkpoints[shard].display(),
                s.shard,
                s.num_shards
            );
        }
        let checkpoints: Vec<u64> = stats.iter().map(|s| s.last_checkpoint_id).collect();
        let namespace = find_namespace(&stats, kind.as_str(), spec.model.dim, request.job.as_deref())?;
        tracing::info!(model = kind.as_str(), %namespace, ?checkpoints, "restored the job's parameters");
        let counts: Vec<(NodeType, u64)> =
            graph.node_types().into_iter().map(|t| (t, graph.num_nodes(t) as u64)).collect();
        let view = TrainView::whole(&graph);
        let session = ModelSession::new(
            rt.handle(),
            &graph,
            &namespace,
            &spec,
            kind,
            client,
            Arc::new(AtomicU64::new(0)),
            &counts,
            view.num_categories,
            device,
            None,
        )?;
        let history = graph.open_history().context("open the graph at test time")?;
        let graphs = EvalGraphs { graph: &graph, history: history.as_ref() };
        let mut final_eval = FinalEval::new(&graph, history.as_ref(), &spec)?;
        let source = Source {
            kind: "checkpoint".into(),
            job_id: request.job.clone(),
            checkpoints: checkpoints.clone(),
            resumed_from: None,
        };
        let target = BundleTarget { root: &request.bundles, source: &source };
        let finished =
            finish(rt.handle(), &session, graphs, &mut final_eval, &spec, device, true, Some(target))?;
        children.stop_all();
        let bundle = finished.bundle.with_context(|| {
            format!("{} has no bundle form (the MLP scorer); use scorer = \"dot\" to serve", kind.as_str())
        })?;
        Ok(Exported { bundle, model: kind.as_str().to_owned(), namespace, checkpoints })
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(tables: &[(&str, u32)]) -> pb::StatsResponse {
        pb::StatsResponse {
            tables: tables
                .iter()
                .map(|&(name, dim)| pb::TableStats { name: name.into(), dim, ..Default::default() })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_namespace_is_the_only_one_or_the_named_jobs() {
        let a = job_namespace("demo-1");
        let b = job_namespace("demo-2");
        let one = [shard(&[(&format!("{a}_hgt_user"), 32), (&format!("{a}_hgt_item"), 32)])];
        assert_eq!(find_namespace(&one, "hgt", 32, None).unwrap(), a);
        let err = find_namespace(&one, "hgt", 64, None).unwrap_err().to_string();
        assert!(err.contains("dimension 32, the spec says 64"), "{err}");
        let err = find_namespace(&one, "mf", 32, None).unwrap_err().to_string();
        assert!(err.contains("no mf tables"), "{err}");
        let two = [shard(&[(&format!("{a}_hgt_user"), 32)]), shard(&[(&format!("{b}_hgt_user"), 32)])];
        let err = find_namespace(&two, "hgt", 32, None).unwrap_err().to_string();
        assert!(err.contains("of 2 jobs; name one with --job"), "{err}");
        assert_eq!(find_namespace(&two, "hgt", 32, Some("demo-2")).unwrap(), b);
        let err = find_namespace(&two, "hgt", 32, Some("demo-3")).unwrap_err().to_string();
        assert!(err.contains("no hgt tables of job \"demo-3\""), "{err}");
    }
}

//! The end of one trained model, wherever its parameters are (a standalone
//! run, a cluster's evaluating worker, or `worker export` from the PS
//! checkpoints): full-graph inference on the graph at test time (and on the
//! validation graph when it differs), the model's rows of the final
//! evaluation, and for the main model the bundle with its cached states.

use std::path::{Path, PathBuf};

use tch::Device;
use tessera_bundle::manifest::Source;
use tessera_graph::store::Graph;
use tessera_job::JobSpec;
use tokio::runtime::Handle;

use crate::eval::final_eval::{FinalEval, Row};
use crate::export::{write_bundle, ModelOutput};
use crate::session::ModelSession;

/// The graphs a job is evaluated on.
#[derive(Clone, Copy)]
pub struct EvalGraphs<'g> {
    /// The training graph (the validation graph when there is a history).
    pub graph: &'g Graph,
    /// The graph at test time, when it differs.
    pub history: Option<&'g Graph>,
}

impl<'g> EvalGraphs<'g> {
    /// The graph the test embeddings and the bundle come from.
    pub fn test(&self) -> &'g Graph {
        self.history.unwrap_or(self.graph)
    }
}

/// Where the main model's bundle goes.
#[derive(Clone, Copy)]
pub struct BundleTarget<'a> {
    /// The bundle root (`<root>/<job name>/v0001`, …).
    pub root: &'a Path,
    /// Where the parameters came from.
    pub source: &'a Source,
}

/// A model's rows of the report, and its bundle when one was written.
pub struct Finished {
    /// The model's rows (itself, and with the ranker or the neighbourhood term).
    pub rows: Vec<Row>,
    /// The bundle's directory.
    pub bundle: Option<PathBuf>,
}

/// Evaluates `session`'s model with the parameters the PS holds now, and
/// writes the bundle of the main model (`main`) when `bundle` is given.
///
/// # Errors
/// The PS refuses or is unreachable, the ranker cannot be trained, or the
/// bundle cannot be written.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    rt: &Handle,
    session: &ModelSession,
    graphs: EvalGraphs<'_>,
    final_eval: &mut FinalEval<'_>,
    spec: &JobSpec,
    device: Device,
    main: bool,
    bundle: Option<BundleTarget<'_>>,
) -> anyhow::Result<Finished> {
    let bundle = bundle.filter(|_| main);
    let test = session.full_graph(rt, graphs.test(), spec, device, bundle.is_some())?;
    let valid = match graphs.history {
        Some(_) if final_eval.has_valid() => Some(session.embeddings(rt, graphs.graph, spec, device)?),
        _ => None,
    };
    let valid = valid.as_ref().map(|(u, i)| (u, i));
    let scorer = &session.model.scorer;
    let rows = final_eval.trained(session.name(), main, (&test.users, &test.items), valid, scorer)?;
    let Some(target) = bundle else { return Ok(Finished { rows, bundle: None }) };
    let output = ModelOutput::new(
        session,
        &test,
        &rows[0].evaluation.metrics,
        final_eval.test_history(),
        target.source,
    )
    .with_ranker(final_eval.ranker(), final_eval.test_times());
    let weight = rows.iter().find_map(|r| r.evaluation.metrics.get("neighbourhood_weight").copied());
    let output = match (final_eval.neighbourhood(), weight) {
        (Some((kind, weights)), Some(weight)) => output.with_neighbourhood(
            tessera_bundle::neighbours::NeighbourhoodInfo {
                kind: kind.as_str().to_owned(),
                weight: weight as f32,
                recency: weights.recency,
            },
            weights,
        ),
        _ => output,
    };
    let dir = write_bundle(target.root, graphs.test(), spec, &output)?;
    Ok(Finished { rows, bundle: dir })
}

//! The final evaluation of a job: every model on the test targets, with its
//! metrics on the validation targets beside them as `val_<metric>`, and the
//! main model's neighbourhood term (`model.neighbourhood`) with its weight
//! chosen on validation. Distributed and standalone workers both use it.
//!
//! When the split cut the validation pairs out of the training log
//! (`valid_last`), the test runs on the graph at test time, which has them
//! back ([`Graph::open_history`]): the models' test embeddings come from
//! inference on it, and the classic models are fitted on its history, while
//! validation uses the training graph.

use std::collections::HashMap;

use anyhow::Context as _;

use tch::Tensor;
use tessera_graph::store::Graph;
use tessera_job::{ClassicKind, EvalSplit, JobSpec};

use crate::classic::{self, ItemWeights, WeightScores};
use crate::eval::blend::{choose_weight, BlendScores};
use crate::eval::metrics::{evaluate, EvalData, Evaluation};
use crate::eval::samples::item_category;
use crate::eval::scores::{EmbeddingScores, Scores};
use crate::model::scorer::Scorer;
use crate::rank::lists::Context;
use crate::rank::RankedScores;
use tessera_bundle::rank::{RankerWeights, NO_CATEGORY};

/// One row of the final report.
#[derive(Debug, Clone)]
pub struct Row {
    /// Model name in metric keys (`hgt`, `hgt+itemknn`, `itemknn`).
    pub model: String,
    /// Whether its metrics are also the job's unprefixed ones.
    pub main: bool,
    /// Test metrics, with `val_` validation metrics when there are targets.
    pub evaluation: Evaluation,
}

/// A classic model fitted on each history.
struct Fitted {
    test: ItemWeights,
    /// None when the validation history is the test history.
    valid: Option<ItemWeights>,
}

/// The target sets of the final evaluation and the classic fits made so far.
pub struct FinalEval<'a> {
    spec: &'a JobSpec,
    test: EvalData,
    valid: Option<EvalData>,
    /// The validation users the neighbourhood weight is chosen on.
    selection: Option<EvalData>,
    fits: HashMap<ClassicKind, Fitted>,
    /// Each item's raw category, for the ranker's features.
    categories: Vec<u64>,
    /// The ranker trained for the main model.
    ranker: Option<RankerWeights>,
}

impl<'a> FinalEval<'a> {
    /// The target sets of `graph` under `spec`: the test targets (or the
    /// validation ones, with `dataset.eval_split = "valid"`) and the
    /// validation targets when the split has them.
    ///
    /// # Errors
    /// A setting that needs validation targets the split lacks
    /// ([`JobSpec::check_validation`]).
    pub fn new(graph: &Graph, history: Option<&Graph>, spec: &'a JobSpec) -> anyhow::Result<Self> {
        let on_valid = spec.dataset.eval_split == EvalSplit::Valid;
        let has_valid = !graph.valid_pairs().is_empty();
        let test = match history {
            Some(h) if !on_valid => EvalData::of(h, false),
            _ => EvalData::of(graph, on_valid),
        };
        let valid = (has_valid && !on_valid).then(|| EvalData::of(graph, true));
        let selection = has_valid.then(|| {
            let mut data = valid.clone().unwrap_or_else(|| test.clone());
            data.limit_users(spec.eval.validation_users as usize, spec.seed);
            data
        });
        spec.check_validation(graph.valid_pairs().len() as u64)?;
        if spec.ranker.enabled && valid.is_none() {
            anyhow::bail!(
                "ranker.enabled: the ranker trains on the validation targets and is scored on the test ones, \
                 and this job evaluates on the validation split"
            );
        }
        let categories = (0..test.num_items() as u32)
            .map(|i| item_category(history.unwrap_or(graph), i).unwrap_or(NO_CATEGORY))
            .collect();
        Ok(Self { spec, test, valid, selection, fits: HashMap::new(), categories, ranker: None })
    }

    fn fitted(&mut self, kind: ClassicKind) -> &Fitted {
        let (spec, test, valid) = (self.spec, &self.test, &self.valid);
        self.fits.entry(kind).or_insert_with(|| {
            let fit = |data: &EvalData| {
                let started = std::time::Instant::now();
                let w =
                    classic::fit(kind, &spec.classic, &data.train_items, &data.train_times, data.num_items());
                let secs = started.elapsed().as_secs_f64();
                tracing::info!(model = kind.as_str(), weights = w.len(), fit_secs = secs, "fitted");
                w
            };
            let valid = valid
                .as_ref()
                .filter(|v| v.train_items != test.train_items || v.train_times != test.train_times)
                .map(fit);
            Fitted { test: fit(test), valid }
        })
    }

    /// Test metrics of `test_scores` with the validation metrics of
    /// `valid_scores` added as `val_<metric>`.
    fn both(&self, test_scores: &dyn Scores, valid_scores: &dyn Scores) -> Evaluation {
        let (ks, sampled, seed) = (&self.spec.eval.ks, self.spec.eval.sampled_negatives, self.spec.seed);
        let mut evaluation = evaluate(test_scores, &self.test, ks, sampled, seed);
        if let Some(valid) = &self.valid {
            let v = evaluate(valid_scores, valid, ks, sampled, seed);
            evaluation.metrics.extend(v.metrics.into_iter().map(|(k, x)| (format!("val_{k}"), x)));
        }
        evaluation
    }

    /// Each user's history at test time (sorted dense items): what the
    /// test ranking excludes.
    pub fn test_history(&self) -> &[Vec<u32>] {
        &self.test.train_items
    }

    /// Each user's history times at test time, aligned with [`Self::test_history`].
    pub fn test_times(&self) -> &[Vec<i64>] {
        &self.test.train_times
    }

    /// The ranker trained for the main model, when `ranker.enabled`.
    pub fn ranker(&self) -> Option<&RankerWeights> {
        self.ranker.as_ref()
    }

    /// The row of the main model's retrieval re-ranked by a ranker trained
    /// on its validation candidates. Only test metrics: the validation
    /// targets are what it learned from.
    fn ranked(
        &mut self,
        model: &str,
        test: (&Tensor, &Tensor),
        valid: (&Tensor, &Tensor),
        scorer: &Scorer,
    ) -> anyhow::Result<Row> {
        let valid_data = self.valid.as_ref().context("the ranker needs validation targets")?;
        let valid_ctx = Context::new(valid.0, valid.1, valid_data, self.categories.clone())?;
        let valid_emb = EmbeddingScores::new(valid.0, valid.1, scorer);
        let ranker =
            crate::rank::train(&self.spec.ranker, self.spec.seed, &valid_emb, &valid_ctx, valid_data)?;
        drop(valid_ctx);
        let test_ctx = Context::new(test.0, test.1, &self.test, self.categories.clone())?;
        let emb = EmbeddingScores::new(test.0, test.1, scorer);
        let scores = RankedScores::new(&emb, &ranker, &test_ctx, &self.test);
        let (ks, sampled, seed) = (&self.spec.eval.ks, self.spec.eval.sampled_negatives, self.spec.seed);
        let mut evaluation = evaluate(&scores, &self.test, ks, sampled, seed);
        evaluation.metrics.extend(ranker.training.iter().map(|(k, v)| (format!("ranker_{k}"), *v)));
        self.ranker = Some(ranker);
        Ok(Row { model: format!("{model}+ranker"), main: false, evaluation })
    }

    /// Whether the validation targets are scored beside the test ones.
    pub fn has_valid(&self) -> bool {
        self.valid.is_some() || self.selection.is_some()
    }

    /// The rows of a trained model from its final user and item embeddings
    /// on the test graph and (when it differs) the validation graph: the
    /// model itself, and for the main model with a neighbourhood term, the
    /// combined model (which is then the main row).
    pub fn trained(
        &mut self,
        model: &str,
        main: bool,
        test: (&Tensor, &Tensor),
        valid: Option<(&Tensor, &Tensor)>,
        scorer: &Scorer,
    ) -> anyhow::Result<Vec<Row>> {
        let emb = EmbeddingScores::new(test.0, test.1, scorer);
        let valid = valid.unwrap_or(test);
        let valid_emb = EmbeddingScores::new(valid.0, valid.1, scorer);
        let mut rows = Vec::new();
        let blend = self.spec.model.neighbourhood.filter(|_| main);
        rows.push(Row {
            model: model.to_owned(),
            main: main && blend.is_none(),
            evaluation: self.both(&emb, &valid_emb),
        });
        if main && self.spec.ranker.enabled {
            rows.push(self.ranked(model, test, valid, scorer)?);
        }
        let Some(kind) = blend else { return Ok(rows) };
        self.fitted(kind);
        let fitted = &self.fits[&kind];
        let valid_weights = fitted.valid.as_ref().unwrap_or(&fitted.test);
        let valid_history = self.valid.as_ref().unwrap_or(&self.test);
        let test_near = WeightScores::new(&fitted.test, &self.test.train_items, &self.test.train_times);
        let valid_near =
            WeightScores::new(valid_weights, &valid_history.train_items, &valid_history.train_times);
        let weight = match (self.spec.model.neighbourhood_weight, &self.selection) {
            (Some(w), _) => w as f32,
            (None, Some(selection)) => {
                let (w, curve) =
                    choose_weight(&valid_emb, &valid_near, selection, &self.spec.eval.ks, self.spec.seed);
                tracing::info!(
                    model,
                    neighbourhood = kind.as_str(),
                    weight = w,
                    ?curve,
                    "chose the neighbourhood weight on validation"
                );
                w
            }
            (None, None) => 0.0, // refused by `new`
        };
        let test_scores = BlendScores::new(&emb, &test_near, weight);
        let valid_scores = BlendScores::new(&valid_emb, &valid_near, weight);
        let mut evaluation = self.both(&test_scores, &valid_scores);
        evaluation.metrics.insert("neighbourhood_weight".into(), f64::from(weight));
        rows.push(Row { model: format!("{model}+{}", kind.as_str()), main: true, evaluation });
        Ok(rows)
    }

    /// The job's neighbourhood term as fitted on the graph at test time,
    /// once [`FinalEval::trained`] has fitted it.
    pub fn neighbourhood(&self) -> Option<(ClassicKind, &crate::classic::ItemWeights)> {
        let kind = self.spec.model.neighbourhood?;
        self.fits.get(&kind).map(|f| (kind, &f.test))
    }

    /// The row of a classic model.
    pub fn classic(&mut self, kind: ClassicKind) -> Row {
        self.fitted(kind);
        let fitted = &self.fits[&kind];
        let valid_history = self.valid.as_ref().unwrap_or(&self.test);
        let test = WeightScores::new(&fitted.test, &self.test.train_items, &self.test.train_times);
        let valid = WeightScores::new(
            fitted.valid.as_ref().unwrap_or(&fitted.test),
            &valid_history.train_items,
            &valid_history.train_times,
        );
        Row { model: kind.as_str().to_owned(), main: false, evaluation: self.both(&test, &valid) }
    }
}

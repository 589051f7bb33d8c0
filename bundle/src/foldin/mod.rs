//! Embedding a user the model has never seen, without retraining: the
//! trained HGT's layers are applied to the new user over the items they
//! acted on, reading each item's cached input state at every layer
//! (`state_l<l>_item.npy`) and the layers' weights (`dense.safetensors`).
//! The items' states do not change (the new user's few edges would move
//! them little), so for a user this is the whole L-hop computation of
//! full-graph inference. The user's input at layer 0 is the mean of every
//! trained user's (the id row the model has no row for), plus the
//! projection of their profile features when the model reads user features.
//!
//! When the job ranks with a neighbourhood term (`model.neighbourhood`), the
//! bundle carries it (`crate::neighbours`, `Bundle::neighbourhood`) and a
//! new user is ranked with it too, from the same behaviours.
//!
//! New items are folded in the same way over their category, shop and
//! brand (`items`), and get the same output normalisation.
//!
//! Only HGT is folded in. MF has no layers to apply (a new user's vector
//! would be a guess), and the homogeneous models are not implemented here.

mod hgt;
pub mod items;
pub mod weights;

use std::path::PathBuf;

use tessera_job::{JobSpec, ModelKind};

use crate::manifest::files;
use crate::read::Bundle;
use weights::{Linear, Weights};

pub use hgt::{age_bucket, gelu, Edge, NodeLayer, RelationName, AGE_BUCKETS};
pub use items::{ItemAttributes, ItemFoldIn, GROUPS};

/// Why a bundle cannot fold new users in, or a request cannot be folded.
#[derive(Debug, thiserror::Error)]
pub enum FoldInError {
    /// The bundle's model has no fold-in.
    #[error("{0}")]
    Unsupported(String),
    /// The dense weights are unreadable or lack a tensor.
    #[error("weights {path}: {reason}")]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another bundle file is missing or corrupt.
    #[error(transparent)]
    Bundle(#[from] crate::error::BundleError),
    /// The request is invalid; the message names the field.
    #[error("{0}")]
    Invalid(String),
}

/// One behaviour of a new user, already resolved against the bundle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Behaviour {
    /// Dense item id.
    pub item: u32,
    /// Index into [`FoldIn::behaviours`].
    pub behaviour: usize,
    /// Unix seconds.
    pub time: i64,
}

/// The most behaviours one fold-in reads.
pub const MAX_BEHAVIOURS: usize = 1_000;

/// A bundle's model, ready to embed new users.
#[derive(Debug)]
pub struct FoldIn {
    dim: usize,
    temperature: f32,
    layer_mean: bool,
    behaviours: Vec<String>,
    /// Per behaviour, the index of its relation in the layers.
    relation_of: Vec<usize>,
    layers: Vec<NodeLayer>,
    /// Per layer, every item's input state (items × dim).
    item_states: Vec<Vec<f32>>,
    /// The mean of every trained user's layer-0 input.
    user_start: Vec<f32>,
    /// The user-feature projection and the mean projected features of the
    /// trained users, when the model reads user features.
    features: Option<(Linear, Vec<f32>)>,
    /// What embeds new items, or why the bundle cannot.
    items: Result<ItemFoldIn, String>,
}

pub(crate) fn unsupported(msg: impl Into<String>) -> FoldInError {
    FoldInError::Unsupported(msg.into())
}

/// The mean of the rows of `values` (rows × dim), accumulated in f64; empty
/// for dim 0.
pub fn mean_rows(values: &[f32], dim: usize) -> Vec<f32> {
    if dim == 0 {
        return Vec::new();
    }
    let rows = (values.len() / dim).max(1);
    let mut mean = vec![0f64; dim];
    for row in values.chunks_exact(dim) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    mean.into_iter().map(|m| (m / rows as f64) as f32).collect()
}

impl FoldIn {
    /// Reads what `bundle` needs to embed new users: its job spec, its
    /// dense weights and its items' cached states.
    ///
    /// # Errors
    /// [`FoldInError::Unsupported`] for a model other than HGT or a bundle
    /// without states or weights, naming what is missing.
    pub fn load(bundle: &Bundle) -> Result<Self, FoldInError> {
        let manifest = bundle.manifest();
        match manifest.model.as_str() {
            "hgt" => {}
            "mf" => {
                return Err(unsupported(
                    "the bundle's model is MF, which embeds only the users it trained on: a new user \
                     has no row and no layers to propagate through (use an HGT bundle)",
                ))
            }
            other => {
                return Err(unsupported(format!(
                    "new users are folded in through HGT's layers; the bundle's model is {other}"
                )))
            }
        }
        let dir = bundle.dir();
        for needed in [files::JOB, files::DENSE] {
            if !manifest.files.contains_key(needed) {
                return Err(unsupported(format!("the bundle has no {needed}, which a fold-in reads")));
            }
        }
        let spec_path = dir.join(files::JOB);
        let text = std::fs::read_to_string(&spec_path)
            .map_err(|e| unsupported(format!("read {}: {e}", spec_path.display())))?;
        let spec =
            JobSpec::parse(&text, None).map_err(|e| unsupported(format!("{}: {e}", spec_path.display())))?;
        let model = &spec.model;
        if model.kind != ModelKind::Hgt {
            return Err(unsupported(format!("the bundle's job trained {}, not HGT", model.kind.as_str())));
        }
        let (dim, heads, num_layers) = (manifest.dim, model.heads as usize, model.layers as usize);
        if model.dim as usize != dim || heads == 0 || dim % heads != 0 {
            return Err(unsupported(format!(
                "the job's model (dim {}, {heads} heads) does not match the bundle's dim {dim}",
                model.dim
            )));
        }
        let weights = Weights::read(&dir.join(files::DENSE))?;
        let behaviours: Vec<String> = ["click", "cart", "fav", "buy"]
            .into_iter()
            .filter(|b| weights.has(&format!("hgt.0.mu.rev_{b}")))
            .map(str::to_owned)
            .collect();
        // Per behaviour, its item-to-user relation. A model trained on
        // random-walk neighbourhoods (the PinSAGE sampler) has one relation
        // from items to users, `walk_item_user`: a new user's walk
        // neighbourhood is taken to be the items they acted on, all weighing
        // alike (an approximation: a trained user's comes from walks).
        let (behaviours, relations, relation_of) = if !behaviours.is_empty() {
            let relations = behaviours.iter().map(|b| format!("rev_{b}")).collect();
            let relation_of = (0..behaviours.len()).collect();
            (behaviours, relations, relation_of)
        } else if weights.has("hgt.0.mu.walk_item_user") {
            let behaviours = ["click", "cart", "fav", "buy"].map(str::to_owned).to_vec();
            (behaviours, vec!["walk_item_user".to_owned()], vec![0; 4])
        } else {
            return Err(unsupported(
                "the model has no item-to-user relation (rev_click, …, or walk_item_user)",
            ));
        };
        let relations: Vec<RelationName<'_>> =
            relations.iter().map(|name| RelationName { name, src: "item" }).collect();
        let layers = (0..num_layers)
            .map(|l| NodeLayer::read(&weights, l, dim, heads, "user", &relations, model.temporal))
            .collect::<Result<Vec<_>, _>>()?;
        let items =
            ItemFoldIn::load(bundle, &weights, num_layers, heads, model.temporal).map_err(|e| e.to_string());
        let item_states = (0..num_layers).map(|l| bundle.state(l, "item")).collect::<Result<Vec<_>, _>>()?;
        let user_start = mean_rows(&bundle.state(0, "user")?, dim);
        let projection = "input.features.user";
        let features = if weights.has(&format!("{projection}.weight")) {
            let width = weights.shape(&format!("{projection}.weight")).map_or(0, |s| s[s.len() - 1]);
            let linear = Linear::read(&weights, projection, dim, width)?;
            if !manifest.files.contains_key(files::USER_FEATURE_MEAN) {
                return Err(unsupported(format!(
                    "the model reads user features but the bundle has no {}",
                    files::USER_FEATURE_MEAN
                )));
            }
            let bytes = bundle.read_listed(files::USER_FEATURE_MEAN)?;
            let (mean, _) = crate::npy::read::<f32>(&bytes, &dir.join(files::USER_FEATURE_MEAN))?;
            Some((linear, mean))
        } else {
            None
        };
        Ok(Self {
            dim,
            temperature: model.temperature as f32,
            layer_mean: model.layer_mean,
            behaviours,
            relation_of,
            layers,
            item_states,
            user_start,
            features,
            items,
        })
    }

    /// What embeds new items.
    ///
    /// # Errors
    /// [`FoldInError::Unsupported`] with the reason this bundle has none.
    pub fn items(&self) -> Result<&ItemFoldIn, FoldInError> {
        self.items.as_ref().map_err(|reason| unsupported(format!("new items cannot be embedded: {reason}")))
    }

    /// The scoring vector of a new item with `attributes`: the layers
    /// applied over its category, shop and brand, then the model's output
    /// normalisation.
    ///
    /// # Errors
    /// [`FoldInError::Unsupported`] without an item fold-in;
    /// [`FoldInError::Invalid`] naming the field.
    pub fn embed_item(&self, attributes: &ItemAttributes<'_>) -> Result<Vec<f32>, FoldInError> {
        let (last, sum) = self.items()?.propagate(attributes)?;
        self.output(last, &sum)
    }

    /// The behaviours a new user's history may hold (`buy`, …).
    pub fn behaviours(&self) -> &[String] {
        &self.behaviours
    }

    /// The width of the user features the model reads (0 when none).
    pub fn feature_width(&self) -> usize {
        self.features.as_ref().map_or(0, |(_, mean)| mean.len())
    }

    /// The layer-0 input of a new user with `features` (checked against
    /// the model).
    ///
    /// # Errors
    /// [`FoldInError::Invalid`] naming `features`.
    pub fn start(&self, features: Option<&[f32]>) -> Result<Vec<f32>, FoldInError> {
        match (features, &self.features) {
            (None, _) => Ok(self.user_start.clone()),
            (Some(_), None) => Err(FoldInError::Invalid(
                "features: this model reads no user features; leave the field out".into(),
            )),
            (Some(f), Some((projection, mean))) => {
                if f.len() != mean.len() {
                    return Err(FoldInError::Invalid(format!(
                        "features: {} values; the model reads {}",
                        f.len(),
                        mean.len()
                    )));
                }
                if let Some(i) = f.iter().position(|v| !v.is_finite()) {
                    return Err(FoldInError::Invalid(format!("features[{i}] is not a finite number")));
                }
                // The trained users' mean input holds the projection of their mean features: swap it for these.
                let delta: Vec<f32> = f.iter().zip(mean).map(|(f, m)| f - m).collect();
                let mut start = self.user_start.clone();
                let zero = projection.apply(&vec![0.0; delta.len()]);
                for ((s, p), z) in start.iter_mut().zip(projection.apply(&delta)).zip(zero) {
                    *s += p - z;
                }
                Ok(start)
            }
        }
    }

    /// The scoring vector of a user whose layer-0 input is `start` (see
    /// [`FoldIn::start`]) with `history`, at `now` (Unix seconds): each
    /// layer applied in turn over the items' states at that layer, then the
    /// model's output normalisation.
    ///
    /// # Errors
    /// [`FoldInError::Invalid`] for an empty or oversized history, an item
    /// or behaviour out of range, or a start of another width.
    pub fn embed(&self, start: &[f32], history: &[Behaviour], now: i64) -> Result<Vec<f32>, FoldInError> {
        if history.is_empty() {
            return Err(FoldInError::Invalid(
                "behaviours: empty; HGT embeds a new user from at least one behaviour".into(),
            ));
        }
        if history.len() > MAX_BEHAVIOURS {
            return Err(FoldInError::Invalid(format!(
                "behaviours: {} given, at most {MAX_BEHAVIOURS}",
                history.len()
            )));
        }
        if start.len() != self.dim {
            return Err(FoldInError::Invalid(format!("start: {} values for dim {}", start.len(), self.dim)));
        }
        let items = self.item_states.first().map_or(0, |s| s.len() / self.dim);
        for (i, b) in history.iter().enumerate() {
            if b.item as usize >= items || b.behaviour >= self.behaviours.len() {
                return Err(FoldInError::Invalid(format!("behaviours[{i}]: item or behaviour out of range")));
            }
        }
        let mut x = start.to_vec();
        let mut sum = x.clone();
        for (layer, states) in self.layers.iter().zip(&self.item_states) {
            let edges: Vec<Edge<'_>> = history
                .iter()
                .map(|b| Edge {
                    source_state: &states[b.item as usize * self.dim..(b.item as usize + 1) * self.dim],
                    relation: self.relation_of[b.behaviour],
                    age_days: now.saturating_sub(b.time).max(0) as f32 / 86_400.0,
                })
                .collect();
            x = layer.forward(&x, &edges);
            for (s, v) in sum.iter_mut().zip(&x) {
                *s += v;
            }
        }
        self.output(x, &sum)
    }

    /// The model's output normalisation of a node whose last layer gave
    /// `x` and whose layers (input included) sum to `sum`: their mean with
    /// `layer_mean`, scaled to norm 1/√temperature.
    ///
    /// # Errors
    /// [`FoldInError::Invalid`] when the result is not finite.
    fn output(&self, mut x: Vec<f32>, sum: &[f32]) -> Result<Vec<f32>, FoldInError> {
        if self.layer_mean {
            let n = self.layers.len() as f32 + 1.0;
            x = sum.iter().map(|s| s / n).collect();
        }
        let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        let scale = 1.0 / norm / self.temperature.sqrt();
        let out: Vec<f32> = x.iter().map(|v| v * scale).collect();
        if out.iter().any(|v| !v.is_finite()) {
            return Err(FoldInError::Invalid("the folded-in embedding is not finite".into()));
        }
        Ok(out)
    }
}

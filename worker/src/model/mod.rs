//! The models, in the style of tch's own `nn` modules: a `Config`, one struct
//! per layer built from an `nn::Path`, weights named by node type and edge
//! type, and a `forward_t(.., train)`. Model code takes tensors and returns
//! tensors; it never talks to the parameter server.
//!
//! All message-passing models share one interface: per node type an input
//! tensor (rows ordered as in the block, the nodes a layer outputs first),
//! and per layer a `LayerInput` with the edges that layer aggregates.

pub mod aggregate;
pub mod hgt;
pub mod input;
pub mod layer_input;
pub mod lightgcn;
pub mod rgcn;
pub mod sage;
pub mod scorer;

use tch::{nn, Tensor};
use tessera_graph::schema::NodeType;

pub use layer_input::{LayerEdges, LayerInput, Schema};

/// Model families (same names as the job spec).
pub use tessera_job::ModelKind;

/// Per node type (indexed by `NodeType::index`), an optional tensor.
pub type TypedTensors = Vec<Option<Tensor>>;

/// An empty `TypedTensors`.
pub fn no_tensors() -> TypedTensors {
    (0..NodeType::ALL.len()).map(|_| None).collect()
}

/// Model shape.
#[derive(Debug, Clone)]
pub struct Config {
    /// Family.
    pub kind: ModelKind,
    /// Embedding and hidden size.
    pub dim: i64,
    /// Message-passing layers.
    pub layers: usize,
    /// Attention heads (HGT).
    pub heads: i64,
    /// Dropout in training.
    pub dropout: f64,
    /// Add a projection of node features to the id embedding.
    pub features: bool,
    /// RGCN bases (0 = one full matrix per edge type).
    pub num_bases: usize,
    /// HGT relative temporal encoding.
    pub temporal: bool,
    /// Item id-embedding dropout in training (models with features only).
    pub id_dropout: f64,
    /// Score pairs with the dot product plus a small MLP (else the dot product).
    pub mlp_scorer: bool,
    /// Output the mean of the input and every layer's output (LightGCN always does).
    pub layer_mean: bool,
    /// HGT: start V, A, W_ATT and W_MSG at the identity.
    pub identity_init: bool,
    /// Weight the aggregation by the edges' weights (random-walk
    /// neighbourhoods, by visit share; PinSAGE's importance pooling).
    pub edge_importance: bool,
    /// Temperature of the message-passing models' cosine scores.
    pub temperature: f64,
}

impl Config {
    /// Whether node features are used (the homogeneous baselines and MF use
    /// id embeddings only).
    pub fn uses_features(&self) -> bool {
        self.features && matches!(self.kind, ModelKind::Hgt | ModelKind::Rgcn)
    }

    /// Number of message-passing layers (0 for MF).
    pub fn num_layers(&self) -> usize {
        if self.kind == ModelKind::Mf {
            0
        } else {
            self.layers
        }
    }
}

/// One message-passing layer.
pub trait Layer: Send {
    /// Computes the outputs of the `input.n_dst` first nodes of each type
    /// from `h` (rows of every node the layer reads).
    fn forward_t(&self, h: &TypedTensors, input: &LayerInput, train: bool) -> TypedTensors;
}

/// A whole model: the input encoder and the layers.
pub struct Model {
    /// Shape.
    pub config: Config,
    /// Feature projections.
    pub input: input::InputEncoder,
    /// How pairs are scored from the scoring vectors.
    pub scorer: scorer::Scorer,
    layers: Vec<Box<dyn Layer>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Model {
    /// Builds the model's weights under `vs`.
    pub fn new(vs: &nn::Path<'_>, config: &Config, schema: &Schema) -> Self {
        let input = input::InputEncoder::new(&(vs / "input"), config, schema);
        let mut layers: Vec<Box<dyn Layer>> = Vec::new();
        for l in 0..config.num_layers() {
            let last = l + 1 == config.num_layers();
            let path = vs / config.kind.as_str() / l;
            layers.push(match config.kind {
                ModelKind::Hgt => Box::new(hgt::HgtLayer::new(&path, config, schema)),
                ModelKind::Rgcn => Box::new(rgcn::RgcnLayer::new(&path, config, schema, !last)),
                ModelKind::Sage => Box::new(sage::SageLayer::new(&path, config, schema, !last)),
                ModelKind::Lightgcn => Box::new(lightgcn::LightGcnLayer::new(schema)),
                ModelKind::Mf => unreachable!("MF has no layers"),
            });
        }
        let scorer = if config.mlp_scorer {
            scorer::Scorer::Mlp(scorer::MlpScorer::new(&(vs / "scorer"), config.dim))
        } else {
            scorer::Scorer::Dot
        };
        Self { config: config.clone(), input, scorer, layers }
    }

    /// Runs the layers over `x` (encoded inputs) with one `LayerInput` per
    /// layer; returns, per type, the outputs of the last layer's
    /// destination nodes. LightGCN, and the others with `layer_mean`, return
    /// the mean of the input and every layer's output.
    pub fn forward_t(&self, x: TypedTensors, inputs: &[&LayerInput], train: bool) -> TypedTensors {
        self.forward_keeping(x, inputs, train, false).0
    }

    /// [`Model::forward_t`], also returning each layer's input (layer 0's is
    /// `x`): the node states that the last layers are applied to when a new
    /// node is embedded without retraining.
    pub fn forward_with_states(
        &self,
        x: TypedTensors,
        inputs: &[&LayerInput],
        train: bool,
    ) -> (TypedTensors, Vec<TypedTensors>) {
        self.forward_keeping(x, inputs, train, true)
    }

    fn forward_keeping(
        &self,
        x: TypedTensors,
        inputs: &[&LayerInput],
        train: bool,
        keep: bool,
    ) -> (TypedTensors, Vec<TypedTensors>) {
        assert_eq!(inputs.len(), self.layers.len(), "one LayerInput per layer");
        let mut h = x;
        let mut history: Vec<TypedTensors> = Vec::new();
        let mean = self.config.kind == ModelKind::Lightgcn || self.config.layer_mean;
        for (layer, input) in self.layers.iter().zip(inputs) {
            let next = layer.forward_t(&h, input, train);
            if mean || keep {
                history.push(std::mem::replace(&mut h, next));
            } else {
                h = next;
            }
        }
        if mean && !history.is_empty() {
            let n = history.len() as f64 + 1.0;
            let out = h
                .iter()
                .enumerate()
                .map(|(t, last)| {
                    let last = last.as_ref()?;
                    let rows = last.size()[0];
                    let mut sum = last.shallow_clone();
                    for earlier in &history {
                        if let Some(e) = &earlier[t] {
                            sum += e.narrow(0, 0, rows);
                        }
                    }
                    Some(sum / n)
                })
                .collect();
            return (out, history);
        }
        (h, history)
    }
}

impl Model {
    /// The vectors whose dot product is the score: for the message-passing
    /// models, the L2-normalised output divided by the square root of the
    /// temperature (a cosine score over `model.temperature`); MF's raw rows.
    pub fn scoring_vectors(&self, out: &Tensor) -> Tensor {
        if self.config.kind == ModelKind::Mf {
            out.shallow_clone()
        } else {
            out / out.norm_scalaropt_dim(2, [-1], true).clamp_min(1e-12) / self.config.temperature.sqrt()
        }
    }
}

/// Glorot-uniform init for a tensor of `shape` whose last two dims are
/// (fan_in, fan_out).
pub fn glorot(path: &nn::Path<'_>, name: &str, shape: &[i64]) -> Tensor {
    let n = shape.len();
    let (fan_in, fan_out) = (shape[n - 2], shape[n - 1]);
    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
    path.var(name, shape, nn::Init::Uniform { lo: -bound, up: bound })
}
